//! The shape of a config file. Every table denies unknown keys so that a
//! typo is an error, never a silently ignored setting.

use serde::Deserialize;
use std::collections::BTreeMap;
use tern_protocol::ApprovalPolicy;

/// One layer of configuration as written in a file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub model: Option<String>,
    pub provider: Option<String>,
    /// How many model calls one turn may make before it stops.
    pub max_model_calls_per_turn: Option<u32>,
    /// Cap on the AGENTS.md text included in the prompt.
    pub project_doc_max_bytes: Option<usize>,
    /// When the conversation is compacted (default 0.85 of the window, or
    /// the model's catalog value).
    pub compact_at: Option<CompactAt>,
    /// Reuse read results: a repeated read the model already has comes
    /// back as "unchanged since step N" (default true).
    pub result_cache: Option<bool>,
    /// Directories besides the workspace that tools may read and write.
    pub writable_roots: Option<Vec<String>>,
    /// What runs without asking: "read-only", "auto" (default), "full-auto" or "full-access".
    pub approval_policy: Option<ApprovalPolicy>,
    /// Confine commands with Landlock and seccomp in "auto" and "read-only"
    /// (default true; false runs them unconfined, on purpose).
    pub sandbox: Option<bool>,
    /// Let sandboxed commands use the network (default false).
    pub network_access: Option<bool>,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderFile>,
    /// MCP servers (Codex's `[mcp_servers.NAME]`).
    #[serde(default)]
    pub mcp_servers: BTreeMap<String, crate::mcp::McpServerFile>,
    /// How MCP tools are offered.
    pub mcp: Option<McpFile>,
    /// The model catalog (built-in entries plus the user's).
    #[serde(default)]
    pub models: BTreeMap<String, ModelFile>,
    pub network: Option<NetworkFile>,
    pub exec: Option<ExecFile>,
    pub local: Option<LocalFile>,
    pub tui: Option<TuiFile>,
    pub storage: Option<crate::storage::StorageFile>,
    /// Hooks by event (`[[hooks.PreToolUse]]`); every layer's run.
    #[serde(default)]
    pub hooks: BTreeMap<tern_protocol::HookEvent, Vec<crate::hooks::HookGroupFile>>,
}

/// `[mcp]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpFile {
    /// Above this many tokens of MCP tool schemas (estimated), the model
    /// gets an index and `tool_search` instead of every schema; 0 defers
    /// always.
    pub schema_budget_tokens: Option<usize>,
}

/// `[providers.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub wire_api: Option<WireApi>,
    pub model: Option<String>,
    /// Extra HTTP headers sent with every request.
    pub headers: Option<BTreeMap<String, String>>,
    /// How this server's Chat Completions dialect differs from OpenAI's.
    pub quirks: Option<ChatQuirks>,
}

/// `[providers.NAME.quirks]`: a Chat Completions server's departures from
/// OpenAI's API, as data, so a new server needs config rather than code.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatQuirks {
    /// Send `stream_options.include_usage` (default true; some servers reject it).
    pub stream_usage: Option<bool>,
    /// The role of the system prompt: "system" (default), "developer", or
    /// "user" for servers and models without a system role.
    pub system_role: Option<SystemRole>,
    /// Send `parallel_tool_calls` with this value (default: not sent).
    pub parallel_tool_calls: Option<bool>,
    /// Rewrite tool-call ids as 9 letters and digits ("alnum9"), which
    /// Mistral requires; default ("as-given"): ids as the model gave them.
    pub tool_call_ids: Option<ToolCallIds>,
    /// Send `content: null` (not "") on assistant messages that only call tools.
    pub null_tool_content: Option<bool>,
    /// Send the model's reasoning back as `reasoning_content` (default false:
    /// DeepSeek rejects it in history; some servers want it).
    pub echo_reasoning: Option<bool>,
    /// Fields merged into every request body (OpenRouter's `provider`
    /// routing, vLLM's `chat_template_kwargs`, sampling settings).
    pub extra_body: Option<toml::Table>,
}

/// `[models."NAME"]`: what tern should know about a model.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub context_window: Option<u64>,
    pub max_output: Option<u64>,
    /// USD per million tokens: [input, cached input, output].
    pub price: Option<[f64; 3]>,
    /// The tool vocabulary: "codex", "claude" or "small" (short prompt,
    /// fewer tools: local models).
    pub tools: Option<ToolProfile>,
    /// The provider that serves it (a name under `[providers]`), so `/model`
    /// can offer it when that provider is usable.
    pub provider: Option<String>,
    /// It takes images as input (tools' images are passed to it).
    pub images: Option<bool>,
    /// When a conversation with it is compacted.
    pub compact_at: Option<CompactAt>,
}

/// When to compact the conversation: a fraction of the context window
/// (`0.85`) or a number of tokens (`100000`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "RawCompactAt")]
pub enum CompactAt {
    Fraction(f64),
    Tokens(u64),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCompactAt {
    Tokens(u64),
    Fraction(f64),
}

impl TryFrom<RawCompactAt> for CompactAt {
    type Error = String;

    fn try_from(raw: RawCompactAt) -> Result<Self, String> {
        match raw {
            RawCompactAt::Fraction(f) if (0.1..=1.0).contains(&f) => Ok(CompactAt::Fraction(f)),
            RawCompactAt::Tokens(t) if t >= 1_000 => Ok(CompactAt::Tokens(t)),
            RawCompactAt::Fraction(f) => Err(format!(
                "compact_at = {f}: give a fraction of the context window between 0.1 and 1.0 (0.85 is 85 %), \
                 or a token count such as 100000"
            )),
            RawCompactAt::Tokens(t) => Err(format!(
                "compact_at = {t}: a token count must be at least 1000; for a fraction of the window write it \
                 with a point (0.85)"
            )),
        }
    }
}

impl CompactAt {
    /// The threshold in tokens for a window of `window` tokens.
    pub fn tokens(self, window: u64) -> u64 {
        match self {
            CompactAt::Tokens(t) => t.min(window),
            CompactAt::Fraction(f) => (window as f64 * f) as u64,
        }
    }
}

/// The role a Chat Completions server wants the system prompt in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemRole {
    #[default]
    System,
    /// OpenAI's newer name for it.
    Developer,
    /// For models without a system role: sent as the first user message.
    User,
}

impl SystemRole {
    /// The role as the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SystemRole::System => "system",
            SystemRole::Developer => "developer",
            SystemRole::User => "user",
        }
    }
}

/// How tool-call ids are sent back to a Chat Completions server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolCallIds {
    /// As the model gave them.
    #[default]
    AsGiven,
    /// Rewritten as 9 letters and digits (Mistral).
    Alnum9,
}

/// Which tool vocabulary a model is offered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolProfile {
    /// Codex's: exec_command, apply_patch, read_file, grep_files, …
    #[default]
    Codex,
    /// Claude Code's: Bash, Read, Edit, Write, Grep, Glob, TodoWrite.
    Claude,
    /// A few tools under brief schemas, for small local models.
    Small,
}

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum WireApi {
    /// OpenAI Chat Completions, spoken by most OpenAI-compatible servers.
    #[serde(rename = "chat")]
    Chat,
    /// Anthropic Messages.
    #[serde(rename = "anthropic")]
    Anthropic,
    /// OpenAI Responses.
    #[serde(rename = "responses")]
    Responses,
    /// Google Gemini (generateContent).
    #[serde(rename = "gemini")]
    Gemini,
    /// A GGUF model run in-process (no server).
    #[serde(rename = "local")]
    Local,
}

/// `[network]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    pub request_max_retries: Option<u32>,
    pub stream_idle_timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    /// Upper bound on one backoff wait, including `Retry-After`.
    pub max_retry_delay_ms: Option<u64>,
}

/// `[local]`: how the in-process model runs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalFile {
    /// Context size in tokens (default 16384; memory grows with it).
    pub context_tokens: Option<u32>,
    /// CPU threads for inference (default: every core).
    pub threads: Option<u32>,
    /// Most tokens drafted per step by prompt lookup (default 16; 0 turns
    /// it off).
    pub draft_tokens: Option<u32>,
}

/// `[tui]`: the interactive UI.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuiFile {
    /// Notify (OSC 9, else the bell) when a turn ends or an approval waits
    /// while the terminal is unfocused (default true).
    pub notifications: Option<bool>,
}

/// `[exec]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecFile {
    pub timeout_ms: Option<u64>,
    pub output_max_bytes: Option<usize>,
    /// Leave the providers' API keys in the commands' environment
    /// (default false: they are removed).
    pub pass_api_keys: Option<bool>,
}
