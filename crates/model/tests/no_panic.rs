//! Mutation fuzzing of the parsers that take untrusted input: valid inputs are mutated (bytes
//! flipped, cut, duplicated, spliced with PEM markers) and fed to the parsers, which must
//! answer with a value or an error and never panic. Deterministic seeds, so a failure repeats.

use keyway_model::mtls::{validate, MtlsInput};
use keyway_model::{AllowedHosts, ApiKeyPlacement, CredentialName};
use keyway_testkit::fuzz::Rng;
use rcgen::{CertificateParams, KeyPair};

const SPLICES: &[&[u8]] = &[
    b"-----BEGIN CERTIFICATE-----\n",
    b"-----END CERTIFICATE-----\n",
    b"-----BEGIN PRIVATE KEY-----\n",
    b"-----BEGIN EC PRIVATE KEY-----\n",
    b"-----BEGIN RSA PRIVATE KEY-----\n",
    b"-----END PRIVATE KEY-----\n",
    b"\r\n",
    b"====",
    b"\x00",
    b"\xff\xfe",
    b"MII",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.truncate(at),
            2 => {
                let end = (at + rng.below(64)).min(out.len());
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            3 => {
                let splice = SPLICES[rng.below(SPLICES.len())];
                out.splice(at..at, splice.iter().copied());
            }
            _ => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mtls_validation_never_panics() {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["fuzz.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
    let now = time::OffsetDateTime::now_utc();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut rejected = 0;
    for round in 0..3000 {
        let (c, k, ca) = match round % 3 {
            0 => (
                text(mutate(&mut rng, cert_pem.as_bytes())),
                key_pem.clone(),
                None,
            ),
            1 => (
                cert_pem.clone(),
                text(mutate(&mut rng, key_pem.as_bytes())),
                None,
            ),
            _ => (
                cert_pem.clone(),
                key_pem.clone(),
                Some(text(mutate(&mut rng, cert_pem.as_bytes()))),
            ),
        };
        let input = MtlsInput {
            certificate_pem: c,
            private_key_pem: k.into(),
            ca_certificate_pem: ca,
        };
        if validate(&input, now).is_err() {
            rejected += 1;
        }
    }
    // The mutations must actually exercise the error paths.
    assert!(
        rejected > 1000,
        "only {rejected} of 3000 mutated inputs were rejected"
    );
}

#[test]
fn field_parsers_never_panic() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let seeds = [
        "api.example.com",
        "*.salesforce.com",
        "[::1]",
        "X-API-TOKEN",
        "Bearer ",
        "名前",
    ];
    for _ in 0..20_000 {
        let seed = seeds[rng.below(seeds.len())];
        let value = text(mutate(&mut rng, seed.as_bytes()));
        let _ = AllowedHosts::parse(&[value.as_str()]).map(|h| h.permits(&value));
        let _ = CredentialName::parse(&value);
        let _ = ApiKeyPlacement::parse(Some(&value), Some(&value), None);
        let _ = ApiKeyPlacement::parse(None, None, Some(&value));
    }
}

/// Piped text: mutated templates and hostile values (quotes, markup, line breaks, multi-byte
/// characters, lone `${`) through every escaping. Nothing panics, a limit holds, a value in a
/// JSON string stays one JSON string, and a header never gets a line break from a value.
#[test]
fn piped_text_never_panics_and_keeps_its_promises() {
    use keyway_model::template::{Context, Escape, Renderer};
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let templates = [
        "https://h/${a}/x?q=${b}",
        "{\"k\": \"${a}\", \"n\": ${b}}",
        "<r><v>${a}</v>${b}</r>",
        "a=${a}&b=${b}",
        "${a}${b}${",
        "$${a}}${}",
    ];
    let values = [
        "plain",
        "\"quoted\"",
        "<tag>&amp;",
        "line\r\nbreak",
        "nul\0",
        "名前🙂",
        "${a}",
        "\\",
    ];
    let escapes = [
        Escape::Url,
        Escape::Header,
        Escape::Json,
        Escape::Xml,
        Escape::Form,
        Escape::Text,
    ];
    for _ in 0..20_000 {
        let mut context = Context::default();
        context.insert("a", values[rng.below(values.len())]);
        let seed = values[rng.below(values.len())];
        context.insert("b", text(mutate(&mut rng, seed.as_bytes())));
        let seed = templates[rng.below(templates.len())];
        let template = text(mutate(&mut rng, seed.as_bytes()));
        let escape = escapes[rng.below(escapes.len())];
        let limit = rng.below(256);
        let mut renderer = Renderer::new(&context);
        if let Ok(out) = renderer.render_within(&template, escape, limit, "body") {
            assert!(out.len() <= limit, "{template:?} rendered past its limit");
        }
        if let Ok(out) = renderer.render_header("x-h", &template, 4096) {
            let literal_breaks = template.matches(['\r', '\n']).count();
            assert!(
                out.matches(['\r', '\n']).count() <= literal_breaks,
                "a piped value put a line break into a header: {template:?}"
            );
        }
        let json = renderer.render("\"${b}\"", Escape::Json);
        serde_json::from_str::<String>(&json)
            .unwrap_or_else(|e| panic!("a value did not stay one JSON string: {json:?} ({e})"));
    }
}
