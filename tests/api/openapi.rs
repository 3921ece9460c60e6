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
    // It renders the shapes too: what each operation takes and answers, field by field.
    assert!(
        page.body
            .contains("Takes: <a href=\"#shape-CredentialBody\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<section id=\"shape-CredentialView\">"));
    assert!(page.body.contains("<code>name: string (required)</code>"));
    assert!(page.body.len() < 60 * 1024, "{} bytes", page.body.len());
}

/// POSTs a document as `content_type` to the operations listing.
async fn list(
    app: &crate::helpers::TestApp,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    post_document(app, "/v1/openapi/operations", token, content_type, body).await
}

/// [`list`] with `?keep=true`, for a JSON document.
async fn keep(
    app: &crate::helpers::TestApp,
    token: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let path = "/v1/openapi/operations?keep=true";
    post_document(app, path, token, "application/json", body).await
}

async fn post_document(
    app: &crate::helpers::TestApp,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/crates/openapi/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_of_a_pasted_document() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;

    let (status, json) = list(
        &app,
        &alice.token,
        "application/json",
        fixture("petstore-swagger2.json"),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        (json["version"].as_str(), json["title"].as_str()),
        (Some("2.0"), Some("Swagger Petstore"))
    );
    assert_eq!(json["operations"].as_array().unwrap().len(), 4);
    assert_eq!(json["operations"][0]["id"], "addPet");
    let (status, json) = list(
        &app,
        &alice.token,
        "application/yaml",
        fixture("helpdesk-openapi30.yaml"),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["operations"][1]["parameters"][0]["in"], "path");

    // Refusals: each clear, quick and in the contract's shape.
    let remote =
        br#"{"openapi": "3.1.0", "paths": {"/a": {"$ref": "https://attacker.example/p.json#/a"}}}"#
            .to_vec();
    let (status, json) = list(&app, &alice.token, "application/json", remote).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (400, Some("invalid_openapi_document")),
        "{json}"
    );
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("never fetches"));
    let mut laughs = String::from(
        "openapi: 3.0.0\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..12 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let (status, json) = list(&app, &alice.token, "application/yaml", laughs.into_bytes()).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (400, Some("invalid_openapi_document")),
        "{json}"
    );
    let (status, json) = list(&app, &alice.token, "application/json", b"[1, 2".to_vec()).await;
    assert_eq!(status, 400, "{json}");
    let (status, json) = list(
        &app,
        &alice.token,
        "text/html",
        fixture("petstore-swagger2.json"),
    )
    .await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (status, json) = list(
        &app,
        &alice.token,
        "application/json",
        vec![b' '; 16 * 1024 * 1024 + 1],
    )
    .await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let (status, _) = list(
        &app,
        "kw_not_a_token",
        "application/json",
        fixture("petstore-swagger2.json"),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_service_from_an_operation_runs_against_a_loopback_upstream() {
    use crate::upstream::{Tls, Upstream};
    use serde_json::json;
    let app = spawn_app(Db::Sqlite).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let alice = app.user("acme", "alice", false).await;
    let document = String::from_utf8(fixture("payments-openapi30.json")).unwrap();
    let server = upstream.url("http", "upstream.test", "");
    let res = app
        .call("POST", "/v1/web-services", &alice.token, Some(json!({
            "name": "Customer",
            "openapi": {"document": document, "operation": "GetCustomersCustomer", "server": server},
        })))
        .await;
    assert_eq!(res.status, 201, "{}", res.json);
    assert_eq!(
        res.json["request"]["url"],
        format!("{server}/v1/customers/${{customer}}")
    );
    let notes = &res.json["from_openapi"];
    assert_eq!(
        notes["placeholders"][0]["from"],
        "path parameter `customer`"
    );
    assert_eq!(
        notes["left_out"],
        json!(["optional header parameter `Idempotency-Key`"])
    );
    assert_eq!(notes["credential"]["kind"], "api_key");
    assert_eq!(notes["credential"]["prefix"], "Bearer ");
    let id = res.json["id"].as_str().unwrap().to_owned();

    let run = app
        .call(
            "POST",
            &format!("/v1/web-services/{id}/run"),
            &alice.token,
            Some(json!({"context": {"customer": "cus 1/2"}})),
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.json);
    assert_eq!(
        upstream.requests().last().unwrap().target,
        "/v1/customers/cus%201%2F2",
        "the path value is percent-encoded"
    );

    // By method and path, from YAML; and an operation whose body Keyway cannot send.
    let yaml = String::from_utf8(fixture("helpdesk-openapi30.yaml")).unwrap();
    let res = app
        .call("POST", "/v1/web-services", &alice.token, Some(json!({
            "name": "Ticket", "openapi": {"document": yaml, "operation": {"method": "POST", "path": "/tickets"}},
        })))
        .await;
    assert_eq!(res.status, 201, "{}", res.json);
    assert_eq!(
        (
            res.json["request"]["content_type"].as_str(),
            res.json["request"]["body"].as_str()
        ),
        (Some("xml"), Some("<request></request>"))
    );
    let calendar = String::from_utf8(fixture("calendar-openapi31.json")).unwrap();
    let res = app
        .call("POST", "/v1/web-services", &alice.token, Some(json!({
            "name": "Upload", "openapi": {"document": calendar, "operation": "attachments.upload"},
        })))
        .await;
    assert_eq!(
        (res.status, res.code()),
        (400, "unsupported_content_type"),
        "{}",
        res.json
    );
    let res = app
        .call("POST", "/v1/web-services", &alice.token, Some(json!({
            "name": "Both", "curl": "curl https://a.example", "openapi": {"document": "{}", "operation": "x"},
        })))
        .await;
    assert_eq!(
        (res.status, res.json["error"]["field"].as_str()),
        (400, Some("request")),
        "{}",
        res.json
    );
}

crate::both_backends! {
    async fn a_kept_document_serves_its_org_only(app) {
        use crate::upstream::{Tls, Upstream};
        use serde_json::json;
        let upstream = Upstream::start(Tls::Plain).await;
        let alice = app.user("acme", "alice", false).await;
        let bob = app.user("acme", "bob", false).await;
        let eve = app.user("evil", "eve", false).await;
        // GitHub's own description (13 MB), kept for the org.
        let github_path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/fixtures/api.github.com.json");
        let github = std::fs::read(github_path).expect("run scripts/fixtures.sh (scripts/test.sh does)");
        let (status, json) = list(&app, &alice.token, "application/json", github.clone()).await;
        assert_eq!(status, 200);
        assert!(json.get("document_id").is_none(), "kept only when asked");
        let (status, listing) = keep(&app, &alice.token, github.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(listing["title"], "GitHub's official OpenAPI spec + Octokit extension");
        assert!(listing["operations"].as_array().unwrap().len() > 1000);
        let document_id = listing["document_id"].as_str().unwrap().to_owned();

        // Bob, in the same org, sets up a web service from it and runs it.
        let server = upstream.url("http", "upstream.test", "");
        let res = app.call("POST", "/v1/web-services", &bob.token, Some(json!({
            "name": "Repository", "openapi": {"document_id": document_id, "operation": "repos/get", "server": server},
        }))).await;
        assert_eq!(res.status, 201, "{}", res.json);
        assert_eq!(res.json["request"]["url"], format!("{server}/repos/${{owner}}/${{repo}}"));
        let id = res.json["id"].as_str().unwrap().to_owned();
        let run = app.call("POST", &format!("/v1/web-services/{id}/run"), &bob.token, Some(json!({"context": {"owner": "octo", "repo": "hello world"}}))).await;
        assert_eq!(run.status, 200, "{}", run.json);
        let seen = upstream.requests().last().unwrap().clone();
        assert_eq!(seen.target, "/repos/octo/hello%20world");
        assert!(seen.header("accept").unwrap().contains("json"));

        // Another org cannot use it, nor tell it from a missing one.
        let res = app.call("POST", "/v1/web-services", &eve.token, Some(json!({
            "name": "Stolen", "openapi": {"document_id": document_id, "operation": "repos/get", "server": server},
        }))).await;
        assert_eq!((res.status, res.json["error"]["field"].as_str()), (404, Some("openapi.document_id")), "{}", res.json);
        let res = app.call("POST", "/v1/web-services", &eve.token, Some(json!({
            "name": "Missing", "openapi": {"document_id": "no-such-id", "operation": "repos/get"},
        }))).await;
        assert_eq!((res.status, res.json["error"]["field"].as_str()), (404, Some("openapi.document_id")));
        // Keeping the same document again gives the same ID.
        let (_, again) = keep(&app, &alice.token, github).await;
        assert_eq!(again["document_id"].as_str(), Some(document_id.as_str()));
    }
}

/// What an org keeps is bounded: past its 64 most recently kept documents the oldest is let
/// go (its ID answers 404 like a missing one), and the documents one member keeps count at
/// most 16 of those, so keeping more lets their own oldest go, not their teammates'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_keeps_its_64_newest_documents_and_a_member_16() {
    use serde_json::json;
    let app = spawn_app(Db::Sqlite).await;
    let mut n = 0;
    let mut keep_some = |token: String, count: usize| {
        let start = n;
        n += count;
        let app = &app;
        async move {
            let mut ids = Vec::new();
            for n in start..start + count {
                let document = json!({
                    "openapi": "3.0.3",
                    "info": {"title": format!("Service {n}"), "version": "1"},
                    "servers": [{"url": "https://api.example.com"}],
                    "paths": {"/items": {"get": {"operationId": "items", "responses": {"200": {"description": "ok"}}}}},
                });
                let (status, listing) = keep(app, &token, document.to_string().into_bytes()).await;
                assert_eq!(status, 200, "{listing}");
                ids.push(listing["document_id"].as_str().unwrap().to_owned());
                // Apart in time, so "oldest" is never a tie.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            ids
        }
    };
    let people = [
        app.user("acme", "alice", false).await,
        app.user("acme", "bob", false).await,
        app.user("acme", "carol", false).await,
        app.user("acme", "dave", false).await,
        app.user("acme", "erin", false).await,
    ];
    // Alice keeps 17: her oldest goes, past her 16.
    let alices = keep_some(people[0].token.clone(), 17).await;
    // Three more people keep 16 each: the org holds 64, and all of Alice's newest 16 stay.
    let mut others = Vec::new();
    for person in &people[1..4] {
        others.extend(keep_some(person.token.clone(), 16).await);
    }
    // The 65th of the org: its oldest (Alice's second) goes.
    let erins = keep_some(people[4].token.clone(), 1).await;

    let alice = &people[0].token;
    let from =
        |id: &str| json!({"name": "Items", "openapi": {"document_id": id, "operation": "items"}});
    for (id, why) in [
        (&alices[0], "past Alice's 16"),
        (&alices[1], "the org's oldest of 65"),
    ] {
        let res = app
            .call("POST", "/v1/web-services", alice, Some(from(id)))
            .await;
        assert_eq!(
            (res.status, res.json["error"]["field"].as_str()),
            (404, Some("openapi.document_id")),
            "{why}: {}",
            res.json
        );
    }
    for id in [&alices[2], &alices[16], &others[0], &others[47], &erins[0]] {
        let res = app
            .call("POST", "/v1/web-services", alice, Some(from(id)))
            .await;
        assert_eq!(res.status, 201, "{}", res.json);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_take_turns_so_memory_stays_bounded() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    // Two uploads that announce 15 MB and send a few bytes: each holds its turn while its body
    // trickles in (until the 10 s body timeout).
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /v1/openapi/operations HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 15000000\r\n\r\n{{\"openapi\": ",
            alice.token
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // A third waits its 5 s for a turn, then is told to try again, in the contract's shape.
    let (status, json) = list(
        &app,
        &alice.token,
        "application/json",
        fixture("petstore-swagger2.json"),
    )
    .await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (503, Some("busy")),
        "{json}"
    );
    drop(slow);
}
