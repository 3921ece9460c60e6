//! Structured logs to stderr (stdout is for command output such as a new token), written by a
//! background thread so that no request ever waits on a log write.
//!
//! Lines are appended to one shared buffer and written out in batches: the writer thread is
//! woken by the first line after it went idle, lets a few milliseconds of lines gather, and
//! writes them with one system call. A channel per line (tracing-appender) woke the thread
//! and wrote for every line, about a sixth of the process's system calls under load.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::configuration::{LogFormat, LogSettings};

/// Bytes waiting for the writer thread; past this, new lines are dropped and counted
/// (`keyway_log_lines_dropped_total`) rather than slowing requests down or growing memory.
const BUFFERED_BYTES: usize = 8 * 1024 * 1024;
/// How long the writer lets lines gather after the first one wakes it.
const GATHER: Duration = Duration::from_millis(5);
/// A buffer that grew past this during a burst is given back once written.
const KEEP_CAPACITY: usize = 256 * 1024;

static DROPPED: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Default)]
struct Pending {
    lines: Vec<u8>,
    closed: bool,
}

/// What the threads that log and the writer thread share.
#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        // Nothing panics while holding the lock; a poisoned buffer is still a buffer.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one formatted line (the fmt layer writes each event with one call).
    fn push(&self, line: &[u8]) {
        let mut pending = self.pending();
        if pending.closed || pending.lines.len() + line.len() > BUFFERED_BYTES {
            drop(pending);
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let was_idle = pending.lines.is_empty();
        pending.lines.extend_from_slice(line);
        drop(pending);
        if was_idle {
            self.wake.notify_one();
        }
    }

    fn run(&self, mut out: impl Write) {
        let mut spare = Vec::new();
        loop {
            let mut pending = self.pending();
            while pending.lines.is_empty() && !pending.closed {
                pending = self
                    .wake
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if pending.lines.is_empty() {
                return; // closed, and everything written
            }
            if !pending.closed {
                drop(pending);
                std::thread::sleep(GATHER);
                pending = self.pending();
            }
            std::mem::swap(&mut pending.lines, &mut spare);
            drop(pending);
            // A log that cannot be written (stderr closed) must not stop the service.
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            spare.clear();
            if spare.capacity() > KEEP_CAPACITY {
                spare = Vec::new();
            }
        }
    }
}

/// The fmt layer's writer: every line goes to the shared buffer.
#[derive(Debug, Clone)]
struct LogWriter(Arc<Shared>);

/// One event's writer; lines arrive whole, so nothing else is needed.
#[derive(Debug)]
pub struct LineSink<'a>(&'a Shared);

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineSink<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineSink(&self.0)
    }
}

impl Write for LineSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How long exiting waits for the buffered lines to be written (stderr may be a pipe whose
/// reader stalled; exiting must not hang on it).
const FINISH_WITHIN: Duration = Duration::from_secs(1);

/// Keeps the writer thread; dropping it writes what is buffered (waiting at most a second).
/// Hold it until exit.
#[must_use = "logs buffered at exit are lost unless the guard lives until then"]
#[derive(Debug)]
pub struct LogGuard {
    /// The buffer, and a receiver that hears when the writer thread has finished.
    writer: Option<(Arc<Shared>, Receiver<()>)>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some((shared, finished)) = self.writer.take() {
            shared.pending().closed = true;
            shared.wake.notify_one();
            let _ = finished.recv_timeout(FINISH_WITHIN);
        }
    }
}

/// Starts the writer thread for `shared`, writing to `out`.
fn spawn_writer(
    shared: &Arc<Shared>,
    out: impl Write + Send + 'static,
) -> std::io::Result<LogGuard> {
    let (finished, on_finish) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("keyway-log".into())
        .spawn({
            let shared = shared.clone();
            move || {
                shared.run(out);
                let _ = finished.send(());
            }
        })?;
    Ok(LogGuard {
        writer: Some((shared.clone(), on_finish)),
    })
}

pub fn init(settings: &LogSettings) -> LogGuard {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let shared = Arc::new(Shared::default());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter(shared.clone()))
        // Colour codes only for a person at a terminal, never into files or log collectors.
        .with_ansi(ansi);
    let installed = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if installed.is_err() {
        // Another subscriber was set first (tests): its writer is not ours to keep.
        return LogGuard { writer: None };
    }
    match spawn_writer(&shared, std::io::stderr()) {
        Ok(guard) => guard,
        Err(e) => {
            // Without the thread nothing would drain the buffer: close it, so lines are
            // counted as dropped instead of piling up.
            shared.pending().closed = true;
            eprintln!("keyway: the log writer thread could not be started ({e}); logs are dropped");
            LogGuard { writer: None }
        }
    }
}

/// Log lines dropped because the writer fell behind, since the start.
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

const DROPPED_NAME: &str = "keyway_log_lines_dropped_total";
const DROPPED_HELP: &str =
    "Log lines dropped because the log writer fell behind (requests never wait for it)";

/// `keyway_log_lines_dropped_total` for `/metrics`, read when it is scraped.
#[derive(Debug)]
pub struct DroppedLines(prometheus::IntCounter);

impl DroppedLines {
    pub fn register(registry: &prometheus::Registry) -> prometheus::Result<()> {
        let counter = prometheus::IntCounter::new(DROPPED_NAME, DROPPED_HELP)?;
        registry.register(Box::new(Self(counter)))
    }
}

impl prometheus::core::Collector for DroppedLines {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }

    /// A fresh counter per scrape, so two scrapes at once cannot add to each other.
    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        match prometheus::IntCounter::new(DROPPED_NAME, DROPPED_HELP) {
            Ok(counter) => {
                counter.inc_by(dropped_lines());
                counter.collect()
            }
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read back while the thread holds a clone.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn start() -> (LogGuard, Sink) {
        let sink = Sink::default();
        let guard = spawn_writer(&Arc::new(Shared::default()), sink.clone()).unwrap();
        (guard, sink)
    }

    fn shared(guard: &LogGuard) -> &Shared {
        &guard.writer.as_ref().unwrap().0
    }

    #[test]
    fn lines_are_written_whole_and_in_order_and_all_of_them_at_close() {
        let (guard, sink) = start();
        let expected: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        for line in expected.lines() {
            shared(&guard).push(format!("{line}\n").as_bytes());
        }
        drop(guard);
        assert_eq!(
            String::from_utf8(sink.0.lock().unwrap().clone()).unwrap(),
            expected
        );
    }

    #[test]
    fn a_line_past_the_bound_is_dropped_and_counted_not_buffered() {
        let shared = Shared::default(); // no writer thread: nothing drains it
        let before = DROPPED.load(Ordering::Relaxed);
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..(BUFFERED_BYTES / line.len()) {
            shared.push(&line);
        }
        assert_eq!(DROPPED.load(Ordering::Relaxed), before);
        shared.push(b"one more\n");
        assert_eq!(shared.pending().lines.len(), BUFFERED_BYTES);
        assert!(DROPPED.load(Ordering::Relaxed) > before);
    }

    /// stderr can be a pipe nobody reads: exiting waits a second for it, not forever.
    #[test]
    fn closing_does_not_wait_on_a_writer_that_is_stuck() {
        struct Stuck;
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_secs(3600));
                Ok(0)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let guard = spawn_writer(&Arc::new(Shared::default()), Stuck).unwrap();
        shared(&guard).push(b"a line that will never be written\n");
        let started = std::time::Instant::now();
        drop(guard);
        let took = started.elapsed();
        assert!(
            took >= FINISH_WITHIN,
            "did not wait for the writer: {took:?}"
        );
        assert!(took < FINISH_WITHIN * 3, "waited {took:?}");
    }
}
