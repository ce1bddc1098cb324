//! MCP server entries: Codex's TOML keys and Claude Code's `.mcp.json`,
//! resolved, and every mistake named by file, line and key.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::time::Duration;
use tern_config::{Config, ConfigError, LoadOptions, McpTransport, ToolApproval};

struct Dirs {
    _tmp: tempfile::TempDir,
    home: std::path::PathBuf,
    repo: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(home.join(".config/tern")).unwrap();
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    Dirs { _tmp: tmp, home, repo }
}

fn load(d: &Dirs, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let home = d.home.display().to_string();
    let env = move |k: &str| {
        if k == "HOME" {
            return Some(home.clone());
        }
        if k == "OPENAI_API_KEY" {
            return Some("k".into());
        }
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    Config::load_with_env(&LoadOptions { cwd: d.repo.clone(), ..Default::default() }, &env)
}

fn user_config(d: &Dirs, text: &str) -> String {
    let path = d.home.join(".config/tern/config.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn codex_keys_resolve() {
    let d = dirs();
    user_config(
        &d,
        r#"
[mcp_servers.docs]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "."]
env = { A = "1" }
env_vars = ["GITHUB_TOKEN", { name = "X", source = "local" }]
startup_timeout_ms = 2500
tool_timeout_sec = 12.5
enabled_tools = ["read_text_file", "search_files"]
disabled_tools = ["search_files"]
default_tools_approval_mode = "prompt"
[mcp_servers.docs.tools.read_text_file]
approval_mode = "approve"

[mcp_servers.remote]
url = "https://example.com/mcp"
bearer_token_env_var = "TOK"
http_headers = { "X-Team" = "a" }
env_http_headers = { "X-Key" = "KEY_VAR" }
required = true
startup_timeout_sec = 5
"#,
    );
    let c = load(&d, &[]).unwrap();
    let docs = c.mcp_servers.iter().find(|s| s.name == "docs").unwrap();
    let McpTransport::Stdio { command, args, env, env_vars, .. } = &docs.transport else { panic!() };
    assert_eq!(command, "npx");
    assert_eq!(args.len(), 3);
    assert_eq!(env.get("A").map(String::as_str), Some("1"));
    assert_eq!(env_vars, &["GITHUB_TOKEN".to_string(), "X".to_string()]);
    assert_eq!(docs.startup_timeout, Duration::from_millis(2500));
    assert_eq!(docs.tool_timeout, Duration::from_secs_f64(12.5));
    assert!(docs.offers("read_text_file"));
    assert!(!docs.offers("search_files"), "disabled_tools applies after enabled_tools");
    assert!(!docs.offers("write_file"), "not in enabled_tools");
    assert_eq!(docs.approval("read_text_file"), ToolApproval::Approve);
    assert_eq!(docs.approval("other"), ToolApproval::Prompt);
    assert!(docs.unusable.is_none() && docs.enabled && !docs.required);
    let remote = c.mcp_servers.iter().find(|s| s.name == "remote").unwrap();
    assert!(remote.required);
    assert_eq!(remote.startup_timeout, Duration::from_secs(5));
    let McpTransport::Http { url, bearer_token_env_var, headers, env_headers } = &remote.transport else { panic!() };
    assert_eq!(url, "https://example.com/mcp");
    assert_eq!(bearer_token_env_var.as_deref(), Some("TOK"));
    assert_eq!(headers.get("X-Team").map(String::as_str), Some("a"));
    assert_eq!(env_headers.get("X-Key").map(String::as_str), Some("KEY_VAR"));
}

fn error_of(d: &Dirs, text: &str) -> String {
    let path = user_config(d, text);
    let e = load(d, &[]).unwrap_err().to_string();
    assert!(e.contains(&path), "{e}");
    e
}

#[test]
fn mistakes_name_file_line_and_key() {
    let d = dirs();
    let e = error_of(&d, "model = \"m\"\n\n[mcp_servers.x]\ncommand = \"a\"\nargz = [\"b\"]\n");
    assert!(e.contains(":3:") || e.contains(":5:"), "{e}");
    assert!(e.contains("mcp_servers.x") && e.contains("argz"), "{e}");

    let e = error_of(&d, "[mcp_servers.web]\nurl = \"http://h/mcp\"\nenv = { A = \"1\" }\n");
    assert!(e.contains(":1:") && e.contains("mcp_servers.web"), "{e}");
    assert!(e.contains("`env` is not supported for an HTTP server"), "{e}");

    let e = error_of(&d, "[mcp_servers.cmd]\ncommand = \"x\"\nbearer_token_env_var = \"T\"\n");
    assert!(e.contains("`bearer_token_env_var` is not supported for a stdio server"), "{e}");

    let e = error_of(&d, "[mcp_servers.t]\nurl = \"http://h\"\nbearer_token = \"secret\"\n");
    assert!(e.contains("bearer_token_env_var") && !e.contains("secret\""), "{e}");

    let e = error_of(&d, "[mcp_servers.t]\ncommand = \"x\"\nstartup_timeout_sec = -1\n");
    assert!(e.contains("positive"), "{e}");
    // Finite but past what a Duration holds (Duration::from_secs_f64 panicked).
    let e = error_of(&d, "[mcp_servers.t]\ncommand = \"x\"\ntool_timeout_sec = 1e300\n");
    assert!(e.contains("below 2^64"), "{e}");

    let e = error_of(&d, "[mcp_servers.t]\nenabled = true\n");
    assert!(e.contains("MCP server `t`") && e.contains("needs `command`"), "{e}");

    let e = error_of(&d, "[mcp_servers.t]\ncommand = \"x\"\ndefault_tools_approval_mode = \"sometimes\"\n");
    assert!(e.contains("default_tools_approval_mode"), "{e}");
}

#[test]
fn mcp_json_expands_variables_and_needs_approval() {
    let d = dirs();
    std::fs::write(
        d.repo.join(".mcp.json"),
        r#"{"mcpServers": {
            "mem": {"command": "npx", "args": ["-y", "${PKG:-server-memory}"], "env": {"F": "${HOME}/m.json"}},
            "web": {"type": "http", "url": "${BASE}/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
            "old": {"type": "sse", "url": "http://h/sse"}
        }}"#,
    )
    .unwrap();
    let c = load(&d, &[("BASE", "http://127.0.0.1:9")]).unwrap();
    let mem = c.mcp_servers.iter().find(|s| s.name == "mem").unwrap();
    let McpTransport::Stdio { args, env, .. } = &mem.transport else { panic!() };
    assert_eq!(args[1], "server-memory");
    assert_eq!(env["F"], format!("{}/m.json", d.home.display()));
    assert!(mem.unusable.as_deref().unwrap().contains("tern mcp approve mem"), "{:?}", mem.unusable);
    let web = c.mcp_servers.iter().find(|s| s.name == "web").unwrap();
    assert!(web.unusable.as_deref().unwrap().contains("${TOKEN}"), "{:?}", web.unusable);
    let old = c.mcp_servers.iter().find(|s| s.name == "old").unwrap();
    assert!(old.unusable.as_deref().unwrap().contains("SSE"));

    // Claude Code's approval starts it; a TOML entry of the same name wins.
    std::fs::create_dir_all(d.repo.join(".claude")).unwrap();
    std::fs::write(d.repo.join(".claude/settings.local.json"), r#"{"enabledMcpjsonServers": ["mem"]}"#).unwrap();
    user_config(&d, "[mcp_servers.old]\nurl = \"http://h/mcp\"\n");
    let c = load(&d, &[("TOKEN", "t"), ("BASE", "http://b")]).unwrap();
    let unusable = |n: &str| c.mcp_servers.iter().find(|s| s.name == n).unwrap().unusable.clone();
    assert_eq!(unusable("mem"), None);
    assert_eq!(unusable("old"), None, "the TOML entry replaced the .mcp.json one");
    assert!(unusable("web").unwrap().contains("not been approved"));
}

#[test]
fn bad_mcp_json_names_file_line_and_key() {
    let d = dirs();
    std::fs::write(d.repo.join(".mcp.json"), "{\"mcpServers\": {\n  \"x\": {\"command\": \"a\", \"argz\": []}\n}}")
        .unwrap();
    let e = load(&d, &[]).unwrap_err().to_string();
    assert!(e.contains(".mcp.json:2:"), "{e}");
    assert!(e.contains("mcpServers.x") && e.contains("argz"), "{e}");
    std::fs::write(d.repo.join(".mcp.json"), r#"{"mcpServers": {"x": {"type": "http", "command": "a", "url": "u"}}}"#)
        .unwrap();
    let e = load(&d, &[]).unwrap_err().to_string();
    assert!(e.contains("MCP server `x`") && e.contains("stdio servers"), "{e}");
}

#[test]
fn claude_user_and_local_scopes_are_read_with_claude_precedence() {
    let d = dirs();
    let repo = d.repo.display().to_string();
    std::fs::write(
        d.home.join(".claude.json"),
        format!(
            r#"{{"numStartups": 12, "mcpServers": {{
                 "shared": {{"command": "user-cmd"}},
                 "global": {{"type": "http", "url": "https://g/mcp"}},
                 "odd": {{"command": "x", "transport": "weird"}}
               }},
               "projects": {{"{repo}": {{"allowedTools": [], "mcpServers": {{"shared": {{"command": "local-cmd"}}}}}},
                            "/elsewhere": {{"mcpServers": {{"other": {{"command": "o"}}}}}}}}}}"#
        ),
    )
    .unwrap();
    std::fs::write(d.repo.join(".mcp.json"), r#"{"mcpServers": {"shared": {"command": "project-cmd"}}}"#).unwrap();
    let c = load(&d, &[]).unwrap();
    let names: Vec<&str> = c.mcp_servers.iter().map(|s| s.name.as_str()).collect();
    assert!(!names.contains(&"other"), "another project's servers stay there: {names:?}");
    let shared = c.mcp_servers.iter().find(|s| s.name == "shared").unwrap();
    let McpTransport::Stdio { command, .. } = &shared.transport else { panic!() };
    assert_eq!(command, "local-cmd", "local scope beats the project's .mcp.json, which beats the user's");
    assert!(shared.unusable.is_none(), "the user added it: no approval needed");
    let global = c.mcp_servers.iter().find(|s| s.name == "global").unwrap();
    assert!(global.unusable.is_none() && global.origin.ends_with(".claude.json"));
    let odd = c.mcp_servers.iter().find(|s| s.name == "odd").unwrap();
    assert!(odd.unusable.as_deref().unwrap().contains("cannot be read"), "{:?}", odd.unusable);

    // Claude Code's file is not tern's: one that does not parse adds nothing.
    std::fs::write(d.home.join(".claude.json"), "{ not json").unwrap();
    let c = load(&d, &[]).unwrap();
    assert_eq!(c.mcp_servers.len(), 1);
}
