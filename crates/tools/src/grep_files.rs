//! `grep_files`: a regex search through the ripgrep crates, off the
//! runtime threads, capped and cancellable.

use crate::path::{display, resolve_for_read};
use crate::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema, blocking, parse_args};
use futures_util::future::BoxFuture;
use grep_regex::RegexMatcherBuilder;
use grep_searcher::{BinaryDetection, SearcherBuilder, sinks::Lossy};
use serde::Deserialize;
use serde_json::json;
use std::path::Path;
use tokio_util::sync::CancellationToken;

const MAX_LINE_CHARS: usize = 300;

pub(crate) struct GrepFiles;

#[derive(Deserialize)]
#[serde(untagged)]
enum Globs {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Args {
    pattern: String,
    path: Option<String>,
    include: Option<Globs>,
    case_insensitive: Option<bool>,
    limit: Option<usize>,
}

impl Tool for GrepFiles {
    fn name(&self) -> &'static str {
        "grep_files"
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name().to_owned().into(),
            description: "Search file contents with a regular expression (Rust regex syntax). \
                Returns `path:line: text` for each match; .gitignore'd and binary files are skipped."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Regular expression."},
                    "path": {"type": "string", "description": "File or directory to search. Default: the workspace root."},
                    "include": {
                        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                        "description": "Glob(s) of files to search, e.g. \"*.rs\" or [\"src/**/*.ts\"]."
                    },
                    "case_insensitive": {"type": "boolean", "description": "Default: true when the pattern has no upper-case letter (smart case)."},
                    "limit": {"type": "integer", "minimum": 1, "description": "Maximum matches. Default 100."}
                },
                "required": ["pattern"],
                "additionalProperties": false
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Search
    }

    fn mutates(&self) -> bool {
        false
    }

    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            blocking(ctx, move |ws, cancel| {
                let root = resolve_for_read(ws, args.path.as_deref().unwrap_or("."))?;
                let globs = match args.include {
                    None => vec![],
                    Some(Globs::One(g)) => vec![g],
                    Some(Globs::Many(g)) => g,
                };
                let q = Query {
                    pattern: &args.pattern,
                    globs: &globs,
                    case_insensitive: args.case_insensitive.unwrap_or_else(|| smart_case(&args.pattern)),
                    limit: args.limit.unwrap_or(100).max(1),
                };
                let started = std::time::Instant::now();
                let (text, matches) = search(ws, &root, &q, cancel)?;
                if matches > 0 {
                    return Ok(ToolOutput::text(text));
                }
                // The hint searches the tree again: not where one search took long.
                if started.elapsed() > HINT_AFTER_AT_MOST {
                    let text = text + "; the tree is large: search a narrower path, or files of one kind (include)";
                    return Ok(ToolOutput { empty: true, ..ToolOutput::text(text) });
                }
                // Checked only after a miss: a search that found lines needs no stat.
                if !crate::nearby::exists(&root) {
                    let shown = display(ws, &root);
                    let what = format!("{shown} does not exist");
                    return Err(crate::nearby::missing(ws, &shown, what, crate::nearby::Want::Dir, cancel));
                }
                let text = text + &hint(ws, &root, &q, cancel)?;
                Ok(ToolOutput { empty: true, ..ToolOutput::text(text) })
            })
            .await
        })
    }
}

struct Query<'a> {
    pattern: &'a str,
    globs: &'a [String],
    case_insensitive: bool,
    limit: usize,
}

/// Searches; returns the listing (or a no-match line) and how many lines matched.
fn search(ws: &Path, root: &Path, q: &Query, cancel: &CancellationToken) -> Result<(String, usize), ToolError> {
    let matcher = RegexMatcherBuilder::new()
        .case_insensitive(q.case_insensitive)
        .build(q.pattern)
        .map_err(|e| ToolError::InvalidArgs(format!("bad regex: {e}")))?;
    let mut overrides = ignore::overrides::OverrideBuilder::new(root);
    for g in q.globs {
        overrides.add(g).map_err(|e| ToolError::InvalidArgs(format!("bad include glob `{g}`: {e}")))?;
    }
    let overrides = overrides.build().map_err(|e| ToolError::InvalidArgs(e.to_string()))?;
    let walker = crate::path::walker(root).overrides(overrides).sort_by_file_name(|a, b| a.cmp(b)).build();
    let mut searcher = SearcherBuilder::new().binary_detection(BinaryDetection::quit(0)).line_number(true).build();
    let mut out = String::new();
    let mut matches = 0usize;
    let mut truncated = false;
    for entry in walker {
        if cancel.is_cancelled() {
            return Err(ToolError::Cancelled);
        }
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let shown = display(ws, entry.path());
        let sink = Lossy(|lnum, line| {
            if matches >= q.limit {
                truncated = true;
                return Ok(false);
            }
            let line = line.trim_end_matches(['\n', '\r']);
            let mut text: String = line.chars().take(MAX_LINE_CHARS).collect();
            if text.len() < line.len() {
                text.push_str(" [… truncated]");
            }
            out.push_str(&format!("{shown}:{lnum}: {text}\n"));
            matches += 1;
            Ok(!cancel.is_cancelled())
        });
        // Unreadable files are skipped, as rg does.
        let _ = searcher.search_path(&matcher, entry.path(), sink);
        if truncated {
            break;
        }
    }
    if matches == 0 {
        return Ok((format!("no matches for /{}/ in {}", q.pattern, display(ws, root)), 0));
    }
    if truncated {
        out.push_str(&format!("[… stopped after {} matches; narrow the pattern or path, or raise limit]\n", q.limit));
    }
    Ok((out, matches))
}

/// Ripgrep's smart case: a pattern with no upper-case letter (outside
/// escapes such as `\S`) ignores case, so `timeout` finds `DEFAULT_TIMEOUT`.
fn smart_case(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c.is_uppercase() {
            return false;
        }
    }
    true
}

/// A miss that took longer than this gets no hint (which would search
/// the tree again, and walk it for file names).
const HINT_AFTER_AT_MOST: std::time::Duration = std::time::Duration::from_millis(500);
/// Lines shown at most after a miss, found by the pattern's words.
const WORD_LINES: usize = 12;
/// Lines with any of the words looked at to pick those.
const WORD_CANDIDATES: usize = 500;

/// The lines (of `path:line: text` output) holding the most of `stems`,
/// at most [`WORD_LINES`], in the order found among equals.
fn best_lines(found: &str, stems: &[String]) -> String {
    let mut lines: Vec<(usize, &str)> = found
        .lines()
        .filter(|l| !l.starts_with("[…"))
        .map(|l| {
            let lower = l.to_lowercase();
            (stems.iter().filter(|s| lower.contains(s.as_str())).count(), l)
        })
        .collect();
    lines.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    lines.iter().take(WORD_LINES).map(|(_, l)| format!("{l}\n")).collect()
}

/// After a search found nothing: the lines where words of the pattern
/// occur, ignoring case and endings (`retry_limit` finds `MAX_RETRIES`),
/// or else files named like them. A phrase, an invented identifier or the
/// wrong case is the usual miss, and a model told only "no matches" tends
/// to guess or give up; the lines are often the answer.
fn hint(ws: &Path, root: &Path, q: &Query, cancel: &CancellationToken) -> Result<String, ToolError> {
    let words = words(q.pattern);
    if words.is_empty() || words.len() > 6 {
        return Ok(String::new());
    }
    // One word already searched without regard to case: only file names can add.
    let searched = words.len() == 1 && q.case_insensitive && words[0].eq_ignore_ascii_case(q.pattern);
    if !searched {
        let stems: Vec<String> = words.iter().map(|w| stem(w)).collect();
        let pattern = stems.join("|");
        let any = Query { pattern: &pattern, globs: q.globs, case_insensitive: true, limit: WORD_CANDIDATES };
        let (found, n) = search(ws, root, &any, cancel)?;
        if n > 0 {
            let lines = best_lines(&found, &stems);
            return Ok(format!(
                "; ignoring case, lines with /{pattern}/ (words of it) are:\n{lines}A pattern matches within one \
                 line: search for one word or identifier, or read the file that looks right"
            ));
        }
    }
    let named = named_like(ws, root, &words, cancel);
    let none = if searched { "" } else { "; none of its words occur there either, in any case" };
    Ok(match named.is_empty() {
        true => none.to_string(),
        false => format!("{none}; these files' names contain it: {}", named.join(", ")),
    })
}

/// The words of a pattern: letters and digits, split at `_` and at
/// camelCase humps, three characters or more, each once (lower-cased).
pub(crate) fn words(pattern: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in pattern.split(|c: char| !c.is_alphanumeric()) {
        let mut word = String::new();
        let mut prev_lower = false;
        for c in part.chars() {
            if c.is_uppercase() && prev_lower {
                push_word(&mut out, std::mem::take(&mut word));
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            word.extend(c.to_lowercase());
        }
        push_word(&mut out, word);
    }
    out
}

fn push_word(out: &mut Vec<String>, word: String) {
    if word.chars().count() >= 3 && !out.contains(&word) {
        out.push(word);
    }
}

/// A word without a common English ending, so `retry` also finds
/// `retries` and `formats` finds `format`; never shorter than four.
pub(crate) fn stem(word: &str) -> String {
    for end in ["ies", "ing", "es", "ed", "y", "s"] {
        if let Some(s) = word.strip_suffix(end)
            && s.chars().count() >= 4
        {
            return s.to_string();
        }
    }
    word.to_string()
}

/// Up to five files under `root` whose paths contain one of `words`
/// (ignoring case): "dates" finds nothing in the text, yet `dates.py` exists.
fn named_like(ws: &Path, root: &Path, words: &[String], cancel: &CancellationToken) -> Vec<String> {
    crate::nearby::walk(root, crate::nearby::MAX_ENTRIES, cancel)
        .into_iter()
        .filter(|e| !e.dir && words.iter().any(|w| e.path.to_lowercase().contains(w.as_str())))
        .take(5)
        .map(|e| display(ws, &root.join(e.path)))
        .collect()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn finds_with_globs_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::write(ws.join("src/a.rs"), "fn main() {}\nfn helper() {}\n").unwrap();
        std::fs::write(ws.join("notes.md"), "fn in docs\n").unwrap();
        std::fs::write(ws.join("bin.dat"), b"fn \0 binary").unwrap();
        let c = CancellationToken::new();
        let q = |globs: &'static [String], limit| Query { pattern: r"fn \w+", globs, case_insensitive: false, limit };
        let all = search(&ws, &ws, &q(&[], 100), &c).unwrap().0;
        assert_eq!(
            all,
            "notes.md:1: fn in\nsrc/a.rs:1: fn main() {}\nsrc/a.rs:2: fn helper() {}\n"
                .replace("fn in\n", "fn in docs\n")
        );
        let globs: &'static [String] = Box::leak(Box::new(["*.rs".to_string()]));
        assert!(!search(&ws, &ws, &q(globs, 100), &c).unwrap().0.contains("notes.md"));
        assert!(search(&ws, &ws, &q(&[], 1), &c).unwrap().0.contains("stopped after 1 matches"));
        let bad = Query { pattern: "(", globs: &[], case_insensitive: false, limit: 1 };
        assert!(matches!(search(&ws, &ws, &bad, &c), Err(ToolError::InvalidArgs(_))));
        c.cancel();
        assert!(matches!(search(&ws, &ws, &q(&[], 100), &c), Err(ToolError::Cancelled)));
    }

    #[test]
    fn a_miss_shows_the_lines_of_its_words() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        std::fs::write(ws.join("tax.py"), "# Sales tax rules.\nRATE = 7\ndef tax_for(x):\n    return x * RATE\n")
            .unwrap();
        std::fs::write(ws.join("config.py"), "MAX_RETRIES = 4\n").unwrap();
        let c = CancellationToken::new();
        let miss = |pattern, case_insensitive| {
            let q = Query { pattern, globs: &[], case_insensitive, limit: 100 };
            let (text, n) = search(&ws, &ws, &q, &c).unwrap();
            assert_eq!(n, 0);
            text + &hint(&ws, &ws, &q, &c).unwrap()
        };
        let phrase = miss("sales tax rate", false);
        assert!(phrase.starts_with("no matches for /sales tax rate/ in .; ignoring case, lines with /sale|tax|rate/"));
        assert!(phrase.contains(":\ntax.py:1: # Sales tax rules.\ntax.py:2: RATE = 7\n"), "{phrase}");
        let ring = miss("tax rule rate", false);
        assert!(ring.contains("are:\ntax.py:1: # Sales tax rules.\n"), "the line with most words first: {ring}");
        let retry = miss("retry_limit", false);
        assert!(
            retry.contains("lines with /retr|limit/ (words of it) are:\nconfig.py:1: MAX_RETRIES = 4\n"),
            "{retry}"
        );
        assert!(miss("taxFor", false).contains("tax.py:3: def tax_for(x):"));
        assert_eq!(miss("invoice", true), "no matches for /invoice/ in .");
        assert!(miss("shipping cost", true).ends_with("none of its words occur there either, in any case"));
        std::fs::write(ws.join("dates.py"), "x = 1\n").unwrap();
        assert_eq!(miss("dates", true), "no matches for /dates/ in .; these files' names contain it: dates.py");
    }

    #[test]
    fn smart_case_ignores_case_for_lower_case_patterns() {
        assert!(smart_case("timeout"));
        assert!(smart_case(r"\bfoo\S+\W"));
        assert!(!smart_case("Timeout"));
        assert!(!smart_case(r"\bFOO"));
    }

    #[test]
    fn words_split_identifiers_and_stems_drop_endings() {
        assert_eq!(words("retry_limit"), ["retry", "limit"]);
        assert_eq!(words("parseHTTPConfig v2"), ["parse", "httpconfig"]);
        assert_eq!(words("a.b"), Vec::<String>::new());
        assert_eq!(stem("retry"), "retr");
        assert_eq!(stem("formats"), "format");
        assert_eq!(stem("date"), "date");
        assert_eq!(stem("checked"), "check");
    }
}
