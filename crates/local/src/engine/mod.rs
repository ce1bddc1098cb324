//! The inference thread. It owns the model and its context, serves one
//! request at a time, and keeps the KV cache of the last prompt so the next
//! request only evaluates what changed. It never runs on a runtime worker;
//! it talks to async callers through bounded channels.

use crate::prefix::PrefixCache;
use crate::template::ChatTemplate;
use crate::toolcall;
use crate::{LocalError, Settings, backend};

mod generate;
mod lookup;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tern_llm::{ErrorKind, LlmError, Message, Response, ToolSpec};
use tern_protocol::Usage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One request for the engine.
pub(crate) struct Job {
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    /// The tools are in the prompt but must not be called.
    pub tools_disabled: bool,
    pub out: mpsc::Sender<Out>,
    pub cancel: CancellationToken,
    pub kind: JobKind,
}

/// What a job asks of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// A response to the messages.
    Respond,
    /// Only evaluate (or load) the stable prefix of the prompt, the first
    /// message and the tools, ahead of the first real request.
    Prepare,
    /// Only count the prompt's tokens ([`Out::Counted`]).
    Count,
}

/// What the engine sends back while serving a job.
pub(crate) enum Out {
    Text(String),
    Done(Result<Response, LlmError>),
    /// The prompt's length in tokens (a [`JobKind::Count`] job).
    Counted(Result<u64, LlmError>),
}

/// Timings of one response, for benchmarks.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Seconds spent loading the model (only on the first response).
    pub load: f64,
    pub prompt_tokens: usize,
    /// Tokens whose KV entries were reused from the previous request.
    pub reused_tokens: usize,
    pub prompt_seconds: f64,
    pub generated_tokens: usize,
    pub generate_seconds: f64,
    /// From the request to the first generated token.
    pub first_token_seconds: f64,
    /// Tokens drafted by prompt lookup, and how many of them the model
    /// picked (each a decoding step saved).
    pub drafted_tokens: usize,
    pub accepted_tokens: usize,
}

/// A repeated token's logit is divided by this in free text (not in tool
/// calls, whose JSON repeats by nature), which keeps small models out of loops.
const REPEAT_PENALTY: f32 = 1.05;
const REPEAT_WINDOW: usize = 64;
/// Candidates considered before falling back to the whole vocabulary.
const SHORTLIST: usize = 8;

/// Runs the thread: loads the model, then serves jobs until every sender is gone.
pub(crate) fn run(
    settings: Settings,
    jobs: std::sync::mpsc::Receiver<Job>,
    timings: std::sync::Arc<parking_lot::Mutex<Timings>>,
) {
    let started = Instant::now();
    let loaded = load(&settings);
    let load_secs = started.elapsed().as_secs_f64();
    let model = match loaded {
        Ok(m) => m,
        Err(e) => return fail_all(jobs, e),
    };
    let mut engine = match Engine::new(&model, &settings) {
        Ok(e) => e,
        Err(e) => return fail_all(jobs, e),
    };
    tracing::info!(path = %settings.path.display(), load_secs, context = settings.context, "local model loaded");
    engine.timings.load = load_secs;
    for job in jobs {
        match job.kind {
            JobKind::Respond => {}
            JobKind::Prepare => {
                let result = engine.prepare(&job).map(|()| Response::default());
                let _ = job.out.blocking_send(Out::Done(result));
                continue;
            }
            JobKind::Count => {
                let _ = job.out.blocking_send(Out::Counted(engine.count(&job)));
                continue;
            }
        }
        let result = engine.respond(&job);
        *timings.lock() = engine.timings.clone();
        engine.timings.load = 0.0;
        let _ = job.out.blocking_send(Out::Done(result));
    }
}

fn fail_all(jobs: std::sync::mpsc::Receiver<Job>, e: LocalError) {
    tracing::error!("the local model cannot run: {e}");
    let err = LlmError::new(ErrorKind::BadRequest, e.to_string());
    for job in jobs {
        let out = match job.kind {
            JobKind::Count => Out::Counted(Err(err.clone())),
            JobKind::Respond | JobKind::Prepare => Out::Done(Err(err.clone())),
        };
        let _ = job.out.blocking_send(out);
    }
}

fn load(settings: &Settings) -> Result<LlamaModel, LocalError> {
    let backend = backend()?;
    LlamaModel::load_from_file(backend, &settings.path, &LlamaModelParams::default()).map_err(|e| LocalError::Load {
        what: settings.path.display().to_string(),
        source: std::sync::Arc::new(e),
        hint: " (is it a complete GGUF file? scripts/fetch-model re-downloads the default)",
    })
}

struct Engine<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    template: ChatTemplate,
    batch: LlamaBatch<'static>,
    batch_size: usize,
    /// The tokens whose KV entries sequence 0 holds, in order.
    cached: Vec<LlamaToken>,
    /// Index in the last decoded batch whose logits are current.
    logits_at: i32,
    /// Drafted tokens at the end of `cached` that the model has not
    /// picked yet (see `lookup`).
    ahead: Vec<LlamaToken>,
    /// Most tokens drafted per step; 0 turns drafting off.
    draft_max: usize,
    /// Tokens drafted next time: doubled while the model picks every
    /// drafted token, cut back to what it picked when it misses.
    draft_len: usize,
    /// Tokens in the last draft.
    drafted: usize,
    /// The grammars of the last tool sets: (tools as JSON, GBNF).
    grammars: Vec<(String, String)>,
    max_output: usize,
    look_first: bool,
    max_calls: usize,
    /// The tool-call framing as this model tokenizes it, fixed per model.
    markers: Markers,
    prefix_cache: Option<PrefixCache>,
    timings: Timings,
}

/// Token sequences written around tool calls.
struct Markers {
    /// `<tool_call>`, opening the first call.
    open: Vec<LlamaToken>,
    /// `\n<tool_call>`, opening each further call.
    next: Vec<LlamaToken>,
    /// The newline after the opening marker.
    newline: Vec<LlamaToken>,
    /// `\n</tool_call>`, closing a call.
    close: Vec<LlamaToken>,
}

impl<'m> Engine<'m> {
    fn new(model: &'m LlamaModel, s: &Settings) -> Result<Self, LocalError> {
        let source = model
            .meta_val_str("tokenizer.chat_template")
            .map_err(|_| LocalError::NoTemplate { path: s.path.display().to_string() })?;
        let template = ChatTemplate::new(&source)?;
        let n_ctx = s.context.min(model.n_ctx_train());
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(s.batch)
            .with_n_ubatch(s.batch)
            .with_n_threads(s.threads)
            .with_n_threads_batch(s.threads);
        let tokenize = |text: &str| model.vocab().tokenize(text.as_bytes(), false, true);
        let markers = Markers {
            open: tokenize(toolcall::OPEN),
            next: tokenize(&format!("\n{}", toolcall::OPEN)),
            newline: tokenize("\n"),
            close: tokenize(&format!("\n{}", toolcall::CLOSE)),
        };
        let ctx = model.new_context(backend()?, params).map_err(|e| LocalError::Load {
            what: format!("creating a {n_ctx}-token context"),
            source: std::sync::Arc::new(e),
            hint: "",
        })?;
        Ok(Engine {
            model,
            ctx,
            template,
            batch: LlamaBatch::new(s.batch as usize, 1),
            batch_size: s.batch as usize,
            cached: Vec::new(),
            logits_at: 0,
            ahead: Vec::new(),
            draft_max: s.draft_tokens,
            draft_len: s.draft_tokens.min(1),
            drafted: 0,
            grammars: Vec::new(),
            max_output: s.max_output,
            look_first: s.look_first,
            max_calls: s.max_calls.max(1),
            markers,
            prefix_cache: s.prefix_cache.clone().map(|dir| PrefixCache::new(dir, &s.path)),
            timings: Timings::default(),
        })
    }

    fn respond(&mut self, job: &Job) -> Result<Response, LlmError> {
        let started = Instant::now();
        // A draft left from the last response is valid context like any other.
        self.ahead.clear();
        let prompt = self
            .template
            .render(&job.messages, &job.tools)
            .map_err(|e| LlmError::new(ErrorKind::BadRequest, e.to_string()))?;
        let tokens = self.tokenize(&prompt);
        let n_ctx = self.ctx.n_ctx() as usize;
        if tokens.len() + 16 >= n_ctx {
            return Err(LlmError::new(
                ErrorKind::ContextTooLong,
                format!(
                    "the conversation is {} tokens and the local model's context holds {n_ctx}; start a new session \
                     (or raise `context_tokens` under `[local]` in config, e.g. `-c local.context_tokens=32768`, \
                     which costs memory)",
                    tokens.len()
                ),
            ));
        }
        let save_at = self
            .prefix_tokens(job)
            .filter(|prefix| prefix.len() < tokens.len() && tokens.starts_with(prefix))
            .and_then(|prefix| self.restore_prefix(&prefix));
        let reused = self.prefill(&tokens, save_at, &job.cancel)?;
        self.timings.prompt_tokens = tokens.len();
        self.timings.reused_tokens = reused;
        self.timings.prompt_seconds = started.elapsed().as_secs_f64();
        let budget = self.max_output.min(n_ctx - tokens.len() - 1);
        let generating = Instant::now();
        let result = self.generate(job, budget, started);
        self.timings.generate_seconds = generating.elapsed().as_secs_f64();
        let mut response = result?;
        response.usage = Usage {
            input_tokens: tokens.len() as u64,
            cached_input_tokens: reused as u64,
            output_tokens: self.timings.generated_tokens as u64,
            reasoning_output_tokens: 0,
        };
        Ok(response)
    }

    /// The exact length of `job`'s prompt, as [`Engine::respond`] would send it.
    fn count(&self, job: &Job) -> Result<u64, LlmError> {
        let prompt = self
            .template
            .render(&job.messages, &job.tools)
            .map_err(|e| LlmError::new(ErrorKind::BadRequest, e.to_string()))?;
        Ok(self.tokenize(&prompt).len() as u64)
    }

    fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        // No BOS: Qwen-style templates write their own special tokens.
        self.model.vocab().tokenize(text.as_bytes(), false, true)
    }

    /// Evaluates the stable prefix of `job`'s prompt now, so the first real
    /// request pays only for what follows it: loaded from disk when it was
    /// saved before, else evaluated and saved.
    fn prepare(&mut self, job: &Job) -> Result<(), LlmError> {
        self.ahead.clear();
        let Some(prefix) = self.prefix_tokens(job) else { return Ok(()) };
        let save_at = self.restore_prefix(&prefix);
        // Already held, or just loaded from disk.
        if self.cached.starts_with(&prefix) {
            return Ok(());
        }
        self.prefill(&prefix, save_at, &job.cancel).map(drop)
    }

    /// The tokens of the prompt's stable prefix (the system message and the
    /// tools), when there is one worth saving.
    fn prefix_tokens(&self, job: &Job) -> Option<Vec<LlamaToken>> {
        self.prefix_cache.as_ref()?;
        let first = job.messages.first().filter(|m| matches!(m, Message::System { .. }))?;
        let text = self.template.render_prefix(std::slice::from_ref(first), &job.tools).ok()?;
        Some(self.tokenize(&text)).filter(|prefix| prefix.len() >= self.batch_size)
    }

    /// When the KV cache does not already hold `prefix`, loads it from disk
    /// if it was saved before. Returns where to save it if it was not.
    fn restore_prefix(&mut self, prefix: &[LlamaToken]) -> Option<(usize, PathBuf)> {
        if self.cached.starts_with(prefix) {
            return None;
        }
        let file = self.prefix_cache.as_ref()?.file_for(prefix);
        #[allow(clippy::disallowed_methods)] // the inference thread
        if std::fs::metadata(&file).is_err() {
            return Some((prefix.len(), file));
        }
        self.forget_from(0);
        match self.ctx.state_seq_load_file(&file, 0, prefix.len()) {
            Ok((loaded, _)) if loaded == prefix => {
                PrefixCache::touch(&file);
                self.cached = loaded;
                None
            }
            _ => {
                // Unreadable or stale: start clean and write it afresh.
                self.ctx.clear_kv_cache();
                self.cached.clear();
                Some((prefix.len(), file))
            }
        }
    }

    /// Evaluates the prompt, reusing the cached prefix; returns how many
    /// tokens were reused. With `save_at`, the KV entries of the first
    /// `n` tokens are saved to the file once they are evaluated.
    fn prefill(
        &mut self,
        tokens: &[LlamaToken],
        mut save_at: Option<(usize, PathBuf)>,
        cancel: &CancellationToken,
    ) -> Result<usize, LlmError> {
        let mut keep = self.cached.iter().zip(tokens).take_while(|(a, b)| a == b).count();
        // The last prompt token is evaluated again for its logits.
        keep = keep.min(tokens.len().saturating_sub(1));
        self.forget_from(keep);
        let mut pos = keep;
        while pos < tokens.len() {
            if cancel.is_cancelled() {
                return Err(LlmError::cancelled());
            }
            let mut end = (pos + self.batch_size).min(tokens.len());
            if let Some((n, _)) = save_at.as_ref().filter(|(n, _)| *n > pos) {
                end = end.min(*n);
            }
            self.decode(&tokens[pos..end], end == tokens.len())?;
            pos = end;
            if let Some((_, file)) = save_at.take_if(|(n, _)| *n == pos) {
                self.save_prefix(&file);
            }
        }
        Ok(keep)
    }

    /// Saves the KV entries of everything evaluated so far to `file`.
    fn save_prefix(&self, file: &Path) {
        if let Some(disk) = &self.prefix_cache {
            disk.save(file, |tmp| self.ctx.state_seq_save_file(tmp, 0, &self.cached).is_ok());
        }
    }

    /// Drops the KV entries from position `keep` on.
    fn forget_from(&mut self, keep: usize) {
        self.ahead.clear();
        let cleared = u32::try_from(keep).ok().and_then(|k| self.ctx.clear_kv_cache_seq(Some(0), Some(k), None).ok());
        if cleared == Some(true) {
            self.cached.truncate(keep);
        } else {
            self.ctx.clear_kv_cache();
            self.cached.clear();
        }
    }

    /// Appends `tokens` to the context (after dropping an unpicked draft);
    /// logits only for the last one if asked.
    fn decode(&mut self, tokens: &[LlamaToken], logits: bool) -> Result<(), LlmError> {
        self.settle();
        self.submit(tokens, |i| logits && i + 1 == tokens.len())
    }

    /// Evaluates `tokens` after the context, with logits for those
    /// `wanted` says (by index).
    fn submit(&mut self, tokens: &[LlamaToken], wanted: impl Fn(usize) -> bool) -> Result<(), LlmError> {
        self.batch.clear();
        let start = self.cached.len();
        for (i, t) in tokens.iter().enumerate() {
            self.batch.add(*t, (start + i) as i32, &[0], wanted(i)).map_err(|e| engine_error(&e))?;
        }
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            // The cache may be half-written: start clean next time.
            self.ctx.clear_kv_cache();
            self.cached.clear();
            self.ahead.clear();
            return Err(engine_error(&e));
        }
        self.cached.extend_from_slice(tokens);
        self.logits_at = self.batch.n_tokens() - 1;
        Ok(())
    }
}

fn send(job: &Job, out: Out) -> Result<(), LlmError> {
    // The receiver is gone when the caller stopped waiting: stop generating.
    job.out.blocking_send(out).map_err(|_| LlmError::cancelled())
}

fn engine_error(e: &dyn std::fmt::Display) -> LlmError {
    LlmError::new(ErrorKind::BadRequest, format!("the local model failed: {e}"))
}
