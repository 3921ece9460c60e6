//! `/v1/credentials`: add, list, show, rename, replace the secret of, and remove credentials.
//! Rights are checked before a body is read, so a caller learns nothing from validation errors.

use actix_web::{web, HttpRequest, HttpResponse};
use keyway_credentials::{AccessChange, Material, Need, NewCredentialInput, SecretInput};
use keyway_model::mtls::{self, MtlsInput};
use keyway_model::Caller;
use keyway_model::{
    AllowedHosts, ApiKeyPlacement, CredentialName, Kind, ParseError, ProxyBaseUrl, ProxySettings,
};
use keyway_oauth::{NewOAuthCredential, OAuthInput, Start};
use keyway_store::CredentialRow;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::AppState;

pub(crate) mod body;

use body::{
    oauth_secret_input, parse_kind, proxy_settings, refuse_non_oauth_fields, required, secret,
    secret_input, validated_mtls, CredentialBody,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    name: Option<String>,
    shared: Option<bool>,
    allowed_hosts: Option<Vec<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    proxy_base_url: Option<Option<String>>,
    /// `null` goes back to the default (1 MiB).
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<u64>)]
    max_response_bytes: Option<Option<u64>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn given<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    owner: String,
}

#[derive(Deserialize)]
struct DeleteParams {
    #[serde(default)]
    force: bool,
}

#[utoipa::path(post, path = "/v1/credentials", operation_id = "create_credential", summary = "Add a credential (Basic, API key or OAuth 2.0, optionally with mTLS)", tag = "credentials", security(("bearer" = [])),
    request_body = CredentialBody,
    responses(
        (status = 201, description = "Added; for the authorization code grant, `authorize_url` is where to send the person", body = crate::openapi::CreatedCredential,
            links(
                ("get" = (operation_id = "get_credential", parameters(("id" = "$response.body#/id")))),
                ("update" = (operation_id = "update_credential", parameters(("id" = "$response.body#/id")))),
                ("delete" = (operation_id = "delete_credential", parameters(("id" = "$response.body#/id")))),
                ("transfer" = (operation_id = "transfer_credential", parameters(("id" = "$response.body#/id")))),
                ("secret" = (operation_id = "replace_credential_secret", parameters(("id" = "$response.body#/id")))),
                ("authorize" = (operation_id = "reconnect_credential", parameters(("id" = "$response.body#/id")))),
                ("audit" = (operation_id = "list_audit_events", parameters(("credential_id" = "$response.body#/id")))),
            )),
        (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn create(
    body: JsonBody,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let mut body: CredentialBody = body.read().await?;
    let name = CredentialName::parse(&required(body.name.take(), "name")?)?;
    let kind = parse_kind(&required(body.kind.take(), "kind")?)?;
    if kind == Kind::Oauth2 {
        let (view, authorize_url) =
            create_oauth(&state, &caller, name, body, Start::Anyone).await?;
        let mut json = serde_json::to_value(&view).map_err(|e| ApiError::Internal(Box::new(e)))?;
        if let Some(url) = authorize_url {
            json["authorize_url"] = json!(url);
        }
        return Ok(super::created(format!("/v1/credentials/{}", view.id), json));
    }
    let view = create_with_secret(&state, &caller, name, kind, body).await?;
    Ok(super::created(format!("/v1/credentials/{}", view.id), view))
}

/// A Basic or API-key credential from a parsed body: the one path the API and the console
/// both take, so both check the same fields the same way.
pub(crate) async fn create_with_secret(
    state: &AppState,
    caller: &Caller,
    name: CredentialName,
    kind: Kind,
    mut body: CredentialBody,
) -> Result<keyway_credentials::CredentialView, ApiError> {
    let allowed_hosts = AllowedHosts::parse(&body.allowed_hosts.take().unwrap_or_default())?;
    let proxy = proxy_settings(
        body.proxy_base_url.as_deref(),
        body.max_response_bytes,
        state.dispatcher.config().proxy_max_response_bytes,
    )?;
    let input = NewCredentialInput {
        name,
        shared: body.shared.unwrap_or(false),
        allowed_hosts,
        proxy,
        secret: secret_input(kind, body)?,
        status: keyway_model::Status::Active,
        tokens: None,
    };
    Ok(state.credentials.create(caller, input).await?)
}

/// An OAuth credential, with the URL to send the person to for the authorization code grant;
/// the client credentials grant fetches its first token before anything is stored. The API
/// and the console (which passes its browser session's binding) both come this way.
pub(crate) async fn create_oauth(
    state: &AppState,
    caller: &keyway_model::Caller,
    name: CredentialName,
    mut body: CredentialBody,
    start: Start,
) -> Result<(keyway_credentials::CredentialView, Option<String>), ApiError> {
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
    let proxy = proxy_settings(
        body.proxy_base_url.as_deref(),
        body.max_response_bytes,
        state.dispatcher.config().proxy_max_response_bytes,
    )?;
    let new = NewOAuthCredential {
        name,
        shared: body.shared.unwrap_or(false),
        allowed_hosts,
        proxy,
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
        start,
    };
    Ok(state.oauth.create(caller, new).await?)
}

/// `POST /v1/credentials/{id}/authorize`: a fresh URL to connect the account again.
#[utoipa::path(post, path = "/v1/credentials/{id}/authorize", operation_id = "reconnect_credential", summary = "Start connecting an OAuth 2.0 account again", tag = "oauth", security(("bearer" = [])), params(("id" = String, Path, description = "The ID")),
    responses((status = 200, description = "A fresh URL to connect the account again", body = crate::openapi::AuthorizeUrl), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn reconnect(
    id: web::Path<String>,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let url = state.oauth.reconnect_url(&caller, &id, None).await?;
    Ok(HttpResponse::Ok().json(json!({ "authorize_url": url })))
}

#[utoipa::path(get, path = "/v1/credentials", operation_id = "list_credentials", summary = "List the credentials the caller can see", tag = "credentials", security(("bearer" = [])),
    responses((status = 200, description = "The credentials the caller can see", body = crate::openapi::CredentialList), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let credentials = state.credentials.list(&caller).await?;
    Ok(HttpResponse::Ok().json(json!({ "credentials": credentials })))
}

#[utoipa::path(get, path = "/v1/credentials/{id}", operation_id = "get_credential", summary = "Show a credential and the web services that use it", tag = "credentials", security(("bearer" = [])), params(("id" = String, Path, description = "The ID")),
    responses((status = 200, description = "The credential, with the web services that use it", body = keyway_credentials::CredentialView), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn get(
    id: web::Path<String>,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.credentials.get(&caller, &id).await?))
}

/// The credential `id` if the caller has `need` on it, then the parsed body: rights come
/// first, so a caller without them learns nothing from validation errors.
async fn with_right<B: DeserializeOwned>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    need: Need,
    body: JsonBody,
) -> Result<(CredentialRow, B), ApiError> {
    let row = state.credentials.require(caller, id, need).await?;
    Ok((row, body.read().await?))
}

/// `PATCH /v1/credentials/{id}`: rename (owner or admin), and change sharing and allowed
/// hosts (owner only). The rights a body needs are checked before its values are.
#[utoipa::path(patch, path = "/v1/credentials/{id}", operation_id = "update_credential", summary = "Rename a credential, or change its sharing and allowed hosts", tag = "credentials", security(("bearer" = [])), params(("id" = String, Path, description = "The ID")),
    request_body = PatchBody,
    responses((status = 200, description = "Renamed, or sharing and allowed hosts changed (owner only)", body = keyway_credentials::CredentialView), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn update(
    id: web::Path<String>,
    body: JsonBody,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    // Whoever may change anything here may rename (owner, admin): checked before the body
    // is read; the owner-only fields are checked once the body says it has them.
    let (row, body): (_, PatchBody) = with_right(&state, &caller, &id, Need::Manage, body).await?;
    let proxy_given = body.proxy_base_url.is_some() || body.max_response_bytes.is_some();
    let access = body.shared.is_some() || body.allowed_hosts.is_some() || proxy_given;
    if body.name.is_none() && !access {
        return Err(ApiError::invalid(
            None,
            "nothing to change: give `name`, `shared`, `allowed_hosts`, `proxy_base_url` or \
             `max_response_bytes`",
        ));
    }
    if access {
        state
            .credentials
            .require(&caller, &id, Need::ChangeAccess)
            .await?;
    }
    let name = body
        .name
        .as_deref()
        .map(CredentialName::parse)
        .transpose()?;
    let hosts = body
        .allowed_hosts
        .as_deref()
        .map(AllowedHosts::parse)
        .transpose()?;
    let proxy = if proxy_given {
        let old: ProxySettings =
            serde_json::from_str(&row.proxy).map_err(|e| ApiError::Internal(Box::new(e)))?;
        let server_max = state.dispatcher.config().proxy_max_response_bytes;
        Some(ProxySettings {
            base_url: match &body.proxy_base_url {
                Some(given) => given
                    .as_deref()
                    .map(|raw| ProxyBaseUrl::parse("proxy_base_url", raw))
                    .transpose()?,
                None => old.base_url,
            },
            max_response_bytes: match body.max_response_bytes {
                Some(given) => proxy_settings(None, given, server_max)?.max_response_bytes,
                None => old.max_response_bytes,
            },
        })
    } else {
        None
    };
    let access = access.then_some(AccessChange {
        shared: body.shared,
        allowed_hosts: hosts,
        proxy,
    });
    let view = state
        .credentials
        .change(&caller, &row, name, access)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/credentials/{id}/transfer`: an admin moves a credential to another user of the org.
#[utoipa::path(post, path = "/v1/credentials/{id}/transfer", operation_id = "transfer_credential", summary = "Move a credential to another user of the org (admin)", tag = "credentials", security(("bearer" = [])), params(("id" = String, Path, description = "The ID")),
    request_body = TransferBody,
    responses((status = 200, description = "Moved to another user of the org (admin)", body = keyway_credentials::CredentialView), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn transfer(
    id: web::Path<String>,
    body: JsonBody,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (row, body): (_, TransferBody) =
        with_right(&state, &caller, &id, Need::Transfer, body).await?;
    let moved = state.credentials.transfer(&caller, &row, &body.owner);
    Ok(HttpResponse::Ok().json(moved.await?))
}

#[utoipa::path(put, path = "/v1/credentials/{id}/secret", operation_id = "replace_credential_secret", summary = "Replace a credential's secret and mTLS identity", tag = "credentials", security(("bearer" = [])), params(("id" = String, Path, description = "The ID")),
    request_body = CredentialBody,
    responses((status = 200, description = "The secret (and mTLS identity) replaced", body = keyway_credentials::CredentialView), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn replace_secret(
    id: web::Path<String>,
    body: JsonBody,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (row, mut body): (_, CredentialBody) =
        with_right(&state, &caller, &id, Need::ReplaceSecret, body).await?;
    for (present, field) in [
        (body.name.is_some(), "name"),
        (body.shared.is_some(), "shared"),
        (body.allowed_hosts.is_some(), "allowed_hosts"),
        (body.proxy_base_url.is_some(), "proxy_base_url"),
        (body.max_response_bytes.is_some(), "max_response_bytes"),
    ] {
        if present {
            return Err(ApiError::invalid(
                Some(field),
                format!("`{field}` is not secret material: this endpoint replaces only the secret (rename with PATCH)"),
            ));
        }
    }
    let kind = row.kind;
    if let Some(given) = body.kind.take() {
        if given != kind.as_str() {
            return Err(ApiError::invalid(
                Some("kind"),
                format!(
                    "this credential is of kind {}; create a new credential to change the kind",
                    kind.as_str()
                ),
            ));
        }
    }
    let view = if kind == Kind::Oauth2 {
        let (client_secret, mtls) = oauth_secret_input(body)?;
        state
            .oauth
            .replace_client_secret(&caller, &row, client_secret, mtls, false)
            .await?
    } else {
        let input = secret_input(kind, body)?;
        state
            .credentials
            .replace_secret(&caller, &row, input)
            .await?
    };
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(delete, path = "/v1/credentials/{id}", operation_id = "delete_credential", summary = "Remove a credential (revoking an OAuth grant first)", tag = "credentials", security(("bearer" = [])),
    params(("id" = String, Path, description = "The ID"),
           ("force" = Option<bool>, Query, description = "Remove it although web services use it (they then refuse to run)")),
    responses((status = 204, description = "Removed (an OAuth grant is revoked at the provider first)"), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
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
    state
        .oauth
        .remove_credential(&caller, &row, params.force)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
