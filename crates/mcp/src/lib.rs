//! The MCP client: a session's servers, started in the background when it
//! opens (stdio child processes under tern's process-tree rules, or
//! streamable HTTP), and their tools offered to the model as
//! `mcp__SERVER__TOOL` beside tern's own, through the same tool trait.
//!
//! Built on `rmcp`, the official Rust SDK, with the protocol version set
//! explicitly ([`PROTOCOL_VERSION`]).

mod connect;
mod lazy;
mod names;
mod servers;
mod tool;

pub use connect::{Client, PROTOCOL_VERSION};
pub use lazy::{Loaded, Offer, TOOL_SEARCH, estimate_tokens};
pub use names::{MAX_NAME, tool_name};
pub use servers::Servers;

/// A duration in seconds for messages: `1.5`, `30`.
fn seconds(d: std::time::Duration) -> String {
    let tenths = (d.as_secs_f64() * 10.0).round() / 10.0;
    format!("{tenths}")
}
