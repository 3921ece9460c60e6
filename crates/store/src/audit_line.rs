//! The one connection that appends the audit log's batches: held by the store, not borrowed
//! from the pool.
//!
//! Every call waits on these appends, and a pool costs them round trips: sqlx pings a
//! connection before lending it (on PostgreSQL) and again when it comes back, and with one
//! writer at a time the next batch waits for that. On SQLite a connection of its own also
//! keeps its page cache, which SQLite drops whenever another connection has written.
//!
//! On SQLite that connection is rusqlite's, not sqlx's: SQLite is a library, and sqlx runs
//! every statement on a thread of the connection's own, which cost each commit two thread
//! wake-ups and a tenth of the process's CPU under load. An append runs on the caller's
//! thread instead (see `crate::audit`). Its write-ahead log is checkpointed by a task of its
//! own ([`start_checkpoints`]), never by an append: SQLite's automatic checkpoint would run on
//! the commit that crosses its threshold, on a thread that serves requests, and sync files.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) enum Conn {
    /// Locked only by the append that holds the slot, or by its fallback on a blocking
    /// thread, so the lock is never contended.
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Postgres(PgConnection),
}

#[derive(Debug)]
enum Options {
    /// The database the pool opened (which made it and set WAL mode), and how: a memory
    /// database (`sqlite::memory:`) is reached by name with a shared cache, as sqlx does.
    Sqlite {
        path: PathBuf,
        memory: bool,
        shared_cache: bool,
    },
    Postgres(Box<PgConnectOptions>),
}

#[derive(Debug)]
pub(crate) struct AuditLine {
    options: Options,
    connect_timeout: Duration,
    conn: tokio::sync::Mutex<Option<Conn>>,
    /// When a connection was last put back.
    last_used: std::sync::Mutex<std::time::Instant>,
    /// Appends so far: the checkpoint task works only when it has moved.
    appends: AtomicU64,
    /// Closed: the checkpoint task ends (and closes its connection).
    closed: std::sync::atomic::AtomicBool,
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
    /// `url` is the one `options` came from: sqlx keeps whether it opens a memory database,
    /// and with which cache, to itself (and its own URL for a memory database panics).
    pub(crate) fn sqlite(
        url: &str,
        options: &SqliteConnectOptions,
        connect_timeout: Duration,
    ) -> Self {
        let (name, query) = url.split_once('?').unwrap_or((url, ""));
        let param = |key: &str, value: &str| {
            query
                .split('&')
                .any(|pair| pair.split_once('=') == Some((key, value)))
        };
        let memory = name.ends_with(":memory:") || param("mode", "memory");
        let sqlite = Options::Sqlite {
            path: options.get_filename().to_owned(),
            memory,
            // as sqlx: a memory database is shared by the pool's connections by name
            shared_cache: memory || param("cache", "shared"),
        };
        Self::new(sqlite, connect_timeout)
    }

    pub(crate) fn postgres(options: PgConnectOptions, connect_timeout: Duration) -> Self {
        Self::new(Options::Postgres(Box::new(options)), connect_timeout)
    }

    fn new(options: Options, connect_timeout: Duration) -> Self {
        Self {
            options,
            connect_timeout,
            conn: tokio::sync::Mutex::new(None),
            last_used: std::sync::Mutex::new(std::time::Instant::now()),
            appends: AtomicU64::new(0),
            closed: Default::default(),
        }
    }

    /// An append succeeded.
    pub(crate) fn appended(&self) {
        self.appends.fetch_add(1, Ordering::Relaxed);
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

    pub(crate) async fn open(&self) -> Result<Conn, crate::StoreError> {
        tokio::time::timeout(self.connect_timeout, self.connect())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn connect(&self) -> Result<Conn, crate::StoreError> {
        Ok(match &self.options {
            Options::Sqlite {
                path,
                memory,
                shared_cache,
            } => {
                let mut flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                    | rusqlite::OpenFlags::SQLITE_OPEN_URI
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
                if *memory {
                    flags |= rusqlite::OpenFlags::SQLITE_OPEN_MEMORY;
                }
                flags |= if *shared_cache {
                    rusqlite::OpenFlags::SQLITE_OPEN_SHARED_CACHE
                } else {
                    rusqlite::OpenFlags::SQLITE_OPEN_PRIVATE_CACHE
                };
                let path = path.clone();
                let conn = tokio::task::spawn_blocking(move || open_sqlite(&path, flags))
                    .await
                    .map_err(|_| sqlx::Error::WorkerCrashed)??;
                Conn::Sqlite(Arc::new(Mutex::new(conn)))
            }
            Options::Postgres(options) => Conn::Postgres(options.connect().await?),
        })
    }

    /// Closes the connection, unless an append still holds it after a second (then it goes
    /// with the process).
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let Ok(mut slot) = tokio::time::timeout(Duration::from_secs(1), self.conn.lock()).await
        else {
            return;
        };
        if let Some(Conn::Postgres(conn)) = slot.take() {
            let _ = sqlx::Connection::close(conn).await;
        } // an SQLite connection closes when dropped
    }
}

/// The audit connection to the pool's SQLite database (WAL mode stays with the file), set as
/// the pool's connections are except for `busy_timeout`: zero, so that a write lock held
/// elsewhere answers `SQLITE_BUSY` at once instead of blocking the thread the append runs on
/// (the append then waits on a blocking thread; see `crate::audit`).
fn open_sqlite(
    path: &std::path::Path,
    flags: rusqlite::OpenFlags,
) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.pragma_update(None, "synchronous", "normal")?;
    conn.pragma_update(None, "foreign_keys", "on")?;
    conn.busy_timeout(Duration::ZERO)?;
    // Checkpoints are the checkpoint task's (see the module's note).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    // The inserts of every size `insert_sqlite` uses, BEGIN and COMMIT all stay cached (a unit
    // test of `sqlite_chunk` checks that they fit).
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// The write-ahead log's file is cut back to this size when it starts over, on every
/// connection that writes (the checkpoint task's only copies): after a burst, or a reader that
/// held a snapshot so long that no checkpoint could finish, it would otherwise keep its
/// largest size on disk for good. Twice what a steady load left in it in the load test
/// (15 MB), so that a steady load, even on a faster machine, does not shrink and regrow it.
pub(crate) const JOURNAL_SIZE_LIMIT: i64 = 32 << 20;

/// How often the checkpoint task looks whether the audit connection has written.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// A log longer than this (in pages; SQLite's own checkpoint threshold) after a checkpoint is
/// made to start over.
const RESTART_FRAMES: i64 = 1000;

/// On SQLite with a file, starts the task that copies the write-ahead log back into the
/// database file after appends: a passive checkpoint, on a blocking thread, while appends go
/// on. It ends when the store is closed or dropped.
///
/// SQLite starts the log file over only at a write that finds every page of it copied, which
/// under a steady load never happens while appends go on during the checkpoint: without a
/// pause the log grew past 1 GB in a two-minute load test. So when the log is still long after
/// a checkpoint, the task holds the append slot for a second one, which has only the pages
/// written meanwhile to copy; the next append then starts the log over. Calls wait for that
/// second checkpoint (milliseconds), but no thread that serves requests does.
pub(crate) fn start_checkpoints(line: &Arc<AuditLine>) {
    let Options::Sqlite {
        path,
        memory: false,
        shared_cache,
    } = &line.options
    else {
        return; // a memory database has no log file; PostgreSQL checkpoints itself
    };
    let mut flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    flags |= if *shared_cache {
        rusqlite::OpenFlags::SQLITE_OPEN_SHARED_CACHE
    } else {
        rusqlite::OpenFlags::SQLITE_OPEN_PRIVATE_CACHE
    };
    let mut checkpointer = Checkpointer {
        path: path.clone(),
        flags,
        conn: None,
        failing: false,
    };
    let line = Arc::downgrade(line);
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            let Some(line) = line.upgrade().filter(|l| !l.closed.load(Ordering::Relaxed)) else {
                return;
            };
            let appends = line.appends.load(Ordering::Relaxed);
            if appends == seen {
                continue;
            }
            seen = appends;
            let frames;
            (checkpointer, frames) = checkpointer.run().await;
            if frames.is_some_and(|frames| frames > RESTART_FRAMES) {
                let slot = line.slot().await;
                (checkpointer, _) = checkpointer.run().await;
                drop(slot);
            }
        }
    });
}

/// The checkpoint task's own connection, opened when first needed and again after a failure.
struct Checkpointer {
    path: PathBuf,
    flags: rusqlite::OpenFlags,
    conn: Option<rusqlite::Connection>,
    /// The last checkpoint failed: the next failures are not logged again.
    failing: bool,
}

impl Checkpointer {
    /// One passive checkpoint on a blocking thread; the pages the log holds, if it succeeded.
    async fn run(mut self) -> (Self, Option<i64>) {
        let (path, flags, failing) = (self.path.clone(), self.flags, self.failing);
        match tokio::task::spawn_blocking(move || {
            let frames = self.checkpoint();
            (self, frames)
        })
        .await
        {
            Ok(done) => done,
            // The runtime is going away: the next round, if any, opens a new connection.
            Err(_) => (
                Self {
                    path,
                    flags,
                    conn: None,
                    failing,
                },
                None,
            ),
        }
    }

    fn checkpoint(&mut self) -> Option<i64> {
        let conn = match self.conn.take() {
            Some(conn) => Ok(conn),
            None => rusqlite::Connection::open_with_flags(&self.path, self.flags),
        };
        // (blocked by another checkpoint, pages in the log, pages copied)
        let result = conn.and_then(|conn| {
            let frames = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?;
            Ok((conn, frames))
        });
        match result {
            Ok((conn, frames)) => {
                self.conn = Some(conn);
                if std::mem::take(&mut self.failing) {
                    tracing::info!("the audit log's write-ahead log is checkpointed again");
                }
                Some(frames)
            }
            Err(err) => {
                // Not fatal: the log file grows until a checkpoint succeeds. Said once, not
                // five times a second.
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(error = %err, "the audit log's write-ahead log could not be checkpointed");
                }
                None
            }
        }
    }
}
