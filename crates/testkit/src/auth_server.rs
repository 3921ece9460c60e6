//! The real authorization server of the OAuth tests: `oidc-provider` (tests/oauth-server),
//! started on loopback per test, and a tiny "browser" that follows its redirects with cookies.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct AuthServer {
    pub issuer: String,
    child: Child,
    client: reqwest::Client,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Registered {
    pub client_id: String,
    pub client_secret: String,
}

impl AuthServer {
    pub fn start() -> Self {
        Self::start_with_ttl(3600)
    }

    /// Access tokens (and client-credentials tokens) live `ttl_secs`.
    pub fn start_with_ttl(ttl_secs: u64) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/oauth-server");
        assert!(
            std::path::Path::new(dir).join("node_modules/oidc-provider").exists(),
            "the test authorization server is not installed: run `npm ci --prefix tests/oauth-server` (scripts/test.sh does)"
        );
        let mut child = Command::new("node")
            .arg(format!("{dir}/server.mjs"))
            .env("PORT", "0")
            .env("ACCESS_TOKEN_TTL", ttl_secs.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node must be installed for the OAuth tests");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the authorization server did not start: {line:?}"));
        Self {
            issuer: ready["issuer"].as_str().unwrap().to_owned(),
            child,
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub async fn register(
        &self,
        redirect_uri: &str,
        auth_method: &str,
        require_pkce: bool,
    ) -> Registered {
        self.register_for(
            redirect_uri,
            auth_method,
            require_pkce,
            &["authorization_code", "refresh_token", "client_credentials"],
        )
        .await
    }

    /// A client allowed only `grant_types` (without `refresh_token`, the server issues no
    /// refresh tokens to it).
    pub async fn register_for(
        &self,
        redirect_uri: &str,
        auth_method: &str,
        require_pkce: bool,
        grant_types: &[&str],
    ) -> Registered {
        let res = self
            .client
            .post(format!("{}/reg", self.issuer))
            .json(&json!({
                "redirect_uris": [redirect_uri],
                "grant_types": grant_types,
                "response_types": ["code"],
                "token_endpoint_auth_method": auth_method,
                "scope": "openid offline_access api:read api:write",
                "require_pkce": require_pkce,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        Registered {
            client_id: body["client_id"].as_str().unwrap().to_owned(),
            client_secret: body["client_secret"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn stats(&self) -> Value {
        self.get_json("/_test/stats").await
    }

    pub async fn refresh_requests(&self) -> u64 {
        self.stats().await["token_requests"]["refresh_token"]
            .as_u64()
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let res = self
            .client
            .get(format!("{}{path}", self.issuer))
            .send()
            .await
            .unwrap();
        res.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let res = self
            .client
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        res.json().await.unwrap_or(Value::Null)
    }

    /// A token request as any client could make it (to check a rotated refresh token).
    pub async fn token(&self, client: &Registered, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}/token", self.issuer))
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form.iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            )
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    /// Follows the authorization redirects like a browser (keeping cookies) until they lead
    /// to `redirect_uri`; returns that final URL without requesting it.
    pub async fn browse(&self, authorize_url: &str, redirect_uri: &str) -> String {
        let mut jar: BTreeMap<String, String> = BTreeMap::new();
        let mut url = url::Url::parse(authorize_url).unwrap();
        for _ in 0..20 {
            let cookie = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let res = self
                .client
                .get(url.clone())
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            for set in res.headers().get_all("set-cookie") {
                let pair = set.to_str().unwrap().split(';').next().unwrap();
                if let Some((k, v)) = pair.split_once('=') {
                    jar.insert(k.trim().to_owned(), v.to_owned());
                }
            }
            let status = res.status().as_u16();
            assert!(
                (300..400).contains(&status),
                "the authorization server answered {status} at {url}"
            );
            let location = res.headers()["location"].to_str().unwrap().to_owned();
            let next = url.join(&location).unwrap();
            if next.as_str().starts_with(redirect_uri) {
                return next.to_string();
            }
            url = next;
        }
        panic!("too many redirects");
    }
}

/// The value of query parameter `name` in `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `url` with parameter `name` set to `value` (added or replaced).
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    parsed
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(name, value);
    parsed.to_string()
}
