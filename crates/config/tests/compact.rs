//! `compact_at`: a fraction of the window or a token count, per model in
//! the catalog, and the local model's window as allocated.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use tern_config::{Config, ConfigError, LoadOptions};

fn load(file: &str, overrides: &[&str]) -> Result<Config, ConfigError> {
    let tmp = tempfile::tempdir().unwrap();
    let (home, repo) = (tmp.path().join("home"), tmp.path().join("repo"));
    std::fs::create_dir_all(home.join(".config/tern")).unwrap();
    std::fs::create_dir_all(repo.join(".tern")).unwrap();
    std::fs::write(repo.join(".tern/config.toml"), file).unwrap();
    let home = home.display().to_string();
    let env = move |k: &str| match k {
        "HOME" => Some(home.clone()),
        "OPENAI_API_KEY" => Some("k".into()),
        _ => None,
    };
    let overrides = overrides.iter().map(|s| s.to_string()).collect();
    Config::load_with_env(&LoadOptions { cwd: repo, overrides, ..Default::default() }, &env)
}

#[test]
fn compact_at_defaults_to_85_percent_and_takes_fractions_tokens_and_catalog_values() {
    let c = load("model = \"my-model\"\n[models.\"my-model\"]\ncontext_window = 100000\n", &[]).unwrap();
    assert_eq!(c.compact_at, 85_000);
    let c =
        load("model = \"my-model\"\ncompact_at = 0.5\n[models.\"my-model\"]\ncontext_window = 100000\n", &[]).unwrap();
    assert_eq!(c.compact_at, 50_000);
    let c = load("model = \"my-model\"\n[models.\"my-model\"]\ncontext_window = 100000\ncompact_at = 30000\n", &[])
        .unwrap();
    assert_eq!(c.compact_at, 30_000, "the model's own value");
    // The top-level setting wins over the model's, and a count is capped at the window.
    let c = load(
        "model = \"my-model\"\ncompact_at = 200000\n[models.\"my-model\"]\ncontext_window = 100000\ncompact_at = 0.5\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.compact_at, 100_000);
    let c = load("model = \"my-model\"\n", &["compact_at=0.9", "models.my-model.context_window=10000"]).unwrap();
    assert_eq!(c.compact_at, 9_000);
}

#[test]
fn the_local_models_window_is_what_tern_allocates() {
    let c = load("provider = \"local\"\n[local]\ncontext_tokens = 8192\n", &[]).unwrap();
    assert_eq!(c.model_info.context_window, 8192);
    assert_eq!(c.compact_at, 6963);
}

#[test]
fn bad_compact_at_values_say_what_to_write() {
    for (text, expected) in [
        ("compact_at = 1.5\n", "between 0.1 and 1.0"),
        ("compact_at = 10\n", "at least 1000"),
        ("[models.\"m\"]\ncompact_at = 0.01\n", "between 0.1 and 1.0"),
    ] {
        let e = load(text, &[]).unwrap_err().to_string();
        assert!(e.contains(".tern/config.toml:") && e.contains("compact_at") && e.contains(expected), "{text}: {e}");
    }
}
