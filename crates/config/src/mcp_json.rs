//! Claude Code's MCP servers: `.mcp.json` (project scope),
//! `{"mcpServers": {NAME: {…}}}`, with `${VAR}` and `${VAR:-default}`
//! expanded in `command`, `args`, `env`, `url` and `headers`; and the user
//! and local scopes kept in `~/.claude.json`.
//!
//! A repository's file can start programs, so, as in Claude Code, its
//! servers start only once approved: `enableAllProjectMcpServers` or
//! `enabledMcpjsonServers` in `.claude/settings.local.json`,
//! `.claude/settings.json` or `~/.claude/settings.json` (what Claude Code
//! writes when its user approves them; `tern mcp approve` writes the same).

use crate::ConfigError;
use crate::mcp::{McpServerConfig, McpTransport};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct McpJson {
    #[serde(default)]
    mcp_servers: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(rename = "type")]
    kind: Option<Kind>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// OAuth client settings: tern cannot log in yet.
    oauth: Option<serde_json::Value>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Stdio,
    Http,
    Sse,
}

/// Approvals of project servers, from Claude Code's settings files.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    enable_all_project_mcp_servers: Option<bool>,
    enabled_mcpjson_servers: Option<Vec<String>>,
    disabled_mcpjson_servers: Option<Vec<String>>,
}

/// The settings file `tern mcp approve` writes, as Claude Code does.
pub fn approvals_file(repo: &Path) -> PathBuf {
    repo.join(".claude").join("settings.local.json")
}

/// Reads `<repo>/.mcp.json`, if there is one. Blocking.
#[allow(clippy::disallowed_methods)] // config loading is sync; async callers use spawn_blocking
pub(crate) fn load(repo: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<McpServerConfig>, ConfigError> {
    let path = repo.join(".mcp.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let origin = path.display().to_string();
    let file: McpJson = parse(&origin, &text)?;
    let approved = Approved::load(repo, env);
    file.mcp_servers.into_iter().map(|(name, entry)| convert(name, entry, &origin, env, Some(&approved))).collect()
}

/// Claude Code's own state file, `~/.claude.json`: its user-scope servers
/// (`mcpServers`) and this project's local-scope ones
/// (`projects[REPO].mcpServers`). The user added them there, so they need
/// no approval.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClaudeJson {
    #[serde(default)]
    mcp_servers: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    projects: BTreeMap<String, ClaudeProject>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClaudeProject {
    #[serde(default)]
    mcp_servers: BTreeMap<String, serde_json::Value>,
}

/// The user-scope and local-scope servers of `~/.claude.json`, in that
/// order. The file is Claude Code's, not tern's: one that does not parse
/// adds nothing, and a bad entry is a server that does not start, saying why.
#[allow(clippy::disallowed_methods)] // config loading is sync; async callers use spawn_blocking
pub(crate) fn load_claude_user(
    repo: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Vec<McpServerConfig>, Vec<McpServerConfig>) {
    let Some(path) = env("HOME").map(|h| PathBuf::from(h).join(".claude.json")) else { return (vec![], vec![]) };
    let Ok(text) = std::fs::read_to_string(&path) else { return (vec![], vec![]) };
    let Ok(file) = serde_json::from_str::<ClaudeJson>(&text) else { return (vec![], vec![]) };
    let origin = path.display().to_string();
    let entries = |map: BTreeMap<String, serde_json::Value>| -> Vec<McpServerConfig> {
        map.into_iter()
            .map(|(name, raw)| {
                let converted = serde_json::from_value::<Entry>(raw)
                    .map_err(|e| e.to_string())
                    .and_then(|entry| convert(name.clone(), entry, &origin, env, None).map_err(|e| e.to_string()));
                converted.unwrap_or_else(|why| broken(name, &origin, why))
            })
            .collect()
    };
    let repo_key = repo.display().to_string();
    let mut projects = file.projects;
    let local = projects.remove(&repo_key).map(|p| entries(p.mcp_servers)).unwrap_or_default();
    (entries(file.mcp_servers), local)
}

/// A `~/.claude.json` entry tern cannot read: listed, not started.
fn broken(name: String, origin: &str, why: String) -> McpServerConfig {
    let transport =
        McpTransport::Stdio { command: String::new(), args: vec![], env: BTreeMap::new(), env_vars: vec![], cwd: None };
    McpServerConfig {
        unusable: Some(format!("its entry cannot be read ({why})")),
        ..McpServerConfig::new(name, transport, origin)
    }
}

/// One entry in Claude Code's format as tern's server; `approved` is
/// checked for project servers (`.mcp.json`).
fn convert(
    name: String,
    entry: Entry,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
    approved: Option<&Approved>,
) -> Result<McpServerConfig, ConfigError> {
    let bad = |message: String| ConfigError::Mcp { name: name.clone(), origin: origin.to_string(), message };
    let mut missing = Vec::new();
    let mut expand = |s: &str| expand_vars(s, env, &mut missing);
    let kind = entry.kind.unwrap_or(if entry.url.is_some() { Kind::Http } else { Kind::Stdio });
    let transport = match kind {
        Kind::Stdio => {
            let Some(command) = &entry.command else {
                return Err(bad("a stdio server needs `command`".into()));
            };
            if entry.url.is_some() || !entry.headers.is_empty() {
                return Err(bad("`url` and `headers` are for HTTP servers (`\"type\": \"http\"`)".into()));
            }
            McpTransport::Stdio {
                command: expand(command),
                args: entry.args.iter().map(|a| expand(a)).collect(),
                env: entry.env.iter().map(|(k, v)| (k.clone(), expand(v))).collect(),
                env_vars: vec![],
                cwd: None,
            }
        }
        Kind::Http | Kind::Sse => {
            let Some(url) = &entry.url else {
                return Err(bad("an HTTP server needs `url`".into()));
            };
            if entry.command.is_some() || !entry.args.is_empty() || !entry.env.is_empty() {
                return Err(bad("`command`, `args` and `env` are for stdio servers".into()));
            }
            McpTransport::Http {
                url: expand(url),
                bearer_token_env_var: None,
                headers: entry.headers.iter().map(|(k, v)| (k.clone(), expand(v))).collect(),
                env_headers: BTreeMap::new(),
            }
        }
    };
    let unusable = if !missing.is_empty() {
        Some(format!("it needs ${{{}}}, which is not set (export it and start again)", missing.join("}, ${")))
    } else if kind == Kind::Sse {
        Some("it uses the deprecated SSE transport, which tern does not support; use `\"type\": \"http\"`".into())
    } else if entry.oauth.is_some() {
        Some("it uses OAuth, which tern does not support yet".into())
    } else if approved.is_some_and(|a| !a.allows(&name)) {
        Some(format!(
            "it is a project server from .mcp.json that has not been approved; run `tern mcp approve {name}` \
             (or approve it in Claude Code)"
        ))
    } else {
        None
    };
    let millis = |var: &str| env(var).and_then(|ms| ms.parse().ok()).map(std::time::Duration::from_millis);
    let enabled = !approved.is_some_and(|a| a.disables(&name));
    let defaults = McpServerConfig::new(name, transport, origin);
    Ok(McpServerConfig {
        enabled,
        startup_timeout: millis("MCP_TIMEOUT").unwrap_or(defaults.startup_timeout),
        tool_timeout: millis("MCP_TOOL_TIMEOUT").unwrap_or(defaults.tool_timeout),
        unusable,
        ..defaults
    })
}

/// Parses JSON with errors naming file, line and key.
fn parse<T: serde::de::DeserializeOwned>(origin: &str, text: &str) -> Result<T, ConfigError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        ConfigError::Invalid {
            source_name: origin.to_string(),
            line: inner.line(),
            column: inner.column(),
            key_part: if key.is_empty() || key == "." { String::new() } else { format!("key `{key}`: ") },
            key: Some(key),
            message: inner.to_string(),
        }
    })
}

/// Expands `${VAR}` and `${VAR:-default}`; names of unset variables
/// without a default go to `missing`.
fn expand_vars(s: &str, env: &dyn Fn(&str) -> Option<String>, missing: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (env(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => missing.push(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

struct Approved {
    all: bool,
    enabled: Vec<String>,
    disabled: Vec<String>,
}

impl Approved {
    /// Merges the settings files; a missing or unreadable file approves
    /// nothing (a broken settings file must not start servers).
    #[allow(clippy::disallowed_methods)] // sync config loading
    fn load(repo: &Path, env: &dyn Fn(&str) -> Option<String>) -> Approved {
        let mut files = vec![approvals_file(repo), repo.join(".claude").join("settings.json")];
        if let Some(home) = env("HOME") {
            files.push(PathBuf::from(home).join(".claude").join("settings.json"));
        }
        let mut a = Approved { all: false, enabled: vec![], disabled: vec![] };
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else { continue };
            // A broken settings file approves nothing; `/mcp` then says
            // the server is not approved.
            let Ok(s) = serde_json::from_str::<Settings>(&text) else { continue };
            a.all |= s.enable_all_project_mcp_servers.unwrap_or(false);
            a.enabled.extend(s.enabled_mcpjson_servers.unwrap_or_default());
            a.disabled.extend(s.disabled_mcpjson_servers.unwrap_or_default());
        }
        a
    }

    fn allows(&self, name: &str) -> bool {
        self.all || self.enabled.iter().any(|n| n == name)
    }

    fn disables(&self, name: &str) -> bool {
        self.disabled.iter().any(|n| n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_variables_and_defaults() {
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
        let mut missing = vec![];
        assert_eq!(expand_vars("${HOME}/x", &env, &mut missing), "/home/u/x");
        assert_eq!(expand_vars("${PORT:-3001}", &env, &mut missing), "3001");
        assert_eq!(expand_vars("a${NOPE}b", &env, &mut missing), "ab");
        assert_eq!(missing, vec!["NOPE".to_string()]);
        assert_eq!(expand_vars("${unterminated", &env, &mut missing), "${unterminated");
    }
}
