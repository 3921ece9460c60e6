//! `POST /v1/dispatch` (run an unsaved definition: the "test" button) and
//! `POST /v1/curl/import`.

use actix_web::{web, HttpResponse};
use keyway_curl::ImportOptions;
use keyway_dispatch::Context;
use keyway_model::{Caller, RequestDefinition, RequestInput};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"context": {"survey": "SV_1"}, "strict": false}))]
pub struct RunBody {
    #[serde(default)]
    pub context: HashMap<String, Value>,
    #[serde(default)]
    pub strict: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request": {"method": "GET", "url": "http://127.0.0.1:9/surveys/${survey}"}, "context": {"survey": "SV_1"}}))]
struct DispatchBody {
    request: RequestInput,
    #[serde(default)]
    context: HashMap<String, Value>,
    #[serde(default)]
    strict: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"command": "curl -H 'Accept: application/json' https://api.example.com/v1/items -L", "drop_unsupported": true}))]
struct ImportBody {
    command: String,
    #[serde(default)]
    drop_unsupported: bool,
}

#[utoipa::path(post, path = "/v1/dispatch", operation_id = "dispatch", summary = "Run a request definition once (the \"test\" call)", tag = "dispatch", security(("bearer" = [])),
    request_body = DispatchBody,
    responses((status = 200, description = "What the upstream answered", body = keyway_dispatch::CallResult),
        (status = 502, description = "The upstream could not be reached, or its TLS failed (`upstream_unreachable`, `upstream_tls_error`)", body = crate::openapi::ErrorBody),
        (status = 503, description = "The use could not be audited, so the call was not sent (`audit_unavailable`)", body = crate::openapi::ErrorBody),
        (status = 504, description = "The upstream did not answer in time (`upstream_timeout`)", body = crate::openapi::ErrorBody),
        (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn dispatch(
    body: JsonBody,
    state: web::Data<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let body: DispatchBody = body.read().await?;
    let definition = RequestDefinition::parse(body.request)?;
    run_definition(
        &state,
        &caller,
        &definition,
        body.context,
        body.strict,
        None,
    )
    .await
}

pub async fn run_definition(
    state: &AppState,
    caller: &Caller,
    definition: &RequestDefinition,
    context: HashMap<String, Value>,
    strict: bool,
    web_service_id: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let context = Context::from_json(context);
    if let Some(id) = &definition.credential_id {
        tracing::Span::current().record("credential_id", id.as_str());
    }
    let result = state
        .dispatcher
        .run(caller, definition, &context, strict, web_service_id)
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

#[utoipa::path(post, path = "/v1/curl/import", operation_id = "import_curl", summary = "Turn a curl command into a request definition", tag = "dispatch", security(("bearer" = [])),
    request_body = ImportBody,
    responses((status = 200, description = "The request definition the command describes", body = keyway_curl::Import), (status = "default", description = "An error, in the contract's shape", body = crate::openapi::ErrorBody)))]
pub async fn curl_import(
    body: JsonBody,
    Authenticated(_caller): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let body: ImportBody = body.read().await?;
    let options = ImportOptions {
        drop_unsupported: body.drop_unsupported,
    };
    let import = keyway_curl::import(&body.command, &options)?;
    Ok(HttpResponse::Ok().json(import))
}
