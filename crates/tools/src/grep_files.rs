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
    #[serde(default)]
    case_insensitive: bool,
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
                    "case_insensitive": {"type": "boolean"},
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
                    case_insensitive: args.case_insensitive,
                    limit: args.limit.unwrap_or(100).max(1),
                };
                let (text, matches) = search(ws, &root, &q, cancel)?;
                if matches > 0 {
                    return Ok(ToolOutput::text(text));
                }
                Ok(ToolOutput::text(text + &hint(ws, &root, &q, cancel)?))
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
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .overrides(overrides)
        .filter_entry(|e| e.file_name() != ".git")
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
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

/// After a search found nothing: which words of the pattern do occur,
/// ignoring case. A phrase (`sales tax rate`) or the wrong case is the
/// usual miss, and a model told only "no matches" tends to guess instead.
fn hint(ws: &Path, root: &Path, q: &Query, cancel: &CancellationToken) -> Result<String, ToolError> {
    let mut words: Vec<&str> = Vec::new();
    for w in q.pattern.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if w.chars().count() >= 3 && !words.iter().any(|x| x.eq_ignore_ascii_case(w)) {
            words.push(w);
        }
    }
    // A single word already searched without regard to case: nothing to add.
    if words.is_empty() || (words.len() == 1 && q.case_insensitive) || words.len() > 6 {
        return Ok(String::new());
    }
    let mut found = Vec::new();
    for w in &words {
        let one = Query { pattern: w, globs: q.globs, case_insensitive: true, limit: 1000 };
        let (_, n) = search(ws, root, &one, cancel)?;
        if n > 0 {
            let more = if n >= one.limit { "+" } else { "" };
            found.push(format!("/{w}/ ({n}{more} line{})", if n == 1 { "" } else { "s" }));
        }
    }
    Ok(if found.is_empty() {
        "; none of its words occur there either, in any case".to_string()
    } else {
        format!(
            "; ignoring case, these words of it occur: {}. A pattern matches within one line: search for one word or \
             identifier (with case_insensitive) and read the files it finds",
            found.join(", ")
        )
    })
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
    fn a_miss_says_which_words_occur() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        std::fs::write(ws.join("tax.py"), "# Sales tax rules.\nRATE = 7\ndef tax_for(x):\n    return x * RATE\n")
            .unwrap();
        let c = CancellationToken::new();
        let miss = |pattern, case_insensitive| {
            let q = Query { pattern, globs: &[], case_insensitive, limit: 100 };
            let (text, n) = search(&ws, &ws, &q, &c).unwrap();
            assert_eq!(n, 0);
            text + &hint(&ws, &ws, &q, &c).unwrap()
        };
        let phrase = miss("sales tax rate", false);
        assert!(phrase.starts_with("no matches for /sales tax rate/ in ."), "{phrase}");
        assert!(phrase.contains("/sales/ (1 line), /tax/ (2 lines), /rate/ (2 lines)"), "{phrase}");
        assert!(miss("Tax_For", false).contains("/Tax_For/ (1 line)"));
        assert_eq!(miss("invoice", true), "no matches for /invoice/ in .");
        assert!(miss("shipping cost", true).ends_with("none of its words occur there either, in any case"));
    }
}
