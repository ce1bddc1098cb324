//! The spawner: one long-lived, single-threaded helper per tern process
//! (`tern-sandbox __sandbox --serve`) that starts each sandboxed command.
//!
//! Starting a fresh helper for every command costs a program start (the
//! dynamic loader, libc's start-up, which on a VM traps to the hypervisor)
//! of ~1.5 ms of CPU. The spawner pays it once: for each [`Request`] it
//! forks itself (small, and single-threaded, so the child may allocate and
//! build the Landlock and seccomp rules), and the child confines itself
//! and execs the command. tern itself never runs code in a forked child.
//!
//! Its stdin is the request socket (requests in, [`Reply`]s out) and its
//! stdout the event socket ([`Ended`] for each command it reaps). When
//! tern goes away (the request socket ends), it kills what it still runs
//! and exits.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, killpg};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::wire::{self, Ended, FDS, Failure, Reply, Request, Status};

/// What the command's stage before exec reports through the error pipe.
const STAGE_OS: u8 = 1;
const STAGE_SANDBOX: u8 = 2;
/// Exit code of a child that could not become the command.
const CANNOT_RUN: i32 = 126;

/// Serves requests on stdin until it ends; returns the exit code.
pub fn run() -> u8 {
    match serve() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tern-sandbox: the spawner stopped: {e}");
            1
        }
    }
}

fn serve() -> std::io::Result<()> {
    // SAFETY: fds 0 and 1 were set up by tern as the two sockets and are
    // owned by nothing else in this process.
    #[allow(unsafe_code)]
    let (requests, events) = unsafe { (BorrowedFd::borrow_raw(0), BorrowedFd::borrow_raw(1)) };
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    chld.thread_block().map_err(std::io::Error::from)?;
    let signals =
        SignalFd::with_flags(&chld, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(std::io::Error::from)?;
    // Running commands: pid → request id.
    let mut running: HashMap<i32, u64> = HashMap::new();
    let served = serve_until_tern_goes(requests, events, &signals, &mut running);
    // tern is gone (or the sockets broke): what it started goes with it.
    for pid in running.keys() {
        let _ = killpg(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    served
}

/// The request loop; returns when the request socket ends (Ok) or fails.
fn serve_until_tern_goes(
    requests: BorrowedFd<'_>,
    events: BorrowedFd<'_>,
    signals: &SignalFd,
    running: &mut HashMap<i32, u64>,
) -> std::io::Result<()> {
    loop {
        let (request_ready, child_ended) = {
            let mut fds = [PollFd::new(requests, PollFlags::POLLIN), PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => r.map_err(std::io::Error::from)?,
            };
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]))
        };
        if child_ended {
            while let Ok(Some(_)) = signals.read_signal() {}
            reap(running, events)?;
        }
        if request_ready {
            let Some((body, fds)) = wire::recv(requests)? else { return Ok(()) };
            let reply = match Request::decode(&body) {
                Ok(req) if fds.len() == FDS => start(req, fds, running),
                Ok(req) => Reply::Failed {
                    id: req.id,
                    failure: Failure::Os(libc::EINVAL),
                    message: format!("{} descriptors came with the request, not {FDS}", fds.len()),
                },
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            };
            wire::send(requests, &reply.encode(), &[])?;
        }
    }
}

/// Reaps every child that has exited and reports the commands among them.
fn reap(running: &mut HashMap<i32, u64>, events: BorrowedFd<'_>) -> std::io::Result<()> {
    loop {
        let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, Status::Exited(code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, Status::Signaled(sig as i32)),
            Ok(WaitStatus::StillAlive) | Err(_) => return Ok(()),
            Ok(_) => continue,
        };
        if let Some(id) = running.remove(&status.0.as_raw()) {
            wire::send(events, &Ended { id, status: status.1 }.encode(), &[])?;
        }
    }
}

/// Forks the command's process and waits until it has exec'd (or failed
/// to: the error comes back through a close-on-exec pipe, as in std).
fn start(req: Request, fds: Vec<OwnedFd>, running: &mut HashMap<i32, u64>) -> Reply {
    let id = req.id;
    let os = |e: std::io::Error| Reply::Failed {
        id,
        failure: Failure::Os(e.raw_os_error().unwrap_or(libc::EIO)),
        message: e.to_string(),
    };
    let (mut report_rx, report_tx) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return os(e),
    };
    // SAFETY: this process has one thread (the spawner is started as a
    // fresh program and starts none), so the child may do anything.
    #[allow(unsafe_code)]
    let fork = unsafe { nix::unistd::fork() };
    match fork {
        Err(e) => os(e.into()),
        Ok(ForkResult::Child) => {
            drop(report_rx);
            let (stage, err) = become_command(&req, &fds);
            let mut report = vec![stage];
            report.extend_from_slice(&err.raw_os_error().unwrap_or(0).to_le_bytes());
            report.extend_from_slice(err.to_string().as_bytes());
            let _ = std::io::Write::write_all(&mut std::fs::File::from(OwnedFd::from(report_tx)), &report);
            // SAFETY: ends the forked child without running this
            // process's exit handlers or flushing its buffers twice.
            #[allow(unsafe_code)]
            unsafe {
                libc::_exit(CANNOT_RUN)
            }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(report_tx);
            drop(fds);
            let mut report = Vec::new();
            let _ = report_rx.read_to_end(&mut report);
            if report.len() < 5 {
                running.insert(child.as_raw(), id);
                return Reply::Started { id, pid: child.as_raw() };
            }
            let _ = waitpid(child, None);
            let errno = i32::from_le_bytes([report[1], report[2], report[3], report[4]]);
            let message = String::from_utf8_lossy(&report[5..]).into_owned();
            let failure = if report[0] == STAGE_SANDBOX { Failure::Sandbox } else { Failure::Os(errno) };
            Reply::Failed { id, failure, message }
        }
    }
}

/// In the forked child: takes the descriptors as stdin, stdout and
/// stderr, leaves the spawner's session, confines itself and execs.
/// Returns only on failure, with the stage that failed.
fn become_command(req: &Request, fds: &[OwnedFd]) -> (u8, std::io::Error) {
    let os = |e: std::io::Error| (STAGE_OS, e);
    // A session of its own: no controlling terminal but the one it is
    // given, and a process group tern can signal as a whole.
    if let Err(e) = nix::unistd::setsid() {
        return os(e.into());
    }
    if req.tty {
        // SAFETY: TIOCSCTTY takes an int argument and touches no memory.
        #[allow(unsafe_code)]
        if unsafe { libc::ioctl(fds[0].as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
            return os(std::io::Error::last_os_error());
        }
    }
    // Over the spawner's sockets (0 and 1): the command never holds them.
    for (target, fd) in fds.iter().enumerate() {
        // SAFETY: dup2 onto 0–2, which this process owns; the sources are
        // open descriptors received with the request.
        #[allow(unsafe_code)]
        if unsafe { libc::dup2(fd.as_raw_fd(), target as i32) } < 0 {
            return os(std::io::Error::last_os_error());
        }
    }
    // The command dies with the spawner, which dies with tern.
    let parent = std::os::unix::process::parent_id();
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        return os(e.into());
    }
    if std::os::unix::process::parent_id() != parent {
        return os(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    if let Err(e) = std::env::set_current_dir(&req.cwd) {
        return os(e);
    }
    if let Err(e) = crate::enter(&req.policy) {
        return (STAGE_SANDBOX, std::io::Error::other(e.to_string()));
    }
    let program: &OsStr = &req.argv[0];
    let mut command = std::process::Command::new(program);
    command.args(&req.argv[1..]).env_clear();
    for var in &req.env {
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(var.as_os_str());
        if let Some(eq) = bytes.iter().position(|b| *b == b'=') {
            use std::os::unix::ffi::OsStrExt as _;
            command.env(OsStr::from_bytes(&bytes[..eq]), OsStr::from_bytes(&bytes[eq + 1..]));
        }
    }
    os(command.exec())
}
