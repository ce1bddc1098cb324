//! `Glob` (the Claude profile's file finder): paths matching a glob
//! pattern, newest first, .gitignore'd files left out.

use crate::path::{display, resolve_for_read};
use crate::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema, blocking, parse_args};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::time::SystemTime;
use tokio_util::sync::CancellationToken;

/// Paths returned at most.
const LIMIT: usize = 100;

pub(crate) struct GlobFiles;

#[derive(Deserialize)]
struct Args {
    pattern: String,
    path: Option<String>,
}

impl Tool for GlobFiles {
    fn name(&self) -> &'static str {
        "Glob"
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name().to_owned().into(),
            description: "Finds files by name with a glob pattern such as \"**/*.rs\" or \"src/**/mod.rs\" \
                (`*` stays within one directory, `**` crosses them). Returns matching paths, most recently \
                modified first; .gitignore'd files are left out."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "The glob to match paths against, relative to `path`."},
                    "path": {"type": "string", "description": "The directory to search. Default: the workspace root."}
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
                let dir = resolve_for_read(ws, args.path.as_deref().unwrap_or("."))?;
                find(ws, &dir, &args.pattern, cancel).map(ToolOutput::text)
            })
            .await
        })
    }
}

/// Blocking: runs in `spawn_blocking`.
fn find(ws: &Path, dir: &Path, pattern: &str, cancel: &CancellationToken) -> Result<String, ToolError> {
    let matcher = globset::GlobBuilder::new(pattern.trim_start_matches("./"))
        .literal_separator(true)
        .build()
        .map_err(|e| ToolError::InvalidArgs(format!("bad glob `{pattern}`: {e}")))?
        .compile_matcher();
    let walker = crate::path::walker(dir).build();
    // The newest LIMIT only, in a heap whose top is the oldest kept: a
    // glob over a huge tree holds no more than it returns.
    let mut found: BinaryHeap<Reverse<(SystemTime, Reverse<String>)>> = BinaryHeap::new();
    let mut total = 0usize;
    for entry in walker {
        if cancel.is_cancelled() {
            return Err(ToolError::Cancelled);
        }
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(dir) else { continue };
        if matcher.is_match(rel) {
            let modified = entry.metadata().ok().and_then(|m| m.modified().ok()).unwrap_or(SystemTime::UNIX_EPOCH);
            found.push(Reverse((modified, Reverse(display(ws, entry.path())))));
            total += 1;
            if found.len() > LIMIT {
                found.pop();
            }
        }
    }
    if found.is_empty() {
        return Ok(format!("No files match `{pattern}` under {}/", display(ws, dir)));
    }
    // Ascending Reverse: newest first, then by name.
    let mut out: String =
        found.into_sorted_vec().into_iter().map(|Reverse((_, Reverse(p)))| format!("{p}\n")).collect();
    if total > LIMIT {
        out.push_str(&format!("[… {} more; narrow the pattern or the path]\n", total - LIMIT));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn globs_match_within_and_across_directories() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(ws.join("src/deep")).unwrap();
        std::fs::create_dir_all(ws.join("target")).unwrap();
        for f in ["top.rs", "src/a.rs", "src/deep/b.rs", "target/gen.rs", "notes.md"] {
            std::fs::write(ws.join(f), "").unwrap();
        }
        std::fs::write(ws.join(".gitignore"), "target/\n").unwrap();
        let c = CancellationToken::new();
        let all = find(&ws, &ws, "**/*.rs", &c).unwrap();
        let mut lines: Vec<&str> = all.lines().collect();
        lines.sort();
        assert_eq!(lines, ["src/a.rs", "src/deep/b.rs", "top.rs"]);
        assert_eq!(find(&ws, &ws, "*.rs", &c).unwrap(), "top.rs\n");
        assert!(find(&ws, &ws, "*.py", &c).unwrap().starts_with("No files match"));
        assert!(find(&ws, &ws, "[", &c).is_err());
    }

    #[test]
    fn many_matches_keep_the_newest_then_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        for i in 0..LIMIT + 50 {
            let f = std::fs::File::create(ws.join(format!("f{i:03}.txt"))).unwrap();
            // Two newer files (f120 the newest); the rest equally old.
            let secs = match i {
                120 => 200,
                7 => 100,
                _ => 0,
            };
            f.set_modified(old + std::time::Duration::from_secs(secs)).unwrap();
        }
        let out = find(&ws, &ws, "*.txt", &CancellationToken::new()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), LIMIT + 1);
        assert_eq!(lines[..4], ["f120.txt", "f007.txt", "f000.txt", "f001.txt"]);
        assert_eq!(lines[LIMIT - 1], "f098.txt");
        assert_eq!(lines[LIMIT], "[… 50 more; narrow the pattern or the path]");
    }
}
