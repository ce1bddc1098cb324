//! `@` file search: the workspace's files, walked once in the background
//! with `ignore` (so .gitignore holds) into a packed index, and
//! ranked off the UI's thread (`finder`). Until the walk ends a query is
//! answered with how far it got; after, with the best matches, and first
//! with the best so far when ranking them all takes longer than a frame.
//! The app owns the task; dropping the search stops the walk and the
//! matching.

use crate::finder::Finder;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;

/// Files indexed at most; a bigger tree is searched in its first part
/// (in name order), and the popup says so.
const MAX_FILES: usize = 500_000;
/// Bytes of paths indexed at most: with [`MAX_FILES`], what bounds the
/// index's memory (about 34 MB at worst, 10 MB for 200,000 typical paths).
const MAX_BYTES: usize = 32 << 20;
/// How often a query waiting for the walk hears how far it got.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// A running search over one workspace.
pub struct FileSearch {
    query: watch::Sender<String>,
    /// Bumped with each new query, so scoring a stale one stops.
    asked: Arc<AtomicUsize>,
    results: watch::Receiver<Matches>,
    stop: Arc<AtomicBool>,
    _task: AbortOnDropHandle<()>,
}

/// The best matches for a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matches {
    pub query: String,
    pub paths: Vec<String>,
    pub index: IndexState,
    /// The best of the files scored so far: scoring every file takes
    /// longer than a frame, and the full answer follows.
    pub partial: bool,
}

/// How far the workspace's index is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexState {
    /// Still walking: files found so far.
    Indexing { files: usize },
    /// Done: the files indexed, and whether the tree had more than the
    /// index holds.
    Ready { files: usize, capped: bool },
}

impl Default for IndexState {
    fn default() -> Self {
        IndexState::Indexing { files: 0 }
    }
}

impl FileSearch {
    /// Starts walking `root`.
    pub fn start(root: PathBuf) -> Self {
        let (query_tx, query_rx) = watch::channel(String::new());
        let (results_tx, results_rx) = watch::channel(Matches::default());
        let stop = Arc::new(AtomicBool::new(false));
        let found = Arc::new(AtomicUsize::new(0));
        let asked = Arc::new(AtomicUsize::new(0));
        let (walk_stop, walk_found) = (stop.clone(), found.clone());
        let walk = move || walk(&root, &walk_stop, &walk_found);
        let task = tokio::spawn(serve(walk, found, asked.clone(), query_rx, results_tx));
        FileSearch { query: query_tx, asked, results: results_rx, stop, _task: AbortOnDropHandle::new(task) }
    }

    /// Asks for the matches of `query` (without the `@`).
    pub fn search(&self, query: &str) {
        self.query.send_if_modified(|q| {
            let changed = q != query;
            if changed {
                *q = query.to_string();
                self.asked.fetch_add(1, Ordering::Relaxed);
            }
            changed
        });
    }

    /// The newest matches.
    pub fn matches(&self) -> Matches {
        self.results.borrow().clone()
    }

    /// Resolves when new matches arrive; cancellation-safe.
    pub async fn changed(&mut self) -> bool {
        self.results.changed().await.is_ok()
    }
}

impl Drop for FileSearch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The search's task: runs `walk` (which counts into `found`), answering
/// queries with its progress meanwhile, then matches each query as it
/// comes.
async fn serve(
    walk: impl FnOnce() -> Index + Send + 'static,
    found: Arc<AtomicUsize>,
    asked: Arc<AtomicUsize>,
    mut query_rx: watch::Receiver<String>,
    results_tx: watch::Sender<Matches>,
) {
    let mut walk = tokio::task::spawn_blocking(walk);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let index = loop {
        let waiting = !query_rx.borrow().is_empty();
        tokio::select! {
            index = &mut walk => match index {
                Ok(index) => break Arc::new(index),
                Err(_) => return,
            },
            changed = query_rx.changed() => if changed.is_err() {
                return;
            },
            _ = tick.tick(), if waiting => {}
        }
        let query = query_rx.borrow_and_update().clone();
        if !query.is_empty() {
            let state = IndexState::Indexing { files: found.load(Ordering::Relaxed) };
            results_tx.send_if_modified(|m| {
                let new = Matches { query, paths: Vec::new(), index: state, partial: false };
                let changed = *m != new;
                *m = new;
                changed
            });
        }
    };
    let state = IndexState::Ready { files: index.len(), capped: index.capped };
    tracing::debug!(files = index.len(), bytes = index.bytes(), capped = index.capped, "file index ready");
    let mut finder = Some(Finder::default());
    query_rx.mark_changed();
    while query_rx.changed().await.is_ok() {
        // Read before the query, so a query sent meanwhile counts as newer.
        let generation = asked.load(Ordering::Relaxed);
        let query = query_rx.borrow_and_update().clone();
        if query.is_empty() {
            continue;
        }
        let (index, mut f, q, asked) = (index.clone(), finder.take().unwrap_or_default(), query.clone(), asked.clone());
        let stale = move || asked.load(Ordering::Relaxed) != generation;
        let (tx, early_q, asked_at) = (results_tx.clone(), query.clone(), std::time::Instant::now());
        let early = move |paths| {
            tracing::debug!(after_us = asked_at.elapsed().as_micros() as u64, "file matches so far");
            let _ = tx.send(Matches { query: early_q.clone(), paths, index: state, partial: true });
        };
        let Ok((paths, f)) = tokio::task::spawn_blocking(move || (f.best(&index, &q, &stale, &early), f)).await else {
            return;
        };
        finder = Some(f);
        match paths {
            Some(paths) => {
                tracing::debug!(after_us = asked_at.elapsed().as_micros() as u64, "file matches");
                let _ = results_tx.send(Matches { query, paths, index: state, partial: false });
            }
            // A newer query came: look again (it may have been read already
            // as this one, when it came between the two reads above).
            None => query_rx.mark_changed(),
        }
    }
}

/// The workspace's file paths, relative to its root and packed into one
/// string: a fraction of the memory of a `String` each.
#[derive(Debug, Default)]
pub(crate) struct Index {
    text: String,
    /// Where each path ends in `text`.
    ends: Vec<u32>,
    /// The tree had more files than the index holds.
    capped: bool,
}

impl Index {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Whether `path` fit.
    pub(crate) fn push(&mut self, path: &str) -> bool {
        if self.ends.len() >= MAX_FILES || self.text.len() + path.len() > MAX_BYTES {
            return false;
        }
        self.text.push_str(path);
        self.ends.push(self.text.len() as u32);
        true
    }

    /// Heap bytes held.
    fn bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * size_of::<u32>()
    }
}

/// Walks `root` in name order (dotfiles and .gitignore'd files left out,
/// in a repository or not), counting files into `found` as it goes.
fn walk(root: &Path, stop: &AtomicBool, found: &AtomicUsize) -> Index {
    let mut index = Index::default();
    let walker =
        ignore::WalkBuilder::new(root).hidden(true).require_git(false).sort_by_file_name(|a, b| a.cmp(b)).build();
    for entry in walker.flatten() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if entry.file_type().is_some_and(|t| t.is_file())
            && let Ok(rel) = entry.path().strip_prefix(root)
        {
            if !index.push(&rel.to_string_lossy()) {
                index.capped = true;
                break;
            }
            found.store(index.len(), Ordering::Relaxed);
        }
    }
    index.text.shrink_to_fit();
    index.ends.shrink_to_fit();
    index
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn answer(search: &mut FileSearch, query: &str) -> Matches {
        search.search(query);
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let m = search.matches();
                if m.query == query && matches!(m.index, IndexState::Ready { .. }) {
                    return m;
                }
                assert!(search.changed().await);
            }
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn finds_files_and_respects_gitignore() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/parser")).unwrap();
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".gitignore"), "target/\n").unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "").unwrap();
        std::fs::write(dir.path().join("src/parser/mod.rs"), "").unwrap();
        std::fs::write(dir.path().join("target/main.rs"), "").unwrap();
        let mut search = FileSearch::start(dir.path().to_path_buf());
        let found = answer(&mut search, "mainrs").await;
        assert_eq!(found.paths, ["src/main.rs"]);
        assert_eq!(found.index, IndexState::Ready { files: 2, capped: false });
        assert_eq!(answer(&mut search, "parser").await.paths, ["src/parser/mod.rs"]);
    }

    #[test]
    fn the_index_is_bounded_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..30 {
            std::fs::write(dir.path().join(format!("{i:02}.txt")), "").unwrap();
        }
        let index = walk(dir.path(), &AtomicBool::new(false), &AtomicUsize::new(0));
        assert_eq!((index.len(), index.capped), (30, false));
        assert_eq!(index.get(0), "00.txt");
        assert_eq!(index.get(29), "29.txt");
        let mut full = Index::default();
        let long = "x".repeat(MAX_BYTES / 2);
        assert!(full.push(&long) && full.push(&long));
        assert!(!full.push("y"));
    }

    #[tokio::test]
    async fn a_query_during_the_walk_hears_how_far_it_got() {
        let (query_tx, query_rx) = watch::channel("b".to_string());
        let (results_tx, mut results_rx) = watch::channel(Matches::default());
        let found = Arc::new(AtomicUsize::new(0));
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let counting = found.clone();
        let task = tokio::spawn(serve(
            move || {
                let mut index = Index::default();
                for path in ["a.txt", "b.txt"] {
                    index.push(path);
                    counting.store(index.len(), Ordering::Relaxed);
                    wait.recv().unwrap();
                }
                index
            },
            found,
            Arc::new(AtomicUsize::new(0)),
            query_rx,
            results_tx,
        ));
        let mut next = async || {
            tokio::time::timeout(Duration::from_secs(10), results_rx.changed()).await.unwrap().unwrap();
            results_rx.borrow_and_update().clone()
        };
        // The count moves on while the query waits.
        let mut m = next().await;
        while m.index != (IndexState::Indexing { files: 1 }) {
            assert_eq!((m.query.as_str(), m.paths.len(), m.index), ("b", 0, IndexState::Indexing { files: 0 }));
            m = next().await;
        }
        go.send(()).unwrap();
        go.send(()).unwrap();
        let ready = next().await;
        assert_eq!(ready.paths, ["b.txt"]);
        assert_eq!(ready.index, IndexState::Ready { files: 2, capped: false });
        drop(query_tx);
        task.await.unwrap();
    }
}
