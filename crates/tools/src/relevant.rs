//! The workspace files most relevant to a request, and their text within
//! a budget: what a small model should have in front of it before its
//! first call. Told only the paths, a 1.5B model guesses which file holds
//! a name and what its lines say; shown the file, it copies them.
//!
//! Files are ranked by the request's words (identifiers split at `_` and
//! camelCase humps, endings dropped) with BM25 weights, so a word found in
//! one file counts for more than one found in all of them, and a name the
//! request spells whole (`parse_tracking_number`) for more again. A
//! request about a failure gets, beside the test file shown, the file
//! defining most of what the test calls.

use crate::definitions::{self, is_test};
use crate::grep_files::{stem, words};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Files read at most when ranking, and the most bytes read in all: a big
/// repository is ranked on its first part (in name order), never read whole.
const MAX_FILES: usize = 2_000;
const MAX_BYTES: u64 = 4 << 20;
/// A file bigger than this is not read at all (generated, data, vendored).
const MAX_FILE: u64 = 64 << 10;
/// Files shown at most.
const MAX_SHOWN: usize = 3;
/// A file scoring under this share of the best one is not shown.
const RELATIVE: f64 = 0.45;
/// Characters of a line shown (minified code is one long line).
const MAX_LINE_CHARS: usize = 200;
/// Lines shown either side of the best line of a file too big to show whole.
const WINDOW: usize = 8;

/// Words too common in requests to say which file is meant.
pub const COMMON: &[&str] = &[
    "the", "and", "for", "this", "that", "what", "where", "which", "how", "does", "with", "from", "fix", "file",
    "files", "tell", "many", "set", "are", "was", "show", "find", "into", "add", "change", "code", "function", "why",
    "not", "use", "used", "can", "you", "all", "its", "has", "have", "there", "when", "then", "than", "default",
    "number", "return", "returns", "value", "make", "sure", "please", "should", "would", "could", "about", "want",
    "need", "new", "one", "them", "they", "their", "been", "being", "only", "also", "just", "like", "here", "some",
];

/// Words and how code abbreviates them.
const SHORT: &[(&str, &str)] = &[
    ("maximum", "max"),
    ("minimum", "min"),
    ("configuration", "config"),
    ("directory", "dir"),
    ("length", "len"),
    ("message", "msg"),
    ("environment", "env"),
    ("initialize", "init"),
    ("temporary", "tmp"),
];

/// Requests about running, testing or building: the files that say how
/// (README, manifests, Makefile) are worth showing.
const HOW_WORDS: &[&str] = &["test", "build", "run", "compile", "install", "lint", "start", "pass", "fail"];
/// Requests about something failing: the code a failing test calls is
/// worth showing beside the test.
const FIX_WORDS: &[&str] = &["fail", "fix", "bug", "broke", "wrong", "pass", "error"];
const HOW_FILES: &[&str] =
    &["readme", "makefile", "package.json", "pyproject.toml", "cargo.toml", "go.mod", "setup.py", "justfile"];

/// One file's text as the model is shown it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// Relative to the workspace root.
    pub path: String,
    /// Numbered like read_file's result (`L<n>: text`).
    pub text: String,
    /// The whole file, not a window of it.
    pub whole: bool,
}

/// Of `files` (paths under `root`, as [`crate::nearby::walk`] lists
/// them), those most relevant to `request`, best first, their numbered
/// text within `budget` characters in all. Blocking: call from
/// `spawn_blocking`.
pub fn pick(root: &Path, files: &[String], request: &str, budget: usize, cancel: &CancellationToken) -> Vec<Shown> {
    let terms = Terms::of(request);
    if terms.words.is_empty() && terms.names.is_empty() && !terms.how {
        return Vec::new();
    }
    let docs = read_texts(root, files, cancel).map(|(path, text)| Doc::new(path, text, &terms)).collect();
    rank(docs, &terms, budget)
}

/// The text of `files` (UTF-8, no NUL), each at most [`MAX_FILE`] bytes,
/// [`MAX_FILES`] and [`MAX_BYTES`] in all, in order. Blocking, lazily.
pub(crate) fn read_texts<'a>(
    root: &'a Path,
    files: &'a [String],
    cancel: &'a CancellationToken,
) -> impl Iterator<Item = (String, String)> + 'a {
    let (mut paths, mut read, mut taken) = (files.iter(), 0u64, 0usize);
    std::iter::from_fn(move || {
        loop {
            if taken >= MAX_FILES || read >= MAX_BYTES || cancel.is_cancelled() {
                return None;
            }
            let path = paths.next()?;
            let full = root.join(path);
            #[allow(clippy::disallowed_methods)] // blocking by contract
            let Ok(meta) = std::fs::metadata(&full) else { continue };
            if !meta.is_file() || meta.len() > MAX_FILE {
                continue;
            }
            read += meta.len();
            #[allow(clippy::disallowed_methods)]
            let Ok(bytes) = std::fs::read(&full) else { continue };
            if bytes.contains(&0) {
                continue;
            }
            taken += 1;
            return Some((path.clone(), String::from_utf8_lossy(&bytes).into_owned()));
        }
    })
}

/// The code a test tests: the file defining most of the names it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tested {
    /// The file, relative to the workspace.
    pub path: String,
    /// The definition there of a name `line` uses (the test line the model
    /// meant to change), numbered from 1, when it has one.
    pub definition: Option<Vec<(usize, String)>>,
}

/// Which of `files` (not tests) holds the code the test `test` tests: the
/// one that defines most of the names it uses, and there the definition of
/// a name its line `line` uses. Read within the bounds of [`pick`].
/// Blocking.
pub fn code_under_test(
    root: &Path,
    files: &[String],
    test: &str,
    line: &str,
    cancel: &CancellationToken,
) -> Option<Tested> {
    // The model's path: read as any file here is (a regular file, bounded).
    let (_, text) = read_texts(root, &[test.to_string()], cancel).next()?;
    let used = used_names(&text);
    let code: Vec<String> = files.iter().filter(|f| !is_test(f)).cloned().collect();
    let texts: Vec<(String, String)> = read_texts(root, &code, cancel).collect();
    let (path, text) = &texts[most_defining(&used, texts.iter().map(|(_, text)| text.as_str()))?];
    let definition = definitions::definition_of(text, &used_names(line));
    Some(Tested { path: path.clone(), definition })
}

/// The names (three characters or more, lower-cased) `text` uses.
fn used_names(text: &str) -> HashSet<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| w.len() >= 3).map(str::to_lowercase).collect()
}

/// Which of `texts` defines most of `used` (at least one); among equals,
/// the first.
fn most_defining<'a>(used: &HashSet<String>, texts: impl Iterator<Item = &'a str>) -> Option<usize> {
    texts
        .enumerate()
        .map(|(i, text)| (definitions::defined(text).intersection(used).count(), i))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|&(n, i)| (n, usize::MAX - i))
        .map(|(_, i)| i)
}

/// What a request asks about.
#[derive(Debug, Default)]
struct Terms {
    /// Stemmed words.
    words: Vec<String>,
    /// Identifiers spelled whole (`ring_push`, `NoteStore`), lower-cased.
    names: Vec<String>,
    /// It asks to run, test or build something.
    how: bool,
    /// It is about something failing.
    fix: bool,
}

/// Whether `request` is about something failing ("fix the failing test",
/// "make test fails", "wrong operator").
pub fn about_failure(request: &str) -> bool {
    words(request).iter().any(|w| {
        let s = stem(w);
        FIX_WORDS.iter().any(|h| s.starts_with(h))
    })
}

impl Terms {
    fn of(request: &str) -> Terms {
        let mut t = Terms { fix: about_failure(request), ..Terms::default() };
        for w in words(request) {
            let s = stem(&w);
            if HOW_WORDS.iter().any(|h| s.starts_with(h)) {
                t.how = true;
            }
            if COMMON.contains(&w.as_str()) {
                continue;
            }
            // Code abbreviates what requests spell out.
            let short = SHORT.iter().find(|(long, _)| w == *long).map(|(_, short)| short.to_string());
            for s in [Some(s), short].into_iter().flatten() {
                if !t.words.contains(&s) {
                    t.words.push(s);
                }
            }
        }
        for ident in request.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            let compound = ident.contains('_') || ident.chars().skip(1).any(|c| c.is_uppercase());
            if compound && ident.len() >= 4 && !t.names.contains(&ident.to_lowercase()) {
                t.names.push(ident.to_lowercase());
            }
        }
        t
    }
}

/// A file, with what it holds of the request's terms.
struct Doc {
    path: String,
    text: String,
    /// Words of the file (all of them, for its length).
    length: usize,
    /// How often each of the request's words occurs.
    counts: HashMap<String, u32>,
    /// The request's whole names the file holds.
    names: HashSet<String>,
}

impl Doc {
    fn new(path: String, text: String, terms: &Terms) -> Doc {
        let mut counts = HashMap::new();
        let mut names = HashSet::new();
        let mut length = 0;
        for ident in text.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|s| !s.is_empty()) {
            let lower = ident.to_lowercase();
            if terms.names.contains(&lower) {
                names.insert(lower);
            }
            for w in words(ident) {
                length += 1;
                let s = stem(&w);
                if terms.words.contains(&s) {
                    *counts.entry(s).or_insert(0) += 1;
                }
            }
        }
        Doc { path, text, length, counts, names }
    }
}

/// BM25 over the request's words, plus the path's words and whole names.
fn rank(docs: Vec<Doc>, terms: &Terms, budget: usize) -> Vec<Shown> {
    if docs.is_empty() {
        return Vec::new();
    }
    let n = docs.len() as f64;
    let avg = (docs.iter().map(|d| d.length).sum::<usize>() as f64 / n).max(1.0);
    let idf = |df: usize| (1.0 + (n - df as f64 + 0.5) / (df as f64 + 0.5)).ln();
    let word_idf: HashMap<&str, f64> = terms
        .words
        .iter()
        .map(|w| (w.as_str(), idf(docs.iter().filter(|d| d.counts.contains_key(w)).count())))
        .collect();
    let name_idf: HashMap<&str, f64> =
        terms.names.iter().map(|w| (w.as_str(), idf(docs.iter().filter(|d| d.names.contains(w)).count()))).collect();
    let top_idf = word_idf.values().chain(name_idf.values()).copied().fold(1.0, f64::max);
    let (k, b) = (1.2, 0.75);
    let mut scored: Vec<(f64, Doc)> = docs
        .into_iter()
        .map(|d| {
            let mut score = 0.0;
            for (w, &c) in &d.counts {
                let tf = c as f64;
                score += word_idf[w.as_str()] * tf * (k + 1.0) / (tf + k * (1.0 - b + b * d.length as f64 / avg));
            }
            score += d.names.iter().map(|name| 2.0 * name_idf[name.as_str()]).sum::<f64>();
            let lower = d.path.to_lowercase();
            let path_words: Vec<String> = words(&d.path).iter().map(|w| stem(w)).collect();
            score += terms.words.iter().filter(|w| path_words.contains(w)).map(|w| word_idf[w.as_str()]).sum::<f64>();
            let name = lower.rsplit('/').next().unwrap_or(&lower);
            if terms.how && !lower.contains('/') && HOW_FILES.iter().any(|f| name.starts_with(f)) {
                score += top_idf;
            }
            (score, d)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.path.cmp(&b.1.path)));
    let best = scored.first().map_or(0.0, |(s, _)| *s);
    let mut chosen: Vec<usize> = (0..scored.len())
        .take(MAX_SHOWN)
        .take_while(|&i| scored[i].0 > 0.0 && scored[i].0 >= best * RELATIVE)
        .collect();
    if terms.fix {
        tested_code(&scored, &mut chosen);
    }
    let mut out = Vec::new();
    let mut left = budget;
    for i in chosen {
        let doc = &scored[i].1;
        let lines = doc.text.lines().count();
        if lines == 0 {
            continue; // an empty file matched by its path: the list shows it
        }
        let whole = numbered(&doc.text, 0, usize::MAX) + &crate::read_file::end_of_file(lines);
        let (text, is_whole) = if whole.len() <= left { (whole, true) } else { (window(doc, terms, left), false) };
        if text.is_empty() {
            continue;
        }
        left -= text.len();
        out.push(Shown { path: doc.path.clone(), text, whole: is_whole });
    }
    out
}

/// For a request about a failure: right after the first test file
/// chosen, the file that defines most of what it uses (a small model
/// shown only the test edits the test).
fn tested_code(scored: &[(f64, Doc)], chosen: &mut Vec<usize>) {
    let Some(at) = chosen.iter().position(|&i| is_test(&scored[i].1.path)) else { return };
    let used = used_names(&scored[chosen[at]].1.text);
    let others: Vec<usize> =
        (0..scored.len()).filter(|i| !chosen.contains(i) && !is_test(&scored[*i].1.path)).collect();
    // Definitions are read only here: most requests are not about a failure.
    // Among equals, the better ranked (the candidates are in rank order).
    if let Some(k) = most_defining(&used, others.iter().map(|&i| scored[i].1.text.as_str())) {
        chosen.insert(at + 1, others[k]);
        chosen.truncate(MAX_SHOWN);
    }
}

/// The lines around the line holding most of the request's words, within
/// `budget` characters; empty when not even a few lines fit.
fn window(doc: &Doc, terms: &Terms, budget: usize) -> String {
    let holds = |line: &str| {
        let found: HashSet<String> = words(line).iter().map(|w| stem(w)).filter(|s| terms.words.contains(s)).collect();
        let names = terms.names.iter().filter(|n| line.to_lowercase().contains(n.as_str())).count();
        found.len() + 2 * names
    };
    let lines: Vec<&str> = doc.text.lines().collect();
    let Some((best, _)) =
        lines.iter().enumerate().map(|(i, l)| (i, holds(l))).max_by_key(|&(i, h)| (h, usize::MAX - i))
    else {
        return String::new();
    };
    let mut radius = WINDOW;
    loop {
        let from = best.saturating_sub(radius);
        let text = numbered(&doc.text, from, best + radius + 1);
        if text.len() <= budget {
            return text;
        }
        if radius <= 2 {
            return String::new();
        }
        radius /= 2;
    }
}

/// Lines `from..to` (0-based) as read_file numbers them, long lines cut.
fn numbered(text: &str, from: usize, to: usize) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate().skip(from).take(to.saturating_sub(from)) {
        crate::read_file::push_line(&mut out, i + 1, line.strip_suffix('\r').unwrap_or(line), MAX_LINE_CHARS);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::disallowed_methods)] // tests may block
pub(crate) mod tests {
    use super::*;

    /// A directory holding `files` (path, text).
    pub(crate) fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        dir
    }

    /// `pick` over every file of `dir`, as the map walks it.
    fn pick_in(dir: &Path, request: &str, budget: usize) -> Vec<Shown> {
        let c = CancellationToken::new();
        let files: Vec<String> = crate::nearby::walk(dir, crate::nearby::MAX_ENTRIES, &c)
            .into_iter()
            .filter(|e| !e.dir)
            .map(|e| e.path)
            .collect();
        pick(dir, &files, request, budget, &c)
    }

    fn paths(shown: &[Shown]) -> Vec<&str> {
        shown.iter().map(|s| s.path.as_str()).collect()
    }

    #[test]
    fn the_file_holding_the_words_comes_first_whole_and_numbered() {
        let dir = repo(&[
            ("shipit/config.py", "DEFAULT_TIMEOUT = 30  # seconds\nMAX_RETRIES = 4\n"),
            ("shipit/client.py", "import time\n\ndef fetch():\n    time.sleep(1)\n"),
            ("README.md", "# shipit\n"),
        ]);
        let got = pick_in(dir.path(), "Where is the retry limit set?", 2000);
        assert_eq!(paths(&got), ["shipit/config.py"]);
        assert_eq!(got[0].text, "L1: DEFAULT_TIMEOUT = 30  # seconds\nL2: MAX_RETRIES = 4\n[end of file: 2 lines]\n");
        assert!(got[0].whole);
    }

    #[test]
    fn a_whole_name_outranks_common_words_and_how_requests_show_the_readme() {
        let dir = repo(&[
            ("src/store.js", "export class NoteStore {\n  add(note) {}\n}\n"),
            ("src/server.js", "import { NoteStore } from './store.js';\nconst store = new NoteStore();\n"),
            ("src/notes.js", "// notes notes notes note\n"),
            ("README.md", "Run the tests with `npm test`.\n"),
            ("test/store.test.js", "test('store', () => {});\n"),
        ]);
        let got = pick_in(dir.path(), "Which file creates the NoteStore?", 2000);
        assert!(paths(&got).contains(&"src/server.js"), "{got:?}");
        assert!(!paths(&got).contains(&"src/notes.js"), "{got:?}");
        let got = pick_in(dir.path(), "Run the tests and tell me which one fails.", 2000);
        assert!(paths(&got).contains(&"README.md"), "{got:?}");
    }

    #[test]
    fn the_budget_holds_and_a_big_file_is_shown_around_its_best_line() {
        let mut big = String::new();
        for i in 0..400 {
            big.push_str(&format!("let filler_{i} = {i};\n"));
        }
        big.push_str("const MAX_BODY_LENGTH = 10000;\n");
        for i in 0..400 {
            big.push_str(&format!("let more_{i} = {i};\n"));
        }
        let dir = repo(&[("src/validate.js", &big), ("src/other.js", "nothing here\n")]);
        let got = pick_in(dir.path(), "What is the maximum length of a note body?", 600);
        let total: usize = got.iter().map(|s| s.text.len()).sum();
        assert!(total <= 600, "{total}");
        let window = got.iter().find(|s| s.path == "src/validate.js").unwrap();
        assert!(!window.whole);
        assert!(window.text.contains("L401: const MAX_BODY_LENGTH = 10000;"), "{}", window.text);
    }

    #[test]
    fn nothing_to_go_on_shows_nothing() {
        let dir = repo(&[("a.txt", "hello\n"), ("bin.dat", "\0\0body")]);
        assert!(pick_in(dir.path(), "What is it?", 2000).is_empty());
        assert!(pick_in(dir.path(), "body", 2000).is_empty());
    }

    #[test]
    fn a_failing_test_comes_with_the_code_it_calls() {
        let dir = repo(&[
            (
                "shipit/rates.py",
                "HEAVY_LIMIT_KG = 20\n\ndef is_heavy(weight_kg):\n    return weight_kg < HEAVY_LIMIT_KG\n",
            ),
            ("shipit/client.py", "def fetch(path):\n    return path\n"),
            (
                "tests/test_rates.py",
                "from shipit.rates import is_heavy\n\ndef test_limit_is_heavy():\n    assert is_heavy(20)\n",
            ),
            ("README.md", "Run the tests with `python3 -m unittest`.\n"),
        ]);
        let got = pick_in(dir.path(), "test_limit_is_heavy fails because of a wrong operator, fix it.", 2000);
        assert_eq!(paths(&got)[..2], ["tests/test_rates.py", "shipit/rates.py"], "{got:?}");
        // Not for a question about the test.
        let got = pick_in(dir.path(), "What does test_limit_is_heavy check?", 2000);
        assert!(!paths(&got).contains(&"shipit/rates.py"), "{got:?}");
        // Asked of the test file alone.
        let files: Vec<String> =
            ["README.md", "shipit/client.py", "shipit/rates.py", "tests/test_rates.py"].map(String::from).into();
        let c = CancellationToken::new();
        let line = "        self.assertTrue(is_heavy(20))";
        let code = code_under_test(dir.path(), &files, "tests/test_rates.py", line, &c).unwrap();
        assert_eq!(code.path, "shipit/rates.py");
        let shown: Vec<usize> = code.definition.unwrap().iter().map(|(n, _)| *n).collect();
        assert_eq!(shown, [3, 4], "is_heavy's definition");
        let other = code_under_test(dir.path(), &files, "tests/test_rates.py", "pass", &c).unwrap();
        assert_eq!(other.definition, None, "the line uses nothing the file defines");
        assert_eq!(code_under_test(dir.path(), &files, "README.md", "", &c), None, "uses nothing defined");
        assert_eq!(code_under_test(dir.path(), &files, "tests/gone.py", "", &c), None);
        assert_eq!(code_under_test(dir.path(), &files, "tests/../../../../dev/zero", "", &c), None, "not a file");
    }
}
