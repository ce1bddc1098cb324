//! Keeping tern's own data bounded (`[storage]`): sessions, each with its
//! checkpoints and saved command output, are removed when untouched for
//! too long or, least recently used first, while all of them together
//! are over the size cap. A session in use (its log is locked by the
//! session that writes it) and the ones the caller names are never
//! removed. Rotated logs follow the same age limit; the log's own size is
//! capped by its rotation. Blocking: call from `spawn_blocking`.

#![allow(clippy::disallowed_methods)] // blocking by design (see above): runs in spawn_blocking

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tern_config::StorageConfig;

/// Why a session was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Untouched for longer than `keep_days`.
    Old,
    /// The stores were over `max_mb`, and it was the least recently used.
    OverCap,
}

/// One session removed (or, in a dry run, to be removed).
#[derive(Debug, Clone)]
pub struct Removed {
    pub id: String,
    /// Log, checkpoints and saved output.
    pub bytes: u64,
    pub last_used: SystemTime,
    pub why: Why,
}

/// What a pruning did.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    pub removed: Vec<Removed>,
    /// Sessions left, and their bytes.
    pub kept: usize,
    pub kept_bytes: u64,
    /// Sessions over a limit that were left because they are in use.
    pub in_use: usize,
}

/// A session's files: found by its log, or by leftover directories.
struct Unit {
    id: String,
    log: Option<PathBuf>,
    bytes: u64,
    last_used: SystemTime,
}

/// Applies `policy` to the stores under `data_dir`, sparing `keep_ids`;
/// `dry_run` only reports.
pub fn prune(data_dir: &Path, policy: &StorageConfig, keep_ids: &[&str], dry_run: bool) -> Pruned {
    let now = SystemTime::now();
    let mut units = units(data_dir);
    // Least recently used first.
    units.sort_by_key(|u| u.last_used);
    let mut total: u64 = units.iter().map(|u| u.bytes).sum();
    let mut out = Pruned::default();
    for u in units {
        let age = now.duration_since(u.last_used).unwrap_or(Duration::ZERO);
        let why = if policy.keep.is_some_and(|keep| age > keep) {
            Some(Why::Old)
        } else if total > policy.max_bytes {
            Some(Why::OverCap)
        } else {
            None
        };
        let spared = keep_ids.contains(&u.id.as_str());
        // Held while the files go, so no session can open the log meanwhile.
        let claim = match why {
            Some(_) if !spared => claim(u.log.as_deref()),
            _ => None,
        };
        match (why, claim) {
            (Some(why), Some(_held)) => {
                if !dry_run {
                    remove(data_dir, &u);
                }
                total -= u.bytes;
                out.removed.push(Removed { id: u.id, bytes: u.bytes, last_used: u.last_used, why });
            }
            (why, _) => {
                out.in_use += usize::from(why.is_some() && !spared);
                out.kept += 1;
                out.kept_bytes += u.bytes;
            }
        }
    }
    prune_logs(&data_dir.join("logs"), policy, now, dry_run);
    out
}

/// Every session with its size and last use: by log file, plus
/// checkpoint and spool directories whose log is gone.
fn units(data_dir: &Path) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    for log in entries(&crate::log::sessions_dir(data_dir)) {
        let Some(id) = session_id(&log) else { continue };
        let Ok(meta) = std::fs::metadata(&log) else { continue };
        let last_used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        units.push(Unit { id: id.to_string(), log: Some(log.clone()), bytes: meta.len(), last_used });
    }
    for store in ["checkpoints", "spool"] {
        for dir in entries(&data_dir.join(store)) {
            let Some(id) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
            let (bytes, newest) = tree_size(&dir);
            match units.iter_mut().find(|u| u.id == id) {
                Some(u) => {
                    u.bytes += bytes;
                    u.last_used = u.last_used.max(newest);
                }
                None => units.push(Unit { id, log: None, bytes, last_used: newest }),
            }
        }
    }
    units
}

/// The id in a log's name (`<timestamp>-<id>.jsonl`; ids have no dots).
fn session_id(log: &Path) -> Option<&str> {
    let name = log.file_name()?.to_str()?.strip_suffix(".jsonl")?;
    // The timestamp is `YYYY-MM-DDTHH-MM-SS`: 19 characters, then `-`.
    name.get(20..).filter(|id| !id.is_empty())
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default()
}

/// Bytes under `dir`, and the newest modification in it.
fn tree_size(dir: &Path) -> (u64, SystemTime) {
    let mut bytes = 0;
    let mut newest = std::fs::metadata(dir).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for p in entries(&d) {
            let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
            if m.is_dir() {
                stack.push(p);
            } else {
                bytes += m.len();
            }
            newest = newest.max(m.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        }
    }
    (bytes, newest)
}

/// The session's log locked for removal (`Some(None)` when it has no
/// log), or `None` when a running session holds it (the session log's
/// writer keeps a shared lock on it).
fn claim(log: Option<&Path>) -> Option<Option<std::fs::File>> {
    let Some(log) = log else { return Some(None) };
    let Ok(f) = std::fs::File::open(log) else { return Some(None) };
    f.try_lock().ok().map(|()| Some(f))
}

fn remove(data_dir: &Path, u: &Unit) {
    let mut paths: Vec<PathBuf> = u.log.iter().cloned().collect();
    paths.push(crate::checkpoint_dir(data_dir, &u.id));
    paths.push(data_dir.join("spool").join(&u.id));
    for p in paths {
        let r = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %p.display(), "pruning an old session: {e}"),
        }
    }
}

/// Rotated logs (`tern.log.1` …) older than the age limit.
fn prune_logs(dir: &Path, policy: &StorageConfig, now: SystemTime, dry_run: bool) {
    let Some(keep) = policy.keep else { return };
    for p in entries(dir) {
        let rotated = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("tern.log."));
        let old = std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or(Duration::ZERO) > keep);
        if rotated && old && !dry_run {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Saved command output of sessions untouched for `keep` is removed
/// sooner than the sessions themselves (it is the bulk, and only useful
/// while a session is fresh).
pub(crate) fn prune_spools(root: &Path, keep: Duration) {
    for dir in entries(root) {
        let old = std::fs::metadata(&dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > keep);
        if old && let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(path = %dir.display(), "pruning old command output: {e}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn old_spools_are_pruned() {
        let root = tempfile::tempdir().unwrap();
        let (old, fresh) = (root.path().join("old-session"), root.path().join("new-session"));
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("x.out"), "x").unwrap();
        std::fs::create_dir_all(&fresh).unwrap();
        let status = std::process::Command::new("touch").args(["-d", "10 days ago"]).arg(&old).status().unwrap();
        assert!(status.success());
        prune_spools(root.path(), Duration::from_secs(7 * 24 * 3600));
        assert!(!old.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn ids_from_log_names() {
        let p = Path::new("/d/sessions/2026-12-03T11-07-23-01a23b96-6c66-7675-84de-36be9b1d6e95.jsonl");
        assert_eq!(session_id(p), Some("01a23b96-6c66-7675-84de-36be9b1d6e95"));
        assert_eq!(session_id(Path::new("/d/sessions/x.jsonl")), None);
        assert_eq!(session_id(Path::new("/d/sessions/notes.txt")), None);
    }
}
