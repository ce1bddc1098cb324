//! tern's side of the spawner (`tern_sandbox::serve`): one long-lived
//! helper per sandbox helper program, started with the first sandboxed
//! command, that forks and confines every later one. A request is sent and
//! its reply (the pid, once the command has exec'd) read under one lock,
//! as quick as a spawn; exits arrive on a second socket, read by a thread
//! of their own, and are handed to each command's [`Spawned::ended`].
//!
//! When the spawner cannot be started, or breaks, the caller falls back to
//! a helper process per command; a spawner that keeps failing is not
//! tried again. [`finish`] ends the spawners at exit.

use crate::process::{ExecError, Exit, Input, PAGERS, Process, Sandbox, Spec, TERM_PIPE, TERM_TTY, Waiter, open_pty};
use crate::tree;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tern_sandbox::wire::{self, Ended, Failure, Reply, Request, Status};
use tokio::sync::oneshot;

/// How long a start may take before the spawner is taken for wedged.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Spawners of one helper that may fail before it is no longer tried.
const MAX_FAILURES: u32 = 3;

/// A command the spawner started.
struct Spawned {
    pid: i32,
    /// Its exit, once reaped; an error when the spawner went away first
    /// (which kills the command).
    ended: oneshot::Receiver<Exit>,
}

/// Why the spawner did not start a command.
pub(crate) enum SpawnError {
    /// The command cannot start (a missing directory, no sandbox).
    Refused(ExecError),
    /// The spawner is missing or broke: start the command another way.
    Unavailable(std::io::Error),
}

/// What a command's start needs besides its policy.
struct Launch<'a> {
    tty: bool,
    cwd: &'a Path,
    argv: Vec<OsString>,
    env: Vec<OsString>,
    /// stdin, stdout, stderr.
    fds: [BorrowedFd<'a>; wire::FDS],
}

enum Slot {
    Waiting(oneshot::Sender<Exit>),
    /// Exited before its start was registered.
    Ended(Exit),
}

/// Slots by request id, and whether the spawner is still there; one lock
/// so that no slot is added after the reader has given up on them.
#[derive(Default)]
struct Slots {
    by_id: HashMap<u64, Slot>,
    closed: bool,
}

struct Client {
    helper: PathBuf,
    pid: i32,
    requests: UnixStream,
    slots: Arc<Mutex<Slots>>,
    alive: Arc<AtomicBool>,
    reader: JoinHandle<()>,
    next_id: u64,
    /// Whether it has started a command.
    served: bool,
}

#[derive(Default)]
struct Spawners {
    clients: Vec<Client>,
    failures: Vec<(PathBuf, u32)>,
}

static SPAWNERS: Mutex<Option<Spawners>> = Mutex::new(None);

/// Starts a sandboxed command through the spawner.
pub(crate) fn start(spec: &Spec, sb: &Sandbox, token: &str) -> Result<Process, SpawnError> {
    let refused = |source| SpawnError::Refused(ExecError::Spawn { cwd: spec.cwd.display().to_string(), source });
    let policy = tern_sandbox::Policy { writable: sb.writable.clone(), network: sb.network };
    let argv = vec!["bash".into(), "-c".into(), spec.script.clone().into()];
    if spec.tty {
        let (pty, pts) = open_pty().map_err(refused)?;
        let fd = pts.as_fd();
        let env = command_env(spec, token, TERM_TTY);
        let launch = Launch { tty: true, cwd: &spec.cwd, argv, env, fds: [fd, fd, fd] };
        let spawned = spawn(&sb.helper, policy, launch)?;
        drop(pts);
        let (read, write) = pty.into_split();
        let waiter = Waiter::Spawned(spawned.ended);
        Ok(Process::running(spec, waiter, Box::new(read), Input::Pty(write), Some(spawned.pid), token))
    } else {
        let (pipe_tx, pipe_rx) = tokio::net::unix::pipe::pipe().map_err(refused)?;
        let out = pipe_tx.into_blocking_fd().map_err(refused)?;
        #[allow(clippy::disallowed_methods)] // opening /dev/null does not block
        let null = std::fs::File::open("/dev/null").map_err(refused)?;
        let env = command_env(spec, token, TERM_PIPE);
        let launch = Launch { tty: false, cwd: &spec.cwd, argv, env, fds: [null.as_fd(), out.as_fd(), out.as_fd()] };
        let spawned = spawn(&sb.helper, policy, launch)?;
        // Our write end closes here, so EOF means the command's side closed.
        drop(out);
        let waiter = Waiter::Spawned(spawned.ended);
        Ok(Process::running(spec, waiter, Box::new(pipe_rx), Input::None, Some(spawned.pid), token))
    }
}

/// The environment a command gets: tern's, with what `spec` removes gone
/// and the pager, token and terminal set (as `Process::start` sets them).
fn command_env(spec: &Spec, token: &str, term: &str) -> Vec<OsString> {
    let [pager, git_pager] = PAGERS;
    let set = [pager, git_pager, (tree::TOKEN_VAR, token), ("TERM", term)];
    let removed = |k: &OsStr| spec.env_remove.iter().any(|r| k == r.as_str());
    let mut env: Vec<OsString> = std::env::vars_os()
        .filter(|(k, _)| !removed(k) && !set.iter().any(|(name, _)| k == *name))
        .map(|(mut k, v)| {
            k.push("=");
            k.push(v);
            k
        })
        .collect();
    env.extend(set.iter().filter(|(k, _)| !removed(OsStr::new(k))).map(|(k, v)| OsString::from(format!("{k}={v}"))));
    env
}

/// Starts a command confined to `policy` through the spawner for `helper`,
/// starting that first if needed. Blocking for about as long as a spawn.
fn spawn(helper: &Path, policy: tern_sandbox::Policy, launch: Launch<'_>) -> Result<Spawned, SpawnError> {
    let mut guard = SPAWNERS.lock();
    let all = guard.get_or_insert_with(Spawners::default);
    all.clients.retain(|c| c.alive.load(Ordering::Acquire));
    let failures = all.failures.iter().find(|(h, _)| h == helper).map_or(0, |(_, n)| *n);
    let index = match all.clients.iter().position(|c| c.helper == helper) {
        Some(i) => i,
        None if failures >= MAX_FAILURES => {
            return Err(SpawnError::Unavailable(std::io::Error::other("the spawner failed before")));
        }
        None => match Client::start(helper) {
            Ok(c) => {
                all.clients.push(c);
                all.clients.len() - 1
            }
            Err(e) => {
                // Not there, or not runnable: no use trying again.
                all.failed(helper, MAX_FAILURES);
                return Err(SpawnError::Unavailable(e));
            }
        },
    };
    let client = &mut all.clients[index];
    match client.request(policy, launch) {
        Ok(r) => {
            client.served = true;
            Ok(r)
        }
        Err(SpawnError::Unavailable(e)) => {
            // Whatever state it is in, it is of no more use.
            client.alive.store(false, Ordering::Release);
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(client.pid), nix::sys::signal::Signal::SIGKILL);
            // One that never served (an older helper without a spawner)
            // is not tried again; one that broke later may be restarted.
            let count = if client.served { 1 } else { MAX_FAILURES };
            all.failed(helper, count);
            Err(SpawnError::Unavailable(e))
        }
        Err(refused) => Err(refused),
    }
}

impl Spawners {
    /// Counts `n` failures of `helper`'s spawner.
    fn failed(&mut self, helper: &Path, n: u32) {
        match self.failures.iter_mut().find(|(h, _)| h == helper) {
            Some((_, count)) => *count += n,
            None => self.failures.push((helper.to_path_buf(), n)),
        }
    }
}

impl Client {
    /// Starts `helper __sandbox --serve` with the two sockets as its stdin
    /// and stdout, and the thread that reads its exits.
    fn start(helper: &Path) -> std::io::Result<Client> {
        let (requests, theirs) = UnixStream::pair()?;
        let (events, their_events) = UnixStream::pair()?;
        requests.set_read_timeout(Some(REPLY_TIMEOUT))?;
        requests.set_write_timeout(Some(REPLY_TIMEOUT))?;
        let mut command = std::process::Command::new(helper);
        command
            .args([tern_sandbox::helper::SUBCOMMAND, tern_sandbox::helper::SERVE])
            .stdin(OwnedFd::from(theirs))
            .stdout(OwnedFd::from(their_events))
            .stderr(std::process::Stdio::null())
            // It needs none, and a command could read its environment
            // (tern's keys) through /proc: each request carries its own.
            .env_clear()
            // Out of the terminal's process group: Ctrl+C is for tern.
            .process_group(0);
        // Registered before anyone could see it exit (see tree::LEADERS):
        // tern's own reaper must leave it to its reader.
        let mut leaders = tree::leaders();
        let child = command.spawn()?;
        let pid = child.id() as i32;
        leaders.push(pid);
        drop(leaders);
        drop(command);
        let slots = Arc::new(Mutex::new(Slots::default()));
        let alive = Arc::new(AtomicBool::new(true));
        let reader = {
            let (slots, alive) = (slots.clone(), alive.clone());
            std::thread::Builder::new()
                .name("tern-spawner".into())
                .spawn(move || read_exits(events, child, &slots, &alive))?
        };
        Ok(Client { helper: helper.to_path_buf(), pid, requests, slots, alive, reader, next_id: 0, served: false })
    }

    fn request(&mut self, policy: tern_sandbox::Policy, launch: Launch<'_>) -> Result<Spawned, SpawnError> {
        let unavailable = SpawnError::Unavailable;
        self.next_id += 1;
        let id = self.next_id;
        let request =
            Request { id, policy, tty: launch.tty, cwd: launch.cwd.to_path_buf(), argv: launch.argv, env: launch.env };
        wire::send(self.requests.as_fd(), &request.encode(), &launch.fds).map_err(unavailable)?;
        let Some((body, _)) = wire::recv(self.requests.as_fd()).map_err(unavailable)? else {
            return Err(unavailable(std::io::ErrorKind::UnexpectedEof.into()));
        };
        let malformed = |e| unavailable(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        match Reply::decode(&body).map_err(malformed)? {
            Reply::Started { id: got, pid } if got == id => {
                let (tx, ended) = oneshot::channel();
                let mut slots = self.slots.lock();
                match slots.by_id.remove(&id) {
                    Some(Slot::Ended(exit)) => {
                        let _ = tx.send(exit);
                    }
                    // Gone with the spawner: dropping `tx` says so.
                    _ if slots.closed => {}
                    _ => {
                        slots.by_id.insert(id, Slot::Waiting(tx));
                    }
                }
                Ok(Spawned { pid, ended })
            }
            Reply::Failed { id: got, failure, message } if got == id => Err(SpawnError::Refused(match failure {
                Failure::Os(errno) => ExecError::Spawn {
                    cwd: launch.cwd.display().to_string(),
                    source: std::io::Error::from_raw_os_error(errno),
                },
                Failure::Sandbox => ExecError::Sandbox(message),
            })),
            _ => Err(malformed(tern_sandbox::wire::Malformed)),
        }
    }
}

/// The reader thread: hands each exit to its command until the spawner
/// goes away, then releases the commands still waiting and reaps it.
fn read_exits(events: UnixStream, mut child: std::process::Child, slots: &Mutex<Slots>, alive: &AtomicBool) {
    while let Ok(Some((body, _))) = wire::recv(events.as_fd()) {
        let Ok(Ended { id, status }) = Ended::decode(&body) else { break };
        let exit = match status {
            Status::Exited(code) => Exit { code: Some(code), signal: None },
            Status::Signaled(sig) => Exit { code: None, signal: Some(sig) },
        };
        let mut slots = slots.lock();
        match slots.by_id.remove(&id) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send(exit);
            }
            _ => {
                slots.by_id.insert(id, Slot::Ended(exit));
            }
        }
    }
    alive.store(false, Ordering::Release);
    {
        let mut slots = slots.lock();
        slots.closed = true;
        slots.by_id.clear();
    }
    // It closed its end of the events socket: it is exiting, or was killed.
    #[allow(clippy::disallowed_methods)] // the spawner's own thread, not the runtime's
    let status = child.wait();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!("the sandbox spawner ended ({status}); its commands were ended with it"),
        Err(e) => tracing::warn!("cannot reap the sandbox spawner: {e}"),
    }
    let pid = child.id() as i32;
    tree::leaders().retain(|p| *p != pid);
}

/// Ends every spawner (each kills what it still runs) and waits at most
/// `timeout` for them to go. Call at exit, after the last command.
pub fn finish(timeout: Duration) {
    let Some(all) = SPAWNERS.lock().take() else { return };
    let readers: Vec<JoinHandle<()>> = all
        .clients
        .into_iter()
        .map(|c| {
            // Closing the request socket is the spawner's signal to go.
            drop(c.requests);
            c.reader
        })
        .collect();
    let deadline = Instant::now() + timeout;
    for reader in readers {
        if !crate::cleanup::join_by(reader, deadline) {
            tracing::warn!("the sandbox spawner did not exit within {timeout:?}");
        }
    }
}
