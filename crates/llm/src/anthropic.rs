//! Anthropic Messages (`POST {base_url}/messages`, streaming).
//!
//! Text, thinking and `tool_use` blocks, `input_json_delta` for streamed
//! tool arguments, the `anthropic-version` header, and prompt caching:
//! `cache_control` breakpoints on the stable prefix (the tools, the system
//! prompt, and the conversation so far), with cache reads and writes
//! reported in usage.

use crate::error::Origin;
use crate::http::{Auth, Http, Sse};
use crate::stream::{Shown, Wire};
use crate::{ClientConfig, LlmError, Message, Request, Response, StreamDelta, ToolCall};
use serde::Serialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use tern_protocol::Usage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const VERSION: &str = "2023-06-01";
/// Output tokens asked for; the API requires a limit.
const MAX_TOKENS: u32 = 16_384;

/// An Anthropic Messages client.
pub struct AnthropicClient {
    http: Http,
}

impl AnthropicClient {
    pub fn new(config: ClientConfig) -> Result<Self, LlmError> {
        Ok(AnthropicClient { http: Http::new(config)? })
    }
}

impl Wire for AnthropicClient {
    fn http(&self) -> &Http {
        &self.http
    }

    fn encode(&self, request: &Request<'_>) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&body(request))
    }

    fn url(&self, _model: &str) -> String {
        self.http.url("messages")
    }

    async fn attempt(
        &self,
        url: &str,
        model: &str,
        body: bytes::Bytes,
        shown: &mut Shown,
        sink: &mpsc::Sender<StreamDelta>,
        cancel: &CancellationToken,
    ) -> Result<Response, LlmError> {
        let headers = [("anthropic-version", VERSION)];
        let sse = self.http.open(url, Auth::Header("x-api-key"), &headers, body, model, cancel).await?;
        read(sse, &self.http.origin(model), shown, sink, cancel).await
    }
}

/// Reads one attempt's events into a response.
pub(crate) async fn read(
    mut sse: Sse,
    origin: &Origin<'_>,
    shown: &mut Shown,
    sink: &mpsc::Sender<StreamDelta>,
    cancel: &CancellationToken,
) -> Result<Response, LlmError> {
    let mut acc = Accumulator::default();
    while let Some(event) = sse.next(cancel).await? {
        let data = event.data.trim();
        if data.is_empty() {
            continue;
        }
        let v = sse.json(data)?;
        if v["type"] == "error" {
            return Err(stream_error(&v["error"], origin));
        }
        if acc.event(&v, shown, sink).await {
            break;
        }
    }
    if !acc.done {
        return Err(sse.incomplete());
    }
    Ok(acc.finish())
}

/// An `error` event: its `type` says which HTTP status it stands for.
fn stream_error(err: &Value, origin: &Origin<'_>) -> LlmError {
    let status = match err["type"].as_str().unwrap_or("") {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        _ => 500,
    };
    let mut e = json!({"message": err["message"], "type": err["type"]});
    e["code"] = json!(status);
    crate::error::classify_stream_error(&e, origin)
}

/// The request body, borrowing the history (see chat.rs).
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    max_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Part<'a>>,
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: Vec<Part<'a>>,
}

/// A content block, with a cache breakpoint where the prefix ends.
#[derive(Serialize)]
struct Part<'a> {
    #[serde(flatten)]
    block: Content<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<Ephemeral>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Content<'a> {
    Text { text: Cow<'a, str> },
    ToolUse { id: &'a str, name: &'a str, input: Value },
    ToolResult { tool_use_id: &'a str, content: &'a str },
    Image { source: ImageSource<'a> },
}

#[derive(Serialize)]
struct ImageSource<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    media_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<Ephemeral>,
}

/// `{"type": "ephemeral"}`: a prompt-cache breakpoint.
#[derive(Serialize)]
struct Ephemeral {
    #[serde(rename = "type")]
    kind: &'static str,
}

const EPHEMERAL: Option<Ephemeral> = Some(Ephemeral { kind: "ephemeral" });

fn part(block: Content<'_>) -> Part<'_> {
    Part { block, cache_control: None }
}

/// Encodes a request. Consecutive messages of one role are merged (tool
/// results travel in user messages), as the API requires alternation.
fn body<'a>(req: &Request<'a>) -> Body<'a> {
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::System { content } => Some(content.as_str()),
            _ => None,
        })
        .collect();
    let mut messages: Vec<Turn<'a>> = Vec::new();
    let mut push = |role: &'static str, block: Content<'a>| match messages.last_mut() {
        Some(turn) if turn.role == role => turn.content.push(part(block)),
        _ => messages.push(Turn { role, content: vec![part(block)] }),
    };
    for m in req.messages {
        match m {
            Message::System { .. } => {}
            Message::User { content } => push("user", Content::Text { text: Cow::Borrowed(content) }),
            Message::Assistant { content, tool_calls, .. } => {
                if !content.is_empty() {
                    push("assistant", Content::Text { text: Cow::Borrowed(content) });
                }
                for c in tool_calls {
                    // The API wants an object; arguments the model broke are
                    // passed back as they were, under one key.
                    let input: Value = serde_json::from_str(&c.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({"_unparsed_arguments": c.arguments}));
                    push("assistant", Content::ToolUse { id: &c.id, name: &c.name, input });
                }
            }
            Message::Tool { call_id, content } => {
                push("user", Content::ToolResult { tool_use_id: call_id, content });
            }
            // After the tool results, in the same user turn (the API wants
            // tool results first).
            Message::Images { caption, images } => {
                push("user", Content::Text { text: Cow::Borrowed(caption) });
                for i in images {
                    let source = ImageSource { kind: "base64", media_type: &i.mime_type, data: &i.data };
                    push("user", Content::Image { source });
                }
            }
        }
    }
    // The conversation so far is the stable prefix of the next request.
    if let Some(last) = messages.last_mut().and_then(|turn| turn.content.last_mut()) {
        last.cache_control = EPHEMERAL;
    }
    let n = req.tools.len();
    let tools = req
        .tools
        .iter()
        .enumerate()
        .map(|(i, t)| Tool {
            name: &t.name,
            description: &t.description,
            input_schema: &t.parameters,
            cache_control: if i + 1 == n { EPHEMERAL } else { None },
        })
        .collect();
    let system = if system.is_empty() {
        Vec::new()
    } else {
        vec![Part { block: Content::Text { text: Cow::Owned(system.join("\n\n")) }, cache_control: EPHEMERAL }]
    };
    let tool_choice = (n > 0 && req.tools_disabled).then(|| serde_json::json!({"type": "none"}));
    Body { model: req.model, max_tokens: MAX_TOKENS, stream: true, system, messages, tools, tool_choice }
}

enum Block {
    Text,
    Thinking,
    Tool(ToolCall),
    Other,
}

#[derive(Default)]
struct Accumulator {
    blocks: Vec<(u64, Block)>,
    content: String,
    reasoning: String,
    usage: Usage,
    stop_reason: Option<String>,
    done: bool,
}

impl Accumulator {
    /// Handles one event; true once the message is complete.
    async fn event(&mut self, v: &Value, shown: &mut Shown, sink: &mpsc::Sender<StreamDelta>) -> bool {
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        match v["type"].as_str().unwrap_or("") {
            "message_start" => {
                let u = &v["message"]["usage"];
                let (fresh, read, write) =
                    (n(&u["input_tokens"]), n(&u["cache_read_input_tokens"]), n(&u["cache_creation_input_tokens"]));
                // Saturating: a server's numbers are not trusted to fit.
                self.usage.input_tokens = fresh.saturating_add(read).saturating_add(write);
                self.usage.cached_input_tokens = read;
                self.usage.output_tokens = n(&u["output_tokens"]);
            }
            "content_block_start" => {
                let b = &v["content_block"];
                let block = match b["type"].as_str().unwrap_or("") {
                    "text" => Block::Text,
                    "thinking" | "redacted_thinking" => Block::Thinking,
                    "tool_use" => Block::Tool(ToolCall {
                        id: b["id"].as_str().unwrap_or("").to_string(),
                        name: b["name"].as_str().unwrap_or("").to_string(),
                        arguments: String::new(),
                    }),
                    _ => Block::Other,
                };
                self.blocks.push((n(&v["index"]), block));
            }
            "content_block_delta" => {
                let index = n(&v["index"]);
                let d = &v["delta"];
                let block = self.blocks.iter_mut().rev().find(|(i, _)| *i == index).map(|(_, b)| b);
                match (d["type"].as_str().unwrap_or(""), block) {
                    ("text_delta", _) => {
                        let t = d["text"].as_str().unwrap_or("");
                        self.content.push_str(t);
                        shown.text(t, sink).await;
                    }
                    ("thinking_delta", _) => {
                        let t = d["thinking"].as_str().unwrap_or("");
                        self.reasoning.push_str(t);
                        shown.reasoning(t, sink).await;
                    }
                    ("input_json_delta", Some(Block::Tool(call))) => {
                        call.arguments.push_str(d["partial_json"].as_str().unwrap_or(""));
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = v["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(r.to_string());
                }
                if let Some(out) = v["usage"]["output_tokens"].as_u64() {
                    self.usage.output_tokens = out;
                }
            }
            "message_stop" => {
                self.done = true;
                return true;
            }
            _ => {}
        }
        false
    }

    fn finish(self) -> Response {
        let tool_calls = self
            .blocks
            .into_iter()
            .filter_map(|(_, b)| match b {
                Block::Tool(mut c) => {
                    if c.arguments.trim().is_empty() {
                        c.arguments = "{}".into();
                    }
                    Some(c)
                }
                _ => None,
            })
            .collect();
        Response {
            content: self.content,
            reasoning: self.reasoning,
            tool_calls,
            usage: self.usage,
            finish_reason: self.stop_reason,
            opaque: vec![],
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::unwrap_used)] // tests may block
mod tests {
    use super::*;
    use crate::ToolSpec;

    #[test]
    fn body_merges_roles_and_marks_cache_breakpoints() {
        let msgs = vec![
            Message::System { content: "sys".into() },
            Message::User { content: "hi".into() },
            Message::Assistant {
                content: "looking".into(),
                reasoning: None,
                opaque: vec![],
                tool_calls: vec![
                    ToolCall { id: "a".into(), name: "read_file".into(), arguments: r#"{"path":"x"}"#.into() },
                    ToolCall { id: "b".into(), name: "list_dir".into(), arguments: "{broken".into() },
                ],
            },
            Message::Tool { call_id: "a".into(), content: "A".into() },
            Message::Tool { call_id: "b".into(), content: "B".into() },
            Message::User { content: "more".into() },
        ];
        let tools = vec![
            ToolSpec {
                name: "read_file".into(),
                description: "d".into(),
                parameters: json!({"type": "object"}),
                opens: false,
            },
            ToolSpec {
                name: "list_dir".into(),
                description: "d".into(),
                parameters: json!({"type": "object"}),
                opens: false,
            },
        ];
        let b = serde_json::to_value(body(&Request {
            model: "claude",
            messages: &msgs,
            tools: &tools,
            cache_key: "k",
            tools_disabled: false,
        }))
        .unwrap();
        assert_eq!(b["system"][0]["text"], "sys");
        assert_eq!(b["system"][0]["type"], "text");
        assert!(m_has_no_cache(&b["messages"][0]), "only the last block is a breakpoint: {b}");
        assert_eq!(b["system"][0]["cache_control"]["type"], "ephemeral");
        assert!(b["tools"][0].get("cache_control").is_none());
        assert_eq!(b["tools"][1]["cache_control"]["type"], "ephemeral");
        let m = b["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3, "{m:?}");
        assert_eq!(m[1]["content"][1]["input"], json!({"path": "x"}));
        assert_eq!(m[1]["content"][2]["input"], json!({"_unparsed_arguments": "{broken"}));
        let last = m[2]["content"].as_array().unwrap();
        assert_eq!(last[0]["type"], "tool_result");
        assert_eq!(last[1]["tool_use_id"], "b");
        assert_eq!(last[2]["text"], "more");
        assert_eq!(last[2]["cache_control"]["type"], "ephemeral");
    }

    fn m_has_no_cache(turn: &Value) -> bool {
        turn["content"].as_array().unwrap().iter().all(|b| b.get("cache_control").is_none())
    }

    #[test]
    fn images_follow_the_tool_results_in_the_same_turn() {
        let msgs = crate::message::with_images();
        let b = serde_json::to_value(body(&Request {
            model: "m",
            messages: &msgs,
            tools: &[],
            cache_key: "k",
            tools_disabled: false,
        }))
        .unwrap();
        let turn = &b["messages"][2];
        assert_eq!(turn["role"], "user");
        assert_eq!(turn["content"][0]["type"], "tool_result");
        assert_eq!(turn["content"][1]["type"], "text");
        assert_eq!(turn["content"][2]["type"], "image");
        assert_eq!(turn["content"][2]["source"], json!({"type": "base64", "media_type": "image/png", "data": "iVBO"}));
    }

    #[tokio::test]
    async fn usage_past_u64_saturates() {
        // fuzz/regressions/anthropic/usage-overflow: the sum overflowed.
        let (tx, _rx) = mpsc::channel(8);
        let mut acc = Accumulator::default();
        let usage = json!({"input_tokens": u64::MAX, "cache_read_input_tokens": 1, "cache_creation_input_tokens": 1});
        acc.event(&json!({"type": "message_start", "message": {"usage": usage}}), &mut Shown::default(), &tx).await;
        assert_eq!((acc.usage.input_tokens, acc.usage.cached_input_tokens), (u64::MAX, 1));
    }

    #[test]
    fn disabled_tools_are_listed_but_not_callable() {
        let msgs = [Message::User { content: "sum up".into() }];
        let tools = [ToolSpec {
            name: "t".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
            opens: false,
        }];
        let req = Request { model: "m", messages: &msgs, tools: &tools, cache_key: "k", tools_disabled: true };
        let b = serde_json::to_value(body(&req)).unwrap();
        assert_eq!((b["tools"].as_array().map(Vec::len), &b["tool_choice"]), (Some(1), &json!({"type": "none"})));
    }
}
