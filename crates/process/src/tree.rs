//! Finding and ending every process a command started.
//!
//! A command's processes are found two ways: by parent links from its
//! leader, and by a token in their environment (`TERN_EXEC_TOKEN`), which
//! survives `setsid`, `nohup`, double forks and reparenting. tern is a
//! child subreaper, so orphans of its commands are reparented to it rather
//! than to init, and it reaps the ones it kills.
//!
//! Scanning `/proc` is blocking I/O: it runs in `spawn_blocking`.

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The environment variable that marks a command's processes.
pub const TOKEN_VAR: &str = "TERN_EXEC_TOKEN";

/// Leaders spawned through tokio, which tokio itself reaps; the orphan
/// reaper must leave them alone. Spawning holds this lock so a leader is
/// registered before anyone could see it as a zombie.
pub(crate) static LEADERS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

pub(crate) fn leaders() -> parking_lot::MutexGuard<'static, Vec<i32>> {
    LEADERS.lock()
}

/// Makes this process a child subreaper, so that the orphans of its
/// commands become its children instead of init's. Call once, early.
pub fn become_subreaper() -> std::io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)?;
    SUBREAPER.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// The watchdog's pid (a known child, not a command's leftover).
pub(crate) static WATCHDOG: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Whether a finished command certainly left nothing running: its group is
/// empty, and (as a subreaper, where every orphan becomes our child) this
/// process has no children but command leaders and the watchdog. The
/// cheap check that spares the common case a full tree search.
pub(crate) fn nothing_left(pgid: Option<i32>) -> bool {
    if let Some(g) = pgid
        && killpg(Pid::from_raw(g), None).is_ok()
    {
        return false;
    }
    if !SUBREAPER.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    let Some(kids) = children(std::process::id() as i32) else { return false };
    let watchdog = WATCHDOG.load(std::sync::atomic::Ordering::Relaxed);
    let leaders = leaders();
    kids.iter().all(|k| *k == watchdog || leaders.contains(k))
}

/// Set once this process is a subreaper: its commands' processes then all
/// stay among its descendants, and scanning those is enough.
static SUBREAPER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

struct Proc {
    pid: i32,
    ppid: i32,
    zombie: bool,
    marked: bool,
}

/// Reads one process: parent, state, and (with a needle) whether its
/// environment has a variable starting with it.
#[allow(clippy::disallowed_methods)] // runs in spawn_blocking or a dedicated process
fn read_proc(pid: i32, needle: Option<&[u8]>) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid …": comm may contain spaces and parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let marked = needle.is_some_and(|n| {
        std::fs::read(format!("/proc/{pid}/environ"))
            .map(|env| env.split(|b| *b == 0).any(|var| var.starts_with(n)))
            .unwrap_or(false)
    });
    Some(Proc { pid, ppid, zombie: state == "Z", marked })
}

/// The children of every thread of `pid`, or `None` where the kernel does
/// not offer `/proc/PID/task/TID/children`.
#[allow(clippy::disallowed_methods)] // runs in spawn_blocking
fn children(pid: i32) -> Option<Vec<i32>> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).ok()?;
        out.extend(text.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
    }
    Some(out)
}

/// The children of `pid` that are alive (not zombies), or `None` where
/// the kernel does not say. Blocking.
pub(crate) fn live_children(pid: i32) -> Option<Vec<i32>> {
    let kids = children(pid)?;
    Some(kids.into_iter().filter(|k| read_proc(*k, None).is_some_and(|p| !p.zombie)).collect())
}

/// This process's descendants. As a subreaper, every process its commands
/// start stays among them (orphans are reparented here), so this is cheap
/// and complete; otherwise (or without `children` files) it scans all.
fn scan(needle: Option<&[u8]>) -> Vec<Proc> {
    let me = std::process::id() as i32;
    if !SUBREAPER.load(std::sync::atomic::Ordering::Relaxed) {
        return scan_all(needle);
    }
    let Some(mut frontier) = children(me) else { return scan_all(needle) };
    let mut out = Vec::new();
    while let Some(pid) = frontier.pop() {
        if let Some(p) = read_proc(pid, needle) {
            out.push(p);
        }
        frontier.extend(children(pid).unwrap_or_default());
    }
    out
}

/// Every process on the system (for the watchdog, whose commands were
/// reparented away when tern died).
#[allow(clippy::disallowed_methods)] // runs in spawn_blocking or a dedicated process
fn scan_all(needle: Option<&[u8]>) -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter_map(|pid| read_proc(pid, needle))
        .collect()
}

/// The live processes of a command: descendants of `leader` and every
/// process carrying the token. Never this process.
fn members_in(procs: &[Proc], leader: Option<i32>) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut set: HashSet<i32> = procs.iter().filter(|p| p.marked).map(|p| p.pid).collect();
    if let Some(root) = leader {
        let by_parent: HashMap<i32, Vec<i32>> = procs.iter().fold(HashMap::new(), |mut m, p| {
            m.entry(p.ppid).or_default().push(p.pid);
            m
        });
        let mut frontier = vec![root];
        while let Some(p) = frontier.pop() {
            if set.insert(p) || p == root {
                frontier.extend(by_parent.get(&p).into_iter().flatten().copied());
            }
        }
    }
    let live: HashSet<i32> = procs.iter().filter(|p| !p.zombie).map(|p| p.pid).collect();
    set.retain(|p| *p != me && live.contains(p));
    set.into_iter().collect()
}

pub(crate) fn members(leader: Option<i32>, needle: &[u8], everywhere: bool) -> Vec<i32> {
    let procs = if everywhere { scan_all(Some(needle)) } else { scan(Some(needle)) };
    members_in(&procs, leader)
}

/// Reaps zombies that are this process's children (orphans reparented to
/// the subreaper), except the leaders tokio is waiting for.
pub(crate) fn reap_orphans() {
    let me = std::process::id() as i32;
    let Some(kids) = children(me) else { return };
    let leaders = leaders();
    for pid in kids {
        if leaders.contains(&pid) {
            continue;
        }
        if read_proc(pid, None).is_some_and(|p| p.zombie && p.ppid == me) {
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

fn signal_all(pgid: Option<i32>, pids: &[i32], sig: Signal) {
    if let Some(g) = pgid {
        let _ = killpg(Pid::from_raw(g), sig);
    }
    for p in pids {
        let _ = kill(Pid::from_raw(*p), sig);
    }
}

/// Ends a command's process tree: SIGTERM to all of it, up to `grace` for
/// it to go, SIGKILL to what is left, then reaping. Blocking (it scans
/// `/proc` and sleeps between scans): call from `spawn_blocking`.
pub(crate) fn kill_tree_blocking(
    leader: Option<i32>,
    pgid: Option<i32>,
    needle: &[u8],
    grace: Duration,
    everywhere: bool,
) {
    let found = members(leader, needle, everywhere);
    signal_all(pgid, &found, Signal::SIGTERM);
    let deadline = std::time::Instant::now() + grace;
    let mut left = found;
    while !left.is_empty() && std::time::Instant::now() < deadline {
        #[allow(clippy::disallowed_methods)] // a blocking thread, polling for exits
        std::thread::sleep(Duration::from_millis(10));
        reap_orphans();
        left = members(leader, needle, everywhere);
    }
    if !left.is_empty() || pgid.is_some() {
        signal_all(pgid, &left, Signal::SIGKILL);
    }
    // SIGKILL is asynchronous, and a process caught mid-reparenting can be
    // missed by one scan: keep killing what is found until nothing is.
    for _ in 0..50 {
        reap_orphans();
        let rest = members(leader, needle, everywhere);
        if rest.is_empty() {
            break;
        }
        signal_all(None, &rest, Signal::SIGKILL);
        #[allow(clippy::disallowed_methods)] // a blocking thread
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Ends the tree off the runtime threads.
pub(crate) async fn kill_tree(leader: Option<i32>, pgid: Option<i32>, needle: Vec<u8>, grace: Duration) {
    let _ = tokio::task::spawn_blocking(move || kill_tree_blocking(leader, pgid, &needle, grace, false)).await;
}

/// How long processes a finished command left behind get after SIGTERM.
const LEFTOVER_GRACE: Duration = Duration::from_millis(100);

/// A command's processes, ended on every path out.
pub(crate) struct Tree {
    pub(crate) leader: Option<i32>,
    pub(crate) needle: Vec<u8>,
    pub(crate) done: bool,
}

impl Tree {
    /// SIGTERM to every process of the command, `grace`, SIGKILL, reap.
    pub(crate) async fn end(&mut self, grace: Duration) {
        kill_tree(self.leader, self.leader, self.needle.clone(), grace).await;
        self.done = true;
    }

    /// After the command exited: ends what it left running, if anything.
    pub(crate) async fn finish(&mut self) {
        if self.done {
            return;
        }
        let pgid = self.leader;
        let clean = tokio::task::spawn_blocking(move || nothing_left(pgid)).await.unwrap_or(false);
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
            leaders().retain(|p| *p != pid);
        }
        if self.done {
            return;
        }
        // Dropped mid-run (turn cancelled, session closed, tern exiting):
        // kill the group now, and find the escapees on the cleanup thread
        // (no await here).
        if let Some(pgid) = self.leader {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        crate::cleanup::submit(crate::cleanup::Job { leader: self.leader, needle: std::mem::take(&mut self.needle) });
    }
}
