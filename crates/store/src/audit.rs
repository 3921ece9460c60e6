//! The append-only audit log: who did what to which credential, and how it went.

use crate::audit_line::Conn;
use crate::{on_pool, Store, StoreError};
use std::collections::HashMap;

/// What an audit event records. The stored text is [`AuditAction::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditAction {
    #[default]
    CredentialCreate,
    CredentialRename,
    CredentialReplaceSecret,
    CredentialDelete,
    /// A refused rename or removal.
    CredentialManage,
    CredentialTransfer,
    /// Sharing or allowed hosts changed.
    CredentialAccess,
    CredentialConnect,
    CredentialRevokeTokens,
    CredentialReauthorizationRequired,
    /// A call about to be signed with the credential (or refused before it was).
    CredentialUse,
    /// How a started call ended.
    CredentialUseResult,
    KeyRewrap,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::CredentialCreate => "credential.create",
            AuditAction::CredentialRename => "credential.rename",
            AuditAction::CredentialReplaceSecret => "credential.replace_secret",
            AuditAction::CredentialDelete => "credential.delete",
            AuditAction::CredentialManage => "credential.manage",
            AuditAction::CredentialTransfer => "credential.transfer",
            AuditAction::CredentialAccess => "credential.access",
            AuditAction::CredentialConnect => "credential.connect",
            AuditAction::CredentialRevokeTokens => "credential.revoke_tokens",
            AuditAction::CredentialReauthorizationRequired => "credential.reauthorization_required",
            AuditAction::CredentialUse => "credential.use",
            AuditAction::CredentialUseResult => "credential.use.result",
            AuditAction::KeyRewrap => "key.rewrap",
        }
    }
}

/// How it went. The stored text is [`AuditOutcome::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditOutcome {
    #[default]
    Success,
    Failure,
    /// The caller lacked the right.
    Denied,
    /// A call committed to the log before it leaves.
    Started,
    /// A call refused before anything was sent.
    Refused,
    /// A call whose caller went away midway.
    Abandoned,
    /// Nothing to do (no revocation endpoint, no token).
    Skipped,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Started => "started",
            AuditOutcome::Refused => "refused",
            AuditOutcome::Abandoned => "abandoned",
            AuditOutcome::Skipped => "skipped",
        }
    }
}

/// An event to append; build it with [`NewAuditEvent::new`] and the `by`/`on`/`detail`
/// methods.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEvent {
    /// When it happened, Unix ms; `None`: when it is written.
    pub at: Option<i64>,
    pub org_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub action: AuditAction,
    pub credential_id: Option<String>,
    pub credential_owner_id: Option<String>,
    pub outcome: AuditOutcome,
    /// JSON object with action-specific facts; never bodies or secrets.
    pub detail: Option<String>,
}

impl NewAuditEvent {
    pub fn new(action: AuditAction, outcome: AuditOutcome) -> Self {
        Self {
            action,
            outcome,
            ..Self::default()
        }
    }

    /// Done by a person (`id`) or by Keyway itself on someone's behalf (`id: None`, a name
    /// such as `oauth-refresh`).
    pub fn by(mut self, id: Option<&str>, name: &str) -> Self {
        self.actor_id = id.map(str::to_owned);
        self.actor_name = Some(name.to_owned());
        self
    }

    /// About credential `id` of `org`, owned by `owner` (whose members see the event).
    pub fn on(mut self, org: &str, id: &str, owner: &str) -> Self {
        self.org_id = Some(org.to_owned());
        self.credential_id = Some(id.to_owned());
        self.credential_owner_id = Some(owner.to_owned());
        self
    }

    /// Action-specific facts, as a JSON object's text.
    pub fn detail(mut self, json: String) -> Self {
        self.detail = Some(json);
        self
    }

    /// When it happened, if not when it is written.
    pub fn at(mut self, ms: i64) -> Self {
        self.at = Some(ms);
        self
    }
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

/// Adds a subject if it is new (a subject is never changed or removed).
pub(crate) const INSERT_SUBJECT: &str = "INSERT INTO audit_subjects \
     (org_id, credential_id, actor_id, actor_name, credential_owner_id) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
const SELECT_SUBJECT: &str = "SELECT id FROM audit_subjects WHERE org_id = $1 \
     AND credential_id = $2 AND actor_id = $3 AND actor_name = $4 AND credential_owner_id = $5";

/// Who acted on which credential: the part of an event stored once, as an `audit_subjects`
/// row, and named by its ID in every event (issue 12: the log grows with every call). An
/// absent value is stored as `''`, which the `audit_events` view shows as NULL again. In the
/// order of `audit_subjects`' columns.
pub(crate) fn subject_of(event: &NewAuditEvent) -> [&str; 5] {
    [
        &event.org_id,
        &event.credential_id,
        &event.actor_id,
        &event.actor_name,
        &event.credential_owner_id,
    ]
    .map(|part| part.as_deref().unwrap_or_default())
}

/// Subject IDs already known to this process. An ID never changes once the row exists (the
/// table is append-only), so an entry is right on every replica and never goes stale. Keyed
/// by [`subject_key`], which a lookup builds in a reused buffer: a call's events look their
/// subject up without allocating.
#[derive(Debug, Default)]
pub(crate) struct SubjectIds(std::sync::Mutex<HashMap<Box<str>, i64>>);

/// Enough for every (actor, credential) pair a busy deployment uses at once; past it the map
/// starts over rather than grow without bound.
const KNOWN_SUBJECTS: usize = 16_384;

/// The subject of `event` as one string, each part prefixed by its length, so that no two
/// subjects share a key whatever their parts contain.
fn subject_key(event: &NewAuditEvent, key: &mut String) {
    use std::fmt::Write as _;
    key.clear();
    for part in subject_of(event) {
        let _ = write!(key, "{}:", part.len());
        key.push_str(part);
    }
}

impl SubjectIds {
    fn get(&self, event: &NewAuditEvent) -> Option<i64> {
        thread_local! {
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        KEY.with_borrow_mut(|key| {
            subject_key(event, key);
            self.0.lock().ok()?.get(key.as_str()).copied()
        })
    }

    fn put(&self, event: &NewAuditEvent, id: i64) {
        let mut key = String::new();
        subject_key(event, &mut key);
        if let Ok(mut known) = self.0.lock() {
            if known.len() >= KNOWN_SUBJECTS {
                known.clear();
            }
            known.insert(key.into_boxed_str(), id);
        }
    }
}

/// Appends one event inside the caller's transaction (its subject first, if new); a macro
/// because executors differ per driver.
macro_rules! insert_audit {
    ($exec:expr, $event:expr) => {{
        let event: &$crate::NewAuditEvent = $event;
        let subject = $crate::audit::subject_of(event);
        let mut add = sqlx::query($crate::audit::INSERT_SUBJECT);
        for value in subject {
            add = add.bind(value);
        }
        match add.execute($exec).await {
            Ok(_) => {
                let mut insert = sqlx::query(
                    "INSERT INTO audit_entries (at, subject_id, action, outcome, detail) \
                     SELECT $1, id, $2, $3, $4 FROM audit_subjects WHERE org_id = $5 \
                     AND credential_id = $6 AND actor_id = $7 AND actor_name = $8 \
                     AND credential_owner_id = $9",
                )
                .bind(event.at.unwrap_or_else($crate::now_ms))
                .bind(event.action.as_str())
                .bind(event.outcome.as_str())
                .bind(&event.detail);
                for value in subject {
                    insert = insert.bind(value);
                }
                insert.execute($exec).await.map(drop)
            }
            Err(err) => Err(err),
        }
    }};
}
pub(crate) use insert_audit;

impl Store {
    pub async fn append_audit(&self, event: &NewAuditEvent) -> Result<(), StoreError> {
        on_pool!(self, pool => insert_audit!(pool, event).map(drop)?);
        Ok(())
    }

    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        // On the tables rather than the view, so the filters reach the subjects' columns
        // (and their indexes) directly; an org ID, user ID or credential ID is never ''.
        let sql = "SELECT e.id, e.at, NULLIF(s.org_id, '') AS org_id, \
                   NULLIF(s.actor_id, '') AS actor_id, NULLIF(s.actor_name, '') AS actor_name, \
                   e.action, NULLIF(s.credential_id, '') AS credential_id, \
                   NULLIF(s.credential_owner_id, '') AS credential_owner_id, e.outcome, e.detail \
                   FROM audit_entries e JOIN audit_subjects s ON s.id = e.subject_id \
                   WHERE s.org_id = $1 AND ($2 IS NULL OR s.credential_owner_id = $2) \
                   AND ($3 IS NULL OR s.credential_id = $3) AND ($4 IS NULL OR e.id < $4) \
                   ORDER BY e.id DESC LIMIT $5";
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(&query.org_id)
            .bind(&query.owner_id)
            .bind(&query.credential_id)
            .bind(query.before)
            .bind(query.limit)
            .fetch_all(pool)
            .await?))
    }
    /// Every org's events after `after` (an event ID), oldest first: what the audit export
    /// copies, in the database's order.
    pub async fn audit_after(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let sql = "SELECT id, at, org_id, actor_id, actor_name, action, credential_id, \
                   credential_owner_id, outcome, detail FROM audit_events \
                   WHERE id > $1 ORDER BY id LIMIT $2";
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// The newest event's ID (0 when there is none).
    pub async fn last_audit_id(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COALESCE(MAX(id), 0) FROM audit_entries";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await?))
    }
}

impl Store {
    /// Appends many events in one transaction: the dispatcher's audit writer batches call
    /// events so the log keeps up with the calls.
    pub async fn append_audit_batch(&self, events: &[NewAuditEvent]) -> Result<(), StoreError> {
        self.append_audit_refs(&events.iter().collect::<Vec<_>>())
            .await
    }

    /// [`Store::append_audit_batch`] for events the caller keeps (the audit writer keeps each
    /// event with its waiting caller until the write is done), so none is copied.
    pub async fn append_audit_refs(&self, events: &[&NewAuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let at = crate::now_ms();
        let mut rows = Vec::with_capacity(events.len());
        for &event in events {
            rows.push((event, self.subject_id(event).await?));
        }
        let mut slot = self.audit_line.slot().await;
        let (mut conn, fresh) = match slot.take() {
            Some(conn) => (conn, false),
            None => (self.audit_line.open().await?, true),
        };
        let mut result = append_within(&mut conn, &rows, at).await;
        if !fresh && result.as_ref().is_err_and(StoreError::is_unavailable) {
            // The database dropped a connection it had (a restart, an idle timeout): that
            // shows on its first use, which a pool would have caught with a ping. Once more,
            // on a new one (if the first write did land, its events are there twice: the log
            // is at least once, never less).
            drop(conn);
            conn = self.audit_line.open().await?;
            result = append_within(&mut conn, &rows, at).await;
        }
        if result.is_ok() {
            slot.put(conn);
            self.audit_line.appended();
        }
        result?;
        Ok(())
    }

    /// The ID of `event`'s subject, added if new: from memory after the first time, so a
    /// call's events cost no lookup.
    async fn subject_id(&self, event: &NewAuditEvent) -> Result<i64, StoreError> {
        if let Some(id) = self.subjects.get(event) {
            return Ok(id);
        }
        let [org, credential, actor, name, owner] = subject_of(event);
        let id: i64 = on_pool!(self, pool => {
            sqlx::query(INSERT_SUBJECT)
                .bind(org).bind(credential).bind(actor).bind(name).bind(owner)
                .execute(pool)
                .await?;
            sqlx::query_scalar(SELECT_SUBJECT)
                .bind(org).bind(credential).bind(actor).bind(name).bind(owner)
                .fetch_one(pool)
                .await?
        });
        self.subjects.put(event, id);
        Ok(id)
    }
}

/// How long one append may take. A connection that a firewall dropped without a word would
/// otherwise hang until TCP gives up (minutes), holding every call's commit; past this the
/// append counts as the database being unreachable and is tried once on a new connection.
/// Under the 4 s a call waits for its use to be committed. On SQLite it is how long an append
/// waits for another connection's write lock.
const APPEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn append_within(
    conn: &mut Conn,
    rows: &[(&NewAuditEvent, i64)],
    at: i64,
) -> Result<(), StoreError> {
    match conn {
        Conn::Sqlite(db) => append_sqlite(db, rows, at).await,
        Conn::Postgres(conn) => {
            tokio::time::timeout(APPEND_TIMEOUT, append_postgres(conn, rows, at))
                .await
                .unwrap_or(Err(sqlx::Error::PoolTimedOut))?;
            Ok(())
        }
    }
}

/// One batch on PostgreSQL: one statement whatever its size, the events' columns as five
/// arrays. A multi-row `VALUES` was a statement per batch size, each planned again by the
/// server (a plan per size and five parameters per event), and split into chunks in an
/// explicit transaction past 100 events. One statement is atomic, so no `BEGIN` and `COMMIT`
/// round trips are needed on the path every call waits on. `WITH ORDINALITY` keeps the
/// events' order in their IDs.
async fn append_postgres(
    conn: &mut sqlx::PgConnection,
    rows: &[(&NewAuditEvent, i64)],
    at: i64,
) -> Result<(), sqlx::Error> {
    const INSERT: &str = "INSERT INTO audit_entries (at, subject_id, action, outcome, detail) \
         SELECT at, subject_id, action, outcome, detail \
         FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[]) \
         WITH ORDINALITY AS e (at, subject_id, action, outcome, detail, n) ORDER BY n";
    let mut ats = Vec::with_capacity(rows.len());
    let mut subjects = Vec::with_capacity(rows.len());
    let mut actions = Vec::with_capacity(rows.len());
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut details = Vec::with_capacity(rows.len());
    for &(event, subject) in rows {
        ats.push(event.at.unwrap_or(at));
        subjects.push(subject);
        actions.push(event.action.as_str());
        outcomes.push(event.outcome.as_str());
        details.push(event.detail.as_deref());
    }
    sqlx::query(INSERT)
        .bind(ats)
        .bind(subjects)
        .bind(actions)
        .bind(outcomes)
        .bind(details)
        .execute(conn)
        .await?;
    Ok(())
}

/// An event as SQLite stores it: `at`, subject ID, action, outcome, detail.
type SqliteRow<'a> = (i64, i64, &'static str, &'static str, Option<&'a str>);

/// One batch on SQLite, on the calling thread: a commit in WAL mode is a few writes to the
/// log file (no fsync with `synchronous = normal`), cheaper than handing it to another
/// thread and back. The connection never waits for a lock here (its `busy_timeout` is zero):
/// if another connection is writing, the batch goes to a blocking thread that waits up to
/// [`APPEND_TIMEOUT`], so the caller's thread, which serves other requests too, never stalls.
async fn append_sqlite(
    db: &std::sync::Arc<std::sync::Mutex<rusqlite::Connection>>,
    rows: &[(&NewAuditEvent, i64)],
    at: i64,
) -> Result<(), StoreError> {
    fn row<'a>(&(event, subject): &(&'a NewAuditEvent, i64), at: i64) -> SqliteRow<'a> {
        (
            event.at.unwrap_or(at),
            subject,
            event.action.as_str(),
            event.outcome.as_str(),
            event.detail.as_deref(),
        )
    }
    // A poisoned lock means a panic midway through an append: the connection's state is
    // unknown, so it counts as lost (the caller opens a new one).
    let first = match db.lock() {
        Ok(conn) => insert_sqlite(&conn, rows.iter().map(|r| row(r, at))),
        Err(_) => return Err(sqlx::Error::WorkerCrashed.into()),
    };
    let busy = matches!(
        &first,
        Err(rusqlite::Error::SqliteFailure(err, _))
            if err.code == rusqlite::ErrorCode::DatabaseBusy
    );
    if !busy {
        return Ok(first?);
    }
    // The rare path: the events are copied so that the blocking thread owns them.
    let owned: Vec<(NewAuditEvent, i64)> = rows
        .iter()
        .map(|&(event, subject)| (event.clone(), subject))
        .collect();
    let db = db.clone();
    let waited = tokio::task::spawn_blocking(move || {
        let Ok(conn) = db.lock() else {
            return Err(StoreError::from(sqlx::Error::WorkerCrashed));
        };
        conn.busy_timeout(APPEND_TIMEOUT)?;
        let rows = owned
            .iter()
            .map(|(event, subject)| row(&(event, *subject), at));
        let result = insert_sqlite(&conn, rows);
        conn.busy_timeout(std::time::Duration::ZERO)?;
        Ok(result?)
    })
    .await
    .map_err(|_| sqlx::Error::WorkerCrashed)?;
    waited
}

/// The sizes of SQLite's multi-row `INSERT`s: every size up to [`SMALL_CHUNK`] (a steady
/// load's batches), then 32 and 64. Each size is a statement of its own, parsed once and kept
/// in the connection's statement cache: with every size up to 100 the cache (32 statements)
/// missed, and parsing the statements again was 3 % of a proxied call's CPU.
const SMALL_CHUNK: usize = 16;
const BIG_CHUNKS: [usize; 2] = [64, 32];

/// The next statement's size for `left` rows.
fn sqlite_chunk(left: usize) -> usize {
    BIG_CHUNKS
        .into_iter()
        .find(|&n| left >= n)
        .unwrap_or(left.min(SMALL_CHUNK))
}

/// The rows in multi-row `INSERT`s of [`sqlite_chunk`] sizes, in one transaction when they
/// take more than one statement (a statement is atomic), rolled back if any fails. One
/// statement per batch rather than per row: `AUTOINCREMENT` updates `sqlite_sequence` once
/// per statement.
fn insert_sqlite<'a>(
    conn: &rusqlite::Connection,
    rows: impl ExactSizeIterator<Item = SqliteRow<'a>>,
) -> rusqlite::Result<()> {
    let many = sqlite_chunk(rows.len()) < rows.len();
    if many {
        conn.prepare_cached("BEGIN")?.raw_execute()?;
    }
    let result = (|| {
        let mut rows = rows;
        while rows.len() > 0 {
            let n = sqlite_chunk(rows.len());
            let mut insert = conn.prepare_cached(insert_sql(n))?;
            for (k, (at, subject, action, outcome, detail)) in rows.by_ref().take(n).enumerate() {
                let first = k * 5 + 1;
                insert.raw_bind_parameter(first, at)?;
                insert.raw_bind_parameter(first + 1, subject)?;
                insert.raw_bind_parameter(first + 2, action)?;
                insert.raw_bind_parameter(first + 3, outcome)?;
                insert.raw_bind_parameter(first + 4, detail)?;
            }
            insert.raw_execute()?;
        }
        if many {
            conn.prepare_cached("COMMIT")?.raw_execute()?;
        }
        Ok(())
    })();
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// `INSERT` of `n` events, `n` at most the largest of [`sqlite_chunk`]'s sizes; each built
/// once (index 0 is never used).
fn insert_sql(n: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        (0..=BIG_CHUNKS[0])
            .map(|n| {
                let mut sql = String::from(
                    "INSERT INTO audit_entries (at, subject_id, action, outcome, detail) VALUES ",
                );
                for i in 0..n {
                    sql.push_str(if i == 0 {
                        "(?,?,?,?,?)"
                    } else {
                        ",(?,?,?,?,?)"
                    });
                }
                sql
            })
            .collect()
    });
    &sql[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(org: &str, credential: &str, actor: Option<&str>) -> NewAuditEvent {
        NewAuditEvent {
            org_id: Some(org.into()),
            credential_id: Some(credential.into()),
            actor_id: actor.map(Into::into),
            ..NewAuditEvent::new(AuditAction::CredentialUse, AuditOutcome::Started)
        }
    }

    #[test]
    fn sqlite_batches_split_into_few_statement_sizes_that_add_up() {
        let mut sizes = std::collections::BTreeSet::new();
        for n in 1..=1000 {
            let (mut left, mut statements) = (n, 0);
            while left > 0 {
                let chunk = sqlite_chunk(left);
                assert!((1..=left).contains(&chunk), "{n}: chunk {chunk} of {left}");
                sizes.insert(chunk);
                left -= chunk;
                statements += 1;
            }
            if n <= SMALL_CHUNK {
                assert_eq!(statements, 1, "{n} rows");
            }
        }
        // All of them fit the audit connection's statement cache (32) beside BEGIN and COMMIT.
        assert_eq!(sizes.len(), SMALL_CHUNK + BIG_CHUNKS.len());
        assert!(sizes
            .iter()
            .all(|&n| insert_sql(n).matches('(').count() == n + 1));
    }

    #[test]
    fn subjects_whose_parts_join_to_the_same_text_have_different_keys() {
        let ids = SubjectIds::default();
        ids.put(&event("ab", "c", None), 1);
        ids.put(&event("a", "bc", None), 2);
        ids.put(&event("a", "bc", Some("")), 3); // '' and absent are one subject, as stored
        ids.put(&event("a", "1:bc", None), 4);
        assert_eq!(ids.get(&event("ab", "c", None)), Some(1));
        assert_eq!(ids.get(&event("a", "bc", None)), Some(3));
        assert_eq!(ids.get(&event("a", "1:bc", None)), Some(4));
        assert_eq!(ids.get(&event("a", "b", None)), None);
    }
}
