//! An edit that would write lines twice: a small model replaces a
//! function's first line with the whole function, or a class header with
//! the whole class, so the lines after `old_string` stay and come again
//! from `new_string`.

/// Lines following the edit's `old_string` that `new_string` writes again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    /// The lines as the file has them, numbered from 1.
    pub lines: Vec<(usize, String)>,
}

/// Lines of the file shown following `old_string`, at most.
const AHEAD: usize = 12;
/// A line shorter than this (trimmed) is too common to count as repeated
/// (`}`, `return 0;`, `else:`).
const SIGNIFICANT: usize = 12;

/// Whether replacing the one occurrence of `old` in `text` with `new`
/// writes again the line right after it (and, with it, the run of
/// following lines `new` also holds). `None` when it does not, or when
/// `old` is not in `text` exactly once (the edit tool says so itself).
pub fn repeated_after(text: &str, old: &str, new: &str) -> Option<Repeat> {
    if old.is_empty() || new.len() <= old.len() {
        return None;
    }
    let at = text.find(old)?;
    let end = at + old.len();
    if text[end..].contains(old) {
        return None;
    }
    let significant = |t: &str| t.len() >= SIGNIFICANT && t.chars().any(char::is_alphanumeric);
    let repeated = |t: &str| new.contains(t) && !old.contains(t);
    // The rest of the line old_string ends in, then the lines after it.
    let mut number = text[..end].matches('\n').count() + 1;
    let mut rest = text[end..].split('\n');
    let tail = rest.next().unwrap_or_default();
    let mut following = Vec::new();
    if !tail.trim().is_empty() {
        following.push((number, tail));
    }
    for line in rest.take(AHEAD) {
        number += 1;
        following.push((number, line));
    }
    let mut lines = Vec::new();
    for (n, line) in following {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if !significant(t) {
            // A `}` inside a repeated run belongs to it.
            if !lines.is_empty() && new.contains(t) {
                lines.push((n, line.trim_end_matches('\r').to_string()));
            }
            continue;
        }
        if !repeated(t) {
            break;
        }
        lines.push((n, line.trim_end_matches('\r').to_string()));
    }
    // A run ends with its last significant line, not a trailing `}`.
    while lines.last().is_some_and(|(_, l)| !significant(l.trim())) {
        lines.pop();
    }
    (!lines.is_empty()).then_some(Repeat { lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_replaced_by_the_whole_block_repeats_its_body() {
        let file = "import x\n\nexport class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n\n  \
                    get(id) {\n    return this.notes.get(id);\n  }\n}\n";
        let new = "export class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n  count() {\n    \
                   return this.notes.size;\n  }\n";
        let got = repeated_after(file, "export class NoteStore {", new).unwrap();
        assert_eq!(
            got.lines,
            [(4, "  constructor() {".to_string()), (5, "    this.notes = new Map();".to_string())],
            "the `  }}` after them is in new_string too, but ends no run"
        );
        // A signature replaced by a one-line function repeats its body.
        let slug = "// ids\nexport function slugify(title) {\n  return title.toLowerCase().trim();\n}\n";
        let got = repeated_after(slug, "slugify(title) {", "slugify(title) { return title.toLowerCase().trim(); }");
        assert_eq!(got.unwrap().lines, [(3, "  return title.toLowerCase().trim();".to_string())]);
    }

    #[test]
    fn edits_that_write_each_line_once_pass() {
        let file = "def a():\n    return compute_value(1)\n\ndef b():\n    return compute_value(2)\n";
        for (old, new) in [
            // Replacing the whole block.
            ("def a():\n    return compute_value(1)", "def a():\n    return compute_value(10)"),
            // Adding a new function before the next one, without repeating it.
            ("    return compute_value(1)\n", "    return compute_value(1)\n\ndef c():\n    return 3\n"),
            // A copy of the block it replaces, changed, beside it.
            (
                "def a():\n    return compute_value(1)",
                "def a():\n    return compute_value(1)\n\ndef a2():\n    return compute_value(1)",
            ),
            // Shorter text can repeat nothing.
            ("def a():\n", "def"),
            // Not in the file, or in it twice.
            ("def z():", "def z():\n    return compute_value(2)"),
            ("return compute_value", "return compute_value(2) + compute_value"),
        ] {
            assert_eq!(repeated_after(file, old, new), None, "{old:?} -> {new:?}");
        }
        // Short lines alone are not a repeat.
        assert_eq!(repeated_after("a = 1\n}\n", "a = 1", "a = 1\n}"), None);
    }
}
