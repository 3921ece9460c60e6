//! Fresh databases for the store's own tests: a SQLite file or a PostgreSQL schema named
//! with the test run's prefix (see scripts/test.sh).

use keyway_store::{ConnectOptions, Store};

pub use keyway_testkit::db::{fresh_pg_schema, pg_url};

/// A migrated store on a fresh schema of the test PostgreSQL.
pub async fn postgres_store(schema: &str) -> Store {
    let opts = ConnectOptions {
        pg_schema: Some(schema.to_owned()),
        ..ConnectOptions::default()
    };
    let store = Store::connect(&pg_url(), &opts).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A migrated store on a SQLite file in `dir`.
pub async fn sqlite_store(dir: &std::path::Path) -> Store {
    let url = format!("sqlite://{}", dir.join("k.db").display());
    let store = Store::connect(&url, &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}
