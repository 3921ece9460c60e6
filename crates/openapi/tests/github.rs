//! GitHub's REST API description (npm @octokit/openapi, fetched by scripts/fixtures.sh, which
//! scripts/test.sh runs): a real 13 MB document, its operations listed and one built.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_openapi::{Document, Selector};

pub fn github() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/fixtures/api.github.com.json"
    );
    std::fs::read(path).unwrap_or_else(|_| {
        panic!("{path} is missing: run scripts/fixtures.sh (scripts/test.sh does)")
    })
}

#[test]
fn githubs_document_lists_and_builds() {
    let document = Document::parse(&github()).unwrap();
    let operations = document.operations().unwrap();
    assert!(operations.len() > 1000, "{} operations", operations.len());
    let get = operations.iter().find(|o| o.id == "repos/get").unwrap();
    assert_eq!(
        (get.method.as_str(), get.path.as_str()),
        ("GET", "/repos/{owner}/{repo}")
    );
    assert_eq!(get.servers, ["https://api.github.com"]);
    let built = document
        .build(&Selector::Id("issues/create".into()), None)
        .unwrap();
    assert_eq!(
        built.url,
        "https://api.github.com/repos/${owner}/${repo}/issues"
    );
    assert_eq!(built.content_type.as_deref(), Some("json"));
    let body: serde_json::Value = serde_json::from_str(built.body.as_deref().unwrap()).unwrap();
    assert!(body.get("title").is_some(), "the required field: {body}");
    assert!(built
        .headers
        .iter()
        .any(|(n, v)| n == "Accept" && v.contains("json")));
}
