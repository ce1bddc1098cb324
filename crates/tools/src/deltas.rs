//! Streamed deltas on their way to the front, without ever making the
//! producer wait (RUNTIME rule 5): a delta the bounded event channel cannot
//! take now is merged into the next one; command output waiting beyond a cap
//! loses its oldest bytes. Both are counted, and the counts reach `/status`
//! and the turn summary.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tern_protocol::{DeltaStats, Event};
use tokio::sync::mpsc;

/// Live command output held for a slow front at most (the call's end event
/// carries the output whatever happens here).
pub const OUTPUT_PENDING_CAP: usize = 64 * 1024;

/// How a session's deltas fared; shared by everything that streams.
#[derive(Debug, Default)]
pub struct DeltaCounters {
    sent: AtomicU64,
    coalesced: AtomicU64,
    dropped_bytes: AtomicU64,
}

impl DeltaCounters {
    /// The counts so far.
    pub fn snapshot(&self) -> DeltaStats {
        DeltaStats {
            sent: self.sent.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            dropped_bytes: self.dropped_bytes.load(Ordering::Relaxed),
        }
    }
}

/// One item's stream of deltas (a message, a reasoning block, a command's
/// output).
pub struct DeltaSink {
    events: mpsc::Sender<Event>,
    item_id: String,
    make: fn(String, String) -> Event,
    /// Text not yet sent: the channel was full.
    pending: Mutex<String>,
    /// Most bytes kept pending; `None`: never drop (message text).
    cap: Option<usize>,
    counters: Arc<DeltaCounters>,
}

impl DeltaSink {
    /// Command output of the call `item_id`: capped while pending.
    pub fn output(events: mpsc::Sender<Event>, item_id: String, counters: Arc<DeltaCounters>) -> Self {
        let make = |item_id, delta| Event::ToolCallOutputDelta { item_id, delta };
        DeltaSink { events, item_id, make, pending: Mutex::default(), cap: Some(OUTPUT_PENDING_CAP), counters }
    }

    /// The model's message (or reasoning) text of `item_id`: never dropped.
    pub fn message(
        events: mpsc::Sender<Event>,
        item_id: String,
        reasoning: bool,
        counters: Arc<DeltaCounters>,
    ) -> Self {
        let make: fn(String, String) -> Event = if reasoning {
            |item_id, delta| Event::ReasoningDelta { item_id, delta }
        } else {
            |item_id, delta| Event::AgentMessageDelta { item_id, delta }
        };
        DeltaSink { events, item_id, make, pending: Mutex::default(), cap: None, counters }
    }

    /// Sends `text` (with whatever waited before it) if the channel has
    /// room; otherwise keeps it for the next delta. Never waits.
    pub fn push(&self, text: &str) {
        let mut pending = self.pending.lock();
        pending.push_str(text);
        if let Some(cap) = self.cap
            && pending.len() > cap
        {
            let mut cut = pending.len() - cap;
            while !pending.is_char_boundary(cut) {
                cut += 1;
            }
            pending.drain(..cut);
            self.counters.dropped_bytes.fetch_add(cut as u64, Ordering::Relaxed);
        }
        match self.events.try_reserve() {
            Ok(permit) => {
                permit.send((self.make)(self.item_id.clone(), std::mem::take(&mut *pending)));
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(())) => {
                self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
            }
            // Nobody is listening: nothing to keep.
            Err(mpsc::error::TrySendError::Closed(())) => pending.clear(),
        }
    }

    /// Sends what is still pending, waiting for room: call before the
    /// item's closing event so the front sees everything in order.
    pub async fn flush(&self) {
        let text = std::mem::take(&mut *self.pending.lock());
        if !text.is_empty() && self.events.send((self.make)(self.item_id.clone(), text)).await.is_ok() {
            self.counters.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ev: Event) -> String {
        match ev {
            Event::ToolCallOutputDelta { delta, .. } | Event::AgentMessageDelta { delta, .. } => delta,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_full_channel_coalesces_and_caps_output() {
        let (tx, mut rx) = mpsc::channel(1);
        let counters = Arc::new(DeltaCounters::default());
        let out = DeltaSink::output(tx.clone(), "i".into(), counters.clone());
        out.push("a");
        // The channel is full now: these wait, merged.
        out.push("b");
        out.push("c");
        assert_eq!(text(rx.recv().await.unwrap()), "a");
        out.push("d");
        assert_eq!(text(rx.recv().await.unwrap()), "bcd");
        // Past the cap the oldest bytes go, and are counted.
        out.push("x");
        out.push(&"y".repeat(OUTPUT_PENDING_CAP));
        out.push("z");
        assert_eq!(text(rx.recv().await.unwrap()), "x");
        out.flush().await;
        let last = text(rx.recv().await.unwrap());
        assert_eq!(last.len(), OUTPUT_PENDING_CAP);
        assert!(last.ends_with("yz"));
        let stats = counters.snapshot();
        assert_eq!((stats.sent, stats.coalesced, stats.dropped_bytes), (4, 4, 1));

        // Message text is never dropped, only merged.
        let msg = DeltaSink::message(tx, "m".into(), false, counters.clone());
        msg.push("Hel");
        msg.push(&"l".repeat(OUTPUT_PENDING_CAP * 2));
        assert_eq!(text(rx.recv().await.unwrap()), "Hel");
        msg.flush().await;
        assert_eq!(text(rx.recv().await.unwrap()).len(), OUTPUT_PENDING_CAP * 2);
        assert_eq!(counters.snapshot().dropped_bytes, 1);
    }
}
