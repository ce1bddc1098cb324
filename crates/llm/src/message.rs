//! Provider-neutral conversation types.

use serde::{Deserialize, Serialize};
use tern_protocol::Usage;

/// One entry of the conversation history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    System {
        content: String,
    },
    User {
        content: String,
    },
    Assistant {
        content: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        /// Provider items to send back verbatim on the next request (the
        /// Responses API's encrypted reasoning, which `store: false` needs).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        opaque: Vec<serde_json::Value>,
    },
    Tool {
        call_id: String,
        content: String,
    },
    /// Images the model should see, placed after the tool results that
    /// returned them (and sent as the user's on every wire; providers take
    /// images in tool results unevenly). `caption` says where they came from.
    Images {
        caption: String,
        images: Vec<tern_protocol::Image>,
    },
}

/// A function call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text exactly as the model produced it (it may be invalid).
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
    /// One of the tools a small local model's forced call may use: the
    /// call that opens its turn (the tools that look: read, search, run a
    /// command) or that follows a corrective note. None marked: any. Not
    /// sent.
    #[serde(skip)]
    pub opens: bool,
}

/// What to ask the model; borrowed so the history is never copied per call.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub model: &'a str,
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
    /// Stable per session: lets providers reuse their prompt cache.
    pub cache_key: &'a str,
    /// The tools are listed (so the prompt's prefix, and the provider's
    /// cache of it, stay the same) but the model must answer in text:
    /// compaction's summary request.
    pub tools_disabled: bool,
}

/// A model response, assembled from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub content: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub finish_reason: Option<String>,
    /// Items to carry into the next request (see [`Message::Assistant`]).
    pub opaque: Vec<serde_json::Value>,
}

/// Streamed progress of a response, for display.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamDelta {
    Text(String),
    Reasoning(String),
    /// A retried stream diverged from what was already shown: discard the
    /// partial text of this response and start over.
    Restart,
    /// The request failed and will be tried again after `delay`.
    Retrying {
        attempt: u32,
        max_attempts: u32,
        delay: std::time::Duration,
        reason: String,
    },
}

/// A step whose tool returned an image (the wires' tests).
#[cfg(test)]
pub(crate) fn with_images() -> Vec<Message> {
    vec![
        Message::User { content: "look".into() },
        Message::Assistant {
            content: String::new(),
            reasoning: None,
            opaque: vec![],
            tool_calls: vec![ToolCall { id: "c1".into(), name: "shot".into(), arguments: "{}".into() }],
        },
        Message::Tool { call_id: "c1".into(), content: "[image: image/png, 3 bytes]".into() },
        Message::Images {
            caption: "[tern] The images returned by shot:".into(),
            images: vec![tern_protocol::Image { mime_type: "image/png".into(), data: "iVBO".into() }],
        },
    ]
}
