//! How full the model's context window is, and compactions.

use serde::{Deserialize, Serialize};

/// How full the model's context window is, in tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextUsage {
    /// The last reported prompt and output, plus an estimate (or, for the
    /// local model, an exact count) of what was added since.
    pub used_tokens: u64,
    pub window: u64,
    /// Where compaction starts (`compact_at`).
    pub compact_at: u64,
}

/// Why the conversation was compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompactTrigger {
    /// The context reached `compact_at`.
    Auto,
    /// The user asked (`/compact`, [`crate::Op::Compact`]).
    Manual,
    /// The provider said the prompt was too long.
    Overflow,
}

/// A compaction that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compaction {
    pub trigger: CompactTrigger,
    /// Context tokens before and after.
    pub pre_tokens: u64,
    pub post_tokens: u64,
    /// Old tool outputs replaced by a pointer to where they are saved.
    pub stubbed_outputs: u32,
    /// Whether the model summarized the conversation (the second step).
    pub summarized: bool,
    /// How long it took, summary included.
    #[serde(default)]
    pub duration_ms: u64,
    /// What went wrong with the summary, when it was wanted and failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_error: Option<String>,
}

impl Compaction {
    /// One line for a transcript: why, how much, and how.
    pub fn describe(&self) -> String {
        let why = match self.trigger {
            CompactTrigger::Auto => "the context was full",
            CompactTrigger::Manual => "asked for",
            CompactTrigger::Overflow => "the model said the prompt was too long",
        };
        let mut text = format!("compacted ({why}): {} → {} tokens", self.pre_tokens, self.post_tokens);
        match self.stubbed_outputs {
            0 => {}
            1 => text.push_str(", 1 old tool output set aside"),
            n => text.push_str(&format!(", {n} old tool outputs set aside")),
        }
        if self.summarized {
            text.push_str(", summarized");
        }
        if let Some(e) = &self.summary_error {
            text.push_str(&format!("; no summary: {e}"));
        }
        text
    }
}
