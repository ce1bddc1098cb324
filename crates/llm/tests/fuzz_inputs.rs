//! The seeds and saved crashes of the SSE and wire-decoder fuzz targets
//! (`fuzz/`), replayed through their harnesses.

#[path = "../../../fuzz/replay.rs"]
mod replay;
#[path = "../../../fuzz/src/targets/sse.rs"]
mod sse;
#[path = "../../../fuzz/src/targets/wire.rs"]
mod wire;

use tern_config::WireApi;

#[test]
fn sse() {
    replay::replay("sse", sse::run);
}

#[test]
fn chat() {
    replay::replay("chat", |data| wire::run(WireApi::Chat, data));
}

#[test]
fn responses() {
    replay::replay("responses", |data| wire::run(WireApi::Responses, data));
}

#[test]
fn anthropic() {
    replay::replay("anthropic", |data| wire::run(WireApi::Anthropic, data));
}

#[test]
fn gemini() {
    replay::replay("gemini", |data| wire::run(WireApi::Gemini, data));
}
