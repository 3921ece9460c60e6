//! Keyway's OAuth 2.0 client: the provider catalog, the authorization code grant with PKCE
//! and a state kept in the database, the client credentials grant, token refresh across
//! replicas, and revocation.

mod catalog;
mod client;
mod error;
mod http;
mod service;
mod settings;
mod tokens;

pub use catalog::{Catalog, CatalogError, Preset};
pub use error::OAuthError;
pub use keyway_model::oauth::{ClientAuth, GrantType, OAuthSettings};
pub use service::{
    Connected, NewOAuthCredential, OAuth, OAuthConfig, RedirectError, RedirectParams, Redirected,
    Start,
};
pub use settings::OAuthInput;
