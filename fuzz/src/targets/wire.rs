//! Targets `chat`, `responses`, `anthropic` and `gemini`: each wire API's
//! event decoder, through [`tern_llm::replay::decode`] (the SSE reader and
//! the wire's accumulator, without HTTP).
//!
//! The input is the body of one attempt. The decoder ends with a response
//! or an error, never a panic; a response's text and reasoning are exactly
//! what it streamed for display, and every tool call has arguments; and
//! the body cut in two (where its first byte says) decodes the same.

use tern_config::WireApi;
use tern_llm::replay::{Replayed, decode};
use tern_llm::{Response, StreamDelta};

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a Tokio runtime: {e}"));
}

pub fn run(wire: WireApi, data: &[u8]) {
    let at = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (whole, cut) =
        RUNTIME.with(|rt| (rt.block_on(decode(wire, &[data])), rt.block_on(decode(wire, &[&data[..at], &data[at..]]))));
    check(&whole);
    assert_eq!(summary(&whole), summary(&cut), "cut at {at}");
}

fn check(r: &Replayed) {
    let mut text = String::new();
    let mut reasoning = String::new();
    for d in &r.deltas {
        match d {
            StreamDelta::Text(t) => text.push_str(t),
            StreamDelta::Reasoning(t) => reasoning.push_str(t),
            other => panic!("one attempt sent {other:?}"),
        }
    }
    let Ok(response) = &r.result else { return };
    assert_eq!(response.content, text, "the content is not what was shown");
    assert_eq!(response.reasoning, reasoning, "the reasoning is not what was shown");
    for call in &response.tool_calls {
        assert!(!call.arguments.trim().is_empty(), "a call without arguments: {call:?}");
    }
}

/// The outcome without what is random (ids made up for calls without one).
fn summary(r: &Replayed) -> Result<(Response, Vec<StreamDelta>), String> {
    match &r.result {
        Ok(response) => {
            let mut response = response.clone();
            for call in &mut response.tool_calls {
                call.id.clear();
            }
            Ok((response, r.deltas.clone()))
        }
        Err(e) => Err(format!("{:?}: {}", e.kind, e.message)),
    }
}
