//! Loading master keys: raw bytes, key lists, generated key lines, passphrases, and what leaks into
//! Debug and error text.
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use keyway_vault::{parse_key_list, Context, KdfParams, KeyId, Keyring, MasterKey, VaultError};
use secrecy::{ExposeSecret, SecretString};

const CTX: Context<'static> = Context {
    org: "acme",
    record: "cred-1",
    field: "password",
};

fn id(s: &str) -> KeyId {
    s.parse().unwrap()
}

/// Params at OWASP's minimum keep Argon2id fast enough for tests.
fn fast_params(salt: &[u8]) -> KdfParams {
    KdfParams {
        m_cost_kib: 19_456,
        t_cost: 2,
        salt_b64: STANDARD.encode(salt),
        ..KdfParams::generate()
    }
}

#[test]
fn wrong_key_lengths_are_refused_naming_the_key() {
    for len in [0usize, 16, 31, 33, 64] {
        let err = MasterKey::from_bytes(id("prod-2024"), &vec![0x5a; len]).unwrap_err();
        assert!(
            matches!(&err, VaultError::KeyLength { id, len: l } if id == "prod-2024" && *l == len),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("\"prod-2024\"") && text.contains(&len.to_string()),
            "{text}"
        );
    }
    assert!(MasterKey::from_bytes(id("ok"), &[0; 32]).is_ok());
}

#[test]
fn key_lists_parse_with_whitespace_and_either_base64_alphabet() {
    let k1 = [0xfbu8; 32];
    let k2 = [0x3eu8; 32];
    let spec = format!(
        "  k1:{} ,\n\tk2 : {}  ",
        STANDARD.encode(k1),
        URL_SAFE_NO_PAD.encode(k2)
    );
    let keys = parse_key_list(&spec).unwrap();
    let ids: Vec<&str> = keys.iter().map(|k| k.id().as_str()).collect();
    assert_eq!(ids, ["k1", "k2"]);

    // Same bytes as raw keys: a secret sealed by one opens with the other.
    let parsed = Keyring::new(keys).unwrap();
    let raw = Keyring::new(vec![
        MasterKey::from_bytes(id("k2"), &k2).unwrap(),
        MasterKey::from_bytes(id("k1"), &k1).unwrap(),
    ])
    .unwrap();
    let sealed = parsed.seal(CTX, b"hello").unwrap();
    assert_eq!(raw.open(CTX, &sealed).unwrap().expose_secret(), b"hello");

    assert!(parse_key_list("  ").unwrap().is_empty());
}

#[test]
fn bad_key_lists_name_the_item_but_never_the_key_text() {
    let good = STANDARD.encode([7u8; 32]);
    let key_text = "c2VjcmV0LWtleS1tYXRlcmlhbA!!";
    let cases = [
        (format!("k1:{good},{good}"), "item 2"),
        (format!("k1:{good},k2:{key_text}"), "item 2 (key ID \"k2\")"),
        (format!("k1:{key_text}"), "item 1 (key ID \"k1\")"),
        (format!("k1:{good},,k3:{good}"), "item 2"),
        (format!("k1:{good},k2:"), "item 2 (key ID \"k2\")"),
        (format!("bad id:{good}"), "item 1"),
    ];
    for (spec, names) in cases {
        let err = parse_key_list(&spec).unwrap_err();
        assert!(
            matches!(err, VaultError::InvalidKeySpec(_)),
            "{spec}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(names), "{spec}: {text}");
        assert!(!text.contains(&good) && !text.contains(key_text), "{text}");
        assert!(!format!("{err:?}").contains(&good), "{err:?}");
    }

    let short = STANDARD.encode([1u8; 16]);
    let err = parse_key_list(&format!("k1:{good}, old:{short}")).unwrap_err();
    assert!(matches!(&err, VaultError::KeyLength { id, len: 16 } if id == "old"));
    assert!(!err.to_string().contains(&short));
}

#[test]
fn generated_key_lines_load_back_and_never_show_in_debug() {
    let (key, line) = MasterKey::generate(id("gen-1"));
    let text = line.expose_secret();
    let (line_id, b64) = text.split_once(':').unwrap();
    assert_eq!(line_id, "gen-1");
    assert_eq!(STANDARD.decode(b64).unwrap().len(), 32);

    for debug in [
        format!("{key:?}"),
        format!("{line:?}"),
        format!(
            "{:?}",
            Keyring::new(vec![MasterKey::generate(id("x")).0]).unwrap()
        ),
    ] {
        assert!(!debug.contains(b64), "{debug}");
    }
    assert_eq!(format!("{key:?}"), r#"MasterKey { id: "gen-1", .. }"#);

    let sealed = Keyring::new(vec![key]).unwrap().seal(CTX, b"v").unwrap();
    let reloaded = Keyring::new(parse_key_list(text).unwrap()).unwrap();
    assert_eq!(
        format!("{reloaded:?}"),
        r#"Keyring { active: "gen-1", ids: ["gen-1"] }"#
    );
    assert_eq!(reloaded.open(CTX, &sealed).unwrap().expose_secret(), b"v");
}

#[test]
fn same_passphrase_and_params_give_the_same_key_and_a_new_salt_does_not() {
    let passphrase = SecretString::from("correct horse battery staple");
    let params = fast_params(&[1; 16]);
    let one = MasterKey::from_passphrase(id("pp"), &passphrase, &params).unwrap();
    let two = MasterKey::from_passphrase(id("pp"), &passphrase, &params).unwrap();
    let salted = MasterKey::from_passphrase(id("pp"), &passphrase, &fast_params(&[2; 16])).unwrap();

    let sealed = Keyring::new(vec![one]).unwrap().seal(CTX, b"p").unwrap();
    let two = Keyring::new(vec![two]).unwrap();
    assert_eq!(two.open(CTX, &sealed).unwrap().expose_secret(), b"p");
    let salted = Keyring::new(vec![salted]).unwrap();
    assert!(matches!(salted.open(CTX, &sealed), Err(VaultError::Open)));

    // The check value is how a changed passphrase gets caught at start-up.
    let check = two.check_value(&id("pp")).unwrap();
    assert!(matches!(
        salted.verify_check_value(&id("pp"), &check),
        Err(VaultError::WrongKey { id }) if id == "pp"
    ));
}

#[test]
fn weak_or_odd_kdf_params_are_refused() {
    let passphrase = SecretString::from("hunter2-but-longer");
    let ok = fast_params(&[3; 16]);
    ok.check().unwrap();
    KdfParams::generate().check().unwrap();
    for (m, t) in [(47_104, 1), (12_288, 3), (9_216, 4), (7_168, 5)] {
        KdfParams {
            m_cost_kib: m,
            t_cost: t,
            ..ok.clone()
        }
        .check()
        .unwrap();
    }

    let refused = [
        KdfParams {
            m_cost_kib: 4096,
            t_cost: 1,
            ..ok.clone()
        },
        KdfParams {
            m_cost_kib: 19_455,
            t_cost: 2,
            ..ok.clone()
        },
        KdfParams {
            m_cost_kib: 47_103,
            t_cost: 1,
            ..ok.clone()
        },
        KdfParams {
            p_cost: 0,
            ..ok.clone()
        },
        KdfParams {
            salt_b64: STANDARD.encode([0; 15]),
            ..ok.clone()
        },
        KdfParams {
            salt_b64: "%%%".into(),
            ..ok.clone()
        },
        KdfParams {
            algorithm: "argon2i".into(),
            ..ok.clone()
        },
        KdfParams {
            version: 16,
            ..ok.clone()
        },
        KdfParams {
            m_cost_kib: u32::MAX,
            ..ok.clone()
        },
    ];
    for params in refused {
        let err = params.check().unwrap_err();
        assert!(
            matches!(err, VaultError::WeakKdfParams(_)),
            "{params:?}: {err:?}"
        );
        // Refused before any work: from_passphrase gives the same answer.
        let err = MasterKey::from_passphrase(id("pp"), &passphrase, &params).unwrap_err();
        assert!(
            matches!(err, VaultError::WeakKdfParams(_)),
            "{params:?}: {err:?}"
        );
        assert!(!err.to_string().contains("hunter2"));
    }
    let text = KdfParams {
        m_cost_kib: 4096,
        t_cost: 1,
        ..ok
    }
    .check()
    .unwrap_err()
    .to_string();
    assert!(text.contains("OWASP") && text.contains("19456"), "{text}");
}

#[test]
fn empty_passphrase_is_refused() {
    let err = MasterKey::from_passphrase(id("pp"), &SecretString::from(""), &fast_params(&[4; 16]))
        .unwrap_err();
    assert!(matches!(err, VaultError::Kdf(_)), "{err:?}");
}

#[test]
fn generated_kdf_params_are_fresh_and_round_trip_through_json() {
    let params = KdfParams::generate();
    assert_eq!(params.algorithm, "argon2id");
    assert_eq!(params.version, 19);
    assert_eq!(
        (params.m_cost_kib, params.t_cost, params.p_cost),
        (65_536, 3, 1)
    );
    assert_eq!(STANDARD.decode(&params.salt_b64).unwrap().len(), 16);
    assert_ne!(params.salt_b64, KdfParams::generate().salt_b64);

    let json = serde_json::to_string(&params).unwrap();
    let back: KdfParams = serde_json::from_str(&json).unwrap();
    assert_eq!(back, params);
    assert!(json.contains("\"m_cost_kib\":65536"), "{json}");
}
