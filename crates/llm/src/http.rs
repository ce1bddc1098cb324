//! What every wire API shares on the wire: the HTTP client, sending a
//! request with the provider's auth, classifying an error response, and
//! reading SSE events with an idle timeout and cancellation.

use crate::error::{Origin, classify_http};
use crate::{ClientConfig, ErrorKind, LlmError, retry};
use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How a provider wants its key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth {
    /// `Authorization: Bearer KEY` (OpenAI and compatible servers).
    Bearer,
    /// The key in a header of its own (`x-api-key`, `x-goog-api-key`).
    Header(&'static str),
}

/// The HTTP side of one provider (public only so that `Wire` can name it;
/// the module is private).
pub struct Http {
    client: reqwest::Client,
    pub(crate) config: ClientConfig,
}

impl Http {
    /// Builds the client. Cheap; no connection is made until the first request.
    pub(crate) fn new(config: ClientConfig) -> Result<Self, LlmError> {
        // reqwest is built without a default crypto provider; ring is ours.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().connect_timeout(config.connect_timeout).tcp_nodelay(true);
        if config.base_url.starts_with("http://") {
            // A plain-HTTP server (Ollama, llama.cpp…) needs no trust roots;
            // loading the system's costs a few ms of every start.
            builder = builder.tls_certs_only(Vec::<reqwest::Certificate>::new());
        }
        let client = builder.build().map_err(|e| {
            LlmError::new(ErrorKind::Unavailable, format!("cannot build HTTP client: {e}")).caused_by(e)
        })?;
        Ok(Http { client, config })
    }

    pub(crate) fn origin<'a>(&'a self, model: &'a str) -> Origin<'a> {
        Origin {
            provider: &self.config.provider,
            url: &self.config.base_url,
            model,
            api_key_env: self.config.api_key_env.as_deref(),
        }
    }

    /// `{base_url}/{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{}", self.config.base_url.trim_end_matches('/'), path.trim_start_matches('/'))
    }

    /// POSTs `body` and returns the SSE stream of a successful answer, or
    /// the classified error.
    pub(crate) async fn open(
        &self,
        url: &str,
        auth: Auth,
        extra: &[(&str, &str)],
        body: bytes::Bytes,
        model: &str,
        cancel: &CancellationToken,
    ) -> Result<Sse, LlmError> {
        let origin = self.origin(model);
        let mut req = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(body);
        if let Some(key) = &self.config.api_key {
            req = match auth {
                Auth::Bearer => req.bearer_auth(key),
                Auth::Header(name) => req.header(name, key),
            };
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        for (k, v) in &self.config.headers {
            req = req.header(k, v);
        }
        let idle = self.config.idle_timeout;
        let provider = &self.config.provider;
        let resp = tokio::select! {
            _ = cancel.cancelled() => return Err(LlmError::cancelled()),
            r = tokio::time::timeout(idle, req.send()) => match r {
                Err(_) => return Err(LlmError::new(ErrorKind::StreamBroken, format!("{provider} did not answer within {}s", idle.as_secs()))),
                Ok(Err(e)) => return Err(send_error(e, &origin)),
                Ok(Ok(resp)) => resp,
            },
        };
        let status = resp.status();
        if !status.is_success() {
            let retry_after = retry::parse_retry_after(resp.headers());
            let text = tokio::select! {
                _ = cancel.cancelled() => return Err(LlmError::cancelled()),
                t = tokio::time::timeout(idle, resp.text()) => t.ok().and_then(Result::ok).unwrap_or_default(),
            };
            return Err(classify_http(status.as_u16(), &text, retry_after, &origin));
        }
        Ok(Sse { events: Box::pin(resp.bytes_stream().eventsource()), idle, provider: provider.clone() })
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<Event, eventsource_stream::EventStreamError<reqwest::Error>>> + Send>>;

/// A response's SSE events.
pub(crate) struct Sse {
    events: Events,
    idle: Duration,
    provider: String,
}

impl Sse {
    /// The next event, `None` at the end of the stream. A stall longer
    /// than the idle timeout or a broken connection is a retryable error.
    pub(crate) async fn next(&mut self, cancel: &CancellationToken) -> Result<Option<Event>, LlmError> {
        let next = tokio::select! {
            _ = cancel.cancelled() => return Err(LlmError::cancelled()),
            n = tokio::time::timeout(self.idle, self.events.next()) => n,
        };
        match next {
            Err(_) => Err(LlmError::new(
                ErrorKind::StreamBroken,
                format!("the stream from {} stalled for {}s", self.provider, self.idle.as_secs()),
            )),
            Ok(None) => Ok(None),
            Ok(Some(Err(e))) => {
                Err(LlmError::new(ErrorKind::StreamBroken, format!("the stream from {} broke: {e}", self.provider))
                    .caused_by(e))
            }
            Ok(Some(Ok(ev))) => Ok(Some(ev)),
        }
    }

    /// Parses an event's JSON data; unreadable data breaks the stream (retried).
    pub(crate) fn json(&self, data: &str) -> Result<serde_json::Value, LlmError> {
        serde_json::from_str(data).map_err(|e| {
            LlmError::new(
                ErrorKind::StreamBroken,
                format!("{} sent an unreadable stream event ({e}): {}", self.provider, clip(data)),
            )
            .caused_by(e)
        })
    }

    /// The error for a stream that ended before the response was complete.
    pub(crate) fn incomplete(&self) -> LlmError {
        LlmError::new(
            ErrorKind::StreamBroken,
            format!("the stream from {} ended before the response was complete", self.provider),
        )
    }
}

fn send_error(e: reqwest::Error, o: &Origin) -> LlmError {
    // The innermost cause ("Connection refused (os error 111)", "dns error: …")
    // is the one that tells the user what is wrong.
    let mut cause: &dyn std::error::Error = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if e.is_timeout() { "timed out connecting".to_string() } else { cause.to_string() };
    LlmError::new(
        ErrorKind::Connect,
        format!(
            "cannot reach {} at {}: {what}; check that the server is running and base_url is right",
            o.provider, o.url
        ),
    )
    .caused_by(e)
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
