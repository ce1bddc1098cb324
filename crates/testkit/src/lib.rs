//! A mock model server for tests and manual runs.
//!
//! It listens on loopback, speaks OpenAI Chat Completions over real
//! HTTP/SSE (each event its own chunk, with controllable timing), plays a
//! script of responses in order, injects faults, and records every request
//! it received so tests can check what tern sent.

mod script;

pub use script::{Dialect, Fault, Script, ScriptedCall, Step};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Default)]
struct Shared {
    steps: VecDeque<Step>,
    requests: Vec<Value>,
    headers: Vec<Vec<(String, String)>>,
    served: usize,
    /// Requests are not kept (long benchmark sessions would hold gigabytes).
    forget: bool,
    /// Requests that forbid tool calls are answered with a made-up summary
    /// and consume no step (for sessions whose compactions are unscripted).
    summaries: bool,
}

type AppState = Arc<Mutex<Shared>>;

/// A running mock server; it stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    state: AppState,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    /// Starts a server on an ephemeral loopback port that will play `steps`.
    pub async fn start(steps: Vec<Step>) -> std::io::Result<MockServer> {
        Self::bind("127.0.0.1:0", steps).await
    }

    /// Starts a server on `addr`.
    pub async fn bind(addr: &str, steps: Vec<Step>) -> std::io::Result<MockServer> {
        let state: AppState = Arc::new(Mutex::new(Shared { steps: steps.into(), ..Default::default() }));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/chat/completions", post(chat))
            .route("/v1/messages", post(anthropic))
            .route("/v1/responses", post(responses))
            .route("/v1/models/{action}", post(gemini))
            .route("/v1beta/models/{action}", post(gemini))
            .with_state(state.clone())
            // Real APIs take far more than axum's default 2 MB; a long
            // session's history is bigger than that.
            .layer(axum::extract::DefaultBodyLimit::max(256 << 20));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        // Without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms per response.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(MockServer { addr, state, task })
    }

    /// Stops keeping requests and their headers; [`MockServer::requests`]
    /// is then empty.
    pub fn forget_requests(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.forget = true;
            s.requests = Vec::new();
            s.headers = Vec::new();
        }
    }

    /// Answers every request that forbids tool calls (a compaction's
    /// summary request) with a summary of its own, leaving the script's
    /// steps for the others.
    pub fn write_summaries(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.summaries = true;
        }
    }

    /// The base URL to configure in tern, ending in `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request body received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().map(|s| s.requests.clone()).unwrap_or_default()
    }

    /// The headers of every request, in order (names lowercase).
    pub fn headers(&self) -> Vec<Vec<(String, String)>> {
        self.state.lock().map(|s| s.headers.clone()).unwrap_or_default()
    }

    /// Steps not yet played.
    pub fn remaining(&self) -> usize {
        self.state.lock().map(|s| s.steps.len()).unwrap_or(0)
    }
}

/// Which API a request came in on, and so which stream shape to send.
#[derive(Clone, Copy)]
enum Wire {
    Chat,
    Anthropic,
    Responses,
    Gemini,
}

async fn responses(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    serve(state, headers, body, Wire::Responses).await
}

/// `models/{model}:streamGenerateContent`; the model goes into the body
/// the mock records, as Gemini has it only in the path.
async fn gemini(
    State(state): State<AppState>,
    axum::extract::Path(action): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let model = action.split(':').next().unwrap_or("").to_string();
    let mut v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("model".into(), Value::String(model));
    }
    let body = axum::body::Bytes::from(v.to_string());
    serve(state, headers, body, Wire::Gemini).await
}

async fn chat(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    serve(state, headers, body, Wire::Chat).await
}

async fn anthropic(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    serve(state, headers, body, Wire::Anthropic).await
}

async fn serve(state: AppState, headers: HeaderMap, body: axum::body::Bytes, wire: Wire) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("{{\"error\":{{\"message\":\"bad JSON: {e}\"}}}}"))
                .into_response();
        }
    };
    let model = request.get("model").and_then(Value::as_str).unwrap_or("mock").to_string();
    let request_tools = ToolChoice::of(&request);
    let prompt_chars = ["messages", "input", "contents"]
        .iter()
        .find_map(|k| request.get(*k))
        .map(|m| m.to_string().len())
        .unwrap_or(0);
    let (step, seq) = {
        let Ok(mut s) = state.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        if !s.forget {
            s.requests.push(request);
            s.headers.push(
                headers.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect(),
            );
        }
        s.served += 1;
        // A model told not to call tools cannot play a scripted call: it
        // writes a summary and leaves the call for the next request (a
        // compaction's summary request can come at any point of a script).
        let summary = tools_disabled(&request_tools)
            && (s.summaries || s.steps.front().is_some_and(|st| !st.tool_calls.is_empty()));
        let step = if summary {
            Some(Step::text(format!("## Goal\nA summary written by the mock model (request {}).", s.served)))
        } else {
            s.steps.pop_front()
        };
        (step, s.served)
    };
    let Some(step) = step else {
        let msg = r#"{"error":{"message":"the mock model's script is exhausted","type":"server_error"}}"#;
        return (StatusCode::INTERNAL_SERVER_ERROR, msg).into_response();
    };
    if let Some(Fault::Status { status, body, retry_after }) = &step.fault {
        let code = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (code, body.clone().unwrap_or_default()).into_response();
        if let Some(ra) = retry_after.as_deref().and_then(|r| HeaderValue::from_str(r).ok()) {
            resp.headers_mut().insert("retry-after", ra);
        }
        return resp;
    }
    if let Some(Fault::Html) = &step.fault {
        let page = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in to continue.</body></html>\n";
        return ([("content-type", "text/html; charset=utf-8")], page).into_response();
    }
    let events = match wire {
        Wire::Chat => step.chat_frames(seq, &model, prompt_chars),
        Wire::Anthropic => step.anthropic_frames(seq, &model, prompt_chars),
        Wire::Responses => step.responses_frames(seq, prompt_chars),
        Wire::Gemini => step.gemini_frames(seq, prompt_chars),
    };
    let (tx, rx) = mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    tokio::spawn(play(step, events, wire, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Sends the events with the step's timing and fault.
async fn play(step: Step, events: Vec<String>, wire: Wire, tx: mpsc::Sender<Result<bytes::Bytes, std::io::Error>>) {
    if let Some(ms) = step.first_byte_delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(Fault::Oversize { bytes }) = step.fault {
        let _ = tx.send(Ok(bytes::Bytes::from_static(b"data: {\"text\": \""))).await;
        let block = bytes::Bytes::from(vec![b'x'; 1 << 20]);
        let mut sent = 0;
        while sent < bytes {
            if tx.send(Ok(block.clone())).await.is_err() {
                return;
            }
            sent += block.len() as u64;
        }
        return;
    }
    let delay = Duration::from_millis(step.delay_ms.unwrap_or(0));
    for (i, data) in events.into_iter().enumerate() {
        match &step.fault {
            Some(Fault::DropAfter { events }) if i == *events => {
                let _ = tx.send(Err(std::io::Error::other("mock: connection dropped"))).await;
                return;
            }
            Some(Fault::MalformedAfter { events }) if i == *events => {
                let _ = tx.send(Ok(bytes::Bytes::from_static(b"data: {\"choices\": [ this is not json\n\n"))).await;
                return;
            }
            Some(Fault::ErrorEventAfter { events }) if i == *events => {
                let _ = tx.send(Ok(bytes::Bytes::from_static(error_event(wire).as_bytes()))).await;
                return;
            }
            Some(Fault::StallAfter { events }) if i == *events => {
                // Hold the connection open until the client gives up.
                tx.closed().await;
                return;
            }
            _ => {}
        }
        if i > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if tx.send(Ok(bytes::Bytes::from(data))).await.is_err() {
            return;
        }
    }
}

/// The error event each API sends inside a stream when the server fails
/// mid-response (as the providers document them).
fn error_event(wire: Wire) -> &'static str {
    match wire {
        Wire::Chat => {
            "data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\",\"code\":\"server_error\"}}\n\n"
        }
        Wire::Anthropic => {
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
        }
        Wire::Responses => {
            "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_mock\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"The server had an error while processing your request.\"}}}\n\n"
        }
        Wire::Gemini => {
            "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please try again later.\",\"status\":\"UNAVAILABLE\"}}\n\n"
        }
    }
}

/// What a request says about calling tools.
struct ToolChoice {
    /// Chat and Responses `tool_choice`, Anthropic's `tool_choice.type`.
    choice: Option<String>,
    /// Gemini's `toolConfig.functionCallingConfig.mode`.
    mode: Option<String>,
}

impl ToolChoice {
    fn of(request: &Value) -> Self {
        let choice = request
            .get("tool_choice")
            .and_then(|c| c.as_str().map(str::to_string).or_else(|| c["type"].as_str().map(str::to_string)));
        let mode = request["toolConfig"]["functionCallingConfig"]["mode"].as_str().map(str::to_string);
        ToolChoice { choice, mode }
    }
}

/// The request lists tools but forbids calling them.
fn tools_disabled(c: &ToolChoice) -> bool {
    c.choice.as_deref() == Some("none") || c.mode.as_deref() == Some("NONE")
}
