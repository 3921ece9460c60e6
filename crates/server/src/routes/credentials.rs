//! `/v1/credentials`: add, list, show, rename, replace the secret of, and remove credentials.
//! Rights are checked before a body is read, so a caller learns nothing from validation errors.

use actix_web::{web, HttpRequest, HttpResponse};
use keyway_credentials::{Material, Need, NewCredentialInput, SecretInput};
use keyway_model::mtls::{self, MtlsInput};
use keyway_model::{AllowedHosts, ApiKeyPlacement, CredentialName, Kind, ParseError};
use keyway_oauth::{NewOAuthCredential, OAuthInput};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

use crate::auth::Authenticated;
use crate::body::read_json;
use crate::error::ApiError;
use crate::AppState;

/// Longest accepted secret value (a password, an API key), in bytes.
const MAX_SECRET_BYTES: usize = 16 * 1024;

/// The body of `POST /v1/credentials` and `PUT /v1/credentials/{id}/secret`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialBody {
    name: Option<String>,
    kind: Option<String>,
    shared: Option<bool>,
    allowed_hosts: Option<Vec<String>>,
    username: Option<SecretString>,
    password: Option<SecretString>,
    api_key: Option<SecretString>,
    header_name: Option<String>,
    prefix: Option<String>,
    query_param: Option<String>,
    mtls: Option<MtlsInput>,
    // OAuth 2.0 fields; refused for other kinds.
    provider: Option<String>,
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    scopes: Option<Vec<String>>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    revoke_url: Option<String>,
    authorize_params: Option<BTreeMap<String, String>>,
    token_params: Option<BTreeMap<String, String>>,
    client_auth: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    owner: String,
}

#[derive(Deserialize)]
struct DeleteParams {
    #[serde(default)]
    force: bool,
}

pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let mut body: CredentialBody = read_json(&req, payload, state.body_limit).await?;
    let name = CredentialName::parse(&required(body.name.take(), "name")?)?;
    let kind = parse_kind(&required(body.kind.take(), "kind")?)?;
    if kind == Kind::Oauth2 {
        return create_oauth(&state, &caller, name, body).await;
    }
    let allowed_hosts = AllowedHosts::parse(&body.allowed_hosts.take().unwrap_or_default())?;
    let input = NewCredentialInput {
        name,
        shared: body.shared.unwrap_or(false),
        allowed_hosts,
        secret: secret_input(kind, body)?,
        status: keyway_model::Status::Active,
        tokens: None,
    };
    let view = state.credentials.create(&caller, input).await?;
    Ok(super::created(format!("/v1/credentials/{}", view.id), view))
}

/// An OAuth credential: `authorize_url` comes back for the authorization code grant; the
/// client credentials grant fetches its first token before anything is stored.
async fn create_oauth(
    state: &AppState,
    caller: &keyway_model::Caller,
    name: CredentialName,
    mut body: CredentialBody,
) -> Result<HttpResponse, ApiError> {
    refuse_non_oauth_fields(&body)?;
    let allowed_hosts = body
        .allowed_hosts
        .take()
        .map(|hosts| AllowedHosts::parse(&hosts))
        .transpose()?;
    let client_secret = body
        .client_secret
        .take()
        .map(|s| secret(Some(s), "client_secret", false))
        .transpose()?;
    let mtls = validated_mtls(&body)?;
    let new = NewOAuthCredential {
        name,
        shared: body.shared.unwrap_or(false),
        allowed_hosts,
        client_secret,
        mtls,
        oauth: OAuthInput {
            provider: body.provider,
            grant_type: body.grant_type,
            client_id: body.client_id,
            scopes: body.scopes,
            authorize_url: body.authorize_url,
            token_url: body.token_url,
            revoke_url: body.revoke_url,
            authorize_params: body.authorize_params,
            token_params: body.token_params,
            client_auth: body.client_auth,
        },
    };
    let (view, authorize_url) = state.oauth.create(caller, new).await?;
    let mut json = serde_json::to_value(&view).map_err(|e| ApiError::Internal(Box::new(e)))?;
    if let Some(url) = authorize_url {
        json["authorize_url"] = json!(url);
    }
    Ok(super::created(format!("/v1/credentials/{}", view.id), json))
}

/// `POST /v1/credentials/{id}/authorize`: a fresh URL to connect the account again.
pub async fn reconnect(
    id: web::Path<String>,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let url = state.oauth.reconnect_url(&caller, &id).await?;
    Ok(HttpResponse::Ok().json(json!({ "authorize_url": url })))
}

pub async fn list(
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let credentials = state.credentials.list(&caller).await?;
    Ok(HttpResponse::Ok().json(json!({ "credentials": credentials })))
}

pub async fn get(
    id: web::Path<String>,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.credentials.get(&caller, &id).await?))
}

pub async fn rename(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .credentials
        .require(&caller, &id, Need::Manage)
        .await?;
    let body: RenameBody = read_json(&req, payload, state.body_limit).await?;
    let name = CredentialName::parse(&body.name)?;
    Ok(HttpResponse::Ok().json(state.credentials.rename(&caller, &row, name).await?))
}

/// `POST /v1/credentials/{id}/transfer`: an admin moves a credential to another user of the org.
pub async fn transfer(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .credentials
        .require(&caller, &id, Need::Transfer)
        .await?;
    let body: TransferBody = read_json(&req, payload, state.body_limit).await?;
    let view = state
        .credentials
        .transfer(&caller, &row, &body.owner)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn replace_secret(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .credentials
        .require(&caller, &id, Need::ReplaceSecret)
        .await?;
    let mut body: CredentialBody = read_json(&req, payload, state.body_limit).await?;
    for (present, field) in [
        (body.name.is_some(), "name"),
        (body.shared.is_some(), "shared"),
        (body.allowed_hosts.is_some(), "allowed_hosts"),
    ] {
        if present {
            return Err(ApiError::invalid(
                Some(field),
                format!("`{field}` is not secret material: this endpoint replaces only the secret (rename with PATCH)"),
            ));
        }
    }
    let kind = parse_kind(&row.kind)?;
    if let Some(given) = body.kind.take() {
        if given != row.kind {
            return Err(ApiError::invalid(
                Some("kind"),
                format!(
                    "this credential is of kind {}; create a new credential to change the kind",
                    row.kind
                ),
            ));
        }
    }
    let input = if kind == Kind::Oauth2 {
        oauth_secret_input(&state, &id, body).await?
    } else {
        secret_input(kind, body)?
    };
    Ok(HttpResponse::Ok().json(
        state
            .credentials
            .replace_secret(&caller, &row, input)
            .await?,
    ))
}

pub async fn delete(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .credentials
        .require(&caller, &id, Need::Manage)
        .await?;
    let params: DeleteParams = super::query(req.query_string(), "force=true or force=false")?;
    // OAuth tokens are read before removal so they can be revoked at the provider after it.
    let oauth = if row.kind == Kind::Oauth2.as_str() {
        state.credentials.resolve_unchecked(&id).await.ok()
    } else {
        None
    };
    state
        .credentials
        .delete(&caller, &row, params.force)
        .await?;
    if let Some(resolved) = oauth {
        state.oauth.revoke(&resolved, &caller).await;
    }
    Ok(HttpResponse::NoContent().finish())
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::invalid(Some(field), format!("missing field `{field}`")))
}

fn parse_kind(raw: &str) -> Result<Kind, ApiError> {
    Kind::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            Some("kind"),
            "unknown kind: expected one of `basic`, `api_key`, `oauth2`",
        )
    })
}

/// The kind's secret fields and optional mTLS material, validated.
fn secret_input(kind: Kind, mut body: CredentialBody) -> Result<SecretInput, ApiError> {
    if kind != Kind::Oauth2 {
        refuse_fields(&[("client_secret", body.client_secret.is_some())], kind)?;
        refuse_fields(&oauth_settings_fields(&body), kind)?;
    }
    let material = match kind {
        Kind::Basic => {
            refuse_fields(&[("api_key", body.api_key.is_some())], kind)?;
            refuse_placement(&body, kind)?;
            let username = secret(body.username.take(), "username", false)?;
            let password = secret(body.password.take(), "password", true)?;
            Material::Basic { username, password }
        }
        Kind::ApiKey => {
            refuse_fields(
                &[
                    ("username", body.username.is_some()),
                    ("password", body.password.is_some()),
                ],
                kind,
            )?;
            let api_key = secret(body.api_key.take(), "api_key", false)?;
            let placement = ApiKeyPlacement::parse(
                body.header_name.as_deref(),
                body.prefix.as_deref(),
                body.query_param.as_deref(),
            )?;
            Material::ApiKey { api_key, placement }
        }
        Kind::Oauth2 => {
            return Err(ApiError::invalid(
                Some("kind"),
                "OAuth 2.0 credentials are created through their own path",
            ))
        }
    };
    let mtls = validated_mtls(&body)?;
    Ok(SecretInput { material, mtls })
}

/// For `PUT .../secret` on an OAuth credential: only `client_secret` (and `mtls`) change;
/// the connection's tokens stay.
async fn oauth_secret_input(
    state: &AppState,
    id: &str,
    mut body: CredentialBody,
) -> Result<SecretInput, ApiError> {
    refuse_non_oauth_fields(&body)?;
    // The connection's settings are fixed at creation; only the secret is replaced.
    refuse_fields(&oauth_settings_fields(&body), Kind::Oauth2)?;
    let client_secret = secret(body.client_secret.take(), "client_secret", false)?;
    let current = state.credentials.resolve_unchecked(id).await?;
    let Material::OAuth2 { oauth, .. } = current.material else {
        return Err(ApiError::invalid(
            Some("kind"),
            "the stored credential is not OAuth 2.0",
        ));
    };
    let mtls = validated_mtls(&body)?;
    Ok(SecretInput {
        material: Material::OAuth2 {
            client_secret: Some(client_secret),
            oauth,
        },
        mtls,
    })
}

/// Basic and API-key fields, and API-key placement, on an OAuth body.
fn refuse_non_oauth_fields(body: &CredentialBody) -> Result<(), ApiError> {
    refuse_fields(
        &[
            ("username", body.username.is_some()),
            ("password", body.password.is_some()),
            ("api_key", body.api_key.is_some()),
        ],
        Kind::Oauth2,
    )?;
    refuse_placement(body, Kind::Oauth2)
}

/// The OAuth fields that are not secret, and whether the body has each.
fn oauth_settings_fields(body: &CredentialBody) -> [(&'static str, bool); 10] {
    [
        ("provider", body.provider.is_some()),
        ("grant_type", body.grant_type.is_some()),
        ("client_id", body.client_id.is_some()),
        ("scopes", body.scopes.is_some()),
        ("authorize_url", body.authorize_url.is_some()),
        ("token_url", body.token_url.is_some()),
        ("revoke_url", body.revoke_url.is_some()),
        ("authorize_params", body.authorize_params.is_some()),
        ("token_params", body.token_params.is_some()),
        ("client_auth", body.client_auth.is_some()),
    ]
}

/// The body's mTLS material, checked now (an expired certificate is refused).
fn validated_mtls(body: &CredentialBody) -> Result<Option<mtls::ValidatedMtls>, ApiError> {
    Ok(body
        .mtls
        .as_ref()
        .map(|input| mtls::validate(input, time::OffsetDateTime::now_utc()))
        .transpose()?)
}

fn refuse_fields(fields: &[(&'static str, bool)], kind: Kind) -> Result<(), ApiError> {
    match fields.iter().find(|(_, present)| *present) {
        Some((field, _)) => Err(ApiError::invalid(
            Some(field),
            format!("`{field}` does not apply to kind {}", kind.as_str()),
        )),
        None => Ok(()),
    }
}

fn refuse_placement(body: &CredentialBody, kind: Kind) -> Result<(), ApiError> {
    refuse_fields(
        &[
            ("header_name", body.header_name.is_some()),
            ("prefix", body.prefix.is_some()),
            ("query_param", body.query_param.is_some()),
        ],
        kind,
    )
}

fn secret(
    value: Option<SecretString>,
    field: &'static str,
    may_be_empty: bool,
) -> Result<SecretString, ApiError> {
    let value = required(value, field)?;
    let len = value.expose_secret().len();
    if len == 0 && !may_be_empty {
        return Err(ParseError::new(field, "must not be empty").into());
    }
    if len > MAX_SECRET_BYTES {
        return Err(ParseError::new(
            field,
            format!("is {len} bytes long; at most {MAX_SECRET_BYTES} are allowed"),
        )
        .into());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::parse_json;

    /// Mutated credential bodies never panic the parser, and a rejection never quotes the
    /// secret that was in the body.
    #[test]
    fn mutated_bodies_are_rejected_without_echoing_secrets() {
        let secret = "s3cr3t-value-that-must-not-echo";
        let valid = json!({
            "name": "x", "kind": "basic", "username": "u", "password": secret, "shared": true,
            "allowed_hosts": ["a.example.com"], "mtls": {"certificate_pem": "c", "private_key_pem": secret},
        })
        .to_string();
        let mut state: u64 = 0x853C_49E6_748F_EA9B;
        let mut below = |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % n.max(1)
        };
        let mut rejected = 0;
        for _ in 0..20_000 {
            let mut body = valid.clone().into_bytes();
            for _ in 0..=below(3) {
                if body.is_empty() {
                    break;
                }
                let at = below(body.len());
                match below(4) {
                    0 => {
                        let bytes = b"{}[]\",:\\ 0tn\xff";
                        body[at] = bytes[below(bytes.len())];
                    }
                    1 => body.truncate(at),
                    2 => {
                        body.remove(at);
                    }
                    _ => body.insert(at, b"\"{[:,"[below(5)]),
                }
            }
            if let Err(err) = parse_json::<CredentialBody>(&body) {
                rejected += 1;
                let shown = err.to_string();
                assert!(
                    !shown.contains("s3cr3t"),
                    "a rejection echoed the secret: {shown}"
                );
            }
        }
        assert!(
            rejected > 10_000,
            "only {rejected} rejections: the mutations are too weak"
        );
    }
}
