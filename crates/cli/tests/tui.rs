//! The interactive UI end to end: the real binary in a real PTY, the mock
//! model server over loopback, the screen read by a vt100 parser.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pty::Tui;
use common::{Env, alive};
use serde_json::json;
use std::time::{Duration, Instant};
use tern_testkit::{MockServer, Step};

const CTRL_C: &[u8] = b"\x03";
const CTRL_D: &[u8] = b"\x04";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_a_prompt_streams_the_answer_and_restores_the_terminal() {
    let env = Env::new();
    let answer = "Hello from **tern**: the answer streams in small pieces until it is whole.";
    let server = MockServer::start(vec![Step::text(answer).with_chunk_chars(3).with_delay_ms(5)]).await.unwrap();
    let mut tui = Tui::start(&env, Some(&server), &[], &[]);
    tui.wait_for("ask tern to do something", 20).await;
    tui.type_text("say hello").await;
    tui.wait_for("› say hello", 5).await;
    tui.send(b"\r").await;
    let screen = tui.wait_for("until it is whole.", 20).await;
    assert!(screen.contains("• Hello from tern: the answer"), "markdown rendered:\n{screen}");
    assert_eq!(server.requests().len(), 1);
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
    assert!(tui.output().contains("tern resume"), "the session id is printed after exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_argument_starts_the_first_turn_and_ctrl_c_stops_its_command() {
    let env = Env::new();
    let server =
        MockServer::start(vec![Step::call("exec_command", json!({"cmd": "sleep 47.25", "yield_time_ms": 30000}))])
            .await
            .unwrap();
    let mut tui = Tui::start(&env, Some(&server), &["-c", "approval_policy=\"full-access\"", "run the sleeper"], &[]);
    tui.wait_for("sleep 47.25", 20).await;
    for _ in 0..200 {
        if alive("sleep 47.25") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(alive("sleep 47.25"));
    let pressed = Instant::now();
    tui.send(CTRL_C).await;
    while alive("sleep 47.25") {
        assert!(pressed.elapsed() < Duration::from_secs(5), "the command outlived ctrl+c");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let gone_after = pressed.elapsed();
    tui.wait_for("turn interrupted", 10).await;
    eprintln!("command gone {gone_after:?} after ctrl+c");
    // Idle and empty: ctrl+c twice quits.
    tui.send(CTRL_C).await;
    tui.wait_for("ctrl+c again to quit", 5).await;
    tui.send(CTRL_C).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_answered_in_the_modal() {
    let env = Env::new();
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "touch made-by-command"})),
        Step::text("made it"),
    ])
    .await
    .unwrap();
    let mut tui = Tui::start(&env, Some(&server), &["-c", "sandbox=false", "make the file"], &[]);
    let screen = tui.wait_for("run this command?", 20).await;
    assert!(screen.contains("$ touch made-by-command"), "{screen}");
    assert!(!env.work().join("made-by-command").exists());
    tui.send(b"y").await;
    tui.wait_for("made it", 20).await;
    assert!(env.work().join("made-by-command").exists());
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_completes_workspace_paths_and_leaves_ignored_ones_out() {
    let env = Env::new();
    let work = env.work();
    std::fs::create_dir_all(work.join("src/parser")).unwrap();
    std::fs::create_dir_all(work.join("target")).unwrap();
    std::fs::write(work.join(".gitignore"), "target/\n").unwrap();
    for f in ["src/main.rs", "src/parser/mod.rs", "target/main.rs", "README.md"] {
        std::fs::write(work.join(f), "fn main() {}\n").unwrap();
    }
    let server = MockServer::start(vec![Step::text("read it")]).await.unwrap();
    let mut tui = Tui::start(&env, Some(&server), &[], &[]);
    tui.wait_for("ask tern to do something", 20).await;
    tui.type_text("explain @mainrs").await;
    let screen = tui.wait_for(" @src/main.rs", 10).await;
    assert!(!screen.contains("target/main.rs"), "ignored files are not offered:\n{screen}");
    tui.send(b"\t").await;
    tui.wait_for("› explain @src/main.rs", 5).await;
    // The popup is gone once the path is chosen, and a miss offers nothing.
    tui.type_text("and @zzzq").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let screen = tui.screen();
    assert!(!screen.lines().any(|l| l.starts_with(" @")), "{screen}");
    tui.send(b"\x15").await;
    tui.type_text("look at @parsmod").await;
    tui.wait_for(" @src/parser/mod.rs", 10).await;
    tui.send(b"\r").await;
    // Enter chose the path; the next one sends.
    tui.wait_for("› look at @src/parser/mod.rs", 5).await;
    tui.send(b"\r").await;
    tui.wait_for("read it", 20).await;
    assert!(server.requests()[0].to_string().contains("look at @src/parser/mod.rs"));
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resizing_lays_the_screen_out_again() {
    let env = Env::new();
    let server = MockServer::start(vec![Step::text(
        "a reply long enough to need wrapping once the terminal gets narrow, which it will",
    )])
    .await
    .unwrap();
    let mut tui = Tui::start(&env, Some(&server), &["hello there"], &[]);
    tui.wait_for("which it will", 20).await;
    tui.resize(20, 40);
    // Redrawn for 40 columns: the reply wraps and nothing is wider.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let screen = tui.screen();
        let rows: Vec<&str> = screen.lines().collect();
        if rows.iter().all(|r| r.chars().count() <= 40) && rows.iter().any(|r| r.trim() == "it will") {
            break;
        }
        assert!(Instant::now() < deadline, "not laid out for 40 columns:\n{screen}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tui.type_text("still typing").await;
    tui.wait_for("› still typing", 5).await;
    tui.send(CTRL_D).await;
    tui.send(b"\x15").await; // ctrl+u clears, then ctrl+d quits
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_restores_the_terminal() {
    let env = Env::new();
    let server = MockServer::start(vec![]).await.unwrap();
    let mut tui = Tui::start(&env, Some(&server), &[], &[("TERN_TUI_TEST_PANIC", "1")]);
    tui.wait_for("ask tern to do something", 20).await;
    tui.send(b"x").await;
    let code = tui.wait_exit(20).await;
    assert_eq!(code, Some(101), "{}", tui.output());
    tui.assert_restored();
    assert!(tui.output().contains("forced panic"), "the panic message reaches the normal screen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_blocks_are_highlighted_and_a_resumed_session_shows_its_conversation() {
    let env = Env::new();
    let answer = "Here it is:\n\n```rust\nfn greet() -> &'static str {\n    \"hello\"\n}\n```\n\nThat is all.";
    let server = MockServer::start(vec![Step::text(answer).with_chunk_chars(7).with_delay_ms(2)]).await.unwrap();
    let mut tui = Tui::start(&env, Some(&server), &["write greet"], &[("COLORTERM", "truecolor")]);
    tui.wait_for("That is all.", 20).await;
    // The block turns from one colour to several once highlighted (off the
    // render path, so give it a moment).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fn_colours = tui.colours_of("fn greet").unwrap();
        let str_colours = tui.colours_of("\"hello\"").unwrap();
        if fn_colours[0] != str_colours[1] && matches!(fn_colours[0], vt100::Color::Rgb(..)) {
            break;
        }
        assert!(Instant::now() < deadline, "never highlighted: {fn_colours:?} {str_colours:?}\n{}", tui.screen());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();

    // A new UI on the same session shows what was said before.
    let mut tui = Tui::start(&env, Some(&server), &["resume", "--last"], &[]);
    let screen = tui.wait_for("That is all.", 20).await;
    assert!(screen.contains("› write greet"), "{screen}");
    assert!(screen.contains("fn greet() -> &'static str {"), "{screen}");
    let order = |s: &str| screen.find(s).unwrap();
    assert!(
        order("› write greet") < order("That is all.") && order("That is all.") < order("resumed session"),
        "{screen}"
    );
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_picker_switches_model_and_the_conversation_continues() {
    let env = Env::new();
    let server = MockServer::start(vec![Step::text("first answer"), Step::text("second answer")]).await.unwrap();
    let mut tui = Tui::start(&env, Some(&server), &["hello"], &[]);
    tui.wait_for("first answer", 20).await;
    tui.type_text("/model").await;
    tui.send(b"\r").await;
    // The picker's footer: the completion popup also mentions switching.
    let screen = tui.wait_for("enter pick", 10).await;
    // The OpenAI key is set: its catalog models, the current one marked;
    // the local models are offered but not installed in this home.
    assert!(screen.contains("gpt-5.1") && screen.contains("· current"), "{screen}");
    assert!(screen.contains("qwen2.5-coder-1.5b") && screen.contains("not installed"), "{screen}");
    assert!(!screen.contains("claude"), "no Anthropic key, no Claude models:\n{screen}");
    tui.type_text("mini").await;
    tui.wait_for("filter: mini", 5).await;
    tui.send(b"\r").await;
    tui.wait_for("model → gpt-5-mini via openai", 10).await;
    tui.type_text("and now?").await;
    tui.send(b"\r").await;
    tui.wait_for("second answer", 20).await;
    let second = &server.requests()[1];
    assert_eq!(second["model"], "gpt-5-mini");
    assert!(second["messages"].to_string().contains("first answer"), "the conversation continued: {second}");
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
}

/// `/diff` asks the session (an op) for what it changed; a resumed session
/// shows its commands as they ended, from the log's structured records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_is_an_op_and_resume_shows_commands_as_they_ended() {
    let env = Env::new();
    env.write("notes.txt", "old line\n");
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "echo from-the-command; exit 3"})),
        Step::call("edit_file", json!({"path": "notes.txt", "old_string": "old line", "new_string": "new line"})),
        Step::text("edited it"),
    ])
    .await
    .unwrap();
    let mut tui = Tui::start(&env, Some(&server), &["-c", "approval_policy=\"full-access\"", "change notes"], &[]);
    tui.wait_for("edited it", 20).await;
    tui.type_text("/diff").await;
    tui.send(b"\r").await;
    let screen = tui.wait_for("+new line", 10).await;
    assert!(screen.contains("-old line"), "{screen}");
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));

    let mut tui = Tui::start(&env, Some(&server), &["resume", "--last"], &[]);
    let screen = tui.wait_for("resumed session", 20).await;
    assert!(screen.contains("echo from-the-command; exit 3"), "{screen}");
    assert!(screen.contains("exit 3"), "{screen}");
    assert!(screen.contains("│ from-the-command"), "the command's own output, not the model's text:\n{screen}");
    assert!(!screen.contains("Exit code:"), "{screen}");
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
}

/// MCP in the UI: the status line counts ready servers, `/mcp` lists them,
/// and a tool that does not declare itself read-only asks first; "always"
/// is remembered for the workspace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_servers_show_their_state_and_their_tools_ask_first() {
    let env = Env::new();
    let broken = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testkit/fixtures/broken_mcp.py")
        .canonicalize()
        .unwrap();
    env.write(
        ".tern/config.toml",
        &format!(
            "[mcp_servers.quick]\ncommand = \"python3\"\nargs = [{:?}]\n\n[mcp_servers.gone]\ncommand = \"/nonexistent/server\"\n",
            broken.display().to_string()
        ),
    );
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    let server = MockServer::start(vec![
        // Declares itself read-only: runs unasked in `auto`.
        Step::call("mcp__quick__ok", json!({"text": "quietly"})),
        Step::call("mcp__quick__grow", json!({})),
        Step::text("grew it"),
        Step::call("mcp__quick__grow", json!({})),
        Step::text("grew again"),
    ])
    .await
    .unwrap();
    let mut tui = Tui::start(&env, Some(&server), &["-c", "sandbox=false"], &[]);
    tui.wait_for("mcp 1/2 !", 20).await;
    tui.type_text("/mcp").await;
    tui.send(b"\r").await;
    let screen = tui.wait_for("quick (stdio): ready, 8 tools", 10).await;
    assert!(screen.contains("gone (stdio): failed: cannot start `/nonexistent/server`"), "{screen}");
    tui.type_text("grow it").await;
    tui.send(b"\r").await;
    let screen = tui.wait_for("call this MCP tool?", 20).await;
    assert!(screen.contains("quick · grow"), "{screen}");
    tui.send(b"a").await;
    tui.wait_for("grew it", 20).await;
    // Remembered: the next call runs unasked.
    tui.type_text("again").await;
    tui.send(b"\r").await;
    tui.wait_for("grew again", 20).await;
    assert_eq!(server.requests().len(), 5);
    assert!(common::messages(&server, 1).last().unwrap()["content"].as_str().unwrap().contains("ok: quietly"));
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
    // "Always" is saved for the workspace: in the background, and by the
    // time the session has ended (read earlier, a loaded machine found no
    // file yet).
    let saved = std::fs::read_dir(env.data().join("approvals")).unwrap().next().unwrap().unwrap().path();
    assert!(std::fs::read_to_string(saved).unwrap().contains("mcp__quick__grow"));
}

/// The item numbers on screen, top to bottom (rows holding "item N:").
fn items_on(screen: &str) -> Vec<usize> {
    screen.lines().filter_map(|l| l.split("item ").nth(1)?.split(':').next()?.parse().ok()).collect()
}

/// A long answer scrolls the transcript by having the terminal scroll its
/// rows (a scroll region) and sending only the new ones: what the screen
/// shows after it, and after scrolling back and forth, is still exactly
/// the answer's lines in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_scrolls_into_place() {
    let env = Env::new();
    let words = ["amber", "basil", "cedar", "delta", "ember", "fjord", "grove", "heron", "iris", "juniper"];
    let answer: String = (0..150)
        .map(|i| format!("- item {i}: {} {} {}\n", words[i % 10], words[(i * 7) % 10], "z".repeat(i % 23)))
        .collect();
    let server = MockServer::start(vec![Step::text(&answer).with_chunk_chars(16).with_delay_ms(2)]).await.unwrap();
    let mut tui = Tui::start(&env, Some(&server), &["stream it"], &[]);
    tui.wait_for("item 149:", 30).await;
    // The turn ends (the answer's last characters, the status) meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let screen = tui.screen();
    let items = items_on(&screen);
    assert!(items.len() >= 15, "{screen}");
    assert!(items.windows(2).all(|w| w[1] == w[0] + 1), "lines out of order:\n{screen}");
    assert_eq!(items.last(), Some(&149));
    let raw = tui.output();
    assert!(raw.contains("\x1b[1;") && raw.contains("S\x1b[r"), "the terminal was never asked to scroll");

    // Back up a page (the terminal scrolls down), then follow again.
    tui.send(b"\x1b[5~").await;
    let screen = tui.wait_for("rows below", 10).await;
    let back = items_on(&screen);
    assert!(back.windows(2).all(|w| w[1] == w[0] + 1) && back[0] < items[0], "{screen}");
    tui.send(b"\x1b").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let screen = tui.screen();
    assert_eq!(items_on(&screen), items, "{screen}");
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
}
