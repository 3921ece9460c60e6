//! OAuth 2.0 client state shared by replicas: authorization requests in flight, refresh leases,
//! and the token write that goes with a refresh.

use crate::audit::{insert_audit, NewAuditEvent};
use crate::credentials::{insert_secret, SecretRow};
use crate::{now_ms, on_pool, Store, StoreError};
use keyway_model::Status;

/// An authorization request in flight; `verifier_*` is the sealed PKCE verifier.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OAuthStateRow {
    pub state_digest: String,
    pub credential_id: String,
    pub issuer: String,
    pub verifier_key_id: String,
    pub verifier_wrapped: Vec<u8>,
    pub verifier_ciphertext: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    /// Started in the console: the digest that ties it to that browser session.
    pub browser_binding: Option<String>,
}

/// New tokens for a credential, written in one transaction.
#[derive(Debug, Clone)]
pub struct TokenWrite {
    /// The sealed `tokens` field (access and refresh token together).
    pub tokens: SecretRow,
    pub token_expires_at: Option<i64>,
    pub status: Status,
    /// Settings JSON to store with the tokens (kept token-response extras), if changed.
    pub settings: Option<String>,
}

/// Authorization requests in flight per credential at most: starting another lets the
/// oldest go (its redirect then answers like an unknown state). Without a bound, anyone who
/// may connect a credential could add rows without end.
pub const OAUTH_STATES_PER_CREDENTIAL: i64 = 16;
/// Old, never-completed requests removed per new one at most, so the removal never holds
/// the database (SQLite's one writer) for long.
const PURGE_BATCH: i64 = 100;

impl Store {
    pub async fn insert_oauth_state(&self, row: &OAuthStateRow) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO oauth_states (state_digest, credential_id, issuer, verifier_key_id, \
                   verifier_wrapped, verifier_ciphertext, created_at, expires_at, browser_binding) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        let purge = "DELETE FROM oauth_states WHERE state_digest IN (SELECT state_digest \
                     FROM oauth_states WHERE expires_at < $1 LIMIT $2)";
        let keep_newest = "DELETE FROM oauth_states WHERE credential_id = $1 AND state_digest \
                           NOT IN (SELECT state_digest FROM oauth_states WHERE credential_id = $1 \
                           ORDER BY created_at DESC, state_digest DESC LIMIT $2)";
        on_pool!(self, pool => {
            // Old, never-completed requests are dropped on the way.
            sqlx::query(purge)
                .bind(now_ms() - 24 * 3600 * 1000)
                .bind(PURGE_BATCH)
                .execute(pool)
                .await?;
            sqlx::query(sql)
                .bind(&row.state_digest)
                .bind(&row.credential_id)
                .bind(&row.issuer)
                .bind(&row.verifier_key_id)
                .bind(&row.verifier_wrapped)
                .bind(&row.verifier_ciphertext)
                .bind(row.created_at)
                .bind(row.expires_at)
                .bind(&row.browser_binding)
                .execute(pool)
                .await?;
            sqlx::query(keep_newest)
                .bind(&row.credential_id)
                .bind(OAUTH_STATES_PER_CREDENTIAL)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Removes and returns the state row: whichever replica gets it first, once.
    pub async fn take_oauth_state(
        &self,
        digest: &str,
    ) -> Result<Option<OAuthStateRow>, StoreError> {
        let sql = "DELETE FROM oauth_states WHERE state_digest = $1 RETURNING state_digest, \
                   credential_id, issuer, verifier_key_id, verifier_wrapped, verifier_ciphertext, \
                   created_at, expires_at, browser_binding";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(digest).fetch_optional(pool).await?))
    }

    /// Takes the refresh lease of `credential_id` for `holder` unless a lease is still
    /// running, even one of the same holder name: give each attempt its own name.
    /// `true` when `holder` now holds it.
    pub async fn acquire_lease(
        &self,
        credential_id: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        // Lease times come from the database's clock, the one clock all replicas share.
        let sql = crate::sql_at_now!(
            self,
            "INSERT INTO oauth_leases (credential_id, holder, expires_at) VALUES ($1, $2, {now} + $3) \
             ON CONFLICT (credential_id) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE oauth_leases.expires_at < {now}"
        );
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(credential_id)
            .bind(holder)
            .bind(ttl_ms)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        match done {
            Ok(n) => Ok(n == 1),
            // The credential was removed meanwhile: nothing to refresh.
            Err(err) if crate::error::is_foreign_key_violation(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Pushes the lease's expiry out; `false` when `holder` no longer holds it.
    pub async fn extend_lease(
        &self,
        credential_id: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let sql = crate::sql_at_now!(
            self,
            "UPDATE oauth_leases SET expires_at = {now} + $3 WHERE credential_id = $1 AND holder = $2"
        );
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(credential_id)
            .bind(holder)
            .bind(ttl_ms)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// The guard of a lease `holder` just took: see [`HeldLease`].
    pub fn held_lease(&self, credential_id: &str, holder: &str) -> HeldLease {
        HeldLease {
            store: self.clone(),
            credential_id: credential_id.to_owned(),
            holder: holder.to_owned(),
            released: false,
        }
    }

    pub async fn release_lease(&self, credential_id: &str, holder: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM oauth_leases WHERE credential_id = $1 AND holder = $2";
        on_pool!(self, pool => sqlx::query(sql).bind(credential_id).bind(holder).execute(pool).await.map(drop)?);
        Ok(())
    }

    /// Whether some holder's lease on `credential_id` is still running.
    pub async fn lease_running(&self, credential_id: &str) -> Result<bool, StoreError> {
        let sql = crate::sql_at_now!(
            self,
            "SELECT COUNT(*) FROM oauth_leases WHERE credential_id = $1 AND expires_at >= {now}"
        );
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(credential_id)
            .fetch_one(pool)
            .await?);
        Ok(n > 0)
    }

    /// Stores new tokens, status and expiry in one transaction, and moves the credential to
    /// its next generation (`secret_version`). With `generation`, only if the credential is
    /// still at that generation (`false` otherwise, and nothing is written): a refresh never
    /// overwrites a reconnection or a replaced secret that landed while it ran.
    pub async fn store_tokens(
        &self,
        credential_id: &str,
        generation: Option<i64>,
        write: &TokenWrite,
        audit: Option<&NewAuditEvent>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE credentials SET status = $2, token_expires_at = $3, \
                   settings = COALESCE($4, settings), secret_version = secret_version + 1, \
                   updated_at = $5 WHERE id = $1 AND ($6 IS NULL OR secret_version = $6)";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(sql)
                .bind(credential_id)
                .bind(write.status.as_str())
                .bind(write.token_expires_at)
                .bind(&write.settings)
                .bind(now_ms())
                .bind(generation)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM credential_secrets WHERE credential_id = $1 AND field = $2")
                .bind(credential_id)
                .bind(&write.tokens.field)
                .execute(&mut *tx)
                .await?;
            insert_secret!(&mut *tx, credential_id, write.tokens)?;
            if let Some(audit) = audit {
                insert_audit!(&mut *tx, audit)?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Sets the status alone (`reauthorization_required` after `invalid_grant`), with an
    /// event, only while the credential is at `generation`: a credential reconnected meanwhile
    /// keeps its new tokens. `false` when nothing was written.
    pub async fn set_credential_status(
        &self,
        credential_id: &str,
        generation: i64,
        status: Status,
        audit: &NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE credentials SET status = $2, updated_at = $3 WHERE id = $1 \
                   AND secret_version = $4";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(sql)
                .bind(credential_id)
                .bind(status.as_str())
                .bind(now_ms())
                .bind(generation)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            insert_audit!(&mut *tx, audit)?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// The database's clock in Unix ms, as SQL for this backend.
    pub(crate) fn db_now_sql(&self) -> &'static str {
        match self.backend() {
            crate::Backend::Sqlite => {
                "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
            }
            crate::Backend::Postgres => {
                "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
            }
        }
    }
}

/// A refresh lease this process holds. [`HeldLease::release`] frees it; if that is never
/// reached (the refresh panicked, or its runtime shut down under it), dropping the guard frees
/// it on a task of its own, so the other replicas do not wait out its expiry. Dropped outside a
/// Tokio runtime, it is left to expire.
#[must_use = "the lease is freed when this is dropped"]
#[derive(Debug)]
pub struct HeldLease {
    store: Store,
    credential_id: String,
    holder: String,
    released: bool,
}

impl HeldLease {
    pub async fn release(mut self) -> Result<(), StoreError> {
        let result = self
            .store
            .release_lease(&self.credential_id, &self.holder)
            .await;
        // A failed release is tried once more from `drop`.
        self.released = result.is_ok();
        result
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("a refresh lease was dropped outside a runtime; it will expire");
            return;
        };
        let store = self.store.clone();
        let id = std::mem::take(&mut self.credential_id);
        let holder = std::mem::take(&mut self.holder);
        runtime.spawn(async move {
            if let Err(e) = store.release_lease(&id, &holder).await {
                tracing::warn!(error = %e, "the refresh lease could not be released; it will expire");
            }
        });
    }
}
