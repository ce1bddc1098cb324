//! What every wire API shares while streaming: the retry loop, and the
//! bookkeeping that keeps a retried stream from showing text twice.

use crate::http::Http;
use crate::{ErrorKind, LlmError, ModelClient, Request, Response, StreamDelta, retry};
use futures_util::future::BoxFuture;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Text already shown to the user for this response, across attempts.
#[derive(Default)]
pub struct Shown {
    text: String,
    reasoning: String,
    /// This attempt's text and reasoning so far.
    attempt_text: String,
    attempt_reasoning: String,
}

impl Shown {
    /// Starts a new attempt; what was shown stays shown.
    pub(crate) fn new_attempt(&mut self) {
        self.attempt_text.clear();
        self.attempt_reasoning.clear();
    }

    /// Records a text delta and returns what the user has not yet seen.
    pub(crate) async fn text(&mut self, delta: &str, sink: &mpsc::Sender<StreamDelta>) {
        self.attempt_text.push_str(delta);
        let out = novel(&mut self.text, &self.attempt_text);
        self.emit(out, StreamDelta::Text, sink).await;
    }

    pub(crate) async fn reasoning(&mut self, delta: &str, sink: &mpsc::Sender<StreamDelta>) {
        self.attempt_reasoning.push_str(delta);
        let out = novel(&mut self.reasoning, &self.attempt_reasoning);
        self.emit(out, StreamDelta::Reasoning, sink).await;
    }

    async fn emit(&mut self, out: Novel, wrap: fn(String) -> StreamDelta, sink: &mpsc::Sender<StreamDelta>) {
        match out {
            Novel::Nothing => {}
            Novel::Suffix(s) => {
                let _ = sink.send(wrap(s)).await;
            }
            Novel::Diverged => {
                // The retried stream says something else: the front drops the
                // partial message and we show this attempt from its start.
                let _ = sink.send(StreamDelta::Restart).await;
                self.text = self.attempt_text.clone();
                self.reasoning = self.attempt_reasoning.clone();
                if !self.reasoning.is_empty() {
                    let _ = sink.send(StreamDelta::Reasoning(self.reasoning.clone())).await;
                }
                if !self.text.is_empty() {
                    let _ = sink.send(StreamDelta::Text(self.text.clone())).await;
                }
            }
        }
    }
}

enum Novel {
    Nothing,
    Suffix(String),
    Diverged,
}

/// Compares this attempt's text with what was shown; extends `shown`.
fn novel(shown: &mut String, attempt: &str) -> Novel {
    if shown.starts_with(attempt) {
        Novel::Nothing
    } else if attempt.starts_with(shown.as_str()) {
        let suffix = attempt[shown.len()..].to_string();
        shown.push_str(&suffix);
        Novel::Suffix(suffix)
    } else {
        Novel::Diverged
    }
}

/// One wire API: how a request is encoded and where it goes, and how one
/// attempt's stream is read. Every `Wire` is a [`ModelClient`]: the retry
/// loop around the attempts is shared ([`run`]).
pub trait Wire: Send + Sync {
    fn http(&self) -> &Http;
    /// The request body.
    fn encode(&self, request: &Request<'_>) -> Result<Vec<u8>, serde_json::Error>;
    /// Where to POST it (some APIs put the model in the path).
    fn url(&self, model: &str) -> String;
    /// Sends one attempt and assembles its response.
    fn attempt(
        &self,
        url: &str,
        model: &str,
        body: bytes::Bytes,
        shown: &mut Shown,
        sink: &mpsc::Sender<StreamDelta>,
        cancel: &CancellationToken,
    ) -> impl Future<Output = Result<Response, LlmError>> + Send;
}

impl<W: Wire> ModelClient for W {
    fn stream<'a>(
        &'a self,
        request: Request<'a>,
        sink: &'a mpsc::Sender<StreamDelta>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Response, LlmError>> {
        Box::pin(run(self, request, sink, cancel))
    }
}

/// Encodes once, then attempts until a response, a final error, or cancel.
async fn run<W: Wire>(
    wire: &W,
    request: Request<'_>,
    sink: &mpsc::Sender<StreamDelta>,
    cancel: &CancellationToken,
) -> Result<Response, LlmError> {
    let body = wire
        .encode(&request)
        .map_err(|e| LlmError::new(ErrorKind::BadRequest, format!("cannot encode request: {e}")).caused_by(e))?;
    let body = bytes::Bytes::from(body);
    let url = wire.url(request.model);
    let config = &wire.http().config;
    let mut shown = Shown::default();
    let mut retries = 0;
    // The URL and model only: never the headers, which carry the key.
    tracing::debug!(provider = %config.provider, %url, model = request.model, bytes = body.len(), "model request");
    loop {
        shown.new_attempt();
        match wire.attempt(&url, request.model, body.clone(), &mut shown, sink, cancel).await {
            Ok(r) => return Ok(r),
            Err(e) => retry_or_fail(&mut retries, e, config.max_retries, config.max_retry_delay, sink, cancel)
                .await
                .inspect_err(|e| {
                    if e.kind != ErrorKind::Cancelled {
                        tracing::warn!(provider = %config.provider, kind = ?e.kind, "model request failed: {e}");
                    }
                })?,
        }
    }
}

/// Decides what follows a failed attempt: returns the error when it is
/// final, or waits out the backoff (announcing it to `sink`) and counts
/// the retry. Cancellation ends the wait at once.
async fn retry_or_fail(
    retries: &mut u32,
    err: LlmError,
    max_retries: u32,
    max_delay: Duration,
    sink: &mpsc::Sender<StreamDelta>,
    cancel: &CancellationToken,
) -> Result<(), LlmError> {
    if !err.kind.is_retryable() || *retries >= max_retries || cancel.is_cancelled() {
        return Err(err);
    }
    let delay = retry::delay(*retries, err.retry_after, max_delay);
    *retries += 1;
    tracing::warn!(kind = ?err.kind, attempt = *retries, delay_ms = delay.as_millis() as u64, "retrying: {err}");
    let _ = sink
        .send(StreamDelta::Retrying { attempt: *retries, max_attempts: max_retries, delay, reason: err.message })
        .await;
    tokio::select! {
        _ = cancel.cancelled() => Err(LlmError::cancelled()),
        _ = tokio::time::sleep(delay) => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[tokio::test]
    async fn retried_stream_does_not_repeat_text() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut s = Shown::default();
        s.new_attempt();
        s.text("Hello, ", &tx).await;
        s.text("wor", &tx).await;
        s.new_attempt();
        s.text("Hello, w", &tx).await;
        s.text("orld", &tx).await;
        drop(tx);
        let mut got = vec![];
        while let Some(d) = rx.recv().await {
            got.push(d);
        }
        let texts: Vec<_> = got
            .iter()
            .map(|d| match d {
                StreamDelta::Text(t) => t.as_str(),
                _ => "?",
            })
            .collect();
        assert_eq!(texts, ["Hello, ", "wor", "ld"]);
    }

    #[tokio::test]
    async fn diverging_retry_restarts() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut s = Shown::default();
        s.new_attempt();
        s.text("abc", &tx).await;
        s.new_attempt();
        s.text("xy", &tx).await;
        drop(tx);
        assert_eq!(rx.recv().await, Some(StreamDelta::Text("abc".into())));
        assert_eq!(rx.recv().await, Some(StreamDelta::Restart));
        assert_eq!(rx.recv().await, Some(StreamDelta::Text("xy".into())));
    }
}
