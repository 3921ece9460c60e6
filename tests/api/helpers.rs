//! `spawn_app()`: a Keyway server on port 0 with its own database (a SQLite file, or a fresh
//! PostgreSQL schema), plus a client that records every response body, and a capture of every
//! log line of the test binary, so each test can prove no secret escaped.

use keyway::configuration::Settings;
use keyway::startup::Application;
use keyway_net::resolver::StaticLookup;
use keyway_store::Store;
use keyway_vault::Keyring;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub use keyway_testkit::db::pg_url;

/// Every log line of this test binary, at debug level.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        // reqwest is built without a default crypto provider; tests' own clients use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,hyper_util=info,reqwest=info,h2=info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        buffer
    })
    .clone()
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&init_logs().lock().unwrap()).into_owned()
}

/// A distinctive secret value, easy to search for.
pub fn secret(label: &str) -> String {
    format!("kwsecret-{label}-{}", uuid::Uuid::new_v4().simple())
}

pub struct TestApp {
    pub address: String,
    pub store: Store,
    pub db: Db,
    pub keyring: Arc<Keyring>,
    /// The raw master key behind `keyring`, to build rotated keyrings from.
    pub master_key_bytes: [u8; 32],
    pub sqlite_path: Option<PathBuf>,
    pub pg_schema: Option<String>,
    client: reqwest::Client,
    bodies: Mutex<Vec<String>>,
    /// The app's data folder, removed with the app.
    _dir: tempfile::TempDir,
}

pub struct User {
    pub id: String,
    pub token: String,
}

pub struct Resp {
    pub status: u16,
    pub json: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

/// Names the test resolver knows; nothing in the tests asks a real DNS server.
pub fn test_lookup() -> StaticLookup {
    let mut names = std::collections::HashMap::new();
    for (name, ips) in [
        ("localhost", &["127.0.0.1"][..]),
        ("upstream.test", &["127.0.0.1"]),
        ("internal.test", &["10.1.2.3"]),
        ("metadata.test", &["169.254.169.254"]),
        ("mixed.test", &["93.184.215.14", "192.168.1.10"]),
        // Public: only for checks that refuse before connecting, behind a failing audit
        // device so that even a broken check could not send a packet.
        ("public.test", &["93.184.215.14"]),
        ("v6local.test", &["fd12:3456::1"]),
    ] {
        names.insert(
            name.to_owned(),
            ips.iter().map(|ip| ip.parse().unwrap()).collect(),
        );
    }
    StaticLookup(names)
}

/// The settings of most tests: the built-in defaults on port 0 with one worker, no cache (so
/// a test sees its own writes from any path), and loopback allowed, since the upstreams run
/// there.
pub fn test_settings() -> Settings {
    let mut settings = Settings::defaults().unwrap();
    settings.listen = "127.0.0.1:0".into();
    settings.public_url = String::new();
    settings.workers = 1;
    settings.cache_ttl_ms = 0;
    settings.database_max_connections = 5;
    settings.dispatch.allow_networks = "127.0.0.0/8,::1/128".into();
    settings
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_configured(db, |_| {}).await
}

/// A test app on [`test_settings`] changed by `configure`, built by the application builder
/// that `keyway serve` uses. Only storage, the master key and the resolver are the harness's.
pub async fn spawn_app_configured(db: Db, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_resolving(db, configure, Arc::new(test_lookup())).await
}

/// [`spawn_app_configured`] with names resolved by `lookup` instead of [`test_lookup`].
pub async fn spawn_app_resolving(
    db: Db,
    configure: impl FnOnce(&mut Settings),
    lookup: Arc<dyn keyway_net::resolver::Lookup>,
) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings();
    settings.data_dir = dir.path().to_owned();
    let mut sqlite_path = None;
    let mut pg_schema = None;
    match db {
        Db::Sqlite => {
            let path = dir.path().join("keyway.db");
            settings.database_url = format!("sqlite://{}", path.display()).into();
            sqlite_path = Some(path);
        }
        Db::Postgres => {
            let schema = keyway_testkit::db::fresh_pg_schema().await;
            settings.database_url = pg_url().into();
            settings.database_schema = schema.clone();
            pg_schema = Some(schema);
        }
    }
    let mut master_key_bytes = [0u8; 32];
    master_key_bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    master_key_bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    use base64::Engine;
    settings.vault.master_keys = format!(
        "test-1:{}",
        base64::engine::general_purpose::STANDARD.encode(master_key_bytes)
    )
    .into();
    configure(&mut settings);
    let application = Application::build_with_lookup(&settings, lookup)
        .await
        .unwrap();
    let address = format!("http://{}", application.address());
    let store = application.store().clone();
    let keyring = application.keyring();
    tokio::spawn(application.run_until_stopped());
    TestApp {
        address,
        store,
        db,
        keyring,
        master_key_bytes,
        sqlite_path,
        pg_schema,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        bodies: Mutex::new(Vec::new()),
        _dir: dir,
    }
}

impl TestApp {
    /// Creates an org, or returns the existing one's ID.
    pub async fn org(&self, slug: &str) -> String {
        match self.store.org_by_slug(slug).await.unwrap() {
            Some(org) => org.id,
            None => self.store.create_org(slug).await.unwrap().id,
        }
    }

    pub async fn user(&self, org: &str, name: &str, admin: bool) -> User {
        let org_id = self.org(org).await;
        let role = if admin {
            keyway_model::Role::Admin
        } else {
            keyway_model::Role::Member
        };
        let user = self.store.create_user(&org_id, name, role).await.unwrap();
        let token = keyway_credentials::tokens::issue_token(&self.store, &user.id)
            .await
            .unwrap();
        use secrecy::ExposeSecret;
        User {
            id: user.id,
            token: token.expose_secret().to_owned(),
        }
    }

    /// Creates a credential (which must succeed) and returns its ID.
    pub async fn credential(&self, token: &str, body: Value) -> String {
        let res = self
            .call("POST", "/v1/credentials", token, Some(body))
            .await;
        assert_eq!(res.status, 201, "{}", res.json);
        res.json["id"].as_str().unwrap().to_owned()
    }

    /// How many credentials the holder of `token` sees.
    pub async fn credential_count(&self, token: &str) -> usize {
        let res = self.call("GET", "/v1/credentials", token, None).await;
        res.json["credentials"].as_array().unwrap().len()
    }

    /// Makes an OAuth credential's access token look expired, so the next call refreshes.
    pub async fn expire_token(&self, credential_id: &str) {
        self.sql(
            "UPDATE credentials SET token_expires_at = 1 WHERE id = $1",
            &[credential_id],
        )
        .await;
    }

    /// Sends a request with a raw body and records the response body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        self.bodies.lock().unwrap().push(text.clone());
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp { status, json }
    }

    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.raw(
            method,
            path,
            Some(token),
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    /// Asserts that no response so far, no log line and no stored byte contains any of `secrets`.
    pub async fn assert_secrets_kept(&self, secrets: &[&str]) {
        let bodies = self.bodies.lock().unwrap().join("\n");
        let logs = captured_logs();
        assert!(
            logs.contains("request finished"),
            "the log capture must be working"
        );
        let stored = self.storage_dump().await;
        for secret in secrets {
            assert!(
                !bodies.contains(secret),
                "a response body contains a secret"
            );
            assert!(!logs.contains(secret), "the logs contain a secret");
            assert!(
                !contains_bytes(&stored, secret.as_bytes()),
                "the database holds a secret in plaintext"
            );
            let hex = hex::encode(secret.as_bytes());
            assert!(
                !contains_bytes(&stored, hex.as_bytes()),
                "the database holds a secret as hex"
            );
        }
    }

    /// Everything the database holds: the SQLite files' bytes, or every PostgreSQL row as text.
    pub async fn storage_dump(&self) -> Vec<u8> {
        match self.db {
            Db::Sqlite => {
                let base = self.sqlite_path.as_ref().unwrap();
                let mut all = Vec::new();
                for suffix in ["", "-wal", "-shm"] {
                    let path = PathBuf::from(format!("{}{suffix}", base.display()));
                    if let Ok(bytes) = std::fs::read(path) {
                        all.extend(bytes);
                    }
                }
                assert!(!all.is_empty(), "the SQLite file must exist");
                all
            }
            Db::Postgres => {
                let schema = self.pg_schema.as_ref().unwrap();
                let pool = sqlx::PgPool::connect(&pg_url()).await.unwrap();
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
                )
                .bind(schema)
                .fetch_all(&pool)
                .await
                .unwrap();
                assert!(
                    tables.len() >= 7,
                    "expected the migrated tables, got {tables:?}"
                );
                let mut all = String::new();
                for table in tables {
                    let rows: Vec<String> =
                        sqlx::query_scalar(&format!("SELECT t::text FROM {schema}.{table} t"))
                            .fetch_all(&pool)
                            .await
                            .unwrap();
                    all.push_str(&rows.join("\n"));
                }
                pool.close().await;
                all.into_bytes()
            }
        }
    }
}

/// A direct connection to a test app's database (its SQLite file, or its PostgreSQL schema).
enum Direct {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl TestApp {
    async fn direct(&self) -> Direct {
        match self.db {
            Db::Sqlite => {
                let url = format!("sqlite://{}", self.sqlite_path.as_ref().unwrap().display());
                Direct::Sqlite(sqlx::SqlitePool::connect(&url).await.unwrap())
            }
            Db::Postgres => {
                use std::str::FromStr;
                let schema = self.pg_schema.as_ref().unwrap();
                let options = sqlx::postgres::PgConnectOptions::from_str(&pg_url())
                    .unwrap()
                    .options([("search_path", schema.as_str())]);
                Direct::Postgres(sqlx::PgPool::connect_with(options).await.unwrap())
            }
        }
    }

    /// Runs one statement directly against this app's database (to set up what the API cannot yet).
    pub async fn sql(&self, statement: &str, binds: &[&str]) {
        match self.direct().await {
            Direct::Sqlite(pool) => {
                let mut q = sqlx::query(statement);
                for b in binds {
                    q = q.bind(*b);
                }
                q.execute(&pool).await.unwrap();
                pool.close().await;
            }
            Direct::Postgres(pool) => {
                let mut q = sqlx::query(statement);
                for b in binds {
                    q = q.bind(*b);
                }
                q.execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    /// Runs a query that returns one integer against this app's database.
    pub async fn count(&self, query: &str) -> i64 {
        match self.direct().await {
            Direct::Sqlite(pool) => {
                let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
            Direct::Postgres(pool) => {
                let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
        }
    }
}

pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Generates a test case for each storage backend.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn case($app: $crate::helpers::TestApp) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                case($crate::helpers::spawn_app($crate::helpers::Db::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                case($crate::helpers::spawn_app($crate::helpers::Db::Postgres).await).await
            }
        }
    )*};
}
