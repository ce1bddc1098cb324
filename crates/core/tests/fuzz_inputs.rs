//! The seeds and saved crashes of the `session_log` fuzz target (`fuzz/`),
//! replayed through its harness.

#[path = "../../../fuzz/replay.rs"]
mod replay;
#[path = "../../../fuzz/src/targets/session_log.rs"]
mod target;

#[test]
fn session_log() {
    replay::replay("session_log", target::run);
}
