//! One turn: model call, tool calls, results back, until the model answers.

use crate::lag::LagProbe;
use crate::log::Record;
use crate::session::Session;
use futures_util::future::join_all;
use std::time::Instant;
use tern_llm::{ErrorKind, LlmError, Message, Request, Response, StreamDelta, ToolCall};
use tern_protocol::{Event, ToolCallBegin, ToolCallEnd, TurnSummary, Usage};
use tern_tools::{ToolCtx, ToolError, ToolOutput};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a cancelled tool call may take to stop on its own.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

enum TurnEnd {
    Done { last_message: String },
    Cancelled,
    Failed(String),
}

/// A response repeating the previous one's calls exactly this many times
/// ends the turn: the same call after the same result only loops (small
/// local models do this).
const REPEAT_LIMIT: u32 = 3;

struct Tally {
    usage: Usage,
    model_calls: u32,
    tool_calls: u32,
    /// The last model call's prompt and output: how full the context is.
    context_tokens: u64,
}

impl Session {
    pub(crate) async fn run_turn(&mut self, text: String, cancel: CancellationToken) {
        let turn_id = format!("turn_{}", uuid::Uuid::now_v7().simple());
        let probe = LagProbe::start();
        self.files.begin_turn(&turn_id);
        self.emit(Event::TurnStarted { turn_id: turn_id.clone() }).await;
        self.log.append(&Record::TurnStarted { turn_id: turn_id.clone(), at: now() }).await;
        self.push(Message::User { content: text }).await;

        let mut tally = Tally { usage: Usage::default(), model_calls: 0, tool_calls: 0, context_tokens: 0 };
        let end = self.turn_loop(&cancel, &mut tally).await;
        self.session_usage.add(&tally.usage);
        self.processes.reap_idle();
        let lag = probe.finish();
        let status = match &end {
            TurnEnd::Done { .. } => "completed",
            TurnEnd::Cancelled => "interrupted",
            TurnEnd::Failed(_) => "failed",
        };
        self.log
            .append(&Record::TurnEnded {
                turn_id: turn_id.clone(),
                at: now(),
                status: status.into(),
                usage: tally.usage,
            })
            .await;
        // The turn is on disk before anyone hears that it ended.
        if let Err(e) = self.log.sync().await {
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
                context_tokens: tally.context_tokens,
                lag,
            }),
            TurnEnd::Cancelled => Event::TurnAborted { turn_id, reason: "interrupted".into() },
            TurnEnd::Failed(error) => Event::TurnFailed { turn_id, error, usage: tally.usage },
        };
        self.emit(event).await;
    }

    fn cost(&self, u: &Usage) -> Option<f64> {
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
        for _ in 0..max {
            let response = match self.model_call(cancel).await {
                Ok(r) => r,
                Err(e) if e.kind == ErrorKind::Cancelled || cancel.is_cancelled() => {
                    return TurnEnd::Cancelled;
                }
                Err(e) => return TurnEnd::Failed(e.message),
            };
            tally.model_calls += 1;
            tally.usage.add(&response.usage);
            tally.context_tokens = response.usage.input_tokens + response.usage.output_tokens;
            let Response { content, reasoning, tool_calls, opaque, .. } = response;
            let calls = tool_calls.clone();
            self.push(Message::Assistant {
                content: content.clone(),
                reasoning: (!reasoning.is_empty()).then_some(reasoning),
                tool_calls,
                opaque,
            })
            .await;
            if calls.is_empty() {
                return TurnEnd::Done { last_message: content };
            }
            let signature: Vec<_> = calls.iter().map(|c| (c.name.clone(), c.arguments.clone())).collect();
            repeats = if signature == repeats.0 { (signature, repeats.1 + 1) } else { (signature, 1) };
            if repeats.1 >= REPEAT_LIMIT {
                return TurnEnd::Failed(format!(
                    "the model made the same tool call ({}) {REPEAT_LIMIT} times in a row, so the turn was stopped; \
                     rephrase the request or use a stronger model",
                    calls[0].name
                ));
            }
            tally.tool_calls += calls.len() as u32;
            let results = self.run_tools(&calls, cancel).await;
            for (call, content) in calls.iter().zip(results) {
                self.push(Message::Tool { call_id: call.id.clone(), content }).await;
            }
            if cancel.is_cancelled() {
                return TurnEnd::Cancelled;
            }
        }
        TurnEnd::Failed(format!(
            "stopped after {max} model calls in one turn (max_model_calls_per_turn); \
             send a follow-up to continue, or raise the limit with -c max_model_calls_per_turn=N"
        ))
    }

    /// Streams one response, forwarding deltas as events.
    async fn model_call(&self, cancel: &CancellationToken) -> Result<Response, LlmError> {
        let message_id = self.item_id();
        let reasoning_id = self.item_id();
        let (tx, mut rx) = mpsc::channel(64);
        let request =
            Request { model: &self.config.model, messages: &self.history, tools: &self.specs, cache_key: &self.id };
        let call = self.client.stream(request, &tx, cancel);
        tokio::pin!(call);
        let result = loop {
            tokio::select! {
                biased;
                // recv() is cancellation-safe; the stream future is only
                // polled here, so it is never dropped half-way.
                Some(delta) = rx.recv() => self.forward(delta, &message_id, &reasoning_id).await,
                r = &mut call => break r,
            }
        };
        while let Ok(delta) = rx.try_recv() {
            self.forward(delta, &message_id, &reasoning_id).await;
        }
        let response = result?;
        if !response.reasoning.is_empty() {
            self.emit(Event::Reasoning { item_id: reasoning_id, text: response.reasoning.clone() }).await;
        }
        if !response.content.is_empty() {
            self.emit(Event::AgentMessage { item_id: message_id, text: response.content.clone() }).await;
        }
        Ok(response)
    }

    async fn forward(&self, delta: StreamDelta, message_id: &str, reasoning_id: &str) {
        let event = match delta {
            StreamDelta::Text(delta) => Event::AgentMessageDelta { item_id: message_id.into(), delta },
            StreamDelta::Reasoning(delta) => Event::ReasoningDelta { item_id: reasoning_id.into(), delta },
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
        self.emit(event).await;
    }

    /// Runs one response's tool calls: consecutive read-only calls
    /// together, mutating calls one at a time, results in call order.
    async fn run_tools(&self, calls: &[ToolCall], cancel: &CancellationToken) -> Vec<String> {
        let mut results = Vec::with_capacity(calls.len());
        let mut i = 0;
        while i < calls.len() {
            let parallel = |c: &ToolCall| self.tools.get(&c.name).is_some_and(|t| !t.mutates());
            let end =
                if parallel(&calls[i]) { i + calls[i..].iter().take_while(|c| parallel(c)).count() } else { i + 1 };
            let batch = join_all(calls[i..end].iter().map(|c| self.run_tool(c, cancel))).await;
            results.extend(batch);
            i = end;
        }
        results
    }

    async fn run_tool(&self, call: &ToolCall, cancel: &CancellationToken) -> String {
        let item_id = self.item_id();
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&call.arguments);
        let tool = self.tools.get(&call.name);
        let (command, cwd) = match (&parsed, tool) {
            (Ok(args), Some(t)) => t.command_line(args).unzip(),
            _ => (None, None),
        };
        self.emit(Event::ToolCallBegin(ToolCallBegin {
            item_id: item_id.clone(),
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments: call.arguments.clone(),
            command,
            cwd,
        }))
        .await;
        let start = Instant::now();
        let ctx = ToolCtx {
            workspace: self.roots.clone(),
            cancel: cancel.child_token(),
            exec_timeout: self.config.exec.timeout,
            output_cap: self.config.exec.output_max_bytes,
            events: self.events.clone(),
            item_id: item_id.clone(),
            files: self.files.clone(),
            spool_dir: Some(self.spool_dir.clone()),
            processes: self.processes.clone(),
            approvals: self.approvals.clone(),
            call_id: call.id.clone(),
            sandbox: self.sandbox.clone(),
        };
        let result: Result<ToolOutput, ToolError> = match (parsed, tool) {
            (_, None) => Err(self.tools.unknown(&call.name)),
            (Err(e), Some(_)) => Err(ToolError::InvalidArgs(format!(
                "the arguments are not valid JSON ({e}); send one JSON object matching the tool's schema"
            ))),
            (Ok(args), Some(t)) => {
                let call = t.call(&ctx, args);
                tokio::pin!(call);
                tokio::select! {
                    r = &mut call => r,
                    () = cancel.cancelled() => {
                        // A tool gets a moment to stop cleanly and report
                        // (a command says it was killed, with its output);
                        // one that ignores its token is dropped.
                        tokio::time::timeout(CANCEL_GRACE, call).await.unwrap_or(Err(ToolError::Cancelled))
                    }
                }
            }
        };
        let out = match result {
            Ok(o) => o,
            Err(ToolError::Cancelled) => {
                ToolOutput { content: "error: the user interrupted this call".into(), ..Default::default() }
            }
            Err(e) => ToolOutput { content: format!("error: {e}"), ..Default::default() },
        };
        let ToolOutput { content: output, success, command: outcome, plan, changes } = out;
        if let Some((explanation, plan)) = plan {
            self.emit(Event::PlanUpdated { item_id: self.item_id(), explanation, plan }).await;
        }
        self.emit(Event::ToolCallEnd(ToolCallEnd {
            item_id,
            call_id: call.id.clone(),
            tool: call.name.clone(),
            output: output.clone(),
            success,
            duration_ms: start.elapsed().as_millis() as u64,
            command: outcome,
        }))
        .await;
        if !changes.is_empty() {
            self.emit(Event::FilesChanged { item_id: self.item_id(), changes }).await;
        }
        output
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}
