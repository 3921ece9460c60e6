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

/// How much an org keeps at most: the newest documents within both limits stay, and of
/// those first kept by one person, the newest within that person's share.
#[derive(Debug, Clone, Copy)]
pub struct KeepLimits {
    pub documents: i64,
    pub bytes: i64,
    pub per_person_documents: i64,
    pub per_person_bytes: i64,
}

impl Store {
    /// Keeps `body` for `org_id` and returns its ID; the same document kept again (same
    /// digest) keeps its first ID and counts as kept now. Then the oldest of the documents
    /// `user_id` first kept past their share are let go, then the org's oldest past its
    /// limits, so what an org keeps is bounded and no one member can take more than their
    /// share of it from the others (the document just kept is the newest, so it stays: no
    /// document is larger than either byte limit).
    pub async fn keep_openapi_document(
        &self,
        org_id: &str,
        user_id: &str,
        digest: &str,
        title: Option<&str>,
        body: &[u8],
        limits: KeepLimits,
    ) -> Result<String, StoreError> {
        let insert = "INSERT INTO openapi_documents (id, org_id, digest, title, body, created_by, created_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7) \
                      ON CONFLICT (org_id, digest) DO UPDATE SET created_at = excluded.created_at";
        let select = "SELECT id FROM openapi_documents WHERE org_id = $1 AND digest = $2";
        // Newest first, with the running count and size; whatever is past either limit goes.
        // `$4` narrows it to one keeper's documents, or is NULL for the whole org's.
        let evict = "DELETE FROM openapi_documents WHERE id IN (SELECT id FROM ( \
                     SELECT id, \
                     ROW_NUMBER() OVER (ORDER BY created_at DESC, id DESC) AS n, \
                     SUM(LENGTH(body)) OVER (ORDER BY created_at DESC, id DESC ROWS UNBOUNDED PRECEDING) AS total \
                     FROM openapi_documents WHERE org_id = $1 AND ($4 IS NULL OR created_by = $4)) AS ranked \
                     WHERE n > $2 OR total > $3)";
        let id = new_id();
        Ok(on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::lock_org!(self, &mut *tx, org_id);
            sqlx::query(insert)
                .bind(&id)
                .bind(org_id)
                .bind(digest)
                .bind(title)
                .bind(body)
                .bind(user_id)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            let kept = sqlx::query_scalar::<_, String>(select)
                .bind(org_id)
                .bind(digest)
                .fetch_one(&mut *tx)
                .await?;
            let shares = [
                (limits.per_person_documents, limits.per_person_bytes, Some(user_id)),
                (limits.documents, limits.bytes, None),
            ];
            for (documents, bytes, keeper) in shares {
                sqlx::query(evict)
                    .bind(org_id)
                    .bind(documents)
                    .bind(bytes)
                    .bind(keeper)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            kept
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
