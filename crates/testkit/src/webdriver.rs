//! Headless Chromium for console tests, driven over the W3C WebDriver protocol through
//! Debian's `chromedriver` (`scripts/test.sh` installs `chromium` and `chromium-driver`).
//! Only the handful of commands the tests use: open a URL, find, type, click, read.

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Chromium {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Chromium {
    /// Starts chromedriver on a free loopback port and a headless browser session.
    pub async fn start() -> Self {
        let driver_path = which("chromedriver").expect(
            "chromedriver is not installed: install Debian's chromium and chromium-driver (scripts/test.sh does)",
        );
        let port = crate::process::free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = crate::process::http();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let binary = which("chromium").unwrap_or_else(|| "/usr/bin/chromium".into());
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                // No sandbox: CI runs as root. The browser only ever opens loopback pages.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1200,900",
                         "--no-proxy-server", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync"]
            }
        }}});
        let mut this = Self {
            driver,
            base,
            session: String::new(),
            http,
        };
        let created = this.command("POST", "/session", capabilities).await;
        this.session = created["sessionId"].as_str().unwrap().to_owned();
        this
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        let value = answer["value"].clone();
        assert!(
            value.get("error").is_none(),
            "WebDriver {method} {path}: {value}"
        );
        value
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn open(&self, url: &str) {
        self.command("POST", &self.session_path("/url"), json!({ "url": url }))
            .await;
    }

    pub async fn url(&self) -> String {
        let value = self
            .command("GET", &self.session_path("/url"), Value::Null)
            .await;
        value.as_str().unwrap().to_owned()
    }

    /// Waits (up to 10 s) until the address contains `part`: a click that submits a form
    /// returns before the next page has loaded.
    pub async fn wait_for_url(&self, part: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url().await;
            if url.contains(part) {
                return url;
            }
            assert!(Instant::now() < deadline, "still at {url}, expected {part}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 10 s) until the page holds `text`, and returns the page.
    pub async fn wait_for_text(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let source = self.source().await;
            if source.contains(text) {
                return source;
            }
            assert!(
                Instant::now() < deadline,
                "the page never showed {text:?}: {source}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> String {
        let value = self
            .command("GET", &self.session_path("/source"), Value::Null)
            .await;
        value.as_str().unwrap().to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let value = self
            .command(
                "POST",
                &self.session_path("/element"),
                json!({"using": "css selector", "value": css}),
            )
            .await;
        value[ELEMENT].as_str().unwrap().to_owned()
    }

    /// Types `text` into the field `css` names.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        let path = self.session_path(&format!("/element/{element}/value"));
        self.command("POST", &path, json!({ "text": text })).await;
    }

    /// Clicks the element `css` names (a button submits its form and the page loads).
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        let path = self.session_path(&format!("/element/{element}/click"));
        self.command("POST", &path, json!({})).await;
    }

    /// Chooses the local file `path` in the file input `css` names.
    pub async fn upload(&self, css: &str, path: &std::path::Path) {
        self.fill(css, path.to_str().unwrap()).await;
    }

    /// Runs `script` in the page (WebDriver's script injection, which a page's CSP does not
    /// govern) and returns its result: for what a person cannot do with clicks, such as
    /// sending a form that lacks its CSRF field.
    pub async fn execute(&self, script: &str) -> Value {
        self.command(
            "POST",
            &self.session_path("/execute/sync"),
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Sets the window's size in CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        self.command(
            "POST",
            &self.session_path("/window/rect"),
            json!({"width": width, "height": height}),
        )
        .await;
    }

    /// Forgets every cookie (as a new browser would).
    pub async fn clear_cookies(&self) {
        self.command("DELETE", &self.session_path("/cookie"), Value::Null)
            .await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let value = self
            .command("GET", &self.session_path("/screenshot"), Value::Null)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap())
            .unwrap()
    }
}

fn which(program: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| format!("{dir}/{program}"))
        .find(|path| std::path::Path::new(path).exists())
}
