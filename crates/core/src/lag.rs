//! Lag, measured (RUNTIME rule 10): how late a waiting task wakes after
//! its deadline. [`LagHistogram`] holds the samples; [`LagProbe`] is the
//! runtime's probe, a task that asks to wake every few milliseconds while a
//! turn runs. The UI loop records its own deadlines in a histogram too.

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tern_protocol::LagStats;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

const INTERVAL: Duration = Duration::from_millis(10);

/// Wake-up lateness samples, 1 µs to 60 s at two significant digits.
#[derive(Debug)]
pub struct LagHistogram(Option<Histogram<u64>>);

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram(Histogram::new_with_bounds(1, 60_000_000, 2).ok())
    }
}

impl LagHistogram {
    /// Records a wake-up `late` after its deadline.
    pub fn record(&mut self, late: Duration) {
        if let Some(h) = self.0.as_mut() {
            let _ = h.record((late.as_micros() as u64).max(1));
        }
    }

    /// The percentiles so far.
    pub fn stats(&self) -> LagStats {
        match &self.0 {
            Some(h) if !h.is_empty() => LagStats {
                samples: h.len(),
                p50_us: h.value_at_quantile(0.5),
                p99_us: h.value_at_quantile(0.99),
                max_us: h.max(),
            },
            _ => LagStats::default(),
        }
    }
}

/// A running probe; dropped or finished with the turn that owns it.
pub(crate) struct LagProbe {
    hist: Arc<Mutex<LagHistogram>>,
    _task: AbortOnDropHandle<()>,
}

impl LagProbe {
    pub(crate) fn start() -> Self {
        let hist = Arc::new(Mutex::new(LagHistogram::default()));
        let h = hist.clone();
        let task = tokio::spawn(async move {
            let mut next = Instant::now() + INTERVAL;
            loop {
                tokio::time::sleep_until(next).await;
                let now = Instant::now();
                h.lock().record(now.saturating_duration_since(next));
                next = now + INTERVAL;
            }
        });
        LagProbe { hist, _task: AbortOnDropHandle::new(task) }
    }

    /// Stops the probe and returns its percentiles.
    pub(crate) fn finish(self) -> LagStats {
        self.hist.lock().stats()
    }
}
