//! The audit trail of credential use. A use is committed before the signed call leaves
//! Keyway (several calls share one database transaction: group commit); a call whose use
//! cannot be recorded is refused. Results follow in batches off the request path.

use keyway_store::{NewAuditEvent, Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Events waiting to be written at most; a full queue makes calls wait (back-pressure)
/// rather than lose events.
const QUEUE: usize = 8192;
const BATCH: usize = 512;
/// How long a batch of results (no caller waiting) may fill before it is written.
const LINGER: Duration = Duration::from_millis(20);
/// How long a call waits for its use to be committed before it is refused.
const COMMIT_WAIT: Duration = Duration::from_secs(4);

/// Why a use could not be recorded; the call must not go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuditFailure {
    /// The database could not be reached.
    #[error("the database that keeps the audit log cannot be reached")]
    StorageUnavailable,
    /// The database answered but refused or failed the write (full disk, read-only, ...).
    #[error("the audit log cannot be written")]
    WriteFailed,
    /// The configured audit export cannot be written, so this use would be missing from it.
    #[error("the audit export cannot be written")]
    ExportFailed,
}

/// Whether every configured audit device can be written: the export closes it when a write
/// fails and opens it again once one succeeds. Calls are refused while it is closed.
#[derive(Debug)]
pub struct AuditGate(AtomicBool);

impl Default for AuditGate {
    fn default() -> Self {
        Self(AtomicBool::new(true))
    }
}

impl AuditGate {
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Sets the gate; `true` when that changed it.
    pub fn set(&self, open: bool) -> bool {
        self.0.swap(open, Ordering::AcqRel) != open
    }
}

struct Item {
    event: NewAuditEvent,
    /// Someone waits for this event to be stored.
    ack: Option<oneshot::Sender<Result<(), AuditFailure>>>,
}

#[derive(Debug, Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Item>,
    gate: Option<Arc<AuditGate>>,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Item")
            .field("action", &self.event.action)
            .finish_non_exhaustive()
    }
}

impl AuditSink {
    /// Starts the writer on the current runtime; call [`AuditWriter::finish`] at shutdown.
    pub fn start(store: Store) -> (Self, AuditWriter) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (stop, stopped) = oneshot::channel();
        let handle = tokio::spawn(write_batches(store, rx, stopped));
        (Self { tx, gate: None }, AuditWriter { stop, handle })
    }

    /// Refuses to commit uses while `gate` is closed (an audit export that cannot be written).
    pub fn gated(mut self, gate: Arc<AuditGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Stores `event` before returning; the caller must not act if this fails.
    pub async fn commit(&self, event: NewAuditEvent) -> Result<(), AuditFailure> {
        if self.gate.as_ref().is_some_and(|gate| !gate.is_open()) {
            return Err(AuditFailure::ExportFailed);
        }
        let (ack, done) = oneshot::channel();
        let wait = async {
            self.tx
                .send(Item {
                    event,
                    ack: Some(ack),
                })
                .await
                .map_err(|_| AuditFailure::WriteFailed)?;
            done.await.map_err(|_| AuditFailure::WriteFailed)?
        };
        match tokio::time::timeout(COMMIT_WAIT, wait).await {
            Ok(result) => result,
            Err(_) => Err(AuditFailure::StorageUnavailable),
        }
    }

    /// Queues `event` to be written with the next batch.
    pub async fn record(&self, event: NewAuditEvent) {
        if self.tx.send(Item { event, ack: None }).await.is_err() {
            tracing::error!("the audit writer has stopped; an audit event was not recorded");
        }
    }

    /// Queues `event` without waiting, for places that cannot wait (a dropped call's guard).
    pub fn record_now(&self, event: NewAuditEvent) {
        match self.tx.try_send(Item { event, ack: None }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(item)) => {
                // Still never lost: wait for room on a task of its own.
                let tx = self.tx.clone();
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move { tx.send(item).await });
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("the audit writer has stopped; an audit event was not recorded");
            }
        }
    }
}

/// The running writer.
#[derive(Debug)]
pub struct AuditWriter {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

impl AuditWriter {
    /// Writes what is queued, then stops. `false` if that took longer than `within`.
    pub async fn finish(self, within: Duration) -> bool {
        let _ = self.stop.send(());
        tokio::time::timeout(within, self.handle).await.is_ok()
    }
}

async fn write_batches(
    store: Store,
    mut rx: mpsc::Receiver<Item>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
                // Results alone may wait a moment to share a write; a call waiting for its
                // use to be committed may not, so the first such call ends the wait. Whatever
                // queued meanwhile goes in the same transaction (group commit).
                if batch.iter().all(|item| item.ack.is_none()) {
                    linger(&mut rx, &mut batch).await;
                }
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(item) => batch.push(item),
                        Err(_) => break,
                    }
                }
                write(&store, &mut batch).await;
            }
            _ = &mut stop => break,
        }
    }
    // Shutting down: store what is queued, accept nothing new.
    rx.close();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        write(&store, &mut batch).await;
    }
}

/// Gathers more items for up to [`LINGER`], until the batch is full or an item arrives that
/// someone waits for.
async fn linger(rx: &mut mpsc::Receiver<Item>, batch: &mut Vec<Item>) {
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < BATCH {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(item)) => {
                let waited_for = item.ack.is_some();
                batch.push(item);
                if waited_for {
                    return;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

async fn write(store: &Store, batch: &mut Vec<Item>) {
    let events: Vec<NewAuditEvent> = batch.iter().map(|item| item.event.clone()).collect();
    let first = store.append_audit_batch(&events).await;
    let failure = first.as_ref().err().map(classify);
    // Waiting callers learn at once; their calls are refused, so their events need no retry.
    let mut results = Vec::new();
    for item in batch.drain(..) {
        match (item.ack, failure) {
            (Some(ack), None) => {
                let _ = ack.send(Ok(()));
            }
            (Some(ack), Some(why)) => {
                let _ = ack.send(Err(why));
            }
            (None, Some(_)) => results.push(item.event),
            (None, None) => {}
        }
    }
    if let Err(err) = first {
        tracing::error!(error = %err, "the audit log could not be written; calls are refused until it can");
    }
    let mut delay = Duration::from_millis(100);
    for attempt in 2..=4 {
        if results.is_empty() {
            break;
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
        match store.append_audit_batch(&results).await {
            Ok(()) => results.clear(),
            Err(err) if attempt < 4 => {
                tracing::warn!(error = %err, attempt, "audit batch write failed; retrying")
            }
            Err(err) => tracing::error!(
                error = %err,
                events = results.len(),
                "audit batch could not be written; call results lost"
            ),
        }
    }
}

fn classify(err: &StoreError) -> AuditFailure {
    if err.is_unavailable() {
        AuditFailure::StorageUnavailable
    } else {
        AuditFailure::WriteFailed
    }
}
