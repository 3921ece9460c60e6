//! mTLS client material: validates a pasted certificate chain, private key and optional private CA when a credential is added, and turns stored material into what rustls needs when a call is made.
//!
//! Everything here treats its input as hostile: any text, of any size, yields a
//! [`MtlsError`] rather than a panic, and no error message ever quotes PEM text
//! (a key pasted into the wrong field must not come back in an error or a log).

mod cert;
mod error;
mod key;
mod matching;
mod pem;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

pub use error::MtlsError;

/// mTLS material as submitted with a credential, before any checks.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MtlsInput {
    /// The certificate chain as PEM, leaf certificate first.
    pub certificate_pem: String,
    /// The private key as PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    #[schema(value_type = String)]
    pub private_key_pem: SecretString,
    /// A private CA to trust for calls made with this credential.
    #[serde(default)]
    pub ca_certificate_pem: Option<String>,
}

// Hand-written because unvalidated input may hold a key pasted into a
// certificate field; only sizes are safe to show.
impl fmt::Debug for MtlsInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MtlsInput")
            .field("certificate_pem", &Bytes(self.certificate_pem.len()))
            .field("private_key_pem", &"[REDACTED]")
            .field(
                "ca_certificate_pem",
                &self.ca_certificate_pem.as_ref().map(|ca| Bytes(ca.len())),
            )
            .finish()
    }
}

struct Bytes(usize);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

/// mTLS material that passed [`validate`], normalised for storage.
#[derive(Clone, Debug)]
pub struct ValidatedMtls {
    /// The chain, re-encoded as clean PEM (certificates only, leaf first).
    pub certificate_pem: String,
    /// The private key, always as a PKCS#8 `PRIVATE KEY` PEM block.
    pub private_key_pem: SecretString,
    /// The private CA certificate(s), re-encoded as clean PEM.
    pub ca_certificate_pem: Option<String>,
    pub summary: MtlsSummary,
}

/// Facts about the leaf certificate, safe to show and to store in clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MtlsSummary {
    pub subject: String,
    pub issuer: String,
    /// The serial number's value in lowercase hex, without leading zero bytes.
    pub serial_hex: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    /// RFC 3339, UTC.
    pub not_after: String,
    /// SHA-256 of the leaf certificate's DER, lowercase hex pairs joined by colons.
    pub sha256_fingerprint: String,
    /// "RSA", "ECDSA P-256", "ECDSA P-384" or "Ed25519".
    pub key_type: String,
    pub chain_length: usize,
    pub has_ca_certificate: bool,
}

/// Checks mTLS material as it is added to a credential.
///
/// Parses the chain and the key, checks that the key belongs to the first
/// certificate, that every certificate in the chain is valid at `now`, and that
/// `ca_certificate_pem` (when present and not blank) holds certificates.
/// A blank `ca_certificate_pem` counts as absent, since forms send empty strings.
pub fn validate(input: &MtlsInput, now: OffsetDateTime) -> Result<ValidatedMtls, MtlsError> {
    let chain = cert::parse_chain(&input.certificate_pem)?;
    let key = key::parse_private_key(input.private_key_pem.expose_secret())?;
    let ca = match input.ca_certificate_pem.as_deref() {
        Some(text) if !text.trim().is_empty() => Some(cert::parse_ca(text)?),
        _ => None,
    };
    matching::check_matches(&key, &chain)?;
    cert::check_validity(&chain, now)?;

    let summary = cert::summarize(&chain, key.kind().label(), ca.is_some())?;
    Ok(ValidatedMtls {
        certificate_pem: cert::encode_chain(&chain)?,
        private_key_pem: key.to_pem()?,
        ca_certificate_pem: ca.as_deref().map(cert::encode_chain).transpose()?,
        summary,
    })
}

/// Turns stored material into the client identity rustls needs.
///
/// Accepts what [`validate`] stores (and any input it accepts), re-checks that
/// the key belongs to the leaf certificate, and leaves dates to the caller:
/// a certificate that expired since it was stored should fail the handshake
/// visibly rather than here.
pub fn load_identity(
    certificate_pem: &str,
    private_key_pem: &SecretString,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), MtlsError> {
    let chain = cert::parse_chain(certificate_pem)?;
    let key = key::parse_private_key(private_key_pem.expose_secret())?;
    matching::check_matches(&key, &chain)?;
    Ok((chain, key.to_private_key_der()))
}
