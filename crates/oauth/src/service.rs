//! The OAuth client's operations: connecting a credential (authorization code with PKCE and a
//! state kept in the database, or client credentials), the redirect, and revocation.

use crate::catalog::Catalog;
use crate::client::millis;
use crate::client::{self, GrantError, Granted, StoredTokens};
use crate::http::TokenHttp;
use crate::settings::{parse_settings, OAuthInput};
use crate::OAuthError;
use base64::Engine;
use keyway_credentials::{
    CredentialView, Credentials, InitialTokens, Material, Need, NewCredentialInput, SecretInput,
    FIELD_TOKENS,
};
use keyway_model::mtls::ValidatedMtls;
use keyway_model::oauth::{GrantType, OAuthSettings};
use keyway_model::{AllowedHosts, Caller, CredentialName, Kind, Status};
use keyway_net::Net;
use keyway_store::{
    AuditAction, AuditOutcome, CredentialRow, NewAuditEvent, OAuthStateRow, SecretRow, TokenWrite,
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// Where people and providers reach Keyway; the redirect URI is built from it.
    pub public_url: String,
    pub state_ttl: Duration,
    /// Refresh this long before the access token expires.
    pub refresh_skew: Duration,
    /// How long a refresh lease lasts without being extended.
    pub lease_ttl: Duration,
    pub timeout: Duration,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            state_ttl: Duration::from_secs(600),
            refresh_skew: Duration::from_secs(60),
            lease_ttl: Duration::from_secs(15),
            timeout: Duration::from_secs(16),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OAuth {
    pub(crate) credentials: Credentials,
    pub(crate) catalog: Catalog,
    pub(crate) net: Arc<Net>,
    pub(crate) http: TokenHttp,
    pub(crate) config: OAuthConfig,
    /// This process's name as a lease holder.
    pub(crate) holder: String,
}

/// The non-OAuth parts of a new OAuth credential.
#[derive(Debug)]
pub struct NewOAuthCredential {
    pub name: CredentialName,
    pub shared: bool,
    /// `None`: the provider preset's hosts.
    pub allowed_hosts: Option<AllowedHosts>,
    /// Proxy mode's base URL and response cap.
    pub proxy: keyway_model::ProxySettings,
    pub client_secret: Option<SecretString>,
    pub mtls: Option<ValidatedMtls>,
    pub oauth: OAuthInput,
    /// For the authorization code grant: whether to start the authorization now, and who
    /// may complete it.
    pub start: Start,
}

/// Who may complete the authorization a new credential starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Whoever holds the URL: the API hands it to its caller.
    Anyone,
    /// Only the console browser session with this binding.
    InBrowser(String),
    /// Nobody yet: the console's Connect button starts it.
    Later,
}

mod connect;
mod revoke;

pub use connect::{Connected, RedirectError, RedirectParams, Redirected};

impl OAuth {
    pub fn new(
        credentials: Credentials,
        catalog: Catalog,
        net: Arc<Net>,
        config: OAuthConfig,
    ) -> Self {
        Self {
            http: TokenHttp::new(net.clone(), config.timeout),
            credentials,
            catalog,
            net,
            config,
            holder: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// The provider presets.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn redirect_uri(&self) -> String {
        format!(
            "{}/oauth-client-service/redirect",
            self.config.public_url.trim_end_matches('/')
        )
    }

    /// `GET /v1/oauth/providers`: the catalog and the redirect URI to register.
    pub fn providers(&self) -> serde_json::Value {
        let providers: Vec<serde_json::Value> = self
            .catalog
            .iter()
            .map(|(name, p)| {
                serde_json::json!({
                    "name": name,
                    "display_name": p.display_name,
                    "authorize_url": p.authorize_url,
                    "token_url": p.token_url,
                    "revoke_url": p.revoke_url,
                    "scopes": p.scopes,
                    "authorize_params": p.authorize_params,
                    "token_params": p.token_params,
                    "client_auth": match p.client_auth {
                        crate::ClientAuth::Basic => "client_secret_basic",
                        crate::ClientAuth::Post => "client_secret_post",
                    },
                    "keep": p.keep,
                    "allowed_hosts": p.allowed_hosts,
                })
            })
            .collect();
        serde_json::json!({ "redirect_uri": self.redirect_uri(), "providers": providers })
    }

    /// Adds an OAuth credential. Authorization code: `pending_authorization` and the URL to
    /// send the person to. Client credentials: the first token is fetched first; a failure
    /// stores nothing.
    #[tracing::instrument(skip_all)]
    pub async fn create(
        &self,
        caller: &Caller,
        new: NewOAuthCredential,
    ) -> Result<(CredentialView, Option<String>), OAuthError> {
        let (settings, preset_hosts) = parse_settings(new.oauth, &self.catalog, &self.net)?;
        let allowed_hosts = match new.allowed_hosts {
            Some(hosts) => hosts,
            None => AllowedHosts::parse(&preset_hosts)?,
        };
        let (status, tokens, settings) = match settings.grant_type {
            GrantType::AuthorizationCode => (Status::PendingAuthorization, None, settings),
            GrantType::ClientCredentials => {
                let oauth =
                    client::build(&settings, new.client_secret.as_ref(), &self.redirect_uri())
                        .map_err(OAuthError::Internal)?;
                let response = client::client_credentials(&oauth, &settings, &self.http)
                    .await
                    .map_err(token_request_failed)?;
                let granted = Granted::from_response(&response, None, &settings.keep);
                let mut settings = settings;
                settings.extras.extend(granted.extras.clone());
                let initial = InitialTokens {
                    plaintext: granted.tokens.to_json(),
                    expires_at: granted.expires_at,
                };
                (Status::Connected, Some(initial), settings)
            }
        };
        let grant_type = settings.grant_type;
        let input = NewCredentialInput {
            name: new.name,
            shared: new.shared,
            allowed_hosts,
            proxy: new.proxy,
            secret: SecretInput {
                material: Material::OAuth2 {
                    client_secret: new.client_secret,
                    oauth: Box::new(settings),
                },
                mtls: new.mtls,
            },
            status,
            tokens,
        };
        let view = self.credentials.create(caller, input).await?;
        let url = match grant_type {
            GrantType::AuthorizationCode => match new.start {
                Start::Anyone => Some(self.start(caller, &view.id, None).await?),
                Start::InBrowser(binding) => {
                    Some(self.start(caller, &view.id, Some(binding)).await?)
                }
                Start::Later => None,
            },
            GrantType::ClientCredentials => None,
        };
        Ok((view, url))
    }

    pub(crate) async fn write_tokens(
        &self,
        org: &str,
        credential_id: &str,
        generation: Option<i64>,
        granted: &Granted,
        settings: &OAuthSettings,
        event: Option<&NewAuditEvent>,
    ) -> Result<bool, keyway_credentials::CredentialError> {
        let sealed =
            self.credentials
                .seal(org, credential_id, FIELD_TOKENS, &granted.tokens.to_json())?;
        let material_settings = keyway_credentials::oauth_settings_json(settings)?;
        let write = TokenWrite {
            tokens: sealed,
            token_expires_at: granted.expires_at,
            status: Status::Connected,
            settings: Some(material_settings),
        };
        let store = self.credentials.store();
        let stored = self
            .credentials
            .write_through(
                credential_id,
                store.store_tokens(credential_id, generation, &write, event),
            )
            .await?;
        Ok(stored)
    }
}

impl OAuth {
    /// Replaces an OAuth credential's client secret (and mTLS identity); its settings and
    /// the connection's tokens stay as they are. `keep_identity`: without a new mTLS
    /// identity, keep the current one (the console's edit form) instead of dropping it (the
    /// API's replace).
    pub async fn replace_client_secret(
        &self,
        caller: &Caller,
        row: &CredentialRow,
        client_secret: SecretString,
        mtls: Option<ValidatedMtls>,
        keep_identity: bool,
    ) -> Result<CredentialView, OAuthError> {
        let current = self.credentials.resolve_unchecked(&row.id).await?;
        let Material::OAuth2 { oauth, .. } = current.material else {
            return Err(OAuthError::Invalid(keyway_model::ParseError::new(
                "kind",
                "the stored credential is not OAuth 2.0",
            )));
        };
        let input = SecretInput {
            material: Material::OAuth2 {
                client_secret: Some(client_secret),
                oauth,
            },
            mtls,
        };
        Ok(if keep_identity {
            self.credentials
                .replace_secret_keeping_identity(caller, row, input)
                .await?
        } else {
            self.credentials.replace_secret(caller, row, input).await?
        })
    }
}

/// An OAuth credential's settings and client secret; an error for any other kind.
pub(crate) fn settings_of(
    material: &Material,
) -> Result<(&OAuthSettings, Option<&SecretString>), OAuthError> {
    match material {
        Material::OAuth2 {
            client_secret,
            oauth,
        } => Ok((oauth, client_secret.as_ref())),
        _ => Err(OAuthError::NotAuthorizationCode),
    }
}

fn token_request_failed(err: GrantError) -> OAuthError {
    let provider_error = match &err {
        GrantError::InvalidGrant(_) => Some("invalid_grant".to_owned()),
        GrantError::Provider { error, .. } => Some(error.clone()),
        _ => None,
    };
    OAuthError::TokenRequestFailed {
        message: err.to_string(),
        provider_error,
    }
}

fn http_method_get() -> oauth2::http::Method {
    oauth2::http::Method::GET
}
