//! Web-service pages: the list, one web service's form (new or saved), saving and removing.
//! Saving goes through the same service as `POST` and `PUT /v1/web-services`, so the rights
//! (changing what a credential signs needs the right to use it) and checks are the API's.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use keyway_credentials::console as sessions;
use keyway_model::{Caller, Header, RequestDefinition, RequestInput, Role};
use keyway_web_services::{
    is_literal_secret_header, url_without_literal_secrets, WebServiceError, WebServiceInput,
};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::accounts::signed_in_post;
use super::pages::{self, page};
use super::{form, see_other, signed_in, ConsoleError, FormBody, DEFINITION_FORM_LIMIT};
use crate::error::ApiError;
use crate::AppState;

/// A request definition as the form shows and posts it; headers one per line, `Name: value`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct DefinitionForm {
    pub name: String,
    pub method: String,
    pub url: String,
    pub headers: String,
    pub content_type: String,
    pub body: String,
    pub credential_id: String,
}

impl DefinitionForm {
    pub(super) fn from_definition(name: &str, request: &RequestDefinition) -> Self {
        Self {
            name: name.to_owned(),
            method: request.method.clone(),
            url: request.url.clone(),
            headers: request
                .headers
                .iter()
                .map(|h| format!("{}: {}\n", h.name, h.value))
                .collect(),
            content_type: request
                .content_type
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            body: request.body.clone().unwrap_or_default(),
            credential_id: request.credential_id.clone().unwrap_or_default(),
        }
    }

    /// Takes out the literal secrets the API refuses to store (a secret-like header's value,
    /// a secret-like query value, user info), so no page shows one back. Whether it did.
    pub(super) fn strip_literal_secrets(&mut self) -> bool {
        let mut changed = false;
        let mut headers = String::with_capacity(self.headers.len());
        for line in self.headers.lines() {
            match line.split_once(':') {
                Some((name, value)) if is_literal_secret_header(name.trim(), value.trim()) => {
                    changed = true;
                    headers.push_str(&format!("{}: \n", name.trim()));
                }
                _ => {
                    headers.push_str(line);
                    headers.push('\n');
                }
            }
        }
        if changed {
            self.headers = headers;
        }
        if let Some(url) = url_without_literal_secrets(&self.url) {
            self.url = url;
            changed = true;
        }
        changed
    }

    /// The API's input for the same definition.
    fn input(&self) -> Result<WebServiceInput, ApiError> {
        let given = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
        let mut headers = Vec::new();
        for (n, line) in self.headers.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| {
                ApiError::invalid(
                    Some("headers"),
                    format!(
                        "headers, line {}: write each header as `Name: value`",
                        n + 1
                    ),
                )
            })?;
            headers.push(Header::new(name.trim(), value.trim_start()));
        }
        Ok(WebServiceInput {
            name: Some(self.name.clone()),
            request: Some(RequestInput {
                method: given(&self.method),
                url: self.url.trim().to_owned(),
                headers,
                body: (!self.body.is_empty()).then(|| self.body.clone()),
                content_type: given(&self.content_type),
                credential_id: given(&self.credential_id),
                timeout_ms: None,
            }),
            ..WebServiceInput::default()
        })
    }
}

/// Everything a web service's page may show besides the form.
#[derive(Default)]
pub(crate) struct Extras {
    pub notice: Option<&'static str>,
    pub problem: Option<String>,
    /// The form holds an imported command's result, not yet saved.
    pub imported: bool,
    pub dropped: Vec<String>,
    pub warnings: Vec<String>,
    /// The command last pasted, and the unsupported options it had, if refused for them.
    pub command: String,
    pub unsupported: Vec<String>,
    pub test: Option<pages::TestOutcome>,
    pub test_values: Vec<(String, String)>,
}

/// Renders a web service's page: `id` is `None` for a new one.
pub(super) async fn service_page(
    state: &AppState,
    caller: &Caller,
    csrf: &str,
    id: Option<&str>,
    definition: DefinitionForm,
    extras: Extras,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let (saved, can_change, credential_removed) = match id {
        None => (None, true, false),
        Some(id) => match state.web_services.get(caller, id).await {
            Ok(view) => {
                let can_change = view.owner.id == caller.user_id || caller.role == Role::Admin;
                (Some(view.request), can_change, view.credential_removed)
            }
            Err(WebServiceError::NotFound) => return Ok(pages::not_found()),
            Err(other) => return Err(ApiError::from(other).into()),
        },
    };
    // Test values are asked for the placeholders of what is saved (that is what runs).
    let placeholders = saved.as_ref().map(placeholders_of).unwrap_or_default();
    let test_values = placeholders
        .into_iter()
        .map(|key| {
            let value = extras
                .test_values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            (key, value)
        })
        .collect();
    let credentials = usable_credentials(state, caller, &definition.credential_id).await?;
    Ok(page(
        status,
        &pages::WebService {
            title: if id.is_some() {
                "Web service"
            } else {
                "New web service"
            },
            frame: pages::Frame::new(caller, csrf),
            id,
            form: &definition,
            methods: &RequestDefinition::METHODS,
            credentials,
            can_change,
            credential_removed,
            test_values,
            extras,
        },
    ))
}

/// The placeholders of a definition, each once, in the order they appear.
fn placeholders_of(request: &RequestDefinition) -> Vec<String> {
    let texts = std::iter::once(request.url.as_str())
        .chain(request.headers.iter().map(|h| h.value.as_str()))
        .chain(request.body.as_deref());
    let mut keys: Vec<String> = Vec::new();
    for key in texts.flat_map(keyway_model::template::placeholders) {
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_owned());
        }
    }
    keys
}

/// The credentials the person may bind: their own and those shared with the org. The one
/// bound now is listed too, so saving does not silently unbind it.
async fn usable_credentials(
    state: &AppState,
    caller: &Caller,
    current: &str,
) -> Result<Vec<(String, String)>, ConsoleError> {
    let views = state
        .credentials
        .list(caller)
        .await
        .map_err(ApiError::from)?;
    let mut usable: Vec<(String, String)> = views
        .into_iter()
        .filter(|v| v.owner.id == caller.user_id || v.shared || v.id == current)
        .map(|v| (v.id, v.name))
        .collect();
    if !current.is_empty() && !usable.iter().any(|(id, _)| id == current) {
        usable.push((
            current.to_owned(),
            "(bound now; not yours to use)".to_owned(),
        ));
    }
    Ok(usable)
}

fn notice(req: &HttpRequest) -> Option<&'static str> {
    super::notice(
        req,
        &[
            ("added", "The web service was saved. Test it below."),
            ("saved", "The web service was saved."),
            ("removed", "The web service was removed."),
        ],
    )
}

/// A saved web service's definition as its form shows it; `None` when the caller's org has
/// no such web service (the 404 page).
pub(super) async fn saved_form(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Option<DefinitionForm>, ConsoleError> {
    match state.web_services.get(caller, id).await {
        Ok(view) => Ok(Some(DefinitionForm::from_definition(
            &view.name,
            &view.request,
        ))),
        Err(WebServiceError::NotFound) => Ok(None),
        Err(other) => Err(ApiError::from(other).into()),
    }
}

pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (caller, session) = signed_in(&req, &state).await?;
    let views = state
        .web_services
        .list(&caller)
        .await
        .map_err(ApiError::from)?;
    let names: std::collections::HashMap<String, String> = state
        .credentials
        .list(&caller)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|v| (v.id, v.name))
        .collect();
    let (pager, shown) = pages::Pager::new(req.query_string(), views.len());
    let rows = views
        .into_iter()
        .skip(shown.start)
        .take(shown.len())
        .map(|v| pages::ServiceRow {
            credential: v.request.credential_id.as_ref().map(|id| {
                names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "another person's account".to_owned())
            }),
            id: v.id,
            name: v.name,
            method: v.request.method,
            url: v.request.url,
            owner: v.owner.name,
            credential_removed: v.credential_removed,
        })
        .collect();
    let csrf = sessions::csrf_token(session.expose_secret());
    Ok(page(
        StatusCode::OK,
        &pages::WebServices {
            title: "Web services",
            frame: pages::Frame::new(&caller, &csrf),
            notice: notice(&req),
            rows,
            pager,
        },
    ))
}

pub(super) async fn new_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (caller, session) = signed_in(&req, &state).await?;
    let csrf = sessions::csrf_token(session.expose_secret());
    let definition = DefinitionForm {
        method: "GET".into(),
        ..DefinitionForm::default()
    };
    service_page(
        &state,
        &caller,
        &csrf,
        None,
        definition,
        Extras::default(),
        StatusCode::OK,
    )
    .await
}

pub(super) async fn detail(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (caller, session) = signed_in(&req, &state).await?;
    let csrf = sessions::csrf_token(session.expose_secret());
    let Some(definition) = saved_form(&state, &caller, &id).await? else {
        return Ok(pages::not_found());
    };
    let extras = Extras {
        notice: notice(&req),
        ..Extras::default()
    };
    service_page(
        &state,
        &caller,
        &csrf,
        Some(&id),
        definition,
        extras,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct SaveForm {
    csrf: String,
    #[serde(flatten)]
    definition: DefinitionForm,
    /// The form shows an import's result; saving it over a saved web service needs
    /// `confirm_replace`.
    imported: Option<String>,
    confirm_replace: Option<String>,
}

pub(super) async fn create(
    req: HttpRequest,
    body: FormBody<DEFINITION_FORM_LIMIT>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: SaveForm = form(&body)?;
    let (caller, csrf) = signed_in_post(&req, &state, &posted.csrf).await?;
    let outcome = async {
        let input = posted.definition.input()?;
        Ok::<_, ApiError>(state.web_services.create(&caller, input).await?)
    }
    .await;
    match outcome {
        Ok(view) => Ok(see_other(&format!(
            "/console/web-services/{}?done=added",
            view.id
        ))),
        Err(err) => refused(&state, &caller, &csrf, None, posted.definition, err).await,
    }
}

pub(super) async fn save(
    req: HttpRequest,
    id: web::Path<String>,
    body: FormBody<DEFINITION_FORM_LIMIT>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: SaveForm = form(&body)?;
    let (caller, csrf) = signed_in_post(&req, &state, &posted.csrf).await?;
    if posted.imported.is_some() && posted.confirm_replace.is_none() {
        let extras = Extras {
            imported: true,
            problem: Some(
                "Saving an imported command replaces this web service's whole configuration: tick the confirmation first."
                    .to_owned(),
            ),
            ..Extras::default()
        };
        return service_page(
            &state,
            &caller,
            &csrf,
            Some(&id),
            posted.definition,
            extras,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let outcome = async {
        let input = posted.definition.input()?;
        Ok::<_, ApiError>(state.web_services.replace(&caller, &id, input).await?)
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/console/web-services/{id}?done=saved"))),
        Err(err) => refused(&state, &caller, &csrf, Some(&id), posted.definition, err).await,
    }
}

/// The form again with the API's reason, keeping what was typed (a missing or another org's
/// web service is the 404 page).
async fn refused(
    state: &AppState,
    caller: &Caller,
    csrf: &str,
    id: Option<&str>,
    mut definition: DefinitionForm,
    err: ApiError,
) -> Result<HttpResponse, ConsoleError> {
    definition.strip_literal_secrets();
    if err.status_code() == StatusCode::NOT_FOUND && id.is_some() {
        return Ok(pages::not_found());
    }
    if !err.status_code().is_client_error() {
        return Err(err.into());
    }
    let extras = Extras {
        problem: Some(err.to_string()),
        ..Extras::default()
    };
    service_page(
        state,
        caller,
        csrf,
        id,
        definition,
        extras,
        err.status_code(),
    )
    .await
}

#[derive(Deserialize)]
struct RemoveForm {
    csrf: String,
}

pub(super) async fn remove(
    req: HttpRequest,
    id: web::Path<String>,
    body: FormBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: RemoveForm = form(&body)?;
    let (caller, csrf) = signed_in_post(&req, &state, &posted.csrf).await?;
    match state.web_services.delete(&caller, &id).await {
        Ok(()) => Ok(see_other("/console/web-services?done=removed")),
        Err(err) => {
            let err = ApiError::from(err);
            let Some(current) = saved_form(&state, &caller, &id).await? else {
                return Ok(pages::not_found());
            };
            refused(&state, &caller, &csrf, Some(&id), current, err).await
        }
    }
}
