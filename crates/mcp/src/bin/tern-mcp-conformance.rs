//! The MCP conformance suite's client: `tern-mcp-conformance URL`, run by
//! `conformance client --command …` with the scenario in
//! `MCP_CONFORMANCE_SCENARIO`. It does what a tern session does with a
//! server (connect, list tools, call them) through `tern-mcp`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use tern_config::{McpServerConfig, McpTransport};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1).filter(|a| a.starts_with("http")) else {
        eprintln!("usage: tern-mcp-conformance URL (the conformance suite passes its server's URL)");
        return ExitCode::from(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    match run(&url, &scenario).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tern-mcp-conformance ({scenario}): {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, scenario: &str) -> Result<(), String> {
    let transport = McpTransport::Http {
        url: url.into(),
        bearer_token_env_var: None,
        headers: BTreeMap::new(),
        env_headers: BTreeMap::new(),
    };
    let config = McpServerConfig::new("conformance", transport, "conformance");
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let client = tern_mcp::Client::connect(&config, &cwd).await?;
    let tools = client.tool_names();
    let result = match scenario {
        "tools_call" => client.call("add_numbers", args(serde_json::json!({"a": 5, "b": 3}))).await.map(drop),
        // Every other scenario: call each tool the server offers with no
        // arguments, as a model exploring it would (the server checks what
        // the client does along the way).
        _ => {
            for tool in &tools {
                client.call(tool, serde_json::Map::new()).await?;
            }
            Ok(())
        }
    };
    client.close().await;
    result
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}
