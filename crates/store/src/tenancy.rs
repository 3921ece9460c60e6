//! Orgs, users and the bearer tokens they authenticate with.

use crate::error::conflict;
use crate::{new_id, now_ms, on_pool, Store, StoreError};

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
    pub role: String,
    pub created_at: i64,
}

/// Everything needed to authenticate a request, fetched in one query by token ID.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CallerRow {
    pub digest: Vec<u8>,
    pub user_id: String,
    pub user_name: String,
    pub role: String,
    pub org_id: String,
    pub org_slug: String,
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
        role: &str,
    ) -> Result<UserRow, StoreError> {
        let row = UserRow {
            id: new_id(),
            org_id: org_id.to_owned(),
            name: name.to_owned(),
            role: role.to_owned(),
            created_at: now_ms(),
        };
        let sql =
            "INSERT INTO users (id, org_id, name, role, created_at) VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(&row.id)
            .bind(&row.org_id)
            .bind(&row.name)
            .bind(&row.role)
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

    /// Stores a token's digest; the token itself is never stored.
    pub async fn create_token(
        &self,
        token_id: &str,
        user_id: &str,
        digest: &[u8],
    ) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO api_tokens (id, user_id, digest, created_at) VALUES ($1, $2, $3, $4)";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(token_id)
            .bind(user_id)
            .bind(digest)
            .bind(now_ms())
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
        let sql = "SELECT t.digest, u.id AS user_id, u.name AS user_name, u.role, o.id AS org_id, o.slug AS org_slug \
                   FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN orgs o ON o.id = u.org_id \
                   WHERE t.id = $1";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(token_id).fetch_optional(pool).await?))
    }
}
