//! Token counts without a tokenizer: what tern assumes about a prompt it
//! has not sent yet. English text and code run at three to four bytes a
//! token; four errs towards compacting a little late, which the reported
//! usage of the next response corrects.

use crate::{Message, ToolSpec};

/// Bytes per token assumed for text.
const BYTES_PER_TOKEN: usize = 4;
/// The framing each message costs (role markers, separators).
const PER_MESSAGE: u64 = 4;
/// An image as the providers bill a typical screenshot.
const PER_IMAGE: u64 = 1_600;

/// Estimated tokens of `text`.
pub fn estimate_text(text: &str) -> u64 {
    text.len().div_ceil(BYTES_PER_TOKEN) as u64
}

/// Estimated tokens of `messages` in a prompt.
pub fn estimate_messages(messages: &[Message]) -> u64 {
    messages.iter().map(estimate_message).sum()
}

/// Estimated tokens of one message in a prompt.
pub fn estimate_message(message: &Message) -> u64 {
    PER_MESSAGE
        + match message {
            Message::System { content } | Message::User { content } | Message::Tool { content, .. } => {
                estimate_text(content)
            }
            Message::Assistant { content, reasoning, tool_calls, .. } => {
                // Reasoning is not sent back on most wires; counting it errs early.
                estimate_text(content)
                    + reasoning.as_deref().map_or(0, estimate_text)
                    + tool_calls
                        .iter()
                        .map(|c| PER_MESSAGE + estimate_text(&c.name) + estimate_text(&c.arguments))
                        .sum::<u64>()
            }
            Message::Images { caption, images } => estimate_text(caption) + PER_IMAGE * images.len() as u64,
        }
}

/// Estimated tokens of the tool definitions offered with a prompt.
pub fn estimate_tools(tools: &[ToolSpec]) -> u64 {
    tools
        .iter()
        .map(|t| {
            PER_MESSAGE
                + estimate_text(&t.name)
                + estimate_text(&t.description)
                + estimate_text(&t.parameters.to_string())
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_content() {
        assert_eq!(estimate_text(""), 0);
        assert_eq!(estimate_text("abcd"), 1);
        assert_eq!(estimate_text("abcde"), 2);
        let user = Message::User { content: "x".repeat(400) };
        assert_eq!(estimate_message(&user), 104);
        let images = Message::Images {
            caption: String::new(),
            images: vec![tern_protocol::Image { mime_type: "image/png".into(), data: "AAAA".into() }; 2],
        };
        assert_eq!(estimate_message(&images), 4 + 3_200);
        let spec = ToolSpec {
            name: "read".into(),
            description: "Reads".into(),
            parameters: serde_json::json!({}),
            opens: false,
        };
        assert!(estimate_tools(&[spec]) > 4);
    }
}
