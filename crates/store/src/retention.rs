//! Audit retention: the period the database enforces (its append-only trigger lets only
//! older events go), the lease that lets one replica at a time prune, and the pruning itself,
//! oldest first in small batches, judged by the database's clock.

use crate::{on_pool, Store, StoreError};

impl Store {
    /// The retention the database enforces; `None` keeps every event forever.
    pub async fn audit_retention(&self) -> Result<Option<i64>, StoreError> {
        let sql = "SELECT keep_ms FROM audit_retention WHERE id = 1";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await?))
    }

    /// Sets the retention the database enforces; `None` keeps every event forever. At least
    /// a day (the table refuses less, so a lowered setting cannot open recent rows).
    pub async fn set_audit_retention(&self, keep_ms: Option<i64>) -> Result<(), StoreError> {
        let sql = "UPDATE audit_retention SET keep_ms = $1 WHERE id = 1";
        on_pool!(self, pool => sqlx::query(sql).bind(keep_ms).execute(pool).await.map(drop)?);
        Ok(())
    }

    /// Takes or extends the pruning lease for `holder` for `ttl_ms`; `false` while another
    /// replica holds it.
    pub async fn take_prune_lease(&self, holder: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let sql = crate::sql_at_now!(
            self,
            "UPDATE audit_retention SET pruner = $1, pruner_until = {now} + $2 \
             WHERE id = 1 AND (pruner IS NULL OR pruner = $1 OR pruner_until < {now})"
        );
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(holder)
            .bind(ttl_ms)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Removes up to `limit` events past the retention period (with a minute's margin, so
    /// the trigger's own check never refuses one), oldest first; how many went. Nothing
    /// while the retention is unset. Only the `limit` oldest rows are looked at (by the
    /// primary key): `at` has no index, and a scan of the whole table would hold SQLite's
    /// write lock, and so every call's audit commit, for as long as it ran.
    pub async fn prune_audit(&self, limit: i64) -> Result<u64, StoreError> {
        let sql = crate::sql_at_now!(
            self,
            "DELETE FROM audit_entries WHERE id IN (SELECT id FROM (SELECT id, at FROM audit_entries \
             ORDER BY id LIMIT $1) oldest \
             WHERE at < {now} - 60000 - (SELECT keep_ms FROM audit_retention WHERE id = 1))"
        );
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n)
    }
}
