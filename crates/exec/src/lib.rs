//! Running child processes so that they never hang tern and never outlive
//! their purpose.
//!
//! A command leads its own process group, reads stdin from /dev/null, and
//! has its output captured with a byte cap (head and tail kept). Its
//! processes carry a token in their environment, so that even those that
//! leave the group (`setsid`, `nohup`, double forks) are found ([`tree`]).
//! On timeout or cancellation the whole tree gets SIGTERM, a short grace,
//! then SIGKILL; when the command ends, whatever it left running is ended
//! too. Everything here awaits; nothing blocks a runtime thread.

mod capture;
mod tree;
pub mod watchdog;

pub use capture::HeadTail;
pub use tree::become_subreaper;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a process group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_millis(500);
/// How long to keep reading after the command exited while something
/// (a background job) still holds its output open.
pub const DRAIN_GRACE: Duration = Duration::from_millis(250);
/// How long processes a finished command left behind get after SIGTERM.
const LEFTOVER_GRACE: Duration = Duration::from_millis(100);

static COMMANDS: AtomicU64 = AtomicU64::new(0);

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
    pub timed_out: bool,
    pub cancelled: bool,
    pub duration: Duration,
    /// The file holding the full output, when it was too large to keep.
    pub spooled: Option<PathBuf>,
}

/// Errors starting a command. Failures of the command itself are an [`ExecOutput`].
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot start `bash` in {cwd}: {source}")]
    Spawn { cwd: String, source: std::io::Error },
}

/// Runs `cmd` until it exits, times out or `cancel` fires. Each chunk of
/// output is passed to `on_output` as it arrives (it must not block).
pub async fn run(
    cmd: &ShellCommand,
    cancel: &CancellationToken,
    on_output: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<ExecOutput, ExecError> {
    let start = Instant::now();
    let spawn_error = |source| ExecError::Spawn { cwd: cmd.cwd.display().to_string(), source };
    // stdout and stderr share one pipe, as on a terminal, so the output
    // keeps the order in which the command wrote it.
    let (pipe_tx, pipe_rx) = tokio::net::unix::pipe::pipe().map_err(spawn_error)?;
    let out_fd = pipe_tx.into_blocking_fd().map_err(spawn_error)?;
    let err_fd = out_fd.try_clone().map_err(spawn_error)?;
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(&cmd.script)
        .current_dir(&cmd.cwd)
        .stdin(Stdio::null())
        .stdout(out_fd)
        .stderr(err_fd)
        .env("TERM", "dumb")
        .env("PAGER", "cat")
        .env("GIT_PAGER", "cat")
        .process_group(0)
        .kill_on_drop(true);
    let token =
        format!("{}-{}-{:08x}", std::process::id(), COMMANDS.fetch_add(1, Ordering::Relaxed), fastrand::u32(..));
    command.env(tree::TOKEN_VAR, &token);
    let mut child = {
        // Registered before anyone can see it exit (see tree::LEADERS).
        let mut leaders = tree::leaders();
        let child = command.spawn().map_err(spawn_error)?;
        leaders.extend(child.id().and_then(|id| i32::try_from(id).ok()));
        child
    };
    // Close our copies of the write end: EOF then means the command's side closed.
    drop(command);
    // From here on the tree is ended on every exit path, including drop.
    let mut tree = Tree {
        leader: child.id().and_then(|id| i32::try_from(id).ok()),
        needle: format!("{}={token}", tree::TOKEN_VAR).into_bytes(),
        done: false,
    };

    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
    // The reader belongs to this call: the JoinSet aborts it on every exit.
    let mut readers = tokio::task::JoinSet::new();
    readers.spawn(pump(pipe_rx, tx));

    let mut buf = HeadTail::new(cmd.output_cap);
    let mut spool = Spool::default();
    let deadline = tokio::time::Instant::now() + cmd.timeout;
    let mut status = None;
    let mut timed_out = false;
    let mut cancelled = false;
    let mut pipes_open = true;
    let mut drain_deadline = None;

    while status.is_none() || pipes_open {
        // Every branch is cancellation-safe: `recv` and `wait` may be
        // dropped and polled again without losing data.
        tokio::select! {
            _ = cancel.cancelled(), if !cancelled && status.is_none() => {
                cancelled = true;
                tree.end(KILL_GRACE).await;
            }
            _ = tokio::time::sleep_until(deadline), if !timed_out && status.is_none() => {
                timed_out = true;
                tree.end(KILL_GRACE).await;
            }
            s = child.wait(), if status.is_none() => {
                status = Some(s);
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_GRACE);
            }
            chunk = rx.recv(), if pipes_open => match chunk {
                Some(bytes) => {
                    on_output(&bytes);
                    spool.write(&buf, &bytes, cmd).await;
                    buf.push(&bytes);
                }
                None => pipes_open = false,
            },
            _ = sleep_until_opt(drain_deadline), if pipes_open && drain_deadline.is_some() => {
                // The command exited but a background job holds its output.
                tree.end(LEFTOVER_GRACE).await;
                readers.abort_all();
                pipes_open = false;
            }
        }
    }
    // Whatever the command left running (`server &`, `setsid …`) ends with it.
    tree.finish().await;

    let (exit_code, signal) = match status {
        Some(Ok(s)) => {
            use std::os::unix::process::ExitStatusExt;
            (s.code(), s.signal())
        }
        _ => (None, None),
    };
    Ok(ExecOutput {
        exit_code,
        signal,
        total_bytes: buf.total(),
        output: buf.render(),
        timed_out,
        cancelled,
        duration: start.elapsed(),
        spooled: spool.finish().await,
    })
}

/// The full output of a command too large to keep in memory, on disk.
#[derive(Default)]
struct Spool {
    file: Option<(tokio::fs::File, PathBuf)>,
    failed: bool,
}

impl Spool {
    /// Writes `chunk` once the output outgrows the cap, starting the file
    /// with everything `buf` still holds (all of it, until the cap is passed).
    async fn write(&mut self, buf: &HeadTail, chunk: &[u8], cmd: &ShellCommand) {
        use tokio::io::AsyncWriteExt;
        if self.file.is_none() && !self.failed && buf.total() as usize + chunk.len() > cmd.output_cap {
            let Some(path) = &cmd.spool_path else { return };
            match Self::create(path, &buf.all_kept()).await {
                Ok(f) => self.file = Some((f, path.clone())),
                Err(_) => self.failed = true,
            }
        }
        if let Some((f, _)) = &mut self.file
            && f.write_all(chunk).await.is_err()
        {
            self.file = None;
            self.failed = true;
        }
    }

    async fn create(path: &std::path::Path, start: &[u8]) -> std::io::Result<tokio::fs::File> {
        use tokio::io::AsyncWriteExt;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut f = tokio::fs::File::create(path).await?;
        f.write_all(start).await?;
        Ok(f)
    }

    async fn finish(self) -> Option<PathBuf> {
        use tokio::io::AsyncWriteExt;
        let (mut f, path) = self.file?;
        f.flush().await.ok()?;
        Some(path)
    }
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn pump(mut r: impl AsyncRead + Unpin, tx: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(buf[..n].to_vec()).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A command's processes, ended on every path out of [`run`].
struct Tree {
    leader: Option<i32>,
    needle: Vec<u8>,
    done: bool,
}

impl Tree {
    /// SIGTERM to every process of the command, `grace`, SIGKILL, reap.
    async fn end(&mut self, grace: Duration) {
        tree::kill_tree(self.leader, self.leader, self.needle.clone(), grace).await;
        self.done = true;
    }

    /// After the command exited: ends what it left running, if anything.
    async fn finish(&mut self) {
        if self.done {
            return;
        }
        let pgid = self.leader;
        let clean = tokio::task::spawn_blocking(move || tree::nothing_left(pgid)).await.unwrap_or(false);
        if clean {
            self.done = true;
        } else {
            self.end(LEFTOVER_GRACE).await;
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if let Some(pid) = self.leader {
            tree::leaders().retain(|p| *p != pid);
        }
        if self.done {
            return;
        }
        // Dropped mid-run (turn cancelled, tern exiting): kill the group
        // now, and find the escapees on a short-lived thread (no await here).
        if let Some(pgid) = self.leader {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        let (leader, needle) = (self.leader, std::mem::take(&mut self.needle));
        let _ = std::thread::Builder::new()
            .name("tern-exec-cleanup".into())
            .spawn(move || tree::kill_tree_blocking(leader, leader, &needle, Duration::ZERO, false));
    }
}
