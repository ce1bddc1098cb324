//! Configuration mistakes are exit code 2 with the file, line and key named.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_user_config_names_file_line_and_key() {
    let env = Env::new();
    let dir = env.home().join(".config/tern");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "model = \"m\"\n\n[providers.local]\nbase_url = \"http://x\"\nbase_ulr = \"typo\"\n",
    )
    .unwrap();
    let out = env.run(None, &["exec", "hi"]).await;
    assert_eq!(out.code, 2);
    let path = dir.join("config.toml").display().to_string();
    assert!(out.stderr.contains(&format!("{path}:5:")), "{}", out.stderr);
    assert!(out.stderr.contains("providers.local.base_ulr") || out.stderr.contains("base_ulr"), "{}", out.stderr);
    assert!(out.stderr.contains("unknown field"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_value_in_repo_config() {
    let env = Env::new();
    env.write(".tern/config.toml", "[network]\nrequest_max_retries = \"many\"\n");
    let out = env.run(None, &["exec", "hi"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains(".tern/config.toml:2:"), "{}", out.stderr);
    assert!(out.stderr.contains("network.request_max_retries"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syntax_error_and_bad_override_and_no_provider() {
    let env = Env::new();
    env.write(".tern/config.toml", "model = \n");
    let out = env.run(None, &["exec", "hi"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains(".tern/config.toml:1:"), "{}", out.stderr);
    std::fs::remove_file(env.work().join(".tern/config.toml")).unwrap();

    let out = env.run(None, &["exec", "-c", "exec.timeout_ms=soon", "hi"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bad -c override `exec.timeout_ms=soon`"), "{}", out.stderr);

    // Nothing configured: the local model, which this home does not have.
    let out = env.run(None, &["exec", "hi"]).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("the local model `qwen2.5-coder-1.5b` is not installed"), "{}", out.stderr);
    assert!(out.stderr.contains("scripts/fetch-model"), "{}", out.stderr);
    assert!(out.stderr.contains("OPENAI_API_KEY"), "{}", out.stderr);

    let out = env.run(None, &["exec", "--provider", "nope", "hi"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("unknown provider `nope`"), "{}", out.stderr);

    let out = env.run(None, &["exec", "--provider", "openrouter", "hi"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("$OPENROUTER_API_KEY"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_provider_is_used() {
    let env = Env::new();
    let server = tern_testkit::MockServer::start(vec![tern_testkit::Step::text("from local")]).await.unwrap();
    env.write(
        ".tern/config.toml",
        &format!(
            "provider = \"myserver\"\n[providers.myserver]\nbase_url = \"{}\"\nwire_api = \"chat\"\nmodel = \"qwen-test\"\n\
             [providers.myserver.quirks]\nstream_usage = false\nsystem_role = \"developer\"\n\
             extra_body = {{ temperature = 0.2, provider = {{ order = [\"a\"] }} }}\n",
            server.base_url()
        ),
    );
    let out = env.run(None, &["exec", "hi"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "from local\n");
    let body = &server.requests()[0];
    assert_eq!(body["model"], "qwen-test");
    // The provider's quirks shaped the request.
    assert!(body.get("stream_options").is_none(), "{body}");
    assert_eq!(body["messages"][0]["role"], "developer");
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["provider"]["order"][0], "a");
    let out = env.run(None, &["exec", "-m", "other", "hi"]).await;
    assert_eq!(out.code, 1, "script exhausted, but the model flag was sent");
    assert_eq!(server.requests()[1]["model"], "other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_help_and_usage() {
    let env = Env::new();
    let out = env.run(None, &["--version"]).await;
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, format!("tern {}\n", env!("CARGO_PKG_VERSION")));
    let out = env.run(None, &["--help"]).await;
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("exec"));
    let out = env.run(None, &["exec", "--bogus"]).await;
    assert_eq!(out.code, 2);
    let out = env.run(None, &["exec"]).await;
    assert_eq!(out.code, 2, "empty stdin, no prompt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_providers_and_catalog() {
    let env = Env::new();
    let mut c = env.command(None);
    c.env("OPENAI_API_KEY", "k").args(["models"]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("using: gpt-5.1 via openai"), "{}", out.stdout);
    assert!(
        out.stdout.contains("$OPENAI_API_KEY set") && out.stdout.contains("$ANTHROPIC_API_KEY missing"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("claude-sonnet-4-5") && out.stdout.contains("3 / 0.3 / 15"), "{}", out.stdout);
    let out = env.run(None, &["models"]).await;
    assert_eq!(out.code, 0);
    // No key anywhere: the embedded local model is what a session would use.
    assert!(out.stdout.starts_with("using: qwen2.5-coder-1.5b via local"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_is_reported_and_unknown_models_warn_once() {
    let env = Env::new();
    let server = tern_testkit::MockServer::start(vec![tern_testkit::Step::text("a"), tern_testkit::Step::text("b")])
        .await
        .unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "hi"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let done = out.json().into_iter().find(|l| l["type"] == "turn.completed").unwrap();
    let cost = done["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0, "{done}");
    assert_eq!(done["session"]["cost_usd"].as_f64().unwrap(), cost);

    let out = env.run(Some(&server), &["exec", "-m", "my-finetune", "--json", "hi"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let warnings: Vec<_> = out.json().into_iter().filter(|l| l["type"] == "error").collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0]["message"].as_str().unwrap().contains("`my-finetune` is not in tern's catalog"));
    let done = out.json().into_iter().find(|l| l["type"] == "turn.completed").unwrap();
    assert!(done["cost_usd"].is_null());
}

/// Settings with a fixed set of values are checked: a value outside it is an
/// error naming file, line and key, never a silent default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_enum_values_are_errors() {
    let env = Env::new();
    let cases = [
        ("[models.\"my-model\"]\ncontext_window = 8000\ntools = \"clade\"\n", "models.my-model.tools", "clade"),
        (
            "[providers.x]\nbase_url = \"http://x\"\n[providers.x.quirks]\nsystem_role = \"admin\"\n",
            "providers.x.quirks.system_role",
            "admin",
        ),
        (
            "[providers.x]\nbase_url = \"http://x\"\n[providers.x.quirks]\ntool_call_ids = \"alnum8\"\n",
            "providers.x.quirks.tool_call_ids",
            "alnum8",
        ),
        ("approval_policy = \"yolo\"\n", "approval_policy", "yolo"),
    ];
    for (text, key, value) in cases {
        env.write(".tern/config.toml", text);
        let out = env.run(None, &["exec", "hi"]).await;
        assert_eq!(out.code, 2, "{text}: {}", out.stderr);
        let line = text.lines().position(|l| l.contains(value)).unwrap() + 1;
        assert!(out.stderr.contains(&format!(".tern/config.toml:{line}:")), "{text}: {}", out.stderr);
        assert!(out.stderr.contains(key), "{text}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("unknown variant `{value}`")), "{text}: {}", out.stderr);
    }
}
