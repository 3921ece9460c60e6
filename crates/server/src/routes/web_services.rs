//! `/v1/web-services`: saved request definitions (from a definition or a curl command), and
//! running them by ID with a context of piped values.

use actix_web::{web, HttpResponse};
use keyway_web_services::WebServiceInput;

use super::dispatch::{run_definition, RunBody};
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::AppState;

#[utoipa::path(post, path = "/v1/web-services", operation_id = "create_web_service", summary = "Save a web service from a definition or a curl command", tag = "web-services", security(("bearer" = [])),
    request_body = keyway_web_services::WebServiceInput,
    responses((status = 201, description = "Saved", body = keyway_web_services::WebServiceView,
        links(
            ("get" = (operation_id = "get_web_service", parameters(("id" = "$response.body#/id")))),
            ("replace" = (operation_id = "replace_web_service", parameters(("id" = "$response.body#/id")))),
            ("delete" = (operation_id = "delete_web_service", parameters(("id" = "$response.body#/id")))),
            ("run" = (operation_id = "run_web_service", parameters(("id" = "$response.body#/id")))),
        )), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn create(
    body: JsonBody,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let input: WebServiceInput = body.read().await?;
    let view = state.web_services.create(&caller, input).await?;
    Ok(super::created(
        format!("/v1/web-services/{}", view.id),
        view,
    ))
}

#[utoipa::path(get, path = "/v1/web-services", operation_id = "list_web_services", summary = "List the org's web services", tag = "web-services", security(("bearer" = [])),
    responses((status = 200, description = "The org's web services", body = crate::openapi::WebServiceList), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let items = state.web_services.list(&caller).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "web_services": items })))
}

#[utoipa::path(get, path = "/v1/web-services/{id}", operation_id = "get_web_service", summary = "Show a web service", tag = "web-services", security(("bearer" = [])), params(("id" = String, Path, description = "The ID")),
    responses((status = 200, description = "The web service", body = keyway_web_services::WebServiceView), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn get(
    id: web::Path<String>,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.web_services.get(&caller, &id).await?))
}

#[utoipa::path(put, path = "/v1/web-services/{id}", operation_id = "replace_web_service", summary = "Replace or rename a web service", tag = "web-services", security(("bearer" = [])), params(("id" = String, Path, description = "The ID")),
    request_body = keyway_web_services::WebServiceInput,
    responses((status = 200, description = "Replaced (or renamed)", body = keyway_web_services::WebServiceView), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn replace(
    id: web::Path<String>,
    body: JsonBody,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    // Rights first (to change it, not only to see it), so a caller learns nothing about a
    // web service from validation errors.
    state.web_services.may_manage(&caller, &id).await?;
    let input: WebServiceInput = body.read().await?;
    Ok(HttpResponse::Ok().json(state.web_services.replace(&caller, &id, input).await?))
}

#[utoipa::path(delete, path = "/v1/web-services/{id}", operation_id = "delete_web_service", summary = "Remove a web service", tag = "web-services", security(("bearer" = [])), params(("id" = String, Path, description = "The ID")),
    responses((status = 204, description = "Removed"), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn delete(
    id: web::Path<String>,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.web_services.delete(&caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/v1/web-services/{id}/run", operation_id = "run_web_service", summary = "Run a web service with piped values", tag = "web-services", security(("bearer" = [])), params(("id" = String, Path, description = "The ID")),
    request_body = super::dispatch::RunBody,
    responses((status = 200, description = "What the upstream answered", body = keyway_dispatch::CallResult),
        (status = 502, description = "The upstream could not be reached, or its TLS failed (`upstream_unreachable`, `upstream_tls_error`)", body = crate::openapi::ErrorBody),
        (status = 503, description = "The use could not be audited, so the call was not sent (`audit_unavailable`)", body = crate::openapi::ErrorBody),
        (status = 504, description = "The upstream did not answer in time (`upstream_timeout`)", body = crate::openapi::ErrorBody),
        (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn run(
    id: web::Path<String>,
    body: JsonBody,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let definition = state.web_services.definition(&caller, &id).await?;
    let body: RunBody = body.read().await?;
    run_definition(
        &state,
        &caller,
        &definition,
        body.context,
        body.strict,
        Some(&id),
    )
    .await
}
