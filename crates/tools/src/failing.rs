//! What a failing check calls. A small model that runs the tests and sees
//! one fail then edits the test, or the README, or a line it guesses: it
//! does not go from `Assertion 'ring_is_full(r)' failed` to the function
//! that computes it. Asked to fix a failure, the small-model profile adds
//! to a failed command's result the definitions, in the workspace's code
//! (not its tests), of what the failing lines call: the calls in the
//! output itself, or else in the test lines it points at
//! (`test/slug.test.js:5:1`).

use crate::definitions::{self, is_test};
use std::collections::HashSet;
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Definitions shown, at most.
const SHOWN: usize = 2;
/// Calls looked up, at most (a verbose run names many).
const CALLS: usize = 30;
/// Test locations the output points at that are read, at most.
const LOCATIONS: usize = 4;
/// Files walked, at most, for the code that defines a call.
const WALK: usize = 2_000;
/// Lines read around a test location: before and after it.
const AROUND: (usize, usize) = (2, 3);
/// Names called in test output that are the test framework's, not code
/// under test.
const FRAMEWORK: &[&str] = &[
    "assert", "test", "it", "describe", "expect", "equal", "main", "print", "printf", "puts", "require", "len", "str",
    "int", "abort", "exit",
];

/// `[tern] …` with the definitions of what the failing output of a
/// command run in `root` calls; `None` when it calls nothing the
/// workspace's code defines. Blocking: call from `spawn_blocking` (reads
/// files, bounded).
pub fn note(root: &Path, output: &str, cancel: &CancellationToken) -> Option<String> {
    let keep = |calls: &mut Vec<String>| {
        calls.retain(|c| !FRAMEWORK.contains(&c.as_str()) && !c.starts_with("assert") && !c.starts_with("test"));
        calls.truncate(CALLS);
    };
    // The failing line's own calls (`Assertion 'ring_is_full(r)' failed`);
    // the test's lines the output points at only when it shows none: a
    // test's other calls (`ring_push`) draw a small model away.
    let mut direct = Vec::new();
    called(output, &mut direct);
    keep(&mut direct);
    let mut around = Vec::new();
    for (path, line) in locations(root, output).into_iter().take(LOCATIONS) {
        if let Some(text) = read(root, &path) {
            let lines: Vec<&str> = text.lines().collect();
            let from = line.saturating_sub(AROUND.0 + 1);
            let to = (line + AROUND.1).min(lines.len());
            called(&lines[from.min(to)..to].join("\n"), &mut around);
        }
    }
    keep(&mut around);
    if direct.is_empty() && around.is_empty() {
        return None;
    }
    let files: Vec<String> = crate::nearby::walk(root, WALK, cancel)
        .into_iter()
        .filter(|e| !e.dir && !is_test(&e.path) && code(&e.path))
        .map(|e| e.path)
        .collect();
    let texts: Vec<(String, String)> = crate::relevant::read_texts(root, &files, cancel).collect();
    let shown = definitions_of(&direct, &texts);
    let shown = if shown.is_empty() { definitions_of(&around, &texts) } else { shown };
    if shown.is_empty() {
        return None;
    }
    Some(format!(
        "[tern] The failing check calls {}\nLook for the bug there first: the test shows what the code should do.",
        shown.join("\nand ")
    ))
}

/// The definitions in `texts` of `calls`, at most [`SHOWN`], each as
/// `name, defined in path:` and its numbered lines.
fn definitions_of(calls: &[String], texts: &[(String, String)]) -> Vec<String> {
    let mut shown = Vec::new();
    for call in calls {
        let want = HashSet::from([call.to_lowercase()]);
        let found = texts.iter().find_map(|(path, text)| Some((path, definitions::definition_of(text, &want)?)));
        if let Some((path, lines)) = found {
            let lines: Vec<String> = lines.iter().map(|(n, l)| format!("L{n}: {l}")).collect();
            shown.push(format!("{call}, defined in {path}:\n{}", lines.join("\n")));
        }
        if shown.len() == SHOWN {
            break;
        }
    }
    shown
}

/// Adds to `out` the names `text` calls (`name(`), in order, once each.
fn called(text: &str, out: &mut Vec<String>) {
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('(') {
        let start = text[..i]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
            .last()
            .map_or(i, |(j, _)| j);
        let name = &text[start..i];
        // Not `x.method(`: a method's name alone says little of where it is.
        let method = start > 0 && bytes[start - 1] == b'.';
        if name.len() >= 3
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && !method
            && !out.iter().any(|n| n == name)
        {
            out.push(name.to_string());
        }
    }
}

/// The test files and lines the output points at (`path:line[:col]`,
/// Python's `File "path", line N`), as workspace paths.
fn locations(root: &Path, output: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut push = |path: &str, line: &str| {
        let Ok(line) = line.parse::<usize>() else { return };
        let path = path.trim_start_matches("file://");
        let rel = Path::new(path).strip_prefix(root).map_or(path.to_string(), |p| p.to_string_lossy().into_owned());
        let rel = rel.trim_start_matches("./").to_string();
        let inside = !rel.starts_with('/') && !rel.split('/').any(|c| c == "..");
        if line > 0 && inside && is_test(&rel) && !out.contains(&(rel.clone(), line)) {
            out.push((rel, line));
        }
    };
    for token in output.split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '(' | ')' | '`' | ',')) {
        let mut parts = token.split(':');
        let (Some(first), Some(second)) = (parts.next(), parts.next()) else { continue };
        // `file:///a/b.js:6:10` splits after `file`.
        let (path, line) = if first == "file" { (second, parts.next().unwrap_or_default()) } else { (first, second) };
        push(path, line);
    }
    for line in output.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("File \"")
            && let Some((path, after)) = rest.split_once("\", line ")
        {
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            push(path, &digits);
        }
    }
    out
}

/// Whether `path` is source code (not documentation or data).
fn code(path: &str) -> bool {
    const NOT: &[&str] = &[".md", ".txt", ".rst", ".json", ".lock", ".toml", ".yaml", ".yml", ".csv", ".html", ".css"];
    let lower = path.to_ascii_lowercase();
    !NOT.iter().any(|ext| lower.ends_with(ext))
}

/// The text of the workspace file `path`, bounded as the map's reads are;
/// `None` for one that leads out of the workspace (a symlink). Blocking.
#[allow(clippy::disallowed_methods)] // blocking by contract
fn read(root: &Path, path: &str) -> Option<String> {
    let full = root.join(path).canonicalize().ok()?;
    if !full.starts_with(root.canonicalize().ok()?) {
        return None;
    }
    let files = [path.to_string()];
    crate::relevant::read_texts(root, &files, &CancellationToken::new()).next().map(|(_, text)| text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::disallowed_methods)] // tests may block
    use super::*;
    use crate::relevant::tests::repo;

    #[test]
    fn a_failed_assertion_shows_the_function_it_calls() {
        let dir = repo(&[
            (
                "src/ring.c",
                "#include \"ring.h\"\n\nint ring_is_full(const ring *r) { return r->len > r->capacity; }\n\
                 int ring_push(ring *r, int v) {\n    return 0;\n}\n",
            ),
            ("src/main.c", "int main(void) {\n    return 0;\n}\n"),
            ("tests/test_ring.c", "int main(void) {\n    ring_push(r, 1);\n    assert(ring_is_full(r));\n}\n"),
        ]);
        // The test's other calls (ring_push, on the lines around the one
        // named) are not shown: the failing line's own call is.
        let out = "./tests/test_ring\ntest_ring: tests/test_ring.c:3: main: Assertion `ring_is_full(r)' failed.\n\
                   make: *** [Makefile:12: test] Aborted\n";
        let note = note(dir.path(), out, &CancellationToken::new()).unwrap();
        assert_eq!(
            note,
            "[tern] The failing check calls ring_is_full, defined in src/ring.c:\nL3: int ring_is_full(const ring *r) \
             { return r->len > r->capacity; }\nLook for the bug there first: the test shows what the code should do."
        );
    }

    #[test]
    fn a_test_location_is_read_for_what_it_calls() {
        let dir = repo(&[
            ("src/slug.js", "// ids\nexport function slugify(title) {\n  return title.replace(/ /g, '_');\n}\n"),
            (
                "test/slug.test.js",
                "import test from 'node:test';\nimport { slugify } from '../src/slug.js';\n\n\
                 test('slugify joins words with dashes', () => {\n  assert.equal(slugify('a b'), 'a-b');\n});\n",
            ),
        ]);
        let root = dir.path().to_string_lossy();
        let out = format!(
            "not ok 1 - slugify joins words with dashes\n  location: '{root}/test/slug.test.js:4:1'\n  \
             stack: |-\n    TestContext.<anonymous> (file://{root}/test/slug.test.js:5:10)\n"
        );
        let shown = note(dir.path(), &out, &CancellationToken::new()).unwrap();
        assert!(
            shown.starts_with("[tern] The failing check calls slugify, defined in src/slug.js:\nL2: export"),
            "{shown}"
        );
        assert!(shown.contains("L4: }"), "{shown}");
        // Python's traceback, relative.
        let dir = repo(&[
            ("shipit/rates.py", "def is_heavy(w):\n    return w < 20\n"),
            ("tests/test_rates.py", "class T:\n    def test_limit(self):\n        self.assertTrue(is_heavy(20))\n"),
        ]);
        let out = "FAIL: test_limit (tests.test_rates.T.test_limit)\nTraceback (most recent call last):\n  \
                   File \"tests/test_rates.py\", line 3, in test_limit\nAssertionError: False is not true\n";
        let note = note(dir.path(), out, &CancellationToken::new()).unwrap();
        assert!(note.contains("is_heavy, defined in shipit/rates.py:\nL1: def is_heavy(w):\nL2:     return w < 20"));
    }

    #[test]
    fn output_calling_nothing_the_code_defines_gets_no_note() {
        let dir = repo(&[("src/a.py", "def helper():\n    pass\n")]);
        let c = CancellationToken::new();
        assert_eq!(note(dir.path(), "grep: nothing.txt: No such file or directory\n", &c), None);
        assert_eq!(note(dir.path(), "Traceback: print(x)\nNameError: undefined(1)\n", &c), None);
        assert_eq!(note(dir.path(), "/etc/passwd:1: x\n../../outside/test_x.py:3: y\n", &c), None);
    }
}
