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

/// An edit whose `new_string` writes again the lines after its
/// `old_string`, made as the addition it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// What to replace: `old_string` through the last line written again.
    pub old: String,
    /// The same text, as the file has it, then the new lines.
    pub new: String,
    /// The file's lines `new_string` wrote again (first, last), from 1.
    pub kept: (usize, usize),
    /// How many lines are added.
    pub added: usize,
}

/// `new` read as `old`, the file's next lines again, then new lines (a
/// small model asked to add a method writes out the whole class): the
/// edit that adds only the new lines after the ones written again, every
/// byte of those kept as the file has them. Lines are compared trimmed,
/// blank lines skipped, so the model's indentation and the blank lines it
/// left out do not matter. `None` unless [`repeated_after`] finds a
/// repeat, `new` starts with `old` and the rest of its line, and what
/// follows the repeated lines is new: a line of it already further on in
/// the file means lines were changed or moved, not only added.
pub fn merged(text: &str, old: &str, new: &str) -> Option<Merged> {
    repeated_after(text, old, new)?;
    let at = text.find(old)?;
    let end = at + old.len();
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    let tail = text[end..line_end].trim_end_matches('\r');
    let rest = new.strip_prefix(old)?.strip_prefix(tail)?;
    let rest = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n'))?;
    let body = (line_end + 1).min(text.len());
    let file: Vec<&str> = text[body..].split_inclusive('\n').collect();
    let lines: Vec<&str> = rest.lines().collect();
    let blank = |l: &str| l.trim().is_empty();
    // Both, blank lines skipped, as long as they agree.
    let (mut f, mut n) = (0, 0);
    let mut matched = Vec::new();
    loop {
        while f < file.len() && blank(file[f]) {
            f += 1;
        }
        while n < lines.len() && blank(lines[n]) {
            n += 1;
        }
        if f == file.len() || n == lines.len() || file[f].trim() != lines[n].trim() {
            break;
        }
        matched.push((f, n));
        (f, n) = (f + 1, n + 1);
    }
    let &(last_file, last_new) = matched.last()?;
    let mut added = &lines[last_new + 1..];
    while added.last().is_some_and(|l| blank(l)) {
        added = &added[..added.len() - 1];
    }
    // The model's copy of the lines that come next (a class's closing
    // brace) ends `new`: they stay once. Compared with their indentation,
    // so a method's `  }` is not taken for the class's `}`.
    let next: Vec<&str> = file[last_file + 1..].iter().filter(|l| !blank(l)).map(|l| l.trim_end()).collect();
    let same = (1..=added.len().min(next.len()))
        .rev()
        .find(|&s| added[added.len() - s..].iter().zip(&next[..s]).all(|(a, b)| a.trim_end() == *b))
        .unwrap_or(0);
    added = &added[..added.len() - same];
    let further: std::collections::HashSet<&str> = next.iter().map(|l| l.trim()).collect();
    let significant = |l: &str| l.trim().len() >= SIGNIFICANT && l.chars().any(char::is_alphanumeric);
    if added.iter().all(|l| blank(l)) || added.iter().any(|l| significant(l) && further.contains(l.trim())) {
        return None;
    }
    // The model's indentation becomes the file's (a class body at 2
    // spaces in `new`, 4 in the file): as on the lines it matched, or in
    // multiples of its smallest step there.
    let indent = |l: &str| l.len() - l.trim_start().len();
    let widths: Vec<(usize, &str)> =
        matched.iter().map(|&(f, n)| (indent(lines[n]), &file[f][..indent(file[f])])).collect();
    let step = widths.iter().filter(|(w, _)| *w > 0).min_by_key(|(w, _)| *w).copied();
    let added: Vec<String> = added
        .iter()
        .map(|l| {
            let (w, rest) = (indent(l), l.trim_start());
            match (widths.iter().find(|(m, _)| *m == w), step) {
                (Some((_, ours)), _) => format!("{ours}{rest}"),
                (None, Some((m, ours))) if w % m == 0 => format!("{}{rest}", ours.repeat(w / m)),
                _ => l.to_string(),
            }
        })
        .collect();
    let old_end = body + file[..=last_file].iter().map(|l| l.len()).sum::<usize>();
    let old_text = &text[at..old_end];
    let crlf = text[..old_end].rfind('\n').is_some_and(|i| text[..i].ends_with('\r'));
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut new_text = old_text.to_string();
    // The file's last line has no newline: the new lines go after one,
    // and the file still ends without.
    let last_line = !old_text.ends_with('\n');
    for (i, line) in added.iter().enumerate() {
        if last_line || i > 0 {
            new_text.push_str(eol);
        }
        new_text.push_str(line);
    }
    if !last_line {
        new_text.push_str(eol);
    }
    let first = text[..body].matches('\n').count() + 1;
    let first_kept = first + file.iter().position(|l| !blank(l)).unwrap_or(0);
    Some(Merged { old: old_text.to_string(), new: new_text, kept: (first_kept, first + last_file), added: added.len() })
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

    /// Applies a merge the way edit_file would: its `old` replaced once.
    fn apply(file: &str, m: &Merged) -> String {
        assert_eq!(file.matches(&m.old).count(), 1);
        file.replacen(&m.old, &m.new, 1)
    }

    #[test]
    fn a_whole_class_written_out_again_adds_only_its_new_method() {
        let file = "import x\n\nexport class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n\n  \
                    get(id) {\n    return this.notes.get(id);\n  }\n}\n";
        // The 1.5B's edit: the header replaced by the class (without the
        // blank line, and without the closing brace), count() at the end.
        let new = "export class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n  get(id) {\n    \
                   return this.notes.get(id);\n  }\n  count() {\n    return this.notes.size;\n  }\n";
        let m = merged(file, "export class NoteStore {", new).unwrap();
        assert_eq!((m.kept, m.added), ((4, 10), 3));
        assert_eq!(
            apply(file, &m),
            "import x\n\nexport class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n\n  get(id) {\n    \
             return this.notes.get(id);\n  }\n  count() {\n    return this.notes.size;\n  }\n}\n"
        );
        // With the class's own closing brace too, it is there once.
        let closed = format!("{new}}}\n");
        assert_eq!(apply(file, &merged(file, "export class NoteStore {", &closed).unwrap()), apply(file, &m));
    }

    #[test]
    fn a_merge_keeps_the_files_bytes_and_endings() {
        // CRLF, other indentation in the model's copy (its new lines get
        // the file's), no final newline.
        let file = "class A:\r\n    def first_method(self):\r\n        return 1\r\n\r\n    def other(self):\r\n        return 2";
        let new = "class A:\n  def first_method(self):\n    return 1\n  def other(self):\n    return 2\n\n  def third(self):\n    return 3\n";
        let m = merged(file, "class A:", new).unwrap();
        assert_eq!(m.added, 3);
        assert_eq!(
            apply(file, &m),
            "class A:\r\n    def first_method(self):\r\n        return 1\r\n\r\n    def other(self):\r\n        return 2\r\n\r\n    \
             def third(self):\r\n        return 3"
        );
    }

    #[test]
    fn edits_that_change_or_only_repeat_lines_are_not_merged() {
        let file = "def a():\n    return compute_value(1)\n\ndef b():\n    return compute_value(2)\n";
        for new in [
            // Nothing new after the repeat.
            "def a():\n    return compute_value(1)\n",
            // A line changed inside the repeat: the rest is not new, it is
            // further on in the file.
            "def a():\n    return compute_value(1)\n    x = 1\n\ndef b():\n    return compute_value(2)\n    y = 2\n",
            // The old line's rest not written again.
            "def a(): pass\n    return compute_value(1)\n    z = 3\n",
        ] {
            assert_eq!(merged(file, "def a():", new), None, "{new:?}");
        }
        // No repeat at all.
        assert_eq!(merged(file, "def a():", "def a():\n    x = 1\n"), None);
    }
}
