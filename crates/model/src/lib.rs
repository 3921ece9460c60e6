//! Keyway's domain types: what a credential, a caller and their rights are, parsed once at the
//! edge; and piped text, the placeholder language of a request definition.

pub mod credential;
pub mod mtls;
pub mod oauth;
pub mod proxy;
pub mod request;
pub mod rights;
pub mod template;
pub mod tenancy;

pub use credential::{
    AllowedHosts, ApiKeyPlacement, CredentialName, Kind, ParseError, Status, UnknownName,
};
pub use proxy::{ProxyBaseUrl, ProxySettings};
pub use request::{ContentType, Header, RequestDefinition, RequestError, RequestInput};
pub use rights::{Access, Caller, Role};
pub use tenancy::{OrgSlug, UserName};
