//! Keyway's domain types: what a credential, a caller and their rights are, parsed once at the edge.

pub mod credential;
pub mod mtls;
pub mod rights;

pub use credential::{AllowedHosts, ApiKeyPlacement, CredentialName, Kind, ParseError, Status};
pub use rights::{Access, Caller, Role};
