//! Test databases: every name starts with the run's prefix (`KEYWAY_TEST_PREFIX`, set by
//! `scripts/test.sh`), so a run drops only what it made.

/// The test PostgreSQL (`KEYWAY_TEST_DATABASE_URL`, default the local `test` database).
pub fn pg_url() -> String {
    std::env::var("KEYWAY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A new name for a schema or database of this run.
pub fn unique_name() -> String {
    format!(
        "{}{}",
        std::env::var("KEYWAY_TEST_PREFIX").unwrap_or_else(|_| "kwt_".into()),
        uuid::Uuid::new_v4().simple()
    )
}

async fn admin(url: &str) -> sqlx::PgPool {
    sqlx::PgPool::connect(url)
        .await
        .expect("PostgreSQL must be running for the test suite (see README)")
}

/// Creates a new schema on the test PostgreSQL and returns its name.
pub async fn fresh_pg_schema() -> String {
    let schema = unique_name();
    let admin = admin(&pg_url()).await;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    schema
}

/// A fresh PostgreSQL database on the server `admin_url` points at, for one test.
pub struct Database {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl Database {
    pub async fn create(admin_url: &str) -> Self {
        let name = unique_name();
        let admin = admin(admin_url).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = format!("{}/{name}", &admin_url[..admin_url.rfind('/').unwrap()]);
        Self {
            name,
            url,
            admin_url: admin_url.to_owned(),
        }
    }

    pub async fn sql(&self, statement: &str) {
        let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
        sqlx::query(statement).execute(&pool).await.unwrap();
        pool.close().await;
    }

    pub async fn count(&self, query: &str) -> i64 {
        let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
        let n: i64 = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }

    pub async fn drop_now(&self) {
        let admin = sqlx::PgPool::connect(&self.admin_url).await.unwrap();
        let _ = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&admin)
        .await;
        admin.close().await;
    }
}

/// Counts rows of a SQLite database file with a query returning one integer.
pub async fn sqlite_count(file: &std::path::Path, query: &str) -> i64 {
    let url = format!("sqlite://{}?mode=ro", file.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let n: i64 = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}
