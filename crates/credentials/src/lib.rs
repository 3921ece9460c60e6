//! Credential management without HTTP: rights, sealing each secret field, resolving a credential
//! for a call, API tokens, console sessions, master-key checks and rewrap. The server, OAuth client and dispatcher share it.

pub mod cache;
pub mod console;
mod error;
mod keys;
mod material;
mod service;
pub mod tokens;
mod view;

pub use error::CredentialError;
pub use keys::{check_keyring, passphrase_key, rewrap_all, KeySetupError, RewrapReport};
pub use material::{
    oauth_settings_json, ClientIdentity, Material, SecretInput, FIELD_MATERIAL, FIELD_MTLS_KEY,
    FIELD_TOKENS,
};
pub use service::{
    AccessChange, AuditFilter, Credentials, InitialTokens, Need, NewCredentialInput, Resolved,
    DEFAULT_ORG_LIMIT,
};
pub use view::{rfc3339, AuditView, CredentialView, Owner, UsedBy};
