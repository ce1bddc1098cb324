//! `tern mcp list|get|add|remove|approve`: the `[mcp_servers]` entries of
//! the config files, edited in place (comments and layout kept), and the
//! approval of a project's `.mcp.json` servers.

use crate::Common;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use tern_config::{McpServerConfig, McpTransport};

#[derive(Subcommand)]
pub(crate) enum McpCommand {
    /// The configured servers (TOML and .mcp.json), with where each comes from.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// One server, in full (environment values are not shown).
    Get { name: String },
    /// Add a server: `tern mcp add NAME -- COMMAND ARGS…` or `tern mcp add NAME --url URL`.
    Add(AddArgs),
    /// Remove a server from the config file that defines it.
    Remove {
        name: String,
        /// From the project's .tern/config.toml rather than the user's.
        #[arg(long)]
        project: bool,
    },
    /// Let a server of the project's .mcp.json start (as Claude Code's approval does).
    Approve { name: String },
}

#[derive(Args)]
pub(crate) struct AddArgs {
    name: String,
    /// A streamable HTTP server's URL (instead of a command).
    #[arg(long, conflicts_with = "command")]
    url: Option<String>,
    /// The variable holding a bearer token for an HTTP server.
    #[arg(long, requires = "url")]
    bearer_token_env_var: Option<String>,
    /// An environment variable for a stdio server: KEY=VALUE. Repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Write to the project's .tern/config.toml rather than the user's config.
    #[arg(long)]
    project: bool,
    /// The command and its arguments (after `--`).
    #[arg(last = true)]
    command: Vec<String>,
}

pub(crate) async fn run(common: Common, command: McpCommand) -> anyhow::Result<std::process::ExitCode> {
    tokio::task::spawn_blocking(move || run_blocking(common, command)).await?
}

fn run_blocking(common: Common, command: McpCommand) -> anyhow::Result<std::process::ExitCode> {
    let cwd = crate::working_dir(&common)?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let user_file = tern_config::paths::config_dir(&env).join("config.toml");
    let repo = tern_config::paths::repo_root(&cwd).unwrap_or_else(|| cwd.clone());
    let project_file = repo.join(".tern").join("config.toml");
    match command {
        McpCommand::List { json } => {
            let servers = load(&common)?;
            if json {
                let list: Vec<_> = servers.iter().map(describe).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if servers.is_empty() {
                println!("no MCP servers configured; add one with `tern mcp add NAME -- COMMAND ARGS…`");
            } else {
                for s in &servers {
                    println!("{}", line(s));
                }
            }
        }
        McpCommand::Get { name } => {
            let servers = load(&common)?;
            let Some(s) = servers.iter().find(|s| s.name == name) else {
                bail!("no MCP server `{name}`; `tern mcp list` shows the configured ones");
            };
            println!("{}", serde_json::to_string_pretty(&describe(s))?);
        }
        McpCommand::Add(args) => {
            let file = if args.project { &project_file } else { &user_file };
            add(file, &args)?;
            println!("added `{}` to {}", args.name, file.display());
            // The whole configuration must still load.
            load(&common)?;
        }
        McpCommand::Remove { name, project } => {
            let file = if project { &project_file } else { &user_file };
            if !remove(file, &name)? {
                bail!("{} has no [mcp_servers.{name}]", file.display());
            }
            println!("removed `{name}` from {}", file.display());
        }
        McpCommand::Approve { name } => {
            let servers = load(&common)?;
            if !servers.iter().any(|s| s.name == name && s.origin.ends_with(".mcp.json")) {
                bail!("the project's .mcp.json has no server `{name}`");
            }
            let file = tern_config::mcp_approvals_file(&repo);
            approve(&file, &name)?;
            println!("approved `{name}` in {} (the file Claude Code keeps its approvals in)", file.display());
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The servers every layer configures (no model or provider needed).
fn load(common: &Common) -> anyhow::Result<Vec<McpServerConfig>> {
    let opts = crate::load_options(common.clone())?;
    Ok(tern_config::load_mcp_servers(&opts)?)
}

fn line(s: &McpServerConfig) -> String {
    let target = match &s.transport {
        McpTransport::Stdio { command, args, .. } => format!("{command} {}", args.join(" ")),
        McpTransport::Http { url, .. } => url.clone(),
    };
    let state = match (&s.unusable, s.enabled) {
        (_, false) => " [disabled]".to_string(),
        (Some(why), true) => format!(" [not started: {why}]"),
        (None, true) => String::new(),
    };
    format!("{} ({}) {}{state}  — {}", s.name, s.transport.kind(), target.trim_end(), s.origin)
}

fn describe(s: &McpServerConfig) -> serde_json::Value {
    let mut v = serde_json::json!({
        "name": s.name,
        "transport": s.transport.kind(),
        "enabled": s.enabled,
        "required": s.required,
        "startup_timeout_sec": s.startup_timeout.as_secs_f64(),
        "tool_timeout_sec": s.tool_timeout.as_secs_f64(),
        "enabled_tools": s.enabled_tools,
        "disabled_tools": s.disabled_tools,
        "origin": s.origin,
        "not_started_because": s.unusable,
    });
    match &s.transport {
        McpTransport::Stdio { command, args, env, env_vars, cwd } => {
            v["command"] = command.clone().into();
            v["args"] = args.clone().into();
            // Values may be secrets: names only.
            v["env"] = env.keys().cloned().collect::<Vec<_>>().into();
            v["env_vars"] = env_vars.clone().into();
            v["cwd"] = cwd.as_ref().map(|c| c.display().to_string()).into();
        }
        McpTransport::Http { url, bearer_token_env_var, headers, env_headers } => {
            v["url"] = url.clone().into();
            v["bearer_token_env_var"] = bearer_token_env_var.clone().into();
            v["http_headers"] = headers.keys().cloned().collect::<Vec<_>>().into();
            v["env_http_headers"] = serde_json::to_value(env_headers).unwrap_or_default();
        }
    }
    v
}

#[allow(clippy::disallowed_methods)] // runs in spawn_blocking
fn read_doc(file: &Path) -> anyhow::Result<toml_edit::DocumentMut> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    text.parse().with_context(|| format!("{} is not valid TOML", file.display()))
}

#[allow(clippy::disallowed_methods)] // runs in spawn_blocking
fn write_doc(file: &Path, doc: &toml_edit::DocumentMut) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    tern_files::write::atomic_write(file, doc.to_string().as_bytes(), None)
        .with_context(|| format!("writing {}", file.display()))
}

fn add(file: &Path, args: &AddArgs) -> anyhow::Result<()> {
    use toml_edit::{Array, Item, Table, value};
    let mut doc = read_doc(file)?;
    let servers = doc.entry("mcp_servers").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let Some(servers) = servers.as_table_mut() else { bail!("{}: `mcp_servers` is not a table", file.display()) };
    if servers.contains_key(&args.name) {
        bail!("{} already has [mcp_servers.{}]; `tern mcp remove {}` it first", file.display(), args.name, args.name);
    }
    let mut entry = Table::new();
    match (&args.url, args.command.split_first()) {
        (Some(url), _) => {
            entry.insert("url", value(url.as_str()));
            if let Some(var) = &args.bearer_token_env_var {
                entry.insert("bearer_token_env_var", value(var.as_str()));
            }
            if !args.env.is_empty() {
                bail!("--env is for stdio servers; an HTTP server takes --bearer-token-env-var");
            }
        }
        (None, Some((program, rest))) => {
            entry.insert("command", value(program.as_str()));
            if !rest.is_empty() {
                entry.insert("args", value(rest.iter().map(String::as_str).collect::<Array>()));
            }
            if !args.env.is_empty() {
                let mut env = toml_edit::InlineTable::new();
                for pair in &args.env {
                    let Some((k, v)) = pair.split_once('=') else { bail!("--env {pair}: expected KEY=VALUE") };
                    env.insert(k, v.into());
                }
                entry.insert("env", value(env));
            }
        }
        (None, None) => bail!("give the server's command after `--`, or --url for an HTTP server"),
    }
    servers.insert(&args.name, Item::Table(entry));
    write_doc(file, &doc)
}

fn remove(file: &Path, name: &str) -> anyhow::Result<bool> {
    let mut doc = read_doc(file)?;
    let removed = doc.get_mut("mcp_servers").and_then(|s| s.as_table_like_mut()).and_then(|s| s.remove(name)).is_some();
    if removed {
        write_doc(file, &doc)?;
    }
    Ok(removed)
}

/// Adds `name` to `enabledMcpjsonServers` in Claude Code's local settings,
/// keeping everything else in the file.
#[allow(clippy::disallowed_methods)] // runs in spawn_blocking
fn approve(file: &PathBuf, name: &str) -> anyhow::Result<()> {
    let mut settings: serde_json::Value = match std::fs::read_to_string(file) {
        Ok(t) => serde_json::from_str(&t).with_context(|| format!("{} is not valid JSON", file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let Some(obj) = settings.as_object_mut() else { bail!("{} is not a JSON object", file.display()) };
    let list = obj.entry("enabledMcpjsonServers").or_insert_with(|| serde_json::json!([]));
    let Some(list) = list.as_array_mut() else { bail!("{}: enabledMcpjsonServers is not a list", file.display()) };
    if !list.iter().any(|v| v == name) {
        list.push(name.into());
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&settings)? + "\n";
    tern_files::write::atomic_write(file, text.as_bytes(), None).with_context(|| format!("writing {}", file.display()))
}
