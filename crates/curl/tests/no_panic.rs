//! Mutation fuzzing of the import: corpus commands (some with a secret marker planted in
//! header values, data and passwords) are mutated with quotes, escapes, multi-byte characters
//! and line breaks, and random option sequences are generated. Every input must give a valid
//! request or an error that does not quote the secret; nothing may panic. Deterministic seeds,
//! so a failure repeats. `KEYWAY_FUZZ_ITERATIONS` sets the number of rounds.

#![allow(clippy::unwrap_used)]

mod common;

use keyway_curl::{import, CurlError, Import, ImportOptions};
use keyway_model::request::is_token;
use keyway_model::{RequestDefinition, RequestInput};
use keyway_testkit::fuzz::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

const SECRET: &str = "S3CR3T";
const MAX_INPUT_CHARS: usize = 4096;
/// About 3-5 s in a debug build on a small machine.
const DEFAULT_ITERATIONS: u64 = 75_000;

const SPLICES: &[&str] = &[
    "'",
    "\"",
    "“",
    "”",
    "‘",
    "’",
    "\\",
    "$'",
    "$\"",
    "$",
    "${",
    "\\\n",
    "\\\r\n",
    "\r\n",
    "\n",
    "\r",
    " ",
    "\t",
    "\u{a0}",
    "é",
    "😀",
    "\0",
    "-",
    "--",
    "@",
    ":",
    ";",
    "=",
    "&",
    "|",
    ">",
    "#",
    "{",
    "}",
    "[",
    "?",
    "%",
    "\\x",
    "\\u",
    "\\U0010FFFF",
    "\\xff",
    "\\0",
    "\\c",
    "\\777",
    "-H",
    "-d",
    "-X",
    "-u",
    "-G",
    "--json",
    "--url",
    "-sSL",
    "-sX",
    "--data=",
    "http://",
    "ftp.",
    "S3CR3T",
];

/// Words for random commands: options of every kind, values, URLs and junk.
const WORDS: &[&str] = &[
    "-H",
    "--header",
    "-X",
    "--request",
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-ascii",
    "--data-urlencode",
    "--json",
    "-u",
    "--user",
    "-G",
    "--get",
    "--url",
    "--",
    "-",
    "-L",
    "-sSL",
    "-sX",
    "-XPOST",
    "-HX-A:1",
    "-d@f",
    "-uS3CR3T",
    "-bS3CR3T",
    "-o",
    "--cookie",
    "--max-time",
    "--oauth2-bearer",
    "--expand-data",
    "--no-buffer",
    "--x=S3CR3T",
    "-W",
    "-#",
    "https://api.example.com/x",
    "http://a.example/?q=1",
    "api.example.com",
    "ftp://f.example/",
    "ftp.example.com",
    "''",
    "\"\"",
    "'Authorization: Bearer S3CR3T'",
    "'X-Key: S3CR3T'",
    "'Content-Type: application/json'",
    "'Content-Type:'",
    "'Content-Type: S3CR3T/x'",
    "'Accept:'",
    "'X-E;'",
    "'X S3CR3T'",
    "'a=S3CR3T'",
    "@S3CR3T",
    "'{\"k\":\"S3CR3T\"}'",
    "$'S3CR3T\\n'",
    "$'\\x00S3CR3T'",
    "u:S3CR3T",
    "S3CR3T",
    "POST",
    "GET",
    "'GET /'",
    "\"=a b\"",
    "'n@S3CR3T'",
    "“S3CR3T”",
    "\\\n",
];

/// Placeholders in the corpus that stand for secrets.
const SECRET_STANDINS: &[&str] = &[
    "Bearer token",
    "xxx",
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "yourapitoken",
    "<YOUR-TOKEN>",
    "$TWILIO_AUTH_TOKEN",
    "YOUR_API_KEY",
    "<api_token>",
    "CLIENT_SECRET",
    "clientSecret",
    "mypassword123456",
    "xoxb-1234-56789abcdefghijklmnop",
    "OAUTH-TOKEN",
    "y_NbAkKc66ryYTWUXYEu",
    "<get access token>",
    "qWgdYAmab0YSkuL1qKv5bPX",
    "amount=2000",
    "\"Hello, World!\"",
];

fn seeds() -> Vec<String> {
    let mut seeds = Vec::new();
    for case in common::all() {
        let mut planted = case.command.clone();
        for standin in SECRET_STANDINS {
            planted = planted.replace(standin, SECRET);
        }
        if planted == case.command {
            planted.push_str(" -H 'X-Secret: S3CR3T' -d 'k=S3CR3T'");
        }
        seeds.push(case.command);
        seeds.push(planted);
    }
    seeds
}

fn mutate(rng: &mut Rng, input: &str) -> String {
    let mut chars: Vec<char> = input.chars().collect();
    for _ in 0..=rng.below(6) {
        let at = rng.below(chars.len() + 1);
        match rng.below(6) {
            0 | 1 => {
                let splice = rng.pick(SPLICES);
                chars.splice(at..at, splice.chars());
            }
            2 if at < chars.len() => {
                chars.remove(at);
            }
            3 => {
                let end = (at + rng.below(24)).min(chars.len());
                chars.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(32)).min(chars.len());
                let chunk: Vec<char> = chars[at..end].to_vec();
                chars.splice(at..at, chunk);
            }
            _ => {
                let word = format!(" {} ", rng.pick(WORDS));
                chars.splice(at..at, word.chars());
            }
        }
    }
    chars.truncate(MAX_INPUT_CHARS);
    chars.into_iter().collect()
}

fn random_command(rng: &mut Rng) -> String {
    let mut out = String::from(if rng.below(20) == 0 {
        "$ curl.exe"
    } else {
        "curl"
    });
    for _ in 0..rng.below(12) {
        out.push(if rng.below(10) == 0 { '\n' } else { ' ' });
        out.push_str(rng.pick(WORDS));
    }
    out
}

/// How many inputs ended how: ok, invalid, unsupported, request.
type Tally = [u64; 4];

fn check(input: &str, drop_unsupported: bool, tally: &mut Tally) {
    let options = ImportOptions { drop_unsupported };
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| import(input, &options)));
    let elapsed = started.elapsed();
    let result = result.unwrap_or_else(|_| panic!("import panicked on {input:?}"));
    assert!(
        elapsed < Duration::from_secs(1),
        "import took {elapsed:?} on {input:?}"
    );
    let slot = match &result {
        Ok(_) => 0,
        Err(CurlError::Invalid { .. }) => 1,
        Err(CurlError::Unsupported { .. }) => 2,
        Err(CurlError::Request(_)) => 3,
    };
    tally[slot] += 1;
    match result {
        Ok(imp) => {
            assert!(drop_unsupported || imp.dropped.is_empty(), "{input:?}");
            check_request(input, &imp)
        }
        Err(CurlError::Unsupported { .. }) if drop_unsupported => {
            panic!("{input:?}: unsupported options reported although dropping")
        }
        Err(err) => check_error(input, &err),
    }
}

fn check_request(input: &str, imp: &Import) {
    let r = &imp.request;
    assert!(is_token(&r.method), "{input:?}: method {:?}", r.method);
    let lower = r.url.to_ascii_lowercase();
    assert!(
        lower.starts_with("http://") || lower.starts_with("https://"),
        "{input:?}: url {:?}",
        r.url
    );
    for h in &r.headers {
        assert!(is_token(&h.name), "{input:?}: header name {:?}", h.name);
        assert!(
            !h.value.contains(['\r', '\n', '\0']),
            "{input:?}: header {:?}",
            h
        );
    }
    assert_eq!(r.body.is_some(), r.content_type.is_some(), "{input:?}");
    let again = RequestDefinition::parse(RequestInput {
        method: Some(r.method.clone()),
        url: r.url.clone(),
        headers: r.headers.clone(),
        body: r.body.clone(),
        content_type: r.content_type.map(|c| c.as_str().to_owned()),
        credential_id: None,
        timeout_ms: None,
    });
    assert_eq!(again.as_ref(), Ok(r), "{input:?}");
    for w in &imp.warnings {
        assert!(
            !w.to_ascii_uppercase().contains(SECRET),
            "{input:?}: warning {w}"
        );
    }
}

fn check_error(input: &str, err: &CurlError) {
    let mut text = err.to_string();
    match err {
        CurlError::Invalid { position, .. } => {
            assert!(*position <= input.chars().count(), "{input:?}: {err:?}");
        }
        CurlError::Unsupported { options } => {
            assert!(!options.is_empty(), "{input:?}");
            for (i, o) in options.iter().enumerate() {
                assert!(o.starts_with('-') && o.len() > 1, "{input:?}: {o:?}");
                assert!(!options[..i].contains(o), "{input:?}: {o:?} repeated");
            }
            // Options are listed as written by contract; only the rest must be clean. Longest
            // first, so that `--ra` does not cut into `--range...`.
            let mut listed: Vec<&String> = options.iter().collect();
            listed.sort_by_key(|o| std::cmp::Reverse(o.len()));
            for o in listed {
                text = text.replace(o.as_str(), "");
            }
        }
        CurlError::Request(_) => {}
    }
    assert!(
        !text.to_ascii_uppercase().contains(SECRET),
        "{input:?}: the error quotes a secret: {err}"
    );
}

fn iterations() -> u64 {
    std::env::var("KEYWAY_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS)
}

#[test]
fn mutated_and_random_commands_never_panic() {
    let seeds = seeds();
    let mut tally = Tally::default();
    for seed in &seeds {
        check(seed, false, &mut tally);
        check(seed, true, &mut tally);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let n = iterations();
    for i in 0..n {
        let input = if i % 4 == 3 {
            random_command(&mut rng)
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed)
        };
        check(&input, false, &mut tally);
        check(&input, true, &mut tally);
    }
    println!(
        "{} inputs ({} seeds, {n} generated) x 2 drop settings in {:?}; outcomes: {} ok, \
         {} invalid, {} unsupported, {} invalid request",
        seeds.len() as u64 + n,
        seeds.len(),
        started.elapsed(),
        tally[0],
        tally[1],
        tally[2],
        tally[3]
    );
}

/// Large adversarial inputs finish quickly: nothing in the import is worse than linear.
#[test]
fn large_inputs_stay_linear() {
    let unique_options: String = (0..20_000).map(|i| format!(" --opt{i}")).collect();
    let headers: String = (0..20_000)
        .map(|i| format!(" -H 'X-{i}: v' -H 'X-{i}:'"))
        .collect();
    let data: String = (0..20_000).map(|_| " --data-urlencode 'a=é b'").collect();
    let inputs = [
        format!("curl https://x.example/{unique_options}"),
        format!("curl https://x.example/{headers}"),
        format!("curl https://x.example/{data}"),
        format!(
            "curl -d $'{}' https://x.example/",
            "\\x41\\u00e9".repeat(50_000)
        ),
        format!(
            "curl -d \"{}\" https://x.example/",
            "\\\"\\\n".repeat(100_000)
        ),
        format!("curl {}", "\"".repeat(100_001)),
        format!("curl -sSL{}", "v".repeat(200_000)),
        format!("curl {}", "-H ".repeat(100_000)),
    ];
    let started = Instant::now();
    for input in &inputs {
        for drop_unsupported in [false, true] {
            let options = ImportOptions { drop_unsupported };
            let _ = import(input, &options);
        }
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}
