//! A session's MCP servers: each started in the background by its own
//! supervisor task, exactly once per start (however many turns or `/mcp`
//! requests arrive meanwhile); their tools offered as they become ready.

use crate::connect::{Connection, Handler, connect};
use crate::tool::McpTool;
use parking_lot::Mutex;
use rmcp::service::{Peer, RoleClient, ServiceError};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tern_config::McpServerConfig;
use tern_protocol::{Event, McpServerState, McpServerStatus, McpStartupFailure};
use tern_tools::Tool;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;

/// How long a stopping stdio server gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_millis(500);
/// How long a server whose connection closed gets to report its exit.
const EXIT_WAIT: Duration = Duration::from_millis(500);
/// How long refreshing a changed tool list may take.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);

/// One configured server and its state, shared by its supervisor and its tools.
pub(crate) struct Slot {
    pub(crate) config: McpServerConfig,
    state: Mutex<State>,
    /// Bumped on every state change (waiters for `required` servers).
    changed: watch::Sender<u64>,
    restart: Notify,
    /// Bumped whenever the set of offered tools changes (all servers).
    generation: Arc<AtomicU64>,
    events: mpsc::Sender<Event>,
}

enum State {
    Starting,
    Ready { peer: Peer<RoleClient>, tools: Vec<Arc<McpTool>> },
    Failed(String),
    Disabled(String),
}

impl Slot {
    /// The connection to call tools on, or why there is none.
    pub(crate) fn peer(&self) -> Result<Peer<RoleClient>, String> {
        match &*self.state.lock() {
            State::Ready { peer, .. } => Ok(peer.clone()),
            State::Starting => {
                Err(format!("the MCP server `{}` is still starting; try again shortly", self.config.name))
            }
            State::Failed(e) => Err(format!(
                "the MCP server `{}` is not running ({e}); the user can restart it with /mcp restart {}",
                self.config.name, self.config.name
            )),
            State::Disabled(r) => Err(format!("the MCP server `{}` is not started: {r}", self.config.name)),
        }
    }

    /// The model's message for a failed call; a closed connection also
    /// marks the server failed (its supervisor notices the exit too).
    pub(crate) fn call_failed(&self, e: &ServiceError) -> String {
        let name = &self.config.name;
        match e {
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                format!(
                    "the MCP server `{name}` stopped during the call ({e}); the user can restart it with /mcp restart {name}"
                )
            }
            ServiceError::McpError(data) => format!("the MCP server `{name}` answered with an error: {}", data.message),
            other => format!("the call to the MCP server `{name}` failed: {other}"),
        }
    }

    fn status(&self) -> McpServerStatus {
        let state = match &*self.state.lock() {
            State::Starting => McpServerState::Starting,
            State::Ready { tools, .. } => McpServerState::Ready { tools: tools.len() },
            State::Failed(e) => McpServerState::Failed { error: e.clone() },
            State::Disabled(r) => McpServerState::Disabled { reason: r.clone() },
        };
        McpServerStatus {
            name: self.config.name.clone(),
            transport: self.config.transport.kind().into(),
            required: self.config.required,
            state,
        }
    }

    /// Sets the state and tells the front (the send may wait for it: this
    /// runs on the server's own task, never on the UI's).
    async fn set(&self, state: State) {
        let offered_before = matches!(&*self.state.lock(), State::Ready { tools, .. } if !tools.is_empty());
        let offered_now = matches!(&state, State::Ready { tools, .. } if !tools.is_empty());
        *self.state.lock() = state;
        if offered_before || offered_now {
            self.generation.fetch_add(1, Ordering::Release);
        }
        self.changed.send_modify(|v| *v += 1);
        let _ = self.events.send(Event::McpServerUpdate(self.status())).await;
    }

    fn settled(&self) -> bool {
        !matches!(&*self.state.lock(), State::Starting)
    }

    /// Waits until the server is no longer starting.
    async fn settle(&self) {
        // Subscribed before looking, so a change in between still wakes us.
        let mut changed = self.changed.subscribe();
        while !self.settled() {
            if changed.changed().await.is_err() {
                return;
            }
        }
    }
}

/// The servers of one session: a cheap handle, shared by the session and
/// its op loop. When the last handle is dropped the servers stop (their
/// supervisors are aborted and their process trees killed).
#[derive(Clone)]
pub struct Servers {
    shared: Arc<Shared>,
}

struct Shared {
    slots: Vec<Arc<Slot>>,
    generation: Arc<AtomicU64>,
    workspace: PathBuf,
    events: mpsc::Sender<Event>,
    /// The supervisors (one per running server) and the start-up reporter.
    tasks: Mutex<JoinSet<()>>,
}

impl Drop for Shared {
    /// A ready slot holds its tools, which hold the slot: clearing the
    /// states breaks that cycle when the session lets go of its servers.
    fn drop(&mut self) {
        for slot in &self.slots {
            *slot.state.lock() = State::Disabled("the session ended".into());
        }
    }
}

impl Servers {
    /// The servers of `configs`, not started yet (see [`Servers::launch`]).
    /// Events about them will go to `events`.
    pub fn new(configs: &[McpServerConfig], workspace: PathBuf, events: mpsc::Sender<Event>) -> Servers {
        let generation = Arc::new(AtomicU64::new(0));
        let mut slots = Vec::new();
        for config in configs {
            let initial = match (&config.unusable, config.enabled) {
                (_, false) => State::Disabled("disabled in config (enabled = false)".into()),
                (Some(why), true) => State::Disabled(format!("not started: {why}")),
                (None, true) => State::Starting,
            };
            let slot = Arc::new(Slot {
                config: config.clone(),
                state: Mutex::new(initial),
                changed: watch::channel(0).0,
                restart: Notify::new(),
                generation: generation.clone(),
                events: events.clone(),
            });
            slots.push(slot);
        }
        let shared = Shared { slots, generation, workspace, events, tasks: Mutex::new(JoinSet::new()) };
        Servers { shared: Arc::new(shared) }
    }

    /// Starts every enabled server in the background and returns at once.
    pub fn launch(&self) {
        let mut tasks = self.shared.tasks.lock();
        for slot in &self.shared.slots {
            if matches!(&*slot.state.lock(), State::Starting) {
                tasks.spawn(supervise(slot.clone(), self.shared.workspace.clone()));
            }
        }
        if !self.shared.slots.is_empty() {
            tasks.spawn(report_startup(self.shared.slots.clone(), self.shared.events.clone()));
        }
    }

    /// Changes whenever the set of offered tools does.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Notes that what the model should be offered changed (a lazy tool
    /// was loaded).
    pub fn tools_changed(&self) {
        self.shared.generation.fetch_add(1, Ordering::Release);
    }

    /// The tools of every ready server.
    pub fn tools(&self) -> Vec<Arc<dyn Tool>> {
        let mut out: Vec<Arc<dyn Tool>> = Vec::new();
        for slot in &self.shared.slots {
            if let State::Ready { tools, .. } = &*slot.state.lock() {
                out.extend(tools.iter().map(|t| t.clone() as Arc<dyn Tool>));
            }
        }
        out
    }

    /// Every server's state.
    pub fn statuses(&self) -> Vec<McpServerStatus> {
        self.shared.slots.iter().map(|s| s.status()).collect()
    }

    /// Waits for the `required` servers still starting (each bounded by
    /// its own start-up timeout); the error names those that failed.
    pub async fn wait_required(&self) -> Result<(), String> {
        let mut failed = Vec::new();
        for slot in self.shared.slots.iter().filter(|s| s.config.required && s.config.enabled) {
            // The supervisor enforces the timeout; the extra second only
            // guards against a state that never settles.
            let _ = tokio::time::timeout(slot.config.startup_timeout + Duration::from_secs(1), slot.settle()).await;
            if let Err(e) = slot.peer() {
                failed.push(e);
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        Err(format!(
            "a required MCP server is not available: {}. Fix it (see /mcp), or set required = false",
            failed.join("; ")
        ))
    }

    /// Restarts the server called `name`; an error names the known ones.
    pub fn restart(&self, name: &str) -> Result<(), String> {
        let slots = &self.shared.slots;
        let Some(slot) = slots.iter().find(|s| s.config.name == name) else {
            let known: Vec<_> = slots.iter().map(|s| s.config.name.as_str()).collect();
            return Err(format!("no MCP server `{name}`; configured: {}", known.join(", ")));
        };
        match &*slot.state.lock() {
            State::Starting => return Ok(()),
            State::Ready { .. } => {
                slot.restart.notify_one();
                return Ok(());
            }
            State::Disabled(r) => return Err(format!("`{name}` is {r}")),
            State::Failed(_) => {}
        }
        // A failed server's supervisor has ended: start a new one.
        *slot.state.lock() = State::Starting;
        let mut tasks = self.shared.tasks.lock();
        // The failed start's supervisor has returned: let go of it.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(supervise(slot.clone(), self.shared.workspace.clone()));
        Ok(())
    }

    /// Stops every server: supervisors aborted, process trees killed
    /// (SIGKILL to each group, stragglers found by the cleanup thread).
    /// Bounded.
    pub async fn shutdown(&self) {
        let mut tasks = std::mem::take(&mut *self.shared.tasks.lock());
        tasks.abort_all();
        let _ = tokio::time::timeout(STOP_GRACE, async { while tasks.join_next().await.is_some() {} }).await;
    }
}

/// Starts one server, serves it until it stops or is restarted, and
/// refreshes its tools when it says they changed.
async fn supervise(slot: Arc<Slot>, workspace: PathBuf) {
    loop {
        slot.set(State::Starting).await;
        let tools_changed = Arc::new(Notify::new());
        let handler = Handler { tools_changed: tools_changed.clone() };
        let timeout = slot.config.startup_timeout;
        let started = tokio::time::timeout(timeout, connect(&slot.config, &workspace, handler)).await;
        let conn = match started {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return slot.set(State::Failed(e)).await,
            Err(_) => {
                let e = format!(
                    "it did not start within {} s (startup_timeout_sec); if it is slow to install, raise the timeout",
                    crate::seconds(timeout)
                );
                return slot.set(State::Failed(e)).await;
            }
        };
        tracing::info!(server = %slot.config.name, tools = conn.tools.len(), "MCP server ready");
        let Connection { service, mut process, stderr, mut stderr_reader, tools } = conn;
        let peer = service.peer().clone();
        slot.set(State::Ready { tools: offered(&slot, &tools), peer: peer.clone() }).await;
        let stop = service.cancellation_token();
        let waiting = service.waiting();
        tokio::pin!(waiting);
        let restart = loop {
            tokio::select! {
                // All three are cancellation-safe (a join handle, and Notify
                // permits are kept until taken).
                _ = &mut waiting => break false,
                () = tools_changed.notified() => {
                    match tokio::time::timeout(REFRESH_TIMEOUT, peer.list_all_tools()).await {
                        Ok(Ok(tools)) => {
                            let tools = offered(&slot, &tools);
                            slot.set(State::Ready { tools, peer: peer.clone() }).await;
                        }
                        Ok(Err(e)) => tracing::warn!(server = %slot.config.name, "refreshing its tools: {e}"),
                        Err(_) => tracing::warn!(server = %slot.config.name, "refreshing its tools timed out"),
                    }
                }
                () = slot.restart.notified() => break true,
            }
        };
        if restart {
            stop.cancel();
            let _ = tokio::time::timeout(STOP_GRACE, &mut waiting).await;
        }
        if let Some(p) = process.as_mut() {
            // A closed connection usually means the server exited: say how
            // (its last stderr lines arrive with the exit).
            if !restart && let Some(status) = p.exited(EXIT_WAIT).await {
                // Its last words are on their way through the stderr pipe.
                if let Some(reader) = stderr_reader.as_mut() {
                    let _ = tokio::time::timeout(EXIT_WAIT, reader).await;
                }
                let why = format!("it exited ({status}){}", Connection::stderr_tail(&stderr));
                slot.set(State::Failed(why)).await;
                p.end(STOP_GRACE).await;
                return;
            }
            p.end(STOP_GRACE).await;
        }
        if !restart {
            return slot.set(State::Failed("the connection closed".into())).await;
        }
    }
}

/// The server's tools that config lets through, as tern tools.
fn offered(slot: &Arc<Slot>, tools: &[rmcp::model::Tool]) -> Vec<Arc<McpTool>> {
    tools
        .iter()
        .filter(|t| slot.config.offers(&t.name))
        .map(|t| Arc::new(McpTool::new(slot.clone(), t, slot.config.parallel_calls)))
        .collect()
}

/// Sends [`Event::McpStartupComplete`] once every server has settled.
async fn report_startup(slots: Vec<Arc<Slot>>, events: mpsc::Sender<Event>) {
    for slot in &slots {
        slot.settle().await;
    }
    let mut ready = Vec::new();
    let mut failed = Vec::new();
    for slot in &slots {
        match slot.status().state {
            McpServerState::Ready { .. } => ready.push(slot.config.name.clone()),
            McpServerState::Failed { error } => {
                failed.push(McpStartupFailure { server: slot.config.name.clone(), error })
            }
            McpServerState::Disabled { .. } | McpServerState::Starting => {}
        }
    }
    let _ = events.send(Event::McpStartupComplete { ready, failed }).await;
}
