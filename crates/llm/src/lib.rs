//! Streaming model clients.
//!
//! Every wire API turns a [`Request`] into a stream of [`StreamDelta`]s (for
//! display) and one assembled [`Response`] (for the agent loop). They share
//! the SSE reader in [`sse`] and the retry policy in
//! [`retry`]: OpenAI Chat Completions (which OpenAI, Ollama, LM Studio,
//! vLLM, llama.cpp's server and OpenRouter all speak), OpenAI Responses,
//! Anthropic Messages and Gemini. [`connect`] builds the one a provider's
//! configuration names; the embedded model (`tern-local`) is another
//! [`ModelClient`], built by the binary that links it.

mod anthropic;
mod chat;
mod error;
mod gemini;
mod http;
mod message;
#[doc(hidden)]
pub mod replay;
mod responses;
pub mod retry;
pub mod schema;
pub mod sse;
mod stream;
pub mod tokens;

pub use anthropic::AnthropicClient;
pub use chat::ChatClient;
pub use error::{ErrorKind, LlmError};
pub use gemini::GeminiClient;
pub use message::{Message, Request, Response, StreamDelta, ToolCall, ToolSpec};
pub use responses::ResponsesClient;

use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Where and how to reach a provider.
#[derive(Clone)]
pub struct ClientConfig {
    /// Provider name, used in error messages.
    pub provider: String,
    /// Base URL up to and including the version segment, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    /// The environment variable the key came from, for error messages.
    pub api_key_env: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// Chat Completions dialect differences (ignored by the other wires).
    pub quirks: tern_config::ChatQuirks,
    pub max_retries: u32,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_retry_delay: Duration,
}

impl ClientConfig {
    /// The settings `config`'s provider and network table give.
    pub fn from_config(config: &tern_config::Config) -> Self {
        let (p, net) = (&config.provider, &config.network);
        ClientConfig {
            provider: p.name.clone(),
            base_url: p.base_url.clone(),
            api_key: p.api_key.clone(),
            api_key_env: p.api_key_env.clone(),
            headers: p.headers.clone(),
            quirks: p.quirks.clone(),
            max_retries: net.request_max_retries,
            idle_timeout: net.stream_idle_timeout,
            connect_timeout: net.connect_timeout,
            max_retry_delay: net.max_retry_delay,
        }
    }
}

/// The client for `config`'s provider when it is served over HTTP.
/// Blocking: building a client for an `https` server loads the system's
/// trust roots from disk, so call it from `spawn_blocking`. The embedded
/// model (`wire_api = "local"`) is not built here; asking for it is an
/// [`ErrorKind::Unavailable`] error.
pub fn connect(config: &tern_config::Config) -> Result<Box<dyn ModelClient>, LlmError> {
    use tern_config::WireApi;
    let client_config = ClientConfig::from_config(config);
    Ok(match config.provider.wire_api {
        WireApi::Chat => Box::new(ChatClient::new(client_config)?),
        WireApi::Anthropic => Box::new(AnthropicClient::new(client_config)?),
        WireApi::Responses => Box::new(ResponsesClient::new(client_config)?),
        WireApi::Gemini => Box::new(GeminiClient::new(client_config)?),
        WireApi::Local => {
            return Err(LlmError::new(
                ErrorKind::Unavailable,
                format!(
                    "provider `{}` is the embedded local model, which this build of tern does not include \
                     (it was built without the `local` feature); use a cloud or OpenAI-compatible provider, \
                     or build tern with `cargo build --release -p tern`",
                    config.provider.name
                ),
            ));
        }
    })
}

/// One wire API. Implementations retry on their own; the caller sees
/// either a complete response or a classified error.
pub trait ModelClient: Send + Sync {
    /// Streams one model response. Deltas go to `sink` (never duplicated
    /// across retries); the assembled response is returned.
    fn stream<'a>(
        &'a self,
        request: Request<'a>,
        sink: &'a mpsc::Sender<StreamDelta>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Response, LlmError>>;

    /// Says that the next requests will begin with `request`'s messages and
    /// tools, so a client that keeps state (the local model) can evaluate
    /// them now, before the user's message arrives. The work starts when
    /// this is called; the returned future only reports how it ended
    /// (`true`: the prefix is ready), and dropping it cancels nothing.
    /// Stateless HTTP clients have nothing to do.
    fn prepare(&self, request: Request<'_>) -> BoxFuture<'static, Result<bool, LlmError>> {
        let _ = request;
        Box::pin(async { Ok(false) })
    }

    /// The exact length of `request`'s prompt in tokens, for a client that
    /// has the model's tokenizer at hand (the local model); `None` means
    /// unknown, and callers estimate ([`tokens`]).
    fn count_tokens(&self, request: Request<'_>) -> BoxFuture<'static, Option<u64>> {
        let _ = request;
        Box::pin(async { None })
    }

    /// Ends what the client runs in the background (the local model's
    /// inference thread) and waits, a bounded time, until it has stopped.
    /// Stateless HTTP clients have nothing to end.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
