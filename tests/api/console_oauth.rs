//! OAuth 2.0 in the console, against the real authorization server: adding with a preset or
//! a custom server, the redirect URL to register, Connect and Reconnect back to the account's
//! page, a connection refused when it arrives in another browser session, and client
//! credentials that fail with the provider's error and store nothing.

use crate::auth_server::{with_param, AuthServer, Registered};
use crate::console::{assert_console_headers, sign_in_with_token};
use crate::helpers::TestApp;
use keyway_testkit::browser::{Browser, Page};

fn redirect_uri(app: &TestApp) -> String {
    format!("{}/oauth-client-service/redirect", app.address)
}

/// The add form for a custom server, as a person fills it in.
fn custom_form<'a>(
    csrf: &'a str,
    name: &'a str,
    server: &'a AuthServer,
    client: &'a Registered,
    grant: &'a str,
) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", csrf.to_owned()),
        ("kind", "oauth2".to_owned()),
        ("name", name.to_owned()),
        ("provider", "custom".to_owned()),
        ("grant_type", grant.to_owned()),
        ("client_id", client.client_id.clone()),
        ("client_secret", client.client_secret.clone()),
        ("scopes", "openid api:read".to_owned()),
        ("authorize_url", format!("{}/auth", server.issuer)),
        ("token_url", format!("{}/token", server.issuer)),
        ("revoke_url", String::new()),
        ("client_auth", "client_secret_basic".to_owned()),
        ("allowed_hosts", String::new()),
    ]
}

async fn post(browser: &Browser, path: &str, form: &[(&'static str, String)]) -> Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post(path, &pairs).await
}

/// Presses the account page's Connect (or Reconnect) button; the provider URL it leads to.
async fn press_connect(browser: &Browser, id: &str) -> String {
    let page = browser.get(&format!("/console/credentials/{id}")).await;
    let csrf = page.field("csrf").unwrap();
    let sent = browser
        .post(
            &format!("/console/credentials/{id}/connect"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    sent.location.unwrap()
}

/// The path and query of a redirect URL on Keyway.
fn local(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.address).unwrap().to_owned()
}

crate::both_backends! {
    async fn connect_in_the_console_and_only_in_the_same_session(app) {
        let server = AuthServer::start();
        let client = server.register(&redirect_uri(&app), "client_secret_basic", true).await;
        let alice = app.user("acme", "alice", false).await;
        let mallory = app.user("acme", "mallory", false).await;
        let browser = Browser::new(&app.address);
        sign_in_with_token(&browser, &alice.token).await;

        // The form shows the presets and the redirect URL to register, with a copy button.
        let new = browser.get("/console/credentials/new?kind=oauth2").await;
        assert_eq!(new.status, 200, "{}", new.body);
        assert_console_headers(&new);
        assert!(new.csp.as_deref().unwrap().contains("script-src 'self'"));
        assert!(new.body.contains(&format!("value=\"{}\" readonly", redirect_uri(&app))), "{}", new.body);
        assert!(new.body.contains("data-copy=\"redirect_uri\""));
        for preset in ["Salesforce", "Jira", "Zoom", "Google"] {
            assert!(new.body.contains(preset), "{preset} is offered");
        }

        let csrf = new.field("csrf").unwrap();
        let added = post(&browser, "/console/credentials/new", &custom_form(&csrf, "Service", &server, &client, "authorization_code")).await;
        assert_eq!(added.status, 303, "{}", added.body);
        let location = added.location.unwrap();
        let id = location
            .strip_prefix("/console/credentials/")
            .and_then(|rest| rest.strip_suffix("?done=added-connect"))
            .unwrap()
            .to_owned();
        let page = browser.get(&location).await;
        assert!(page.body.contains("waiting for authorization"), "{}", page.body);
        assert!(page.body.contains("Register the redirect URL"));
        assert!(page.body.contains(&redirect_uri(&app)));
        assert!(page.body.contains(">Connect</button>"));
        // The Connect form's answer goes to the provider, so this page's form-action names it.
        let csp = page.csp.clone().unwrap();
        assert!(csp.contains(&format!("form-action 'self' {}", server.issuer.trim_end_matches('/'))) , "{csp}");

        // Mallory starts a connection of her own and lures Alice into finishing it: Alice's
        // browser session is not the one that started it, so it is refused (and spent).
        let other = Browser::new(&app.address);
        sign_in_with_token(&other, &mallory.token).await;
        let new = other.get("/console/credentials/new?kind=oauth2").await;
        let csrf = new.field("csrf").unwrap();
        let hers = post(&other, "/console/credentials/new", &custom_form(&csrf, "Mallory's", &server, &client, "authorization_code")).await;
        let hers = hers.location.unwrap().replace("/console/credentials/", "").replace("?done=added-connect", "");
        let lure = server.browse(&press_connect(&other, &hers).await, &redirect_uri(&app)).await;
        let refused = browser.get(&local(&app, &lure)).await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains("another browser session"), "{}", refused.body);
        assert_eq!(app.call("GET", &format!("/v1/credentials/{hers}"), &mallory.token, None).await.json["status"], "pending_authorization");
        // Spent: not even Mallory's own session can use it now.
        let again = other.get(&local(&app, &lure)).await;
        assert_eq!(again.status, 400);
        assert!(again.body.contains("unknown or was already used"), "{}", again.body);
        // A browser signed in nowhere is refused too.
        let lure = server.browse(&press_connect(&other, &hers).await, &redirect_uri(&app)).await;
        let nobody = Browser::new(&app.address);
        let refused = nobody.get(&local(&app, &lure)).await;
        assert_eq!(refused.status, 400);
        assert!(refused.body.contains("another browser session"), "{}", refused.body);
        // Both refusals are in the credential's trail, for its owner to see.
        let audit = app.call("GET", &format!("/v1/audit?credential_id={hers}"), &mallory.token, None).await;
        assert_eq!(audit.status, 200, "{}", audit.json);
        let refusals: Vec<&serde_json::Value> = audit.json["events"].as_array().unwrap().iter()
            .filter(|e| e["action"] == "credential.connect").collect();
        assert_eq!(refusals.len(), 2, "{refusals:?}");
        for refusal in refusals {
            assert_eq!(refusal["outcome"], "denied", "{refusal}");
            assert_eq!(refusal["detail"]["reason"], "other_browser_session", "{refusal}");
        }

        // Alice connects her own account, in her own session: back to its page, connected.
        let landing = server.browse(&press_connect(&browser, &id).await, &redirect_uri(&app)).await;
        let back = browser.get(&local(&app, &landing)).await;
        assert_eq!(back.status, 303, "{}", back.body);
        assert_eq!(back.location.as_deref(), Some(format!("/console/credentials/{id}?done=connected").as_str()));
        let page = browser.get(back.location.as_deref().unwrap()).await;
        assert!(page.body.contains("The account is connected."), "{}", page.body);
        assert!(page.body.contains(">connected<"), "{}", page.body);
        assert!(page.body.contains(">Reconnect</button>"));

        // A reconnection the provider's answer breaks: the account's page says why, and the
        // account stays connected.
        let landing = server.browse(&press_connect(&browser, &id).await, &redirect_uri(&app)).await;
        let broken = with_param(&landing, "code", "not-a-code");
        let failed = browser.get(&local(&app, &broken)).await;
        assert_eq!(failed.status, 400, "{}", failed.body);
        assert!(failed.body.contains("The connection failed: exchanging the authorization code failed"), "{}", failed.body);
        assert!(failed.body.contains("<h1>Service</h1>"), "the account's own page: {}", failed.body);
        assert_eq!(app.call("GET", &format!("/v1/credentials/{id}"), &alice.token, None).await.json["status"], "connected");

        // A connection started through the API still completes wherever its URL is opened.
        let res = app.call("POST", &format!("/v1/credentials/{id}/authorize"), &alice.token, None).await;
        let landing = server.browse(res.json["authorize_url"].as_str().unwrap(), &redirect_uri(&app)).await;
        let done = nobody.get(&local(&app, &landing)).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("connected"));
        let csp = done.csp.unwrap();
        assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"), "{csp}");

        // The owner replaces the client secret; the connection and its settings stay.
        let page = browser.get(&format!("/console/credentials/{id}")).await;
        assert!(page.body.contains("New client secret"));
        let before = app.call("GET", &format!("/v1/credentials/{id}"), &alice.token, None).await.json["secret_version"].as_i64().unwrap();
        let rotated = crate::helpers::secret("rotated-client-secret");
        let replaced = browser
            .post(&format!("/console/credentials/{id}/secret"), &[("csrf", &page.field("csrf").unwrap()), ("client_secret", &rotated)])
            .await;
        assert_eq!(replaced.status, 303, "{}", replaced.body);
        let api = app.call("GET", &format!("/v1/credentials/{id}"), &alice.token, None).await;
        assert_eq!((api.json["secret_version"].as_i64(), api.json["status"].as_str()), (Some(before + 1), Some("connected")), "{}", api.json);
        assert_eq!(api.json["client_id"], client.client_id.as_str());
        app.assert_secrets_kept(&[&rotated]).await;
        // The provider now gets the new secret (which it does not know) when the code is
        // exchanged: so the stored one really changed.
        let landing = server.browse(&press_connect(&browser, &id).await, &redirect_uri(&app)).await;
        let failed = browser.get(&local(&app, &landing)).await;
        assert!(failed.body.contains("invalid_client"), "{}", failed.body);

        // The client secret was typed into two forms and shown in no page.
        for shown in [client.client_secret.as_str(), alice.token.as_str()] {
            assert!(!browser.pages().contains(shown) && !other.pages().contains(shown));
        }
        app.assert_secrets_kept(&[&client.client_secret]).await;
    }

    async fn client_credentials_in_the_console(app) {
        let server = AuthServer::start();
        let client = server.register(&redirect_uri(&app), "client_secret_basic", false).await;
        let alice = app.user("acme", "alice", false).await;
        let browser = Browser::new(&app.address);
        sign_in_with_token(&browser, &alice.token).await;
        let new = browser.get("/console/credentials/new?kind=oauth2").await;
        let csrf = new.field("csrf").unwrap();

        // A refused secret: the provider's error on the form, what was typed kept except the
        // secret, and nothing stored.
        let mut form = custom_form(&csrf, "Machine", &server, &client, "client_credentials");
        form[6].1 = "not-the-secret".to_owned();
        let refused = post(&browser, "/console/credentials/new", &form).await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains("invalid_client"), "the provider's error: {}", refused.body);
        assert!(refused.body.contains(&format!("value=\"{}\"", client.client_id)));
        assert!(!refused.body.contains("not-the-secret"));
        assert_eq!(app.credential_count(&alice.token).await, 0);

        let form = custom_form(&csrf, "Machine", &server, &client, "client_credentials");
        let added = post(&browser, "/console/credentials/new", &form).await;
        assert_eq!(added.status, 303, "{}", added.body);
        let page = browser.get(added.location.as_deref().unwrap()).await;
        assert!(page.body.contains("The account was added."), "{}", page.body);
        assert!(page.body.contains(">connected<") && page.body.contains("client credentials"));
        assert!(!page.body.contains(">Connect</button>") && !page.body.contains("Redirect URL"));
        assert!(!browser.pages().contains(&client.client_secret));
        app.assert_secrets_kept(&[&client.client_secret]).await;
    }
}
