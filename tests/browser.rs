//! The console in a real browser: headless Chromium (WebDriver) against `keyway serve` on the
//! embedded default, through the flows a person follows: sign in by link and by API token;
//! add accounts (API key; Basic with mTLS files checked before saving); connect an OAuth
//! account against the oidc-provider test server, the browser following every redirect, and
//! a connection lured into another session refused; paste a curl command with unsupported
//! options, remove them and continue, test the web service against a loopback upstream;
//! remove an account in use after its confirmation lists what breaks; a form without its
//! CSRF token refused; another org's page a 404. Every page's source, the server's log and the
//! database file are checked for the secrets typed.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_testkit::auth_server::AuthServer;
use keyway_testkit::browser::Browser;
use keyway_testkit::process::{self, free_port, ok, Env, Replica};
use keyway_testkit::upstream::{Pki, Tls, Upstream};
use keyway_testkit::webdriver::Chromium;
use std::path::Path;

/// A `keyway serve` on SQLite in its own directory, reaching loopback upstreams.
struct Server {
    dir: tempfile::TempDir,
    replica: Replica,
    port: u16,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let env: Env = vec![("KEYWAY_DISPATCH_ALLOW_NETWORKS", "127.0.0.0/8".to_owned())];
        let replica = Replica::start_in(Some(dir.path()), &env, port).await;
        Self { dir, replica, port }
    }

    fn base(&self) -> &str {
        &self.replica.base
    }

    fn cli(&self, args: &[&str]) -> String {
        let env: Env = vec![("KEYWAY_PUBLIC_URL", self.replica.base.clone())];
        ok(process::run(Some(self.dir.path()), &env, args))
    }

    /// A user, a sign-in link and an API token for them.
    fn user(&self, org: &str, name: &str) -> (String, String) {
        let _ = process::run(Some(self.dir.path()), &Vec::new(), &["org", "create", org]);
        self.cli(&["user", "create", "--org", org, "--name", name]);
        let link = self.cli(&["login-link", "--org", org, "--user", name]);
        let token = self.cli(&["token", "create", "--org", org, "--user", name]);
        (link, token)
    }

    /// Fails if `secret` is in the server's log or, in plain text, in its database files.
    fn assert_kept(&self, secret: &str) {
        let log = std::env::temp_dir().join(format!("kw-replica-{}.log", self.port));
        let log = std::fs::read_to_string(log).unwrap();
        assert!(!log.contains(secret), "the log holds a secret");
        for entry in std::fs::read_dir(self.dir.path().join("data")).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a database file holds a secret in plain text"
            );
        }
    }
}

fn secret(label: &str) -> String {
    format!("kwsecret-{label}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_and_adds_an_account_in_chromium() {
    let server = Server::start().await;
    let (link, token) = server.user("acme", "alice");
    let browser = Chromium::start().await;
    let mut sources = Vec::new();
    browser.open(&link).await;
    browser.click("form[action='/console/link'] button").await;
    browser.wait_for_url("/console/credentials").await;
    sources.push(browser.wait_for_text("No accounts yet").await);

    browser.click("a.button").await;
    browser.wait_for_url("/console/credentials/new").await;
    save("add-account", browser.screenshot().await);
    let key = format!("kwsecret-browser-{}", uuid::Uuid::new_v4().simple());
    browser.fill("#name", "Survey tool").await;
    browser.fill("#api_key", &key).await;
    browser.fill("#header_name", "X-API-TOKEN").await;
    browser.click("form.stacked button[type='submit']").await;
    let page = browser.wait_for_text("The account was added").await;
    assert!(page.contains("Survey tool"));
    sources.push(page);
    save("account", browser.screenshot().await);

    // A second sign-in, by API token, in a browser that holds no cookie.
    browser.clear_cookies().await;
    browser
        .open(&format!("{}/console/credentials", server.base()))
        .await;
    browser.wait_for_url("/console/login").await;
    save("sign-in", browser.screenshot().await);
    browser.fill("#token", &token).await;
    browser.click("form[action='/console/login'] button").await;
    browser.wait_for_url("/console/credentials").await;
    let list = browser.wait_for_text("Survey tool").await;
    assert!(list.contains("API key"), "{list}");
    save("accounts", browser.screenshot().await);
    sources.push(list);

    for source in &sources {
        assert!(!source.contains(&key), "a page showed the API key");
        assert!(!source.contains(&token), "a page showed the API token");
    }
    server.assert_kept(&key);
    server.assert_kept(&token);

    // A phone's width: the pages stay usable at 360 px (nothing wider than the screen), and
    // every control on them has a label (or, for a button, its text).
    browser.resize(360, 740).await;
    browser
        .open(&format!("{}/console/credentials", server.base()))
        .await;
    browser.click("td a").await;
    let account = browser.wait_for_url("/console/credentials/").await;
    let account = account.trim_start_matches(server.base()).to_owned();
    for path in [
        "/console/credentials",
        "/console/credentials/new?kind=api_key",
        "/console/credentials/new?kind=basic",
        "/console/credentials/new?kind=oauth2",
        account.as_str(),
        "/console/web-services/new",
        "/console/audit",
        "/console/api",
    ] {
        browser.open(&format!("{}{path}", server.base())).await;
        browser.wait_for_url(path).await;
        browser.wait_for_text("Sign out").await;
        let overflow = browser
            .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        assert_eq!(overflow.as_i64(), Some(0), "{path} is wider than 360 px");
        let unlabelled = browser
            .execute(
                "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]\
                   .filter(e => e.tagName === 'BUTTON' ? !e.textContent.trim() : !(e.labels && e.labels.length))\
                   .map(e => e.outerHTML)",
            )
            .await;
        assert_eq!(
            unlabelled,
            serde_json::json!([]),
            "{path} has controls without a label"
        );
    }
    browser
        .open(&format!("{}/console/credentials", server.base()))
        .await;
    browser.wait_for_text("Survey tool").await;
    save("accounts-narrow", browser.screenshot().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_files_oauth_connect_and_refusals_in_chromium() {
    let server = Server::start().await;
    let (link, token) = server.user("acme", "alice");
    let (_, mallory_token) = server.user("acme", "mallory");
    let (_, eve_token) = server.user("evil", "eve");
    let auth = AuthServer::start();
    let redirect_uri = format!("{}/oauth-client-service/redirect", server.base());
    let client = auth
        .register(&redirect_uri, "client_secret_basic", true)
        .await;
    let browser = Chromium::start().await;
    let mut sources = Vec::new();
    browser.open(&link).await;
    browser.click("form[action='/console/link'] button").await;
    browser.wait_for_url("/console/credentials").await;

    // A Basic account with mTLS files, checked before saving.
    let pki = Pki::new("chromium-files");
    let leaf = pki.leaf("chromium-client", &[]);
    let files = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (
        files.path().join("client.crt"),
        files.path().join("client.key"),
    );
    std::fs::write(&cert_file, &leaf.cert_pem).unwrap();
    std::fs::write(&key_file, &leaf.key_pem).unwrap();
    let password = secret("basic-password");
    browser
        .open(&format!(
            "{}/console/credentials/new?kind=basic",
            server.base()
        ))
        .await;
    browser.fill("#name", "Bank").await;
    browser.fill("#username", "bank-user").await;
    browser.fill("#password", &password).await;
    browser.upload("#certificate_pem_file", &cert_file).await;
    browser.upload("#private_key_pem_file", &key_file).await;
    browser.click("button[data-check-mtls]").await;
    let checked = browser.wait_for_text("Subject: ").await;
    assert!(
        checked.contains("chromium-client") && checked.contains("SHA-256: "),
        "{checked}"
    );
    sources.push(checked);
    browser.click("form.stacked button[type='submit']").await;
    let page = browser.wait_for_text("The account was added").await;
    assert!(
        page.contains("mTLS subject") && page.contains("chromium-client"),
        "{page}"
    );
    sources.push(page);

    // OAuth 2.0 against the test authorization server: add, see the redirect URL, connect.
    browser
        .open(&format!(
            "{}/console/credentials/new?kind=oauth2",
            server.base()
        ))
        .await;
    let form = browser.wait_for_text("Redirect URL to register").await;
    assert!(form.contains(&redirect_uri), "{form}");
    browser.fill("#name", "Service").await;
    browser
        .execute("document.querySelector('#provider').value = 'custom'")
        .await;
    browser.fill("#client_id", &client.client_id).await;
    browser.fill("#client_secret", &client.client_secret).await;
    browser.fill("#scopes", "openid api:read").await;
    browser
        .fill("#authorize_url", &format!("{}/auth", auth.issuer))
        .await;
    browser
        .fill("#token_url", &format!("{}/token", auth.issuer))
        .await;
    browser.click("form.stacked button[type='submit']").await;
    let page = browser.wait_for_text("then connect it").await;
    assert!(page.contains("waiting for authorization"), "{page}");
    save("oauth-account", browser.screenshot().await);
    let account_url = browser.url().await;
    let account_path = account_url
        .split('?')
        .next()
        .unwrap()
        .trim_start_matches(server.base())
        .to_owned();
    browser.click("form[action$='/connect'] button").await;
    // The browser goes to the provider, which signs in and consents, and comes back.
    let page = browser.wait_for_text("The account is connected.").await;
    assert!(
        page.contains(">connected<") && page.contains(">Reconnect</button>"),
        "{page}"
    );
    sources.push(page);

    // Mallory starts a connection in her own session and lures Alice's browser to finish it.
    let other = Browser::new(server.base());
    let login = other.get("/console/login").await;
    let csrf = login.field("csrf").unwrap();
    other
        .post(
            "/console/login",
            &[("csrf", &csrf), ("token", &mallory_token)],
        )
        .await;
    let csrf = other
        .get("/console/credentials/new?kind=oauth2")
        .await
        .field("csrf")
        .unwrap();
    let added = other
        .post(
            "/console/credentials/new",
            &[
                ("csrf", &csrf),
                ("kind", "oauth2"),
                ("name", "Mallory's"),
                ("provider", "custom"),
                ("grant_type", "authorization_code"),
                ("client_id", &client.client_id),
                ("client_secret", &client.client_secret),
                ("scopes", "openid"),
                ("authorize_url", &format!("{}/auth", auth.issuer)),
                ("token_url", &format!("{}/token", auth.issuer)),
            ],
        )
        .await;
    let hers = added
        .location
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let sent = other
        .post(&format!("{hers}/connect"), &[("csrf", &csrf)])
        .await;
    let lure = auth.browse(&sent.location.unwrap(), &redirect_uri).await;
    browser.open(&lure).await;
    let refused = browser.wait_for_text("another browser session").await;
    sources.push(refused);

    // Another org's account is the same 404 page as a missing one.
    let eve = Browser::new(server.base());
    let csrf = eve.get("/console/login").await.field("csrf").unwrap();
    eve.post("/console/login", &[("csrf", &csrf), ("token", &eve_token)])
        .await;
    let csrf = eve
        .get("/console/credentials/new")
        .await
        .field("csrf")
        .unwrap();
    let eves = eve
        .post(
            "/console/credentials/new",
            &[
                ("csrf", &csrf),
                ("kind", "api_key"),
                ("name", "Eve's"),
                ("api_key", "eve-key"),
            ],
        )
        .await;
    let eves = eves.location.unwrap().split('?').next().unwrap().to_owned();
    browser.open(&format!("{}{eves}", server.base())).await;
    let hidden = browser.wait_for_text("<h1>Not found</h1>").await;
    assert!(!hidden.contains("Eve's"));

    // A form sent without its CSRF token changes nothing.
    browser
        .open(&format!("{}{account_path}", server.base()))
        .await;
    browser.wait_for_text(">Reconnect</button>").await;
    browser
        .execute("const f = document.querySelector(\"form[action$='/rename']\"); f.querySelector(\"[name='csrf']\").remove(); f.querySelector('#name').value = 'Forged'; f.submit();")
        .await;
    let refused = browser.wait_for_text("Form not understood").await;
    assert!(!refused.contains("Forged"));
    browser
        .open(&format!("{}{account_path}", server.base()))
        .await;
    browser
        .execute("const f = document.querySelector(\"form[action$='/rename']\"); f.querySelector(\"[name='csrf']\").value = 'forged'; f.querySelector('#name').value = 'Forged'; f.submit();")
        .await;
    browser.wait_for_text("Form expired").await;
    browser
        .open(&format!("{}/console/credentials", server.base()))
        .await;
    let list = browser.wait_for_text("Service").await;
    assert!(!list.contains("Forged"), "{list}");

    for source in &sources {
        for shown in [
            password.as_str(),
            leaf.key_pem.trim(),
            client.client_secret.as_str(),
            token.as_str(),
        ] {
            assert!(!source.contains(shown), "a page showed a secret");
        }
    }
    for kept in [password.as_str(), client.client_secret.as_str()] {
        server.assert_kept(kept);
    }
    let key_line = leaf.key_pem.lines().nth(1).unwrap();
    server.assert_kept(key_line);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_import_test_and_removal_in_chromium() {
    let server = Server::start().await;
    let (link, _) = server.user("acme", "alice");
    let upstream = Upstream::start(Tls::Plain).await;
    let browser = Chromium::start().await;
    browser.open(&link).await;
    browser.click("form[action='/console/link'] button").await;
    browser.wait_for_url("/console/credentials").await;
    let mut sources = Vec::new();

    let key = secret("service-key");
    browser
        .open(&format!(
            "{}/console/credentials/new?kind=api_key",
            server.base()
        ))
        .await;
    browser.fill("#name", "Upstream key").await;
    browser.fill("#api_key", &key).await;
    browser.fill("#header_name", "X-API-Key").await;
    browser.click("form.stacked button[type='submit']").await;
    browser.wait_for_text("The account was added").await;

    // Paste a command from API docs: -L and --max-time cannot be kept; remove them.
    browser
        .open(&format!("{}/console/web-services/new", server.base()))
        .await;
    browser.wait_for_text("Import a curl command").await;
    browser.click("details.import summary").await;
    let url = upstream.url("http", "127.0.0.1", "/json?q=${query}");
    browser
        .fill(
            "#command",
            &format!("curl -L --max-time 5 -H 'Accept: application/json' '{url}'"),
        )
        .await;
    browser.click("details.import button[type='submit']").await;
    let listed = browser.wait_for_text("Remove them and continue").await;
    assert!(
        listed.contains("<code>-L</code>") && listed.contains("<code>--max-time</code>"),
        "{listed}"
    );
    save("curl-import", browser.screenshot().await);
    browser.click("button[name='drop_unsupported']").await;
    let imported = browser
        .wait_for_text("The command became the request below")
        .await;
    assert!(imported.contains("Left out"), "{imported}");
    browser.fill("#name", "Search").await;
    browser
        .execute(
            "const s = document.querySelector('#credential_id'); s.value = s.options[1].value;",
        )
        .await;
    browser
        .click("form.stacked fieldset button[type='submit']")
        .await;
    browser.wait_for_text("Test it below").await;

    // Test it with a value for its placeholder, against the loopback upstream.
    browser
        .fill("input[name='value.query']", "hello world")
        .await;
    browser.click("form[action$='/test'] button").await;
    let result = browser.wait_for_text("<dt>Status</dt><dd>200</dd>").await;
    assert!(result.contains("Attempts"), "{result}");
    browser
        .execute("document.querySelector('.result').scrollIntoView()")
        .await;
    save("web-service-test", browser.screenshot().await);
    sources.push(result);
    let seen = upstream.requests().last().unwrap().clone();
    assert_eq!(seen.target, "/json?q=hello%20world");
    assert_eq!(seen.header("x-api-key"), Some(key.as_str()));

    // Removing the account it uses: the confirmation names the web service, and asks twice.
    browser
        .open(&format!("{}/console/credentials", server.base()))
        .await;
    browser.click("td a").await;
    let page = browser.wait_for_text("will stop working").await;
    assert!(page.contains("<li>Search</li>"), "{page}");
    browser.click("input[name='confirm_in_use']").await;
    browser.click("form[action$='/remove'] button").await;
    browser.wait_for_text("The account was removed").await;
    browser
        .open(&format!("{}/console/web-services", server.base()))
        .await;
    sources.push(browser.wait_for_text("account removed").await);

    for source in &sources {
        assert!(!source.contains(&key), "a page showed the API key");
    }
    server.assert_kept(&key);
}

/// KEYWAY_SCREENSHOTS=docs/screenshots refreshes the README's pictures.
fn save(name: &str, png: Vec<u8>) {
    assert!(png.starts_with(b"\x89PNG"), "a screenshot of {name}");
    if let Ok(dir) = std::env::var("KEYWAY_SCREENSHOTS") {
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}
