//! Per-tool figures over a session: calls, errors, cache hits, blocks,
//! retries and time percentiles (for `/status` and `--json`).

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::time::Duration;
use tern_protocol::ToolFigures;

/// How one call went, as the pipeline saw it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallFacts {
    pub ok: bool,
    /// Answered from the cache or as "unchanged since".
    pub cached: bool,
    pub blocked: bool,
    pub retries: u32,
}

struct Figures {
    calls: u64,
    errors: u64,
    cache_hits: u64,
    blocked: u64,
    retries: u64,
    /// Microseconds, 1 µs to 1 h at 2 significant digits.
    times: Option<Histogram<u64>>,
}

/// Every tool's figures, by name.
#[derive(Default)]
pub(crate) struct ToolStats(Mutex<BTreeMap<String, Figures>>);

impl ToolStats {
    pub(crate) fn record(&self, tool: &str, took: Duration, facts: CallFacts) {
        let mut all = self.0.lock();
        let f = all.entry(tool.to_string()).or_insert_with(|| Figures {
            calls: 0,
            errors: 0,
            cache_hits: 0,
            blocked: 0,
            retries: 0,
            times: Histogram::new_with_bounds(1, 3_600_000_000, 2).ok(),
        });
        f.calls += 1;
        f.errors += u64::from(!facts.ok);
        f.cache_hits += u64::from(facts.cached);
        f.blocked += u64::from(facts.blocked);
        f.retries += u64::from(facts.retries);
        if let Some(h) = &mut f.times {
            h.saturating_record((took.as_micros() as u64).max(1));
        }
    }

    /// Each tool's figures, by name.
    pub(crate) fn snapshot(&self) -> Vec<ToolFigures> {
        let ms = |h: &Option<Histogram<u64>>, q: f64| h.as_ref().map_or(0, |h| h.value_at_quantile(q) / 1000);
        self.0
            .lock()
            .iter()
            .map(|(tool, f)| ToolFigures {
                tool: tool.clone(),
                calls: f.calls,
                errors: f.errors,
                cache_hits: f.cache_hits,
                p50_ms: ms(&f.times, 0.5),
                p99_ms: ms(&f.times, 0.99),
                blocked: f.blocked,
                retries: f.retries,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_add_up_per_tool() {
        let stats = ToolStats::default();
        for i in 1..=100 {
            stats.record(
                "read_file",
                Duration::from_millis(i),
                CallFacts { ok: i != 7, cached: i % 10 == 0, ..Default::default() },
            );
        }
        stats.record(
            "exec_command",
            Duration::from_millis(5),
            CallFacts { blocked: true, retries: 2, ..Default::default() },
        );
        let figures = stats.snapshot();
        assert_eq!(figures[0].tool, "exec_command");
        assert_eq!((figures[0].blocked, figures[0].retries, figures[0].errors), (1, 2, 1));
        let read = &figures[1];
        assert_eq!((read.calls, read.errors, read.cache_hits), (100, 1, 10));
        assert!((49..=51).contains(&read.p50_ms), "{read:?}");
        assert!((98..=100).contains(&read.p99_ms), "{read:?}");
    }
}
