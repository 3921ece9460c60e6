//! The web console's sign-in over HTTP: by API token and by one-time link, cookie attributes,
//! CSRF on every form, idle and absolute session ends, sign-out, headers on every page, and
//! no secret in any page, log line or stored byte.

use crate::helpers::{secret, spawn_app, Db, TestApp};
use keyway_testkit::browser::{Browser, Page};
use secrecy::ExposeSecret;
use serde_json::json;

/// Signs in with `token` through the sign-in page; returns the page after the redirect.
pub(crate) async fn sign_in_with_token(browser: &Browser, token: &str) -> Page {
    let login = browser.get("/console/login").await;
    assert_eq!(login.status, 200);
    let csrf = login.field("csrf").unwrap();
    let done = browser
        .post("/console/login", &[("csrf", &csrf), ("token", token)])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/console/credentials"));
    browser.get("/console/credentials").await
}

pub(crate) fn assert_console_headers(page: &Page) {
    let csp = page.csp.as_deref().expect("every console page has a CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_a_token_see_your_accounts_and_sign_out() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let key = secret("console-key");
    app.credential(
        &alice.token,
        json!({"name": "Billing <API>", "kind": "api_key", "api_key": key}),
    )
    .await;
    let browser = Browser::new(&app.address);

    let first = browser.get("/console").await;
    assert_eq!(
        (first.status, first.location.as_deref()),
        (303, Some("/console/login"))
    );
    let login = browser.get("/console/login").await;
    assert_console_headers(&login);
    let csrf = login.field("csrf").unwrap();
    let login_cookie = login.cookie_line("keyway_login").unwrap();
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Lax"));

    // A form without its CSRF value, or with another, is refused before the token is read.
    let refused = browser
        .post("/console/login", &[("token", &alice.token)])
        .await;
    assert_eq!(refused.status, 400, "a form without csrf cannot be read");
    let forged = browser
        .post(
            "/console/login",
            &[("csrf", "0".repeat(64).as_str()), ("token", &alice.token)],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(browser.cookie("keyway_session").is_none());
    let wrong = browser
        .post(
            "/console/login",
            &[("csrf", &csrf), ("token", "kw_nonsense")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("not valid"));

    // A form past the console's 16 KiB limit is refused before it is read whole.
    let huge = "x".repeat(20 * 1024);
    let too_big = browser
        .post("/console/login", &[("csrf", &csrf), ("token", &huge)])
        .await;
    assert_eq!(too_big.status, 413, "{}", too_big.body);

    let list = sign_in_with_token(&browser, &alice.token).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_console_headers(&list);
    assert!(
        list.body.contains("Billing &#60;API&#62;") || list.body.contains("Billing &lt;API&gt;"),
        "names are escaped: {}",
        list.body
    );
    assert!(!list.body.contains("Billing <API>"));
    assert!(list.body.contains("API key") && list.body.contains(">active<"));
    let session = browser.cookie("keyway_session").unwrap();
    // The session is kept as a digest: its value is nowhere in the database.
    app.assert_secrets_kept(&[&key, &session]).await;
    for shown in [key.as_str(), alice.token.as_str(), session.as_str()] {
        assert!(!browser.pages().contains(shown), "a page showed a secret");
    }

    // Sign-out needs the session's CSRF token.
    let refused = browser.post("/console/logout", &[("csrf", "x")]).await;
    assert_eq!(refused.status, 403);
    let csrf = list.field("csrf").unwrap();
    let out = browser.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (out.status, out.location.as_deref()),
        (303, Some("/console/login"))
    );
    assert!(browser.cookie("keyway_session").is_none());
    // The old cookie no longer works, even if someone kept it.
    let stolen = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/console/credentials", app.address))
        .header("cookie", format!("keyway_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 303);
}

/// The ID of an account the console just added, from where it sent the browser.
fn added_id(location: &str) -> String {
    location
        .strip_prefix("/console/credentials/")
        .and_then(|rest| rest.strip_suffix("?done=added"))
        .unwrap()
        .to_owned()
}

async fn link(app: &TestApp, user_id: &str) -> String {
    let link = keyway_credentials::console::create_login_link(&app.store, user_id)
        .await
        .unwrap();
    link.expose_secret().to_owned()
}

crate::both_backends! {
    async fn links_sign_in_once_and_sessions_end(app) {
        let alice = app.user("acme", "alice", false).await;
        let bob = app.user("other", "bob", false).await;
        app.credential(&alice.token, json!({"name": "alice-only", "kind": "api_key", "api_key": "a"}))
            .await;
        let browser = Browser::new(&app.address);
        let token = link(&app, &alice.id).await;
        let page = browser.get(&format!("/console/link?token={token}")).await;
        assert_eq!(page.status, 200);
        assert_console_headers(&page);
        // Opening the link signs nobody in: a link scanner must not use it up.
        assert!(browser.cookie("keyway_session").is_none());
        let csrf = page.field("csrf").unwrap();
        let used = browser.post("/console/link", &[("csrf", &csrf), ("link", &token)]).await;
        assert_eq!(used.status, 303, "{}", used.body);
        assert!(browser.get("/console/credentials").await.body.contains("alice-only"));

        // Once only, also in another browser.
        let other = Browser::new(&app.address);
        let csrf = other.get(&format!("/console/link?token={token}")).await.field("csrf").unwrap();
        let again = other.post("/console/link", &[("csrf", &csrf), ("link", &token)]).await;
        assert_eq!(again.status, 400);
        assert!(other.cookie("keyway_session").is_none());

        // An expired link.
        let late = link(&app, &alice.id).await;
        app.sql("UPDATE login_links SET expires_at = 1 WHERE used_at IS NULL", &[]).await;
        let csrf = other.get("/console/login").await.field("csrf").unwrap();
        let expired = other.post("/console/link", &[("csrf", &csrf), ("link", &late)]).await;
        assert_eq!(expired.status, 400);

        // Another org's person sees only their org's accounts.
        let bobs = Browser::new(&app.address);
        let list = sign_in_with_token(&bobs, &bob.token).await;
        assert_eq!(list.status, 200);
        assert!(!list.body.contains("alice-only"));
        let missing = bobs.get("/console/credentials/nothing-here").await;
        assert_eq!(missing.status, 404);
        assert_console_headers(&missing);

        // Idle for 8 hours, or 7 days old: signed out.
        app.sql("UPDATE console_sessions SET last_seen_at = 1", &[]).await;
        let idle = browser.get("/console/credentials").await;
        assert_eq!((idle.status, idle.location.as_deref()), (303, Some("/console/login")));
        let list = sign_in_with_token(&bobs, &bob.token).await;
        assert_eq!(list.status, 200);
        app.sql("UPDATE console_sessions SET expires_at = 1", &[]).await;
        assert_eq!(bobs.get("/console/credentials").await.status, 303);

        // Ended sessions and spent links do not pile up: the next sign-in clears them away.
        link(&app, &alice.id).await;
        app.sql("UPDATE login_links SET expires_at = 1", &[]).await;
        let ended = "SELECT COUNT(*) FROM console_sessions WHERE expires_at = 1";
        assert_eq!(app.count(ended).await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM login_links").await, 1);
        sign_in_with_token(&bobs, &bob.token).await;
        assert_eq!(app.count(ended).await, 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM console_sessions").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM login_links").await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_rename_and_remove_accounts_in_the_console() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let bob = app.user("other", "bob", false).await;
    let browser = Browser::new(&app.address);
    sign_in_with_token(&browser, &alice.token).await;
    let form = browser.get("/console/credentials/new?kind=api_key").await;
    assert_eq!(form.status, 200);
    assert_console_headers(&form);
    let csrf = form.field("csrf").unwrap();

    // An API key in a header, shared, for one host.
    let key = secret("console-api-key");
    let added = browser
        .post(
            "/console/credentials/new",
            &[
                ("csrf", &csrf),
                ("kind", "api_key"),
                ("name", "Survey"),
                ("api_key", &key),
                ("placement", "header"),
                ("header_name", "X-API-TOKEN"),
                ("prefix", ""),
                ("allowed_hosts", "api.example.com\r\n"),
                ("shared", "on"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let location = added.location.unwrap();
    let id = added_id(&location);
    let shown = browser.get(&location).await;
    assert!(shown.body.contains("Survey") && shown.body.contains("was added"));
    let api = app
        .call("GET", &format!("/v1/credentials/{id}"), &alice.token, None)
        .await;
    assert_eq!(
        api.json["api_key"]["header_name"], "X-API-TOKEN",
        "{}",
        api.json
    );
    assert_eq!(api.json["shared"], true);
    assert_eq!(api.json["allowed_hosts"], json!(["api.example.com"]));

    // A mistake shows the form again with the reason, what was typed, and no secret.
    let key2 = secret("console-api-key-2");
    let refused = browser
        .post(
            "/console/credentials/new",
            &[
                ("csrf", &csrf),
                ("kind", "api_key"),
                ("name", "Broken"),
                ("api_key", &key2),
                ("placement", "header"),
                ("header_name", "bad header"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("Broken") && refused.body.contains("role=\"alert\""));
    assert!(!refused.body.contains(&key2));
    // Without the CSRF token nothing is added.
    let forged = browser
        .post(
            "/console/credentials/new",
            &[
                ("csrf", "0"),
                ("kind", "api_key"),
                ("name", "Forged"),
                ("api_key", "x"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(app.credential_count(&alice.token).await, 1);

    // Basic with an mTLS identity.
    let pki = keyway_testkit::upstream::Pki::new("console");
    let leaf = pki.leaf("client", &[]);
    let (user, password) = (secret("console-user"), secret("console-password"));
    let basic = browser
        .post(
            "/console/credentials/new",
            &[
                ("csrf", &csrf),
                ("kind", "basic"),
                ("name", "Legacy"),
                ("username", &user),
                ("password", &password),
                ("certificate_pem", &leaf.cert_pem),
                ("private_key_pem", &leaf.key_pem),
            ],
        )
        .await;
    assert_eq!(basic.status, 303, "{}", basic.body);
    let legacy_page = basic.location.unwrap();
    let legacy_id = added_id(&legacy_page);
    let legacy = browser.get(&legacy_page).await;
    assert!(
        legacy.body.contains("mTLS certificate expires"),
        "{}",
        legacy.body
    );

    // Replace the secrets: the key keeps its header, the Basic account its mTLS identity.
    let key3 = secret("console-api-key-3");
    let page = browser.get(&format!("/console/credentials/{id}")).await;
    let csrf = page.field("csrf").unwrap();
    let replaced = browser
        .post(
            &format!("/console/credentials/{id}/secret"),
            &[("csrf", &csrf), ("api_key", &key3)],
        )
        .await;
    assert_eq!(replaced.status, 303, "{}", replaced.body);
    let api = app
        .call("GET", &format!("/v1/credentials/{id}"), &alice.token, None)
        .await;
    assert_eq!(api.json["secret_version"], 2, "{}", api.json);
    assert_eq!(api.json["api_key"]["header_name"], "X-API-TOKEN");
    let password2 = secret("console-password-2");
    let replaced = browser
        .post(
            &format!("/console/credentials/{legacy_id}/secret"),
            &[
                ("csrf", &csrf),
                ("username", "legacy-user"),
                ("password", &password2),
            ],
        )
        .await;
    assert_eq!(replaced.status, 303, "{}", replaced.body);
    let api = app
        .call(
            "GET",
            &format!("/v1/credentials/{legacy_id}"),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(api.json["secret_version"], 2);
    assert!(
        api.json["mtls"].is_object(),
        "the mTLS identity was kept: {}",
        api.json
    );

    // Rename.
    let page = browser.get(&format!("/console/credentials/{id}")).await;
    let csrf = page.field("csrf").unwrap();
    let renamed = browser
        .post(
            &format!("/console/credentials/{id}/rename"),
            &[("csrf", &csrf), ("name", "Survey (team)")],
        )
        .await;
    assert_eq!(renamed.status, 303);
    assert!(browser
        .get(&renamed.location.unwrap())
        .await
        .body
        .contains("Survey (team)"));

    // Sharing and allowed hosts change in place (the owner's form).
    let access = browser
        .post(
            &format!("/console/credentials/{id}/access"),
            &[
                ("csrf", &csrf),
                ("allowed_hosts", "api.example.com\nfiles.example.com"),
            ],
        )
        .await;
    assert_eq!(access.status, 303, "{}", access.body);
    let api = app
        .call("GET", &format!("/v1/credentials/{id}"), &alice.token, None)
        .await;
    assert_eq!(api.json["shared"], false);
    assert_eq!(
        api.json["allowed_hosts"],
        json!(["api.example.com", "files.example.com"])
    );
    let bad = browser
        .post(
            &format!("/console/credentials/{id}/access"),
            &[("csrf", &csrf), ("allowed_hosts", "not a host")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("role=\"alert\""));

    // Another org's person gets the 404 page for it, and cannot change it.
    let bobs = Browser::new(&app.address);
    let list = sign_in_with_token(&bobs, &bob.token).await;
    let bob_csrf = list.field("csrf").unwrap();
    assert_eq!(
        bobs.get(&format!("/console/credentials/{id}")).await.status,
        404
    );
    let hijack = bobs
        .post(
            &format!("/console/credentials/{id}/rename"),
            &[("csrf", &bob_csrf), ("name", "Mine now")],
        )
        .await;
    assert_eq!(hijack.status, 404);

    // Removing one in use lists what breaks and needs a second confirmation.
    let ws = app
        .call(
            "POST",
            "/v1/web-services",
            &alice.token,
            Some(json!({"name": "nightly-export", "request": {"url": "https://api.example.com/x", "credential_id": id}})),
        )
        .await;
    assert_eq!(ws.status, 201, "{}", ws.json);
    let list = browser.get("/console/credentials").await;
    assert!(list.body.contains("1 web service<"), "{}", list.body);
    assert!(list.body.contains("until "), "the mTLS expiry is listed");
    let api = app.call("GET", "/v1/credentials", &alice.token, None).await;
    let counts: Vec<_> = api.json["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["used_by_count"].clone())
        .collect();
    assert!(
        counts.contains(&json!(1)) && counts.contains(&json!(0)),
        "{counts:?}"
    );
    let page = browser.get(&format!("/console/credentials/{id}")).await;
    assert!(page.body.contains("nightly-export") && page.body.contains("will stop working"));
    let kept = browser
        .post(
            &format!("/console/credentials/{id}/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(kept.status, 409, "{}", kept.body);
    assert!(kept.body.contains("nightly-export"));
    let removed = browser
        .post(
            &format!("/console/credentials/{id}/remove"),
            &[("csrf", &csrf), ("confirm_in_use", "yes")],
        )
        .await;
    assert_eq!(
        (removed.status, removed.location.as_deref()),
        (303, Some("/console/credentials?done=removed"))
    );
    let gone = app
        .call("GET", &format!("/v1/credentials/{id}"), &alice.token, None)
        .await;
    assert_eq!(gone.status, 404);

    // The audit page: this person's events, filterable by account; another org's are not.
    let audit = browser.get("/console/audit").await;
    assert_eq!(audit.status, 200);
    assert_console_headers(&audit);
    for action in [
        "credential.create",
        "credential.rename",
        "credential.access",
        "credential.delete",
    ] {
        assert!(audit.body.contains(action), "{action}: {}", audit.body);
    }
    let filtered = browser
        .get(&format!("/console/audit?credential_id={legacy_id}"))
        .await;
    assert!(
        filtered.body.contains("credential.create"),
        "{}",
        filtered.body
    );
    assert!(
        !filtered.body.contains("credential.rename"),
        "only Legacy's events"
    );
    let theirs = bobs.get("/console/audit").await;
    assert!(
        !theirs.body.contains("credential.rename"),
        "{}",
        theirs.body
    );

    for typed in [
        &key,
        &key2,
        &key3,
        &user,
        &password,
        &password2,
        &leaf.key_pem,
    ] {
        assert!(
            !browser.pages().contains(typed.as_str()),
            "a page showed a secret"
        );
    }
    let typed = [
        &key,
        &key2,
        &key3,
        &user,
        &password,
        &password2,
        &leaf.key_pem,
    ];
    app.assert_secrets_kept(&typed.map(String::as_str)).await;
}

crate::both_backends! {
    async fn a_session_started_with_a_token_ends_with_it(app) {
        let alice = app.user("acme", "alice", false).await;
        let browser = Browser::new(&app.address);
        assert_eq!(sign_in_with_token(&browser, &alice.token).await.status, 200);
        // Revoking the token (or its expiry) ends the session it started: a token cannot
        // be turned into a session that outlives it.
        app.sql("UPDATE api_tokens SET revoked_at = 1", &[]).await;
        let after = browser.get("/console/credentials").await;
        assert_eq!((after.status, after.location.as_deref()), (303, Some("/console/login")));
        app.sql("UPDATE api_tokens SET revoked_at = NULL, expires_at = 1", &[]).await;
        assert_eq!(browser.get("/console/credentials").await.status, 303);
        // A session from a sign-in link is not tied to any token.
        let link = link(&app, &alice.id).await;
        let csrf = browser.get(&format!("/console/link?token={link}")).await.field("csrf").unwrap();
        let used = browser.post("/console/link", &[("csrf", &csrf), ("link", &link)]).await;
        assert_eq!(used.status, 303);
        assert_eq!(browser.get("/console/credentials").await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lists_come_in_pages_of_100() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    for n in 0..105 {
        app.credential(
            &alice.token,
            json!({"name": format!("account {n:03}"), "kind": "api_key", "api_key": "k"}),
        )
        .await;
    }
    let browser = Browser::new(&app.address);
    let first = sign_in_with_token(&browser, &alice.token).await;
    let rows = |body: &str| body.matches("<a href=\"/console/credentials/").count();
    assert_eq!(rows(&first.body), 100);
    assert!(
        first.body.contains("Page 1 of 2 (105 in all)"),
        "{}",
        first.body
    );
    assert!(first.body.contains("href=\"?page=2\">Next"));
    let second = browser.get("/console/credentials?page=2").await;
    assert_eq!(rows(&second.body), 5);
    assert!(second.body.contains("href=\"?page=1\">Previous") && !second.body.contains(">Next<"));
    // Past the end or not a number: the nearest page, never an error or an empty page.
    assert_eq!(
        rows(&browser.get("/console/credentials?page=99").await.body),
        5
    );
    assert_eq!(
        rows(&browser.get("/console/credentials?page=x").await.body),
        100
    );
    assert!(
        first.body.len() < 60 * 1024,
        "a page stays within its weight budget"
    );
}
