//! The model catalog: what tern knows about a model (context window,
//! output limit, prices, which tool vocabulary suits it), as data. The
//! built-in entries (`catalog.toml`) are the lowest config layer; users
//! add or override `[models."NAME"]`.

use crate::file::{ModelFile, ToolProfile};
use std::collections::BTreeMap;

pub(crate) const BUILTIN: &str = include_str!("catalog.toml");

/// Defaults for a model the catalog does not know.
const DEFAULT_CONTEXT: u64 = 128_000;
const DEFAULT_OUTPUT: u64 = 16_384;

/// What tern knows about one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The catalog entry it matched, if any.
    pub entry: Option<String>,
    pub context_window: u64,
    pub max_output: u64,
    /// USD per million tokens: input, cached input, output.
    pub price: Option<[f64; 3]>,
    /// Tool vocabulary that suits the family.
    pub tools: ToolProfile,
    /// The provider that serves it, when the catalog says.
    pub provider: Option<String>,
    /// It takes images as input.
    pub images: bool,
    /// When a conversation is compacted, if the catalog says.
    pub compact_at: Option<crate::file::CompactAt>,
}

impl ModelInfo {
    /// The cost in USD of these token counts, when prices are known.
    pub fn cost(&self, input: u64, cached: u64, output: u64) -> Option<f64> {
        let [p_in, p_cached, p_out] = self.price?;
        let fresh = input.saturating_sub(cached) as f64;
        Some((fresh * p_in + cached as f64 * p_cached + output as f64 * p_out) / 1_000_000.0)
    }
}

/// Looks `model` up: exact name, else the longest entry it starts with,
/// ignoring a `vendor/` prefix. Unknown models get defaults.
pub(crate) fn lookup(models: &BTreeMap<String, ModelFile>, model: &str) -> ModelInfo {
    let bare = model.rsplit('/').next().unwrap_or(model);
    let found = models
        .get_key_value(model)
        .or_else(|| models.get_key_value(bare))
        .or_else(|| models.iter().filter(|(k, _)| bare.starts_with(k.as_str())).max_by_key(|(k, _)| k.len()));
    match found {
        Some((name, m)) => ModelInfo {
            entry: Some(name.clone()),
            context_window: m.context_window.unwrap_or(DEFAULT_CONTEXT),
            max_output: m.max_output.unwrap_or(DEFAULT_OUTPUT),
            price: m.price,
            tools: m.tools.unwrap_or_default(),
            provider: m.provider.clone(),
            images: m.images.unwrap_or(false),
            compact_at: m.compact_at,
        },
        None => ModelInfo {
            entry: None,
            context_window: DEFAULT_CONTEXT,
            max_output: DEFAULT_OUTPUT,
            price: None,
            tools: ToolProfile::Codex,
            provider: None,
            images: false,
            compact_at: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> BTreeMap<String, ModelFile> {
        let f: crate::ConfigFile = toml::from_str(BUILTIN).unwrap_or_default();
        f.models
    }

    #[test]
    fn matching_and_cost() {
        let c = catalog();
        assert_eq!(lookup(&c, "gpt-5.1").entry.as_deref(), Some("gpt-5.1"));
        assert_eq!(lookup(&c, "gpt-5.1-codex-max").entry.as_deref(), Some("gpt-5.1-codex"));
        assert_eq!(lookup(&c, "openai/gpt-5.1-2025-11-13").entry.as_deref(), Some("gpt-5.1"));
        let unknown = lookup(&c, "my-finetune");
        assert_eq!(unknown.entry, None);
        assert_eq!(unknown.price, None);
        let sonnet = lookup(&c, "claude-sonnet-4-5");
        assert_eq!(sonnet.tools, ToolProfile::Claude);
        assert!(sonnet.images && !unknown.images && !lookup(&c, "qwen2.5-coder-1.5b").images);
        // 1M fresh input at $3, 1M cached at $0.30, 1M output at $15.
        let cost = sonnet.cost(2_000_000, 1_000_000, 1_000_000).unwrap();
        assert!((cost - 18.3).abs() < 1e-9, "{cost}");
    }
}
