//! Why a call got no answer, one variant per error code of the contract.

use crate::audit::AuditFailure;
use keyway_credentials::CredentialError;
use keyway_model::template::{HeaderInjection, Overflow};
use keyway_model::ParseError;
use keyway_net::NetError;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Invalid(ParseError),
    #[error("strict mode: the context has no value for {}", .0.join(", "))]
    MissingContext(Vec<String>),
    #[error(transparent)]
    HeaderInjection(HeaderInjection),
    #[error(transparent)]
    RenderedTooLarge(Overflow),
    /// `reason` is said only for a literal IP: for a name, what it resolved to stays inside
    /// (a caller must not learn the org's internal DNS through refusals).
    #[error("{}", keyway_net::destination_message(.host, *.reason))]
    DestinationNotAllowed {
        host: String,
        reason: Option<&'static str>,
    },
    #[error("this credential may only be sent to {}; {host} is not one of them", .allowed.join(", "))]
    CredentialHostNotAllowed { host: String, allowed: Vec<String> },
    #[error("the credential would travel unencrypted to {host}: use https://, or list http://{host} in the credential's allowed_hosts")]
    InsecureDestination { host: String },
    #[error("the credential's owner must connect it again (POST /v1/credentials/{credential_id}/authorize)")]
    NeedsReauthorization { credential_id: String },
    #[error(transparent)]
    Credential(CredentialError),
    #[error("no access token could be obtained for the credential: {0}")]
    TokenUnavailable(String),
    #[error("the upstream could not be reached: {0}")]
    Unreachable(String),
    /// The answer came compressed although the signed call asked for it unencoded: it cannot
    /// be searched for the credential's secret, so it is not passed on.
    #[error("the upstream answered with an encoded body (Content-Encoding: {0}) although Keyway asked for none; Keyway reads every answer to keep the credential's secret out of it, so it does not pass on one it cannot read")]
    EncodedAnswer(String),
    #[error("the upstream did not answer within {0} ms")]
    Timeout(u64),
    #[error("the upstream's response is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("the request body is larger than the limit of {0} bytes")]
    BodyTooLarge(u64),
    #[error("the credential's mTLS material cannot be used: {0}")]
    BadIdentity(String),
    #[error("{0}; the call was not sent, since every use of a credential is recorded first")]
    AuditUnavailable(#[source] AuditFailure),
    #[error("{0}")]
    Internal(String),
    /// The network layer failed in a way no call causes (its set-up).
    #[error(transparent)]
    Net(NetError),
}

impl DispatchError {
    /// The contract's error code, also the `outcome` label of the call metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DispatchError::Invalid(_) => "invalid_request",
            DispatchError::MissingContext(_) => "missing_context_values",
            DispatchError::HeaderInjection(_) => "invalid_piped_value",
            DispatchError::RenderedTooLarge(_) => "rendered_request_too_large",
            DispatchError::DestinationNotAllowed { .. } => "destination_not_allowed",
            DispatchError::CredentialHostNotAllowed { .. } => "credential_host_not_allowed",
            DispatchError::InsecureDestination { .. } => "insecure_destination",
            DispatchError::NeedsReauthorization { .. } => "credential_needs_reauthorization",
            DispatchError::Credential(CredentialError::NotFound) => "not_found",
            DispatchError::Credential(CredentialError::Store(err))
                if err.unavailable().is_some() =>
            {
                "storage_unavailable"
            }
            DispatchError::Credential(_) => "credential_error",
            DispatchError::TokenUnavailable(_) => "oauth_token_request_failed",
            DispatchError::Unreachable(_) | DispatchError::EncodedAnswer(_) => {
                "upstream_unreachable"
            }
            DispatchError::Timeout(_) => "upstream_timeout",
            DispatchError::TooLarge(_) => "response_too_large",
            DispatchError::BodyTooLarge(_) => "payload_too_large",
            DispatchError::AuditUnavailable(AuditFailure::StorageUnavailable) => {
                "storage_unavailable"
            }
            DispatchError::AuditUnavailable(
                AuditFailure::WriteFailed | AuditFailure::ExportFailed,
            ) => "audit_unavailable",
            DispatchError::BadIdentity(_) | DispatchError::Internal(_) | DispatchError::Net(_) => {
                "internal_error"
            }
        }
    }
}

/// The network layer's refusals and failures, as the contract names them for a call.
impl From<NetError> for DispatchError {
    fn from(err: NetError) -> Self {
        match err {
            NetError::Invalid(parse) => DispatchError::Invalid(parse),
            NetError::DestinationNotAllowed { host, reason } => {
                DispatchError::DestinationNotAllowed { host, reason }
            }
            NetError::Unreachable(why) => DispatchError::Unreachable(why),
            NetError::Timeout => DispatchError::Timeout(0),
            NetError::BadIdentity(why) => DispatchError::BadIdentity(why),
            other @ (NetError::ExtraCa(_) | NetError::Tls(_) | NetError::Client(_)) => {
                DispatchError::Net(other)
            }
        }
    }
}

impl From<CredentialError> for DispatchError {
    fn from(err: CredentialError) -> Self {
        DispatchError::Credential(err)
    }
}
