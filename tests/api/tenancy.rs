//! The contract's tenancy rules, endpoint by endpoint: other orgs see nothing (404), members may
//! use shared credentials but not change them (403), admins manage their own org only.

use crate::both_backends;
use crate::helpers::{secret, TestApp, User};
use serde_json::{json, Value};

async fn credential(app: &TestApp, owner: &User, name: &str, shared: bool) -> String {
    let created = app
        .call(
            "POST",
            "/v1/credentials",
            &owner.token,
            Some(json!({
                "name": name, "kind": "api_key", "api_key": secret(name), "shared": shared,
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    created.json["id"].as_str().unwrap().to_owned()
}

/// Every endpoint that names a credential, with a valid body where one is needed.
fn endpoints(id: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", format!("/v1/credentials/{id}"), None),
        (
            "PATCH",
            format!("/v1/credentials/{id}"),
            Some(json!({"name": "taken over"})),
        ),
        (
            "PUT",
            format!("/v1/credentials/{id}/secret"),
            Some(json!({"api_key": "replaced"})),
        ),
        ("DELETE", format!("/v1/credentials/{id}"), None),
    ]
}

both_backends! {
    async fn another_org_sees_nothing(app) {
        let owner = app.user("acme", "alice", false).await;
        let stranger = app.user("globex", "mallory", true).await;
        let shared = credential(&app, &owner, "shared", true).await;
        let private = credential(&app, &owner, "private", false).await;
        for id in [&shared, &private] {
            for (method, path, body) in endpoints(id) {
                let res = app.call(method, &path, &stranger.token, body).await;
                assert_eq!((res.status, res.code()), (404, "not_found"), "{method} {path}");
                // Rights come before validation: a malformed body still gets 404.
                let res = app.raw(method, &path, Some(&stranger.token), Some(b"{not json".to_vec())).await;
                assert_eq!(res.status, 404, "{method} {path} with a bad body");
            }
        }
        let listed = app.call("GET", "/v1/credentials", &stranger.token, None).await;
        assert_eq!(listed.json["credentials"], json!([]));
        let audit = app.call("GET", &format!("/v1/audit?credential_id={shared}"), &stranger.token, None).await;
        assert_eq!(audit.json["events"], json!([]));
        // Nothing changed.
        let still = app.call("GET", &format!("/v1/credentials/{shared}"), &owner.token, None).await;
        assert_eq!(still.json["name"], "shared");
    }

    async fn members_use_shared_but_cannot_change_them(app) {
        let owner = app.user("acme", "alice", false).await;
        let member = app.user("acme", "bob", false).await;
        let shared = credential(&app, &owner, "shared", true).await;
        let private = credential(&app, &owner, "private", false).await;

        let seen = app.call("GET", &format!("/v1/credentials/{shared}"), &member.token, None).await;
        assert_eq!(seen.status, 200);
        for (method, path, body) in endpoints(&shared).into_iter().skip(1) {
            let res = app.call(method, &path, &member.token, body).await;
            assert_eq!((res.status, res.code()), (403, "forbidden"), "{method} {path}");
            let res = app.raw(method, &path, Some(&member.token), Some(b"{not json".to_vec())).await;
            assert_eq!(res.status, 403, "{method} {path} with a bad body");
        }
        for (method, path, body) in endpoints(&private) {
            let res = app.call(method, &path, &member.token, body).await;
            assert_eq!((res.status, res.code()), (404, "not_found"), "{method} {path}");
        }
        let listed = app.call("GET", "/v1/credentials", &member.token, None).await;
        let names: Vec<&str> = listed.json["credentials"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["shared"]);

        // Members see the audit of their own credentials only; the owner sees the denied attempts.
        let member_audit = app.call("GET", "/v1/audit", &member.token, None).await;
        assert_eq!(member_audit.json["events"], json!([]));
        let owner_audit = app.call("GET", &format!("/v1/audit?credential_id={shared}"), &owner.token, None).await;
        let denied = owner_audit.json["events"].as_array().unwrap().iter().filter(|e| e["outcome"] == "denied").count();
        assert_eq!(denied, 6);
        assert_eq!(app.call("GET", &format!("/v1/credentials/{shared}"), &owner.token, None).await.json["name"], "shared");
    }

    async fn admins_manage_their_org_only(app) {
        let owner = app.user("acme", "alice", false).await;
        let admin = app.user("acme", "root", true).await;
        let other_admin = app.user("globex", "boss", true).await;
        let private = credential(&app, &owner, "private", false).await;

        assert_eq!(app.call("GET", &format!("/v1/credentials/{private}"), &admin.token, None).await.status, 200);
        let listed = app.call("GET", "/v1/credentials", &admin.token, None).await;
        assert_eq!(listed.json["credentials"].as_array().unwrap().len(), 1);
        // The secret is the owner's alone.
        let replace = app.call("PUT", &format!("/v1/credentials/{private}/secret"), &admin.token, Some(json!({"api_key": "x"}))).await;
        assert_eq!((replace.status, replace.code()), (403, "forbidden"));
        let renamed = app.call("PATCH", &format!("/v1/credentials/{private}"), &admin.token, Some(json!({"name": "by admin"}))).await;
        assert_eq!(renamed.status, 200);
        assert_eq!(renamed.json["name"], "by admin");
        let audit = app.call("GET", "/v1/audit", &admin.token, None).await;
        assert!(audit.json["events"].as_array().unwrap().len() >= 2, "admins see the org's events");

        for (method, path, body) in endpoints(&private) {
            let res = app.call(method, &path, &other_admin.token, body).await;
            assert_eq!(res.status, 404, "{method} {path}");
        }
        assert_eq!(app.call("DELETE", &format!("/v1/credentials/{private}"), &admin.token, None).await.status, 204);
        assert_eq!(app.call("GET", &format!("/v1/credentials/{private}"), &owner.token, None).await.status, 404);
    }

    async fn unauthenticated_requests_are_refused(app) {
        let alice = app.user("acme", "alice", false).await;
        let id = credential(&app, &alice, "mine", false).await;
        let forged = format!("kw_{}_{}", "0".repeat(16), "0".repeat(64));
        let wrong_secret = format!("{}{}", &alice.token[..alice.token.len() - 1], if alice.token.ends_with('0') { "1" } else { "0" });
        for token in [None, Some("nonsense"), Some(forged.as_str()), Some(wrong_secret.as_str())] {
            for (method, path, body) in endpoints(&id).into_iter().chain([("GET", "/v1/me".to_owned(), None), ("GET", "/v1/audit".to_owned(), None), ("GET", "/v1/credentials".to_owned(), None)]) {
                let res = app.raw(method, &path, token, body.map(|b| b.to_string().into_bytes())).await;
                assert_eq!((res.status, res.code()), (401, "unauthenticated"), "{method} {path}");
            }
        }
        // The scheme is case-insensitive.
        let header = format!("BEARER {}", alice.token);
        let shouted = reqwest::Client::builder().no_proxy().build().unwrap().get(format!("{}/v1/me", app.address)).header("authorization", header).send().await.unwrap();
        assert_eq!(shouted.status(), 200);
        let me = app.call("GET", "/v1/me", &alice.token, None).await;
        assert_eq!(me.json["user"]["name"], "alice");
        assert_eq!(me.json["org"]["slug"], "acme");
        assert_eq!(me.json["role"], "member");
    }
}

both_backends! {
// A token's ID is not a secret (it shows in `keyway token list`): a request with the right
// ID and a wrong secret is refused and records no use of the token.
async fn a_wrong_secret_records_no_use_of_the_token(app) {
    let alice = app.user("acme", "alice", false).await;
    let (id, secret) = alice.token.rsplit_once('_').unwrap();
    let wrong: String = secret
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let res = app.call("GET", "/v1/me", &format!("{id}_{wrong}"), None).await;
    assert_eq!(res.status, 401);
    let tokens = app.store.list_tokens(&alice.id).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].last_used_at, None, "the wrong secret touched the token");
    let res = app.call("GET", "/v1/me", &alice.token, None).await;
    assert_eq!(res.status, 200);
    let tokens = app.store.list_tokens(&alice.id).await.unwrap();
    assert!(tokens[0].last_used_at.is_some(), "its holder's use is recorded");
}
}
