//! Anthropic Messages end to end against the mock, in the service's shape.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use serde_json::json;
use tern_testkit::{MockServer, Step};

fn command(env: &Env, server: &MockServer, args: &[&str]) -> tokio::process::Command {
    let mut c = env.asking(None);
    c.env("ANTHROPIC_API_KEY", "sk-ant-test")
        .env("ANTHROPIC_BASE_URL", server.base_url())
        .args(["-c", "approval_policy=\"full-access\"", "-c", "network.max_retry_delay_ms=20"])
        .args(args);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_use_thinking_caching_and_usage() {
    let env = Env::new();
    env.write("a.txt", "alpha\n");
    let server = MockServer::start(vec![
        Step::status(529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
        Step::call("read_file", json!({"path": "a.txt"}))
            .and_call("list_dir", json!({}))
            .with_reasoning("Two reads at once.")
            .with_chunk_chars(4),
        Step {
            usage: Some(json!({"input_tokens": 12, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 900, "output_tokens": 7})),
            ..Step::text("It says alpha.")
        },
    ])
    .await
    .unwrap();
    // This test is about the wire; the Codex vocabulary keeps its calls short.
    let args = ["exec", "-c", "models.claude-sonnet-4-5.tools=codex", "--json", "what is in a.txt?"];
    let out = common::finish(command(&env, &server, &args).spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.completed("reasoning")[0]["text"], "Two reads at once.");
    assert_eq!(out.completed("agent_message")[0]["text"], "It says alpha.");
    let done = out.json().into_iter().find(|l| l["type"] == "turn.completed").unwrap();
    assert_eq!(done["usage"]["cached_input_tokens"].as_u64().unwrap(), 900);
    assert!(done["usage"]["input_tokens"].as_u64().unwrap() >= 915);
    assert!(
        out.json().iter().any(|l| l["type"] == "error" && l["message"].as_str().unwrap().contains("529")),
        "retried"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let headers = &server.headers()[1];
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(header("authorization"), None);
    let second = &requests[2];
    assert_eq!(second["model"], "claude-sonnet-4-5");
    assert!(second["max_tokens"].as_u64().unwrap() > 0);
    assert_eq!(second["system"][0]["cache_control"]["type"], "ephemeral");
    let tools = second["tools"].as_array().unwrap();
    assert_eq!(tools.last().unwrap()["cache_control"]["type"], "ephemeral");
    assert!(tools[0]["input_schema"].is_object());
    let messages = second["messages"].as_array().unwrap();
    let roles: Vec<_> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    let results = messages[2]["content"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["type"], "tool_result");
    assert_eq!(results[0]["tool_use_id"], "toolu_2_0");
    assert!(results[0]["content"].as_str().unwrap().contains("alpha"));
    assert_eq!(results[1]["cache_control"]["type"], "ephemeral");
    assert_eq!(messages[1]["content"][0]["type"], "tool_use");
    assert_eq!(messages[1]["content"][0]["input"], json!({"path": "a.txt"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_classified() {
    let env = Env::new();
    let server = MockServer::start(vec![Step::status(
        401,
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
    )])
    .await
    .unwrap();
    let out = common::finish(command(&env, &server, &["exec", "hi"]).spawn().unwrap()).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("invalid x-api-key") && out.stderr.contains("$ANTHROPIC_API_KEY"), "{}", out.stderr);
    assert_eq!(server.requests().len(), 1);
}

/// Claude models are offered Claude Code's tools (their catalog entry says
/// `tools = "claude"`), each one of tern's tools under Claude Code's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_models_get_claude_codes_tools() {
    let env = Env::new();
    env.write("a.txt", "alpha\n");
    let server = MockServer::start(vec![
        Step::call("Read", json!({"file_path": "a.txt"}))
            .and_call("Bash", json!({"command": "cat a.txt", "description": "show a.txt"}))
            .and_call("Glob", json!({"pattern": "*.txt"})),
        Step::call("Edit", json!({"file_path": "a.txt", "old_string": "alpha", "new_string": "beta"})),
        Step::text("Done."),
    ])
    .await
    .unwrap();
    let out = common::finish(command(&env, &server, &["exec", "--json", "change a.txt"]).spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = server.requests();
    let names: Vec<&str> =
        requests[0]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Bash", "Read", "Edit", "Write", "Grep", "Glob", "TodoWrite"]);
    assert!(requests[0]["system"][0]["text"].as_str().unwrap().contains("Use Bash for builds"));
    let results = requests[1]["messages"][2]["content"].as_array().unwrap();
    assert!(results[0]["content"].as_str().unwrap().contains("alpha"), "{}", results[0]);
    assert!(results[1]["content"].as_str().unwrap().contains("Exit code: 0"), "{}", results[1]);
    assert!(results[2]["content"].as_str().unwrap().contains("a.txt"), "{}", results[2]);
    assert_eq!(std::fs::read_to_string(env.work().join("a.txt")).unwrap(), "beta\n");
    let commands = out.completed("command_execution");
    assert_eq!(commands[0]["command"], "cat a.txt");
}
