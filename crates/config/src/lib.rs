//! Layered configuration: built-in providers, `~/.config/tern/config.toml`,
//! `<repo>/.tern/config.toml`, environment variables, then `-c key=value`.
//!
//! Each layer is validated on its own so an error names the file, line and
//! key that caused it; the layers are then merged table by table.
//! Loading is synchronous (it reads a few small files): async callers run
//! it in `spawn_blocking`.

mod catalog;
mod choices;
mod error;
mod file;
mod hooks;
mod layers;
mod mcp;
mod mcp_json;
pub mod paths;
mod storage;

pub use catalog::ModelInfo;
pub use error::ConfigError;
pub use file::{ChatQuirks, CompactAt, ConfigFile, SystemRole, ToolCallIds, ToolProfile, WireApi};
pub use hooks::{DEFAULT_TIMEOUT as DEFAULT_HOOK_TIMEOUT, HookConfig};
pub use mcp::{McpServerConfig, McpServerFile, McpServerKeys, McpTransport, ToolApproval};
pub use mcp_json::approvals_file as mcp_approvals_file;
pub use storage::{StorageConfig, StorageFile};
pub use tern_protocol::ApprovalPolicy;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the command line contributes to configuration.
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// The working directory; `<repo>/.tern/config.toml` is found from here.
    pub cwd: PathBuf,
    /// `-c key=value` arguments, in order.
    pub overrides: Vec<String>,
    /// `-m/--model`.
    pub model: Option<String>,
    /// `--provider`.
    pub provider: Option<String>,
}

/// Fully resolved configuration for one session.
#[derive(Debug, Clone)]
pub struct Config {
    pub model: String,
    /// What the catalog knows about `model`.
    pub model_info: ModelInfo,
    pub provider: ProviderConfig,
    pub max_model_calls_per_turn: u32,
    /// How full (in tokens) the context may get before it is compacted.
    pub compact_at: u64,
    pub project_doc_max_bytes: usize,
    pub network: NetworkConfig,
    pub exec: ExecConfig,
    /// Extra directories tools may use (relative ones are from `cwd`).
    pub writable_roots: Vec<PathBuf>,
    pub approval_policy: ApprovalPolicy,
    pub sandbox: bool,
    pub network_access: bool,
    /// The program that applies the sandbox (`tern-sandbox`, else `tern`;
    /// run with `__sandbox`); set by the binary, not by configuration.
    pub sandbox_helper: Option<PathBuf>,
    pub cwd: PathBuf,
    /// Where sessions, logs and spooled output live (`TERN_HOME`).
    pub data_dir: PathBuf,
    /// The user-level config directory (holds config.toml and AGENTS.md).
    pub config_dir: PathBuf,
    /// The files that contributed, lowest precedence first.
    pub sources: Vec<String>,
    /// How the in-process model runs (when the provider is `local`).
    pub local: LocalConfig,
    /// Desktop notifications from the TUI (`[tui] notifications`).
    pub notifications: bool,
    /// What tern keeps of its own data (`[storage]`).
    pub storage: StorageConfig,
    /// Whether the tool pipeline reuses read results (`result_cache`).
    pub result_cache: bool,
    /// Hooks from tern's files and Claude Code's and Codex's, in that order.
    pub hooks: Vec<HookConfig>,
    /// What to tell the user about hooks that are not run.
    pub hook_notes: Vec<String>,
    /// MCP servers: `.mcp.json`'s, then the TOML ones (which win by name).
    pub mcp_servers: Vec<McpServerConfig>,
    /// Tokens of MCP tool schemas offered in full before they are deferred
    /// behind `tool_search` (`[mcp] schema_budget_tokens`).
    pub mcp_schema_budget: usize,
    /// Something to tell the user once at start (tern fell back to the
    /// local model because nothing else is configured).
    pub notice: Option<String>,
}

/// `[local]`, resolved.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub context_tokens: u32,
    pub threads: Option<u32>,
    /// Prompt-lookup draft length; `None` keeps the engine's default.
    pub draft_tokens: Option<u32>,
}

/// A provider, resolved: where to send requests and how to authenticate.
#[derive(Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<String>,
    /// The variable the key came from, for error messages.
    pub api_key_env: Option<String>,
    pub wire_api: WireApi,
    pub headers: BTreeMap<String, String>,
    pub quirks: ChatQuirks,
}

impl std::fmt::Debug for ProviderConfig {
    // Never print the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("wire_api", &self.wire_api)
            .finish()
    }
}

/// Timeouts and retries for model requests.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    pub request_max_retries: u32,
    pub stream_idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_retry_delay: Duration,
}

/// Limits for commands the model runs.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    pub timeout: Duration,
    pub output_max_bytes: usize,
    /// Variables removed from the commands' environment: every provider's
    /// `api_key_env`, so that a command the model runs (or a prompt
    /// injection behind it) cannot read tern's keys; empty with
    /// `[exec] pass_api_keys = true`.
    pub hidden_env: Arc<[String]>,
}

impl Config {
    /// Loads configuration from every layer, reading the process environment.
    pub fn load(opts: &LoadOptions) -> Result<Config, ConfigError> {
        Self::load_with_env(opts, &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`Config::load`] with an explicit environment (for tests).
    pub fn load_with_env(opts: &LoadOptions, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let config_dir = paths::config_dir(env);
        let data_dir = paths::data_dir(env);
        let stack = layers::Stack::load(&config_dir, &opts.cwd, env, &opts.overrides)?;
        let merged = stack.merged()?;
        let (provider_name, origin) = choose_provider(opts, &merged, env);
        let provider = resolve_provider(&merged, &provider_name, &origin, env)?;
        let provider_model = merged.providers.get(&provider_name).and_then(|p| p.model.clone());
        let model = opts
            .model
            .clone()
            .or_else(|| opts.provider.as_ref().and(provider_model.clone()))
            .or(merged.model.clone())
            .or(provider_model)
            .ok_or_else(|| ConfigError::NoModel { provider: provider_name.clone() })?;
        let mcp_servers = mcp_servers(&stack, &merged, &opts.cwd, env)?;
        let mut hooks = hooks::Loaded::default();
        stack.hooks(&mut hooks)?;
        hooks.add_peer_files(&paths::repo_root(&opts.cwd).unwrap_or_else(|| opts.cwd.clone()), env)?;
        let net = merged.network.unwrap_or_default();
        let exec = merged.exec.unwrap_or_default();
        let local = merged.local.unwrap_or_default();
        let mut model_info = catalog::lookup(&merged.models, &model);
        if provider.wire_api == WireApi::Local && model_info.entry.is_none() {
            // Any GGUF by path: it runs on this machine, free, with the small profile.
            model_info = ModelInfo {
                entry: Some("local GGUF".into()),
                context_window: u64::from(local.context_tokens.unwrap_or(16_384)),
                max_output: 4096,
                price: Some([0.0; 3]),
                tools: ToolProfile::Small,
                provider: None,
                images: false,
                compact_at: None,
            };
        }
        if provider.wire_api == WireApi::Local
            && let Some(tokens) = local.context_tokens
        {
            // The window is what tern allocates, whatever the catalog says.
            model_info.context_window = u64::from(tokens);
        }
        let compact_at = merged
            .compact_at
            .or(model_info.compact_at)
            .unwrap_or(CompactAt::Fraction(DEFAULT_COMPACT_AT))
            .tokens(model_info.context_window);
        let notice = (origin == FALLBACK).then(|| {
            format!(
                "no cloud model is configured, so tern is running the local model `{model}` on this machine \
                 (offline, free, and much weaker than a cloud model). To use a cloud model, set OPENAI_API_KEY, \
                 ANTHROPIC_API_KEY or GEMINI_API_KEY, or choose a provider in {}",
                config_dir.join("config.toml").display()
            )
        });
        Ok(Config {
            result_cache: merged.result_cache.unwrap_or(true),
            hooks: hooks.hooks,
            hook_notes: hooks.notes,
            mcp_schema_budget: merged.mcp.as_ref().and_then(|m| m.schema_budget_tokens).unwrap_or(DEFAULT_MCP_BUDGET),
            mcp_servers,
            model_info,
            model,
            provider,
            max_model_calls_per_turn: merged.max_model_calls_per_turn.unwrap_or(100),
            compact_at,
            project_doc_max_bytes: merged.project_doc_max_bytes.unwrap_or(32 * 1024),
            network: NetworkConfig {
                request_max_retries: net.request_max_retries.unwrap_or(4),
                stream_idle_timeout: Duration::from_millis(net.stream_idle_timeout_ms.unwrap_or(300_000)),
                connect_timeout: Duration::from_millis(net.connect_timeout_ms.unwrap_or(10_000)),
                max_retry_delay: Duration::from_millis(net.max_retry_delay_ms.unwrap_or(60_000)),
            },
            exec: ExecConfig {
                timeout: Duration::from_millis(exec.timeout_ms.unwrap_or(120_000)),
                output_max_bytes: exec.output_max_bytes.unwrap_or(16 * 1024),
                hidden_env: if exec.pass_api_keys.unwrap_or(false) {
                    Arc::from([])
                } else {
                    let mut names: Vec<String> =
                        merged.providers.values().filter_map(|p| p.api_key_env.clone()).collect();
                    names.sort();
                    names.dedup();
                    names.into()
                },
            },
            approval_policy: merged.approval_policy.unwrap_or(ApprovalPolicy::Auto),
            sandbox: merged.sandbox.unwrap_or(true),
            network_access: merged.network_access.unwrap_or(false),
            sandbox_helper: None,
            writable_roots: merged.writable_roots.unwrap_or_default().iter().map(|r| opts.cwd.join(r)).collect(),
            cwd: opts.cwd.clone(),
            data_dir,
            config_dir,
            sources: stack.sources(),
            local: LocalConfig {
                context_tokens: local.context_tokens.unwrap_or(16_384),
                threads: local.threads,
                draft_tokens: local.draft_tokens,
            },
            notifications: merged.tui.as_ref().and_then(|t| t.notifications).unwrap_or(true),
            storage: StorageConfig::resolve(merged.storage.as_ref()),
            notice,
        })
    }
}

/// Only `[storage]` of `opts`'s configuration (`tern sessions prune`), read
/// from the process environment; needs no provider or model.
pub fn load_storage(opts: &LoadOptions) -> Result<StorageConfig, ConfigError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let stack = layers::Stack::load(&paths::config_dir(&env), &opts.cwd, &env, &opts.overrides)?;
    Ok(StorageConfig::resolve(stack.merged()?.storage.as_ref()))
}

/// Only the MCP servers of `opts`'s configuration (`tern mcp list`), read
/// from the process environment; needs no provider or model.
pub fn load_mcp_servers(opts: &LoadOptions) -> Result<Vec<McpServerConfig>, ConfigError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let stack = layers::Stack::load(&paths::config_dir(&env), &opts.cwd, &env, &opts.overrides)?;
    mcp_servers(&stack, &stack.merged()?, &opts.cwd, &env)
}

/// The MCP servers of every source: Claude Code's (`~/.claude.json`'s user
/// scope, `.mcp.json` at the project root, `~/.claude.json`'s local scope
/// for this project), then `[mcp_servers]`, which replaces any of theirs
/// of the same name.
fn mcp_servers(
    stack: &layers::Stack,
    merged: &ConfigFile,
    cwd: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<McpServerConfig>, ConfigError> {
    let repo = paths::repo_root(cwd).unwrap_or_else(|| cwd.to_path_buf());
    // Claude Code's precedence, lowest first: user, project, local.
    let (user, local) = mcp_json::load_claude_user(&repo, env);
    let mut servers: Vec<McpServerConfig> = Vec::new();
    for server in user.into_iter().chain(mcp_json::load(&repo, env)?).chain(local) {
        servers.retain(|s| s.name != server.name);
        servers.push(server);
    }
    for (name, file) in &merged.mcp_servers {
        let origin = stack.origin_of(&["mcp_servers", name]);
        let server = mcp::resolve(name, file, &origin, cwd)?;
        servers.retain(|s| s.name != *name);
        servers.push(server);
    }
    Ok(servers)
}

/// MCP tool schemas beyond this many tokens are deferred: about what
/// tern's own tools cost, so servers at most double the tool definitions.
const DEFAULT_MCP_BUDGET: usize = 3000;

/// Compact at this fraction of the window unless told otherwise.
const DEFAULT_COMPACT_AT: f64 = 0.85;

/// Where a session's provider came from when nothing chose one.
const FALLBACK: &str = "the fallback (no provider configured, no API key set)";

/// Everything configured, for `tern models`: providers (and whether each
/// has its key), the model catalog, and what a session would use.
#[derive(Debug)]
pub struct Inventory {
    pub providers: Vec<ProviderSummary>,
    pub models: Vec<(String, ModelInfo)>,
    /// The provider and model a session would use, or why none.
    pub chosen: Result<(String, String), String>,
    pub sources: Vec<String>,
    /// The models a session could use now, the chosen one first.
    pub choices: Vec<Choice>,
}

/// A model a session can switch to (`/model`): one the catalog or the
/// config assigns to a provider whose key is set, or a local GGUF.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub provider: String,
    pub model: String,
    pub info: ModelInfo,
    /// Why it cannot run yet (a local model not fetched), if so.
    pub missing: Option<String>,
}

/// One configured provider.
#[derive(Debug)]
pub struct ProviderSummary {
    pub name: String,
    pub wire_api: WireApi,
    pub base_url: String,
    /// The key's variable, and whether it is set.
    pub key: Option<(String, bool)>,
    pub model: Option<String>,
}

impl Inventory {
    /// Loads the configuration without requiring a usable provider.
    pub fn load(opts: &LoadOptions) -> Result<Inventory, ConfigError> {
        Self::load_with_env(opts, &|k: &str| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// [`Inventory::load`] with the environment given (for tests).
    pub fn load_with_env(opts: &LoadOptions, env: &dyn Fn(&str) -> Option<String>) -> Result<Inventory, ConfigError> {
        let config_dir = paths::config_dir(&env);
        let stack = layers::Stack::load(&config_dir, &opts.cwd, env, &opts.overrides)?;
        let merged = stack.merged()?;
        let providers: Vec<ProviderSummary> = merged
            .providers
            .iter()
            .map(|(name, p)| ProviderSummary {
                name: name.clone(),
                wire_api: p.wire_api.unwrap_or(WireApi::Chat),
                base_url: p.base_url.clone().unwrap_or_default(),
                key: p.api_key_env.as_ref().map(|v| (v.clone(), env(v).is_some())),
                model: p.model.clone(),
            })
            .collect();
        let models = merged.models.keys().map(|k| (k.clone(), catalog::lookup(&merged.models, k))).collect();
        let chosen = Config::load_with_env(opts, env).map(|c| (c.provider.name, c.model)).map_err(|e| e.to_string());
        let choices = choices::list(&merged, &providers, chosen.as_ref().ok(), &paths::data_dir(env).join("models"));
        Ok(Inventory { providers, models, chosen, sources: stack.sources(), choices })
    }
}

/// The provider a session uses and what chose it: the command line, then
/// config, then whichever cloud key is set, else the embedded local model.
fn choose_provider(opts: &LoadOptions, merged: &ConfigFile, env: &dyn Fn(&str) -> Option<String>) -> (String, String) {
    if let Some(p) = &opts.provider {
        return (p.clone(), "--provider".into());
    }
    if let Some(p) = &merged.provider {
        return (p.clone(), "the `provider` setting".into());
    }
    for (var, provider) in
        [("OPENAI_API_KEY", "openai"), ("ANTHROPIC_API_KEY", "anthropic"), ("GEMINI_API_KEY", "gemini")]
    {
        if env(var).is_some() {
            return (provider.into(), var.into());
        }
    }
    ("local".into(), FALLBACK.into())
}

fn resolve_provider(
    merged: &ConfigFile,
    name: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProviderConfig, ConfigError> {
    let Some(p) = merged.providers.get(name) else {
        return Err(ConfigError::UnknownProvider {
            name: name.into(),
            origin: origin.into(),
            known: merged.providers.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    };
    let wire_api = p.wire_api.unwrap_or(WireApi::Chat);
    let base_url = match (&p.base_url, wire_api) {
        (Some(url), _) => url.clone(),
        (None, WireApi::Local) => String::new(),
        (None, _) => return Err(ConfigError::NoBaseUrl { provider: name.into() }),
    };
    let api_key = match &p.api_key_env {
        Some(var) => Some(env(var).ok_or_else(|| ConfigError::MissingKey { provider: name.into(), var: var.clone() })?),
        None => None,
    };
    Ok(ProviderConfig {
        name: name.into(),
        base_url: base_url.trim_end_matches('/').to_string(),
        api_key,
        api_key_env: p.api_key_env.clone(),
        wire_api,
        headers: p.headers.clone().unwrap_or_default(),
        quirks: p.quirks.clone().unwrap_or_default(),
    })
}
