//! The event loop and the session's lifecycle (start, switch, shut down).

use crate::app::{Action, App};
use crate::files::FileSearch;
use crate::highlight;
use crate::picker::{Pick, Picker, Row};
use crate::terminal::{self, Guard, Term};
use crate::transcript::Kind;
use crate::{Exit, Options, Start, TuiError, view};
use crossterm::event::{Event as TermEvent, EventStream};
use futures_util::StreamExt;
use std::time::Duration;
use tern_config::{ApprovalPolicy, Config, LoadOptions};
use tern_core::{CoreError, Resume, SessionHandle};
use tern_protocol::{Event, FileChange, FileChangeKind, Op};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

/// At most 60 frames a second.
const FRAME: Duration = Duration::from_micros(16_667);
/// How often timers (spinner, elapsed time) move while something runs.
const TIMER: Duration = Duration::from_millis(100);
/// Core events applied per wake-up before input gets another look.
const EVENT_BUDGET: usize = 256;
/// How long a session gets to save itself at exit.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

type Starting = AbortOnDropHandle<Result<SessionHandle, CoreError>>;
type Highlighting = AbortOnDropHandle<Vec<highlight::Done>>;
/// A resumed session's earlier conversation being read; the task hands
/// back where in the transcript it goes.
type Replaying = AbortOnDropHandle<(usize, Result<Vec<Kind>, String>)>;

/// Runs the UI until the user quits.
pub async fn run(opts: Options) -> Result<Exit, TuiError> {
    use std::io::IsTerminal;
    #[allow(clippy::disallowed_methods)] // isatty only; nothing is read
    let stdin_tty = std::io::stdin().is_terminal();
    if !stdin_tty || !std::io::stdout().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    let config = load_config(&opts.load, &opts).map_err(TuiError::Config)?;
    let mut app = App::new(config.model_info.context_window, config.approval_policy, config.notifications);
    if let Some(p) = opts.prompt.clone().filter(|p| !p.trim().is_empty()) {
        app.queued.push_back(p);
    }
    let mut term = terminal::enter()?;
    let _guard = Guard;
    let mut frames = Frames { dirty: true, last: Instant::now() - FRAME };
    draw(&mut term, &mut app, &mut frames)?;

    let mut lp = Loop {
        app,
        config,
        opts,
        session: None,
        starting: None,
        files: None,
        frames,
        ending: JoinSet::new(),
        highlighting: None,
        replaying: None,
    };
    match lp.opts.start.clone() {
        Start::Pick => {
            lp.app.starting = false;
            lp.open_picker().await;
        }
        Start::New => lp.start(Resume::New),
        Start::Last => lp.start(Resume::Last),
        Start::Id(id) => lp.start(Resume::Id(id)),
    }
    lp.files = Some(FileSearch::start(lp.config.cwd.clone()));
    let result = lp.serve(&mut term).await;
    let session_id = lp.app.status.info.as_ref().map(|i| i.session_id.clone());
    if let Some(s) = lp.session.take() {
        lp.ending.spawn(shutdown(s));
    }
    // Every session this UI opened saves itself before tern exits (each
    // shutdown is bounded).
    while lp.ending.join_next().await.is_some() {}
    drop(_guard);
    result.map(|()| Exit { session_id })
}

/// Coalesces requests to draw into frames.
struct Frames {
    dirty: bool,
    last: Instant,
}

fn draw(term: &mut Term, app: &mut App, frames: &mut Frames) -> Result<(), TuiError> {
    if app.busy() {
        app.transcript.refresh_running();
    }
    term.draw(|f| view::draw(f, app))?;
    app.status.frames += 1;
    frames.dirty = false;
    frames.last = Instant::now();
    Ok(())
}

struct Loop {
    app: App,
    config: Config,
    opts: Options,
    session: Option<SessionHandle>,
    starting: Option<Starting>,
    files: Option<FileSearch>,
    frames: Frames,
    /// Sessions replaced by /new, /model, /resume, still saving themselves.
    ending: JoinSet<()>,
    /// Code blocks being highlighted on a blocking thread (one batch at a
    /// time, so a long transcript cannot occupy both cores).
    highlighting: Option<Highlighting>,
    replaying: Option<Replaying>,
}

impl Loop {
    fn request_frame(&mut self) {
        if self.frames.dirty {
            self.app.status.coalesced += 1;
        }
        self.frames.dirty = true;
    }

    /// When to wake without input: the next frame if one is owed, the next
    /// timer step if something runs; never otherwise.
    fn deadline(&self) -> Option<Instant> {
        let frame = self.frames.dirty.then(|| self.frames.last + FRAME);
        let timer = self.app.busy().then(|| self.frames.last + TIMER);
        match (frame, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn serve(&mut self, term: &mut Term) -> Result<(), TuiError> {
        let mut input = EventStream::new();
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sighup = signal(SignalKind::hangup())?;
        loop {
            if self.highlighting.is_none() {
                let jobs = self.app.transcript.highlights.take_queued();
                if !jobs.is_empty() {
                    let task = tokio::task::spawn_blocking(move || highlight::run(jobs));
                    self.highlighting = Some(AbortOnDropHandle::new(task));
                }
            }
            let deadline = self.deadline();
            tokio::select! {
                biased;
                ev = input.next() => match ev {
                    Some(Ok(ev)) => {
                        if self.input(ev, term).await? {
                            return Ok(());
                        }
                        // Typing is drawn at once, not at the next frame slot.
                        if self.frames.dirty {
                            draw(term, &mut self.app, &mut self.frames)?;
                        }
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => return Ok(()),
                },
                _ = sigterm.recv() => return Ok(()),
                _ = sighup.recv() => return Ok(()),
                // Cancellation-safe: a JoinHandle can be polled again.
                started = join(&mut self.starting), if self.starting.is_some() => {
                    self.starting = None;
                    self.started(started);
                }
                // recv is cancellation-safe.
                ev = recv(&mut self.session), if self.session.is_some() => {
                    match ev {
                        Some(ev) => {
                            self.core_event(ev);
                            for _ in 1..EVENT_BUDGET {
                                let Some(s) = self.session.as_mut() else { break };
                                match s.events.try_recv() {
                                    Ok(ev) => self.core_event(ev),
                                    Err(_) => break,
                                }
                            }
                        }
                        None => {
                            self.session = None;
                            self.app.running = false;
                            self.app.transcript.push(Kind::Error("the session stopped; /new starts another".into()));
                        }
                    }
                    self.after_events().await;
                    self.request_frame();
                }
                done = join(&mut self.highlighting), if self.highlighting.is_some() => {
                    self.highlighting = None;
                    if let Ok(done) = done {
                        self.app.transcript.highlighted(done);
                        self.request_frame();
                    }
                }
                read = join(&mut self.replaying), if self.replaying.is_some() => {
                    self.replaying = None;
                    match read {
                        Ok((mark, Ok(cells))) => self.app.transcript.insert(mark, cells),
                        Ok((_, Err(e))) => self.app.transcript.push(Kind::Warning(format!("cannot show the earlier conversation: {e}"))),
                        Err(_) => {}
                    }
                    self.request_frame();
                }
                more = files_changed(&mut self.files), if self.files.is_some() => {
                    if !more {
                        self.files = None;
                    } else if self.app.file_query.is_some() {
                        let m = self.files.as_ref().map(FileSearch::matches);
                        self.app.refresh_popup(m.as_ref());
                        self.request_frame();
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    draw(term, &mut self.app, &mut self.frames)?;
                }
            }
        }
    }

    /// Handles terminal input; true when the UI should close.
    async fn input(&mut self, ev: TermEvent, term: &mut Term) -> Result<bool, TuiError> {
        match ev {
            TermEvent::Key(_) if self.opts.panic_on_key => {
                panic!("forced panic (TERN_TUI_TEST_PANIC) to test that the terminal is restored");
            }
            TermEvent::Key(key) => {
                let action = self.app.key(key);
                self.frames.dirty = true;
                if let Some(q) = self.app.file_query.clone()
                    && let Some(f) = &self.files
                {
                    f.search(&q);
                }
                if let Some(a) = action {
                    return self.act(a, term).await;
                }
            }
            TermEvent::Paste(text) => {
                self.app.paste(&text);
                self.frames.dirty = true;
            }
            TermEvent::Resize(..) => {
                self.app.transcript.clear_layouts();
                term.autoresize()?;
                self.frames.dirty = true;
            }
            TermEvent::FocusGained => self.app.focused = true,
            TermEvent::FocusLost => self.app.focused = false,
            TermEvent::Mouse(_) => {}
        }
        Ok(false)
    }

    /// Carries out an action; true when the UI should close.
    async fn act(&mut self, action: Action, term: &mut Term) -> Result<bool, TuiError> {
        match action {
            Action::Quit => return Ok(true),
            Action::Suspend => {
                terminal::suspend(term)?;
                self.frames.dirty = true;
            }
            Action::Send(text) => self.send(Op::UserTurn { text }).await,
            Action::Interrupt => self.send(Op::Interrupt).await,
            Action::Approve { id, decision } => self.send(Op::Approval { id, decision, note: None }).await,
            Action::Resume(id) => {
                self.app.transcript.push(Kind::Info(format!("resuming session {id}…")));
                self.restart(Resume::Id(id), None);
            }
            Action::SwitchModel { provider, model }
                if provider == self.config.provider.name && model == self.config.model =>
            {
                self.app.transcript.push(Kind::Info(format!("already using {model} via {provider}")));
            }
            Action::SwitchModel { provider, model } => {
                let current = self.app.status.info.as_ref().map(|i| i.session_id.clone());
                let what = format!("model → {model} via {provider}");
                let load = LoadOptions { model: Some(model), provider: Some(provider), ..self.opts.load.clone() };
                self.reconfigure(load, current, &what);
            }
            Action::Command(name, arg) => self.command(&name, &arg).await,
        }
        Ok(false)
    }

    async fn send(&mut self, op: Op) {
        let sent = match &self.session {
            Some(s) => s.ops.send(op).await.is_ok(),
            None => false,
        };
        if !sent {
            self.app.running = false;
            self.app.transcript.push(Kind::Error("there is no session to send to; /new starts one".into()));
        }
    }

    async fn command(&mut self, name: &str, arg: &str) {
        let current = self.app.status.info.as_ref().map(|i| i.session_id.clone());
        match name {
            "new" => {
                self.app.transcript.push(Kind::Info("new session".into()));
                self.restart(Resume::New, None);
            }
            "model" if arg.is_empty() => self.open_model_picker().await,
            "model" => {
                let load = LoadOptions { model: Some(arg.to_string()), ..self.opts.load.clone() };
                self.reconfigure(load, current, &format!("model → {arg}"));
            }
            "approvals" => {
                let Some(policy) = ApprovalPolicy::from_name(arg) else {
                    let now = self.config.approval_policy.name();
                    let all: Vec<&str> = ApprovalPolicy::ALL.iter().map(|p| p.name()).collect();
                    self.app.transcript.push(Kind::Info(format!("approvals: {now} · /approvals {}", all.join(" | "))));
                    return;
                };
                let policy = policy.name();
                let mut load = self.opts.load.clone();
                load.overrides.push(format!("approval_policy=\"{policy}\""));
                self.reconfigure(load, current, &format!("approvals → {policy}"));
            }
            "resume" if !arg.is_empty() => self.restart(Resume::Id(arg.to_string()), None),
            "resume" => self.open_picker().await,
            "undo" => self.send(Op::Undo { turns: 1 }).await,
            "diff" => self.diff(current).await,
            _ => {}
        }
    }

    /// Loads config anew and continues the same conversation under it.
    fn reconfigure(&mut self, load: LoadOptions, session: Option<String>, what: &str) {
        match load_config(&load, &self.opts) {
            Ok(config) => {
                self.opts.load = load;
                self.app.status.context_window = config.model_info.context_window;
                self.app.status.approval_policy = Some(config.approval_policy);
                self.app.transcript.push(Kind::Info(what.to_string()));
                let resume = session.map_or(Resume::New, Resume::Id);
                self.restart(resume, Some(config));
            }
            Err(e) => self.app.transcript.push(Kind::Error(e)),
        }
    }

    fn restart(&mut self, resume: Resume, config: Option<Config>) {
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

    fn start(&mut self, resume: Resume) {
        self.app.starting = true;
        let config = self.config.clone();
        let connector = self.opts.connector.clone();
        self.starting =
            Some(AbortOnDropHandle::new(tokio::spawn(
                async move { tern_core::start(config, resume, &*connector).await },
            )));
    }

    fn started(&mut self, result: Result<Result<SessionHandle, CoreError>, tokio::task::JoinError>) {
        self.app.starting = false;
        match result {
            Ok(Ok(s)) => self.session = Some(s),
            Ok(Err(e)) => self.app.transcript.push(Kind::Error(format!("{e}"))),
            Err(e) => self.app.transcript.push(Kind::Error(format!("starting the session: {e}"))),
        }
        if self.session.is_none() && !self.app.queued.is_empty() {
            // Nothing can take the queued messages: back into the composer,
            // not lost.
            let text: Vec<String> = self.app.queued.drain(..).collect();
            self.app.composer.set(&text.join("\n\n"));
        }
        self.request_frame();
    }

    fn core_event(&mut self, ev: Event) {
        if let Event::SessionConfigured(info) = &ev {
            let shown = self.app.status.info.as_ref().map(|i| i.session_id.as_str());
            // /model and /approvals continue the conversation on screen;
            // tern resume and /resume bring another one in.
            if info.resumed && shown != Some(info.session_id.as_str()) {
                let path = std::path::PathBuf::from(&info.log_path);
                let mark = self.app.transcript.mark();
                let task = tokio::task::spawn_blocking(move || (mark, crate::replay::load(&path)));
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
    async fn after_events(&mut self) {
        if self.session.is_some()
            && let Some(Action::Send(text)) = self.app.next_queued()
        {
            self.send(Op::UserTurn { text }).await;
        }
    }

    async fn open_picker(&mut self) {
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
                note: String::new(),
                pick: Some(Pick::Session(s.id)),
            })
            .collect();
        self.app.picker = Some(Picker::new("resume a session", rows, "no past sessions in this directory"));
        self.request_frame();
    }

    /// `/model` without a name: the models usable now (providers with keys,
    /// local GGUFs), the current one first.
    async fn open_model_picker(&mut self) {
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
                        let context = crate::app::short(c.info.context_window);
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

    async fn diff(&mut self, session: Option<String>) {
        let Some(id) = session else {
            self.app.transcript.push(Kind::Info("no session yet".into()));
            return;
        };
        let root = tern_core::checkpoint_dir(&self.config.data_dir, &id);
        let ws = self.config.cwd.clone();
        let changes = tokio::task::spawn_blocking(move || -> Result<Vec<FileChange>, String> {
            let changes = tern_files::checkpoint::session_changes(&root).map_err(|e| e.to_string())?;
            Ok(changes
                .iter()
                .map(|c| {
                    let rel = c.path.strip_prefix(&ws).unwrap_or(&c.path).display().to_string();
                    let kind = match (&c.before, &c.now) {
                        (None, _) => FileChangeKind::Add,
                        (_, None) => FileChangeKind::Delete,
                        _ => FileChangeKind::Update,
                    };
                    let diff = tern_files::diff::unified(&rel, c.before.as_deref(), c.now.as_deref());
                    FileChange { path: rel, kind, move_path: None, diff }
                })
                .collect())
        })
        .await;
        match changes {
            Ok(Ok(c)) if c.is_empty() => self.app.transcript.push(Kind::Info("this session changed no files".into())),
            Ok(Ok(c)) => self.app.transcript.push(Kind::Diff(c)),
            Ok(Err(e)) => self.app.transcript.push(Kind::Error(format!("reading the session's changes: {e}"))),
            Err(e) => self.app.transcript.push(Kind::Error(e.to_string())),
        }
    }
}

fn load_config(load: &LoadOptions, opts: &Options) -> Result<Config, String> {
    let mut config = Config::load(load).map_err(|e| e.to_string())?;
    config.sandbox_helper = opts.sandbox_helper.clone();
    Ok(config)
}

/// Asks the session to save itself and stop, waiting a bounded time.
async fn shutdown(mut s: SessionHandle) {
    let _ = s.ops.send(Op::Interrupt).await;
    let _ = s.ops.send(Op::Shutdown).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(ev) = s.events.recv().await {
            if ev == Event::ShutdownComplete {
                break;
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_millis(500), s.join()).await;
}

async fn join<T>(s: &mut Option<AbortOnDropHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match s {
        Some(s) => s.await,
        None => std::future::pending().await,
    }
}

async fn recv(s: &mut Option<SessionHandle>) -> Option<Event> {
    match s {
        Some(s) => s.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn files_changed(f: &mut Option<FileSearch>) -> bool {
    match f {
        Some(f) => f.changed().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
