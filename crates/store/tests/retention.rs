//! Audit retention on SQLite and PostgreSQL: the database lets only events past the
//! configured period be removed (nothing while none is set), pruning takes the oldest in
//! batches, and one replica at a time holds the pruning lease.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use keyway_store::{now_ms, AuditAction, AuditOutcome, NewAuditEvent, Store};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A migrated store and a second, raw connection to the same database (what someone with
/// the database's password, or a bug, could run).
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn run(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match self {
            Raw::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Raw::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    async fn count(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM audit_events";
        match self {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }
}

async fn stores(postgres: bool) -> (Store, Raw, Option<tempfile::TempDir>) {
    if postgres {
        let schema = common::fresh_pg_schema().await;
        let store = common::postgres_store(&schema).await;
        let url = format!("{}?options=-csearch_path%3D{schema}", common::pg_url());
        let raw = sqlx::PgPool::connect(&url).await.unwrap();
        (store, Raw::Postgres(raw), None)
    } else {
        let dir = tempfile::tempdir().unwrap();
        let store = common::sqlite_store(dir.path()).await;
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
        (store, Raw::Sqlite(raw), Some(dir))
    }
}

fn event_at(at: i64) -> NewAuditEvent {
    NewAuditEvent::new(AuditAction::CredentialUse, AuditOutcome::Started)
        .by(None, "test")
        .at(at)
}

async fn only_expired_events_go(postgres: bool) {
    let (store, raw, _dir) = stores(postgres).await;
    let now = now_ms();
    let old = [event_at(now - 100 * DAY_MS), event_at(now - 95 * DAY_MS)];
    store.append_audit_batch(&old).await.unwrap();
    store
        .append_audit_batch(&[event_at(now - DAY_MS), event_at(now)])
        .await
        .unwrap();

    // No retention set: everything is kept, and the database refuses any delete.
    assert_eq!(store.prune_audit(1000).await.unwrap(), 0);
    assert!(raw.run("DELETE FROM audit_entries").await.is_err());
    assert_eq!(raw.count().await, 4);

    // Less than a day is refused by the table itself.
    assert!(store.set_audit_retention(Some(60_000)).await.is_err());
    assert!(raw
        .run("UPDATE audit_retention SET keep_ms = 0 WHERE id = 1")
        .await
        .is_err());

    // 90 days: the two old ones go, oldest first, a batch at a time.
    store.set_audit_retention(Some(90 * DAY_MS)).await.unwrap();
    assert_eq!(store.prune_audit(1).await.unwrap(), 1);
    assert_eq!(store.prune_audit(1000).await.unwrap(), 1);
    assert_eq!(store.prune_audit(1000).await.unwrap(), 0);
    assert_eq!(raw.count().await, 2);
    // Younger events stay append-only, whoever asks.
    assert!(raw.run("DELETE FROM audit_entries").await.is_err());
    assert!(raw
        .run("UPDATE audit_entries SET outcome = 'refused'")
        .await
        .is_err());
    assert_eq!(raw.count().await, 2);
    // Who did it is kept as written, even for events that went.
    assert!(raw.run("DELETE FROM audit_subjects").await.is_err());
    assert!(raw
        .run("UPDATE audit_subjects SET actor_name = 'someone else'")
        .await
        .is_err());

    // Back to keeping everything.
    store.set_audit_retention(None).await.unwrap();
    store
        .append_audit_batch(&[event_at(now - 200 * DAY_MS)])
        .await
        .unwrap();
    assert_eq!(store.prune_audit(1000).await.unwrap(), 0);
    assert!(raw.run("DELETE FROM audit_entries").await.is_err());
    assert_eq!(raw.count().await, 3);
}

async fn one_pruner_at_a_time(postgres: bool) {
    let (store, _raw, _dir) = stores(postgres).await;
    assert!(store.take_prune_lease("replica-a", 60_000).await.unwrap());
    assert!(!store.take_prune_lease("replica-b", 60_000).await.unwrap());
    assert!(
        store.take_prune_lease("replica-a", 1).await.unwrap(),
        "the holder extends (here: shortens) its lease"
    );
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        store.take_prune_lease("replica-b", 60_000).await.unwrap(),
        "an expired lease is taken over"
    );
    assert!(!store.take_prune_lease("replica-a", 60_000).await.unwrap());
}

#[tokio::test]
async fn only_expired_events_go_sqlite() {
    only_expired_events_go(false).await;
}

#[tokio::test]
async fn only_expired_events_go_postgres() {
    only_expired_events_go(true).await;
}

#[tokio::test]
async fn one_pruner_at_a_time_sqlite() {
    one_pruner_at_a_time(false).await;
}

#[tokio::test]
async fn one_pruner_at_a_time_postgres() {
    one_pruner_at_a_time(true).await;
}
