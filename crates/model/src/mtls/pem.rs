//! PEM scanning and encoding shared by the certificate and key parsers.
//!
//! Decoding is left to rustls-pki-types (constant-time base64 for key blocks);
//! this adds what it does not report: the labels of blocks it skips, and the
//! legacy OpenSSL encryption headers, so callers can say what was pasted.

use pkcs8::der::pem::{encode_string, LineEnding};
use rustls_pki_types::pem::{Error as PemError, PemObject, SectionKind};
use zeroize::Zeroizing;

/// Far above any real chain or key; bounds the work done on hostile input.
pub(super) const MAX_PEM_BYTES: usize = 1024 * 1024;

/// A decoded block of a kind rustls-pki-types knows.
pub(super) struct Block {
    pub kind: SectionKind,
    pub der: Zeroizing<Vec<u8>>,
}

/// A pasted PEM text, normalised line by line.
pub(super) struct Scan {
    // Zeroizing because this may be a copy of a private key.
    text: Zeroizing<String>,
    labels: Vec<String>,
    legacy_encrypted: bool,
}

impl Scan {
    pub(super) fn new(raw: &str) -> Self {
        // Pasted text often arrives indented (YAML), with CRLF or stray
        // spaces; PEM decoders insist on markers at the start of a line.
        let mut text = Zeroizing::new(String::with_capacity(raw.len() + 1));
        let mut labels = Vec::new();
        let mut legacy_encrypted = false;
        for line in raw.split(['\n', '\r']).map(str::trim) {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("-----BEGIN ") {
                labels.push(rest.trim_end_matches('-').trim().to_owned());
            } else if line.starts_with("Proc-Type:") && line.contains("ENCRYPTED") {
                legacy_encrypted = true;
            }
            text.push_str(line);
            text.push('\n');
        }
        Self {
            text,
            labels,
            legacy_encrypted,
        }
    }

    /// Labels of every BEGIN line, known to rustls or not, in order.
    pub(super) fn labels(&self) -> &[String] {
        &self.labels
    }

    pub(super) fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l == label)
    }

    /// Whether the text carries OpenSSL's pre-PKCS#8 `Proc-Type: 4,ENCRYPTED` header.
    pub(super) fn legacy_encrypted(&self) -> bool {
        self.legacy_encrypted
    }

    /// Decodes every block of a known kind; unknown labels are skipped.
    ///
    /// The error is a fixed description: rustls-pki-types' own errors quote
    /// the offending line, which may be part of a private key.
    pub(super) fn blocks(&self) -> Result<Vec<Block>, &'static str> {
        let mut blocks = Vec::new();
        for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(self.text.as_bytes()) {
            match item {
                Ok((kind, der)) => blocks.push(Block {
                    kind,
                    der: Zeroizing::new(der),
                }),
                Err(err) => return Err(describe(&err)),
            }
        }
        Ok(blocks)
    }
}

fn describe(err: &PemError) -> &'static str {
    match err {
        PemError::MissingSectionEnd { .. } => {
            "a PEM block has no END line, so the text looks truncated: paste the complete file"
        }
        PemError::IllegalSectionStart { .. } => {
            "a PEM BEGIN line is malformed: paste the file unchanged, keeping its line breaks (text copied out of JSON needs its \\n sequences turned back into line breaks)"
        }
        PemError::Base64Decode(_) => {
            "the base64 body of a PEM block is corrupt or truncated: paste the file unchanged"
        }
        _ => "the PEM text could not be decoded: paste the file unchanged",
    }
}

/// Encodes DER as a PEM block with LF line endings; the result ends with a newline.
///
/// Key material goes through here too: the string is built at its final size,
/// so no stray copy is left in a reallocated buffer.
pub(super) fn encode(label: &'static str, der: &[u8]) -> Option<String> {
    encode_string(label, LineEnding::LF, der).ok()
}
