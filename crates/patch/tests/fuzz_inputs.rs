//! The seeds and saved crashes of the `patch` fuzz target (`fuzz/`),
//! replayed through its harness.

#[path = "../../../fuzz/replay.rs"]
mod replay;
#[path = "../../../fuzz/src/targets/patch.rs"]
mod target;

#[test]
fn patch() {
    replay::replay("patch", target::run);
}
