//! A person keeps at most `SESSIONS_PER_PERSON` console sessions: signing in again and again
//! (a script with its own token and its own form cookie) replaces the oldest instead of
//! adding rows for hours, on both backends.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use keyway_model::Role;
use keyway_store::{Store, SESSIONS_PER_PERSON};

#[tokio::test]
async fn a_person_keeps_only_the_newest_sessions_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_person_keeps_only_the_newest_sessions(common::sqlite_store(dir.path()).await).await;
}

#[tokio::test]
async fn a_person_keeps_only_the_newest_sessions_on_postgresql() {
    let schema = common::fresh_pg_schema().await;
    a_person_keeps_only_the_newest_sessions(common::postgres_store(&schema).await).await;
}

async fn a_person_keeps_only_the_newest_sessions(store: Store) {
    let org = store.create_org("acme").await.unwrap();
    let alice = store
        .create_user(&org.id, "alice", Role::Member)
        .await
        .unwrap();
    let bob = store
        .create_user(&org.id, "bob", Role::Member)
        .await
        .unwrap();
    let hour = 3_600_000;
    store
        .create_session(b"bob-1", &bob.id, None, hour)
        .await
        .unwrap();
    let started = SESSIONS_PER_PERSON + 5;
    for n in 0..started {
        let digest = format!("alice-{n:03}");
        store
            .create_session(digest.as_bytes(), &alice.id, None, hour)
            .await
            .unwrap();
        // Distinct creation times, so "oldest" is well defined.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let live = |digest: String| {
        let store = store.clone();
        async move {
            store
                .session_caller(digest.as_bytes(), hour)
                .await
                .unwrap()
                .is_some()
        }
    };
    for n in 0..started {
        let kept = n >= started - SESSIONS_PER_PERSON;
        assert_eq!(live(format!("alice-{n:03}")).await, kept, "session {n}");
    }
    assert!(
        live("bob-1".to_owned()).await,
        "another person's session is untouched"
    );
}
