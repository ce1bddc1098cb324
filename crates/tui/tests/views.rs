//! Snapshots of the main views, drawn on ratatui's TestBackend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tern_protocol::{
    ApprovalRequest, CommandOutcome, Event, FileChange, FileChangeKind, SessionInfo, ToolCallBegin, ToolCallEnd,
    ToolKind, TurnSummary, Usage,
};
use tern_tui::app::App;
use tern_tui::view;

fn new_app() -> App {
    let mut app = App::new(32_768, tern_protocol::ApprovalPolicy::Auto, true);
    app.event(Event::SessionConfigured(SessionInfo {
        session_id: "019a-test".into(),
        model: "gpt-test".into(),
        provider: "openai".into(),
        cwd: "/work".into(),
        log_path: "/data/sessions/019a-test.jsonl".into(),
        resumed: false,
        notice: None,
    }));
    app
}

fn draw(app: &mut App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| {
        view::draw(f, app);
    })
    .unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut row = String::new();
        let mut skip = 0;
        for x in 0..w {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
            row.push_str(sym);
        }
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

fn key(app: &mut App, code: KeyCode) {
    app.key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn type_text(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn a_turn(app: &mut App) {
    type_text(app, "fix the failing test");
    key(app, KeyCode::Enter);
    app.event(Event::TurnStarted { turn_id: "t1".into() });
    app.event(Event::AgentMessageDelta { item_id: "m1".into(), delta: "Let me run the **tests** first.".into() });
    app.event(Event::ToolCallBegin(ToolCallBegin {
        item_id: "i1".into(),
        call_id: "c1".into(),
        tool: "exec_command".into(),
        kind: ToolKind::Execute,
        arguments: "{}".into(),
        command: Some("cargo test".into()),
        cwd: Some(".".into()),
        mcp: None,
    }));
    for i in 1..=8 {
        app.event(Event::ToolCallOutputDelta { item_id: "i1".into(), delta: format!("test case_{i} ... ok\n") });
    }
    app.event(Event::ToolCallOutputDelta {
        item_id: "i1".into(),
        delta: "\u{1b}[31mtest parse_日本 ... FAILED\u{1b}[0m\n".into(),
    });
    app.event(Event::ToolCallEnd(ToolCallEnd {
        item_id: "i1".into(),
        call_id: "c1".into(),
        tool: "exec_command".into(),
        kind: ToolKind::Execute,
        output: String::new(),
        success: false,
        duration_ms: 2300,
        error: None,
        command: Some(CommandOutcome {
            command: "cargo test".into(),
            cwd: ".".into(),
            exit_code: Some(101),
            sandboxed: true,
            ..Default::default()
        }),
        mcp: None,
    }));
    app.event(Event::FilesChanged {
        item_id: "i2".into(),
        changes: vec![FileChange {
            path: "src/parse.rs".into(),
            kind: FileChangeKind::Update,
            move_path: None,
            diff: "--- a/src/parse.rs\n+++ b/src/parse.rs\n@@ -1,2 +1,2 @@\n fn parse() {\n-    old()\n+    new()\n"
                .into(),
        }],
    });
    app.event(Event::AgentMessage {
        item_id: "m2".into(),
        text:
            "Fixed:\n\n- `parse` now handles **CJK** input\n- added a test\n\n```rust\nassert!(parse(\"日本\"));\n```"
                .into(),
    });
    app.event(Event::TurnCompleted(TurnSummary {
        turn_id: "t1".into(),
        last_message: String::new(),
        usage: Usage::default(),
        cost_usd: Some(0.0123),
        session_usage: Usage {
            input_tokens: 12_000,
            cached_input_tokens: 8_000,
            output_tokens: 345,
            reasoning_output_tokens: 0,
        },
        session_cost_usd: Some(0.0123),
        model_calls: 2,
        deltas: Default::default(),
        tool_calls: 1,
        context: tern_protocol::ContextUsage { used_tokens: 9_800, window: 32_768, compact_at: 27_852 },
        compactions: 0,
        lag: Default::default(),
        tools: Vec::new(),
    }));
}

#[test]
fn transcript_after_a_turn() {
    let mut app = new_app();
    a_turn(&mut app);
    insta::assert_snapshot!(draw(&mut app, 80, 34));
}

#[test]
fn tool_output_expands_with_ctrl_o() {
    let mut app = new_app();
    a_turn(&mut app);
    app.key(KeyEvent::new(KeyCode::Char('o'), KeyModifiers::CONTROL));
    insta::assert_snapshot!(draw(&mut app, 80, 40));
}

#[test]
fn approval_modal() {
    let mut app = new_app();
    type_text(&mut app, "clean up");
    key(&mut app, KeyCode::Enter);
    app.status.turn_started = None; // no clock in a snapshot
    app.event(Event::ApprovalRequest(ApprovalRequest {
        id: "a1".into(),
        call_id: "c1".into(),
        command: "rm -rf build && make".into(),
        cwd: "/work".into(),
        reason: "rm deletes files outside what tern tracks".into(),
        mcp: None,
    }));
    insta::assert_snapshot!(draw(&mut app, 80, 20));
}

#[test]
fn slash_popup_and_multiline_composer() {
    let mut app = new_app();
    type_text(&mut app, "first line");
    app.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT));
    type_text(&mut app, "second line with 日本語");
    let composer = draw(&mut app, 60, 12);
    let mut app2 = new_app();
    type_text(&mut app2, "/re");
    insta::assert_snapshot!(format!("{composer}\n{}", draw(&mut app2, 60, 12)));
}

#[test]
fn a_queued_follow_up_while_running() {
    let mut app = new_app();
    type_text(&mut app, "first task");
    key(&mut app, KeyCode::Enter);
    app.status.turn_started = None;
    type_text(&mut app, "and then this");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.queued.len(), 1);
    insta::assert_snapshot!(draw(&mut app, 60, 10));
}

#[test]
fn model_picker() {
    use tern_tui::picker::{Pick, Picker, Row};
    let mut app = new_app();
    let model = |name: &str, provider: &str, note: &str, installed: bool| Row {
        text: format!("{name:<28} {provider}"),
        note: note.into(),
        pick: installed.then(|| Pick::Model { provider: provider.into(), model: name.into() }),
    };
    app.picker = Some(Picker::new(
        "switch model (the conversation continues)",
        vec![
            model("gpt-test", "openai", "32.8k context · price unknown · current", true),
            model("gpt-5-mini", "openai", "400k context · $0.25/$2 per 1M", true),
            model("qwen2.5-coder-1.5b", "local", "16.4k context · free", true),
            model("qwen2.5-coder-0.5b", "local", "not installed: scripts/fetch-model 0.5b", false),
        ],
        "none",
    ));
    type_text(&mut app, "coder");
    key(&mut app, KeyCode::Down);
    insta::assert_snapshot!(draw(&mut app, 90, 16));
}
