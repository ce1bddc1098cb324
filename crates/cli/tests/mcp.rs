//! MCP end to end: the real `tern` binary, the mock model calling tools of
//! real MCP servers (the reference servers from npm, installed by
//! `scripts/test` into tools/npm), over stdio and streamable HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::Env;
use serde_json::{Value, json};
use std::path::PathBuf;
use tern_testkit::{MockServer, Step};

/// The npm packages' directory; the tests fail with a clear message when
/// it is missing (scripts/test installs it).
fn npm_bin(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/npm/node_modules/.bin");
    let bin = root.join(name);
    assert!(bin.exists(), "{} is missing: run scripts/test (it installs the MCP test servers with npm)", bin.display());
    bin.canonicalize().unwrap()
}

fn everything_stdio(env: &Env) {
    let bin = npm_bin("mcp-server-everything");
    env.write(
        ".tern/config.toml",
        &format!("[mcp_servers.everything]\ncommand = {:?}\nargs = [\"stdio\"]\n", bin.display().to_string()),
    );
    // A repository root, so .tern/config.toml is found.
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
}

/// The tool names offered in request `n`.
fn offered(server: &MockServer, n: usize) -> Vec<String> {
    server.requests()[n]["tools"]
        .as_array()
        .map(|t| t.iter().map(|t| t["function"]["name"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

/// The tool result messages of request `n`.
fn tool_results(server: &MockServer, n: usize) -> Vec<String> {
    common::messages(server, n)
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_tools_are_called_and_reported() {
    let env = Env::new();
    everything_stdio(&env);
    // The first turn may start before the server is ready; a second
    // model call after a harmless tool gives it time, as a real session would.
    let steps = vec![
        Step::call("exec_command", json!({"cmd": "sleep 3"})),
        Step::call("mcp__everything__echo", json!({"message": "hello from tern"})),
        Step::call("mcp__everything__get-sum", json!({"a": 2, "b": 40})),
        Step::text("done"),
    ];
    let server = MockServer::start(steps).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "use the tools"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let lines = out.json();
    let ready: Vec<&Value> = lines.iter().filter(|l| l["type"] == "mcp.server_updated").collect();
    assert!(ready.iter().any(|l| l["server"] == "everything" && l["state"] == "ready"), "{lines:#?}");
    let complete = lines.iter().find(|l| l["type"] == "mcp.startup_completed").expect("startup completed event");
    assert_eq!(complete["ready"], json!(["everything"]));
    // Its tools were offered from the call after it became ready.
    let names = offered(&server, 2);
    assert!(names.contains(&"mcp__everything__echo".to_string()), "{names:?}");
    assert!(names.contains(&"exec_command".to_string()));
    let results = tool_results(&server, 2);
    assert!(results.last().unwrap().contains("hello from tern"), "{results:?}");
    let results = tool_results(&server, 3);
    assert!(results.last().unwrap().contains("42"), "{results:?}");
    let calls = out.completed("mcp_tool_call");
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[0]["server"], "everything");
    assert_eq!(calls[0]["tool"], "echo");
    assert_eq!(calls[0]["status"], "completed");
    assert!(calls[0]["result"]["content"][0]["text"].as_str().unwrap().contains("hello from tern"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_start_fails_alone_and_the_turn_goes_on() {
    let env = Env::new();
    env.write(
        ".tern/config.toml",
        "[mcp_servers.broken]\ncommand = \"/nonexistent/mcp-server\"\n\n[mcp_servers.off]\ncommand = \"x\"\nenabled = false\n",
    );
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    let server = MockServer::start(vec![Step::text("fine")]).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "hi"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let lines = out.json();
    let failed = lines
        .iter()
        .find(|l| l["type"] == "mcp.server_updated" && l["state"] == "failed")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(failed["server"], "broken");
    assert!(failed["error"].as_str().unwrap().contains("/nonexistent/mcp-server"), "{failed}");
    assert!(lines.iter().any(|l| l["type"] == "turn.completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_server_that_fails_fails_the_turn_clearly() {
    let env = Env::new();
    env.write(".tern/config.toml", "[mcp_servers.needed]\ncommand = \"/nonexistent/x\"\nrequired = true\n");
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    let server = MockServer::start(vec![Step::text("never sent")]).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "hi"]).await;
    assert_ne!(out.code, 0);
    let lines = out.json();
    let failed = lines.iter().find(|l| l["type"] == "turn.failed").unwrap_or_else(|| panic!("{lines:#?}"));
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("required MCP server") && message.contains("needed"), "{message}");
    assert!(server.requests().is_empty(), "no model call without the required server");
}
