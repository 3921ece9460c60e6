//! The audit log's own connection reaches the database the pool opened, including an
//! in-memory one (`sqlite::memory:`), which exists only as long as a connection holds it
//! and is found by name through a shared cache; batches of any size keep every event, in
//! order, on SQLite and on PostgreSQL; appends are checkpointed into SQLite's file.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use keyway_store::{AuditAction, AuditOutcome, ConnectOptions, NewAuditEvent, Store};

#[tokio::test]
async fn audit_appends_reach_an_in_memory_database() {
    let store = Store::connect("sqlite::memory:", &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let event = NewAuditEvent::new(AuditAction::CredentialUse, AuditOutcome::Started)
        .by(Some("u1"), "alice")
        .on("o1", "c1", "u1");
    store
        .append_audit_batch(&[event.clone(), event])
        .await
        .unwrap();
    let rows = store.audit_after(0, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|row| row.action == "credential.use"));
}

/// Batches of every size up to past two of SQLite's largest statements (it splits them into
/// statements of a few fixed sizes), and of the audit writer's largest (512), store each event
/// once, in order, with its own fields (some without a detail).
#[tokio::test]
async fn batches_of_any_size_store_every_event_in_order_on_sqlite() {
    let (store, _dir, _path) = file_store().await;
    batches_of_any_size_store_every_event_in_order(store).await;
}

#[tokio::test]
async fn batches_of_any_size_store_every_event_in_order_on_postgresql() {
    let store = common::postgres_store(&common::fresh_pg_schema().await).await;
    batches_of_any_size_store_every_event_in_order(store).await;
}

async fn batches_of_any_size_store_every_event_in_order(store: Store) {
    let mut expected = Vec::new();
    for size in (1..=20).chain([31, 32, 33, 63, 64, 65, 100, 129, 150, 512]) {
        let batch: Vec<NewAuditEvent> = (0..size)
            .map(|i| match i % 7 {
                3 => NewAuditEvent::new(AuditAction::CredentialUse, AuditOutcome::Started)
                    .by(Some("u1"), "alice")
                    .on("o1", "c1", "u1"),
                _ => padded_use(0).detail(format!("{{\"batch\":{size},\"i\":{i}}}")),
            })
            .collect();
        store.append_audit_batch(&batch).await.unwrap();
        expected.extend(batch.into_iter().map(|event| event.detail));
    }
    let rows = store.audit_after(0, 10_000).await.unwrap();
    let stored: Vec<Option<String>> = rows.into_iter().map(|row| row.detail).collect();
    assert_eq!(stored, expected);
}

/// A burst that a long reader kept from being checkpointed grows the write-ahead log past
/// its size limit (32 MiB); once the reader is gone and the log has been copied back, the
/// next appends start it over and cut the file back to the limit, rather than leaving it at
/// its largest size on disk.
#[tokio::test]
async fn the_log_file_shrinks_back_after_a_burst() {
    use sqlx::Connection;
    const LIMIT: u64 = 32 << 20;
    let (store, _dir, path) = file_store().await;
    let wal_len = || {
        std::fs::metadata(path.with_extension("db-wal"))
            .unwrap()
            .len()
    };
    let url = format!("sqlite://{}", path.display());
    let mut reader = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_entries")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    let batch = vec![padded_use(2000); 20];
    let mut written = 0;
    while written < LIMIT + (4 << 20) {
        store.append_audit_batch(&batch).await.unwrap();
        written += 20 * 2000;
    }
    let grown = wal_len();
    assert!(
        grown > LIMIT,
        "the burst grew the log to only {grown} bytes"
    );

    sqlx::query("COMMIT").execute(&mut reader).await.unwrap();
    reader.close().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let small = vec![padded_use(0)];
    let shrunk = loop {
        store.append_audit_batch(&small).await.unwrap();
        let len = wal_len();
        if len <= LIMIT || std::time::Instant::now() > deadline {
            break len;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        shrunk <= LIMIT,
        "the log file stayed at {shrunk} bytes (it had grown to {grown})"
    );
}

/// A migrated store on a file in a new directory, and the file's path.
async fn file_store() -> (Store, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite_store(dir.path()).await;
    let path = dir.path().join("k.db"); // the file `sqlite_store` opens
    assert!(path.exists());
    (store, dir, path)
}

/// A use whose detail holds `pad` bytes of filler.
fn padded_use(pad: usize) -> NewAuditEvent {
    NewAuditEvent::new(AuditAction::CredentialUse, AuditOutcome::Started)
        .by(Some("u1"), "alice")
        .on("o1", "c1", "u1")
        .detail(format!("{{\"pad\":\"{}\"}}", "x".repeat(pad)))
}

/// The audit connection never checkpoints on its own (that would sync files on a thread that
/// serves requests, see `audit_line`); the store's checkpoint task copies its appends into the
/// database file soon after, long before SQLite's automatic threshold (1,000 pages).
#[tokio::test]
async fn audit_appends_are_checkpointed_into_the_database_file() {
    let (store, _dir, path) = file_store().await;
    let before = std::fs::metadata(&path).unwrap().len();
    // About 400 KiB of events: 100 pages, a tenth of the automatic threshold.
    let event = padded_use(4000);
    for _ in 0..10 {
        store
            .append_audit_batch(&vec![event.clone(); 10])
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let grown = loop {
        let now = std::fs::metadata(&path).unwrap().len();
        if now >= before + 400_000 || std::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        grown >= before + 400_000,
        "the database file grew from {before} to {grown} bytes only: the appends stayed in the log"
    );
    assert_eq!(store.audit_after(0, 1000).await.unwrap().len(), 100);
}

/// Under appends that never pause for long, SQLite would never start its log file over (a
/// passive checkpoint cannot catch up with a writer that keeps going): the checkpoint task
/// pauses the appends for a moment when the log stays long, so the file stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_file_stays_bounded_under_appends_that_never_stop() {
    let (store, _dir, path) = file_store().await;
    let batch = vec![padded_use(2000); 20];
    // 64 MiB of events, a batch every millisecond or two: about what a full load writes on
    // this machine (faster, each checkpoint has more to copy and the bound grows with it).
    // The log stays near 10 MiB here, even with the cores busy; without the pause it grows
    // past everything written, so a bound under 64 MiB tells the two apart.
    let total = 64 << 20;
    let mut written = 0;
    while written < total {
        store.append_audit_batch(&batch).await.unwrap();
        written += 20 * 2000;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let wal = std::fs::metadata(path.with_extension("db-wal"))
        .unwrap()
        .len();
    assert!(
        wal < 48 << 20,
        "the log file reached {wal} bytes after {written} bytes of events"
    );
}
