//! What can go wrong managing a credential, typed so each transport maps it to its own shape.

use keyway_model::ParseError;
use keyway_store::{StoreError, WebServiceRef};
use keyway_vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Missing, or not visible to the caller: the two are indistinguishable on purpose.
    #[error("no credential with this ID is visible to you")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Invalid(#[from] ParseError),
    #[error("you already have a credential with this name: choose another name")]
    NameTaken,
    #[error("the new owner already has a credential with this name: rename one of them first")]
    NewOwnerHasName,
    /// Admins may not use a member's unshared credential, so moving one to themselves (or
    /// anyone) is only for credentials whose owner left.
    #[error("only a credential whose owner was disabled (keyway user disable) can be moved to another owner; its owner can share it instead")]
    OwnerActive,
    #[error("the credential is used by {} web service(s): remove or re-point them, or delete with force=true", .0.len())]
    InUse(Vec<WebServiceRef>),
    #[error(
        "your org has {0} credentials, the most it may have: remove one before adding another"
    )]
    OrgLimit(i64),
    #[error("{0}")]
    NotImplemented(&'static str),
    #[error("storage failed")]
    Store(#[source] StoreError),
    #[error("sealed data could not be opened")]
    Vault(#[from] VaultError),
    #[error("stored credential data is malformed")]
    Corrupt(&'static str),
}

impl From<StoreError> for CredentialError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(_) => CredentialError::NameTaken,
            other => CredentialError::Store(other),
        }
    }
}
