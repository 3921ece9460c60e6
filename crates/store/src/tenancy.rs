//! Orgs, users and the bearer tokens they authenticate with.

use crate::error::conflict;
use crate::{new_id, now_ms, on_pool, Store, StoreError};
use keyway_model::Role;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrgRow {
    pub id: String,
    pub slug: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: i64,
}

/// An API token as `keyway token list` shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Who is behind a token or a console session: an active user and their org.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonRow {
    pub user_id: String,
    pub user_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub org_id: String,
    pub org_slug: String,
}

impl From<PersonRow> for keyway_model::Caller {
    fn from(row: PersonRow) -> Self {
        Self {
            user_id: row.user_id,
            user_name: row.user_name,
            org_id: row.org_id,
            org_slug: row.org_slug,
            role: row.role,
        }
    }
}

/// Everything needed to authenticate a request, fetched in one query by token ID.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CallerRow {
    pub digest: Vec<u8>,
    #[sqlx(flatten)]
    pub person: PersonRow,
    /// How long the token has left, in ms, by the database's clock when it was read (never
    /// a replica's own wall clock, which may be off); `None`: it does not expire.
    pub expires_in: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl Store {
    pub async fn create_org(&self, slug: &str) -> Result<OrgRow, StoreError> {
        let row = OrgRow {
            id: new_id(),
            slug: slug.to_owned(),
            created_at: now_ms(),
        };
        on_pool!(self, pool => sqlx::query("INSERT INTO orgs (id, slug, created_at) VALUES ($1, $2, $3)")
            .bind(&row.id)
            .bind(&row.slug)
            .bind(row.created_at)
            .execute(pool)
            .await
            .map(drop)
            .map_err(conflict("an org with this slug"))?);
        Ok(row)
    }

    pub async fn org_by_slug(&self, slug: &str) -> Result<Option<OrgRow>, StoreError> {
        let sql = "SELECT id, slug, created_at FROM orgs WHERE slug = $1";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(slug).fetch_optional(pool).await?))
    }

    pub async fn create_user(
        &self,
        org_id: &str,
        name: &str,
        role: Role,
    ) -> Result<UserRow, StoreError> {
        let row = UserRow {
            id: new_id(),
            org_id: org_id.to_owned(),
            name: name.to_owned(),
            role,
            created_at: now_ms(),
        };
        let sql =
            "INSERT INTO users (id, org_id, name, role, created_at) VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(&row.id)
            .bind(&row.org_id)
            .bind(&row.name)
            .bind(row.role.as_str())
            .bind(row.created_at)
            .execute(pool)
            .await
            .map(drop)
            .map_err(conflict("a user with this name in the org"))?);
        Ok(row)
    }

    pub async fn user_by_name(
        &self,
        org_id: &str,
        name: &str,
    ) -> Result<Option<UserRow>, StoreError> {
        let sql =
            "SELECT id, org_id, name, role, created_at FROM users WHERE org_id = $1 AND name = $2";
        Ok(
            on_pool!(self, pool => sqlx::query_as(sql).bind(org_id).bind(name).fetch_optional(pool).await?),
        )
    }

    /// Stores a token's digest; the token itself is never stored. `expires_at` in Unix ms,
    /// `None` for a token that never expires.
    pub async fn create_token(
        &self,
        token_id: &str,
        user_id: &str,
        digest: &[u8],
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO api_tokens (id, user_id, digest, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(token_id)
            .bind(user_id)
            .bind(digest)
            .bind(now_ms())
            .bind(expires_at)
            .execute(pool)
            .await
            .map(drop)
            .map_err(conflict("a token with this id"))?);
        Ok(())
    }

    pub async fn caller_by_token_id(
        &self,
        token_id: &str,
    ) -> Result<Option<CallerRow>, StoreError> {
        let sql = crate::sql_at_now!(
            self,
            "SELECT t.digest, u.id AS user_id, u.name AS user_name, u.role, o.id AS org_id, \
             o.slug AS org_slug, t.expires_at - {now} AS expires_in, t.last_used_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN orgs o ON o.id = u.org_id \
             WHERE t.id = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > {now})"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(token_id)
            .fetch_optional(pool)
            .await?))
    }

    /// Records that a token was used now.
    pub async fn touch_token(&self, token_id: &str) -> Result<(), StoreError> {
        let sql = "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1";
        on_pool!(self, pool => sqlx::query(sql).bind(token_id).bind(now_ms()).execute(pool).await.map(drop)?);
        Ok(())
    }

    /// A user's tokens, newest first; never their digests.
    pub async fn list_tokens(&self, user_id: &str) -> Result<Vec<TokenRow>, StoreError> {
        let sql = "SELECT id, created_at, last_used_at, expires_at, revoked_at FROM api_tokens \
                   WHERE user_id = $1 ORDER BY created_at DESC, id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(user_id).fetch_all(pool).await?))
    }

    /// Revokes one of the user's tokens, or all of them; how many were revoked.
    pub async fn revoke_tokens(
        &self,
        user_id: &str,
        token_id: Option<&str>,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE api_tokens SET revoked_at = $3 WHERE user_id = $1 \
                   AND ($2 IS NULL OR id = $2) AND revoked_at IS NULL";
        Ok(on_pool!(self, pool => sqlx::query(sql)
            .bind(user_id)
            .bind(token_id)
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// Disables a user and revokes their tokens in one transaction.
    /// Whether `user_id` exists and has not been disabled.
    pub async fn user_active(&self, user_id: &str) -> Result<bool, StoreError> {
        let sql = "SELECT COUNT(*) FROM users WHERE id = $1 AND disabled_at IS NULL";
        let n: i64 =
            on_pool!(self, pool => sqlx::query_scalar(sql).bind(user_id).fetch_one(pool).await?);
        Ok(n > 0)
    }

    pub async fn disable_user(&self, user_id: &str) -> Result<(), StoreError> {
        let now = now_ms();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL")
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
