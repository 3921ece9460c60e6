//! What one org may keep: at most `limits.credentials_per_org` credentials and
//! `limits.web_services_per_org` web services. Past either, adding one answers 409
//! `limit_reached` naming the limit and stores nothing; removing one makes room; other orgs
//! are not counted.

use crate::helpers::{spawn_app_configured, Db, Resp, TestApp};
use serde_json::{json, Value};

async fn app(db: Db) -> TestApp {
    spawn_app_configured(db, |settings| {
        settings.limits.credentials_per_org = 2;
        settings.limits.web_services_per_org = 2;
    })
    .await
}

/// A refusal at the limit of 2, in the contract's shape.
fn assert_limit_reached(res: &Resp) {
    assert_eq!(
        (res.status, res.code()),
        (409, "limit_reached"),
        "{}",
        res.json
    );
    assert_eq!(res.json["error"]["limit"], 2, "{}", res.json);
}

fn key(name: &str) -> Value {
    json!({"name": name, "kind": "api_key", "api_key": "k"})
}

fn service(name: &str) -> Value {
    json!({"name": name, "request": {"url": "https://api.example.com/items"}})
}

async fn an_org_has_at_most_its_limits(db: Db) {
    let app = app(db).await;
    let alice = app.user("acme", "alice", false).await;
    let bob = app.user("acme", "bob", true).await;
    let eve = app.user("other", "eve", false).await;

    let first = app.credential(&alice.token, key("one")).await;
    app.credential(&bob.token, key("two")).await;
    let res = app
        .call("POST", "/v1/credentials", &alice.token, Some(key("three")))
        .await;
    assert_limit_reached(&res);
    assert!(res.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2 credentials"));
    assert_eq!(
        app.credential_count(&bob.token).await,
        2,
        "nothing of it was stored"
    );
    let audit = app.call("GET", "/v1/audit", &bob.token, None).await;
    let creates = audit.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "credential.create")
        .count();
    assert_eq!(creates, 2, "{}", audit.json);
    // Another org is not counted; removing one makes room.
    app.credential(&eve.token, key("theirs")).await;
    let res = app
        .call(
            "DELETE",
            &format!("/v1/credentials/{first}"),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.json);
    app.credential(&alice.token, key("three")).await;

    // The same for web services.
    let mut made = Vec::new();
    for name in ["a", "b"] {
        let res = app
            .call(
                "POST",
                "/v1/web-services",
                &alice.token,
                Some(service(name)),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.json);
        made.push(res.json["id"].as_str().unwrap().to_owned());
    }
    let res = app
        .call("POST", "/v1/web-services", &bob.token, Some(service("c")))
        .await;
    assert_limit_reached(&res);
    let list = app.call("GET", "/v1/web-services", &bob.token, None).await;
    assert_eq!(
        list.json["web_services"].as_array().unwrap().len(),
        2,
        "{}",
        list.json
    );
    let res = app
        .call(
            "POST",
            "/v1/web-services",
            &eve.token,
            Some(service("theirs")),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.json);
    let res = app
        .call(
            "DELETE",
            &format!("/v1/web-services/{}", made[0]),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.json);
    let res = app
        .call("POST", "/v1/web-services", &bob.token, Some(service("c")))
        .await;
    assert_eq!(res.status, 201, "{}", res.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_has_at_most_its_limits_on_sqlite() {
    an_org_has_at_most_its_limits(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_has_at_most_its_limits_on_postgresql() {
    an_org_has_at_most_its_limits(Db::Postgres).await;
}
