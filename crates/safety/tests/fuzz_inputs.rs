//! The seeds and saved crashes of the `safety` fuzz target (`fuzz/`),
//! replayed through its harness.

#[path = "../../../fuzz/replay.rs"]
mod replay;
#[path = "../../../fuzz/src/targets/safety.rs"]
mod target;

#[test]
fn safety() {
    replay::replay("safety", target::run);
}
