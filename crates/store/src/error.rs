//! Store errors: conflicts callers can act on, everything else opaque.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    BadUrl(&'static str),
    /// A unique constraint refused the write; names what already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The org already has as many of these (`credentials`, `web services`) as it may; the
    /// write was undone.
    #[error("the org's limit of {0} is reached")]
    LimitReached(&'static str),
    /// A row this write refers to does not exist (a foreign key refused it).
    #[error("the {0} does not exist")]
    Missing(&'static str),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The audit log's own SQLite connection failed (it is not sqlx's; see `audit_line`).
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
}

/// Why storage cannot take a request now, as opposed to refusing this one: callers answer
/// 503 and the operator fixes the cause (or waits for the database to come back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The database cannot be reached, or is shutting down or starting.
    Unreachable,
    /// The disk (or the database's quota) is full.
    Full,
    /// The database, its file or its directory is read-only (or a standby replica).
    ReadOnly,
    /// The disk under the database failed a read or a write.
    DiskError,
}

impl Unavailable {
    pub fn reason(self) -> &'static str {
        match self {
            Unavailable::Unreachable => "unreachable",
            Unavailable::Full => "full",
            Unavailable::ReadOnly => "read_only",
            Unavailable::DiskError => "disk_error",
        }
    }
}

impl StoreError {
    /// The database could not be reached (as opposed to answering with an error): callers
    /// answer 503 and try again later.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable() == Some(Unavailable::Unreachable)
    }

    /// Whether trying the same write later may succeed: the database is unavailable (see
    /// [`StoreError::unavailable`]) or another writer holds SQLite's lock (`SQLITE_BUSY`,
    /// `SQLITE_LOCKED`), as opposed to refusing these rows.
    pub fn is_transient(&self) -> bool {
        if self.unavailable().is_some() {
            return true;
        }
        let code = match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(err, _)) => {
                u32::try_from(err.extended_code).ok()
            }
            StoreError::Database(err) => err
                .as_database_error()
                .filter(|db| db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some())
                .and_then(|db| db.code())
                .and_then(|code| code.parse::<u32>().ok()),
            _ => None,
        };
        matches!(code.map(|c| c & 0xff), Some(5 | 6))
    }

    /// PostgreSQL refused a text value it cannot hold: a NUL character (`\0`), which the
    /// API's JSON, paths (`%00`) and queries can all carry, SQLSTATE 22021 (or 22P05, a
    /// character the database's encoding lacks). The request is at fault, not the database;
    /// SQLite stores or compares such text as given.
    pub fn is_unstorable_text(&self) -> bool {
        let StoreError::Database(err) = self else {
            return false;
        };
        err.as_database_error()
            .filter(|db| db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_none())
            .and_then(|db| db.code())
            .is_some_and(|code| matches!(code.as_ref(), "22021" | "22P05"))
    }

    /// Whether the database cannot take writes or requests at all right now, and why.
    pub fn unavailable(&self) -> Option<Unavailable> {
        match self {
            StoreError::Database(err) => classify(err),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(err)) => classify(err),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(err, _)) => {
                u32::try_from(err.extended_code).ok().and_then(sqlite_code)
            }
            _ => None,
        }
    }
}

/// Classifies a driver error. SQLite codes are numbers (primary code in the low byte of the
/// extended one); PostgreSQL's are SQLSTATEs.
pub fn classify(err: &sqlx::Error) -> Option<Unavailable> {
    if is_unreachable(err) {
        return Some(Unavailable::Unreachable);
    }
    let db = err.as_database_error()?;
    let code = db.code()?;
    // By the driver, not by the code's look: SQLSTATEs such as 53100 are digits too.
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return code.parse::<u32>().ok().and_then(sqlite_code);
    }
    match code.as_ref() {
        // disk_full, insufficient_resources, out_of_memory... only the disk is the operator's
        "53100" => Some(Unavailable::Full),
        // read_only_sql_transaction: a standby, or default_transaction_read_only
        "25006" => Some(Unavailable::ReadOnly),
        _ => None,
    }
}

/// An SQLite result code, primary or extended.
fn sqlite_code(code: u32) -> Option<Unavailable> {
    match code & 0xff {
        // SQLITE_FULL
        13 => Some(Unavailable::Full),
        // SQLITE_READONLY, SQLITE_CANTOPEN (a file or directory that refuses writing)
        8 | 14 => Some(Unavailable::ReadOnly),
        // SQLITE_IOERR
        10 => Some(Unavailable::DiskError),
        _ => None,
    }
}

fn is_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL shutting down or starting: admin_shutdown, crash_shutdown,
        // cannot_connect_now.
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// Maps a unique violation to `Conflict(what)`, anything else to `Database`.
pub(crate) fn conflict(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| {
        let unique = err
            .as_database_error()
            .is_some_and(|db| db.is_unique_violation());
        if unique {
            StoreError::Conflict(what)
        } else {
            StoreError::Database(err)
        }
    }
}

/// A foreign key refused the write (the row referred to is gone, or a RESTRICT guards it).
/// Both backends are exercised by `tests/leases.rs` (a lease on a removed credential) and the
/// API tests (removing a credential in use).
pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    // SQLite reports a RESTRICT action as a trigger constraint (extended code 1811), not as
    // SQLITE_CONSTRAINT_FOREIGNKEY, so its message is the only sign.
    err.as_database_error().is_some_and(|db| {
        db.is_foreign_key_violation() || db.message().contains("FOREIGN KEY constraint failed")
    })
}
