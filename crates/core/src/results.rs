//! The pipeline's memory of tool results: a cache that answers a repeated
//! read without running it, and "unchanged since" for a result the model
//! already has, so a re-read costs a line instead of the bytes again.
//!
//! What may be served from the cache: a file read while the file's content
//! hash is unchanged (not its mtime: an edit within the same second keeps
//! it); searches and listings, and MCP tools that only read and say they
//! are idempotent, until anything that may change the workspace runs (or
//! a new turn begins: the user may have edited files meanwhile), bounded
//! by a time to live. Only new results are ever shortened, never ones
//! already sent (that would break the provider's prompt cache), and never
//! across a compaction (the earlier copy may be gone from the context).

use parking_lot::Mutex;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tern_cache::{Cache, Limits, Weigh};
use tern_tools::{Tool, ToolKind, Workspace};

/// Results above this size are kept in a file beside the session's spool
/// rather than in memory; the file goes when the entry does.
const INLINE_MAX: usize = 16 * 1024;
const LIMITS: Limits = Limits { entries: 512, bytes: 8 << 20, ttl: Duration::from_secs(120) };

/// Reads of a file are "whole" (any later range of it is already known)
/// when the file is this small and was read from its first line in full.
const WHOLE_FILE_LINES: usize = 2000;
const WHOLE_FILE_BYTES: usize = 32 * 1024;

/// A call, by tool and arguments with their keys sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    tool: String,
    args: String,
    /// A file read (kept across mutations: its content hash decides).
    file: bool,
}

/// How a tool's results may be reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// Never (the tool changes things, or its answer may change by itself).
    No,
    /// A file read: valid while the file's content hash is the same.
    /// `path` is absolute and normalized (`./a.txt` and `a.txt` are one
    /// file); `shown` is as the model wrote it.
    File { path: PathBuf, shown: String, offset: usize, limit: Option<usize> },
    /// A search or listing, or an idempotent read-only MCP tool: valid
    /// until something may have changed the workspace.
    UntilMutation,
}

/// A file's content hash, and whether a read from its start sees it whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    hash: [u8; 32],
    small: bool,
}

enum Body {
    Inline(String),
    /// Deleted by the cache's eviction observer.
    Spooled(PathBuf),
}

pub(crate) struct Entry {
    body: Body,
    file: Option<FileStamp>,
    /// The mutation count when it was stored.
    generation: u64,
}

impl Weigh for Entry {
    fn weight(&self) -> usize {
        match &self.body {
            Body::Inline(s) => s.len(),
            Body::Spooled(p) => p.as_os_str().len() + 64,
        }
    }
}

/// What the model was last given for a call (this side of the last compaction).
#[derive(Debug, Clone)]
struct Seen {
    hash: [u8; 32],
    call_id: String,
    step: u64,
}

#[derive(Default)]
struct State {
    /// Bumped by every call that may change the workspace.
    generation: u64,
    /// Tool calls so far (the step an unchanged result points back to).
    steps: u64,
    seen: HashMap<Key, Seen>,
    /// Files the model has read whole, with their content hash then.
    whole: HashMap<PathBuf, (FileStamp, Seen)>,
}

/// A session's result cache and what the model has seen.
pub(crate) struct Results {
    cache: Cache<Key, Entry>,
    state: Mutex<State>,
    dir: PathBuf,
    /// Files of evicted entries, deleted by [`Results::sweep`] (the
    /// cache's observer runs in sync code and starts no task of its own).
    doomed: Arc<Mutex<Vec<PathBuf>>>,
}

impl Results {
    /// Large results are kept under `dir` (the session's spool directory).
    pub(crate) fn new(dir: PathBuf) -> Results {
        let doomed: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
        let observer = doomed.clone();
        let cache = Cache::new(LIMITS).observe(move |_, entry: &Arc<Entry>, _| {
            if let Body::Spooled(path) = &entry.body {
                observer.lock().push(path.clone());
            }
        });
        Results { cache, state: Mutex::default(), dir, doomed }
    }

    /// Deletes the files of entries evicted since the last sweep, off the
    /// runtime's threads.
    pub(crate) async fn sweep(&self) {
        let paths = std::mem::take(&mut *self.doomed.lock());
        if paths.is_empty() {
            return;
        }
        #[allow(clippy::disallowed_methods)] // in spawn_blocking
        let remove = tokio::task::spawn_blocking(move || {
            for path in paths {
                let _ = std::fs::remove_file(path);
            }
        });
        let _ = remove.await;
    }

    /// How `tool`'s call with `args` may be reused (`root`: the workspace).
    pub(crate) fn reuse(tool: &dyn Tool, name: &str, args: &Value, root: &Path) -> Reuse {
        if tool.mutates() {
            return Reuse::No;
        }
        match tool.kind() {
            ToolKind::Read => {
                let (_, view) = tern_tools::claude_view(name, args);
                let Some(path) = view.get("file_path").and_then(Value::as_str) else { return Reuse::No };
                let number = |k: &str| view.get(k).and_then(Value::as_u64).map(|n| n as usize);
                Reuse::File {
                    path: tern_tools::normalize(&root.join(path)),
                    shown: path.to_string(),
                    offset: number("offset").unwrap_or(1).max(1),
                    limit: number("limit"),
                }
            }
            ToolKind::Search => Reuse::UntilMutation,
            ToolKind::Mcp if tool.idempotent() => Reuse::UntilMutation,
            _ => Reuse::No,
        }
    }

    /// The cached result of this call, if it is still valid.
    pub(crate) async fn lookup(&self, key: &Key, reuse: &Reuse, stamp: Option<FileStamp>) -> Option<String> {
        let entry = self.cache.get(key)?;
        let valid = match reuse {
            Reuse::No => false,
            Reuse::File { .. } => stamp.is_some() && entry.file == stamp,
            Reuse::UntilMutation => entry.generation == self.state.lock().generation,
        };
        if !valid {
            return None;
        }
        match &entry.body {
            Body::Inline(s) => Some(s.clone()),
            Body::Spooled(path) => tokio::fs::read_to_string(path).await.ok(),
        }
    }

    /// Keeps a successful result for next time.
    pub(crate) async fn store(&self, key: Key, content: &str, stamp: Option<FileStamp>) {
        let generation = self.state.lock().generation;
        let body = if content.len() <= INLINE_MAX {
            Body::Inline(content.to_string())
        } else {
            let path = self.dir.join(format!("cache-{}.out", hex(&digest(content.as_bytes()))[..16].to_owned()));
            let write = async {
                tokio::fs::create_dir_all(&self.dir).await?;
                tokio::fs::write(&path, content).await
            };
            if let Err(e) = write.await {
                tracing::debug!("not caching a result: {e}");
                return;
            }
            Body::Spooled(path)
        };
        self.cache.insert(key, Entry { body, file: stamp, generation });
    }

    /// Counts a tool call: its step number.
    pub(crate) fn step(&self) -> u64 {
        let mut state = self.state.lock();
        state.steps += 1;
        state.steps
    }

    /// A successful `content` (of step `step`) the model already has from
    /// an earlier call (same tool and arguments, or a whole read of the
    /// same unchanged file) comes back as a short note pointing there.
    pub(crate) fn dedupe(
        &self,
        key: &Key,
        reuse: &Reuse,
        stamp: Option<FileStamp>,
        (step, call_id): (u64, &str),
        content: &str,
    ) -> Option<String> {
        let hash = digest(content.as_bytes());
        let mut state = self.state.lock();
        let now = Seen { hash, call_id: call_id.to_string(), step };
        if let Some(seen) = state.seen.get(key)
            && seen.hash == hash
        {
            return Some(unchanged(reuse, seen));
        }
        if let (Reuse::File { path, offset, limit, .. }, Some(stamp)) = (reuse, stamp) {
            if let Some((whole, seen)) = state.whole.get(path)
                && *whole == stamp
            {
                return Some(unchanged(reuse, seen));
            }
            if stamp.small && *offset == 1 && limit.is_none_or(|l| l >= WHOLE_FILE_LINES) {
                state.whole.insert(path.clone(), (stamp, now.clone()));
            }
        }
        state.seen.insert(key.clone(), now);
        None
    }

    /// Something may have changed the workspace: searches and listings
    /// are run again, and their results sent in full.
    pub(crate) fn mutated(&self) {
        {
            let mut state = self.state.lock();
            state.generation += 1;
            state.seen.retain(|k, _| k.file);
        }
        self.cache.retain(|k, _| k.file);
    }

    /// The conversation was compacted: earlier results may be gone from
    /// it, so nothing is "unchanged since" across this point.
    pub(crate) fn compacted(&self) {
        let mut state = self.state.lock();
        state.seen.clear();
        state.whole.clear();
    }

    /// Ends the session: spooled entries are deleted.
    pub(crate) async fn clear(&self) {
        self.cache.clear();
        self.sweep().await;
    }
}

impl Key {
    pub(crate) fn new(tool: &str, args: &Value, reuse: &Reuse) -> Key {
        Key { tool: tool.to_string(), args: sorted(args).to_string(), file: matches!(reuse, Reuse::File { .. }) }
    }
}

/// The stamp of the file a read names (None: it cannot be read).
pub(crate) async fn stamp(workspace: &Arc<Workspace>, raw: &Path) -> Option<FileStamp> {
    let (workspace, raw) = (workspace.clone(), raw.to_string_lossy().into_owned());
    #[allow(clippy::disallowed_methods)] // in spawn_blocking
    let read = tokio::task::spawn_blocking(move || {
        let path = tern_tools::resolve_for_read(&workspace, &raw).ok()?;
        let bytes = std::fs::read(path).ok()?;
        let lines = bytes.iter().filter(|b| **b == b'\n').count();
        let small = bytes.len() <= WHOLE_FILE_BYTES && lines < WHOLE_FILE_LINES;
        Some(FileStamp { hash: digest(&bytes), small })
    });
    read.await.ok().flatten()
}

/// A file read answered from the cache is still a read: the stamp the
/// tool would have set is set, so an edit that checks the file is what
/// the model saw (`FileState::check_fresh`) sees this read.
pub(crate) async fn mark_read(files: &Arc<tern_files::FileState>, workspace: &Arc<Workspace>, raw: &Path) {
    let (files, workspace, raw) = (files.clone(), workspace.clone(), raw.to_string_lossy().into_owned());
    let mark = tokio::task::spawn_blocking(move || {
        if let Ok(path) = tern_tools::resolve_for_read(&workspace, &raw) {
            files.stamp_read(&path);
        }
    });
    let _ = mark.await;
}

fn unchanged(reuse: &Reuse, seen: &Seen) -> String {
    match reuse {
        Reuse::File { shown, .. } => format!(
            "[tern] {shown} is unchanged since step {} (call {}): what that read returned still holds. \
             Use it from there rather than reading again.",
            seen.step, seen.call_id
        ),
        _ => format!(
            "[tern] The same result as step {} (call {}): nothing that could change it has run since. \
             The same call gets the same answer; to learn more, make a different one.",
            seen.step, seen.call_id
        ),
    }
}

/// JSON with every object's keys sorted, so equal arguments give equal keys.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<_> = m.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(keys.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;
    use serde_json::json;

    fn workspace(dir: &Path) -> Arc<Workspace> {
        Arc::new(Workspace { root: dir.to_path_buf(), extra_roots: vec![], read_only_roots: vec![] })
    }

    fn file_read(dir: &Path, path: &str) -> Reuse {
        Reuse::File { path: dir.join(path), shown: path.into(), offset: 1, limit: None }
    }

    #[test]
    fn equal_arguments_make_equal_keys_whatever_their_order() {
        let a = Key::new(
            "grep_files",
            &json!({"pattern": "x", "path": "src", "opts": {"b": 1, "a": 2}}),
            &Reuse::UntilMutation,
        );
        let b = Key::new(
            "grep_files",
            &json!({"opts": {"a": 2, "b": 1}, "path": "src", "pattern": "x"}),
            &Reuse::UntilMutation,
        );
        assert_eq!(a, b);
        assert_ne!(a, Key::new("grep_files", &json!({"pattern": "y", "path": "src"}), &Reuse::UntilMutation));
    }

    #[tokio::test]
    async fn a_file_read_is_valid_while_its_content_hash_is_not_its_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "one\n").unwrap();
        let ws = workspace(dir.path());
        let results = Results::new(dir.path().join("spool"));
        let reuse = file_read(dir.path(), "a.txt");
        let key = Key::new("read_file", &json!({"path": "a.txt"}), &reuse);
        let before = stamp(&ws, Path::new("a.txt")).await;
        results.store(key.clone(), "1: one", before).await;
        assert_eq!(results.lookup(&key, &reuse, before).await.as_deref(), Some("1: one"));
        // Same length, same mtime, other bytes: the hash tells.
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, "two\n").unwrap();
        std::fs::File::options().write(true).open(&file).unwrap().set_modified(mtime).unwrap();
        let now = stamp(&ws, Path::new("a.txt")).await;
        assert!(now.is_some() && now != before);
        assert_eq!(results.lookup(&key, &reuse, now).await, None);
        // A mutation elsewhere does not drop file reads (their hash decides).
        results.mutated();
        assert!(results.lookup(&key, &reuse, before).await.is_some());
    }

    #[tokio::test]
    async fn searches_last_until_a_mutation_and_unchanged_stops_at_a_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results::new(dir.path().join("spool"));
        let reuse = Reuse::UntilMutation;
        let key = Key::new("grep_files", &json!({"pattern": "x"}), &reuse);
        results.store(key.clone(), "a.rs:1: x", None).await;
        assert!(results.lookup(&key, &reuse, None).await.is_some());
        assert_eq!(results.dedupe(&key, &reuse, None, (1, "c1"), "a.rs:1: x"), None);
        let again = results.dedupe(&key, &reuse, None, (2, "c2"), "a.rs:1: x").unwrap();
        assert!(again.contains("step 1") && again.contains("c1"), "{again}");
        // A different result is sent whole, and becomes the one pointed to.
        assert_eq!(results.dedupe(&key, &reuse, None, (3, "c3"), "a.rs:1: x\nb.rs:2: x"), None);
        results.compacted();
        assert_eq!(results.dedupe(&key, &reuse, None, (4, "c4"), "a.rs:1: x\nb.rs:2: x"), None);
        results.mutated();
        assert_eq!(results.lookup(&key, &reuse, None).await, None);
        assert_eq!(results.dedupe(&key, &reuse, None, (5, "c5"), "a.rs:1: x\nb.rs:2: x"), None);
    }

    #[tokio::test]
    async fn a_large_result_lives_in_a_file_that_goes_with_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let results = Results::new(spool.clone());
        let reuse = Reuse::UntilMutation;
        let key = Key::new("mcp__docs__fetch", &json!({"url": "u"}), &reuse);
        let big = "y".repeat(INLINE_MAX + 1);
        results.store(key.clone(), &big, None).await;
        let files = || std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0);
        assert_eq!(files(), 1);
        assert_eq!(results.lookup(&key, &reuse, None).await.as_deref(), Some(big.as_str()));
        results.mutated();
        results.sweep().await;
        assert_eq!(files(), 0, "the evicted entry's file is still there");
    }
}
