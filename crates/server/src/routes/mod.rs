//! Routes of the v1 API and the operational endpoints.

mod audit;
pub(crate) mod credentials;
mod dispatch;
mod health;
mod me;
mod oauth;
mod web_services;

use actix_web::{guard, web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", GET).route(get().to(health::healthz)))
        .service(resource("/readyz", GET).route(get().to(health::readyz)))
        .service(resource("/metrics", GET).route(get().to(health::metrics)))
        .service(resource("/v1/me", GET).route(get().to(me::me)))
        .service(
            resource("/v1/credentials", GET_POST)
                .route(get().to(credentials::list))
                .route(web::post().to(credentials::create)),
        )
        .service(
            resource("/v1/credentials/{id}", "GET, HEAD, PATCH, DELETE")
                .route(get().to(credentials::get))
                .route(web::patch().to(credentials::update))
                .route(web::delete().to(credentials::delete)),
        )
        .service(
            resource("/v1/credentials/{id}/authorize", POST)
                .route(web::post().to(credentials::reconnect)),
        )
        .service(
            resource("/v1/credentials/{id}/transfer", POST)
                .route(web::post().to(credentials::transfer)),
        )
        .service(resource("/v1/oauth/providers", GET).route(get().to(oauth::providers)))
        // GET only: the redirect consumes its state and code, so a HEAD (a link scanner, a
        // prefetch) must not run it and burn the connection the person is finishing.
        .service(
            resource("/oauth-client-service/redirect", "GET").route(web::get().to(oauth::redirect)),
        )
        .service(
            resource("/v1/credentials/{id}/secret", "PUT")
                .route(web::put().to(credentials::replace_secret)),
        )
        .service(
            resource("/v1/web-services", GET_POST)
                .route(get().to(web_services::list))
                .route(web::post().to(web_services::create)),
        )
        .service(
            resource("/v1/web-services/{id}", "GET, HEAD, PUT, DELETE")
                .route(get().to(web_services::get))
                .route(web::put().to(web_services::replace))
                .route(web::delete().to(web_services::delete)),
        )
        .service(
            resource("/v1/web-services/{id}/run", POST).route(web::post().to(web_services::run)),
        )
        .service(resource("/v1/dispatch", POST).route(web::post().to(dispatch::dispatch)))
        .service(resource("/v1/curl/import", POST).route(web::post().to(dispatch::curl_import)))
        .service(resource("/v1/audit", GET).route(get().to(audit::list)));
}

const GET: &str = "GET, HEAD";
const POST: &str = "POST";
const GET_POST: &str = "GET, HEAD, POST";

/// GET, and HEAD with the same handler: actix-web sends the headers of the GET answer
/// without its body.
fn get() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// A resource whose unsupported methods get the contract's error shape and an `Allow` header
/// listing `allow`, which must name the methods its routes answer.
fn resource(path: &'static str, allow: &'static str) -> actix_web::Resource {
    web::resource(path)
        .app_data(RoutePattern(path))
        .app_data(Allowed(allow))
        .default_service(web::to(method_not_allowed))
}

/// The methods a resource answers, for the `Allow` header of a 405.
#[derive(Debug, Clone, Copy)]
struct Allowed(&'static str);

/// The pattern of the resource that handled a request, for the request log and metrics:
/// reading it back is cheaper than matching the path against every route again.
#[derive(Debug, Clone, Copy)]
pub struct RoutePattern(pub &'static str);

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allow = req.app_data::<Allowed>().map_or("", |a| a.0);
    Err(ApiError::MethodNotAllowed { allow })
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(
        "no such endpoint: see the API table in the README",
    ))
}

/// `201 Created` with the new resource's `Location` and its JSON.
fn created(location: String, body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((actix_web::http::header::LOCATION, location))
        .json(body)
}

/// Parses the query string, or names the parameter forms expected.
fn query<T: DeserializeOwned>(raw: &str, expected: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw).map_err(|_| {
        ApiError::invalid(
            Some("query"),
            format!("the query string is invalid: expected {expected}"),
        )
    })
}
