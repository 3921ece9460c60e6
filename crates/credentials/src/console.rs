//! Console sign-in: one-time links (10 minutes) and sessions (8 hours idle, 7 days at most).
//! Their secrets are 256 random bits shown once; the database keeps SHA-256 digests. A form's
//! CSRF token is derived from the session secret, so any replica can check it without state.

use keyway_model::Caller;
use keyway_store::{Store, StoreError};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::time::Duration;
use zeroize::Zeroizing;

/// How long a sign-in link works.
pub const LINK_TTL: Duration = Duration::from_secs(10 * 60);
/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How stale a session's "last seen" may get before it is written again.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// 256 random bits as lowercase hex (session and link secrets, the sign-in forms' CSRF value).
pub fn new_secret() -> SecretString {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    SecretString::from(hex::encode(bytes.as_ref()))
}

/// The stored form of a link or session secret. Anything that is not 64 hex digits cannot
/// be one (and is not looked up).
fn digest(secret: &str) -> Option<Vec<u8>> {
    let well_formed = secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| Sha256::digest(secret.as_bytes()).to_vec())
}

/// Makes a one-time sign-in link secret for `user_id`, valid for [`LINK_TTL`].
pub async fn create_login_link(store: &Store, user_id: &str) -> Result<SecretString, StoreError> {
    let secret = new_secret();
    let digest = digest(secret.expose_secret()).unwrap_or_default();
    store
        .create_login_link(&digest, user_id, ms(LINK_TTL))
        .await?;
    Ok(secret)
}

/// Uses a sign-in link once: the user it was made for, or `None` when it is unknown, used,
/// expired, or its user was disabled.
pub async fn use_login_link(store: &Store, link: &str) -> Result<Option<String>, StoreError> {
    match digest(link) {
        Some(digest) => store.use_login_link(&digest).await,
        None => Ok(None),
    }
}

/// Ended sessions and used links removed per sign-in, at most.
const PRUNE_BATCH: i64 = 100;

/// Starts a session for `user_id` and returns its secret (the cookie value). A session
/// started with an API token (`token_id`) ends when that token is revoked or expires: a
/// token must not turn into a longer-lived session. Each sign-in also clears away a bounded
/// batch of ended sessions and spent links.
pub async fn start_session(
    store: &Store,
    user_id: &str,
    token_id: Option<&str>,
) -> Result<SecretString, StoreError> {
    let secret = new_secret();
    let digest = digest(secret.expose_secret()).unwrap_or_default();
    if let Err(err) = store.prune_console(ms(IDLE_TIMEOUT), PRUNE_BATCH).await {
        // Leftover rows are harmless (they cannot sign anyone in); the sign-in goes on.
        tracing::warn!(error = %err, "ended console sessions could not be pruned");
    }
    store
        .create_session(&digest, user_id, token_id, ms(ABSOLUTE_TIMEOUT))
        .await?;
    Ok(secret)
}

/// The caller of a live session, which this use keeps alive; `None` when it has ended.
pub async fn session_caller(store: &Store, session: &str) -> Result<Option<Caller>, StoreError> {
    let Some(digest) = digest(session) else {
        return Ok(None);
    };
    let Some(row) = store.session_caller(&digest, ms(IDLE_TIMEOUT)).await? else {
        return Ok(None);
    };
    // A write per session and minute at most, not per page.
    if row.idle_ms > ms(TOUCH_EVERY) {
        store.touch_session(&digest).await?;
    }
    Ok(Some(row.person.into()))
}

/// Ends a session (signing out); an unknown one is already ended.
pub async fn end_session(store: &Store, session: &str) -> Result<(), StoreError> {
    match digest(session) {
        Some(digest) => store.delete_session(&digest).await,
        None => Ok(()),
    }
}

/// The CSRF token of a session's forms: a digest of the session secret under its own label,
/// so it cannot be turned back into the cookie and needs no storage.
pub fn csrf_token(session: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"keyway-console-csrf:");
    hasher.update(session.as_bytes());
    hex::encode(hasher.finalize())
}

/// What ties an OAuth connection started in the console to the browser session that started
/// it: a digest of the session secret under its own label (the state row keeps this, so it
/// neither reveals the session nor matches its stored digest).
pub fn browser_binding(session: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"keyway-console-oauth-binding:");
    hasher.update(session.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether `given` is the session's CSRF token; constant time.
pub fn csrf_matches(session: &str, given: &str) -> bool {
    same_secret(&csrf_token(session), given)
}

/// Whether two secret values are equal (and not empty); constant time.
pub fn same_secret(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_digest_and_csrf_tokens_are_tied_to_their_session() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(digest(a.expose_secret()).is_some());
        assert_eq!(digest("not-a-secret"), None);
        let token = csrf_token(a.expose_secret());
        assert!(csrf_matches(a.expose_secret(), &token));
        assert!(!csrf_matches(b.expose_secret(), &token));
        assert!(!csrf_matches(a.expose_secret(), ""));
        assert!(!token.contains(a.expose_secret()));
    }

    #[test]
    fn a_browser_binding_is_per_session_and_unlike_its_other_digests() {
        let a = new_secret();
        let binding = browser_binding(a.expose_secret());
        assert_eq!(binding, browser_binding(a.expose_secret()));
        assert_ne!(binding, browser_binding(new_secret().expose_secret()));
        assert_ne!(binding, csrf_token(a.expose_secret()));
        let stored = digest(a.expose_secret()).map(hex::encode);
        assert_ne!(Some(binding), stored);
    }
}
