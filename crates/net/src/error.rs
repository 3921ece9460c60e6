//! Why the network layer refused or lost a connection, without a URL in the text (a URL may
//! carry an API key).

use keyway_model::ParseError;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Invalid(ParseError),
    /// `reason` is said only for a literal IP: for a name, what it resolved to stays inside
    /// (a caller must not learn the org's internal DNS through refusals).
    #[error("{}", destination_message(.host, *.reason))]
    DestinationNotAllowed {
        host: String,
        reason: Option<&'static str>,
    },
    /// Says what happened, in words safe to show the caller.
    #[error("the upstream could not be reached: {0}")]
    Unreachable(String),
    #[error("the upstream did not answer in time")]
    Timeout,
    #[error("the credential's mTLS material cannot be used: {0}")]
    BadIdentity(String),
    /// The operator's extra CA file cannot be used; the start is refused.
    #[error("dispatch.extra_ca_file: {0}")]
    ExtraCa(String),
    #[error("the TLS client could not be set up")]
    Tls(#[source] rustls::Error),
    #[error("the HTTP client could not be built")]
    Client(#[source] reqwest::Error),
}

/// Why a destination is refused; shared with the dispatcher's own error of the same name.
pub fn destination_message(host: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!(
            "{host} is {reason}; Keyway does not call it (dispatch.allow_networks lists exceptions)"
        ),
        None => format!(
            "Keyway does not call {host}: it does not lead to a public address (dispatch.allow_networks lists exceptions)"
        ),
    }
}

/// A name the vetting resolver refused or could not resolve; what it resolved to is not said.
impl From<&crate::resolver::VetError> for NetError {
    fn from(err: &crate::resolver::VetError) -> Self {
        use crate::resolver::VetError;
        match err {
            VetError::Refused(refused) => NetError::DestinationNotAllowed {
                host: refused.host.clone(),
                reason: None,
            },
            VetError::Lookup(_) => {
                NetError::Unreachable("the host name could not be resolved".into())
            }
        }
    }
}
