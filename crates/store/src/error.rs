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
