//! Hooks: tern's `[[hooks.EVENT]]` tables, and the `hooks` of Claude Code's
//! settings files (`~/.claude/settings.json`, `.claude/settings.json`,
//! `.claude/settings.local.json`) and Codex's `hooks.json`, in their own
//! format, so a hook written for either runs unchanged.
//!
//! Every source adds its hooks (none replaces another's); identical
//! commands for one event and matcher run once.

use crate::ConfigError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tern_protocol::HookEvent;

/// Claude Code's default for a command hook.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// One hook command, from whichever file configured it.
#[derive(Debug, Clone, PartialEq)]
pub struct HookConfig {
    pub event: HookEvent,
    /// A regex matched against the whole tool name (tool events) or the
    /// event's own field (SessionStart's source, PreCompact's trigger,
    /// Notification's type); `None` matches everything.
    pub matcher: Option<String>,
    /// Run with `bash -c` in the workspace.
    pub command: String,
    pub timeout: Duration,
    /// A hook that crashes, times out or answers garbage blocks the action
    /// (Claude Code lets it through).
    pub fail_closed: bool,
    /// The file it came from.
    pub source: String,
}

/// `[[hooks.EVENT]]` in tern's TOML: a matcher and either one `command`
/// or Claude Code's `hooks` list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookGroupFile {
    pub matcher: Option<String>,
    pub command: Option<String>,
    /// Seconds.
    pub timeout: Option<f64>,
    pub fail_closed: Option<bool>,
    #[serde(default)]
    pub hooks: Vec<TomlHandler>,
}

/// One handler in tern's TOML: Claude Code's fields that tern uses, and
/// no others (a typo is an error, as everywhere in tern's config).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlHandler {
    #[serde(rename = "type", default = "command_type")]
    pub kind: String,
    pub command: Option<String>,
    pub timeout: Option<f64>,
    pub fail_closed: Option<bool>,
}

/// One handler, as Claude Code writes it (`{"type": "command", ...}`);
/// other fields of Claude Code's (`statusMessage`, `once`, …) are accepted.
#[derive(Debug, Default, Deserialize)]
pub struct HandlerFile {
    #[serde(rename = "type", default = "command_type")]
    pub kind: String,
    pub command: Option<String>,
    pub timeout: Option<f64>,
    pub fail_closed: Option<bool>,
}

fn command_type() -> String {
    "command".into()
}

/// The part of a Claude Code settings file (or Codex hooks.json) tern reads.
#[derive(Debug, Default, Deserialize)]
struct SettingsFile {
    #[serde(default)]
    hooks: BTreeMap<String, Vec<JsonGroup>>,
    #[serde(rename = "disableAllHooks", default)]
    disable_all_hooks: bool,
}

#[derive(Debug, Default, Deserialize)]
struct JsonGroup {
    matcher: Option<String>,
    #[serde(default)]
    hooks: Vec<HandlerFile>,
}

/// What loading found besides the hooks: handlers tern cannot run.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub hooks: Vec<HookConfig>,
    /// Said once at start (events or handler types tern does not run).
    pub notes: Vec<String>,
}

impl Loaded {
    /// Adds one group's handlers.
    fn add(
        &mut self,
        event: HookEvent,
        matcher: Option<String>,
        group_defaults: Defaults,
        handlers: Vec<HandlerFile>,
        source: &str,
    ) -> Result<(), ConfigError> {
        let matcher = matcher.filter(|m| !m.is_empty() && m != "*");
        if let Some(m) = &matcher {
            regex::Regex::new(&format!("^(?:{m})$")).map_err(|e| ConfigError::Hook {
                origin: source.to_string(),
                message: format!("{} matcher `{m}` is not a valid regex: {e}", event.name()),
            })?;
        }
        for h in handlers {
            if h.kind != "command" {
                self.notes.push(format!(
                    "{source}: a `{}` hook for {} is skipped (tern runs command hooks)",
                    h.kind,
                    event.name()
                ));
                continue;
            }
            let Some(command) = h.command.filter(|c| !c.trim().is_empty()) else {
                return Err(ConfigError::Hook {
                    origin: source.to_string(),
                    message: format!("a {} hook has no `command`", event.name()),
                });
            };
            let timeout = h.timeout.or(group_defaults.timeout);
            // A finite number too large for a Duration (1e300) is refused too.
            let timeout = match timeout.map(|t| (t, Duration::try_from_secs_f64(t))) {
                Some((t, Ok(d))) if t > 0.0 => d,
                Some((t, _)) => {
                    return Err(ConfigError::Hook {
                        origin: source.to_string(),
                        message: format!(
                            "{} hook `{command}`: timeout {t} is not a positive number of seconds below 2^64",
                            event.name()
                        ),
                    });
                }
                None => DEFAULT_TIMEOUT,
            };
            let hook = HookConfig {
                event,
                matcher: matcher.clone(),
                command,
                timeout,
                fail_closed: h.fail_closed.or(group_defaults.fail_closed).unwrap_or(false),
                source: source.to_string(),
            };
            // The same command for the same event and matcher runs once
            // (Claude Code deduplicates identical commands).
            if !self
                .hooks
                .iter()
                .any(|o| o.event == hook.event && o.matcher == hook.matcher && o.command == hook.command)
            {
                self.hooks.push(hook);
            }
        }
        Ok(())
    }

    /// The groups of one TOML layer (`[[hooks.EVENT]]`).
    pub(crate) fn add_toml(
        &mut self,
        groups: BTreeMap<HookEvent, Vec<HookGroupFile>>,
        source: &str,
    ) -> Result<(), ConfigError> {
        for (event, groups) in groups {
            for g in groups {
                let mut handlers: Vec<HandlerFile> = g
                    .hooks
                    .into_iter()
                    .map(|h| HandlerFile {
                        kind: h.kind,
                        command: h.command,
                        timeout: h.timeout,
                        fail_closed: h.fail_closed,
                    })
                    .collect();
                if let Some(command) = g.command {
                    handlers.insert(
                        0,
                        HandlerFile { kind: command_type(), command: Some(command), timeout: None, fail_closed: None },
                    );
                }
                if handlers.is_empty() {
                    return Err(ConfigError::Hook {
                        origin: source.to_string(),
                        message: format!("a [[hooks.{}]] entry has neither `command` nor `hooks`", event.name()),
                    });
                }
                let defaults = Defaults { timeout: g.timeout, fail_closed: g.fail_closed };
                self.add(event, g.matcher, defaults, handlers, source)?;
            }
        }
        Ok(())
    }

    /// The hooks of a Claude Code settings file or Codex hooks.json, if it
    /// exists. A file that cannot be parsed is an error: a guard that
    /// silently stopped running would be worse.
    #[allow(clippy::disallowed_methods)] // sync config loading
    fn add_json_file(&mut self, path: &Path) -> Result<bool, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(ConfigError::Read { path: path.to_path_buf(), source: e }),
        };
        let source = path.display().to_string();
        let settings: SettingsFile = serde_json::from_str(&text).map_err(|e| ConfigError::Hook {
            origin: source.clone(),
            message: format!(
                "line {}, column {}: {e}; fix the file (its hooks are not run until it parses)",
                e.line(),
                e.column()
            ),
        })?;
        for (name, groups) in settings.hooks {
            let Some(event) = HookEvent::from_name(&name) else {
                self.notes.push(format!("{source}: {name} hooks are skipped (tern does not have that event)"));
                continue;
            };
            for g in groups {
                self.add(event, g.matcher, Defaults::default(), g.hooks, &source)?;
            }
        }
        Ok(settings.disable_all_hooks)
    }

    /// Claude Code's and Codex's files: user-level first, then the
    /// project's. `disableAllHooks` in any of them turns every hook off.
    pub(crate) fn add_peer_files(
        &mut self,
        repo: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let mut files: Vec<PathBuf> = Vec::new();
        if let Some(home) = env("HOME") {
            let home = PathBuf::from(home);
            files.push(home.join(".claude").join("settings.json"));
            files.push(env("CODEX_HOME").map_or_else(|| home.join(".codex"), PathBuf::from).join("hooks.json"));
        }
        files.push(repo.join(".claude").join("settings.json"));
        files.push(repo.join(".claude").join("settings.local.json"));
        files.push(repo.join(".codex").join("hooks.json"));
        let mut disabled = Vec::new();
        for f in files {
            if self.add_json_file(&f)? {
                disabled.push(f.display().to_string());
            }
        }
        if !disabled.is_empty() {
            self.notes.push(format!("hooks are off: disableAllHooks is set in {}", disabled.join(", ")));
            self.hooks.clear();
        }
        Ok(())
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Defaults {
    timeout: Option<f64>,
    fail_closed: Option<bool>,
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn claude_settings_are_read_in_their_own_format() {
        let dir = tempfile::tempdir().unwrap();
        let claude = dir.path().join(".claude");
        std::fs::create_dir_all(&claude).unwrap();
        std::fs::write(
            claude.join("settings.json"),
            r#"{"permissions": {"allow": []}, "hooks": {
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard.sh", "timeout": 5}]},
                               {"matcher": "Bash", "hooks": [{"type": "command", "command": "guard.sh", "timeout": 5}]}],
                "SubagentStop": [{"hooks": [{"type": "command", "command": "x"}]}],
                "Stop": [{"hooks": [{"type": "prompt", "prompt": "done?"}, {"type": "command", "command": "stop.py", "fail_closed": true}]}]
            }}"#,
        )
        .unwrap();
        let mut loaded = Loaded::default();
        let env = |_: &str| None;
        loaded.add_peer_files(dir.path(), &env).unwrap();
        assert_eq!(loaded.hooks.len(), 2, "{:?}", loaded.hooks);
        assert_eq!(loaded.hooks[0].event, HookEvent::PreToolUse);
        assert_eq!(loaded.hooks[0].matcher.as_deref(), Some("Bash"));
        assert_eq!(loaded.hooks[0].timeout, Duration::from_secs(5));
        assert!(!loaded.hooks[0].fail_closed);
        assert_eq!(loaded.hooks[1].event, HookEvent::Stop);
        assert!(loaded.hooks[1].fail_closed);
        assert_eq!(loaded.hooks[1].timeout, DEFAULT_TIMEOUT);
        assert_eq!(loaded.notes.len(), 2, "{:?}", loaded.notes);
    }

    #[test]
    fn a_broken_settings_file_or_bad_matcher_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let claude = dir.path().join(".claude");
        std::fs::create_dir_all(&claude).unwrap();
        std::fs::write(claude.join("settings.local.json"), "{\"hooks\": {").unwrap();
        let err = Loaded::default().add_peer_files(dir.path(), &|_| None).unwrap_err().to_string();
        assert!(err.contains("settings.local.json") && err.contains("line 1"), "{err}");
        std::fs::write(
            claude.join("settings.local.json"),
            r#"{"hooks": {"PreToolUse": [{"matcher": "(", "hooks": [{"type": "command", "command": "x"}]}]}}"#,
        )
        .unwrap();
        let err = Loaded::default().add_peer_files(dir.path(), &|_| None).unwrap_err().to_string();
        assert!(err.contains("not a valid regex"), "{err}");
    }

    #[test]
    fn disable_all_hooks_turns_them_off() {
        let dir = tempfile::tempdir().unwrap();
        let claude = dir.path().join(".claude");
        std::fs::create_dir_all(&claude).unwrap();
        std::fs::write(
            claude.join("settings.json"),
            r#"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x"}]}]}}"#,
        )
        .unwrap();
        std::fs::write(claude.join("settings.local.json"), r#"{"disableAllHooks": true}"#).unwrap();
        let mut loaded = Loaded::default();
        loaded.add_peer_files(dir.path(), &|_| None).unwrap();
        assert!(loaded.hooks.is_empty());
        assert!(loaded.notes.iter().any(|n| n.contains("disableAllHooks")));
    }
}
