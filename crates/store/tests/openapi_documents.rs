//! Kept OpenAPI documents on SQLite and PostgreSQL: an org keeps its most recently kept
//! documents within a count and a size, the oldest are let go past either, and keeping a
//! document again keeps its ID and makes it the newest.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use keyway_model::Role;
use keyway_store::{KeepLimits, Store};
use std::time::Duration;

#[tokio::test]
async fn an_org_keeps_its_newest_documents_within_both_limits_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite_store(dir.path()).await;
    an_org_keeps_its_newest_documents_within_both_limits(store).await;
}

#[tokio::test]
async fn an_org_keeps_its_newest_documents_within_both_limits_on_postgresql() {
    let schema = common::fresh_pg_schema().await;
    let store = common::postgres_store(&schema).await;
    an_org_keeps_its_newest_documents_within_both_limits(store).await;
}

async fn an_org_keeps_its_newest_documents_within_both_limits(store: Store) {
    let org = store.create_org("acme").await.unwrap();
    let other = store.create_org("other").await.unwrap();
    let alice = store
        .create_user(&org.id, "alice", Role::Member)
        .await
        .unwrap();
    let bob = store
        .create_user(&other.id, "bob", Role::Member)
        .await
        .unwrap();
    let limits = KeepLimits {
        documents: 3,
        bytes: 100,
    };
    let keep = |org: String, user: String, name: &'static str, size: usize| {
        let store = store.clone();
        async move {
            // Apart in time, so "newest" is never a tie.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let body = vec![b'x'; size];
            store
                .keep_openapi_document(&org, &user, name, Some(name), &body, limits)
                .await
                .unwrap()
        }
    };
    let kept = |id: String| {
        let store = store.clone();
        let org = org.id.clone();
        async move { store.openapi_document(&org, &id).await.unwrap().is_some() }
    };
    let (o, u) = (org.id.clone(), alice.id.clone());

    // Past the count: the oldest goes.
    let a = keep(o.clone(), u.clone(), "a", 10).await;
    let b = keep(o.clone(), u.clone(), "b", 10).await;
    let c = keep(o.clone(), u.clone(), "c", 10).await;
    let d = keep(o.clone(), u.clone(), "d", 10).await;
    assert!(!kept(a.clone()).await, "the oldest of four went");
    assert!(kept(b.clone()).await && kept(c.clone()).await && kept(d.clone()).await);

    // Kept again: the same ID, and now the newest, so the next one pushes `c` out, not `b`.
    assert_eq!(keep(o.clone(), u.clone(), "b", 10).await, b);
    let e = keep(o.clone(), u.clone(), "e", 10).await;
    assert!(!kept(c).await, "`c` was the oldest once `b` was kept again");
    assert!(kept(b.clone()).await && kept(d.clone()).await && kept(e.clone()).await);

    // Past the size, within the count: the newest 100 bytes are `f` (85) and `e`.
    let f = keep(o.clone(), u.clone(), "f", 85).await;
    assert!(kept(f.clone()).await && kept(e.clone()).await);
    assert!(
        !kept(b).await,
        "third newest, but 105 bytes with `f` and `e`"
    );
    assert!(!kept(d).await);

    // Another org's documents are neither counted nor let go.
    let theirs = keep(other.id.clone(), bob.id.clone(), "f", 10).await;
    for name in ["g", "h", "i"] {
        let _ = keep(o.clone(), u.clone(), name, 10).await;
    }
    assert!(store
        .openapi_document(&other.id, &theirs)
        .await
        .unwrap()
        .is_some());
    assert!(!kept(f).await && !kept(e).await);
}
