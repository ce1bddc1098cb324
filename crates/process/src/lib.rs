//! Running child processes so that they never hang tern and never outlive
//! their purpose.
//!
//! A command leads its own process group (or, in a PTY, its own session),
//! reads stdin from /dev/null unless it has a terminal, and has its output
//! read in the background and captured with a byte cap (head and tail
//! kept), the whole of it spooled to a file when large ([`Process`]). Its
//! processes carry a token in their environment, so that even those that
//! leave the group (`setsid`, `nohup`, double forks) are found ([`tree`]).
//! On timeout or cancellation the whole tree gets SIGTERM, a short grace,
//! then SIGKILL; when the command ends, whatever it left running is ended
//! too. Everything here awaits; nothing blocks a runtime thread.

mod capture;
pub mod cleanup;
mod process;
mod service;
pub mod spawner;
mod tree;
pub mod watchdog;

pub use capture::HeadTail;
pub use process::{Collected, DRAIN_GRACE, ExecError, Exit, KILL_GRACE, Process, Sandbox, Spec, WRITE_TIMEOUT};
pub use service::{INHERITED_ENV, Service, ServiceError, ServiceGuard, ServiceSpec};
pub use tree::become_subreaper;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A command to run through `bash -c`.
#[derive(Debug, Clone)]
pub struct ShellCommand {
    pub script: String,
    pub cwd: PathBuf,
    pub timeout: Duration,
    /// Bytes of output kept in memory: half from the start, half from the end.
    pub output_cap: usize,
    /// Where to save the full output once it exceeds `output_cap`.
    pub spool_path: Option<PathBuf>,
    /// Run confined, through this helper.
    pub sandbox: Option<Sandbox>,
    /// Variables removed from the environment the command inherits.
    pub env_remove: Arc<[String]>,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status, or `None` when the command was killed by a signal.
    pub exit_code: Option<i32>,
    /// The signal that ended the command, if any.
    pub signal: Option<i32>,
    /// Interleaved stdout and stderr, head and tail kept, lossily decoded.
    pub output: String,
    /// Total bytes produced, including any not kept.
    pub total_bytes: u64,
    /// Bytes left out of the middle of `output`.
    pub omitted_bytes: u64,
    pub timed_out: bool,
    pub cancelled: bool,
    pub duration: Duration,
    /// The file holding the full output, when it was too large to keep.
    pub spooled: Option<PathBuf>,
    /// Why the full output could not be saved (a full disk), when it was
    /// too large to keep and saving it failed.
    pub spool_error: Option<String>,
}

/// Runs `cmd` (with pipes, stdin from /dev/null) until it exits, times out
/// or `cancel` fires. Each chunk of output is passed to `on_output` as it
/// arrives (it must not block). Whatever the command leaves running is
/// ended with it.
pub async fn run(
    cmd: &ShellCommand,
    cancel: &CancellationToken,
    on_output: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<ExecOutput, ExecError> {
    let spec = Spec {
        script: cmd.script.clone(),
        cwd: cmd.cwd.clone(),
        tty: false,
        output_cap: cmd.output_cap,
        spool_path: cmd.spool_path.clone(),
        sandbox: cmd.sandbox.clone(),
        env_remove: cmd.env_remove.clone(),
    };
    let mut p = Process::start(&spec).await?;
    let got = p.collect(cmd.timeout, cancel, on_output).await;
    let (exit, output, omitted, timed_out, cancelled) = match got.exit {
        Some(exit) => {
            p.finish().await;
            (exit, got.output, got.omitted, false, false)
        }
        None => {
            let cancelled = cancel.is_cancelled();
            p.terminate().await;
            // What arrived while the tree was ending.
            let rest = p.collect(Duration::ZERO, &CancellationToken::new(), on_output).await;
            let exit = rest.exit.unwrap_or(Exit { code: None, signal: None });
            (exit, format!("{}{}", got.output, rest.output), got.omitted + rest.omitted, !cancelled, cancelled)
        }
    };
    Ok(ExecOutput {
        exit_code: exit.code,
        signal: exit.signal,
        output,
        total_bytes: p.total_bytes(),
        omitted_bytes: omitted,
        timed_out,
        cancelled,
        duration: p.elapsed(),
        spooled: p.spooled(),
        spool_error: p.spool_error(),
    })
}
