//! What fronts hear about MCP servers.

use serde::{Deserialize, Serialize};

/// Where an MCP tool call goes: the server's name and the tool's own name
/// (the model sees `mcp__SERVER__TOOL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpCall {
    pub server: String,
    pub tool: String,
}

/// One server's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum McpServerState {
    /// Being started (or restarted); its tools are not offered yet.
    Starting,
    /// Connected, offering this many tools.
    Ready { tools: usize },
    /// Could not start, or stopped: why, and what to do.
    Failed { error: String },
    /// Not started: disabled in config, or not usable as configured.
    Disabled { reason: String },
}

/// One server, as `/mcp` and `tern exec --json` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServerStatus {
    pub name: String,
    /// `stdio` or `http`.
    pub transport: String,
    /// A turn waits for it, and fails without it.
    pub required: bool,
    #[serde(flatten)]
    pub state: McpServerState,
}

/// A server that failed to start, in [`crate::Event::McpStartupComplete`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpStartupFailure {
    pub server: String,
    pub error: String,
}
