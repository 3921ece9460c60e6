//! Account pages: the list, one account's page, renaming and removing (adding is in
//! `add.rs`). Each action goes through the same service as the
//! API endpoint it mirrors, so the rights and the checks are the API's.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use keyway_credentials::console as sessions;
use keyway_credentials::{AccessChange, CredentialError, Need};
use keyway_model::{AllowedHosts, ApiKeyPlacement, Caller, CredentialName, Role};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::pages::{self, page, CredentialRow};
use super::{form, see_other, signed_in, ConsoleError};
use crate::error::ApiError;
use crate::AppState;

/// A signed-in form post: the caller, once the form's CSRF token matches their session.
pub(super) async fn signed_in_post(
    req: &HttpRequest,
    state: &AppState,
    csrf: &str,
) -> Result<(Caller, String), ConsoleError> {
    let (caller, session) = signed_in(req, state).await?;
    if !sessions::csrf_matches(session.expose_secret(), csrf) {
        return Err(ConsoleError::Csrf);
    }
    Ok((caller, sessions::csrf_token(session.expose_secret())))
}

/// The notices of an account's page and the list.
const NOTICES: &[(&str, &str)] = &[
    ("added", "The account was added."),
    ("renamed", "The account was renamed."),
    ("removed", "The account was removed."),
    ("access", "Sharing and allowed hosts were saved."),
    ("secret", "The secret was replaced."),
    ("connected", "The account is connected."),
    (
        "added-connect",
        "The account was added. Register the redirect URL below with the provider, then connect it.",
    ),
];

fn notice(req: &HttpRequest) -> Option<&'static str> {
    super::notice(req, NOTICES)
}

pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (caller, session) = signed_in(&req, &state).await?;
    let views = state
        .credentials
        .list(&caller)
        .await
        .map_err(ApiError::from)?;
    let csrf = sessions::csrf_token(session.expose_secret());
    let (pager, shown) = pages::Pager::new(req.query_string(), views.len());
    Ok(page(
        StatusCode::OK,
        &pages::Credentials {
            title: "Accounts",
            frame: pages::Frame::new(&caller, &csrf),
            notice: notice(&req),
            rows: views
                .into_iter()
                .skip(shown.start)
                .take(shown.len())
                .map(CredentialRow::from)
                .collect(),
            pager,
        },
    ))
}

pub(super) async fn detail(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (caller, session) = signed_in(&req, &state).await?;
    let csrf = sessions::csrf_token(session.expose_secret());
    detail_page(
        &state,
        &caller,
        &csrf,
        &id,
        notice(&req),
        None,
        StatusCode::OK,
    )
    .await
}

pub(super) async fn detail_page(
    state: &AppState,
    caller: &Caller,
    csrf: &str,
    id: &str,
    notice: Option<&str>,
    problem: Option<&str>,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let view = match state.credentials.get(caller, id).await {
        Ok(view) => view,
        Err(CredentialError::NotFound) => return Ok(pages::not_found()),
        Err(other) => return Err(ApiError::from(other).into()),
    };
    // Whether to offer the forms; the actions check rights again, as the API does.
    let is_owner = view.owner.id == caller.user_id;
    let can_manage = is_owner || caller.role == Role::Admin;
    let allowed_hosts = view.allowed_hosts.join(", ");
    let allowed_hosts_lines = view.allowed_hosts.join("\n");
    let used_by = view
        .used_by
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|w| w.name)
        .collect();
    let oauth = oauth_facts(state, &view, is_owner);
    let mtls = view.mtls.clone();
    // The Connect form's answer redirects to the authorization server.
    let origin = oauth
        .as_ref()
        .and(view.authorization_endpoint.as_deref())
        .and_then(|endpoint| url::Url::parse(endpoint).ok())
        .map(|endpoint| endpoint.origin());
    Ok(pages::page_posting_to(
        status,
        &pages::Credential {
            title: "Account",
            frame: pages::Frame::new(caller, csrf),
            id,
            row: CredentialRow::from(view),
            allowed_hosts,
            allowed_hosts_lines,
            used_by,
            can_manage,
            is_owner,
            oauth,
            mtls,
            notice,
            problem,
        },
        origin.as_ref(),
    ))
}

fn oauth_facts(
    state: &AppState,
    view: &keyway_credentials::CredentialView,
    is_owner: bool,
) -> Option<pages::OAuthFacts> {
    let grant = view.grant_type?;
    let authorization_code = grant == keyway_oauth::GrantType::AuthorizationCode;
    let provider = view.provider.clone().unwrap_or_default();
    let provider = state
        .oauth
        .catalog()
        .get(&provider)
        .map_or(provider, |preset| preset.display_name.clone());
    Some(pages::OAuthFacts {
        provider,
        grant: if authorization_code {
            "authorization code"
        } else {
            "client credentials"
        },
        client_id: view.client_id.clone().unwrap_or_default(),
        scopes: view.scopes.clone().unwrap_or_default().join(" "),
        redirect_uri: authorization_code.then(|| state.oauth.redirect_uri()),
        connect: (authorization_code && is_owner).then_some(
            if view.status == keyway_model::Status::PendingAuthorization {
                "Connect"
            } else {
                "Reconnect"
            },
        ),
    })
}

#[derive(Deserialize)]
struct RenameForm {
    csrf: String,
    name: String,
}

pub(super) async fn rename(
    req: HttpRequest,
    id: web::Path<String>,
    body: super::FormBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: RenameForm = form(&body)?;
    let (caller, csrf) = signed_in_post(&req, &state, &posted.csrf).await?;
    let outcome: Result<_, ApiError> = async {
        let row = state
            .credentials
            .require(&caller, &id, Need::Manage)
            .await?;
        let name = CredentialName::parse(&posted.name)?;
        Ok(state.credentials.rename(&caller, &row, name).await?)
    }
    .await;
    after_change(&state, &caller, &csrf, &id, outcome.map(|_| "renamed")).await
}

#[derive(Deserialize)]
struct AccessForm {
    csrf: String,
    shared: Option<String>,
    #[serde(default)]
    allowed_hosts: String,
}

pub(super) async fn access(
    req: HttpRequest,
    id: web::Path<String>,
    body: super::FormBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: AccessForm = form(&body)?;
    let (caller, csrf) = signed_in_post(&req, &state, &posted.csrf).await?;
    let hosts: Vec<&str> = posted
        .allowed_hosts
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let outcome: Result<_, ApiError> = async {
        let row = state
            .credentials
            .require(&caller, &id, Need::ChangeAccess)
            .await?;
        let hosts = AllowedHosts::parse(&hosts)?;
        let shared = Some(posted.shared.is_some());
        let access = AccessChange {
            shared,
            allowed_hosts: Some(hosts),
            proxy: None,
        };
        Ok(state
            .credentials
            .update_access(&caller, &row, access)
            .await?)
    }
    .await;
    after_change(&state, &caller, &csrf, &id, outcome.map(|_| "access")).await
}

/// Replaces an API key, a Basic account's secret or an OAuth client secret; the key's
/// placement, the OAuth settings and, unless a new one is given, the mTLS identity stay.
pub(super) async fn replace_secret(
    req: HttpRequest,
    id: web::Path<String>,
    body: super::FormBody<{ super::add::ACCOUNT_FORM_LIMIT }>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: super::add::NewForm = form(&body)?;
    let (caller, csrf) = signed_in_post(&req, &state, &posted.csrf).await?;
    let outcome: Result<_, ApiError> = async {
        let row = state
            .credentials
            .require(&caller, &id, Need::ReplaceSecret)
            .await?;
        let mut body = posted.into_body(row.kind);
        if row.kind == keyway_model::Kind::Oauth2 {
            // Only the client secret (and optionally the identity): the settings stay.
            (body.provider, body.grant_type, body.client_id, body.scopes) =
                (None, None, None, None);
            (body.authorize_url, body.token_url, body.revoke_url) = (None, None, None);
            (body.client_auth, body.allowed_hosts, body.shared) = (None, None, None);
            let (client_secret, mtls) = crate::routes::credentials::body::oauth_secret_input(body)?;
            return Ok(state
                .oauth
                .replace_client_secret(&caller, &row, client_secret, mtls, true)
                .await?);
        }
        let placement = state.credentials.get(&caller, &id).await?.api_key;
        // The key goes where it went before, exactly (an empty prefix stays empty).
        match placement {
            Some(ApiKeyPlacement::Header {
                header_name,
                prefix,
            }) => {
                (body.header_name, body.prefix, body.query_param) =
                    (Some(header_name), Some(prefix), None);
            }
            Some(ApiKeyPlacement::Query { query_param }) => {
                (body.header_name, body.prefix, body.query_param) = (None, None, Some(query_param));
            }
            None => {}
        }
        let input = crate::routes::credentials::body::secret_input(row.kind, body)?;
        Ok(state
            .credentials
            .replace_secret_keeping_identity(&caller, &row, input)
            .await?)
    }
    .await;
    after_change(&state, &caller, &csrf, &id, outcome.map(|_| "secret")).await
}

#[derive(Deserialize)]
struct RemoveForm {
    csrf: String,
    confirm_in_use: Option<String>,
}

pub(super) async fn remove(
    req: HttpRequest,
    id: web::Path<String>,
    body: super::FormBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: RemoveForm = form(&body)?;
    let (caller, csrf) = signed_in_post(&req, &state, &posted.csrf).await?;
    let force = posted.confirm_in_use.as_deref() == Some("yes");
    let outcome: Result<_, ApiError> = async {
        let row = state
            .credentials
            .require(&caller, &id, Need::Manage)
            .await?;
        Ok(state.oauth.remove_credential(&caller, &row, force).await?)
    }
    .await;
    match outcome {
        Ok(()) => Ok(see_other("/console/credentials?done=removed")),
        Err(err) => after_change(&state, &caller, &csrf, &id, Err(err)).await,
    }
}

/// After a change: back to the account's page with a notice, or the page again with the
/// reason it was refused (a missing or another org's account is the 404 page).
pub(super) async fn after_change(
    state: &AppState,
    caller: &Caller,
    csrf: &str,
    id: &str,
    outcome: Result<&str, ApiError>,
) -> Result<HttpResponse, ConsoleError> {
    match outcome {
        Ok(done) => Ok(see_other(&format!("/console/credentials/{id}?done={done}"))),
        Err(err) if err.status_code() == StatusCode::NOT_FOUND => Ok(pages::not_found()),
        Err(err) if err.status_code().is_client_error() => {
            let problem = err.to_string();
            detail_page(
                state,
                caller,
                csrf,
                id,
                None,
                Some(&problem),
                err.status_code(),
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
}
