//! Tests for mTLS material validation, with certificates generated at test time.
//!
//! The RSA keys under `fixtures/` are throwaway test keys made once with
//! `openssl genrsa -traditional` (rcgen cannot generate RSA keys with ring);
//! `rsa2048-pkcs8.pem` is `rsa2048-pkcs1.pem` run through `openssl pkcs8 -topk8 -nocrypt`.
#![allow(clippy::unwrap_used)]

use keyway_model::mtls::{load_identity, validate, MtlsError, MtlsInput, MtlsSummary};
use pkcs8::der::pem::LineEnding;
use pkcs8::der::Encode;
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo};
use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    IsCa, Issuer, KeyPair, PublicKeyData, SerialNumber, SignatureAlgorithm, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, PKCS_ED25519,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const RSA2048_PKCS1: &str = include_str!("fixtures/rsa2048-pkcs1.pem");
const RSA2048_PKCS8: &str = include_str!("fixtures/rsa2048-pkcs8.pem");
const RSA1024_PKCS1: &str = include_str!("fixtures/rsa1024-pkcs1.pem");

const MISMATCH: &str = "the private key does not match the certificate's public key: upload the key that was generated with this certificate";

fn now() -> OffsetDateTime {
    date_time_ymd(2030, 6, 1)
}

fn params(cn: &str, not_before: OffsetDateTime, not_after: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::new(vec!["client.example".to_owned()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

fn valid_params(cn: &str) -> CertificateParams {
    params(cn, date_time_ymd(2030, 1, 1), date_time_ymd(2031, 1, 1))
}

fn self_signed(alg: &'static SignatureAlgorithm, cn: &str) -> (KeyPair, Certificate) {
    let key = KeyPair::generate_for(alg).unwrap();
    let cert = valid_params(cn).self_signed(&key).unwrap();
    (key, cert)
}

fn input(certificate_pem: &str, private_key_pem: &str, ca: Option<&str>) -> MtlsInput {
    MtlsInput {
        certificate_pem: certificate_pem.to_owned(),
        private_key_pem: SecretString::from(private_key_pem),
        ca_certificate_pem: ca.map(str::to_owned),
    }
}

fn pkcs8_der(pem: &str) -> Vec<u8> {
    match PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap() {
        PrivateKeyDer::Pkcs8(der) => der.secret_pkcs8_der().to_vec(),
        other => panic!("expected PKCS#8, got {other:?}"),
    }
}

fn cert_ders(pem: &str) -> Vec<Vec<u8>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap().to_vec())
        .collect()
}

/// Re-encodes a PKCS#8 EC key (as rcgen/ring produce it) as a SEC1 "EC PRIVATE KEY".
fn to_sec1_pem(pkcs8: &[u8]) -> String {
    let info = PrivateKeyInfo::try_from(pkcs8).unwrap();
    let curve = info.algorithm.parameters_oid().unwrap();
    let inner = sec1::EcPrivateKey::try_from(info.private_key).unwrap();
    let sec1 = sec1::EcPrivateKey {
        private_key: inner.private_key,
        parameters: Some(sec1::EcParameters::NamedCurve(curve)),
        public_key: inner.public_key,
    };
    let der = sec1.to_der().unwrap();
    pkcs8::der::pem::encode_string("EC PRIVATE KEY", LineEnding::LF, &der).unwrap()
}

fn pem_block(label: &str, der: &[u8]) -> String {
    pkcs8::der::pem::encode_string(label, LineEnding::LF, der).unwrap()
}

fn validate_err(input: &MtlsInput) -> MtlsError {
    match validate(input, now()) {
        Ok(v) => panic!("expected an error, got {:?}", v.summary),
        Err(e) => e,
    }
}

/// No line of any of `secrets` may appear in the error's Display or Debug.
fn assert_leaks_nothing(err: &MtlsError, secrets: &[&str]) {
    let shown = [err.to_string(), format!("{err:?}")];
    for secret in secrets {
        for line in secret.lines().map(str::trim).filter(|l| !l.is_empty()) {
            for text in &shown {
                assert!(
                    !text.contains(line),
                    "error {text:?} contains the line {line:?} of a private key"
                );
            }
        }
    }
}

#[test]
fn p256_pkcs8_self_signed_reports_the_leaf() {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = valid_params("Keyway Test Client");
    params.serial_number = Some(SerialNumber::from_slice(&[0x12, 0x34, 0xab]));
    let cert = params.self_signed(&key).unwrap();

    let validated = validate(&input(&cert.pem(), &key.serialize_pem(), None), now()).unwrap();
    let s = &validated.summary;

    assert!(s.subject.contains("CN=Keyway Test Client"), "{}", s.subject);
    assert_eq!(s.issuer, s.subject, "self-signed");
    assert_eq!(s.serial_hex, "1234ab");
    assert_eq!(s.not_before, "2030-01-01T00:00:00Z");
    assert_eq!(s.not_after, "2031-01-01T00:00:00Z");
    let expected_fingerprint = Sha256::digest(cert.der())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(s.sha256_fingerprint, expected_fingerprint);
    assert_eq!(s.sha256_fingerprint.len(), 32 * 3 - 1);
    assert_eq!(s.key_type, "ECDSA P-256");
    assert_eq!(s.chain_length, 1);
    assert!(!s.has_ca_certificate);

    assert_eq!(
        cert_ders(&validated.certificate_pem),
        vec![cert.der().to_vec()]
    );
    let key_pem = validated.private_key_pem.expose_secret();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(pkcs8_der(key_pem), key.serialize_der());
    assert_eq!(validated.ca_certificate_pem, None);
}

#[test]
fn p384_and_ed25519_keys_are_named() {
    for (alg, expected) in [
        (&PKCS_ECDSA_P384_SHA384, "ECDSA P-384"),
        (&PKCS_ED25519, "Ed25519"),
    ] {
        let (key, cert) = self_signed(alg, "typed");
        let validated = validate(&input(&cert.pem(), &key.serialize_pem(), None), now()).unwrap();
        assert_eq!(validated.summary.key_type, expected);
        assert_eq!(
            pkcs8_der(validated.private_key_pem.expose_secret()),
            key.serialize_der()
        );
    }
}

struct Pki {
    ca_key: KeyPair,
    ca_params: CertificateParams,
    ca: Certificate,
}

fn ca(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Pki {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = params("Keyway Test CA", not_before, not_after);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    Pki {
        ca_key,
        ca_params,
        ca,
    }
}

fn leaf_signed_by(pki: &Pki, cn: &str) -> (KeyPair, Certificate) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let issuer = Issuer::from_params(&pki.ca_params, &pki.ca_key);
    let cert = valid_params(cn).signed_by(&key, &issuer).unwrap();
    (key, cert)
}

#[test]
fn ca_signed_leaf_with_chain_names_the_ca_as_issuer() {
    let pki = ca(date_time_ymd(2029, 1, 1), date_time_ymd(2035, 1, 1));
    let (key, leaf) = leaf_signed_by(&pki, "Keyway Leaf");
    let chain = format!("{}{}", leaf.pem(), pki.ca.pem());

    let validated = validate(
        &input(&chain, &key.serialize_pem(), Some(&pki.ca.pem())),
        now(),
    )
    .unwrap();
    let s = &validated.summary;

    assert_eq!(s.chain_length, 2);
    assert!(s.subject.contains("CN=Keyway Leaf"), "{}", s.subject);
    assert!(s.issuer.contains("CN=Keyway Test CA"), "{}", s.issuer);
    assert!(s.has_ca_certificate);
    assert_eq!(
        cert_ders(&validated.certificate_pem),
        vec![leaf.der().to_vec(), pki.ca.der().to_vec()]
    );
    assert_eq!(
        cert_ders(validated.ca_certificate_pem.as_deref().unwrap()),
        vec![pki.ca.der().to_vec()]
    );
}

#[test]
fn chain_pasted_root_first_is_a_mismatch_that_says_so() {
    let pki = ca(date_time_ymd(2029, 1, 1), date_time_ymd(2035, 1, 1));
    let (key, leaf) = leaf_signed_by(&pki, "Keyway Leaf");
    let chain = format!("{}{}", pki.ca.pem(), leaf.pem());

    let err = validate_err(&input(&chain, &key.serialize_pem(), None));
    assert_eq!(err.reason(), "key_mismatch");
    let msg = err.to_string();
    assert!(msg.contains("certificate 2"), "{msg}");
    assert!(msg.contains("first"), "{msg}");
}

#[test]
fn rsa_pkcs1_is_accepted_and_stored_as_pkcs8() {
    let rcgen_key = KeyPair::from_pem(RSA2048_PKCS8).unwrap();
    let cert = valid_params("Keyway RSA").self_signed(&rcgen_key).unwrap();

    let validated = validate(&input(&cert.pem(), RSA2048_PKCS1, None), now()).unwrap();
    assert_eq!(validated.summary.key_type, "RSA");
    let stored = validated.private_key_pem.expose_secret();
    assert!(stored.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(!stored.contains("RSA PRIVATE KEY"));
    // The wrapping is byte-for-byte what OpenSSL produces for the same key.
    assert_eq!(pkcs8_der(stored), pkcs8_der(RSA2048_PKCS8));

    let (chain, key) =
        load_identity(&validated.certificate_pem, &validated.private_key_pem).unwrap();
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].as_ref(), cert.der().as_ref());
    match key {
        PrivateKeyDer::Pkcs8(der) => {
            assert_eq!(der.secret_pkcs8_der(), pkcs8_der(RSA2048_PKCS8).as_slice())
        }
        other => panic!("expected PKCS#8, got {other:?}"),
    }
}

#[test]
fn sec1_ec_keys_are_accepted_and_stored_as_pkcs8() {
    for (alg, expected) in [
        (&PKCS_ECDSA_P256_SHA256, "ECDSA P-256"),
        (&PKCS_ECDSA_P384_SHA384, "ECDSA P-384"),
    ] {
        let (key, cert) = self_signed(alg, "Keyway SEC1");
        let sec1 = to_sec1_pem(&key.serialize_der());
        assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));

        let validated = validate(&input(&cert.pem(), &sec1, None), now()).unwrap();
        assert_eq!(validated.summary.key_type, expected);
        let stored = validated.private_key_pem.expose_secret();
        assert!(stored.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        // Same structure ring itself generates: curve in the algorithm identifier.
        assert_eq!(pkcs8_der(stored), key.serialize_der());

        let (chain, loaded) = load_identity(&cert.pem(), &validated.private_key_pem).unwrap();
        assert_eq!(chain.len(), 1);
        assert!(matches!(loaded, PrivateKeyDer::Pkcs8(_)));
        load_identity(&cert.pem(), &SecretString::from(sec1.as_str())).unwrap();
    }
}

#[test]
fn key_of_another_keypair_is_a_mismatch() {
    let (_, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "mine");
    let other = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let err = validate_err(&input(&cert.pem(), &other.serialize_pem(), None));
    assert_eq!(err.reason(), "key_mismatch");
    assert_eq!(err.to_string(), MISMATCH);

    let err = load_identity(&cert.pem(), &SecretString::from(other.serialize_pem())).unwrap_err();
    assert_eq!(err.reason(), "key_mismatch");
}

#[test]
fn key_of_another_type_is_a_mismatch_naming_both_types() {
    let (_, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "mine");
    let other = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let err = validate_err(&input(&cert.pem(), &other.serialize_pem(), None));
    assert_eq!(err.reason(), "key_mismatch");
    let msg = err.to_string();
    assert!(
        msg.contains("Ed25519") && msg.contains("ECDSA P-256"),
        "{msg}"
    );
}

#[test]
fn expired_certificate_is_rejected_with_its_date() {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params(
        "Old Client",
        date_time_ymd(2028, 1, 1),
        date_time_ymd(2029, 1, 1),
    )
    .self_signed(&key)
    .unwrap();
    let err = validate_err(&input(&cert.pem(), &key.serialize_pem(), None));
    assert_eq!(err.reason(), "certificate_expired");
    assert_eq!(
        err.to_string(),
        "the certificate expired on 2029-01-01T00:00:00Z: renew it (subject: CN=Old Client)"
    );
}

#[test]
fn not_yet_valid_certificate_is_rejected_with_its_date() {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params(
        "Future Client",
        date_time_ymd(2031, 1, 1),
        date_time_ymd(2032, 1, 1),
    )
    .self_signed(&key)
    .unwrap();
    let err = validate_err(&input(&cert.pem(), &key.serialize_pem(), None));
    assert_eq!(err.reason(), "certificate_not_yet_valid");
    let msg = err.to_string();
    assert!(msg.contains("2031-01-01T00:00:00Z"), "{msg}");
    assert!(msg.contains("CN=Future Client"), "{msg}");
}

#[test]
fn validity_bounds_are_inclusive() {
    let (key, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "edge");
    let material = input(&cert.pem(), &key.serialize_pem(), None);
    validate(&material, date_time_ymd(2030, 1, 1)).unwrap();
    validate(&material, date_time_ymd(2031, 1, 1)).unwrap();
    let err = validate(&material, date_time_ymd(2031, 1, 2)).unwrap_err();
    assert_eq!(err.reason(), "certificate_expired");
}

#[test]
fn expired_intermediate_is_rejected_and_named_by_position() {
    let pki = ca(date_time_ymd(2020, 1, 1), date_time_ymd(2030, 3, 1));
    let (key, leaf) = leaf_signed_by(&pki, "Keyway Leaf");
    let chain = format!("{}{}", leaf.pem(), pki.ca.pem());
    let err = validate_err(&input(&chain, &key.serialize_pem(), None));
    assert_eq!(err.reason(), "certificate_expired");
    let msg = err.to_string();
    assert!(
        msg.starts_with("certificate 2 of the chain expired on 2030-03-01T00:00:00Z"),
        "{msg}"
    );
}

#[test]
fn pasted_text_with_crlf_indentation_and_surrounding_text_is_accepted() {
    let (key, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "messy");
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}  \r\n"))
            .collect::<String>()
    };
    let cert_text = format!("subject=CN = messy\r\n{}", indent(&cert.pem()));
    let validated = validate(
        &input(&cert_text, &indent(&key.serialize_pem()), None),
        now(),
    )
    .unwrap();
    assert_eq!(
        cert_ders(&validated.certificate_pem),
        vec![cert.der().to_vec()]
    );
    assert!(!validated.certificate_pem.contains("subject="));
}

#[test]
fn openssl_ecparam_preamble_and_combined_key_files_are_accepted() {
    let (key, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "openssl style");
    // `openssl ecparam -genkey` writes the curve as its own block before the key.
    let ecparam = format!(
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
        to_sec1_pem(&key.serialize_der())
    );
    let validated = validate(&input(&cert.pem(), &ecparam, None), now()).unwrap();
    assert_eq!(
        pkcs8_der(validated.private_key_pem.expose_secret()),
        key.serialize_der()
    );

    // A single file holding both, pasted into the key field: only the key is kept.
    let combined = format!("{}{}", cert.pem(), key.serialize_pem());
    let validated = validate(&input(&cert.pem(), &combined, None), now()).unwrap();
    let stored = validated.private_key_pem.expose_secret();
    assert!(!stored.contains("CERTIFICATE"));
    assert_eq!(pkcs8_der(stored), key.serialize_der());
}

#[test]
fn ca_errors_speak_of_the_ca_field() {
    let (key, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "ca wording");
    let public_key = pem_block("PUBLIC KEY", &key.subject_public_key_info());
    let err = validate_err(&input(&cert.pem(), &key.serialize_pem(), Some(&public_key)));
    assert_eq!(err.reason(), "ca_certificate_invalid");
    let msg = err.to_string();
    assert!(msg.contains("CA certificate field"), "{msg}");
    assert!(!msg.contains("leaf"), "{msg}");
}

#[test]
fn blank_ca_certificate_counts_as_absent() {
    let (key, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "no ca");
    let validated = validate(
        &input(&cert.pem(), &key.serialize_pem(), Some("  \n")),
        now(),
    )
    .unwrap();
    assert_eq!(validated.ca_certificate_pem, None);
    assert!(!validated.summary.has_ca_certificate);
}

/// A PKCS#8 block for an algorithm or curve this module refuses.
fn foreign_pkcs8(oid: &str, curve: Option<&str>, private_key: &[u8]) -> String {
    let curve = curve.map(ObjectIdentifier::new_unwrap);
    let info = PrivateKeyInfo::new(
        AlgorithmIdentifierRef {
            oid: ObjectIdentifier::new_unwrap(oid),
            parameters: curve.as_ref().map(Into::into),
        },
        private_key,
    );
    pem_block("PRIVATE KEY", &info.to_der().unwrap())
}

fn p521_sec1() -> String {
    let sec1 = sec1::EcPrivateKey {
        private_key: &[7u8; 66],
        parameters: Some(sec1::EcParameters::NamedCurve(
            ObjectIdentifier::new_unwrap("1.3.132.0.35"),
        )),
        public_key: Some(&[4u8; 133]),
    };
    pem_block("EC PRIVATE KEY", &sec1.to_der().unwrap())
}

fn truncated(pem: &str) -> String {
    let lines: Vec<&str> = pem.lines().collect();
    let mut out = lines[..lines.len() / 2].join("\n");
    out.push_str("\nMIIB\n");
    out.push_str(lines[lines.len() - 1]);
    out.push('\n');
    out
}

#[test]
fn malformed_input_gets_the_right_reason_and_never_leaks_the_key() {
    let (key, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "victim");
    let key_pem = key.serialize_pem();
    let cert_pem = cert.pem();
    let (other_key, other_cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "other");
    let two_keys = format!("{key_pem}{}", other_key.serialize_pem());
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let legacy_encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,0123456789ABCDEF0123456789ABCDEF\n\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n";
    let openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n";
    let bad_der_key = "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n";
    let bad_der_cert = "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n";
    let bad_base64_cert =
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n";
    let public_key = pem_block("PUBLIC KEY", &key.subject_public_key_info());
    let no_end = cert_pem.replace("-----END CERTIFICATE-----", "");
    let huge = "A".repeat(2 * 1024 * 1024);
    let ed448 = foreign_pkcs8("1.3.101.113", None, &[0x04, 0x02, 0x01, 0x02]);
    let p521 = p521_sec1();
    let mut two_ders = key.serialize_der();
    two_ders.extend(key.serialize_der());
    let trailing_der_key = pem_block("PRIVATE KEY", &two_ders);

    #[rustfmt::skip]
    let cases: Vec<(&str, String, String, Option<String>, &str)> = vec![
        ("empty certificate", "".into(), key_pem.clone(), None, "certificate_missing"),
        ("blank certificate", " \n\t\n".into(), key_pem.clone(), None, "certificate_missing"),
        ("public key as certificate", public_key.clone(), key_pem.clone(), None, "certificate_missing"),
        ("garbage certificate", "hello, world".into(), key_pem.clone(), None, "certificate_invalid"),
        ("key in certificate field", key_pem.clone(), cert_pem.clone(), None, "certificate_invalid"),
        ("key appended to chain", format!("{cert_pem}{key_pem}"), key_pem.clone(), None, "certificate_invalid"),
        ("truncated certificate", truncated(&cert_pem), key_pem.clone(), None, "certificate_invalid"),
        ("certificate without END", no_end, key_pem.clone(), None, "certificate_invalid"),
        ("certificate with bad base64", bad_base64_cert.into(), key_pem.clone(), None, "certificate_invalid"),
        ("certificate with bad DER", bad_der_cert.into(), key_pem.clone(), None, "certificate_invalid"),
        ("huge certificate", huge.clone(), key_pem.clone(), None, "certificate_invalid"),
        ("empty key", cert_pem.clone(), "".into(), None, "private_key_missing"),
        ("certificate as key", cert_pem.clone(), cert_pem.clone(), None, "private_key_missing"),
        ("public key as key", cert_pem.clone(), public_key.clone(), None, "private_key_missing"),
        ("garbage key", cert_pem.clone(), "not a key at all".into(), None, "private_key_invalid"),
        ("truncated key", cert_pem.clone(), truncated(&key_pem), None, "private_key_invalid"),
        ("key without END", cert_pem.clone(), key_pem.replace("-----END PRIVATE KEY-----", ""), None, "private_key_invalid"),
        ("key with bad DER", cert_pem.clone(), bad_der_key.into(), None, "private_key_invalid"),
        ("key with trailing DER", cert_pem.clone(), trailing_der_key, None, "private_key_invalid"),
        ("two keys", cert_pem.clone(), two_keys, None, "private_key_invalid"),
        ("huge key", cert_pem.clone(), huge.clone(), None, "private_key_invalid"),
        ("encrypted PKCS#8 key", cert_pem.clone(), encrypted.into(), None, "private_key_unsupported"),
        ("legacy encrypted key", cert_pem.clone(), legacy_encrypted.into(), None, "private_key_unsupported"),
        ("OpenSSH key", cert_pem.clone(), openssh.into(), None, "private_key_unsupported"),
        ("RSA 1024 key", cert_pem.clone(), RSA1024_PKCS1.into(), None, "private_key_unsupported"),
        ("Ed448 key", cert_pem.clone(), ed448, None, "private_key_unsupported"),
        ("P-521 key", cert_pem.clone(), p521, None, "private_key_unsupported"),
        ("other keypair", cert_pem.clone(), other_key.serialize_pem(), None, "key_mismatch"),
        ("other certificate", other_cert.pem(), key_pem.clone(), None, "key_mismatch"),
        ("garbage CA", cert_pem.clone(), key_pem.clone(), Some("garbage".into()), "ca_certificate_invalid"),
        ("CA with bad base64", cert_pem.clone(), key_pem.clone(), Some(bad_base64_cert.into()), "ca_certificate_invalid"),
        ("CA with bad DER", cert_pem.clone(), key_pem.clone(), Some(bad_der_cert.into()), "ca_certificate_invalid"),
        ("key as CA", cert_pem.clone(), key_pem.clone(), Some(key_pem.clone()), "ca_certificate_invalid"),
        ("public key as CA", cert_pem.clone(), key_pem.clone(), Some(public_key.clone()), "ca_certificate_invalid"),
        ("huge CA", cert_pem.clone(), key_pem.clone(), Some(huge.clone()), "ca_certificate_invalid"),
    ];

    for (name, certificate, private_key, ca_pem, reason) in cases {
        let material = input(&certificate, &private_key, ca_pem.as_deref());
        let err = match validate(&material, now()) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => e,
        };
        assert_eq!(err.reason(), reason, "{name}: {err}");
        assert_leaks_nothing(&err, &[&key_pem, &private_key, &other_key.serialize_pem()]);
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn load_identity_rejects_what_validate_rejects() {
    let (key, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "victim");
    let err = load_identity("", &SecretString::from(key.serialize_pem())).unwrap_err();
    assert_eq!(err.reason(), "certificate_missing");
    let err = load_identity(&cert.pem(), &SecretString::from("")).unwrap_err();
    assert_eq!(err.reason(), "private_key_missing");
    let err = load_identity(
        &key.serialize_pem(),
        &SecretString::from(key.serialize_pem()),
    )
    .unwrap_err();
    assert_eq!(err.reason(), "certificate_invalid");
    assert_leaks_nothing(&err, &[&key.serialize_pem()]);
}

#[test]
fn damaged_input_never_panics() {
    let (key, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "fuzz");
    let key_pem = key.serialize_pem();
    let cert_pem = cert.pem();
    let rsa_cert = valid_params("fuzz rsa")
        .self_signed(&KeyPair::from_pem(RSA2048_PKCS8).unwrap())
        .unwrap()
        .pem();
    let sec1 = to_sec1_pem(&key.serialize_der());

    // Cut and corrupt each text at many points: every outcome is fine but a panic.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (certs, keys) in [
        (&cert_pem, &key_pem),
        (&rsa_cert, &RSA2048_PKCS1.to_owned()),
        (&cert_pem, &sec1),
    ] {
        for cut in (0..keys.len()).step_by(11) {
            let _ = validate(&input(certs, &keys[..cut], None), now());
        }
        for cut in (0..certs.len()).step_by(13) {
            let _ = validate(&input(&certs[..cut], keys, Some(&certs[..cut])), now());
        }
        for _ in 0..200 {
            let mut k = keys.clone().into_bytes();
            let mut c = certs.clone().into_bytes();
            for buf in [&mut k, &mut c] {
                let at = (next() as usize) % buf.len();
                buf[at] = b"ABCxyz019+/=-\n "[(next() as usize) % 15];
            }
            let (k, c) = (String::from_utf8(k).unwrap(), String::from_utf8(c).unwrap());
            let _ = validate(&input(&c, &k, Some(&c)), now());
            let _ = load_identity(&c, &SecretString::from(k));
        }
    }
}

#[test]
fn debug_output_never_shows_the_key() {
    let (key, cert) = self_signed(&PKCS_ECDSA_P256_SHA256, "debug");
    let key_pem = key.serialize_pem();
    let material = input(&cert.pem(), &key_pem, None);
    let validated = validate(&material, now()).unwrap();
    let stored_key = validated.private_key_pem.expose_secret().to_owned();

    // A key pasted into the certificate field must not show either.
    let misplaced = input(&key_pem, &key_pem, Some(&key_pem));

    for shown in [
        format!("{material:?}"),
        format!("{validated:?}"),
        format!("{misplaced:?}"),
        format!("{material:#?}"),
        format!("{validated:#?}"),
    ] {
        for secret in [&key_pem, &stored_key] {
            for line in secret.lines().filter(|l| !l.is_empty()) {
                assert!(!shown.contains(line), "{shown} shows the key line {line}");
            }
        }
    }
}

#[test]
fn mtls_input_deserializes_with_optional_ca() {
    let json = r#"{"certificate_pem": "c", "private_key_pem": "k"}"#;
    let parsed: MtlsInput = serde_json::from_str(json).unwrap();
    assert_eq!(parsed.certificate_pem, "c");
    assert_eq!(parsed.private_key_pem.expose_secret(), "k");
    assert_eq!(parsed.ca_certificate_pem, None);

    let json = r#"{"certificate_pem": "c", "private_key_pem": "k", "ca_certificate_pem": "ca"}"#;
    let parsed: MtlsInput = serde_json::from_str(json).unwrap();
    assert_eq!(parsed.ca_certificate_pem.as_deref(), Some("ca"));
}

#[test]
fn summary_round_trips_through_json() {
    let (key, cert) = self_signed(&PKCS_ED25519, "json");
    let summary = validate(&input(&cert.pem(), &key.serialize_pem(), None), now())
        .unwrap()
        .summary;
    let json = serde_json::to_string(&summary).unwrap();
    assert!(json.contains("\"sha256_fingerprint\""));
    let back: MtlsSummary = serde_json::from_str(&json).unwrap();
    assert_eq!(back, summary);
}
