//! Routes of the v1 API and the operational endpoints.

pub(crate) mod audit;
pub(crate) mod credentials;
pub(crate) mod dispatch;
pub(crate) mod health;
pub(crate) mod me;
pub(crate) mod oauth;
pub(crate) mod openapi_docs;
pub(crate) mod proxy;
pub(crate) mod web_services;

use actix_web::{guard, web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, allow, handlers) in table() {
        cfg.service(handlers(resource(path, allow)));
    }
}

/// A route's handlers, added to its resource.
type Handlers = fn(actix_web::Resource) -> actix_web::Resource;

/// Every route of the API and the operational endpoints: its path, the methods it answers
/// (HEAD wherever GET is) and its handlers. `configure` registers exactly these, and a test
/// compares them with the OpenAPI document, so no route can go undocumented.
pub(crate) fn table() -> Vec<(&'static str, &'static str, Handlers)> {
    vec![
        // The calls first: actix-web tries the routes in order, matching each pattern with
        // parameters by a regular expression, and these are nearly all of the traffic. No
        // other route's pattern overlaps theirs, so the order changes nothing else.
        // Every method reaches the proxy's handler, which refuses those a call may not use
        // with the contract's 400 (the same rule as a definition's method), not a 405.
        (
            PROXY_PATH,
            "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
            |r| r.route(web::route().to(proxy::proxy)),
        ),
        ("/v1/web-services/{id}/run", POST, |r| {
            r.route(web::post().to(web_services::run))
        }),
        ("/healthz", GET, |r| r.route(get().to(health::healthz))),
        ("/readyz", GET, |r| r.route(get().to(health::readyz))),
        ("/metrics", GET, |r| r.route(get().to(health::metrics))),
        ("/openapi.json", GET, |r| {
            r.route(get().to(crate::openapi::openapi_json))
        }),
        ("/v1/me", GET, |r| r.route(get().to(me::me))),
        ("/v1/credentials", GET_POST, |r| {
            r.route(get().to(credentials::list))
                .route(web::post().to(credentials::create))
        }),
        ("/v1/credentials/{id}", "GET, HEAD, PATCH, DELETE", |r| {
            r.route(get().to(credentials::get))
                .route(web::patch().to(credentials::update))
                .route(web::delete().to(credentials::delete))
        }),
        ("/v1/credentials/{id}/authorize", POST, |r| {
            r.route(web::post().to(credentials::reconnect))
        }),
        ("/v1/credentials/{id}/transfer", POST, |r| {
            r.route(web::post().to(credentials::transfer))
        }),
        ("/v1/credentials/{id}/secret", "PUT", |r| {
            r.route(web::put().to(credentials::replace_secret))
        }),
        ("/v1/oauth/providers", GET, |r| {
            r.route(get().to(oauth::providers))
        }),
        // GET only: the redirect consumes its state and code, so a HEAD (a link scanner, a
        // prefetch) must not run it and burn the connection the person is finishing.
        ("/oauth-client-service/redirect", "GET", |r| {
            r.route(web::get().to(oauth::redirect))
        }),
        ("/v1/web-services", GET_POST, |r| {
            r.route(get().to(web_services::list))
                .route(web::post().to(web_services::create))
        }),
        ("/v1/web-services/{id}", "GET, HEAD, PUT, DELETE", |r| {
            r.route(get().to(web_services::get))
                .route(web::put().to(web_services::replace))
                .route(web::delete().to(web_services::delete))
        }),
        ("/v1/dispatch", POST, |r| {
            r.route(web::post().to(dispatch::dispatch))
        }),
        ("/v1/curl/import", POST, |r| {
            r.route(web::post().to(dispatch::curl_import))
        }),
        ("/v1/audit", GET, |r| r.route(get().to(audit::list))),
        ("/v1/openapi/operations", POST, |r| {
            r.route(web::post().to(openapi_docs::operations))
        }),
    ]
}

/// Proxy mode's route: `rest` is any path, empty included.
pub(crate) const PROXY_PATH: &str = "/v1/proxy/{credential_id}/{rest:.*}";

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
