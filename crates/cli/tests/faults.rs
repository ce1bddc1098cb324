//! Faults from the model server: retries, classification, stalls, drops.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use serde_json::json;
use tern_testkit::{Fault, MockServer, Step};

const FAST: [&str; 2] = ["-c", "network.max_retry_delay_ms=50"];

async fn run(env: &Env, server: &MockServer, extra: &[&str]) -> common::Output {
    let mut args = vec!["exec"];
    args.extend(FAST);
    args.extend(extra);
    args.push("hello");
    env.run(Some(server), &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_honours_retry_after() {
    let env = Env::new();
    let server = MockServer::start(vec![
        Step::default().with_fault(Fault::Status {
            status: 429,
            body: Some("slow down".into()),
            retry_after: Some("0.3".into()),
        }),
        Step::text("after the wait"),
    ])
    .await
    .unwrap();
    // The cap is raised so Retry-After (300 ms) decides the wait.
    let start = std::time::Instant::now();
    let out = env.run(Some(&server), &["exec", "-c", "network.max_retry_delay_ms=5000", "hello"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(start.elapsed().as_millis() >= 300);
    assert!(out.stderr.contains("retrying in 0.3s (1/4)"), "{}", out.stderr);
    assert_eq!(out.stdout, "after the wait\n");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_retry_then_give_up_with_a_message() {
    let env = Env::new();
    let server =
        MockServer::start(vec![Step::status(500, "boom"), Step::status(503, "busy"), Step::text("ok")]).await.unwrap();
    let out = run(&env, &server, &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(server.requests().len(), 3);

    let server = MockServer::start(vec![Step::status(502, "down"), Step::status(502, "down")]).await.unwrap();
    let out = run(&env, &server, &["-c", "network.request_max_retries=1"]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("returned HTTP 502: down"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_stream_is_retried_without_duplicate_text() {
    let env = Env::new();
    let text = "The quick brown fox jumps over the lazy dog.";
    let server = MockServer::start(vec![
        Step::text(text).with_chunk_chars(5).with_fault(Fault::DropAfter { events: 4 }),
        Step::text(text).with_chunk_chars(7),
    ])
    .await
    .unwrap();
    let out = run(&env, &server, &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, format!("{text}\n"));
    // What streamed, with the retry notice taken out, is the text once.
    let streamed: String = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("retrying") && !l.starts_with("tern ") && !l.starts_with("tokens:"))
        .collect();
    assert_eq!(streamed, text, "{}", out.stderr);
    assert!(out.stderr.contains("broke"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_event_and_stall_are_retried() {
    let env = Env::new();
    let server = MockServer::start(vec![
        Step::text("abc").with_fault(Fault::MalformedAfter { events: 1 }),
        Step::text("def").with_fault(Fault::StallAfter { events: 2 }),
        Step::text("finally"),
    ])
    .await
    .unwrap();
    let out = run(&env, &server, &["-c", "network.stream_idle_timeout_ms=300"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("unreadable stream event"), "{}", out.stderr);
    assert!(out.stderr.contains("stalled"), "{}", out.stderr);
    assert_eq!(out.stdout, "finally\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_model_and_context_errors_are_not_retried() {
    let env = Env::new();
    let cases = [
        (
            401,
            r#"{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}"#,
            "check the API key in $OPENAI_API_KEY",
        ),
        (
            404,
            r#"{"error":{"message":"The model `gpt-5.1` does not exist","code":"model_not_found"}}"#,
            "pick another with -m",
        ),
        (
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#,
            "context window",
        ),
        (429, r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#, "out of quota"),
    ];
    for (status, body, hint) in cases {
        let server = MockServer::start(vec![Step::status(status, body), Step::text("never")]).await.unwrap();
        let out = run(&env, &server, &[]).await;
        assert_eq!(out.code, 1, "{status}: {}", out.stderr);
        assert!(out.stderr.contains(hint), "{status}: {}", out.stderr);
        assert_eq!(server.requests().len(), 1, "{status} must not be retried");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_says_so() {
    let env = Env::new();
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut c = env.command(None);
    c.env("OPENAI_API_KEY", "k").env("OPENAI_BASE_URL", format!("http://127.0.0.1:{port}/v1")).args([
        "exec",
        "-c",
        "network.request_max_retries=1",
        "-c",
        "network.max_retry_delay_ms=10",
        "hi",
    ]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("cannot reach openai at http://127.0.0.1"), "{}", out.stderr);
    assert!(out.stderr.contains("check that the server is running"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_calls_in_one_response_all_get_results() {
    let env = Env::new();
    env.write("a.txt", "alpha\n");
    env.write("b.txt", "beta\n");
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "a.txt"}))
            .and_call("read_file", json!({"path": "b.txt"}))
            .and_call("exec_command", json!({"cmd": "cat a.txt b.txt"}))
            .and_call("grep_files", json!({"pattern": "beta"})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let out = run(&env, &server, &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let msgs = common::messages(&server, 1);
    let results: Vec<_> = msgs.iter().filter(|m| m["role"] == "tool").collect();
    let ids: Vec<_> = results.iter().map(|m| m["tool_call_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["call_1_0", "call_1_1", "call_1_2", "call_1_3"]);
    assert!(results[0]["content"].as_str().unwrap().contains("alpha"));
    assert!(results[1]["content"].as_str().unwrap().contains("beta"));
    assert!(results[2]["content"].as_str().unwrap().contains("alpha\nbeta"));
    assert!(results[3]["content"].as_str().unwrap().contains("b.txt:1: beta"));
}

/// The same conversation in the stream shapes of the servers tern must work
/// with unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dialects() {
    use tern_testkit::Dialect;
    for dialect in [Dialect::OpenAi, Dialect::OllamaLegacy, Dialect::LlamaCpp, Dialect::OpenRouter, Dialect::NoDone] {
        let env = Env::new();
        env.write("a.txt", "alpha\n");
        let server = MockServer::start(vec![
            Step::call("read_file", json!({"path": "a.txt"}))
                .and_call("list_dir", json!({}))
                .with_reasoning("thinking it over")
                .with_dialect(dialect),
            Step::text("found alpha").with_dialect(dialect),
        ])
        .await
        .unwrap();
        let out = env.run(Some(&server), &["exec", "--json", "go"]).await;
        assert_eq!(out.code, 0, "{dialect:?}: {}", out.stderr);
        let results: Vec<_> = common::messages(&server, 1).into_iter().filter(|m| m["role"] == "tool").collect();
        assert_eq!(results.len(), 2, "{dialect:?}");
        assert!(results[0]["content"].as_str().unwrap().contains("alpha"), "{dialect:?}");
        assert_eq!(out.completed("reasoning")[0]["text"], "thinking it over", "{dialect:?}");
        assert_eq!(out.completed("agent_message")[0]["text"], "found alpha", "{dialect:?}");
        let done = out.json().into_iter().find(|l| l["type"] == "turn.completed").unwrap();
        let input = done["usage"]["input_tokens"].as_u64().unwrap();
        assert_eq!(input > 0, dialect != Dialect::OllamaLegacy, "{dialect:?}: usage {input}");
    }
}
