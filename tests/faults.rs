//! Faults an operator will meet, against real `keyway serve` processes: PostgreSQL stopping
//! under two replicas and coming back, a replica killed after answering calls, SQLite on a
//! disk that fills up or turns read-only, and the memory one hostile request can take.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_testkit::auth_server::AuthServer;
use keyway_testkit::db::{sqlite_count, Database};
use keyway_testkit::process::{base_env, bootstrap, call, dispatch, free_port, http, Replica};
use keyway_testkit::upstream::{Tls, Upstream};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A private PostgreSQL cluster in a temporary directory, on a free port, that a test may stop
/// and start: the shared server on 5432 must never be stopped by a test.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

impl Cluster {
    fn bin(tool: &str) -> PathBuf {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries (Debian: postgresql) must be installed")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(tool)))
            .filter(|p| p.exists())
            .collect();
        found.sort();
        found
            .pop()
            .unwrap_or_else(|| panic!("{tool} not found under /usr/lib/postgresql"))
    }

    /// PostgreSQL refuses to run as root: the cluster belongs to `postgres` when we are root.
    fn as_postgres(tool: &Path) -> Command {
        if unsafe_is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(tool);
            cmd
        } else {
            Command::new(tool)
        }
    }

    fn init() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        if unsafe_is_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let out = Self::as_postgres(&Self::bin("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Cluster {
            dir,
            port: free_port(),
            running: false,
        }
    }

    /// Starts the server with `pg_ctl` (which waits until it accepts connections).
    async fn start(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let out = Self::as_postgres(&Self::bin("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &options, "-w", "start"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = true;
        let deadline = Instant::now() + Duration::from_secs(30);
        while sqlx::PgPool::connect(&self.url("postgres")).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the private cluster did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A fast shutdown: sessions are ended, as when an operator restarts the server.
    fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            let out = Self::as_postgres(&Self::bin("pg_ctl"))
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "fast", "-w", "stop"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "pg_ctl stop: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = Self::as_postgres(&Self::bin("pg_ctl"))
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// One replica on a fresh SQLite file, with a token for `alice` and a loopback upstream.
struct Solo {
    file: PathBuf,
    token: String,
    upstream: Upstream,
    replica: Replica,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Solo {
    async fn start() -> Solo {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keyway.db");
        let env = base_env(
            &format!("sqlite://{}", file.display()),
            "http://127.0.0.1:1",
        );
        let token = bootstrap(&env);
        Solo {
            file,
            token,
            upstream: Upstream::start(Tls::Plain).await,
            replica: Replica::start(&env, free_port()).await,
            client: http(),
            _dir: dir,
        }
    }
}

async fn api_key(client: &reqwest::Client, base: &str, token: &str, key: &str) -> String {
    let (status, body) = call(
        client,
        Method::POST,
        &format!("{base}/v1/credentials"),
        token,
        Some(json!({"name": format!("key {}", uuid::Uuid::new_v4()), "kind": "api_key", "api_key": key})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopping_under_replicas_fails_fast_and_they_recover_by_themselves() {
    let mut cluster = Cluster::init();
    cluster.start().await;
    let db = Database::create(&cluster.url("postgres")).await;
    let env = base_env(&db.url, "http://127.0.0.1:1");
    let token = bootstrap(&env);
    let upstream = Upstream::start(Tls::Plain).await;
    let replicas = [
        Replica::start(&env, free_port()).await,
        Replica::start(&env, free_port()).await,
    ];
    let client = http();
    let key = format!("outage-{}", uuid::Uuid::new_v4());
    let credential = api_key(&client, &replicas[0].base, &token, &key).await;
    let request =
        json!({"url": upstream.url("http", "127.0.0.1", "/json"), "credential_id": credential});
    for replica in &replicas {
        let (status, body) = dispatch(&client, &replica.base, &token, &request).await;
        assert_eq!(status, 200, "{body}");
    }

    // A call in flight when the database stops: its use is on record, and its result
    // comes when the upstream answers, with the database gone.
    let in_flight = {
        let request = json!({"url": upstream.url("http", "127.0.0.1", "/slow/1500"), "credential_id": credential});
        let (client, base, token) = (client.clone(), replicas[0].base.clone(), token.clone());
        tokio::spawn(async move { dispatch(&client, &base, &token, &request).await })
    };
    let sent = upstream.requests().len() + 1;
    let deadline = Instant::now() + Duration::from_secs(5);
    while upstream.requests().len() < sent {
        assert!(Instant::now() < deadline, "the slow call went out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    cluster.stop();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(
        status, 200,
        "a call that left before the outage is answered: {body}"
    );
    for replica in &replicas {
        assert!(
            replica.readyz_becomes(503, Duration::from_secs(5)).await,
            "/readyz says 503 within 5 s of the database stopping"
        );
    }
    let answered = upstream.requests().len();
    for replica in &replicas {
        for _ in 0..3 {
            let started = Instant::now();
            let (status, body) = dispatch(&client, &replica.base, &token, &request).await;
            assert!(started.elapsed() < Duration::from_secs(5), "failed fast");
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
            assert_eq!(body["error"]["reason"], "unreachable", "{body}");
        }
        let started = Instant::now();
        let url = format!("{}/v1/credentials", replica.base);
        let (status, body) = call(&client, Method::GET, &url, &token, None).await;
        assert!(started.elapsed() < Duration::from_secs(5), "failed fast");
        assert_eq!(
            (status, &body["error"]["code"]),
            (503, &json!("storage_unavailable"))
        );
    }
    assert_eq!(
        upstream.requests().len(),
        answered,
        "no call left without its audit event"
    );

    cluster.start().await;
    for replica in &replicas {
        assert!(
            replica.ready_within(Duration::from_secs(30)).await,
            "a replica recovered without a restart"
        );
        let (status, body) = dispatch(&client, &replica.base, &token, &request).await;
        assert_eq!(status, 200, "{body}");
    }
    let uses = db
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'credential.use' AND outcome = 'started'")
        .await;
    assert_eq!(
        uses as usize,
        upstream.requests().len(),
        "one use event for every call the upstream received"
    );
    // The in-flight call's result was kept until the database came back (it was given up
    // after 0.7 s before).
    let without_result = "SELECT COUNT(*) FROM audit_events u \
        WHERE u.action = 'credential.use' AND u.outcome = 'started' AND NOT EXISTS ( \
          SELECT 1 FROM audit_events r WHERE r.action = 'credential.use.result' \
          AND r.detail::jsonb ->> 'call_id' = u.detail::jsonb ->> 'call_id')";
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.count(without_result).await > 0 {
        assert!(
            Instant::now() < deadline,
            "a use without its result 20 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(replicas);
    db.drop_now().await;
}

/// A token refresh that the database fails under: the provider answered, but Keyway could not
/// keep the new token. That is Keyway's storage failing (503 `storage_unavailable`, retry
/// later), not the provider (it answered 502 `oauth_token_request_failed` before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_whose_token_cannot_be_stored_answers_storage_unavailable() {
    let mut cluster = Cluster::init();
    cluster.start().await;
    let db = Database::create(&cluster.url("postgres")).await;
    let env = base_env(&db.url, "http://127.0.0.1:1");
    let token = bootstrap(&env);
    let server = AuthServer::start();
    let upstream = Upstream::start(Tls::Plain).await;
    let replica = Replica::start(&env, free_port()).await;
    let client = http();
    let registered = server
        .register("http://127.0.0.1:1/redirect", "client_secret_basic", false)
        .await;
    let (status, body) = call(
        &client,
        Method::POST,
        &format!("{}/v1/credentials", replica.base),
        &token,
        Some(json!({
            "name": "Machine", "kind": "oauth2", "provider": "custom",
            "grant_type": "client_credentials", "scopes": ["api:read"],
            "client_id": registered.client_id, "client_secret": registered.client_secret,
            "authorize_url": format!("{}/auth", server.issuer),
            "token_url": format!("{}/token", server.issuer),
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let request = json!({
        "url": upstream.url("http", "127.0.0.1", "/json"),
        "credential_id": body["id"],
    });
    let (status, body) = dispatch(&client, &replica.base, &token, &request).await;
    assert_eq!(status, 200, "{body}");

    // The token has expired; the provider holds the refresh long enough for the database to
    // stop after the call's use is on record.
    db.sql("UPDATE credentials SET token_expires_at = 1").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.post("/_test/token-delay", json!({"ms": 1500})).await;
    let uses = "SELECT COUNT(*) FROM audit_events WHERE action = 'credential.use'";
    let used = db.count(uses).await;
    let in_flight = {
        let (client, base, token) = (client.clone(), replica.base.clone(), token.clone());
        tokio::spawn(async move { dispatch(&client, &base, &token, &request).await })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while db.count(uses).await == used {
        assert!(Instant::now() < deadline, "the call's use was recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.stop();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
    assert_eq!(upstream.requests().len(), 1, "the call did not go out");
    server.post("/_test/token-delay", json!({"ms": 0})).await;
    cluster.start().await;
    drop(replica);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_has_recorded_every_call_it_answered() {
    let Solo {
        file,
        token,
        upstream,
        replica,
        client,
        _dir,
    } = Solo::start().await;
    let mut replica = replica;
    let credential = api_key(&client, &replica.base, &token, "sigkill-key").await;
    let request =
        json!({"url": upstream.url("http", "127.0.0.1", "/json"), "credential_id": credential});
    let calls = (0..50).map(|_| {
        let (client, base, token, request) = (
            client.clone(),
            replica.base.clone(),
            token.clone(),
            request.clone(),
        );
        tokio::spawn(async move { dispatch(&client, &base, &token, &request).await.0 })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap(), 200);
    }
    // No pause: the kill lands while call results may still be queued.
    replica.sigkill();
    let uses = sqlite_count(
        &file,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'credential.use'",
    )
    .await;
    assert_eq!(
        uses, 50,
        "every answered call's use was durable before it left"
    );
    assert_eq!(upstream.requests().len(), 50);
}

/// A small tmpfs mounted over a directory for as long as it lives.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, mode: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Fills the disk with a file until the kernel says it is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn credential_names(client: &reqwest::Client, base: &str, token: &str) -> Vec<String> {
    let url = format!("{base}/v1/credentials");
    let (status, body) = call(client, Method::GET, &url, token, None).await;
    assert_eq!(status, 200, "{body}");
    body["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_then_read_only_disk_answers_clearly_and_keeps_what_it_had() {
    let disk = SmallDisk::mount("16m");
    let file = disk.path().join("keyway.db");
    let env = base_env(
        &format!("sqlite://{}", file.display()),
        "http://127.0.0.1:1",
    );
    let token = bootstrap(&env);
    let upstream = Upstream::start(Tls::Plain).await;
    let replica = Replica::start(&env, free_port()).await;
    let client = http();
    let url = |r: &Replica| format!("{}/v1/credentials", r.base);
    let credential = api_key(&client, &replica.base, &token, "disk-key").await;
    let request =
        json!({"url": upstream.url("http", "127.0.0.1", "/json"), "credential_id": credential});

    // Full: writes go on into space SQLite already holds until one needs more; that one and
    // every later one is refused, and whatever was answered 201 is there.
    let filler = disk.fill();
    let mut created = vec![];
    let refusal = loop {
        let name = format!("full {}", created.len());
        let big = "k".repeat(16 * 1024);
        let (status, body) = call(
            &client,
            Method::POST,
            &url(&replica),
            &token,
            Some(json!({"name": name, "kind": "api_key", "api_key": big})),
        )
        .await;
        if status != 201 {
            break (status, body);
        }
        created.push(name);
        assert!(created.len() < 2000, "the disk never filled");
    };
    assert_eq!(refusal.0, 503, "{}", refusal.1);
    assert_eq!(refusal.1["error"]["code"], "storage_unavailable");
    assert_eq!(refusal.1["error"]["reason"], "full", "{}", refusal.1);
    let calls_before = upstream.requests().len();
    let (status, body) = dispatch(&client, &replica.base, &token, &request).await;
    assert_eq!(
        status, 503,
        "a call that cannot be audited is refused: {body}"
    );
    assert_eq!(
        upstream.requests().len(),
        calls_before,
        "nothing left unaudited"
    );
    std::fs::remove_file(&filler).unwrap();
    let names = credential_names(&client, &replica.base, &token).await;
    for name in &created {
        assert!(names.contains(name), "{name} was answered 201 and is kept");
    }
    assert!(
        !names
            .iter()
            .any(|n| n == &format!("full {}", created.len())),
        "the refused one is not half there"
    );
    let (status, body) = dispatch(&client, &replica.base, &token, &request).await;
    assert_eq!(status, 200, "space again, calls again: {body}");

    // Read-only: Linux will not turn a disk read-only under a process that holds files open
    // for writing (an operator or a failing disk does it between starts), so the replica
    // stops, the disk turns read-only and it starts again: it reads, and refuses every write
    // and every call (which could not be audited) with the reason.
    drop(replica);
    disk.remount("ro");
    let replica = Replica::start(&env, free_port()).await;
    let names = credential_names(&client, &replica.base, &token).await;
    assert_eq!(
        names.len(),
        created.len() + 1,
        "everything answered 201 is kept"
    );
    let (status, body) = call(
        &client,
        Method::POST,
        &url(&replica),
        &token,
        Some(json!({"name": "read-only", "kind": "api_key", "api_key": "k"})),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "storage_unavailable");
    assert_eq!(body["error"]["reason"], "read_only", "{body}");
    let calls_before = upstream.requests().len();
    let (status, body) = dispatch(&client, &replica.base, &token, &request).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(upstream.requests().len(), calls_before);
    drop(replica);
    disk.remount("rw");
    let replica = Replica::start(&env, free_port()).await;
    let (status, body) = call(
        &client,
        Method::POST,
        &url(&replica),
        &token,
        Some(json!({"name": "writable", "kind": "api_key", "api_key": "k"})),
    )
    .await;
    assert_eq!(status, 201, "writable again: {body}");
    let (status, body) = dispatch(&client, &replica.base, &token, &request).await;
    assert_eq!(status, 200, "{body}");
    drop(replica);
    // Every call that left has its use on record; refused attempts are recorded as `refused`
    // once the log can be written again.
    let uses = sqlite_count(
        &file,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'credential.use' AND outcome = 'started'",
    )
    .await;
    assert_eq!(uses as usize, upstream.requests().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hostile_request_takes_no_more_memory_than_the_limits() {
    let Solo {
        token,
        upstream,
        replica,
        client,
        ..
    } = Solo::start().await;
    let url = upstream.url("http", "127.0.0.1", "/json");
    // Warm up: pools, caches, the first connections.
    for _ in 0..20 {
        let (status, _) = dispatch(&client, &replica.base, &token, &json!({"url": url})).await;
        assert_eq!(status, 200);
    }
    let before = replica.peak_rss_kib();

    // The reproduction: 20,000 placeholders in an XML body, each filled with 100 KB (2 GB
    // rendered, 9.8 GB of memory before the limits), in a request under the 256 KiB API limit.
    let body = format!("<a>{}</a>", "${a}".repeat(20_000));
    let hostile = json!({
        "request": {"method": "POST", "url": url, "body": body, "content_type": "xml"},
        "context": {"a": "x".repeat(100_000)},
    });
    let res = client
        .post(format!("{}/v1/dispatch", replica.base))
        .bearer_auth(&token)
        .json(&hostile)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "rendered_request_too_large");
    assert_eq!(answer["error"]["part"], "body");

    // The largest legitimate call: a 1 MiB rendered body goes out.
    let legit = json!({
        "request": {"method": "POST", "url": url, "body": "${a}".repeat(8), "content_type": "text"},
        "context": {"a": "y".repeat(128 * 1024)},
    });
    let res = client
        .post(format!("{}/v1/dispatch", replica.base))
        .bearer_auth(&token)
        .json(&legit)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let grown = replica.peak_rss_kib().saturating_sub(before);
    eprintln!("peak RSS before {before} KiB, grown by {grown} KiB");
    // The request bodies are under 256 KiB, the rendered body at most 1 MiB: a few copies of
    // those in flight, nothing near the 2 GB the placeholders would expand to.
    assert!(
        grown < 8 * 1024,
        "peak RSS grew by {grown} KiB for requests bounded at about 2 MiB"
    );
}
