//! The one connection that appends the audit log's batches: held by the store, not borrowed
//! from the pool.
//!
//! Every call waits on these appends, and a pool costs them round trips: sqlx pings a
//! connection before lending it (on PostgreSQL) and again when it comes back, and with one
//! writer at a time the next batch waits for that. On SQLite a connection of its own also
//! keeps its page cache, which SQLite drops whenever another connection has written.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::ConnectOptions as _;
use std::time::Duration;

pub(crate) enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

#[derive(Debug)]
enum Options {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

#[derive(Debug)]
pub(crate) struct AuditLine {
    options: Options,
    connect_timeout: Duration,
    conn: tokio::sync::Mutex<Option<Conn>>,
    /// When a connection was last put back.
    last_used: std::sync::Mutex<std::time::Instant>,
}

/// A connection idle longer than this is replaced before its next append.
const IDLE: Duration = Duration::from_secs(60);

/// The locked slot; see [`AuditLine::slot`].
pub(crate) struct Slot<'a> {
    guard: tokio::sync::MutexGuard<'a, Option<Conn>>,
    line: &'a AuditLine,
}

impl Slot<'_> {
    pub(crate) fn take(&mut self) -> Option<Conn> {
        self.guard.take()
    }

    /// Puts back a connection that just succeeded.
    pub(crate) fn put(&mut self, conn: Conn) {
        *self.guard = Some(conn);
        if let Ok(mut at) = self.line.last_used.lock() {
            *at = std::time::Instant::now();
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Sqlite(_) => "Conn::Sqlite",
            Conn::Postgres(_) => "Conn::Postgres",
        })
    }
}

impl AuditLine {
    pub(crate) fn sqlite(options: SqliteConnectOptions, connect_timeout: Duration) -> Self {
        Self::new(Options::Sqlite(options), connect_timeout)
    }

    pub(crate) fn postgres(options: PgConnectOptions, connect_timeout: Duration) -> Self {
        Self::new(Options::Postgres(options), connect_timeout)
    }

    fn new(options: Options, connect_timeout: Duration) -> Self {
        Self {
            options,
            connect_timeout,
            conn: tokio::sync::Mutex::new(None),
            last_used: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }

    /// The connection's slot, one append at a time: `None` until the first append, after a
    /// failed one, and after [`IDLE`] without one (a connection idle that long may have been
    /// dropped by something between, which would show only as a hang). Put a connection back
    /// only after a success: one dropped midway (its task ended) or after an error is closed,
    /// never reused in an unknown state.
    pub(crate) async fn slot(&self) -> Slot<'_> {
        let mut guard = self.conn.lock().await;
        let idle = self
            .last_used
            .lock()
            .map(|at| at.elapsed())
            .unwrap_or_default();
        if idle > IDLE {
            *guard = None;
        }
        Slot { guard, line: self }
    }

    pub(crate) async fn open(&self) -> Result<Conn, sqlx::Error> {
        tokio::time::timeout(self.connect_timeout, self.connect())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn connect(&self) -> Result<Conn, sqlx::Error> {
        Ok(match &self.options {
            Options::Sqlite(options) => Conn::Sqlite(options.connect().await?),
            Options::Postgres(options) => Conn::Postgres(options.connect().await?),
        })
    }

    /// Closes the connection, unless an append still holds it after a second (then it goes
    /// with the process).
    pub(crate) async fn close(&self) {
        let Ok(mut slot) = tokio::time::timeout(Duration::from_secs(1), self.conn.lock()).await
        else {
            return;
        };
        let conn = slot.take();
        let _ = match conn {
            Some(Conn::Sqlite(conn)) => sqlx::Connection::close(conn).await,
            Some(Conn::Postgres(conn)) => sqlx::Connection::close(conn).await,
            None => Ok(()),
        };
    }
}
