//! The audit trail of credential use, written in batches off the request path so the log
//! never becomes the bottleneck of calls.

use keyway_store::{NewAuditEvent, Store};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Events waiting to be written at most; a full queue makes calls wait (back-pressure)
/// rather than lose events.
const QUEUE: usize = 8192;
const BATCH: usize = 512;
const LINGER: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<NewAuditEvent>,
}

impl AuditSink {
    /// Starts the writer on the current runtime; call [`AuditWriter::finish`] at shutdown.
    pub fn start(store: Store) -> (Self, AuditWriter) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (stop, stopped) = oneshot::channel();
        let handle = tokio::spawn(write_batches(store, rx, stopped));
        (Self { tx }, AuditWriter { stop, handle })
    }

    pub async fn record(&self, event: NewAuditEvent) {
        if self.tx.send(event).await.is_err() {
            tracing::error!(
                "the audit writer has stopped; a credential-use event was not recorded"
            );
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
    mut rx: mpsc::Receiver<NewAuditEvent>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
                // Let a batch fill for a moment: one write per few milliseconds instead of
                // one per call, and senders rarely have to wake this task.
                if batch.len() < BATCH {
                    tokio::time::sleep(LINGER).await;
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(event) => batch.push(event),
                            Err(_) => break,
                        }
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

async fn write(store: &Store, batch: &mut Vec<NewAuditEvent>) {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=5 {
        match store.append_audit_batch(batch).await {
            Ok(()) => break,
            Err(err) if attempt < 5 => {
                tracing::warn!(error = %err, attempt, "audit batch write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(err) => tracing::error!(
                error = %err,
                events = batch.len(),
                "audit batch could not be written; events lost"
            ),
        }
    }
    batch.clear();
}
