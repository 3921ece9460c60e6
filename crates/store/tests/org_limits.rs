//! An org's limits hold when its members add at the same time. On PostgreSQL (READ
//! COMMITTED) each insert counted the org's rows without the others' uncommitted ones, so
//! concurrent adds all passed the count; SQLite's single writer already made them take turns.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use keyway_model::{Kind, Role, Status};
use keyway_store::{AuditAction, AuditOutcome, NewAuditEvent, NewCredential, Store, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_stay_within_the_org_limit_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_adds_stay_within_the_org_limit(common::sqlite_store(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_stay_within_the_org_limit_on_postgresql() {
    let schema = common::fresh_pg_schema().await;
    concurrent_adds_stay_within_the_org_limit(common::postgres_store(&schema).await).await;
}

async fn concurrent_adds_stay_within_the_org_limit(store: Store) {
    const LIMIT: i64 = 3;
    const TRIES: usize = 16;
    let org = store.create_org("acme").await.unwrap();
    let user = store
        .create_user(&org.id, "alice", Role::Member)
        .await
        .unwrap();
    let adds: Vec<_> = (0..TRIES)
        .map(|n| {
            let (store, org, owner) = (store.clone(), org.id.clone(), user.id.clone());
            tokio::spawn(async move {
                let id = uuid::Uuid::new_v4().to_string();
                let credential = NewCredential {
                    id: id.clone(),
                    org_id: org.clone(),
                    owner_id: owner.clone(),
                    name: format!("c{n}"),
                    kind: Kind::ApiKey,
                    shared: false,
                    status: Status::Active,
                    allowed_hosts: "[]".into(),
                    settings: "{}".into(),
                    mtls: None,
                    token_expires_at: None,
                    proxy: "{}".into(),
                };
                let event =
                    NewAuditEvent::new(AuditAction::CredentialCreate, AuditOutcome::Success)
                        .on(&org, &id, &owner);
                let credential = store.insert_credential(&credential, &[], &event, LIMIT);
                let write = keyway_store::WebServiceWrite {
                    name: format!("w{n}"),
                    credential_id: None,
                    request: "{}".into(),
                };
                let web_service = store.insert_web_service(&org, &owner, &write, LIMIT);
                (credential.await, web_service.await.map(drop))
            })
        })
        .collect();
    let mut added = (0, 0);
    for add in adds {
        let (credential, web_service) = add.await.unwrap();
        for (result, count) in [(credential, &mut added.0), (web_service, &mut added.1)] {
            match result {
                Ok(()) => *count += 1,
                Err(StoreError::LimitReached(_)) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(added, (LIMIT, LIMIT), "credentials and web services added");
}
