//! The OpenAPI document as served: at `/openapi.json` without a token, the same as the
//! committed `docs/openapi.json`, and rendered on the console's API page.

use crate::console::sign_in_with_token;
use crate::helpers::{spawn_app, Db};
use keyway_testkit::browser::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_and_shown_in_the_console() {
    let app = spawn_app(Db::Sqlite).await;
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let served = res.text().await.unwrap();
    let committed = include_str!("../../docs/openapi.json");
    assert_eq!(
        served, committed,
        "the served document is the committed one"
    );
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let alice = app.user("acme", "alice", false).await;
    let browser = Browser::new(&app.address);
    sign_in_with_token(&browser, &alice.token).await;
    let page = browser.get("/console/api").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let operations = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum::<usize>();
    assert!(
        page.body.contains(&format!("{operations} operations")),
        "{}",
        page.body
    );
    assert!(page.body.contains("<code>POST /v1/credentials</code>"));
    assert!(page.body.contains("href=\"/openapi.json\""));
}
