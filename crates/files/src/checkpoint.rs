//! Checkpoints: the bytes a turn's first change to each file replaced,
//! kept on disk so the turn can be undone (without git) even after tern
//! has exited.
//!
//! Layout under a session's checkpoint directory:
//! `turn-0001/manifest.json` and `turn-0001/<n>.orig` (original bytes).

use crate::{Before, Change, FilesError, write};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One file a turn changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub path: PathBuf,
    /// File holding the original bytes; `None` when the turn created the file.
    pub original: Option<String>,
    pub mode: Option<u32>,
    /// SHA-256 of what the turn left (`None`: the turn deleted the file).
    pub after: Option<String>,
    /// Why the original was not kept (undo then leaves the file as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_kept: Option<NotKept>,
}

/// Why a checkpoint did not keep a file's original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotKept {
    /// Larger than the limit (`[storage] checkpoint_max_file_mb`).
    TooLarge { bytes: u64 },
    /// Outside the workspace (a declared writable root).
    OutsideWorkspace,
}

impl std::fmt::Display for NotKept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotKept::TooLarge { bytes } => write!(f, "too large to keep ({:.1} MB)", *bytes as f64 / 1e6),
            NotKept::OutsideWorkspace => f.write_str("outside the workspace"),
        }
    }
}

/// What checkpoints may keep: only files inside `workspace`, and none
/// larger than `max_file_bytes`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub workspace: PathBuf,
    pub max_file_bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Manifest {
    turn_id: String,
    files: Vec<Entry>,
}

struct Current {
    turn_id: String,
    /// Created on the first change of the turn.
    dir: Option<PathBuf>,
    manifest: Manifest,
}

/// The checkpoints of one session (none are kept when `root` is `None`,
/// as for `tern apply-patch` outside a session).
pub struct Checkpoints {
    root: Option<PathBuf>,
    limits: Option<Limits>,
    current: Mutex<Option<Current>>,
}

fn ck(e: impl std::error::Error + Send + Sync + 'static) -> FilesError {
    FilesError::Checkpoint(Box::new(e))
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Checkpoints {
    pub fn new(root: Option<PathBuf>, limits: Option<Limits>) -> Self {
        Checkpoints { root, limits, current: Mutex::new(None) }
    }

    /// Why `path`'s original (of `len` bytes) is not kept, if it is not.
    fn not_kept(&self, path: &Path, len: usize) -> Option<NotKept> {
        let limits = self.limits.as_ref()?;
        if !path.starts_with(&limits.workspace) {
            Some(NotKept::OutsideWorkspace)
        } else if len as u64 > limits.max_file_bytes {
            Some(NotKept::TooLarge { bytes: len as u64 })
        } else {
            None
        }
    }

    pub(crate) fn begin_turn(&self, turn_id: &str) {
        *self.current.lock() = Some(Current { turn_id: turn_id.into(), dir: None, manifest: Manifest::default() });
    }

    /// Keeps the original of each path not yet recorded in this turn, and
    /// what `ops` will leave in each: called before the files are written,
    /// so that after a crash at any point each file is either its original
    /// or its recorded "after", both of which undo accepts.
    #[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
    pub(crate) fn record(&self, before: &[Before], ops: &[Change]) -> Result<(), FilesError> {
        let Some(root) = &self.root else { return Ok(()) };
        let mut guard = self.current.lock();
        let cur = guard.get_or_insert_with(|| Current {
            turn_id: "outside-a-turn".into(),
            dir: None,
            manifest: Manifest::default(),
        });
        let new: Vec<_> = before.iter().filter(|(p, _)| cur.manifest.files.iter().all(|e| &e.path != p)).collect();
        let dir = match &cur.dir {
            Some(d) => d.clone(),
            None if new.is_empty() => return Ok(()),
            None => {
                let d = root.join(format!("turn-{:04}", next_seq(root)));
                std::fs::create_dir_all(&d).map_err(ck)?;
                cur.manifest.turn_id = cur.turn_id.clone();
                cur.dir = Some(d.clone());
                d
            }
        };
        for (path, original) in new {
            let n = cur.manifest.files.len();
            let not_kept = self.not_kept(path, original.as_ref().map_or(0, |(b, _)| b.len()));
            let (original, mode) = match original {
                Some(_) if not_kept.is_some() => (None, None),
                Some((bytes, mode)) => {
                    let name = format!("{n}.orig");
                    write::atomic_write(&dir.join(&name), bytes, Some(0o600))?;
                    (Some(name), Some(*mode))
                }
                // A file the turn creates: undo removes it (nothing is
                // copied), unless it is outside the workspace.
                None => (None, None),
            };
            cur.manifest.files.push(Entry { path: path.clone(), original, mode, after: None, not_kept });
        }
        for op in ops {
            if let Some(e) = cur.manifest.files.iter_mut().find(|e| e.path == op.path()) {
                e.after = match op {
                    Change::Write { bytes, .. } => Some(sha(bytes)),
                    Change::Delete { .. } => None,
                };
            }
        }
        save(&dir, &cur.manifest)
    }
}

fn save(dir: &Path, m: &Manifest) -> Result<(), FilesError> {
    let json = serde_json::to_vec_pretty(m).map_err(ck)?;
    write::atomic_write(&dir.join("manifest.json"), &json, Some(0o600))
}

#[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
fn turn_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(root).map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default();
    dirs.retain(|d| {
        d.file_name().is_some_and(|n| n.to_string_lossy().starts_with("turn-")) && d.join("manifest.json").is_file()
    });
    dirs.sort();
    dirs
}

fn next_seq(root: &Path) -> usize {
    turn_dirs(root)
        .last()
        .and_then(|d| d.file_name()?.to_string_lossy().strip_prefix("turn-")?.parse::<usize>().ok())
        .map_or(1, |n| n + 1)
}

#[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
fn load(dir: &Path) -> Result<Manifest, FilesError> {
    let bytes = std::fs::read(dir.join("manifest.json")).map_err(ck)?;
    serde_json::from_slice(&bytes).map_err(ck)
}

/// What an undo (or revert) did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// Put back its original bytes.
    Restored(PathBuf),
    /// Removed a file the turn had created.
    Removed(PathBuf),
    /// Left as it is: its original was not kept.
    NotKept(PathBuf, NotKept),
}

impl Restored {
    /// The file it is about.
    pub fn path(&self) -> &Path {
        match self {
            Restored::Restored(p) | Restored::Removed(p) | Restored::NotKept(p, _) => p,
        }
    }
}

/// Undoes the file changes of the last `turns` turns recorded under `root`,
/// newest first. Refuses (changing nothing) when a file was changed after
/// the turn, unless `force`. The undone turns' checkpoints are removed.
#[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
pub fn undo(root: &Path, turns: usize, force: bool) -> Result<Vec<Restored>, FilesError> {
    let dirs = turn_dirs(root);
    if dirs.is_empty() {
        return Err(FilesError::Conflict("there are no file changes to undo in this session".into()));
    }
    let chosen: Vec<PathBuf> = dirs.iter().rev().take(turns.max(1)).cloned().collect();
    let manifests: Vec<(PathBuf, Manifest)> =
        chosen.iter().map(|d| load(d).map(|m| (d.clone(), m))).collect::<Result<_, _>>()?;
    if !force {
        // The newest turn's "after" is what should be on disk now, or its
        // original when the change never landed (a crash or a failed
        // write): restoring that loses nothing.
        let mut seen: Vec<&Path> = Vec::new();
        let mut conflicts = Vec::new();
        for (dir, m) in &manifests {
            for e in m.files.iter().filter(|e| e.not_kept.is_none()) {
                if seen.contains(&e.path.as_path()) {
                    continue;
                }
                seen.push(&e.path);
                let now = std::fs::read(&e.path).ok().map(|b| sha(&b));
                let original = match &e.original {
                    Some(name) => Some(sha(&std::fs::read(dir.join(name)).map_err(ck)?)),
                    None => None,
                };
                if now != e.after && now != original {
                    conflicts.push(e.path.display().to_string());
                }
            }
        }
        if !conflicts.is_empty() {
            return Err(FilesError::Conflict(format!(
                "these files changed after tern edited them, so undo would lose that work: {}; use --force to undo anyway",
                conflicts.join(", ")
            )));
        }
    }
    let mut done = Vec::new();
    for (dir, m) in &manifests {
        for e in m.files.iter().rev() {
            done.push(restore(dir, e)?);
        }
        std::fs::remove_dir_all(dir).map_err(ck)?;
    }
    Ok(done)
}

#[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
fn restore(dir: &Path, e: &Entry) -> Result<Restored, FilesError> {
    if let Some(why) = e.not_kept {
        return Ok(Restored::NotKept(e.path.clone(), why));
    }
    match &e.original {
        Some(name) => {
            let bytes = std::fs::read(dir.join(name)).map_err(ck)?;
            write::atomic_write(&e.path, &bytes, e.mode)?;
            Ok(Restored::Restored(e.path.clone()))
        }
        None => {
            match std::fs::remove_file(&e.path) {
                Ok(()) => {}
                // Never created (its directory may not even be one).
                Err(err) if matches!(err.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {}
                Err(err) => return Err(ck(err)),
            }
            Ok(Restored::Removed(e.path.clone()))
        }
    }
}

/// Every file the session changed: its bytes before the session's first
/// change (`None`: the session created it) and its bytes now.
pub struct SessionChange {
    pub path: PathBuf,
    pub before: Option<Vec<u8>>,
    pub now: Option<Vec<u8>>,
    /// The checkpoint holding `before`, for [`revert`].
    entry: (PathBuf, Entry),
}

/// The session's changes, oldest original first, one per path.
#[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
pub fn session_changes(root: &Path) -> Result<Vec<SessionChange>, FilesError> {
    let mut out: Vec<SessionChange> = Vec::new();
    for dir in turn_dirs(root) {
        let m = load(&dir)?;
        // A file whose original was not kept has no "before" to show.
        for e in m.files.into_iter().filter(|e| e.not_kept.is_none()) {
            if out.iter().any(|c| c.path == e.path) {
                continue;
            }
            let before = match &e.original {
                Some(name) => Some(std::fs::read(dir.join(name)).map_err(ck)?),
                None => None,
            };
            let now = std::fs::read(&e.path).ok();
            out.push(SessionChange { path: e.path.clone(), before, now, entry: (dir.clone(), e) });
        }
    }
    out.retain(|c| c.before != c.now);
    Ok(out)
}

/// Puts one file back as it was before the session changed it.
pub fn revert(change: &SessionChange) -> Result<Restored, FilesError> {
    restore(&change.entry.0, &change.entry.1)
}
