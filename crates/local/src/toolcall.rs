//! Tool calls in Hermes/Qwen form, `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>`:
//! spotting the opening marker in streamed text, the grammar that keeps the
//! JSON inside valid for the offered tools, and reading a finished call.
//!
//! Kept free of llama.cpp: the fuzz crate (`fuzz/`) compiles this file on
//! its own, so it may use only serde_json and tern-llm.

use serde_json::{Value, json};
use tern_llm::ToolSpec;

/// Opens a tool call in the model's output.
pub const OPEN: &str = "<tool_call>";
/// Closes it.
pub const CLOSE: &str = "</tool_call>";

/// Splits streamed text into what the user sees and the start of a tool
/// call, holding back a partial marker until it is resolved.
#[derive(Default)]
pub struct MarkerFilter {
    held: String,
}

/// What one piece of streamed text amounts to.
#[derive(Debug, PartialEq)]
pub struct Filtered {
    /// Text to show now.
    pub text: String,
    /// The marker appeared: what follows is a tool call.
    pub call_opened: bool,
}

impl MarkerFilter {
    /// Feeds one decoded piece.
    pub fn push(&mut self, piece: &str) -> Filtered {
        self.held.push_str(piece);
        if let Some(at) = self.held.find(OPEN) {
            let text = self.held[..at].to_string();
            self.held.clear();
            return Filtered { text, call_opened: true };
        }
        // Keep the longest suffix that could still grow into the marker.
        let keep = (1..OPEN.len().min(self.held.len() + 1))
            .rev()
            .find(|&n| {
                self.held.is_char_boundary(self.held.len() - n) && OPEN.starts_with(&self.held[self.held.len() - n..])
            })
            .unwrap_or(0);
        let text = self.held[..self.held.len() - keep].to_string();
        self.held.drain(..self.held.len() - keep);
        Filtered { text, call_opened: false }
    }

    /// Whatever was held back, at the end of the response.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// How a response begins, once it is clear.
#[derive(Debug, PartialEq)]
pub enum Lead {
    /// Not yet clear.
    Undecided,
    /// Ordinary text (or a proper `<tool_call>`, which the filter handles).
    Text,
    /// A bare or fenced JSON call such as small models write instead of the
    /// marker: ```` ```json\n{"name": … ````.
    BareCall,
}

/// Bare call openings, whitespace removed.
const BARE: [&str; 3] = ["{\"name\"", "```json{\"name\"", "```{\"name\""];

/// Classifies the start of a response (only used when tools are offered).
pub fn classify_lead(text: &str) -> Lead {
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if BARE.iter().any(|b| squeezed.starts_with(b)) {
        Lead::BareCall
    } else if BARE.iter().any(|b| b.starts_with(&squeezed)) && text.len() < 64 {
        Lead::Undecided
    } else {
        Lead::Text
    }
}

/// The JSON schema a tool call must match: one object per tool, with the
/// tool's name as a constant and its parameters' schema for `arguments`.
pub fn call_schema(tools: &[ToolSpec]) -> Value {
    let alternatives: Vec<Value> = tools
        .iter()
        .map(|t| {
            json!({
                "type": "object",
                "properties": {"name": {"const": t.name}, "arguments": t.parameters},
                "required": ["name", "arguments"],
                "additionalProperties": false,
            })
        })
        .collect();
    match alternatives.len() {
        1 => alternatives.into_iter().next().unwrap_or_default(),
        _ => json!({"anyOf": alternatives}),
    }
}

/// Reads a call's JSON once the grammar has let the model finish it:
/// `Some((name, arguments))` when `text` holds one complete object.
pub fn complete_call(text: &str) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(text.trim()).ok()?;
    let name = v.get("name")?.as_str()?.to_string();
    let args = v.get("arguments").cloned().unwrap_or_else(|| json!({}));
    Some((name, args.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn feed(pieces: &[&str]) -> (String, bool) {
        let mut f = MarkerFilter::default();
        let mut text = String::new();
        for p in pieces {
            let out = f.push(p);
            text.push_str(&out.text);
            if out.call_opened {
                return (text, true);
            }
        }
        text.push_str(&f.finish());
        (text, false)
    }

    #[test]
    fn marker_split_across_pieces_is_never_shown() {
        assert_eq!(feed(&["Let me look.", "\n<tool", "_call>", "\n{"]), ("Let me look.\n".into(), true));
        assert_eq!(feed(&["<tool_call>"]), (String::new(), true));
    }

    #[test]
    fn a_partial_marker_that_turns_out_to_be_text_is_shown() {
        assert_eq!(feed(&["a <tool", " is here"]), ("a <tool is here".into(), false));
        assert_eq!(feed(&["ends with <"]), ("ends with <".into(), false));
        assert_eq!(feed(&["中文<", "b>"]), ("中文<b>".into(), false));
    }

    #[test]
    fn bare_json_calls_are_recognised() {
        assert_eq!(classify_lead("```json\n{\n  \"name\": \"read_file\""), Lead::BareCall);
        assert_eq!(classify_lead("{\"name\""), Lead::BareCall);
        assert_eq!(classify_lead("```js"), Lead::Undecided);
        assert_eq!(classify_lead("  "), Lead::Undecided);
        assert_eq!(classify_lead("```python\nprint()"), Lead::Text);
        assert_eq!(classify_lead("The answer"), Lead::Text);
        assert_eq!(classify_lead("<tool_call>"), Lead::Text);
        assert_eq!(classify_lead("{\"a\": 1}"), Lead::Text);
    }

    #[test]
    fn complete_call_needs_a_whole_object() {
        assert_eq!(complete_call(r#"{"name": "read_file", "arguments": {"path": "a"}"#), None);
        assert_eq!(
            complete_call("\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}"),
            Some(("read_file".into(), r#"{"path":"a"}"#.into()))
        );
    }

    #[test]
    fn schema_names_every_tool() {
        let tool = |n: &str| ToolSpec {
            name: n.into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
            opens: false,
        };
        let s = call_schema(&[tool("a"), tool("b")]);
        assert_eq!(s["anyOf"][1]["properties"]["name"]["const"], "b");
        let one = call_schema(&[tool("a")]);
        assert_eq!(one["properties"]["name"]["const"], "a");
    }
}
