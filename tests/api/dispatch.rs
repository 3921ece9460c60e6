//! Dispatch end to end: what real upstreams on loopback receive for each credential kind and
//! content type, piped values, TLS and mTLS, limits, and destination refusals.

use crate::both_backends;
#[allow(unused_imports)]
use crate::helpers::*;
use crate::helpers::{secret, spawn_app, spawn_app_configured, Db, TestApp};
use crate::upstream::{Pki, Tls, Upstream};
use serde_json::{json, Value};

/// Values with quotes, ampersands, `<`, unicode and a newline.
fn tricky_context() -> Value {
    json!({
        "e://Field/Name": "O'Brien & \"Sons\" <ü> ☃\nline2",
        "id": "a/b?c=d&e",
    })
}

const TRICKY: &str = "O'Brien & \"Sons\" <ü> ☃\nline2";

async fn dispatch(
    app: &TestApp,
    token: &str,
    request: Value,
    context: Value,
) -> crate::helpers::Resp {
    app.call(
        "POST",
        "/v1/dispatch",
        token,
        Some(json!({"request": request, "context": context})),
    )
    .await
}

both_backends! {
async fn each_kind_and_content_type_reaches_the_upstream_exactly(app) {
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let password = secret("pw");
    let api_key = secret("key");
    let query_key = secret("qkey");
    let basic = app.credential(&alice.token, json!({
        "name": "basic", "kind": "basic", "username": "svc", "password": password,
    }))
    .await;
    let header_key = app.credential(&alice.token, json!({
        "name": "qualtrics", "kind": "api_key", "api_key": api_key, "header_name": "X-API-TOKEN",
    }))
    .await;
    let query = app.credential(&alice.token, json!({
        "name": "query", "kind": "api_key", "api_key": query_key, "query_param": "api_key",
    }))
    .await;

    let url = upstream.url("http", "upstream.test", "/items/${id}?q=${id}&x=1");
    let cases = [
        ("json", r#"{"name":"${e://Field/Name}"}"#, json!({"name": TRICKY}).to_string(), "application/json"),
        ("xml", "<n>${e://Field/Name}</n>", "<n>O&apos;Brien &amp; &quot;Sons&quot; &lt;ü&gt; ☃\nline2</n>".to_owned(), "application/xml"),
        ("urlencoded", "name=${e://Field/Name}&id=${id}", "name=O%27Brien+%26+%22Sons%22+%3C%C3%BC%3E+%E2%98%83%0Aline2&id=a%2Fb%3Fc%3Dd%26e".to_owned(), "application/x-www-form-urlencoded"),
        ("text", "hello ${e://Field/Name}", format!("hello {TRICKY}"), "text/plain; charset=utf-8"),
    ];
    for (i, (content_type, body, expected_body, mime)) in cases.iter().enumerate() {
        let res = dispatch(&app, &alice.token, json!({
            "method": "PUT", "url": url, "content_type": content_type, "body": body,
            "headers": [{"name": "X-Trace", "value": "t-${id}"}],
            "credential_id": basic,
        }), tricky_context())
        .await;
        assert_eq!(res.status, 200, "{content_type}: {}", res.json);
        assert_eq!(res.json["status"], 200);
        assert_eq!(res.json["body"], "ok");
        assert_eq!(res.json["attempts"], 1);
        assert!(res.json["duration_ms"].is_u64());
        let seen = upstream.requests()[i].clone();
        assert_eq!(seen.method, "PUT");
        assert_eq!(seen.target, "/items/a%2Fb%3Fc%3Dd%26e?q=a%2Fb%3Fc%3Dd%26e&x=1");
        assert_eq!(String::from_utf8(seen.body.clone()).unwrap(), *expected_body, "{content_type}");
        assert_eq!(seen.header("content-type"), Some(*mime));
        assert_eq!(seen.header("x-trace"), Some("t-a/b?c=d&e"));
        use base64::Engine;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("svc:{password}"))
        );
        assert_eq!(seen.header("authorization"), Some(expected.as_str()));
    }

    // API key in a header with no prefix, replacing a header of the same name.
    let res = dispatch(&app, &alice.token, json!({
        "url": upstream.url("http", "upstream.test", "/json"),
        "headers": [{"name": "x-api-token", "value": "from-definition"}],
        "credential_id": header_key,
    }), json!({}))
    .await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json["json"], json!({"ok": true, "items": [1, 2]}));
    let seen = upstream.requests().last().unwrap().clone();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.header("x-api-token"), Some(api_key.as_str()));
    assert_eq!(seen.headers.iter().filter(|(n, _)| n == "x-api-token").count(), 1);
    assert_eq!(seen.header("authorization"), None);

    // API key as a query parameter, appended to the definition's own query.
    let res = dispatch(&app, &alice.token, json!({
        "url": upstream.url("http", "upstream.test", "/q?a=1%202"),
        "credential_id": query,
    }), json!({}))
    .await;
    assert_eq!(res.status, 200, "{}", res.json);
    let seen = upstream.requests().last().unwrap().clone();
    assert_eq!(seen.target, format!("/q?a=1%202&api_key={query_key}"));

    // Every use was audited before it left, then its result with the upstream status;
    // nothing secret.
    let uses = wait_for_audit(&app, &alice.token, &basic, 4).await;
    assert!(uses.iter().all(|e| e["outcome"] == "started" && e["detail"]["host"] == "upstream.test"), "{uses:?}");
    let results = wait_for_events(&app, &alice.token, &basic, "credential.use.result", 4).await;
    let detail = &results[0]["detail"];
    assert_eq!(detail["host"], serde_json::Value::Null, "the host is on the use only");
    assert_eq!(detail["status"], 200);
    assert_eq!(results[0]["outcome"], "success");
    assert!(uses.iter().any(|u| u["detail"]["call_id"] == detail["call_id"]), "a result names its use");
    app.assert_secrets_kept(&[&password, &api_key, &query_key]).await;
}
}

/// Polls the audit log until `count` use events of `credential` are there (the writer batches).
pub async fn wait_for_audit(
    app: &TestApp,
    token: &str,
    credential: &str,
    count: usize,
) -> Vec<Value> {
    wait_for_events(app, token, credential, "credential.use", count).await
}

/// At least `count` events with `action` on `credential`, newest first.
pub async fn wait_for_events(
    app: &TestApp,
    token: &str,
    credential: &str,
    action: &str,
    count: usize,
) -> Vec<Value> {
    for _ in 0..100 {
        let res = app
            .call(
                "GET",
                &format!("/v1/audit?credential_id={credential}"),
                token,
                None,
            )
            .await;
        let uses: Vec<Value> = res.json["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect();
        if uses.len() >= count {
            return uses;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the audit log never showed {count} {action} events of the credential");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_mutual_tls_against_real_rustls_servers() {
    let server_pki = Pki::new("Upstream CA");
    let client_pki = Pki::new("Client CA");
    let rogue_pki = Pki::new("Rogue CA");
    let server_leaf = server_pki.leaf("upstream", &["localhost", "upstream.test"]);
    let client_leaf = client_pki.leaf("keyway-client", &[]);
    let rogue_leaf = rogue_pki.leaf("rogue-client", &[]);
    let tls = Upstream::start(Tls::Server(&server_leaf)).await;
    let mtls = Upstream::start(Tls::Mutual(&server_leaf, &client_pki)).await;

    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    // The public roots do not know the upstream's private CA.
    let res = dispatch(
        &app,
        &alice.token,
        json!({"url": tls.url("https", "upstream.test", "/json")}),
        json!({}),
    )
    .await;
    assert_eq!(res.status, 502, "{}", res.json);
    assert_eq!(res.code(), "upstream_unreachable");
    let message = res.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("TLS handshake failed") && message.contains("UnknownIssuer"),
        "{message}"
    );

    let key = secret("mtls-api-key");
    let good = app.credential(&alice.token, json!({
        "name": "mtls", "kind": "api_key", "api_key": key,
        "mtls": {"certificate_pem": client_leaf.cert_pem, "private_key_pem": client_leaf.key_pem,
                 "ca_certificate_pem": server_pki.ca_pem},
    }))
    .await;
    let rogue = app.credential(
        &alice.token,
        json!({
            "name": "rogue", "kind": "api_key", "api_key": "x",
            "mtls": {"certificate_pem": rogue_leaf.cert_pem, "private_key_pem": rogue_leaf.key_pem,
                     "ca_certificate_pem": server_pki.ca_pem},
        }),
    )
    .await;
    for _ in 0..2 {
        let res = dispatch(
            &app,
            &alice.token,
            json!({
                "url": mtls.url("https", "localhost", "/json"), "credential_id": good,
            }),
            json!({}),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.json);
        assert_eq!(res.json["json"]["ok"], true);
    }
    let seen = mtls.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|s| s.client_cn.as_deref() == Some("keyway-client")));
    assert_eq!(
        seen[0].peer, seen[1].peer,
        "the identity's client is built once and its connection reused"
    );
    let bearer = format!("Bearer {key}");
    assert_eq!(seen[0].header("authorization"), Some(bearer.as_str()));

    let res = dispatch(
        &app,
        &alice.token,
        json!({
            "url": mtls.url("https", "localhost", "/json"), "credential_id": rogue,
        }),
        json!({}),
    )
    .await;
    assert_eq!(res.code(), "upstream_unreachable", "{}", res.json);
    let message = res.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("TLS handshake failed"), "{message}");

    // No client certificate at all, with the server's CA trusted for every call.
    let with_ca = spawn_app_configured(Db::Sqlite, |settings| {
        let file = settings.data_dir.join("extra-ca.pem");
        std::fs::write(&file, &server_pki.ca_pem).unwrap();
        settings.dispatch.extra_ca_file = file.display().to_string();
    })
    .await;
    let bob = with_ca.user("acme", "bob", false).await;
    let res = dispatch(
        &with_ca,
        &bob.token,
        json!({"url": tls.url("https", "localhost", "/json")}),
        json!({}),
    )
    .await;
    assert_eq!(res.status, 200, "the extra CA is trusted: {}", res.json);
    let res = dispatch(
        &with_ca,
        &bob.token,
        json!({"url": mtls.url("https", "localhost", "/json")}),
        json!({}),
    )
    .await;
    assert_eq!(res.code(), "upstream_unreachable", "{}", res.json);
    let message = res.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("TLS handshake failed") && message.contains("CertificateRequired"),
        "{message}"
    );
    assert_eq!(
        mtls.requests().len(),
        2,
        "no request got through without the right certificate"
    );
    app.assert_secrets_kept(&[&key, client_leaf.key_pem.lines().nth(1).unwrap()])
        .await;
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_size_time_and_redirects() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let get = |path: &str| json!({"url": upstream.url("http", "127.0.0.1", path)});

    let res = dispatch(&app, &alice.token, get("/bytes/1048576"), json!({})).await;
    assert_eq!(res.status, 200, "exactly 1 MiB is allowed");
    assert_eq!(res.json["body"].as_str().unwrap().len(), 1_048_576);
    for path in ["/bytes/1048577", "/stream/1048577"] {
        let res = dispatch(&app, &alice.token, get(path), json!({})).await;
        assert_eq!(res.status, 502, "{path}");
        assert_eq!(res.code(), "response_too_large", "{path}");
        assert_eq!(res.json["error"]["limit_bytes"], 1_048_576);
    }
    // A 512 MiB stream is cut off at the limit: the peak memory of this process (which runs
    // Keyway and the upstream) does not grow by anything near the stream's size.
    let before = peak_rss_kib();
    let res = dispatch(&app, &alice.token, get("/stream/536870912"), json!({})).await;
    assert_eq!(res.code(), "response_too_large");
    // Saturating: the kernel's RSS counters are approximate per CPU, so a read of the peak
    // can come out a little below an earlier one when nothing grew.
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 64, "peak memory grew by {grown_mib} MiB");

    let mut slow = get("/slow/5000");
    slow["timeout_ms"] = json!(300);
    let res = dispatch(&app, &alice.token, slow, json!({})).await;
    assert_eq!(res.status, 504, "{}", res.json);
    assert_eq!(res.code(), "upstream_timeout");

    let res = dispatch(&app, &alice.token, get("/redirect"), json!({})).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json["status"], 302, "a redirect comes back as it is");
    let location = res.json["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "location")
        .unwrap();
    assert_eq!(
        location["value"],
        "http://169.254.169.254/latest/meta-data/"
    );

    let res = dispatch(&app, &alice.token, get("/binary"), json!({})).await;
    assert_eq!(res.json["body"], Value::Null);
    assert_eq!(res.json["body_base64"], "//4AgA==");
    let res = dispatch(&app, &alice.token, get("/status/503"), json!({})).await;
    assert_eq!((res.status, res.json["status"].as_u64()), (200, Some(503)));

    assert_eq!(
        app.raw("GET", "/no/such/path", None, None).await.status,
        404
    );
    let metrics = app.raw("GET", "/metrics", None, None).await;
    let metrics = metrics.json.as_str().unwrap();
    for line in [
        r#"keyway_dispatch_calls_total{kind="none",outcome="response_too_large"} 3"#,
        r#"keyway_dispatch_calls_total{kind="none",outcome="upstream_timeout"} 1"#,
        r#"keyway_dispatch_calls_total{kind="none",outcome="answered"} 4"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    assert!(metrics.contains("keyway_dispatch_upstream_seconds_bucket"));
    assert!(
        metrics.contains(
            r#"keyway_http_requests_total{method="POST",route="/v1/dispatch",status="502"} 3"#
        ),
        "requests are labelled by route pattern:\n{metrics}"
    );
    assert!(
        metrics.contains(
            r#"keyway_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{metrics}"
    );

    let count = upstream.requests().len();
    assert_eq!(
        count, 8,
        "each call reached the upstream once; the redirect was not followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_values_cannot_inject_headers_and_strict_names_missing_keys() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let request = json!({
        "url": upstream.url("http", "upstream.test", "/x/${id}"),
        "headers": [{"name": "X-Name", "value": "${e://Field/Name}"}],
    });
    let res = dispatch(&app, &alice.token, request.clone(), tricky_context()).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.code(), "invalid_piped_value");
    assert_eq!(res.json["error"]["header"], "X-Name");
    let res = app
        .call(
            "POST",
            "/v1/dispatch",
            &alice.token,
            Some(json!({"request": request, "context": {}, "strict": true})),
        )
        .await;
    assert_eq!(res.code(), "missing_context_values");
    assert_eq!(
        res.json["error"]["missing"],
        json!(["e://Field/Name", "id"])
    );
    let res = dispatch(&app, &alice.token, request, json!({})).await;
    assert_eq!(
        res.status, 200,
        "missing keys are empty unless strict: {}",
        res.json
    );
    assert_eq!(upstream.requests()[0].target, "/x/");
    assert_eq!(upstream.requests()[0].header("x-name"), Some(""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_reads_follow_this_replicas_writes_at_once_and_others_within_the_ttl() {
    let ttl = std::time::Duration::from_secs(1);
    let app = spawn_app_configured(Db::Sqlite, |settings| {
        settings.cache_ttl_ms = ttl.as_millis() as u64;
    })
    .await;
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let (key1, key2) = (secret("key1"), secret("key2"));
    let id = app
        .credential(
            &alice.token,
            json!({"name": "k", "kind": "api_key", "api_key": key1}),
        )
        .await;
    let ws = app
        .call("POST", "/v1/web-services", &alice.token, Some(json!({
            "name": "w", "request": {"url": upstream.url("http", "upstream.test", "/one"), "credential_id": id},
        })))
        .await;
    let ws_id = ws.json["id"].as_str().unwrap().to_owned();
    let run = format!("/v1/web-services/{ws_id}/run");
    let last = |u: &Upstream| u.requests().last().unwrap().clone();

    assert_eq!(
        app.call("POST", &run, &alice.token, Some(json!({})))
            .await
            .status,
        200
    );
    assert_eq!(
        last(&upstream).header("authorization"),
        Some(format!("Bearer {key1}").as_str())
    );
    // Changes made through this replica apply to the very next call.
    let res = app
        .call(
            "PUT",
            &format!("/v1/credentials/{id}/secret"),
            &alice.token,
            Some(json!({"api_key": key2})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    let res = app
        .call("PUT", &format!("/v1/web-services/{ws_id}"), &alice.token, Some(json!({
            "request": {"url": upstream.url("http", "upstream.test", "/two"), "credential_id": id},
        })))
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(
        app.call("POST", &run, &alice.token, Some(json!({})))
            .await
            .status,
        200
    );
    assert_eq!(last(&upstream).target, "/two");
    assert_eq!(
        last(&upstream).header("authorization"),
        Some(format!("Bearer {key2}").as_str())
    );

    // A change behind this replica's back (another replica) shows within the TTL.
    app.sql(
        "UPDATE web_services SET request = replace(request, '/two', '/three')",
        &[],
    )
    .await;
    tokio::time::sleep(ttl + std::time::Duration::from_millis(100)).await;
    assert_eq!(
        app.call("POST", &run, &alice.token, Some(json!({})))
            .await
            .status,
        200
    );
    assert_eq!(last(&upstream).target, "/three");

    // Removal through this replica stops use at once.
    let res = app
        .call(
            "DELETE",
            &format!("/v1/credentials/{id}?force=true"),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    let res = dispatch(
        &app,
        &alice.token,
        json!({"url": upstream.url("http", "upstream.test", "/"), "credential_id": id}),
        json!({}),
    )
    .await;
    assert_eq!((res.status, res.code()), (404, "not_found"));
    app.assert_secrets_kept(&[&key1, &key2]).await;
}
