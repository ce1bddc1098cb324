//! Classified model errors: each says what failed and what to do.

use std::sync::Arc;
use std::time::Duration;

/// The class of a failure, which decides whether it is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The server could not be reached (connect error, DNS, refused).
    Connect,
    /// The server returned 5xx.
    Server,
    /// 429 without an exhausted quota.
    RateLimited,
    /// The stream broke, stalled or sent something unreadable before it completed.
    StreamBroken,
    /// 401/403: the key is missing, wrong or lacks access.
    Auth,
    /// The account is out of credit or quota.
    Quota,
    /// The model does not exist at this provider.
    ModelNotFound,
    /// The conversation no longer fits the model's context window.
    ContextTooLong,
    /// Any other 4xx: the request itself is wrong.
    BadRequest,
    /// The caller cancelled.
    Cancelled,
    /// The model cannot be used as configured (not installed, not built
    /// into this binary, no HTTP client): a setup problem, not a request's.
    Unavailable,
    /// The server answered with something that is not the API (an HTML
    /// page, a response without end): a wrong base_url or a proxy in the
    /// way. Asking again would get the same.
    NotTheApi,
}

impl ErrorKind {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Connect | Self::Server | Self::RateLimited | Self::StreamBroken)
    }
}

/// A failed model request.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct LlmError {
    pub kind: ErrorKind,
    /// What happened and what to do (includes the cause's text).
    pub message: String,
    pub status: Option<u16>,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
    /// The underlying error, when there was one.
    #[source]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl LlmError {
    /// An error of `kind` whose message says what happened and what to do.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        LlmError { kind, message: message.into(), status: None, retry_after: None, source: None }
    }

    /// Keeps `source` as the cause.
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The caller cancelled the request.
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "cancelled")
    }
}

/// Context the error messages need.
pub(crate) struct Origin<'a> {
    pub provider: &'a str,
    pub url: &'a str,
    pub model: &'a str,
    pub api_key_env: Option<&'a str>,
}

/// Classifies an HTTP error response. `body` is the (possibly JSON) error text.
pub(crate) fn classify_http(status: u16, body: &str, retry_after: Option<Duration>, o: &Origin) -> LlmError {
    let detail = error_detail(body);
    let lower = detail.to_lowercase();
    let (kind, hint) = if is_context_too_long(&lower) {
        (ErrorKind::ContextTooLong, "the conversation is longer than the model's context window; start a new session or use a model with a larger window".to_string())
    } else {
        match status {
            401 | 403 => (
                ErrorKind::Auth,
                match o.api_key_env {
                    Some(var) => format!("check the API key in ${var} and that it has access to `{}`", o.model),
                    None => format!("provider `{}` needs credentials; set `api_key_env` for it in config", o.provider),
                },
            ),
            404 if lower.contains("model") || detail.is_empty() => (
                ErrorKind::ModelNotFound,
                format!(
                    "model `{}` is not available at {}; pick another with -m, or check the provider's model list",
                    o.model, o.url
                ),
            ),
            429 if lower.contains("quota") || lower.contains("credit") || lower.contains("billing") => {
                (ErrorKind::Quota, format!("the `{}` account is out of quota or credit; check its billing", o.provider))
            }
            429 => (ErrorKind::RateLimited, "rate limited; retrying after a pause".into()),
            408 | 409 | 500..=599 => (ErrorKind::Server, "the provider had a server error".into()),
            _ => (ErrorKind::BadRequest, "the provider rejected the request".into()),
        }
    };
    let shown = if detail.is_empty() { String::new() } else { format!(": {detail}") };
    LlmError {
        kind,
        message: format!("{} returned HTTP {status}{shown} ({hint})", o.provider),
        status: Some(status),
        retry_after,
        source: None,
    }
}

/// Classifies an `{"error": …}` object sent inside an SSE stream.
pub(crate) fn classify_stream_error(value: &serde_json::Value, o: &Origin) -> LlmError {
    let status = value
        .get("code")
        .and_then(|c| c.as_u64().or_else(|| c.as_str().and_then(|s| s.parse().ok())))
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(500);
    let wrapped = serde_json::json!({ "error": value }).to_string();
    let mut e = classify_http(status, &wrapped, None, o);
    e.message = format!("{} (reported inside the stream)", e.message);
    e
}

fn is_context_too_long(lower: &str) -> bool {
    [
        "context_length_exceeded",
        "context length",
        "maximum context",
        "context window",
        "too many tokens",
        "prompt is too long",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// Pulls the human message out of an OpenAI-style error body.
fn error_detail(body: &str) -> String {
    let text = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => {
            let err = v.get("error").unwrap_or(&v);
            let msg = err.get("message").and_then(|m| m.as_str()).or_else(|| err.as_str());
            let code = err.get("code").and_then(|c| c.as_str()).or_else(|| err.get("type").and_then(|c| c.as_str()));
            match (msg, code) {
                (Some(m), Some(c)) => format!("{m} [{c}]"),
                (Some(m), None) => m.to_string(),
                _ => body.trim().to_string(),
            }
        }
        Err(_) => body.trim().to_string(),
    };
    let mut text: String = text.chars().take(500).collect();
    if text.len() < body.len() && body.len() > 500 {
        text.push('…');
    }
    text
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    fn origin() -> Origin<'static> {
        Origin { provider: "openai", url: "http://x/v1", model: "m", api_key_env: Some("OPENAI_API_KEY") }
    }

    #[test]
    fn classes() {
        let o = origin();
        let e = classify_http(401, r#"{"error":{"message":"Incorrect API key provided"}}"#, None, &o);
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.message.contains("$OPENAI_API_KEY"), "{}", e.message);
        let e = classify_http(
            404,
            r#"{"error":{"message":"The model `m` does not exist","code":"model_not_found"}}"#,
            None,
            &o,
        );
        assert_eq!(e.kind, ErrorKind::ModelNotFound);
        let e = classify_http(
            400,
            r#"{"error":{"message":"maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#,
            None,
            &o,
        );
        assert_eq!(e.kind, ErrorKind::ContextTooLong);
        assert!(!e.kind.is_retryable());
        let e = classify_http(
            429,
            r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#,
            None,
            &o,
        );
        assert_eq!(e.kind, ErrorKind::Quota);
        assert_eq!(classify_http(429, "slow down", None, &o).kind, ErrorKind::RateLimited);
        assert_eq!(classify_http(503, "", None, &o).kind, ErrorKind::Server);
        assert_eq!(classify_http(422, "bad", None, &o).kind, ErrorKind::BadRequest);
    }

    #[test]
    fn in_stream_error() {
        let v = serde_json::json!({"message": "upstream overloaded", "code": 502});
        let e = classify_stream_error(&v, &origin());
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(e.message.contains("upstream overloaded"));
    }
}
