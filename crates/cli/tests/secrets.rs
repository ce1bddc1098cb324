//! Secrets stay secret: with fake keys in the environment and in the
//! config, a session that runs commands (`env` among them), spools large
//! output, edits files (checkpoints) and logs at trace level leaves no key
//! in anything tern writes.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use serde_json::json;
use std::path::Path;
use tern_testkit::{MockServer, Step};

/// Fake keys, each one distinctive enough that finding it is never chance.
const ENV_KEYS: [(&str, &str); 4] = [
    ("OPENAI_API_KEY", "sk-fake-openai-4f9c1e77d2"),
    ("ANTHROPIC_API_KEY", "sk-ant-fake-0b8e3a51c6"),
    ("GEMINI_API_KEY", "AIzaFakeGemini93kd72hs"),
    ("CORP_GATEWAY_KEY", "corp-fake-gateway-5e21aa90"),
];
/// A key written in the config itself (a provider's extra header).
const CONFIG_SECRET: &str = "cfg-fake-header-8d7c66b3";

fn config(server: &MockServer, extra: &str) -> String {
    format!(
        "provider = \"corp\"\nmodel = \"corp-model\"\napproval_policy = \"full-access\"\n{extra}\n\
         [providers.corp]\nbase_url = \"{}\"\nwire_api = \"chat\"\napi_key_env = \"CORP_GATEWAY_KEY\"\n\
         headers = {{ \"X-Corp-Auth\" = \"{CONFIG_SECRET}\" }}\n",
        server.base_url()
    )
}

/// The user's config file (`~/.config/tern/config.toml`).
fn write_config(env: &Env, text: &str) {
    let dir = env.home().join(".config/tern");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

fn command(env: &Env) -> tokio::process::Command {
    let mut c = env.asking(None);
    for (k, v) in ENV_KEYS {
        c.env(k, v);
    }
    c.env("TERN_LOG", "trace").env("VISIBLE_MARKER", "plain-value-visible");
    c
}

/// Every file under `dir` (recursively) that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            found.extend(files_containing(&p, needle));
        } else if meta.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_reaches_the_session_the_spool_the_checkpoints_or_the_logs() {
    let env = Env::new();
    env.write("notes.txt", "one\ntwo\n");
    let server = MockServer::start(vec![
        // A failed attempt first: the retry and its error are logged.
        Step::status(503, "overloaded"),
        Step::call("exec_command", json!({"cmd": "env; printenv CORP_GATEWAY_KEY OPENAI_API_KEY; echo printed"}))
            .and_call("exec_command", json!({"cmd": "seq 1 40000"}))
            .and_call("read_file", json!({"path": "notes.txt"})),
        Step::call(
            "apply_patch",
            json!({"input": "*** Begin Patch\n*** Update File: notes.txt\n@@\n-two\n+TWO\n*** End Patch\n"}),
        )
        .and_call("write_file", json!({"path": "new.txt", "content": "fresh\n"})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    write_config(&env, &config(&server, ""));
    let mut c = command(&env);
    c.args(["exec", "--json", "look around"]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    // The keys were in use: tern sent them to the provider.
    let headers = &server.headers()[1];
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(header("authorization").as_deref(), Some("Bearer corp-fake-gateway-5e21aa90"));
    assert_eq!(header("x-corp-auth").as_deref(), Some(CONFIG_SECRET));

    // The commands ran and their output was recorded (so the scan below
    // looks at real output), but without tern's keys in their environment.
    let commands = out.completed("command_execution");
    let env_output = commands[0]["aggregated_output"].as_str().unwrap();
    assert!(env_output.contains("VISIBLE_MARKER=plain-value-visible"), "{env_output}");
    assert!(env_output.ends_with("printed\n"), "{env_output}");
    assert!(commands[1]["output_file"].is_string(), "the long output was spooled: {}", commands[1]);
    assert!(std::fs::read_to_string(env.work().join("notes.txt")).unwrap().contains("TWO"));
    assert!(files_containing(&env.data(), "plain-value-visible").iter().any(|f| f.contains("sessions")));
    assert!(std::fs::read_dir(env.data().join("logs")).unwrap().count() > 0, "trace logging wrote a log");

    let mut secrets: Vec<&str> = ENV_KEYS.iter().map(|(_, v)| *v).collect();
    secrets.push(CONFIG_SECRET);
    for secret in secrets {
        for dir in [env.data(), env.home(), env.work()] {
            let found: Vec<String> =
                files_containing(&dir, secret).into_iter().filter(|f| !f.ends_with("config.toml")).collect();
            assert!(found.is_empty(), "{secret} was written to {found:?}");
        }
        assert!(!out.stdout.contains(secret), "{secret} in the JSON events");
    }
}

/// `[exec] pass_api_keys = true` hands the keys to commands (for a user
/// whose scripts call the same API).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_api_keys_leaves_them_to_commands() {
    let env = Env::new();
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "printenv CORP_GATEWAY_KEY"})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    write_config(&env, &config(&server, "[exec]\npass_api_keys = true\n"));
    let mut c = command(&env);
    c.args(["exec", "--json", "print it"]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let commands = out.completed("command_execution");
    assert_eq!(commands[0]["aggregated_output"], "corp-fake-gateway-5e21aa90\n");
}

/// A sandboxed command cannot read the keys from tern's processes either:
/// tern's initial environment block (`/proc/<pid>/environ`, which the
/// kernel shows to the same user) is wiped at start, and the spawner and
/// the watchdog get no environment. The command scans every process it
/// can see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_is_readable_from_terns_processes() {
    let env = Env::new();
    // Every environment it can read, and (to show the scan reads them)
    // how many hold a variable tern passes on.
    let scan = "for f in /proc/[0-9]*/environ; do { tr '\\0' '\\n' < $f; } 2>/dev/null; done > all; \
                grep -c -e fake -e AIzaFake all; grep -q plain-value-visible all && echo scanned";
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": scan})),
        Step::call(
            "exec_command",
            json!({"cmd": "echo ${VISIBLE_MARKER:-lost}; tr '\\0' '\\n' < /proc/$PPID/environ | wc -l"}),
        ),
        Step::text("done"),
    ])
    .await
    .unwrap();
    write_config(&env, &config(&server, "").replace("\"full-access\"", "\"full-auto\""));
    let mut c = command(&env);
    c.args(["exec", "--json", "look"]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let commands = out.completed("command_execution");
    assert!(commands.iter().all(|c| c["sandboxed"] == true), "{commands:?}");
    assert_eq!(commands[0]["aggregated_output"], "0\nscanned\n", "a key was readable");
    // The variables tern passes on are still there; its spawner has none.
    assert_eq!(commands[1]["aggregated_output"], "plain-value-visible\n0\n");
}
