//! Session facts for the status line and `/status`, including how the
//! UI loop itself keeps up.

use std::time::Instant;
use tern_protocol::{
    ApprovalPolicy, ContextUsage, DeltaStats, LagStats, McpServerState, McpServerStatus, SessionInfo, ToolFigures,
    Usage,
};

/// What the status line and `/status` show.
#[derive(Debug, Default)]
pub struct Status {
    pub info: Option<SessionInfo>,
    /// How full the context is (the window is known before the first turn).
    pub context: ContextUsage,
    /// A compaction is under way.
    pub compacting: bool,
    /// Compactions this session (as seen by this UI).
    pub compactions: u32,
    pub session_usage: Usage,
    pub session_cost: Option<f64>,
    /// The runtime's scheduling lag during the last turn (the core's probe).
    pub lag: LagStats,
    pub turn_started: Option<Instant>,
    pub approval_policy: Option<ApprovalPolicy>,
    /// Frames drawn, and state changes merged into a frame already due.
    pub frames: u64,
    pub coalesced: u64,
    /// How the core's streamed deltas fared this session (this UI's turns).
    pub deltas: DeltaStats,
    /// How late the UI loop's own thread woke for the frame and timer
    /// deadlines it set (its lag probe: only recorded while something is
    /// drawn or runs; an idle UI sets none).
    pub ui_lag: tern_core::LagHistogram,
    /// The MCP servers as last heard of (in configuration order).
    pub mcp: Vec<McpServerStatus>,
    /// Each tool's figures, as of the last turn.
    pub tools: Vec<ToolFigures>,
}

fn lag_line(l: &LagStats) -> String {
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} samples",
        l.p50_us as f64 / 1000.0,
        l.p99_us as f64 / 1000.0,
        l.max_us as f64 / 1000.0,
        l.samples
    )
}

impl Status {
    /// What `/status` prints.
    pub fn text(&self) -> String {
        let mut out = String::from("status\n");
        if let Some(i) = &self.info {
            out.push_str(&format!(
                "model      {} ({})\nsession    {}\nlog        {}\n",
                i.model, i.provider, i.session_id, i.log_path
            ));
        }
        out.push_str(&format!("approvals  {}\n", self.approval_policy.map_or("", ApprovalPolicy::name)));
        let c = &self.context;
        out.push_str(&format!("context    {}", context_text(c.used_tokens, c.window)));
        if c.compact_at > 0 {
            out.push_str(&format!(", compacts at {} (compact_at)", short(c.compact_at)));
        }
        if self.compactions > 0 {
            out.push_str(&format!(", compacted {} time(s)", self.compactions));
        }
        out.push('\n');
        let u = &self.session_usage;
        out.push_str(&format!(
            "tokens     {} in ({} cached), {} out\n",
            u.input_tokens, u.cached_input_tokens, u.output_tokens
        ));
        match self.session_cost {
            Some(c) => out.push_str(&format!("cost       ${c:.4}\n")),
            None => out.push_str("cost       unknown (no prices for this model)\n"),
        }
        out.push_str(&format!("lag        {} (runtime, last turn)\n", lag_line(&self.lag)));
        out.push_str(&format!("ui lag     {} (this loop's deadlines)\n", lag_line(&self.ui_lag.stats())));
        let d = &self.deltas;
        out.push_str(&format!(
            "ui         {} frames drawn, {} updates merged into frames\n\
             deltas     {} sent, {} merged while the UI was busy, {} bytes of live output dropped",
            self.frames, self.coalesced, d.sent, d.coalesced, d.dropped_bytes
        ));
        if !self.tools.is_empty() {
            out.push_str("\ntools      calls  errors  cached  blocked  p50 ms  p99 ms");
            for t in &self.tools {
                out.push_str(&format!(
                    "\n  {:<22} {:>5} {:>7} {:>7} {:>8} {:>7} {:>7}",
                    t.tool, t.calls, t.errors, t.cache_hits, t.blocked, t.p50_ms, t.p99_ms
                ));
            }
        }
        out
    }
}

impl Status {
    /// Takes in a server's new state.
    pub fn mcp_update(&mut self, status: &McpServerStatus) {
        match self.mcp.iter_mut().find(|s| s.name == status.name) {
            Some(s) => *s = status.clone(),
            None => self.mcp.push(status.clone()),
        }
    }

    /// The status line's MCP part: `mcp 2/3` while servers start,
    /// `mcp 3` when all are up, `mcp 2/3 !` when one failed; nothing
    /// without servers.
    pub fn mcp_indicator(&self) -> Option<String> {
        let live: Vec<_> = self.mcp.iter().filter(|s| !matches!(s.state, McpServerState::Disabled { .. })).collect();
        if live.is_empty() {
            return None;
        }
        let ready = live.iter().filter(|s| matches!(s.state, McpServerState::Ready { .. })).count();
        let failed = live.iter().any(|s| matches!(s.state, McpServerState::Failed { .. }));
        Some(match (ready == live.len(), failed) {
            (true, _) => format!("mcp {ready}"),
            (false, false) => format!("mcp {ready}/{} …", live.len()),
            (false, true) => format!("mcp {ready}/{} !", live.len()),
        })
    }
}

/// What `/mcp` prints: one line per server.
pub fn mcp_text(servers: &[McpServerStatus]) -> String {
    if servers.is_empty() {
        return "no MCP servers are configured ([mcp_servers] in config.toml, or .mcp.json); \
                `tern mcp add` adds one"
            .into();
    }
    let mut out = String::from("mcp servers");
    for s in servers {
        let state = match &s.state {
            McpServerState::Starting => "starting…".to_string(),
            McpServerState::Ready { tools } => format!("ready, {tools} tools"),
            McpServerState::Failed { error } => format!("failed: {error}"),
            McpServerState::Disabled { reason } => reason.clone(),
        };
        let required = if s.required { ", required" } else { "" };
        out.push_str(&format!("\n{} ({}{required}): {state}", s.name, s.transport));
    }
    out.push_str("\n/mcp restart NAME restarts one");
    out
}

/// `12.3k/32k (38%)`.
pub fn context_text(used: u64, window: u64) -> String {
    if window == 0 {
        return format!("{} tokens", short(used));
    }
    format!("{}/{} ({}%)", short(used), short(window), used * 100 / window)
}

/// 950, 12.3k, 1.2M.
pub fn short(n: u64) -> String {
    match n {
        0..1000 => n.to_string(),
        1000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}
