//! The audit trail of credential use. A use is committed before the signed call leaves
//! Keyway (several calls share one database transaction: group commit); a call whose use
//! cannot be recorded is refused. Results follow in batches off the request path.

use keyway_store::{NewAuditEvent, Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

/// Uses waiting to be committed at most; past it calls are refused (the database does not
/// keep up), never queued without bound.
const QUEUE: usize = 8192;
/// Events queued or waiting for a retry at most (uses and results): about 10 MiB. Results past it are dropped with
/// an error in the log; only results of calls already let through can reach it.
const MAX_QUEUED: usize = 4 * QUEUE;
const BATCH: usize = 512;
/// How long results that no use carried along may wait to share a write.
const LINGER: Duration = Duration::from_millis(20);
/// The longest wait between two attempts at writing results that failed.
const RETRY_CAP: Duration = Duration::from_secs(5);
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
    ack: Option<oneshot::Sender<Result<Receipt, AuditFailure>>>,
}

/// A stored use, on its way to the caller that waits for it. If it never gets there (the
/// caller went away while its use was being written), dropping it records the call as
/// `abandoned`: the use is on record, so its call must be too, and only here is it known
/// that the use was stored but the call will never leave.
struct Receipt {
    shared: Arc<Shared>,
    stored: Option<NewAuditEvent>,
}

impl Receipt {
    /// The caller has it: from here on the call's own trail records how it ends.
    fn delivered(mut self) {
        self.stored = None;
    }
}

impl Drop for Receipt {
    fn drop(&mut self) {
        if let Some(stored) = self.stored.take() {
            self.shared
                .push_result(crate::execute::abandoned_after(stored));
        }
    }
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Item")
            .field("action", &self.event.action)
            .finish_non_exhaustive()
    }
}

/// What the callers and the writing rounds share.
#[derive(Debug)]
struct Shared {
    store: Store,
    /// Turns a round lets its worker take before it takes a batch (see [`round`]).
    yields: usize,
    state: Mutex<State>,
    /// Wakes the flusher when results wait and no round is running.
    flush: Notify,
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<Item>,
    /// Pending items someone waits for.
    waiters: usize,
    /// A round is writing; what is queued now goes in its next batch.
    writing: bool,
    /// Shutting down: no new uses are accepted.
    closed: bool,
    /// Results whose write failed, waiting on their retry task (part of the bound).
    retrying: usize,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something ever did, the queue is still
        // a valid queue.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a round unless one is running (the caller then runs it).
    fn take_lead(&self) -> bool {
        !std::mem::replace(&mut self.state().writing, true)
    }

    /// Queues a result (no one waits for it); it goes with the next round, or with the
    /// flusher's after at most [`LINGER`].
    fn push_result(&self, event: NewAuditEvent) {
        let mut state = self.state();
        if state.closed && !state.writing {
            drop(state);
            tracing::error!("the audit writer has stopped; an audit event was not recorded");
            return;
        }
        if state.pending.len() + state.retrying >= MAX_QUEUED {
            drop(state);
            tracing::error!(
                "the audit queue is full (the database does not keep up); an audit event was dropped"
            );
            return;
        }
        state.pending.push(Item { event, ack: None });
        if !state.writing {
            self.flush.notify_one();
        }
    }
}

/// Hands uses to be committed and results to be recorded to the audit log.
#[derive(Debug, Clone)]
pub struct AuditSink {
    shared: Arc<Shared>,
    gate: Option<Arc<AuditGate>>,
}

impl AuditSink {
    /// Starts the flusher on the current runtime; call [`AuditWriter::finish`] at shutdown.
    pub fn start(store: Store) -> (Self, AuditWriter) {
        let yields = match store.backend() {
            keyway_store::Backend::Sqlite => 2,
            keyway_store::Backend::Postgres => 0,
        };
        let shared = Arc::new(Shared {
            yields,
            store,
            state: Mutex::default(),
            flush: Notify::new(),
        });
        let (stop, stopped) = oneshot::channel();
        let handle = tokio::spawn(flusher(shared.clone(), stopped));
        (Self { shared, gate: None }, AuditWriter { stop, handle })
    }

    /// Refuses to commit uses while `gate` is closed (an audit export that cannot be written).
    pub fn gated(mut self, gate: Arc<AuditGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Stores `event` before returning; the caller must not act if this fails.
    ///
    /// Group commit, led by the callers: the first use to arrive while nothing is being
    /// written starts a round on its own thread, which writes everything queued (every use
    /// and result) in one statement and keeps going while uses wait. The others only queue
    /// and wait. A round is a task of its own, so a caller that goes away cannot cut a write
    /// short, and no thread of Keyway's sits between the call and the database.
    pub async fn commit(&self, event: NewAuditEvent) -> Result<(), AuditFailure> {
        if self.gate.as_ref().is_some_and(|gate| !gate.is_open()) {
            return Err(AuditFailure::ExportFailed);
        }
        let (ack, done) = oneshot::channel();
        let lead = {
            let mut state = self.shared.state();
            if state.closed {
                return Err(AuditFailure::WriteFailed);
            }
            // The database does not keep up: refuse now rather than queue without bound.
            if state.waiters >= QUEUE {
                return Err(AuditFailure::StorageUnavailable);
            }
            state.pending.push(Item {
                event,
                ack: Some(ack),
            });
            state.waiters += 1;
            !std::mem::replace(&mut state.writing, true)
        };
        if lead {
            tokio::spawn(round(Taken::lead(&self.shared), Until::NoneWaits));
        }
        match tokio::time::timeout(COMMIT_WAIT, done).await {
            Ok(Ok(result)) => result.map(Receipt::delivered),
            Ok(Err(_)) => Err(AuditFailure::WriteFailed),
            Err(_) => Err(AuditFailure::StorageUnavailable),
        }
    }

    /// Queues `event` to be written with the next batch.
    pub async fn record(&self, event: NewAuditEvent) {
        self.shared.push_result(event);
    }

    /// Queues `event` without waiting, for places that cannot wait (a dropped call's guard).
    pub fn record_now(&self, event: NewAuditEvent) {
        self.shared.push_result(event);
    }
}

/// The running flusher.
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

/// When a round stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// Once no use waits: results alone may linger and share a later write.
    NoneWaits,
    /// Once nothing is queued (the flusher, and at shutdown).
    Empty,
}

/// Writes batches until `until`. `taken` is the lead (`writing` set by whoever made it); it
/// clears `writing` when the round ends, however it ends.
async fn round(mut taken: Taken, until: Until) {
    let shared = taken.shared.clone();
    loop {
        // Let the requests this thread has ready reach their commit first, so that they
        // share this write: without it a batch held one to three uses, and each commit's
        // cost (its locks and pages) was paid that many times over. Twice: the second turn
        // comes after the runtime has polled its sockets, so requests that arrived meanwhile
        // join too (6-8 % more calls/s; more turns gained nothing, see docs/decisions.md).
        // Not on PostgreSQL: there the write itself waits on the network, and what arrives
        // meanwhile goes in the next batch anyway.
        for _ in 0..shared.yields {
            tokio::task::yield_now().await;
        }
        {
            let mut state = shared.state();
            let done = match until {
                Until::NoneWaits => state.waiters == 0,
                Until::Empty => state.pending.is_empty(),
            };
            if done {
                state.writing = false;
                taken.done = true;
                if !state.pending.is_empty() {
                    shared.flush.notify_one();
                }
                return;
            }
            let n = state.pending.len().min(BATCH);
            let mut gave_up = 0;
            for item in state.pending.drain(..n) {
                // A caller that gave up waiting was refused: its use must not be stored as
                // started (its refusal is recorded on its own).
                if item.ack.as_ref().is_some_and(|ack| ack.is_closed()) {
                    gave_up += 1;
                    continue;
                }
                taken.batch.push(item);
            }
            let waited_for = taken.batch.iter().filter(|i| i.ack.is_some()).count();
            state.waiters -= waited_for + gave_up;
        }
        write(&shared, &mut taken.batch).await;
    }
}

/// The lead of a round, and its batch while it is written. Made before the round's task is
/// spawned, so that a task dropped before it ever ran still clears `writing`. A round is its
/// own task, but the runtime it runs on can end under it (a worker shutting down): then its
/// batch goes back to the queue for the flusher, so nothing is lost (it may be written
/// twice: the log is at least once).
struct Taken {
    shared: Arc<Shared>,
    batch: Vec<Item>,
    /// The round ended as it should (it has cleared `writing` itself).
    done: bool,
}

impl Taken {
    fn lead(shared: &Arc<Shared>) -> Self {
        Self {
            shared: shared.clone(),
            batch: Vec::new(),
            done: false,
        }
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let mut state = self.shared.state();
        state.waiters += batch.iter().filter(|i| i.ack.is_some()).count();
        let rest = std::mem::replace(&mut state.pending, batch);
        state.pending.extend(rest);
        state.writing = false;
        drop(state);
        self.shared.flush.notify_one();
    }
}

/// Writes results that no use carried along (after at most [`LINGER`]), and everything left
/// at shutdown.
async fn flusher(shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = shared.flush.notified() => {}
            _ = &mut stop => break,
        }
        // Let results gather so that they share a write.
        tokio::select! {
            _ = tokio::time::sleep(LINGER) => {}
            _ = &mut stop => break,
        }
        if shared.take_lead() {
            round(Taken::lead(&shared), Until::Empty).await;
        }
    }
    // Shutting down: accept no new uses, wait for a running round, store what is queued.
    shared.state().closed = true;
    while !shared.take_lead() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    round(Taken::lead(&shared), Until::Empty).await;
}

async fn write(shared: &Arc<Shared>, batch: &mut Vec<Item>) {
    let events: Vec<&NewAuditEvent> = batch.iter().map(|item| &item.event).collect();
    let first = shared.store.append_audit_refs(&events).await;
    drop(events);
    let failure = first.as_ref().err().map(classify);
    // Waiting callers learn at once; their calls are refused, so their events need no retry.
    let mut results = Vec::new();
    for item in batch.drain(..) {
        match (item.ack, failure) {
            (Some(ack), None) => {
                // A caller that is gone drops the receipt here (or with its channel).
                let _ = ack.send(Ok(Receipt {
                    shared: shared.clone(),
                    stored: Some(item.event),
                }));
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
    if !results.is_empty() {
        // Retried on a task of their own, so the waits between attempts never hold up a
        // round (and the uses queued behind it).
        // They still count against the queue's bound while they wait.
        shared.state().retrying += results.len();
        tokio::spawn(retry_results(shared.clone(), results));
    }
}

/// Results whose write failed. While the database cannot be reached, or cannot take writes
/// (full, read-only, locked by another writer), they are tried again and again, 0.1 s apart
/// at first and at most [`RETRY_CAP`], and stay part of the queue's bound meanwhile: these
/// calls did leave Keyway, and an outage must not lose how they ended. Any other error (the
/// database refuses these rows) gives up after four attempts, with an error in the log, so a
/// batch that can never be written does not hold its room for ever.
async fn retry_results(shared: Arc<Shared>, results: Vec<NewAuditEvent>) {
    /// Gives the events' room in the queue back however the task ends. When it ends before
    /// they were written or given up (its runtime, an actix worker's, was shut down under
    /// it), the events go back to the queue, for the flusher's last round at shutdown; past
    /// that round they are reported lost.
    struct Room<'a> {
        shared: &'a Shared,
        results: Vec<NewAuditEvent>,
        events: usize,
        over: bool,
    }
    impl Drop for Room<'_> {
        fn drop(&mut self) {
            let mut state = self.shared.state();
            state.retrying = state.retrying.saturating_sub(self.events);
            if self.over {
                return;
            }
            if state.closed {
                // The flusher's last round may be over: nothing would write them.
                drop(state);
                tracing::error!(
                    events = self.events,
                    "the audit writer stopped while it retried a batch; call results lost"
                );
                return;
            }
            let back = std::mem::take(&mut self.results);
            state
                .pending
                .extend(back.into_iter().map(|event| Item { event, ack: None }));
            drop(state);
            self.shared.flush.notify_one();
        }
    }
    let mut room = Room {
        shared: &shared,
        events: results.len(),
        results,
        over: false,
    };
    let mut delay = Duration::from_millis(100);
    let mut attempt: u32 = 1;
    loop {
        attempt = attempt.saturating_add(1);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_CAP);
        match shared.store.append_audit_batch(&room.results).await {
            Ok(()) => break,
            Err(err) if err.is_transient() || attempt < 4 => {
                tracing::warn!(error = %err, attempt, "audit batch write failed; retrying")
            }
            Err(err) => {
                tracing::error!(
                    error = %err,
                    events = room.results.len(),
                    "audit batch could not be written; call results lost"
                );
                break;
            }
        }
    }
    room.over = true;
}

fn classify(err: &StoreError) -> AuditFailure {
    if err.is_unavailable() {
        AuditFailure::StorageUnavailable
    } else {
        AuditFailure::WriteFailed
    }
}
