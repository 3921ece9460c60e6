//! The `keyway` binary as a new user runs it: the README walk-through on the embedded default,
//! key handling at start, and `keyway key rewrap`.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_testkit::process::{self, call, free_port, ok, Env, Replica};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn env_of(env: &[(&'static str, &str)]) -> Env {
    env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// `keyway args` in `dir`, with only `env` for settings.
fn keyway(dir: &Path, args: &[&str], env: &[(&'static str, &str)]) -> Output {
    process::run(Some(dir), &env_of(env), args)
}

/// `keyway serve` in `dir` on a free port, ready.
async fn serve(dir: &Path, env: &[(&'static str, &str)]) -> Replica {
    Replica::start_in(Some(dir), &env_of(env), free_port()).await
}

#[tokio::test]
async fn readme_walkthrough_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]).await;
    let key_file = dir.path().join("data/master.key");
    assert!(dir.path().join("data/keyway.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the generated key file must be private");
    }

    assert_eq!(
        ok(keyway(dir.path(), &["org", "create", "acme"], &[])),
        "acme"
    );
    ok(keyway(
        dir.path(),
        &[
            "user", "create", "--org", "acme", "--name", "alice", "--admin",
        ],
        &[],
    ));
    let token = ok(keyway(
        dir.path(),
        &["token", "create", "--org", "acme", "--user", "alice"],
        &[],
    ));
    assert!(
        token.starts_with("kw_") && !token.contains('\n'),
        "the token alone on stdout"
    );

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let (status, created) = call(&client, reqwest::Method::POST, format!("{}/v1/credentials", server.base), &token,
        Some(json!({"name": "Qualtrics", "kind": "api_key", "api_key": "walkthrough-secret-1", "header_name": "X-API-TOKEN"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (_, list) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/v1/credentials", server.base),
        &token,
        None,
    )
    .await;
    assert_eq!(list["credentials"][0]["name"], "Qualtrics");
    let (status, renamed) = call(
        &client,
        reqwest::Method::PATCH,
        format!("{}/v1/credentials/{id}", server.base),
        &token,
        Some(json!({"name": "Qualtrics (survey team)"})),
    )
    .await;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (200, Some("Qualtrics (survey team)"))
    );
    let (_, audit) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/v1/audit", server.base),
        &token,
        None,
    )
    .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 2);
    drop(server);

    // The same data with another key under the same ID is refused, naming the key.
    let other = keyway_key("local-1");
    let refused = keyway(
        dir.path(),
        &["serve"],
        &[
            ("KEYWAY_MASTER_KEYS", &other),
            ("KEYWAY_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("'local-1'") && stderr.contains("not the key"),
        "{stderr}"
    );
    // A key set without the ID the stored secrets need is refused, naming it.
    let unrelated = keyway_key("k2");
    let refused = keyway(
        dir.path(),
        &["serve"],
        &[
            ("KEYWAY_MASTER_KEYS", &unrelated),
            ("KEYWAY_LISTEN", "127.0.0.1:0"),
        ],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && stderr.contains("'local-1'")
            && stderr.contains("not configured"),
        "{stderr}"
    );

    // Rewrap under a new key, then drop the old one: the server starts and serves.
    let old = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_owned();
    let keys = format!("{unrelated},{old}");
    let out = keyway(
        dir.path(),
        &["key", "rewrap"],
        &[("KEYWAY_MASTER_KEYS", &keys)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("re-wrapped 1 data keys under 'k2'"),
        "{stderr}"
    );
    let server = serve(dir.path(), &[("KEYWAY_MASTER_KEYS", &unrelated)]).await;
    let (status, shown) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/v1/credentials/{id}", server.base),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
}

/// A new `id:base64key` from `keyway key generate`.
fn keyway_key(id: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    ok(keyway(dir.path(), &["key", "generate", "--id", id], &[]))
}

#[test]
fn a_cache_longer_than_the_contracts_second_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyway(
        dir.path(),
        &["serve"],
        &[
            ("KEYWAY_CACHE_TTL_MS", "5000"),
            ("KEYWAY_LISTEN", "127.0.0.1:0"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must refuse to start");
    assert!(
        stderr.contains("cache_ttl_ms must be at most 1000"),
        "{stderr}"
    );
}

#[tokio::test]
async fn postgres_without_a_master_key_is_refused() {
    let schema = format!(
        "{}{}",
        std::env::var("KEYWAY_TEST_PREFIX").unwrap_or_else(|_| "kwt_".into()),
        uuid::Uuid::new_v4().simple()
    );
    let base = std::env::var("KEYWAY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pool = sqlx::PgPool::connect(&base)
        .await
        .expect("PostgreSQL must be running for the test suite");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .unwrap();
    let url = format!("{base}?options=-c%20search_path%3D{schema}");
    let dir = tempfile::tempdir().unwrap();
    let out = keyway(
        dir.path(),
        &["serve"],
        &[
            ("KEYWAY_DATABASE_URL", &url),
            ("KEYWAY_LISTEN", "127.0.0.1:0"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must refuse to start");
    assert!(
        stderr.contains("no master key is configured") && stderr.contains("KEYWAY_MASTER_KEYS"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data/master.key").exists(),
        "no key may be generated for PostgreSQL"
    );

    // With a key it starts, and migrations landed in the schema.
    let key = keyway_key("pg-1");
    let server = serve(
        dir.path(),
        &[("KEYWAY_DATABASE_URL", &url), ("KEYWAY_MASTER_KEYS", &key)],
    )
    .await;
    drop(server);
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(&schema)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(tables >= 7, "{tables}");
}

#[tokio::test]
async fn passphrase_keys_keep_their_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("KEYWAY_MASTER_PASSPHRASE", "correct horse battery staple")];
    let server = serve(dir.path(), &env).await;
    drop(server);
    // Same passphrase again: the stored salt and parameters give the same key.
    let server = serve(dir.path(), &env).await;
    drop(server);
    let wrong = keyway(
        dir.path(),
        &["serve"],
        &[
            ("KEYWAY_MASTER_PASSPHRASE", "wrong horse"),
            ("KEYWAY_LISTEN", "127.0.0.1:0"),
        ],
    );
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        !wrong.status.success() && stderr.contains("'passphrase-1'"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data/master.key").exists(),
        "a passphrase needs no key file"
    );
}

#[test]
fn a_broken_config_file_is_reported_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keyway.toml");
    std::fs::write(
        &file,
        "[vault]\nmaster_passphrase = hunter2-unquoted-secret\n",
    )
    .unwrap();
    let out = keyway(
        dir.path(),
        &["--config", file.to_str().unwrap(), "migrate"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("could not be read as TOML"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the error quotes the secret: {stderr}"
    );
}

#[test]
fn curl_import_works_offline() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(keyway(
        dir.path(),
        &[
            "curl",
            "import",
            "curl https://api.example.com/v1/items -H 'Accept: application/json' -d name=Ann -d 'team=A&B'",
        ],
        &[],
    ));
    let import: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(import["request"]["method"], "POST");
    assert_eq!(import["request"]["body"], "name=Ann&team=A&B");
    assert_eq!(import["request"]["content_type"], "urlencoded");
    assert_eq!(
        import["request"]["headers"],
        json!([{"name": "Accept", "value": "application/json"}])
    );
    assert!(
        !dir.path().join("data").exists(),
        "an offline import touches no database"
    );

    let out = keyway(
        dir.path(),
        &["curl", "import", "curl -L --max-time 5 https://x.example"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["error"]["code"], "unsupported_curl_options");
    assert_eq!(error["error"]["options"], json!(["-L", "--max-time"]));
}

/// Tokens have a life: they expire, can be listed (never shown) and revoked, and a disabled
/// user's tokens stop at once, all through the CLI against a running `keyway serve`.
#[tokio::test]
async fn tokens_expire_are_listed_revoked_and_end_with_their_user() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The caller cache off, so a revocation shows on the very next request.
    let server = serve(d, &[("KEYWAY_CACHE_TTL_MS", "0")]).await;
    ok(keyway(d, &["org", "create", "acme"], &[]));
    for name in ["alice", "bob"] {
        ok(keyway(
            d,
            &["user", "create", "--org", "acme", "--name", name],
            &[],
        ));
    }
    let create = |user: &str, ttl: &str| {
        ok(keyway(
            d,
            &[
                "token", "create", "--org", "acme", "--user", user, "--ttl", ttl,
            ],
            &[],
        ))
    };
    let short = create("alice", "2s");
    let default = ok(keyway(
        d,
        &["token", "create", "--org", "acme", "--user", "alice"],
        &[],
    ));
    let forever = create("alice", "never");
    let bob = create("bob", "1h");
    let bad = keyway(
        d,
        &[
            "token", "create", "--org", "acme", "--user", "alice", "--ttl", "soon",
        ],
        &[],
    );
    assert!(!bad.status.success());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let me = |token: String| {
        let client = client.clone();
        let url = format!("{}/v1/me", server.base);
        async move {
            call(&client, reqwest::Method::GET, url, &token, None)
                .await
                .0
        }
    };
    for token in [&short, &default, &forever, &bob] {
        assert_eq!(me(token.clone()).await, 200);
    }

    let listing = ok(keyway(
        d,
        &["token", "list", "--org", "acme", "--user", "alice"],
        &[],
    ));
    assert_eq!(
        listing.lines().count(),
        4,
        "a header and three tokens:\n{listing}"
    );
    assert!(listing.contains("never"), "{listing}");
    for token in [&short, &default, &forever] {
        let secret = token.rsplit('_').next().unwrap();
        assert!(!listing.contains(secret), "the list never shows a token");
    }
    // The default is 90 days.
    let in_90_days = time::OffsetDateTime::now_utc() + time::Duration::days(90);
    assert!(
        listing.contains(&in_90_days.date().to_string()),
        "{listing}"
    );

    // Expiry: 401 once the 2 s have passed.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(me(short.clone()).await, 401);

    // Revoking one token by ID leaves the others.
    let id_of = |token: &str| {
        token
            .trim_start_matches("kw_")
            .split('_')
            .next()
            .unwrap()
            .to_owned()
    };
    let alice_id = id_of(&default);
    let revoke_one = [
        "token", "revoke", "--org", "acme", "--user", "alice", "--id", &alice_id,
    ];
    ok(keyway(d, &revoke_one, &[]));
    assert_eq!(me(default.clone()).await, 401);
    assert_eq!(me(forever.clone()).await, 200);
    let again = keyway(d, &revoke_one, &[]);
    assert!(!again.status.success(), "revoking twice says so");

    // A disabled user's tokens end at once; other users are untouched.
    ok(keyway(
        d,
        &["user", "disable", "--org", "acme", "--user", "alice"],
        &[],
    ));
    assert_eq!(me(forever.clone()).await, 401);
    assert_eq!(me(bob.clone()).await, 200);
    // Revoking all of bob's tokens.
    ok(keyway(
        d,
        &["token", "revoke", "--org", "acme", "--user", "bob"],
        &[],
    ));
    assert_eq!(me(bob).await, 401);
}

/// `keyway login-link` prints a link that signs the user in to the console once.
#[tokio::test]
async fn login_link_signs_in_to_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]).await;
    ok(keyway(dir.path(), &["org", "create", "acme"], &[]));
    ok(keyway(
        dir.path(),
        &["user", "create", "--org", "acme", "--name", "alice"],
        &[],
    ));
    let env = [("KEYWAY_PUBLIC_URL", server.base.as_str())];
    let link = ok(keyway(
        dir.path(),
        &["login-link", "--org", "acme", "--user", "alice"],
        &env,
    ));
    let prefix = format!("{}/console/link?token=", server.base);
    assert!(link.starts_with(&prefix), "{link}");
    let browser = keyway_testkit::browser::Browser::new(&server.base);
    let page = browser.get(&link).await;
    let csrf = page.field("csrf").unwrap();
    let secret = &link[prefix.len()..];
    let done = browser
        .post("/console/link", &[("csrf", &csrf), ("link", secret)])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let list = browser.get("/console/credentials").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("alice"), "{}", list.body);
    let unknown = keyway(
        dir.path(),
        &["login-link", "--org", "acme", "--user", "nobody"],
        &env,
    );
    assert!(!unknown.status.success());
}
