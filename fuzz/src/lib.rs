//! The harnesses behind tern's fuzz targets: one binary per target in
//! `src/bin/` hands AFL++'s input to `targets::<name>::run`, which panics
//! only on a bug. `scripts/fuzz` builds and runs them; the workspace's
//! `fuzz_inputs` tests include the same files and replay `fuzz/corpus` and
//! `fuzz/regressions` through them.

/// The local model's tool-call parser, compiled from tern-local's own
/// source: that crate links llama.cpp (a long C++ build), this file needs
/// only serde_json and tern-llm.
#[path = "../../crates/local/src/toolcall.rs"]
pub mod toolcall;

pub mod targets {
    pub mod config;
    pub mod patch;
    pub mod safety;
    pub mod session_log;
    pub mod sse;
    pub mod toolcall;
    pub mod wire;
}
