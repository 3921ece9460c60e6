//! Store errors: conflicts callers can act on, everything else opaque.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    BadUrl(&'static str),
    /// A unique constraint refused the write; names what already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A row this write refers to does not exist (a foreign key refused it).
    #[error("the {0} does not exist")]
    Missing(&'static str),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// The database could not be reached (as opposed to answering with an error): callers
    /// answer 503 and try again later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(err) => is_unreachable(err),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(err)) => is_unreachable(err),
            _ => false,
        }
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
