//! Console sessions and one-time sign-in links, looked up by the digest of their secret.

use crate::{on_pool, Store, StoreError};
use keyway_model::Role;

/// The signed-in person behind a live session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionCaller {
    pub user_id: String,
    pub user_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub org_id: String,
    pub org_slug: String,
    pub last_seen_at: i64,
}

impl Store {
    pub async fn create_login_link(
        &self,
        digest: &[u8],
        user_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO login_links (digest, user_id, expires_at) VALUES ($1, $2, $3)";
        on_pool!(self, pool => {
            sqlx::query(sql)
            .bind(digest)
            .bind(user_id)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Uses a sign-in link: the user it was made for, if it is unused, unexpired and the user
    /// is still active. One statement, so two replicas cannot both use it.
    pub async fn use_login_link(
        &self,
        digest: &[u8],
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let sql = "UPDATE login_links SET used_at = $2 WHERE digest = $1 AND used_at IS NULL \
                   AND expires_at > $2 AND user_id IN (SELECT id FROM users WHERE disabled_at IS NULL) \
                   RETURNING user_id";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(digest)
            .bind(now)
            .fetch_optional(pool)
            .await?))
    }

    /// A session for `user_id`; `token_id` when it was started with an API token, whose end
    /// (revocation, expiry) then ends the session too.
    pub async fn create_session(
        &self,
        digest: &[u8],
        user_id: &str,
        token_id: Option<&str>,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO console_sessions \
                   (digest, user_id, created_at, last_seen_at, expires_at, token_id) \
                   VALUES ($1, $2, $3, $3, $4, $5)";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(digest)
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .bind(token_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The person behind a session that has neither expired nor been idle since
    /// `idle_since`, whose user is active, and whose sign-in token (if any) still works.
    pub async fn session_caller(
        &self,
        digest: &[u8],
        now: i64,
        idle_since: i64,
    ) -> Result<Option<SessionCaller>, StoreError> {
        // The sign-in token's expiry by the database's clock, as for the token itself.
        let db_now = self.db_now_sql();
        let sql = format!(
            "SELECT u.id AS user_id, u.name AS user_name, u.role, o.id AS org_id, \
             o.slug AS org_slug, s.last_seen_at FROM console_sessions s \
             JOIN users u ON u.id = s.user_id JOIN orgs o ON o.id = u.org_id \
             WHERE s.digest = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 \
             AND u.disabled_at IS NULL AND (s.token_id IS NULL OR EXISTS (SELECT 1 FROM \
             api_tokens t WHERE t.id = s.token_id AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > {db_now})))"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(digest)
            .bind(now)
            .bind(idle_since)
            .fetch_optional(pool)
            .await?))
    }

    /// Records that a session was used now (its idle time starts again).
    pub async fn touch_session(&self, digest: &[u8], now: i64) -> Result<(), StoreError> {
        let sql = "UPDATE console_sessions SET last_seen_at = $2 WHERE digest = $1";
        on_pool!(self, pool => {
            sqlx::query(sql)
            .bind(digest)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Removes up to `batch` sessions that have ended (expired, or idle since `idle_since`)
    /// and as many sign-in links that were used or expired, so ended ones do not pile up.
    /// Bounded, so it never holds the database for long. The number of rows removed.
    pub async fn prune_console(
        &self,
        now: i64,
        idle_since: i64,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let sessions = "DELETE FROM console_sessions WHERE digest IN (SELECT digest FROM \
                        console_sessions WHERE expires_at <= $1 OR last_seen_at <= $2 LIMIT $3)";
        let links = "DELETE FROM login_links WHERE digest IN (SELECT digest FROM login_links \
                     WHERE used_at IS NOT NULL OR expires_at <= $1 LIMIT $2)";
        let removed = on_pool!(self, pool => {
            let a = sqlx::query(sessions)
                .bind(now)
                .bind(idle_since)
                .bind(batch)
                .execute(pool)
                .await?
                .rows_affected();
            let b = sqlx::query(links)
                .bind(now)
                .bind(batch)
                .execute(pool)
                .await?
                .rows_affected();
            a + b
        });
        Ok(removed)
    }

    pub async fn delete_session(&self, digest: &[u8]) -> Result<(), StoreError> {
        let sql = "DELETE FROM console_sessions WHERE digest = $1";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(digest).execute(pool).await?;
        });
        Ok(())
    }
}
