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
use keyway_store::CallerRow;
use std::time::{Duration, Instant};

/// How stale a token's "last used" may get before it is written again.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A token's caller as a replica keeps it for a moment: the row, and when the token expires
/// on this process's monotonic clock (from the time left by the database's clock when it was
/// read), so a replica whose wall clock is off neither takes an expired token nor refuses a
/// valid one.
#[derive(Debug, Clone)]
pub struct CachedCaller {
    row: CallerRow,
    expires: Option<Instant>,
}

impl CachedCaller {
    fn new(row: CallerRow) -> Self {
        let expires = row.expires_in.map(|ms| {
            let left = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
            // A time past what `Instant` can hold is as good as never.
            Instant::now().checked_add(left).unwrap_or_else(far_future)
        });
        Self { row, expires }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

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
    // `Some(last used)` when the row was read now rather than taken from the cache.
    let (cached, read) = match state.callers.get(id) {
        Some(cached) => (cached, None),
        None => {
            let row = state
                .credentials
                .store()
                .caller_by_token_id(id)
                .await
                .map_err(|e| ApiError::Internal(Box::new(e)))?
                .ok_or(ApiError::Unauthenticated)?;
            let last_used_at = row.last_used_at;
            let cached = CachedCaller::new(row);
            state.callers.insert(id.to_owned(), cached.clone());
            (cached, Some(last_used_at))
        }
    };
    if !tokens::matches(&cached.row.digest, secret) {
        return Err(ApiError::Unauthenticated);
    }
    // A cached row is at most cache_ttl_ms old (revocation shows within that), but an
    // expiry is known exactly.
    if cached.expires.is_some_and(|at| at <= Instant::now()) {
        state.callers.remove(&id.to_owned());
        return Err(ApiError::Unauthenticated);
    }
    // "Last used" to the minute, and only for the token's holder (a token's ID alone, with a
    // wrong secret, must not write): a write per token and minute at most, not per request,
    // and never a reason to refuse one.
    if let Some(last_used_at) = read {
        let now = keyway_store::now_ms();
        if last_used_at.is_none_or(|at| now - at > TOUCH_EVERY_MS) {
            if let Err(e) = state.credentials.store().touch_token(id).await {
                tracing::warn!(error = %e, "the token's last use could not be recorded");
            }
        }
    }
    Ok(cached.row.person.into())
}
