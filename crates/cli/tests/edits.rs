//! Edits end to end: the real binary, the mock model, real files.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, messages};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use tern_testkit::{MockServer, Step};

fn patch(body: &str) -> serde_json::Value {
    json!({ "input": format!("*** Begin Patch\n{body}*** End Patch\n") })
}

fn bytes(env: &Env, rel: &str) -> Vec<u8> {
    std::fs::read(env.work().join(rel)).unwrap()
}

/// The results of the latest tool calls, as the model got them in request `n`.
fn results(server: &MockServer, n: usize) -> Vec<String> {
    let msgs = messages(server, n);
    let last_assistant = msgs.iter().rposition(|m| m["role"] == "assistant").unwrap();
    msgs[last_assistant + 1..].iter().map(|m| m["content"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_outside_the_hunks_are_preserved() {
    let env = Env::new();
    env.write("crlf.txt", "one\r\ntwo\r\nthree\r\n");
    env.write("bom.txt", "\u{feff}alpha\nbeta\n");
    env.write("nonl.txt", "x\ny");
    std::fs::write(env.work().join("latin1.txt"), b"caf\xe9\nline\n").unwrap();
    std::fs::set_permissions(env.work().join("crlf.txt"), std::fs::Permissions::from_mode(0o751)).unwrap();
    let server = MockServer::start(vec![
        Step::call(
            "apply_patch",
            patch("*** Update File: crlf.txt\n@@\n one\n-two\n+TWO\n+two and a half\n*** Update File: bom.txt\n@@\n-beta\n+gamma\n*** Update File: nonl.txt\n@@\n x\n-y\n+z\n"),
        ),
        Step::call("apply_patch", patch("*** Update File: latin1.txt\n@@\n-line\n+LINE\n")),
        Step::call("edit_file", json!({"path": "latin1.txt", "old_string": "line", "new_string": "LINE"})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "edit"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(bytes(&env, "crlf.txt"), b"one\r\nTWO\r\ntwo and a half\r\nthree\r\n");
    assert_eq!(std::fs::metadata(env.work().join("crlf.txt")).unwrap().permissions().mode() & 0o777, 0o751);
    assert_eq!(bytes(&env, "bom.txt"), "\u{feff}alpha\ngamma\n".as_bytes());
    assert_eq!(bytes(&env, "nonl.txt"), b"x\nz");
    assert_eq!(bytes(&env, "latin1.txt"), b"caf\xe9\nline\n", "non-UTF-8 file untouched");
    assert!(results(&server, 2)[0].contains("not valid UTF-8"), "{:?}", results(&server, 2));
    assert!(results(&server, 3)[0].contains("not valid UTF-8"));
    let changes = out.completed("file_change");
    assert_eq!(changes.len(), 1);
    let files = changes[0]["changes"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0]["kind"], "update");
    assert!(files[0]["diff"].as_str().unwrap().contains("-two\r\n+TWO\r\n"), "{}", files[0]["diff"]);
    // No temp files left behind.
    let names: Vec<_> =
        std::fs::read_dir(env.work()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.contains(".tern-")), "{names:?}");
}

/// Files a Windows or legacy editor leaves behind: every line the patch
/// does not change keeps its bytes, context lines that matched only loosely
/// included; files that are not UTF-8 text are refused and untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_files_keep_every_byte_the_edit_does_not_change() {
    let env = Env::new();
    let long = "y".repeat(300_000);
    env.write("mixed.txt", "first\r\nsecond\nthird\r\nfourth\n");
    env.write("bom_crlf_nonl.txt", "\u{feff}a\r\nb\r\nc");
    env.write("loose.py", "def f():   \n\treturn \u{201c}x\u{201d} \u{2014} 1\r\n\tpass\n");
    env.write("long.txt", &format!("{long}\nmiddle\n{long}\n"));
    let utf16: Vec<u8> =
        b"\xff\xfe".iter().copied().chain("one\ntwo\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let utf16_no_bom: Vec<u8> = "one\ntwo\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    std::fs::write(env.work().join("utf16.txt"), &utf16).unwrap();
    std::fs::write(env.work().join("utf16nobom.txt"), &utf16_no_bom).unwrap();
    let server = MockServer::start(vec![
        Step::call(
            "apply_patch",
            patch(
                "*** Update File: mixed.txt\n@@\n first\n-second\n+SECOND\n third\n\
                 *** Update File: bom_crlf_nonl.txt\n@@\n b\n-c\n+C\n*** End of File\n\
                 *** Update File: loose.py\n@@\n def f():\n     return \"x\" - 1\n-    pass\n+    return 2\n",
            ),
        ),
        Step::call("apply_patch", patch(&format!("*** Update File: long.txt\n@@\n {long}\n-middle\n+MIDDLE\n"))),
        Step::call("apply_patch", patch("*** Update File: utf16.txt\n@@\n-two\n+TWO\n")),
        Step::call("edit_file", json!({"path": "utf16nobom.txt", "old_string": "o", "new_string": "0"})),
        Step::call("edit_file", json!({"path": "mixed.txt", "old_string": "fourth", "new_string": "FOURTH"})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "edit"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(results(&server, 1)[0].starts_with("Success"), "{:?}", results(&server, 1));
    assert_eq!(bytes(&env, "mixed.txt"), b"first\r\nSECOND\nthird\r\nFOURTH\n", "each line keeps its ending");
    assert_eq!(bytes(&env, "bom_crlf_nonl.txt"), "\u{feff}a\r\nb\r\nC".as_bytes());
    assert_eq!(
        bytes(&env, "loose.py"),
        "def f():   \n\treturn \u{201c}x\u{201d} \u{2014} 1\r\n    return 2\n".as_bytes(),
        "context lines are written back as the file had them, not as the patch spelled them"
    );
    assert_eq!(bytes(&env, "long.txt"), format!("{long}\nMIDDLE\n{long}\n").as_bytes());
    assert_eq!(bytes(&env, "utf16.txt"), utf16, "UTF-16 untouched");
    assert_eq!(bytes(&env, "utf16nobom.txt"), utf16_no_bom, "UTF-16 without a BOM untouched");
    assert!(results(&server, 3)[0].contains("not valid UTF-8 text"), "{:?}", results(&server, 3));
    assert!(results(&server, 4)[0].contains("not valid UTF-8 text"), "{:?}", results(&server, 4));
    assert!(results(&server, 5)[0].starts_with("Edited mixed.txt"), "{:?}", results(&server, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_multi_file_patch_changes_nothing() {
    let env = Env::new();
    env.write("a.txt", "a\n");
    env.write("b.txt", "b\n");
    let server = MockServer::start(vec![
        Step::call(
            "apply_patch",
            patch("*** Add File: new.txt\n+new\n*** Update File: a.txt\n@@\n-a\n+A\n*** Delete File: b.txt\n*** Update File: a.txt\n@@\n-not there\n+x\n"),
        ),
        Step::text("ok"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "go"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(results(&server, 1)[0].contains("cannot find these lines in a.txt"), "{:?}", results(&server, 1));
    assert_eq!(bytes(&env, "a.txt"), b"a\n");
    assert_eq!(bytes(&env, "b.txt"), b"b\n");
    assert!(!env.work().join("new.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_are_refused() {
    let env = Env::new();
    env.write("f.txt", "one\ntwo\n");
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "f.txt"})),
        Step::call("exec_command", json!({"cmd": "sleep 0.05; echo three >> f.txt"})),
        Step::call("edit_file", json!({"path": "f.txt", "old_string": "two", "new_string": "TWO"})),
        Step::call("apply_patch", patch("*** Update File: f.txt\n@@\n-two\n+TWO\n")),
        Step::call("read_file", json!({"path": "f.txt"})),
        Step::call("edit_file", json!({"path": "f.txt", "old_string": "two", "new_string": "TWO"})),
        Step::text("ok"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "go"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(results(&server, 3)[0].contains("changed on disk since you last read it"), "{:?}", results(&server, 3));
    assert!(results(&server, 4)[0].contains("changed on disk since you last read it"));
    assert!(results(&server, 6)[0].starts_with("Edited f.txt"), "{:?}", results(&server, 6));
    assert_eq!(bytes(&env, "f.txt"), b"one\nTWO\nthree\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_and_write_file_rules() {
    let env = Env::new();
    env.write("dup.txt", "x x\n");
    env.write("keep.txt", "precious\n");
    let server = MockServer::start(vec![
        Step::call("edit_file", json!({"path": "dup.txt", "old_string": "x", "new_string": "y"}))
            .and_call("write_file", json!({"path": "keep.txt", "content": "clobbered\n"}))
            .and_call("write_file", json!({"path": "sub/new.txt", "content": "fresh\n"})),
        Step::call("edit_file", json!({"path": "dup.txt", "old_string": "x", "new_string": "y", "replace_all": true})),
        Step::text("ok"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "go"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = results(&server, 1);
    assert!(r[0].contains("occurs 2 times"), "{r:?}");
    assert!(r[1].contains("you have not read it"), "{r:?}");
    assert!(r[2].starts_with("Created sub/new.txt"), "{r:?}");
    assert_eq!(bytes(&env, "keep.txt"), b"precious\n");
    assert_eq!(bytes(&env, "sub/new.txt"), b"fresh\n");
    assert_eq!(bytes(&env, "dup.txt"), b"y y\n");
}

/// Text copied from read_file's output with its `L<n>: ` numbers still on
/// (small models do it) is written without them, and the model is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_numbers_copied_from_read_file_are_not_written() {
    let env = Env::new();
    env.write("ring.h", "#define CAP 64\nint ring_len(void);\n");
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "ring.h"})),
        Step::call("edit_file", json!({"path": "ring.h", "old_string": "L1: #define CAP 64", "new_string": "L1: #define CAP 128"})),
        Step::call(
            "write_file",
            json!({"path": "ring.h", "content": "L1: #define CAP 128\nL2: int ring_len(void);\nL3: void ring_clear(void);\n"}),
        ),
        Step::text("ok"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "go"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(results(&server, 2)[0].contains("without the L<n>: line numbers"), "{:?}", results(&server, 2));
    assert!(results(&server, 3)[0].contains("without the L<n>: line numbers"), "{:?}", results(&server, 3));
    assert_eq!(bytes(&env, "ring.h"), b"#define CAP 128\nint ring_len(void);\nvoid ring_clear(void);\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_escapes_are_refused() {
    let env = Env::new();
    let outside = env.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "secret\n").unwrap();
    std::os::unix::fs::symlink(&outside, env.work().join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), env.work().join("file-link")).unwrap();
    let server = MockServer::start(vec![
        Step::call("apply_patch", patch("*** Add File: link/evil.txt\n+x\n"))
            .and_call("write_file", json!({"path": "link/secret.txt", "content": "pwned"}))
            .and_call("edit_file", json!({"path": "file-link", "old_string": "secret", "new_string": "pwned"}))
            .and_call("apply_patch", patch("*** Add File: ../escape.txt\n+x\n")),
        Step::text("ok"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "go"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for r in results(&server, 1) {
        assert!(r.contains("outside the workspace"), "{r}");
    }
    assert_eq!(std::fs::read_to_string(outside.join("secret.txt")).unwrap(), "secret\n");
    assert!(!outside.join("evil.txt").exists());
    assert!(!env.dir.path().join("escape.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_create_modify_delete_and_move_then_diff() {
    let env = Env::new();
    env.write("mod.txt", "before\n");
    env.write("del.txt", "doomed\n");
    env.write("mv.txt", "moving\n");
    let server = MockServer::start(vec![
        Step::call(
            "apply_patch",
            patch("*** Add File: created.txt\n+hello\n*** Update File: mod.txt\n@@\n-before\n+after\n*** Delete File: del.txt\n*** Update File: mv.txt\n*** Move to: moved/mv.txt\n@@\n-moving\n+moved\n"),
        ),
        Step::text("turn one"),
        Step::call("apply_patch", patch("*** Update File: mod.txt\n@@\n-after\n+after again\n")),
        Step::text("turn two"),
    ])
    .await
    .unwrap();
    assert_eq!(env.run(Some(&server), &["exec", "one"]).await.code, 0);
    assert_eq!(env.run(Some(&server), &["exec", "resume", "--last", "two"]).await.code, 0);
    assert_eq!(bytes(&env, "mod.txt"), b"after again\n");

    // The whole session's changes, as a diff.
    let diff = env.run(None, &["diff"]).await;
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert!(
        diff.stdout.contains("--- a/mod.txt\n+++ b/mod.txt\n@@ -1 +1 @@\n-before\n+after again\n"),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout.contains("--- /dev/null\n+++ b/created.txt"), "{}", diff.stdout);
    assert!(diff.stdout.contains("--- a/del.txt\n+++ /dev/null"), "{}", diff.stdout);

    // Undo the last turn: mod.txt goes back to the first turn's result.
    let undo = env.run(None, &["undo"]).await;
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert_eq!(undo.stdout, "restored mod.txt\n");
    assert_eq!(bytes(&env, "mod.txt"), b"after\n");

    // A file changed by hand since: undo refuses, then --force.
    env.write("created.txt", "hand edit\n");
    let refused = env.run(None, &["undo"]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("changed after tern edited them") && refused.stderr.contains("created.txt"),
        "{}",
        refused.stderr
    );
    assert_eq!(bytes(&env, "mod.txt"), b"after\n", "a refused undo changes nothing");
    let forced = env.run(None, &["undo", "--force"]).await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(bytes(&env, "mod.txt"), b"before\n");
    assert_eq!(bytes(&env, "del.txt"), b"doomed\n");
    assert_eq!(bytes(&env, "mv.txt"), b"moving\n");
    assert!(!env.work().join("moved/mv.txt").exists());
    assert!(!env.work().join("created.txt").exists());
    assert_eq!(env.run(None, &["undo"]).await.code, 1, "nothing left to undo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_revert_one_file() {
    let env = Env::new();
    env.write("a.txt", "a\n");
    env.write("b.txt", "b\n");
    let server = MockServer::start(vec![
        Step::call("apply_patch", patch("*** Update File: a.txt\n@@\n-a\n+A\n*** Update File: b.txt\n@@\n-b\n+B\n")),
        Step::text("ok"),
    ])
    .await
    .unwrap();
    assert_eq!(env.run(Some(&server), &["exec", "go"]).await.code, 0);
    let r = env.run(None, &["diff", "--revert", "a.txt"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "reverted a.txt\n");
    assert_eq!(bytes(&env, "a.txt"), b"a\n");
    assert_eq!(bytes(&env, "b.txt"), b"B\n");
    let d = env.run(None, &["diff"]).await;
    assert!(!d.stdout.contains("a.txt") && d.stdout.contains("b.txt"), "{}", d.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_patch_subcommand() {
    let env = Env::new();
    env.write("x.txt", "1\n2\n");
    let mut c = env.command(None);
    c.args(["apply-patch"]).stdin(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(
            b"*** Begin Patch\n*** Update File: x.txt\n@@\n 1\n-2\n+two\n*** Add File: y.txt\n+y\n*** End Patch\n",
        )
        .await
        .unwrap();
    drop(stdin);
    let out = common::finish(child).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "Success. Updated the following files:\nM x.txt\nA y.txt\n");
    assert_eq!(bytes(&env, "x.txt"), b"1\ntwo\n");
    let bad = env.run(None, &["apply-patch", "*** Begin Patch\n*** Frobnicate File: q\n*** End Patch"]).await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("line 2") && bad.stderr.contains("No files were changed"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_roots_are_writable() {
    let env = Env::new();
    let extra = env.dir.path().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    let target = extra.canonicalize().unwrap().join("notes.txt");
    let server = MockServer::start(vec![
        Step::call("write_file", json!({"path": target.to_str().unwrap(), "content": "allowed\n"})),
        Step::text("ok"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "-c", "writable_roots=[\"../extra\"]", "go"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "allowed\n");
    let bad = env.run(Some(&server), &["exec", "-c", "writable_roots=[\"../missing\"]", "go"]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("listed in writable_roots"), "{}", bad.stderr);
}
