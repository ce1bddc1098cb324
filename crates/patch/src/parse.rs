//! Parsing the patch text.

use crate::{Chunk, Hunk};

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";
const ADD: &str = "*** Add File: ";
const DELETE: &str = "*** Delete File: ";
const UPDATE: &str = "*** Update File: ";
const MOVE: &str = "*** Move to: ";
const EOF_MARKER: &str = "*** End of File";

/// A patch that does not follow the format; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid patch (line {line}): {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError { line, message: message.into() }
}

/// Parses a whole patch. A patch wrapped in a shell heredoc
/// (`<<'EOF'` … `EOF`) is accepted too, as models often send one.
pub fn parse(text: &str) -> Result<Vec<Hunk>, ParseError> {
    let lines: Vec<&str> = text.trim().split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let lines = strip_heredoc(&lines);
    let first = lines.first().map(|l| l.trim()).unwrap_or("");
    if first != BEGIN {
        return Err(err(1, format!("the first line must be '{BEGIN}'")));
    }
    if lines.len() < 2 || lines[lines.len() - 1].trim() != END {
        return Err(err(lines.len(), format!("the last line must be '{END}'")));
    }
    let body = &lines[1..lines.len() - 1];
    let mut hunks = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let lineno = i + 2;
        let line = body[i].trim();
        if let Some(path) = line.strip_prefix(ADD) {
            let mut contents = String::new();
            i += 1;
            while let Some(l) = body.get(i).and_then(|l| l.strip_prefix('+')) {
                contents.push_str(l);
                contents.push('\n');
                i += 1;
            }
            hunks.push(Hunk::Add { path: path.trim().to_string(), contents });
        } else if let Some(path) = line.strip_prefix(DELETE) {
            hunks.push(Hunk::Delete { path: path.trim().to_string() });
            i += 1;
        } else if let Some(path) = line.strip_prefix(UPDATE) {
            let path = path.trim().to_string();
            i += 1;
            let move_to = match body.get(i).map(|l| l.trim()).and_then(|l| l.strip_prefix(MOVE)) {
                Some(to) => {
                    i += 1;
                    Some(to.trim().to_string())
                }
                None => None,
            };
            let mut chunks = Vec::new();
            while i < body.len() && !is_hunk_header(body[i]) {
                let (chunk, used) = parse_chunk(&body[i..], i + 2, chunks.is_empty())?;
                chunks.push(chunk);
                i += used;
            }
            if chunks.is_empty() {
                return Err(err(lineno, format!("update of '{path}' has no changes")));
            }
            hunks.push(Hunk::Update { path, move_to, chunks });
        } else if line.is_empty() {
            i += 1;
        } else {
            return Err(err(
                lineno,
                format!(
                    "'{line}' is not a valid hunk header; valid headers are '{ADD}{{path}}', '{DELETE}{{path}}' and '{UPDATE}{{path}}'"
                ),
            ));
        }
    }
    if hunks.is_empty() {
        return Err(err(1, "the patch has no file operations; no files were modified"));
    }
    Ok(hunks)
}

fn strip_heredoc<'a, 'b>(lines: &'b [&'a str]) -> &'b [&'a str] {
    match (lines.first(), lines.last()) {
        (Some(f), Some(l)) if lines.len() >= 4 && f.trim_start().starts_with("<<") && l.trim().ends_with("EOF") => {
            &lines[1..lines.len() - 1]
        }
        _ => lines,
    }
}

fn is_hunk_header(line: &str) -> bool {
    let t = line.trim();
    [ADD, DELETE, UPDATE].iter().any(|h| t.starts_with(h))
}

/// Parses one chunk from `lines`; returns it and how many lines it used.
fn parse_chunk(lines: &[&str], first_lineno: usize, first: bool) -> Result<(Chunk, usize), ParseError> {
    let mut chunk = Chunk { context: None, old_lines: vec![], new_lines: vec![], kept: vec![], end_of_file: false };
    let mut i = 0;
    let head = lines[0].trim_end();
    if head == "@@" {
        i = 1;
    } else if let Some(ctx) = head.strip_prefix("@@ ") {
        chunk.context = Some(ctx.to_string());
        i = 1;
    } else if !first {
        return Err(err(first_lineno, format!("expected '@@' to start a change, found '{head}'")));
    }
    let mut diff_lines = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim() == EOF_MARKER {
            chunk.end_of_file = true;
            i += 1;
            break;
        }
        if line.trim_end().starts_with("@@") || is_hunk_header(line) {
            break;
        }
        match line.chars().next() {
            None | Some(' ') => {
                let text = line.get(1..).unwrap_or_default();
                chunk.kept.push(Some(chunk.old_lines.len()));
                chunk.old_lines.push(text.to_string());
                chunk.new_lines.push(text.to_string());
            }
            Some('-') => chunk.old_lines.push(line[1..].to_string()),
            Some('+') => {
                chunk.kept.push(None);
                chunk.new_lines.push(line[1..].to_string());
            }
            Some(_) => {
                return Err(err(
                    first_lineno + i,
                    format!(
                        "unexpected line '{line}' in an update; every line must start with ' ' (context), '+' (added) or '-' (removed)"
                    ),
                ));
            }
        }
        diff_lines += 1;
        i += 1;
    }
    if diff_lines == 0 {
        return Err(err(first_lineno, "a change section ('@@') has no lines"));
    }
    Ok((chunk, i))
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn all_hunk_kinds() {
        let p = "*** Begin Patch\n*** Add File: a.txt\n+one\n+two\n*** Delete File: b.txt\n*** Update File: c.txt\n*** Move to: d.txt\n@@ fn main\n ctx\n-old\n+new\n@@\n+tail\n*** End of File\n*** End Patch\n";
        let h = parse(p).unwrap();
        assert_eq!(h[0], Hunk::Add { path: "a.txt".into(), contents: "one\ntwo\n".into() });
        assert_eq!(h[1], Hunk::Delete { path: "b.txt".into() });
        let Hunk::Update { path, move_to, chunks } = &h[2] else { panic!() };
        assert_eq!((path.as_str(), move_to.as_deref()), ("c.txt", Some("d.txt")));
        assert_eq!(chunks[0].context.as_deref(), Some("fn main"));
        assert_eq!(chunks[0].old_lines, ["ctx", "old"]);
        assert_eq!(chunks[0].new_lines, ["ctx", "new"]);
        assert!(chunks[1].end_of_file && chunks[1].old_lines.is_empty());
    }

    #[test]
    fn errors_have_lines() {
        assert_eq!(parse("nope").unwrap_err().line, 1);
        assert!(parse("*** Begin Patch\n*** End Patch").unwrap_err().message.contains("no file operations"));
        let e = parse("*** Begin Patch\n*** Frobnicate File: x\n*** End Patch").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("*** Begin Patch\n*** Update File: x\n*** End Patch").unwrap_err();
        assert!(e.message.contains("has no changes"), "{e}");
        let e = parse("*** Begin Patch\n*** Update File: x\n@@\n ok\nbad line\n*** End Patch").unwrap_err();
        assert_eq!(e.line, 5, "{e}");
    }

    #[test]
    fn heredoc_crlf_and_first_chunk_without_header() {
        let p = "<<'EOF'\r\n*** Begin Patch\r\n*** Update File: x\r\n-a\r\n+b\r\n*** End Patch\r\nEOF\r\n";
        let h = parse(p).unwrap();
        let Hunk::Update { chunks, .. } = &h[0] else { panic!() };
        assert_eq!(chunks[0].old_lines, ["a"]);
    }
}
