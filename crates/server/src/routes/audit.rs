//! `GET /v1/audit`: the audit log, newest first, filtered by credential and paged by `before`.

use actix_web::{web, HttpRequest, HttpResponse};
use keyway_credentials::AuditFilter;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize)]
struct AuditParams {
    credential_id: Option<String>,
    limit: Option<i64>,
    before: Option<i64>,
}

#[utoipa::path(get, path = "/v1/audit", operation_id = "list_audit_events", summary = "The audit log, newest first", tag = "audit", security(("bearer" = [])),
    params(("credential_id" = Option<String>, Query, description = "Only this credential's events"),
           ("limit" = Option<i64>, Query, description = "At most this many (1 to 1000, default 100)"),
           ("before" = Option<i64>, Query, description = "Events older than this event ID (the previous page's `next_before`)")),
    responses((status = 200, description = "Events, newest first", body = crate::openapi::AuditPage), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let params: AuditParams = super::query(
        req.query_string(),
        "credential_id=<id>, limit=<1..1000>, before=<event id>",
    )?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            Some("limit"),
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let filter = AuditFilter {
        credential_id: params.credential_id,
        before: params.before,
        limit,
    };
    let events = state.credentials.audit(&caller, filter).await?;
    let next_before = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "events": events, "next_before": next_before })))
}
