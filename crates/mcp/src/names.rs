//! The names MCP tools are offered under: `mcp__SERVER__TOOL`, as Codex
//! and Claude Code name them, restricted to what every wire API accepts.

use sha2::{Digest, Sha256};

/// The longest tool name offered (OpenAI's and Anthropic's limit).
pub const MAX_NAME: usize = 64;

/// `mcp__server__tool`, with characters outside `[A-Za-z0-9_-]` replaced
/// by `_`; a name over [`MAX_NAME`] keeps its start and ends with a hash
/// of the whole, so distinct tools keep distinct names.
pub fn tool_name(server: &str, tool: &str) -> String {
    let full = format!("mcp__{}__{}", sanitize(server), sanitize(tool));
    if full.len() <= MAX_NAME {
        return full;
    }
    let digest = Sha256::digest(full.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}_{hash}", &full[..MAX_NAME - hash.len() - 1])
}

fn sanitize(s: &str) -> String {
    let out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if out.is_empty() { "_".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized_and_capped() {
        assert_eq!(tool_name("everything", "get-sum"), "mcp__everything__get-sum");
        assert_eq!(tool_name("my server", "a.b/c"), "mcp__my_server__a_b_c");
        let long = tool_name("s", &"x".repeat(100));
        assert_eq!(long.len(), MAX_NAME);
        assert_ne!(long, tool_name("s", &"x".repeat(101)));
        assert!(long.starts_with("mcp__s__xxx"));
    }
}
