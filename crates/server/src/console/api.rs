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
}

/// The operations, read once from the generated document (it does not change while running).
fn operations() -> &'static [Operation] {
    static OPERATIONS: OnceLock<Vec<Operation>> = OnceLock::new();
    OPERATIONS.get_or_init(|| {
        let doc: serde_json::Value =
            serde_json::from_str(&crate::openapi::document()).unwrap_or_default();
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                operations.push(Operation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: op["summary"].as_str().unwrap_or_default().to_owned(),
                    tag: op["tags"][0].as_str().unwrap_or_default().to_owned(),
                    bearer: op.get("security").is_some(),
                });
            }
        }
        operations.sort_by(|a, b| (&a.tag, &a.path).cmp(&(&b.tag, &b.path)));
        operations
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
            operations: operations(),
        },
    ))
}
