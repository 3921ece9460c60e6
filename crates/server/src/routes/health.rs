//! Liveness, readiness (database reachable, keys loaded) and Prometheus metrics.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::AppState;

#[utoipa::path(get, path = "/healthz", tag = "operations", summary = "Liveness: the process is up",
    responses((status = 200, description = "The process is up", body = crate::openapi::Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", summary = "Readiness: the database answers and master keys are loaded",
    responses(
        (status = 200, description = "The database answers and master keys are loaded", body = crate::openapi::Ready),
        (status = 503, description = "Not ready (`not_ready`)", body = crate::openapi::ErrorBody),
        (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.credentials.store().ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness check failed");
        ApiError::NotReady
    })?;
    let keys = state.credentials.keyring().ids().count();
    Ok(
        HttpResponse::Ok()
            .json(json!({ "status": "ready", "database": "ok", "master_keys": keys })),
    )
}

#[utoipa::path(get, path = "/metrics", tag = "operations", summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus metrics", content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
