//! Sealing, opening, tampering, context binding, nonce uniqueness, rotation and check values.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use keyway_vault::{Context, KeyId, Keyring, MasterKey, Sealed, VaultError};
use secrecy::ExposeSecret;

const CTX: Context<'static> = Context {
    org: "acme",
    record: "cred-42",
    field: "client_secret",
};

fn id(s: &str) -> KeyId {
    s.parse().unwrap()
}

fn key(name: &str) -> MasterKey {
    MasterKey::generate(id(name)).0
}

fn from_raw(name: &str, byte: u8) -> MasterKey {
    MasterKey::from_bytes(id(name), &[byte; 32]).unwrap()
}

fn ring(keys: Vec<MasterKey>) -> Keyring {
    Keyring::new(keys).unwrap()
}

fn assert_open_fails(ring: &Keyring, ctx: Context<'_>, sealed: &Sealed, what: &str) {
    match ring.open(ctx, sealed) {
        Err(VaultError::Open) => {}
        Err(other) => panic!("{what}: expected Open, got {other:?}"),
        Ok(_) => panic!("{what}: opened"),
    }
}

#[test]
fn round_trips_empty_small_1k_and_1m_secrets() {
    let ring = ring(vec![key("k1")]);
    for len in [0usize, 1, 1024, 1 << 20] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let sealed = ring.seal(CTX, &plaintext).unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(sealed.wrapped_key.len(), 60);
        assert_eq!(sealed.ciphertext.len(), 12 + len + 16);
        // A one-byte ciphertext equals its plaintext once in 256 seals (CI met it), so the
        // "it is encrypted" check only runs where a false alarm is out of reach.
        if len >= 16 {
            assert_ne!(&sealed.ciphertext[12..12 + len], &plaintext[..]);
        }
        let opened = ring.open(CTX, &sealed).unwrap();
        assert_eq!(opened.expose_secret(), &plaintext[..], "len {len}");
    }
}

#[test]
fn flipping_any_byte_of_either_blob_fails_with_open() {
    let ring = ring(vec![key("k1")]);
    let sealed = ring.seal(CTX, b"0123456789abcdef").unwrap();
    for mask in [0x01u8, 0x80, 0xff] {
        for i in 0..sealed.wrapped_key.len() {
            let mut bad = sealed.clone();
            bad.wrapped_key[i] ^= mask;
            assert_open_fails(&ring, CTX, &bad, &format!("wrapped_key[{i}] ^ {mask:#x}"));
        }
        for i in 0..sealed.ciphertext.len() {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= mask;
            assert_open_fails(&ring, CTX, &bad, &format!("ciphertext[{i}] ^ {mask:#x}"));
        }
    }
    assert_eq!(
        ring.open(CTX, &sealed).unwrap().expose_secret(),
        b"0123456789abcdef"
    );
}

#[test]
fn truncated_or_extended_blobs_are_malformed_or_fail_to_open() {
    let ring = ring(vec![key("k1")]);
    let sealed = ring.seal(CTX, b"0123456789abcdef").unwrap();
    for len in 0..sealed.wrapped_key.len() {
        let mut bad = sealed.clone();
        bad.wrapped_key.truncate(len);
        assert!(
            matches!(ring.open(CTX, &bad), Err(VaultError::Malformed(_))),
            "wrapped_key cut to {len}"
        );
    }
    let mut longer = sealed.clone();
    longer.wrapped_key.push(0);
    assert!(matches!(
        ring.open(CTX, &longer),
        Err(VaultError::Malformed(_))
    ));

    for len in 0..sealed.ciphertext.len() {
        let mut bad = sealed.clone();
        bad.ciphertext.truncate(len);
        match ring.open(CTX, &bad) {
            Err(VaultError::Malformed(_)) => assert!(len < 28, "cut to {len}"),
            Err(VaultError::Open) => assert!(len >= 28, "cut to {len}"),
            other => panic!("ciphertext cut to {len}: {other:?}"),
        }
    }
    let mut longer = sealed;
    longer.ciphertext.push(0);
    assert_open_fails(&ring, CTX, &longer, "ciphertext with an extra byte");
}

#[test]
fn moving_to_another_org_record_or_field_fails() {
    let ring = ring(vec![key("k1")]);
    let sealed = ring.seal(CTX, b"secret").unwrap();
    let moved = [
        Context { org: "evil", ..CTX },
        Context {
            record: "cred-43",
            ..CTX
        },
        Context {
            field: "refresh_token",
            ..CTX
        },
        // Same characters, different split: only an unambiguous encoding tells these apart.
        Context {
            org: "acmecred-42",
            record: "",
            ..CTX
        },
        Context {
            org: "acm",
            record: "ecred-42",
            ..CTX
        },
    ];
    for ctx in moved {
        assert_open_fails(&ring, ctx, &sealed, &format!("{ctx:?}"));
    }
    assert!(ring.open(CTX, &sealed).is_ok());
}

#[test]
fn swapping_wrapped_keys_between_secrets_fails() {
    let ring = ring(vec![key("k1")]);
    let a = ring.seal(CTX, b"first secret").unwrap();
    let b = ring.seal(CTX, b"second secret").unwrap();
    let mut a_with_b_key = a.clone();
    a_with_b_key.wrapped_key = b.wrapped_key.clone();
    let mut b_with_a_key = b;
    b_with_a_key.wrapped_key = a.wrapped_key;
    assert_open_fails(&ring, CTX, &a_with_b_key, "a with b's data key");
    assert_open_fails(&ring, CTX, &b_with_a_key, "b with a's data key");
}

#[test]
fn relabelling_the_key_id_fails() {
    let ring = ring(vec![from_raw("k1", 1), from_raw("k2", 1)]);
    let mut sealed = ring.seal(CTX, b"secret").unwrap();
    // Same key bytes under another ID still must not open: the wrap binds the ID.
    sealed.key_id = "k2".into();
    assert_open_fails(&ring, CTX, &sealed, "relabelled to k2");
    sealed.key_id = "nope".into();
    match ring.open(CTX, &sealed) {
        Err(VaultError::UnknownKey { id }) => assert_eq!(id, "nope"),
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[test]
fn nonces_and_wrapped_keys_are_unique_over_100k_seals() {
    const N: usize = 100_000;
    let ring = ring(vec![key("k1")]);
    let mut nonces = HashSet::with_capacity(2 * N);
    let mut wrapped = HashSet::with_capacity(N);
    for _ in 0..N {
        let sealed = ring.seal(CTX, b"same plaintext every time").unwrap();
        let wrap_nonce: [u8; 12] = sealed.wrapped_key[..12].try_into().unwrap();
        let secret_nonce: [u8; 12] = sealed.ciphertext[..12].try_into().unwrap();
        assert!(nonces.insert(wrap_nonce));
        assert!(nonces.insert(secret_nonce));
        assert!(wrapped.insert(sealed.wrapped_key));
    }
    assert_eq!(nonces.len(), 2 * N);
    assert_eq!(wrapped.len(), N);
}

#[test]
fn rewrap_moves_the_data_key_to_the_active_key() {
    let (a, a_line) = MasterKey::generate(id("A"));
    let (b, b_line) = MasterKey::generate(id("B"));
    let reload = |line: &secrecy::SecretString| {
        keyway_vault::parse_key_list(line.expose_secret())
            .unwrap()
            .pop()
            .unwrap()
    };

    let sealed = ring(vec![a]).seal(CTX, b"rotate me").unwrap();
    assert_eq!(sealed.key_id, "A");

    let both = ring(vec![reload(&b_line), reload(&a_line)]);
    let moved = both.rewrap(CTX, &sealed).unwrap().unwrap();
    assert_eq!(moved.key_id, "B");
    assert_eq!(moved.ciphertext, sealed.ciphertext);
    assert_ne!(moved.wrapped_key, sealed.wrapped_key);
    assert!(both.rewrap(CTX, &moved).unwrap().is_none());

    let b_only = ring(vec![b]);
    assert_eq!(
        b_only.open(CTX, &moved).unwrap().expose_secret(),
        b"rotate me"
    );

    let a_only = ring(vec![reload(&a_line)]);
    assert_eq!(
        a_only.open(CTX, &sealed).unwrap().expose_secret(),
        b"rotate me"
    );
    match a_only.open(CTX, &moved) {
        Err(err @ VaultError::UnknownKey { .. }) => {
            assert!(matches!(&err, VaultError::UnknownKey { id } if id == "B"));
            assert!(err.to_string().contains("\"B\""), "{err}");
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[test]
fn rewrap_refuses_tampered_or_unknown_input() {
    let both = ring(vec![key("B"), key("A")]);
    let old = ring(vec![key("A")]).seal(CTX, b"x").unwrap();
    // A different key that happens to be called "A" cannot unwrap it.
    assert!(matches!(both.rewrap(CTX, &old), Err(VaultError::Open)));

    let mut unknown = old;
    unknown.key_id = "C".into();
    assert!(matches!(
        both.rewrap(CTX, &unknown),
        Err(VaultError::UnknownKey { id }) if id == "C"
    ));
}

#[test]
fn check_values_detect_a_different_key_under_the_same_id() {
    let original = ring(vec![from_raw("k1", 1), from_raw("k0", 9)]);
    let k1 = id("k1");
    let check = original.check_value(&k1).unwrap();
    assert_eq!(check.key_id, "k1");
    original.verify_check_value(&k1, &check).unwrap();

    let reloaded = ring(vec![from_raw("k1", 1)]);
    reloaded.verify_check_value(&k1, &check).unwrap();

    let swapped = ring(vec![from_raw("k1", 2)]);
    match swapped.verify_check_value(&k1, &check) {
        Err(err @ VaultError::WrongKey { .. }) => {
            assert!(matches!(&err, VaultError::WrongKey { id } if id == "k1"));
            assert!(err.to_string().contains("\"k1\""), "{err}");
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }

    // A check value for one key does not vouch for another.
    let k0 = id("k0");
    assert!(original.verify_check_value(&k0, &check).is_err());
    assert!(matches!(
        original.check_value(&id("zz")),
        Err(VaultError::UnknownKey { id }) if id == "zz"
    ));
}

#[test]
fn check_values_and_secrets_do_not_open_as_each_other() {
    let ring = ring(vec![key("k1")]);
    let k1 = id("k1");
    let check = ring.check_value(&k1).unwrap();
    let blank = Context {
        org: "",
        record: "",
        field: "",
    };
    assert_open_fails(&ring, blank, &check, "check value as a secret");
    let secret = ring.seal(blank, b"keyway-vault check value v1").unwrap();
    assert!(matches!(
        ring.verify_check_value(&k1, &secret),
        Err(VaultError::WrongKey { .. })
    ));
}

#[test]
fn keyring_reports_its_keys() {
    let ring = ring(vec![key("new"), key("old")]);
    assert_eq!(ring.active_id().as_str(), "new");
    assert!(ring.contains("old"));
    assert!(!ring.contains("other"));
    let ids: Vec<&str> = ring.ids().map(KeyId::as_str).collect();
    assert_eq!(ids, ["new", "old"]);
    assert_eq!(
        format!("{ring:?}"),
        r#"Keyring { active: "new", ids: ["new", "old"] }"#
    );
}

#[test]
fn keyring_refuses_empty_and_duplicate_key_lists() {
    assert!(matches!(Keyring::new(vec![]), Err(VaultError::NoKeys)));
    match Keyring::new(vec![key("a"), key("b"), key("a")]) {
        Err(err @ VaultError::DuplicateKeyId(_)) => {
            assert!(matches!(&err, VaultError::DuplicateKeyId(id) if id == "a"));
            assert!(err.to_string().contains("\"a\""));
        }
        other => panic!("expected DuplicateKeyId, got {other:?}"),
    }
}

#[test]
fn open_error_message_says_what_went_wrong() {
    assert_eq!(
        VaultError::Open.to_string(),
        "sealed data does not open: wrong key, tampered data, or moved to another record or field"
    );
}
