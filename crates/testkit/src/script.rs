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
    /// The server whose stream shape to imitate (default: OpenAI).
    pub dialect: Option<Dialect>,
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
    /// Send the API's own in-stream error event (a server error) after
    /// this many events, then end the stream.
    ErrorEventAfter { events: usize },
    /// Answer 200 with an HTML page instead of a stream (a proxy's login
    /// page, or a base_url that points at a website).
    Html,
    /// Stream one event that never ends, this many bytes long (a runaway
    /// server).
    Oversize { bytes: u64 },
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

    /// Reports this usage (in the wire's own shape) instead of one derived
    /// from the request's size.
    pub fn with_usage(mut self, usage: Value) -> Self {
        self.usage = Some(usage);
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

    pub fn with_dialect(mut self, d: Dialect) -> Self {
        self.dialect = Some(d);
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

    /// The Chat Completions SSE frames of this response, shaped like the
    /// server named by `dialect`.
    pub(crate) fn chat_frames(&self, seq: usize, model: &str, prompt_chars: usize) -> Vec<String> {
        let dialect = self.dialect.unwrap_or_default();
        let id = format!("chatcmpl-mock-{seq}");
        let envelope = |choices: Value| json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000u64, "model": model, "choices": choices});
        let chunk =
            |delta: Value, finish: Value| envelope(json!([{"index": 0, "delta": delta, "finish_reason": finish}]));
        let n = self.chunk_chars.unwrap_or(12).max(1);
        let mut out = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
        if let Some(r) = &self.reasoning {
            // DeepSeek, vLLM and llama.cpp say `reasoning_content`; OpenRouter and Ollama `reasoning`.
            let key = if matches!(dialect, Dialect::OpenRouter | Dialect::OllamaLegacy) {
                "reasoning"
            } else {
                "reasoning_content"
            };
            out.extend(pieces(r, n).map(|p| chunk(json!({ key: p }), Value::Null)));
        }
        if let Some(t) = &self.text {
            out.extend(pieces(t, n).map(|p| chunk(json!({"content": p}), Value::Null)));
        }
        let args_of = |c: &ScriptedCall| match &c.arguments {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        if dialect == Dialect::OllamaLegacy {
            // Every call whole, in one chunk, without `index`.
            let calls: Vec<Value> = self
                .tool_calls
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let call_id = c.id.clone().unwrap_or_else(|| format!("call_{seq}_{i}"));
                    json!({"id": call_id, "type": "function", "function": {"name": c.name, "arguments": args_of(c)}})
                })
                .collect();
            if !calls.is_empty() {
                out.push(chunk(json!({"tool_calls": calls}), Value::Null));
            }
        } else {
            for (i, c) in self.tool_calls.iter().enumerate() {
                let call_id = c.id.clone().unwrap_or_else(|| format!("call_{seq}_{i}"));
                out.push(chunk(
                    json!({"tool_calls": [{"index": i, "id": call_id, "type": "function", "function": {"name": c.name, "arguments": ""}}]}),
                    Value::Null,
                ));
                out.extend(
                    pieces(&args_of(c), n.max(16)).map(|p| {
                        chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}), Value::Null)
                    }),
                );
            }
        }
        let finish = match (self.tool_calls.is_empty(), dialect) {
            (false, Dialect::OllamaLegacy) | (true, _) => "stop",
            (false, _) => "tool_calls",
        };
        let completion_chars = self.text.as_deref().map_or(0, str::len) + self.reasoning.as_deref().map_or(0, str::len);
        let usage = self.usage.clone().unwrap_or_else(|| {
            let (p, c) = ((prompt_chars / 4) as u64, (completion_chars / 4 + 1) as u64);
            json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                   "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}})
        });
        let mut last = chunk(json!({}), json!(finish));
        match dialect {
            Dialect::OpenAi => {
                out.push(last);
                let mut trailer = envelope(json!([]));
                trailer["usage"] = usage;
                out.push(trailer);
            }
            // Usage rides on the finishing chunk.
            Dialect::LlamaCpp | Dialect::OpenRouter | Dialect::NoDone => {
                last["usage"] = usage;
                out.push(last);
            }
            Dialect::OllamaLegacy => out.push(last),
        }
        let mut frames: Vec<String> = out.into_iter().map(|v| format!("data: {v}\n\n")).collect();
        if dialect == Dialect::OpenRouter {
            // OpenRouter keeps the connection warm with SSE comments.
            frames.insert(0, ": OPENROUTER PROCESSING\n\n".into());
            frames.insert(frames.len() / 2, ": OPENROUTER PROCESSING\n\n".into());
        }
        if dialect != Dialect::NoDone {
            frames.push("data: [DONE]\n\n".into());
        }
        frames
    }
}

impl Step {
    /// The Anthropic Messages SSE frames of this response (named events:
    /// message_start, ping, content blocks with their deltas, message_delta,
    /// message_stop), as the service sends them.
    pub(crate) fn anthropic_frames(&self, seq: usize, model: &str, prompt_chars: usize) -> Vec<String> {
        let n = self.chunk_chars.unwrap_or(12).max(1);
        let frame = |v: Value| format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or("message"));
        let usage = self.usage.clone().unwrap_or_else(|| {
            json!({"input_tokens": (prompt_chars / 4) as u64, "cache_creation_input_tokens": 0,
                   "cache_read_input_tokens": 0, "output_tokens": 1})
        });
        let mut out = vec![
            frame(json!({"type": "message_start", "message": {"id": format!("msg_mock_{seq}"), "type": "message",
                "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage}})),
            frame(json!({"type": "ping"})),
        ];
        let mut index = 0;
        let mut block = |start: Value, deltas: Vec<Value>, out: &mut Vec<String>| {
            out.push(frame(json!({"type": "content_block_start", "index": index, "content_block": start})));
            out.extend(
                deltas.into_iter().map(|d| frame(json!({"type": "content_block_delta", "index": index, "delta": d}))),
            );
            out.push(frame(json!({"type": "content_block_stop", "index": index})));
            index += 1;
        };
        if let Some(r) = &self.reasoning {
            let mut deltas: Vec<Value> =
                pieces(r, n).map(|p| json!({"type": "thinking_delta", "thinking": p})).collect();
            deltas.push(json!({"type": "signature_delta", "signature": "mock-signature"}));
            block(json!({"type": "thinking", "thinking": ""}), deltas, &mut out);
        }
        if let Some(t) = &self.text {
            block(
                json!({"type": "text", "text": ""}),
                pieces(t, n).map(|p| json!({"type": "text_delta", "text": p})).collect(),
                &mut out,
            );
        }
        for (i, c) in self.tool_calls.iter().enumerate() {
            let id = c.id.clone().unwrap_or_else(|| format!("toolu_{seq}_{i}"));
            let args = match &c.arguments {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let deltas =
                pieces(&args, n.max(16)).map(|p| json!({"type": "input_json_delta", "partial_json": p})).collect();
            block(json!({"type": "tool_use", "id": id, "name": c.name, "input": {}}), deltas, &mut out);
        }
        let stop = if self.tool_calls.is_empty() { "end_turn" } else { "tool_use" };
        let completion_chars = self.text.as_deref().map_or(0, str::len) + self.reasoning.as_deref().map_or(0, str::len);
        out.push(frame(json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
            "usage": {"output_tokens": (completion_chars / 4 + 1) as u64}})));
        out.push(frame(json!({"type": "message_stop"})));
        out
    }
}

impl Step {
    /// The OpenAI Responses SSE frames of this response: output items
    /// (reasoning with a summary and encrypted content, a message, function
    /// calls with streamed arguments) between response.created and
    /// response.completed.
    pub(crate) fn responses_frames(&self, seq: usize, prompt_chars: usize) -> Vec<String> {
        let n = self.chunk_chars.unwrap_or(12).max(1);
        let frame = |v: Value| format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or("message"));
        let id = format!("resp_mock_{seq}");
        let mut out = vec![frame(json!({"type": "response.created", "response": {"id": id, "status": "in_progress"}}))];
        let mut index = 0;
        if let Some(r) = &self.reasoning {
            let item_id = format!("rs_{seq}");
            out.push(frame(json!({"type": "response.output_item.added", "output_index": index,
                "item": {"type": "reasoning", "id": item_id, "summary": []}})));
            out.extend(pieces(r, n).map(|p| {
                frame(json!({"type": "response.reasoning_summary_text.delta",
                "item_id": item_id, "output_index": index, "summary_index": 0, "delta": p}))
            }));
            out.push(frame(json!({"type": "response.output_item.done", "output_index": index,
                "item": {"type": "reasoning", "id": item_id, "summary": [{"type": "summary_text", "text": r}],
                         "encrypted_content": format!("enc-{seq}")}})));
            index += 1;
        }
        if let Some(t) = &self.text {
            let item_id = format!("msg_{seq}");
            out.push(frame(json!({"type": "response.output_item.added", "output_index": index,
                "item": {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}})));
            out.extend(pieces(t, n).map(|p| {
                frame(json!({"type": "response.output_text.delta", "item_id": item_id,
                "output_index": index, "content_index": 0, "delta": p}))
            }));
            out.push(frame(json!({"type": "response.output_item.done", "output_index": index,
                "item": {"type": "message", "id": item_id, "role": "assistant", "status": "completed",
                         "content": [{"type": "output_text", "text": t, "annotations": []}]}})));
            index += 1;
        }
        for (i, c) in self.tool_calls.iter().enumerate() {
            let call_id = c.id.clone().unwrap_or_else(|| format!("call_{seq}_{i}"));
            let item_id = format!("fc_{seq}_{i}");
            let args = match &c.arguments {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            out.push(frame(json!({"type": "response.output_item.added", "output_index": index,
                "item": {"type": "function_call", "id": item_id, "call_id": call_id, "name": c.name, "arguments": ""}})));
            out.extend(pieces(&args, n.max(16)).map(|p| {
                frame(json!({"type": "response.function_call_arguments.delta",
                "item_id": item_id, "output_index": index, "delta": p}))
            }));
            out.push(frame(json!({"type": "response.function_call_arguments.done", "item_id": item_id,
                "output_index": index, "arguments": args})));
            out.push(frame(json!({"type": "response.output_item.done", "output_index": index,
                "item": {"type": "function_call", "id": item_id, "call_id": call_id, "name": c.name, "arguments": args, "status": "completed"}})));
            index += 1;
        }
        let usage = self.usage.clone().unwrap_or_else(|| {
            json!({"input_tokens": (prompt_chars / 4) as u64, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0})
        });
        out.push(frame(
            json!({"type": "response.completed", "response": {"id": id, "status": "completed", "usage": usage}}),
        ));
        out
    }
}

impl Step {
    /// Gemini's `streamGenerateContent?alt=sse` frames: thought parts,
    /// text parts, whole `functionCall` parts with thought signatures, then
    /// the finishing chunk with `usageMetadata`.
    pub(crate) fn gemini_frames(&self, seq: usize, prompt_chars: usize) -> Vec<String> {
        let n = self.chunk_chars.unwrap_or(12).max(1);
        let chunk = |parts: Value| {
            format!("data: {}\n\n", json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}]}))
        };
        let mut out = Vec::new();
        if let Some(r) = &self.reasoning {
            out.extend(pieces(r, n).map(|p| chunk(json!([{"text": p, "thought": true}]))));
        }
        if let Some(t) = &self.text {
            out.extend(pieces(t, n).map(|p| chunk(json!([{"text": p}]))));
        }
        if !self.tool_calls.is_empty() {
            let parts: Vec<Value> = self
                .tool_calls
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let args = match &c.arguments {
                        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| json!({"_raw": s})),
                        v => v.clone(),
                    };
                    json!({"functionCall": {"name": c.name, "args": args}, "thoughtSignature": format!("sig-{seq}-{i}")})
                })
                .collect();
            out.push(chunk(json!(parts)));
        }
        let usage = self.usage.clone().unwrap_or_else(
            || json!({"promptTokenCount": (prompt_chars / 4) as u64, "candidatesTokenCount": 5, "totalTokenCount": 0}),
        );
        out.push(format!(
            "data: {}\n\n",
            json!({"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "STOP", "index": 0}],
                   "usageMetadata": usage, "modelVersion": "mock"})
        ));
        out
    }
}

/// Which server's stream shape to imitate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// OpenAI: streamed call deltas with `index`, usage in a trailing chunk with no choices.
    #[default]
    OpenAi,
    /// Older Ollama: whole calls in one chunk without `index`, `finish_reason: "stop"`, no usage.
    OllamaLegacy,
    /// llama.cpp's server: usage on the finishing chunk.
    LlamaCpp,
    /// OpenRouter: SSE comment keep-alives, `reasoning`, usage on the finishing chunk.
    OpenRouter,
    /// A server that ends the stream after the finishing chunk without `[DONE]`.
    NoDone,
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
