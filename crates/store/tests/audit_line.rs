//! The audit log's own connection reaches the database the pool opened, including an
//! in-memory one (`sqlite::memory:`), which exists only as long as a connection holds it
//! and is found by name through a shared cache.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_store::{AuditAction, AuditOutcome, ConnectOptions, NewAuditEvent, Store};

#[tokio::test]
async fn audit_appends_reach_an_in_memory_database() {
    let store = Store::connect("sqlite::memory:", &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let event = NewAuditEvent::new(AuditAction::CredentialUse, AuditOutcome::Started)
        .by(Some("u1"), "alice")
        .on("o1", "c1", "u1");
    store
        .append_audit_batch(&[event.clone(), event])
        .await
        .unwrap();
    let rows = store.audit_after(0, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|row| row.action == "credential.use"));
}
