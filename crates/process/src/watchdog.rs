//! The watchdog: a small helper process that outlives tern just long
//! enough to end tern's commands when tern itself dies, even by SIGKILL.
//!
//! tern starts it (its own executable with a hidden subcommand) from the
//! main thread; the kernel sends it SIGTERM when tern dies (parent-death
//! signal); it then kills every process carrying tern's exec token.

use crate::tree;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// The token prefix of every command this tern process starts.
pub fn token_prefix(tern_pid: u32) -> String {
    format!("{}={tern_pid}-", tree::TOKEN_VAR)
}

/// Starts the watchdog for this process: `program args…` must end up in
/// [`run`] with this process's pid. Call from the main thread (the parent
/// death signal is tied to the thread that spawns it).
pub fn spawn(program: &std::path::Path, args: &[&str]) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new(program)
        .args(args)
        .arg(std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // It needs none, and a command could read its environment (tern's
        // keys) through /proc.
        .env_clear()
        // Out of the terminal's process group: Ctrl+C is for tern.
        .process_group(0)
        .spawn()?;
    tree::WATCHDOG.store(child.id() as i32, std::sync::atomic::Ordering::Relaxed);
    Ok(child)
}

/// Ends the watchdog when tern exits normally, so that nothing of tern's
/// outlives it. By then tern has ended its commands; if something is still
/// alive among its descendants (all of its commands' processes are, tern
/// being their subreaper), the watchdog is asked to do its job and is
/// waited for; otherwise it is simply killed. Blocking, and bounded: call
/// after the runtime is gone.
pub fn finish(mut watchdog: std::process::Child) {
    let pid = watchdog.id() as i32;
    let leftovers = tree::live_children(std::process::id() as i32).is_none_or(|kids| kids.iter().any(|k| *k != pid));
    if !leftovers {
        // Nothing to sweep. A SIGKILLed process cannot linger, so waiting
        // for it is bounded; this is the common, fast path of every exit.
        let _ = watchdog.kill();
        #[allow(clippy::disallowed_methods)] // at exit, off the runtime; SIGKILL cannot be ignored
        let _ = watchdog.wait();
        return;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match watchdog.try_wait() {
            Ok(None) if Instant::now() < deadline => {
                #[allow(clippy::disallowed_methods)] // at exit, off the runtime
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(None) => {
                let _ = watchdog.kill();
                let _ = watchdog.try_wait();
                return;
            }
            Ok(Some(_)) | Err(_) => return,
        }
    }
}

/// The watchdog's body: wait for tern to die, then end its commands.
pub fn run(tern_pid: u32) -> std::io::Result<()> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGHUP);
    set.add(Signal::SIGINT);
    set.thread_block().map_err(std::io::Error::from)?;
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
    // tern may have died before the death signal was armed.
    if nix::unistd::getppid().as_raw() as u32 == tern_pid {
        let _ = set.wait();
    }
    let needle = token_prefix(tern_pid).into_bytes();
    tree::kill_tree_blocking(None, None, &needle, Duration::from_millis(300), true);
    Ok(())
}
