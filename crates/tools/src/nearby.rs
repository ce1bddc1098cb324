//! What exists near a wrong guess: the workspace paths closest to one that
//! does not exist, and the lines of a file closest to text that was not
//! found in it. Models (small ones most) guess paths in the style of
//! projects they have seen; a result that names what is there lets them
//! go on instead of giving up.

use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Paths walked at most when looking for suggestions (a bigger tree is
/// searched in its first part, in name order).
pub const MAX_ENTRIES: usize = 20_000;
/// Paths suggested at most.
const SUGGESTIONS: usize = 5;
/// Below this score a path is not "close"; the best few are still named
/// as what exists, so the model learns the layout.
const CLOSE: f64 = 0.75;

/// A file or directory of the workspace, relative to its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub dir: bool,
}

/// The workspace's files and directories under `root`, honouring
/// .gitignore (and skipping `.git`), in name order, at most `cap`.
/// Blocking: call from `spawn_blocking`.
pub fn walk(root: &Path, cap: usize, cancel: &CancellationToken) -> Vec<Entry> {
    let walker = crate::path::walker(root).sort_by_file_name(|a, b| a.cmp(b)).build();
    let mut out = Vec::new();
    for entry in walker.flatten() {
        if out.len() >= cap || cancel.is_cancelled() {
            break;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else { continue };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let dir = entry.file_type().is_some_and(|t| t.is_dir());
        out.push(Entry { path: rel.to_string_lossy().into_owned(), dir });
    }
    out
}

/// Whether `path` exists (following symlinks). Blocking: for the tools'
/// closures, which run in `spawn_blocking`.
#[allow(clippy::disallowed_methods)]
pub(crate) fn exists(path: &Path) -> bool {
    path.exists()
}

/// What kind of path was wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    File,
    Dir,
}

/// A sentence for a result about `wanted` (relative to the workspace
/// root), which does not exist: the closest existing paths of the kind
/// wanted, or, when none is close, a few that exist. Empty when the
/// workspace has nothing of that kind. Blocking.
pub fn suggest(root: &Path, wanted: &str, want: Want, cancel: &CancellationToken) -> String {
    let entries = walk(root, MAX_ENTRIES, cancel);
    let (close, paths) = closest(&entries, wanted, want);
    if paths.is_empty() {
        return String::new();
    }
    let kind = if want == Want::Dir { "directories" } else { "files" };
    if close {
        format!("Existing {kind} with the closest names: {}", paths.join(", "))
    } else {
        format!("No {kind} have a similar name; some that exist: {}", paths.join(", "))
    }
}

/// The error for a path that does not exist (`what` says so), naming
/// the closest that do. Blocking.
pub(crate) fn missing(
    root: &Path,
    shown: &str,
    what: String,
    want: Want,
    cancel: &CancellationToken,
) -> crate::ToolError {
    let hint = suggest(root, shown, want, cancel);
    crate::ToolError::Failed(if hint.is_empty() { what } else { format!("{what}. {hint}") })
}

/// The paths of kind `want` closest to `wanted`, best first, and whether
/// the best is close.
pub fn closest(entries: &[Entry], wanted: &str, want: Want) -> (bool, Vec<String>) {
    let wanted = Parts::of(wanted.trim().trim_start_matches("./").trim_end_matches('/'));
    let mut scored: Vec<(f64, &str)> = entries
        .iter()
        .filter(|e| e.dir == (want == Want::Dir))
        .map(|e| (wanted.score(&Parts::of(&e.path)), e.path.as_str()))
        .collect();
    // Best first; equal scores keep name order (shallower paths first).
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| depth(a.1).cmp(&depth(b.1))));
    let close = scored.first().is_some_and(|(s, _)| *s >= CLOSE);
    let paths = scored
        .iter()
        .take(SUGGESTIONS)
        .take_while(|(s, _)| !close || *s >= CLOSE)
        .map(|(_, p)| p.to_string())
        .collect();
    (close, paths)
}

fn depth(path: &str) -> usize {
    path.matches('/').count()
}

/// A path split for comparison, lower-cased.
struct Parts {
    full: String,
    name: String,
    stem: String,
    ext: String,
    dirs: Vec<String>,
}

impl Parts {
    fn of(path: &str) -> Self {
        let full = path.to_lowercase();
        let mut dirs: Vec<String> = full.split('/').filter(|s| !s.is_empty() && *s != ".").map(String::from).collect();
        let name = dirs.pop().unwrap_or_default();
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s.to_string(), e.to_string()),
            _ => (name.clone(), String::new()),
        };
        Parts { full, name, stem, ext, dirs }
    }

    /// How close `c` is to this path: mostly the name, then the
    /// extension, the directories and the whole path.
    fn score(&self, c: &Parts) -> f64 {
        let name = if self.name == c.name { 1.0 } else { strsim::jaro_winkler(&self.stem, &c.stem) * 0.95 };
        let ext = if !self.ext.is_empty() && self.ext == c.ext { 0.15 } else { 0.0 };
        // Each wanted directory found (or nearly: test ~ tests) among the candidate's.
        let dirs = if self.dirs.is_empty() {
            0.0
        } else {
            let hits: f64 = self
                .dirs
                .iter()
                .map(|d| c.dirs.iter().map(|x| strsim::jaro_winkler(d, x)).fold(0.0, f64::max))
                .filter(|s| *s >= 0.85)
                .sum();
            0.2 * hits / self.dirs.len() as f64
        };
        name + ext + dirs + 0.2 * strsim::normalized_levenshtein(&self.full, &c.full)
    }
}

/// The lines of `body` most like `wanted` (text that was not found in
/// it), numbered like read_file's output, when some are alike enough to
/// be what was meant.
pub fn nearest_lines(body: &str, wanted: &str) -> Option<String> {
    let lines: Vec<&str> = body.lines().collect();
    let want: Vec<&str> = wanted.lines().map(str::trim).collect();
    let want: Vec<&str> = {
        // Leading and trailing blank lines say nothing about where.
        let first = want.iter().position(|l| !l.is_empty())?;
        let last = want.iter().rposition(|l| !l.is_empty())?;
        want[first..=last].to_vec()
    };
    let n = want.len();
    if lines.is_empty() || n > lines.len() {
        return None;
    }
    // Compare whole windows when that is cheap; otherwise place the
    // longest wanted line and show the window around it.
    let (best, score) = if lines.len().saturating_mul(n) <= 200_000 {
        (0..=lines.len() - n)
            .map(|i| {
                let s: f64 = want.iter().zip(&lines[i..i + n]).map(|(w, l)| similar(w, l)).sum();
                (i, s / n as f64)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))?
    } else {
        let (k, key) = want.iter().enumerate().max_by_key(|(_, l)| l.len())?;
        let (i, s) = lines.iter().enumerate().map(|(i, l)| (i, similar(key, l))).max_by(|a, b| a.1.total_cmp(&b.1))?;
        (i.saturating_sub(k).min(lines.len() - n), s)
    };
    if score < 0.5 {
        return None;
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate().skip(best).take(n.min(40)) {
        let line: String = line.chars().take(300).collect();
        out.push_str(&format!("L{}: {line}\n", i + 1));
    }
    Some(out)
}

/// How alike a wanted line and a file's line are (0 to 1): by edit
/// distance ignoring case, or by how many of the wanted line's words the
/// file's line holds (`timeout = 30` ~ `DEFAULT_TIMEOUT = 30  # seconds`).
fn similar(a: &str, b: &str) -> f64 {
    let b = b.trim();
    if a == b {
        return 1.0;
    }
    // Very long lines: compare their starts (the cost is quadratic).
    let cut = |s: &str| s.chars().take(200).collect::<String>().to_lowercase();
    let (a, b) = (cut(a), cut(b));
    let edits = strsim::normalized_levenshtein(&a, &b);
    let words: Vec<&str> = a.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return edits;
    }
    let held = words.iter().filter(|w| b.contains(*w)).count() as f64 / words.len() as f64;
    edits.max(0.9 * held)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::disallowed_methods)] // tests may block
    use super::*;

    fn entries(paths: &[&str]) -> Vec<Entry> {
        paths.iter().map(|p| Entry { path: p.trim_end_matches('/').to_string(), dir: p.ends_with('/') }).collect()
    }

    const REPO: &[&str] = &[
        "README.md",
        "shipit/",
        "shipit/__init__.py",
        "shipit/config.py",
        "shipit/formatting.py",
        "shipit/rates.py",
        "tests/",
        "tests/test_rates.py",
        "tests/test_tracking.py",
    ];

    #[test]
    fn a_file_elsewhere_is_found_by_its_name() {
        let (close, paths) = closest(&entries(REPO), "src/main/resources/config.py", Want::File);
        assert!(close);
        assert_eq!(paths[0], "shipit/config.py");
        let (close, paths) = closest(&entries(REPO), "test/test_rate.py", Want::File);
        assert!(close);
        assert_eq!(paths[0], "tests/test_rates.py");
        let (_, paths) = closest(&entries(REPO), "src/config.yml", Want::File);
        assert_eq!(paths[0], "shipit/config.py");
    }

    #[test]
    fn directories_are_matched_as_directories() {
        let (close, paths) = closest(&entries(REPO), "test", Want::Dir);
        assert!(close);
        assert_eq!(paths, ["tests"]);
    }

    #[test]
    fn with_nothing_close_some_files_that_exist_are_named() {
        let (close, paths) = closest(&entries(REPO), "vendor/qqq/xyzzy.go", Want::File);
        assert!(!close);
        assert_eq!(paths.len(), 5);
    }

    #[test]
    fn nearest_lines_find_what_was_meant() {
        let body = "def a():\n    return 1\n\n\ndef is_heavy(w):\n    return w < LIMIT\n";
        let got = nearest_lines(body, "def is_heavy(weight):\n    return weight < LIMIT").unwrap();
        assert_eq!(got, "L5: def is_heavy(w):\nL6:     return w < LIMIT\n");
        assert_eq!(nearest_lines(body, "completely different text here"), None);
        let config = "import os\n\nDEFAULT_TIMEOUT = 30  # seconds\nMAX_RETRIES = 4\n";
        assert_eq!(nearest_lines(config, "timeout = 30").unwrap(), "L3: DEFAULT_TIMEOUT = 30  # seconds\n");
        assert_eq!(nearest_lines(body, "\n\n"), None);
    }

    #[test]
    fn walk_honours_gitignore_and_skips_git() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join(".gitignore"), "build/\n").unwrap();
        std::fs::create_dir_all(dir.path().join("build")).unwrap();
        std::fs::write(dir.path().join("build/out.o"), "").unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "").unwrap();
        let got = walk(dir.path(), 100, &CancellationToken::new());
        let paths: Vec<_> = got.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, [".gitignore", "src", "src/main.rs"]);
        assert_eq!(walk(dir.path(), 1, &CancellationToken::new()).len(), 1);
    }
}
