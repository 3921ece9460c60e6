//! The OAuth catalog endpoint and the redirect endpoint with its HTML pages (no scripts, no
//! inline styles, no third-party resources, no referrer).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keyway_oauth::{RedirectError, RedirectParams};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::AppState;

#[utoipa::path(get, path = "/v1/oauth/providers", operation_id = "list_oauth_providers", summary = "OAuth 2.0 provider presets and the redirect URI to register", tag = "oauth", security(("bearer" = [])),
    responses((status = 200, description = "The provider presets and the redirect URI to register", body = crate::openapi::Providers), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn providers(
    state: web::Data<AppState>,
    Authenticated(_caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.oauth.providers()))
}

/// `GET /oauth-client-service/redirect`: no bearer token; the state identifies the request.
#[utoipa::path(get, path = "/oauth-client-service/redirect", operation_id = "oauth_redirect", summary = "Where the provider sends the browser back (HTML)", tag = "oauth",
    params(("state" = Option<String>, Query, description = "The state Keyway sent"),
           ("code" = Option<String>, Query, description = "The authorization code"),
           ("iss" = Option<String>, Query, description = "The issuer (RFC 9207)"),
           ("error" = Option<String>, Query, description = "The provider's error"),
           ("error_description" = Option<String>, Query, description = "The provider's explanation")),
    responses(
        (status = 200, description = "Connected: a page that says so", content_type = "text/html", body = String),
        (status = 303, description = "Started in the console: back to the account's page"),
        (status = 400, description = "Refused: a page that says why; nothing changed", content_type = "text/html", body = String)))]
pub async fn redirect(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Ok(params) = serde_urlencoded::from_str::<RedirectParams>(req.query_string()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Connection failed",
            "The provider's redirect could not be read.",
        );
    };
    // A connection started in the console completes only in the browser session that
    // started it; the console's session cookie says which one this is.
    let binding = crate::console::browser_binding(&req);
    let redirected = state.oauth.complete(params, binding.as_deref()).await;
    if let Some(id) = &redirected.console_credential {
        return crate::console::connect_finished(&req, &state, id, redirected.outcome).await;
    }
    match redirected.outcome {
        Ok(connected) => page(
            StatusCode::OK,
            "Account connected",
            &format!(
                "The {} account is now connected to the credential “{}”. You can close this window.",
                connected.provider, connected.credential_name
            ),
        ),
        Err(err) => {
            tracing::info!(error = %err, "OAuth redirect refused");
            // The database's failure, not the request's: 503, like every other route.
            let status = match err {
                RedirectError::Internal => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            page(
                status,
                "Connection failed",
                &format!("{err}. Nothing was changed."),
            )
        }
    }
}

fn page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Keyway</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         </head><body><main><h1>{title}</h1><p>{}</p></main></body></html>\n",
        escape(message),
        title = escape(title),
    );
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
