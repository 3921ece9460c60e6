//! Web services end to end: created from curl or a definition, run by ID with piped values,
//! rights within and across orgs, the link to credentials, and curl import over HTTP.

use crate::both_backends;
use crate::dispatch::wait_for_audit;
#[allow(unused_imports)]
use crate::helpers::*;
use crate::upstream::{Tls, Upstream};
use serde_json::json;

both_backends! {
async fn web_services_from_curl_run_by_id(app) {
    let alice = app.user("acme", "alice", false).await;
    let bob = app.user("acme", "bob", false).await;
    let admin = app.user("acme", "root", true).await;
    let eve = app.user("evil", "eve", true).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let key = secret("key");
    let res = app
        .call("POST", "/v1/credentials", &alice.token, Some(json!({
            "name": "hook key", "kind": "api_key", "api_key": key, "shared": true,
        })))
        .await;
    let credential = res.json["id"].as_str().unwrap().to_owned();
    let command = format!(
        "curl -X POST '{}' \\\n  -H 'Content-Type: application/json' \\\n  -d '{{\"email\":\"${{e://Field/Email}}\"}}' -L",
        upstream.url("http", "upstream.test", "/hooks/${e://Field/Id}")
    );

    // -L is unsupported: refused, then dropped on request.
    let body = json!({"name": "Hook", "curl": command, "credential_id": credential});
    let res = app.call("POST", "/v1/web-services", &alice.token, Some(body.clone())).await;
    assert_eq!(res.status, 400, "{}", res.json);
    assert_eq!(res.code(), "unsupported_curl_options");
    assert_eq!(res.json["error"]["options"], json!(["-L"]));
    let mut body = body;
    body["drop_unsupported"] = json!(true);
    let res = app.call("POST", "/v1/web-services", &alice.token, Some(body)).await;
    assert_eq!(res.status, 201, "{}", res.json);
    assert_eq!(res.json["dropped"], json!(["-L"]));
    assert_eq!(res.json["request"]["content_type"], "json");
    assert_eq!(res.json["request"]["credential_id"], credential.as_str());
    // The owner has the same shape as a credential's.
    assert_eq!(res.json["owner"], json!({"id": alice.id, "name": "alice"}));
    let id = res.json["id"].as_str().unwrap().to_owned();

    // Anyone in the org runs it with a context; the upstream gets the filled-in call.
    let run = format!("/v1/web-services/{id}/run");
    let context = json!({"context": {"e://Field/Email": "a\"b@example.com", "e://Field/Id": "7 8"}});
    let res = app.call("POST", &run, &bob.token, Some(context.clone())).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let seen = upstream.requests()[0].clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/hooks/7%208");
    assert_eq!(String::from_utf8(seen.body.clone()).unwrap(), r#"{"email":"a\"b@example.com"}"#);
    let bearer = format!("Bearer {key}");
    assert_eq!(seen.header("authorization"), Some(bearer.as_str()));
    let events = wait_for_audit(&app, &alice.token, &credential, 1).await;
    assert_eq!(events[0]["detail"]["web_service_id"], id.as_str());
    assert_eq!(events[0]["actor"]["name"], "bob");

    // Listing, reading; other orgs see nothing.
    let res = app.call("GET", "/v1/web-services", &bob.token, None).await;
    assert_eq!(res.json["web_services"].as_array().unwrap().len(), 1);
    for (method, path) in [("GET", format!("/v1/web-services/{id}")), ("POST", run.clone()), ("DELETE", format!("/v1/web-services/{id}"))] {
        let res = app.call(method, &path, &eve.token, Some(json!({}))).await;
        assert_eq!((res.status, res.code()), (404, "not_found"), "{method} {path}");
    }
    let res = app.call("GET", "/v1/web-services", &eve.token, None).await;
    assert!(res.json["web_services"].as_array().unwrap().is_empty());

    // Only the owner or an admin changes it.
    let replace = json!({"request": {"url": upstream.url("http", "upstream.test", "/v2"), "credential_id": credential}});
    let res = app.call("PUT", &format!("/v1/web-services/{id}"), &bob.token, Some(replace.clone())).await;
    assert_eq!((res.status, res.code()), (403, "forbidden"));
    // The right is checked before the body: a body that would not validate is refused as
    // forbidden too, not described.
    let res = app.call("PUT", &format!("/v1/web-services/{id}"), &bob.token, Some(json!({"request": {"url": 1}}))).await;
    assert_eq!((res.status, res.code()), (403, "forbidden"), "{}", res.json);
    let res = app.call("PUT", &format!("/v1/web-services/{id}"), &admin.token, Some(replace)).await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json["name"], "Hook", "a replace without a name keeps it");
    assert_eq!(res.json["request"]["method"], "GET");

    // The credential shows who uses it and cannot be removed while it is used.
    let res = app.call("GET", &format!("/v1/credentials/{credential}"), &alice.token, None).await;
    assert_eq!(res.json["used_by"][0]["id"], id.as_str());
    let res = app.call("DELETE", &format!("/v1/credentials/{credential}"), &alice.token, None).await;
    assert_eq!((res.status, res.code()), (409, "credential_in_use"));

    // A web service may not name a credential its creator cannot see.
    let eve_cred = app
        .call("POST", "/v1/credentials", &eve.token, Some(json!({"name": "e", "kind": "api_key", "api_key": "x"})))
        .await;
    let res = app
        .call("POST", "/v1/web-services", &alice.token, Some(json!({
            "name": "steal", "request": {"url": "https://api.example.com/", "credential_id": eve_cred.json["id"]},
        })))
        .await;
    assert_eq!((res.status, res.code()), (404, "not_found"));
    assert_eq!(res.json["error"]["field"], "credential_id");

    // A secret header would be stored in plain text: refused, pointing to credentials.
    let pasted = secret("pasted");
    for (name, value) in [("Authorization", format!("Bearer {pasted}")), ("Cookie", format!("sid={pasted}"))] {
        let res = app
            .call("POST", "/v1/web-services", &alice.token, Some(json!({
                "name": "leaky", "request": {"url": "https://api.example.com/", "headers": [{"name": name, "value": value}]},
            })))
            .await;
        assert_eq!((res.status, res.code()), (400, "invalid_request"), "{}", res.json);
        assert!(res.json["error"]["message"].as_str().unwrap().contains("credential"));
    }
    let res = app
        .call("POST", "/v1/web-services", &alice.token, Some(json!({
            "name": "leaky", "curl": format!("curl -u me:{pasted} https://api.example.com/"),
        })))
        .await;
    assert_eq!(res.status, 400, "-u in a saved command is refused too: {}", res.json);
    let res = app
        .call("POST", "/v1/web-services", &alice.token, Some(json!({
            "name": "piped", "request": {"url": "https://api.example.com/", "headers": [{"name": "Authorization", "value": "Bearer ${e://Field/Token}"}]},
        })))
        .await;
    assert_eq!(res.status, 201, "a placeholder is filled per run: {}", res.json);

    let res = app.call("DELETE", &format!("/v1/web-services/{id}"), &alice.token, None).await;
    assert_eq!(res.status, 204);
    let res = app.call("DELETE", &format!("/v1/credentials/{credential}"), &alice.token, None).await;
    assert_eq!(res.status, 204, "{}", res.json);
    app.assert_secrets_kept(&[&key, &pasted]).await;
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_import_endpoint_and_bad_definitions() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let res = app
        .call("POST", "/v1/curl/import", &alice.token, Some(json!({
            "command": "curl https://api.example.com/v1/x --json '{\"a\":1}' -u user:s3cr3t-pass",
        })))
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json["request"]["method"], "POST");
    assert_eq!(res.json["request"]["content_type"], "json");
    assert!(
        !res.json["warnings"].as_array().unwrap().is_empty(),
        "-u is flagged"
    );
    let res = app
        .call(
            "POST",
            "/v1/curl/import",
            &alice.token,
            Some(json!({"command": "curl 'https://x.example"})),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, "invalid_curl_command"));
    assert!(res.json["error"]["position"].is_u64());
    let res = app
        .call(
            "POST",
            "/v1/curl/import",
            &alice.token,
            Some(json!({
                "command": "curl --cookie a=b -k https://x.example", "drop_unsupported": true,
            })),
        )
        .await;
    assert_eq!(
        res.json["dropped"],
        json!(["--cookie", "-k"]),
        "{}",
        res.json
    );

    let bad = [
        (
            json!({"url": "https://x.example", "content_type": "multipart", "body": "x"}),
            "unsupported_content_type",
        ),
        (
            json!({"url": "https://x.example", "body": "x"}),
            "invalid_request",
        ),
        (json!({"url": "ftp://x.example"}), "invalid_request"),
        (
            json!({"url": "https://x.example", "timeout_ms": 20000}),
            "invalid_request",
        ),
        (
            json!({"url": "https://x.example", "headers": [{"name": "X", "value": "a\r\nB: c"}]}),
            "invalid_request",
        ),
        (
            json!({"url": "https://x.example", "method": "GE T"}),
            "invalid_request",
        ),
    ];
    for (request, code) in bad {
        let res = app
            .call(
                "POST",
                "/v1/dispatch",
                &alice.token,
                Some(json!({"request": request})),
            )
            .await;
        assert_eq!(
            (res.status, res.code()),
            (400, code),
            "{request}: {}",
            res.json
        );
        assert!(res.json["error"]["message"].as_str().unwrap().len() > 10);
    }
    app.assert_secrets_kept(&["s3cr3t-pass"]).await;
}
