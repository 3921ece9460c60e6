//! HTTP manners a client library relies on: `WWW-Authenticate` on 401, `Allow` on 405, HEAD
//! wherever GET is, and 415 for a body that does not say it is JSON.

use crate::helpers::{spawn_app, Db};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_say_what_a_client_should_do() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = |path: &str| format!("{}{path}", app.address);

    let res = client.get(url("/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"keyway\"");

    for (method, path, allow) in [
        ("DELETE", "/v1/me", "GET, HEAD"),
        ("PUT", "/v1/credentials", "GET, HEAD, POST"),
        ("POST", "/v1/credentials/x", "GET, HEAD, PATCH, DELETE"),
        ("GET", "/v1/dispatch", "POST"),
    ] {
        let res = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                url(path),
            )
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }

    // HEAD: the GET answer's status and headers, no body.
    let get = client
        .get(url("/v1/me"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    let head = client
        .head(url("/v1/me"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-type"],
        get.headers()["content-type"]
    );
    assert!(head.bytes().await.unwrap().is_empty());
    let head = client
        .head(url("/v1/credentials/nope"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 404);

    // A body must say it is JSON; a body-less POST may say nothing.
    let body = json!({"name": "K", "kind": "api_key", "api_key": "k"}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = client
            .post(url("/v1/credentials"))
            .bearer_auth(&alice.token)
            .body(body.clone());
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 415, "{content_type:?}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "unsupported_media_type");
    }
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let res = client
            .post(url("/v1/credentials"))
            .bearer_auth(&alice.token)
            .header("content-type", content_type)
            .body(json!({"name": content_type, "kind": "api_key", "api_key": "k"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{content_type}");
    }
    let list: Value = client
        .get(url("/v1/credentials"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["credentials"].as_array().unwrap().len(),
        3,
        "the refused bodies stored nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rights_are_checked_before_the_body_is_read() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let bob = app.user("acme", "bob", false).await;
    let created = app
        .call(
            "POST",
            "/v1/credentials",
            &alice.token,
            Some(json!({"name": "Shared", "kind": "api_key", "api_key": "k", "shared": true})),
        )
        .await;
    let id = created.json["id"].as_str().unwrap().to_owned();
    // A broken body from someone who may not change the credential: the refusal is about the
    // right, and the body is never parsed.
    for (path, method) in [
        (format!("/v1/credentials/{id}"), "PATCH"),
        (format!("/v1/credentials/{id}/secret"), "PUT"),
        (format!("/v1/credentials/{id}/transfer"), "POST"),
    ] {
        let res = app
            .raw(method, &path, Some(&bob.token), Some(b"{not json".to_vec()))
            .await;
        assert_eq!(res.status, 403, "{method} {path}: {}", res.json);
        assert_eq!(res.code(), "forbidden");
    }
    let res = app
        .raw(
            "PATCH",
            "/v1/credentials/nope",
            Some(&bob.token),
            Some(b"{not json".to_vec()),
        )
        .await;
    assert_eq!(res.status, 404);
    // The owner with the same broken body gets the body's error.
    let res = app
        .raw(
            "PATCH",
            &format!("/v1/credentials/{id}"),
            Some(&alice.token),
            Some(b"{not json".to_vec()),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, "invalid_request"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth_redirect_answers_get_only() {
    // A HEAD (a link scanner, a prefetch) must not run the redirect, which consumes the state.
    let app = spawn_app(Db::Sqlite).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let res = client
        .head(format!(
            "{}/oauth-client-service/redirect?state=s&code=c",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET");
}

/// The keys of an object, in the order the body gave them.
fn keys(object: &Value) -> Vec<String> {
    object.as_object().unwrap().keys().cloned().collect()
}

/// One shape per thing: a credential, a web service and an audit event have the same keys in
/// the same order, `id` first, whether an answer shows one or lists them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_shows_a_thing_in_one_key_order() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let created = app
        .call(
            "POST",
            "/v1/credentials",
            &alice.token,
            Some(json!({"name": "k", "kind": "api_key", "api_key": "kw-order-test"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let one = app
        .call("GET", &format!("/v1/credentials/{id}"), &alice.token, None)
        .await;
    let list = app.call("GET", "/v1/credentials", &alice.token, None).await;
    let order = keys(&one.json);
    assert_eq!(order[0], "id", "{order:?}");
    // The list leaves out `used_by` (it is counted per credential only when shown alone).
    let listed: Vec<String> = keys(&list.json["credentials"][0]);
    let shown: Vec<String> = order
        .iter()
        .filter(|k| listed.contains(k))
        .cloned()
        .collect();
    assert_eq!(listed, shown, "list and GET disagree on the key order");
    assert_eq!(keys(&created.json), listed, "create and list disagree");

    let ws = app
        .call(
            "POST",
            "/v1/web-services",
            &alice.token,
            Some(json!({"name": "w", "request": {"url": "https://api.example.com/x"}})),
        )
        .await;
    assert_eq!(ws.status, 201, "{}", ws.json);
    let ws_id = ws.json["id"].as_str().unwrap();
    let one = app
        .call(
            "GET",
            &format!("/v1/web-services/{ws_id}"),
            &alice.token,
            None,
        )
        .await;
    let list = app
        .call("GET", "/v1/web-services", &alice.token, None)
        .await;
    assert_eq!(keys(&one.json)[0], "id");
    assert_eq!(keys(&one.json), keys(&list.json["web_services"][0]));

    let audit = app.call("GET", "/v1/audit", &alice.token, None).await;
    let events = audit.json["events"].as_array().unwrap();
    assert!(!events.is_empty());
    for event in events {
        assert_eq!(keys(event)[0], "id", "{event}");
    }
}
