//! Importing a curl command into a web service's form (shown, not saved, until the person
//! saves it), and testing a saved web service with values for its placeholders: the same
//! import and the same audited run as the API's.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keyway_curl::{CurlError, ImportOptions};
use keyway_dispatch::Context;
use serde::Deserialize;

use super::accounts::signed_in_post;
use super::pages::{self, TestOutcome};
use super::services::{service_page, DefinitionForm, Extras};
use super::{form, ConsoleError, FormBody, DEFINITION_FORM_LIMIT};
use crate::error::ApiError;
use crate::AppState;

/// How much of a test's response body a page shows (pages stay small; the API returns all).
const SHOWN_BODY: usize = 32 * 1024;

#[derive(Deserialize)]
struct ImportForm {
    csrf: String,
    #[serde(default)]
    command: String,
    drop_unsupported: Option<String>,
    /// Kept from the form the command was pasted into.
    #[serde(default)]
    name: String,
    #[serde(default)]
    credential_id: String,
}

pub(super) async fn import_new(
    req: HttpRequest,
    body: FormBody<DEFINITION_FORM_LIMIT>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    import(req, None, body, state).await
}

pub(super) async fn import_over(
    req: HttpRequest,
    id: web::Path<String>,
    body: FormBody<DEFINITION_FORM_LIMIT>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    import(req, Some(id.into_inner()), body, state).await
}

/// Shows what the command became in the form, or why it could not be imported; with
/// unsupported options, lists them beside a "Remove them and continue" button.
async fn import(
    req: HttpRequest,
    id: Option<String>,
    body: FormBody<DEFINITION_FORM_LIMIT>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: ImportForm = form(&body)?;
    let (caller, csrf) = signed_in_post(&req, &state, &posted.csrf).await?;
    let options = ImportOptions {
        drop_unsupported: posted.drop_unsupported.is_some(),
    };
    let kept = DefinitionForm {
        name: posted.name.clone(),
        credential_id: posted.credential_id.clone(),
        ..DefinitionForm::default()
    };
    let (definition, extras, status) = match keyway_curl::import(&posted.command, &options) {
        Ok(import) => {
            let mut definition = DefinitionForm::from_definition(&posted.name, &import.request);
            definition.credential_id = posted.credential_id;
            let mut warnings = import.warnings;
            // The command's literal secrets are not shown back, nor the command with them.
            let stripped = definition.strip_literal_secrets();
            if stripped {
                warnings.push("The command held literal secrets (a key, token or password); they were left out, because the whole org can read a web service. Store them as an account and choose it below.".to_owned());
            }
            let extras = Extras {
                imported: true,
                dropped: import.dropped,
                warnings,
                command: if stripped {
                    String::new()
                } else {
                    posted.command
                },
                ..Extras::default()
            };
            (definition, extras, StatusCode::OK)
        }
        Err(CurlError::Unsupported { options }) => {
            let extras = Extras {
                unsupported: options,
                command: posted.command,
                ..Extras::default()
            };
            (kept, extras, StatusCode::BAD_REQUEST)
        }
        Err(other) => {
            let extras = Extras {
                problem: Some(ApiError::from(other).to_string()),
                command: posted.command,
                ..Extras::default()
            };
            (kept, extras, StatusCode::BAD_REQUEST)
        }
    };
    service_page(
        &state,
        &caller,
        &csrf,
        id.as_deref(),
        definition,
        extras,
        status,
    )
    .await
}

/// `POST /console/web-services/{id}/test`: runs the saved web service (audited, with the
/// caller's rights) with the values typed for its placeholders, and shows the result.
pub(super) async fn test(
    req: HttpRequest,
    id: web::Path<String>,
    body: FormBody<DEFINITION_FORM_LIMIT>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let fields: Vec<(String, String)> = form(&body)?;
    let csrf = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let (caller, csrf) = signed_in_post(&req, &state, csrf).await?;
    let values: Vec<(String, String)> = fields
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("value.")?.to_owned(), v)))
        .collect();
    let context = Context::from_json(
        values
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    );
    let ran = async {
        let definition = state.web_services.definition(&caller, &id).await?;
        Ok::<_, ApiError>(
            state
                .dispatcher
                .run(&caller, &definition, &context, false, Some(&id))
                .await?,
        )
    }
    .await;
    let outcome = match ran {
        Ok(result) => TestOutcome::answered(result, SHOWN_BODY),
        Err(err) => TestOutcome::refused(&err),
    };
    let Some(current) = super::services::saved_form(&state, &caller, &id).await? else {
        return Ok(pages::not_found());
    };
    let extras = Extras {
        test: Some(outcome),
        test_values: values,
        ..Extras::default()
    };
    service_page(
        &state,
        &caller,
        &csrf,
        Some(&id),
        current,
        extras,
        StatusCode::OK,
    )
    .await
}
