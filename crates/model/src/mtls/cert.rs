//! Certificate chains and private CA certificates: parsing, validity dates, facts for the summary.

use super::error::MtlsError;
use super::pem::{self, Scan, MAX_PEM_BYTES};
use super::MtlsSummary;
use rustls_pki_types::pem::SectionKind;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use x509_parser::certificate::X509Certificate;
use x509_parser::parse_x509_certificate;

/// Which field is being read; it decides the wording and the error codes.
#[derive(Clone, Copy)]
enum Field {
    Chain,
    Ca,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Chain => "certificate",
            Field::Ca => "CA certificate",
        }
    }

    fn instruction(self) -> &'static str {
        match self {
            Field::Chain => "paste the certificate chain as PEM, leaf certificate first",
            Field::Ca => "paste the CA certificate(s) as PEM",
        }
    }

    fn missing(self, detail: String) -> MtlsError {
        match self {
            Field::Chain => MtlsError::certificate_missing(detail),
            Field::Ca => MtlsError::ca_invalid(detail),
        }
    }

    fn invalid(self, detail: String) -> MtlsError {
        match self {
            Field::Chain => MtlsError::certificate_invalid(detail),
            Field::Ca => MtlsError::ca_invalid(detail),
        }
    }
}

/// Reads the client certificate chain, leaf first.
pub(super) fn parse_chain(text: &str) -> Result<Vec<CertificateDer<'static>>, MtlsError> {
    parse(text, Field::Chain)
}

/// Reads one or more private CA certificates.
pub(super) fn parse_ca(text: &str) -> Result<Vec<CertificateDer<'static>>, MtlsError> {
    parse(text, Field::Ca)
}

fn parse(text: &str, field: Field) -> Result<Vec<CertificateDer<'static>>, MtlsError> {
    let name = field.name();
    let instruction = field.instruction();
    if text.len() > MAX_PEM_BYTES {
        return Err(field.invalid(format!(
            "the {name} text is larger than 1 MiB: paste only the certificates that are needed"
        )));
    }
    if text.trim().is_empty() {
        return Err(field.missing(format!("the {name} field is empty: {instruction}")));
    }

    let scan = Scan::new(text);
    // Certificates are stored and shown in clear, so a key pasted alongside
    // them must be refused outright rather than quietly dropped.
    if scan.legacy_encrypted() || scan.labels().iter().any(|l| l.contains("PRIVATE KEY")) {
        return Err(field.invalid(format!(
            "the {name} field contains a private key: remove it from this field and put the key only in the private key field"
        )));
    }
    if scan.labels().is_empty() {
        return Err(field.invalid(format!(
            "the {name} text is not PEM: paste the certificate file as text, including its BEGIN and END lines"
        )));
    }

    let blocks = scan
        .blocks()
        .map_err(|detail| field.invalid(format!("in the {name} field, {detail}")))?;
    let ders: Vec<CertificateDer<'static>> = blocks
        .into_iter()
        .filter(|b| b.kind == SectionKind::Certificate)
        .map(|b| CertificateDer::from(b.der.to_vec()))
        .collect();
    if ders.is_empty() {
        return Err(no_certificate(&scan, field));
    }

    for (index, der) in ders.iter().enumerate() {
        match parse_x509_certificate(der) {
            Ok(([], _)) => {}
            _ => {
                return Err(field.invalid(format!(
                "{} in the {name} field is not a valid X.509 certificate: paste the file unchanged",
                ordinal(index + 1)
            )))
            }
        }
    }
    Ok(ders)
}

/// Explains a text that is PEM but holds no certificate.
fn no_certificate(scan: &Scan, field: Field) -> MtlsError {
    let name = field.name();
    let instruction = field.instruction();
    if scan.has_label("PKCS7") {
        return field.invalid(format!(
            "the {name} field holds a PKCS#7 bundle: extract the certificates with `openssl pkcs7 -print_certs` and paste those"
        ));
    }
    if scan.has_label("TRUSTED CERTIFICATE") {
        return field.invalid(format!(
            "the {name} field holds an OpenSSL trusted certificate: convert it with `openssl x509 -in <file>` and paste the result"
        ));
    }
    let found =
        if scan.has_label("CERTIFICATE REQUEST") || scan.has_label("NEW CERTIFICATE REQUEST") {
            "a certificate signing request, which becomes a certificate only once a CA signs it"
        } else if scan.has_label("PUBLIC KEY") {
            "a public key, not a certificate"
        } else {
            "no CERTIFICATE block"
        };
    field.missing(format!("the {name} field holds {found}: {instruction}"))
}

/// Rejects a chain with a certificate outside its validity period at `now`.
pub(super) fn check_validity(
    chain: &[CertificateDer<'static>],
    now: OffsetDateTime,
) -> Result<(), MtlsError> {
    for (index, der) in chain.iter().enumerate() {
        let cert = parse_one(der)?;
        let validity = cert.validity();
        let not_before = validity.not_before.to_datetime();
        let not_after = validity.not_after.to_datetime();
        if now < not_before {
            return Err(MtlsError::CertificateNotYetValid {
                position: index + 1,
                subject: cert.subject().to_string(),
                not_before: rfc3339(not_before)?,
            });
        }
        if now > not_after {
            return Err(MtlsError::CertificateExpired {
                position: index + 1,
                subject: cert.subject().to_string(),
                not_after: rfc3339(not_after)?,
            });
        }
    }
    Ok(())
}

/// The summary of a checked chain: facts about its leaf certificate, plus what the caller
/// knows of the key and the CA certificates.
pub(super) fn summarize(
    chain: &[CertificateDer<'static>],
    key_type: &str,
    has_ca_certificate: bool,
) -> Result<MtlsSummary, MtlsError> {
    let der = chain.first().ok_or_else(|| {
        MtlsError::certificate_missing("the certificate field holds no certificate")
    })?;
    let cert = parse_one(der)?;
    let validity = cert.validity();
    Ok(MtlsSummary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial_hex: serial_hex(cert.raw_serial()),
        not_before: rfc3339(validity.not_before.to_datetime())?,
        not_after: rfc3339(validity.not_after.to_datetime())?,
        sha256_fingerprint: fingerprint(der),
        key_type: key_type.to_owned(),
        chain_length: chain.len(),
        has_ca_certificate,
    })
}

/// Re-encodes certificates as clean PEM, dropping whatever surrounded them.
pub(super) fn encode_chain(chain: &[CertificateDer<'static>]) -> Result<String, MtlsError> {
    let mut out = String::new();
    for der in chain {
        let block = pem::encode("CERTIFICATE", der).ok_or_else(|| {
            MtlsError::certificate_invalid("a certificate could not be re-encoded as PEM")
        })?;
        out.push_str(&block);
    }
    Ok(out)
}

/// Parses a certificate that [`parse`] already accepted.
pub(super) fn parse_one<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, MtlsError> {
    parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|_| MtlsError::certificate_invalid("a certificate is not valid X.509"))
}

/// "the first certificate", "certificate 2", ...
pub(super) fn ordinal(position: usize) -> String {
    if position == 1 {
        "the first certificate".to_owned()
    } else {
        format!("certificate {position}")
    }
}

fn rfc3339(at: OffsetDateTime) -> Result<String, MtlsError> {
    at.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|_| MtlsError::certificate_invalid("a validity date cannot be represented"))
}

/// The serial's value, as tools print it: the DER sign byte is not part of it.
fn serial_hex(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex::encode(raw.get(start..).unwrap_or_default())
}

fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
