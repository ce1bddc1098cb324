//! Prompt-lookup drafting, llama.cpp's "lookup decoding" without a second
//! model: when the tokens just generated occurred earlier in the context
//! (an edit copying the lines it read, an answer quoting a name), the
//! tokens that followed them then are evaluated in the same batch as the
//! new one. Each is kept only if the model then picks it itself, so the
//! output is what one-at-a-time decoding gives; what a kept token saves is
//! a step, and on a CPU a batch of a few tokens costs little more than one.

use super::Engine;
use llama_cpp_2::token::LlamaToken;
use tern_llm::LlmError;

/// The longest and shortest run of recent tokens looked up in the context.
const NGRAM_MAX: usize = 4;
const NGRAM_MIN: usize = 2;

impl Engine<'_> {
    /// Appends a generated token to the context, with a draft of what may
    /// follow it when its run recurs. A token already drafted and picked
    /// costs nothing; one the model did not pick ends the draft.
    pub(super) fn advance(&mut self, tok: LlamaToken) -> Result<(), LlmError> {
        if let Some(&next) = self.ahead.first() {
            if next == tok {
                self.ahead.remove(0);
                // The drafted token's logits are the next in the batch.
                self.logits_at += 1;
                self.timings.accepted_tokens += 1;
                if self.ahead.is_empty() {
                    // All of it picked: the text is being copied; draft more.
                    self.draft_len = (self.draft_len * 2).min(self.draft_max);
                }
                return Ok(());
            }
            // Each drafted token costs about a quarter of a step on 2 cores:
            // after a miss, draft only as far as the model followed.
            let picked = self.drafted - self.ahead.len();
            self.draft_len = (picked + 1).min(self.draft_max);
            self.settle();
        }
        self.cached.push(tok);
        // The batch and the context bound the draft.
        let room = (self.ctx.n_ctx() as usize).saturating_sub(self.cached.len() + 1);
        let draft = lookup(&self.cached, self.draft_len.min(self.batch_size - 1).min(room));
        self.cached.pop();
        if draft.is_empty() {
            return self.decode(&[tok], true);
        }
        let mut tokens = Vec::with_capacity(draft.len() + 1);
        tokens.push(tok);
        tokens.extend_from_slice(&draft);
        self.submit(&tokens, |_| true)?;
        self.logits_at = 0;
        self.timings.drafted_tokens += draft.len();
        self.drafted = draft.len();
        self.ahead = draft;
        Ok(())
    }

    /// Drops the drafted tokens the model has not picked (yet) from the
    /// context, before anything else is appended to it.
    pub(super) fn settle(&mut self) {
        if !self.ahead.is_empty() {
            let keep = self.cached.len() - self.ahead.len();
            self.forget_from(keep);
        }
    }
}

/// The tokens that followed the latest earlier occurrence of `history`'s
/// last few tokens (the longest run of [`NGRAM_MAX`] down to [`NGRAM_MIN`]
/// that recurs), at most `max` of them.
fn lookup(history: &[LlamaToken], max: usize) -> Vec<LlamaToken> {
    if max == 0 {
        return Vec::new();
    }
    for n in (NGRAM_MIN..=NGRAM_MAX).rev() {
        let Some(start) = history.len().checked_sub(n) else { continue };
        let tail = &history[start..];
        // Latest first: the nearest copy is the likeliest to continue.
        if let Some(at) = (0..start).rev().find(|&i| &history[i..i + n] == tail) {
            let from = at + n;
            return history[from..(from + max).min(history.len())].to_vec();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().map(|&i| LlamaToken(i)).collect()
    }

    #[test]
    fn the_latest_longest_earlier_run_gives_the_draft() {
        // "2 3" ends the history: what followed its latest copy is drafted.
        let h = toks(&[1, 2, 3, 4, 5, 9, 1, 2, 3, 6, 7, 8, 0, 2, 3]);
        assert_eq!(lookup(&h, 3), toks(&[6, 7, 8]));
        // The longer run wins over a later, shorter one.
        let h = toks(&[7, 2, 3, 10, 11, 0, 2, 3, 12, 13, 7, 2, 3]);
        assert_eq!(lookup(&h, 2), toks(&[10, 11]));
        // The draft stops at the end of the history.
        let h = toks(&[5, 6, 5, 6]);
        assert_eq!(lookup(&h, 8), toks(&[5, 6]));
    }

    #[test]
    fn nothing_recurring_drafts_nothing() {
        assert!(lookup(&toks(&[1, 2, 3, 4, 5]), 8).is_empty());
        assert!(lookup(&toks(&[1]), 8).is_empty());
        assert!(lookup(&toks(&[1, 2, 1, 2]), 0).is_empty());
    }
}
