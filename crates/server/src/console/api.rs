//! The API page: Keyway's OpenAPI document rendered as a table of operations, with a link to
//! the document itself (no CDN, no script: the page is built from the same document
//! `/openapi.json` serves).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keyway_credentials::console as sessions;
use secrecy::ExposeSecret;
use std::sync::OnceLock;

use super::pages::{self, page};
use super::{signed_in, ConsoleError};
use crate::AppState;

/// One operation as the page lists it.
pub(super) struct Operation {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub tag: String,
    /// It needs a bearer token.
    pub bearer: bool,
    /// `name (in, required)` for each parameter.
    pub parameters: Vec<String>,
    /// The request body's shape, if it takes one.
    pub takes: Option<String>,
    /// The success answer's shape, if it has one.
    pub answers: Option<String>,
}

/// One shape (schema) and its fields, `name: type`, required ones marked.
pub(super) struct Shape {
    pub name: String,
    pub fields: Vec<String>,
}

/// The schema name a `$ref` names, or the type of an inline schema.
fn shape_name(schema: &serde_json::Value) -> Option<String> {
    if let Some(reference) = schema.get("$ref").and_then(|r| r.as_str()) {
        return reference.rsplit('/').next().map(str::to_owned);
    }
    schema.get("type").map(|t| match t {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn shapes(doc: &serde_json::Value) -> Vec<Shape> {
    let mut shapes = Vec::new();
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let fields = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(field, spec)| {
                let kind = shape_name(spec)
                    .or_else(|| {
                        spec["oneOf"]
                            .as_array()
                            .and_then(|o| o.iter().find_map(shape_name).filter(|k| k != "null"))
                    })
                    .or_else(|| spec["enum"].as_array().map(|_| "one of a list".to_owned()))
                    .unwrap_or_else(|| "any".to_owned());
                let mark = if required.contains(&field.as_str()) {
                    " (required)"
                } else {
                    ""
                };
                format!("{field}: {kind}{mark}")
            })
            .collect();
        shapes.push(Shape {
            name: name.clone(),
            fields,
        });
    }
    shapes
}

/// The operations and shapes, read once from the generated document (it does not change
/// while running).
fn described() -> &'static (Vec<Operation>, Vec<Shape>) {
    static DESCRIBED: OnceLock<(Vec<Operation>, Vec<Shape>)> = OnceLock::new();
    DESCRIBED.get_or_init(|| {
        let doc: serde_json::Value =
            serde_json::from_str(crate::openapi::document()).unwrap_or_default();
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                operations.push(Operation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: op["summary"].as_str().unwrap_or_default().to_owned(),
                    tag: op["tags"][0].as_str().unwrap_or_default().to_owned(),
                    bearer: op.get("security").is_some(),
                    parameters: op["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            let required = if p["required"].as_bool() == Some(true) {
                                ", required"
                            } else {
                                ""
                            };
                            format!(
                                "{} ({}{required})",
                                p["name"].as_str().unwrap_or_default(),
                                p["in"].as_str().unwrap_or_default()
                            )
                        })
                        .collect(),
                    takes: op["requestBody"]["content"]
                        .as_object()
                        .and_then(|c| c.values().next())
                        .and_then(|m| shape_name(&m["schema"])),
                    answers: op["responses"]
                        .as_object()
                        .and_then(|r| r.iter().find(|(code, _)| code.starts_with('2')))
                        .and_then(|(_, r)| r["content"].as_object())
                        .and_then(|c| c.values().next())
                        .and_then(|m| shape_name(&m["schema"])),
                });
            }
        }
        operations.sort_by(|a, b| (&a.tag, &a.path).cmp(&(&b.tag, &b.path)));
        (operations, shapes(&doc))
    })
}

pub(super) async fn api(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (caller, session) = signed_in(&req, &state).await?;
    let csrf = sessions::csrf_token(session.expose_secret());
    Ok(page(
        StatusCode::OK,
        &pages::Api {
            title: "API",
            frame: pages::Frame::new(&caller, &csrf),
            operations: &described().0,
            shapes: &described().1,
        },
    ))
}
