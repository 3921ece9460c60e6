//! Health, readiness, metrics, and the error shape of unknown paths and methods.

use crate::both_backends;

both_backends! {
    async fn health_readiness_and_metrics(app) {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let health = client.get(format!("{}/healthz", app.address)).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert!(health.headers().contains_key("x-request-id"));
        let ready: serde_json::Value = client.get(format!("{}/readyz", app.address)).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["status"], "ready");
        assert_eq!(ready["master_keys"], 1);

        let missing = app.raw("GET", "/v1/nothing-here?code=abc", None, None).await;
        assert_eq!((missing.status, missing.code()), (404, "not_found"));
        let wrong_method = app.raw("POST", "/healthz", None, None).await;
        assert_eq!((wrong_method.status, wrong_method.code()), (405, "method_not_allowed"));

        let metrics = client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains(r#"keyway_http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{metrics}");
        assert!(metrics.contains(r#"route="unmatched",status="404""#), "{metrics}");
        assert!(metrics.contains("keyway_http_request_duration_seconds_bucket"), "{metrics}");
        // Route patterns, never the query string.
        assert!(!metrics.contains("code=abc"));
        assert!(!crate::helpers::captured_logs().contains("code=abc"), "query strings must not be logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_audit_retention_is_what_the_database_enforces() {
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    let retention = "SELECT COALESCE(keep_ms, -1) FROM audit_retention WHERE id = 1";
    let app = crate::helpers::spawn_app(crate::helpers::Db::Sqlite).await;
    assert_eq!(
        app.count(retention).await,
        90 * DAY_MS,
        "the default: 90 days"
    );
    for (db, days, expected) in [
        (crate::helpers::Db::Sqlite, 7, 7 * DAY_MS),
        (crate::helpers::Db::Postgres, 7, 7 * DAY_MS),
        (crate::helpers::Db::Postgres, 0, -1),
    ] {
        let app = crate::helpers::spawn_app_configured(db, |s| s.audit.retention_days = days).await;
        assert_eq!(app.count(retention).await, expected, "{days} days");
    }
}
