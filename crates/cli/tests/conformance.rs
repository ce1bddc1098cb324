//! Codex's apply_patch conformance scenarios (../shared/conformance), run
//! against `tern apply-patch` with their own runner.
//!
//! One deliberate difference: Codex applies a patch's file operations in
//! order and keeps those that succeeded before a failure (scenario 015);
//! tern checks the whole patch first and changes nothing if any part fails.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

fn suite() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/codex-apply-patch");
    assert!(
        p.join("run.py").is_file(),
        "conformance suite not found at {} (shared/ must sit beside the checkout)",
        p.display()
    );
    p
}

#[test]
fn codex_scenarios() {
    let out = std::process::Command::new("python3")
        .arg(suite().join("run.py"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_tern"))
        .arg("apply-patch")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fails: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails, ["FAIL 015_failure_after_partial_success_leaves_changes: missing file created.txt"], "{stdout}");
    assert!(stdout.contains("22 passed, 1 failed"), "{stdout}");
}

#[test]
fn scenario_015_leaves_the_tree_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let patch =
        std::fs::read_to_string(suite().join("scenarios/015_failure_after_partial_success_leaves_changes/patch.txt"))
            .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tern"))
        .arg("apply-patch")
        .arg(patch)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
