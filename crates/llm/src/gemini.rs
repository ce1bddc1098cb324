//! Google Gemini (`POST {base_url}/models/{model}:streamGenerateContent?alt=sse`).
//!
//! `functionCall` / `functionResponse` parts, thoughts (parts marked
//! `thought`), and usage metadata. The model's own parts are kept and sent
//! back verbatim on the next request, so thought signatures survive tool
//! use.

use crate::error::Origin;
use crate::http::{Auth, Http, Sse};
use crate::stream::{Shown, Wire};
use crate::{ClientConfig, LlmError, Message, Request, Response, StreamDelta, ToolCall};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use tern_protocol::Usage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A Gemini client.
pub struct GeminiClient {
    http: Http,
}

impl GeminiClient {
    pub fn new(config: ClientConfig) -> Result<Self, LlmError> {
        Ok(GeminiClient { http: Http::new(config)? })
    }
}

impl Wire for GeminiClient {
    fn http(&self) -> &Http {
        &self.http
    }

    fn encode(&self, request: &Request<'_>) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&body(request))
    }

    fn url(&self, model: &str) -> String {
        self.http.url(&format!("models/{model}:streamGenerateContent?alt=sse"))
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
        let sse = self.http.open(url, Auth::Header("x-goog-api-key"), &[], body, model, cancel).await?;
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
        if let Some(err) = v.get("error") {
            return Err(crate::error::classify_stream_error(err, origin));
        }
        acc.chunk(&v, shown, sink).await;
    }
    if acc.finish_reason.is_none() {
        return Err(sse.incomplete());
    }
    Ok(acc.finish())
}

/// The request body, borrowing the history (see chat.rs).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<Instruction<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Declarations<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<Value>,
}

#[derive(Serialize)]
struct Content<'a> {
    role: &'static str,
    parts: Vec<Part<'a>>,
}

#[derive(Serialize)]
struct Instruction<'a> {
    parts: Vec<Part<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Part<'a> {
    Text {
        text: &'a str,
    },
    Call {
        #[serde(rename = "functionCall")]
        call: Call<'a>,
    },
    Result {
        #[serde(rename = "functionResponse")]
        result: FunctionResponse<'a>,
    },
    /// A part the model sent, returned verbatim (thought signatures).
    Own(&'a Value),
    Image {
        #[serde(rename = "inlineData")]
        data: InlineData<'a>,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InlineData<'a> {
    mime_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
struct Call<'a> {
    name: &'a str,
    args: Value,
}

#[derive(Serialize)]
struct FunctionResponse<'a> {
    name: &'a str,
    response: ResponseContent<'a>,
}

#[derive(Serialize)]
struct ResponseContent<'a> {
    content: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Declarations<'a> {
    function_declarations: Vec<Declaration<'a>>,
}

#[derive(Serialize)]
struct Declaration<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

fn body<'a>(req: &Request<'a>) -> Body<'a> {
    let mut system = Vec::new();
    let mut contents: Vec<Content<'a>> = Vec::new();
    let mut push = |role: &'static str, parts: Vec<Part<'a>>| match contents.last_mut() {
        Some(c) if c.role == role => c.parts.extend(parts),
        _ => contents.push(Content { role, parts }),
    };
    // Function responses name their function; the call says which it was.
    let names: HashMap<&str, &str> = req
        .messages
        .iter()
        .flat_map(|m| match m {
            Message::Assistant { tool_calls, .. } => tool_calls.as_slice(),
            _ => &[],
        })
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    for m in req.messages {
        match m {
            Message::System { content } => system.push(Part::Text { text: content }),
            Message::User { content } => push("user", vec![Part::Text { text: content }]),
            Message::Assistant { content, tool_calls, opaque, .. } => {
                let own: Vec<Part<'a>> = opaque
                    .iter()
                    .filter(|o| o["wire"] == "gemini")
                    .flat_map(|o| o["parts"].as_array().map(Vec::as_slice).unwrap_or_default())
                    .map(Part::Own)
                    .collect();
                if !own.is_empty() {
                    push("model", own);
                    continue;
                }
                let mut parts = Vec::new();
                if !content.is_empty() {
                    parts.push(Part::Text { text: content });
                }
                for c in tool_calls {
                    let args: Value =
                        serde_json::from_str(&c.arguments).ok().filter(Value::is_object).unwrap_or(json!({}));
                    parts.push(Part::Call { call: Call { name: &c.name, args } });
                }
                if !parts.is_empty() {
                    push("model", parts);
                }
            }
            Message::Tool { call_id, content } => {
                let name = names.get(call_id.as_str()).copied().unwrap_or_default();
                let result = FunctionResponse { name, response: ResponseContent { content } };
                push("user", vec![Part::Result { result }]);
            }
            // In the user turn that carries the function responses.
            Message::Images { caption, images } => {
                let mut parts = vec![Part::Text { text: caption }];
                parts.extend(
                    images.iter().map(|i| Part::Image { data: InlineData { mime_type: &i.mime_type, data: &i.data } }),
                );
                push("user", parts);
            }
        }
    }
    let tools = if req.tools.is_empty() {
        Vec::new()
    } else {
        let function_declarations = req
            .tools
            .iter()
            .map(|t| Declaration { name: &t.name, description: &t.description, parameters: &t.parameters })
            .collect();
        vec![Declarations { function_declarations }]
    };
    let tool_config =
        (!tools.is_empty() && req.tools_disabled).then(|| json!({"functionCallingConfig": {"mode": "NONE"}}));
    Body {
        contents,
        system_instruction: (!system.is_empty()).then_some(Instruction { parts: system }),
        tools,
        tool_config,
    }
}

#[derive(Default)]
struct Accumulator {
    content: String,
    reasoning: String,
    calls: Vec<ToolCall>,
    parts: Vec<Value>,
    usage: Usage,
    finish_reason: Option<String>,
}

impl Accumulator {
    async fn chunk(&mut self, v: &Value, shown: &mut Shown, sink: &mpsc::Sender<StreamDelta>) {
        if let Some(u) = v.get("usageMetadata") {
            let n = |k: &str| u[k].as_u64().unwrap_or(0);
            self.usage = Usage {
                input_tokens: n("promptTokenCount"),
                cached_input_tokens: n("cachedContentTokenCount"),
                // Saturating: a server's numbers are not trusted to fit.
                output_tokens: n("candidatesTokenCount").saturating_add(n("thoughtsTokenCount")),
                reasoning_output_tokens: n("thoughtsTokenCount"),
            };
        }
        let Some(candidate) = v["candidates"].as_array().and_then(|c| c.first()) else { return };
        for part in candidate["content"]["parts"].as_array().into_iter().flatten() {
            self.parts.push(part.clone());
            if let Some(call) = part.get("functionCall") {
                // Gemini may not name its calls; ours must be unique in the session.
                self.calls.push(ToolCall {
                    id: call["id"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("call_{:08x}", fastrand::u32(..))),
                    name: call["name"].as_str().unwrap_or("").to_string(),
                    arguments: call.get("args").map(Value::to_string).unwrap_or_else(|| "{}".into()),
                });
            } else if let Some(t) = part["text"].as_str() {
                if part["thought"] == true {
                    self.reasoning.push_str(t);
                    shown.reasoning(t, sink).await;
                } else {
                    self.content.push_str(t);
                    shown.text(t, sink).await;
                }
            }
        }
        if let Some(f) = candidate["finishReason"].as_str() {
            self.finish_reason = Some(f.to_string());
        }
    }

    fn finish(self) -> Response {
        Response {
            content: self.content,
            reasoning: self.reasoning,
            tool_calls: self.calls,
            usage: self.usage,
            finish_reason: self.finish_reason,
            opaque: vec![json!({"wire": "gemini", "parts": self.parts})],
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::unwrap_used)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn body_names_function_responses_and_replays_own_parts() {
        let msgs = vec![
            Message::System { content: "sys".into() },
            Message::User { content: "hi".into() },
            Message::Assistant {
                content: String::new(),
                reasoning: None,
                tool_calls: vec![ToolCall { id: "call_0".into(), name: "read_file".into(), arguments: "{}".into() }],
                opaque: vec![
                    json!({"wire": "gemini", "parts": [{"functionCall": {"name": "read_file", "args": {}}, "thoughtSignature": "sig"}]}),
                ],
            },
            Message::Tool { call_id: "call_0".into(), content: "out".into() },
        ];
        let b = serde_json::to_value(body(&Request {
            model: "gemini-2.5-pro",
            messages: &msgs,
            tools: &[],
            cache_key: "k",
            tools_disabled: false,
        }))
        .unwrap();
        assert_eq!(b["systemInstruction"]["parts"][0]["text"], "sys");
        assert_eq!(b["contents"][1]["role"], "model");
        assert_eq!(b["contents"][1]["parts"][0]["thoughtSignature"], "sig");
        assert_eq!(b["contents"][2]["parts"][0]["functionResponse"]["name"], "read_file");
    }

    #[test]
    fn images_join_the_function_responses() {
        let msgs = crate::message::with_images();
        let b = serde_json::to_value(body(&Request {
            model: "m",
            messages: &msgs,
            tools: &[],
            cache_key: "k",
            tools_disabled: false,
        }))
        .unwrap();
        let turn = b["contents"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(turn["role"], "user");
        assert!(turn["parts"][0].get("functionResponse").is_some(), "{turn}");
        assert_eq!(turn["parts"][2], json!({"inlineData": {"mimeType": "image/png", "data": "iVBO"}}));
    }

    #[tokio::test]
    async fn usage_past_u64_saturates() {
        // fuzz/regressions/gemini/usage-overflow: the sum overflowed.
        let (tx, _rx) = mpsc::channel(8);
        let mut acc = Accumulator::default();
        let usage = json!({"candidatesTokenCount": u64::MAX, "thoughtsTokenCount": 2});
        acc.chunk(&json!({"usageMetadata": usage}), &mut Shown::default(), &tx).await;
        assert_eq!((acc.usage.output_tokens, acc.usage.reasoning_output_tokens), (u64::MAX, 2));
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
        assert_eq!(b["toolConfig"]["functionCallingConfig"]["mode"], "NONE");
        assert_eq!(b["tools"][0]["functionDeclarations"].as_array().map(Vec::len), Some(1));
    }
}
