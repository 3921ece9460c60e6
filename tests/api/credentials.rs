//! The credential lifecycle over HTTP: add, list, show, rename, replace the secret, remove, and
//! the audit trail of it all, with every secret checked against responses, logs and storage.

use crate::both_backends;
use crate::helpers::secret;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use serde_json::json;

/// A fresh self-signed client certificate and its key, valid now.
pub fn client_cert(cn: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["client.test".to_owned()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

both_backends! {
    async fn lifecycle_keeps_every_secret(app) {
        let alice = app.user("acme", "alice", false).await;
        let password = secret("password");
        let api_key = secret("apikey");
        let new_password = secret("newpassword");
        let (cert, key) = client_cert("Alice mTLS");
        let key_line = key.lines().nth(1).unwrap().to_owned();

        let basic = app.call("POST", "/v1/credentials", &alice.token, Some(json!({
            "name": "Jira", "kind": "basic", "username": "alice@example.com", "password": password,
            "allowed_hosts": ["*.atlassian.net"],
        }))).await;
        assert_eq!(basic.status, 201, "{}", basic.json);
        assert_eq!(basic.json["kind"], "basic");
        assert_eq!(basic.json["status"], "active");
        assert_eq!(basic.json["allowed_hosts"], json!(["*.atlassian.net"]));
        assert_eq!(basic.json["owner"]["name"], "alice");
        let basic_id = basic.json["id"].as_str().unwrap().to_owned();

        let keyed = app.call("POST", "/v1/credentials", &alice.token, Some(json!({
            "name": "Qualtrics", "kind": "api_key", "api_key": api_key, "header_name": "X-API-TOKEN",
            "shared": true, "mtls": { "certificate_pem": cert, "private_key_pem": key },
        }))).await;
        assert_eq!(keyed.status, 201, "{}", keyed.json);
        assert_eq!(keyed.json["api_key"], json!({"in": "header", "header_name": "X-API-TOKEN", "prefix": ""}));
        assert!(keyed.json["mtls"]["subject"].as_str().unwrap().contains("Alice mTLS"));
        assert_eq!(keyed.json["mtls"]["sha256_fingerprint"].as_str().unwrap().len(), 95);
        let keyed_id = keyed.json["id"].as_str().unwrap().to_owned();

        let list = app.call("GET", "/v1/credentials", &alice.token, None).await;
        assert_eq!(list.status, 200);
        let names: Vec<&str> = list.json["credentials"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Jira", "Qualtrics"]);

        let one = app.call("GET", &format!("/v1/credentials/{keyed_id}"), &alice.token, None).await;
        assert_eq!(one.status, 200);
        assert_eq!(one.json["used_by"], json!([]));

        let renamed = app.call("PATCH", &format!("/v1/credentials/{basic_id}"), &alice.token, Some(json!({"name": "Jira Cloud"}))).await;
        assert_eq!(renamed.status, 200, "{}", renamed.json);
        assert_eq!(renamed.json["name"], "Jira Cloud");

        let replaced = app.call("PUT", &format!("/v1/credentials/{basic_id}/secret"), &alice.token, Some(json!({
            "username": "alice@example.com", "password": new_password,
        }))).await;
        assert_eq!(replaced.status, 200, "{}", replaced.json);
        assert_eq!(replaced.json["id"], basic_id.as_str());
        assert_eq!(replaced.json["secret_version"], 2);

        // The stored material is the new one, and it opens.
        let caller = keyway_model::Caller {
            user_id: alice.id.clone(), user_name: "alice".into(), org_id: app.org("acme").await,
            org_slug: "acme".into(), role: keyway_model::Role::Member,
        };
        let creds = keyway_credentials::Credentials::new(app.store.clone(), app.keyring.clone());
        let resolved = creds.resolve(&caller, &basic_id).await.unwrap();
        match &resolved.material {
            keyway_credentials::Material::Basic { password, .. } => {
                use secrecy::ExposeSecret;
                assert_eq!(password.expose_secret(), new_password);
            }
            other => panic!("expected basic material, got {other:?}"),
        }
        let resolved_keyed = creds.resolve(&caller, &keyed_id).await.unwrap();
        assert!(resolved_keyed.mtls.is_some(), "the mTLS identity must resolve");
        // Debug output of everything holding secrets shows none of them.
        let debug = format!("{resolved:?} {resolved_keyed:?} {:?}", app.keyring);
        for s in [&password, &api_key, &new_password, &key_line] {
            assert!(!debug.contains(s.as_str()), "Debug output leaks a secret");
        }

        let deleted = app.call("DELETE", &format!("/v1/credentials/{basic_id}"), &alice.token, None).await;
        assert_eq!(deleted.status, 204);
        let gone = app.call("GET", &format!("/v1/credentials/{basic_id}"), &alice.token, None).await;
        assert_eq!(gone.status, 404);
        assert_eq!(gone.code(), "not_found");

        let audit = app.call("GET", "/v1/audit", &alice.token, None).await;
        assert_eq!(audit.status, 200);
        let actions: Vec<&str> = audit.json["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["credential.delete", "credential.replace_secret", "credential.rename", "credential.create", "credential.create"]);
        let filtered = app.call("GET", &format!("/v1/audit?credential_id={keyed_id}&limit=5"), &alice.token, None).await;
        assert_eq!(filtered.json["events"].as_array().unwrap().len(), 1);
        let first_page = app.call("GET", "/v1/audit?limit=2", &alice.token, None).await;
        let before = first_page.json["next_before"].as_i64().unwrap();
        let second_page = app.call("GET", &format!("/v1/audit?limit=10&before={before}"), &alice.token, None).await;
        assert_eq!(second_page.json["events"].as_array().unwrap().len(), 3);

        app.assert_secrets_kept(&[&password, &api_key, &new_password, &key_line, &alice.token]).await;
    }

    async fn credential_in_use_is_not_removed_without_force(app) {
        let alice = app.user("acme", "alice", false).await;
        let created = app.call("POST", "/v1/credentials", &alice.token, Some(json!({
            "name": "Stripe", "kind": "basic", "username": secret("stripe"), "password": "",
        }))).await;
        assert_eq!(created.status, 201, "{}", created.json);
        let id = created.json["id"].as_str().unwrap().to_owned();
        let org = app.org("acme").await;
        app.sql(
            "INSERT INTO web_services (id, org_id, owner_id, name, credential_id, request, created_at, updated_at) \
             VALUES ($1, $2, $3, 'Create customer', $4, '{}', 0, 0)",
            &["ws-1", &org, &alice.id, &id],
        ).await;

        let shown = app.call("GET", &format!("/v1/credentials/{id}"), &alice.token, None).await;
        assert_eq!(shown.json["used_by"], json!([{"id": "ws-1", "name": "Create customer"}]));
        let refused = app.call("DELETE", &format!("/v1/credentials/{id}"), &alice.token, None).await;
        assert_eq!(refused.status, 409);
        assert_eq!(refused.code(), "credential_in_use");
        assert_eq!(refused.json["error"]["used_by"][0]["name"], "Create customer");
        assert_eq!(app.call("GET", &format!("/v1/credentials/{id}"), &alice.token, None).await.status, 200);

        let forced = app.call("DELETE", &format!("/v1/credentials/{id}?force=true"), &alice.token, None).await;
        assert_eq!(forced.status, 204);
        assert_eq!(app.call("GET", &format!("/v1/credentials/{id}"), &alice.token, None).await.status, 404);
    }

    async fn names_are_unique_per_owner(app) {
        let alice = app.user("acme", "alice", false).await;
        let bob = app.user("acme", "bob", false).await;
        let body = json!({"name": "GitHub", "kind": "api_key", "api_key": secret("gh")});
        assert_eq!(app.call("POST", "/v1/credentials", &alice.token, Some(body.clone())).await.status, 201);
        let again = app.call("POST", "/v1/credentials", &alice.token, Some(body.clone())).await;
        assert_eq!(again.status, 409);
        assert_eq!(again.code(), "credential_name_taken");
        assert_eq!(app.call("POST", "/v1/credentials", &bob.token, Some(body)).await.status, 201);
    }
}

both_backends! {
    async fn sharing_and_allowed_hosts_change_after_creation_by_the_owner_only(app) {
        let alice = app.user("acme", "alice", false).await;
        let bob = app.user("acme", "bob", false).await;
        let admin = app.user("acme", "root", true).await;
        let id = app
            .credential(&alice.token, json!({"name": "k", "kind": "api_key", "api_key": secret("k")}))
            .await;
        let path = format!("/v1/credentials/{id}");
        assert_eq!(app.call("GET", &path, &bob.token, None).await.status, 404);

        let shared = app
            .call("PATCH", &path, &alice.token, Some(json!({"shared": true, "allowed_hosts": ["api.example.com"]})))
            .await;
        assert_eq!(shared.status, 200, "{}", shared.json);
        assert_eq!(shared.json["shared"], true);
        assert_eq!(shared.json["allowed_hosts"], json!(["api.example.com"]));
        assert_eq!(app.call("GET", &path, &bob.token, None).await.status, 200);

        // Widening where the owner's secret may go is the owner's call alone, even for an
        // admin (who may still rename it); rights are checked before values.
        for (who, body) in [
            (&admin.token, json!({"allowed_hosts": ["evil.example"]})),
            (&bob.token, json!({"shared": false})),
            (&bob.token, json!({"name": "!!"})),
        ] {
            let res = app.call("PATCH", &path, who, Some(body)).await;
            assert_eq!(res.status, 403, "{}", res.json);
        }
        let renamed = app.call("PATCH", &path, &admin.token, Some(json!({"name": "k2"}))).await;
        assert_eq!(renamed.status, 200, "{}", renamed.json);

        for (body, field) in [
            (json!({}), None),
            (json!({"allowed_hosts": ["not a host"]}), Some("allowed_hosts")),
            (json!({"shared": "yes"}), None),
        ] {
            let res = app.call("PATCH", &path, &alice.token, Some(body)).await;
            assert_eq!((res.status, res.code()), (400, "invalid_request"), "{}", res.json);
            if let Some(field) = field {
                assert_eq!(res.json["error"]["field"], field);
            }
        }
        let unchanged = app.call("GET", &path, &alice.token, None).await;
        assert_eq!(unchanged.json["allowed_hosts"], json!(["api.example.com"]));

        let audit = app.call("GET", &format!("/v1/audit?credential_id={id}"), &alice.token, None).await;
        let events = audit.json["events"].as_array().unwrap();
        let access: Vec<_> = events.iter().filter(|e| e["action"] == "credential.access").collect();
        assert!(access.iter().any(|e| e["outcome"] == "success"
            && e["detail"]["allowed_hosts"]["to"] == json!(["api.example.com"])
            && e["detail"]["shared"]["from"] == false), "{events:?}");
        assert!(access.iter().any(|e| e["outcome"] == "denied"), "the admin's attempt is on record");
    }
}
