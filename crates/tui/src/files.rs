//! `@` file search: the workspace's files, walked once in the background
//! with `ignore` (so .gitignore holds), and fuzzy-matched with
//! nucleo-matcher off the UI's thread. The app owns the task; dropping the
//! search stops the walk and the matching.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;

/// Files indexed at most; a bigger tree is searched in its first part.
const MAX_FILES: usize = 100_000;
/// Matches offered.
pub const SHOWN: usize = 8;

/// A running search over one workspace.
pub struct FileSearch {
    query: watch::Sender<String>,
    results: watch::Receiver<Matches>,
    stop: Arc<AtomicBool>,
    _task: AbortOnDropHandle<()>,
}

/// The best matches for a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matches {
    pub query: String,
    pub paths: Vec<String>,
}

impl FileSearch {
    /// Starts walking `root`.
    pub fn start(root: PathBuf) -> Self {
        let (query_tx, mut query_rx) = watch::channel(String::new());
        let (results_tx, results_rx) = watch::channel(Matches::default());
        let stop = Arc::new(AtomicBool::new(false));
        let walk_stop = stop.clone();
        let task = tokio::spawn(async move {
            let files = match tokio::task::spawn_blocking(move || walk(&root, &walk_stop)).await {
                Ok(f) => Arc::new(f),
                Err(_) => return,
            };
            let mut matcher = Some(Matcher::new(Config::DEFAULT.match_paths()));
            loop {
                let query = query_rx.borrow_and_update().clone();
                if !query.is_empty() {
                    let (files, mut m) =
                        (files.clone(), matcher.take().unwrap_or_else(|| Matcher::new(Config::DEFAULT.match_paths())));
                    let q = query.clone();
                    let Ok((paths, m)) = tokio::task::spawn_blocking(move || (best(&files, &q, &mut m), m)).await
                    else {
                        return;
                    };
                    matcher = Some(m);
                    let _ = results_tx.send(Matches { query, paths });
                }
                if query_rx.changed().await.is_err() {
                    return;
                }
            }
        });
        FileSearch { query: query_tx, results: results_rx, stop, _task: AbortOnDropHandle::new(task) }
    }

    /// Asks for the matches of `query` (without the `@`).
    pub fn search(&self, query: &str) {
        self.query.send_if_modified(|q| {
            let changed = q != query;
            if changed {
                *q = query.to_string();
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

fn walk(root: &std::path::Path, stop: &AtomicBool) -> Vec<String> {
    let mut files = Vec::new();
    let walker = ignore::WalkBuilder::new(root).hidden(true).git_ignore(true).build();
    for entry in walker.flatten() {
        if stop.load(Ordering::Relaxed) || files.len() >= MAX_FILES {
            break;
        }
        if entry.file_type().is_some_and(|t| t.is_file())
            && let Ok(rel) = entry.path().strip_prefix(root)
        {
            files.push(rel.to_string_lossy().into_owned());
        }
    }
    files.sort();
    files
}

fn best(files: &[String], query: &str, matcher: &mut Matcher) -> Vec<String> {
    let pattern = Pattern::parse(query, CaseMatching::Smart, Normalization::Smart);
    let mut scored = pattern.match_list(files.iter(), matcher);
    // Equal scores: shorter paths first (the file rather than its neighbours).
    scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.len().cmp(&b.0.len())));
    scored.into_iter().take(SHOWN).map(|(p, _)| p.clone()).collect()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::unwrap_used)]
mod tests {
    use super::*;

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
        search.search("mainrs");
        let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let m = search.matches();
                if m.query == "mainrs" {
                    return m.paths;
                }
                assert!(search.changed().await);
            }
        })
        .await
        .unwrap();
        assert_eq!(found, ["src/main.rs"]);
        search.search("parser");
        tokio::time::timeout(std::time::Duration::from_secs(10), search.changed()).await.unwrap();
        assert_eq!(search.matches().paths, ["src/parser/mod.rs"]);
    }
}
