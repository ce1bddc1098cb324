//! Applying an update's chunks to a file's text, byte-preserving.

use crate::Chunk;
use crate::seek::seek;

/// Why an update could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot find the context line '{context}' in {path}")]
    ContextNotFound { path: String, context: String },
    #[error("cannot find these lines in {path} (read the file again and resend the patch):\n{lines}")]
    LinesNotFound { path: String, lines: String },
}

/// One line of the original: its text and its terminator ("\n", "\r\n",
/// or "" for a last line without one).
struct Line<'a> {
    text: &'a str,
    eol: &'a str,
}

fn split(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find('\n') {
            Some(i) => {
                let (line, tail) = rest.split_at(i + 1);
                let (text, eol) = match line.strip_suffix("\r\n") {
                    Some(t) => (t, "\r\n"),
                    None => (&line[..line.len() - 1], "\n"),
                };
                out.push(Line { text, eol });
                rest = tail;
            }
            None => {
                out.push(Line { text: rest, eol: "" });
                rest = "";
            }
        }
    }
    out
}

/// Where a chunk's lines were found, and what replaces them.
struct Replacement<'a> {
    start: usize,
    len: usize,
    new: &'a [String],
    /// Parallel to `new`: the matched line (offset from `start`) a context
    /// line stands for.
    kept: &'a [Option<usize>],
}

/// Applies `chunks` to `original` (the file's text, without a BOM).
/// Unchanged lines, context lines included, keep their exact bytes; new
/// lines take the file's usual line ending; a file without a final newline
/// keeps lacking one.
pub fn apply_chunks(original: &str, chunks: &[Chunk], path: &str) -> Result<String, ApplyError> {
    let lines = split(original);
    let texts: Vec<&str> = lines.iter().map(|l| l.text).collect();
    let mut replacements: Vec<Replacement> = Vec::new();
    let mut at = 0;
    for chunk in chunks {
        if let Some(ctx) = &chunk.context {
            match seek(&texts, std::slice::from_ref(ctx), at, false) {
                Some(i) => at = i + 1,
                None => return Err(ApplyError::ContextNotFound { path: path.into(), context: ctx.clone() }),
            }
        }
        if chunk.old_lines.is_empty() {
            // Pure addition: at the end of the file.
            replacements.push(Replacement { start: texts.len(), len: 0, new: &chunk.new_lines, kept: &[] });
            continue;
        }
        let mut old: &[String] = &chunk.old_lines;
        let mut new: &[String] = &chunk.new_lines;
        let mut kept: &[Option<usize>] = &chunk.kept;
        let mut found = seek(&texts, old, at, chunk.end_of_file);
        if found.is_none() && old.last().is_some_and(String::is_empty) {
            // A trailing empty line in the patch stands for the final newline.
            old = &old[..old.len() - 1];
            if new.last().is_some_and(String::is_empty) {
                new = &new[..new.len() - 1];
                kept = &kept[..kept.len().min(new.len())];
            }
            found = seek(&texts, old, at, chunk.end_of_file);
        }
        match found {
            Some(i) => {
                replacements.push(Replacement { start: i, len: old.len(), new, kept });
                at = i + old.len();
            }
            None => {
                return Err(ApplyError::LinesNotFound { path: path.into(), lines: chunk.old_lines.join("\n") });
            }
        }
    }
    replacements.sort_by_key(|r| r.start);

    let eol = dominant_eol(&lines);
    let mut out: Vec<(&str, &str)> = Vec::with_capacity(lines.len());
    let mut next = 0;
    for r in replacements {
        let start = r.start.max(next);
        out.extend(lines[next..start].iter().map(|l| (l.text, l.eol)));
        for (j, text) in r.new.iter().enumerate() {
            // A context line is the file's line, byte for byte.
            match r.kept.get(j).copied().flatten().filter(|&k| k < r.len).and_then(|k| lines.get(start + k)) {
                Some(line) => out.push((line.text, line.eol)),
                None => out.push((text.as_str(), eol)),
            }
        }
        next = (start + r.len).min(lines.len());
    }
    out.extend(lines[next..].iter().map(|l| (l.text, l.eol)));

    let had_final_newline = lines.last().is_none_or(|l| !l.eol.is_empty());
    let n = out.len();
    let mut text = String::with_capacity(original.len() + 64);
    for (i, (t, e)) in out.into_iter().enumerate() {
        text.push_str(t);
        let e = match (i + 1 == n, e.is_empty()) {
            (false, true) => eol,
            (true, _) if !had_final_newline => "",
            (true, true) => eol,
            _ => e,
        };
        text.push_str(e);
    }
    Ok(text)
}

/// CRLF when most terminated lines use it, else LF.
fn dominant_eol(lines: &[Line]) -> &'static str {
    let crlf = lines.iter().filter(|l| l.eol == "\r\n").count();
    let lf = lines.iter().filter(|l| l.eol == "\n").count();
    if crlf > lf { "\r\n" } else { "\n" }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    fn chunk(ctx: Option<&str>, old: &[&str], new: &[&str], eof: bool) -> Chunk {
        Chunk {
            context: ctx.map(str::to_string),
            old_lines: old.iter().map(|s| s.to_string()).collect(),
            new_lines: new.iter().map(|s| s.to_string()).collect(),
            kept: vec![None; new.len()],
            end_of_file: eof,
        }
    }

    /// The chunks of a one-file patch whose body is `body`.
    fn parsed(body: &str) -> Vec<Chunk> {
        match crate::parse(&format!("*** Begin Patch\n*** Update File: f\n{body}*** End Patch\n")).unwrap().remove(0) {
            crate::Hunk::Update { chunks, .. } => chunks,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loose_context_is_written_back_as_the_file_has_it() {
        // Trailing whitespace, indentation and Unicode punctuation the patch
        // spelled differently: the file's bytes stay.
        let orig = "keep   \n\tif x \u{2014} y {\r\n        old\nsay \u{201c}hi\u{201d}\u{a0}\nend\n";
        let body = "@@\n keep\n  if x - y {\n-        old\n+        new\n say \"hi\"\n";
        let out = apply_chunks(orig, &parsed(body), "f").unwrap();
        assert_eq!(out, "keep   \n\tif x \u{2014} y {\r\n        new\nsay \u{201c}hi\u{201d}\u{a0}\nend\n");
    }

    #[test]
    fn context_lines_keep_their_own_endings_in_a_mixed_file() {
        let orig = "a\r\nb\nc\r\nd\r\n";
        let out = apply_chunks(orig, &parsed("@@\n a\n-b\n+B\n c\n"), "f").unwrap();
        assert_eq!(out, "a\r\nB\r\nc\r\nd\r\n", "B takes the usual ending (CRLF); a and c keep theirs");
    }

    #[test]
    fn very_long_lines() {
        let long = "x".repeat(200_000);
        let orig = format!("{long}\nmid\n{long}");
        let out = apply_chunks(&orig, &parsed(&format!("@@\n {long}\n-mid\n+MID\n {long}\n")), "f").unwrap();
        assert_eq!(out, format!("{long}\nMID\n{long}"));
    }

    #[test]
    fn crlf_and_missing_final_newline_survive() {
        let orig = "a\r\nb\r\nc";
        let out = apply_chunks(orig, &[chunk(None, &["b"], &["B", "B2"], false)], "f").unwrap();
        assert_eq!(out, "a\r\nB\r\nB2\r\nc");
        let out = apply_chunks(orig, &[chunk(None, &[], &["d"], false)], "f").unwrap();
        assert_eq!(out, "a\r\nb\r\nc\r\nd");
        let out = apply_chunks(orig, &[chunk(None, &["c"], &["C"], true)], "f").unwrap();
        assert_eq!(out, "a\r\nb\r\nC");
    }

    #[test]
    fn mixed_endings_keep_untouched_lines() {
        let orig = "a\nb\r\nc\n";
        let out = apply_chunks(orig, &[chunk(None, &["c"], &["C"], false)], "f").unwrap();
        assert_eq!(out, "a\nb\r\nC\n");
    }

    #[test]
    fn a_chunk_at_the_end_cannot_take_an_earlier_chunks_lines() {
        // fuzz/regressions/patch/eof-chunk-overlaps: the second chunk matched
        // `d` again, and its lines were written after the first's: `d` twice
        // (or, with changes, `d` kept and `D` appended).
        let chunks = parsed("@@\n-c\n+C\n d\n@@\n-d\n+D\n*** End of File\n");
        assert!(matches!(apply_chunks("a\nb\nc\nd\n", &chunks, "f"), Err(ApplyError::LinesNotFound { .. })));
        let chunks = parsed("@@\n-b\n+B\n@@\n-d\n+D\n*** End of File\n");
        assert_eq!(apply_chunks("a\nb\nc\nd\n", &chunks, "f").unwrap(), "a\nB\nc\nD\n");
    }

    #[test]
    fn context_and_errors() {
        let orig = "fn a() {\n    x\n}\nfn b() {\n    x\n}\n";
        let out = apply_chunks(orig, &[chunk(Some("fn b() {"), &["    x"], &["    y"], false)], "f").unwrap();
        assert_eq!(out, "fn a() {\n    x\n}\nfn b() {\n    y\n}\n");
        assert!(matches!(
            apply_chunks(orig, &[chunk(Some("fn c"), &["x"], &["y"], false)], "f"),
            Err(ApplyError::ContextNotFound { .. })
        ));
        assert!(matches!(
            apply_chunks(orig, &[chunk(None, &["zzz"], &[], false)], "f"),
            Err(ApplyError::LinesNotFound { .. })
        ));
        assert_eq!(apply_chunks("", &[chunk(None, &[], &["x"], false)], "f").unwrap(), "x\n");
    }
}
