//! Two `keyway serve` replicas on one PostgreSQL database and a real authorization server:
//! a refresh storm causes exactly one refresh, and a replica killed while it holds the refresh
//! lease is taken over by the other without losing the refresh token. A replica whose clock
//! is off judges leases, API tokens, console sessions and sign-in links by the database's
//! clock.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_testkit::auth_server::AuthServer;
use keyway_testkit::db::{pg_url, Database};
use keyway_testkit::process::{base_env, dispatch, free_port, http, Env, Replica};
use keyway_testkit::upstream::{Tls, Upstream};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn env(db: &Database, public_url: &str) -> Env {
    let mut env = base_env(&db.url, public_url);
    env.push(("KEYWAY_OAUTH_LEASE_TTL_SECS", "3".to_owned()));
    env
}

async fn lease_held(db: &Database) -> bool {
    db.count("SELECT COUNT(*) FROM oauth_leases").await > 0
}

/// Two replicas on one fresh PostgreSQL database, an authorization server, an upstream, and
/// one account connected through replica A.
struct Pair {
    db: Database,
    server: AuthServer,
    upstream: Upstream,
    a: Replica,
    b: Replica,
    client: reqwest::Client,
    token: String,
    id: String,
    redirect: String,
}

impl Pair {
    async fn start(lease_ttl_secs: u64) -> Pair {
        Self::start_with(lease_ttl_secs, vec![]).await
    }

    /// `b_extra`: more environment for replica B only.
    async fn start_with(lease_ttl_secs: u64, b_extra: keyway_testkit::process::Env) -> Pair {
        let db = Database::create(&pg_url()).await;
        let server = AuthServer::start();
        let upstream = Upstream::start(Tls::Plain).await;
        let (port_a, port_b) = (free_port(), free_port());
        let public_url = format!("http://127.0.0.1:{port_a}");
        let mut env = env(&db, &public_url);
        env.retain(|(k, _)| *k != "KEYWAY_OAUTH_LEASE_TTL_SECS");
        env.push(("KEYWAY_OAUTH_LEASE_TTL_SECS", lease_ttl_secs.to_string()));
        let token = keyway_testkit::process::bootstrap(&env);
        let a = Replica::start(&env, port_a).await;
        let mut b_env = env.clone();
        b_env.extend(b_extra);
        let b = Replica::start(&b_env, port_b).await;
        let client = http();

        // Connect an account through replica A.
        let redirect = format!("{public_url}/oauth-client-service/redirect");
        let registered = server
            .register(&redirect, "client_secret_basic", true)
            .await;
        let res = client
            .post(format!("{}/v1/credentials", a.base))
            .bearer_auth(&token)
            .json(&json!({
                "name": "Storm", "kind": "oauth2", "provider": "custom",
                "client_id": registered.client_id, "client_secret": registered.client_secret,
                "scopes": ["api:read"],
                "authorize_url": format!("{}/auth", server.issuer),
                "token_url": format!("{}/token", server.issuer),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let created: Value = res.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        let landing = server
            .browse(created["authorize_url"].as_str().unwrap(), &redirect)
            .await;
        assert_eq!(client.get(&landing).send().await.unwrap().status(), 200);
        Pair {
            db,
            server,
            upstream,
            a,
            b,
            client,
            token,
            id,
            redirect,
        }
    }

    fn request(&self) -> Value {
        json!({"url": self.upstream.url("http", "127.0.0.1", "/json"), "credential_id": self.id})
    }

    /// Makes the stored access token expired, past what the replicas may have cached.
    async fn expire_token(&self) {
        self.db
            .sql("UPDATE credentials SET token_expires_at = 1")
            .await;
        // The replicas reuse what they read for up to cache_ttl_ms (1 s by default).
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }

    /// Starts a dispatch of `request` on the replica at `base`, answered in the background.
    fn spawn_call(&self, base: &str, request: &Value) -> tokio::task::JoinHandle<(u16, Value)> {
        let (client, base, token, request) = (
            self.client.clone(),
            base.to_owned(),
            self.token.clone(),
            request.clone(),
        );
        tokio::spawn(async move { dispatch(&client, &base, &token, &request).await })
    }

    async fn wait_for_lease(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !lease_held(&self.db).await {
            assert!(Instant::now() < deadline, "no replica took the lease");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn status(&self) -> String {
        let res = self
            .client
            .get(format!("{}/v1/credentials/{}", self.b.base, self.id))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        body["status"].as_str().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_refresh_once_and_survive_a_killed_lease_holder() {
    let Pair {
        db,
        server,
        upstream,
        a,
        b,
        client,
        token,
        id,
        ..
    } = Pair::start(3).await;
    let request = json!({"url": upstream.url("http", "127.0.0.1", "/json"), "credential_id": id});
    let (status, _) = dispatch(&client, &b.base, &token, &request).await;
    assert_eq!(status, 200);
    let old_bearer = upstream.requests()[0]
        .header("authorization")
        .unwrap()
        .to_owned();

    // The storm: the token has expired; 200 concurrent calls, half to each replica.
    db.sql("UPDATE credentials SET token_expires_at = 1").await;
    // The replicas reuse what they read for up to cache_ttl_ms (1 s by default).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.post("/_test/reset-stats", json!({})).await;
    let calls = (0..200).map(|i| {
        let client = client.clone();
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let (token, request) = (token.clone(), request.clone());
        tokio::spawn(async move { dispatch(&client, &base, &token, &request).await.0 })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap(), 200);
    }
    let stats = server.stats().await;
    assert_eq!(
        stats["token_requests"]["refresh_token"], 1,
        "exactly one refresh: {stats}"
    );
    let seen = upstream.requests();
    let storm: Vec<&str> = seen[1..]
        .iter()
        .map(|s| s.header("authorization").unwrap())
        .collect();
    assert_eq!(storm.len(), 200);
    assert!(
        storm.iter().all(|b| *b == storm[0]),
        "every call got the same new token"
    );
    assert_ne!(storm[0], old_bearer);

    // Kill A while it holds the lease (its refresh request is held back by the server, which
    // drops it when A dies); B takes over when the lease runs out.
    db.sql("UPDATE credentials SET token_expires_at = 1").await;
    // The replicas reuse what they read for up to cache_ttl_ms (1 s by default).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.post("/_test/token-delay", json!({"ms": 2000})).await;
    let a_call = {
        let (client, base, token, request) = (
            client.clone(),
            a.base.clone(),
            token.clone(),
            request.clone(),
        );
        tokio::spawn(async move { dispatch(&client, &base, &token, &request).await })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lease_held(&db).await {
        assert!(Instant::now() < deadline, "replica A never took the lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Kill A only once its refresh request is at the server, held by the delay (the storm's
    // refresh was the first).
    while server.refresh_requests().await < 2 {
        assert!(
            Instant::now() < deadline,
            "replica A's refresh never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut a = a;
    a.sigkill();
    assert!(
        a_call.await.is_err(),
        "the call to the killed replica got no answer"
    );
    server.post("/_test/token-delay", json!({"ms": 0})).await;
    let started = Instant::now();
    let (status, body) = dispatch(&client, &b.base, &token, &request).await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(15));
    let taken_over = upstream
        .requests()
        .last()
        .unwrap()
        .header("authorization")
        .unwrap()
        .to_owned();
    assert_ne!(taken_over, storm[0]);
    let stats = server.stats().await;
    assert_eq!(
        stats["token_dropped"]["refresh_token"], 1,
        "A's refresh never reached the grant: {stats}"
    );
    // No refresh token was lost: the chain goes on.
    db.sql("UPDATE credentials SET token_expires_at = 1").await;
    // The replicas reuse what they read for up to cache_ttl_ms (1 s by default).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = dispatch(&client, &b.base, &token, &request).await;
    assert_eq!(status, 200, "{body}");
    let unconsumed = server.get_json("/_test/refresh-tokens").await;
    assert_eq!(unconsumed["unconsumed"], 1, "{unconsumed}");
    drop(b);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_resets_during_a_slow_refresh_leaves_no_lease_behind() {
    // A lease long enough that only its release, not its expiry, can free it in this test.
    let pair = Pair::start(60).await;
    let request = pair.request();
    let (status, _) = dispatch(&pair.client, &pair.b.base, &pair.token, &request).await;
    assert_eq!(status, 200);
    pair.expire_token().await;
    pair.server.post("/_test/reset-stats", json!({})).await;
    pair.server
        .post("/_test/token-delay", json!({"ms": 1500}))
        .await;
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let sent = impatient
        .post(format!("{}/v1/dispatch", pair.a.base))
        .bearer_auth(&pair.token)
        .json(&json!({ "request": request }))
        .send()
        .await;
    assert!(sent.is_err(), "the caller gave up and reset its connection");
    pair.wait_for_lease().await;
    pair.server
        .post("/_test/token-delay", json!({"ms": 0}))
        .await;

    // The refresh runs to its end without its caller and lets go of the lease.
    let deadline = Instant::now() + Duration::from_secs(10);
    while lease_held(&pair.db).await {
        assert!(Instant::now() < deadline, "the lease was never released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = pair.server.stats().await;
    assert_eq!(stats["token_requests"]["refresh_token"], 1, "{stats}");
    assert_eq!(
        stats["token_dropped"]["refresh_token"]
            .as_u64()
            .unwrap_or(0),
        0,
        "it was not abandoned: {stats}"
    );

    // Both replicas use its token at once: nobody waits for a lease, nobody refreshes again.
    for base in [&pair.a.base, &pair.b.base] {
        let started = Instant::now();
        let (status, body) = dispatch(&pair.client, base, &pair.token, &request).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    let stats = pair.server.stats().await;
    assert_eq!(stats["token_requests"]["refresh_token"], 1, "{stats}");
    let unconsumed = pair.server.get_json("/_test/refresh-tokens").await;
    assert_eq!(
        unconsumed["unconsumed"], 1,
        "the rotated refresh token was stored: {unconsumed}"
    );
    pair.db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_while_a_refresh_fails_is_not_overwritten() {
    let pair = Pair::start(3).await;
    let request = pair.request();
    let (status, _) = dispatch(&pair.client, &pair.b.base, &pair.token, &request).await;
    assert_eq!(status, 200);

    // The person's grant is revoked at the provider: A's refresh will get invalid_grant, but
    // only after the person has reconnected through B.
    pair.server.post("/_test/revoke-all", json!({})).await;
    pair.expire_token().await;
    pair.server
        .post("/_test/token-delay", json!({"ms": 8000}))
        .await;
    pair.server.post("/_test/reset-stats", json!({})).await;
    let a_call = pair.spawn_call(&pair.a.base, &request);
    pair.wait_for_lease().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while pair.server.refresh_requests().await < 1 {
        assert!(
            Instant::now() < deadline,
            "replica A's refresh never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pair.server
        .post("/_test/token-delay", json!({"ms": 0}))
        .await;
    let res = pair
        .client
        .post(format!(
            "{}/v1/credentials/{}/authorize",
            pair.b.base, pair.id
        ))
        .bearer_auth(&pair.token)
        .send()
        .await
        .unwrap();
    let url: Value = res.json().await.unwrap();
    let landing = pair
        .server
        .browse(url["authorize_url"].as_str().unwrap(), &pair.redirect)
        .await;
    assert_eq!(
        pair.client.get(&landing).send().await.unwrap().status(),
        200
    );
    let stats = pair.server.stats().await;
    assert!(
        stats["token_errors"]["refresh_token"].is_null(),
        "the reconnect landed while A's refresh was still held: {stats}"
    );
    let reconnected = pair
        .db
        .count(&format!(
            "SELECT secret_version FROM credentials WHERE id = '{}'",
            pair.id
        ))
        .await;

    // A's refresh fails after the reconnect: the credential stays connected and A's caller
    // gets the reconnected token.
    let (status, body) = a_call.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(pair.status().await, "connected");
    let after = pair
        .db
        .count(&format!(
            "SELECT secret_version FROM credentials WHERE id = '{}'",
            pair.id
        ))
        .await;
    assert_eq!(after, reconnected, "the failed refresh wrote nothing");
    let marked = pair
        .db
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'credential.reauthorization_required'")
        .await;
    assert_eq!(marked, 0);
    let stats = pair.server.stats().await;
    assert_eq!(
        stats["token_errors"]["refresh_token"], 1,
        "A's refresh did fail: {stats}"
    );
    let (status, body) = dispatch(&pair.client, &pair.b.base, &pair.token, &request).await;
    assert_eq!(status, 200, "{body}");
    let bearers: Vec<String> = pair.upstream.requests()[1..]
        .iter()
        .map(|s| s.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(bearers.len(), 2);
    assert_eq!(
        bearers[0], bearers[1],
        "both calls used the reconnected token"
    );
    pair.db.drop_now().await;
}

/// libfaketime (Debian: faketime), which shifts what a process reads as the wall clock.
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The environment that moves a process's wall clock by `offset` (`+30s`, `-30s`), leaving
/// its monotonic clock alone.
fn wall_clock_off_by(offset: &str) -> Env {
    assert!(
        std::path::Path::new(FAKETIME_LIB).exists(),
        "install Debian's faketime (scripts/test.sh does)"
    );
    vec![
        ("LD_PRELOAD", FAKETIME_LIB.to_owned()),
        ("FAKETIME", offset.to_owned()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expiry_is_judged_by_the_database_clock_not_a_replicas() {
    // B's wall clock runs 30 s ahead, ten times the lease's life: judged by B's clock, A's
    // lease would always look expired and B would refresh beside A.
    let pair = Pair::start_with(3, wall_clock_off_by("+30s")).await;
    let request = pair.request();
    let (status, _) = dispatch(&pair.client, &pair.b.base, &pair.token, &request).await;
    assert_eq!(status, 200);
    pair.expire_token().await;
    pair.server.post("/_test/reset-stats", json!({})).await;
    pair.server
        .post("/_test/token-delay", json!({"ms": 2000}))
        .await;
    let a_call = pair.spawn_call(&pair.a.base, &request);
    pair.wait_for_lease().await;
    let b_calls: Vec<_> = (0..5)
        .map(|_| pair.spawn_call(&pair.b.base, &request))
        .collect();
    assert_eq!(a_call.await.unwrap().0, 200);
    for call in b_calls {
        assert_eq!(call.await.unwrap().0, 200);
    }
    pair.server
        .post("/_test/token-delay", json!({"ms": 0}))
        .await;
    let stats = pair.server.stats().await;
    assert_eq!(
        stats["token_requests"]["refresh_token"], 1,
        "B waited for A's lease instead of refreshing beside it: {stats}"
    );
    let bearers: Vec<String> = pair.upstream.requests()[1..]
        .iter()
        .map(|s| s.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(bearers.len(), 6);
    assert!(
        bearers.iter().all(|b| *b == bearers[0]),
        "one new token for all"
    );
    pair.db.drop_now().await;
}

/// Makes every row of `table` (with an `expires_at` in Unix ms) end a second ago by the
/// database's clock.
async fn ended_a_second_ago(db: &Database, table: &str) {
    let now = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
    db.sql(&format!("UPDATE {table} SET expires_at = {now} - 1000"))
        .await;
}

/// Signs `browser` in to the console with `token`.
async fn sign_in(browser: &keyway_testkit::browser::Browser, token: &str) {
    let csrf = browser.get("/console/login").await.field("csrf").unwrap();
    let signed_in = browser
        .post("/console/login", &[("csrf", &csrf), ("token", token)])
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(browser.get("/console/credentials").await.status, 200);
}

/// Whether `browser`'s session has ended (its pages send it to sign in again).
async fn signed_out(browser: &keyway_testkit::browser::Browser) -> bool {
    let page = browser.get("/console/credentials").await;
    (page.status, page.location.as_deref()) == (303, Some("/console/login"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_of_tokens_sessions_and_links_is_judged_by_the_database_clock() {
    // B's wall clock runs 30 s behind: judged by B's clock, a token, console session or
    // sign-in link that ended by the database's clock would still work on B for 30 s.
    let pair = Pair::start_with(3, wall_clock_off_by("-30s")).await;
    let list = |base: &str| {
        let (client, url, token) = (
            pair.client.clone(),
            format!("{base}/v1/credentials"),
            pair.token.clone(),
        );
        async move {
            let res = client.get(url).bearer_auth(token).send().await.unwrap();
            res.status().as_u16()
        }
    };
    let browser = || keyway_testkit::browser::Browser::new(&pair.b.base);

    // A session whose own time is up.
    let first = browser();
    sign_in(&first, &pair.token).await;
    ended_a_second_ago(&pair.db, "console_sessions").await;
    assert!(signed_out(&first).await, "the session's time was up");

    // A sign-in link whose time is up (made by the CLI, used on B).
    let env = env(&pair.db, "http://127.0.0.1:1");
    let url =
        keyway_testkit::process::cli(&env, &["login-link", "--org", "acme", "--user", "alice"]);
    let link = url.trim().rsplit("token=").next().unwrap().to_owned();
    ended_a_second_ago(&pair.db, "login_links").await;
    let late = browser();
    let csrf = late.get("/console/login").await.field("csrf").unwrap();
    let used = late
        .post("/console/link", &[("csrf", &csrf), ("link", &link)])
        .await;
    assert_eq!(used.status, 400, "the link's time was up: {}", used.body);

    // A token whose time is up, and the session started with it. Once what the replicas
    // read is stale (1 s), both refuse it.
    assert_eq!(list(&pair.b.base).await, 200, "the token works on B");
    let second = browser();
    sign_in(&second, &pair.token).await;
    ended_a_second_ago(&pair.db, "api_tokens").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(list(&pair.a.base).await, 401);
    assert_eq!(list(&pair.b.base).await, 401, "the token's time was up");
    assert!(
        signed_out(&second).await,
        "the session ended with its token"
    );
    pair.db.drop_now().await;
}
