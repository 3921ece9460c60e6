//! Token requests through the `oauth2` crate: building its client from stored settings, the
//! grants Keyway uses, and what a failed request means.

use crate::http::{HttpError, TokenHttp};
use keyway_model::oauth::ClientAuth;
use keyway_model::oauth::OAuthSettings;
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    RevocationUrl, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse as _,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Token-response fields beyond the standard ones (Salesforce `instance_url`, ...).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Extras(pub serde_json::Map<String, serde_json::Value>);

impl ExtraTokenFields for Extras {}

pub type TokenResponse = StandardTokenResponse<Extras, BasicTokenType>;

pub type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointSet,
>;

/// The sealed `tokens` field.
#[derive(Serialize, Deserialize)]
pub struct StoredTokens {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// When the access token was received (Unix ms): with the expiry, its lifetime, which
    /// bounds the refresh skew. Missing in tokens stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obtained_at: Option<i64>,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredTokens([redacted])")
    }
}

impl Drop for StoredTokens {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.access_token.zeroize();
        if let Some(r) = &mut self.refresh_token {
            r.zeroize();
        }
    }
}

impl StoredTokens {
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            self.access_token.len() + self.refresh_token.as_ref().map_or(0, String::len) + 64,
        ));
        // Serialising two strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, self);
        out
    }

    pub fn from_json(json: &SecretString) -> Option<Self> {
        serde_json::from_str(json.expose_secret()).ok()
    }
}

/// Fresh tokens from a token response, keeping `previous_refresh` when the provider sent no
/// new refresh token (Google on refresh).
pub struct Granted {
    pub tokens: StoredTokens,
    /// Unix ms; `None` when the provider gave no `expires_in` (Salesforce).
    pub expires_at: Option<i64>,
    pub extras: serde_json::Map<String, serde_json::Value>,
}

impl Granted {
    pub fn from_response(
        response: &TokenResponse,
        previous_refresh: Option<&str>,
        keep: &[String],
    ) -> Self {
        let now = now_ms();
        let expires_at = response
            .expires_in()
            .map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        let extras = response
            .extra_fields()
            .0
            .iter()
            .filter(|(k, _)| keep.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Self {
            tokens: StoredTokens {
                access_token: response.access_token().secret().clone(),
                refresh_token: response
                    .refresh_token()
                    .map(|r| r.secret().clone())
                    .or_else(|| previous_refresh.map(str::to_owned)),
                obtained_at: Some(now),
            },
            expires_at,
            extras,
        }
    }
}

/// What a failed token request means for the credential.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// `invalid_grant`: the grant is revoked or expired; the owner must connect again.
    #[error("the provider refused the grant (invalid_grant){}", describe(.0))]
    InvalidGrant(Option<String>),
    /// The provider answered with another OAuth error (`invalid_client`, ...).
    #[error("the provider answered {error}{}", describe(.description))]
    Provider {
        error: String,
        description: Option<String>,
    },
    /// Network trouble or a 5xx: worth retrying, not a revocation.
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Failed(String),
}

fn describe(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(": {}", d.chars().take(300).collect::<String>()))
        .unwrap_or_default()
}

impl GrantError {
    pub fn from_request(err: RequestTokenError<HttpError, BasicErrorResponse>) -> Self {
        match err {
            RequestTokenError::ServerResponse(resp) => {
                let description = resp.error_description().cloned();
                match resp.error() {
                    BasicErrorResponseType::InvalidGrant => GrantError::InvalidGrant(description),
                    other => GrantError::Provider {
                        error: other.to_string(),
                        description,
                    },
                }
            }
            RequestTokenError::Request(http) if http.is_transient() => {
                GrantError::Transient(http.to_string())
            }
            RequestTokenError::Request(http) => GrantError::Failed(http.to_string()),
            RequestTokenError::Parse(..) => {
                GrantError::Failed("the provider's token response could not be read".into())
            }
            RequestTokenError::Other(_) => {
                GrantError::Failed("the provider's token response was not JSON".into())
            }
        }
    }
}

pub fn build(
    settings: &OAuthSettings,
    client_secret: Option<&SecretString>,
    redirect_uri: &str,
) -> Result<OAuthClient, String> {
    let bad = |what: &str| format!("the stored {what} is not a valid URL");
    let mut client = oauth2::Client::new(ClientId::new(settings.client_id.clone()))
        .set_auth_uri_option(
            settings
                .authorize_url
                .as_ref()
                .map(|u| AuthUrl::new(u.clone()))
                .transpose()
                .map_err(|_| bad("authorize_url"))?,
        )
        .set_token_uri(TokenUrl::new(settings.token_url.clone()).map_err(|_| bad("token_url"))?)
        .set_revocation_url_option(
            settings
                .revoke_url
                .as_ref()
                .map(|u| RevocationUrl::new(u.clone()))
                .transpose()
                .map_err(|_| bad("revoke_url"))?,
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).map_err(|_| bad("public_url"))?)
        .set_auth_type(match settings.client_auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Post => AuthType::RequestBody,
        });
    if let Some(secret) = client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
    }
    Ok(client)
}

fn scopes(settings: &OAuthSettings) -> Vec<Scope> {
    settings.scopes.iter().cloned().map(Scope::new).collect()
}

/// Scopes go as one `scope` parameter joined with the provider's separator when it is not
/// a space (the oauth2 crate always joins with spaces).
fn space_separated(settings: &OAuthSettings) -> bool {
    settings.scope_separator == " "
}

/// Adds the credential's token parameters and sends; the three token requests are different
/// types with the same methods, hence a macro.
macro_rules! send {
    ($request:expr, $settings:expr, $http:expr) => {{
        let mut request = $request;
        for (k, v) in &$settings.token_params {
            request = request.add_extra_param(k.clone(), v.clone());
        }
        request
            .request_async($http)
            .await
            .map_err(GrantError::from_request)
    }};
}

pub async fn exchange_code(
    client: &OAuthClient,
    settings: &OAuthSettings,
    http: &TokenHttp,
    code: String,
    verifier: String,
) -> Result<TokenResponse, GrantError> {
    let request = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier));
    send!(request, settings, http)
}

pub async fn refresh(
    client: &OAuthClient,
    settings: &OAuthSettings,
    http: &TokenHttp,
    refresh_token: &str,
) -> Result<TokenResponse, GrantError> {
    let token = RefreshToken::new(refresh_token.to_owned());
    send!(client.exchange_refresh_token(&token), settings, http)
}

pub async fn client_credentials(
    client: &OAuthClient,
    settings: &OAuthSettings,
    http: &TokenHttp,
) -> Result<TokenResponse, GrantError> {
    let mut request = client.exchange_client_credentials();
    if space_separated(settings) {
        request = request.add_scopes(scopes(settings));
    } else if !settings.scopes.is_empty() {
        request = request.add_extra_param("scope", settings.scope_string());
    }
    send!(request, settings, http)
}

/// The authorization URL with PKCE S256, `state` and the preset's parameters.
pub fn authorize_url(
    client: &OAuthClient,
    settings: &OAuthSettings,
    state: String,
    challenge: oauth2::PkceCodeChallenge,
) -> Result<url::Url, String> {
    let mut request = client
        .authorize_url(move || oauth2::CsrfToken::new(state))
        .map_err(|_| "the credential has no authorize_url".to_owned())?
        .set_pkce_challenge(challenge);
    if space_separated(settings) {
        request = request.add_scopes(scopes(settings));
    } else if !settings.scopes.is_empty() {
        request = request.add_extra_param("scope", settings.scope_string());
    }
    for (k, v) in &settings.authorize_params {
        request = request.add_extra_param(k.clone(), v.clone());
    }
    Ok(request.url().0)
}

pub use keyway_store::now_ms;

pub(crate) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
