//! The Linux sandbox: writes outside the workspace (by path, through a
//! symlink, through /proc/self/root) and network connections are refused.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use serde_json::json;
use std::path::PathBuf;
use tern_testkit::{MockServer, Step};

/// A directory outside every writable root (the workspace and /tmp).
struct Outside(PathBuf);

impl Outside {
    fn new(name: &str) -> Outside {
        let p = PathBuf::from(format!("/var/tmp/tern-sandbox-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Outside(p)
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The two programs that confine commands: the small helper tern spawns,
/// and tern itself, which does the same when the helper is missing.
const HELPERS: [&str; 2] = [env!("CARGO_BIN_EXE_tern-sandbox"), env!("CARGO_BIN_EXE_tern")];

fn sandboxed(helper: &str, env: &Env, network: bool, script: &str) -> std::process::Output {
    let mut c = std::process::Command::new(helper);
    c.arg("__sandbox").arg("--write").arg(env.work());
    if network {
        c.arg("--network");
    }
    c.args(["--", "bash", "-c", script]).current_dir(env.work()).output().unwrap()
}

#[test]
fn escapes_are_refused() {
    for helper in HELPERS {
        escapes_are_refused_by(helper);
    }
}

fn escapes_are_refused_by(helper: &str) {
    let env = Env::new();
    let out = Outside::new("escape");
    let o = out.0.display();
    std::os::unix::fs::symlink(&out.0, env.work().join("link")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "echo ok > inside.txt; echo 1 > {o}/by-path; echo 2 > link/by-symlink; echo 3 > /proc/self/root{o}/by-proc; \
         exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"
    );
    let r = sandboxed(helper, &env, false, &script);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(std::fs::read_to_string(env.work().join("inside.txt")).unwrap(), "ok\n", "{stderr}");
    assert_eq!(std::fs::read_dir(&out.0).unwrap().count(), 0, "something was written outside: {stderr}");
    assert_eq!(stderr.matches("Permission denied").count(), 3, "{stderr}");
    assert!(stderr.contains("Operation not permitted"), "the connection was not refused: {stderr}");
    assert!(!String::from_utf8_lossy(&r.stdout).contains("connected"));

    // With network access, the same connection goes through.
    let r = sandboxed(helper, &env, true, &format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"));
    assert!(String::from_utf8_lossy(&r.stdout).contains("connected"), "{}", String::from_utf8_lossy(&r.stderr));
}

/// In `auto`, commands approved "always" still run inside the sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_commands_run_sandboxed() {
    let env = Env::new();
    let out = Outside::new("approved");
    let rules = env.data().join("approvals");
    std::fs::create_dir_all(&rules).unwrap();
    let ws = env.work().display().to_string();
    std::fs::write(
        rules.join(format!("{}.json", ws.replace('/', "%"))),
        json!({"workspace": ws, "prefixes": [["touch"], ["python3"]]}).to_string(),
    )
    .unwrap();
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "touch inside.txt"})),
        Step::call("exec_command", json!({"cmd": format!("touch {}/outside.txt", out.0.display())})),
        Step::call("exec_command", json!({"cmd": "python3 -c 'import socket; socket.socket(socket.AF_INET)'"})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let mut c = env.asking(Some(&server));
    c.args(["exec", "--json", "go"]);
    let r = common::finish(c.spawn().unwrap()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cmds = r.completed("command_execution");
    assert_eq!(cmds.len(), 3);
    assert!(cmds.iter().all(|c| c["sandboxed"] == true), "{cmds:?}");
    assert_eq!(cmds[0]["exit_code"], 0);
    assert!(env.work().join("inside.txt").exists());
    assert_ne!(cmds[1]["exit_code"], 0);
    assert!(cmds[1]["aggregated_output"].as_str().unwrap().contains("Permission denied"), "{}", cmds[1]);
    assert!(!out.0.join("outside.txt").exists());
    assert!(cmds[2]["aggregated_output"].as_str().unwrap().contains("Operation not permitted"), "{}", cmds[2]);
    assert!(!r.stderr.contains("approval needed"), "saved rules approve without asking: {}", r.stderr);
}

/// `--no-sandbox` is the explicit way out; commands then run unconfined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sandbox_opts_out() {
    let env = Env::new();
    let server =
        MockServer::start(vec![Step::call("exec_command", json!({"cmd": "ls"})), Step::text("ok")]).await.unwrap();
    let mut c = env.asking(Some(&server));
    c.args(["exec", "--no-sandbox", "--json", "go"]);
    let r = common::finish(c.spawn().unwrap()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.completed("command_execution")[0]["sandboxed"], false);
}

/// Codex's flag, Codex's meaning: `--full-auto` runs every command without
/// asking but inside the sandbox; only the loudly named
/// `--dangerously-bypass-approvals-and-sandbox` (`--yolo`) runs them
/// unconfined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_auto_is_sandboxed_and_yolo_is_not() {
    let env = Env::new();
    let out = Outside::new("full-auto");
    let script = || {
        vec![
            Step::call("exec_command", json!({"cmd": "touch inside.txt"})),
            Step::call("exec_command", json!({"cmd": format!("touch {}/outside.txt", out.0.display())})),
            Step::text("done"),
        ]
    };
    let server = MockServer::start(script()).await.unwrap();
    let mut c = env.asking(Some(&server));
    c.args(["exec", "--full-auto", "--json", "go"]);
    let r = common::finish(c.spawn().unwrap()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cmds = r.completed("command_execution");
    assert!(cmds.iter().all(|c| c["sandboxed"] == true), "{cmds:?}");
    assert!(env.work().join("inside.txt").exists(), "no approval was needed");
    assert!(!out.0.join("outside.txt").exists(), "but the sandbox held");
    assert!(!r.stderr.contains("approval needed"), "{}", r.stderr);

    for flag in ["--dangerously-bypass-approvals-and-sandbox", "--yolo"] {
        let _ = std::fs::remove_file(out.0.join("outside.txt"));
        let server = MockServer::start(script()).await.unwrap();
        let mut c = env.asking(Some(&server));
        c.args(["exec", flag, "--json", "go"]);
        let r = common::finish(c.spawn().unwrap()).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.completed("command_execution").iter().all(|c| c["sandboxed"] == false));
        assert!(out.0.join("outside.txt").exists(), "{flag} runs unconfined");
    }
}

/// tern starts the small helper installed beside it once, as the spawner
/// of every sandboxed command; with a helper that has no spawner (an
/// older one), it runs one helper per command; when the helper is
/// missing, tern stands in (`tern __sandbox`). Every way, commands are
/// confined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helper_beside_tern_confines_commands_and_tern_stands_in() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let out = Outside::new("helper");
    // A tern of its own (same filesystem as the build, so a hard link)
    // with a helper beside it that leaves a mark, then is the real one.
    let bin = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let tern = bin.path().join("tern");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_tern"), &tern).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_tern"), &tern).unwrap();
    }
    let mark = bin.path().join("helper-ran");
    let helper = bin.path().join("tern-sandbox");
    let wrapper = |serves: bool| {
        let refuse = if serves { "" } else { "[ \"$2\" = --serve ] && exit 2\n" };
        let script = format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\n{refuse}exec '{}' \"$@\"\n",
            mark.display(),
            env!("CARGO_BIN_EXE_tern-sandbox")
        );
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    };

    #[derive(Debug, PartialEq)]
    enum Helper {
        Spawner,
        PerCommand,
        Missing,
    }
    for case in [Helper::Spawner, Helper::PerCommand, Helper::Missing] {
        let _ = std::fs::remove_file(&mark);
        match case {
            Helper::Spawner => wrapper(true),
            Helper::PerCommand => wrapper(false),
            Helper::Missing => std::fs::remove_file(&helper).unwrap(),
        }
        let _ = std::fs::remove_file(env.work().join("inside.txt"));
        let server = MockServer::start(vec![
            Step::call("exec_command", json!({"cmd": "touch inside.txt"})),
            Step::call("exec_command", json!({"cmd": format!("touch {}/outside.txt", out.0.display())})),
            Step::text("done"),
        ])
        .await
        .unwrap();
        let mut c = env.asking_with(&tern, Some(&server));
        c.args(["exec", "--full-auto", "--json", "go"]);
        let r = common::finish(c.spawn().unwrap()).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let cmds = r.completed("command_execution");
        assert!(cmds.iter().all(|c| c["sandboxed"] == true), "{cmds:?}");
        assert!(env.work().join("inside.txt").exists(), "{case:?}: {cmds:?}");
        assert!(!out.0.join("outside.txt").exists(), "{case:?}: the sandbox did not hold");
        let calls = std::fs::read_to_string(&mark).unwrap_or_default();
        let calls: Vec<&str> = calls.lines().collect();
        match case {
            Helper::Spawner => assert_eq!(calls, ["__sandbox --serve"], "one spawner for both commands"),
            Helper::PerCommand => {
                assert_eq!(calls.len(), 3, "{calls:?}");
                assert_eq!(calls.iter().filter(|c| **c == "__sandbox --serve").count(), 1, "tried once: {calls:?}");
                let per_command = format!("__sandbox --write {} ", env.work().display());
                assert!(calls.iter().filter(|c| c.starts_with(&per_command)).count() == 2, "{calls:?}");
            }
            Helper::Missing => assert!(calls.is_empty()),
        }
    }
}
