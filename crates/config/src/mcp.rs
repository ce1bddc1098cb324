//! MCP servers as users already configure them: Codex's
//! `[mcp_servers.NAME]` tables in tern's config layers, and Claude Code's
//! `.mcp.json` at the project root (see [`crate::mcp_json`]).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How long a server may take to start (initialize and list its tools)
/// unless configured: generous, since nothing waits for it but `required`.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one tool call may take unless configured.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// `[mcp_servers.NAME]` as written, its keys checked against each other
/// when the table is read (see [`McpServerKeys`]), so a stray key is an
/// error naming file, line and key.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(try_from = "McpServerKeys")]
pub struct McpServerFile(pub McpServerKeys);

/// One name in `env_vars`: a bare name, or Codex's `{ name, source }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EnvVar {
    Name(String),
    Table {
        name: String,
        #[allow(dead_code)]
        #[serde(default)]
        source: Option<String>,
    },
}

impl EnvVar {
    pub fn name(&self) -> &str {
        match self {
            EnvVar::Name(n) | EnvVar::Table { name: n, .. } => n,
        }
    }
}

/// `[mcp_servers.NAME.tools.TOOL]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpToolFile {
    pub approval_mode: Option<ToolApproval>,
}

/// Whether a server's tool asks before it runs (Codex's `approval_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolApproval {
    /// By the approval policy and the tool's annotations: a tool that
    /// declares itself read-only runs unasked in `auto`; others ask.
    #[default]
    Auto,
    /// Always ask.
    Prompt,
    /// Never ask.
    Approve,
}

/// Codex's keys of `[mcp_servers.NAME]`, each as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerKeys {
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub env_vars: Option<Vec<EnvVar>>,
    pub cwd: Option<String>,
    pub url: Option<String>,
    pub bearer_token_env_var: Option<String>,
    /// Refused (a secret in a config file); read only to say so.
    pub bearer_token: Option<toml::Value>,
    pub http_headers: Option<BTreeMap<String, String>>,
    pub env_http_headers: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
    pub required: Option<bool>,
    pub supports_parallel_tool_calls: Option<bool>,
    pub startup_timeout_sec: Option<f64>,
    pub startup_timeout_ms: Option<u64>,
    pub tool_timeout_sec: Option<f64>,
    pub enabled_tools: Option<Vec<String>>,
    pub disabled_tools: Option<Vec<String>>,
    pub default_tools_approval_mode: Option<ToolApproval>,
    pub tools: Option<BTreeMap<String, McpToolFile>>,
    /// OAuth settings (Codex): read so that such a config loads, but tern
    /// cannot log in yet, so the server is reported as unsupported.
    pub scopes: Option<Vec<String>>,
    pub oauth_resource: Option<String>,
    pub oauth: Option<toml::Table>,
}

impl TryFrom<McpServerKeys> for McpServerFile {
    type Error = String;

    fn try_from(r: McpServerKeys) -> Result<Self, String> {
        if r.bearer_token.is_some() {
            return Err("`bearer_token` is not supported: put the token in an environment variable and name it \
                        in `bearer_token_env_var`"
                .into());
        }
        let stdio_keys = [
            ("command", r.command.is_some()),
            ("args", r.args.is_some()),
            ("env", r.env.is_some()),
            ("env_vars", r.env_vars.is_some()),
            ("cwd", r.cwd.is_some()),
        ];
        let http_keys = [
            ("bearer_token_env_var", r.bearer_token_env_var.is_some()),
            ("http_headers", r.http_headers.is_some()),
            ("env_http_headers", r.env_http_headers.is_some()),
        ];
        if r.url.is_some()
            && let Some((key, _)) = stdio_keys.iter().find(|(_, set)| *set)
        {
            return Err(format!("`{key}` is not supported for an HTTP server (one with `url`); remove it"));
        }
        if r.command.is_some()
            && let Some((key, _)) = http_keys.iter().find(|(_, set)| *set)
        {
            return Err(format!("`{key}` is not supported for a stdio server (one with `command`); remove it"));
        }
        if r.startup_timeout_sec.is_some() && r.startup_timeout_ms.is_some() {
            return Err("set `startup_timeout_sec` or `startup_timeout_ms`, not both".into());
        }
        for (key, secs) in [("startup_timeout_sec", r.startup_timeout_sec), ("tool_timeout_sec", r.tool_timeout_sec)] {
            // A finite number too large for a Duration (1e300) is refused too.
            if secs.is_some_and(|s| !(s > 0.0 && Duration::try_from_secs_f64(s).is_ok())) {
                return Err(format!("`{key}` must be a positive number of seconds, below 2^64"));
            }
        }
        Ok(McpServerFile(r))
    }
}

/// One MCP server, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServerConfig {
    pub name: String,
    pub transport: McpTransport,
    pub enabled: bool,
    /// A turn waits for it (up to its start-up timeout) and fails without it.
    pub required: bool,
    /// Its tools may run at the same time as each other (those it
    /// annotates read-only always may); default false, as in Codex.
    pub parallel_calls: bool,
    pub startup_timeout: Duration,
    pub tool_timeout: Duration,
    /// Only these tools, when set (applied first).
    pub enabled_tools: Option<Vec<String>>,
    /// Never these tools (applied second).
    pub disabled_tools: Vec<String>,
    pub default_approval: ToolApproval,
    /// Per-tool approval modes (by the server's own tool name).
    pub tool_approval: BTreeMap<String, ToolApproval>,
    /// Where it was configured (a file), for messages.
    pub origin: String,
    /// Why tern cannot start it, although the entry is valid (OAuth, an
    /// unset `${VAR}` in `.mcp.json`, a project server not approved).
    pub unusable: Option<String>,
}

impl McpServerConfig {
    /// A server with the defaults every format shares: enabled, not
    /// required, calls one at a time, the default timeouts, every tool
    /// offered, approvals by policy.
    pub fn new(name: impl Into<String>, transport: McpTransport, origin: impl Into<String>) -> McpServerConfig {
        McpServerConfig {
            name: name.into(),
            transport,
            enabled: true,
            required: false,
            parallel_calls: false,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            tool_timeout: DEFAULT_TOOL_TIMEOUT,
            enabled_tools: None,
            disabled_tools: vec![],
            default_approval: ToolApproval::Auto,
            tool_approval: BTreeMap::new(),
            origin: origin.into(),
            unusable: None,
        }
    }

    /// Whether the server's tool `tool` is offered, by `enabled_tools`
    /// and `disabled_tools`.
    pub fn offers(&self, tool: &str) -> bool {
        self.enabled_tools.as_ref().is_none_or(|allow| allow.iter().any(|t| t == tool))
            && !self.disabled_tools.iter().any(|t| t == tool)
    }

    /// The approval mode of the server's tool `tool`.
    pub fn approval(&self, tool: &str) -> ToolApproval {
        self.tool_approval.get(tool).copied().unwrap_or(self.default_approval)
    }
}

/// How to reach a server.
#[derive(Debug, Clone, PartialEq)]
pub enum McpTransport {
    /// A child process speaking JSON-RPC on stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        /// Set in its environment (which is otherwise cleared but for a whitelist).
        env: BTreeMap<String, String>,
        /// Names passed through from tern's environment.
        env_vars: Vec<String>,
        cwd: Option<PathBuf>,
    },
    /// Streamable HTTP.
    Http {
        url: String,
        /// The variable holding a bearer token (read when the server starts).
        bearer_token_env_var: Option<String>,
        headers: BTreeMap<String, String>,
        /// Header name → the variable holding its value.
        env_headers: BTreeMap<String, String>,
    },
}

impl McpTransport {
    /// `stdio` or `http`, for listings.
    pub fn kind(&self) -> &'static str {
        match self {
            McpTransport::Stdio { .. } => "stdio",
            McpTransport::Http { .. } => "http",
        }
    }
}

/// Resolves one `[mcp_servers.NAME]` table of the merged configuration.
/// `origin` names the files it may have come from.
pub(crate) fn resolve(
    name: &str,
    file: &McpServerFile,
    origin: &str,
    cwd: &std::path::Path,
) -> Result<McpServerConfig, crate::ConfigError> {
    let bad = |message: String| crate::ConfigError::Mcp { name: name.to_string(), origin: origin.into(), message };
    let file = &file.0;
    let transport = match (&file.command, &file.url) {
        (Some(command), None) => McpTransport::Stdio {
            command: command.clone(),
            args: file.args.clone().unwrap_or_default(),
            env: file.env.clone().unwrap_or_default(),
            env_vars: file.env_vars.iter().flatten().map(|v| v.name().to_string()).collect(),
            cwd: file.cwd.as_ref().map(|c| cwd.join(c)),
        },
        (None, Some(url)) => McpTransport::Http {
            url: url.clone(),
            bearer_token_env_var: file.bearer_token_env_var.clone(),
            headers: file.http_headers.clone().unwrap_or_default(),
            env_headers: file.env_http_headers.clone().unwrap_or_default(),
        },
        (Some(_), Some(_)) => {
            return Err(bad("has both `command` (stdio) and `url` (HTTP); keep one".into()));
        }
        (None, None) => {
            return Err(bad("needs `command` (a stdio server) or `url` (a streamable HTTP server)".into()));
        }
    };
    if let Some(bad_name) = name.chars().find(|c| c.is_control() || *c == '/') {
        return Err(bad(format!("the name contains {bad_name:?}; use letters, digits, `-` and `_`")));
    }
    let secs = |s: f64| Duration::from_secs_f64(s);
    let startup_timeout = file
        .startup_timeout_ms
        .map(Duration::from_millis)
        .or(file.startup_timeout_sec.map(secs))
        .unwrap_or(DEFAULT_STARTUP_TIMEOUT);
    let oauth = file.scopes.is_some() || file.oauth_resource.is_some() || file.oauth.is_some();
    Ok(McpServerConfig {
        name: name.to_string(),
        transport,
        enabled: file.enabled.unwrap_or(true),
        required: file.required.unwrap_or(false),
        parallel_calls: file.supports_parallel_tool_calls.unwrap_or(false),
        startup_timeout,
        tool_timeout: file.tool_timeout_sec.map(secs).unwrap_or(DEFAULT_TOOL_TIMEOUT),
        enabled_tools: file.enabled_tools.clone(),
        disabled_tools: file.disabled_tools.clone().unwrap_or_default(),
        default_approval: file.default_tools_approval_mode.unwrap_or_default(),
        tool_approval: file
            .tools
            .iter()
            .flatten()
            .filter_map(|(tool, t)| t.approval_mode.map(|m| (tool.clone(), m)))
            .collect(),
        origin: origin.to_string(),
        unusable: oauth.then(|| "it uses OAuth, which tern does not support yet; use `bearer_token_env_var`".into()),
    })
}
