//! One turn: model call, tool calls, results back, until the model answers.

use crate::compact::Interrupted;
use crate::hooks::input;
use crate::lag::LagProbe;
use crate::log::{Record, ToolEnd, TurnStatus};
use crate::session::Session;
use crate::slip::{self, Opening};
use futures_util::future::join_all;
use std::time::Instant;
use tern_llm::{ErrorKind, LlmError, Message, Response, StreamDelta, ToolCall, ToolSpec};
use tern_protocol::{
    CompactTrigger, Event, HookEvent, Image, ToolCallBegin, ToolCallEnd, ToolKind, TurnSummary, Usage,
};
use tern_tools::{DeltaSink, ToolCtx, ToolError, ToolOutput};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

enum TurnEnd {
    Done {
        last_message: String,
    },
    Cancelled,
    Failed(String),
    /// A hook ended the turn (`continue: false`), with its reason.
    Stopped(String),
}

/// What the model gets back from one call, and whether a hook ended the turn.
struct CallResult {
    content: String,
    /// The tool could not do it or found nothing (not a command's exit status).
    failed: bool,
    kind: ToolKind,
    /// The command a run ran, when it exited with a failure.
    failing: Option<String>,
    images: Vec<Image>,
    stop: Option<String>,
}

/// What the Stop hooks decided.
enum StopHook {
    /// Go on: the reason is for the model.
    Continue(String),
    /// End the turn (`continue: false`).
    End(String),
}

/// Times Stop hooks may send the model back to work in one turn.
const STOP_BLOCK_LIMIT: u32 = 8;

/// A response repeating the previous one's calls exactly this many times
/// ends the turn: the same call after the same result only loops (small
/// local models do this).
const REPEAT_LIMIT: u32 = 3;

struct Tally {
    usage: Usage,
    model_calls: u32,
    tool_calls: u32,
    /// How full the context is: the last model call's prompt and output.
    context_tokens: u64,
    compactions: u32,
    /// A model call has succeeded since the last compaction: without one,
    /// compacting again could only loop.
    called_since_compaction: bool,
}

impl Session {
    pub(crate) async fn run_turn(&mut self, text: String, cancel: CancellationToken) {
        let turn_id = format!("turn_{}", uuid::Uuid::now_v7().simple());
        let probe = LagProbe::start();
        let deltas_before = self.deltas.snapshot();
        self.files.begin_turn(&turn_id);
        self.emit(Event::TurnStarted { turn_id: turn_id.clone() }).await;
        let prompt =
            self.hook(HookEvent::UserPromptSubmit, &[], input([("prompt", text.clone().into())]), &cancel).await;
        if let Some(reason) = prompt.block.clone().or_else(|| prompt.stop.clone()) {
            // The prompt goes nowhere: not to the model, not into the log.
            let reason = format!("blocked by a UserPromptSubmit hook: {reason}");
            let deltas = Default::default();
            return self.emit(Event::TurnAborted { turn_id, reason, deltas }).await;
        }
        self.keep_context(&prompt, HookEvent::UserPromptSubmit);
        // The user may have changed files since the last turn.
        self.results.mutated();
        self.emit(Event::UserMessage { item_id: self.item_id(), text: text.clone() }).await;
        self.log.append(&Record::TurnStarted { turn_id: turn_id.clone(), at: now() }).await;
        self.turn_start = self.history.len();
        self.map_workspace(&text, &cancel).await;
        self.user_messages.push(text.clone());
        if !self.hook_context.is_empty() {
            // Its own message, logged apart, so the user's words stay theirs
            // (in a resumed transcript, the fork picker, compaction).
            let message = Message::User { content: self.hook_context.drain(..).collect::<Vec<_>>().join("\n\n") };
            self.log.append(&Record::HookContext { message: message.clone() }).await;
            self.history.push(message);
        }
        self.push(Message::User { content: text }).await;

        let mut tally = Tally {
            usage: Usage::default(),
            model_calls: 0,
            tool_calls: 0,
            context_tokens: 0,
            compactions: 0,
            called_since_compaction: true,
        };
        let end = self.turn_loop(&cancel, &mut tally).await;
        self.session_usage.add(&tally.usage);
        self.processes.reap_idle();
        let lag = probe.finish();
        let (status, error) = match &end {
            TurnEnd::Done { .. } => (TurnStatus::Completed, None),
            TurnEnd::Cancelled | TurnEnd::Stopped(_) => (TurnStatus::Interrupted, None),
            TurnEnd::Failed(e) => {
                tracing::warn!(session = %self.id, turn = %turn_id, "the turn failed: {e}");
                (TurnStatus::Failed, Some(e.clone()))
            }
        };
        self.log
            .append(&Record::TurnEnded { turn_id: turn_id.clone(), at: now(), status, usage: tally.usage, error })
            .await;
        let deltas = self.deltas.snapshot().since(&deltas_before);
        tracing::info!(
            session = %self.id,
            turn = %turn_id,
            ?status,
            model_calls = tally.model_calls,
            tool_calls = tally.tool_calls,
            input_tokens = tally.usage.input_tokens,
            output_tokens = tally.usage.output_tokens,
            "turn ended"
        );
        // The turn is on disk before anyone hears that it ended.
        if let Err(e) = self.log.sync().await {
            tracing::error!(session = %self.id, "the session log could not be saved: {e}");
            self.emit(Event::Warning { message: format!("the session log could not be saved: {e}") }).await;
        }
        let event = match end {
            TurnEnd::Done { last_message } => Event::TurnCompleted(TurnSummary {
                turn_id,
                last_message,
                usage: tally.usage,
                cost_usd: self.cost(&tally.usage),
                session_usage: self.session_usage,
                session_cost_usd: self.cost(&self.session_usage),
                model_calls: tally.model_calls,
                tool_calls: tally.tool_calls,
                context: self.context_usage(tally.context_tokens),
                compactions: tally.compactions,
                lag,
                deltas,
                tools: self.tool_stats.snapshot(),
            }),
            TurnEnd::Cancelled => Event::TurnAborted { turn_id, reason: "interrupted".into(), deltas },
            TurnEnd::Stopped(reason) => {
                Event::TurnAborted { turn_id, reason: format!("stopped by a hook: {reason}"), deltas }
            }
            TurnEnd::Failed(error) => Event::TurnFailed { turn_id, error, usage: tally.usage, deltas },
        };
        self.emit(event).await;
    }

    pub(crate) fn cost(&self, u: &Usage) -> Option<f64> {
        self.config.model_info.cost(u.input_tokens, u.cached_input_tokens, u.output_tokens)
    }

    async fn push(&mut self, message: Message) {
        self.log.append(&Record::Message { message: message.clone() }).await;
        self.history.push(message);
    }

    async fn turn_loop(&mut self, cancel: &CancellationToken, tally: &mut Tally) -> TurnEnd {
        let max = self.config.max_model_calls_per_turn;
        // The last calls' (name, arguments) and how many responses in a row made them.
        let mut repeats: (Vec<(String, String)>, u32) = (Vec::new(), 0);
        // Times a Stop hook sent the model back to work this turn.
        let mut stop_blocks = 0;
        let mut progress = self.progress(cancel).await;
        // Servers the turn cannot do without are waited for (bounded by
        // their start-up timeouts); the others join when ready.
        if let Err(e) = self.mcp.wait_required().await {
            return TurnEnd::Failed(e);
        }
        for _ in 0..max {
            self.refresh_mcp_tools();
            let used = self.context_used().await;
            // Only the instructions and this message: nothing to compact,
            // and the window (beyond compact_at) may still hold it.
            if used >= self.config.compact_at
                && self.compactable()
                && let Some(end) = self.compact_in_turn(CompactTrigger::Auto, used, tally, cancel).await
            {
                return end;
            }
            let answer_only = std::mem::take(&mut progress.answer_only);
            // A turn's first call is narrowed to the tools that look; after
            // a corrective note, to any tool, or to those that edit.
            let response = match self.model_call(cancel, answer_only, progress.opening).await {
                Ok(r) => r,
                Err(e) if e.kind == ErrorKind::Cancelled || cancel.is_cancelled() => {
                    return TurnEnd::Cancelled;
                }
                // The estimate was short of the provider's count: compact
                // now and try again (once per model call).
                Err(e)
                    if e.kind == ErrorKind::ContextTooLong && tally.called_since_compaction && self.compactable() =>
                {
                    tracing::info!(session = %self.id, "the provider says the prompt is too long: {e}");
                    let used = self.context_used().await;
                    match self.compact_in_turn(CompactTrigger::Overflow, used, tally, cancel).await {
                        Some(end) => return end,
                        None => continue,
                    }
                }
                Err(e) => return TurnEnd::Failed(e.message),
            };
            tally.model_calls += 1;
            tally.called_since_compaction = true;
            tally.usage.add(&response.usage);
            let Response { content, reasoning, tool_calls, opaque, usage, .. } = response;
            let calls = tool_calls.clone();
            self.push(Message::Assistant {
                content: content.clone(),
                reasoning: (!reasoning.is_empty()).then_some(reasoning),
                tool_calls,
                opaque,
            })
            .await;
            let reported = usage.input_tokens + usage.output_tokens;
            if reported > 0 {
                self.meter.report(reported, self.history.len());
                tally.context_tokens = reported;
            } else {
                // A server that reports no usage: estimated.
                tally.context_tokens = self.context_used().await;
            }
            self.emit(Event::ContextUpdated(self.context_usage(tally.context_tokens))).await;
            if calls.is_empty() {
                if self.correct(&content, &mut progress).await {
                    continue;
                }
                match self.stop_hooks(&content, &mut stop_blocks, cancel).await {
                    Some(StopHook::Continue(reason)) => {
                        self.push(Message::User { content: format!("[Stop hook] {reason}") }).await;
                        continue;
                    }
                    Some(StopHook::End(reason)) => return TurnEnd::Stopped(reason),
                    None => return TurnEnd::Done { last_message: content },
                }
            }
            let signature: Vec<_> = calls.iter().map(|c| (c.name.clone(), c.arguments.clone())).collect();
            repeats = if signature == repeats.0 { (signature, repeats.1 + 1) } else { (signature, 1) };
            if repeats.1 >= REPEAT_LIMIT && self.guided() && !progress.repeat_noted {
                // A small model that has what it needs repeats its last
                // call instead of answering: the call is not run, and the
                // next model call must answer (once a turn).
                progress.repeat_noted = true;
                progress.answer_only = true;
                tracing::info!(session = %self.id, "the small model repeated a call; asking for its answer");
                for call in &calls {
                    self.push(Message::Tool { call_id: call.id.clone(), content: slip::REPEATED.to_string() }).await;
                }
                continue;
            }
            if repeats.1 >= REPEAT_LIMIT {
                return TurnEnd::Failed(format!(
                    "the model made the same tool call ({}) {REPEAT_LIMIT} times in a row, so the turn was stopped; \
                     rephrase the request or use a stronger model",
                    calls[0].name
                ));
            }
            tally.tool_calls += calls.len() as u32;
            let results = self.run_tools(&calls, cancel).await;
            let mut images = Vec::new();
            let mut stop = None;
            progress.record(results.iter().map(|r| (r.kind, r.failed, r.failing.clone())));
            for (call, r) in calls.iter().zip(results) {
                if !r.images.is_empty() {
                    images.push((call.name.clone(), r.images));
                }
                stop = stop.or(r.stop);
                self.push(Message::Tool { call_id: call.id.clone(), content: r.content }).await;
            }
            // After every result of the response (tool messages must follow
            // their calls directly), for a model that reads images.
            if !images.is_empty() && self.config.model_info.images {
                let names: Vec<&str> = images.iter().map(|(n, _)| n.as_str()).collect();
                let caption = format!("[tern] The images returned by {}:", names.join(", "));
                let images = images.into_iter().flat_map(|(_, i)| i).collect();
                self.push(Message::Images { caption, images }).await;
            }
            if cancel.is_cancelled() {
                return TurnEnd::Cancelled;
            }
            if let Some(reason) = stop {
                return TurnEnd::Stopped(reason);
            }
        }
        TurnEnd::Failed(format!(
            "stopped after {max} model calls in one turn (max_model_calls_per_turn); \
             send a follow-up to continue, or raise the limit with -c max_model_calls_per_turn=N"
        ))
    }

    /// The Stop hooks, when the model has answered: they may send it back
    /// to work (at most [`STOP_BLOCK_LIMIT`] times a turn) or end the turn.
    async fn stop_hooks(&mut self, answer: &str, blocks: &mut u32, cancel: &CancellationToken) -> Option<StopHook> {
        if !self.hooks.any(HookEvent::Stop) {
            return None;
        }
        let fields = input([("stop_hook_active", (*blocks > 0).into()), ("last_assistant_message", answer.into())]);
        let o = self.hook(HookEvent::Stop, &[], fields, cancel).await;
        if let Some(reason) = o.stop {
            return Some(StopHook::End(reason));
        }
        let reason = o.block?;
        if *blocks >= STOP_BLOCK_LIMIT {
            let message = format!(
                "a Stop hook asked the model to go on {STOP_BLOCK_LIMIT} times this turn; the turn ends here \
                 (the hook can check stop_hook_active to avoid this)"
            );
            self.emit(Event::Warning { message }).await;
            return None;
        }
        *blocks += 1;
        Some(StopHook::Continue(reason))
    }

    /// Compacts in the middle of a turn; says how the turn ends if it
    /// cannot go on (interrupted, or still too full: never a second try
    /// before the model has been called again).
    async fn compact_in_turn(
        &mut self,
        trigger: CompactTrigger,
        used: u64,
        tally: &mut Tally,
        cancel: &CancellationToken,
    ) -> Option<TurnEnd> {
        if !tally.called_since_compaction {
            return Some(TurnEnd::Failed(self.still_full(used)));
        }
        match self.compact(trigger, None, used, &mut tally.usage, cancel).await {
            Err(Interrupted) => Some(TurnEnd::Cancelled),
            Ok(c) => {
                tally.compactions += 1;
                tally.called_since_compaction = false;
                tally.context_tokens = c.post_tokens;
                let limit = crate::compact::limit(trigger, used, self.config.compact_at);
                (c.post_tokens >= limit).then(|| TurnEnd::Failed(self.still_full(c.post_tokens)))
            }
        }
    }

    /// Streams one response, forwarding deltas as events. Text deltas
    /// never wait for the front (a slow one gets them merged), so the
    /// model's stream is read at the speed it arrives.
    /// `answer_only`: the tools are listed but the model must answer in text.
    /// `opening`: which tools a model made to call one (the small local
    /// one, after every user-role message) may use: the specs come marked
    /// (`ToolSpec::opens`) for [`Opening::Look`], and are marked afresh
    /// for the others.
    async fn model_call(
        &self,
        cancel: &CancellationToken,
        answer_only: bool,
        opening: Opening,
    ) -> Result<Response, LlmError> {
        let message_id = self.item_id();
        let reasoning_id = self.item_id();
        let text = DeltaSink::message(self.events.clone(), message_id.clone(), false, self.deltas.clone());
        let thinking = DeltaSink::message(self.events.clone(), reasoning_id.clone(), true, self.deltas.clone());
        let (tx, mut rx) = mpsc::channel(64);
        let remarked: Vec<ToolSpec>;
        let mut request = self.request(&self.history, answer_only);
        if opening != Opening::Look && self.specs.iter().any(|s| s.opens) {
            let edits = |name: &str| self.tools.get(name).is_some_and(|t| t.kind() == ToolKind::Edit);
            remarked = self
                .specs
                .iter()
                .map(|s| ToolSpec { opens: opening == Opening::Edit && edits(&s.name), ..s.clone() })
                .collect();
            request.tools = &remarked;
        }
        let call = self.client.stream(request, &tx, cancel);
        tokio::pin!(call);
        let result = loop {
            tokio::select! {
                biased;
                // recv() is cancellation-safe; the stream future is only
                // polled here, so it is never dropped half-way.
                Some(delta) = rx.recv() => self.forward(delta, &text, &thinking).await,
                r = &mut call => break r,
                // Held text goes out when the front has room (both never
                // return, and are cancellation-safe).
                never = text.send_pending() => match never {},
                never = thinking.send_pending() => match never {},
            }
        };
        while let Ok(delta) = rx.try_recv() {
            self.forward(delta, &text, &thinking).await;
        }
        thinking.flush().await;
        text.flush().await;
        let response = result?;
        if !response.reasoning.is_empty() {
            self.emit(Event::Reasoning { item_id: reasoning_id, text: response.reasoning.clone() }).await;
        }
        if !response.content.is_empty() {
            self.emit(Event::AgentMessage { item_id: message_id, text: response.content.clone() }).await;
        }
        Ok(response)
    }

    async fn forward(&self, delta: StreamDelta, text: &DeltaSink, thinking: &DeltaSink) {
        // Reasoning and answer reach the front in the order they came: what
        // one held back goes out before the other streams on.
        let event = match delta {
            StreamDelta::Text(delta) => {
                thinking.flush().await;
                return text.push(&delta);
            }
            StreamDelta::Reasoning(delta) => {
                text.flush().await;
                return thinking.push(&delta);
            }
            StreamDelta::Restart => Event::Warning {
                message: "the response stream was retried and came back different; the text above is replaced by what follows".into(),
            },
            StreamDelta::Retrying { attempt, max_attempts, delay, reason } => Event::Retrying {
                attempt,
                max_attempts,
                delay_ms: delay.as_millis() as u64,
                reason,
            },
        };
        // What streamed before a notice is shown before it.
        thinking.flush().await;
        text.flush().await;
        self.emit(event).await;
    }

    /// Runs one response's tool calls: consecutive calls that are safe to
    /// run together (reads, commands known to only read) at the same time,
    /// the others one at a time, results in call order.
    /// Each call's result text and images, in call order.
    async fn run_tools(&self, calls: &[ToolCall], cancel: &CancellationToken) -> Vec<CallResult> {
        if let [call] = calls {
            // Nothing to run alongside (and no command to parse twice).
            return vec![self.run_tool(call, cancel).await];
        }
        let mut results = Vec::with_capacity(calls.len());
        let mut i = 0;
        while i < calls.len() {
            let parallel = |c: &ToolCall| {
                let Some(tool) = self.tools.get(&c.name) else { return false };
                serde_json::from_str(&c.arguments).is_ok_and(|args| tool.parallel_safe(&args, &self.workspace))
            };
            let end =
                if parallel(&calls[i]) { i + calls[i..].iter().take_while(|c| parallel(c)).count() } else { i + 1 };
            let batch = join_all(calls[i..end].iter().map(|c| self.run_tool(c, cancel))).await;
            results.extend(batch);
            i = end;
        }
        results
    }

    async fn run_tool(&self, call: &ToolCall, cancel: &CancellationToken) -> CallResult {
        let item_id = self.item_id();
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&call.arguments);
        let tool = self.tools.get(&call.name);
        // A lazy tool called by name from the index is loaded by the call.
        if self.tools.is_hidden(&call.name) && self.mcp_loaded.load(&call.name) {
            self.mcp.tools_changed();
        }
        let kind = tool.map_or(ToolKind::Other, |t| t.kind());
        let mcp = tool.and_then(|t| t.mcp());
        let (command, cwd) = match (&parsed, tool) {
            (Ok(args), Some(t)) => t.command_line(args).unzip(),
            _ => (None, None),
        };
        self.emit(Event::ToolCallBegin(ToolCallBegin {
            item_id: item_id.clone(),
            call_id: call.id.clone(),
            tool: call.name.clone(),
            kind,
            arguments: call.arguments.clone(),
            command,
            cwd,
            mcp: mcp.clone(),
        }))
        .await;
        let start = Instant::now();
        let ctx = ToolCtx {
            workspace: self.roots.clone(),
            cancel: cancel.child_token(),
            exec_timeout: self.config.exec.timeout,
            output_cap: self.config.exec.output_max_bytes,
            output: DeltaSink::output(self.events.clone(), item_id.clone(), self.deltas.clone()),
            item_id: item_id.clone(),
            files: self.files.clone(),
            spool_dir: Some(self.spool_dir.clone()),
            processes: self.processes.clone(),
            approvals: self.approvals.clone(),
            call_id: call.id.clone(),
            sandbox: self.sandbox.clone(),
            hidden_env: self.config.exec.hidden_env.clone(),
        };
        // Refused before the pipeline (unknown tool, not JSON): an error in the figures.
        let (result, stop, facts) = match (parsed, tool) {
            (_, None) => (Err(self.tools.unknown(&call.name)), None, Default::default()),
            (Err(e), Some(_)) => (
                Err(ToolError::InvalidArgs(format!(
                    "the arguments are not valid JSON ({e}); send one JSON object matching the tool's schema"
                ))),
                None,
                Default::default(),
            ),
            (Ok(args), Some(t)) => {
                let passed = self.pipeline(t, call, args, &ctx, cancel).await;
                (passed.result, passed.stop, passed.facts)
            }
        };
        self.tool_stats.record(&call.name, start.elapsed(), facts);
        ctx.output.flush().await;
        // Nothing to go on: an error, or a search that found nothing.
        let failed = result.as_ref().is_ok_and(|o| o.empty) || result.is_err();
        let (out, error) = match result {
            Ok(o) => (o, None),
            Err(ToolError::Cancelled) => {
                let text = "the user interrupted this call";
                (ToolOutput { content: format!("error: {text}"), ..Default::default() }, Some(text.to_string()))
            }
            Err(e) => {
                tracing::debug!(tool = %call.name, "tool call failed: {e}");
                (ToolOutput { content: format!("error: {e}"), ..Default::default() }, Some(e.to_string()))
            }
        };
        let ToolOutput { content: output, success, command: outcome, plan, changes, images, .. } = out;
        if let Some((explanation, plan)) = plan {
            self.log.append(&Record::Plan { explanation: explanation.clone(), plan: plan.clone() }).await;
            self.emit(Event::PlanUpdated { item_id: self.item_id(), explanation, plan }).await;
        }
        let duration_ms = start.elapsed().as_millis() as u64;
        let failing = outcome.as_ref().filter(|_| !success).map(|o| o.command.clone());
        let end = ToolEnd { call_id: call.id.clone(), kind, success, duration_ms, error, command: outcome, mcp };
        self.log.append(&Record::ToolEnd(end.clone())).await;
        self.emit(Event::ToolCallEnd(ToolCallEnd {
            item_id,
            call_id: end.call_id,
            tool: call.name.clone(),
            kind,
            output: output.clone(),
            success,
            duration_ms,
            error: end.error,
            command: end.command,
            mcp: end.mcp,
        }))
        .await;
        if !changes.is_empty() {
            self.log.append(&Record::FilesChanged { changes: changes.clone() }).await;
            self.emit(Event::FilesChanged { item_id: self.item_id(), changes }).await;
        }
        CallResult { content: output, failed, kind, failing, images, stop }
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}
