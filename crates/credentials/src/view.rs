//! What the API shows of credentials and audit events: never secret material.

use keyway_model::mtls::MtlsSummary;
use keyway_model::ApiKeyPlacement;
use keyway_store::{AuditRow, CredentialRow, WebServiceRef};
use serde::Serialize;

use crate::material::{StoredMtls, StoredSettings};
use crate::service::from_json;
use crate::CredentialError;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Owner {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsedBy {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    pub id: String,
    pub name: String,
    pub kind: keyway_model::Kind,
    pub owner: Owner,
    pub shared: bool,
    pub status: keyway_model::Status,
    pub allowed_hosts: Vec<String>,
    /// Proxy mode: where `/v1/proxy/{id}/…` goes when a call names no `Keyway-Upstream`.
    pub proxy_base_url: Option<String>,
    /// Proxy mode: the largest answer streamed back (the server's default when null).
    pub max_response_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKeyPlacement>,
    pub token_expires_at: Option<String>,
    /// OAuth 2.0: `provider`, `grant_type`, `scopes`, `client_id` and kept token-response
    /// extras (Salesforce `instance_url`, Atlassian `cloud_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<keyway_model::oauth::GrantType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extras: Option<serde_json::Map<String, serde_json::Value>>,
    /// OAuth 2.0: the authorization server's authorization endpoint. Kept out of the API's
    /// answer (there `authorize_url` is the URL that starts a connection); the console's
    /// Connect form needs its origin in its Content-Security-Policy.
    #[serde(skip)]
    pub authorization_endpoint: Option<String>,
    pub mtls: Option<MtlsSummary>,
    pub secret_version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// How many web services use it (in a list and alone).
    pub used_by_count: usize,
    /// Which web services use it (when shown alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_by: Option<Vec<UsedBy>>,
}

impl CredentialView {
    pub(crate) fn from_row(
        row: CredentialRow,
        users: Option<Vec<WebServiceRef>>,
        used_by_count: usize,
    ) -> Result<Self, CredentialError> {
        let settings: StoredSettings = from_json(&row.settings)?;
        let mtls = row
            .mtls
            .as_deref()
            .map(from_json::<StoredMtls>)
            .transpose()?
            .map(|m| m.summary);
        let oauth = settings.oauth;
        let proxy: keyway_model::ProxySettings = from_json(&row.proxy)?;
        Ok(Self {
            proxy_base_url: proxy.base_url.map(String::from),
            max_response_bytes: proxy.max_response_bytes,
            provider: oauth.as_ref().map(|o| o.provider.clone()),
            grant_type: oauth.as_ref().map(|o| o.grant_type),
            client_id: oauth.as_ref().map(|o| o.client_id.clone()),
            scopes: oauth.as_ref().map(|o| o.scopes.clone()),
            authorization_endpoint: oauth.as_ref().and_then(|o| o.authorize_url.clone()),
            extras: oauth.map(|o| o.extras).filter(|extras| !extras.is_empty()),
            allowed_hosts: from_json(&row.allowed_hosts)?,
            id: row.id,
            name: row.name,
            kind: row.kind,
            owner: Owner {
                id: row.owner_id,
                name: row.owner_name,
            },
            shared: row.shared,
            status: row.status,
            api_key: settings.api_key,
            token_expires_at: row.token_expires_at.map(rfc3339),
            mtls,
            secret_version: row.secret_version,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
            used_by_count: users.as_ref().map_or(used_by_count, Vec::len),
            used_by: users.map(|users| {
                users
                    .into_iter()
                    .map(|u| UsedBy {
                        id: u.id,
                        name: u.name,
                    })
                    .collect()
            }),
        })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Actor {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub actor: Actor,
    pub action: String,
    pub credential_id: Option<String>,
    pub outcome: String,
    pub detail: Option<serde_json::Value>,
}

impl From<AuditRow> for AuditView {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: rfc3339(row.at),
            actor: Actor {
                id: row.actor_id,
                name: row.actor_name,
            },
            action: row.action,
            credential_id: row.credential_id,
            outcome: row.outcome,
            detail: row.detail.and_then(|d| serde_json::from_str(&d).ok()),
        }
    }
}

/// Unix milliseconds as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
