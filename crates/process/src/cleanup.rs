//! The one thread that ends the trees of commands dropped mid-run (a
//! cancelled turn, a closed session). A `Drop` cannot await, and scanning
//! `/proc` blocks, so drops hand the work here; the binary ends the thread
//! at exit with [`finish`], after the last command is gone.

use crate::tree;
use parking_lot::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A dropped command: its leader and its token.
pub(crate) struct Job {
    pub(crate) leader: Option<i32>,
    pub(crate) needle: Vec<u8>,
}

struct Cleaner {
    tx: SyncSender<Job>,
    thread: JoinHandle<()>,
}

static CLEANER: Mutex<Option<Cleaner>> = Mutex::new(None);

/// Queues `job`, starting the thread on first use. When the queue is full
/// (or the thread cannot start), the caller does the work itself.
pub(crate) fn submit(job: Job) {
    let job = {
        let mut cleaner = CLEANER.lock();
        if cleaner.is_none() {
            let (tx, rx) = sync_channel(64);
            if let Ok(thread) = std::thread::Builder::new().name("tern-cleanup".into()).spawn(move || serve(rx)) {
                *cleaner = Some(Cleaner { tx, thread });
            }
        }
        match cleaner.as_ref().map(|c| c.tx.try_send(job)) {
            Some(Ok(())) => return,
            Some(Err(TrySendError::Full(job) | TrySendError::Disconnected(job))) => job,
            None => return,
        }
    };
    tree::kill_tree_blocking(job.leader, job.leader, &job.needle, Duration::ZERO, false);
}

fn serve(rx: Receiver<Job>) {
    for job in rx {
        tree::kill_tree_blocking(job.leader, job.leader, &job.needle, Duration::ZERO, false);
    }
}

/// Ends the cleanup thread once its queue is done, waiting at most
/// `timeout`. Call at exit, when no command can be dropped any more.
pub fn finish(timeout: Duration) {
    let Some(Cleaner { tx, thread }) = CLEANER.lock().take() else { return };
    drop(tx);
    if !join_by(thread, Instant::now() + timeout) {
        tracing::warn!("the cleanup thread did not finish within {timeout:?}");
    }
}

/// Joins `thread` if it finishes by `deadline` (polling: std has no timed
/// join); false if it is still running then (a panic counts as finished). Blocking: at exit, off the
/// runtime.
pub(crate) fn join_by(thread: JoinHandle<()>, deadline: Instant) -> bool {
    while !thread.is_finished() && Instant::now() < deadline {
        #[allow(clippy::disallowed_methods)] // at exit, off the runtime
        std::thread::sleep(Duration::from_millis(1));
    }
    if !thread.is_finished() {
        return false;
    }
    let _ = thread.join();
    true
}
