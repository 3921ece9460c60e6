//! The OAuth client's operations: connecting a credential (authorization code with PKCE and a
//! state kept in the database, or client credentials), the redirect, and revocation.

use crate::catalog::Catalog;
use crate::client::millis;
use crate::client::{self, GrantError, Granted, StoredTokens};
use crate::http::TokenHttp;
use crate::settings::{GrantType, OAuthInput, OAuthSettings};
use crate::OAuthError;
use base64::Engine;
use keyway_credentials::{
    CredentialView, Credentials, InitialTokens, Material, Need, NewCredentialInput, SecretInput,
    FIELD_TOKENS,
};
use keyway_dispatch::Net;
use keyway_model::mtls::ValidatedMtls;
use keyway_model::{AllowedHosts, Caller, CredentialName, Kind, Status};
use keyway_store::{
    AuditAction, AuditOutcome, NewAuditEvent, OAuthStateRow, SecretRow, TokenWrite,
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
    pub client_secret: Option<SecretString>,
    pub mtls: Option<ValidatedMtls>,
    pub oauth: OAuthInput,
}

/// What the redirect page says after a successful connection.
#[derive(Debug)]
pub struct Connected {
    pub credential_name: String,
    pub provider: String,
}

/// Why a redirect was refused; the page says so and nothing changes.
#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    #[error("the request has no state parameter: start the connection again from Keyway")]
    MissingState,
    #[error("this authorization request is unknown or was already used: start the connection again from Keyway")]
    UnknownState,
    #[error("this authorization request expired: start the connection again from Keyway")]
    Expired,
    #[error("the provider refused the authorization ({error}){}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider {
        error: String,
        description: Option<String>,
    },
    #[error(
        "the response came from an unexpected issuer; it was refused (possible mix-up attack)"
    )]
    IssuerMismatch,
    #[error("the provider sent no authorization code")]
    MissingCode,
    #[error("the credential this request belongs to no longer exists")]
    CredentialGone,
    #[error("exchanging the authorization code failed: {0}")]
    Exchange(String),
    #[error("the connection could not be stored; try again")]
    Internal,
}

/// The redirect's query parameters.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RedirectParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

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
        let (settings, preset_hosts) = OAuthSettings::parse(new.oauth, &self.catalog, &self.net)?;
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
            secret: SecretInput {
                material: Material::OAuth2 {
                    client_secret: new.client_secret,
                    oauth: serde_json::to_value(&settings)
                        .map_err(|e| OAuthError::Internal(e.to_string()))?,
                },
                mtls: new.mtls,
            },
            status,
            tokens,
        };
        let view = self.credentials.create(caller, input).await?;
        let url = match grant_type {
            GrantType::AuthorizationCode => Some(self.start(caller, &view.id).await?),
            GrantType::ClientCredentials => None,
        };
        Ok((view, url))
    }

    /// `POST /v1/credentials/{id}/authorize`: a fresh authorization URL (the owner connects
    /// again).
    pub async fn reconnect_url(&self, caller: &Caller, id: &str) -> Result<String, OAuthError> {
        let row = self
            .credentials
            .require(caller, id, Need::ReplaceSecret)
            .await?;
        if Kind::parse(&row.kind) != Some(Kind::Oauth2) {
            return Err(OAuthError::NotAuthorizationCode);
        }
        self.start(caller, id).await
    }

    async fn start(&self, caller: &Caller, id: &str) -> Result<String, OAuthError> {
        let resolved = self.credentials.resolve_unchecked(id).await?;
        let (settings, secret) = settings_of(&resolved.material)?;
        if settings.grant_type != GrantType::AuthorizationCode {
            return Err(OAuthError::NotAuthorizationCode);
        }
        let oauth =
            client::build(&settings, secret, &self.redirect_uri()).map_err(OAuthError::Internal)?;
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        let digest = digest(&state);
        let sealed = self.credentials.seal(
            &resolved.row.org_id,
            id,
            &format!("pkce:{digest}"),
            verifier.secret().as_bytes(),
        )?;
        let now = client::now_ms();
        self.credentials
            .store()
            .insert_oauth_state(&OAuthStateRow {
                state_digest: digest,
                credential_id: id.to_owned(),
                issuer: settings.issuer.clone(),
                verifier_key_id: sealed.key_id,
                verifier_wrapped: sealed.wrapped_key,
                verifier_ciphertext: sealed.ciphertext,
                created_at: now,
                expires_at: now + millis(self.config.state_ttl),
            })
            .await
            .map_err(|e| OAuthError::Credential(e.into()))?;
        let url = client::authorize_url(&oauth, &settings, state, challenge)
            .map_err(OAuthError::Internal)?;
        tracing::info!(credential_id = %id, actor = %caller.user_id, "authorization started");
        Ok(url.to_string())
    }

    /// `GET /oauth-client-service/redirect`: checks the state (known, unused, unexpired),
    /// the issuer, then exchanges the code and stores the tokens.
    #[tracing::instrument(skip_all)]
    pub async fn complete(&self, params: RedirectParams) -> Result<Connected, RedirectError> {
        let state = params.state.ok_or(RedirectError::MissingState)?;
        let row = self
            .credentials
            .store()
            .take_oauth_state(&digest(&state))
            .await
            .map_err(|e| internal("taking the state", &e))?
            .ok_or(RedirectError::UnknownState)?;
        if row.expires_at < client::now_ms() {
            return Err(RedirectError::Expired);
        }
        if let Some(error) = params.error {
            return Err(RedirectError::Provider {
                error: clip(&error),
                description: params.error_description.as_deref().map(clip),
            });
        }
        if let Some(iss) = &params.iss {
            if iss.trim_end_matches('/') != row.issuer.trim_end_matches('/') {
                return Err(RedirectError::IssuerMismatch);
            }
        }
        let code = params.code.ok_or(RedirectError::MissingCode)?;
        let resolved = match self.credentials.resolve_unchecked(&row.credential_id).await {
            Ok(r) => r,
            Err(keyway_credentials::CredentialError::NotFound) => {
                return Err(RedirectError::CredentialGone)
            }
            Err(e) => return Err(internal("opening the credential", &e)),
        };
        let org = resolved.row.org_id.clone();
        let verifier = self
            .credentials
            .open(
                &org,
                &row.credential_id,
                SecretRow {
                    field: format!("pkce:{}", row.state_digest),
                    key_id: row.verifier_key_id,
                    wrapped_key: row.verifier_wrapped,
                    ciphertext: row.verifier_ciphertext,
                },
            )
            .map_err(|e| internal("opening the PKCE verifier", &e))?;
        let verifier = String::from_utf8(verifier.expose_secret().to_vec())
            .map_err(|_| RedirectError::Internal)?;
        let (settings, secret) =
            settings_of(&resolved.material).map_err(|_| RedirectError::Internal)?;
        let oauth = client::build(&settings, secret, &self.redirect_uri())
            .map_err(|_| RedirectError::Internal)?;
        let response = client::exchange_code(&oauth, &settings, &self.http, code, verifier)
            .await
            .map_err(|e| RedirectError::Exchange(e.to_string()))?;
        let granted = Granted::from_response(&response, None, &settings.keep);
        let mut settings = settings;
        settings.extras.extend(granted.extras.clone());
        if let Some(url) = settings.resources_url.clone() {
            self.keep_resources(&mut settings, &url, &granted.tokens)
                .await;
        }
        let event = NewAuditEvent::new(AuditAction::CredentialConnect, AuditOutcome::Success)
            .by(None, "oauth-redirect")
            .on(&org, &row.credential_id, &resolved.row.owner_id)
            .detail(serde_json::json!({ "provider": settings.provider }).to_string());
        self.write_tokens(
            &org,
            &row.credential_id,
            None,
            &granted,
            &settings,
            Some(&event),
        )
        .await
        .map_err(|e| internal("storing the tokens", &e))?;
        // A custom provider is named by its authorization server's host.
        let host = settings
            .authorize_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned));
        let provider = match (settings.provider.as_str(), host) {
            ("custom", Some(host)) => host,
            (name, _) => self
                .catalog
                .get(name)
                .map_or_else(|| name.to_owned(), |p| p.display_name.clone()),
        };
        Ok(Connected {
            credential_name: resolved.row.name.clone(),
            provider,
        })
    }

    /// Atlassian: the cloud ID API calls need, from `accessible-resources`. Best effort.
    async fn keep_resources(&self, settings: &mut OAuthSettings, url: &str, tokens: &StoredTokens) {
        let request = oauth2::HttpRequest::new(Vec::new());
        let mut request = request;
        *request.method_mut() = http_method_get();
        if let Ok(uri) = url.parse() {
            *request.uri_mut() = uri;
        }
        if let Ok(value) = format!("Bearer {}", tokens.access_token).parse() {
            request.headers_mut().insert("authorization", value);
        }
        if let Ok(value) = "application/json".parse() {
            request.headers_mut().insert("accept", value);
        }
        let Ok(response) = self.http.send(request).await else {
            tracing::warn!("accessible resources could not be fetched");
            return;
        };
        let first = serde_json::from_slice::<serde_json::Value>(response.body())
            .ok()
            .and_then(|v| v.as_array().and_then(|a| a.first().cloned()));
        if let Some(site) = first {
            if let Some(id) = site.get("id") {
                settings.extras.insert("cloud_id".into(), id.clone());
            }
            if let Some(url) = site.get("url") {
                settings.extras.insert("site_url".into(), url.clone());
            }
        }
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
        let material_settings = serde_json::json!({ "oauth": settings }).to_string();
        let write = TokenWrite {
            tokens: sealed,
            token_expires_at: granted.expires_at,
            status: Status::Connected.as_str().into(),
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

    /// Revokes the credential's refresh token (or access token) at the provider, RFC 7009,
    /// best effort; call with what was resolved before the credential was removed.
    pub async fn revoke(&self, resolved: &keyway_credentials::Resolved, caller: &Caller) {
        let Ok((settings, secret)) = settings_of(&resolved.material) else {
            return;
        };
        let (Some(_), Some(tokens)) = (&settings.revoke_url, resolved.tokens.as_ref()) else {
            return;
        };
        let Some(tokens) = StoredTokens::from_json(tokens) else {
            return;
        };
        let outcome = self.revoke_at_provider(&settings, secret, &tokens).await;
        let (result, detail) = match &outcome {
            Ok(()) => (
                AuditOutcome::Success,
                serde_json::json!({ "provider": settings.provider }),
            ),
            Err(why) => (
                AuditOutcome::Failure,
                serde_json::json!({ "provider": settings.provider, "error": why }),
            ),
        };
        if let Err(why) = &outcome {
            tracing::warn!(credential_id = %resolved.row.id, error = %why, "token revocation failed");
        }
        let event = NewAuditEvent::new(AuditAction::CredentialRevokeTokens, result)
            .by(Some(&caller.user_id), &caller.user_name)
            .on(
                &resolved.row.org_id,
                &resolved.row.id,
                &resolved.row.owner_id,
            )
            .detail(detail.to_string());
        if let Err(e) = self.credentials.store().append_audit(&event).await {
            tracing::error!(error = %e, "the revocation could not be audited");
        }
    }
}

impl OAuth {
    /// RFC 7009: the refresh token if there is one (revoking it ends the grant), else the
    /// access token. Written here rather than through the oauth2 crate, which only revokes
    /// at https endpoints (the test server is plain http on loopback).
    async fn revoke_at_provider(
        &self,
        settings: &OAuthSettings,
        secret: Option<&SecretString>,
        tokens: &StoredTokens,
    ) -> Result<(), String> {
        let Some(url) = &settings.revoke_url else {
            return Err("the provider has no revocation endpoint".into());
        };
        let (token, hint) = match &tokens.refresh_token {
            Some(r) => (r.as_str(), "refresh_token"),
            None => (tokens.access_token.as_str(), "access_token"),
        };
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", token)
            .append_pair("token_type_hint", hint);
        let mut request = oauth2::HttpRequest::new(Vec::new());
        *request.method_mut() = oauth2::http::Method::POST;
        *request.uri_mut() = url
            .parse()
            .map_err(|_| "the revocation URL is invalid".to_owned())?;
        let headers = request.headers_mut();
        headers.insert(
            oauth2::http::header::CONTENT_TYPE,
            oauth2::http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        match (settings.client_auth, secret) {
            (crate::ClientAuth::Basic, Some(secret)) => {
                // RFC 6749 2.3.1: both parts form-encoded before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let pair = zeroize::Zeroizing::new(format!(
                    "{}:{}",
                    enc(&settings.client_id),
                    enc(secret.expose_secret())
                ));
                let value = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
                );
                let mut value = oauth2::http::HeaderValue::from_str(&value)
                    .map_err(|_| "the client secret cannot go into a header".to_owned())?;
                value.set_sensitive(true);
                headers.insert(oauth2::http::header::AUTHORIZATION, value);
            }
            (_, secret) => {
                form.append_pair("client_id", &settings.client_id);
                if let Some(secret) = secret {
                    form.append_pair("client_secret", secret.expose_secret());
                }
            }
        }
        *request.body_mut() = zeroize::Zeroizing::new(form.finish()).as_bytes().to_vec();
        let response = self.http.send(request).await.map_err(|e| e.to_string())?;
        // RFC 7009 2.2: 200 whether or not the token was valid.
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the provider answered HTTP {}",
                response.status().as_u16()
            ))
        }
    }
}

fn http_method_get() -> oauth2::http::Method {
    oauth2::http::Method::GET
}

pub(crate) fn settings_of(
    material: &Material,
) -> Result<(OAuthSettings, Option<&SecretString>), OAuthError> {
    match material {
        Material::OAuth2 {
            client_secret,
            oauth,
        } => Ok((
            serde_json::from_value(oauth.clone())
                .map_err(|_| OAuthError::Internal("stored OAuth settings are malformed".into()))?,
            client_secret.as_ref(),
        )),
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

fn digest(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn internal(what: &str, err: &dyn std::fmt::Display) -> RedirectError {
    tracing::error!(error = %err, "{what} failed during the OAuth redirect");
    RedirectError::Internal
}
