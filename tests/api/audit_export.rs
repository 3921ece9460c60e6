//! The audit export end to end: every event, in order, as JSON lines in a file, without
//! secrets; and calls refused while the export cannot be written (a device that is always
//! full).

use crate::helpers::{secret, spawn_app_configured, Db, TestApp};
use crate::upstream::{Tls, Upstream};
use serde_json::{json, Value};
use std::time::Duration;

async fn run(
    app: &TestApp,
    token: &str,
    upstream: &Upstream,
    credential: &str,
) -> crate::helpers::Resp {
    app.call(
        "POST",
        "/v1/dispatch",
        token,
        Some(json!({"request": {
            "url": upstream.url("http", "upstream.test", "/json"), "credential_id": credential,
        }})),
    )
    .await
}

async fn every_event_in_order_without_secrets(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let export = path.display().to_string();
    let app = spawn_app_configured(db, |s| s.audit.export = export).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let alice = app.user("acme", "alice", false).await;
    let key = secret("export-key");
    let id = app
        .credential(
            &alice.token,
            json!({"name": "svc", "kind": "api_key", "api_key": key}),
        )
        .await;
    assert_eq!(run(&app, &alice.token, &upstream, &id).await.status, 200);

    let mut lines: Vec<Value> = Vec::new();
    for _ in 0..50 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        lines = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.iter().any(|l| l["action"] == "credential.use.result") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let actions: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap(),
                l["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("credential.create", "success"),
        ("credential.use", "started"),
        ("credential.use.result", "success"),
    ] {
        assert!(actions.contains(&expected), "{expected:?} in {actions:?}");
    }
    let ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in the database's order: {ids:?}"
    );
    let used = lines
        .iter()
        .find(|l| l["action"] == "credential.use")
        .unwrap();
    assert_eq!(used["credential_id"], json!(id));
    assert_eq!(used["actor"]["name"], "alice");
    assert_eq!(used["detail"]["host"], "upstream.test");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&key), "the export holds no secret");
    // The cursor is saved after the lines are on disk (at least once), so it may trail them
    // for a moment.
    let last_line = || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        text.lines()
            .last()
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
            .and_then(|l| l["id"].as_i64())
    };
    let cursor_file = dir.path().join("audit.jsonl.cursor");
    let (mut cursor, mut last) = (None, None);
    for _ in 0..50 {
        cursor = std::fs::read_to_string(&cursor_file)
            .ok()
            .and_then(|c| c.parse::<i64>().ok());
        last = last_line();
        if cursor.is_some() && cursor == last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cursor >= ids.last().copied(), "{cursor:?} {ids:?}");
    assert_eq!(cursor, last, "the cursor names the last line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_in_order_without_secrets_sqlite() {
    every_event_in_order_without_secrets(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_in_order_without_secrets_postgres() {
    every_event_in_order_without_secrets(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_refused_while_the_export_cannot_be_written() {
    // /dev/full accepts the open and fails every write (ENOSPC), as a full disk would.
    let app = spawn_app_configured(Db::Sqlite, |s| s.audit.export = "/dev/full".into()).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let alice = app.user("acme", "alice", false).await;
    let id = app
        .credential(
            &alice.token,
            json!({"name": "svc", "kind": "api_key", "api_key": secret("k")}),
        )
        .await;
    // The credential's creation is the first event the export fails to write.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let res = run(&app, &alice.token, &upstream, &id).await;
    assert_eq!(
        (res.status, res.code()),
        (503, "audit_unavailable"),
        "{}",
        res.json
    );
    assert!(
        res.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audit export"),
        "{}",
        res.json
    );
    assert!(upstream.requests().is_empty(), "the call never left");
}
