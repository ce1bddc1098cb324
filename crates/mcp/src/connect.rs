//! Connecting to one server: starting it (stdio) or reaching it (HTTP),
//! the `initialize` handshake, and its tool list.

use parking_lot::Mutex;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::{ClientHandler, ServiceExt};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use tern_config::{McpServerConfig, McpTransport};
use tern_process::{INHERITED_ENV, Service, ServiceGuard, ServiceSpec};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;
use tokio_util::task::AbortOnDropHandle;

/// The protocol version tern asks for: the newest with the `initialize`
/// handshake, which real servers and the conformance suite accept (rmcp's
/// default, 2026-07-28, has no handshake).
pub const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion::V_2025_11_25;

/// Lines of a stdio server's stderr kept to explain its failure.
const STDERR_LINES: usize = 20;
/// How long a server that failed its handshake may take to finish saying why.
const STDERR_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Answers the server's notifications: a changed tool list is noted, and
/// refreshed by the server's supervisor between model calls.
#[derive(Clone)]
pub(crate) struct Handler {
    pub(crate) tools_changed: Arc<Notify>,
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(ClientCapabilities::default(), Implementation::new("tern", env!("CARGO_PKG_VERSION")))
            .with_protocol_version(PROTOCOL_VERSION)
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.notify_one();
    }
}

/// A connected server.
pub(crate) struct Connection {
    pub(crate) service: RunningService<RoleClient, Handler>,
    /// The stdio server's processes (ended with the connection).
    pub(crate) process: Option<ServiceGuard>,
    /// The last lines it wrote to stderr.
    pub(crate) stderr: Arc<Mutex<VecDeque<String>>>,
    pub(crate) stderr_reader: Option<AbortOnDropHandle<()>>,
    pub(crate) tools: Vec<rmcp::model::Tool>,
}

impl Connection {
    /// What the server last said on stderr, for failure messages.
    pub(crate) fn stderr_tail(stderr: &Mutex<VecDeque<String>>) -> String {
        let lines = stderr.lock();
        if lines.is_empty() {
            return String::new();
        }
        let tail: Vec<&str> = lines.iter().rev().take(3).rev().map(String::as_str).collect();
        format!("; its stderr ends with: {}", tail.join(" | "))
    }
}

/// Starts or reaches `config`'s server and lists its tools. Not bounded
/// here: the caller applies the start-up timeout.
pub(crate) async fn connect(
    config: &McpServerConfig,
    workspace: &Path,
    handler: Handler,
) -> Result<Connection, String> {
    let stderr = Arc::new(Mutex::new(VecDeque::new()));
    let (service, process, reader) = match &config.transport {
        McpTransport::Stdio { command, args, env, env_vars, cwd } => {
            let spec = ServiceSpec {
                program: command.clone(),
                args: args.clone(),
                env: server_env(env, env_vars, workspace),
                cwd: cwd.clone().unwrap_or_else(|| workspace.to_path_buf()),
            };
            let started = Service::start(&spec).map_err(|e| {
                let hint = if e.source.kind() == std::io::ErrorKind::NotFound {
                    " (is it installed and on PATH?)"
                } else {
                    ""
                };
                format!("{e}{hint}")
            })?;
            let (stdin, stdout, err, guard) = started.split();
            let mut reader =
                AbortOnDropHandle::new(tokio::spawn(read_stderr(config.name.clone(), err, stderr.clone())));
            let running = handler.serve((stdout, stdin)).await;
            match running {
                Ok(s) => (s, Some(guard), Some(reader)),
                Err(e) => {
                    // A server that died says why on stderr, until its end.
                    let _ = tokio::time::timeout(STDERR_WAIT, &mut reader).await;
                    return Err(format!("the handshake failed: {e}{}", Connection::stderr_tail(&stderr)));
                }
            }
        }
        McpTransport::Http { url, bearer_token_env_var, headers, env_headers } => {
            let transport = http_transport(url, bearer_token_env_var.as_deref(), headers, env_headers).await?;
            let running = handler.serve(transport).await.map_err(|e| format!("the handshake failed: {e}"))?;
            (running, None, None)
        }
    };
    let tools = service.peer().list_all_tools().await.map_err(|e| format!("listing its tools failed: {e}"))?;
    Ok(Connection { service, process, stderr, stderr_reader: reader, tools })
}

/// A stdio server's environment: a whitelist of tern's, the names in
/// `env_vars`, then `env`; and `CLAUDE_PROJECT_DIR`, which Claude Code
/// servers expect.
fn server_env(
    env: &std::collections::BTreeMap<String, String>,
    env_vars: &[String],
    workspace: &Path,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = INHERITED_ENV
        .iter()
        .copied()
        .chain(env_vars.iter().map(String::as_str))
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    out.push(("CLAUDE_PROJECT_DIR".into(), workspace.display().to_string()));
    out.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// Keeps the last lines of the server's stderr and logs them.
async fn read_stderr(name: String, err: tokio::process::ChildStderr, keep: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(err).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(server = %name, "mcp stderr: {line}");
        let mut keep = keep.lock();
        if keep.len() == STDERR_LINES {
            keep.pop_front();
        }
        keep.push_back(line.chars().take(500).collect());
    }
}

type HttpTransport = rmcp::transport::StreamableHttpClientTransport<reqwest::Client>;

async fn http_transport(
    url: &str,
    bearer_env: Option<&str>,
    headers: &std::collections::BTreeMap<String, String>,
    env_headers: &std::collections::BTreeMap<String, String>,
) -> Result<HttpTransport, String> {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let var = |name: &str, what: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{what} needs ${name}, which is not set"))
    };
    let mut map = HashMap::new();
    let all = headers
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.clone())))
        .chain(env_headers.iter().map(|(k, env)| var(env, &format!("header `{k}`")).map(|v| (k.clone(), v))));
    for pair in all {
        let (k, v) = pair?;
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header `{k}`: {e}"))?;
        let value = reqwest::header::HeaderValue::from_str(&v).map_err(|e| format!("header `{k}`: {e}"))?;
        map.insert(name, value);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).custom_headers(map);
    if let Some(env) = bearer_env {
        config = config.auth_header(var(env, "the bearer token")?);
    }
    // Tool results can be large: allow as much as the line cap of stdio.
    config.max_json_response_size = 64 * 1024 * 1024;
    let plain = url.starts_with("http://");
    // Building a client loads the system's trust roots: blocking.
    let client = tokio::task::spawn_blocking(move || {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(10));
        if plain {
            builder = builder.tls_certs_only(Vec::<reqwest::Certificate>::new());
        }
        builder.build()
    })
    .await
    .map_err(|e| format!("building the HTTP client: {e}"))?
    .map_err(|e| format!("building the HTTP client: {e}"))?;
    Ok(HttpTransport::with_client(client, config))
}

/// One connection outside a session, for programs that drive a server
/// directly (the conformance client).
pub struct Client {
    conn: Connection,
}

impl Client {
    /// Connects to `config`'s server and lists its tools.
    pub async fn connect(config: &McpServerConfig, workspace: &Path) -> Result<Client, String> {
        let handler = Handler { tools_changed: Arc::new(Notify::new()) };
        Ok(Client { conn: connect(config, workspace, handler).await? })
    }

    /// The server's tools, by their own names.
    pub fn tool_names(&self) -> Vec<String> {
        self.conn.tools.iter().map(|t| t.name.to_string()).collect()
    }

    /// Calls `tool`; the result's content as JSON.
    pub async fn call(
        &self,
        tool: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        let params = rmcp::model::CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        let result = self.conn.service.peer().call_tool(params).await.map_err(|e| e.to_string())?;
        serde_json::to_value(&result).map_err(|e| e.to_string())
    }

    /// Ends the connection (and the server, for stdio).
    pub async fn close(self) {
        let Connection { service, mut process, .. } = self.conn;
        let _ = service.cancel().await;
        if let Some(p) = process.as_mut() {
            p.end(std::time::Duration::from_millis(500)).await;
        }
    }
}
