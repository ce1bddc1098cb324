//! What every wire API shares on the wire: the HTTP client, sending a
//! request with the provider's auth, classifying an error response, and
//! reading SSE events with an idle timeout and cancellation.

use crate::error::{Origin, classify_http};
use crate::sse::Parser;
use crate::{ClientConfig, ErrorKind, LlmError, retry};
use futures_util::{Stream, StreamExt};
use std::collections::VecDeque;
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
                Err(_) => return Err(LlmError::new(ErrorKind::StreamBroken, format!("{provider} did not answer within {}", seconds(idle)))),
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
        let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if let Some(ct) = content_type.filter(|ct| !ct.contains("event-stream") && !ct.contains("json")) {
            // A streaming API answers with events (some servers label them
            // JSON); a page here is a proxy or a wrong base_url.
            let ct = ct.to_string();
            // Its start is enough to recognise it (a page may be large).
            let mut body = resp.bytes_stream();
            let mut head = Vec::new();
            while head.len() < 4096 {
                let next = tokio::select! {
                    _ = cancel.cancelled() => return Err(LlmError::cancelled()),
                    n = tokio::time::timeout(idle, body.next()) => n,
                };
                match next {
                    Ok(Some(Ok(chunk))) => head.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&head);
            return Err(LlmError::new(
                ErrorKind::NotTheApi,
                format!(
                    "{provider} at {} answered with {ct} instead of an event stream: {}; check base_url, and any \
                     proxy or sign-in page between tern and the server",
                    origin.url,
                    clip(text.trim())
                ),
            ));
        }
        Ok(Sse {
            body: Box::pin(resp.bytes_stream()),
            parser: Parser::default(),
            ready: VecDeque::new(),
            received: 0,
            idle,
            provider: provider.clone(),
        })
    }
}

/// A response stream is cut off past this size: a model's longest answer,
/// in its most verbose wire format, is a few tens of megabytes at most, and
/// an event that never ends would otherwise be held without bound.
pub(crate) const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// One SSE event: its data (each API's JSON names its own event type).
pub(crate) struct Event {
    pub data: String,
}

/// A response's SSE events.
pub(crate) struct Sse {
    body: Pin<Box<dyn Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send>>,
    parser: Parser,
    /// Events parsed from the bytes so far, not yet taken.
    ready: VecDeque<String>,
    received: u64,
    idle: Duration,
    provider: String,
}

impl Sse {
    /// The events of `chunks`, as if a server had sent them and closed the
    /// connection: no HTTP (the decoders' fuzz targets, `crate::replay`).
    pub(crate) fn replay(chunks: Vec<bytes::Bytes>, provider: &str) -> Self {
        Sse {
            body: Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok))),
            parser: Parser::default(),
            ready: VecDeque::new(),
            received: 0,
            idle: Duration::from_secs(300),
            provider: provider.into(),
        }
    }

    /// The next event, `None` at the end of the stream. No byte for longer
    /// than the idle timeout, or a broken connection, is a retryable error.
    pub(crate) async fn next(&mut self, cancel: &CancellationToken) -> Result<Option<Event>, LlmError> {
        loop {
            if let Some(data) = self.ready.pop_front() {
                return Ok(Some(Event { data }));
            }
            let next = tokio::select! {
                _ = cancel.cancelled() => return Err(LlmError::cancelled()),
                n = tokio::time::timeout(self.idle, self.body.next()) => n,
            };
            let chunk = match next {
                Err(_) => {
                    return Err(LlmError::new(
                        ErrorKind::StreamBroken,
                        format!("the stream from {} stalled (nothing for {})", self.provider, seconds(self.idle)),
                    ));
                }
                // An event not ended by a blank line is dropped, as the standard says.
                Ok(None) => return Ok(None),
                Ok(Some(Err(e))) => {
                    return Err(LlmError::new(
                        ErrorKind::StreamBroken,
                        format!("the stream from {} broke: {e}", self.provider),
                    )
                    .caused_by(e));
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            self.received += chunk.len() as u64;
            if self.received > MAX_RESPONSE_BYTES {
                return Err(LlmError::new(
                    ErrorKind::NotTheApi,
                    format!(
                        "the response from {} passed {} MB and was stopped; no model answer is that large, so the \
                         server is misbehaving: check base_url, or the server's logs",
                        self.provider,
                        MAX_RESPONSE_BYTES >> 20
                    ),
                ));
            }
            self.parser.feed(&chunk, &mut self.ready);
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

/// `300s`, or `0.4s` for a timeout under a second.
fn seconds(d: Duration) -> String {
    if d.as_secs() >= 10 { format!("{}s", d.as_secs()) } else { format!("{:.1}s", d.as_secs_f64()) }
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
