//! Lazy tools: when the servers' tool schemas would cost more than a
//! budget, the model is offered a compact index of them inside one
//! `tool_search` tool, and the full schema of a tool only once it is
//! loaded (searched for, or called). Every tool stays callable.

use crate::servers::Servers;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use tern_tools::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema};

/// The search tool's name.
pub const TOOL_SEARCH: &str = "tool_search";
/// Tokens the index may take with a line per tool (about a hundred
/// tools), and with names only (about a thousand); beyond, counts only.
const INDEX_LINES_TOKENS: usize = 2000;
const INDEX_NAMES_TOKENS: usize = 4000;
/// How many tools one search loads at most.
const MAX_LOADED_PER_SEARCH: usize = 8;

/// A rough token count of a tool definition (bytes / 4): no tokenizer is
/// needed to decide whether schemas are worth deferring.
pub fn estimate_tokens(schema: &ToolSchema) -> usize {
    (schema.name.len() + schema.description.len() + schema.parameters.to_string().len()).div_ceil(4)
}

/// What the model is offered of the MCP tools.
pub struct Offer {
    /// Every tool that can be called (MCP tools, and `tool_search` when lazy).
    pub callable: Vec<Arc<dyn Tool>>,
    /// Callable tools whose schemas are not sent (not loaded yet).
    pub hidden: BTreeSet<String>,
}

/// The tools loaded so far in a session (by name), shared with `tool_search`.
#[derive(Clone, Default)]
pub struct Loaded {
    names: Arc<Mutex<BTreeSet<String>>>,
}

impl Servers {
    /// The MCP tools as the model should see them, with schemas worth at
    /// most `budget` tokens before they are deferred behind `tool_search`.
    pub fn offer(&self, budget: usize, loaded: &Loaded) -> Offer {
        let tools = self.tools();
        let total: usize = tools.iter().map(|t| estimate_tokens(&t.schema())).sum();
        if total <= budget || tools.is_empty() {
            return Offer { callable: tools, hidden: BTreeSet::new() };
        }
        let shown = loaded.names.lock().clone();
        let hidden = tools.iter().map(|t| t.name().to_string()).filter(|n| !shown.contains(n)).collect();
        let index = index(&tools);
        let search: Arc<dyn Tool> = Arc::new(ToolSearch { servers: self.clone(), loaded: loaded.clone(), index });
        let mut callable = tools;
        callable.push(search);
        Offer { callable, hidden }
    }
}

impl Loaded {
    /// Marks `name` loaded; true when it was not before.
    pub fn load(&self, name: &str) -> bool {
        self.names.lock().insert(name.to_string())
    }
}

/// The index of every tool: one line each (name and the start of its
/// description); names only, by server, when that is too long; counts
/// only when even that is.
fn index(tools: &[Arc<dyn Tool>]) -> String {
    let line = |t: &Arc<dyn Tool>| {
        let d = t.schema().description;
        let first = d.split(['\n', '.']).next().unwrap_or("").trim();
        let short: String = first.chars().take(80).collect();
        format!("{} — {short}", t.name())
    };
    let full: Vec<String> = tools.iter().map(line).collect();
    let text = full.join("\n");
    if text.len() / 4 <= INDEX_LINES_TOKENS {
        return text;
    }
    let mut by_server: Vec<(String, Vec<String>)> = Vec::new();
    for t in tools {
        let Some(call) = t.mcp() else { continue };
        match by_server.iter_mut().find(|(s, _)| *s == call.server) {
            Some((_, names)) => names.push(call.tool),
            None => by_server.push((call.server, vec![call.tool])),
        }
    }
    let names: Vec<String> = by_server.iter().map(|(s, n)| format!("mcp__{s}__*: {}", n.join(", "))).collect();
    let text = names.join("\n");
    if text.len() / 4 <= INDEX_NAMES_TOKENS {
        return text;
    }
    by_server.iter().map(|(s, n)| format!("mcp__{s}__*: {} tools", n.len())).collect::<Vec<_>>().join("\n")
}

/// Finds tools by words or names and loads their schemas for the next
/// model call.
struct ToolSearch {
    servers: Servers,
    loaded: Loaded,
    index: String,
}

#[derive(Deserialize)]
struct Args {
    #[serde(default)]
    query: String,
    #[serde(default)]
    names: Vec<String>,
}

impl Tool for ToolSearch {
    fn name(&self) -> &str {
        TOOL_SEARCH
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: TOOL_SEARCH.into(),
            description: format!(
                "Load the tools of the connected MCP servers. They are listed below without their schemas; search \
                 them by words (query) or name them exactly (names), and the tools found become callable with their \
                 full schemas from your next step.\n{}",
                self.index
            )
            .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words describing what the tool should do."},
                    "names": {"type": "array", "items": {"type": "string"}, "description": "Exact tool names to load."}
                }
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Search
    }

    fn mutates(&self) -> bool {
        false
    }

    fn call<'a>(&'a self, _ctx: &'a ToolCtx, args: Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: Args = serde_json::from_value(args).map_err(|e| {
                ToolError::InvalidArgs(format!("{e}; send {{\"query\": \"words\"}} or {{\"names\": [...]}}"))
            })?;
            let tools = self.servers.tools();
            let found = search(&tools, &args.query, &args.names);
            if found.is_empty() {
                return Ok(ToolOutput::text(format!(
                    "no tool matches; the tools are:\n{}\nsearch with other words, or name one exactly",
                    self.index
                )));
            }
            let mut text = String::from("Loaded; call them directly from your next step:");
            let mut any_new = false;
            for t in &found {
                any_new |= self.loaded.load(t.name());
                let schema = t.schema();
                text.push_str(&format!("\n- {}: {}", t.name(), schema.description.lines().next().unwrap_or("")));
            }
            if any_new {
                self.servers.tools_changed();
            }
            Ok(ToolOutput::text(text))
        })
    }
}

/// The tools named exactly, then those matching most words of `query`
/// (a word in the name counts thrice).
fn search(tools: &[Arc<dyn Tool>], query: &str, names: &[String]) -> Vec<Arc<dyn Tool>> {
    let mut out: Vec<Arc<dyn Tool>> = tools
        .iter()
        .filter(|t| names.iter().any(|n| n == t.name() || t.mcp().is_some_and(|m| m.tool == *n)))
        .cloned()
        .collect();
    let words: Vec<String> =
        query.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 1).map(str::to_lowercase).collect();
    if !words.is_empty() {
        let mut scored: Vec<(usize, Arc<dyn Tool>)> = tools
            .iter()
            .filter(|t| !out.iter().any(|o| o.name() == t.name()))
            .map(|t| {
                let name = t.name().to_lowercase();
                let description = t.schema().description.to_lowercase();
                let score = words
                    .iter()
                    .map(|w| 3 * usize::from(name.contains(w)) + usize::from(description.contains(w)))
                    .sum();
                (score, t.clone())
            })
            .filter(|(s, _)| *s > 0)
            .collect();
        scored.sort_by_key(|s| std::cmp::Reverse(s.0));
        out.extend(scored.into_iter().map(|(_, t)| t));
    }
    out.truncate(MAX_LOADED_PER_SEARCH);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_protocol::McpCall;

    struct Fake(String, String);

    impl Tool for Fake {
        fn name(&self) -> &str {
            &self.0
        }
        fn schema(&self) -> ToolSchema {
            ToolSchema { name: self.0.clone().into(), description: self.1.clone().into(), parameters: json!({}) }
        }
        fn mutates(&self) -> bool {
            false
        }
        fn mcp(&self) -> Option<McpCall> {
            let mut parts = self.0.splitn(3, "__").skip(1);
            Some(McpCall { server: parts.next()?.into(), tool: parts.next()?.into() })
        }
        fn call<'a>(&'a self, _: &'a ToolCtx, _: Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
            Box::pin(async { Ok(ToolOutput::text("")) })
        }
    }

    fn tools(n: usize) -> Vec<Arc<dyn Tool>> {
        (0..n)
            .map(|i| {
                let t: Arc<dyn Tool> =
                    Arc::new(Fake(format!("mcp__s{}__tool_{i}", i % 7), format!("Does thing number {i}. More.")));
                t
            })
            .collect()
    }

    #[test]
    fn the_index_shrinks_with_the_number_of_tools() {
        let few = index(&tools(30));
        assert!(few.contains("mcp__s2__tool_9 — Does thing number 9"), "{few}");
        let many = index(&tools(1000));
        assert!(!many.contains(" — ") && many.contains("tool_999"), "names only");
        assert!(many.len() / 4 <= INDEX_NAMES_TOKENS);
        let huge = index(&tools(20_000));
        assert!(huge.contains("tools") && huge.lines().count() == 7, "{huge}");
    }

    #[test]
    fn search_finds_by_name_and_words() {
        let mut all = tools(20);
        all.push(Arc::new(Fake("mcp__gh__create_issue".into(), "Open an issue in a repository.".into())));
        let found = search(&all, "open a github issue", &[]);
        assert_eq!(found[0].name(), "mcp__gh__create_issue");
        let named = search(&all, "", &["tool_3".into(), "mcp__s4__tool_4".into()]);
        let names: Vec<_> = named.iter().map(|t| t.name().to_string()).collect();
        assert_eq!(names, vec!["mcp__s3__tool_3", "mcp__s4__tool_4"]);
        assert!(search(&all, "zzz", &[]).is_empty());
        assert!(search(&all, "does thing", &[]).len() <= MAX_LOADED_PER_SEARCH);
    }
}
