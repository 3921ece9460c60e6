//! Rewrap on both backends: every data key moves under the new master key, the old key can then
//! be dropped, and a secret replaced while a rewrap runs is never overwritten.

use crate::both_backends;
use crate::helpers::secret;
use keyway_credentials::{check_keyring, rewrap_all, Credentials, Material};
use keyway_store::Rewrapped;
use keyway_vault::{Keyring, MasterKey};
use secrecy::ExposeSecret;
use serde_json::json;
use std::sync::Arc;

both_backends! {
    async fn rewrap_then_drop_the_old_key(app) {
        let alice = app.user("acme", "alice", false).await;
        let mut ids = Vec::new();
        let mut keys = Vec::new();
        for i in 0..5 {
            let key = secret(&format!("k{i}"));
            let (cert, pem) = crate::credentials::client_cert("rewrap");
            let res = app.call("POST", "/v1/credentials", &alice.token, Some(json!({
                "name": format!("c{i}"), "kind": "api_key", "api_key": key,
                "mtls": {"certificate_pem": cert, "private_key_pem": pem},
            }))).await;
            assert_eq!(res.status, 201, "{}", res.json);
            ids.push(res.json["id"].as_str().unwrap().to_owned());
            keys.push(key);
        }
        let old_key = app.keyring.clone();
        let (new_key, _) = MasterKey::generate("test-2".parse().unwrap());
        // Rebuild the old key from the test keyring: a keyring [new, old].
        let both = Keyring::new(vec![new_key.clone(), app_old_key(&app)]).unwrap();
        check_keyring(&app.store, &both).await.unwrap();
        let report = rewrap_all(&app.store, &both, 3).await.unwrap();
        assert_eq!((report.rewrapped, report.skipped), (10, 0));
        assert_eq!(app.store.secret_key_ids().await.unwrap(), ["test-2"]);
        // A second run has nothing left to do.
        assert_eq!(rewrap_all(&app.store, &both, 3).await.unwrap().rewrapped, 0);

        let only_new = Arc::new(Keyring::new(vec![new_key]).unwrap());
        check_keyring(&app.store, &only_new).await.unwrap();
        let creds = Credentials::new(app.store.clone(), only_new);
        let caller = caller(&app, &alice.id).await;
        for (id, key) in ids.iter().zip(&keys) {
            let resolved = creds.resolve(&caller, id).await.unwrap();
            match &resolved.material {
                Material::ApiKey { api_key, .. } => assert_eq!(api_key.expose_secret(), key),
                other => panic!("unexpected {other:?}"),
            }
            assert!(resolved.mtls.is_some());
        }
        // The old keyring alone no longer opens anything, and says which key it lacks.
        let stale = Credentials::new(app.store.clone(), old_key.clone());
        assert!(stale.resolve(&caller, &ids[0]).await.is_err());
        let missing = check_keyring(&app.store, &old_key).await.unwrap_err().to_string();
        assert!(missing.contains("'test-2'"), "{missing}");
    }

    async fn rewrap_never_overwrites_a_newer_secret(app) {
        let alice = app.user("acme", "alice", false).await;
        let res = app.call("POST", "/v1/credentials", &alice.token, Some(json!({
            "name": "race", "kind": "api_key", "api_key": secret("before"),
        }))).await;
        let id = res.json["id"].as_str().unwrap().to_owned();
        let (new_key, _) = MasterKey::generate("test-2".parse().unwrap());
        let both = Keyring::new(vec![new_key, app_old_key(&app)]).unwrap();
        let candidates = app.store.rewrap_candidates("test-2", ("", ""), 10).await.unwrap();
        assert_eq!(candidates.len(), 1);
        // The secret is replaced after the rewrap read it...
        let replaced = app.call("PUT", &format!("/v1/credentials/{id}/secret"), &alice.token, Some(json!({"api_key": secret("after")}))).await;
        assert_eq!(replaced.status, 200);
        // ...so the stale compare-and-swap must not land.
        let stale = &candidates[0];
        let moved = both.rewrap(
            keyway_vault::Context { org: &stale.org_id, record: &stale.credential_id, field: &stale.field },
            &keyway_vault::Sealed { key_id: stale.key_id.clone(), wrapped_key: stale.wrapped_key.clone(), ciphertext: stale.ciphertext.clone() },
        ).unwrap().unwrap();
        let landed = app.store.apply_rewrapped(&[Rewrapped {
            credential_id: stale.credential_id.clone(),
            field: stale.field.clone(),
            old_wrapped_key: stale.wrapped_key.clone(),
            key_id: moved.key_id,
            wrapped_key: moved.wrapped_key,
        }]).await.unwrap();
        assert_eq!(landed, 0);
        let creds = Credentials::new(app.store.clone(), app.keyring.clone());
        assert!(creds.resolve(&caller(&app, &alice.id).await, &id).await.is_ok(), "the newer secret still opens");
    }
}

/// The test app's master key, rebuilt from its raw bytes (kept by the helper).
fn app_old_key(app: &crate::helpers::TestApp) -> MasterKey {
    MasterKey::from_bytes("test-1".parse().unwrap(), &app.master_key_bytes).unwrap()
}

async fn caller(app: &crate::helpers::TestApp, user_id: &str) -> keyway_model::Caller {
    keyway_model::Caller {
        user_id: user_id.to_owned(),
        user_name: "alice".into(),
        org_id: app.org("acme").await,
        org_slug: "acme".into(),
        role: keyway_model::Role::Member,
    }
}
