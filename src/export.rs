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
/// A write that has not returned by then (a full pipe on stdout, a hung disk) closes the gate.
const WRITE_WAIT: Duration = Duration::from_secs(5);

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
    /// A write that outlived [`WRITE_WAIT`]; no other starts until it returns.
    stuck: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
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
            let cursor = saved_position(&path)?.unwrap_or(newest);
            if cursor > newest {
                tracing::warn!(
                    cursor,
                    newest,
                    "audit export: the saved position is past the newest event (a restored or \
                     new database?); nothing is exported until the log passes it"
                );
            }
            (Target::File { path, file }, cursor)
        };
        Ok(Some(Self {
            store: store.clone(),
            target: Arc::new(std::sync::Mutex::new(target)),
            cursor,
            gate,
            gap: None,
            stuck: None,
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
        if let Some(stuck) = &self.stuck {
            if !stuck.is_finished() {
                return false;
            }
            // Whatever it wrote is written again from the cursor: at least once.
            self.stuck = None;
        }
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
        let mut task = tokio::task::spawn_blocking(move || write(&target, text.as_bytes(), last));
        let written = match tokio::time::timeout(WRITE_WAIT, &mut task).await {
            Ok(joined) => joined.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Err(_) => {
                self.stuck = Some(task);
                Err(std::io::Error::other("the write did not return within 5 s"))
            }
        };
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
                        tracing::warn!(
                            from = id,
                            to = row.id - 1,
                            "audit export: IDs missing for 5 s are passed over (a rolled-back \
                             transaction, or one that committed later than that)"
                        );
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
            let before = file.metadata()?.len();
            if let Err(err) = file.write_all(bytes).and_then(|()| file.sync_data()) {
                // No torn line: what part of the batch got in is taken back, and the whole
                // batch is written again when the file can take it.
                let _ = file.set_len(before);
                return Err(err);
            }
            let cursor = cursor_path(path);
            let temp = cursor.with_extension("cursor.tmp");
            let mut saved = std::fs::File::create(&temp)?;
            saved.write_all(last.to_string().as_bytes())?;
            saved.sync_all()?;
            std::fs::rename(&temp, &cursor)?;
            if let Some(dir) = cursor.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        }
    }
}

/// Where a file's export stopped: its cursor, or else the ID of its last complete line (a
/// crash before the first cursor was saved). A cursor that does not parse stops the start
/// rather than skip events or repeat the whole log.
fn saved_position(path: &std::path::Path) -> anyhow::Result<Option<i64>> {
    let cursor = cursor_path(path);
    match std::fs::read_to_string(&cursor) {
        Ok(text) => {
            return text.trim().parse::<i64>().map(Some).map_err(|_| {
                anyhow::anyhow!(
                    "audit.export: {} does not hold an event ID; fix or remove it",
                    cursor.display()
                )
            })
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            return Err(err).context(format!("audit.export: cannot read {}", cursor.display()))
        }
    }
    // Only the file's tail: it may be gigabytes, and one line is at most a few KiB. Regular
    // files only: a device (`/dev/full` reads zeros forever) has no last line.
    const TAIL: u64 = 1024 * 1024;
    let mut text = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        use std::io::{Read, Seek, SeekFrom};
        let meta = file.metadata().ok().filter(std::fs::Metadata::is_file);
        if let Some(len) = meta.map(|m| m.len()) {
            if file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).is_ok() {
                let _ = file.take(TAIL).read_to_end(&mut text);
            }
        }
    }
    let last = text
        .split(|b| *b == b'\n')
        .rev()
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .find_map(|event| event["id"].as_i64());
    Ok(last)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_resumes_from_its_cursor_or_its_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        assert_eq!(saved_position(&path).unwrap(), None, "a new file");
        std::fs::write(&path, "{\"id\":7}\n{\"id\":9}\n{\"id\":1").unwrap();
        assert_eq!(
            saved_position(&path).unwrap(),
            Some(9),
            "the last whole line, when the cursor was never saved"
        );
        std::fs::write(cursor_path(&path), "12").unwrap();
        assert_eq!(saved_position(&path).unwrap(), Some(12));
        std::fs::write(cursor_path(&path), "twelve").unwrap();
        let err = saved_position(&path).unwrap_err().to_string();
        assert!(err.contains("does not hold an event ID"), "{err}");
        let device = std::path::Path::new("/dev/full");
        if device.exists() {
            assert_eq!(
                saved_position(device).unwrap(),
                None,
                "a device has no last line"
            );
        }
    }
}
