//! The real model, end to end: tokenizer, a greedy answer, a tool call under
//! the grammar, KV-cache reuse and cancellation. `scripts/test` fetches the
//! model first; set `TERN_TEST_MODEL` to use another GGUF of the same family.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tern_llm::{Message, ModelClient, Request, ToolSpec};
use tern_local::{LocalClient, Settings, Vocabulary};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn model() -> PathBuf {
    if let Ok(p) = std::env::var("TERN_TEST_MODEL") {
        return PathBuf::from(p);
    }
    // Where scripts/fetch-model puts it: tern's data directory.
    let data = tern_config::paths::data_dir(&|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    let path = data.join("models/qwen2.5-coder-0.5b.gguf");
    assert!(path.exists(), "{} is missing: run scripts/fetch-model (scripts/test does)", path.display());
    path
}

#[test]
fn tokenizer_matches_the_reference_golden_ids() {
    let vocab = Vocabulary::load(&model()).unwrap();
    let golden: Vec<serde_json::Value> = serde_json::from_str(include_str!("data/tokenizer-golden.json")).unwrap();
    assert!(golden.len() >= 10);
    for case in golden {
        let text = case["text"].as_str().unwrap();
        let want: Vec<i32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as i32).collect();
        assert_eq!(vocab.encode(text), want, "ids of {text:?}");
        assert_eq!(vocab.decode(&want), text, "round trip of {text:?}");
    }
}

fn read_file_tool() -> ToolSpec {
    ToolSpec {
        name: "read_file".into(),
        description: "Read a text file in the workspace.".into(),
        parameters: serde_json::json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path relative to the workspace"},
                "offset": {"type": "integer", "minimum": 1},
            },
            "required": ["path"],
            "additionalProperties": false,
        }),
        opens: true,
    }
}

async fn ask(
    client: &LocalClient,
    messages: &[Message],
    tools: &[ToolSpec],
    cancel: &CancellationToken,
) -> (Result<tern_llm::Response, tern_llm::LlmError>, String) {
    let (tx, mut rx) = mpsc::channel(1024);
    let request = Request { model: "local", messages, tools, cache_key: "t", tools_disabled: false };
    let result = client.stream(request, &tx, cancel).await;
    drop(tx);
    let mut streamed = String::new();
    while let Ok(d) = rx.try_recv() {
        if let tern_llm::StreamDelta::Text(t) = d {
            streamed.push_str(&t);
        }
    }
    (result, streamed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_calls_tools_reuses_the_cache_and_cancels() {
    let client = LocalClient::start("test", Settings::new(model())).unwrap();
    let never = CancellationToken::new();

    // A short greedy answer, streamed.
    let mut messages = vec![
        Message::System { content: "You are a terse assistant.".into() },
        Message::User { content: "What is 2+2? Reply with the number only.".into() },
    ];
    let (r, streamed) = ask(&client, &messages, &[], &never).await;
    let r = r.unwrap();
    assert!(r.content.contains('4'), "{r:?}");
    assert_eq!(streamed, r.content);
    assert!(r.usage.input_tokens > 10 && r.usage.output_tokens >= 1, "{:?}", r.usage);

    // A tool call, valid under the grammar.
    let tools = [read_file_tool()];
    messages = vec![
        Message::System { content: "You are a coding assistant. Use tools to look at files.".into() },
        Message::User { content: "Show me what is in the file src/config.rs".into() },
    ];
    let (r, _) = ask(&client, &messages, &tools, &never).await;
    let r = r.unwrap();
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"), "{r:?}");
    let call = &r.tool_calls[0];
    assert_eq!(call.name, "read_file");
    let args: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
    assert!(args["path"].as_str().unwrap().contains("config.rs"), "{args}");
    assert!(args.as_object().unwrap().keys().all(|k| k == "path" || k == "offset"), "{args}");

    // The next request extends the conversation: its prefix comes from the cache.
    messages.push(Message::Assistant {
        content: r.content.clone(),
        reasoning: None,
        tool_calls: r.tool_calls.clone(),
        opaque: vec![],
    });
    messages.push(Message::Tool { call_id: call.id.clone(), content: "pub const PORT: u16 = 8080;".into() });
    let (r2, _) = ask(&client, &messages, &tools, &never).await;
    let r2 = r2.unwrap();
    assert!(
        r2.usage.cached_input_tokens + 8 >= r.usage.input_tokens,
        "reused {} of the earlier {} prompt tokens",
        r2.usage.cached_input_tokens,
        r.usage.input_tokens
    );
    let t = client.last_timings();
    assert!(t.reused_tokens > 0 && t.prompt_tokens > t.reused_tokens, "{t:?}");

    // Cancel mid-generation: the call returns at once and the engine is
    // free again for the next request.
    let long = vec![Message::User { content: "Write a long essay about the history of compilers.".into() }];
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(1024);
    let req = Request { model: "local", messages: &long, tools: &[], cache_key: "t", tools_disabled: false };
    let stream = client.stream(req, &tx, &cancel);
    tokio::pin!(stream);
    let cancelled_at = tokio::select! {
        _ = &mut stream => panic!("finished before it was cancelled"),
        Some(_) = rx.recv() => { cancel.cancel(); Instant::now() }
    };
    let err = tokio::time::timeout(Duration::from_secs(5), stream).await.unwrap().unwrap_err();
    assert_eq!(err.kind, tern_llm::ErrorKind::Cancelled);
    assert!(cancelled_at.elapsed() < Duration::from_secs(1));
    // A question with a short answer: an open-ended one may run to the
    // output limit under greedy decoding.
    let short = [Message::User { content: "What is 2+2? Reply with the number only.".into() }];
    let (r3, _) = tokio::time::timeout(Duration::from_secs(60), ask(&client, &short, &[], &never)).await.unwrap();
    assert!(r3.unwrap().content.contains('4'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_prompt_prefix_starts_the_next_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(model());
    settings.prefix_cache = Some(dir.path().join("prefix"));
    let tools = [read_file_tool()];
    let messages = vec![
        Message::System { content: "You are a coding assistant. Use tools to look at files.".into() },
        Message::User { content: "Show me what is in the file src/main.rs".into() },
    ];
    let never = CancellationToken::new();

    let first = LocalClient::start("test", settings.clone()).unwrap();
    let (a, _) = ask(&first, &messages, &tools, &never).await;
    let a = a.unwrap();
    assert_eq!(first.last_timings().reused_tokens, 0);
    drop(first);
    let saved: Vec<_> = std::fs::read_dir(dir.path().join("prefix")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0].extension().unwrap(), "kv");

    // A new process-like start: the system prompt and tools come from disk,
    // and the answer is the same as when they were evaluated.
    let second = LocalClient::start("test", settings.clone()).unwrap();
    let (b, _) = ask(&second, &messages, &tools, &never).await;
    let b = b.unwrap();
    let t = second.last_timings();
    assert!(t.reused_tokens > 100 && t.reused_tokens + 30 > t.prompt_tokens, "{t:?}");
    assert_eq!(a.tool_calls.len(), b.tool_calls.len());
    assert_eq!(a.tool_calls[0].name, b.tool_calls[0].name);
    assert_eq!(a.tool_calls[0].arguments, b.tool_calls[0].arguments);

    // A different system prompt misses and is saved beside the first.
    let other = vec![Message::System { content: "You are terse.".into() }, messages[1].clone()];
    let (c, _) = ask(&second, &other, &tools, &never).await;
    c.unwrap();
    assert_eq!(std::fs::read_dir(dir.path().join("prefix")).unwrap().count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_evaluates_the_prefix_before_the_first_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(model());
    settings.prefix_cache = Some(dir.path().join("prefix"));
    let tools = [read_file_tool()];
    let system = Message::System { content: "You are a coding assistant. Use tools to look at files.".into() };
    let messages = vec![system.clone(), Message::User { content: "Show me what is in the file src/main.rs".into() }];
    let never = CancellationToken::new();

    // Prepared with the system message only, as a session does at its start:
    // the first request then evaluates nothing but the user's message.
    let client = LocalClient::start("test", settings.clone()).unwrap();
    let prefix = Request {
        model: "local",
        messages: std::slice::from_ref(&system),
        tools: &tools,
        cache_key: "t",
        tools_disabled: false,
    };
    assert!(client.prepare(prefix).await.unwrap());
    assert_eq!(std::fs::read_dir(dir.path().join("prefix")).unwrap().count(), 1);
    let (a, _) = ask(&client, &messages, &tools, &never).await;
    let a = a.unwrap();
    let t = client.last_timings();
    assert!(t.reused_tokens > 100 && t.reused_tokens + 30 > t.prompt_tokens, "{t:?}");
    drop(client);

    // Another client prepares from the saved file and answers the same.
    let client = LocalClient::start("test", settings).unwrap();
    let prefix = Request { model: "local", messages: &messages, tools: &tools, cache_key: "t", tools_disabled: false };
    assert!(client.prepare(prefix).await.unwrap());
    let (b, _) = ask(&client, &messages, &tools, &never).await;
    let b = b.unwrap();
    assert!(client.last_timings().reused_tokens > 100);
    assert_eq!(a.tool_calls[0].arguments, b.tool_calls[0].arguments);
    assert_eq!(std::fs::read_dir(dir.path().join("prefix")).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafting_copies_in_batches_and_writes_what_plain_decoding_writes() {
    let code = "def total_price(items, tax):\n    total = 0\n    for item in items:\n        total += item.price * \
                item.quantity\n    total = total * (1 + tax)\n    return round(total, 2)\n";
    let messages = vec![Message::User {
        content: format!(
            "```python\n{code}```\nRename the variable `total` to `subtotal`. Reply with the whole function."
        ),
    }];
    let never = CancellationToken::new();
    let mut answers = Vec::new();
    for draft in [0, tern_local::DRAFT_TOKENS] {
        let mut settings = Settings::new(model());
        settings.max_output = 160;
        settings.draft_tokens = draft;
        let client = LocalClient::start("test", settings).unwrap();
        let (r, streamed) = ask(&client, &messages, &[], &never).await;
        let r = r.unwrap();
        assert_eq!(streamed, r.content);
        let t = client.last_timings();
        if draft == 0 {
            assert_eq!(t.drafted_tokens, 0, "{t:?}");
        } else {
            // The function is copied: a good part of it comes from drafts.
            assert!(t.accepted_tokens * 3 > t.generated_tokens, "{t:?}");
            assert!(t.drafted_tokens >= t.accepted_tokens, "{t:?}");
        }
        answers.push(r.content);
    }
    assert!(answers[0].contains("subtotal"), "{}", answers[0]);
    // Drafted tokens are kept only when the model picks them itself, and
    // the rejected ones leave the cache: the same text either way.
    assert_eq!(answers[0], answers[1]);
}

/// A turn opens with a tool that looks, even when the request is an edit
/// and an editing tool is offered: the grammar leaves the model only the
/// looking tools for its first call (the prompt still lists them all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_opens_by_looking_even_at_an_edit() {
    let client = LocalClient::start("test", Settings::new(model())).unwrap();
    let never = CancellationToken::new();
    let edit_file = ToolSpec {
        name: "edit_file".into(),
        description: "Replace old_string with new_string in a file.".into(),
        parameters: serde_json::json!({
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "old_string": {"type": "string"},
                "new_string": {"type": "string"},
            },
            "required": ["path", "old_string", "new_string"],
            "additionalProperties": false,
        }),
        opens: false,
    };
    let tools = [edit_file, read_file_tool()];
    let messages = vec![
        Message::System { content: "You are a coding assistant. Use the tools to change files.".into() },
        Message::User { content: "Edit src/config.rs: replace `PORT: u16 = 8080` with `PORT: u16 = 9090`.".into() },
    ];
    let (r, _) = ask(&client, &messages, &tools, &never).await;
    let r = r.unwrap();
    assert_eq!(r.tool_calls.len(), 1, "{r:?}");
    assert_eq!(r.tool_calls[0].name, "read_file", "{r:?}");
}
