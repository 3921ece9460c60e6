//! The console in a real browser: headless Chromium (WebDriver) against `keyway serve` on the
//! embedded default, through the flows a person follows: sign in by link and by API token,
//! add an account, find it in the list. Every page's source is checked for the secrets typed.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_testkit::process::{self, free_port, ok, Env, Replica};
use keyway_testkit::webdriver::Chromium;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_and_adds_an_account_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let server = Replica::start_in(Some(dir.path()), &Env::new(), free_port()).await;
    let env: Env = vec![("KEYWAY_PUBLIC_URL", server.base.clone())];
    let cli = |args: &[&str]| ok(process::run(Some(dir.path()), &env, args));
    cli(&["org", "create", "acme"]);
    cli(&["user", "create", "--org", "acme", "--name", "alice"]);
    let link = cli(&["login-link", "--org", "acme", "--user", "alice"]);
    let token = cli(&["token", "create", "--org", "acme", "--user", "alice"]);

    let browser = Chromium::start().await;
    // KEYWAY_SCREENSHOTS=docs/screenshots refreshes the README's pictures.
    let save = |name: &str, png: Vec<u8>| {
        assert!(png.starts_with(b"\x89PNG"), "a screenshot of {name}");
        if let Ok(dir) = std::env::var("KEYWAY_SCREENSHOTS") {
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
        }
    };
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
        .open(&format!("{}/console/credentials", server.base))
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
}
