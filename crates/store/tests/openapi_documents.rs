//! Kept OpenAPI documents on SQLite and PostgreSQL: an org keeps its most recently kept
//! documents within a count and a size, the oldest are let go past either, keeping a
//! document again keeps its ID and makes it the newest, and one member's documents stay
//! within their share, so they cannot push the others' out.
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
    // One member alone: their share is the whole org's.
    let limits = KeepLimits {
        documents: 3,
        bytes: 100,
        per_person_documents: 3,
        per_person_bytes: 100,
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

#[tokio::test]
async fn a_member_keeps_no_more_than_their_share_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite_store(dir.path()).await;
    a_member_keeps_no_more_than_their_share(store).await;
}

#[tokio::test]
async fn a_member_keeps_no_more_than_their_share_on_postgresql() {
    let schema = common::fresh_pg_schema().await;
    let store = common::postgres_store(&schema).await;
    a_member_keeps_no_more_than_their_share(store).await;
}

async fn a_member_keeps_no_more_than_their_share(store: Store) {
    let org = store.create_org("acme").await.unwrap();
    let mut people = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let user = store
            .create_user(&org.id, name, Role::Member)
            .await
            .unwrap();
        people.push(user.id);
    }
    let limits = KeepLimits {
        documents: 4,
        bytes: 1000,
        per_person_documents: 2,
        per_person_bytes: 50,
    };
    let keep = |user: String, name: String, size: usize| {
        let (store, org) = (store.clone(), org.id.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let body = vec![b'x'; size];
            store
                .keep_openapi_document(&org, &user, &name, None, &body, limits)
                .await
                .unwrap()
        }
    };
    let kept = |id: &String| {
        let (store, org, id) = (store.clone(), org.id.clone(), id.clone());
        async move { store.openapi_document(&org, &id).await.unwrap().is_some() }
    };
    let (alice, bob, carol) = (people[0].clone(), people[1].clone(), people[2].clone());

    let b1 = keep(bob.clone(), "b1".into(), 10).await;
    let b2 = keep(bob.clone(), "b2".into(), 10).await;
    // Alice keeps many: only her own newest two stay, and Bob's are untouched.
    let mut hers = Vec::new();
    for n in 0..5 {
        hers.push(keep(alice.clone(), format!("a{n}"), 10).await);
    }
    for id in &hers[..3] {
        assert!(!kept(id).await, "past her share of two");
    }
    for id in [&hers[3], &hers[4], &b1, &b2] {
        assert!(kept(id).await);
    }
    // Past her share's size: her 45 bytes push her other document out, not Bob's.
    let big = keep(alice.clone(), "big".into(), 45).await;
    assert!(kept(&big).await && !kept(&hers[4]).await);
    assert!(kept(&b1).await && kept(&b2).await);
    // Kept again by Bob, Alice's document still counts as hers (its first keeper).
    assert_eq!(keep(bob.clone(), "big".into(), 45).await, big);
    assert!(kept(&b1).await && kept(&b2).await && kept(&big).await);
    // The org's own limits still hold across people: four documents, the oldest go.
    let c1 = keep(carol.clone(), "c1".into(), 10).await;
    let c2 = keep(carol.clone(), "c2".into(), 10).await;
    assert!(kept(&c1).await && kept(&c2).await && kept(&big).await);
    assert!(!kept(&b1).await, "the org's oldest of five");
}
