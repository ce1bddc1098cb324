//! The event loop: one task serves the terminal, the session's events and
//! every background job the UI started (RUNTIME rule 9). The session's
//! lifecycle is in `session.rs`.

use crate::app::{Action, App};
use crate::files::FileSearch;
use crate::highlight;
use crate::screen::Screen;
use crate::session::{Reconfigured, load_config, shutdown};
use crate::terminal::{self, Guard};
use crate::transcript::Kind;
use crate::{Exit, Options, Start, TuiError, view};
use crossterm::event::{Event as TermEvent, EventStream};
use futures_util::StreamExt;
use std::time::Duration;
use tern_config::{Config, LoadOptions};
use tern_core::{CoreError, Resume, SessionHandle};
use tern_protocol::{Event, Op};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

/// At most 60 frames a second.
const FRAME: Duration = Duration::from_micros(16_667);
/// How often timers (spinner, elapsed time) move while something runs.
const TIMER: Duration = Duration::from_millis(100);
/// Core events applied per wake-up before input gets another look.
const EVENT_BUDGET: usize = 256;

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
    let config = load_config(opts.load.clone(), &opts).await?;
    let mut app = App::new(config.model_info.context_window, config.approval_policy, config.notifications);
    if let Some(p) = opts.prompt.clone().filter(|p| !p.trim().is_empty()) {
        app.queued.push_back(p);
    }
    // Before the terminal changes: from here on, these signals reach the
    // loop instead of ending or stopping tern with its modes still set.
    let mut signals = Signals::new()?;
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
        reconfiguring: None,
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
    let result = lp.serve(&mut term, &mut signals).await;
    let info = lp.app.status.info.as_ref().map(|i| (i.session_id.clone(), i.log_path.clone()));
    if let Some(s) = lp.session.take() {
        lp.ending.spawn(shutdown(s));
    }
    // Every session this UI opened saves itself before tern exits (each
    // shutdown is bounded).
    while lp.ending.join_next().await.is_some() {}
    drop(_guard);
    // A session that never got a message has no log (nothing to resume).
    let session_id = match info {
        Some((id, log)) if tokio::fs::try_exists(&log).await.unwrap_or(false) => Some(id),
        _ => None,
    };
    result.map(|()| Exit { session_id })
}

/// The signals the UI answers. Each is caught for the rest of the process
/// once asked for, so one that arrives while the UI ends (saving the
/// session) is ignored rather than acted on by default.
struct Signals {
    /// End the UI; the session is saved.
    term: Signal,
    /// The terminal is gone (or someone said it is): the same.
    hup: Signal,
    /// An interrupt from outside (Ctrl+C typed reaches tern as a key): the same.
    int: Signal,
    /// Stop: restore the terminal first (Ctrl+Z does this from a key).
    tstp: Signal,
    /// Continued, perhaps after a stop tern could not catch (SIGSTOP):
    /// set the modes again and redraw.
    cont: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
            tstp: signal(SignalKind::from_raw(nix::sys::signal::Signal::SIGTSTP as i32))?,
            cont: signal(SignalKind::from_raw(nix::sys::signal::Signal::SIGCONT as i32))?,
        })
    }
}

/// Coalesces requests to draw into frames.
struct Frames {
    dirty: bool,
    last: Instant,
}

fn draw(term: &mut Screen, app: &mut App, frames: &mut Frames) -> Result<(), TuiError> {
    if app.busy() {
        app.transcript.refresh_running();
    }
    term.draw(|f| view::draw(f, app))?;
    app.status.frames += 1;
    frames.dirty = false;
    frames.last = Instant::now();
    Ok(())
}

/// The UI loop's state: the app, the session and the jobs it waits for.
pub(crate) struct Loop {
    pub(crate) app: App,
    pub(crate) config: Config,
    pub(crate) opts: Options,
    pub(crate) session: Option<SessionHandle>,
    pub(crate) starting: Option<Starting>,
    files: Option<FileSearch>,
    frames: Frames,
    /// Sessions replaced by /new, /model, /resume, still saving themselves.
    pub(crate) ending: JoinSet<()>,
    /// Code blocks being highlighted on a blocking thread (one batch at a
    /// time, so a long transcript cannot occupy both cores).
    highlighting: Option<Highlighting>,
    pub(crate) replaying: Option<Replaying>,
    /// A configuration being loaded for `/model` or `/approvals`.
    pub(crate) reconfiguring: Option<AbortOnDropHandle<Reconfigured>>,
}

impl Loop {
    pub(crate) fn request_frame(&mut self) {
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

    async fn serve(&mut self, term: &mut Screen, signals: &mut Signals) -> Result<(), TuiError> {
        let mut input = EventStream::new();
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
                // recv is cancellation-safe.
                _ = signals.term.recv() => return Ok(()),
                _ = signals.hup.recv() => return Ok(()),
                _ = signals.int.recv() => return Ok(()),
                _ = signals.tstp.recv() => self.suspend(term)?,
                _ = signals.cont.recv() => {
                    terminal::resume(term)?;
                    self.redraw_all();
                }
                // Before the session's events: a flood of them must not
                // starve the frame (a sleep is cancellation-safe).
                () = sleep_until(deadline), if deadline.is_some() => {
                    if let Some(d) = deadline {
                        self.app.status.ui_lag.record(Instant::now().saturating_duration_since(d));
                    }
                    draw(term, &mut self.app, &mut self.frames)?;
                }
                // Cancellation-safe: a JoinHandle can be polled again.
                done = join(&mut self.reconfiguring), if self.reconfiguring.is_some() => {
                    self.reconfiguring = None;
                    self.reconfigured(done);
                }
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
                            tracing::warn!("the session's event stream ended without a shutdown");
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
                        Ok((_, Err(e))) => {
                            tracing::warn!("replaying the resumed session: {e}");
                            self.app.transcript.push(Kind::Warning(format!("cannot show the earlier conversation: {e}")));
                        }
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
                        // The answer to a keystroke: drawn at once, like the
                        // key (at most two more frames per key typed: the
                        // best so far, when ranking is slow, then the rest).
                        self.request_frame();
                        draw(term, &mut self.app, &mut self.frames)?;
                    }
                }
            }
        }
    }

    /// Stops tern with the terminal restored (Ctrl+Z or SIGTSTP); returns
    /// once it is continued, with the modes set again.
    fn suspend(&mut self, term: &mut Screen) -> std::io::Result<()> {
        terminal::suspend(term)?;
        self.redraw_all();
        Ok(())
    }

    /// The screen was cleared, perhaps resized meanwhile: lay out and draw
    /// everything again.
    fn redraw_all(&mut self) {
        self.app.transcript.clear_layouts();
        self.frames.dirty = true;
    }

    /// Handles terminal input; true when the UI should close.
    async fn input(&mut self, ev: TermEvent, term: &mut Screen) -> Result<bool, TuiError> {
        match ev {
            TermEvent::Key(_) if self.opts.panic_on_key => {
                // TERN_TUI_TEST_PANIC=task: the panic is on another thread,
                // once, and the UI goes on (the terminal must stay as it is).
                if std::env::var_os("TERN_TUI_TEST_PANIC").is_some_and(|v| v == "task") {
                    self.opts.panic_on_key = false;
                    let _ = tokio::task::spawn_blocking(forced_panic).await;
                    return Ok(false);
                }
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
    async fn act(&mut self, action: Action, term: &mut Screen) -> Result<bool, TuiError> {
        match action {
            Action::Quit => return Ok(true),
            Action::Suspend => self.suspend(term)?,
            Action::Send(text) => self.send(Op::UserTurn { text }).await,
            Action::Interrupt => self.send(Op::Interrupt).await,
            Action::Approve { id, decision } => self.send(Op::Approval { id, decision, note: None }).await,
            Action::Resume(id) => {
                self.app.transcript.push(Kind::Info(format!("resuming session {id}…")));
                self.restart(Resume::Id(id), None);
            }
            Action::Fork { id, turns, text } => {
                let from = match (turns, &text) {
                    (Some(_), Some(t)) => {
                        format!("from before “{}”", t.lines().next().unwrap_or("").chars().take(60).collect::<String>())
                    }
                    _ => "with the whole conversation".to_string(),
                };
                self.app.transcript.push(Kind::Info(format!("forking session {id} {from}; the original is kept")));
                self.restart(Resume::Fork { id, turns }, None);
                if let Some(text) = text {
                    self.app.composer.set(&text);
                }
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
                self.reconfigure(load, current, what);
            }
            Action::Command(name, arg) => self.command(&name, &arg).await,
        }
        Ok(false)
    }
}

fn forced_panic() {
    panic!("forced panic (TERN_TUI_TEST_PANIC=task) on a thread other than the UI's");
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
