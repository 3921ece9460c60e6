//! What the vault needs stored: master-key check values, passphrase KDF parameters, and the
//! batched compare-and-swap that re-wraps data keys while the server keeps serving.

use crate::{now_ms, on_pool, Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VaultKeyRow {
    pub key_id: String,
    pub check_wrapped: Vec<u8>,
    pub check_ciphertext: Vec<u8>,
    pub kdf_params: Option<String>,
    pub created_at: i64,
}

/// A sealed field whose data key is not under the wanted master key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RewrapCandidate {
    pub credential_id: String,
    pub org_id: String,
    pub field: String,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    /// Read so the vault can check it is whole; never changed by a rewrap.
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Rewrapped {
    pub credential_id: String,
    pub field: String,
    /// The value read; the update only lands if it is still there.
    pub old_wrapped_key: Vec<u8>,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
}

impl Store {
    pub async fn vault_keys(&self) -> Result<Vec<VaultKeyRow>, StoreError> {
        let sql = "SELECT key_id, check_wrapped, check_ciphertext, kdf_params, created_at \
                   FROM vault_keys ORDER BY created_at, key_id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?))
    }

    /// Records a key the first time it is seen; an existing row wins (returns `false`).
    pub async fn insert_vault_key(&self, row: &VaultKeyRow) -> Result<bool, StoreError> {
        let sql = "INSERT INTO vault_keys (key_id, check_wrapped, check_ciphertext, kdf_params, created_at) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id) DO NOTHING";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(&row.key_id)
            .bind(&row.check_wrapped)
            .bind(&row.check_ciphertext)
            .bind(&row.kdf_params)
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Master key IDs that stored secrets need.
    pub async fn secret_key_ids(&self) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT DISTINCT key_id FROM credential_secrets ORDER BY key_id";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).fetch_all(pool).await?))
    }

    /// The next page of sealed fields not under `key_id`, after `(credential_id, field)`.
    pub async fn rewrap_candidates(
        &self,
        key_id: &str,
        after: (&str, &str),
        limit: i64,
    ) -> Result<Vec<RewrapCandidate>, StoreError> {
        let sql = "SELECT s.credential_id, c.org_id, s.field, s.key_id, s.wrapped_key, s.ciphertext \
                   FROM credential_secrets s JOIN credentials c ON c.id = s.credential_id \
                   WHERE s.key_id <> $1 AND (s.credential_id > $2 OR (s.credential_id = $2 AND s.field > $3)) \
                   ORDER BY s.credential_id, s.field LIMIT $4";
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(key_id)
            .bind(after.0)
            .bind(after.1)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Applies re-wrapped data keys in one transaction. Each update lands only if the row still
    /// holds the wrapped key that was read, so a secret replaced meanwhile is never overwritten.
    /// Returns how many landed.
    pub async fn apply_rewrapped(&self, batch: &[Rewrapped]) -> Result<u64, StoreError> {
        let sql = "UPDATE credential_secrets SET key_id = $1, wrapped_key = $2 \
                   WHERE credential_id = $3 AND field = $4 AND wrapped_key = $5";
        let mut landed = 0;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for item in batch {
                landed += sqlx::query(sql)
                    .bind(&item.key_id)
                    .bind(&item.wrapped_key)
                    .bind(&item.credential_id)
                    .bind(&item.field)
                    .bind(&item.old_wrapped_key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
        });
        Ok(landed)
    }
}
