//! What the dispatcher needs from the OAuth client: a valid access token for a credential.
//! A trait here, below both, so the dispatcher can ask the OAuth client without depending on it.

use keyway_credentials::CredentialError;
use keyway_credentials::Resolved;
use secrecy::SecretString;
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The grant was revoked or never completed: the owner must connect again.
    #[error("the credential must be connected again")]
    NeedsReauthorization,
    /// The provider could not be reached or answered with an error; says what happened.
    #[error("{0}")]
    Unavailable(String),
    /// Keyway's own storage failed while reading or keeping the token: not the provider's
    /// fault, so it is answered as any storage failure is (503 when the database is down).
    #[error("the token could not be read or stored")]
    Storage(#[source] CredentialError),
}

pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SecretString, TokenError>> + Send + 'a>>;

pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// A valid access token for `resolved`. `rejected` is a token an upstream just answered
    /// 401 to: a refresh is needed unless another call already replaced it.
    fn access_token<'a>(
        &'a self,
        resolved: &'a Resolved,
        rejected: Option<&'a SecretString>,
    ) -> TokenFuture<'a>;
}
