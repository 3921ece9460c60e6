//! `GET /v1/me`: who the bearer token belongs to.

use actix_web::HttpResponse;
use serde_json::json;

use crate::auth::Authenticated;

pub async fn me(Authenticated(caller): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user": { "id": caller.user_id, "name": caller.user_name },
        "org": { "id": caller.org_id, "slug": caller.org_slug },
        "role": caller.role.as_str(),
    }))
}
