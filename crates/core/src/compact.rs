//! Keeping the conversation inside the model's context window.
//!
//! tern knows how full the window is (the provider's last reported usage
//! plus an estimate of what was added since; the local model counts
//! exactly). At `compact_at`, or when asked, it compacts in two steps:
//! old tool outputs become one-line pointers to a saved copy; if that is
//! not enough (or the user asked), the model writes a handoff summary with
//! tools disabled and the history is rebuilt around it. The project
//! instructions are re-read from disk either way, so their rules survive.
//! A compaction that cannot get under the threshold stops the turn rather
//! than compacting again.

use crate::log::Record;
use crate::session::Session;
use std::path::PathBuf;
use tern_llm::tokens::{estimate_message, estimate_messages, estimate_text, estimate_tools};
use tern_llm::{ErrorKind, LlmError, Message, Request, StreamDelta};
use tern_protocol::{CompactTrigger, Compaction, ContextUsage, Event, HookEvent, TurnSummary, Usage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The newest tool outputs kept whole, as a share of `compact_at`.
const RECENT_OUTPUTS: f64 = 0.25;
/// The cheap step alone must bring the context under this share of
/// `compact_at`; otherwise the model summarizes too (so one compaction
/// buys room for more than a call or two).
const CHEAP_ENOUGH: f64 = 0.75;
/// The user's own messages quoted after a summary, as a share of `compact_at`.
const USER_MESSAGES: f64 = 0.15;
/// The latest turn's messages kept after a summary, as a share of `compact_at`.
const TAIL: f64 = 0.25;
/// Outputs shorter than this are left alone: a pointer would not be shorter.
const STUB_MIN_BYTES: usize = 600;
/// How many times an over-long summary request drops its oldest messages.
const SUMMARY_ATTEMPTS: usize = 4;

/// What the context meter knows: the tokens the provider last reported
/// and how long the history was then.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Meter {
    reported: u64,
    history_len: usize,
}

impl Meter {
    /// Records a response's usage; `history_len` includes the response.
    pub(crate) fn report(&mut self, tokens: u64, history_len: usize) {
        *self = Meter { reported: tokens, history_len };
    }
}

/// The compaction was interrupted; nothing changed.
pub(crate) struct Interrupted;

impl Session {
    /// How full the context is now, in tokens.
    pub(crate) async fn context_used(&self) -> u64 {
        let request = self.request(&self.history, false);
        if let Some(n) = self.client.count_tokens(request).await {
            return n;
        }
        let Meter { reported, history_len } = self.meter;
        match self.history.get(history_len..) {
            Some(added) if reported > 0 => reported + estimate_messages(added),
            _ => estimate(&self.history, &self.specs),
        }
    }

    /// Compacts because the user asked (`/compact`), between turns. Fronts
    /// see it as a turn (started, then completed, failed or interrupted),
    /// so it shows as work under way and can be interrupted like one.
    pub(crate) async fn compact_now(&mut self, focus: Option<String>, cancel: &CancellationToken) {
        let turn_id = format!("compact_{}", uuid::Uuid::now_v7().simple());
        self.emit(Event::TurnStarted { turn_id: turn_id.clone() }).await;
        let mut usage = Usage::default();
        let end = if !self.history.iter().any(|m| matches!(m, Message::Assistant { .. })) {
            Err("nothing to compact yet: the conversation has no model responses".to_string())
        } else {
            let pre = self.context_used().await;
            match self.compact(CompactTrigger::Manual, focus.as_deref(), pre, &mut usage, cancel).await {
                Ok(c) if c.post_tokens >= self.config.compact_at => Err(self.still_full(c.post_tokens)),
                Ok(c) => Ok(c),
                Err(Interrupted) => {
                    let reason = "interrupted; the conversation is unchanged".into();
                    let deltas = Default::default();
                    return self.emit(Event::TurnAborted { turn_id, reason, deltas }).await;
                }
            }
        };
        self.session_usage.add(&usage);
        if let Err(e) = self.log.sync().await {
            self.emit(Event::Warning { message: format!("the session log could not be saved: {e}") }).await;
        }
        let event = match end {
            Ok(c) => Event::TurnCompleted(TurnSummary {
                turn_id,
                last_message: String::new(),
                usage,
                cost_usd: self.cost(&usage),
                session_usage: self.session_usage,
                session_cost_usd: self.cost(&self.session_usage),
                model_calls: u32::from(c.summarized || c.summary_error.is_some()),
                tool_calls: 0,
                context: self.context_usage(c.post_tokens),
                compactions: 1,
                lag: Default::default(),
                deltas: Default::default(),
                tools: self.tool_stats.snapshot(),
            }),
            Err(error) => Event::TurnFailed { turn_id, error, usage, deltas: Default::default() },
        };
        self.emit(event).await;
    }

    /// Why a turn cannot go on after compacting: what is left is still too big.
    pub(crate) fn still_full(&self, used: u64) -> String {
        format!(
            "the conversation is still about {used} tokens after compacting, over compact_at ({} of a {}-token \
             window): the instructions, tools and latest messages alone fill it. tern stopped instead of \
             compacting again. Start a new session, raise compact_at (-c compact_at=0.95), or use a model with a \
             larger window",
            self.config.compact_at, self.config.model_info.context_window
        )
    }

    /// Whether there is anything to compact: more than the instructions
    /// and the message that began this turn.
    pub(crate) fn compactable(&self) -> bool {
        self.history.len() > 2
    }

    /// The context figures fronts show.
    pub(crate) fn context_usage(&self, used_tokens: u64) -> ContextUsage {
        ContextUsage { used_tokens, window: self.config.model_info.context_window, compact_at: self.config.compact_at }
    }

    /// A request for this session's model over `messages`.
    pub(crate) fn request<'a>(&'a self, messages: &'a [Message], tools_disabled: bool) -> Request<'a> {
        Request { model: &self.config.model, messages, tools: &self.specs, cache_key: &self.id, tools_disabled }
    }

    /// Compacts the conversation (see the module docs), records it in the
    /// log and tells the front. `pre` is the context before.
    pub(crate) async fn compact(
        &mut self,
        trigger: CompactTrigger,
        focus: Option<&str>,
        pre: u64,
        usage: &mut Usage,
        cancel: &CancellationToken,
    ) -> Result<Compaction, Interrupted> {
        let started = std::time::Instant::now();
        self.emit(Event::CompactionStarted { trigger }).await;
        let hook_trigger = if trigger == CompactTrigger::Manual { "manual" } else { "auto" };
        let fields = [("trigger", hook_trigger.into()), ("custom_instructions", focus.unwrap_or_default().into())];
        self.hook(HookEvent::PreCompact, &[hook_trigger], crate::hooks::input(fields), cancel).await;
        let limit = limit(trigger, pre, self.config.compact_at);
        let budget = |share: f64| (limit as f64 * share) as u64;
        let mut history = self.history.clone();
        // The newest call's results always stay: the model is working on them.
        let last_call = history.iter().rposition(|m| matches!(m, Message::Assistant { .. })).unwrap_or(0);
        let mut stubbed = self.stub_outputs(&mut history, budget(RECENT_OUTPUTS), last_call).await;
        let mut instructions = self.reread_system().await;
        // SessionStart hooks for "compact" put back what must survive it.
        let fields = crate::hooks::input([("source", "compact".into())]);
        let restart = self.hook(HookEvent::SessionStart, &["compact"], fields, cancel).await;
        if let Message::System { content } = &mut instructions {
            for c in &restart.context {
                content.push_str(&format!("\n\n[SessionStart hook] {c}"));
            }
        }
        history[0] = instructions;
        let cheap = self.measure(&history).await;
        let mut summarized = false;
        let mut summary_error = None;
        if trigger == CompactTrigger::Manual || cheap >= budget(CHEAP_ENOUGH) {
            match self.summarize(&history, focus, usage, cancel).await {
                Ok(summary) => {
                    let (rebuilt, set_aside) =
                        self.rebuild(history, &summary, budget(USER_MESSAGES), budget(TAIL)).await;
                    history = rebuilt;
                    stubbed += set_aside;
                    summarized = true;
                }
                Err(e) if e.kind == ErrorKind::Cancelled || cancel.is_cancelled() => return Err(Interrupted),
                Err(e) => {
                    tracing::warn!(session = %self.id, "the compaction summary failed: {e}");
                    summary_error = Some(e.message);
                    // The cheap step, harder: every output but the newest call's.
                    stubbed += self.stub_outputs(&mut history, 0, last_call).await;
                }
            }
        }
        if summarized {
            // The latest turn's user message follows the summary, if it was kept.
            self.turn_start = if history.len() > 2 { 2 } else { 1 };
        }
        self.history = history;
        self.results.compacted();
        self.meter = Meter::default();
        let post = self.context_used().await;
        let compaction = Compaction {
            trigger,
            pre_tokens: pre,
            post_tokens: post,
            stubbed_outputs: stubbed,
            summarized,
            summary_error,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        self.log
            .append(&Record::Compacted {
                at: jiff::Timestamp::now().to_string(),
                compaction: compaction.clone(),
                history: self.history[1..].to_vec(),
            })
            .await;
        tracing::info!(session = %self.id, ?trigger, pre, post, stubbed, summarized, "compacted");
        self.emit(Event::Compacted(compaction.clone())).await;
        self.emit(Event::ContextUpdated(self.context_usage(post))).await;
        Ok(compaction)
    }

    /// The context `history` would fill.
    async fn measure(&self, history: &[Message]) -> u64 {
        match self.client.count_tokens(self.request(history, false)).await {
            Some(n) => n,
            None => estimate(history, &self.specs),
        }
    }

    /// The system message with the project instructions read again, so
    /// rules changed or forgotten since the session began are current.
    async fn reread_system(&self) -> Message {
        let (config_dir, workspace, max) =
            (self.config.config_dir.clone(), self.workspace.clone(), self.config.project_doc_max_bytes);
        let loaded = tokio::task::spawn_blocking(move || crate::instructions::load(&config_dir, &workspace, max)).await;
        match loaded {
            Ok(instructions) => crate::session::system_message(&self.config, &self.workspace, instructions.as_deref()),
            // Cannot happen short of a panic; the old prompt still holds the rules.
            Err(_) => self.history[0].clone(),
        }
    }

    /// Replaces tool outputs older than the newest `keep` tokens of them
    /// (and never those after `protect`) with a pointer to a saved copy.
    /// An output that cannot be saved stays whole. Returns how many went.
    async fn stub_outputs(&self, history: &mut [Message], keep: u64, protect: usize) -> u32 {
        let mut recent = 0u64;
        let mut chosen = Vec::new();
        for (i, m) in history.iter().enumerate().rev() {
            let size = match m {
                Message::Tool { content, .. } => estimate_text(content),
                Message::Images { .. } => estimate_message(m),
                _ => continue,
            };
            recent += size;
            let big = match m {
                Message::Tool { content, .. } => content.len() >= STUB_MIN_BYTES && !is_stub(content),
                _ => true,
            };
            if i > protect || recent <= keep || !big {
                continue;
            }
            chosen.push(i);
        }
        if chosen.is_empty() {
            return 0;
        }
        let dir = self.spool_dir.join("context");
        let saves: Vec<(usize, String, String)> = chosen
            .iter()
            .filter_map(|&i| match &history[i] {
                Message::Tool { call_id, content } => Some((i, call_id.clone(), content.clone())),
                _ => None,
            })
            .collect();
        let saved = tokio::task::spawn_blocking(move || save_outputs(&dir, saves)).await.unwrap_or_default();
        let mut n = 0;
        for (i, path) in saved {
            if let Message::Tool { content, .. } = &mut history[i] {
                let lines = content.lines().count().max(1);
                *content = format!(
                    "{STUB_PREFIX} ({lines} lines, about {} tokens) was cleared from the context to make room. \
                     It is saved whole in {}: read it with read_file (lines 1-{lines}) if you need it again.",
                    estimate_text(content),
                    path.display()
                );
                n += 1;
            }
        }
        for &i in &chosen {
            if let Message::Images { caption, images } = &history[i] {
                history[i] = Message::User {
                    content: format!("{caption} ({} image(s), cleared from the context to make room)", images.len()),
                };
                n += 1;
            }
        }
        n
    }

    /// Asks the model for a handoff summary of `history`, tools disabled.
    /// A prompt too long for the model loses its oldest messages and is
    /// tried again.
    async fn summarize(
        &self,
        history: &[Message],
        focus: Option<&str>,
        usage: &mut Usage,
        cancel: &CancellationToken,
    ) -> Result<String, LlmError> {
        let ask = Message::User { content: summary_prompt(self.config.model_info.tools, focus) };
        let mut from = 1;
        let mut last = None;
        for _ in 0..SUMMARY_ATTEMPTS {
            let mut messages = vec![history[0].clone()];
            messages.extend_from_slice(&history[from..]);
            messages.push(ask.clone());
            match self.summary_call(&messages, usage, cancel).await {
                Ok(text) => return Ok(text),
                Err(e) if e.kind == ErrorKind::ContextTooLong => {
                    // Drop the oldest exchange: everything up to the next user message.
                    let next =
                        history.iter().enumerate().skip(from + 1).find(|(_, m)| matches!(m, Message::User { .. }));
                    match next {
                        Some((i, _)) => from = i,
                        None => return Err(e),
                    }
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| LlmError::new(ErrorKind::ContextTooLong, "the summary request is too long")))
    }

    /// One summary request; retries are shown, the text is not.
    async fn summary_call(
        &self,
        messages: &[Message],
        usage: &mut Usage,
        cancel: &CancellationToken,
    ) -> Result<String, LlmError> {
        let (tx, mut rx) = mpsc::channel(16);
        let call = self.client.stream(self.request(messages, true), &tx, cancel);
        tokio::pin!(call);
        let response = loop {
            tokio::select! {
                biased;
                Some(delta) = rx.recv() => {
                    if let StreamDelta::Retrying { attempt, max_attempts, delay, reason } = delta {
                        let delay_ms = delay.as_millis() as u64;
                        self.emit(Event::Retrying { attempt, max_attempts, delay_ms, reason }).await;
                    }
                }
                r = &mut call => break r?,
            }
        };
        usage.add(&response.usage);
        let text = response.content.trim();
        if text.is_empty() {
            return Err(LlmError::new(ErrorKind::StreamBroken, "the model's summary was empty"));
        }
        Ok(text.to_string())
    }

    /// The history after a summary: the instructions, the user's own
    /// messages (newest first within `quote`, shown oldest first), the
    /// summary, then the latest turn from its user message on (within
    /// `tail`, its oldest calls dropped first). Also returns how many of the
    /// tail's outputs were set aside.
    async fn rebuild(&self, history: Vec<Message>, summary: &str, quote: u64, tail: u64) -> (Vec<Message>, u32) {
        let start = self.turn_start.min(history.len());
        let mut kept = history[start..].to_vec();
        // The latest turn's user message is in the tail; the others are quoted.
        let own =
            self.user_messages.len().saturating_sub(usize::from(matches!(kept.first(), Some(Message::User { .. }))));
        let mut quoted = Vec::new();
        let mut room = quote;
        for text in self.user_messages[..own].iter().rev() {
            let cost = estimate_text(text);
            if cost <= room {
                quoted.push(text.clone());
                room -= cost;
            } else {
                if room > 50 {
                    quoted.push(format!("{} […]", cut(text, room as usize * 4)));
                }
                break;
            }
        }
        quoted.reverse();
        // Drop the tail's oldest responses (with their results) until it
        // fits; then set aside its outputs, the newest too: the summary was
        // written with them in view.
        while estimate_messages(&kept) > tail {
            let first_call = kept.iter().position(|m| matches!(m, Message::Assistant { .. }));
            let Some(first) = first_call else { break };
            let next = kept.iter().skip(first + 1).position(|m| matches!(m, Message::Assistant { .. }));
            match next {
                Some(n) => drop(kept.drain(first..first + 1 + n)),
                None => break,
            }
        }
        let set_aside =
            if estimate_messages(&kept) > tail { self.stub_outputs(&mut kept, 0, usize::MAX).await } else { 0 };
        let mut text = format!(
            "[tern] This session was compacted to fit the model's context window. What happened before is \
             summarized below, after the user's own messages, quoted verbatim. The whole conversation is saved \
             in {}; read it if a detail is missing.\n",
            self.log.path().display()
        );
        if !quoted.is_empty() {
            text.push_str("\n<user_messages>\n");
            for q in &quoted {
                text.push_str(&format!("<message>\n{q}\n</message>\n"));
            }
            text.push_str("</user_messages>\n");
        }
        text.push_str(&format!("\n<summary>\n{summary}\n</summary>"));
        let mut out = vec![history[0].clone(), Message::User { content: text }];
        out.extend(kept);
        (out, set_aside)
    }
}

/// The size the context must get under: `compact_at`, or below what the
/// provider just refused when that was less.
pub(crate) fn limit(trigger: CompactTrigger, pre: u64, compact_at: u64) -> u64 {
    match trigger {
        CompactTrigger::Overflow => pre.min(compact_at),
        CompactTrigger::Auto | CompactTrigger::Manual => compact_at,
    }
}

/// The estimated context of a prompt of `history` and `tools`.
pub(crate) fn estimate(history: &[Message], tools: &[tern_llm::ToolSpec]) -> u64 {
    estimate_messages(history) + estimate_tools(tools)
}

/// How a cleared output's pointer begins.
const STUB_PREFIX: &str = "[tern] The output of this call";

fn is_stub(content: &str) -> bool {
    content.starts_with(STUB_PREFIX)
}

/// At most `bytes` of `text`, cut at a character boundary.
fn cut(text: &str, bytes: usize) -> &str {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Saves each output to `dir`; returns the ones saved, by history index. Blocking.
#[allow(clippy::disallowed_methods)] // runs in spawn_blocking
fn save_outputs(dir: &std::path::Path, outputs: Vec<(usize, String, String)>) -> Vec<(usize, PathBuf)> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::warn!(path = %dir.display(), "saving cleared tool outputs: {e}");
        return vec![];
    }
    let mut saved = Vec::new();
    for (i, call_id, content) in outputs {
        let name: String =
            call_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        // Named by call and content: unique, and the same output saved twice is one file.
        let hash =
            content.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let path = dir.join(format!("{name}-{hash:016x}.txt"));
        match tern_files::write::atomic_write(&path, content.as_bytes(), None) {
            Ok(()) => saved.push((i, path)),
            Err(e) => tracing::warn!(path = %path.display(), "saving a cleared tool output: {e}"),
        }
    }
    saved
}

/// What the model is asked for when it summarizes.
fn summary_prompt(profile: tern_config::ToolProfile, focus: Option<&str>) -> String {
    let mut p = match profile {
        tern_config::ToolProfile::Small => {
            "[tern] The conversation is too long. Do not call tools. Write a short summary \
for yourself to continue from: the user's goal, the rules the user gave, the files you read or changed and what \
matters in them, what is still wrong, and the next step."
                .to_string()
        }
        _ => "[tern] Context checkpoint: this conversation is about to be replaced by your summary so the work can go \
on in a fresh context window. Write that summary now, for a model that takes over with no other memory of it. \
Do not call tools. Be specific: exact paths, names, commands, error messages and values matter more than prose.

Use these sections:
## Goal: what the user asked for, and what done looks like.
## Constraints: rules and preferences the user stated, quoted.
## Decisions: what was chosen and why; approaches that failed and must not be retried.
## Files: every file read or changed, and how (path: what changed, or what matters in it).
## Open problems: errors not yet fixed, questions not yet answered.
## Next step: exactly what to do next, quoting the latest request where it helps."
            .to_string(),
    };
    if let Some(focus) = focus.map(str::trim).filter(|f| !f.is_empty()) {
        p.push_str(&format!("\n\nThe user asks the summary to keep, above all: {focus}"));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
    }

    #[test]
    fn the_summary_prompt_carries_the_focus() {
        let p = summary_prompt(tern_config::ToolProfile::Codex, Some(" the parser bug "));
        assert!(p.contains("## Next step") && p.ends_with("above all: the parser bug"), "{p}");
        assert!(!summary_prompt(tern_config::ToolProfile::Small, None).contains("above all"));
    }
}
