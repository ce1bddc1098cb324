//! OpenAI Responses (`POST {base_url}/responses`, streaming).
//!
//! Output items (messages, reasoning, function calls with streamed
//! arguments), reasoning summaries shown as reasoning, encrypted reasoning
//! carried across turns with `store: false` (sent back as opaque items),
//! and `prompt_cache_key` so the provider can reuse the session's cache.

use crate::error::Origin;
use crate::http::{Auth, Http, Sse};
use crate::stream::{Shown, Wire};
use crate::{ClientConfig, LlmError, Message, Request, Response, StreamDelta, ToolCall};
use serde::Serialize;
use serde_json::{Value, json};
use tern_protocol::Usage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// An OpenAI Responses client.
pub struct ResponsesClient {
    http: Http,
}

impl ResponsesClient {
    pub fn new(config: ClientConfig) -> Result<Self, LlmError> {
        Ok(ResponsesClient { http: Http::new(config)? })
    }
}

impl Wire for ResponsesClient {
    fn http(&self) -> &Http {
        &self.http
    }

    fn encode(&self, request: &Request<'_>) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&body(request))
    }

    fn url(&self, _model: &str) -> String {
        self.http.url("responses")
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
        if data.is_empty() || data == "[DONE]" {
            continue;
        }
        let v = sse.json(data)?;
        match v["type"].as_str().unwrap_or("") {
            "error" => return Err(crate::error::classify_stream_error(&v, origin)),
            "response.failed" => {
                let err = &v["response"]["error"];
                return Err(crate::error::classify_stream_error(err, origin));
            }
            _ => {}
        }
        if acc.event(&v, shown, sink).await {
            return Ok(acc.finish());
        }
    }
    Err(sse.incomplete())
}

/// The request body, borrowing the history: a long session's request is
/// serialised straight from it, not copied into a JSON tree first.
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<String>,
    input: Vec<Item<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    stream: bool,
    store: bool,
    include: [&'static str; 1],
    prompt_cache_key: &'a str,
    parallel_tool_calls: bool,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Item<'a> {
    Message {
        role: &'static str,
        content: [Text<'a>; 1],
    },
    /// A user message with images (`type: message`, several parts).
    #[serde(rename = "message")]
    Images {
        role: &'static str,
        content: Vec<Value>,
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: &'a str,
    },
    /// A reasoning item returned by the API, sent back as it came.
    #[serde(untagged)]
    Opaque(&'a Value),
}

#[derive(Serialize)]
struct Text<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct Tool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
    strict: bool,
}

fn body<'a>(req: &Request<'a>) -> Body<'a> {
    let mut instructions = Vec::new();
    let mut input = Vec::new();
    for m in req.messages {
        match m {
            Message::System { content } => instructions.push(content.as_str()),
            Message::User { content } => {
                input.push(Item::Message { role: "user", content: [Text { kind: "input_text", text: content }] })
            }
            Message::Assistant { content, tool_calls, opaque, .. } => {
                // Only this API's items: a session may have switched providers.
                input.extend(opaque.iter().filter(|o| o["wire"] == "responses").map(|o| Item::Opaque(&o["item"])));
                if !content.is_empty() {
                    input.push(Item::Message {
                        role: "assistant",
                        content: [Text { kind: "output_text", text: content }],
                    });
                }
                for c in tool_calls {
                    input.push(Item::FunctionCall { call_id: &c.id, name: &c.name, arguments: &c.arguments });
                }
            }
            Message::Tool { call_id, content } => {
                input.push(Item::FunctionCallOutput { call_id, output: content });
            }
            Message::Images { caption, images } => {
                let mut content = vec![serde_json::json!({"type": "input_text", "text": caption})];
                content.extend(images.iter().map(|i| {
                    serde_json::json!({"type": "input_image", "image_url": format!("data:{};base64,{}", i.mime_type, i.data)})
                }));
                input.push(Item::Images { role: "user", content });
            }
        }
    }
    let tools: Vec<Tool<'a>> = req
        .tools
        .iter()
        .map(|t| Tool {
            kind: "function",
            name: &t.name,
            description: &t.description,
            parameters: &t.parameters,
            strict: false,
        })
        .collect();
    Body {
        model: req.model,
        instructions: (!instructions.is_empty()).then(|| instructions.join("\n\n")),
        input,
        tool_choice: (!tools.is_empty()).then_some(if req.tools_disabled { "none" } else { "auto" }),
        tools,
        stream: true,
        store: false,
        include: ["reasoning.encrypted_content"],
        prompt_cache_key: req.cache_key,
        parallel_tool_calls: true,
    }
}

#[derive(Default)]
struct Accumulator {
    content: String,
    reasoning: String,
    calls: Vec<ToolCall>,
    opaque: Vec<Value>,
    usage: Usage,
    status: Option<String>,
}

impl Accumulator {
    /// Handles one event; true once the response is complete.
    async fn event(&mut self, v: &Value, shown: &mut Shown, sink: &mpsc::Sender<StreamDelta>) -> bool {
        match v["type"].as_str().unwrap_or("") {
            "response.output_text.delta" => {
                let t = v["delta"].as_str().unwrap_or("");
                self.content.push_str(t);
                shown.text(t, sink).await;
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let t = v["delta"].as_str().unwrap_or("");
                self.reasoning.push_str(t);
                shown.reasoning(t, sink).await;
            }
            "response.output_item.done" => {
                let item = &v["item"];
                match item["type"].as_str().unwrap_or("") {
                    "function_call" => self.calls.push(ToolCall {
                        id: item["call_id"].as_str().unwrap_or("").to_string(),
                        name: item["name"].as_str().unwrap_or("").to_string(),
                        arguments: item["arguments"]
                            .as_str()
                            .filter(|a| !a.trim().is_empty())
                            .unwrap_or("{}")
                            .to_string(),
                    }),
                    // Sent back as is on the next request, so the model keeps
                    // its reasoning without the server storing anything.
                    "reasoning" => self.opaque.push(json!({"wire": "responses", "item": item})),
                    _ => {}
                }
            }
            "response.completed" | "response.incomplete" => {
                let r = &v["response"];
                let u = &r["usage"];
                let n = |v: &Value| v.as_u64().unwrap_or(0);
                self.usage = Usage {
                    input_tokens: n(&u["input_tokens"]),
                    cached_input_tokens: n(&u["input_tokens_details"]["cached_tokens"]),
                    output_tokens: n(&u["output_tokens"]),
                    reasoning_output_tokens: n(&u["output_tokens_details"]["reasoning_tokens"]),
                };
                self.status = r["status"].as_str().map(str::to_string);
                return true;
            }
            _ => {}
        }
        false
    }

    fn finish(self) -> Response {
        Response {
            content: self.content,
            reasoning: self.reasoning,
            tool_calls: self.calls,
            usage: self.usage,
            finish_reason: self.status,
            opaque: self.opaque,
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::unwrap_used)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn body_items_in_order_with_reasoning_carried() {
        let msgs = vec![
            Message::System { content: "sys".into() },
            Message::User { content: "hi".into() },
            Message::Assistant {
                content: String::new(),
                reasoning: Some("r".into()),
                tool_calls: vec![ToolCall { id: "c1".into(), name: "read_file".into(), arguments: "{}".into() }],
                opaque: vec![
                    json!({"wire": "responses", "item": {"type": "reasoning", "id": "rs_1", "encrypted_content": "xyz", "summary": []}}),
                    json!({"wire": "gemini", "parts": []}),
                ],
            },
            Message::Tool { call_id: "c1".into(), content: "out".into() },
        ];
        let b = serde_json::to_value(body(&Request {
            model: "gpt-5.1",
            messages: &msgs,
            tools: &[],
            cache_key: "sess",
            tools_disabled: false,
        }))
        .unwrap();
        assert_eq!(b["instructions"], "sys");
        assert!(b.get("tools").is_none() && b.get("tool_choice").is_none(), "{b}");
        assert_eq!(b["store"], false);
        assert_eq!(b["prompt_cache_key"], "sess");
        let types: Vec<_> = b["input"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["message", "reasoning", "function_call", "function_call_output"]);
        assert_eq!(b["input"][1]["encrypted_content"], "xyz");
    }

    #[test]
    fn images_follow_the_outputs_as_a_user_message() {
        let msgs = crate::message::with_images();
        let b = serde_json::to_value(body(&Request {
            model: "m",
            messages: &msgs,
            tools: &[],
            cache_key: "k",
            tools_disabled: false,
        }))
        .unwrap();
        let input = b["input"].as_array().unwrap();
        assert_eq!(input[2]["type"], "function_call_output");
        assert_eq!(input[3]["type"], "message");
        assert_eq!(input[3]["role"], "user");
        assert_eq!(input[3]["content"][1], json!({"type": "input_image", "image_url": "data:image/png;base64,iVBO"}));
    }

    #[test]
    fn disabled_tools_are_listed_but_not_callable() {
        let msgs = [Message::User { content: "sum up".into() }];
        let tools = [crate::ToolSpec {
            name: "t".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
            opens: false,
        }];
        let req = Request { model: "m", messages: &msgs, tools: &tools, cache_key: "k", tools_disabled: true };
        let b = serde_json::to_value(body(&req)).unwrap();
        assert_eq!((b["tools"].as_array().map(Vec::len), &b["tool_choice"]), (Some(1), &json!("none")));
    }
}
