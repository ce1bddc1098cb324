//! Codex's `apply_patch` format.
//!
//! ```text
//! *** Begin Patch
//! *** Add File: path          (then `+` lines)
//! *** Delete File: path
//! *** Update File: path
//! *** Move to: new/path       (optional)
//! @@ optional context line
//!  context / -removed / +added
//! *** End of File             (optional: anchor the chunk at the end)
//! *** End Patch
//! ```
//!
//! [`parse`] turns the text into [`Hunk`]s; [`apply_chunks`] applies an
//! update's chunks to a file's text. Nothing here touches the file system.
//! Applying keeps every byte outside the changed lines: line endings
//! (CRLF stays CRLF), a missing final newline stays missing, and context
//! lines keep the file's spelling even when they matched only after
//! whitespace or punctuation normalisation.

mod apply;
mod parse;
mod seek;

pub use apply::{ApplyError, apply_chunks};
pub use parse::{ParseError, parse};

/// One file operation of a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hunk {
    /// Create (or overwrite) a file with `contents`.
    Add { path: String, contents: String },
    /// Remove a file.
    Delete { path: String },
    /// Change a file's lines, and optionally move it.
    Update { path: String, move_to: Option<String>, chunks: Vec<Chunk> },
}

impl Hunk {
    /// The path the hunk names first.
    pub fn path(&self) -> &str {
        match self {
            Hunk::Add { path, .. } | Hunk::Delete { path } | Hunk::Update { path, .. } => path,
        }
    }
}

/// One `@@` section of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The text after `@@ `: a line to find before the change.
    pub context: Option<String>,
    /// Lines that must be present (context and `-` lines), in order.
    pub old_lines: Vec<String>,
    /// What replaces them (context and `+` lines).
    pub new_lines: Vec<String>,
    /// For each of `new_lines`, the index in `old_lines` of the context
    /// line it repeats (`None` for a `+` line): a context line is written
    /// back as the file has it, even when it matched only loosely.
    pub kept: Vec<Option<usize>>,
    /// `*** End of File`: the lines are at the end of the file.
    pub end_of_file: bool,
}
