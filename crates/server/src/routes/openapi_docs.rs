//! `POST /v1/openapi/operations`: the operations of an OpenAPI document someone pasted (the
//! first step of setting up web services from it). The body is the document itself, JSON or
//! YAML, up to 16 MiB; it is parsed on the blocking pool, since a large one takes a while, and
//! at most two are read at once.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use keyway_openapi::MAX_DOCUMENT_BYTES;
use keyway_web_services::Listing;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::AppState;

/// The media types a document may be sent as.
const MEDIA_TYPES: [&str; 6] = [
    "application/json",
    "application/yaml",
    "application/x-yaml",
    "application/openapi+json",
    "application/openapi+yaml",
    "text/yaml",
];

#[derive(serde::Deserialize)]
struct KeepParams {
    #[serde(default)]
    keep: bool,
}

#[utoipa::path(post, path = "/v1/openapi/operations", tag = "web-services", operation_id = "list_openapi_operations",
    summary = "List the operations of an OpenAPI 3.0/3.1 or Swagger 2.0 document (JSON or YAML)",
    security(("bearer" = [])),
    params(("keep" = Option<bool>, Query, description = "Keep the document for your org and answer its `document_id`, to set up web services from it by ID. An org keeps its 64 most recently kept documents, within 256 MiB together, and a member at most 16 of them (64 MiB); older ones are let go")),
    request_body(description = "The document itself, up to 16 MiB; references outside it are refused, never fetched",
        content((String = "application/json"), (String = "application/yaml"))),
    responses(
        (status = 200, description = "Its operations, in the document's order", body = Listing),
        (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn operations(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let params: KeepParams = super::query(req.query_string(), "keep=true or keep=false")?;
    let media_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !media_type.is_some_and(|t| MEDIA_TYPES.contains(&t.as_str())) {
        return Err(ApiError::UnsupportedMediaType);
    }
    // The turn is taken before the body is read, so waiting uploads hold no memory.
    let _turn = state.web_services.document_turn().await?;
    let body = crate::body::read_limited(&req, payload.into_inner(), MAX_DOCUMENT_BYTES).await?;
    // Parsing a large document is CPU work: off the async workers.
    let parsing = state.clone();
    let (digest, document, body) = web::block(move || {
        let (digest, document) = parsing.web_services.parse_document(&body)?;
        Ok::<_, keyway_web_services::WebServiceError>((digest, document, body))
    })
    .await
    .map_err(|e| ApiError::Internal(Box::new(e)))??;
    let keep = params.keep.then_some(&body[..]);
    let listing: Listing = state
        .web_services
        .listing(&caller, &digest, &document, keep)
        .await?;
    Ok(HttpResponse::Ok().json(listing))
}
