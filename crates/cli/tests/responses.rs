//! OpenAI Responses end to end against the mock, in the service's shape.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use serde_json::json;
use tern_testkit::{MockServer, Step};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_reasoning_carried_and_cache_key() {
    let env = Env::new();
    env.write("a.txt", "alpha\n");
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "a.txt"}))
            .and_call("list_dir", json!({}))
            .with_reasoning("Read it and look around.")
            .with_chunk_chars(5),
        Step {
            usage: Some(json!({"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 800},
                "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 12}})),
            ..Step::text("It says alpha.")
        },
    ])
    .await
    .unwrap();
    let out =
        env.run(Some(&server), &["exec", "-c", "providers.openai.wire_api=\"responses\"", "--json", "read a"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let thread = out.json()[0]["thread_id"].as_str().unwrap().to_string();
    assert_eq!(out.completed("reasoning")[0]["text"], "Read it and look around.");
    assert_eq!(out.completed("agent_message")[0]["text"], "It says alpha.");
    let done = out.json().into_iter().find(|l| l["type"] == "turn.completed").unwrap();
    assert_eq!(done["usage"]["cached_input_tokens"], 800);
    assert_eq!(done["usage"]["reasoning_output_tokens"], 12);

    let second = &server.requests()[1];
    assert_eq!(second["store"], false);
    assert_eq!(second["prompt_cache_key"], thread.as_str());
    assert_eq!(second["include"], json!(["reasoning.encrypted_content"]));
    assert!(second["instructions"].as_str().unwrap().contains("You are tern"));
    let input = second["input"].as_array().unwrap();
    let types: Vec<_> = input.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["message", "reasoning", "function_call", "function_call", "function_call_output", "function_call_output"]
    );
    assert_eq!(input[1]["encrypted_content"], "enc-1", "reasoning carried with store: false");
    assert_eq!(input[2]["call_id"], "call_1_0");
    assert_eq!(input[4]["call_id"], "call_1_0");
    assert!(input[4]["output"].as_str().unwrap().contains("alpha"));
    assert_eq!(second["tools"][0]["type"], "function");
}
