//! What the model is offered: tern's tools and the MCP servers' (in full,
//! or behind `tool_search` past a budget), their schemas normalized once
//! for the wire API in use.

use crate::session::Session;
use tern_llm::ToolSpec;
use tern_protocol::ToolKind;
use tern_tools::Registry;

/// MCP tool schemas (tokens) offered in full to a small-profile model.
const SMALL_MODEL_MCP_BUDGET: usize = 600;

/// The tools as the wire API is offered them (schemas normalized once
/// here, not per request).
pub(crate) fn tool_specs(tools: &Registry, wire: tern_config::WireApi) -> Vec<ToolSpec> {
    tools
        .schemas()
        .into_iter()
        .map(|s| ToolSpec {
            opens: tools
                .get(&s.name)
                .is_some_and(|t| matches!(t.kind(), ToolKind::Read | ToolKind::Search | ToolKind::Execute)),
            name: s.name.into(),
            description: s.description.into(),
            parameters: tern_llm::schema::normalize(s.parameters, wire),
        })
        .collect()
}

impl Session {
    /// Takes in the MCP tools that became ready (or went away) since the
    /// last model call; never during one.
    pub(crate) fn refresh_mcp_tools(&mut self) {
        let generation = self.mcp.generation();
        if generation == self.mcp_generation {
            return;
        }
        self.mcp_generation = generation;
        // A small local model pays for every prompt token on the CPU, in
        // a small window: servers' schemas wait behind tool_search sooner.
        let budget = match self.config.model_info.tools {
            tern_config::ToolProfile::Small => self.config.mcp_schema_budget.min(SMALL_MODEL_MCP_BUDGET),
            _ => self.config.mcp_schema_budget,
        };
        let offer = self.mcp.offer(budget, &self.mcp_loaded);
        self.tools.set_extra(offer.callable, offer.hidden);
        self.specs = tool_specs(&self.tools, self.config.provider.wire_api);
    }
}
