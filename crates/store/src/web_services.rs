//! Saved request definitions (web services) and the credential each may name.

use crate::error::is_foreign_key_violation;
use crate::{new_id, now_ms, on_pool, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebServiceRow {
    pub id: String,
    pub org_id: String,
    pub owner_id: String,
    pub owner_name: String,
    pub name: String,
    pub credential_id: Option<String>,
    /// Its credential was removed by force: it must not run until one is bound again.
    pub credential_removed: bool,
    /// The request definition as JSON.
    pub request: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct WebServiceWrite {
    pub name: String,
    pub credential_id: Option<String>,
    pub request: String,
}

const SELECT: &str = "SELECT w.id, w.org_id, w.owner_id, u.name AS owner_name, w.name, \
                      w.credential_id, w.credential_removed, w.request, w.created_at, w.updated_at \
                      FROM web_services w JOIN users u ON u.id = w.owner_id";

impl Store {
    /// `Missing("credential")` when the named credential was removed meanwhile.
    /// Inserts a web service; `LimitReached` (and nothing written) when its org would have
    /// more than `org_limit`.
    pub async fn insert_web_service(
        &self,
        org_id: &str,
        owner_id: &str,
        write: &WebServiceWrite,
        org_limit: i64,
    ) -> Result<String, StoreError> {
        let id = new_id();
        let now = now_ms();
        let sql = "INSERT INTO web_services (id, org_id, owner_id, name, credential_id, request, \
                   created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
        // Counted after the insert, so that a SQLite transaction starts with its write.
        let count = "SELECT COUNT(*) FROM web_services WHERE org_id = $1";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::lock_org!(self, &mut *tx, org_id);
            sqlx::query(sql)
                .bind(&id)
                .bind(org_id)
                .bind(owner_id)
                .bind(&write.name)
                .bind(&write.credential_id)
                .bind(&write.request)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(missing_credential)?;
            let n: i64 = sqlx::query_scalar(count).bind(org_id).fetch_one(&mut *tx).await?;
            if n > org_limit {
                return Err(StoreError::LimitReached("web services"));
            }
            tx.commit().await?;
        });
        Ok(id)
    }

    pub async fn web_service(&self, id: &str) -> Result<Option<WebServiceRow>, StoreError> {
        let sql = format!("{SELECT} WHERE w.id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?))
    }

    pub async fn list_web_services(&self, org_id: &str) -> Result<Vec<WebServiceRow>, StoreError> {
        let sql = format!("{SELECT} WHERE w.org_id = $1 ORDER BY w.name, w.id");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(org_id).fetch_all(pool).await?))
    }

    /// `false` when it no longer exists. Binding a credential clears the removal marker;
    /// a write without one keeps it.
    pub async fn update_web_service(
        &self,
        id: &str,
        write: &WebServiceWrite,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE web_services SET name = $2, credential_id = $3, request = $4, \
                   updated_at = $5, credential_removed = (credential_removed AND $3 IS NULL) \
                   WHERE id = $1";
        let result = on_pool!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(&write.name)
            .bind(&write.credential_id)
            .bind(&write.request)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()));
        Ok(result.map_err(missing_credential)? == 1)
    }

    pub async fn delete_web_service(&self, id: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM web_services WHERE id = $1";
        let deleted = on_pool!(self, pool =>
            sqlx::query(sql).bind(id).execute(pool).await?.rows_affected());
        Ok(deleted == 1)
    }
}

fn missing_credential(err: sqlx::Error) -> StoreError {
    if is_foreign_key_violation(&err) {
        StoreError::Missing("credential")
    } else {
        err.into()
    }
}
