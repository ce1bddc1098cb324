//! The session behind the UI: starting it, switching it (`/new`,
//! `/resume`, `/model`, `/approvals`), talking to it, and shutting it down.
//! Everything that waits (config files, the session start, a replay) runs
//! off the UI loop and reports back through one of its select branches.

use crate::app::Action;
use crate::picker::{Pick, Picker, Row};
use crate::run::Loop;
use crate::terminal;
use crate::transcript::{Kind, Transcript};
use crate::{Options, TuiError};
use std::time::Duration;
use tern_config::{ApprovalPolicy, Config, ConfigError, LoadOptions};
use tern_core::{CoreError, Resume, SessionHandle};
use tern_protocol::{ContextUsage, Event, Op};
use tokio_util::task::AbortOnDropHandle;

/// How long an op may wait for room in the session's queue.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a session gets to save itself and end its threads at exit
/// (its own waits, each bounded, add up to less: approvals 2 s, the log's
/// sync 5 s, the local model's thread 3 s, the log writer 3 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// A configuration being loaded for `/model` or `/approvals`: what was
/// asked for, the session to continue, and the result.
pub(crate) struct Reconfigured {
    load: LoadOptions,
    session: Option<String>,
    what: String,
    result: Result<Config, ConfigError>,
}

/// The configuration `load` asks for, run with the binary's sandbox
/// helper. Blocking (it reads files): call from `spawn_blocking`.
fn config_for(load: &LoadOptions, helper: Option<std::path::PathBuf>) -> Result<Config, ConfigError> {
    let mut config = Config::load(load)?;
    config.sandbox_helper = helper;
    Ok(config)
}

/// Loads the configuration off the UI loop.
pub(crate) async fn load_config(load: LoadOptions, opts: &Options) -> Result<Config, TuiError> {
    let helper = opts.sandbox_helper.clone();
    Ok(tokio::task::spawn_blocking(move || config_for(&load, helper)).await??)
}

impl Loop {
    pub(crate) async fn send(&mut self, op: Op) {
        let Some(s) = &self.session else {
            self.app.running = false;
            self.app.transcript.push(Kind::Error("there is no session to send to; /new starts one".into()));
            return;
        };
        // The session reads ops even mid-turn: a send that waits this long
        // means it is stuck, and the UI must not be.
        if let Err(e) = s.ops.send_timeout(op, SEND_TIMEOUT).await {
            tracing::warn!("sending to the session: {e}");
            self.app.running = false;
            self.app
                .transcript
                .push(Kind::Error(format!("the session is not taking requests ({e}); /new starts another")));
        }
    }

    pub(crate) async fn command(&mut self, name: &str, arg: &str) {
        let current = self.app.status.info.as_ref().map(|i| i.session_id.clone());
        match name {
            "new" => {
                self.app.transcript.push(Kind::Info("new session".into()));
                self.restart(Resume::New, None);
            }
            "model" if arg.is_empty() => self.open_model_picker().await,
            "model" => {
                let load = LoadOptions { model: Some(arg.to_string()), ..self.opts.load.clone() };
                self.reconfigure(load, current, format!("model → {arg}"));
            }
            "approvals" => {
                let Some(policy) = ApprovalPolicy::from_name(arg) else {
                    let now = self.config.approval_policy.name();
                    let all: Vec<&str> = ApprovalPolicy::ALL.iter().map(|p| p.name()).collect();
                    self.app.transcript.push(Kind::Info(format!("approvals: {now} · /approvals {}", all.join(" | "))));
                    return;
                };
                let mut load = self.opts.load.clone();
                load.overrides.push(format!("approval_policy=\"{}\"", policy.name()));
                self.reconfigure(load, current, format!("approvals → {}", policy.name()));
            }
            "resume" if !arg.is_empty() => self.restart(Resume::Id(arg.to_string()), None),
            "resume" => self.open_picker().await,
            "fork" => match (&current, self.app.status.info.as_ref().map(|i| i.log_path.clone())) {
                (Some(id), Some(log)) => self.open_fork_picker(id.clone(), log.into()).await,
                _ => self.app.transcript.push(Kind::Info("no session yet".into())),
            },
            "undo" => self.send(Op::Undo { turns: 1 }).await,
            "diff" if current.is_none() => self.app.transcript.push(Kind::Info("no session yet".into())),
            "diff" => self.send(Op::Diff).await,
            "compact" if current.is_none() => self.app.transcript.push(Kind::Info("no session yet".into())),
            "compact" => {
                let focus = (!arg.trim().is_empty()).then(|| arg.trim().to_string());
                self.send(Op::Compact { focus }).await
            }
            "mcp" if current.is_none() => self.app.transcript.push(Kind::Info("no session yet".into())),
            "mcp" => match arg.split_once(' ').map(|(verb, rest)| (verb, rest.trim())) {
                Some(("restart", name)) if !name.is_empty() => {
                    self.send(Op::McpRestart { name: name.to_string() }).await
                }
                _ if arg.is_empty() => self.send(Op::McpList).await,
                _ => self.app.transcript.push(Kind::Warning("usage: /mcp, or /mcp restart NAME".into())),
            },
            _ => {}
        }
    }

    /// Loads the configuration anew (off the UI loop); when it is good, the
    /// same conversation continues under it ([`Loop::reconfigured`]).
    pub(crate) fn reconfigure(&mut self, load: LoadOptions, session: Option<String>, what: String) {
        let helper = self.opts.sandbox_helper.clone();
        let task = tokio::task::spawn_blocking(move || {
            let result = config_for(&load, helper);
            Reconfigured { load, session, what, result }
        });
        self.reconfiguring = Some(AbortOnDropHandle::new(task));
    }

    pub(crate) fn reconfigured(&mut self, done: Result<Reconfigured, tokio::task::JoinError>) {
        match done {
            Ok(Reconfigured { load, session, what, result: Ok(config) }) => {
                self.opts.load = load;
                self.app.status.context =
                    ContextUsage { window: config.model_info.context_window, ..ContextUsage::default() };
                self.app.status.approval_policy = Some(config.approval_policy);
                self.app.transcript.push(Kind::Info(what));
                let resume = session.map_or(Resume::New, Resume::Id);
                self.restart(resume, Some(config));
            }
            Ok(Reconfigured { result: Err(e), .. }) => self.app.transcript.push(Kind::Error(e.to_string())),
            Err(e) => self.app.transcript.push(Kind::Error(format!("loading the configuration: {e}"))),
        }
        self.request_frame();
    }

    pub(crate) fn restart(&mut self, resume: Resume, config: Option<Config>) {
        if let Some(c) = config {
            self.config = c;
        }
        if let Some(old) = self.session.take() {
            while self.ending.try_join_next().is_some() {}
            self.ending.spawn(shutdown(old));
        }
        self.app.running = false;
        self.app.status.info = None;
        self.start(resume);
    }

    pub(crate) fn start(&mut self, resume: Resume) {
        self.app.starting = true;
        let config = self.config.clone();
        let connector = self.opts.connector.clone();
        let task = tokio::spawn(async move { tern_core::start(config, resume, &*connector).await });
        self.starting = Some(AbortOnDropHandle::new(task));
    }

    pub(crate) fn started(&mut self, result: Result<Result<SessionHandle, CoreError>, tokio::task::JoinError>) {
        self.app.starting = false;
        match result {
            Ok(Ok(s)) => self.session = Some(s),
            Ok(Err(e)) => {
                tracing::warn!("the session did not start: {e}");
                self.app.transcript.push(Kind::Error(format!("{e}")));
            }
            Err(e) => {
                tracing::error!("starting the session: {e}");
                self.app.transcript.push(Kind::Error(format!("starting the session: {e}")));
            }
        }
        if self.session.is_none() && !self.app.queued.is_empty() {
            // Nothing can take the queued messages: back into the composer,
            // not lost.
            let text: Vec<String> = self.app.queued.drain(..).collect();
            self.app.composer.set(&text.join("\n\n"));
        }
        self.request_frame();
    }

    pub(crate) fn core_event(&mut self, ev: Event) {
        if let Event::SessionConfigured(info) = &ev {
            let shown = self.app.status.info.as_ref().map(|i| i.session_id.as_str());
            // /model and /approvals continue the conversation on screen;
            // tern resume and /resume bring another one in.
            if info.resumed && shown != Some(info.session_id.as_str()) {
                let path = std::path::PathBuf::from(&info.log_path);
                let mark = self.app.transcript.mark();
                let task = tokio::task::spawn_blocking(move || {
                    let replayed = tern_core::replay_newest(&path, crate::transcript::REPLAY_RECORDS);
                    (mark, replayed.map(Transcript::replayed).map_err(|e| e.to_string()))
                });
                self.replaying = Some(AbortOnDropHandle::new(task));
            }
        }
        let notify = match &ev {
            Event::TurnCompleted(_) => Some("tern: turn finished".to_string()),
            Event::TurnFailed { .. } => Some("tern: turn failed".to_string()),
            Event::ApprovalRequest(r) => Some(format!("tern wants to run: {}", r.command)),
            _ => None,
        };
        self.app.event(ev);
        if let Some(msg) = notify
            && !self.app.focused
            && self.app.notifications
        {
            terminal::notify(&msg);
        }
    }

    /// Sends the next queued follow-up once the session is free.
    pub(crate) async fn after_events(&mut self) {
        if self.session.is_some()
            && let Some(Action::Send(text)) = self.app.next_queued()
        {
            self.send(Op::UserTurn { text }).await;
        }
    }

    pub(crate) async fn open_picker(&mut self) {
        let data_dir = self.config.data_dir.clone();
        let cwd = tokio::fs::canonicalize(&self.config.cwd).await.unwrap_or(self.config.cwd.clone());
        let cwd = cwd.display().to_string();
        let listed = tokio::task::spawn_blocking(move || tern_core::list_sessions(&data_dir)).await.unwrap_or_default();
        let rows = listed
            .into_iter()
            .filter(|s| s.cwd == cwd)
            .map(|s| Row {
                text: format!(
                    "{}  {:<16}  {}",
                    s.created_at.get(..16).unwrap_or(&s.created_at).replace('T', " "),
                    s.model,
                    s.first_prompt
                ),
                note: match (&s.parent, s.compactions) {
                    (Some(_), _) => "fork".to_string(),
                    (None, 0) => String::new(),
                    (None, n) => format!("compacted {n}×"),
                },
                pick: Some(Pick::Session(s.id)),
            })
            .collect();
        self.app.picker = Some(Picker::new("resume a session", rows, "no past sessions in this directory"));
        self.request_frame();
    }

    /// `/fork`: the whole conversation, or the point before one of the
    /// user's messages (newest first).
    pub(crate) async fn open_fork_picker(&mut self, id: String, log: std::path::PathBuf) {
        let prompts = match tokio::task::spawn_blocking(move || tern_core::turn_prompts(&log)).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return self.app.transcript.push(Kind::Error(format!("reading the session: {e}"))),
            Err(_) => return,
        };
        let mut rows = vec![Row {
            text: "the whole conversation".into(),
            note: format!("{} turns", prompts.len()),
            pick: Some(Pick::Fork { id: id.clone(), turns: None, text: None }),
        }];
        rows.extend(prompts.into_iter().enumerate().rev().map(|(turn, text)| Row {
            text: format!("before: {}", text.lines().next().unwrap_or("").chars().take(80).collect::<String>()),
            note: format!("turn {}", turn + 1),
            pick: Some(Pick::Fork { id: id.clone(), turns: Some(turn), text: Some(text) }),
        }));
        self.app.picker = Some(Picker::new("fork this session", rows, "no messages match"));
        self.request_frame();
    }

    /// `/model` without a name: the models usable now (providers with keys,
    /// local GGUFs), the current one first.
    pub(crate) async fn open_model_picker(&mut self) {
        let load = self.opts.load.clone();
        let listed = tokio::task::spawn_blocking(move || tern_config::Inventory::load(&load)).await;
        let inventory = match listed {
            Ok(Ok(inv)) => inv,
            Ok(Err(e)) => return self.app.transcript.push(Kind::Error(e.to_string())),
            Err(e) => return self.app.transcript.push(Kind::Error(format!("listing models: {e}"))),
        };
        let (current_provider, current_model) = (self.config.provider.name.clone(), self.config.model.clone());
        let rows = inventory
            .choices
            .into_iter()
            .map(|c| {
                let note = match &c.missing {
                    Some(why) => why.clone(),
                    None => {
                        let price = c.info.price.map_or("price unknown".to_string(), |[i, _, o]| {
                            if i == 0.0 && o == 0.0 { "free".to_string() } else { format!("${i}/${o} per 1M") }
                        });
                        let current = c.provider == current_provider && c.model == current_model;
                        let context = crate::status::short(c.info.context_window);
                        format!("{context} context · {price}{}", if current { " · current" } else { "" })
                    }
                };
                Row {
                    text: format!("{:<28} {}", c.model, c.provider),
                    pick: c.missing.is_none().then_some(Pick::Model { provider: c.provider, model: c.model }),
                    note,
                }
            })
            .collect();
        let empty = "no usable model: set a provider's API key or fetch a local model (see `tern models`)";
        self.app.picker = Some(Picker::new("switch model (the conversation continues)", rows, empty));
        self.request_frame();
    }
}

/// Asks the session to save itself and stop, waiting a bounded time.
pub(crate) async fn shutdown(mut s: SessionHandle) {
    let ask = async {
        let _ = s.ops.send(Op::Interrupt).await;
        let _ = s.ops.send(Op::Shutdown).await;
        while let Some(ev) = s.events.recv().await {
            if ev == Event::ShutdownComplete {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, ask).await;
    let _ = tokio::time::timeout(Duration::from_millis(500), s.join()).await;
}
