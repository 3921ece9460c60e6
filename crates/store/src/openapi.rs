//! OpenAPI documents an org keeps: stored once per distinct document, read back by ID within
//! the org only.

use crate::{new_id, now_ms, on_pool, Store, StoreError};

/// A kept document.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenApiDocumentRow {
    pub id: String,
    pub digest: String,
    pub title: Option<String>,
    pub body: Vec<u8>,
}

impl Store {
    /// Keeps `body` for `org_id` and returns its ID; the same document kept again (same
    /// digest) keeps its first ID.
    pub async fn keep_openapi_document(
        &self,
        org_id: &str,
        user_id: &str,
        digest: &str,
        title: Option<&str>,
        body: &[u8],
    ) -> Result<String, StoreError> {
        let insert = "INSERT INTO openapi_documents (id, org_id, digest, title, body, created_by, created_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id, digest) DO NOTHING";
        let select = "SELECT id FROM openapi_documents WHERE org_id = $1 AND digest = $2";
        let id = new_id();
        Ok(on_pool!(self, pool => {
            sqlx::query(insert)
                .bind(&id)
                .bind(org_id)
                .bind(digest)
                .bind(title)
                .bind(body)
                .bind(user_id)
                .bind(now_ms())
                .execute(pool)
                .await?;
            sqlx::query_scalar::<_, String>(select)
                .bind(org_id)
                .bind(digest)
                .fetch_one(pool)
                .await?
        }))
    }

    /// The document `id` if `org_id` keeps it.
    pub async fn openapi_document(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<OpenApiDocumentRow>, StoreError> {
        let sql =
            "SELECT id, digest, title, body FROM openapi_documents WHERE org_id = $1 AND id = $2";
        Ok(
            on_pool!(self, pool => sqlx::query_as(sql).bind(org_id).bind(id).fetch_optional(pool).await?),
        )
    }
}
