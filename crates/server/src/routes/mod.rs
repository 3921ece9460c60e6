//! Routes of the v1 API and the operational endpoints.

mod audit;
mod credentials;
mod dispatch;
mod health;
mod me;
mod oauth;
mod web_services;

use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(resource("/metrics").route(web::get().to(health::metrics)))
        .service(resource("/v1/me").route(web::get().to(me::me)))
        .service(
            resource("/v1/credentials")
                .route(web::get().to(credentials::list))
                .route(web::post().to(credentials::create)),
        )
        .service(
            resource("/v1/credentials/{id}")
                .route(web::get().to(credentials::get))
                .route(web::patch().to(credentials::rename))
                .route(web::delete().to(credentials::delete)),
        )
        .service(
            resource("/v1/credentials/{id}/authorize")
                .route(web::post().to(credentials::authorize)),
        )
        .service(
            resource("/v1/credentials/{id}/transfer").route(web::post().to(credentials::transfer)),
        )
        .service(resource("/v1/oauth/providers").route(web::get().to(oauth::providers)))
        .service(resource("/oauth-client-service/redirect").route(web::get().to(oauth::redirect)))
        .service(
            resource("/v1/credentials/{id}/secret")
                .route(web::put().to(credentials::replace_secret)),
        )
        .service(
            resource("/v1/web-services")
                .route(web::get().to(web_services::list))
                .route(web::post().to(web_services::create)),
        )
        .service(
            resource("/v1/web-services/{id}")
                .route(web::get().to(web_services::get))
                .route(web::put().to(web_services::replace))
                .route(web::delete().to(web_services::delete)),
        )
        .service(resource("/v1/web-services/{id}/run").route(web::post().to(web_services::run)))
        .service(resource("/v1/dispatch").route(web::post().to(dispatch::dispatch)))
        .service(resource("/v1/curl/import").route(web::post().to(dispatch::curl_import)))
        .service(resource("/v1/audit").route(web::get().to(audit::list)));
}

/// A resource whose unsupported methods get the contract's error shape.
fn resource(path: &'static str) -> actix_web::Resource {
    web::resource(path)
        .app_data(RoutePattern(path))
        .default_service(web::to(method_not_allowed))
}

/// The pattern of the resource that handled a request, for the request log and metrics:
/// reading it back is cheaper than matching the path against every route again.
#[derive(Debug, Clone, Copy)]
pub struct RoutePattern(pub &'static str);

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(
        "no such endpoint: see the API table in the README",
    ))
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
