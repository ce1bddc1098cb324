//! Scripted model responses, and how each is streamed.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One model response the mock will give, in order of requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Step {
    pub reasoning: Option<String>,
    pub text: Option<String>,
    pub tool_calls: Vec<ScriptedCall>,
    /// Characters per streamed delta.
    pub chunk_chars: Option<usize>,
    /// Pause between SSE events, in milliseconds.
    pub delay_ms: Option<u64>,
    /// Send nothing until this much time has passed (ms).
    pub first_byte_delay_ms: Option<u64>,
    pub fault: Option<Fault>,
    /// Overrides the reported usage.
    pub usage: Option<Value>,
}

/// A tool call the scripted model makes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    pub name: String,
    /// An object, sent as its JSON text; or a string, sent verbatim (which
    /// is how tests send broken JSON).
    pub arguments: Value,
    pub id: Option<String>,
}

/// A failure to inject instead of (or in the middle of) a response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer with this HTTP status and body instead of a stream.
    Status { status: u16, body: Option<String>, retry_after: Option<String> },
    /// Close the connection abruptly after this many SSE events.
    DropAfter { events: usize },
    /// Send an unparseable event after this many events.
    MalformedAfter { events: usize },
    /// Stop sending (but keep the connection open) after this many events.
    StallAfter { events: usize },
}

impl Step {
    /// A plain text answer.
    pub fn text(t: impl Into<String>) -> Self {
        Step { text: Some(t.into()), ..Default::default() }
    }

    /// A response with one tool call.
    pub fn call(name: &str, arguments: Value) -> Self {
        Step::default().and_call(name, arguments)
    }

    /// Adds another tool call to this response.
    pub fn and_call(mut self, name: &str, arguments: Value) -> Self {
        self.tool_calls.push(ScriptedCall { name: name.into(), arguments, id: None });
        self
    }

    pub fn with_fault(mut self, f: Fault) -> Self {
        self.fault = Some(f);
        self
    }

    pub fn with_delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = Some(ms);
        self
    }

    pub fn with_chunk_chars(mut self, n: usize) -> Self {
        self.chunk_chars = Some(n);
        self
    }

    pub fn with_reasoning(mut self, r: impl Into<String>) -> Self {
        self.reasoning = Some(r.into());
        self
    }

    /// An HTTP error response.
    pub fn status(status: u16, body: &str) -> Self {
        Step::default().with_fault(Fault::Status { status, body: Some(body.into()), retry_after: None })
    }

    /// The Chat Completions SSE `data:` payloads of this response.
    pub(crate) fn chat_events(&self, seq: usize, model: &str, prompt_chars: usize) -> Vec<String> {
        let id = format!("chatcmpl-mock-{seq}");
        let chunk = |delta: Value, finish: Value| {
            json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000u64, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            .to_string()
        };
        let n = self.chunk_chars.unwrap_or(12).max(1);
        let mut out = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
        if let Some(r) = &self.reasoning {
            out.extend(pieces(r, n).map(|p| chunk(json!({"reasoning_content": p}), Value::Null)));
        }
        if let Some(t) = &self.text {
            out.extend(pieces(t, n).map(|p| chunk(json!({"content": p}), Value::Null)));
        }
        for (i, c) in self.tool_calls.iter().enumerate() {
            let call_id = c.id.clone().unwrap_or_else(|| format!("call_{seq}_{i}"));
            out.push(chunk(
                json!({"tool_calls": [{"index": i, "id": call_id, "type": "function", "function": {"name": c.name, "arguments": ""}}]}),
                Value::Null,
            ));
            let args = match &c.arguments {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            out.extend(
                pieces(&args, n.max(16))
                    .map(|p| chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}), Value::Null)),
            );
        }
        let finish = if self.tool_calls.is_empty() { "stop" } else { "tool_calls" };
        out.push(chunk(json!({}), json!(finish)));
        let completion_chars = self.text.as_deref().map_or(0, str::len) + self.reasoning.as_deref().map_or(0, str::len);
        let usage = self.usage.clone().unwrap_or_else(|| {
            let (p, c) = ((prompt_chars / 4) as u64, (completion_chars / 4 + 1) as u64);
            json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                   "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}})
        });
        out.push(json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000u64, "model": model, "choices": [], "usage": usage}).to_string());
        out.push("[DONE]".into());
        out
    }
}

fn pieces(s: &str, n: usize) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = s.chars().collect();
    (0..chars.len()).step_by(n).map(move |i| chars[i..(i + n).min(chars.len())].iter().collect())
}

/// A whole conversation script, as stored in a file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub steps: Vec<Step>,
}
