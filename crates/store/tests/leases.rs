//! The queries replicas coordinate through, on SQLite and PostgreSQL: the refresh lease
//! (taken, held, extended, released, expired by the database's clock, freed by its guard
//! after a panic) and the generation
//! compare-and-swap of token writes and status changes, and the bound on authorization
//! requests in flight per credential.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use keyway_model::{Kind, Role, Status};
use keyway_store::{
    AuditAction, AuditOutcome, AuditQuery, NewAuditEvent, NewCredential, OAuthStateRow, SecretRow,
    Store, TokenWrite, OAUTH_STATES_PER_CREDENTIAL,
};

/// A migrated store with one org, one user and one OAuth credential; the temp dir (SQLite)
/// lives as long as the store is used.
async fn seeded(postgres: bool) -> (Store, String, String, Option<tempfile::TempDir>) {
    let (store, dir) = if postgres {
        (
            common::postgres_store(&common::fresh_pg_schema().await).await,
            None,
        )
    } else {
        let dir = tempfile::tempdir().unwrap();
        (common::sqlite_store(dir.path()).await, Some(dir))
    };
    let org = store.create_org("acme").await.unwrap();
    let user = store
        .create_user(&org.id, "alice", Role::Member)
        .await
        .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    store
        .insert_credential(
            &NewCredential {
                id: id.clone(),
                org_id: org.id.clone(),
                owner_id: user.id,
                name: "Storm".into(),
                kind: Kind::Oauth2,
                shared: false,
                status: Status::Connected,
                allowed_hosts: "[]".into(),
                settings: "{}".into(),
                mtls: None,
                token_expires_at: Some(1),
                proxy: "{}".into(),
            },
            &[sealed("first")],
            &event(&org.id, &id, AuditAction::CredentialCreate),
            1,
        )
        .await
        .unwrap();
    (store, org.id, id, dir)
}

fn sealed(marker: &str) -> SecretRow {
    SecretRow {
        field: "tokens".into(),
        key_id: "k1".into(),
        wrapped_key: marker.as_bytes().to_vec(),
        ciphertext: marker.as_bytes().to_vec(),
    }
}

fn event(org: &str, credential: &str, action: AuditAction) -> NewAuditEvent {
    NewAuditEvent::new(action, AuditOutcome::Success).on(org, credential, "owner")
}

async fn tokens_marker(store: &Store, id: &str) -> (i64, Status, Vec<u8>) {
    let (row, secrets) = store.credential_with_secrets(id).await.unwrap().unwrap();
    let tokens = secrets.into_iter().find(|s| s.field == "tokens").unwrap();
    (row.secret_version, row.status, tokens.ciphertext)
}

async fn lease_rules(postgres: bool) {
    let (store, _org, id, _dir) = seeded(postgres).await;
    let minute = 60_000;
    assert!(store.acquire_lease(&id, "a", minute).await.unwrap());
    assert!(store.lease_running(&id).await.unwrap());
    assert!(
        !store.acquire_lease(&id, "b", minute).await.unwrap(),
        "running: not taken"
    );
    assert!(
        !store.acquire_lease(&id, "a", minute).await.unwrap(),
        "not even by its holder's name"
    );
    assert!(store.extend_lease(&id, "a", minute).await.unwrap());
    assert!(
        !store.extend_lease(&id, "b", minute).await.unwrap(),
        "only the holder extends"
    );
    store.release_lease(&id, "b").await.unwrap();
    assert!(
        store.lease_running(&id).await.unwrap(),
        "only the holder releases"
    );
    store.release_lease(&id, "a").await.unwrap();
    assert!(!store.lease_running(&id).await.unwrap());
    assert!(store.acquire_lease(&id, "b", minute).await.unwrap());
    store.release_lease(&id, "b").await.unwrap();

    // A holder that dies leaves a lease that runs out by the database's clock.
    assert!(store.acquire_lease(&id, "dead", 1).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    assert!(!store.lease_running(&id).await.unwrap());
    assert!(!store.extend_lease(&id, "other", minute).await.unwrap());
    assert!(
        store.acquire_lease(&id, "c", minute).await.unwrap(),
        "an expired lease is taken over"
    );
    assert!(
        !store.extend_lease(&id, "dead", minute).await.unwrap(),
        "the dead holder lost it"
    );

    // A credential that does not exist (removed meanwhile) has nothing to lease.
    assert!(!store.acquire_lease("missing", "a", minute).await.unwrap());
}

/// A held lease's guard frees it however its holder ends: released, or dropped by a task
/// that panicked (without waiting out its minute).
async fn a_held_lease_is_freed_however_its_holder_ends(postgres: bool) {
    let (store, _org, id, _dir) = seeded(postgres).await;
    let minute = 60_000;
    assert!(store.acquire_lease(&id, "a", minute).await.unwrap());
    let lease = store.held_lease(&id, "a");
    let refresh = tokio::spawn(async move {
        let _lease = lease;
        panic!("a refresh that panics (expected in this test)");
    });
    assert!(refresh.await.unwrap_err().is_panic());
    // The guard's release runs on a task of its own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.lease_running(&id).await.unwrap() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        !store.lease_running(&id).await.unwrap(),
        "freed after the panic"
    );

    assert!(store.acquire_lease(&id, "b", minute).await.unwrap());
    store.held_lease(&id, "b").release().await.unwrap();
    assert!(!store.lease_running(&id).await.unwrap(), "released");
}

async fn generation_compare_and_swap(postgres: bool) {
    let (store, org, id, _dir) = seeded(postgres).await;
    let (start, _, _) = tokens_marker(&store, &id).await;
    let write = |marker: &str| TokenWrite {
        tokens: sealed(marker),
        token_expires_at: Some(2),
        status: Status::Connected,
        settings: None,
    };

    // A refresh that read generation `start` stores, and moves the generation on.
    assert!(store
        .store_tokens(&id, Some(start), &write("refreshed"), None)
        .await
        .unwrap());
    let (generation, _, tokens) = tokens_marker(&store, &id).await;
    assert_eq!(generation, start + 1);
    assert_eq!(tokens, b"refreshed");

    // A second refresh that read `start` too (a slower replica) writes nothing.
    assert!(!store
        .store_tokens(&id, Some(start), &write("stale"), None)
        .await
        .unwrap());
    assert_eq!(tokens_marker(&store, &id).await.2, b"refreshed");

    // A reconnection writes whatever the generation, and moves it on.
    let reconnect = event(&org, &id, AuditAction::CredentialConnect);
    assert!(store
        .store_tokens(&id, None, &write("reconnected"), Some(&reconnect))
        .await
        .unwrap());
    let (after_reconnect, _, tokens) = tokens_marker(&store, &id).await;
    assert_eq!(
        (after_reconnect, tokens.as_slice()),
        (start + 2, b"reconnected".as_slice())
    );

    // invalid_grant from a refresh that read an older generation does not mark it.
    let marked = event(&org, &id, AuditAction::CredentialReauthorizationRequired);
    assert!(!store
        .set_credential_status(&id, start + 1, Status::ReauthorizationRequired, &marked)
        .await
        .unwrap());
    let (_, status, _) = tokens_marker(&store, &id).await;
    assert_eq!(status, Status::Connected);
    let query = AuditQuery {
        org_id: org.clone(),
        owner_id: None,
        credential_id: Some(id.clone()),
        before: None,
        limit: 100,
    };
    let actions = |rows: Vec<keyway_store::AuditRow>| -> Vec<String> {
        rows.into_iter().map(|r| r.action).collect()
    };
    let seen = actions(store.audit_events(&query).await.unwrap());
    assert!(
        !seen.contains(&"credential.reauthorization_required".to_owned()),
        "{seen:?}"
    );
    assert!(seen.contains(&"credential.connect".to_owned()), "{seen:?}");

    // At the current generation it does, with its event in the same transaction.
    assert!(store
        .set_credential_status(
            &id,
            after_reconnect,
            Status::ReauthorizationRequired,
            &marked
        )
        .await
        .unwrap());
    assert_eq!(
        tokens_marker(&store, &id).await.1,
        Status::ReauthorizationRequired
    );
    let seen = actions(store.audit_events(&query).await.unwrap());
    assert!(seen.contains(&"credential.reauthorization_required".to_owned()));
    assert!(!store
        .store_tokens("missing", None, &write("x"), None)
        .await
        .unwrap());
}

#[tokio::test]
async fn lease_rules_sqlite() {
    lease_rules(false).await;
}

#[tokio::test]
async fn lease_rules_postgres() {
    lease_rules(true).await;
}

#[tokio::test]
async fn generation_compare_and_swap_sqlite() {
    generation_compare_and_swap(false).await;
}

#[tokio::test]
async fn generation_compare_and_swap_postgres() {
    generation_compare_and_swap(true).await;
}

#[tokio::test]
async fn a_held_lease_is_freed_however_its_holder_ends_sqlite() {
    a_held_lease_is_freed_however_its_holder_ends(false).await;
}

#[tokio::test]
async fn a_held_lease_is_freed_however_its_holder_ends_postgres() {
    a_held_lease_is_freed_however_its_holder_ends(true).await;
}

/// Authorization requests in flight are bounded per credential: starting one past
/// [`OAUTH_STATES_PER_CREDENTIAL`] lets the oldest go (before, every `authorize` call added a
/// row for good, until a day after it expired).
async fn authorization_requests_are_bounded_per_credential(postgres: bool) {
    let (store, _org, id, _dir) = seeded(postgres).await;
    let total = OAUTH_STATES_PER_CREDENTIAL + 4;
    let now = keyway_store::now_ms();
    for n in 0..total {
        let row = OAuthStateRow {
            state_digest: format!("state-{n:02}"),
            credential_id: id.clone(),
            issuer: "https://issuer.test".into(),
            verifier_key_id: "k1".into(),
            verifier_wrapped: vec![1],
            verifier_ciphertext: vec![2],
            created_at: now + n,
            expires_at: now + 600_000,
            browser_binding: None,
        };
        store.insert_oauth_state(&row).await.unwrap();
    }
    for n in 0..total {
        let taken = store
            .take_oauth_state(&format!("state-{n:02}"))
            .await
            .unwrap();
        assert_eq!(taken.is_some(), n >= 4, "state {n} of {total}");
    }
}

#[tokio::test]
async fn authorization_requests_are_bounded_per_credential_sqlite() {
    authorization_requests_are_bounded_per_credential(false).await;
}

#[tokio::test]
async fn authorization_requests_are_bounded_per_credential_postgres() {
    authorization_requests_are_bounded_per_credential(true).await;
}
