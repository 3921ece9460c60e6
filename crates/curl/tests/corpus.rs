//! The corpus: each command and exactly what importing it gives (the request, or the error
//! variant with its options or position). All failures are listed at once.

#![allow(clippy::unwrap_used)]

mod common;

use common::{char_offset, Case, Expect, Pos};
use keyway_curl::{import, CurlError, ImportOptions};
use keyway_model::{ContentType, RequestError};

fn check(case: &Case) -> Result<(), String> {
    let options = ImportOptions {
        drop_unsupported: case.drop,
    };
    let got = import(&case.command, &options);
    match (&case.expect, got) {
        (Expect::Ok(want), Ok(imp)) => {
            let r = &imp.request;
            let headers: Vec<(String, String)> = r
                .headers
                .iter()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect();
            let same = r.method == want.method
                && r.url == want.url
                && headers == want.headers
                && r.body == want.body
                && r.content_type == want.content_type
                && imp.dropped == want.dropped;
            if !same {
                return Err(format!("want {want:?}\n got {imp:?}"));
            }
            let warnings_match = imp.warnings.len() == case.warnings.len()
                && imp
                    .warnings
                    .iter()
                    .zip(&case.warnings)
                    .all(|(w, frag)| w.contains(frag));
            if !warnings_match {
                return Err(format!(
                    "want warnings {:?}\n got {:?}",
                    case.warnings, imp.warnings
                ));
            }
            Ok(())
        }
        (Expect::Invalid { at, says }, Err(CurlError::Invalid { message, position })) => {
            let want = match at {
                Pos::Char(p) => *p,
                Pos::Needle(n) => char_offset(&case.command, n).ok_or("needle not in command")?,
            };
            if position != want || !message.contains(says) {
                return Err(format!(
                    "want Invalid at {want} saying {says:?}\n got Invalid at {position}: {message}"
                ));
            }
            Ok(())
        }
        (Expect::Unsupported(want), Err(CurlError::Unsupported { options }))
            if *want == options =>
        {
            Ok(())
        }
        (
            Expect::ContentType(want),
            Err(CurlError::Request(RequestError::UnsupportedContentType(got))),
        ) if got == *want => Ok(()),
        (_, got) => Err(format!("unexpected outcome {got:?}")),
    }
}

#[test]
fn corpus() {
    let cases = common::all();
    let docs = cases.iter().filter(|c| c.name.starts_with("docs/")).count();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check(c)
                .err()
                .map(|e| format!("--- {}\n{}\n{e}", c.name, c.command))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(docs >= 45, "only {docs} commands from API docs");
    assert!(cases.len() >= 70, "only {} cases", cases.len());
    println!("{} cases, {docs} from API docs", cases.len());
}

#[test]
fn codes() {
    let opts = ImportOptions::default();
    let code = |cmd: &str| import(cmd, &opts).unwrap_err().code();
    assert_eq!(code("curl"), "invalid_curl_command");
    assert_eq!(
        code("curl -L https://x.example/"),
        "unsupported_curl_options"
    );
    assert_eq!(
        code("curl -H 'Content-Type: image/png' -d x https://x.example/"),
        "unsupported_content_type"
    );
    assert_eq!(code("curl 'https://exa mple.com/'"), "invalid_request");
}

#[test]
fn messages_name_the_option_never_the_value() {
    let opts = ImportOptions::default();
    for cmd in [
        "curl -H 'Authorization Bearer S3CR3T' https://x.example/",
        "curl -H $'X-Key: S3CR3T\\n' https://x.example/",
        "curl -d @S3CR3T https://x.example/",
        "curl -u S3CR3T https://x.example/",
        "curl -X S3CR3T/ https://x.example/",
        "curl --data=S3CR3T https://x.example/",
        "curl -H 'Content-Type: S3CR3T/x' -d a https://x.example/",
        "curl -bS3CR3T https://x.example/",
        "curl --oauth2-bearer S3CR3T https://x.example/",
        "curl https://x.example/ S3CR3T",
        "curl S3CR3T://x.example/",
    ] {
        let err = import(cmd, &opts).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("S3CR3T"), "{cmd}: {text}");
    }
    let err = import("curl -X POST -d a=1 -H 'X-A: b'", &opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid curl command: the command has no URL; give the address to call"
    );
}

#[test]
fn import_serializes() {
    let imp = import(
        "curl --json '{}' -u a:b https://x.example/ -L",
        &ImportOptions {
            drop_unsupported: true,
        },
    )
    .unwrap();
    assert_eq!(imp.request.content_type, Some(ContentType::Json));
    let json = serde_json::to_value(&imp).unwrap();
    assert_eq!(json["dropped"], serde_json::json!(["-L"]));
    assert_eq!(json["request"]["content_type"], "json");
    assert_eq!(json["warnings"].as_array().unwrap().len(), 1);
}
