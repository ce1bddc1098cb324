//! Target `patch`: the apply_patch parser and applier
//! ([`tern_patch::parse`], [`tern_patch::apply_chunks`]).
//!
//! The input is a patch, a NUL byte, then the file every update of the
//! patch is applied to (no NUL: an empty file). A patch that parses is well
//! formed (every update has chunks; each context line of `new_lines` points
//! at the same line of `old_lines`); applying never panics; and a patch of
//! context lines only, where it applies, gives the file back byte for byte.

use tern_patch::{Hunk, apply_chunks, parse};

pub fn run(data: &[u8]) {
    let (patch, file) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (patch, file) = (String::from_utf8_lossy(patch), String::from_utf8_lossy(file));
    let Ok(hunks) = parse(&patch) else { return };
    assert!(!hunks.is_empty(), "a patch without hunks parsed");
    for hunk in &hunks {
        let Hunk::Update { path, chunks, .. } = hunk else { continue };
        assert!(!chunks.is_empty(), "an update of {path} without chunks");
        for c in chunks {
            assert_eq!(c.kept.len(), c.new_lines.len(), "{c:?}");
            for (new, kept) in c.new_lines.iter().zip(&c.kept) {
                if let Some(k) = kept {
                    assert_eq!(c.old_lines.get(*k), Some(new), "a kept line is not the old one: {c:?}");
                }
            }
        }
        let applied = apply_chunks(&file, chunks, path);
        let context_only = chunks.iter().all(|c| c.kept.iter().all(Option::is_some) && c.old_lines == c.new_lines);
        if let (Ok(out), true) = (applied, context_only) {
            assert_eq!(out, *file, "context lines changed the file: {chunks:?}");
        }
    }
}
