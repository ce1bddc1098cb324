//! Edits a small model makes that are refused, with where to go instead,
//! in the small-model profile: asked to fix a failure, it edits the test,
//! where it sees the failure; asked to add something, it replaces the
//! line it anchors on (a neighbour's declaration) instead of keeping it;
//! asked to add or fix a line, it replaces a header with the whole block
//! it heads, so the block's lines would be there twice. Each refusal is a failed call whose note says what to do,
//! and the same edit made again goes through (it may be meant); after
//! [`REFUSED`] refusals in a turn, any edit does (bounded: never loops).

use crate::session::Session;
use std::path::Path;
use tern_protocol::ToolKind;
use tokio_util::sync::CancellationToken;

/// Edits refused in a turn, at most.
const REFUSED: usize = 3;
/// A file bigger than this is not read to look for repeated lines.
const MAX_READ: u64 = 1 << 20;
/// A line with fewer letters and digits than this (`}`, `end`, `*/`) taken
/// away by an edit that adds is not worth a refusal.
const MEANINGFUL: usize = 4;

impl Session {
    /// The note refusing the edit `args` of a tool of `kind`, when it is
    /// refused (see the module doc).
    pub(crate) async fn edit_refusal(
        &self,
        kind: ToolKind,
        args: &serde_json::Value,
        cancel: &CancellationToken,
    ) -> Option<String> {
        let path = args.get("path").and_then(|p| p.as_str())?;
        if !self.guided() || kind != ToolKind::Edit {
            return None;
        }
        let test_edit = tern_tools::is_test(path)
            && self.user_messages.last().is_some_and(|r| tern_tools::relevant::about_failure(r));
        let call = args.to_string();
        {
            let refused = self.edits_refused.lock();
            if refused.len() >= REFUSED || refused.contains(&call) {
                return None;
            }
        }
        let note = if test_edit {
            self.test_edit_note(path, cancel).await
        } else if let Some(note) = self.removal_note(path, args) {
            note
        } else {
            self.repeat_note(path, args).await?
        };
        // Calls of one response run one after another, so no other
        // refusal came in between.
        self.edits_refused.lock().push(call);
        Some(note)
    }

    /// Why an edit of the test `path` is refused in a turn about a
    /// failure, naming the file most likely holding the code it tests.
    async fn test_edit_note(&self, path: &str, cancel: &CancellationToken) -> String {
        let (root, test, walk) = (self.workspace.clone(), path.to_string(), cancel.clone());
        // Bounded (the map's walk, and relevant's reading bounds), awaited;
        // an interrupt stops it.
        #[allow(clippy::disallowed_methods)] // reads files: it runs in spawn_blocking
        let code = tokio::task::spawn_blocking(move || {
            tern_tools::relevant::code_under_test(&root, &crate::guide::workspace_files(&root, &walk), &test, &walk)
        })
        .await
        .ok()
        .flatten();
        let look = match code {
            Some(code) => format!("The code it tests is most likely in {code}: read it, and fix the bug there"),
            None => "Find the function the test calls (its imports or includes say which file defines it), read it, \
                     and fix the bug there"
                .to_string(),
        };
        format!(
            "not edited: {path} is a test, and the request is to make a failing test pass by fixing the code it \
             tests. {look} with edit_file. Only if the test itself is wrong, make this same edit again."
        )
    }

    /// Why an edit_file call that takes lines away is refused when the
    /// request only asks to add ("Add a ring_clear function" answered by
    /// replacing `ring_free`'s declaration), showing them; `None` for
    /// any other edit.
    fn removal_note(&self, path: &str, args: &serde_json::Value) -> Option<String> {
        let old = args.get("old_string").and_then(|s| s.as_str())?;
        let new = args.get("new_string").and_then(|s| s.as_str())?;
        if !self.user_messages.last().is_some_and(|r| crate::slip::asks_only_to_add(r)) {
            return None;
        }
        let gone: Vec<&str> = old
            .lines()
            .map(str::trim)
            .filter(|l| l.chars().filter(|c| c.is_alphanumeric()).count() >= MEANINGFUL && !new.contains(l))
            .collect();
        if gone.is_empty() {
            return None;
        }
        Some(format!(
            "not edited: the request asks to add, and this edit of {path} takes away:\n{}\nTo add, keep \
             old_string's lines in new_string and put the new lines before or after them. If the removal is meant, \
             make this same edit again.",
            gone.join("\n")
        ))
    }

    /// Why an edit_file call whose `new_string` writes again the lines
    /// that follow its `old_string` is refused, showing them; `None` for
    /// any other edit.
    async fn repeat_note(&self, path: &str, args: &serde_json::Value) -> Option<String> {
        let old = args.get("old_string").and_then(|s| s.as_str())?.to_string();
        let new = args.get("new_string").and_then(|s| s.as_str())?.to_string();
        let (root, file) = (self.workspace.clone(), path.to_string());
        // One file, at most MAX_READ bytes; awaited.
        #[allow(clippy::disallowed_methods)] // reads a file: it runs in spawn_blocking
        let repeat = tokio::task::spawn_blocking(move || {
            let text = read_within(&root, &file)?;
            tern_tools::repeated_after(&text, &old, &new)
        })
        .await
        .ok()
        .flatten()?;
        let (first, last) = (repeat.lines.first()?.0, repeat.lines.last()?.0);
        let which = if first == last { format!("line {first}") } else { format!("lines {first}-{last}") };
        let shown: Vec<String> = repeat.lines.iter().map(|(n, l)| format!("L{n}: {l}")).collect();
        Some(format!(
            "not edited: new_string writes again {which} of {path}, which already follow old_string:\n{}\nso they \
             would be there twice. To change those lines, put them in old_string too; to add lines, put only the \
             new ones in new_string. If the repeat is meant, make this same edit again.",
            shown.join("\n")
        ))
    }
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
