//! `edit_file`: replace an exact string (search/replace style).

use super::{Plan, target};
use crate::nearby::{Want, missing, nearest_lines};
use crate::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema, blocking, parse_args};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use tern_files::text::Text;

pub(crate) struct EditFile;

#[derive(Deserialize)]
struct Args {
    path: String,
    old_string: String,
    new_string: String,
    #[serde(default)]
    replace_all: bool,
}

impl Tool for EditFile {
    fn name(&self) -> &'static str {
        "edit_file"
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name().to_owned().into(),
            description: "Replace exact text in a file. old_string must match the file exactly (whitespace \
                included) and occur once, unless replace_all is true. Read the file first."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "old_string": {"type": "string", "description": "The exact text to replace."},
                    "new_string": {"type": "string", "description": "The replacement."},
                    "replace_all": {"type": "boolean", "description": "Replace every occurrence. Default false."}
                },
                "required": ["path", "old_string", "new_string"],
                "additionalProperties": false
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Edit
    }

    fn mutates(&self) -> bool {
        true
    }

    fn approve<'a>(&'a self, ctx: &'a ToolCtx, _args: &'a serde_json::Value) -> BoxFuture<'a, Result<(), ToolError>> {
        Box::pin(std::future::ready(ctx.approvals.check_write()))
    }

    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            let files = ctx.files.clone();
            blocking(ctx, move |ws, cancel| {
                let (path, shown) = target(ws, &args.path)?;
                let mut plan = Plan::default();
                let Some(before) = plan.current(&path) else {
                    let what = format!("{shown} does not exist (to create it, use write_file)");
                    return Err(missing(ws, &shown, what, Want::File, cancel));
                };
                files.check_fresh(&path, &shown)?;
                let text = Text::decode(&before, &shown)?;
                let (old, new, dropped) = without_numbers(&text.body, &args.old_string, &args.new_string);
                let (body, n) = replace(&text.body, &old, &new, args.replace_all, &shown)?;
                plan.change(ws, &path, Some(&before), text.encode(&body));
                let what = if n == 1 { "1 replacement".to_string() } else { format!("{n} replacements") };
                let note = if dropped { " (without the L<n>: line numbers copied from read_file)" } else { "" };
                Ok(ToolOutput::changed(format!("Edited {shown}: {what}{note}"), plan.commit(&files)?))
            })
            .await
        })
    }
}

/// A file this short is shown whole when an edit's text is not in it.
const WHOLE_FILE_LINES: usize = 60;

/// Lines of context shown around each place text occurs.
const CONTEXT_LINES: usize = 3;
/// Places shown at most.
const PLACES_SHOWN: usize = 3;

/// The lines around each place `old` occurs in `body` (the first few
/// places), numbered as read_file numbers them.
fn occurrences(body: &str, old: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut out = String::new();
    let mut shown_to = 0;
    for (at, _) in body.match_indices(old).take(PLACES_SHOWN) {
        let first = body[..at].matches('\n').count();
        let last = first + old.trim_end_matches('\n').matches('\n').count();
        let from = first.saturating_sub(CONTEXT_LINES).max(shown_to);
        let to = (last + CONTEXT_LINES + 1).min(lines.len());
        if from > shown_to && shown_to > 0 {
            out.push_str("…\n");
        }
        for (i, line) in lines.iter().enumerate().take(to).skip(from) {
            out.push_str(&format!("L{}: {line}\n", i + 1));
        }
        shown_to = shown_to.max(to);
    }
    out
}

/// `body` with read_file's line numbers.
fn numbered(body: &str) -> String {
    body.lines().enumerate().map(|(i, l)| format!("L{}: {l}\n", i + 1)).collect()
}

/// `old` and `new` without read_file's line numbers when `old` was copied
/// with them (it is not in `body` as given, and is without them); true
/// when they were dropped. What edit_file replaces, then.
pub fn without_numbers(body: &str, old: &str, new: &str) -> (String, String, bool) {
    let crlf = |t: &str| t.replace('\n', "\r\n");
    match super::numbers::unnumbered(old) {
        Some(bare) if !body.contains(old) && (body.contains(&bare) || body.contains(&crlf(&bare))) => {
            (bare, super::numbers::unnumbered_lines(new), true)
        }
        _ => (old.to_string(), new.to_string(), false),
    }
}

/// Replaces `old` with `new` in `body`. A file with CRLF endings also
/// matches an `old` written with LF (and gets `new` in CRLF).
fn replace(body: &str, old: &str, new: &str, all: bool, shown: &str) -> Result<(String, usize), ToolError> {
    if old.is_empty() {
        return Err(ToolError::InvalidArgs(
            "old_string is empty; to create or replace a whole file use write_file".into(),
        ));
    }
    let crlf = body.contains("\r\n") && old.contains('\n') && !old.contains("\r\n");
    let (old, new) = if crlf && !body.contains(old) {
        (old.replace('\n', "\r\n"), new.replace("\r\n", "\n").replace('\n', "\r\n"))
    } else {
        (old.to_string(), new.to_string())
    };
    let n = body.matches(old.as_str()).count();
    if old == new && n > 0 {
        // Small models send an edit that changes nothing to look at code:
        // the answer shows it (and one not in the file is not found, below).
        return Err(ToolError::Failed(format!(
            "old_string and new_string are the same, so nothing was changed. In {shown} it is here:\n{}\
             To change it, send new_string with the text it should become",
            occurrences(body, &old)
        )));
    }
    match (n, all) {
        (0, _) => Err(ToolError::Failed(match nearest_lines(body, &old) {
            Some(lines) => format!(
                "old_string was not found in {shown}. The closest lines in the file are:\n{lines}\
                 Copy the text to replace exactly from the file, whitespace included (without the L<n>: prefixes)"
            ),
            // A short file is shown whole: the model needs its text to copy from.
            None if body.lines().count() <= WHOLE_FILE_LINES => format!(
                "old_string was not found in {shown}, nor anything like it. The whole file is:\n{}\
                 Copy the text to replace exactly from the file, whitespace included (without the L<n>: prefixes)",
                numbered(body)
            ),
            None => format!(
                "old_string was not found in {shown}, nor anything like it; read the file and copy the text exactly, \
                 whitespace included"
            ),
        })),
        (n, false) if n > 1 => Err(ToolError::Failed(format!(
            "old_string occurs {n} times in {shown}; include more surrounding lines so it is unique, or set replace_all"
        ))),
        (n, true) => Ok((body.replace(old.as_str(), &new), n)),
        (_, false) => Ok((body.replacen(old.as_str(), &new, 1), 1)),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::{replace, without_numbers};

    #[test]
    fn line_numbers_copied_from_read_file_are_dropped() {
        let body = "a = 1\nL2: literal\nb = 2\n";
        assert_eq!(
            without_numbers(body, "L1: a = 1\nL2: L2: literal\n", "L1: a = 10\n"),
            ("a = 1\nL2: literal\n".to_string(), "a = 10\n".to_string(), true)
        );
        // In the file as written: kept.
        assert_eq!(without_numbers(body, "L2: literal", "x"), ("L2: literal".to_string(), "x".to_string(), false));
        // new_string without numbers stays as it is.
        assert_eq!(without_numbers(body, "L3: b = 2", "b = 3"), ("b = 2".to_string(), "b = 3".to_string(), true));
        assert!(without_numbers("a\r\nb\r\n", "L1: a\nL2: b", "c").2);
        // Lines added unnumbered beside numbered ones: each loses its own.
        assert_eq!(
            without_numbers(body, "L1: a = 1", "L1: a = 1\n\nL2: c = 3").1,
            "a = 1\n\nc = 3",
            "no number is written into the file"
        );
    }

    #[test]
    fn unique_all_and_crlf() {
        assert_eq!(replace("a b a", "b", "c", false, "f").unwrap(), ("a c a".into(), 1));
        assert!(replace("a b a", "a", "c", false, "f").unwrap_err().to_string().contains("occurs 2 times"));
        assert_eq!(replace("a b a", "a", "c", true, "f").unwrap(), ("c b c".into(), 2));
        assert!(replace("abc", "x", "y", false, "f").unwrap_err().to_string().contains("not found"));
        let near = replace("let x = 1;\nlet y = 2;\n", "let y  = 2;", "z", false, "f").unwrap_err().to_string();
        assert!(near.contains("closest lines in the file are:\nL2: let y = 2;\n"), "{near}");
        let whole = replace("a = 1\nb = 2\n", "zzz qqq", "x", false, "f").unwrap_err().to_string();
        assert!(whole.contains("nor anything like it. The whole file is:\nL1: a = 1\nL2: b = 2\nCopy"), "{whole}");
        assert_eq!(replace("x\r\ny\r\n", "x\ny", "p\nq", false, "f").unwrap().0, "p\r\nq\r\n");
        assert!(replace("x", "", "y", false, "f").is_err());
    }

    #[test]
    fn an_edit_that_changes_nothing_shows_where_the_text_is() {
        let body: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let e = replace(&body, "line 5\nline 6", "line 5\nline 6", false, "f.py").unwrap_err().to_string();
        assert!(e.starts_with("old_string and new_string are the same, so nothing was changed. In f.py it is here:\n"));
        assert!(
            e.contains(
                "L2: line 2\nL3: line 3\nL4: line 4\nL5: line 5\nL6: line 6\nL7: line 7\nL8: line 8\nL9: line 9\nTo"
            ),
            "{e}"
        );
        assert!(!e.contains("L1: ") && !e.contains("L10: "), "{e}");
        // Each place, overlapping context shown once, apart places apart.
        let e = replace(&body, "line 1", "line 1", true, "f.py").unwrap_err().to_string();
        assert!(e.contains("L4: line 4\n…\nL7: line 7\n"), "{e}");
        assert_eq!(e.matches("L10: line 10\n").count(), 1, "{e}");
        assert!(e.contains("L14: line 14\nTo") && !e.contains("L15"), "the first three places only: {e}");
        // Text that is not there is not found, whatever new_string says.
        let e = replace(&body, "nope", "nope", false, "f.py").unwrap_err().to_string();
        assert!(e.contains("not found"), "{e}");
    }
}
