//! Whether a private key belongs to the leaf certificate, and if not, a useful account of why.

use super::cert::{ordinal, parse_one};
use super::error::MtlsError;
use super::key::{KeyKind, ParsedKey, EC_PUBLIC_KEY, ED25519, P256, P384, RSA_ENCRYPTION};
use rustls::sign::CertifiedKey;
use rustls::InconsistentKeys;
use rustls_pki_types::CertificateDer;
use std::sync::Arc;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Checks the key against the leaf certificate exactly as rustls will when it is used.
pub(super) fn check_matches(
    key: &ParsedKey,
    chain: &[CertificateDer<'static>],
) -> Result<(), MtlsError> {
    let leaf = chain.first().ok_or_else(|| {
        MtlsError::certificate_missing("the certificate field holds no certificate")
    })?;
    let certified = CertifiedKey::new(vec![leaf.clone()], Arc::clone(key.signing_key()));
    match certified.keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(explain_mismatch(key, chain))
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(MtlsError::key_unsupported(
            "its public key cannot be derived, so it cannot be checked against the certificate",
        )),
        Err(_) => Err(MtlsError::certificate_invalid(
            "the TLS library cannot read the first certificate's public key (it must be an X.509 v3 certificate): ask the issuer for a standard certificate",
        )),
    }
}

fn explain_mismatch(key: &ParsedKey, chain: &[CertificateDer<'static>]) -> MtlsError {
    const DEFAULT: &str = "upload the key that was generated with this certificate";
    let Some(key_spki) = key.signing_key().public_key() else {
        return MtlsError::key_mismatch(DEFAULT);
    };

    // A chain pasted root-first is a common mistake worth naming.
    for (index, der) in chain.iter().enumerate().skip(1) {
        if let Ok(cert) = parse_one(der) {
            if cert.public_key().raw == key_spki.as_ref() {
                return MtlsError::key_mismatch(format!(
                    "the key belongs to {} of the chain ({}): put the key's own certificate first, then its issuers",
                    ordinal(index + 1),
                    cert.subject()
                ));
            }
        }
    }

    let cert_kind = chain
        .first()
        .and_then(|der| parse_one(der).ok())
        .map(|cert| spki_kind(cert.public_key()));
    match cert_kind {
        Some(Some(kind)) if kind != key.kind() => MtlsError::key_mismatch(format!(
            "the key is {} but the certificate's key is {}: {DEFAULT}",
            key.kind().label(),
            kind.label()
        )),
        Some(None) => MtlsError::key_mismatch(format!(
            "the key is {} but the certificate has a key of an unsupported type: {DEFAULT}",
            key.kind().label()
        )),
        _ => MtlsError::key_mismatch(DEFAULT),
    }
}

fn spki_kind(spki: &SubjectPublicKeyInfo<'_>) -> Option<KeyKind> {
    let oid = spki.algorithm.algorithm.as_bytes();
    if oid == RSA_ENCRYPTION.as_bytes() {
        Some(KeyKind::Rsa)
    } else if oid == ED25519.as_bytes() {
        Some(KeyKind::Ed25519)
    } else if oid == EC_PUBLIC_KEY.as_bytes() {
        let curve = spki.algorithm.parameters.as_ref()?.as_bytes();
        if curve == P256.as_bytes() {
            Some(KeyKind::EcdsaP256)
        } else if curve == P384.as_bytes() {
            Some(KeyKind::EcdsaP384)
        } else {
            None
        }
    } else {
        None
    }
}
