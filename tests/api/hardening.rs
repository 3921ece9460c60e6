//! Issue 8's reproductions, each a black-box test through the API: methods that echo a
//! credential back, plain-HTTP destinations, literal secrets in definitions, requests that
//! grow while rendered, and uses that must be on record before they leave.

use crate::both_backends;
use crate::dispatch::{wait_for_audit, wait_for_events};
#[allow(unused_imports)]
use crate::helpers::*;
use crate::upstream::{Tls, Upstream};
use serde_json::{json, Value};
use std::time::Duration;

async fn api_key(app: &TestApp, user: &User, key: &str, extra: Value) -> String {
    let mut body = json!({"name": secret("n"), "kind": "api_key", "api_key": key});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let res = app
        .call("POST", "/v1/credentials", &user.token, Some(body))
        .await;
    assert_eq!(res.status, 201, "{}", res.json);
    res.json["id"].as_str().unwrap().to_owned()
}

both_backends! {
async fn only_call_methods_carry_a_credential(app) {
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let key = secret("key");
    let credential = api_key(&app, &alice, &key, json!({"shared": true})).await;
    let url = upstream.url("http", "upstream.test", "/echo");
    for method in ["TRACE", "TRACK", "CONNECT", "PROPFIND", "get "] {
        let request = json!({"method": method, "url": url, "credential_id": credential});
        let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({"request": request}))).await;
        assert_eq!((res.status, res.code()), (400, "invalid_request"), "{method}: {}", res.json);
        assert_eq!(res.json["error"]["field"], "method");
        let res = app.call("POST", "/v1/web-services", &alice.token, Some(json!({"name": "t", "request": request}))).await;
        assert_eq!((res.status, res.code()), (400, "invalid_request"), "{method}");
    }
    let res = app.call("POST", "/v1/curl/import", &alice.token, Some(json!({"command": format!("curl -X TRACE {url}")}))).await;
    assert_eq!((res.status, res.code()), (400, "invalid_curl_command"), "{}", res.json);
    assert!(upstream.requests().is_empty(), "nothing was sent");
    // The seven call methods pass, in any letter case.
    for method in ["GET", "head", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
            "request": {"method": method, "url": url, "credential_id": credential},
        }))).await;
        assert_eq!(res.status, 200, "{method}: {}", res.json);
    }
    assert_eq!(upstream.requests().len(), 7);
    app.assert_secrets_kept(&[&key]).await;
}

async fn a_credential_travels_over_plain_http_only_where_allowed(app) {
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let key = secret("key");
    let any_host = api_key(&app, &alice, &key, json!({})).await;
    // Loopback is in this app's dispatch.allow_networks: plain HTTP there is allowed.
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
        "request": {"url": upstream.url("http", "upstream.test", "/"), "credential_id": any_host},
    }))).await;
    assert_eq!(res.status, 200, "{}", res.json);
    // A public host over plain HTTP, not listed with http://: refused. The audit device is
    // broken first, so that if this check failed the call would still be refused (nothing is
    // sent unaudited) and no packet could leave loopback.
    break_audit(&app).await;
    for url in ["http://public.test/x", "http://93.184.215.14/x", "HTTP://public.test:80/x"] {
        let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
            "request": {"url": url, "credential_id": any_host},
        }))).await;
        assert_eq!((res.status, res.code()), (400, "insecure_destination"), "{url}: {}", res.json);
        assert!(res.json["error"]["host"].as_str().unwrap().contains('.'));
    }
    // https:// to the same host passes this check (and meets the broken audit device).
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
        "request": {"url": "https://public.test/x", "credential_id": any_host},
    }))).await;
    assert_eq!((res.status, res.code()), (503, "audit_unavailable"), "{}", res.json);
    mend_audit(&app).await;
    // Listed with an explicit http://, the credential may go: the destination policy decides.
    let listed = api_key(&app, &alice, &secret("k2"), json!({"allowed_hosts": ["http://internal.test"]})).await;
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
        "request": {"url": "http://internal.test/x", "credential_id": listed},
    }))).await;
    assert_eq!((res.status, res.code()), (403, "destination_not_allowed"), "{}", res.json);
    let message = res.json["error"]["message"].as_str().unwrap();
    assert!(!message.contains("10.1.2.3") && !message.contains("private"), "what a name resolved to stays inside: {message}");
    let res = app.call("GET", &format!("/v1/credentials/{listed}"), &alice.token, None).await;
    assert_eq!(res.json["allowed_hosts"], json!(["http://internal.test"]));
    // Without a credential nothing secret travels: plain HTTP is the caller's business.
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
        "request": {"url": "http://internal.test/x"},
    }))).await;
    assert_eq!(res.code(), "destination_not_allowed");
    app.assert_secrets_kept(&[&key]).await;
}

async fn a_definition_cannot_set_the_headers_keyway_sets(app) {
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let key = secret("key");
    let credential = api_key(&app, &alice, &key, json!({"allowed_hosts": ["http://upstream.test"]})).await;
    let url = upstream.url("http", "upstream.test", "/json");
    // A `Host` would aim the signed call at another virtual host than the one allowed; a
    // `Content-Length` on a body-less call would leave a pooled connection out of step.
    for (name, value) in [("Host", "attacker.test"), ("content-length", "200"), ("Transfer-Encoding", "chunked"), ("Connection", "close")] {
        let request = json!({"url": url, "credential_id": credential, "headers": [{"name": name, "value": value}]});
        let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({"request": request}))).await;
        assert_eq!((res.status, res.code()), (400, "invalid_request"), "{name}: {}", res.json);
        assert_eq!(res.json["error"]["field"], "headers");
        assert!(res.json["error"]["message"].as_str().unwrap().contains(name), "{}", res.json);
        let res = app.call("POST", "/v1/web-services", &alice.token, Some(json!({"name": "t", "request": request}))).await;
        assert_eq!((res.status, res.code()), (400, "invalid_request"), "{name}: {}", res.json);
    }
    assert!(upstream.requests().is_empty(), "nothing was sent");
    // Pasted from docs or a browser: imported without them, with a word.
    let res = app.call("POST", "/v1/curl/import", &alice.token, Some(json!({
        "command": format!("curl {url} -H 'Host: attacker.test' -H 'Content-Length: 200' -H 'Accept: application/json'"),
    }))).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let headers = res.json["request"]["headers"].as_array().unwrap();
    assert_eq!(headers.len(), 1, "only Accept is kept: {}", res.json);
    let warnings = res.json["warnings"].to_string();
    assert!(warnings.contains("Host header is left out") && warnings.contains("Content-Length header is left out"), "{warnings}");

    // A definition stored before they were refused: the header is not sent.
    let res = app.call("POST", "/v1/web-services", &alice.token, Some(json!({"name": "old", "request": {
        "url": url, "credential_id": credential, "headers": [{"name": "X-Was-Host", "value": "attacker.test"}],
    }}))).await;
    assert_eq!(res.status, 201, "{}", res.json);
    let id = res.json["id"].as_str().unwrap().to_owned();
    app.sql("UPDATE web_services SET request = REPLACE(request, 'X-Was-Host', 'Host') WHERE id = $1", &[&id]).await;
    let res = app.call("GET", &format!("/v1/web-services/{id}"), &alice.token, None).await;
    assert_eq!(res.json["request"]["headers"][0]["name"], "Host", "the stored definition holds it: {}", res.json);
    let res = app.call("POST", &format!("/v1/web-services/{id}/run"), &alice.token, Some(json!({}))).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    let host = seen[0].header("host").unwrap_or_default().to_owned();
    assert!(host.starts_with("upstream.test"), "the URL's host, not the stored one: {host}");
    app.assert_secrets_kept(&[&key]).await;
}

async fn piped_values_cannot_climb_the_path(app) {
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let key = secret("key");
    let credential = api_key(&app, &alice, &key, json!({"allowed_hosts": ["http://upstream.test"]})).await;
    let url = upstream.url("http", "upstream.test", "/v1/users/${id}/profile");
    let request = json!({"url": url, "credential_id": credential});
    // A survey answer of `..` would have sent the signed call to /v1/profile.
    for id in ["..", ".", "%2e%2e"] {
        let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({"request": request, "context": {"id": id}}))).await;
        if id.starts_with('%') {
            // Percent signs in a piped value are encoded: `%252e%252e` is a plain segment.
            assert_eq!(res.status, 200, "{id}: {}", res.json);
            continue;
        }
        assert_eq!((res.status, res.code()), (400, "invalid_request"), "{id}: {}", res.json);
        assert_eq!(res.json["error"]["field"], "url");
    }
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({"request": request, "context": {"id": "a..b"}}))).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let targets: Vec<String> = upstream.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(targets, ["/v1/users/%252e%252e/profile", "/v1/users/a..b/profile"]);
    app.assert_secrets_kept(&[&key]).await;
}

async fn literal_secrets_are_not_stored_in_definitions(app) {
    let alice = app.user("acme", "alice", false).await;
    let pasted = secret("pasted");
    let cases = [
        (json!({"url": "https://api.example.com/x", "headers": [{"name": "X-API-Key", "value": pasted}]}), "headers"),
        (json!({"url": "https://api.example.com/x", "headers": [{"name": "X-Auth-Token", "value": pasted}]}), "headers"),
        (json!({"url": format!("https://api.example.com/x?api_key={pasted}")}), "url"),
        (json!({"url": format!("https://api.example.com/x?q=1&access_token={pasted}")}), "url"),
        (json!({"url": format!("https://api.example.com/x?Signature={pasted}&key=${{k}}")}), "url"),
        (json!({"url": format!("https://api.example.com/x?key={pasted}")}), "url"),
        (json!({"url": format!("https://me:{pasted}@api.example.com/x")}), "url"),
        (json!({"url": format!("https://{pasted}@api.example.com/x")}), "url"),
    ];
    for (request, field) in &cases {
        let res = app.call("POST", "/v1/web-services", &alice.token, Some(json!({"name": "leaky", "request": request}))).await;
        assert_eq!((res.status, res.code()), (400, "invalid_request"), "{request}: {}", res.json);
        assert_eq!(res.json["error"]["field"], *field);
        assert!(res.json["error"]["message"].as_str().unwrap().contains("credential"), "{}", res.json);
    }
    let res = app.call("POST", "/v1/web-services", &alice.token, Some(json!({
        "name": "leaky", "curl": format!("curl 'https://api.example.com/x?api_key={pasted}' -H 'X-API-Key: {pasted}'"),
    }))).await;
    assert_eq!(res.status, 400, "the issue's reproduction: {}", res.json);
    // Placeholders, empty values and bare schemes stay allowed.
    let res = app.call("POST", "/v1/web-services", &alice.token, Some(json!({"name": "fine", "request": {
        "url": "https://api.example.com/x?api_key=${e://Field/Key}&token=&q=plain",
        "headers": [{"name": "X-API-Key", "value": "${e://Field/Key}"}, {"name": "Authorization", "value": "Bearer ${t}"}, {"name": "Idempotency-Key", "value": "abc"}],
    }}))).await;
    assert_eq!(res.status, 201, "{}", res.json);
    app.assert_secrets_kept(&[&pasted]).await;
}

async fn requests_are_limited_while_they_are_rendered(app) {
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let big = "x".repeat(100_000);
    // The reproduction: 20,000 placeholders and a 100 KB value (2 GB rendered).
    let body = format!("<a>{}</a>", "${a}".repeat(20_000));
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
        "request": {"method": "POST", "url": upstream.url("http", "upstream.test", "/"), "body": body, "content_type": "xml"},
        "context": {"a": big},
    }))).await;
    assert_eq!((res.status, res.code()), (413, "rendered_request_too_large"), "{}", res.json);
    assert_eq!(res.json["error"]["part"], "body");
    assert_eq!(res.json["error"]["limit_bytes"], 1024 * 1024);
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
        "request": {"url": upstream.url("http", "upstream.test", "/${a}")},
        "context": {"a": "y".repeat(9000)},
    }))).await;
    assert_eq!((res.status, res.json["error"]["part"].as_str()), (413, Some("url")), "{}", res.json);
    let headers: Vec<Value> = (0..5).map(|i| json!({"name": format!("X-H{i}"), "value": "${a}"})).collect();
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
        "request": {"url": upstream.url("http", "upstream.test", "/"), "headers": headers},
        "context": {"a": "z".repeat(7000)},
    }))).await;
    assert_eq!((res.status, res.json["error"]["part"].as_str()), (413, Some("header values")), "{}", res.json);
    assert!(upstream.requests().is_empty(), "nothing oversized went out");
    // Exactly at the body limit passes; one byte more does not.
    for (tail, status) in [("", 200), ("!", 413)] {
        let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
            "request": {"method": "POST", "url": upstream.url("http", "upstream.test", "/"), "body": format!("{}{tail}", "${a}".repeat(8)), "content_type": "text"},
            "context": {"a": "w".repeat(128 * 1024)},
        }))).await;
        assert_eq!(res.status, status, "{}", res.json);
    }
    assert_eq!(upstream.requests().len(), 1);
    assert_eq!(upstream.requests()[0].body.len(), 1024 * 1024);
}

async fn every_use_is_on_record_before_it_leaves(app) {
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let key = secret("key");
    let credential = api_key(&app, &alice, &key, json!({})).await;
    // A caller that goes away while the upstream is slow.
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let sent = client
        .post(format!("{}/v1/dispatch", app.address))
        .bearer_auth(&alice.token)
        .json(&json!({"request": {"url": upstream.url("http", "upstream.test", "/slow/1500"), "credential_id": credential}}))
        .send()
        .await;
    assert!(sent.is_err(), "the caller gave up");
    for _ in 0..100 {
        if !upstream.requests().is_empty() { break; }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(upstream.requests().len(), 1, "the upstream received the call");
    let uses = wait_for_audit(&app, &alice.token, &credential, 1).await;
    assert_eq!(uses[0]["outcome"], "started");
    let call_id = uses[0]["detail"]["call_id"].as_str().unwrap().to_owned();
    // actix-web lets a handler run to its end after its caller left, so the call finishes
    // and its result is recorded (a call dropped some other way is recorded as `abandoned`).
    let result = wait_for_events(&app, &alice.token, &credential, "credential.use.result", 1).await[0].clone();
    assert_eq!(result["outcome"], "success", "{result}");
    assert_eq!(result["detail"]["call_id"], call_id.as_str());

    // An answered call: its use, then its result.
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
        "request": {"url": upstream.url("http", "upstream.test", "/json"), "credential_id": credential},
    }))).await;
    assert_eq!(res.status, 200);

    // A failing audit device: the database refuses audit writes. The call is refused and
    // the upstream sees nothing, as Vault refuses requests it cannot audit.
    let seen = upstream.requests().len();
    break_audit(&app).await;
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
        "request": {"url": upstream.url("http", "upstream.test", "/json"), "credential_id": credential},
    }))).await;
    assert_eq!((res.status, res.code()), (503, "audit_unavailable"), "{}", res.json);
    assert_eq!(upstream.requests().len(), seen, "an unaudited call never leaves");
    mend_audit(&app).await;
    let res = app.call("POST", "/v1/dispatch", &alice.token, Some(json!({
        "request": {"url": upstream.url("http", "upstream.test", "/json"), "credential_id": credential},
    }))).await;
    assert_eq!(res.status, 200, "calls go out again once the audit log can be written: {}", res.json);
    app.assert_secrets_kept(&[&key]).await;
}
}

/// A failing audit device: the database refuses every audit write.
async fn break_audit(app: &TestApp) {
    match app.db {
        Db::Sqlite => app.sql("CREATE TRIGGER audit_broken BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'audit device failed'); END", &[]).await,
        Db::Postgres => {
            app.sql("CREATE OR REPLACE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit device failed'; END $$", &[]).await;
            app.sql("CREATE TRIGGER audit_broken BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION audit_broken()", &[]).await;
        }
    }
}

async fn mend_audit(app: &TestApp) {
    match app.db {
        Db::Sqlite => app.sql("DROP TRIGGER audit_broken", &[]).await,
        Db::Postgres => {
            app.sql("DROP TRIGGER audit_broken ON audit_entries", &[])
                .await
        }
    }
}

/// A name whose DNS servers never answer; every other name as the tests' resolver has it.
#[derive(Debug)]
struct Silent;

impl keyway_net::resolver::Lookup for Silent {
    fn lookup(
        &self,
        host: &str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Vec<std::net::IpAddr>>> + Send>,
    > {
        if host == "silent.test" {
            Box::pin(std::future::pending())
        } else {
            test_lookup().lookup(host)
        }
    }
}

both_backends! {
// The plain-HTTP check resolves the name to see whether it is on an allowed network; that
// lookup waited without end for a name whose servers never answer (and, 64 at once, held
// every resolver slot). It now ends with the call's time limit: 504 `upstream_timeout`.
async fn a_lookup_that_never_answers_ends_with_the_call(_app) {
    let app = spawn_app_resolving(
        _app.db,
        |s| s.dispatch.timeout_ms = 1000,
        std::sync::Arc::new(Silent),
    )
    .await;
    let alice = app.user("acme", "alice", false).await;
    let credential = api_key(&app, &alice, &secret("key"), json!({})).await;
    let request = json!({"url": "http://silent.test:9/x", "credential_id": credential});
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        app.call("POST", "/v1/dispatch", &alice.token, Some(json!({"request": request}))),
    )
    .await
    .expect("answered within the call's limit, not left waiting on DNS");
    assert_eq!((res.status, res.code()), (504, "upstream_timeout"), "{}", res.json);
    assert!(started.elapsed() < Duration::from_secs(5));
}
}
