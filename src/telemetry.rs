//! Structured logs to stderr (stdout is for command output such as a new token), written by a
//! background thread so that no request ever waits on a log write.

use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::configuration::{LogFormat, LogSettings};

/// Lines waiting for the writer thread; past this, new lines are dropped and counted
/// (`keyway_log_lines_dropped_total`) rather than slowing requests down.
const BUFFERED_LINES: usize = 64 * 1024;

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Keeps the writer thread; dropping it flushes what is buffered. Hold it until exit.
#[must_use = "logs buffered at exit are lost unless the guard lives until then"]
#[derive(Debug)]
pub struct LogGuard {
    _worker: Option<WorkerGuard>,
}

pub fn init(settings: &LogSettings) -> LogGuard {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("keyway-log")
        .finish(std::io::stderr());
    let counter = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colour codes only for a person at a terminal, never into files or log collectors.
        .with_ansi(ansi);
    let installed = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    match installed {
        Ok(()) => {
            let _ = DROPPED.set(counter);
            LogGuard {
                _worker: Some(guard),
            }
        }
        // Another subscriber was set first (tests): its writer is not ours to keep.
        Err(_) => LogGuard { _worker: None },
    }
}

/// Log lines dropped because the writer fell behind, since the start.
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
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
