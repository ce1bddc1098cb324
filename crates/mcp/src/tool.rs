//! An MCP server's tool as a tern tool: approvals by policy and
//! annotations, a timeout, cancellation sent to the server, and results
//! capped for the model with the whole kept on disk.

use crate::servers::Slot;
use futures_util::future::BoxFuture;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::Value;
use std::sync::Arc;
use tern_config::ToolApproval;
use tern_protocol::{McpCall, ToolKind};
use tern_tools::approvals::ToolGate;
use tern_tools::{Tool, ToolCtx, ToolError, ToolOutput, ToolSchema};

/// Images passed to the model from one result, at most, and the largest
/// (base64 bytes); others are only described.
const MAX_IMAGES: usize = 4;
const MAX_IMAGE_BYTES: usize = 5 << 20;
/// Image types every provider takes.
const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Smallest cap on a result the model sees (command output's cap is
/// smaller than what a server's answer usually needs).
const MIN_RESULT_CAP: usize = 32 * 1024;

/// One tool of one server.
pub(crate) struct McpTool {
    pub(crate) slot: Arc<Slot>,
    /// What the model calls it (`mcp__server__tool`).
    pub(crate) name: String,
    /// What the server calls it.
    pub(crate) remote: String,
    pub(crate) description: String,
    pub(crate) parameters: Value,
    /// The server says it only reads (`readOnlyHint`).
    pub(crate) read_only: bool,
    pub(crate) approval: ToolApproval,
    /// It may run alongside other calls.
    pub(crate) parallel: bool,
    /// A failed call may be repeated: it only reads or says it is
    /// idempotent, and the server is reached over HTTP (where failures
    /// are often transient; a stdio server that failed is down).
    pub(crate) idempotent: bool,
}

impl McpTool {
    pub(crate) fn new(slot: Arc<Slot>, tool: &rmcp::model::Tool, parallel_server: bool) -> McpTool {
        let server = slot.config.name.clone();
        let read_only = tool.annotations.as_ref().and_then(|a| a.read_only_hint).unwrap_or(false);
        let description = tool.description.as_deref().unwrap_or("").to_string();
        let approval = slot.config.approval(&tool.name);
        let idempotent_hint = tool.annotations.as_ref().and_then(|a| a.idempotent_hint).unwrap_or(false);
        let http = matches!(slot.config.transport, tern_config::McpTransport::Http { .. });
        McpTool {
            idempotent: http && (read_only || idempotent_hint),
            name: crate::names::tool_name(&server, &tool.name),
            remote: tool.name.to_string(),
            description: if description.is_empty() {
                format!("Tool `{}` of the MCP server `{server}`.", tool.name)
            } else {
                description
            },
            parameters: Value::Object((*tool.input_schema).clone()),
            read_only,
            approval,
            parallel: read_only || parallel_server,
            slot,
        }
    }

    /// The server and the tool's own name.
    fn mcp_call(&self) -> McpCall {
        McpCall { server: self.slot.config.name.clone(), tool: self.remote.clone() }
    }

    /// How the call is approved (see [`ToolGate`]).
    fn gate(&self) -> ToolGate {
        match self.approval {
            ToolApproval::Approve => ToolGate::Never,
            ToolApproval::Prompt => ToolGate::Always,
            ToolApproval::Auto => ToolGate::ByPolicy { read_only: self.read_only },
        }
    }
}

impl Tool for McpTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name.clone().into(),
            description: self.description.clone().into(),
            parameters: self.parameters.clone(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Mcp
    }

    fn mutates(&self) -> bool {
        !self.read_only
    }

    fn parallel_safe(&self, _args: &Value, _workspace: &std::path::Path) -> bool {
        self.parallel
    }

    fn mcp(&self) -> Option<McpCall> {
        Some(self.mcp_call())
    }

    fn idempotent(&self) -> bool {
        self.idempotent
    }

    fn approve<'a>(&'a self, ctx: &'a ToolCtx, args: &'a Value) -> BoxFuture<'a, Result<(), ToolError>> {
        Box::pin(async move {
            let Value::Object(arguments) = args else { return Ok(()) };
            // A server that is down is said so before anyone is asked.
            self.slot.peer().map_err(ToolError::Failed)?;
            let preview = preview(arguments);
            ctx.approvals
                .check_tool(&self.name, self.mcp_call(), self.gate(), &preview, &ctx.call_id, &ctx.cancel)
                .await
        })
    }

    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let Value::Object(arguments) = args else {
                return Err(ToolError::InvalidArgs("send the arguments as one JSON object".into()));
            };
            let peer = self.slot.peer().map_err(ToolError::Failed)?;
            let params = CallToolRequestParams::new(self.remote.clone()).with_arguments(arguments);
            let timeout = self.slot.config.tool_timeout;
            // Dropping the call (on interrupt or timeout) sends the server
            // `notifications/cancelled` (rmcp's cancel-on-drop).
            let result = tokio::select! {
                r = peer.call_tool(params) => r,
                () = ctx.cancel.cancelled() => return Err(ToolError::Cancelled),
                () = tokio::time::sleep(timeout) => {
                    return Err(ToolError::Failed(format!(
                        "the MCP server `{}` did not answer within {} s (tool_timeout_sec); the call was cancelled",
                        self.slot.config.name,
                        crate::seconds(timeout)
                    )));
                }
            };
            match result {
                Ok(r) => Ok(render(r, ctx).await),
                // Over HTTP, a request that did not get through may next time.
                Err(e @ rmcp::service::ServiceError::TransportSend(_))
                    if matches!(self.slot.config.transport, tern_config::McpTransport::Http { .. }) =>
                {
                    Err(ToolError::Transient(self.slot.call_failed(&e)))
                }
                Err(e) => Err(ToolError::Failed(self.slot.call_failed(&e))),
            }
        })
    }
}

/// The arguments, shortened, for an approval question.
fn preview(args: &serde_json::Map<String, Value>) -> String {
    let text = Value::Object(args.clone()).to_string();
    if text.len() <= 400 {
        return text;
    }
    let mut end = 400;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The result as the model sees it: text blocks as they are, other blocks
/// described in a line, structured content when there is no text; capped,
/// with the whole saved in the spool when it is larger.
async fn render(result: CallToolResult, ctx: &ToolCtx) -> ToolOutput {
    let mut parts: Vec<String> = Vec::new();
    let mut images = Vec::new();
    let blocks = serde_json::to_value(&result.content).unwrap_or(Value::Null);
    for block in blocks.as_array().into_iter().flatten() {
        parts.push(describe(block));
        if let Some(image) = image(block)
            && images.len() < MAX_IMAGES
        {
            images.push(image);
        }
    }
    if let Some(structured) = &result.structured_content
        && parts.iter().all(|p| p.starts_with('['))
    {
        parts.push(serde_json::to_string_pretty(structured).unwrap_or_default());
    }
    let mut content = parts.join("\n");
    if content.is_empty() {
        content = "(the tool returned nothing)".into();
    }
    let success = !result.is_error.unwrap_or(false);
    if !success {
        content = format!("The tool reported an error:\n{content}");
    }
    let cap = ctx.output_cap.max(MIN_RESULT_CAP);
    if content.len() > cap {
        content = spill(content, cap, ctx).await;
    }
    ToolOutput { content, success, images, ..Default::default() }
}

/// An image block the model can be shown.
fn image(block: &Value) -> Option<tern_protocol::Image> {
    let s = |k: &str| block.get(k).and_then(Value::as_str);
    let mime = s("mimeType")?;
    let data = s("data")?;
    (s("type") == Some("image") && IMAGE_TYPES.contains(&mime) && data.len() <= MAX_IMAGE_BYTES)
        .then(|| tern_protocol::Image { mime_type: mime.to_string(), data: data.to_string() })
}

/// One content block in words.
fn describe(block: &Value) -> String {
    let s = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
    let bytes = |k: &str| s(k).len() / 4 * 3;
    match s("type") {
        "text" => s("text").to_string(),
        "image" => format!("[image: {}, {} bytes]", s("mimeType"), bytes("data")),
        "audio" => format!("[audio: {}, {} bytes]", s("mimeType"), bytes("data")),
        "resource_link" => {
            let title = if s("title").is_empty() { s("name") } else { s("title") };
            format!("[resource link: {title} <{}>{}]", s("uri"), mime_note(s("mimeType")))
        }
        "resource" => {
            let r = block.get("resource").cloned().unwrap_or(Value::Null);
            let rs = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            match r.get("text").and_then(Value::as_str) {
                Some(text) => format!("[resource <{}>]\n{text}", rs("uri")),
                None => format!(
                    "[binary resource <{}>{}, {} bytes]",
                    rs("uri"),
                    mime_note(&rs("mimeType")),
                    rs("blob").len() / 4 * 3
                ),
            }
        }
        other => format!("[{other} content]"),
    }
}

fn mime_note(mime: &str) -> String {
    if mime.is_empty() { String::new() } else { format!(" ({mime})") }
}

/// Keeps the head and tail of a large result and saves the whole.
async fn spill(content: String, cap: usize, ctx: &ToolCtx) -> String {
    let mut kept = tern_process::HeadTail::new(cap);
    kept.push(content.as_bytes());
    let saved = match &ctx.spool_dir {
        Some(dir) => {
            let path = dir.join(format!("{}-mcp.txt", ctx.item_id));
            let write = async {
                tokio::fs::create_dir_all(dir).await?;
                tokio::fs::write(&path, content.as_bytes()).await
            };
            match write.await {
                Ok(()) => Some(path),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "saving a large MCP result: {e}");
                    None
                }
            }
        }
        None => None,
    };
    let mut out = kept.render();
    if let Some(path) = saved {
        out.push_str(&format!(
            "\n[the whole result ({} bytes) is saved in {}; read parts of it (offset/limit) or search it with your file tools]",
            content.len(),
            path.display()
        ));
    }
    out
}
