//! Real `keyway` processes for tests where a process dies, a database stops or a disk fills:
//! the CLI, replicas started and waited for and killed without warning, and their HTTP calls.

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `keyway` binary cargo built beside the running test (`target/<profile>/keyway`; a
/// test runs from `target/<profile>/deps/`).
pub fn bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin = profile_dir.join(format!("keyway{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build` (cargo test does)",
        bin.display()
    );
    bin
}
pub const MASTER_KEYS: &str = "r1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The environment a `keyway` process runs with.
pub type Env = Vec<(&'static str, String)>;

/// The settings every test process shares: loopback upstreams allowed, quiet logs, 2 workers.
pub fn base_env(database_url: &str, public_url: &str) -> Env {
    vec![
        ("KEYWAY_DATABASE_URL", database_url.to_owned()),
        ("KEYWAY_MASTER_KEYS", MASTER_KEYS.to_owned()),
        ("KEYWAY_PUBLIC_URL", public_url.to_owned()),
        ("KEYWAY_DISPATCH_ALLOW_NETWORKS", "127.0.0.0/8".to_owned()),
        ("KEYWAY_LOG", "warn".to_owned()),
        ("KEYWAY_WORKERS", "2".to_owned()),
    ]
}

/// A `keyway` command with only `env` for settings: `KEYWAY_*` variables of the shell that
/// runs the tests (a developer's database URL or keys) are not passed on.
pub fn command(dir: Option<&Path>, env: &Env) -> Command {
    let mut cmd = Command::new(bin());
    for (name, _) in std::env::vars_os() {
        let inherited = name.to_string_lossy();
        if inherited.starts_with("KEYWAY_") && !inherited.starts_with("KEYWAY_TEST_") {
            cmd.env_remove(&name);
        }
    }
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.envs(env.iter().cloned());
    cmd
}

/// Runs `keyway args` in `dir` (or here) and returns how it ended.
pub fn run(dir: Option<&Path>, env: &Env, args: &[&str]) -> Output {
    command(dir, env).args(args).output().unwrap()
}

/// The trimmed stdout of a command that must have succeeded.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "keyway failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs a CLI command to success and returns its trimmed stdout.
pub fn cli(env: &Env, args: &[&str]) -> String {
    ok(run(None, env, args))
}

/// Creates org `acme` and its member `alice`, and returns her API token.
pub fn bootstrap(env: &Env) -> String {
    cli(env, &["migrate"]);
    cli(env, &["org", "create", "acme"]);
    cli(env, &["user", "create", "--org", "acme", "--name", "alice"]);
    cli(
        env,
        &["token", "create", "--org", "acme", "--user", "alice"],
    )
}

/// A running `keyway serve`, killed when dropped.
pub struct Replica {
    pub child: Child,
    pub base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// Starts `keyway serve` on `port` and waits until `/readyz` answers 200.
    pub async fn start(env: &Env, port: u16) -> Replica {
        Self::start_in(None, env, port).await
    }

    /// [`Replica::start`] with `dir` as the working directory (where the embedded default
    /// keeps its `data/`).
    pub async fn start_in(dir: Option<&Path>, env: &Env, port: u16) -> Replica {
        let listen = format!("127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!("kw-replica-{port}.log"));
        let child = command(dir, env)
            .arg("serve")
            .env("KEYWAY_LISTEN", &listen)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let replica = Replica {
            child,
            base: format!("http://{listen}"),
        };
        assert!(
            replica.ready_within(Duration::from_secs(30)).await,
            "replica on {listen} did not start"
        );
        replica
    }

    /// Whether `/readyz` answers 200 before `limit` has passed.
    pub async fn ready_within(&self, limit: Duration) -> bool {
        self.readyz_becomes(200, limit).await
    }

    /// Whether `/readyz` answers `status` before `limit` has passed.
    pub async fn readyz_becomes(&self, status: u16, limit: Duration) -> bool {
        let client = http();
        let deadline = Instant::now() + limit;
        loop {
            let now = client
                .get(format!("{}/readyz", self.base))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map(|r| r.status().as_u16());
            if now.as_ref().ok() == Some(&status) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: the process gets no chance to flush, release or clean up anything.
    pub fn sigkill(&mut self) {
        sigkill(&mut self.child);
    }

    /// The process's peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }
}

pub fn sigkill(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = child.wait();
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// `POST /v1/dispatch` with `request`: status and JSON body.
pub async fn dispatch(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    request: &Value,
) -> (u16, Value) {
    let res = client
        .post(format!("{base}/v1/dispatch"))
        .bearer_auth(token)
        .json(&json!({ "request": request }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// A call with a JSON body (or none): status and JSON body.
pub async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: impl reqwest::IntoUrl,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
