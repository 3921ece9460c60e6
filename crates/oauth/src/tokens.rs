//! The token source: a valid access token for a credential, refreshed before expiry or after a
//! 401, at most once at a time per credential across all replicas (a lease in the database).

use crate::client::millis;
use crate::client::{self, GrantError, Granted, StoredTokens};
use crate::service::settings_of;
use crate::OAuth;
use keyway_credentials::{CredentialError, Resolved};
use keyway_model::oauth::GrantType;
use keyway_model::Status;
use keyway_net::{TokenError, TokenFuture, TokenSource};
use keyway_store::{AuditAction, AuditOutcome, NewAuditEvent};
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, Instant};

/// How long a waiter first waits before re-reading the stored token while another replica
/// refreshes; it doubles up to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(25);
const POLL_MAX: Duration = Duration::from_millis(400);
/// Attempts at a refresh that failed for a transient reason (network, 5xx).
const ATTEMPTS: u32 = 3;
/// Attempts at storing refreshed tokens when the database fails transiently: a rotated
/// refresh token that is not stored is lost for good.
const STORE_ATTEMPTS: u32 = 4;

impl TokenSource for OAuth {
    fn access_token<'a>(
        &'a self,
        resolved: &'a Resolved,
        rejected: Option<&'a SecretString>,
    ) -> TokenFuture<'a> {
        Box::pin(self.token_for(resolved, rejected))
    }
}

/// What a stored credential says about its token.
enum Current {
    Usable(SecretString),
    Stale,
    NeedsReauthorization,
}

impl OAuth {
    async fn token_for(
        &self,
        resolved: &Resolved,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, TokenError> {
        if let Current::Usable(token) = self.judge(resolved, rejected)? {
            return Ok(token);
        }
        let id = &resolved.row.id;
        let deadline = Instant::now() + self.config.lease_ttl * 3 + self.config.timeout;
        // One name per attempt: tasks of this process compete for the lease like replicas do.
        let holder = format!("{}/{}", self.holder, uuid::Uuid::new_v4().simple());
        let mut poll = POLL_FIRST;
        loop {
            let acquired = self
                .credentials
                .store()
                .acquire_lease(id, &holder, millis(self.config.lease_ttl))
                .await
                .map_err(unavailable)?;
            if acquired {
                // The refresh runs to its end in a task of its own, whatever happens to this
                // caller (a client that disconnects drops this future): the lease is released
                // and a rotated refresh token stored on every path. The guard frees the lease
                // even if the task never ends as it should (a panic, its runtime shut down).
                let lease = self.credentials.store().held_lease(id, &holder);
                let this = self.clone();
                let (id, rejected) = (id.clone(), rejected.cloned());
                let refresh = tokio::spawn(async move {
                    let result = this
                        .refresh_holding_lease(&id, &holder, rejected.as_ref())
                        .await;
                    if let Err(e) = lease.release().await {
                        tracing::warn!(error = %e, "the refresh lease could not be released; trying once more");
                    }
                    result
                });
                return refresh.await.unwrap_or_else(|_| {
                    Err(TokenError::Unavailable("the token refresh failed".into()))
                });
            }
            // Another replica (or task) is refreshing: wait for its result instead of
            // refreshing again, backing off so waiters do not hammer the database.
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(POLL_MAX);
            let current = self.reload(id).await?;
            match self.judge(&current, rejected)? {
                Current::Usable(token) => return Ok(token),
                Current::NeedsReauthorization => return Err(TokenError::NeedsReauthorization),
                Current::Stale if Instant::now() > deadline => {
                    return Err(TokenError::Unavailable(
                        "another refresh of this credential did not finish in time".into(),
                    ))
                }
                Current::Stale => {}
            }
        }
    }

    /// Usable when connected, not about to expire, and not the token an upstream rejected.
    fn judge(
        &self,
        resolved: &Resolved,
        rejected: Option<&SecretString>,
    ) -> Result<Current, TokenError> {
        match resolved.row.status {
            Status::Connected | Status::Active => {}
            Status::ReauthorizationRequired | Status::PendingAuthorization => {
                return Ok(Current::NeedsReauthorization)
            }
        }
        let Some(tokens) = resolved.tokens.as_ref().and_then(StoredTokens::from_json) else {
            return Ok(Current::NeedsReauthorization);
        };
        if rejected.is_some_and(|r| r.expose_secret() == tokens.access_token) {
            return Ok(Current::Stale);
        }
        // A token just received is never about to expire: with a lifetime shorter than twice
        // the configured skew (some providers issue 1-minute tokens), the skew is half of it.
        let configured = millis(self.config.refresh_skew);
        let expires_at = resolved.row.token_expires_at;
        let skew = match (expires_at, tokens.obtained_at) {
            (Some(at), Some(obtained)) => configured.min((at - obtained).max(0) / 2),
            _ => configured,
        };
        let fresh = expires_at.is_none_or(|at| at - skew > client::now_ms());
        if fresh {
            Ok(Current::Usable(SecretString::from(
                tokens.access_token.clone(),
            )))
        } else {
            Ok(Current::Stale)
        }
    }

    async fn reload(&self, id: &str) -> Result<Resolved, TokenError> {
        self.credentials
            .resolve_unchecked(id)
            .await
            .map_err(|e| match e {
                keyway_credentials::CredentialError::NotFound => TokenError::NeedsReauthorization,
                other => unavailable(other),
            })
    }

    async fn refresh_holding_lease(
        &self,
        id: &str,
        holder: &str,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, TokenError> {
        // Someone may have refreshed between our read and the lease: use their token.
        let current = self.reload(id).await?;
        match self.judge(&current, rejected)? {
            Current::Usable(token) => return Ok(token),
            Current::NeedsReauthorization => return Err(TokenError::NeedsReauthorization),
            Current::Stale => {}
        }
        let (settings, secret) =
            settings_of(&current.material).map_err(|e| TokenError::Unavailable(e.to_string()))?;
        let oauth = client::build(settings, secret, &self.redirect_uri())
            .map_err(TokenError::Unavailable)?;
        let old = current
            .tokens
            .as_ref()
            .and_then(StoredTokens::from_json)
            .ok_or(TokenError::NeedsReauthorization)?;
        let generation = current.row.secret_version;
        if old.refresh_token.is_none() && settings.grant_type != GrantType::ClientCredentials {
            // The person's grant cannot be renewed without them; never fall back to the app's
            // own grant (calls would run as the app, not the person).
            return self
                .needs_reauthorization(&current, generation, "no_refresh_token", None)
                .await;
        }
        let store = self.credentials.store().clone();
        let (id_owned, keeper, ttl) = (id.to_owned(), holder.to_owned(), self.config.lease_ttl);
        // Keep the lease while the provider is slow; it expires if this process dies. The
        // keeper stops with this function on every path, an early return included.
        let _keeper = AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                if !matches!(
                    store.extend_lease(&id_owned, &keeper, millis(ttl)).await,
                    Ok(true)
                ) {
                    return;
                }
            }
        }));
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let response = match &old.refresh_token {
                Some(refresh) => client::refresh(&oauth, settings, &self.http, refresh).await,
                None => client::client_credentials(&oauth, settings, &self.http).await,
            };
            match response {
                Err(GrantError::Transient(why)) if attempt < ATTEMPTS => {
                    tracing::warn!(credential_id = %id, attempt, error = %why, "token refresh failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
                }
                other => break other,
            }
        };
        match result {
            Ok(response) => {
                let granted =
                    Granted::from_response(&response, old.refresh_token.as_deref(), &settings.keep);
                let mut settings = settings.clone();
                settings.extras.extend(granted.extras.clone());
                let stored = self
                    .store_refreshed(&current.row.org_id, id, generation, &granted, &settings)
                    .await;
                match stored {
                    Ok(true) => tracing::info!(credential_id = %id, "access token refreshed"),
                    Ok(false) => tracing::warn!(
                        credential_id = %id,
                        "the credential changed while its token was refreshed (reconnected or its secret replaced); the newer state is kept"
                    ),
                    Err(e) => return Err(e),
                }
                Ok(SecretString::from(granted.tokens.access_token.clone()))
            }
            Err(GrantError::InvalidGrant(description)) => {
                self.needs_reauthorization(&current, generation, "invalid_grant", description)
                    .await
            }
            Err(other) => Err(TokenError::Unavailable(other.to_string())),
        }
    }

    /// Stores refreshed tokens if the credential is still at `generation`, retrying while the
    /// database fails transiently (the lease is still held, so nobody else refreshes).
    async fn store_refreshed(
        &self,
        org: &str,
        id: &str,
        generation: i64,
        granted: &Granted,
        settings: &crate::OAuthSettings,
    ) -> Result<bool, TokenError> {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=STORE_ATTEMPTS {
            match self
                .write_tokens(org, id, Some(generation), granted, settings, None)
                .await
            {
                Ok(stored) => return Ok(stored),
                Err(e) if attempt < STORE_ATTEMPTS => {
                    tracing::warn!(credential_id = %id, attempt, error = %e, "storing refreshed tokens failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(TokenError::Unavailable(
            "the refreshed tokens could not be stored".into(),
        ))
    }

    /// Marks the credential `reauthorization_required`, unless it was reconnected meanwhile.
    async fn needs_reauthorization(
        &self,
        current: &Resolved,
        generation: i64,
        reason: &str,
        description: Option<String>,
    ) -> Result<SecretString, TokenError> {
        let id = &current.row.id;
        let event = NewAuditEvent::new(
            AuditAction::CredentialReauthorizationRequired,
            AuditOutcome::Failure,
        )
        .by(None, "oauth-refresh")
        .on(&current.row.org_id, id, &current.row.owner_id)
        .detail(serde_json::json!({ "error": reason, "description": description }).to_string());
        let marked = self
            .credentials
            .store()
            .set_credential_status(id, generation, Status::ReauthorizationRequired, &event)
            .await
            .map_err(unavailable)?;
        self.credentials.forget(id);
        if !marked {
            // Reconnected while this refresh ran: the new tokens are the answer.
            let fresh = self.reload(id).await?;
            if let Current::Usable(token) = self.judge(&fresh, None)? {
                return Ok(token);
            }
        }
        tracing::warn!(credential_id = %id, reason, "the grant can no longer be renewed; reauthorization required");
        Err(TokenError::NeedsReauthorization)
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keyway's storage failed under the token source: the database's error goes up with its
/// cause, so a database that is down answers 503, never the provider's 502.
fn unavailable(err: impl Into<CredentialError>) -> TokenError {
    let err = err.into();
    let mut chain = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(inner) = cause {
        chain = format!("{chain}: {inner}");
        cause = inner.source();
    }
    // The server logs the same chain when it answers; here only for tracing a refresh.
    tracing::debug!(error = %chain, "token source failed");
    TokenError::Storage(err)
}
