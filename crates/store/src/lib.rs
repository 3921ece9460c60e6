//! Keyway's persistence: one `Store` over SQLite (the embedded default) and PostgreSQL, chosen
//! at run time from the database URL.
//!
//! Both backends run the same SQL text (`$n` placeholders work on both), so each query is written
//! once. The `on_pool!` macro expands it once per driver, so the compiler checks the Rust types
//! bound and decoded for both; the SQL itself is checked only when it runs, which is why every
//! storage test runs on both databases (and `tests/schema_parity.rs` keeps the two migration
//! folders in step). Write transactions always start with a write so SQLite never has to
//! upgrade a read lock (which fails instead of waiting).

mod audit;
mod audit_line;
mod console;
mod credentials;
mod error;
mod keys;
mod oauth;
mod openapi;
mod retention;
mod tenancy;
mod web_services;

pub use audit::{AuditAction, AuditOutcome, AuditQuery, AuditRow, NewAuditEvent};
pub use console::{SessionCaller, SESSIONS_PER_PERSON};
pub use credentials::{
    AccessWrite, CredentialChange, CredentialRow, DeleteOutcome, NewCredential, SecretRow,
    SecretUpdate, WebServiceRef,
};
pub use error::{StoreError, Unavailable};
pub use keys::{RewrapCandidate, Rewrapped, VaultKeyRow};
pub use oauth::{HeldLease, OAuthStateRow, TokenWrite, OAUTH_STATES_PER_CREDENTIAL};
pub use openapi::{KeepLimits, OpenApiDocumentRow};
pub use tenancy::{CallerRow, OrgRow, PersonRow, TokenRow, UserRow};
pub use web_services::{WebServiceRow, WebServiceWrite};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Runs `$body` with `$pool` bound to whichever driver's pool the store holds.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// `$sql` with `{now}` standing for the database's clock in milliseconds (see
/// `Store::db_now_sql`), built once per call site and backend rather than on every call (the
/// token lookup and the console's session check run often).
macro_rules! sql_at_now {
    ($store:expr, $sql:literal) => {{
        static BUILT: [std::sync::OnceLock<String>; 2] =
            [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
        let store = $store;
        let slot = match store.backend() {
            $crate::Backend::Sqlite => &BUILT[0],
            $crate::Backend::Postgres => &BUILT[1],
        };
        slot.get_or_init(|| format!($sql, now = store.db_now_sql()))
            .as_str()
    }};
}
pub(crate) use sql_at_now;

/// On PostgreSQL, holds the org's row until `$tx` ends, so that writes counted against the
/// org's limits take turns: under READ COMMITTED two inserts would each count without the
/// other's row, and both pass. SQLite's one writer already makes them take turns.
macro_rules! lock_org {
    ($store:expr, $tx:expr, $org_id:expr) => {
        if $store.backend() == $crate::Backend::Postgres {
            sqlx::query("SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE")
                .bind($org_id)
                .execute($tx)
                .await?;
        }
    };
}
pub(crate) use lock_org;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    /// The connection that appends the audit log's batches (see `audit_line`).
    audit_line: std::sync::Arc<audit_line::AuditLine>,
    /// Audit subjects already written (see `audit::SubjectIds`); shared by clones.
    subjects: std::sync::Arc<audit::SubjectIds>,
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// PostgreSQL `search_path`: the schema Keyway's tables live in (a deployment's choice, or
    /// one per test run).
    pub pg_schema: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            // Short: when the database is gone, calls should fail fast with 503, not queue.
            acquire_timeout: Duration::from_secs(3),
            pg_schema: None,
        }
    }
}

impl Store {
    /// Opens `sqlite:PATH` (created if missing, WAL) or `postgres://...`.
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Self, StoreError> {
        let audit;
        let db = match Backend::of_url(url)? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|_| StoreError::BadUrl("the SQLite URL could not be parsed"))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5))
                    .pragma(
                        "journal_size_limit",
                        audit_line::JOURNAL_SIZE_LIMIT.to_string(),
                    );
                // A connection to a local file does not go stale: skipping the ping before
                // each acquire saves a round trip to the connection's thread on every query
                // (the audit write every call waits on among them).
                let pool = SqlitePoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(options.clone())
                    .await?;
                audit = audit_line::AuditLine::sqlite(url, &options, opts.acquire_timeout);
                Db::Sqlite(pool)
            }
            Backend::Postgres => {
                let mut options = PgConnectOptions::from_str(url)
                    .map_err(|_| StoreError::BadUrl("the PostgreSQL URL could not be parsed"))?;
                if let Some(schema) = &opts.pg_schema {
                    options = options.options([("search_path", schema.as_str())]);
                }
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(options.clone())
                    .await?;
                audit = audit_line::AuditLine::postgres(options, opts.acquire_timeout);
                Db::Postgres(pool)
            }
        };
        let audit_line = std::sync::Arc::new(audit);
        audit_line::start_checkpoints(&audit_line);
        Ok(Self {
            db,
            audit_line,
            subjects: Default::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations; on PostgreSQL an advisory lock keeps replicas from racing.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop)?);
        Ok(())
    }

    pub async fn close(&self) {
        self.audit_line.close().await;
        on_pool!(self, pool => pool.close().await)
    }
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::BadUrl(
                "the database URL must start with sqlite: or postgres://",
            ))
        }
    }
}

/// Now, in Unix milliseconds: the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
