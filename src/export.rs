//! The audit export: the database's audit log copied in order, as JSON lines, to a file or to
//! stdout, as Vault's file audit device does. At least once: a file's position is kept beside
//! it (`<file>.cursor`), so a restart goes on where it stopped (an event may repeat after a
//! crash, never go missing). While the export cannot be written, calls are refused with 503
//! `audit_unavailable` (the gate), since their uses would be missing from it.

use anyhow::Context;
use keyway_dispatch::AuditGate;
use keyway_store::{AuditRow, Store};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Events read per pass.
const BATCH: i64 = 1000;
/// How often the log is read when there is nothing new.
const IDLE: Duration = Duration::from_millis(200);
/// A missing ID below newer ones is a transaction still committing (PostgreSQL hands out IDs
/// before commit) or one rolled back; it is waited for this long, then passed over.
const GAP_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
enum Target {
    Stdout,
    File { path: PathBuf, file: std::fs::File },
}

#[derive(Debug)]
pub struct Exporter {
    store: Store,
    target: Arc<std::sync::Mutex<Target>>,
    cursor: i64,
    gate: Arc<AuditGate>,
    gap: Option<(i64, Instant)>,
}

/// One exported event.
#[derive(Serialize)]
struct Line<'a> {
    id: i64,
    at: String,
    org_id: Option<&'a str>,
    actor: Actor<'a>,
    action: &'a str,
    credential_id: Option<&'a str>,
    credential_owner_id: Option<&'a str>,
    outcome: &'a str,
    detail: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Actor<'a> {
    id: Option<&'a str>,
    name: Option<&'a str>,
}

impl Exporter {
    /// The exporter `setting` asks for (`""`: none, `"stdout"`, or a file path), starting
    /// after the file's saved position, or after the newest event for stdout or a new file.
    /// A file that cannot be opened for appending stops the start.
    pub async fn open(
        store: &Store,
        setting: &str,
        gate: Arc<AuditGate>,
    ) -> anyhow::Result<Option<Self>> {
        let setting = setting.trim();
        if setting.is_empty() {
            return Ok(None);
        }
        let newest = store
            .last_audit_id()
            .await
            .context("cannot read the audit log")?;
        let (target, cursor) = if setting == "stdout" {
            (Target::Stdout, newest)
        } else {
            let path = PathBuf::from(setting);
            let file = open_append(&path).with_context(|| {
                format!("audit.export: cannot open {} for appending", path.display())
            })?;
            let saved = std::fs::read_to_string(cursor_path(&path))
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok());
            (Target::File { path, file }, saved.unwrap_or(newest))
        };
        Ok(Some(Self {
            store: store.clone(),
            target: Arc::new(std::sync::Mutex::new(target)),
            cursor,
            gate,
            gap: None,
        }))
    }

    /// Copies until `stop` fires, then what is left (for up to 5 s).
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        loop {
            let full = self.pass().await;
            if !full {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE) => {}
                    _ = &mut stop => break,
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.pass().await && Instant::now() < deadline {}
    }

    /// One read and write; `true` when a full batch was copied (more may be waiting).
    async fn pass(&mut self) -> bool {
        let rows = match self.store.audit_after(self.cursor, BATCH).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "audit export: the audit log cannot be read");
                return false;
            }
        };
        let full = rows.len() as i64 == BATCH;
        let ready = self.in_order(&rows);
        if ready == 0 {
            return false;
        }
        let mut text = String::new();
        for row in &rows[..ready] {
            if let Ok(json) = serde_json::to_string(&line(row)) {
                text.push_str(&json);
                text.push('\n');
            }
        }
        let last = rows[ready - 1].id;
        let target = self.target.clone();
        let written = tokio::task::spawn_blocking(move || write(&target, text.as_bytes(), last))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match written {
            Ok(()) => {
                self.cursor = last;
                if self.gate.set(true) {
                    tracing::warn!("audit export: writing again; calls are no longer refused");
                }
                full && ready == rows.len()
            }
            Err(err) => {
                if self.gate.set(false) {
                    tracing::error!(error = %err, "audit export: cannot write; calls are refused until it can");
                }
                false
            }
        }
    }

    /// How many of `rows` follow the cursor without a gap (or after a gap waited out).
    fn in_order(&mut self, rows: &[AuditRow]) -> usize {
        let mut next = self.cursor + 1;
        for (i, row) in rows.iter().enumerate() {
            if row.id != next {
                match self.gap {
                    Some((id, since)) if id == next && since.elapsed() >= GAP_WAIT => {
                        self.gap = None;
                    }
                    Some((id, _)) if id == next => return i,
                    _ => {
                        self.gap = Some((next, Instant::now()));
                        return i;
                    }
                }
            }
            next = row.id + 1;
        }
        rows.len()
    }
}

fn line(row: &AuditRow) -> Line<'_> {
    Line {
        id: row.id,
        at: keyway_credentials::rfc3339(row.at),
        org_id: row.org_id.as_deref(),
        actor: Actor {
            id: row.actor_id.as_deref(),
            name: row.actor_name.as_deref(),
        },
        action: &row.action,
        credential_id: row.credential_id.as_deref(),
        credential_owner_id: row.credential_owner_id.as_deref(),
        outcome: &row.outcome,
        detail: row
            .detail
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok()),
    }
}

/// Appends `bytes` and makes them durable, then records `last` as the position.
fn write(target: &std::sync::Mutex<Target>, bytes: &[u8], last: i64) -> std::io::Result<()> {
    let mut target = target
        .lock()
        .map_err(|_| std::io::Error::other("the export's lock was poisoned"))?;
    match &mut *target {
        Target::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        }
        Target::File { path, file } => {
            file.write_all(bytes)?;
            file.sync_data()?;
            let cursor = cursor_path(path);
            let temp = cursor.with_extension("cursor.tmp");
            std::fs::write(&temp, last.to_string())?;
            std::fs::rename(&temp, &cursor)
        }
    }
}

fn cursor_path(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".cursor");
    PathBuf::from(name)
}

fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
