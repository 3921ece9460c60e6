//! Telling a database that cannot take writes now from one that refuses these rows, on
//! PostgreSQL (SQLite's full and read-only disks are tested against a real process in
//! `tests/faults.rs`).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_store::{AuditAction, AuditOutcome, ConnectOptions, NewAuditEvent, Store, Unavailable};
use keyway_testkit::db::{pg_url, Database};

/// A PostgreSQL that takes no writes (a standby, or `default_transaction_read_only`) answers
/// SQLSTATE 25006. SQLSTATEs are digits too, and this one was once read as an SQLite code,
/// so a read-only database answered 500 instead of 503 `storage_unavailable`, and the audit
/// writer gave up on results that it should have kept for when the database takes writes
/// again.
#[tokio::test]
async fn a_read_only_postgresql_is_unavailable_not_a_refusal() {
    let db = Database::create(&pg_url()).await;
    let store = Store::connect(&db.url, &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.create_org("before").await.unwrap();
    store.close().await;
    read_only(&db, "on").await;

    // New sessions start read-only.
    let store = Store::connect(&db.url, &ConnectOptions::default())
        .await
        .unwrap();
    let err = store.create_org("acme").await.unwrap_err();
    assert_eq!(err.unavailable(), Some(Unavailable::ReadOnly), "{err:?}");
    assert!(err.is_transient());
    let event = NewAuditEvent::new(AuditAction::CredentialUse, AuditOutcome::Started)
        .by(Some("u1"), "alice")
        .on("o1", "c1", "u1");
    let err = store.append_audit(&event).await.unwrap_err();
    assert_eq!(err.unavailable(), Some(Unavailable::ReadOnly), "{err:?}");
    assert!(err.is_transient());

    // A refusal of the rows themselves is neither.
    read_only(&db, "off").await;
    let store = Store::connect(&db.url, &ConnectOptions::default())
        .await
        .unwrap();
    let err = store.create_org("before").await.unwrap_err();
    assert_eq!(err.unavailable(), None, "{err:?}");
    assert!(!err.is_transient(), "{err:?}");
    store.close().await;
    db.drop_now().await;
}

/// Sets the database's default for new sessions, from another database (a read-only one
/// cannot change its own settings).
async fn read_only(db: &Database, on: &str) {
    let admin = sqlx::PgPool::connect(&pg_url()).await.unwrap();
    let sql = format!(
        "ALTER DATABASE {} SET default_transaction_read_only = {on}",
        db.name
    );
    sqlx::query(&sql).execute(&admin).await.unwrap();
    admin.close().await;
}
