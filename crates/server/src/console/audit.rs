//! The audit page: what `GET /v1/audit` answers (admins see their org's events, members those
//! of the credentials they own), newest first, filtered by account, a hundred at a time.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keyway_credentials::console as sessions;
use keyway_credentials::AuditFilter;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::collections::HashMap;

use super::pages::{self, page, AuditLine};
use super::{form, signed_in, ConsoleError};
use crate::error::ApiError;
use crate::AppState;

const PAGE: i64 = 100;

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    credential_id: String,
    before: Option<i64>,
}

pub(super) async fn audit(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (caller, session) = signed_in(&req, &state).await?;
    let query: Query = form(req.query_string().as_bytes())?;
    let credentials = state
        .credentials
        .list(&caller)
        .await
        .map_err(ApiError::from)?;
    let names: HashMap<String, String> = credentials.into_iter().map(|c| (c.id, c.name)).collect();
    let filter = AuditFilter {
        credential_id: (!query.credential_id.is_empty()).then(|| query.credential_id.clone()),
        before: query.before,
        limit: PAGE,
    };
    let events = state
        .credentials
        .audit(&caller, filter)
        .await
        .map_err(ApiError::from)?;
    let older = (events.len() as i64 == PAGE)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    let lines = events
        .into_iter()
        .map(|e| AuditLine {
            at: e.at,
            actor: e.actor.name.unwrap_or_else(|| "Keyway".to_owned()),
            action: e.action,
            credential: e
                .credential_id
                .map(|id| names.get(&id).cloned().unwrap_or(id))
                .unwrap_or_default(),
            outcome: e.outcome,
        })
        .collect();
    let mut choices: Vec<(String, String)> = names.into_iter().collect();
    choices.sort_by(|a, b| a.1.cmp(&b.1));
    let csrf = sessions::csrf_token(session.expose_secret());
    Ok(page(
        StatusCode::OK,
        &pages::Audit {
            title: "Audit log",
            frame: pages::Frame::new(&caller, &csrf),
            is_admin: caller.is_admin(),
            choices,
            selected: &query.credential_id,
            events: lines,
            older,
        },
    ))
}
