//! The seeds and saved crashes of the `config` fuzz target (`fuzz/`),
//! replayed through its harness.

#[path = "../../../fuzz/replay.rs"]
mod replay;
#[path = "../../../fuzz/src/targets/config.rs"]
mod target;

#[test]
fn config() {
    replay::replay("config", target::run);
}
