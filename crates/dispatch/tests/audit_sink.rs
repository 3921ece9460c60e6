//! The audit sink against real stores: concurrent uses are all committed, and results are
//! written without a use to carry them and at shutdown, on SQLite and on PostgreSQL. On
//! SQLite also: a round whose runtime ends in the middle of a write gives its batch back
//! instead of losing it or wedging the log (a use whose caller gave up meanwhile is not
//! written as started), a use that waits for another writer does not hold its worker's
//! thread, results whose retry is cut short by their worker's end go back to the queue, and a
//! use stored after its caller left is followed by an `abandoned` result.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_dispatch::{AuditFailure, AuditSink};
use keyway_store::{AuditAction, AuditOutcome, ConnectOptions, NewAuditEvent, Store};
use std::time::Duration;

/// A migrated store on a new schema of the test PostgreSQL.
async fn pg_store() -> Store {
    let options = ConnectOptions {
        pg_schema: Some(keyway_testkit::db::fresh_pg_schema().await),
        ..ConnectOptions::default()
    };
    let store = Store::connect(&keyway_testkit::db::pg_url(), &options)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn store() -> (Store, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let store = Store::connect(&url, &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, dir, url)
}

fn event(action: AuditAction, outcome: AuditOutcome, n: usize) -> NewAuditEvent {
    NewAuditEvent::new(action, outcome)
        .by(Some("u1"), "alice")
        .on("o1", "c1", "u1")
        .detail(format!("{{\"call_id\":\"{n}\"}}"))
}

fn use_event(n: usize) -> NewAuditEvent {
    event(AuditAction::CredentialUse, AuditOutcome::Started, n)
}

fn result_event(n: usize) -> NewAuditEvent {
    event(AuditAction::CredentialUseResult, AuditOutcome::Success, n)
}

/// A connection of its own that holds SQLite's write lock until it rolls back.
async fn hold_write_lock(url: &str) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// An actix worker's kind of runtime: current-thread.
fn worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A sink on a runtime of its own (`main`), whose store already holds the test's subject (so
/// that a use only appends), while another connection holds SQLite's write lock.
struct Locked {
    main: tokio::runtime::Runtime,
    store: Store,
    _dir: tempfile::TempDir,
    sink: AuditSink,
    writer: keyway_dispatch::AuditWriter,
    blocker: sqlx::SqliteConnection,
}

fn locked() -> Locked {
    let main = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (store, _dir, url) = main.block_on(store());
    let (sink, writer) = main.block_on(async { AuditSink::start(store.clone()) });
    main.block_on(sink.commit(use_event(0))).unwrap();
    let blocker = main.block_on(hold_write_lock(&url));
    Locked {
        main,
        store,
        _dir,
        sink,
        writer,
        blocker,
    }
}

/// How many stored events have `action`.
async fn count(store: &Store, action: &str) -> usize {
    store
        .audit_after(0, 100_000)
        .await
        .unwrap()
        .iter()
        .filter(|row| row.action == action)
        .count()
}

/// [`count`], once it reaches `expected` or 5 s have passed (results are written behind).
async fn stored(store: &Store, action: &str, expected: usize) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = count(store, action).await;
        if n >= expected || tokio::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uses_are_all_committed_before_they_are_acknowledged_on_sqlite() {
    let (store, _dir, _) = store().await;
    concurrent_uses_are_all_committed_before_they_are_acknowledged(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uses_are_all_committed_before_they_are_acknowledged_on_postgresql() {
    let store = pg_store().await;
    concurrent_uses_are_all_committed_before_they_are_acknowledged(store).await;
}

async fn concurrent_uses_are_all_committed_before_they_are_acknowledged(store: Store) {
    let (sink, writer) = AuditSink::start(store.clone());
    let calls: Vec<_> = (0..300)
        .map(|n| {
            let sink = sink.clone();
            tokio::spawn(async move {
                sink.commit(use_event(n)).await?;
                sink.record(result_event(n)).await;
                Ok::<_, AuditFailure>(())
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // Acknowledged means stored: the uses are there without waiting.
    assert_eq!(count(&store, "credential.use").await, 300);
    assert_eq!(stored(&store, "credential.use.result", 300).await, 300);
    assert!(writer.finish(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_written_with_no_use_to_carry_them_and_at_shutdown_on_sqlite() {
    let (store, _dir, _) = store().await;
    results_are_written_with_no_use_to_carry_them_and_at_shutdown(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_written_with_no_use_to_carry_them_and_at_shutdown_on_postgresql() {
    let store = pg_store().await;
    results_are_written_with_no_use_to_carry_them_and_at_shutdown(store).await;
}

async fn results_are_written_with_no_use_to_carry_them_and_at_shutdown(store: Store) {
    let (sink, writer) = AuditSink::start(store.clone());
    for n in 0..3 {
        sink.record(result_event(n)).await;
    }
    assert_eq!(stored(&store, "credential.use.result", 3).await, 3);

    // Queued just before shutdown: written by `finish`; a use after it is refused.
    for n in 3..10 {
        sink.record_now(result_event(n));
    }
    assert!(writer.finish(Duration::from_secs(5)).await);
    assert_eq!(count(&store, "credential.use.result").await, 10);
    assert_eq!(
        sink.commit(use_event(99)).await,
        Err(AuditFailure::WriteFailed)
    );
}

#[test]
fn a_round_cut_short_gives_its_batch_back_and_the_log_goes_on() {
    let main = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (store, _dir, url) = main.block_on(store());
    let (sink, writer) = main.block_on(async { AuditSink::start(store.clone()) });
    // Someone else holds SQLite's write lock, so the round's write waits.
    let blocker = main.block_on(hold_write_lock(&url));

    // A use on a worker's own runtime starts a round there, which takes the queued result
    // with it; that runtime ends mid-write.
    let worker = worker_runtime();
    let waited = worker.block_on(async {
        sink.record_now(result_event(1));
        tokio::time::timeout(Duration::from_millis(300), sink.commit(use_event(1))).await
    });
    assert!(waited.is_err(), "the write was still waiting for the lock");
    drop(worker);

    main.block_on(async {
        let mut blocker = blocker;
        sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
        // The batch went back to the queue and the flusher wrote what it still should: the
        // result (at least once), but not the use, whose caller gave up waiting and was
        // refused (a refused call's use must not read as started).
        assert!(stored(&store, "credential.use.result", 1).await >= 1);
        assert_eq!(count(&store, "credential.use").await, 0);
        // Nothing is left marked as being written: the next use leads a round of its own.
        tokio::time::timeout(Duration::from_secs(5), sink.commit(use_event(2)))
            .await
            .expect("the log is not wedged")
            .unwrap();
        assert!(writer.finish(Duration::from_secs(5)).await);
    });
}

/// On SQLite the round writes on its worker's own thread; when another connection holds the
/// write lock, the wait moves to a blocking thread, so the worker goes on serving its other
/// tasks, and the use is committed once the lock is let go.
#[test]
fn a_use_waits_for_another_writer_without_holding_its_worker() {
    let Locked {
        main,
        store,
        _dir,
        sink,
        writer,
        blocker,
    } = locked();
    let release = main.spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut blocker = blocker;
        sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    });

    // An actix worker is a current-thread runtime: the round runs on it, beside a task that
    // counts 10 ms ticks while the use waits. Missed ticks are skipped, not made up, so a
    // thread held for the 400 ms would count one or two.
    let worker = worker_runtime();
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = ticks.clone();
    let started = std::time::Instant::now();
    let committed = worker.block_on(async {
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(10));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let committed = tokio::time::timeout(Duration::from_secs(5), sink.commit(use_event(1)))
            .await
            .expect("committed once the lock was let go");
        ticker.abort();
        committed
    });
    assert_eq!(committed, Ok(()));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the commit waited for the lock"
    );
    let ticks = ticks.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        ticks >= 10,
        "the worker went on while the use waited: {ticks} ticks"
    );
    // The round yields before it looks for more work, so it ends on the worker's next turn;
    // this worker takes none, so it goes now (and hands its empty batch back).
    drop(worker);
    main.block_on(async {
        release.await.unwrap();
        assert_eq!(count(&store, "credential.use").await, 2);
        assert!(writer.finish(Duration::from_secs(5)).await);
    });
}

/// What a test's tracing subscriber wrote.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A result whose write failed waits for its retry on the worker that wrote it; when that
/// worker's runtime ends first, the result goes back to the queue and is written once the
/// database takes writes again (it was lost before, with only a line in the log).
#[test]
fn results_whose_retry_is_cut_short_go_back_to_the_queue() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // This thread's: the worker runtime below runs here, and is dropped here.
    let _logs = tracing::subscriber::set_default(subscriber);
    let Locked {
        main,
        store,
        _dir,
        sink,
        writer,
        blocker,
    } = locked();

    // The round runs on the worker; its write gives up on the lock after 2 s, the use is
    // refused and the result goes to a retry task on the same runtime, which then ends.
    let worker = worker_runtime();
    let refused = worker.block_on(async {
        sink.record_now(result_event(1));
        sink.commit(use_event(1)).await
    });
    assert!(refused.is_err(), "the use was committed past a held lock");
    drop(worker);

    main.block_on(async {
        let mut blocker = blocker;
        sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
        assert_eq!(stored(&store, "credential.use.result", 1).await, 1);
        assert!(writer.finish(Duration::from_secs(5)).await);
        // Only the use whose caller was refused is missing: the locked setup's own is there.
        assert_eq!(count(&store, "credential.use").await, 1);
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.contains("lost"), "a loss was reported: {logs}");
}

/// A caller that goes away while its use is being written: if the use is stored after all,
/// its call never left, and the log says so with an `abandoned` result for the same call.
/// (Before, such a use read as started with no result; and a call dropped before its use was
/// stored could leave a result with no use.)
#[test]
fn a_use_stored_after_its_caller_left_is_followed_by_an_abandoned_result() {
    let Locked {
        main,
        store,
        _dir,
        sink,
        writer,
        blocker,
    } = locked();
    let worker = worker_runtime();
    worker.block_on(async {
        let gave_up =
            tokio::time::timeout(Duration::from_millis(300), sink.commit(use_event(1))).await;
        assert!(gave_up.is_err(), "the write was still waiting for the lock");
        // The round goes on, on this runtime, and stores the use once the lock is let go.
        let mut blocker = blocker;
        sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
        assert_eq!(stored(&store, "credential.use.result", 1).await, 1);
    });
    main.block_on(async {
        assert!(writer.finish(Duration::from_secs(5)).await);
        let rows = store.audit_after(0, 100).await.unwrap();
        let uses: Vec<_> = rows
            .iter()
            .filter(|r| r.action == "credential.use")
            .collect();
        assert_eq!(uses.len(), 2, "the setup's use and this one");
        let results: Vec<_> = rows
            .iter()
            .filter(|r| r.action == "credential.use.result")
            .collect();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].outcome, "abandoned");
        let detail: serde_json::Value =
            serde_json::from_str(results[0].detail.as_deref().unwrap()).unwrap();
        assert_eq!(detail["call_id"], "1", "{detail}");
        assert_eq!(detail["error"], "caller_gone", "{detail}");
        assert_eq!(
            (
                results[0].org_id.as_deref(),
                results[0].credential_id.as_deref()
            ),
            (Some("o1"), Some("c1")),
            "the use's subject"
        );
    });
}
