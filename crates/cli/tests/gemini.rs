//! Gemini end to end against the mock, in the service's shape.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use serde_json::json;
use tern_testkit::{MockServer, Step};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_calls_thoughts_and_usage() {
    let env = Env::new();
    env.write("a.txt", "alpha\n");
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "a.txt"})).and_call("list_dir", json!({})).with_reasoning("Look first."),
        Step {
            usage: Some(json!({"promptTokenCount": 500, "cachedContentTokenCount": 300, "candidatesTokenCount": 9, "thoughtsTokenCount": 4})),
            ..Step::text("It says alpha.")
        },
    ])
    .await
    .unwrap();
    let mut c = env.asking(None);
    c.env("GEMINI_API_KEY", "g-key").env("GEMINI_BASE_URL", server.base_url()).args([
        "-c",
        "approval_policy=\"full-access\"",
        "exec",
        "--json",
        "read a",
    ]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.completed("reasoning")[0]["text"], "Look first.");
    assert_eq!(out.completed("agent_message")[0]["text"], "It says alpha.");
    let done = out.json().into_iter().find(|l| l["type"] == "turn.completed").unwrap();
    assert_eq!(done["usage"]["cached_input_tokens"], 300);
    assert_eq!(done["usage"]["reasoning_output_tokens"], 4);

    let headers = &server.headers()[0];
    assert!(headers.iter().any(|(k, v)| k == "x-goog-api-key" && v == "g-key"));
    let second = &server.requests()[1];
    assert_eq!(second["model"], "gemini-2.5-pro");
    assert!(second["systemInstruction"]["parts"][0]["text"].as_str().unwrap().contains("You are tern"));
    assert!(second["tools"][0]["functionDeclarations"].as_array().unwrap().len() > 3);
    let contents = second["contents"].as_array().unwrap();
    let roles: Vec<_> = contents.iter().map(|c| c["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "model", "user"]);
    // The model's own parts go back verbatim, thought signatures included.
    let model_parts = contents[1]["parts"].as_array().unwrap();
    assert!(model_parts.iter().any(|p| p["thoughtSignature"] == "sig-1-0"), "{model_parts:?}");
    let responses = contents[2]["parts"].as_array().unwrap();
    assert_eq!(responses[0]["functionResponse"]["name"], "read_file");
    assert!(responses[0]["functionResponse"]["response"]["content"].as_str().unwrap().contains("alpha"));
    assert_eq!(responses[1]["functionResponse"]["name"], "list_dir");
}
