//! Generating a response: free text streamed as it comes, and tool calls
//! written under a grammar built from the tools' schemas, with the greedy
//! samplers both use.

use super::{Engine, Job, Out, REPEAT_PENALTY, REPEAT_WINDOW, SHORTLIST, send};
use crate::toolcall::{self, Lead, MarkerFilter};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use std::time::Instant;
use tern_llm::{ErrorKind, LlmError, Message, Response, ToolCall, ToolSpec};

/// Tool-call grammars kept (each tool set's; MCP tools coming and going
/// change the set).
const GRAMMARS: usize = 4;

impl Engine<'_> {
    pub(super) fn generate(&mut self, job: &Job, budget: usize, started: Instant) -> Result<Response, LlmError> {
        let vocab = self.model.vocab();
        let mut filter = MarkerFilter::default();
        let mut text = Utf8Pieces::default();
        let mut content = String::new();
        let mut calls: Vec<ToolCall> = Vec::new();
        let mut recent: Vec<LlamaToken> = Vec::new();
        let mut produced: Vec<LlamaToken> = Vec::new();
        let mut finish = "stop";
        // While tools are offered, the start of the response is held until
        // it is clear whether it is text or a bare JSON call.
        // Listed but disabled (a summary request), tools are never called.
        let offered = !job.tools.is_empty() && !job.tools_disabled;
        let mut lead = offered.then(String::new);
        let response_start = self.cached.len();
        self.timings.generated_tokens = 0;
        self.timings.drafted_tokens = 0;
        self.timings.accepted_tokens = 0;
        self.timings.first_token_seconds = 0.0;
        let turn_start = matches!(job.messages.last(), Some(Message::User { .. }));
        if self.look_first && turn_start && offered {
            // Small models answer questions about code from imagination when
            // left to choose; the first step of a turn is a tool call.
            let open = self.markers.open.clone();
            self.decode(&open, true)?;
            // With one of the tools the caller marked: at a turn's start
            // those that look (a small model that edits first edits what it
            // has not read), after a note asking for a change those that
            // edit. (Only the grammar narrows; the prompt lists every tool,
            // so its saved prefix stays valid.)
            let marked: Vec<ToolSpec> = job.tools.iter().filter(|t| t.opens).cloned().collect();
            let first = if marked.is_empty() { &job.tools } else { &marked };
            calls.push(self.tool_call(job, first, budget, started, 0)?);
            if calls.len() < self.max_calls && self.another_call()? {
                self.calls(job, budget, started, &mut calls)?;
            }
            return Ok(Response { tool_calls: calls, finish_reason: Some("tool_calls".into()), ..Response::default() });
        }
        loop {
            if job.cancel.is_cancelled() {
                return Err(LlmError::cancelled());
            }
            if self.timings.generated_tokens >= budget {
                finish = "length";
                break;
            }
            let tok = self.free_greedy(&recent);
            self.count_token(started);
            if vocab.is_eog(tok) {
                break;
            }
            let piece = vocab.token_to_piece(tok, true, None);
            if vocab.is_control(tok) && !String::from_utf8_lossy(&piece).contains(toolcall::OPEN) {
                break; // a stray <|im_start|> or similar ends the turn
            }
            self.advance(tok)?;
            recent.push(tok);
            if recent.len() > REPEAT_WINDOW {
                recent.remove(0);
            }
            produced.push(tok);
            if looping(&produced) {
                // The same stretch over and over until the budget runs out
                // (minutes on a CPU): end the response here instead.
                tracing::info!(tokens = produced.len(), "the local model repeats itself; its response ends here");
                finish = "length";
                break;
            }
            let piece = text.push(&piece);
            let piece = if let Some(lead) = lead.as_mut() {
                lead.push_str(&piece);
                match toolcall::classify_lead(lead) {
                    Lead::Undecided => continue,
                    Lead::Text => std::mem::take(lead),
                    Lead::BareCall => {
                        // Rewrite what the model began as the canonical
                        // marker, so the cache matches the template's rendering.
                        self.forget_from(response_start);
                        let open = self.markers.open.clone();
                        self.decode(&open, true)?;
                        self.calls(job, budget, started, &mut calls)?;
                        finish = "tool_calls";
                        break;
                    }
                }
            } else {
                piece
            };
            lead = None;
            let shown = filter.push(&piece);
            if !shown.text.is_empty() {
                content.push_str(&shown.text);
                send(job, Out::Text(shown.text))?;
            }
            if shown.call_opened && !offered {
                break; // no calls wanted: the text so far is the answer
            }
            if shown.call_opened {
                self.calls(job, budget, started, &mut calls)?;
                finish = "tool_calls";
                break;
            }
        }
        let rest = lead.unwrap_or_default() + &filter.finish() + &text.finish();
        if !rest.is_empty() && calls.is_empty() {
            content.push_str(&rest);
            send(job, Out::Text(rest))?;
        }
        if !calls.is_empty() {
            // The template joins content and the first call with a newline.
            content.truncate(content.trim_end().len());
        }
        Ok(Response { content, tool_calls: calls, finish_reason: Some(finish.into()), ..Response::default() })
    }

    fn count_token(&mut self, started: Instant) {
        if self.timings.generated_tokens == 0 {
            self.timings.first_token_seconds = started.elapsed().as_secs_f64();
        }
        self.timings.generated_tokens += 1;
    }

    /// Writes the calls of a response, the first marker already in place.
    fn calls(&mut self, job: &Job, budget: usize, started: Instant, calls: &mut Vec<ToolCall>) -> Result<(), LlmError> {
        loop {
            let call = self.tool_call(job, &job.tools, budget, started, calls.len())?;
            // A small model may repeat a call; once is enough.
            if calls.iter().any(|c| c.name == call.name && c.arguments == call.arguments) {
                return Ok(());
            }
            calls.push(call);
            if calls.len() >= self.max_calls || !self.another_call()? {
                return Ok(());
            }
        }
    }

    /// Writes one tool call's JSON under the grammar for `tools`, then
    /// closes it.
    fn tool_call(
        &mut self,
        job: &Job,
        tools: &[ToolSpec],
        budget: usize,
        started: Instant,
        n: usize,
    ) -> Result<ToolCall, LlmError> {
        let newline = self.markers.newline.clone();
        self.decode(&newline, true)?;
        let mut grammar = self.grammar_for(tools)?;
        let mut text = Utf8Pieces::default();
        let mut json = String::new();
        let mut produced = Vec::new();
        let vocab = self.model.vocab();
        let (name, arguments) = loop {
            if job.cancel.is_cancelled() {
                return Err(LlmError::cancelled());
            }
            if self.timings.generated_tokens >= budget {
                return Err(LlmError::new(
                    ErrorKind::BadRequest,
                    "the local model ran out of output tokens in the middle of a tool call",
                ));
            }
            let tok = self.constrained_greedy(&mut grammar);
            self.count_token(started);
            if vocab.is_eog(tok) {
                return Err(LlmError::new(ErrorKind::BadRequest, "the local model ended its turn inside a tool call"));
            }
            grammar.accept(tok);
            self.advance(tok)?;
            produced.push(tok);
            if looping(&produced) {
                // A file's content written over and over until the budget
                // runs out took minutes on a CPU.
                return Err(LlmError::new(
                    ErrorKind::BadRequest,
                    "the local model repeated one stretch of text over and over inside a tool call, so the call \
                     was dropped; rephrase the request or use a stronger model",
                ));
            }
            json.push_str(&text.push(&vocab.token_to_piece(tok, true, None)));
            if let Some(call) = toolcall::complete_call(&json) {
                break call;
            }
        };
        let close = self.markers.close.clone();
        self.decode(&close, true)?;
        Ok(ToolCall { id: format!("call_{}_{n}", self.cached.len()), name, arguments })
    }

    /// After a call: does the model open another one (rather than end its turn)?
    fn another_call(&mut self) -> Result<bool, LlmError> {
        let vocab = self.model.vocab();
        let eos = vocab.eos();
        let opener = self.markers.next.clone();
        let Some(&first) = opener.first() else { return Ok(false) };
        let logits = self.ctx.get_logits_ith(self.logits_at);
        let score = |t: LlamaToken| logits.get(t.0 as usize).copied().unwrap_or(f32::NEG_INFINITY);
        if score(first) <= score(eos) {
            return Ok(false);
        }
        self.decode(&opener, true)?;
        Ok(true)
    }

    /// The GBNF grammar for calls to `tools`, built once per tool set (a
    /// session uses two: every tool, and the ones a turn opens with).
    fn grammar_for(&mut self, tools: &[ToolSpec]) -> Result<LlamaSampler, LlmError> {
        let key = serde_json::to_string(tools).unwrap_or_default();
        if !self.grammars.iter().any(|(k, _)| k == &key) {
            let schema = toolcall::call_schema(tools).to_string();
            let gbnf = llama_cpp_2::json_schema_to_grammar(&schema).map_err(|e| {
                LlmError::new(ErrorKind::BadRequest, format!("a tool's parameter schema has no grammar: {e}"))
            })?;
            if self.grammars.len() >= GRAMMARS {
                self.grammars.remove(0);
            }
            self.grammars.push((key.clone(), gbnf));
        }
        let gbnf = self.grammars.iter().find(|(k, _)| k == &key).map(|(_, g)| g.as_str()).unwrap_or_default();
        LlamaSampler::grammar(self.model, gbnf, "root")
            .map_err(|e| LlmError::new(ErrorKind::BadRequest, format!("compiling the tool-call grammar: {e}")))
    }

    /// The likeliest token, with recently repeated tokens penalised.
    /// Penalties only lower logits, so the winner is among the top few.
    fn free_greedy(&self, recent: &[LlamaToken]) -> LlamaToken {
        let logits = self.ctx.get_logits_ith(self.logits_at);
        top(logits, SHORTLIST)
            .into_iter()
            .map(|(l, id)| {
                let repeated = recent.contains(&LlamaToken(id));
                let p = match (repeated, l > 0.0) {
                    (false, _) => l,
                    (true, true) => l / REPEAT_PENALTY,
                    (true, false) => l * REPEAT_PENALTY,
                };
                (p, id)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| LlamaToken(id))
            .unwrap_or_else(|| self.model.vocab().eos())
    }

    /// The likeliest token the grammar allows. The unconstrained favourite
    /// usually fits, so a short list is tried before masking everything.
    fn constrained_greedy(&self, grammar: &mut LlamaSampler) -> LlamaToken {
        let logits = self.ctx.get_logits_ith(self.logits_at);
        for (l, id) in top(logits, SHORTLIST) {
            let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(LlamaToken(id), l, 0.0)], false);
            one.apply_sampler(grammar);
            if one.data.first().is_some_and(|d| d.logit().is_finite()) {
                return LlamaToken(id);
            }
        }
        let mut all = LlamaTokenDataArray::from_iter(
            logits.iter().enumerate().map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
            false,
        );
        all.apply_sampler(grammar);
        all.data
            .iter()
            .filter(|d| d.logit().is_finite())
            .max_by(|a, b| a.logit().total_cmp(&b.logit()))
            .map(|d| d.id())
            .unwrap_or_else(|| self.model.vocab().eos())
    }
}

fn top(logits: &[f32], k: usize) -> Vec<(f32, i32)> {
    let mut best: Vec<(f32, i32)> = Vec::with_capacity(k + 1);
    for (i, &l) in logits.iter().enumerate() {
        if best.len() < k || best.last().is_some_and(|(m, _)| l > *m) {
            let at = best.partition_point(|(s, _)| *s >= l);
            best.insert(at, (l, i as i32));
            best.truncate(k);
        }
    }
    best
}

/// Longest stretch of tokens checked for repeating.
const LOOP_PERIOD: usize = 64;
/// Tokens that must repeat (at least three times the period) before a
/// response counts as stuck.
const LOOP_SPAN: usize = 96;

/// Whether the end of `tokens` is one stretch repeated: at least
/// [`LOOP_SPAN`] tokens and three periods equal to the tokens a period back.
fn looping(tokens: &[LlamaToken]) -> bool {
    let n = tokens.len();
    (1..=LOOP_PERIOD).any(|p| {
        let span = (3 * p).max(LOOP_SPAN);
        n >= span + p && (n - span..n).all(|i| tokens[i] == tokens[i - p])
    })
}

/// Joins token pieces into text without splitting a UTF-8 sequence.
#[derive(Default)]
struct Utf8Pieces {
    pending: Vec<u8>,
}

impl Utf8Pieces {
    /// Adds a piece and returns the text that is now complete.
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(s) => {
                let s = s.to_string();
                self.pending.clear();
                s
            }
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                let s = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
                self.pending.drain(..valid);
                s
            }
            Err(_) => String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned(),
        }
    }

    /// Whatever is left, replacement characters included.
    fn finish(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn utf8_pieces_wait_for_whole_characters() {
        let mut u = Utf8Pieces::default();
        let e = "é".as_bytes();
        assert_eq!(u.push(b"caf"), "caf");
        assert_eq!(u.push(&e[..1]), "");
        assert_eq!(u.push(&e[1..]), "é");
        assert_eq!(u.push(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(u.push(&"😀".as_bytes()[..2]), "");
        assert_eq!(u.finish(), "\u{fffd}");
    }

    #[test]
    fn a_repeated_stretch_is_a_loop_and_varied_text_is_not() {
        let t = |ids: &[i32]| ids.iter().map(|&i| LlamaToken(i)).collect::<Vec<_>>();
        let phrase: Vec<i32> = (0..20).collect();
        let looped: Vec<i32> = std::iter::repeat_n(phrase.clone(), 6).flatten().collect();
        assert!(looping(&t(&looped)));
        // Two and a half times is not yet a loop.
        assert!(!looping(&t(&looped[..50])));
        let varied: Vec<i32> = (0..400).map(|i| i * 7 % 101).collect();
        assert!(!looping(&t(&varied)));
        // A numbered list repeats its words but not its numbers.
        let list: Vec<i32> = (0..40).flat_map(|i| [1000 + i, 5, 6, 7]).collect();
        assert!(!looping(&t(&list)));
    }

    #[test]
    fn top_keeps_the_highest_in_order() {
        assert_eq!(top(&[0.1, 3.0, -1.0, 2.0, 3.0], 3), vec![(3.0, 1), (3.0, 4), (2.0, 3)]);
    }
}
