//! Why mTLS material was rejected, with a stable code for API clients and a message saying what to do.

/// A rejection of mTLS material.
///
/// Messages may quote certificate facts (subject, dates) but never PEM text or
/// key material. `position` fields count from 1, the leaf certificate.
#[derive(Debug, thiserror::Error)]
pub enum MtlsError {
    #[error("no certificate found: {detail}")]
    CertificateMissing { detail: String },

    #[error("the certificate cannot be used: {detail}")]
    CertificateInvalid { detail: String },

    #[error("no private key found: {detail}")]
    PrivateKeyMissing { detail: String },

    #[error("the private key cannot be read: {detail}")]
    PrivateKeyInvalid { detail: String },

    #[error("the private key is not supported: {detail}")]
    PrivateKeyUnsupported { detail: String },

    #[error("the private key does not match the certificate's public key: {detail}")]
    KeyMismatch { detail: String },

    #[error(
        "{} expired on {not_after}: renew it (subject: {subject})",
        which_certificate(*.position)
    )]
    CertificateExpired {
        position: usize,
        subject: String,
        not_after: String,
    },

    #[error(
        "{} is not valid until {not_before}: upload it once it is valid, or check that this server's clock is right (subject: {subject})",
        which_certificate(*.position)
    )]
    CertificateNotYetValid {
        position: usize,
        subject: String,
        not_before: String,
    },

    #[error("the CA certificate cannot be used: {detail}")]
    CaCertificateInvalid { detail: String },
}

impl MtlsError {
    /// A stable snake_case code for API clients and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            MtlsError::CertificateMissing { .. } => "certificate_missing",
            MtlsError::CertificateInvalid { .. } => "certificate_invalid",
            MtlsError::PrivateKeyMissing { .. } => "private_key_missing",
            MtlsError::PrivateKeyInvalid { .. } => "private_key_invalid",
            MtlsError::PrivateKeyUnsupported { .. } => "private_key_unsupported",
            MtlsError::KeyMismatch { .. } => "key_mismatch",
            MtlsError::CertificateExpired { .. } => "certificate_expired",
            MtlsError::CertificateNotYetValid { .. } => "certificate_not_yet_valid",
            MtlsError::CaCertificateInvalid { .. } => "ca_certificate_invalid",
        }
    }

    pub(super) fn certificate_missing(detail: impl Into<String>) -> Self {
        MtlsError::CertificateMissing {
            detail: detail.into(),
        }
    }

    pub(super) fn certificate_invalid(detail: impl Into<String>) -> Self {
        MtlsError::CertificateInvalid {
            detail: detail.into(),
        }
    }

    pub(super) fn key_missing(detail: impl Into<String>) -> Self {
        MtlsError::PrivateKeyMissing {
            detail: detail.into(),
        }
    }

    pub(super) fn key_invalid(detail: impl Into<String>) -> Self {
        MtlsError::PrivateKeyInvalid {
            detail: detail.into(),
        }
    }

    pub(super) fn key_unsupported(detail: impl Into<String>) -> Self {
        MtlsError::PrivateKeyUnsupported {
            detail: detail.into(),
        }
    }

    pub(super) fn key_mismatch(detail: impl Into<String>) -> Self {
        MtlsError::KeyMismatch {
            detail: detail.into(),
        }
    }

    pub(super) fn ca_invalid(detail: impl Into<String>) -> Self {
        MtlsError::CaCertificateInvalid {
            detail: detail.into(),
        }
    }
}

fn which_certificate(position: usize) -> String {
    if position <= 1 {
        "the certificate".to_owned()
    } else {
        format!("certificate {position} of the chain")
    }
}
