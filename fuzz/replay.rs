//! Replays a fuzz target's inputs, its seeds (`fuzz/corpus/<target>/`) and
//! the crashes it found (`fuzz/regressions/<target>/`), through its
//! harness: the workspace's `fuzz_inputs` tests include this file, so
//! `cargo test` runs every one of them without AFL.

use std::path::{Path, PathBuf};

/// Runs every input of `target` through `run`; fails naming each input
/// that panicked.
#[allow(clippy::disallowed_methods)] // a test reads its inputs
pub fn replay(target: &str, run: impl Fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let seeds = files(&fuzz.join("corpus").join(target));
    assert!(!seeds.is_empty(), "fuzz/corpus/{target} has no seeds");
    let crashes = files(&fuzz.join("regressions").join(target));
    let mut failed = Vec::new();
    for path in seeds.iter().chain(&crashes) {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    let total = seeds.len() + crashes.len();
    assert!(failed.is_empty(), "{} of the {total} inputs of `{target}` failed:\n{}", failed.len(), failed.join("\n"));
}

/// The files of `dir` (none when it does not exist), sorted; dotfiles are not inputs.
#[allow(clippy::disallowed_methods)]
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    out.sort();
    out
}
