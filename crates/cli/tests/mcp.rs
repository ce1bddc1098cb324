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
        .find(|l| l["type"] == "mcp.server_updated" && l["state"] == "failed" && l["server"] == "broken")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(failed["error"].as_str().unwrap().contains("/nonexistent/mcp-server"), "{failed}");
    assert!(lines.iter().any(|l| l["type"] == "turn.completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_server_that_fails_fails_the_turn_clearly() {
    let env = Env::new();
    env.write(
        ".tern/config.toml",
        "[mcp_servers.needed]\ncommand = \"sh\"\nargs = [\"-c\", \"echo 'no API key for the tracker' >&2; exit 1\"]\n\
         required = true\n",
    );
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    let server = MockServer::start(vec![Step::text("never sent")]).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "hi"]).await;
    assert_ne!(out.code, 0);
    let lines = out.json();
    let failed = lines.iter().find(|l| l["type"] == "turn.failed").unwrap_or_else(|| panic!("{lines:#?}"));
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("required MCP server") && message.contains("needed"), "{message}");
    // What the server said before it died is in the message.
    assert!(message.contains("no API key for the tracker"), "{message}");
    assert!(server.requests().is_empty(), "no model call without the required server");
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamable_http_server_is_called() {
    let env = Env::new();
    let port = free_port();
    let mut http = tokio::process::Command::new(npm_bin("mcp-server-everything"))
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "server-everything did not listen");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    env.write(
        ".tern/config.toml",
        &format!("[mcp_servers.web]\nurl = \"http://127.0.0.1:{port}/mcp\"\nrequired = true\n"),
    );
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    let steps = vec![Step::call("mcp__web__get-sum", json!({"a": 20, "b": 22})), Step::text("done")];
    let server = MockServer::start(steps).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "add"]).await;
    let _ = http.kill().await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // `required` made the first model call wait for it: its tools were there.
    assert!(offered(&server, 0).contains(&"mcp__web__get-sum".to_string()));
    assert!(tool_results(&server, 1)[0].contains("42"), "{:?}", tool_results(&server, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_servers_get_their_token_and_headers() {
    let env = Env::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers every request with a 500 after keeping its head.
    let heads = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let kept = heads.clone();
    let accept = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16384];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            kept.lock().push(String::from_utf8_lossy(&buf[..n]).to_lowercase());
            let _ = sock.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n").await;
        }
    });
    env.write(
        ".tern/config.toml",
        &format!(
            "[mcp_servers.web]\nurl = \"http://127.0.0.1:{port}/mcp\"\nbearer_token_env_var = \"WEB_TOKEN\"\n\
             http_headers = {{ \"X-Team\" = \"blue\" }}\nenv_http_headers = {{ \"X-Key\" = \"WEB_KEY\" }}\n"
        ),
    );
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    let server =
        MockServer::start(vec![Step::call("exec_command", json!({"cmd": "sleep 1"})), Step::text("ok")]).await.unwrap();
    let mut c = env.command(Some(&server));
    c.env("WEB_TOKEN", "sekrit-token").env("WEB_KEY", "key-value").args(["exec", "--json", "hi"]);
    let out = common::finish(c.spawn().unwrap()).await;
    accept.abort();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let heads = heads.lock().clone();
    let first = heads.first().unwrap_or_else(|| panic!("no request reached the server: {}", out.stdout));
    assert!(first.contains("authorization: bearer sekrit-token"), "{first}");
    assert!(first.contains("x-team: blue") && first.contains("x-key: key-value"), "{first}");
    let lines = out.json();
    assert!(lines.iter().any(|l| l["type"] == "mcp.server_updated" && l["state"] == "failed"), "{lines:#?}");
    // The token appears in no event.
    assert!(!out.stdout.contains("sekrit-token") && !out.stderr.contains("sekrit-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_and_memory_servers_work_together() {
    let env = Env::new();
    env.write("notes/todo.txt", "buy milk\n");
    let memory = env.dir.path().join("memory.jsonl");
    env.write(
        ".tern/config.toml",
        &format!(
            "[mcp_servers.fs]\ncommand = {:?}\nargs = [{:?}]\nrequired = true\n\n\
             [mcp_servers.memory]\ncommand = {:?}\nenv = {{ MEMORY_FILE_PATH = {:?} }}\nrequired = true\n",
            npm_bin("mcp-server-filesystem").display().to_string(),
            env.work().display().to_string(),
            npm_bin("mcp-server-memory").display().to_string(),
            memory.display().to_string(),
        ),
    );
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    let file = env.work().join("notes/todo.txt").display().to_string();
    let steps = vec![
        Step::call("mcp__fs__read_text_file", json!({"path": file})).and_call(
            "mcp__memory__create_entities",
            json!({"entities": [{"name": "milk", "entityType": "item", "observations": ["to buy"]}]}),
        ),
        Step::call("mcp__memory__read_graph", json!({})),
        Step::text("done"),
    ];
    let server = MockServer::start(steps).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "remember my todo"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let results = tool_results(&server, 1);
    assert!(results[0].contains("buy milk"), "{results:?}");
    let graph = tool_results(&server, 2);
    assert!(graph.last().unwrap().contains("milk"), "{graph:?}");
    assert!(std::fs::read_to_string(&memory).unwrap().contains("milk"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_tools_are_found_loaded_and_called() {
    let env = Env::new();
    everything_stdio(&env);
    let config = std::fs::read_to_string(env.work().join(".tern/config.toml")).unwrap();
    env.write(".tern/config.toml", &format!("[mcp]\nschema_budget_tokens = 0\n\n{config}required = true\n"));
    let steps = vec![
        Step::call("tool_search", json!({"query": "echo back a message"})),
        Step::call("mcp__everything__echo", json!({"message": "lazy hello"})),
        // Called by name from the index without a search: loaded by the call.
        Step::call("mcp__everything__get-sum", json!({"a": 1, "b": 2})),
        Step::text("done"),
    ];
    let server = MockServer::start(steps).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "echo"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let first = offered(&server, 0);
    assert!(first.contains(&"tool_search".to_string()), "{first:?}");
    assert!(!first.iter().any(|n| n.starts_with("mcp__")), "schemas were sent: {first:?}");
    let requests = server.requests();
    let tools = requests[0]["tools"].as_array().unwrap();
    let search = &tools.iter().find(|t| t["function"]["name"] == "tool_search").unwrap()["function"]["description"];
    assert!(search.as_str().unwrap().contains("mcp__everything__get-sum"), "the index names every tool: {search}");
    let loaded = tool_results(&server, 1);
    assert!(loaded[0].contains("mcp__everything__echo"), "{loaded:?}");
    let second = offered(&server, 1);
    assert!(second.contains(&"mcp__everything__echo".to_string()), "{second:?}");
    assert!(!second.contains(&"mcp__everything__get-sum".to_string()));
    assert!(tool_results(&server, 2).last().unwrap().contains("lazy hello"));
    assert!(tool_results(&server, 3).last().unwrap().contains('3'));
    assert!(offered(&server, 3).contains(&"mcp__everything__get-sum".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_reach_a_model_that_reads_them_and_only_such_a_model() {
    for (model, sees) in [("gpt-5.1", true), ("some-text-model", false)] {
        let env = Env::new();
        everything_stdio(&env);
        let config = std::fs::read_to_string(env.work().join(".tern/config.toml")).unwrap();
        env.write(".tern/config.toml", &format!("{config}required = true\n"));
        let steps = vec![Step::call("mcp__everything__get-tiny-image", json!({})), Step::text("seen")];
        let server = MockServer::start(steps).await.unwrap();
        let out = env.run(Some(&server), &["exec", "-m", model, "--json", "show me"]).await;
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        let messages = common::messages(&server, 1);
        let result = tool_results(&server, 1).join("\n");
        assert!(result.contains("[image: image/png"), "{result}");
        let image = messages.iter().find(|m| m["role"] == "user" && m["content"].is_array());
        match (sees, image) {
            (true, Some(m)) => {
                let url = m["content"][1]["image_url"]["url"].as_str().unwrap();
                assert!(url.starts_with("data:image/png;base64,iVBOR"), "{url}");
            }
            (false, None) => {}
            (_, other) => panic!("{model}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tern_mcp_manages_the_entries() {
    let env = Env::new();
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    let user_config = env.home().join(".config/tern/config.toml");
    std::fs::create_dir_all(user_config.parent().unwrap()).unwrap();
    std::fs::write(&user_config, "# my settings\nmodel = \"gpt-5.1\"\n").unwrap();
    let run = |args: &'static [&'static str]| env.run(None, args);
    let out = run(&["mcp", "add", "docs", "--env", "LEVEL=warn", "--", "npx", "-y", "server-filesystem", "."]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(&["mcp", "add", "web", "--url", "http://127.0.0.1:9/mcp", "--bearer-token-env-var", "TOK"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&user_config).unwrap();
    assert!(text.starts_with("# my settings\nmodel = \"gpt-5.1\"\n"), "comments and keys kept: {text}");
    assert!(
        text.contains("[mcp_servers.docs]\ncommand = \"npx\"\nargs = [\"-y\", \"server-filesystem\", \".\"]"),
        "{text}"
    );
    let out = run(&["mcp", "add", "docs", "--", "x"]).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("already has [mcp_servers.docs]"), "{}", out.stderr);

    env.write(".mcp.json", r#"{"mcpServers": {"mem": {"command": "npx", "args": ["-y", "server-memory"]}}}"#);
    let out = run(&["mcp", "list"]).await;
    assert!(out.stdout.contains("docs (stdio) npx -y server-filesystem ."), "{}", out.stdout);
    assert!(out.stdout.contains("web (http) http://127.0.0.1:9/mcp"), "{}", out.stdout);
    assert!(out.stdout.contains("mem (stdio)") && out.stdout.contains("tern mcp approve mem"), "{}", out.stdout);
    let out = run(&["mcp", "get", "docs"]).await;
    let docs: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(docs["env"], json!(["LEVEL"]), "names only, never values");
    let out = run(&["mcp", "approve", "mem"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(&["mcp", "list", "--json"]).await;
    let all: Value = serde_json::from_str(&out.stdout).unwrap();
    let mem = all.as_array().unwrap().iter().find(|s| s["name"] == "mem").unwrap();
    assert_eq!(mem["not_started_because"], Value::Null);
    let out = run(&["mcp", "remove", "docs"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!std::fs::read_to_string(&user_config).unwrap().contains("docs"));
    let out = run(&["mcp", "remove", "docs"]).await;
    assert_ne!(out.code, 0);
}
