//! The append-only audit log: who did what to which credential, and how it went.

use crate::{on_pool, Store, StoreError};

#[derive(Debug, Clone, Default)]
pub struct NewAuditEvent {
    /// When it happened, Unix ms; `None`: when it is written.
    pub at: Option<i64>,
    pub org_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub action: String,
    pub credential_id: Option<String>,
    pub credential_owner_id: Option<String>,
    pub outcome: String,
    /// JSON object with action-specific facts; never bodies or secrets.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub org_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub action: String,
    pub credential_id: Option<String>,
    pub credential_owner_id: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// A page of one org's events, newest first.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub org_id: String,
    /// `None` shows the whole org (admins); `Some(user)` only events on that user's credentials.
    pub owner_id: Option<String>,
    pub credential_id: Option<String>,
    /// Only events with an id below this one.
    pub before: Option<i64>,
    pub limit: i64,
}

/// Events per `INSERT` statement (9 binds each; SQLite allows 32,766).
const CHUNK: usize = 100;

/// One multi-row `INSERT` of `events`; a macro because the query builder is typed per driver.
macro_rules! batch_insert {
    ($events:expr, $at:expr) => {{
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO audit_events (at, org_id, actor_id, actor_name, action, \
             credential_id, credential_owner_id, outcome, detail) ",
        );
        insert.push_values($events.iter(), |mut row, event| {
            row.push_bind(event.at.unwrap_or($at))
                .push_bind(&event.org_id)
                .push_bind(&event.actor_id)
                .push_bind(&event.actor_name)
                .push_bind(&event.action)
                .push_bind(&event.credential_id)
                .push_bind(&event.credential_owner_id)
                .push_bind(&event.outcome)
                .push_bind(&event.detail);
        });
        insert
    }};
}

/// Appends one event inside the caller's transaction; a macro because executors differ per driver.
macro_rules! insert_audit {
    ($exec:expr, $event:expr) => {
        sqlx::query(
            "INSERT INTO audit_events (at, org_id, actor_id, actor_name, action, credential_id, \
             credential_owner_id, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind($event.at.unwrap_or_else($crate::now_ms))
        .bind(&$event.org_id)
        .bind(&$event.actor_id)
        .bind(&$event.actor_name)
        .bind(&$event.action)
        .bind(&$event.credential_id)
        .bind(&$event.credential_owner_id)
        .bind(&$event.outcome)
        .bind(&$event.detail)
        .execute($exec)
        .await
    };
}
pub(crate) use insert_audit;

impl Store {
    pub async fn append_audit(&self, event: &NewAuditEvent) -> Result<(), StoreError> {
        on_pool!(self, pool => insert_audit!(pool, event).map(drop)?);
        Ok(())
    }

    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let sql = "SELECT id, at, org_id, actor_id, actor_name, action, credential_id, \
                   credential_owner_id, outcome, detail FROM audit_events \
                   WHERE org_id = $1 AND ($2 IS NULL OR credential_owner_id = $2) \
                   AND ($3 IS NULL OR credential_id = $3) AND ($4 IS NULL OR id < $4) \
                   ORDER BY id DESC LIMIT $5";
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(&query.org_id)
            .bind(&query.owner_id)
            .bind(&query.credential_id)
            .bind(query.before)
            .bind(query.limit)
            .fetch_all(pool)
            .await?))
    }
}

impl Store {
    /// Appends many events in one transaction: the dispatcher's audit writer batches call
    /// events so the log keeps up with the calls.
    pub async fn append_audit_batch(&self, events: &[NewAuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let at = crate::now_ms();
        // One statement per chunk rather than per event: far fewer round trips. A batch that
        // fits one statement needs no explicit transaction (a statement is atomic), which
        // saves the BEGIN and COMMIT round trips on the path every call waits on.
        if events.len() <= CHUNK {
            on_pool!(self, pool => batch_insert!(events, at).build().execute(pool).await.map(drop)?);
            return Ok(());
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in events.chunks(CHUNK) {
                batch_insert!(chunk, at).build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
