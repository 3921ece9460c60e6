//! An OAuth 2.0 credential's settings as stored beside it (never secret): the provider,
//! endpoints, client, scopes and what was kept from token responses. Typed here so every crate
//! reads the same shape instead of re-parsing JSON.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client ID and secret.
    Basic,
    /// `client_secret_post`: both in the form body.
    Post,
}

impl ClientAuth {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "basic" | "client_secret_basic" => Some(Self::Basic),
            "post" | "client_secret_post" => Some(Self::Post),
            _ => None,
        }
    }
}

/// Stored as the credential's `settings.oauth`; never secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthSettings {
    pub provider: String,
    pub grant_type: GrantType,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub scope_separator: String,
    pub authorize_url: Option<String>,
    pub token_url: String,
    pub revoke_url: Option<String>,
    /// The issuer expected in an RFC 9207 `iss` parameter.
    pub issuer: String,
    pub authorize_params: BTreeMap<String, String>,
    pub token_params: BTreeMap<String, String>,
    pub client_auth: ClientAuth,
    pub keep: Vec<String>,
    pub resources_url: Option<String>,
    /// Kept token-response fields and resource facts (`instance_url`, `cloud_id`).
    #[serde(default)]
    pub extras: serde_json::Map<String, serde_json::Value>,
}

impl OAuthSettings {
    pub fn scope_string(&self) -> String {
        self.scopes.join(&self.scope_separator)
    }
}
