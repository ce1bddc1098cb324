//! The model's own chat template (a Jinja template stored in the GGUF),
//! rendered with minijinja exactly as Hugging Face renders it, so the
//! prompt is the one the model was trained on.

use crate::LocalError;
use minijinja::{Environment, Error, ErrorKind, Value};
use serde::Serialize;
use tern_llm::{Message, ToolSpec};

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl ChatTemplate {
    /// Compiles `source`, a Hugging Face chat template.
    pub fn new(source: &str) -> Result<Self, LocalError> {
        let mut env = Environment::new();
        // Python string and dict methods (`.strip()`, `.items()`…) that
        // templates written for Jinja2 use.
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_template_owned("chat", source.to_string())
            .map_err(|source| LocalError::Template { what: "the model's chat template does not compile", source })?;
        Ok(ChatTemplate { env })
    }

    /// Renders the conversation, ending with the assistant's turn opener.
    pub fn render(&self, messages: &[Message], tools: &[ToolSpec]) -> Result<String, LocalError> {
        self.render_with(messages, tools, true)
    }

    /// Renders `messages` alone, without the assistant's turn opener: the
    /// start of the rendering of any conversation that begins with them.
    pub fn render_prefix(&self, messages: &[Message], tools: &[ToolSpec]) -> Result<String, LocalError> {
        self.render_with(messages, tools, false)
    }

    fn render_with(&self, messages: &[Message], tools: &[ToolSpec], open: bool) -> Result<String, LocalError> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|source| LocalError::Template { what: "the model's chat template", source })?;
        let messages: Vec<serde_json::Value> = messages.iter().map(message_json).collect();
        let tools: Vec<serde_json::Value> = tools
            .iter()
            .map(|t| {
                serde_json::json!({
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                })
            })
            .collect();
        let ctx = minijinja::context! {
            messages => Value::from_serialize(&messages),
            tools => if tools.is_empty() { Value::from(()) } else { Value::from_serialize(&tools) },
            add_generation_prompt => open,
            bos_token => "",
            eos_token => "",
        };
        tmpl.render(ctx).map_err(|source| LocalError::Template { what: "rendering the chat template", source })
    }
}

/// A message in the shape chat templates expect (OpenAI's), with tool-call
/// arguments as objects so `tojson` prints them as JSON, not as a string.
fn message_json(m: &Message) -> serde_json::Value {
    use serde_json::json;
    match m {
        Message::System { content } => json!({"role": "system", "content": content}),
        Message::User { content } => json!({"role": "user", "content": content}),
        Message::Assistant { content, tool_calls, .. } => {
            let calls: Vec<_> = tool_calls
                .iter()
                .map(|c| {
                    let args = serde_json::from_str::<serde_json::Value>(&c.arguments)
                        .unwrap_or_else(|_| serde_json::Value::String(c.arguments.clone()));
                    json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": args}})
                })
                .collect();
            if calls.is_empty() {
                json!({"role": "assistant", "content": content})
            } else {
                json!({"role": "assistant", "content": content, "tool_calls": calls})
            }
        }
        Message::Tool { call_id, content } => json!({"role": "tool", "tool_call_id": call_id, "content": content}),
        // The embedded models read no images: the caption says what there was.
        Message::Images { caption, images } => {
            json!({"role": "user", "content": format!("{caption} ({} image(s), not shown to this model)", images.len())})
        }
    }
}

/// `tojson` as Hugging Face defines it for chat templates: Python's
/// `json.dumps(x, ensure_ascii=False)`, so `", "` and `": "` separators and
/// no HTML escaping (minijinja's built-in filter differs on both).
fn tojson(value: Value) -> Result<Value, Error> {
    Ok(Value::from_safe_string(python_json(&value)?))
}

/// Serializes like Python's `json.dumps` with default separators.
pub(crate) fn python_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value.serialize(&mut ser).map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
    String::from_utf8(out).map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))
}

struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tern_llm::ToolCall;

    /// Qwen2.5-Coder's template, exactly as its GGUF carries it.
    const QWEN: &str = include_str!("../tests/data/qwen2.5-template.jinja");

    #[test]
    fn renders_tools_calls_and_responses_like_transformers() {
        let t = ChatTemplate::new(QWEN).unwrap();
        let tools = vec![ToolSpec {
            name: "read_file".into(),
            description: "Read a file.".into(),
            parameters: serde_json::json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
            opens: true,
        }];
        let messages = vec![
            Message::System { content: "Be brief.".into() },
            Message::User { content: "What is in a.txt?".into() },
            Message::Assistant {
                content: String::new(),
                reasoning: None,
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path":"a.txt"}"#.into(),
                }],
                opaque: vec![],
            },
            Message::Tool { call_id: "c1".into(), content: "héllo <b>".into() },
        ];
        let out = t.render(&messages, &tools).unwrap();
        let want = "<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n\
{\"type\": \"function\", \"function\": {\"name\": \"read_file\", \"description\": \"Read a file.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"path\": {\"type\": \"string\"}}, \"required\": [\"path\"]}}}\n\
</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n\
<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n\
<|im_start|>user\nWhat is in a.txt?<|im_end|>\n\
<|im_start|>assistant\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.txt\"}}\n</tool_call><|im_end|>\n\
<|im_start|>user\n<tool_response>\nhéllo <b>\n</tool_response><|im_end|>\n\
<|im_start|>assistant\n";
        assert_eq!(out, want);
    }

    #[test]
    fn without_tools_uses_the_plain_system_block() {
        let t = ChatTemplate::new(QWEN).unwrap();
        let out = t.render(&[Message::User { content: "hi".into() }], &[]).unwrap();
        assert!(out.starts_with("<|im_start|>system\nYou are Qwen"), "{out}");
        assert!(out.ends_with("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"), "{out}");
    }

    #[test]
    fn a_broken_template_is_a_clear_error() {
        let err = ChatTemplate::new("{% if %}").err().unwrap();
        assert!(err.to_string().contains("chat template"), "{err}");
    }

    #[test]
    fn python_json_matches_json_dumps() {
        let v = serde_json::json!({"a": [1, 2], "b": {"c": "ü<>"}});
        assert_eq!(python_json(&v).unwrap(), r#"{"a": [1, 2], "b": {"c": "ü<>"}}"#);
    }
}
