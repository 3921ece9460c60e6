//! Console sessions and one-time sign-in links, looked up by the digest of their secret. Their
//! times are the database's (`db_now_sql`), never a replica's wall clock, so replicas whose
//! clocks differ agree on when a link or session ends.

use crate::{on_pool, Store, StoreError};

/// The signed-in person behind a live session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionCaller {
    #[sqlx(flatten)]
    pub person: crate::PersonRow,
    /// Milliseconds since the session was last marked as used, by the database's clock.
    pub idle_ms: i64,
}

/// Console sessions one person keeps at most (browsers and devices at once).
pub const SESSIONS_PER_PERSON: i64 = 20;

impl Store {
    /// A sign-in link valid for `ttl_ms` from now.
    pub async fn create_login_link(
        &self,
        digest: &[u8],
        user_id: &str,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let sql = crate::sql_at_now!(
            self,
            "INSERT INTO login_links (digest, user_id, expires_at) VALUES ($1, $2, {now} + $3)"
        );
        on_pool!(self, pool => {
            sqlx::query(sql)
            .bind(digest)
            .bind(user_id)
            .bind(ttl_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Uses a sign-in link: the user it was made for, if it is unused, unexpired and the user
    /// is still active. One statement, so two replicas cannot both use it.
    pub async fn use_login_link(&self, digest: &[u8]) -> Result<Option<String>, StoreError> {
        let sql = crate::sql_at_now!(
            self,
            "UPDATE login_links SET used_at = {now} WHERE digest = $1 AND used_at IS NULL \
             AND expires_at > {now} \
             AND user_id IN (SELECT id FROM users WHERE disabled_at IS NULL) RETURNING user_id"
        );
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(digest)
            .fetch_optional(pool)
            .await?))
    }

    /// A session for `user_id` that ends `ttl_ms` from now at the latest; `token_id` when it
    /// was started with an API token, whose end (revocation, expiry) then ends the session too.
    pub async fn create_session(
        &self,
        digest: &[u8],
        user_id: &str,
        token_id: Option<&str>,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let sql = crate::sql_at_now!(
            self,
            "INSERT INTO console_sessions \
             (digest, user_id, created_at, last_seen_at, expires_at, token_id) \
             VALUES ($1, $2, {now}, {now}, {now} + $3, $4)"
        );
        // A person's newest sessions only: each sign-in adds a row that lives for hours, and
        // a script signing in again and again (its own token, its own form cookie) must not
        // grow the table without end. The oldest go, as a browser's cookie would expire.
        let trim = "DELETE FROM console_sessions WHERE user_id = $1 AND digest NOT IN \
                    (SELECT digest FROM console_sessions WHERE user_id = $1 \
                     ORDER BY created_at DESC, digest LIMIT $2)";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(sql)
                .bind(digest)
                .bind(user_id)
                .bind(ttl_ms)
                .bind(token_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(trim)
                .bind(user_id)
                .bind(SESSIONS_PER_PERSON)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The person behind a session that has neither expired nor been idle for `idle_ms`,
    /// whose user is active, and whose sign-in token (if any) still works.
    pub async fn session_caller(
        &self,
        digest: &[u8],
        idle_ms: i64,
    ) -> Result<Option<SessionCaller>, StoreError> {
        let sql = crate::sql_at_now!(
            self,
            "SELECT u.id AS user_id, u.name AS user_name, u.role, o.id AS org_id, \
             o.slug AS org_slug, {now} - s.last_seen_at AS idle_ms FROM console_sessions s \
             JOIN users u ON u.id = s.user_id JOIN orgs o ON o.id = u.org_id \
             WHERE s.digest = $1 AND s.expires_at > {now} AND s.last_seen_at > {now} - $2 \
             AND u.disabled_at IS NULL AND (s.token_id IS NULL OR EXISTS (SELECT 1 FROM \
             api_tokens t WHERE t.id = s.token_id AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > {now})))"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(digest)
            .bind(idle_ms)
            .fetch_optional(pool)
            .await?))
    }

    /// Records that a session was used now (its idle time starts again).
    pub async fn touch_session(&self, digest: &[u8]) -> Result<(), StoreError> {
        let sql = crate::sql_at_now!(
            self,
            "UPDATE console_sessions SET last_seen_at = {now} WHERE digest = $1"
        );
        on_pool!(self, pool => {
            sqlx::query(sql)
            .bind(digest)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Removes up to `batch` sessions that have ended (expired, or idle for `idle_ms`) and as
    /// many sign-in links that were used or expired, so ended ones do not pile up. Bounded,
    /// so it never holds the database for long. The number of rows removed.
    pub async fn prune_console(&self, idle_ms: i64, batch: i64) -> Result<u64, StoreError> {
        let sessions =
            crate::sql_at_now!(self,
            "DELETE FROM console_sessions WHERE digest IN (SELECT digest FROM console_sessions \
             WHERE expires_at <= {now} OR last_seen_at <= {now} - $1 LIMIT $2)"
        );
        let links = crate::sql_at_now!(
            self,
            "DELETE FROM login_links WHERE digest IN (SELECT digest FROM login_links \
             WHERE used_at IS NOT NULL OR expires_at <= {now} LIMIT $1)"
        );
        let removed = on_pool!(self, pool => {
            let a = sqlx::query(sessions)
                .bind(idle_ms)
                .bind(batch)
                .execute(pool)
                .await?
                .rows_affected();
            let b = sqlx::query(links)
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
