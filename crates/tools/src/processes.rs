//! Interactive processes that outlive one tool call: started by
//! `exec_command` (with `tty` or `yield_time_ms`), continued by
//! `write_stdin`. The table belongs to the session; dropping it ends every
//! process in it.

use crate::ToolError;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tern_process::Process;

/// At most this many processes run at once per session.
pub const MAX_PROCESSES: usize = 8;
/// A process nobody has touched for this long is ended.
pub const IDLE_LIMIT: Duration = Duration::from_secs(30 * 60);

/// A shared handle to one running process. The async mutex is held across
/// the awaits of one call (collect, write), which is what it is for.
pub type Handle = Arc<tokio::sync::Mutex<Process>>;

struct Entry {
    process: Handle,
    command: String,
    cwd: String,
    last_used: Instant,
}

/// The session's running processes, by id.
#[derive(Default)]
pub struct Processes {
    inner: Mutex<(u32, HashMap<u32, Entry>)>,
}

impl Processes {
    /// Keeps `process` running under a new id.
    pub(crate) fn insert(&self, process: Process, command: &str, cwd: &str) -> Result<u32, ToolError> {
        self.reap_idle();
        let mut g = self.inner.lock();
        if g.1.len() >= MAX_PROCESSES {
            let running: Vec<String> = g.1.iter().map(|(id, e)| format!("{id}: {}", e.command)).collect();
            return Err(ToolError::Failed(format!(
                "{MAX_PROCESSES} processes are already running ({}); end one (write_stdin with \"\\u0003\" or an exit command) before starting another",
                running.join("; ")
            )));
        }
        g.0 += 1;
        let id = g.0;
        g.1.insert(
            id,
            Entry {
                process: Arc::new(tokio::sync::Mutex::new(process)),
                command: command.into(),
                cwd: cwd.into(),
                last_used: Instant::now(),
            },
        );
        Ok(id)
    }

    /// The process `id`, with its command line and working directory.
    pub(crate) fn get(&self, id: u32) -> Result<(Handle, String, String), ToolError> {
        let mut g = self.inner.lock();
        let known: Vec<u32> = g.1.keys().copied().collect();
        match g.1.get_mut(&id) {
            Some(e) => {
                e.last_used = Instant::now();
                Ok((e.process.clone(), e.command.clone(), e.cwd.clone()))
            }
            None => Err(ToolError::InvalidArgs(format!(
                "no running process has session_id {id} (running: {known:?}); it may have exited or been closed"
            ))),
        }
    }

    /// Forgets a process (it has exited); dropping the last handle ends it.
    pub(crate) fn remove(&self, id: u32) {
        self.inner.lock().1.remove(&id);
    }

    /// Ends processes idle longer than [`IDLE_LIMIT`].
    pub fn reap_idle(&self) {
        let mut g = self.inner.lock();
        g.1.retain(|_, e| e.last_used.elapsed() < IDLE_LIMIT);
    }

    /// How many processes are running.
    pub fn len(&self) -> usize {
        self.inner.lock().1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
