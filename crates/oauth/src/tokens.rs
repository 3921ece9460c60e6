//! The token source: a valid access token for a credential, refreshed before expiry or after a
//! 401, at most once at a time per credential across all replicas (a lease in the database).

use crate::client::millis;
use crate::client::{self, GrantError, Granted, StoredTokens};
use crate::service::settings_of;
use crate::OAuth;
use keyway_credentials::Resolved;
use keyway_dispatch::{TokenError, TokenFuture, TokenSource};
use keyway_model::Status;
use keyway_store::NewAuditEvent;
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, Instant};

/// How often a waiter re-reads the stored token while another replica refreshes.
const POLL: Duration = Duration::from_millis(25);
/// Attempts at a refresh that failed for a transient reason (network, 5xx).
const ATTEMPTS: u32 = 3;

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
        loop {
            let acquired = self
                .credentials
                .store()
                .acquire_lease(id, &holder, millis(self.config.lease_ttl))
                .await
                .map_err(unavailable)?;
            if acquired {
                let result = self.refresh_holding_lease(id, &holder, rejected).await;
                if let Err(e) = self.credentials.store().release_lease(id, &holder).await {
                    tracing::warn!(error = %e, "the refresh lease could not be released; it will expire");
                }
                return result;
            }
            // Another replica (or task) is refreshing: wait for its result instead of
            // refreshing again.
            tokio::time::sleep(POLL).await;
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
        match Status::parse(&resolved.row.status) {
            Some(Status::Connected) => {}
            Some(Status::ReauthorizationRequired | Status::PendingAuthorization) | None => {
                return Ok(Current::NeedsReauthorization)
            }
            Some(Status::Active) => {}
        }
        let Some(tokens) = resolved.tokens.as_ref().and_then(StoredTokens::from_json) else {
            return Ok(Current::NeedsReauthorization);
        };
        if rejected.is_some_and(|r| r.expose_secret() == tokens.access_token) {
            return Ok(Current::Stale);
        }
        let skew = millis(self.config.refresh_skew);
        let fresh = resolved
            .row
            .token_expires_at
            .is_none_or(|at| at - skew > client::now_ms());
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
        let oauth = client::build(&settings, secret, &self.redirect_uri())
            .map_err(TokenError::Unavailable)?;
        let old = current
            .tokens
            .as_ref()
            .and_then(StoredTokens::from_json)
            .ok_or(TokenError::NeedsReauthorization)?;
        let store = self.credentials.store().clone();
        let (id_owned, keeper, ttl) = (id.to_owned(), holder.to_owned(), self.config.lease_ttl);
        // Keep the lease while the provider is slow; it expires if this process dies.
        let keeper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                if !matches!(
                    store.extend_lease(&id_owned, &keeper, millis(ttl)).await,
                    Ok(true)
                ) {
                    return;
                }
            }
        });
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let response = match &old.refresh_token {
                Some(refresh) => client::refresh(&oauth, &settings, &self.http, refresh).await,
                None => client::client_credentials(&oauth, &settings, &self.http).await,
            };
            match response {
                Err(GrantError::Transient(why)) if attempt < ATTEMPTS => {
                    tracing::warn!(credential_id = %id, attempt, error = %why, "token refresh failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
                }
                other => break other,
            }
        };
        keeper.abort();
        match result {
            Ok(response) => {
                let granted =
                    Granted::from_response(&response, old.refresh_token.as_deref(), &settings.keep);
                let mut settings = settings;
                settings.extras.extend(granted.extras.clone());
                let stored = self
                    .write_tokens(
                        &current.row.org_id,
                        id,
                        Some(holder),
                        &granted,
                        &settings,
                        None,
                    )
                    .await
                    .map_err(unavailable)?;
                if !stored {
                    tracing::error!(credential_id = %id, "the refresh lease was lost before the new tokens were stored");
                }
                tracing::info!(credential_id = %id, "access token refreshed");
                Ok(SecretString::from(granted.tokens.access_token.clone()))
            }
            Err(GrantError::InvalidGrant(description)) => {
                let event = NewAuditEvent {
                    at: None,
                    org_id: Some(current.row.org_id.clone()),
                    actor_id: None,
                    actor_name: Some("oauth-refresh".into()),
                    action: "credential.reauthorization_required".into(),
                    credential_id: Some(id.to_owned()),
                    credential_owner_id: Some(current.row.owner_id.clone()),
                    outcome: "failure".into(),
                    detail: Some(
                        serde_json::json!({ "error": "invalid_grant", "description": description })
                            .to_string(),
                    ),
                };
                self.credentials
                    .store()
                    .set_credential_status(id, Status::ReauthorizationRequired.as_str(), &event)
                    .await
                    .map_err(unavailable)?;
                self.credentials.forget(id);
                tracing::warn!(credential_id = %id, "the provider revoked the grant; reauthorization required");
                Err(TokenError::NeedsReauthorization)
            }
            Err(other) => Err(TokenError::Unavailable(other.to_string())),
        }
    }
}

fn unavailable(err: impl std::fmt::Display) -> TokenError {
    tracing::error!(error = %err, "token source failed");
    TokenError::Unavailable("the token could not be read or stored".into())
}
