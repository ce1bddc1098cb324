//! OpenAI Chat Completions (`POST {base_url}/chat/completions`, streaming).
//!
//! Written against the variations real servers send: usage in a trailing
//! chunk or in the finishing one, tool calls without `index` (keyed by id)
//! or sent whole in one chunk, arguments as a string or an object,
//! reasoning as `reasoning_content` or `reasoning`, `finish_reason` "stop"
//! with tool calls, a stream ending without `[DONE]`, and `{"error": …}`
//! objects inside the stream.

use crate::error::{Origin, classify_stream_error};
use crate::http::{Auth, Http, Sse};
use crate::stream::{Shown, Wire};
use crate::{ClientConfig, LlmError, Message, Request, Response, StreamDelta, ToolCall};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use tern_protocol::Usage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A Chat Completions client for one provider.
pub struct ChatClient {
    http: Http,
    quirks: tern_config::ChatQuirks,
}

impl ChatClient {
    /// Builds the client. Cheap; no connection is made until the first request.
    pub fn new(config: ClientConfig) -> Result<Self, LlmError> {
        let quirks = config.quirks.clone();
        Ok(ChatClient { http: Http::new(config)?, quirks })
    }
}

impl Wire for ChatClient {
    fn http(&self) -> &Http {
        &self.http
    }

    fn encode(&self, request: &Request<'_>) -> Result<Vec<u8>, serde_json::Error> {
        body(request, &self.quirks)
    }

    fn url(&self, _model: &str) -> String {
        self.http.url("chat/completions")
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
        let sse = self.http.open(url, Auth::Bearer, &[], body, model, cancel).await?;
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
        if data == "[DONE]" {
            acc.done = true;
            break;
        }
        let chunk = sse.json(data)?;
        if let Some(err) = chunk.get("error") {
            return Err(classify_stream_error(err, origin));
        }
        acc.chunk(&chunk, shown, sink).await;
    }
    if !acc.done && acc.finish_reason.is_none() {
        return Err(sse.incomplete());
    }
    Ok(acc.finish())
}

/// Encodes a request as a Chat Completions body, in the server's dialect.
/// The body borrows the history instead of copying it into a JSON tree: a
/// long session re-sends megabytes of it on every call.
fn body(req: &Request<'_>, quirks: &tern_config::ChatQuirks) -> Result<Vec<u8>, serde_json::Error> {
    let alnum = quirks.tool_call_ids == Some(tern_config::ToolCallIds::Alnum9);
    let id = |raw| if alnum { Cow::Owned(alnum9(raw)) } else { Cow::Borrowed(raw) };
    let messages = req
        .messages
        .iter()
        .map(|m| match m {
            Message::System { content } => ChatMessage {
                role: quirks.system_role.unwrap_or_default().as_str(),
                content: Some(ChatContent::Text(content)),
                ..ChatMessage::default()
            },
            Message::User { content } => {
                ChatMessage { role: "user", content: Some(ChatContent::Text(content)), ..ChatMessage::default() }
            }
            Message::Assistant { content, tool_calls, reasoning, .. } => ChatMessage {
                role: "assistant",
                content: (!(content.is_empty() && !tool_calls.is_empty() && quirks.null_tool_content == Some(true)))
                    .then_some(ChatContent::Text(content)),
                reasoning_content: reasoning.as_deref().filter(|_| quirks.echo_reasoning == Some(true)),
                tool_calls: tool_calls
                    .iter()
                    .map(|c| ChatCall {
                        id: id(&c.id),
                        kind: "function",
                        function: ChatFunction { name: &c.name, arguments: &c.arguments },
                    })
                    .collect(),
                ..ChatMessage::default()
            },
            Message::Tool { call_id, content } => ChatMessage {
                role: "tool",
                content: Some(ChatContent::Text(content)),
                tool_call_id: Some(id(call_id)),
                ..ChatMessage::default()
            },
            // Tool messages take text only: images follow as the user's.
            Message::Images { caption, images } => {
                let mut parts = vec![ChatPart::Text { text: caption }];
                parts.extend(images.iter().map(|i| ChatPart::ImageUrl {
                    image_url: ChatImageUrl { url: format!("data:{};base64,{}", i.mime_type, i.data) },
                }));
                ChatMessage { role: "user", content: Some(ChatContent::Parts(parts)), ..ChatMessage::default() }
            }
        })
        .collect();
    let tools: Vec<ChatTool> = req
        .tools
        .iter()
        .map(|t| ChatTool {
            kind: "function",
            function: ChatToolFunction { name: &t.name, description: &t.description, parameters: &t.parameters },
        })
        .collect();
    // A key in `extra_body` replaces tern's own.
    let extra = quirks.extra_body.as_ref();
    let ours = |key: &str| !extra.is_some_and(|e| e.contains_key(key));
    let has_tools = !tools.is_empty();
    let body = ChatBody {
        model: ours("model").then_some(req.model),
        messages,
        stream: ours("stream").then_some(true),
        parallel_tool_calls: quirks.parallel_tool_calls.filter(|_| has_tools && ours("parallel_tool_calls")),
        tools: (has_tools && ours("tools")).then_some(tools),
        tool_choice: (has_tools && req.tools_disabled && ours("tool_choice")).then_some("none"),
        stream_options: (quirks.stream_usage != Some(false) && ours("stream_options"))
            .then_some(StreamOptions { include_usage: true }),
        extra,
    };
    serde_json::to_vec(&body)
}

#[derive(Serialize)]
struct ChatBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<ChatTool<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    extra: Option<&'a toml::Table>,
}

#[derive(Serialize, Default)]
struct ChatMessage<'a> {
    role: &'a str,
    /// `null` only where a quirk asks for it.
    content: Option<ChatContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ChatCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<Cow<'a, str>>,
}

/// A message's content: text, or parts (text and images).
#[derive(Serialize)]
#[serde(untagged)]
enum ChatContent<'a> {
    Text(&'a str),
    Parts(Vec<ChatPart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ChatPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ChatImageUrl },
}

#[derive(Serialize)]
struct ChatImageUrl {
    /// A `data:` URL.
    url: String,
}

#[derive(Serialize)]
struct ChatCall<'a> {
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: ChatFunction<'a>,
}

#[derive(Serialize)]
struct ChatFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ChatTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: ChatToolFunction<'a>,
}

#[derive(Serialize)]
struct ChatToolFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// A tool-call id as 9 letters and digits, the same for the same input
/// (FNV-1a), so a call and its result still pair up.
fn alnum9(raw: &str) -> String {
    const DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    if raw.len() == 9 && raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return raw.to_string();
    }
    let mut h: u64 = 0xcbf29ce484222325;
    for b in raw.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    (0..9)
        .map(|_| {
            let c = DIGITS[(h % 62) as usize] as char;
            h /= 62;
            c
        })
        .collect()
}

#[derive(Default)]
struct PartialCall {
    index: Option<u64>,
    id: String,
    name: String,
    arguments: String,
}

/// Assembles a response from its chunks.
#[derive(Default)]
struct Accumulator {
    content: String,
    reasoning: String,
    calls: Vec<PartialCall>,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    done: bool,
}

impl Accumulator {
    async fn chunk(&mut self, chunk: &Value, shown: &mut Shown, sink: &mpsc::Sender<StreamDelta>) {
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(parse_usage(u));
        }
        let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
            return;
        };
        for choice in choices {
            if let Some(delta) = choice.get("delta").or_else(|| choice.get("message")) {
                for key in ["reasoning_content", "reasoning"] {
                    if let Some(r) = delta.get(key).and_then(Value::as_str).filter(|r| !r.is_empty()) {
                        self.reasoning.push_str(r);
                        shown.reasoning(r, sink).await;
                    }
                }
                if let Some(t) = delta.get("content").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    self.content.push_str(t);
                    shown.text(t, sink).await;
                }
                if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                    for c in calls {
                        self.tool_call_delta(c);
                    }
                }
            }
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(f.to_string());
            }
        }
    }

    fn tool_call_delta(&mut self, c: &Value) {
        let index = c.get("index").and_then(Value::as_u64);
        let id = c.get("id").and_then(Value::as_str).unwrap_or("");
        let pos = match index {
            Some(i) => self.calls.iter().position(|p| p.index == Some(i)),
            // No index: a new id starts a new call; no id continues the last.
            None if !id.is_empty() => self.calls.iter().position(|p| p.id == id),
            None => self.calls.len().checked_sub(1),
        };
        let pos = pos.unwrap_or_else(|| {
            self.calls.push(PartialCall { index, ..Default::default() });
            self.calls.len() - 1
        });
        let call = &mut self.calls[pos];
        if call.id.is_empty() && !id.is_empty() {
            call.id = id.to_string();
        }
        if let Some(f) = c.get("function") {
            if let Some(n) = f.get("name").and_then(Value::as_str) {
                // Some servers repeat the name on every delta.
                if !call.name.ends_with(n) || call.name.is_empty() {
                    call.name.push_str(n);
                }
            }
            match f.get("arguments") {
                Some(Value::String(s)) => call.arguments.push_str(s),
                Some(v @ Value::Object(_)) => call.arguments = v.to_string(),
                _ => {}
            }
        }
    }

    fn finish(self) -> Response {
        let tool_calls = self
            .calls
            .into_iter()
            .filter(|c| !c.name.is_empty())
            .map(|c| ToolCall {
                // Some servers send no ids; ours must be unique in the session.
                id: if c.id.is_empty() { format!("call_{:08x}", fastrand::u32(..)) } else { c.id },
                name: c.name,
                arguments: if c.arguments.trim().is_empty() { "{}".into() } else { c.arguments },
            })
            .collect();
        Response {
            content: self.content,
            reasoning: self.reasoning,
            tool_calls,
            usage: self.usage.unwrap_or_default(),
            finish_reason: self.finish_reason,
            opaque: vec![],
        }
    }
}

fn parse_usage(u: &Value) -> Usage {
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n(u.get("prompt_tokens")),
        cached_input_tokens: n(u.pointer("/prompt_tokens_details/cached_tokens")),
        output_tokens: n(u.get("completion_tokens")),
        reasoning_output_tokens: n(u.pointer("/completion_tokens_details/reasoning_tokens")),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    #[test]
    fn quirks_shape_the_body() {
        use crate::ToolCall;
        let messages = [
            Message::System { content: "sys".into() },
            Message::Assistant {
                content: String::new(),
                reasoning: Some("thought".into()),
                tool_calls: vec![ToolCall { id: "call_abc-123".into(), name: "t".into(), arguments: "{}".into() }],
                opaque: vec![],
            },
            Message::Tool { call_id: "call_abc-123".into(), content: "r".into() },
        ];
        let tools =
            [crate::ToolSpec { name: "t".into(), description: "d".into(), parameters: json!({}), opens: false }];
        let req = Request { model: "m", messages: &messages, tools: &tools, cache_key: "k", tools_disabled: false };
        let plain: Value = serde_json::from_slice(&body(&req, &Default::default()).unwrap()).unwrap();
        assert_eq!(plain["stream_options"]["include_usage"], true);
        assert_eq!(plain["messages"][1]["content"], "");
        assert!(plain["messages"][1].get("reasoning_content").is_none());
        assert!(plain.get("parallel_tool_calls").is_none());
        let quirks = tern_config::ChatQuirks {
            tool_call_ids: Some(tern_config::ToolCallIds::Alnum9),
            null_tool_content: Some(true),
            echo_reasoning: Some(true),
            parallel_tool_calls: Some(false),
            ..Default::default()
        };
        let q: Value = serde_json::from_slice(&body(&req, &quirks).unwrap()).unwrap();
        let id = q["messages"][1]["tool_calls"][0]["id"].as_str().unwrap();
        assert_eq!(id.len(), 9);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(q["messages"][2]["tool_call_id"], id, "a call and its result still pair up");
        assert_eq!(q["messages"][1]["content"], Value::Null);
        assert_eq!(q["messages"][1]["reasoning_content"], "thought");
        assert_eq!(q["parallel_tool_calls"], false);
    }

    use super::*;
    use serde_json::json;

    async fn feed(chunks: &[Value]) -> Response {
        let (tx, _rx) = mpsc::channel(64);
        let mut acc = Accumulator::default();
        let mut shown = Shown::default();
        for c in chunks {
            acc.chunk(c, &mut shown, &tx).await;
        }
        acc.finish()
    }

    #[tokio::test]
    async fn streamed_parallel_tool_calls() {
        let r = feed(&[
            json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"read_file","arguments":""}}]}}]}),
            json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}}]}),
            json!({"choices":[{"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"list_dir","arguments":"{}"}}]}}]}),
            json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"x\"}"}}]}}]}),
            json!({"choices":[{"delta":{},"finish_reason":"tool_calls"}]}),
            json!({"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4}}}),
        ])
        .await;
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].arguments, r#"{"path":"x"}"#);
        assert_eq!(r.tool_calls[1].name, "list_dir");
        assert_eq!(r.usage.cached_input_tokens, 4);
    }

    #[tokio::test]
    async fn ollama_style_whole_calls_without_index() {
        let r = feed(&[
            json!({"choices":[{"delta":{"role":"assistant","content":"","tool_calls":[{"id":"c1","function":{"name":"a","arguments":{"x":1}}},{"id":"c2","function":{"name":"b","arguments":"{}"}}]},"finish_reason":"stop"}]}),
        ])
        .await;
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].arguments, r#"{"x":1}"#);
        assert_eq!(r.tool_calls[1].id, "c2");
    }

    #[tokio::test]
    async fn reasoning_fields_and_missing_ids() {
        let r = feed(&[
            json!({"choices":[{"delta":{"reasoning_content":"think "}}]}),
            json!({"choices":[{"delta":{"reasoning":"more"}}]}),
            json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"x"}}]}}]}),
        ])
        .await;
        assert_eq!(r.reasoning, "think more");
        assert!(r.tool_calls[0].id.starts_with("call_") && r.tool_calls[0].id.len() == 13, "{}", r.tool_calls[0].id);
        assert_eq!(r.tool_calls[0].arguments, "{}");
    }

    #[test]
    fn body_shape() {
        let msgs = vec![
            Message::System { content: "s".into() },
            Message::Assistant {
                content: String::new(),
                reasoning: None,
                opaque: vec![],
                tool_calls: vec![ToolCall { id: "1".into(), name: "n".into(), arguments: "{}".into() }],
            },
            Message::Tool { call_id: "1".into(), content: "out".into() },
        ];
        let b: Value = serde_json::from_slice(
            &body(
                &Request { model: "m", messages: &msgs, tools: &[], cache_key: "k", tools_disabled: false },
                &Default::default(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(b["stream"], true);
        assert_eq!(b["messages"][1]["tool_calls"][0]["function"]["name"], "n");
        assert_eq!(b["messages"][2]["tool_call_id"], "1");
        assert!(b.get("tools").is_none());
    }

    #[test]
    fn images_follow_the_tool_results_as_the_users() {
        let msgs = crate::message::with_images();
        let b: Value = serde_json::from_slice(
            &body(
                &Request { model: "m", messages: &msgs, tools: &[], cache_key: "k", tools_disabled: false },
                &Default::default(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(b["messages"][2]["role"], "tool");
        let images = &b["messages"][3];
        assert_eq!(images["role"], "user");
        assert_eq!(images["content"][0], json!({"type": "text", "text": "[tern] The images returned by shot:"}));
        assert_eq!(
            images["content"][1],
            json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}})
        );
    }

    #[test]
    fn disabled_tools_are_listed_but_not_callable() {
        let msgs = [Message::User { content: "sum up".into() }];
        let tools =
            [crate::ToolSpec { name: "t".into(), description: "d".into(), parameters: json!({}), opens: false }];
        let req = Request { model: "m", messages: &msgs, tools: &tools, cache_key: "k", tools_disabled: true };
        let b: Value = serde_json::from_slice(&body(&req, &Default::default()).unwrap()).unwrap();
        assert_eq!((b["tools"].as_array().map(Vec::len), &b["tool_choice"]), (Some(1), &json!("none")));
        let req = Request { tools_disabled: false, ..req };
        let b: Value = serde_json::from_slice(&body(&req, &Default::default()).unwrap()).unwrap();
        assert!(b.get("tool_choice").is_none());
    }
}
