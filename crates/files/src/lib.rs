//! Safe changes to workspace files.
//!
//! Every tool that writes goes through [`FileState::commit`]: the planned
//! changes are checkpointed (original bytes kept on disk, so a turn can be
//! undone without git), then written through [`write::atomic_write`] (temp
//! file in the same directory, fsync, rename, permissions kept). If one
//! write fails, the ones before it are rolled back. Read stamps let tools
//! refuse to edit a file that changed since the model read it.
//!
//! This crate is synchronous by design: callers run it in `spawn_blocking`
//! or outside the async runtime. Each function that blocks carries a local
//! `#[allow(clippy::disallowed_methods)]` saying so (the workspace lint
//! that keeps blocking calls off runtime threads).

pub mod checkpoint;
pub mod diff;
pub mod text;
pub mod write;

use checkpoint::Checkpoints;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Errors from file changes, written for the model and the user.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error(
        "{0} changed on disk since you last read it; read it again with read_file and redo the edit against its current contents"
    )]
    Stale(String),
    #[error(
        "{0} is read-only (nobody may write it); tern will not change it. If it should change, make it writable first (chmod u+w)"
    )]
    ReadOnly(String),
    #[error(
        "{0} is not valid UTF-8 text (it may be Latin-1, UTF-16 or binary); tern will not edit it as text, which would corrupt its bytes"
    )]
    NotText(String),
    #[error("cannot write {path}: {source}{hint}")]
    Write {
        path: String,
        source: std::io::Error,
        /// What it means for the user, when tern knows (a full disk).
        hint: &'static str,
    },
    #[error("checkpoint: {0}")]
    Checkpoint(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Conflict(String),
}

impl FilesError {
    /// A failed write of `path`, explained where tern knows what it means.
    pub fn write(path: &Path, source: std::io::Error) -> Self {
        let hint = match source.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                " (the disk is full; nothing was changed: free some space and try again)"
            }
            std::io::ErrorKind::ReadOnlyFilesystem => " (the file system is read-only; nothing was changed)",
            _ => "",
        };
        FilesError::Write { path: path.display().to_string(), source, hint }
    }
}

/// What a file looked like when the model last read (or wrote) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    #[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp { len: m.len(), modified: m.modified().ok() })
    }
}

/// A path and what was there before a change: bytes and permission bits,
/// or `None` when it did not exist.
pub(crate) type Before = (PathBuf, Option<(Vec<u8>, u32)>);

/// One planned change, applied in order.
#[derive(Debug, Clone)]
pub enum Change {
    /// Create or replace `path` with `bytes`; `mode` for new files (a
    /// replaced file keeps its own).
    Write {
        path: PathBuf,
        bytes: Vec<u8>,
        mode: Option<u32>,
    },
    Delete {
        path: PathBuf,
    },
}

impl Change {
    pub fn path(&self) -> &Path {
        match self {
            Change::Write { path, .. } | Change::Delete { path } => path,
        }
    }
}

/// A session's file bookkeeping: read stamps and checkpoints.
pub struct FileState {
    stamps: Mutex<HashMap<PathBuf, Stamp>>,
    checkpoints: Checkpoints,
}

impl FileState {
    /// Checkpoints go under `checkpoint_dir` (one per session); `None`
    /// keeps none.
    pub fn new(checkpoint_dir: Option<PathBuf>) -> Self {
        FileState { stamps: Mutex::new(HashMap::new()), checkpoints: Checkpoints::new(checkpoint_dir, None) }
    }

    /// Like [`FileState::new`], keeping in checkpoints only what `limits`
    /// allow.
    pub fn with_limits(checkpoint_dir: PathBuf, limits: checkpoint::Limits) -> Self {
        FileState {
            stamps: Mutex::new(HashMap::new()),
            checkpoints: Checkpoints::new(Some(checkpoint_dir), Some(limits)),
        }
    }

    /// Starts a new turn: the next change to a file checkpoints it again.
    pub fn begin_turn(&self, turn_id: &str) {
        self.checkpoints.begin_turn(turn_id);
    }

    /// Records that the model has seen `path` as it is now.
    pub fn stamp_read(&self, path: &Path) {
        if let Some(s) = Stamp::of(path) {
            self.stamps.lock().insert(path.to_path_buf(), s);
        }
    }

    /// Whether this session's tools have read (or written) `path`.
    pub fn was_read(&self, path: &Path) -> bool {
        self.stamps.lock().contains_key(path)
    }

    /// Refuses a change to a file that changed since the model read it.
    pub fn check_fresh(&self, path: &Path, shown: &str) -> Result<(), FilesError> {
        let known = self.stamps.lock().get(path).copied();
        match known {
            Some(stamp) if Stamp::of(path) != Some(stamp) => Err(FilesError::Stale(shown.to_string())),
            _ => Ok(()),
        }
    }

    /// Checkpoints and applies `ops` in order. On failure, changes already
    /// made by this call are undone and the error is returned.
    pub fn commit(&self, ops: &[Change]) -> Result<(), FilesError> {
        // Replacing a file goes through a rename, which its own mode does
        // not stop: a file the user made read-only is refused here.
        if let Some(p) = ops.iter().map(Change::path).find(|p| write::mode_of(p).is_some_and(|m| m & 0o222 == 0)) {
            return Err(FilesError::ReadOnly(p.display().to_string()));
        }
        let mut before: Vec<Before> = Vec::new();
        for op in ops {
            let p = op.path();
            if before.iter().all(|(q, _)| q != p) {
                before.push((p.to_path_buf(), write::read_with_mode(p)));
            }
        }
        self.checkpoints.record(&before, ops)?;
        for (done, op) in ops.iter().enumerate() {
            if let Err(e) = apply(op) {
                rollback(&ops[..done], &before);
                return Err(e);
            }
        }
        let mut stamps = self.stamps.lock();
        for op in ops {
            match op {
                Change::Write { path, .. } => {
                    if let Some(s) = Stamp::of(path) {
                        stamps.insert(path.clone(), s);
                    }
                }
                Change::Delete { path } => {
                    stamps.remove(path);
                }
            }
        }
        drop(stamps);
        Ok(())
    }
}

#[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
fn apply(op: &Change) -> Result<(), FilesError> {
    match op {
        Change::Write { path, bytes, mode } => write::atomic_write(path, bytes, *mode),
        Change::Delete { path } => std::fs::remove_file(path).map_err(|e| FilesError::write(path, e)),
    }
}

/// Puts back what `ops` changed, from the bytes read before them.
#[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
fn rollback(ops: &[Change], before: &[Before]) {
    for op in ops.iter().rev() {
        let Some((path, original)) = before.iter().find(|(p, _)| p == op.path()) else { continue };
        let _ = match original {
            Some((bytes, mode)) => write::atomic_write(path, bytes, Some(*mode)),
            None => std::fs::remove_file(path).map_err(|e| FilesError::write(path, e)),
        };
    }
}
