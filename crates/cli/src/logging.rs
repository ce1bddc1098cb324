//! tern's own log: `$TERN_HOME/logs/tern.log`, rotated by size (the five
//! files before it kept as `tern.log.1` … `.5`), written by one background
//! thread so that logging never blocks a runtime worker. Never the
//! terminal: the UI owns it. `TERN_LOG` (else `RUST_LOG`) sets what is
//! written: a level (`info`, `debug`), per-target levels
//! (`tern_llm=trace,info`); the default is `warn`, so the log holds what
//! went wrong and a run where nothing did costs nothing (the writer thread
//! starts with the first line). `tracing-subscriber`'s `Targets` filter:
//! the `EnvFilter` one compiles regular expressions at every start.

use parking_lot::Mutex;
use rolling_file::{BasicRollingFileAppender, RollingConditionBasic};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Bytes per log file before it is rotated.
const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept besides the current one.
const KEEP_FILES: usize = 5;
/// Lines waiting for the writer thread at most; past that, lines are
/// dropped rather than making the program wait. (The queue is allocated
/// whole when the thread starts.)
const MAX_QUEUED_LINES: usize = 1024;

/// The log file, opened at start; its writer thread, started by the first
/// line written.
struct Lazy {
    file: Mutex<Option<BasicRollingFileAppender>>,
    writer: OnceLock<Option<NonBlocking>>,
    guard: Mutex<Option<WorkerGuard>>,
}

impl Lazy {
    fn writer(&self) -> Option<&NonBlocking> {
        self.writer
            .get_or_init(|| {
                let file = self.file.lock().take()?;
                let (writer, guard) = NonBlockingBuilder::default()
                    .lossy(true)
                    .buffered_lines_limit(MAX_QUEUED_LINES)
                    .thread_name("tern-log")
                    .finish(file);
                *self.guard.lock() = Some(guard);
                Some(writer)
            })
            .as_ref()
    }
}

/// What the formatter writes a line to: the writer thread's queue.
struct LazyWriter(Arc<Lazy>);

impl<'a> MakeWriter<'a> for LazyWriter {
    type Writer = Box<dyn std::io::Write + 'a>;

    fn make_writer(&'a self) -> Self::Writer {
        match self.0.writer() {
            Some(w) => Box::new(w.clone()),
            None => Box::new(std::io::sink()),
        }
    }
}

/// Owns the log's writer thread: dropping it writes what is queued and
/// ends the thread (when one was started).
pub(crate) struct Log(Arc<Lazy>);

impl Drop for Log {
    fn drop(&mut self) {
        drop(self.0.guard.lock().take());
    }
}

/// Starts logging under `data_dir`. A log that cannot be opened is
/// reported once on stderr and tern goes on without one.
pub(crate) fn start(data_dir: &Path) -> Option<Log> {
    let wanted = ["TERN_LOG", "RUST_LOG"].into_iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    let warn = Targets::new().with_default(tracing::Level::WARN);
    let filter = match wanted.as_deref().map(str::parse::<Targets>) {
        None => warn,
        Some(Ok(f)) => f,
        Some(Err(e)) => {
            eprintln!("tern: warning: ignoring the log filter in TERN_LOG/RUST_LOG ({e}); logging warnings");
            warn
        }
    };
    let dir = data_dir.join("logs");
    #[allow(clippy::disallowed_methods)] // runs before the runtime starts
    let opened = std::fs::create_dir_all(&dir).and_then(|()| {
        BasicRollingFileAppender::new(
            dir.join("tern.log"),
            RollingConditionBasic::new().max_size(MAX_FILE_BYTES),
            KEEP_FILES,
        )
    });
    let file = match opened {
        Ok(f) => f,
        Err(e) => {
            eprintln!("tern: warning: cannot open the log in {} ({e}); continuing without it", dir.display());
            return None;
        }
    };
    let lazy = Arc::new(Lazy { file: Mutex::new(Some(file)), writer: OnceLock::new(), guard: Mutex::new(None) });
    let installed = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(LazyWriter(lazy.clone())).with_thread_names(true))
        .with(filter)
        .try_init();
    if installed.is_err() {
        return None;
    }
    tracing::info!(pid = std::process::id(), version = env!("CARGO_PKG_VERSION"), "tern started");
    Some(Log(lazy))
}
