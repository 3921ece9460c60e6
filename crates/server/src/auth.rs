//! The bearer-token extractor: finds the caller of a request from its `Authorization` header
//! (tokens themselves are minted and checked by `keyway_credentials::tokens`).

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use keyway_credentials::tokens;
use keyway_model::Caller;
use std::future::Future;
use std::pin::Pin;
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::AppState;

/// How stale a token's "last used" may get before it is written again.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| Zeroizing::new(v.to_owned()));
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let header = header.ok_or(ApiError::Unauthenticated)?;
            // The scheme is case-insensitive (RFC 9110 section 11.1).
            let (scheme, token) = header.split_once(' ').ok_or(ApiError::Unauthenticated)?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(ApiError::Unauthenticated);
            }
            caller_of_token(&state, token.trim())
                .await
                .map(Authenticated)
        })
    }
}

/// The caller an API token belongs to, if it is well formed, known, unexpired, unrevoked and
/// its user active (used for bearer tokens and for signing in to the console with a token).
pub(crate) async fn caller_of_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let (id, secret) = tokens::parse(token).ok_or(ApiError::Unauthenticated)?;
    let row = match state.callers.get(id) {
        Some(row) => row,
        None => {
            let row = state
                .credentials
                .store()
                .caller_by_token_id(id)
                .await
                .map_err(|e| ApiError::Internal(Box::new(e)))?
                .ok_or(ApiError::Unauthenticated)?;
            state.callers.insert(id.to_owned(), row.clone());
            // "Last used" to the minute: a write per token and minute at most, not
            // per request, and never a reason to refuse one.
            let now = keyway_store::now_ms();
            if row.last_used_at.is_none_or(|at| now - at > TOUCH_EVERY_MS) {
                if let Err(e) = state.credentials.store().touch_token(id).await {
                    tracing::warn!(error = %e, "the token's last use could not be recorded");
                }
            }
            row
        }
    };
    if !tokens::matches(&row.digest, secret) {
        return Err(ApiError::Unauthenticated);
    }
    // A cached row is at most cache_ttl_ms old (revocation shows within that), but an
    // expiry is known exactly.
    if row
        .expires_at
        .is_some_and(|at| at <= keyway_store::now_ms())
    {
        state.callers.remove(&id.to_owned());
        return Err(ApiError::Unauthenticated);
    }
    let role = row.role;
    Ok(Caller {
        user_id: row.user_id,
        user_name: row.user_name,
        org_id: row.org_id,
        org_slug: row.org_slug,
        role,
    })
}
