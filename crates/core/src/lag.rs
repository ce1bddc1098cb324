//! The scheduling-lag probe (RUNTIME rule 10): while a turn runs, a task
//! asks to wake every few milliseconds and records how late it woke.

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tern_protocol::LagStats;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

const INTERVAL: Duration = Duration::from_millis(10);

/// A running probe; dropped or finished with the turn that owns it.
pub(crate) struct LagProbe {
    hist: Arc<Mutex<Option<Histogram<u64>>>>,
    _task: AbortOnDropHandle<()>,
}

impl LagProbe {
    pub(crate) fn start() -> Self {
        // 1 µs .. 60 s at 2 significant digits.
        let hist = Arc::new(Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 2).ok()));
        let h = hist.clone();
        let task = tokio::spawn(async move {
            let mut next = Instant::now() + INTERVAL;
            loop {
                tokio::time::sleep_until(next).await;
                let now = Instant::now();
                let late = now.saturating_duration_since(next).as_micros() as u64;
                if let Some(hist) = h.lock().as_mut() {
                    let _ = hist.record(late.max(1));
                }
                next = now + INTERVAL;
            }
        });
        LagProbe { hist, _task: AbortOnDropHandle::new(task) }
    }

    /// Stops the probe and returns its percentiles.
    pub(crate) fn finish(self) -> LagStats {
        let guard = self.hist.lock();
        match guard.as_ref() {
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
