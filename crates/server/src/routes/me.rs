//! `GET /v1/me`: who the bearer token belongs to.

use actix_web::HttpResponse;
use serde_json::json;

use crate::auth::Authenticated;

#[utoipa::path(get, path = "/v1/me", operation_id = "me", summary = "Who the token belongs to", tag = "credentials", security(("bearer" = [])),
    responses((status = 200, description = "Who the token belongs to", body = crate::openapi::Me), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn me(Authenticated(caller): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user": { "id": caller.user_id, "name": caller.user_name },
        "org": { "id": caller.org_id, "slug": caller.org_slug },
        "role": caller.role.as_str(),
    }))
}
