//! `update_plan`: the model's visible to-do list.

use crate::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema, parse_args};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use tern_protocol::{PlanItem, PlanStatus};

pub(crate) struct UpdatePlan;

#[derive(Deserialize)]
struct Args {
    explanation: Option<String>,
    plan: Vec<PlanItem>,
}

impl Tool for UpdatePlan {
    fn name(&self) -> &'static str {
        "update_plan"
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name().to_owned().into(),
            description: "Replace the task plan shown to the user. Keep steps short; at most one step \
                is in_progress at a time."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "explanation": {"type": "string"},
                    "plan": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "step": {"type": "string"},
                                "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]}
                            },
                            "required": ["step", "status"],
                            "additionalProperties": false
                        }
                    }
                },
                "required": ["plan"],
                "additionalProperties": false
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Plan
    }

    fn mutates(&self) -> bool {
        false
    }

    fn call<'a>(&'a self, _ctx: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            let active = args.plan.iter().filter(|p| p.status == PlanStatus::InProgress).count();
            if active > 1 {
                return Err(ToolError::InvalidArgs(format!("{active} steps are in_progress; mark at most one")));
            }
            let mut out = ToolOutput::text("Plan updated");
            out.plan = Some((args.explanation, args.plan));
            Ok(out)
        })
    }
}
