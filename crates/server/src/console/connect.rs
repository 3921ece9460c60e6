//! Connecting an OAuth 2.0 account from the console: the Connect button sends the browser to
//! the provider with a state tied to this browser session, and the redirect brings it back to
//! the account's page with the result.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keyway_credentials::console as sessions;
use keyway_oauth::{Connected, RedirectError};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::accounts::{after_change, detail_page, signed_in_post};
use super::cookies::{cookie, SESSION_COOKIE};
use super::{form, see_other, signed_in, ConsoleError};
use crate::error::ApiError;
use crate::AppState;

/// The binding of the console session this request's browser is signed in with, if any
/// (checked against the one an OAuth state was started with).
pub(crate) fn browser_binding(req: &HttpRequest) -> Option<String> {
    cookie(req, SESSION_COOKIE).map(|session| sessions::browser_binding(session.expose_secret()))
}

#[derive(Deserialize)]
struct ConnectForm {
    csrf: String,
}

/// `POST /console/credentials/{id}/connect`: a fresh authorization request that only this
/// browser session can complete, and the browser sent to the provider.
pub(super) async fn connect(
    req: HttpRequest,
    id: web::Path<String>,
    body: super::FormBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: ConnectForm = form(&body)?;
    let (caller, csrf) = signed_in_post(&req, &state, &posted.csrf).await?;
    let binding = browser_binding(&req);
    match state.oauth.reconnect_url(&caller, &id, binding).await {
        Ok(url) => Ok(see_other(&url)),
        Err(err) => after_change(&state, &caller, &csrf, &id, Err(ApiError::from(err))).await,
    }
}

/// The end of a connection started in the console: the account's page, with the result.
pub(crate) async fn finished(
    req: &HttpRequest,
    state: &AppState,
    id: &str,
    outcome: Result<Connected, RedirectError>,
) -> HttpResponse {
    let (problem, status) = match outcome {
        Ok(_) => return see_other(&format!("/console/credentials/{id}?done=connected")),
        Err(err) => (
            format!("The connection failed: {err}. Nothing was changed."),
            // The database's failure, not the request's.
            match err {
                RedirectError::Internal => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            },
        ),
    };
    let shown = async {
        let (caller, session) = signed_in(req, state).await?;
        let csrf = sessions::csrf_token(session.expose_secret());
        detail_page(state, &caller, &csrf, id, None, Some(&problem), status).await
    }
    .await;
    match shown {
        Ok(page) => page,
        // Signed out meanwhile: the result alone.
        Err(_) => super::pages::page(
            status,
            &super::pages::Message {
                title: "Connection failed",
                message: &problem,
            },
        ),
    }
}
