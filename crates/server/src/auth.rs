//! Bearer tokens: issued once by the CLI as `kw_<id>_<secret>`, stored as a SHA-256 digest of the
//! secret, looked up by ID and compared in constant time.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use keyway_model::{Caller, Role};
use keyway_store::{Store, StoreError};
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::AppState;

const PREFIX: &str = "kw_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;

/// A new token: store `id` and `digest`, show `token` once.
#[derive(Debug)]
pub struct IssuedToken {
    pub id: String,
    pub digest: Vec<u8>,
    pub token: SecretString,
}

pub fn generate_token() -> IssuedToken {
    let mut id = [0u8; ID_HEX / 2];
    let mut secret = Zeroizing::new([0u8; SECRET_HEX / 2]);
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(secret.as_mut());
    let id = hex::encode(id);
    let secret_hex = Zeroizing::new(hex::encode(secret.as_ref()));
    IssuedToken {
        digest: digest(&secret_hex),
        token: SecretString::from(format!("{PREFIX}{id}_{}", secret_hex.as_str())),
        id,
    }
}

/// Stores a new token for `user_id` and returns it for display.
/// How stale a token's "last used" may get before it is written again.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The life of a token when none is asked for.
pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

/// Issues a token that expires after `ttl` (`None`: never).
pub async fn issue_token_with_ttl(
    store: &Store,
    user_id: &str,
    ttl: Option<std::time::Duration>,
) -> Result<SecretString, StoreError> {
    let issued = generate_token();
    let expires_at = ttl.map(|ttl| {
        keyway_store::now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
    });
    store
        .create_token(&issued.id, user_id, &issued.digest, expires_at)
        .await?;
    Ok(issued.token)
}

/// Issues a token with the default life.
pub async fn issue_token(store: &Store, user_id: &str) -> Result<SecretString, StoreError> {
    issue_token_with_ttl(store, user_id, Some(DEFAULT_TTL)).await
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits `kw_<id>_<secret>`; `None` for anything else.
fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, ID_HEX) && hex(secret, SECRET_HEX)).then_some((id, secret))
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
            let (id, secret) = parse(token.trim()).ok_or(ApiError::Unauthenticated)?;
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
            if !bool::from(row.digest.ct_eq(&digest(secret))) {
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
            let role =
                Role::parse(&row.role).ok_or_else(|| ApiError::Internal("unknown role".into()))?;
            Ok(Authenticated(Caller {
                user_id: row.user_id,
                user_name: row.user_name,
                org_id: row.org_id,
                org_slug: row.org_slug,
                role,
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn generated_tokens_parse_and_match_their_digest() {
        let issued = generate_token();
        let (id, secret) = parse(issued.token.expose_secret()).unwrap();
        assert_eq!(id, issued.id);
        assert_eq!(digest(secret), issued.digest);
        assert!(!format!("{issued:?}").contains(secret));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "kw_",
            "kw_abc_def",
            "xx_0123456789abcdef_00",
            &format!("kw_{}_{}", "g".repeat(16), "0".repeat(64)),
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
