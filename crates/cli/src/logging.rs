//! tern's own log: `$TERN_HOME/logs/tern.log`, rotated by size (the five
//! files before it kept as `tern.log.1` … `.5`), written by one background
//! thread so that logging never blocks a runtime worker. Never the
//! terminal: the UI owns it. `TERN_LOG` (else `RUST_LOG`) sets what is
//! written, in `tracing`'s filter syntax (`debug`, `tern_llm=trace`…);
//! the default is `info`.

use rolling_file::{BasicRollingFileAppender, RollingConditionBasic};
use std::path::Path;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Bytes per log file before it is rotated.
const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept besides the current one.
const KEEP_FILES: usize = 5;
/// Lines waiting for the writer thread at most; past that, lines are
/// dropped rather than making the program wait.
const MAX_QUEUED_LINES: usize = 1024;

/// Starts logging under `data_dir`. The returned guard owns the writer
/// thread: dropping it writes what is queued and ends the thread. A log
/// that cannot be opened is reported once on stderr and tern goes on
/// without one.
pub(crate) fn start(data_dir: &Path) -> Option<WorkerGuard> {
    let wanted = ["TERN_LOG", "RUST_LOG"].into_iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    let filter = match wanted.as_deref().map(EnvFilter::try_new) {
        None => EnvFilter::new("info"),
        Some(Ok(f)) => f,
        Some(Err(e)) => {
            eprintln!("tern: warning: ignoring the log filter in TERN_LOG/RUST_LOG ({e}); logging at `info`");
            EnvFilter::new("info")
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
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(MAX_QUEUED_LINES)
        .thread_name("tern-log")
        .finish(file);
    let installed =
        tracing_subscriber::fmt().with_writer(writer).with_env_filter(filter).with_thread_names(true).try_init();
    if installed.is_err() {
        return None;
    }
    tracing::info!(pid = std::process::id(), version = env!("CARGO_PKG_VERSION"), "tern started");
    Some(guard)
}
