//! Secret material per kind and how it is sealed: one vault field per secret part, each bound
//! to its org, credential and field name.

use keyway_model::mtls::ValidatedMtls;
use keyway_model::oauth::OAuthSettings;
use keyway_model::{ApiKeyPlacement, Kind};
use keyway_store::SecretRow;
use keyway_vault::{Context, Keyring, Sealed, VaultError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::CredentialError;

/// The kind's secret part (username and password, or the API key) as one JSON document.
pub const FIELD_MATERIAL: &str = "material";
/// The mTLS private key, PKCS#8 PEM.
pub const FIELD_MTLS_KEY: &str = "mtls_key";
/// OAuth 2.0 access and refresh token, one JSON document (so a rotated refresh token is
/// written with its access token).
pub const FIELD_TOKENS: &str = "tokens";

/// What a credential signs with. Secrets stay in `SecretString`s.
#[derive(Debug)]
pub enum Material {
    Basic {
        username: SecretString,
        password: SecretString,
    },
    ApiKey {
        api_key: SecretString,
        placement: ApiKeyPlacement,
    },
    /// The client secret is the secret part; `oauth` holds the OAuth client's settings
    /// (provider, endpoints, scopes, kept extras), which are not secret.
    OAuth2 {
        client_secret: Option<SecretString>,
        oauth: Box<OAuthSettings>,
    },
}

/// New secret material for a credential: the kind's part and optional mTLS identity.
#[derive(Debug)]
pub struct SecretInput {
    pub material: Material,
    pub mtls: Option<ValidatedMtls>,
}

/// An mTLS identity opened for a call.
#[derive(Debug)]
pub struct ClientIdentity {
    pub certificate_pem: String,
    pub private_key_pem: SecretString,
    pub ca_certificate_pem: Option<String>,
}

#[derive(Serialize)]
struct BasicRef<'a> {
    username: &'a str,
    password: &'a str,
}

#[derive(Deserialize)]
struct BasicOwned {
    username: SecretString,
    password: SecretString,
}

#[derive(Serialize)]
struct ApiKeyRef<'a> {
    api_key: &'a str,
}

#[derive(Deserialize)]
struct ApiKeyOwned {
    api_key: SecretString,
}

#[derive(Serialize)]
struct OAuthRef<'a> {
    client_secret: Option<&'a str>,
}

#[derive(Deserialize)]
struct OAuthOwned {
    client_secret: Option<SecretString>,
}

/// Non-secret settings stored beside the credential.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StoredSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKeyPlacement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthSettings>,
}

/// The stored settings of an OAuth credential whose settings changed (kept token-response
/// extras after a connect or refresh), in the one shape `StoredSettings` reads back.
pub fn oauth_settings_json(oauth: &OAuthSettings) -> Result<String, CredentialError> {
    let settings = StoredSettings {
        oauth: Some(oauth.clone()),
        ..StoredSettings::default()
    };
    serde_json::to_string(&settings)
        .map_err(|_| CredentialError::Corrupt("settings could not be encoded"))
}

/// Non-secret mTLS facts stored beside the credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredMtls {
    pub certificate_pem: String,
    pub ca_certificate_pem: Option<String>,
    pub summary: keyway_model::mtls::MtlsSummary,
}

impl Material {
    pub fn kind(&self) -> Kind {
        match self {
            Material::Basic { .. } => Kind::Basic,
            Material::ApiKey { .. } => Kind::ApiKey,
            Material::OAuth2 { .. } => Kind::Oauth2,
        }
    }

    pub(crate) fn settings(&self) -> StoredSettings {
        match self {
            Material::Basic { .. } => StoredSettings::default(),
            Material::ApiKey { placement, .. } => StoredSettings {
                api_key: Some(placement.clone()),
                ..StoredSettings::default()
            },
            Material::OAuth2 { oauth, .. } => StoredSettings {
                oauth: Some((**oauth).clone()),
                ..StoredSettings::default()
            },
        }
    }

    fn plaintext(&self) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
        // Big enough for the worst JSON escaping, so the buffer never reallocates and leaves
        // an unwiped copy of the plaintext behind.
        let secret_len = match self {
            Material::Basic { username, password } => {
                username.expose_secret().len() + password.expose_secret().len()
            }
            Material::ApiKey { api_key, .. } => api_key.expose_secret().len(),
            Material::OAuth2 { client_secret, .. } => client_secret
                .as_ref()
                .map_or(0, |s| s.expose_secret().len()),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(secret_len * 6 + 64));
        let written = match self {
            Material::Basic { username, password } => serde_json::to_writer(
                &mut *out,
                &BasicRef {
                    username: username.expose_secret(),
                    password: password.expose_secret(),
                },
            ),
            Material::ApiKey { api_key, .. } => serde_json::to_writer(
                &mut *out,
                &ApiKeyRef {
                    api_key: api_key.expose_secret(),
                },
            ),
            Material::OAuth2 { client_secret, .. } => serde_json::to_writer(
                &mut *out,
                &OAuthRef {
                    client_secret: client_secret.as_ref().map(|s| s.expose_secret()),
                },
            ),
        };
        written.map_err(|_| CredentialError::Corrupt("material could not be encoded"))?;
        Ok(out)
    }

    pub(crate) fn open(
        kind: Kind,
        plaintext: &[u8],
        settings: &StoredSettings,
    ) -> Result<Self, CredentialError> {
        let corrupt = |_| CredentialError::Corrupt("material does not match the credential kind");
        match kind {
            Kind::Basic => {
                let BasicOwned { username, password } =
                    serde_json::from_slice(plaintext).map_err(corrupt)?;
                Ok(Material::Basic { username, password })
            }
            Kind::ApiKey => {
                let ApiKeyOwned { api_key } = serde_json::from_slice(plaintext).map_err(corrupt)?;
                let placement = settings
                    .api_key
                    .clone()
                    .ok_or(CredentialError::Corrupt("api_key placement missing"))?;
                Ok(Material::ApiKey { api_key, placement })
            }
            Kind::Oauth2 => {
                let OAuthOwned { client_secret } =
                    serde_json::from_slice(plaintext).map_err(corrupt)?;
                let oauth = Box::new(
                    settings
                        .oauth
                        .clone()
                        .ok_or(CredentialError::Corrupt("OAuth settings missing"))?,
                );
                Ok(Material::OAuth2 {
                    client_secret,
                    oauth,
                })
            }
        }
    }
}

impl SecretInput {
    /// Seals every secret part for the credential `id` in `org`.
    pub(crate) fn seal(
        &self,
        keyring: &Keyring,
        org: &str,
        id: &str,
    ) -> Result<Vec<SecretRow>, CredentialError> {
        let mut rows = vec![seal_field(
            keyring,
            org,
            id,
            FIELD_MATERIAL,
            &self.material.plaintext()?,
        )?];
        if let Some(mtls) = &self.mtls {
            rows.push(seal_field(
                keyring,
                org,
                id,
                FIELD_MTLS_KEY,
                mtls.private_key_pem.expose_secret().as_bytes(),
            )?);
        }
        Ok(rows)
    }

    pub(crate) fn stored_mtls(&self) -> Option<StoredMtls> {
        self.mtls.as_ref().map(|m| StoredMtls {
            certificate_pem: m.certificate_pem.clone(),
            ca_certificate_pem: m.ca_certificate_pem.clone(),
            summary: m.summary.clone(),
        })
    }
}

pub(crate) fn seal_field(
    keyring: &Keyring,
    org: &str,
    id: &str,
    field: &str,
    plaintext: &[u8],
) -> Result<SecretRow, VaultError> {
    let ctx = Context {
        org,
        record: id,
        field,
    };
    let sealed = keyring.seal(ctx, plaintext)?;
    Ok(SecretRow {
        field: field.to_owned(),
        key_id: sealed.key_id,
        wrapped_key: sealed.wrapped_key,
        ciphertext: sealed.ciphertext,
    })
}

pub(crate) fn open_field(
    keyring: &Keyring,
    org: &str,
    id: &str,
    row: SecretRow,
) -> Result<secrecy::SecretSlice<u8>, VaultError> {
    let SecretRow {
        field,
        key_id,
        wrapped_key,
        ciphertext,
    } = row;
    let ctx = Context {
        org,
        record: id,
        field: &field,
    };
    let sealed = Sealed {
        key_id,
        wrapped_key,
        ciphertext,
    };
    keyring.open(ctx, &sealed)
}
