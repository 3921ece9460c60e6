//! Failures of the OAuth client's API operations.

use keyway_credentials::CredentialError;
use keyway_model::ParseError;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error(transparent)]
    Invalid(ParseError),
    #[error(transparent)]
    Credential(CredentialError),
    /// The provider refused or failed the first token request (client credentials); nothing
    /// was stored.
    #[error("the provider did not issue a token: {message}")]
    TokenRequestFailed {
        message: String,
        provider_error: Option<String>,
    },
    #[error("this credential does not use the authorization_code grant")]
    NotAuthorizationCode,
    #[error("{0}")]
    Internal(String),
}

impl From<CredentialError> for OAuthError {
    fn from(err: CredentialError) -> Self {
        OAuthError::Credential(err)
    }
}

impl From<ParseError> for OAuthError {
    fn from(err: ParseError) -> Self {
        OAuthError::Invalid(err)
    }
}
