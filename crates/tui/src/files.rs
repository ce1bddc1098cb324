//! `@` file search: the workspace's files, walked once in the background
//! with `ignore` (so .gitignore holds) into a packed index, and
//! fuzzy-matched with nucleo-matcher off the UI's thread. Until the walk
//! ends a query is answered with how far it got; after, each keystroke
//! that extends the query only re-scores what the previous one matched.
//! The app owns the task; dropping the search stops the walk and the
//! matching.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use std::cmp::Ordering as Order;
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
/// Matches offered.
pub const SHOWN: usize = 8;
/// How often a query waiting for the walk hears how far it got.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Candidates scored between looks at whether a newer query came.
const STALE_EVERY: usize = 2048;
/// Below this many candidates one thread scores them all: starting
/// threads would cost more than it saves.
const PARALLEL_FROM: usize = 16_384;

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
                let new = Matches { query, paths: Vec::new(), index: state };
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
        let Ok((paths, f)) = tokio::task::spawn_blocking(move || (f.best(&index, &q, &stale), f)).await else {
            return;
        };
        finder = Some(f);
        match paths {
            Some(paths) => {
                let _ = results_tx.send(Matches { query, paths, index: state });
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
struct Index {
    text: String,
    /// Where each path ends in `text`.
    ends: Vec<u32>,
    /// The tree had more files than the index holds.
    capped: bool,
}

impl Index {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Whether `path` fit.
    fn push(&mut self, path: &str) -> bool {
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

/// Scores queries against an index, keeping the matchers and what the
/// previous query matched.
#[derive(Default)]
struct Finder {
    matchers: Vec<Matcher>,
    /// The previous query and the files it matched, in index order.
    last: Option<(String, Vec<u32>)>,
}

impl Finder {
    /// The best [`SHOWN`] paths for `query`: highest score first, then
    /// shorter (the file rather than its neighbours), then index order.
    /// None when `stale` said a newer query waits.
    fn best(&mut self, index: &Index, query: &str, stale: &(impl Fn() -> bool + Sync)) -> Option<Vec<String>> {
        let pattern = Pattern::parse(query, CaseMatching::Smart, Normalization::Smart);
        let candidates: Vec<u32> = match self.last.take() {
            Some((last, ids)) if narrows(&last, query) => ids,
            _ => (0..index.len() as u32).collect(),
        };
        let scored = self.score(index, &pattern, &candidates, stale)?;
        let rank = |a: &(u32, u32), b: &(u32, u32)| -> Order {
            b.1.cmp(&a.1).then(index.get(a.0).len().cmp(&index.get(b.0).len())).then(a.0.cmp(&b.0))
        };
        let mut top = scored.clone();
        if top.len() > SHOWN {
            top.select_nth_unstable_by(SHOWN - 1, rank);
            top.truncate(SHOWN);
        }
        top.sort_by(rank);
        self.last = Some((query.to_string(), scored.into_iter().map(|(id, _)| id).collect()));
        Some(top.into_iter().map(|(id, _)| index.get(id).to_string()).collect())
    }

    /// (file, score) of each candidate that matches, in candidate order;
    /// on every core when there are many. None once `stale`.
    fn score(
        &mut self,
        index: &Index,
        pattern: &Pattern,
        candidates: &[u32],
        stale: &(impl Fn() -> bool + Sync),
    ) -> Option<Vec<(u32, u32)>> {
        let threads = if candidates.len() < PARALLEL_FROM {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
        };
        while self.matchers.len() < threads {
            self.matchers.push(Matcher::new(Config::DEFAULT.match_paths()));
        }
        let one =
            |matcher: &mut Matcher, ids: &[u32]| {
                let mut buf = Vec::new();
                let mut out = Vec::new();
                for chunk in ids.chunks(STALE_EVERY) {
                    if stale() {
                        return None;
                    }
                    out.extend(chunk.iter().filter_map(|&id| {
                        pattern.score(Utf32Str::new(index.get(id), &mut buf), matcher).map(|s| (id, s))
                    }));
                }
                Some(out)
            };
        if threads == 1 {
            return one(&mut self.matchers[0], candidates);
        }
        let size = candidates.len().div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = self
                .matchers
                .iter_mut()
                .zip(candidates.chunks(size))
                .map(|(m, ids)| s.spawn(move || one(m, ids)))
                .collect();
            // A scorer cannot panic short of a bug in the matcher; its part
            // is then missing from the results, not the UI's.
            let mut all = Vec::new();
            for part in parts {
                all.extend(part.join().ok().flatten()?);
            }
            Some(all)
        })
    }
}

/// Whether every match of `next` is a match of `last`, so `next` need
/// only look at those: it extends `last` and neither uses the pattern
/// syntax (negation, anchors, exact atoms, escapes) that breaks that.
/// ASCII only, so no character joins the one before into a new grapheme.
fn narrows(last: &str, next: &str) -> bool {
    let plain = |q: &str| q.is_ascii() && !q.contains(['!', '^', '$', '\'', '\\']);
    !last.trim().is_empty() && next.starts_with(last) && plain(last) && plain(next)
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
    fn narrowing_finds_what_a_full_search_finds() {
        let mut index = Index::default();
        let words = ["alpha", "beta", "gamma", "delta", "Epsilon", "zeta", "eta", "théta"];
        for i in 0..40_000u32 {
            let a = words[(i % 8) as usize];
            let b = words[(i / 8 % 8) as usize];
            let c = words[(i / 64 % 8) as usize];
            assert!(index.push(&format!("{a}/{b}_{i}/{c}{}.rs", i % 97)));
        }
        let mut narrowing = Finder::default();
        for query in ["a", "al", "alp", "alph", "alpha ", "alpha b", "alpha be", "alpha beE", "alpha beEp", "t", "th"] {
            let full = Finder::default().best(&index, query, &|| false).unwrap();
            assert!(!full.is_empty(), "{query}");
            assert_eq!(narrowing.best(&index, query, &|| false).unwrap(), full, "{query}");
        }
        assert!(Finder::default().best(&index, "a", &|| true).is_none(), "a newer query stops the scoring");
        assert!(narrows("al", "alp") && narrows("alpha", "alpha b"));
        assert!(!narrows("", "a") && !narrows("al", "a") && !narrows("!al", "!alp") && !narrows("al", "al$"));
        assert!(!narrows("th", "thé"));
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
