//! `/v1/web-services`: saved request definitions (from a definition or a curl command), and
//! running them by ID with a context of piped values.

use actix_web::{web, HttpResponse};
use keyway_web_services::WebServiceInput;

use super::dispatch::{run_definition, RunBody};
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::AppState;

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

pub async fn list(
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let items = state.web_services.list(&caller).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "web_services": items })))
}

pub async fn get(
    id: web::Path<String>,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.web_services.get(&caller, &id).await?))
}

pub async fn replace(
    id: web::Path<String>,
    body: JsonBody,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    // Rights first, so a caller learns nothing about a web service from validation errors.
    state.web_services.get(&caller, &id).await?;
    let input: WebServiceInput = body.read().await?;
    Ok(HttpResponse::Ok().json(state.web_services.replace(&caller, &id, input).await?))
}

pub async fn delete(
    id: web::Path<String>,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.web_services.delete(&caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

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
