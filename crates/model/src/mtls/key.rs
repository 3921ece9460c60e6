//! Private keys: PEM to PKCS#8 (converting PKCS#1 and SEC1), supported-type checks, and loading for signing.
//!
//! The key is loaded with rustls' ring provider, the same code that will sign
//! handshakes later, so a key accepted here is a key the dispatcher can use.

use super::error::MtlsError;
use super::pem::{self, Block, Scan, MAX_PEM_BYTES};
use pkcs8::der::asn1::{AnyRef, UintRef};
use pkcs8::der::{Decode, Reader, SliceReader};
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo, SecretDocument};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::sign::SigningKey;
use rustls_pki_types::pem::SectionKind;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sec1::EcPrivateKey;
use secrecy::SecretString;
use std::sync::Arc;
use zeroize::Zeroizing;

pub(super) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
pub(super) const EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(super) const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(super) const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");
const X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
const X448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.111");
pub(super) const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");

/// ring refuses to sign with RSA keys outside this range.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

const KEY_BLOCKS: &str =
    "a PKCS#8 (PRIVATE KEY), PKCS#1 (RSA PRIVATE KEY) or SEC1 (EC PRIVATE KEY) PEM block";
const SUPPORTED: &str = "use an RSA (2048 to 8192 bits), ECDSA P-256, ECDSA P-384 or Ed25519 key";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    Rsa,
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

impl KeyKind {
    pub(super) fn label(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::EcdsaP256 => "ECDSA P-256",
            KeyKind::EcdsaP384 => "ECDSA P-384",
            KeyKind::Ed25519 => "Ed25519",
        }
    }
}

/// A private key normalised to PKCS#8 and loaded for signing.
///
/// Deliberately not `Debug`.
pub(super) struct ParsedKey {
    pkcs8: Zeroizing<Vec<u8>>,
    kind: KeyKind,
    signing: Arc<dyn SigningKey>,
}

impl ParsedKey {
    pub(super) fn kind(&self) -> KeyKind {
        self.kind
    }

    pub(super) fn signing_key(&self) -> &Arc<dyn SigningKey> {
        &self.signing
    }

    pub(super) fn to_pem(&self) -> Result<SecretString, MtlsError> {
        let pem = pem::encode("PRIVATE KEY", &self.pkcs8)
            .map(Zeroizing::new)
            .ok_or_else(|| MtlsError::key_invalid("it could not be re-encoded as PEM"))?;
        // From<&str> copies into an exactly sized box; the Zeroizing original
        // is wiped when it drops.
        Ok(SecretString::from(pem.as_str()))
    }

    pub(super) fn to_private_key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.to_vec()))
    }
}

/// Reads the one private key in a PEM text.
pub(super) fn parse_private_key(text: &str) -> Result<ParsedKey, MtlsError> {
    if text.len() > MAX_PEM_BYTES {
        return Err(MtlsError::key_invalid(
            "the text is larger than 1 MiB, and a private key is a few kilobytes: paste only the key",
        ));
    }
    if text.trim().is_empty() {
        return Err(MtlsError::key_missing(format!(
            "the private key field is empty: paste the key that was generated with the certificate, as {KEY_BLOCKS}"
        )));
    }

    let scan = Scan::new(text);
    if scan.legacy_encrypted() || scan.has_label("ENCRYPTED PRIVATE KEY") {
        return Err(MtlsError::key_unsupported(
            "it is encrypted with a passphrase: decrypt it first, e.g. with `openssl pkey -in <file>`, and paste the result",
        ));
    }

    let blocks = scan.blocks().map_err(MtlsError::key_invalid)?;
    let mut keys = blocks.into_iter().filter(|b| is_private_key(b.kind));
    let block = match (keys.next(), keys.next()) {
        (Some(block), None) => block,
        (Some(_), Some(_)) => {
            return Err(MtlsError::key_invalid(
                "the private key field holds more than one private key: keep only the one that belongs to the certificate",
            ))
        }
        (None, _) => return Err(no_private_key(&scan)),
    };

    let (pkcs8, kind) = to_pkcs8(&block)?;
    let signing = any_supported_type(&PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        pkcs8.as_slice(),
    )))
    .map_err(|_| {
        MtlsError::key_invalid(format!(
            "the {} key is damaged or inconsistent: export it again from where it was generated",
            kind.label()
        ))
    })?;
    Ok(ParsedKey {
        pkcs8,
        kind,
        signing,
    })
}

fn is_private_key(kind: SectionKind) -> bool {
    matches!(
        kind,
        SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
    )
}

/// Explains a text that holds no key block rustls can decode.
fn no_private_key(scan: &Scan) -> MtlsError {
    if scan.labels().is_empty() {
        return MtlsError::key_invalid(format!(
            "the text is not PEM: paste the key file as text, including its BEGIN and END lines ({KEY_BLOCKS})"
        ));
    }
    if scan.has_label("OPENSSH PRIVATE KEY") {
        return MtlsError::key_unsupported(
            "OpenSSH-format keys cannot be used for TLS as they are: convert a copy with `ssh-keygen -p -m PKCS8 -f <copy>` and paste the result",
        );
    }
    if scan.has_label("DSA PRIVATE KEY") {
        return MtlsError::key_unsupported(format!("DSA keys cannot be used: {SUPPORTED}"));
    }
    if scan.labels().iter().any(|l| l.contains("PRIVATE KEY")) {
        return MtlsError::key_unsupported(format!(
            "this kind of private key block is not supported: paste {KEY_BLOCKS}"
        ));
    }
    let found = if scan.has_label("CERTIFICATE") {
        "a certificate, not a private key"
    } else if scan.has_label("PUBLIC KEY") || scan.has_label("RSA PUBLIC KEY") {
        "a public key, but the private key is needed"
    } else {
        "no private key block"
    };
    MtlsError::key_missing(format!(
        "the private key field holds {found}: paste the key that was generated with the certificate, as {KEY_BLOCKS}"
    ))
}

fn to_pkcs8(block: &Block) -> Result<(Zeroizing<Vec<u8>>, KeyKind), MtlsError> {
    match block.kind {
        SectionKind::PrivateKey => {
            let kind = check_pkcs8(&block.der)?;
            Ok((block.der.clone(), kind))
        }
        SectionKind::RsaPrivateKey => Ok((pkcs1_to_pkcs8(&block.der)?, KeyKind::Rsa)),
        SectionKind::EcPrivateKey => sec1_to_pkcs8(&block.der),
        _ => Err(MtlsError::key_invalid(format!(
            "the block is not a private key: paste {KEY_BLOCKS}"
        ))),
    }
}

/// Classifies a PKCS#8 key and checks what ring would otherwise reject with no explanation.
fn check_pkcs8(der: &[u8]) -> Result<KeyKind, MtlsError> {
    let info = PrivateKeyInfo::try_from(der).map_err(|_| {
        MtlsError::key_invalid(
            "the PRIVATE KEY block is not a valid PKCS#8 key: paste the file unchanged",
        )
    })?;
    let kind = classify(&info.algorithm)?;
    match kind {
        KeyKind::Rsa => check_rsa_size(info.private_key)?,
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
            let ec = EcPrivateKey::try_from(info.private_key).map_err(|_| {
                MtlsError::key_invalid(
                    "the EC key inside the PKCS#8 block is malformed: paste the file unchanged",
                )
            })?;
            if ec.public_key.is_none() {
                return Err(no_embedded_public_key());
            }
        }
        KeyKind::Ed25519 => {}
    }
    Ok(kind)
}

fn classify(algorithm: &AlgorithmIdentifierRef<'_>) -> Result<KeyKind, MtlsError> {
    let oid = algorithm.oid;
    if oid == RSA_ENCRYPTION {
        Ok(KeyKind::Rsa)
    } else if oid == EC_PUBLIC_KEY {
        let curve = algorithm.parameters_oid().map_err(|_| {
            MtlsError::key_invalid("the EC key does not name its curve: export it again as PKCS#8")
        })?;
        curve_kind(curve)
    } else if oid == ED25519 {
        Ok(KeyKind::Ed25519)
    } else if oid == RSASSA_PSS {
        Err(MtlsError::key_unsupported(
            "RSA-PSS-only keys cannot be used: generate a plain RSA key (rsaEncryption) instead",
        ))
    } else if oid == ED448 {
        Err(MtlsError::key_unsupported(format!(
            "Ed448 keys cannot be used: {SUPPORTED}"
        )))
    } else if oid == X25519 || oid == X448 {
        Err(MtlsError::key_unsupported(format!(
            "X25519/X448 keys are for key agreement and cannot sign: {SUPPORTED}"
        )))
    } else if oid == DSA {
        Err(MtlsError::key_unsupported(format!(
            "DSA keys cannot be used: {SUPPORTED}"
        )))
    } else {
        Err(MtlsError::key_unsupported(format!(
            "keys of algorithm {oid} cannot be used: {SUPPORTED}"
        )))
    }
}

fn curve_kind(curve: ObjectIdentifier) -> Result<KeyKind, MtlsError> {
    if curve == P256 {
        return Ok(KeyKind::EcdsaP256);
    }
    if curve == P384 {
        return Ok(KeyKind::EcdsaP384);
    }
    let name = if curve == P521 {
        "P-521".to_owned()
    } else if curve == SECP256K1 {
        "secp256k1".to_owned()
    } else {
        curve.to_string()
    };
    Err(MtlsError::key_unsupported(format!(
        "ECDSA keys on curve {name} cannot be used: {SUPPORTED}"
    )))
}

fn no_embedded_public_key() -> MtlsError {
    MtlsError::key_unsupported(
        "the EC key does not embed its public key: export it again with `openssl pkey -in <file>` and paste the result",
    )
}

fn check_rsa_size(pkcs1: &[u8]) -> Result<(), MtlsError> {
    let bits = rsa_modulus_bits(pkcs1).ok_or_else(|| {
        MtlsError::key_invalid("the RSA key is malformed: paste the file unchanged")
    })?;
    if (RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(MtlsError::key_unsupported(format!(
            "RSA keys of {bits} bits cannot be used: use a key of {RSA_MIN_BITS} to {RSA_MAX_BITS} bits"
        )))
    }
}

/// Reads the modulus size from a PKCS#1 `RSAPrivateKey`, walking the whole structure.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    let mut reader = SliceReader::new(pkcs1).ok()?;
    let bits = reader
        .sequence(|seq| {
            let _version = UintRef::decode(seq)?;
            let modulus = UintRef::decode(seq)?;
            while !seq.is_finished() {
                AnyRef::decode(seq)?;
            }
            Ok(bit_length(modulus.as_bytes()))
        })
        .ok()?;
    reader.finish(bits).ok()
}

fn bit_length(unsigned_be: &[u8]) -> usize {
    match unsigned_be.iter().position(|b| *b != 0) {
        Some(i) => {
            let significant = unsigned_be.len() - i;
            let top = unsigned_be.get(i).copied().unwrap_or(0);
            (significant - 1) * 8 + (8 - top.leading_zeros() as usize)
        }
        None => 0,
    }
}

/// Wraps a PKCS#1 key as PKCS#8: rsaEncryption with NULL parameters (RFC 8017 A.1).
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Result<Zeroizing<Vec<u8>>, MtlsError> {
    check_rsa_size(pkcs1)?;
    let info = PrivateKeyInfo::new(
        AlgorithmIdentifierRef {
            oid: RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        },
        pkcs1,
    );
    let doc = SecretDocument::encode_msg(&info)
        .map_err(|_| MtlsError::key_invalid("the RSA key could not be converted to PKCS#8"))?;
    Ok(doc.to_bytes())
}

/// Wraps a SEC1 key as PKCS#8, moving the curve into the algorithm identifier (RFC 5915 §2).
fn sec1_to_pkcs8(sec1: &[u8]) -> Result<(Zeroizing<Vec<u8>>, KeyKind), MtlsError> {
    let ec = EcPrivateKey::try_from(sec1).map_err(|_| {
        MtlsError::key_invalid(
            "the EC PRIVATE KEY block is not a valid SEC1 key (explicit curve parameters are not supported): paste the file unchanged",
        )
    })?;
    let curve = ec.parameters.and_then(|p| p.named_curve()).ok_or_else(|| {
        MtlsError::key_invalid(
            "the EC key does not name its curve: export it again with `openssl pkey -in <file>`",
        )
    })?;
    let kind = curve_kind(curve)?;
    if ec.public_key.is_none() {
        return Err(no_embedded_public_key());
    }
    let inner = EcPrivateKey {
        private_key: ec.private_key,
        parameters: None,
        public_key: ec.public_key,
    };
    let failed = || MtlsError::key_invalid("the EC key could not be converted to PKCS#8");
    let inner = SecretDocument::encode_msg(&inner).map_err(|_| failed())?;
    let info = PrivateKeyInfo::new(
        AlgorithmIdentifierRef {
            oid: EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from(&curve)),
        },
        inner.as_bytes(),
    );
    let doc = SecretDocument::encode_msg(&info).map_err(|_| failed())?;
    Ok((doc.to_bytes(), kind))
}
