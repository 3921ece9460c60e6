//! Migration 0009 (the compact audit log) on SQLite and PostgreSQL: events written before it
//! read back the same through the `audit_events` view, keep their IDs (an export's cursor
//! still points at the right event), and no ID is ever handed out twice.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_testkit::db as common;

use keyway_store::{AuditAction, AuditOutcome, ConnectOptions, NewAuditEvent, Store};

/// A folder with the migrations before 0009, so a database can be left as an older release
/// left it.
fn migrations_before_0009(backend: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../migrations/{backend}"));
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0009" {
            std::fs::copy(&path, dir.path().join(name)).unwrap();
        }
    }
    dir
}

/// Old rows: (id, at, org, actor, name, action, credential, owner, outcome, detail).
const OLD: &str = "INSERT INTO audit_events (at, org_id, actor_id, actor_name, action, \
    credential_id, credential_owner_id, outcome, detail) VALUES \
    (1000, 'o1', 'u1', 'alice', 'credential.use', 'c1', 'u1', 'started', '{\"call_id\":\"a\"}'), \
    (1001, 'o1', NULL, 'oauth-refresh', 'credential.connect', 'c1', 'u1', 'success', NULL), \
    (1002, NULL, NULL, 'keyway', 'key.rewrap', NULL, NULL, 'success', '{\"rows\":3}'), \
    (1003, 'o1', 'u1', 'alice', 'credential.use.result', 'c1', 'u1', 'success', '{\"call_id\":\"a\"}')";

const READ: &str = "SELECT id, at, org_id, actor_id, actor_name, action, credential_id, \
    credential_owner_id, outcome, detail FROM audit_events ORDER BY id";

type Event = (
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

async fn old_rows_survive(postgres: bool) {
    let (url, _dir, schema) = if postgres {
        let schema = common::fresh_pg_schema().await;
        (
            format!("{}?options=-csearch_path%3D{schema}", common::pg_url()),
            None,
            Some(schema),
        )
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        (url, Some(dir), None)
    };
    let old = migrations_before_0009(if postgres { "postgres" } else { "sqlite" });
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.unwrap();
    let before: Vec<Event>;
    if postgres {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        sqlx::query(OLD).execute(&pool).await.unwrap();
        // IDs handed out but never stored (a rolled-back write) must not come back either.
        sqlx::query("SELECT setval('audit_events_id_seq', 10)")
            .execute(&pool)
            .await
            .unwrap();
        before = sqlx::query_as(READ).fetch_all(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        sqlx::query(OLD).execute(&pool).await.unwrap();
        sqlx::query("UPDATE sqlite_sequence SET seq = 10 WHERE name = 'audit_events'")
            .execute(&pool)
            .await
            .unwrap();
        before = sqlx::query_as(READ).fetch_all(&pool).await.unwrap();
        pool.close().await;
    }
    assert_eq!(before.len(), 4);

    // The release with 0009 starts on that database.
    let opts = ConnectOptions {
        pg_schema: schema,
        ..ConnectOptions::default()
    };
    let store = Store::connect(&url, &opts).await.unwrap();
    store.migrate().await.unwrap();
    let event = NewAuditEvent::new(AuditAction::CredentialUse, AuditOutcome::Started)
        .by(Some("u1"), "alice")
        .on("o1", "c1", "u1")
        .at(2000);
    store.append_audit_batch(&[event]).await.unwrap();
    let subjects = "SELECT COUNT(*) FROM audit_subjects";
    let (after, subjects): (Vec<Event>, i64) = if postgres {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        (
            sqlx::query_as(READ).fetch_all(&pool).await.unwrap(),
            sqlx::query_scalar(subjects).fetch_one(&pool).await.unwrap(),
        )
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        (
            sqlx::query_as(READ).fetch_all(&pool).await.unwrap(),
            sqlx::query_scalar(subjects).fetch_one(&pool).await.unwrap(),
        )
    };
    assert_eq!(
        subjects, 3,
        "one row per who-and-what, shared by old and new events alike"
    );
    assert_eq!(after[..4], before[..], "old events read back unchanged");
    assert_eq!(after[4].0, 11, "the next ID follows the old sequence");
    assert_eq!(
        (
            after[4].2.as_deref(),
            after[4].3.as_deref(),
            after[4].6.as_deref()
        ),
        (Some("o1"), Some("u1"), Some("c1"))
    );
    assert_eq!(
        store.last_audit_id().await.unwrap(),
        11,
        "the export's high-water mark"
    );
}

#[tokio::test]
async fn old_events_survive_the_compact_log_on_sqlite() {
    old_rows_survive(false).await;
}

#[tokio::test]
async fn old_events_survive_the_compact_log_on_postgres() {
    old_rows_survive(true).await;
}
