//! A session: its history, its log, and the loop that serves ops.

use crate::asker::{Pending, SessionAsker};
use crate::diff::SessionDiff;
use crate::log::{self, Loaded, Meta, Record, SessionLog};
use crate::{Connector, CoreError, Resume, instructions, prompt};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tern_config::Config;
use tern_files::FileState;
use tern_llm::{Message, ModelClient, Request, ToolSpec};
use tern_protocol::ApprovalPolicy;
use tern_protocol::{Event, Op, SessionInfo};
use tern_tools::approvals::Approvals;
use tern_tools::{Processes, Registry, Workspace};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) config: Config,
    /// The canonical workspace root.
    pub(crate) workspace: PathBuf,
    /// The root plus declared extra roots, as tools see them.
    pub(crate) roots: Arc<Workspace>,
    /// Where this session's large command outputs are saved.
    pub(crate) spool_dir: PathBuf,
    /// Interactive processes; they end when the session does.
    pub(crate) processes: Arc<Processes>,
    pub(crate) approvals: Arc<Approvals>,
    /// Approval questions waiting for the front's answer.
    pending: Pending,
    /// How commands are confined (`None`: full access, or opted out).
    pub(crate) sandbox: Option<tern_process::Sandbox>,
    pub(crate) client: Box<dyn ModelClient>,
    pub(crate) tools: Registry,
    pub(crate) specs: Vec<ToolSpec>,
    /// MCP servers, started in the background; their tools join `tools`
    /// between model calls.
    pub(crate) mcp: tern_mcp::Servers,
    /// The MCP tool set `tools` holds (see [`tern_mcp::Servers::generation`]).
    pub(crate) mcp_generation: u64,
    /// Lazy MCP tools loaded so far (their schemas are offered).
    pub(crate) mcp_loaded: tern_mcp::Loaded,
    /// The conversation, starting with the system prompt.
    pub(crate) history: Vec<Message>,
    /// Where in `history` the latest turn's user message is.
    pub(crate) turn_start: usize,
    /// What the user typed, every turn, oldest first (quoted after a compaction).
    pub(crate) user_messages: Vec<String>,
    /// How full the context is, as last reported.
    pub(crate) meter: crate::compact::Meter,
    pub(crate) log: SessionLog,
    pub(crate) events: mpsc::Sender<Event>,
    /// Read stamps and checkpoints for the file-editing tools.
    pub(crate) files: Arc<FileState>,
    next_item: AtomicU64,
    pub(crate) resumed: bool,
    /// Tokens used by this session so far (this process).
    pub(crate) session_usage: tern_protocol::Usage,
    /// How streamed deltas fared (coalesced, dropped).
    pub(crate) deltas: Arc<tern_tools::DeltaCounters>,
    /// The user's hooks (tern's, Claude Code's and Codex's files).
    pub(crate) hooks: Arc<tern_hooks::Hooks>,
    /// Context from hooks, given to the model with the next user message.
    pub(crate) hook_context: Vec<String>,
    /// Tool results the pipeline can reuse, and what the model has seen.
    pub(crate) results: crate::results::Results,
    /// Per-tool figures.
    pub(crate) tool_stats: crate::figures::ToolStats,
    /// The small model's edits refused this turn (see `refuse.rs`): each
    /// call as JSON (made again, it goes through), or `write_file PATH`
    /// for an overwrite (refused however often it is made).
    pub(crate) edits_refused: parking_lot::Mutex<Vec<String>>,
    /// Old sessions being removed (`[storage]`), off the way to the first
    /// request.
    _pruning: AbortOnDropHandle<()>,
}

impl Session {
    pub(crate) async fn open(
        config: Config,
        resume: Resume,
        tools: Registry,
        connector: &dyn Connector,
        events: mpsc::Sender<Event>,
    ) -> Result<Self, CoreError> {
        let cwd = config.cwd.clone();
        let data_dir = config.data_dir.clone();
        let config_dir = config.config_dir.clone();
        let max_doc = config.project_doc_max_bytes;
        let extra = config.writable_roots.clone();
        let spool_keep = config.storage.spool_keep;
        let pending = Pending::default();
        let asker_hooks = Arc::new(std::sync::OnceLock::new());
        let asker =
            Arc::new(SessionAsker { events: events.clone(), pending: pending.clone(), hooks: asker_hooks.clone() });
        let policy = config.approval_policy;
        let rules_dir = config.data_dir.join("approvals");
        // The closure reads and creates files: it runs in spawn_blocking.
        #[allow(clippy::disallowed_methods)]
        let (workspace, extra_roots, spool_root, loaded, instructions, approvals) =
            tokio::task::spawn_blocking(move || {
                let workspace = canonical_workspace(&cwd)?;
                // Spooled command output lives here; tools may read it.
                let spool_root = data_dir.join("spool");
                let spool_root = std::fs::create_dir_all(&spool_root)
                    .and_then(|()| spool_root.canonicalize())
                    .map_err(|source| CoreError::Workspace { path: spool_root.clone(), source, note: "" })?;
                crate::retention::prune_spools(&spool_root, spool_keep);
                let extra_roots = extra
                    .iter()
                    .map(|r| {
                        r.canonicalize().map_err(|source| CoreError::Workspace {
                            path: r.clone(),
                            source,
                            note: " (listed in writable_roots)",
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let loaded = find_resume(&data_dir, &workspace, &resume)?;
                let instructions = instructions::load(&config_dir, &workspace, max_doc);
                // "Always" approvals are kept per workspace.
                let rules = rules_dir.join(format!("{}.json", workspace.display().to_string().replace('/', "%")));
                let approvals = Approvals::new(policy, asker, Some((rules, workspace.display().to_string())));
                Ok::<_, CoreError>((workspace, extra_roots, spool_root, loaded, instructions, approvals))
            })
            .await??;
        let pruning = prune_in_background(&config, loaded.as_ref().map(|l| l.meta.id.clone()));

        let client = connector.connect(&config).await?;
        let specs = crate::offer::tool_specs(&tools, config.provider.wire_api);
        let mut history = vec![system_message(&config, &workspace, instructions.as_deref())];

        let resumed = loaded.is_some();
        let mut user_messages = Vec::new();
        let (id, log) = match loaded {
            Some(Loaded { meta, path, messages, user_messages: typed, repairs, tail_results }) => {
                user_messages = typed;
                // A model that reads no images (the session may have been
                // another's) is told what there was instead.
                let images = config.model_info.images;
                history.extend(messages.into_iter().map(|m| match m {
                    Message::Images { caption, images: shown } if !images => Message::User {
                        content: format!("{caption} ({} image(s), not shown: this model takes no images)", shown.len()),
                    },
                    m => m,
                }));
                // One warning, however many repairs: nobody reads events
                // until the session has started, and the channel is bounded.
                if !repairs.is_empty() {
                    let mut message =
                        format!("while loading the session: {}", repairs[..repairs.len().min(5)].join("; "));
                    if repairs.len() > 5 {
                        message.push_str(&format!("; and {} more", repairs.len() - 5));
                    }
                    let _ = events.send(Event::Warning { message }).await;
                }
                let log = open_log(path, SessionLog::open)?;
                if !tail_results.is_empty() {
                    for message in tail_results {
                        if let Message::Tool { call_id, .. } = &message {
                            log.append(&Record::ToolEnd(log::ToolEnd::interrupted(call_id))).await;
                        }
                        log.append(&Record::Message { message }).await;
                    }
                    // On disk before a front replays the log.
                    if let Err(e) = log.sync().await {
                        tracing::error!(path = %log.path().display(), "recording the repaired calls: {e}");
                    }
                }
                (meta.id, log)
            }
            None => {
                let id = uuid::Uuid::now_v7().to_string();
                let now = jiff::Timestamp::now();
                let name = format!("{}-{id}.jsonl", now.strftime("%Y-%m-%dT%H-%M-%S"));
                let path = log::sessions_dir(&config.data_dir).join(name);
                let log = open_log(path, SessionLog::create)?;
                log.append(&Record::SessionMeta(Meta {
                    id: id.clone(),
                    created_at: now.to_string(),
                    cwd: workspace.display().to_string(),
                    model: config.model.clone(),
                    provider: config.provider.name.clone(),
                    tern_version: env!("CARGO_PKG_VERSION").into(),
                    parent: None,
                }))
                .await;
                (id, log)
            }
        };
        let files = Arc::new(FileState::with_limits(
            crate::checkpoint_dir(&config.data_dir, &id),
            tern_files::checkpoint::Limits {
                workspace: workspace.clone(),
                max_file_bytes: config.storage.checkpoint_max_file_bytes,
            },
        ));
        // Started (in the background) once the front has heard of the session.
        let mcp = tern_mcp::Servers::new(&config.mcp_servers, workspace.clone(), events.clone());
        let spool_dir = spool_root.join(&id);
        let results = crate::results::Results::new(spool_dir.clone());
        let hooks = Arc::new(crate::hooks::for_session(&config, &workspace, &id, log.path()));
        let _ = asker_hooks.set(hooks.clone());
        let sandbox = sandbox_for(&config, policy, &workspace, &extra_roots).await?;
        let roots = Arc::new(Workspace { root: workspace.clone(), extra_roots, read_only_roots: vec![spool_root] });
        let turn_start = history.iter().rposition(|m| matches!(m, Message::User { .. })).unwrap_or(0);
        Ok(Session {
            turn_start,
            user_messages,
            meter: Default::default(),
            sandbox,
            approvals: Arc::new(approvals),
            pending,
            processes: Arc::new(Processes::default()),
            spool_dir,
            roots,
            files,
            id,
            config,
            workspace,
            client,
            tools,
            specs,
            mcp,
            mcp_generation: 0,
            mcp_loaded: tern_mcp::Loaded::default(),
            history,
            log,
            events,
            next_item: AtomicU64::new(0),
            session_usage: tern_protocol::Usage::default(),
            deltas: Arc::default(),
            resumed,
            hooks,
            hook_context: Vec::new(),
            results,
            tool_stats: Default::default(),
            edits_refused: Default::default(),
            _pruning: pruning,
        })
    }

    /// A fresh item id (`item_N`), unique within the session.
    pub(crate) fn item_id(&self) -> String {
        format!("item_{}", self.next_item.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) async fn emit(&self, event: Event) {
        // A front that went away cannot be told anything; the session
        // still finishes its work and its log.
        let _ = self.events.send(event).await;
    }

    /// Serves ops until shutdown or until every sender is gone.
    pub(crate) async fn run(mut self, mut ops: mpsc::Receiver<Op>) {
        tracing::info!(
            session = %self.id,
            model = %self.config.model,
            provider = %self.config.provider.name,
            resumed = self.resumed,
            workspace = %self.workspace.display(),
            sandboxed = self.sandbox.is_some(),
            "session started"
        );
        self.emit(Event::SessionConfigured(SessionInfo {
            session_id: self.id.clone(),
            model: self.config.model.clone(),
            provider: self.config.provider.name.clone(),
            cwd: self.workspace.display().to_string(),
            log_path: self.log.path().display().to_string(),
            resumed: self.resumed,
            notice: self.config.notice.clone(),
        }))
        .await;
        // Every MCP server starts now, in the background; nothing waits for them.
        self.mcp.launch();
        self.session_start_hooks(self.resumed).await;
        // How full a resumed conversation is, estimated (counting with the
        // local model would wait for it to load).
        let estimate = crate::compact::estimate(&self.history, &self.specs);
        self.emit(Event::ContextUpdated(self.context_usage(estimate))).await;
        // The local model evaluates the system prompt and tools while the
        // user is still typing; the first turn then pays only for its message.
        drop(self.client.prepare(Request {
            model: &self.config.model,
            messages: &self.history[..1],
            tools: &self.specs,
            cache_key: &self.id,
            tools_disabled: false,
        }));
        if self.config.model_info.entry.is_none() {
            let m = &self.config.model;
            self.emit(Event::Warning {
                message: format!(
                    "model `{m}` is not in tern's catalog: assuming a {}-token context and no pricing; \
                     describe it with [models.\"{m}\"] in config",
                    self.config.model_info.context_window
                ),
            })
            .await;
        }
        let mut queued: VecDeque<Op> = VecDeque::new();
        let mut open = true;
        // Why the session ends, as SessionEnd hooks hear it.
        let mut end_reason = "other";
        let diff = SessionDiff {
            checkpoints: crate::checkpoint_dir(&self.config.data_dir, &self.id),
            workspace: self.workspace.clone(),
        };
        let events = self.events.clone();
        while open || !queued.is_empty() {
            let op = match queued.pop_front() {
                Some(op) => op,
                None => match ops.recv().await {
                    Some(op) => op,
                    None => break,
                },
            };
            let work = match op {
                Op::UserTurn { text } => Work::Turn(text),
                Op::Compact { focus } => Work::Compact(focus),
                Op::Undo { turns } => {
                    self.undo(turns).await;
                    continue;
                }
                Op::Diff => {
                    let changes = diff.changes().await;
                    self.emit(changes).await;
                    continue;
                }
                Op::McpList => {
                    self.emit(Event::McpServers { servers: self.mcp.statuses() }).await;
                    continue;
                }
                Op::McpRestart { name } => {
                    if let Err(message) = self.mcp.restart(&name) {
                        self.emit(Event::Warning { message }).await;
                    }
                    continue;
                }
                // No question is open between turns; a late answer is moot.
                Op::Interrupt | Op::Approval { .. } => continue,
                Op::Shutdown => {
                    end_reason = "prompt_input_exit";
                    break;
                }
            };
            let cancel = CancellationToken::new();
            let pending = self.pending.clone();
            let mcp = self.mcp.clone();
            let turn = self.run_work(work, cancel.clone());
            tokio::pin!(turn);
            // Answers to ops that do not wait for the turn (diffs, MCP
            // lists and restart errors), sent as they are ready.
            let mut replies = JoinSet::new();
            loop {
                tokio::select! {
                    biased;
                    // recv() is cancellation-safe: an op not taken stays queued.
                    op = ops.recv(), if open => match op {
                        Some(op @ (Op::UserTurn { .. } | Op::Undo { .. } | Op::Compact { .. })) => queued.push_back(op),
                        Some(Op::Diff) => {
                            let (diff, events) = (diff.clone(), events.clone());
                            replies.spawn(async move {
                                let _ = events.send(diff.changes().await).await;
                            });
                        }
                        // The servers are not the turn's: answered at once.
                        Some(Op::McpList) => {
                            let (servers, events) = (mcp.statuses(), events.clone());
                            replies.spawn(async move {
                                let _ = events.send(Event::McpServers { servers }).await;
                            });
                        }
                        Some(Op::McpRestart { name }) => {
                            if let Err(message) = mcp.restart(&name) {
                                let events = events.clone();
                                replies.spawn(async move {
                                    let _ = events.send(Event::Warning { message }).await;
                                });
                            }
                        }
                        Some(Op::Interrupt) => cancel.cancel(),
                        Some(Op::Approval { id, decision, note }) => pending.answer(&id, decision, note),
                        op @ (Some(Op::Shutdown) | None) => {
                            if op.is_some() {
                                end_reason = "prompt_input_exit";
                            }
                            open = false;
                            queued.clear();
                            cancel.cancel();
                        }
                    },
                    // join_next is cancellation-safe.
                    Some(_) = replies.join_next() => {}
                    () = &mut turn => break,
                }
            }
            // A diff asked for just before the turn ended is still answered.
            let _ = tokio::time::timeout(DIFF_GRACE, async { while replies.join_next().await.is_some() {} }).await;
        }
        self.session_end_hooks(end_reason).await;
        self.results.clear().await;
        self.approvals.flush().await;
        if let Err(e) = self.log.sync().await {
            tracing::error!(session = %self.id, "the session log may be incomplete: {e}");
            self.emit(Event::Warning { message: format!("the session log may be incomplete: {e}") }).await;
        }
        self.client.shutdown().await;
        self.mcp.shutdown().await;
        self.log.close().await;
        tracing::info!(session = %self.id, "session ended");
        self.emit(Event::ShutdownComplete).await;
    }
}

/// What an op asks the session to do that runs like a turn (interruptible,
/// other ops queued behind it).
enum Work {
    Turn(String),
    Compact(Option<String>),
}

impl Session {
    async fn run_work(&mut self, work: Work, cancel: CancellationToken) {
        match work {
            Work::Turn(text) => self.run_turn(text, cancel).await,
            Work::Compact(focus) => self.compact_now(focus, &cancel).await,
        }
    }
}

/// The sandbox commands run in: on in "auto" and "read-only" unless the
/// user opted out; refused (an error, never silently unconfined) where the
/// kernel cannot enforce it.
async fn sandbox_for(
    config: &Config,
    policy: ApprovalPolicy,
    workspace: &std::path::Path,
    extra_roots: &[PathBuf],
) -> Result<Option<tern_process::Sandbox>, CoreError> {
    if !policy.sandboxed() || !config.sandbox {
        return Ok(None);
    }
    let Some(helper) = config.sandbox_helper.clone() else {
        return Err(CoreError::NoSandboxHelper);
    };
    tokio::task::spawn_blocking(tern_sandbox::probe).await?.map_err(CoreError::Sandbox)?;
    let writable = match policy {
        ApprovalPolicy::ReadOnly => vec![],
        _ => {
            let mut w = vec![workspace.to_path_buf(), std::env::temp_dir()];
            w.extend(extra_roots.iter().cloned());
            w
        }
    };
    Ok(Some(tern_process::Sandbox { helper, writable, network: config.network_access }))
}

/// How long a diff asked for during a turn may take to finish after it.
const DIFF_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Removes old sessions by `[storage]`, sparing the one being resumed (a
/// new one has no files yet, and its log is locked once it has).
fn prune_in_background(config: &Config, resumed: Option<String>) -> AbortOnDropHandle<()> {
    let (data_dir, storage) = (config.data_dir.clone(), config.storage.clone());
    AbortOnDropHandle::new(tokio::task::spawn_blocking(move || {
        let spared: Vec<&str> = resumed.as_deref().into_iter().collect();
        let pruned = crate::retention::prune(&data_dir, &storage, &spared, false);
        if !pruned.removed.is_empty() {
            let bytes: u64 = pruned.removed.iter().map(|r| r.bytes).sum();
            tracing::info!(sessions = pruned.removed.len(), bytes, "removed old sessions ([storage])");
        }
    }))
}

/// `open` ([`SessionLog::open`] or [`SessionLog::create`]) with the error
/// naming the log.
fn open_log(path: PathBuf, open: fn(PathBuf) -> std::io::Result<SessionLog>) -> Result<SessionLog, CoreError> {
    open(path.clone()).map_err(|e| CoreError::Log { path, source: e.into() })
}

/// Finds and loads the session to resume, if any. Blocking.
fn find_resume(
    data_dir: &std::path::Path,
    workspace: &std::path::Path,
    resume: &Resume,
) -> Result<Option<Loaded>, CoreError> {
    if *resume == Resume::New {
        return Ok(None);
    }
    let summary = log::find_session(data_dir, workspace, resume)?;
    let path = match resume {
        Resume::Fork { turns, .. } => log::fork(data_dir, &summary.path, workspace, *turns)
            .map_err(|source| CoreError::Log { path: summary.path.clone(), source })?,
        _ => summary.path,
    };
    log::load(&path).map(Some).map_err(|source| CoreError::Log { path: path.clone(), source })
}

/// The working directory, resolved; what every path the tools take is relative to. Blocking.
#[allow(clippy::disallowed_methods)] // callers run it in spawn_blocking
fn canonical_workspace(cwd: &std::path::Path) -> Result<PathBuf, CoreError> {
    cwd.canonicalize().map_err(|source| CoreError::Workspace { path: cwd.to_path_buf(), source, note: "" })
}

pub(crate) fn system_message(config: &Config, workspace: &std::path::Path, instructions: Option<&str>) -> Message {
    Message::System { content: prompt::system_prompt(workspace, instructions, config.model_info.tools) }
}

/// Gets `config`'s model ready for sessions in its working directory
/// without starting one: the local model evaluates the system prompt and
/// `tools` and saves their KV entries for later sessions. Returns whether
/// the client had anything to prepare (HTTP providers have not).
pub(crate) async fn prepare(config: Config, tools: Registry, connector: &dyn Connector) -> Result<bool, CoreError> {
    let cwd = config.cwd.clone();
    let (config_dir, max_doc) = (config.config_dir.clone(), config.project_doc_max_bytes);
    let (workspace, instructions) = tokio::task::spawn_blocking(move || {
        let workspace = canonical_workspace(&cwd)?;
        let instructions = instructions::load(&config_dir, &workspace, max_doc);
        Ok::<_, CoreError>((workspace, instructions))
    })
    .await??;
    let client = connector.connect(&config).await?;
    let system = [system_message(&config, &workspace, instructions.as_deref())];
    let specs = crate::offer::tool_specs(&tools, config.provider.wire_api);
    let request =
        Request { model: &config.model, messages: &system, tools: &specs, cache_key: "", tools_disabled: false };
    let prepared = client.prepare(request).await;
    client.shutdown().await;
    Ok(prepared?)
}
