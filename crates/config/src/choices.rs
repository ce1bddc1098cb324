//! The models a session could switch to, for `/model`'s picker.

use crate::catalog::lookup;
use crate::file::ConfigFile;
use crate::{Choice, ProviderSummary, WireApi, paths};
use std::path::Path;

/// Every usable (provider, model) pair: for each provider whose key is set
/// (or that needs none and names a model), its own model and the catalog
/// entries it serves; for the local provider, also every GGUF in
/// `models_dir`. The chosen pair comes first; local models not yet fetched
/// are listed with why.
pub(crate) fn list(
    merged: &ConfigFile,
    providers: &[ProviderSummary],
    chosen: Option<&(String, String)>,
    models_dir: &Path,
) -> Vec<Choice> {
    let mut out: Vec<Choice> = Vec::new();
    let mut add = |provider: &str, model: &str, local: bool| {
        if out.iter().any(|c| c.provider == provider && c.model == model) {
            return;
        }
        let mut info = lookup(&merged.models, model);
        if local && info.entry.is_none() {
            info.tools = crate::ToolProfile::Small;
            info.price = Some([0.0; 3]);
        }
        let path = paths::local_model(model, Path::new("."), models_dir);
        #[allow(clippy::disallowed_methods)] // config is read off the runtime (spawn_blocking)
        let missing =
            (local && std::fs::metadata(&path).is_err()).then(|| match model.strip_prefix("qwen2.5-coder-") {
                // The sizes scripts/fetch-model knows.
                Some(size @ ("0.5b" | "1.5b")) => format!("not installed: scripts/fetch-model {size}"),
                _ => format!("not installed: no {}", path.display()),
            });
        out.push(Choice { provider: provider.into(), model: model.into(), info, missing });
    };
    if let Some((provider, model)) = chosen {
        let local = providers.iter().any(|p| &p.name == provider && p.wire_api == WireApi::Local);
        add(provider, model, local);
    }
    for p in providers {
        let local = p.wire_api == WireApi::Local;
        let usable = match &p.key {
            Some((_, set)) => *set,
            None => local || p.model.is_some(),
        };
        if !usable {
            continue;
        }
        if let Some(m) = &p.model {
            add(&p.name, m, local);
        }
        for (name, m) in &merged.models {
            if m.provider.as_deref() == Some(p.name.as_str()) {
                add(&p.name, name, local);
            }
        }
        if local {
            for name in gguf_names(models_dir) {
                add(&p.name, &name, true);
            }
        }
    }
    out
}

/// The GGUF files in `dir`, by name without the extension, sorted.
#[allow(clippy::disallowed_methods)] // config is read off the runtime (spawn_blocking)
fn gguf_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten().filter_map(|e| e.file_name().to_str()?.strip_suffix(".gguf").map(str::to_string)).collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::unwrap_used)] // tests may block
mod tests {
    use crate::{Inventory, LoadOptions};

    #[test]
    fn usable_providers_and_installed_models() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("data/models");
        std::fs::create_dir_all(&models).unwrap();
        std::fs::write(models.join("qwen2.5-coder-0.5b.gguf"), "GGUF").unwrap();
        std::fs::write(models.join("my-finetune.gguf"), "GGUF").unwrap();
        let cwd = dir.path().join("work");
        std::fs::create_dir_all(cwd.join(".tern")).unwrap();
        std::fs::write(cwd.join(".tern/config.toml"), "[providers.ollama]\nmodel = \"qwen2.5-coder:7b\"\n").unwrap();
        let data = dir.path().join("data").display().to_string();
        let env = |k: &str| match k {
            "TERN_HOME" => Some(data.clone()),
            "ANTHROPIC_API_KEY" => Some("k".to_string()),
            "HOME" => Some(dir.path().display().to_string()),
            _ => None,
        };
        let opts = LoadOptions { cwd: cwd.clone(), overrides: vec![], model: None, provider: None };
        let inv = Inventory::load_with_env(&opts, &env).unwrap();
        let pairs: Vec<(&str, &str, bool)> =
            inv.choices.iter().map(|c| (c.provider.as_str(), c.model.as_str(), c.missing.is_none())).collect();
        // An Anthropic key is set, so Anthropic is chosen and first.
        assert_eq!(pairs[0], ("anthropic", "claude-sonnet-4-5", true), "{pairs:?}");
        assert!(pairs.contains(&("anthropic", "claude-haiku-4-5", true)), "{pairs:?}");
        assert!(pairs.contains(&("ollama", "qwen2.5-coder:7b", true)), "{pairs:?}");
        assert!(pairs.contains(&("local", "qwen2.5-coder-0.5b", true)), "{pairs:?}");
        assert!(pairs.contains(&("local", "qwen2.5-coder-1.5b", false)), "{pairs:?}");
        let missing = inv.choices.iter().find(|c| c.model == "qwen2.5-coder-1.5b").unwrap().missing.clone();
        assert_eq!(missing.as_deref(), Some("not installed: scripts/fetch-model 1.5b"));
        assert!(pairs.contains(&("local", "my-finetune", true)), "{pairs:?}");
        let finetune = inv.choices.iter().find(|c| c.model == "my-finetune").unwrap();
        assert_eq!(finetune.info.tools, crate::ToolProfile::Small);
        // No OpenAI or Gemini key: none of their models.
        assert!(!pairs.iter().any(|(p, _, _)| *p == "openai" || *p == "gemini"), "{pairs:?}");
        // Keyless servers without a model (lmstudio, vllm…) are left out.
        assert!(!pairs.iter().any(|(p, _, _)| *p == "lmstudio"), "{pairs:?}");
    }
}
