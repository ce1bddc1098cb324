//! A running command: started with pipes or in a PTY, its output read in
//! the background (so it never blocks on a full pipe), collected by
//! callers when they want it, and its whole process tree ended when it is
//! done or dropped.

use crate::capture::HeadTail;
use crate::spawner::{self, SpawnError};
use crate::tree::{self, Tree};
use nix::sys::signal::Signal;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// How long a process tree gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_millis(500);
/// How long to keep reading after the command exited while something
/// (a background job) still holds its output open.
pub const DRAIN_GRACE: Duration = Duration::from_millis(250);
/// How long a write to a command's terminal may wait for it to read: a
/// program that stops reading must not hang the call.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Output kept for live display between collections.
const LIVE_CAP: usize = 64 * 1024;
/// Pagers that print rather than wait for keys (a command has no one to
/// press them).
pub(crate) const PAGERS: [(&str, &str); 2] = [("PAGER", "cat"), ("GIT_PAGER", "cat")];
/// `TERM` for a command in a pseudo-terminal, and for one with pipes.
pub(crate) const TERM_TTY: &str = "xterm-256color";
pub(crate) const TERM_PIPE: &str = "dumb";

static COMMANDS: AtomicU64 = AtomicU64::new(0);

/// A fresh exec token (`TERN_EXEC_TOKEN`) for one command or service:
/// unique, and prefixed with this process's pid for the watchdog.
pub(crate) fn new_token() -> String {
    format!("{}-{}-{:08x}", std::process::id(), COMMANDS.fetch_add(1, Ordering::Relaxed), fastrand::u32(..))
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Run with `bash -c`.
    pub script: String,
    pub cwd: PathBuf,
    /// In a pseudo-terminal (interactive programs) rather than with pipes
    /// (stdin then reads from /dev/null).
    pub tty: bool,
    /// Bytes of output kept per collection: half from the start, half from the end.
    pub output_cap: usize,
    /// Where to save the full output once it exceeds `output_cap`.
    pub spool_path: Option<PathBuf>,
    /// Run confined (see `tern-sandbox`), through this helper.
    pub sandbox: Option<Sandbox>,
    /// Variables removed from the environment the command inherits.
    pub env_remove: Arc<[String]>,
}

/// How to confine a command: the helper program (`tern-sandbox` or
/// `tern`, run as `HELPER __sandbox --write DIR… [--network] -- bash -c
/// SCRIPT`) and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    pub helper: PathBuf,
    pub writable: Vec<PathBuf>,
    pub network: bool,
}

/// Errors starting or talking to a command.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot start `bash` in {cwd}: {source}")]
    Spawn { cwd: String, source: std::io::Error },
    #[error(
        "cannot sandbox the command, so it was not run: {0}. {unconfined}",
        unconfined = tern_sandbox::helper::UNCONFINED
    )]
    Sandbox(String),
    #[error("the process does not take input (it was not started with a terminal, or has exited)")]
    NoInput,
    #[error("cannot write to the process: {0}")]
    Write(#[source] std::io::Error),
    #[error(
        "the process did not read its input within {} s (its terminal buffer is full); \
         poll its output with empty chars, or end it with \"\\u0003\"",
        WRITE_TIMEOUT.as_secs()
    )]
    WriteTimeout,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Exit status, or `None` when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

/// Output gathered by one [`Process::collect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Output since the previous collection, head and tail kept.
    pub output: String,
    /// Bytes since the previous collection, including any not kept.
    pub bytes: u64,
    /// Bytes left out of the middle of `output`.
    pub omitted: u64,
    /// Set once the command has exited and its output is all read.
    pub exit: Option<Exit>,
}

#[derive(Default)]
struct State {
    /// The first `output_cap` bytes of all output (the spool's start).
    first: Vec<u8>,
    unread: Option<HeadTail>,
    live: Vec<u8>,
    total: u64,
    exit: Option<Exit>,
    /// Exited and drained: nothing more will come.
    done: bool,
    spooled: Option<PathBuf>,
    spool_error: Option<String>,
}

type Shared = Arc<Mutex<State>>;

pub(crate) enum Input {
    Pty(pty_process::OwnedWritePty),
    None,
}

/// A started command. Dropping it ends its process tree.
pub struct Process {
    shared: Shared,
    changed: watch::Receiver<u64>,
    input: Input,
    tree: Tree,
    cap: usize,
    started: Instant,
    _reader: AbortOnDropHandle<()>,
}

impl Process {
    /// Starts `spec` in its own process group (a PTY makes it a session
    /// leader), with stdin from /dev/null unless it has a terminal.
    pub async fn start(spec: &Spec) -> Result<Process, ExecError> {
        let token = new_token();
        if let Some(sb) = &spec.sandbox {
            // The spawner's reply is awaited on the blocking pool (a wedged
            // spawner holds a thread there for its timeout, never a runtime
            // worker). A process started there for a caller that has gone
            // is dropped there, which kills it.
            let (owned, sb, t) = (spec.clone(), sb.clone(), token.clone());
            #[allow(clippy::disallowed_methods)] // blocking by design: socket I/O with the spawner
            let started = tokio::task::spawn_blocking(move || spawner::start(&owned, &sb, &t))
                .await
                .unwrap_or_else(|e| Err(SpawnError::Unavailable(std::io::Error::other(e))));
            match started {
                Ok(p) => return Ok(p),
                Err(SpawnError::Refused(e)) => return Err(e),
                Err(SpawnError::Unavailable(e)) => {
                    tracing::warn!("the sandbox spawner is unavailable ({e}); starting a sandbox helper per command");
                }
            }
        }
        let spawn_error = |source| ExecError::Spawn { cwd: spec.cwd.display().to_string(), source };
        let mut command = match &spec.sandbox {
            None => tokio::process::Command::new("bash"),
            Some(sb) => {
                let mut c = tokio::process::Command::new(&sb.helper);
                c.arg("__sandbox");
                for w in &sb.writable {
                    c.arg("--write").arg(w);
                }
                if sb.network {
                    c.arg("--network");
                }
                c.arg("--").arg("bash");
                c
            }
        };
        command
            .arg("-c")
            .arg(&spec.script)
            .current_dir(&spec.cwd)
            .envs(PAGERS)
            .env(tree::TOKEN_VAR, &token)
            .kill_on_drop(true);
        for name in spec.env_remove.iter() {
            command.env_remove(name);
        }
        // Registered before anyone can see it exit (see tree::LEADERS).
        let mut leaders = tree::leaders();
        let (child, reader, input): (_, Box<dyn AsyncRead + Send + Unpin>, _) = if spec.tty {
            command.env("TERM", TERM_TTY);
            let (pty, pts) = open_pty().map_err(spawn_error)?;
            let child =
                pty_process::Command::from(command).spawn(pts).map_err(|e| spawn_error(std::io::Error::other(e)))?;
            let (read, write) = pty.into_split();
            (child, Box::new(read), Input::Pty(write))
        } else {
            // stdout and stderr share one pipe, as on a terminal, so the
            // output keeps the order in which the command wrote it.
            let (pipe_tx, pipe_rx) = tokio::net::unix::pipe::pipe().map_err(spawn_error)?;
            let out_fd = pipe_tx.into_blocking_fd().map_err(spawn_error)?;
            let err_fd = out_fd.try_clone().map_err(spawn_error)?;
            command.env("TERM", TERM_PIPE).stdin(Stdio::null()).stdout(out_fd).stderr(err_fd);
            if spec.sandbox.is_none() {
                leave_the_terminal(&mut command);
            }
            // (The sandbox helper leaves tern's session itself, before it
            // execs: spawning it stays a cheap posix_spawn.)
            let child = command.spawn().map_err(spawn_error)?;
            // Our copies of the write end close here, so EOF means the
            // command's side closed.
            drop(command);
            (child, Box::new(pipe_rx), Input::None)
        };
        let leader = child.id().and_then(|id| i32::try_from(id).ok());
        leaders.extend(leader);
        drop(leaders);
        Ok(Process::running(spec, Waiter::Own(child), reader, input, leader, &token))
    }

    /// The [`Process`] for a started command, its output read and its exit
    /// awaited in the background.
    pub(crate) fn running(
        spec: &Spec,
        waiter: Waiter,
        reader: Box<dyn AsyncRead + Send + Unpin>,
        input: Input,
        leader: Option<i32>,
        token: &str,
    ) -> Process {
        let tree = Tree { leader, needle: format!("{}={token}", tree::TOKEN_VAR).into_bytes(), done: false };
        let shared: Shared =
            Arc::new(Mutex::new(State { unread: Some(HeadTail::new(spec.output_cap)), ..Default::default() }));
        let (tx, changed) = watch::channel(0u64);
        let task = tokio::spawn(drive(waiter, reader, shared.clone(), tx, spec.clone()));
        Process {
            shared,
            changed,
            input,
            tree,
            cap: spec.output_cap,
            started: Instant::now(),
            _reader: AbortOnDropHandle::new(task),
        }
    }

    /// Waits until the command has exited (and its output is read), or
    /// `wait` has passed, or `cancel` fires; returns the output since the
    /// last collection. New output is also passed to `on_output` as it
    /// arrives.
    pub async fn collect(
        &mut self,
        wait: Duration,
        cancel: &CancellationToken,
        on_output: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Collected {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (live, done) = {
                let mut s = self.shared.lock();
                (std::mem::take(&mut s.live), s.done)
            };
            if !live.is_empty() {
                on_output(&live);
            }
            if done {
                break;
            }
            // `changed` is cancellation-safe; a missed change is seen on
            // the next loop through the shared state.
            tokio::select! {
                r = self.changed.changed() => if r.is_err() { break },
                () = tokio::time::sleep_until(deadline) => break,
                () = cancel.cancelled() => break,
            }
        }
        let mut s = self.shared.lock();
        let unread = s.unread.replace(HeadTail::new(self.cap)).unwrap_or_else(|| HeadTail::new(self.cap));
        Collected {
            output: unread.render(),
            bytes: unread.total(),
            omitted: unread.omitted(),
            exit: if s.done { s.exit } else { None },
        }
    }

    /// Sends input to the command's terminal (text, or control characters
    /// such as "\u{3}" for Ctrl-C).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ExecError> {
        match &mut self.input {
            Input::Pty(w) if !self.shared.lock().done => {
                let write = async {
                    w.write_all(bytes).await?;
                    w.flush().await
                };
                match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                    Ok(r) => r.map_err(ExecError::Write),
                    Err(_) => Err(ExecError::WriteTimeout),
                }
            }
            _ => Err(ExecError::NoInput),
        }
    }

    /// Ends the whole process tree (SIGTERM, grace, SIGKILL) and waits for
    /// the reader to see the end.
    pub async fn terminate(&mut self) {
        self.tree.end(KILL_GRACE).await;
        let _ = tokio::time::timeout(DRAIN_GRACE * 4, async {
            while !self.shared.lock().done {
                if self.changed.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
    }

    /// After the command exited: ends whatever it left running.
    pub async fn finish(&mut self) {
        self.tree.finish().await;
    }

    /// Total bytes of output so far.
    pub fn total_bytes(&self) -> u64 {
        self.shared.lock().total
    }

    /// The file with the full output, once the output outgrew the cap.
    pub fn spooled(&self) -> Option<PathBuf> {
        self.shared.lock().spooled.clone()
    }

    /// Why the full output could not be saved, if saving it failed.
    pub fn spool_error(&self) -> Option<String> {
        self.shared.lock().spool_error.clone()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn has_exited(&self) -> bool {
        self.shared.lock().done
    }
}

/// Reads the command's output into the shared state and waits for it to
/// exit; owned by the [`Process`] (aborted with it).
async fn drive(
    mut child: Waiter,
    mut reader: Box<dyn AsyncRead + Send + Unpin>,
    shared: Shared,
    tx: watch::Sender<u64>,
    spec: Spec,
) {
    let mut buf = vec![0u8; 8192];
    let mut spool = Spool::default();
    let mut reading = true;
    let mut exit = None;
    let mut drain_deadline = None;
    let mut version = 0u64;
    while reading || exit.is_none() {
        // All branches are cancellation-safe: `read` into our buffer and
        // `wait` lose nothing when another branch wins.
        tokio::select! {
            n = reader.read(&mut buf), if reading => match n {
                // A PTY reports EIO once the last terminal user is gone.
                Ok(0) | Err(_) => reading = false,
                Ok(n) => {
                    let chunk = &buf[..n];
                    spool.write(&shared, chunk, &spec).await;
                    let mut s = shared.lock();
                    s.total += n as u64;
                    if let Some(u) = s.unread.as_mut() {
                        u.push(chunk);
                    }
                    if s.live.len() < LIVE_CAP {
                        s.live.extend_from_slice(chunk);
                    }
                }
            },
            status = child.wait(), if exit.is_none() => {
                exit = Some(status);
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_GRACE);
            }
            () = sleep_until_opt(drain_deadline), if reading && drain_deadline.is_some() => {
                // The command exited but something it started holds the
                // output open; stop reading (the tree is ended by the owner).
                reading = false;
            }
        }
        version += 1;
        tx.send_replace(version);
    }
    let (spooled, spool_error) = spool.finish().await;
    {
        let mut s = shared.lock();
        s.exit = exit;
        s.spooled = spooled;
        s.spool_error = spool_error;
        s.done = true;
    }
    tx.send_replace(version + 1);
}

/// How a command's exit is learnt: tern's own child, or the spawner's.
pub(crate) enum Waiter {
    Own(tokio::process::Child),
    Spawned(tokio::sync::oneshot::Receiver<Exit>),
}

impl Waiter {
    /// Cancellation-safe: both futures keep their state when dropped.
    async fn wait(&mut self) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        let unknown = Exit { code: None, signal: None };
        match self {
            Waiter::Own(child) => match child.wait().await {
                Ok(s) => Exit { code: s.code(), signal: s.signal() },
                Err(_) => unknown,
            },
            // An error: the spawner went away, and took the command along.
            Waiter::Spawned(rx) => rx.await.unwrap_or(Exit { code: None, signal: Some(Signal::SIGKILL as i32) }),
        }
    }
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// A pseudo-terminal of the size commands get.
pub(crate) fn open_pty() -> std::io::Result<(pty_process::Pty, pty_process::Pts)> {
    let (pty, pts) = pty_process::open().map_err(std::io::Error::other)?;
    let _ = pty.resize(pty_process::Size::new(40, 200));
    Ok((pty, pts))
}

/// Runs the command in a session of its own: it has no controlling
/// terminal, so nothing it starts can read tern's keystrokes (a password
/// prompt on /dev/tty) or write over its screen, and Ctrl+C at the
/// terminal reaches tern alone. Its process group is its own too.
#[allow(unsafe_code)]
fn leave_the_terminal(command: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and calls
    // only setsid(2), which is async-signal-safe, allocating nothing.
    unsafe {
        command.pre_exec(|| nix::unistd::setsid().map(drop).map_err(std::io::Error::from));
    }
}

/// The full output of a command too large to keep in memory, on disk.
#[derive(Default)]
struct Spool {
    file: Option<(tokio::fs::File, PathBuf)>,
    /// Why saving failed; the partial file is removed then.
    failed: Option<String>,
}

impl Spool {
    /// Writes `chunk` once the output outgrows the cap, starting the file
    /// with the output so far (all of it is still in `first` then).
    async fn write(&mut self, shared: &Shared, chunk: &[u8], spec: &Spec) {
        if self.file.is_none() && self.failed.is_none() {
            let Some(path) = &spec.spool_path else { return };
            let start = {
                let mut s = shared.lock();
                if s.total as usize + chunk.len() <= spec.output_cap {
                    s.first.extend_from_slice(chunk);
                    return;
                }
                std::mem::take(&mut s.first)
            };
            match Self::create(path, &start).await {
                Ok(f) => self.file = Some((f, path.clone())),
                Err(e) => self.fail(path, e).await,
            }
        }
        if let Some((f, path)) = &mut self.file
            && let Err(e) = f.write_all(chunk).await
        {
            let path = path.clone();
            self.file = None;
            self.fail(&path, e).await;
        }
    }

    /// Gives up saving: a partial spool would pass for the whole output.
    async fn fail(&mut self, path: &std::path::Path, e: std::io::Error) {
        let _ = tokio::fs::remove_file(path).await;
        tracing::warn!(path = %path.display(), "cannot save a command's full output: {e}");
        self.failed = Some(e.to_string());
    }

    async fn create(path: &std::path::Path, start: &[u8]) -> std::io::Result<tokio::fs::File> {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut f = tokio::fs::File::create(path).await?;
        f.write_all(start).await?;
        Ok(f)
    }

    async fn finish(mut self) -> (Option<PathBuf>, Option<String>) {
        let Some((mut f, path)) = self.file.take() else { return (None, self.failed) };
        if let Err(e) = f.flush().await {
            self.fail(&path, e).await;
            return (None, self.failed);
        }
        (Some(path), None)
    }
}
