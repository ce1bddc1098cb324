//! The seeds and saved crashes of the `toolcall` fuzz target (`fuzz/`),
//! replayed through its harness (which the fuzz crate builds from this
//! crate's `toolcall.rs` without llama.cpp).

#[path = "../../../fuzz/replay.rs"]
mod replay;
#[path = "../../../fuzz/src/targets/toolcall.rs"]
mod target;

/// What the harness calls `crate::toolcall`.
mod toolcall {
    pub use tern_local::toolcall::*;
}

#[test]
fn toolcall() {
    replay::replay("toolcall", target::run);
}
