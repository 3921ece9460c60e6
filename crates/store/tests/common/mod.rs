//! Fresh databases for the store's own tests: a SQLite file or a PostgreSQL schema named
//! with the test run's prefix (see scripts/test.sh).

use keyway_store::{ConnectOptions, Store};

pub fn pg_url() -> String {
    std::env::var("KEYWAY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Creates a new schema on the test PostgreSQL and returns its name.
pub async fn fresh_pg_schema() -> String {
    let schema = format!(
        "{}{}",
        std::env::var("KEYWAY_TEST_PREFIX").unwrap_or_else(|_| "kwt_".into()),
        uuid::Uuid::new_v4().simple()
    );
    let admin = sqlx::PgPool::connect(&pg_url())
        .await
        .expect("PostgreSQL must be running for the test suite (see README)");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    schema
}

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
