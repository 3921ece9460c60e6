//! Proxy mode end to end: clients that only changed their base URL (reqwest, curl, a raw
//! HTTP/1.1 client), real upstreams on loopback, both bodies streamed, and every refusal
//! marked with `Keyway-Error`.

use crate::auth_server::AuthServer;
use crate::both_backends;
#[allow(unused_imports)]
use crate::helpers::*;
use crate::helpers::{secret, spawn_app, spawn_app_configured, Db, TestApp};
use crate::upstream::{Pki, Tls, Upstream};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::convert::Infallible;
use tokio::sync::mpsc;

type Body = BoxBody<Bytes, Infallible>;

/// One request over a fresh HTTP/1.1 connection to Keyway: what an SDK's transport does,
/// with full control over the body (streamed, chunked, or sized).
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> hyper::Response<Incoming> {
    let authority = app.address.trim_start_matches("http://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    sender
        .send_request(request.body(body).unwrap())
        .await
        .unwrap()
}

fn empty() -> Body {
    Empty::new().boxed()
}

fn whole(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A chunked body of `total` bytes (pattern `i % 251`), in 64 KiB chunks.
fn chunked(total: usize) -> (Body, Vec<u8>) {
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = data
        .chunks(64 * 1024)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    (
        StreamBody::new(futures_util::stream::iter(chunks)).boxed(),
        data,
    )
}

async fn read_all(response: hyper::Response<Incoming>) -> Result<Vec<u8>, String> {
    response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .map_err(|e| e.to_string())
}

fn header<'a>(response: &'a hyper::Response<Incoming>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Keyway's own refusal: its status, its code in the body and in `Keyway-Error`.
async fn refused(response: hyper::Response<Incoming>) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let marked = header(&response, "keyway-error").map(str::to_owned);
    let body: Value = serde_json::from_slice(&read_all(response).await.unwrap()).unwrap();
    let code = body["error"]["code"].as_str().unwrap().to_owned();
    assert_eq!(
        marked.as_deref(),
        Some(code.as_str()),
        "Keyway-Error names the code"
    );
    (status, code, body)
}

/// The `credential.use` events of `credential` with `outcome`, once `expected` of them are
/// there or 5 s have passed (refusals and results are written behind the call).
async fn uses(app: &TestApp, credential: &str, outcome: &str, expected: i64) -> i64 {
    let query = format!(
        "SELECT COUNT(*) FROM audit_events WHERE credential_id = '{credential}' \
         AND action = 'credential.use' AND outcome = '{outcome}'"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let n = app.count(&query).await;
        if n == expected || std::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

both_backends! {
async fn an_sdk_pointed_at_the_proxy_gets_the_upstreams_answers(app) {
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let key = secret("proxy-key");
    let base = upstream.url("http", "upstream.test", "/api");
    let id = app.credential(&alice.token, json!({
        "name": "svc", "kind": "api_key", "api_key": key, "header_name": "X-API-TOKEN",
        "allowed_hosts": ["upstream.test"], "proxy_base_url": base,
    }))
    .await;
    let view = app.call("GET", &format!("/v1/credentials/{id}"), &alice.token, None).await;
    assert_eq!(view.json["proxy_base_url"], json!(base));
    assert_eq!(view.json["max_response_bytes"], Value::Null);

    // A plain reqwest client, as an SDK holds it: only the base URL is Keyway's.
    let sdk = reqwest::Client::builder().no_proxy().build().unwrap();
    let sdk_base = format!("{}/v1/proxy/{id}", app.address);
    let res = sdk
        .get(format!("{sdk_base}/items/a%2Fb?state=open&q=%20x"))
        .bearer_auth(&alice.token)
        .header("cookie", "keyway_session=s")
        .header("x-trace", "7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("keyway-error").is_none());
    assert_eq!(res.text().await.unwrap(), "ok");
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.target, "/api/items/a%2Fb?state=open&q=%20x", "path and query as sent");
    assert_eq!(seen.header("x-api-token"), Some(key.as_str()));
    assert_eq!(seen.header("x-trace"), Some("7"));
    assert_eq!(seen.header("authorization"), None, "Keyway's token stays with Keyway");
    assert_eq!(seen.header("cookie"), None);
    assert_eq!(
        seen.header("host"),
        Some(format!("upstream.test:{}", upstream.addr.port()).as_str())
    );

    // A binary body goes up byte for byte; the upstream's status and headers come back.
    let binary: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 256) as u8).collect();
    let res = sdk
        .put(format!("{sdk_base}/upload"))
        .bearer_auth(&alice.token)
        .header("content-type", "application/octet-stream")
        .body(binary.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = upstream.requests().pop().unwrap();
    assert_eq!((seen.method.as_str(), seen.body.clone()), ("PUT", binary));
    assert_eq!(seen.header("content-type"), Some("application/octet-stream"));
    assert_eq!(seen.header("content-length"), Some("3000"));

    // The base without its path, for the upstream's own routes.
    let res = app.call("PATCH", &format!("/v1/credentials/{id}"), &alice.token, Some(json!({
        "proxy_base_url": upstream.url("http", "upstream.test", ""),
    })))
    .await;
    assert_eq!(res.status, 200, "{}", res.json);

    let res = send(&app, "GET", &format!("/v1/proxy/{id}/status/503"), &[("authorization", &format!("Bearer {}", alice.token))], empty()).await;
    assert_eq!(res.status(), 503, "the upstream's own status");
    assert_eq!(header(&res, "keyway-error"), None, "not Keyway's error");
    assert_eq!(read_all(res).await.unwrap(), b"status");

    for status in [204, 304] {
        let res = send(&app, "GET", &format!("/v1/proxy/{id}/status/{status}"), &[("authorization", &format!("Bearer {}", alice.token))], empty()).await;
        assert_eq!(res.status(), status);
        assert_eq!(header(&res, "transfer-encoding"), None, "{status} has no body to frame");
        assert!(read_all(res).await.unwrap().is_empty());
    }

    let res = send(&app, "GET", &format!("/v1/proxy/{id}/binary"), &[("authorization", &format!("Bearer {}", alice.token))], empty()).await;
    assert_eq!(header(&res, "content-type"), Some("application/octet-stream"));
    let bytes = read_all(res).await.unwrap();
    assert!(bytes.contains(&0) && bytes.contains(&0xff), "binary answers come back untouched");

    // HEAD: the length, no body.
    let res = send(&app, "HEAD", &format!("/v1/proxy/{id}/bytes/1000"), &[("authorization", &format!("Bearer {}", alice.token))], empty()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-length"), Some("1000"));
    assert!(read_all(res).await.unwrap().is_empty());
    assert_eq!(upstream.requests().pop().unwrap().method, "HEAD");

    // A chunked answer, streamed back chunked.
    let res = send(&app, "GET", &format!("/v1/proxy/{id}/stream/300000"), &[("authorization", &format!("Bearer {}", alice.token))], empty()).await;
    assert_eq!(header(&res, "transfer-encoding"), Some("chunked"));
    assert_eq!(read_all(res).await.unwrap().len(), 300_000);

    // Every use is on record, and nothing of the key is anywhere it must not be.
    assert_eq!(uses(&app, &id, "started", 8).await, 8);
    app.assert_secrets_kept(&[&key]).await;
}

async fn keyways_refusals_are_marked_and_audited(app) {
    let alice = app.user("acme", "alice", false).await;
    let admin = app.user("acme", "root", true).await;
    let bob = app.user("acme", "bob", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let fenced = app.credential(&alice.token, json!({
        "name": "fenced", "kind": "api_key", "api_key": secret("k"), "allowed_hosts": ["upstream.test"],
    }))
    .await;
    let open = app.credential(&alice.token, json!({
        "name": "open", "kind": "basic", "username": "u", "password": secret("p"),
    }))
    .await;
    let bearer = format!("Bearer {}", alice.token);
    let auth = [("authorization", bearer.as_str())];
    let path = |id: &str, rest: &str| format!("/v1/proxy/{id}{rest}");

    let res = send(&app, "GET", &path(&fenced, "/json"), &[], empty()).await;
    assert_eq!(refused(res).await.0, 401);
    let res = send(&app, "GET", &path("no-such-credential", "/json"), &auth, empty()).await;
    assert_eq!(refused(res).await.1, "not_found");
    let res = send(&app, "GET", &path(&fenced, "/json"), &[("authorization", &format!("Bearer {}", bob.token))], empty()).await;
    assert_eq!(refused(res).await.1, "not_found", "an unshared credential is not bob's to use");

    let (status, code, body) = refused(send(&app, "GET", &path(&fenced, "/json"), &auth, empty()).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"));
    assert_eq!(body["error"]["field"], "Keyway-Upstream", "{body}");
    let (status, _, body) = refused(send(&app, "TRACE", &path(&fenced, "/json"), &auth, empty()).await).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("method")));
    let res = send(&app, "GET", &path(&fenced, "/json"), &[auth[0], ("keyway-upstream", "https://user:pw@upstream.test")], empty()).await;
    assert_eq!(refused(res).await.2["error"]["field"], "Keyway-Upstream");

    let elsewhere = upstream.url("http", "localhost", "");
    let res = send(&app, "GET", &path(&fenced, "/json"), &[auth[0], ("keyway-upstream", &elsewhere)], empty()).await;
    assert_eq!(refused(res).await.1, "credential_host_not_allowed");
    let res = send(&app, "GET", &path(&open, "/json"), &[auth[0], ("keyway-upstream", "http://internal.test")], empty()).await;
    assert_eq!(refused(res).await.1, "destination_not_allowed");
    let res = send(&app, "GET", &path(&open, "/json"), &[auth[0], ("keyway-upstream", "http://public.test")], empty()).await;
    assert_eq!(refused(res).await.1, "insecure_destination");
    assert!(upstream.requests().is_empty(), "nothing was sent");
    assert_eq!(uses(&app, &open, "refused", 2).await, 2, "denied uses are audited");

    // With the upstream named per request, the same credential reaches it.
    let named = upstream.url("http", "upstream.test", "");
    let res = send(&app, "GET", &path(&fenced, "/json"), &[auth[0], ("keyway-upstream", &named)], empty()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(upstream.requests().len(), 1);

    // The base must be somewhere the credential may go, and only its owner sets it.
    let res = app.call("POST", "/v1/credentials", &alice.token, Some(json!({
        "name": "astray", "kind": "api_key", "api_key": "k", "allowed_hosts": ["upstream.test"],
        "proxy_base_url": "https://other.example.com",
    })))
    .await;
    assert_eq!((res.status, res.json["error"]["field"].as_str()), (400, Some("proxy_base_url")));
    let res = app.call("PATCH", &format!("/v1/credentials/{fenced}"), &admin.token, Some(json!({"proxy_base_url": "https://upstream.test"}))).await;
    assert_eq!(res.status, 403, "{}", res.json);
    let res = app.call("PATCH", &format!("/v1/credentials/{fenced}"), &alice.token, Some(json!({"max_response_bytes": 1}))).await;
    assert_eq!((res.status, res.json["error"]["field"].as_str()), (400, Some("max_response_bytes")));
    let res = app.call("PATCH", &format!("/v1/credentials/{fenced}"), &alice.token, Some(json!({"proxy_base_url": named, "max_response_bytes": 4096}))).await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json["max_response_bytes"], 4096);
    let res = send(&app, "GET", &path(&fenced, "/json"), &auth, empty()).await;
    assert_eq!(res.status(), 200, "the saved base is used");
    // A change refused in part is refused whole: the rename that came with allowed hosts the
    // saved base is not in did not happen either, and nothing of it is in the trail.
    let before = app.call("GET", &format!("/v1/credentials/{fenced}"), &alice.token, None).await;
    let res = app.call("PATCH", &format!("/v1/credentials/{fenced}"), &alice.token, Some(json!({"name": "renamed", "allowed_hosts": ["elsewhere.example"]}))).await;
    assert_eq!((res.status, res.json["error"]["field"].as_str()), (400, Some("proxy_base_url")), "{}", res.json);
    let after = app.call("GET", &format!("/v1/credentials/{fenced}"), &alice.token, None).await;
    assert_eq!(after.json, before.json);
    let audit = app.call("GET", &format!("/v1/audit?credential_id={fenced}"), &alice.token, None).await;
    assert!(!audit.json["events"].as_array().unwrap().iter().any(|e| e["action"] == "credential.rename"), "{}", audit.json);
    let res = app.call("PATCH", &format!("/v1/credentials/{fenced}"), &alice.token, Some(json!({"proxy_base_url": null}))).await;
    assert_eq!(res.json["proxy_base_url"], Value::Null);
    assert_eq!(res.json["max_response_bytes"], 4096, "left as it was");
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_bodies_stream_without_being_held() {
    // An upstream that answers at once and echoes the request body as it arrives.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
                        Ok::<_, Infallible>(hyper::Response::new(req.into_body()))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let id = app
        .credential(
            &alice.token,
            json!({
                "name": "echo", "kind": "api_key", "api_key": secret("k"),
                "proxy_base_url": format!("http://upstream.test:{echo_port}"),
            }),
        )
        .await;
    let (chunks, receiver) = mpsc::channel::<Bytes>(1);
    let stream = futures_util::stream::unfold(receiver, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let bearer = format!("Bearer {}", alice.token);
    let mut response = send(
        &app,
        "POST",
        &format!("/v1/proxy/{id}/echo"),
        &[("authorization", &bearer), ("transfer-encoding", "chunked")],
        StreamBody::new(stream).boxed(),
    )
    .await;
    assert_eq!(response.status(), 200);
    // Ping-pong: each chunk comes back before the next one is sent, so neither body can be
    // held whole anywhere between.
    for i in 0..5u8 {
        let ping = Bytes::from(vec![b'a' + i; 1000]);
        chunks.send(ping.clone()).await.unwrap();
        let mut back = Vec::new();
        while back.len() < ping.len() {
            let frame = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                response.body_mut().frame(),
            )
            .await
            .expect("the chunk came back before the body ended")
            .unwrap()
            .unwrap();
            back.extend_from_slice(&frame.into_data().unwrap());
        }
        assert_eq!(back, ping.to_vec());
    }
    drop(chunks);
    assert!(read_all(response).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_while_streaming() {
    let app = spawn_app_configured(Db::Sqlite, |s| {
        s.dispatch.timeout_ms = 1500;
        s.dispatch.proxy_max_request_bytes = 1024 * 1024;
    })
    .await;
    let upstream = Upstream::start(Tls::Plain).await;
    let alice = app.user("acme", "alice", false).await;
    let id = app
        .credential(
            &alice.token,
            json!({
                "name": "svc", "kind": "api_key", "api_key": secret("k"),
                "proxy_base_url": upstream.url("http", "upstream.test", ""),
            }),
        )
        .await;
    let bearer = format!("Bearer {}", alice.token);
    let auth = [("authorization", bearer.as_str())];
    let at = |rest: &str| format!("/v1/proxy/{id}{rest}");

    // A large chunked upload arrives whole; one over the limit is refused, sized or not.
    let (body, data) = chunked(1000 * 1024);
    let res = send(&app, "POST", &at("/upload"), &auth, body).await;
    assert_eq!(res.status(), 200);
    assert!(
        upstream.requests().pop().unwrap().body == data,
        "arrived byte for byte"
    );
    let res = send(
        &app,
        "POST",
        &at("/upload"),
        &[auth[0], ("content-length", "2097152")],
        whole(vec![0u8; 2 * 1024 * 1024]),
    )
    .await;
    assert_eq!(
        refused(res).await,
        (
            413,
            "payload_too_large".to_owned(),
            json!({"error": {"code": "payload_too_large", "message": "the request body is larger than the limit of 1048576 bytes", "limit_bytes": 1048576}})
        )
    );
    let before = upstream.requests().len();
    let (body, _) = chunked(2 * 1024 * 1024);
    let res = send(&app, "POST", &at("/upload"), &auth, body).await;
    assert_eq!(refused(res).await.1, "payload_too_large");
    assert_eq!(
        upstream.requests().len(),
        before,
        "the upstream never got a whole body"
    );

    // Answers: 1 MiB unless the credential allows more; a declared length over the cap is
    // refused before anything is sent back, a chunked one is cut off.
    let res = send(&app, "GET", &at("/bytes/2000000"), &auth, empty()).await;
    assert_eq!(refused(res).await.1, "response_too_large");
    let res = send(&app, "HEAD", &at("/bytes/2000000"), &auth, empty()).await;
    assert_eq!(res.status(), 200, "a HEAD answer has no body to cap");
    assert_eq!(header(&res, "content-length"), Some("2000000"));
    let res = send(&app, "GET", &at("/stream/2000000"), &auth, empty()).await;
    assert_eq!(res.status(), 200);
    assert!(
        read_all(res).await.is_err(),
        "cut off, never a short body that looks whole"
    );
    let res = app
        .call(
            "PATCH",
            &format!("/v1/credentials/{id}"),
            &alice.token,
            Some(json!({"max_response_bytes": 4 * 1024 * 1024})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    let res = send(&app, "GET", &at("/stream/2000000"), &auth, empty()).await;
    assert_eq!(read_all(res).await.unwrap().len(), 2_000_000);

    // The call's deadline.
    let res = send(&app, "GET", &at("/slow/4000"), &auth, empty()).await;
    assert_eq!(refused(res).await.1, "upstream_timeout");
    // It counts from when the request began to arrive: a small (replayable, so read whole)
    // body trickled in for 1 s leaves the upstream 0.5 s, not another full 1.5 s.
    let (chunks, receiver) = mpsc::channel::<Bytes>(1);
    let trickled = futures_util::stream::unfold(receiver, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let sender = tokio::spawn(async move {
        chunks.send(Bytes::from_static(b"ab")).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        chunks.send(Bytes::from_static(b"cd")).await.unwrap();
    });
    let clock = std::time::Instant::now();
    let res = send(
        &app,
        "POST",
        &at("/slow/1000"),
        &[auth[0], ("content-length", "4")],
        StreamBody::new(trickled).boxed(),
    )
    .await;
    assert_eq!(refused(res).await.1, "upstream_timeout");
    assert!(
        clock.elapsed() < std::time::Duration::from_millis(1900),
        "answered at the deadline, after {:?}",
        clock.elapsed()
    );
    sender.await.unwrap();

    // A caller that hangs up while the upstream is still working leaves no use without a
    // result (the call runs to its end, or is written as `abandoned` if it is dropped).
    let count = |action: &str| {
        format!(
            "SELECT COUNT(*) FROM audit_events WHERE credential_id = '{id}' AND action = '{action}' \
             AND outcome != 'refused'"
        )
    };
    let uses_before = app.count(&count("credential.use")).await;
    {
        use tokio::io::AsyncWriteExt;
        let authority = app.address.trim_start_matches("http://").to_owned();
        let mut tcp = tokio::net::TcpStream::connect(&authority).await.unwrap();
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: {bearer}\r\n\r\n",
            at("/slow/3000")
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let (mut uses, mut results) = (0, -1);
    for _ in 0..50 {
        uses = app.count(&count("credential.use")).await;
        results = app.count(&count("credential.use.result")).await;
        if uses == uses_before + 1 && results == uses {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(uses, uses_before + 1, "the hung-up call's use was recorded");
    assert_eq!(results, uses, "and every use has its result");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_and_mtls_credentials_sign_proxied_calls() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let bearer = format!("Bearer {}", alice.token);
    let auth = [("authorization", bearer.as_str())];

    // OAuth (a real authorization server): a 401 is refreshed and retried once when the body
    // can be sent again, and passed back as it is when it was streamed.
    let server = AuthServer::start();
    let upstream = Upstream::start(Tls::Plain).await;
    let client = server
        .register(
            &format!("{}/oauth-client-service/redirect", app.address),
            "client_secret_basic",
            false,
        )
        .await;
    let res = app.call("POST", "/v1/credentials", &alice.token, Some(json!({
        "name": "machine", "kind": "oauth2", "provider": "custom", "grant_type": "client_credentials",
        "client_id": client.client_id, "client_secret": client.client_secret, "scopes": ["api:read"],
        "token_url": format!("{}/token", server.issuer),
        "proxy_base_url": upstream.url("http", "upstream.test", ""),
    })))
    .await;
    assert_eq!(res.status, 201, "{}", res.json);
    let oauth = res.json["id"].as_str().unwrap().to_owned();
    let res = send(
        &app,
        "POST",
        &format!("/v1/proxy/{oauth}/status/401"),
        &[auth[0], ("content-type", "application/json")],
        whole(r#"{"a":1}"#),
    )
    .await;
    assert_eq!(res.status(), 401);
    let seen = upstream.requests();
    assert_eq!(seen.len(), 2, "refreshed and sent once more");
    assert_ne!(
        seen[0].header("authorization"),
        seen[1].header("authorization")
    );
    assert!(seen.iter().all(|s| s.body == br#"{"a":1}"#));
    assert_eq!(
        server.stats().await["token_requests"]["client_credentials"],
        2
    );
    let (body, _) = chunked(100 * 1024);
    let res = send(
        &app,
        "POST",
        &format!("/v1/proxy/{oauth}/status/401"),
        &auth,
        body,
    )
    .await;
    assert_eq!(res.status(), 401);
    assert_eq!(upstream.requests().len(), 3, "a streamed body is sent once");

    // mTLS: the credential's client certificate, against a real rustls server.
    let server_pki = Pki::new("Upstream CA");
    let client_pki = Pki::new("Client CA");
    let server_leaf = server_pki.leaf("upstream", &["upstream.test"]);
    let client_leaf = client_pki.leaf("keyway-client", &[]);
    let mtls = Upstream::start(Tls::Mutual(&server_leaf, &client_pki)).await;
    let id = app.credential(&alice.token, json!({
        "name": "mtls", "kind": "api_key", "api_key": secret("k"),
        "proxy_base_url": mtls.url("https", "upstream.test", ""),
        "mtls": {"certificate_pem": client_leaf.cert_pem, "private_key_pem": client_leaf.key_pem,
                 "ca_certificate_pem": server_pki.ca_pem},
    }))
    .await;
    let res = send(&app, "GET", &format!("/v1/proxy/{id}/json"), &auth, empty()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        mtls.requests()[0].client_cn.as_deref(),
        Some("keyway-client")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_only_the_base_url_changed() {
    let app = spawn_app(Db::Sqlite).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let alice = app.user("acme", "alice", false).await;
    let id = app
        .credential(
            &alice.token,
            json!({
                "name": "svc", "kind": "basic", "username": "svc", "password": secret("pw"),
                "proxy_base_url": upstream.url("http", "upstream.test", ""),
            }),
        )
        .await;
    let base = format!("{}/v1/proxy/{id}", app.address);
    let auth = format!("Authorization: Bearer {}", alice.token);
    let curl = |args: Vec<String>| async move {
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(["-sS", "--noproxy", "*", "--max-time", "20"])
                .args(args)
                .output()
                .expect("curl is installed")
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json = curl(vec!["-H".into(), auth.clone(), format!("{base}/json")]).await;
    assert_eq!(json, r#"{"ok":true,"items":[1,2]}"#);
    curl(vec![
        "-H".into(),
        auth.clone(),
        "-H".into(),
        "content-type: application/json".into(),
        "-d".into(),
        r#"{"n":1}"#.into(),
        format!("{base}/items"),
    ])
    .await;
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.body.as_slice()),
        ("POST", br#"{"n":1}"#.as_slice())
    );
    assert!(seen.header("authorization").unwrap().starts_with("Basic "));
    let head = curl(vec![
        "-I".into(),
        "-H".into(),
        auth,
        format!("{base}/bytes/10"),
    ])
    .await;
    assert!(
        head.to_ascii_lowercase().contains("content-length: 10"),
        "{head}"
    );
}

both_backends! {
// An upstream that repeats the request on an error page (the URL with its `?key=`, the
// headers) or in a redirect's `Location`: the answer goes back with the secret replaced by
// `[redacted]`, so a member who may only use a shared credential never reads it (before,
// Bob read Alice's key from the 404's body). Proxy mode masks the secret in the body as it
// streams, byte for byte, and cleans the headers.
async fn an_upstream_that_repeats_the_request_does_not_hand_out_the_secret(app) {
    let alice = app.user("acme", "alice", false).await;
    let bob = app.user("acme", "bob", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let base = upstream.url("http", "upstream.test", "");
    let mut keys = Vec::new();
    let mut credentials = Vec::new();
    for extra in [json!({"query_param": "key"}), json!({"header_name": "X-Api-Key"})] {
        let key = secret("echoed");
        let mut body = json!({"name": secret("n"), "kind": "api_key", "api_key": key, "shared": true,
            "allowed_hosts": ["http://upstream.test"], "proxy_base_url": base});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let res = app.call("POST", "/v1/credentials", &alice.token, Some(body)).await;
        assert_eq!(res.status, 201, "{}", res.json);
        credentials.push(res.json["id"].as_str().unwrap().to_owned());
        keys.push(key);
    }
    for (credential, key) in credentials.iter().zip(&keys) {
        let res = app.call("POST", "/v1/dispatch", &bob.token, Some(json!({"request": {
            "url": upstream.url("http", "upstream.test", "/echo-request?q=1"), "credential_id": credential,
        }}))).await;
        assert_eq!((res.status, res.json["status"].as_u64()), (200, Some(404)), "{}", res.json);
        let text = res.json.to_string();
        assert!(!text.contains(key.as_str()), "the key came back: {text}");
        assert!(res.json["body"].as_str().unwrap().contains("[redacted]"), "{text}");
    }
    // The upstream did receive the key: it is the answer that was cleaned.
    assert!(upstream.requests()[0].target.contains(keys[0].as_str()));

    // Proxy mode: the headers, and the body as it streams, whether the upstream gave its
    // length (the masked body keeps it) or sent the secret split over 3-byte chunks.
    for (i, (credential, key)) in credentials.iter().zip(&keys).enumerate() {
        for rest in ["echo-request", "echo-request?chunked"] {
            let auth = format!("Bearer {}", bob.token);
            let res = send(&app, "GET", &format!("/v1/proxy/{credential}/{rest}"), &[("authorization", &auth)], empty()).await;
            assert_eq!(res.status(), 404);
            let location = header(&res, "location").unwrap().to_owned();
            assert!(!location.contains(key.as_str()), "{location}");
            // The query key's credential: its key was in the URL that `Location` repeats.
            assert_eq!(location.contains("[redacted]"), i == 0, "{location}");
            let length = header(&res, "content-length").map(str::to_owned);
            let body = String::from_utf8(read_all(res).await.unwrap()).unwrap();
            assert!(!body.contains(key.as_str()), "the key came back in the body: {body}");
            assert!(body.contains(&"*".repeat(key.len())), "{body}");
            if rest == "echo-request" {
                assert_eq!(length, Some(body.len().to_string()), "the length is kept");
            }
        }
    }
    // A compressed answer would hide the secret from the search: a signed call asks for
    // none, whatever the caller or the definition asked for, and one that comes encoded
    // anyway is not passed on (502, saying why).
    let auth = format!("Bearer {}", bob.token);
    let res = send(&app, "GET", &format!("/v1/proxy/{}/json", credentials[1]), &[("authorization", &auth), ("accept-encoding", "gzip, br")], empty()).await;
    assert_eq!(res.status(), 200);
    let asked = upstream.requests().last().unwrap().header("accept-encoding").map(str::to_owned);
    assert_eq!(asked.as_deref(), Some("identity"));
    let res = send(&app, "GET", &format!("/v1/proxy/{}/echo-request?encoded", credentials[1]), &[("authorization", &auth)], empty()).await;
    let (status, code, body) = refused(res).await;
    assert_eq!((status, code.as_str()), (502, "upstream_unreachable"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("Content-Encoding: gzip"), "{body}");
    assert!(!body.to_string().contains(keys[1].as_str()));
    let res = app.call("POST", "/v1/dispatch", &bob.token, Some(json!({"request": {
        "url": upstream.url("http", "upstream.test", "/echo-request?encoded"), "credential_id": credentials[1],
        "headers": [{"name": "Accept-Encoding", "value": "gzip"}],
    }}))).await;
    assert_eq!((res.status, res.json["error"]["code"].as_str()), (502, Some("upstream_unreachable")), "{}", res.json);
    assert!(!res.json.to_string().contains(keys[1].as_str()));
    assert_eq!(upstream.requests().last().unwrap().header("accept-encoding"), Some("identity"));
    app.assert_secrets_kept(&keys.iter().map(String::as_str).collect::<Vec<_>>()).await;
}
}
