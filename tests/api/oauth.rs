//! OAuth 2.0 end to end against a real authorization server (oidc-provider on loopback):
//! connect, call, refresh with rotation, revoked grant, reconnect, revocation on removal;
//! attacks on the redirect; client credentials; both client authentication methods.

use crate::auth_server::{query_param, with_param, AuthServer, Registered};
use crate::both_backends;
#[allow(unused_imports)]
use crate::helpers::*;
use crate::upstream::{Tls, Upstream};
use keyway_credentials::Credentials;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

fn redirect_uri(app: &TestApp) -> String {
    format!("{}/oauth-client-service/redirect", app.address)
}

fn custom(name: &str, server: &AuthServer, client: &Registered, auth: &str) -> Value {
    json!({
        "name": name, "kind": "oauth2", "provider": "custom",
        "client_id": client.client_id, "client_secret": client.client_secret,
        "client_auth": auth, "scopes": ["openid", "api:read"],
        "authorize_url": format!("{}/auth", server.issuer),
        "token_url": format!("{}/token", server.issuer),
        "revoke_url": format!("{}/token/revocation", server.issuer),
    })
}

/// The redirect as the person's browser would request it: status and HTML.
async fn land(app: &TestApp, url: &str) -> (u16, String, Option<String>) {
    let path = url.strip_prefix(&app.address).unwrap();
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    let policy = res
        .headers()
        .get("referrer-policy")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), res.text().await.unwrap(), policy)
}

async fn stored_tokens(app: &TestApp, id: &str) -> Value {
    let credentials = Credentials::new(app.store.clone(), app.keyring.clone());
    let resolved = credentials.resolve_unchecked(id).await.unwrap();
    serde_json::from_str(resolved.tokens.unwrap().expose_secret()).unwrap()
}

async fn status(app: &TestApp, token: &str, id: &str) -> String {
    let res = app
        .call("GET", &format!("/v1/credentials/{id}"), token, None)
        .await;
    res.json["status"].as_str().unwrap().to_owned()
}

async fn call_upstream(
    app: &TestApp,
    token: &str,
    upstream: &Upstream,
    id: &str,
) -> crate::helpers::Resp {
    app.call(
        "POST",
        "/v1/dispatch",
        token,
        Some(json!({"request": {"url": upstream.url("http", "upstream.test", "/json"), "credential_id": id}})),
    )
    .await
}

fn bearer(upstream: &Upstream) -> String {
    upstream
        .requests()
        .last()
        .unwrap()
        .header("authorization")
        .unwrap()
        .to_owned()
}

both_backends! {
async fn authorization_code_connect_refresh_revoke(app) {
    let server = AuthServer::start();
    let upstream = Upstream::start(Tls::Plain).await;
    let alice = app.user("acme", "alice", false).await;
    // This client must use PKCE, and authenticates with HTTP Basic.
    let client = server.register(&redirect_uri(&app), "client_secret_basic", true).await;

    let res = app.call("POST", "/v1/credentials", &alice.token, Some(custom("Service", &server, &client, "client_secret_basic"))).await;
    assert_eq!(res.status, 201, "{}", res.json);
    assert_eq!(res.json["status"], "pending_authorization");
    assert_eq!(res.json["grant_type"], "authorization_code");
    let id = res.json["id"].as_str().unwrap().to_owned();
    let authorize_url = res.json["authorize_url"].as_str().unwrap().to_owned();
    assert_eq!(query_param(&authorize_url, "code_challenge_method").as_deref(), Some("S256"));
    assert!(query_param(&authorize_url, "state").unwrap().len() >= 43);
    // Not connected yet: calls are refused.
    let res = call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_eq!((res.status, res.code()), (409, "credential_needs_reauthorization"));

    let landing = server.browse(&authorize_url, &redirect_uri(&app)).await;
    assert_eq!(query_param(&landing, "iss").as_deref(), Some(server.issuer.as_str()));
    let (code, html, policy) = land(&app, &landing).await;
    assert_eq!(code, 200, "{html}");
    assert!(html.contains("Service") && html.contains("connected"), "{html}");
    assert_eq!(policy.as_deref(), Some("no-referrer"));
    assert!(!html.contains("http"), "the page loads nothing from elsewhere");
    assert_eq!(status(&app, &alice.token, &id).await, "connected");

    let res = call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let first = stored_tokens(&app, &id).await;
    let access1 = first["access_token"].as_str().unwrap().to_owned();
    let refresh1 = first["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(bearer(&upstream), format!("Bearer {access1}"));

    // Expired: the next call refreshes first; the rotated refresh token is stored with it.
    app.expire_token(&id).await;
    let res = call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let second = stored_tokens(&app, &id).await;
    let access2 = second["access_token"].as_str().unwrap().to_owned();
    let refresh2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(access1, access2);
    assert_ne!(refresh1, refresh2, "the server rotates refresh tokens");
    assert_eq!(bearer(&upstream), format!("Bearer {access2}"));
    assert_eq!(server.refresh_requests().await, 1);
    // A fresh token is used as it is: no refresh.
    call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_eq!(server.refresh_requests().await, 1);
    // The old refresh token is rejected by the server now.
    let (code, body) = server.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh1)]).await;
    assert_eq!((code, body["error"].as_str()), (400, Some("invalid_grant")));

    // The grant is revoked at the provider: the next refresh gets invalid_grant, and the
    // credential needs its owner; no further refresh is tried.
    server.post("/_test/revoke-all", json!({})).await;
    app.expire_token(&id).await;
    let res = call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_eq!((res.status, res.code()), (409, "credential_needs_reauthorization"), "{}", res.json);
    assert_eq!(status(&app, &alice.token, &id).await, "reauthorization_required");
    let before = server.refresh_requests().await;
    let res = call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_eq!(res.code(), "credential_needs_reauthorization");
    assert_eq!(server.refresh_requests().await, before, "no refresh after invalid_grant");
    let audit = app.call("GET", &format!("/v1/audit?credential_id={id}"), &alice.token, None).await;
    assert!(audit.json["events"].as_array().unwrap().iter().any(|e| e["action"] == "credential.reauthorization_required"));

    // The owner connects again.
    let res = app.call("POST", &format!("/v1/credentials/{id}/authorize"), &alice.token, None).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let landing = server.browse(res.json["authorize_url"].as_str().unwrap(), &redirect_uri(&app)).await;
    assert_eq!(land(&app, &landing).await.0, 200);
    assert_eq!(status(&app, &alice.token, &id).await, "connected");
    let res = call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let third = stored_tokens(&app, &id).await;

    // Removal revokes the refresh token at the provider, then erases everything.
    let revocations = server.stats().await["revocations"].as_u64().unwrap();
    let res = app.call("DELETE", &format!("/v1/credentials/{id}"), &alice.token, None).await;
    assert_eq!(res.status, 204);
    let audit = app.call("GET", &format!("/v1/audit?credential_id={id}"), &alice.token, None).await;
    let revoked = audit.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "credential.revoke_tokens")
        .cloned()
        .unwrap_or_else(|| panic!("no revocation event: {}", audit.json));
    assert_eq!(revoked["outcome"], "success", "{revoked}");
    assert_eq!(server.stats().await["revocations"].as_u64().unwrap(), revocations + 1);
    let refresh3 = third["refresh_token"].as_str().unwrap();
    let (code, _) = server.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", refresh3)]).await;
    assert_eq!(code, 400, "the revoked refresh token no longer works");
    app.assert_secrets_kept(&[&client.client_secret, &access1, &access2, &refresh1, &refresh2, refresh3]).await;
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_on_the_redirect_change_nothing() {
    let app = spawn_app(Db::Sqlite).await;
    let server = AuthServer::start();
    let alice = app.user("acme", "alice", false).await;
    let client = server
        .register(&redirect_uri(&app), "client_secret_basic", false)
        .await;
    let create = |name: &str| custom(name, &server, &client, "client_secret_basic");
    let a = app
        .call("POST", "/v1/credentials", &alice.token, Some(create("A")))
        .await;
    let b = app
        .call("POST", "/v1/credentials", &alice.token, Some(create("B")))
        .await;
    let (a_id, a_url) = (
        a.json["id"].as_str().unwrap().to_owned(),
        a.json["authorize_url"].as_str().unwrap().to_owned(),
    );
    let b_id = b.json["id"].as_str().unwrap().to_owned();
    let b_url = b.json["authorize_url"].as_str().unwrap().to_owned();
    let redirect = redirect_uri(&app);

    let refused = |what: &'static str| {
        move |(code, html, policy): (u16, String, Option<String>)| {
            assert_eq!(code, 400, "{what}: {html}");
            assert!(html.contains("Nothing was changed"), "{what}: {html}");
            assert_eq!(policy.as_deref(), Some("no-referrer"), "{what}");
            html
        }
    };

    // A forged state.
    let forged = format!("{redirect}?code=abc&state=forged-state-value");
    let html = refused("forged")(land(&app, &forged).await);
    assert!(html.contains("unknown or was already used"), "{html}");

    // The provider refused (the person clicked "deny").
    let state = query_param(&a_url, "state").unwrap();
    let denied =
        format!("{redirect}?error=access_denied&error_description=The+user+denied&state={state}");
    let html = refused("access_denied")(land(&app, &denied).await);
    assert!(html.contains("access_denied"), "{html}");

    // A state from another credential: A's state with the code issued for B's request (and
    // B's PKCE challenge) is refused by the server, so neither credential changes.
    let reconnect = || async {
        let res = app
            .call(
                "POST",
                &format!("/v1/credentials/{a_id}/authorize"),
                &alice.token,
                None,
            )
            .await;
        res.json["authorize_url"].as_str().unwrap().to_owned()
    };
    let a_state = query_param(&reconnect().await, "state").unwrap();
    let b_landing = server.browse(&b_url, &redirect).await;
    let swapped = with_param(&b_landing, "state", &a_state);
    let html = refused("swapped")(land(&app, &swapped).await);
    assert!(
        html.contains("exchanging the authorization code failed"),
        "{html}"
    );

    // An issuer that is not the one the request went to (mix-up).
    let landing = server.browse(&reconnect().await, &redirect).await;
    let mixed = with_param(&landing, "iss", "http://127.0.0.1:1/evil");
    let html = refused("iss")(land(&app, &mixed).await);
    assert!(html.contains("unexpected issuer"), "{html}");
    // A possible attack: in the credential's trail.
    let audit = app
        .call(
            "GET",
            &format!("/v1/audit?credential_id={a_id}"),
            &alice.token,
            None,
        )
        .await;
    let refusals: Vec<&Value> = audit.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "credential.connect" && e["outcome"] == "denied")
        .collect();
    assert_eq!(refusals.len(), 1, "{}", audit.json);
    assert_eq!(refusals[0]["detail"]["reason"], "issuer_mismatch");

    // An expired state.
    let landing = server.browse(&reconnect().await, &redirect).await;
    app.sql("UPDATE oauth_states SET expires_at = 1", &[]).await;
    let html = refused("expired")(land(&app, &landing).await);
    assert!(html.contains("expired"), "{html}");

    for id in [&a_id, &b_id] {
        assert_eq!(
            status(&app, &alice.token, id).await,
            "pending_authorization"
        );
    }

    // A good one, then the same redirect replayed.
    let landing = server.browse(&reconnect().await, &redirect).await;
    assert_eq!(land(&app, &landing).await.0, 200);
    assert_eq!(status(&app, &alice.token, &a_id).await, "connected");
    let tokens = stored_tokens(&app, &a_id).await;
    let html = refused("replayed")(land(&app, &landing).await);
    assert!(html.contains("unknown or was already used"), "{html}");
    assert_eq!(
        stored_tokens(&app, &a_id).await,
        tokens,
        "the replay changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_and_client_secret_post() {
    let app = spawn_app(Db::Sqlite).await;
    let server = AuthServer::start();
    let upstream = Upstream::start(Tls::Plain).await;
    let alice = app.user("acme", "alice", false).await;
    let client = server
        .register(&redirect_uri(&app), "client_secret_post", false)
        .await;

    let mut body = custom("Machine", &server, &client, "client_secret_post");
    body["grant_type"] = json!("client_credentials");
    body["scopes"] = json!(["api:read"]);
    let res = app
        .call("POST", "/v1/credentials", &alice.token, Some(body.clone()))
        .await;
    assert_eq!(res.status, 201, "{}", res.json);
    assert_eq!(res.json["status"], "connected");
    assert!(res.json["token_expires_at"].is_string());
    assert!(res.json.get("authorize_url").is_none());
    let id = res.json["id"].as_str().unwrap().to_owned();
    let res = call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let access = stored_tokens(&app, &id).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(bearer(&upstream), format!("Bearer {access}"));
    // Expiry: a new token by the same grant.
    app.expire_token(&id).await;
    call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_ne!(bearer(&upstream), format!("Bearer {access}"));
    assert_eq!(
        server.stats().await["token_requests"]["client_credentials"],
        2
    );

    // A wrong secret: the provider's error, and nothing stored.
    let before = app.credential_count(&alice.token).await;
    body["name"] = json!("Wrong");
    body["client_secret"] = json!("not-the-secret");
    let res = app
        .call("POST", "/v1/credentials", &alice.token, Some(body))
        .await;
    assert_eq!(
        (res.status, res.code()),
        (400, "oauth_token_request_failed"),
        "{}",
        res.json
    );
    assert_eq!(res.json["error"]["provider_error"], "invalid_client");
    let after = app.credential_count(&alice.token).await;
    assert_eq!(before, after);

    // The authorization code grant with client_secret_post.
    let res = app
        .call(
            "POST",
            "/v1/credentials",
            &alice.token,
            Some(custom("Posted", &server, &client, "client_secret_post")),
        )
        .await;
    let url = res.json["authorize_url"].as_str().unwrap().to_owned();
    let landing = server.browse(&url, &redirect_uri(&app)).await;
    assert_eq!(land(&app, &landing).await.0, 200);
    assert_eq!(
        status(&app, &alice.token, res.json["id"].as_str().unwrap()).await,
        "connected"
    );

    // The catalog and the redirect URI to register.
    let res = app
        .call("GET", "/v1/oauth/providers", &alice.token, None)
        .await;
    assert_eq!(res.json["redirect_uri"], redirect_uri(&app));
    let names: Vec<&str> = res.json["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["custom", "google", "jira", "salesforce", "zoom"]);
    app.assert_secrets_kept(&[&client.client_secret, &access])
        .await;
}

both_backends! {
async fn short_lived_tokens_are_not_refreshed_on_arrival(app) {
    // Tokens live 20 s, less than the default 60 s refresh skew.
    let server = AuthServer::start_with_ttl(20);
    let upstream = Upstream::start(Tls::Plain).await;
    let alice = app.user("acme", "alice", false).await;
    let client = server.register(&redirect_uri(&app), "client_secret_basic", true).await;
    let res = app.call("POST", "/v1/credentials", &alice.token, Some(custom("Short", &server, &client, "client_secret_basic"))).await;
    let id = res.json["id"].as_str().unwrap().to_owned();
    let landing = server.browse(res.json["authorize_url"].as_str().unwrap(), &redirect_uri(&app)).await;
    assert_eq!(land(&app, &landing).await.0, 200);
    // A storm of 40 calls right after connecting: the token just received is used, not
    // refreshed 40 times one after another.
    let calls = (0..40).map(|_| call_upstream(&app, &alice.token, &upstream, &id));
    for res in futures_util::future::join_all(calls).await {
        assert_eq!(res.status, 200, "{}", res.json);
    }
    assert_eq!(server.refresh_requests().await, 0);
    assert!(stored_tokens(&app, &id).await["obtained_at"].is_i64(), "the token's lifetime is known");
}

async fn a_person_grant_without_refresh_token_never_becomes_the_app(app) {
    // No refresh_token grant for this client: its access tokens (2 s) cannot be renewed.
    let server = AuthServer::start_with_ttl(2);
    let upstream = Upstream::start(Tls::Plain).await;
    let alice = app.user("acme", "alice", false).await;
    let client = server
        .register_for(&redirect_uri(&app), "client_secret_basic", true, &["authorization_code", "client_credentials"])
        .await;
    let res = app.call("POST", "/v1/credentials", &alice.token, Some(custom("NoRefresh", &server, &client, "client_secret_basic"))).await;
    let id = res.json["id"].as_str().unwrap().to_owned();
    let landing = server.browse(res.json["authorize_url"].as_str().unwrap(), &redirect_uri(&app)).await;
    assert_eq!(land(&app, &landing).await.0, 200);
    assert!(stored_tokens(&app, &id).await["refresh_token"].is_null(), "the server sent no refresh token");
    let res = call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_eq!(res.status, 200, "{}", res.json);
    // Once the token is about to expire (half its 2 s lifetime), the person must reconnect.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let res = call_upstream(&app, &alice.token, &upstream, &id).await;
    assert_eq!((res.status, res.code()), (409, "credential_needs_reauthorization"), "{}", res.json);
    assert_eq!(status(&app, &alice.token, &id).await, "reauthorization_required");
    let stats = server.stats().await;
    assert_eq!(stats["token_requests"]["client_credentials"].as_u64().unwrap_or(0), 0, "never the app's grant: {stats}");
    assert_eq!(upstream.requests().len(), 1, "no call went out as the app");
}
}

/// The database refuses every write of sealed fields (as a failing disk would).
async fn break_secret_writes(app: &TestApp, broken: bool) {
    match (app.db, broken) {
        (Db::Sqlite, true) => {
            for event in ["INSERT", "UPDATE"] {
                app.sql(&format!("CREATE TRIGGER secrets_broken_{event} BEFORE {event} ON credential_secrets BEGIN SELECT RAISE(ABORT, 'disk failed'); END"), &[]).await;
            }
        }
        (Db::Sqlite, false) => {
            for event in ["INSERT", "UPDATE"] {
                app.sql(&format!("DROP TRIGGER secrets_broken_{event}"), &[])
                    .await;
            }
        }
        (Db::Postgres, true) => {
            app.sql("CREATE OR REPLACE FUNCTION secrets_broken() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk failed'; END $$", &[]).await;
            app.sql("CREATE TRIGGER secrets_broken BEFORE INSERT OR UPDATE ON credential_secrets FOR EACH ROW EXECUTE FUNCTION secrets_broken()", &[]).await;
        }
        (Db::Postgres, false) => {
            app.sql("DROP TRIGGER secrets_broken ON credential_secrets", &[])
                .await;
        }
    }
}

both_backends! {
// A redirect whose tokens cannot be stored is the database's failure, not the person's: 503
// with "start the connection again" (the provider's code is single use), as every other route
// answers a storage failure. It answered 400.
async fn a_redirect_whose_tokens_cannot_be_stored_is_a_503(app) {
    let server = AuthServer::start();
    let alice = app.user("acme", "alice", false).await;
    let client = server.register(&redirect_uri(&app), "client_secret_basic", true).await;
    let res = app.call("POST", "/v1/credentials", &alice.token, Some(custom("Service", &server, &client, "client_secret_basic"))).await;
    assert_eq!(res.status, 201, "{}", res.json);
    let id = res.json["id"].as_str().unwrap().to_owned();
    let authorize_url = res.json["authorize_url"].as_str().unwrap().to_owned();
    let landing = server.browse(&authorize_url, &redirect_uri(&app)).await;
    break_secret_writes(&app, true).await;
    let (code, html, _) = land(&app, &landing).await;
    break_secret_writes(&app, false).await;
    assert_eq!(code, 503, "{html}");
    assert!(html.contains("start the connection again"), "{html}");
    assert_eq!(status(&app, &alice.token, &id).await, "pending_authorization");
}
}
