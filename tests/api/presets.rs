//! Provider presets against recorded responses shaped like each provider's: Salesforce's token
//! response without `expires_in` and with `instance_url` (refresh on 401), Atlassian's
//! parameters, rotation and `accessible-resources`, Zoom's Basic client authentication,
//! Google's offline parameters and a refresh without a new refresh token.

use crate::auth_server::query_param;
#[allow(unused_imports)]
use crate::helpers::*;
use crate::recorded::Recorded;
use crate::upstream::{Tls, Upstream};
use base64::Engine;
use keyway_credentials::Credentials;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

async fn stored(app: &TestApp, id: &str) -> Value {
    let resolved = Credentials::new(app.store.clone(), app.keyring.clone())
        .resolve_unchecked(id)
        .await
        .unwrap();
    serde_json::from_str(resolved.tokens.unwrap().expose_secret()).unwrap()
}

/// Creates a credential of `provider` with the fake's endpoints, then completes the redirect
/// with a recorded code. Returns the credential ID and the authorize URL Keyway built.
async fn connect(
    app: &TestApp,
    token: &str,
    fake: &Recorded,
    provider: &str,
    with_urls: bool,
) -> (String, String) {
    let mut body = json!({
        "name": provider, "kind": "oauth2", "provider": provider,
        "client_id": format!("{provider}-client"), "client_secret": format!("{provider}-secret"),
        "allowed_hosts": ["upstream.test"],
    });
    if with_urls {
        body["authorize_url"] = json!(format!("{}/authorize", fake.base));
        body["token_url"] = json!(format!("{}/token", fake.base));
    }
    let res = app.call("POST", "/v1/credentials", token, Some(body)).await;
    assert_eq!(res.status, 201, "{}", res.json);
    let id = res.json["id"].as_str().unwrap().to_owned();
    let url = res.json["authorize_url"].as_str().unwrap().to_owned();
    let state = query_param(&url, "state").unwrap();
    let res = app
        .raw(
            "GET",
            &format!("/oauth-client-service/redirect?code=recorded-code&state={state}"),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    (id, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presets_against_recorded_provider_responses() {
    let fake = Recorded::start().await;
    // The shipped presets, with only Jira's endpoints pointed at the fake (Atlassian's
    // accessible-resources URL cannot be given per credential), as an operator's providers
    // file would point them.
    let shipped = std::fs::read_to_string("config/providers.toml").unwrap();
    let jira = shipped[shipped.find("[jira]").unwrap()..shipped.find("[zoom]").unwrap()]
        .replace(
            "https://auth.atlassian.com/authorize",
            &format!("{}/authorize", fake.base),
        )
        .replace(
            "https://auth.atlassian.com/oauth/token",
            &format!("{}/token", fake.base),
        )
        .replace(
            "https://api.atlassian.com/oauth/token/accessible-resources",
            &format!("{}/oauth/token/accessible-resources", fake.base),
        );
    assert_eq!(jira.matches(&fake.base).count(), 3, "{jira}");
    let app = spawn_app_configured(Db::Sqlite, |settings| {
        let file = settings.data_dir.join("providers.toml");
        std::fs::write(&file, &jira).unwrap();
        settings.oauth.providers_file = file.display().to_string();
    })
    .await;
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;

    // Salesforce: no expires_in, instance_url kept; expiry unknown, so a 401 refreshes.
    fake.answer("/token", json!({
        "access_token": "00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog.39AsX",
        "signature": "kVP0ALEWmQ1YPEqq6kN2fPzYLHnnqGnD4hvXAuHcV5k=",
        "scope": "refresh_token api", "instance_url": "https://acme.my.salesforce.com",
        "id": "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
        "token_type": "Bearer", "issued_at": "1278448832702", "refresh_token": "5Aep861TSESvWeug_xvFHRBTTbf",
    }));
    let (id, url) = connect(&app, &alice.token, &fake, "salesforce", true).await;
    assert_eq!(
        query_param(&url, "scope").as_deref(),
        Some("api refresh_token")
    );
    let exchange = &fake.received("/token")[0];
    assert_eq!(exchange.form["grant_type"], "authorization_code");
    assert_eq!(
        exchange.form["client_secret"], "salesforce-secret",
        "client_secret_post"
    );
    assert!(exchange.form.contains_key("code_verifier"));
    let view = app
        .call("GET", &format!("/v1/credentials/{id}"), &alice.token, None)
        .await
        .json;
    assert_eq!(view["token_expires_at"], Value::Null);
    assert_eq!(
        view["extras"]["instance_url"],
        "https://acme.my.salesforce.com"
    );
    fake.answer("/token", json!({
        "access_token": "00Dxx0000001gPL!second", "signature": "x", "scope": "refresh_token api",
        "instance_url": "https://acme.my.salesforce.com", "id": "https://login.salesforce.com/id/x/y",
        "token_type": "Bearer", "issued_at": "1278448832800",
    }));
    let res = app
        .call("POST", "/v1/dispatch", &alice.token, Some(json!({"request": {
            "url": upstream.url("http", "upstream.test", "/bearer/00Dxx0000001gPL!second"), "credential_id": id,
        }})))
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(
        (res.json["status"].as_u64(), res.json["attempts"].as_u64()),
        (Some(200), Some(2)),
        "401, refresh, retry once"
    );
    let refresh = fake.received("/token").last().unwrap().clone();
    assert_eq!(refresh.form["refresh_token"], "5Aep861TSESvWeug_xvFHRBTTbf");
    assert_eq!(
        stored(&app, &id).await["refresh_token"],
        "5Aep861TSESvWeug_xvFHRBTTbf",
        "no new one sent: the old one is kept"
    );

    // Atlassian (Jira): audience and prompt, offline_access, rotation, the cloud ID.
    fake.answer("/token", json!({
        "access_token": "eyJraWQiOiJhdGxhc3NpYW4", "expires_in": 3600, "token_type": "Bearer",
        "refresh_token": "atl-refresh-1", "scope": "read:jira-work write:jira-work read:jira-user offline_access",
    }));
    fake.answer("/oauth/token/accessible-resources", json!([{
        "id": "1324a887-45db-1bf4-1e99-ef0ff456d421", "name": "Acme", "url": "https://acme.atlassian.net",
        "scopes": ["read:jira-work", "write:jira-work"], "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/flag.png",
    }]));
    let (id, url) = connect(&app, &alice.token, &fake, "jira", false).await;
    assert_eq!(
        query_param(&url, "audience").as_deref(),
        Some("api.atlassian.com")
    );
    assert_eq!(query_param(&url, "prompt").as_deref(), Some("consent"));
    assert!(query_param(&url, "scope")
        .unwrap()
        .split(' ')
        .any(|s| s == "offline_access"));
    let resources = &fake.received("/oauth/token/accessible-resources")[0];
    assert_eq!(resources.method, "GET");
    assert_eq!(
        resources.authorization.as_deref(),
        Some("Bearer eyJraWQiOiJhdGxhc3NpYW4")
    );
    let view = app
        .call("GET", &format!("/v1/credentials/{id}"), &alice.token, None)
        .await
        .json;
    assert_eq!(
        view["extras"]["cloud_id"],
        "1324a887-45db-1bf4-1e99-ef0ff456d421"
    );
    assert_eq!(view["extras"]["site_url"], "https://acme.atlassian.net");
    assert_eq!(view["allowed_hosts"], json!(["upstream.test"]));
    fake.answer(
        "/token",
        json!({
            "access_token": "eyJraWQiOiJhdGxhc3NpYW4-2", "expires_in": 3600, "token_type": "Bearer",
            "refresh_token": "atl-refresh-2", "scope": "read:jira-work offline_access",
        }),
    );
    app.expire_token(&id).await;
    let res = app
        .call("POST", "/v1/dispatch", &alice.token, Some(json!({"request": {
            "url": upstream.url("http", "upstream.test", "/bearer/eyJraWQiOiJhdGxhc3NpYW4-2"), "credential_id": id,
        }})))
        .await;
    assert_eq!(
        (res.json["status"].as_u64(), res.json["attempts"].as_u64()),
        (Some(200), Some(1)),
        "{}",
        res.json
    );
    assert_eq!(
        stored(&app, &id).await["refresh_token"],
        "atl-refresh-2",
        "the rotated refresh token is stored"
    );

    // Zoom: the client authenticates with HTTP Basic at the token endpoint.
    fake.answer("/token", json!({
        "access_token": "eyJzdiI6IjAwMDAwMSIsImFsZyI6IkhTNTEyIn0", "token_type": "bearer",
        "refresh_token": "eyJzdiI6InJlZnJlc2gifQ", "expires_in": 3599, "scope": "user:read:admin",
    }));
    connect(&app, &alice.token, &fake, "zoom", true).await;
    let exchange = fake.received("/token").last().unwrap().clone();
    let basic = base64::engine::general_purpose::STANDARD.encode("zoom-client:zoom-secret");
    assert_eq!(exchange.authorization, Some(format!("Basic {basic}")));
    assert!(!exchange.form.contains_key("client_secret"));

    // Google: offline access with consent; a refresh without a new refresh token keeps the
    // old one.
    fake.answer("/token", json!({
        "access_token": "ya29.a0AfH6SMB", "expires_in": 3599, "token_type": "Bearer",
        "scope": "openid https://www.googleapis.com/auth/userinfo.email", "refresh_token": "1//0gLmGoogleRefresh",
        "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.sig",
    }));
    let (id, url) = connect(&app, &alice.token, &fake, "google", true).await;
    assert_eq!(query_param(&url, "access_type").as_deref(), Some("offline"));
    assert_eq!(query_param(&url, "prompt").as_deref(), Some("consent"));
    fake.answer(
        "/token",
        json!({
            "access_token": "ya29.second", "expires_in": 3920, "token_type": "Bearer",
            "scope": "openid https://www.googleapis.com/auth/userinfo.email",
        }),
    );
    app.expire_token(&id).await;
    let res = app
        .call("POST", "/v1/dispatch", &alice.token, Some(json!({"request": {
            "url": upstream.url("http", "upstream.test", "/bearer/ya29.second"), "credential_id": id,
        }})))
        .await;
    assert_eq!(res.json["status"].as_u64(), Some(200), "{}", res.json);
    let tokens = stored(&app, &id).await;
    assert_eq!(tokens["access_token"], "ya29.second");
    assert_eq!(tokens["refresh_token"], "1//0gLmGoogleRefresh");
    app.assert_secrets_kept(&[
        "salesforce-secret",
        "5Aep861TSESvWeug_xvFHRBTTbf",
        "atl-refresh-2",
        "1//0gLmGoogleRefresh",
    ])
    .await;
}
