//! The web console: server-rendered pages on the same services, and so the same rights, as
//! the API. This part signs people in (a one-time link or an API token) and out and routes
//! the pages: accounts (`accounts`, `add`, `connect`), web services (`services`, `trial`) and
//! the audit log.

mod accounts;
mod add;
mod api;
mod audit;
mod connect;
mod cookies;
mod multipart;
mod pages;
mod services;
mod trial;

pub(crate) use connect::{browser_binding, finished as connect_finished};

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use keyway_credentials::console as sessions;
use keyway_model::Caller;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::ApiError;
use crate::AppState;
use cookies::{cookie, Cookie, LOGIN_COOKIE, SESSION_COOKIE};
use pages::page;

/// Largest console form body.
const FORM_LIMIT: usize = 16 * 1024;
/// Largest web-service form: a request body of up to 1 MiB, URL-encoded.
const DEFINITION_FORM_LIMIT: usize = 3 * 1024 * 1024 + 64 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .route("", web::get().to(home))
            .route("/", web::get().to(home))
            .route("/assets/console.css", web::get().to(stylesheet))
            .route("/assets/console.js", web::get().to(script))
            .route("/login", web::get().to(login_page))
            .route("/login", web::post().to(login_with_token))
            .route("/link", web::get().to(link_page))
            .route("/link", web::post().to(login_with_link))
            .route("/logout", web::post().to(logout))
            .route("/audit", web::get().to(audit::audit))
            .route("/api", web::get().to(api::api))
            .route("/credentials", web::get().to(accounts::list))
            .route("/credentials/new", web::get().to(add::new_form))
            .route("/credentials/new", web::post().to(add::create))
            .route("/credentials/check-mtls", web::post().to(add::check_mtls))
            .route("/credentials/{id}", web::get().to(accounts::detail))
            .route("/credentials/{id}/rename", web::post().to(accounts::rename))
            .route("/credentials/{id}/access", web::post().to(accounts::access))
            .route(
                "/credentials/{id}/secret",
                web::post().to(accounts::replace_secret),
            )
            .route("/credentials/{id}/remove", web::post().to(accounts::remove))
            .route(
                "/credentials/{id}/connect",
                web::post().to(connect::connect),
            )
            .route("/web-services", web::get().to(services::list))
            .route("/web-services/new", web::get().to(services::new_form))
            .route("/web-services/new", web::post().to(services::create))
            .route("/web-services/import", web::post().to(trial::import_new))
            .route("/web-services/{id}", web::get().to(services::detail))
            .route("/web-services/{id}", web::post().to(services::save))
            .route(
                "/web-services/{id}/import",
                web::post().to(trial::import_over),
            )
            .route("/web-services/{id}/test", web::post().to(trial::test))
            .route(
                "/web-services/{id}/remove",
                web::post().to(services::remove),
            )
            .default_service(web::to(not_found)),
    );
}

/// Why a console request got no page of its own.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConsoleError {
    #[error("not signed in")]
    SignIn,
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    #[error("the form could not be read")]
    BadForm,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<keyway_store::StoreError> for ConsoleError {
    fn from(err: keyway_store::StoreError) -> Self {
        ConsoleError::Api(ApiError::Internal(Box::new(err)))
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::BadForm => StatusCode::BAD_REQUEST,
            ConsoleError::Api(api) => api.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            ConsoleError::SignIn => return see_other("/console/login"),
            ConsoleError::Csrf => (
                "Form expired",
                "This form did not come from this Keyway page, or it has expired. Go back, reload the page and try again.".to_owned(),
            ),
            ConsoleError::BadForm => ("Form not understood", "The form could not be read.".to_owned()),
            // The API's own words (its causes logged, never shown).
            ConsoleError::Api(api) => ("Request refused", api.public_message()),
        };
        page(
            self.status_code(),
            &pages::Message {
                title,
                message: &message,
            },
        )
    }
}

/// A console form's body: at most `LIMIT` bytes, arriving within the API's body timeout, in a
/// buffer wiped when dropped (forms carry passwords and keys).
struct FormBody<const LIMIT: usize = FORM_LIMIT>(zeroize::Zeroizing<Vec<u8>>);

impl<const LIMIT: usize> std::ops::Deref for FormBody<LIMIT> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<const LIMIT: usize> actix_web::FromRequest for FormBody<LIMIT> {
    type Error = ConsoleError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move {
            let body = crate::body::read_limited(&req, payload, LIMIT).await?;
            let content_type = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            match multipart::boundary(content_type) {
                Some(boundary) => Ok(FormBody(multipart::to_urlencoded(body, &boundary).await?)),
                None => Ok(FormBody(body)),
            }
        })
    }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
}

/// The signed-in caller and their session secret, or a redirect to sign in.
async fn signed_in(
    req: &HttpRequest,
    state: &AppState,
) -> Result<(Caller, SecretString), ConsoleError> {
    let session = cookie(req, SESSION_COOKIE).ok_or(ConsoleError::SignIn)?;
    let caller = sessions::session_caller(state.credentials.store(), session.expose_secret())
        .await?
        .ok_or(ConsoleError::SignIn)?;
    Ok((caller, session))
}

/// The fixed notice a page shows after a redirect named it in `?done=`: `notices` maps each
/// code to its text, so no text from the URL ever reaches a page.
fn notice(req: &HttpRequest, notices: &[(&str, &'static str)]) -> Option<&'static str> {
    #[derive(Deserialize)]
    struct Done {
        done: Option<String>,
    }
    let done: Done = serde_urlencoded::from_str(req.query_string()).ok()?;
    let code = done.done?;
    notices
        .iter()
        .find(|(known, _)| *known == code)
        .map(|(_, text)| *text)
}

fn form<T: DeserializeOwned>(body: &[u8]) -> Result<T, ConsoleError> {
    serde_urlencoded::from_bytes(body).map_err(|_| ConsoleError::BadForm)
}

/// The sign-in forms' CSRF check: the form must carry the value of the short-lived cookie
/// its page set (a site cannot set this origin's cookies, so it cannot forge the pair).
fn check_login_csrf(req: &HttpRequest, given: &str) -> Result<(), ConsoleError> {
    let expected = cookie(req, LOGIN_COOKIE).ok_or(ConsoleError::Csrf)?;
    if sessions::same_secret(expected.expose_secret(), given) {
        Ok(())
    } else {
        Err(ConsoleError::Csrf)
    }
}

/// A sign-in page with a fresh CSRF cookie.
fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    render: impl Fn(&str) -> HttpResponse,
) -> HttpResponse {
    let csrf = sessions::new_secret();
    let mut response = render(csrf.expose_secret());
    response.head_mut().status = status;
    let set = Cookie::login(csrf.expose_secret(), state.secure_cookies()).header();
    if let Ok(value) = set.parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

async fn home(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ConsoleError> {
    signed_in(&req, &state).await?;
    Ok(see_other("/console/credentials"))
}

async fn not_found() -> HttpResponse {
    pages::not_found()
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(include_str!("../../assets/console.css"))
}

/// Progressive enhancement only (copy buttons, confirmations): every page works without it.
async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(include_str!("../../assets/console.js"))
}

async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    match signed_in(&req, &state).await {
        Ok(_) => Ok(see_other("/console/credentials")),
        Err(ConsoleError::SignIn) => Ok(login_form(&state, StatusCode::OK, None)),
        Err(other) => Err(other),
    }
}

fn login_form(state: &AppState, status: StatusCode, problem: Option<&str>) -> HttpResponse {
    sign_in_page(state, status, |csrf| {
        page(
            status,
            &pages::Login {
                title: "Sign in",
                csrf,
                problem,
            },
        )
    })
}

#[derive(Deserialize)]
struct TokenForm {
    csrf: String,
    token: SecretString,
}

async fn login_with_token(
    req: HttpRequest,
    body: FormBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let form: TokenForm = form(&body)?;
    check_login_csrf(&req, &form.csrf)?;
    let token = form.token.expose_secret().trim();
    match crate::auth::caller_of_token(&state, token).await {
        Ok(caller) => {
            // The session lives no longer than the token it was started with.
            let token_id = keyway_credentials::tokens::parse(token).map(|(id, _)| id);
            start_session(&state, &caller.user_id, token_id).await
        }
        Err(ApiError::Unauthenticated) => Ok(login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid: it is unknown, expired or revoked, or its user was disabled."),
        )),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct LinkQuery {
    token: String,
}

async fn link_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    // The link is only shown back in a form: using it takes a POST, so a link scanner or a
    // prefetch that opens the URL does not burn it.
    let query: LinkQuery = form(req.query_string().as_bytes())?;
    Ok(sign_in_page(&state, StatusCode::OK, |csrf| {
        page(
            StatusCode::OK,
            &pages::Link {
                title: "Sign in",
                csrf,
                link: &query.token,
            },
        )
    }))
}

#[derive(Deserialize)]
struct LinkForm {
    csrf: String,
    link: SecretString,
}

async fn login_with_link(
    req: HttpRequest,
    body: FormBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let form: LinkForm = form(&body)?;
    check_login_csrf(&req, &form.csrf)?;
    match sessions::use_login_link(state.credentials.store(), form.link.expose_secret()).await? {
        Some(user_id) => start_session(&state, &user_id, None).await,
        None => Ok(page(
            StatusCode::BAD_REQUEST,
            &pages::Message {
                title: "Link not valid",
                message: "This sign-in link is unknown, was already used or has expired: a link works once, for 10 minutes. Ask for a new one, or sign in with an API token.",
            },
        )),
    }
}

async fn start_session(
    state: &AppState,
    user_id: &str,
    token_id: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let session = sessions::start_session(state.credentials.store(), user_id, token_id).await?;
    let secure = state.secure_cookies();
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, "/console/credentials"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .append_header((
            SET_COOKIE,
            Cookie::session(session.expose_secret(), secure).header(),
        ))
        .append_header((SET_COOKIE, Cookie::login("", secure).expired().header()))
        .finish())
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    req: HttpRequest,
    body: FormBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, session) = signed_in(&req, &state).await?;
    let form: CsrfForm = form(&body)?;
    if !sessions::csrf_matches(session.expose_secret(), &form.csrf) {
        return Err(ConsoleError::Csrf);
    }
    sessions::end_session(state.credentials.store(), session.expose_secret()).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, "/console/login"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .append_header((
            SET_COOKIE,
            Cookie::session("", state.secure_cookies())
                .expired()
                .header(),
        ))
        .finish())
}
