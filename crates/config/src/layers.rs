//! Loading, validating and merging the configuration layers.

use crate::{ConfigError, ConfigFile, paths};
use std::path::Path;
use toml::{Table, Value};

const BUILTIN: &str = include_str!("builtin.toml");

#[derive(Debug)]
struct Layer {
    name: String,
    table: Table,
    /// Whether this layer came from a file the user wrote.
    from_file: bool,
}

/// The layers in precedence order, lowest first.
pub(crate) struct Stack {
    layers: Vec<Layer>,
}

impl Stack {
    pub(crate) fn load(
        config_dir: &Path,
        cwd: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &[String],
    ) -> Result<Stack, ConfigError> {
        let mut layers = vec![
            parse_text("<built-in providers>", BUILTIN, false)?,
            parse_text("<built-in model catalog>", crate::catalog::BUILTIN, false)?,
        ];
        let user = config_dir.join("config.toml");
        let repo = paths::repo_root(cwd).unwrap_or_else(|| cwd.to_path_buf());
        let project = repo.join(".tern").join("config.toml");
        for path in [user, project] {
            if let Some(text) = read_optional(&path)? {
                layers.push(parse_text(&path.display().to_string(), &text, true)?);
            }
        }
        layers.push(env_layer(env)?);
        for arg in overrides {
            layers.push(override_layer(arg)?);
        }
        Ok(Stack { layers })
    }

    /// The merged configuration.
    pub(crate) fn merged(&self) -> Result<ConfigFile, ConfigError> {
        let mut merged = Table::new();
        for layer in &self.layers {
            merge(&mut merged, &layer.table);
        }
        // Each layer was validated alone, so a failure here is a conflict
        // between layers (rare); report it against the merged result.
        Value::Table(merged).try_into().map_err(|e: toml::de::Error| ConfigError::Invalid {
            source_name: "<merged configuration>".into(),
            line: 0,
            column: 0,
            key: None,
            key_part: String::new(),
            message: e.message().to_string(),
        })
    }

    /// The files that set the table at `path`, highest precedence first.
    pub(crate) fn origin_of(&self, path: &[&str]) -> String {
        let has = |t: &Table| {
            let mut v: Option<&Value> = None;
            let mut table = Some(t);
            for key in path {
                v = table.and_then(|t| t.get(*key));
                table = v.and_then(Value::as_table);
            }
            v.is_some()
        };
        let names: Vec<_> = self.layers.iter().rev().filter(|l| has(&l.table)).map(|l| l.name.as_str()).collect();
        if names.is_empty() { "configuration".into() } else { names.join(" and ") }
    }

    /// Every file's hooks, lowest precedence first (they add up rather
    /// than replace each other).
    pub(crate) fn hooks(&self, loaded: &mut crate::hooks::Loaded) -> Result<(), ConfigError> {
        for layer in &self.layers {
            let Some(table) = layer.table.get("hooks") else { continue };
            // Validated with the layer, so this only fails on a conflict.
            let groups = table.clone().try_into().map_err(|e: toml::de::Error| ConfigError::Hook {
                origin: layer.name.clone(),
                message: e.message().to_string(),
            })?;
            loaded.add_toml(groups, &layer.name)?;
        }
        Ok(())
    }

    pub(crate) fn sources(&self) -> Vec<String> {
        self.layers.iter().filter(|l| l.from_file).map(|l| l.name.clone()).collect()
    }
}

#[allow(clippy::disallowed_methods)] // config loading is sync; async callers use spawn_blocking
fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::Read { path: path.to_path_buf(), source: e }),
    }
}

/// Parses and validates one TOML document.
fn parse_text(name: &str, text: &str, from_file: bool) -> Result<Layer, ConfigError> {
    validate(name, text)?;
    let table: Table = toml::from_str(text).map_err(|e| ConfigError::from_toml(name, text, None, &e))?;
    Ok(Layer { name: name.into(), table, from_file })
}

fn validate(name: &str, text: &str) -> Result<(), ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::from_toml(name, text, None, &e))?;
    serde_path_to_error::deserialize::<_, ConfigFile>(de).map(drop).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::from_toml(name, text, Some(key), e.inner())
    })
}

fn env_layer(env: &dyn Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
    let mut table = Table::new();
    if let Some(m) = env("TERN_MODEL") {
        table.insert("model".into(), Value::String(m));
    }
    if let Some(p) = env("TERN_PROVIDER") {
        table.insert("provider".into(), Value::String(p));
    }
    if let Some(url) = env("OPENAI_BASE_URL") {
        set_path(&mut table, &["providers", "openai", "base_url"], Value::String(url));
    }
    if let Some(url) = env("ANTHROPIC_BASE_URL") {
        set_path(&mut table, &["providers", "anthropic", "base_url"], Value::String(url));
    }
    if let Some(url) = env("GEMINI_BASE_URL") {
        set_path(&mut table, &["providers", "gemini", "base_url"], Value::String(url));
    }
    Ok(Layer { name: "environment".into(), table, from_file: false })
}

fn override_layer(arg: &str) -> Result<Layer, ConfigError> {
    let bad = |reason: String| ConfigError::Override { arg: arg.into(), reason };
    let (key, raw) = arg.split_once('=').ok_or_else(|| bad("missing `=`".into()))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad("empty key".into()));
    }
    // A value is TOML when it parses as TOML (numbers, booleans, quoted
    // strings, arrays); anything else is taken as a bare string.
    let value = toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    let mut table = Table::new();
    set_path(&mut table, &parts, value);
    let text = toml::to_string(&table).map_err(|e| bad(e.to_string()))?;
    if let Err(ConfigError::Invalid { message, .. }) = validate(arg, &text) {
        return Err(bad(format!("key `{key}`: {message}")));
    }
    Ok(Layer { name: format!("-c {arg}"), table, from_file: false })
}

fn set_path(table: &mut Table, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut t = table;
    for p in parents {
        let entry = t.entry(p.to_string()).or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(next) = entry else { return };
        t = next;
    }
    t.insert(last.to_string(), value);
}

/// Deep-merges `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut Table, over: &Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn builtin_is_valid() {
        assert!(parse_text("builtin", BUILTIN, false).is_ok());
    }

    #[test]
    fn merge_is_deep() {
        let mut a: Table = toml::from_str("[providers.x]\nbase_url='a'\nmodel='m'").unwrap();
        let b: Table = toml::from_str("[providers.x]\nmodel='n'").unwrap();
        merge(&mut a, &b);
        let file: ConfigFile = Value::Table(a).try_into().unwrap();
        let x = &file.providers["x"];
        assert_eq!(x.base_url.as_deref(), Some("a"));
        assert_eq!(x.model.as_deref(), Some("n"));
    }

    #[test]
    fn override_values_are_typed() {
        let l = override_layer("network.request_max_retries=3").unwrap();
        assert_eq!(l.table["network"]["request_max_retries"].as_integer(), Some(3));
        let l = override_layer("model=gpt-4o-mini").unwrap();
        assert_eq!(l.table["model"].as_str(), Some("gpt-4o-mini"));
    }

    #[test]
    fn override_errors_name_the_key() {
        let e = override_layer("network.request_max_retries=lots").unwrap_err().to_string();
        assert!(e.contains("network.request_max_retries"), "{e}");
        let e = override_layer("modle=x").unwrap_err().to_string();
        assert!(e.contains("unknown field `modle`"), "{e}");
        assert!(override_layer("model").is_err());
    }
}
