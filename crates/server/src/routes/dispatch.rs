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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    #[serde(default)]
    pub context: HashMap<String, Value>,
    #[serde(default)]
    pub strict: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DispatchBody {
    request: RequestInput,
    #[serde(default)]
    context: HashMap<String, Value>,
    #[serde(default)]
    strict: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    command: String,
    #[serde(default)]
    drop_unsupported: bool,
}

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
    let result = state
        .dispatcher
        .run(caller, definition, &context, strict, web_service_id)
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

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
