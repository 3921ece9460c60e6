//! `POST /v1/openapi/operations`: the operations of an OpenAPI document someone pasted (the
//! first step of setting up web services from it). The body is the document itself, JSON or
//! YAML, up to 16 MiB; it is parsed on the blocking pool, since a large one takes a while.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use keyway_openapi::{Document, Operation, Version, MAX_DOCUMENT_BYTES};
use serde::Serialize;

use crate::auth::Authenticated;
use crate::error::ApiError;

/// The media types a document may be sent as.
const MEDIA_TYPES: [&str; 6] = [
    "application/json",
    "application/yaml",
    "application/x-yaml",
    "application/openapi+json",
    "application/openapi+yaml",
    "text/yaml",
];

/// What `POST /v1/openapi/operations` answers.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Listing {
    #[schema(value_type = String)]
    version: Version,
    title: Option<String>,
    operations: Vec<Operation>,
}

#[utoipa::path(post, path = "/v1/openapi/operations", tag = "web-services", operation_id = "list_openapi_operations",
    summary = "List the operations of an OpenAPI 3.0/3.1 or Swagger 2.0 document (JSON or YAML)",
    security(("bearer" = [])),
    request_body(description = "The document itself, up to 16 MiB; references outside it are refused, never fetched",
        content((String = "application/json"), (String = "application/yaml"))),
    responses(
        (status = 200, description = "Its operations, in the document's order", body = Listing),
        (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn operations(
    req: HttpRequest,
    payload: web::Payload,
    Authenticated(_caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let media_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !media_type.is_some_and(|t| MEDIA_TYPES.contains(&t.as_str())) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = crate::body::read_limited(&req, payload.into_inner(), MAX_DOCUMENT_BYTES).await?;
    let listing = web::block(move || {
        let document = Document::parse(&body)?;
        Ok::<_, keyway_openapi::OpenApiError>(Listing {
            version: document.version,
            title: document
                .root
                .pointer("/info/title")
                .and_then(|t| t.as_str())
                .map(str::to_owned),
            operations: document.operations()?,
        })
    })
    .await
    .map_err(|e| ApiError::Internal(Box::new(e)))??;
    Ok(HttpResponse::Ok().json(listing))
}
