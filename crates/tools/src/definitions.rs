//! The names a source file defines, read off its lines without parsing
//! the language: enough to tell the file that defines `NoteStore` or
//! `is_heavy` from the files that only use it, in Python, JavaScript,
//! TypeScript, C, Rust, Go and their like.

use std::collections::HashSet;

/// Words that open a definition of the name after them.
const OPENERS: &[&str] = &[
    "def",
    "class",
    "function",
    "fn",
    "func",
    "struct",
    "enum",
    "trait",
    "interface",
    "type",
    "const",
    "let",
    "var",
    "module",
    "impl",
];
/// Words that may come before an opener (`export default async function`).
const MODIFIERS: &[&str] =
    &["export", "default", "pub", "pub(crate)", "async", "unsafe", "extern", "abstract", "static", "inline"];
/// Words followed by `(` that are not a method being defined.
const KEYWORDS: &[&str] = &[
    "if", "for", "while", "switch", "catch", "return", "sizeof", "elif", "with", "function", "super", "new", "await",
    "typeof", "else", "do", "try",
];

/// The names defined in `text`, lower-cased.
pub(crate) fn defined(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for line in text.lines() {
        if let Some(name) = defines(line) {
            out.insert(name.to_lowercase());
        }
    }
    out
}

/// The name `line` defines, if it looks like a definition.
fn defines(line: &str) -> Option<&str> {
    let indented = line.starts_with([' ', '\t']);
    let mut rest = line.trim_start();
    if let Some(after) = rest.strip_prefix("#define") {
        return ident(after.trim_start());
    }
    loop {
        let (word, after) = rest.split_once(char::is_whitespace)?;
        if MODIFIERS.contains(&word) {
            rest = after.trim_start();
            continue;
        }
        if OPENERS.contains(&word) {
            return ident(after.trim_start()).filter(|n| !KEYWORDS.contains(n));
        }
        break;
    }
    let name_end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
    let (first, after) = rest.split_at(name_end);
    let after = after.trim_start();
    // `NAME = value` at the top of a file: a constant or a setting.
    if !indented && !first.is_empty() && after.starts_with('=') && !after.starts_with("==") {
        return ident(first);
    }
    let code = line.trim_end();
    // A method in a class body: `add(note) {` (JavaScript, TypeScript).
    if indented && after.starts_with('(') && code.ends_with('{') && !KEYWORDS.contains(&first) {
        return ident(first);
    }
    // A C-like function definition: a type, the name, `(`, at the margin,
    // and not a declaration (`;`) or a call statement.
    if !indented && !code.ends_with(';') && !line.starts_with(['#', '/', '*', '{', '}', '@']) {
        let open = code.find('(')?;
        let before = code[..open].trim_end();
        let start = before.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
        let name = &before[start..];
        // A type must come first: `int ring_push(`, `static void *x(`.
        if start > 0 && !KEYWORDS.contains(&name) {
            return ident(name);
        }
    }
    None
}

/// Lines of a definition shown at most.
const BLOCK: usize = 20;

/// The first definition in `text` of one of `names` (lower-cased): its
/// lines, numbered from 1, from the one naming it to the end of its body
/// (indented lines, and a closing `}`/`end` at its own indentation), at
/// most [`BLOCK`].
pub(crate) fn definition_of(text: &str, names: &HashSet<String>) -> Option<Vec<(usize, String)>> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| defines(l).is_some_and(|n| names.contains(&n.to_lowercase())))?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let own = indent(lines[start]);
    let mut end = start + 1;
    // A one-line body (`int f(void) { return 1; }`, `x = 1`) ends here.
    let opens = !lines[start].trim_end().ends_with(['}', ';']);
    while opens && end < lines.len() && end - start < BLOCK {
        let line = lines[end];
        let t = line.trim();
        if t.is_empty() || indent(line) > own {
            end += 1;
            continue;
        }
        if t.starts_with('}') || t == "end" {
            end += 1;
        }
        break;
    }
    // Blank lines at its end are not part of it.
    while end > start + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    Some((start..end).map(|i| (i + 1, lines[i].trim_end_matches('\r').to_string())).collect())
}

/// The identifier `text` starts with.
fn ident(text: &str) -> Option<&str> {
    let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(text.len());
    let name = &text[..end];
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
}

/// Whether `path` holds tests: a `test`/`tests`/`spec` directory, or a
/// name like `test_x.py`, `x_test.go`, `x.test.js`, `x.spec.ts`.
pub fn is_test(path: &str) -> bool {
    let lower = path.to_lowercase();
    let mut parts = lower.split('/');
    let name = parts.next_back().unwrap_or_default();
    let stem = name.split('.').next().unwrap_or_default();
    parts.any(|d| matches!(d, "test" | "tests" | "spec" | "__tests__"))
        || stem.starts_with("test_")
        || stem.ends_with("_test")
        || name.contains(".test.")
        || name.contains(".spec.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        let mut v: Vec<String> = defined(text).into_iter().collect();
        v.sort();
        v
    }

    #[test]
    fn definitions_in_several_languages() {
        let py = "import os\n\nMAX_RETRIES = 4\nclass Client:\n    def fetch(self, path):\n        x = 1\n\
                  def is_heavy(w):\n    return w >= LIMIT\n";
        assert_eq!(names(py), ["client", "fetch", "is_heavy", "max_retries"]);
        let js = "import { a } from './a.js';\nexport const MAX_NOTES = 500;\nexport class NoteStore {\n  \
                  add(note) {\n    if (x) {\n    }\n    this.notes.set(id);\n  }\n}\n\
                  export default async function slugify(t) {\n  return t;\n}\n";
        assert_eq!(names(js), ["add", "max_notes", "notestore", "slugify"]);
        let c = "#include <stdlib.h>\n#define RING_DEFAULT_CAPACITY 64\nint ring_push(ring *r, int v);\n\
                 static int threshold(void) {\n    return atoi(v);\n}\nsize_t ring_len(const ring *r) { return r->len; }\n\
                 void ring_free(ring *r)\n{\n    free(r);\n}\nring_push(r, 1);\n";
        assert_eq!(names(c), ["ring_default_capacity", "ring_free", "ring_len", "threshold"]);
        let rs = "pub(crate) fn run() {}\npub struct Config {\n    fn inner(&self) {}\n}\nlet x = 3;\n";
        assert_eq!(names(rs), ["config", "inner", "run", "x"]);
    }

    #[test]
    fn test_files_are_told_by_their_path() {
        for p in ["tests/test_rates.py", "test/slug.test.js", "pkg/x_test.go", "src/__tests__/a.ts", "a.spec.ts"] {
            assert!(is_test(p), "{p}");
        }
        for p in ["shipit/rates.py", "src/slug.js", "src/testing_utils.rs", "latest.py"] {
            assert!(!is_test(p), "{p}");
        }
    }

    #[test]
    fn a_definition_is_shown_with_its_body() {
        let set = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<HashSet<String>>();
        let py = "HEAVY = 20\n\n\ndef is_heavy(w):\n    \"\"\"Heavy.\"\"\"\n    return w < HEAVY\n\n\ndef cost(w):\n    return w\n";
        let got = definition_of(py, &set(&["self", "asserttrue", "is_heavy"])).unwrap();
        assert_eq!(got.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [4, 5, 6]);
        assert_eq!(got[2].1, "    return w < HEAVY");
        let c = "#include <x.h>\n\nint ring_is_full(const ring *r) { return r->len > r->capacity; }\n\n\
                 int ring_push(ring *r, int v) {\n    if (x) {\n        return -1;\n    }\n    return 0;\n}\nint z(void) {}\n";
        let one = definition_of(c, &set(&["ring_is_full"])).unwrap();
        assert_eq!(one, [(3, "int ring_is_full(const ring *r) { return r->len > r->capacity; }".to_string())]);
        let block = definition_of(c, &set(&["ring_push"])).unwrap();
        assert_eq!((block[0].0, block.last().unwrap().clone()), (5, (10, "}".to_string())));
        assert_eq!(definition_of(c, &set(&["nothing"])), None);
    }
}
