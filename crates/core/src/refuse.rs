//! Edits a small model makes that are refused, with where to go instead,
//! in the small-model profile: asked to fix a failure, it edits the test,
//! where it sees the failure, or the README, where it finds the words of
//! the request; asked to add something, it replaces the line it anchors
//! on (a neighbour's declaration) instead of keeping it; asked to add or
//! fix a line, it replaces a header with the whole block it heads, so the
//! block's lines would be there twice. Each refusal is a failed call whose
//! note says what to do, and the same edit made again goes through (it
//! may be meant); after [`REFUSED`] refusals in a turn, any edit does
//! (bounded: it never loops). A `write_file` that would replace most of
//! an existing file with a fragment is refused however often it is made,
//! unless the request asks to rewrite (the 1.5B, asked to fix a bug,
//! wrote a source file as four lines, three times). One edit is not
//! refused but made as meant: asked only to add, the model writes out a
//! whole class again with the new method at its end; the edit then adds
//! just the method ([`tern_tools::merged`]), and its result says so.

use crate::session::Session;
use std::path::Path;
use tern_protocol::ToolKind;
use tokio_util::sync::CancellationToken;

/// Edits refused in a turn, at most.
const REFUSED: usize = 3;
/// A file bigger than this is not read to look for repeated lines.
const MAX_READ: u64 = 1 << 20;
/// A file with fewer non-blank lines than this may be rewritten whole.
const KEPT_LINES: usize = 8;
/// A line with fewer letters and digits than this (`}`, `end`, `*/`) taken
/// away by an edit that adds is not worth a refusal.
const MEANINGFUL: usize = 4;

/// What becomes of a small model's edit that misses the request.
#[derive(Debug)]
pub(crate) enum Guard {
    /// Not made: the failed call's note, saying what to do instead.
    Refuse(String),
    /// Made with these arguments instead; the note goes after its result.
    Merge { args: serde_json::Value, note: String },
}

impl Session {
    /// What becomes of the edit `args` of a tool of `kind`, when it is
    /// refused or merged (see the module doc).
    pub(crate) async fn edit_guard(
        &self,
        kind: ToolKind,
        args: &serde_json::Value,
        cancel: &CancellationToken,
    ) -> Option<Guard> {
        let path = args.get("path").and_then(|p| p.as_str())?;
        if !self.guided() || kind != ToolKind::Edit {
            return None;
        }
        let request = self.user_messages.last().map(|r| r.to_lowercase()).unwrap_or_default();
        let about_failure = tern_tools::relevant::about_failure(&request);
        let call = args.to_string();
        {
            let refused = self.edits_refused.lock();
            if refused.len() >= REFUSED || refused.contains(&call) {
                return None;
            }
        }
        // A whole file replaced by a fragment is refused even when made
        // again (the 1.5B wrote src/ring.c as four lines, three times in a
        // row): only a request that asks to rewrite it lets it through.
        if let Some(content) = args.get("content").and_then(|c| c.as_str())
            && !asks_to_rewrite(&request)
            && let Some(note) = self.overwrite_note(path, content).await
        {
            self.edits_refused.lock().push(format!("write_file {path}"));
            return Some(Guard::Refuse(note));
        }
        let note = if about_failure && tern_tools::is_test(path) {
            self.test_edit_note(path, args, cancel).await
        } else if about_failure && is_docs(path) && !names_docs(&request, path) {
            let original = self.user_messages.last().map(String::as_str).unwrap_or_default();
            docs_note(path, crate::request::failing_command(original).as_deref())
        } else {
            match self.edit_file_guard(path, args).await? {
                Guard::Refuse(note) => note,
                merge => return Some(merge),
            }
        };
        // Calls of one response run one after another, so no other
        // refusal came in between.
        self.edits_refused.lock().push(call);
        Some(Guard::Refuse(note))
    }

    /// Why an edit of the test `path` is refused in a turn about a
    /// failure, naming the file most likely holding the code it tests and
    /// showing the definition there of what the edited line calls (the
    /// 1.5B, told only the file's name, made the same test edit again).
    async fn test_edit_note(&self, path: &str, args: &serde_json::Value, cancel: &CancellationToken) -> String {
        let (root, test, walk) = (self.workspace.clone(), path.to_string(), cancel.clone());
        // The lines the model meant to change (apply_patch's: the patch).
        let line = ["old_string", "input"]
            .iter()
            .find_map(|k| args.get(k).and_then(|v| v.as_str()))
            .unwrap_or_default()
            .to_string();
        // Bounded (the map's walk, and relevant's reading bounds), awaited;
        // an interrupt stops it.
        #[allow(clippy::disallowed_methods)] // reads files: it runs in spawn_blocking
        let code = tokio::task::spawn_blocking(move || {
            let files = crate::guide::workspace_files(&root, &walk);
            tern_tools::relevant::code_under_test(&root, &files, &test, &line, &walk)
        })
        .await
        .ok()
        .flatten();
        let look = match code {
            Some(tern_tools::relevant::Tested { path: code, definition: Some(lines) }) => {
                let shown: Vec<String> = lines.iter().map(|(n, l)| format!("L{n}: {l}")).collect();
                format!(
                    "The code it tests is in {code}:\n{}\nFind the bug in these lines, and fix it there",
                    shown.join("\n")
                )
            }
            Some(tested) => {
                format!("The code it tests is most likely in {}: read it, and fix the bug there", tested.path)
            }
            None => "Find the function the test calls (its imports or includes say which file defines it), read it, \
                     and fix the bug there"
                .to_string(),
        };
        format!(
            "not edited: {path} is a test, and the request is to make a failing test pass by fixing the code it \
             tests. {look} with edit_file. Only if the test itself is wrong, make this same edit again."
        )
    }

    /// Why an edit_file call is refused (see [`removal_note`] and
    /// [`repeat_note`]), or the edit it means (see [`merge_note`]), when
    /// it is either; `None` for other edits, and for one whose
    /// `old_string` is not in the file (the tool says so itself, with the
    /// closest lines).
    async fn edit_file_guard(&self, path: &str, args: &serde_json::Value) -> Option<Guard> {
        let old = args.get("old_string").and_then(|s| s.as_str())?.to_string();
        let new = args.get("new_string").and_then(|s| s.as_str())?.to_string();
        let adds = self.user_messages.last().is_some_and(|r| crate::request::asks_only_to_add(r));
        let (root, file) = (self.workspace.clone(), path.to_string());
        // One file, at most MAX_READ bytes; awaited.
        #[allow(clippy::disallowed_methods)] // reads a file: it runs in spawn_blocking
        let found = tokio::task::spawn_blocking(move || {
            let text = read_within(&root, &file)?;
            // As edit_file reads them: copied from read_file, numbers and all.
            let (old, new, _) = tern_tools::without_numbers(&text, &old, &new);
            if !text.contains(&old) {
                return None;
            }
            let gone = if adds { removed(&old, &new) } else { Vec::new() };
            let merged = if adds { tern_tools::merged(&text, &old, &new) } else { None };
            Some((gone, merged, tern_tools::repeated_after(&text, &old, &new)))
        })
        .await
        .ok()
        .flatten()?;
        match found {
            (gone, _, _) if !gone.is_empty() => Some(Guard::Refuse(removal_note(path, &gone))),
            (_, Some(merged), _) => {
                let note = merge_note(path, &merged);
                let mut args = args.clone();
                args["old_string"] = merged.old.into();
                args["new_string"] = merged.new.into();
                Some(Guard::Merge { args, note })
            }
            (_, None, Some(repeat)) => repeat_note(path, &repeat).map(Guard::Refuse),
            _ => None,
        }
    }

    /// The note refusing a write_file of `path` that drops most of the
    /// file there (of at least [`KEPT_LINES`] lines, fewer than half
    /// kept), when it does.
    async fn overwrite_note(&self, path: &str, content: &str) -> Option<String> {
        let written = content.lines().count();
        let (root, file, content) = (self.workspace.clone(), path.to_string(), content.to_string());
        // One file, at most MAX_READ bytes; awaited.
        #[allow(clippy::disallowed_methods)] // reads a file: it runs in spawn_blocking
        let lost = tokio::task::spawn_blocking(move || {
            let text = read_within(&root, &file)?;
            let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let kept: std::collections::HashSet<&str> = content.lines().map(str::trim).collect();
            let lost: Vec<String> = lines.iter().filter(|l| !kept.contains(*l)).map(|l| l.to_string()).collect();
            let had = lines.len();
            (had >= KEPT_LINES && lost.len() * 2 > had).then_some((had, lost))
        })
        .await
        .ok()
        .flatten()?;
        let (had, lost) = lost;
        let shown: Vec<&str> = lost.iter().take(3).map(String::as_str).collect();
        Some(format!(
            "not written: this would replace {path}, whose {had} lines of code it drops {} of (such as:\n{}\n), \
             with {} lines. To change part of a file, use edit_file with old_string copied from it. A whole file is \
             replaced only when the request asks to rewrite it.",
            lost.len(),
            shown.join("\n"),
            written
        ))
    }
}

/// Whether the (lower-cased) `request` asks to rewrite or empty a file
/// (whole words: "Add ring_clear" does not).
fn asks_to_rewrite(request: &str) -> bool {
    const WORDS: &[&str] = &["rewrite", "overwrite", "replace", "empty", "clear", "truncate", "regenerate", "recreate"];
    request.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| WORDS.contains(&w))
        || ["from scratch", "start over"].iter().any(|p| request.contains(p))
}

/// The lines of `old` that `new` does not keep (trimmed; those with a few
/// letters or digits at least).
fn removed(old: &str, new: &str) -> Vec<String> {
    old.lines()
        .map(str::trim)
        .filter(|l| l.chars().filter(|c| c.is_alphanumeric()).count() >= MEANINGFUL && !new.contains(l))
        .map(String::from)
        .collect()
}

/// Why an edit that takes lines away is refused when the request only
/// asks to add ("Add a ring_clear function" answered by replacing
/// `ring_free`'s declaration).
fn removal_note(path: &str, gone: &[String]) -> String {
    format!(
        "not edited: the request asks to add, and this edit of {path} takes away:\n{}\nTo add, keep old_string's \
         lines in new_string and put the new lines before or after them. If the removal is meant, make this same \
         edit again.",
        gone.join("\n")
    )
}

/// What an edit made as an addition did (after its result).
fn merge_note(path: &str, merged: &tern_tools::Merged) -> String {
    let (first, last) = merged.kept;
    let lines = if merged.added == 1 { "line was".to_string() } else { format!("{} lines were", merged.added) };
    format!(
        "[tern] new_string wrote again lines {first}-{last} of {path}, which already follow old_string: they were \
         kept once, as they were, and its {lines} added after line {last}."
    )
}

/// Why an edit whose `new_string` writes again the lines that follow its
/// `old_string` is refused, showing them.
fn repeat_note(path: &str, repeat: &tern_tools::Repeat) -> Option<String> {
    let (first, last) = (repeat.lines.first()?.0, repeat.lines.last()?.0);
    let which = if first == last { format!("line {first}") } else { format!("lines {first}-{last}") };
    let shown: Vec<String> = repeat.lines.iter().map(|(n, l)| format!("L{n}: {l}")).collect();
    Some(format!(
        "not edited: new_string writes again {which} of {path}, which already follow old_string:\n{}\nso they would \
         be there twice. To change those lines, put them in old_string too; to add lines, put only the new ones in \
         new_string. If the repeat is meant, make this same edit again.",
        shown.join("\n")
    ))
}

/// Whether `path` is documentation (a README, a changelog, `.md`, `.rst`,
/// `.txt`, `.adoc`), which a fix of failing code does not change.
fn is_docs(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let stem = name.split('.').next().unwrap_or_default();
    matches!(stem, "readme" | "changelog" | "changes" | "history" | "news")
        || [".md", ".rst", ".txt", ".adoc"].iter().any(|ext| name.ends_with(ext))
}

/// Whether the (lower-cased) `request` speaks of documentation or of the
/// file `path` itself ("fix the typo in the README").
fn names_docs(request: &str, path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let stem = name.split('.').next().unwrap_or_default();
    ["doc", "readme", "typo", "changelog", "spelling", "wording"].iter().any(|w| request.contains(w))
        || (!stem.is_empty() && request.contains(stem))
}

/// Why an edit of documentation is refused in a turn about a failure:
/// the 1.5B, asked to fix `make test`, found the words in the README and
/// edited it. `command`: the one the request says fails.
fn docs_note(path: &str, command: Option<&str>) -> String {
    let run = match command {
        Some(command) => format!("Run `{command}` with exec_command first"),
        None => "Run the failing command first (the tests the request names)".to_string(),
    };
    format!(
        "not edited: {path} is documentation, and the request is to fix a failure in the code. {run} to see what \
         fails and where, then fix that code with edit_file. If the documentation is what is wrong, make this same \
         edit again."
    )
}

/// The text of the workspace file `path`, when it is a regular file
/// within `root`, UTF-8 and at most [`MAX_READ`] bytes. Blocking.
#[allow(clippy::disallowed_methods)] // blocking by contract
fn read_within(root: &Path, path: &str) -> Option<String> {
    let full = root.join(path).canonicalize().ok()?;
    if !full.starts_with(root.canonicalize().ok()?) {
        return None;
    }
    let meta = std::fs::metadata(&full).ok()?;
    if !meta.is_file() || meta.len() > MAX_READ {
        return None;
    }
    String::from_utf8(std::fs::read(&full).ok()?).ok()
}
