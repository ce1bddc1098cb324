//! Every stream fault on every wire API: the real binary against the mock
//! server speaking Chat Completions, Responses, Anthropic Messages and
//! Gemini. Each fault ends in a retry that shows no text twice and runs no
//! tool twice, or in a clear error naming the cause and what to do; either
//! way the session is on disk, every line of it parses, and it resumes.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Output};
use serde_json::{Value, json};
use tern_testkit::{Fault, MockServer, Step};

#[derive(Debug, Clone, Copy)]
enum Wire {
    Chat,
    Responses,
    Anthropic,
    Gemini,
}

const WIRES: [Wire; 4] = [Wire::Chat, Wire::Responses, Wire::Anthropic, Wire::Gemini];

impl Wire {
    /// `tern` talking this wire to `base_url`, with short retry delays and
    /// idle timeout.
    fn command(self, env: &Env, base_url: &str) -> tokio::process::Command {
        let mut c = env.asking(None);
        let (key, url) = match self {
            Wire::Chat | Wire::Responses => ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
            Wire::Anthropic => ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
            Wire::Gemini => ("GEMINI_API_KEY", "GEMINI_BASE_URL"),
        };
        c.env(key, "test-key").env(url, base_url);
        c.args(["-c", "approval_policy=\"full-access\"", "-c", "network.max_retry_delay_ms=20"]);
        c.args(["-c", "network.stream_idle_timeout_ms=400"]);
        if let Wire::Responses = self {
            c.args(["-c", "providers.openai.wire_api=\"responses\""]);
        }
        c
    }

    /// A call of the shell tool this wire's model is offered (Claude
    /// models get Claude Code's tool names).
    fn shell(self, cmd: &str) -> Step {
        match self {
            Wire::Anthropic => Step::call("Bash", json!({ "command": cmd })),
            _ => Step::call("exec_command", json!({ "cmd": cmd })),
        }
    }

    /// The same call with arguments cut off mid-JSON.
    fn broken_shell(self) -> Step {
        match self {
            Wire::Anthropic => Step::call("Bash", json!("{\"command\": \"echo ran >> cou")),
            _ => Step::call("exec_command", json!("{\"cmd\": \"echo ran >> cou")),
        }
    }

    /// How many events of a tool-call response come before the call is
    /// complete, at least one of them about the call: a drop there is a
    /// drop in the middle of a tool call.
    fn inside_a_tool_call(self) -> usize {
        match self {
            // role, the call's header, then its argument pieces.
            Wire::Chat => 2,
            // created, the item added, then argument deltas.
            Wire::Responses => 2,
            // message_start, content_block_start, then input_json deltas.
            Wire::Anthropic => 2,
            // The call comes whole; the finishing chunk follows it.
            Wire::Gemini => 1,
        }
    }
}

async fn run(wire: Wire, env: &Env, base_url: &str, args: &[&str]) -> Output {
    let mut c = wire.command(env, base_url);
    c.args(args);
    common::finish(c.spawn().unwrap()).await
}

/// What streamed to stderr, without tern's own notices: the text the user saw.
fn streamed(out: &Output) -> String {
    out.stderr
        .lines()
        .filter(|l| !l.starts_with("retrying") && !l.starts_with("tern ") && !l.starts_with("tokens:"))
        .filter(|l| !l.starts_with("error") && !l.contains("session"))
        .collect()
}

/// Every session log parses line by line; returns how many there are.
fn sessions_parse(env: &Env) -> usize {
    let logs = env.session_logs();
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap();
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{}: bad line {line:?}: {e}", log.display()));
        }
    }
    logs.len()
}

/// The session resumes against a healthy server, and the model sees the
/// first request in its history.
async fn resumes(wire: Wire, env: &Env, first: &str) {
    let server = MockServer::start(vec![Step::text("resumed fine")]).await.unwrap();
    let out = run(wire, env, &server.base_url(), &["exec", "resume", "--last", "go on"]).await;
    assert_eq!(out.code, 0, "{wire:?}: resume failed: {}", out.stderr);
    assert_eq!(out.stdout, "resumed fine\n", "{wire:?}");
    let request = server.requests()[0].to_string();
    assert!(request.contains(first), "{wire:?}: the resumed history lacks the first request: {request}");
}

const TEXT: &str = "The quick brown fox jumps over the lazy dog, twice over.";

/// A fault on the first response that a retry gets past: the text shows
/// once, the turn completes, the session parses.
async fn recovers(fault: Fault, notice: &str) {
    for wire in WIRES {
        let env = Env::new();
        let server = MockServer::start(vec![
            Step::text(TEXT).with_chunk_chars(5).with_fault(fault.clone()),
            Step::text(TEXT).with_chunk_chars(7),
        ])
        .await
        .unwrap();
        let out = run(wire, &env, &server.base_url(), &["exec", "hello"]).await;
        assert_eq!(out.code, 0, "{wire:?} {fault:?}: {}", out.stderr);
        assert_eq!(out.stdout, format!("{TEXT}\n"), "{wire:?} {fault:?}");
        assert_eq!(streamed(&out), TEXT, "{wire:?} {fault:?}: text shown twice or lost: {}", out.stderr);
        assert!(out.stderr.contains(notice), "{wire:?} {fault:?}: no `{notice}` in {}", out.stderr);
        assert_eq!(server.requests().len(), 2, "{wire:?} {fault:?}");
        assert_eq!(sessions_parse(&env), 1, "{wire:?}");
    }
}

/// A fault that ends the turn: a clear message, the request not repeated
/// more than `requests` times, and the session kept and resumable.
async fn fails(steps: impl Fn() -> Vec<Step>, requests: usize, messages: &[&str]) {
    for wire in WIRES {
        let env = Env::new();
        let server = MockServer::start(steps()).await.unwrap();
        let out = run(wire, &env, &server.base_url(), &["-c", "network.request_max_retries=2", "exec", "hello"]).await;
        assert_eq!(out.code, 1, "{wire:?}: {}", out.stderr);
        for m in messages {
            assert!(out.stderr.contains(m), "{wire:?}: no `{m}` in {}", out.stderr);
        }
        assert_eq!(server.requests().len(), requests, "{wire:?}: {}", out.stderr);
        assert_eq!(sessions_parse(&env), 1, "{wire:?}");
        resumes(wire, &env, "hello").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused() {
    for wire in WIRES {
        let env = Env::new();
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/v1");
        let out = run(wire, &env, &url, &["-c", "network.request_max_retries=2", "exec", "hello"]).await;
        assert_eq!(out.code, 1, "{wire:?}: {}", out.stderr);
        assert!(out.stderr.contains("cannot reach"), "{wire:?}: {}", out.stderr);
        assert!(out.stderr.contains("check that the server is running"), "{wire:?}: {}", out.stderr);
        assert!(out.stderr.contains("retrying"), "{wire:?}: a refused connection is retried: {}", out.stderr);
        assert_eq!(sessions_parse(&env), 1, "{wire:?}");
        resumes(wire, &env, "hello").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_with_retry_after() {
    recovers(
        Fault::Status { status: 429, body: Some("slow down".into()), retry_after: Some("0.1".into()) },
        "HTTP 429",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors() {
    for status in [500, 502, 503, 529] {
        recovers(
            Fault::Status { status, body: Some(format!("error {status}")), retry_after: None },
            &status.to_string(),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_that_persist_end_with_a_message() {
    fails(|| vec![Step::status(503, "busy"); 3], 3, &["HTTP 503", "busy"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_mid_text() {
    recovers(Fault::DropAfter { events: 3 }, "broke").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_event() {
    recovers(Fault::MalformedAfter { events: 2 }, "unreadable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_past_the_idle_timeout() {
    recovers(Fault::StallAfter { events: 2 }, "stalled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_event_inside_the_stream() {
    recovers(Fault::ErrorEventAfter { events: 2 }, "retrying").await;
}

/// A drop after a tool call started: the partial call never runs; the
/// retried response's call runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_inside_a_tool_call() {
    for wire in WIRES {
        let env = Env::new();
        let call = "echo ran >> count.txt";
        let server = MockServer::start(vec![
            wire.shell(call).with_chunk_chars(4).with_fault(Fault::DropAfter { events: wire.inside_a_tool_call() }),
            wire.shell(call),
            Step::text("done"),
        ])
        .await
        .unwrap();
        let out = run(wire, &env, &server.base_url(), &["exec", "count"]).await;
        assert_eq!(out.code, 0, "{wire:?}: {}", out.stderr);
        assert_eq!(out.stdout, "done\n", "{wire:?}");
        assert!(out.stderr.contains("broke"), "{wire:?}: {}", out.stderr);
        assert_eq!(std::fs::read_to_string(env.work().join("count.txt")).unwrap(), "ran\n", "{wire:?}: ran twice?");
        assert_eq!(sessions_parse(&env), 1, "{wire:?}");
    }
}

/// Tool arguments cut off mid-JSON (the stream itself is fine): the model
/// is told, nothing runs, and the turn goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_tool_arguments() {
    for wire in WIRES {
        let env = Env::new();
        let server = MockServer::start(vec![wire.broken_shell(), Step::text("sorry, fixed")]).await.unwrap();
        let out = run(wire, &env, &server.base_url(), &["exec", "count"]).await;
        assert_eq!(out.code, 0, "{wire:?}: {}", out.stderr);
        assert_eq!(out.stdout, "sorry, fixed\n", "{wire:?}");
        assert!(!env.work().join("count.txt").exists(), "{wire:?}: a broken call ran");
        let told = server.requests()[1].to_string();
        assert!(
            told.contains("not valid JSON") || told.contains("invalid arguments"),
            "{wire:?}: the model was not told its arguments were broken: {told}"
        );
        assert_eq!(sessions_parse(&env), 1, "{wire:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_instead_of_a_stream() {
    fails(
        || vec![Step::default().with_fault(Fault::Html), Step::text("never")],
        1,
        &["text/html", "instead of an event stream", "Please sign in", "check base_url"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_over_100_mb() {
    fails(
        || vec![Step::default().with_fault(Fault::Oversize { bytes: 100 << 20 }), Step::text("never")],
        1,
        &["passed 64 MB", "check base_url"],
    )
    .await;
}
