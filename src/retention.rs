//! Audit retention's pruner: on whichever replica holds the pruning lease, events past
//! `audit.retention_days` are removed oldest first in small batches with pauses between,
//! so calls waiting to write their own events are never held up for long.

use keyway_store::Store;
use std::time::Duration;

/// How often a replica tries to take the lease and prune.
const EVERY: Duration = Duration::from_secs(60);
/// The lease outlives a round, so a replica that died mid-round is replaced after this.
const LEASE_MS: i64 = 5 * 60 * 1000;
/// Events removed per statement: a short write, so the audit writer's group commits wait
/// milliseconds at most (SQLite has one writer).
const BATCH: i64 = 500;
/// Statements per round at most; a backlog is worked off over several rounds.
const BATCHES_PER_ROUND: usize = 200;
const PAUSE: Duration = Duration::from_millis(50);

/// Runs until aborted: one round at start, then one a minute.
pub async fn prune_forever(store: Store) {
    let holder = format!("pruner-{}", uuid::Uuid::new_v4().simple());
    loop {
        match store.take_prune_lease(&holder, LEASE_MS).await {
            Ok(true) => round(&store).await,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(error = %err, "audit retention: the lease could not be taken")
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

async fn round(store: &Store) {
    let mut removed = 0;
    for _ in 0..BATCHES_PER_ROUND {
        match store.prune_audit(BATCH).await {
            Ok(n) => {
                removed += n;
                if n < BATCH as u64 {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "audit retention: pruning failed; next round retries");
                break;
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
    if removed > 0 {
        tracing::info!(
            removed,
            "audit retention: events past the retention period removed"
        );
    }
}
