//! Streamed deltas on their way to the front, without ever making the
//! producer wait (RUNTIME rule 5): a delta the bounded event channel cannot
//! take now is merged into the next one, and sent as soon as the channel
//! has room ([`DeltaSink::send_pending`]); command output waiting beyond a
//! cap loses its oldest bytes, and a marker in the stream says so. Both are
//! counted, and the counts reach `/status` and the turn summary.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tern_protocol::{DeltaStats, Event};
use tokio::sync::{Notify, mpsc};

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

/// Text waiting for room, and what was dropped from its front.
#[derive(Default)]
struct Pending {
    text: String,
    /// Bytes dropped since the last delta that reached the channel.
    dropped: u64,
}

impl Pending {
    /// The next delta: the text, after a note of what was left out.
    fn take(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        match std::mem::take(&mut self.dropped) {
            0 => text,
            n => format!("[… {n} bytes of output not shown live; the whole is in the result …]\n{text}"),
        }
    }

    fn is_empty(&self) -> bool {
        self.text.is_empty() && self.dropped == 0
    }
}

/// One item's stream of deltas (a message, a reasoning block, a command's
/// output).
pub struct DeltaSink {
    events: mpsc::Sender<Event>,
    item_id: String,
    make: fn(String, String) -> Event,
    /// Text not yet sent: the channel was full.
    pending: Mutex<Pending>,
    /// Woken when text is left pending.
    held: Notify,
    /// Most bytes kept pending; `None`: never drop (message text).
    cap: Option<usize>,
    counters: Arc<DeltaCounters>,
}

impl DeltaSink {
    fn new(
        events: mpsc::Sender<Event>,
        item_id: String,
        make: fn(String, String) -> Event,
        cap: Option<usize>,
        counters: Arc<DeltaCounters>,
    ) -> Self {
        DeltaSink { events, item_id, make, pending: Mutex::default(), held: Notify::new(), cap, counters }
    }

    /// Command output of the call `item_id`: capped while pending.
    pub fn output(events: mpsc::Sender<Event>, item_id: String, counters: Arc<DeltaCounters>) -> Self {
        let make = |item_id, delta| Event::ToolCallOutputDelta { item_id, delta };
        Self::new(events, item_id, make, Some(OUTPUT_PENDING_CAP), counters)
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
        Self::new(events, item_id, make, None, counters)
    }

    /// Sends `text` (with whatever waited before it) if the channel has
    /// room; otherwise keeps it for [`DeltaSink::send_pending`] or the next
    /// delta. Never waits.
    pub fn push(&self, text: &str) {
        let mut pending = self.pending.lock();
        pending.text.push_str(text);
        if let Some(cap) = self.cap
            && pending.text.len() > cap
        {
            let mut cut = pending.text.len() - cap;
            while !pending.text.is_char_boundary(cut) {
                cut += 1;
            }
            pending.text.drain(..cut);
            pending.dropped += cut as u64;
            self.counters.dropped_bytes.fetch_add(cut as u64, Ordering::Relaxed);
        }
        match self.events.try_reserve() {
            Ok(permit) => {
                permit.send((self.make)(self.item_id.clone(), pending.take()));
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(())) => {
                self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
                self.held.notify_one();
            }
            // Nobody is listening: nothing to keep.
            Err(mpsc::error::TrySendError::Closed(())) => *pending = Pending::default(),
        }
    }

    /// Whether text is waiting for room.
    pub fn has_pending(&self) -> bool {
        !self.pending.lock().is_empty()
    }

    /// Sends held text as soon as the channel has room, for as long as it
    /// is polled: run it beside the producer, so that output followed by
    /// silence (a command that prints, then works quietly) still reaches
    /// the front. Never returns; cancellation-safe (it only waits for a
    /// wake-up or for room, and takes the text once it has the room).
    pub async fn send_pending(&self) -> std::convert::Infallible {
        loop {
            self.held.notified().await;
            while self.has_pending() {
                let Ok(permit) = self.events.reserve().await else { return std::future::pending().await };
                let text = {
                    let mut pending = self.pending.lock();
                    if pending.is_empty() {
                        break;
                    }
                    pending.take()
                };
                permit.send((self.make)(self.item_id.clone(), text));
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends what is still pending, waiting for room: call before the
    /// item's closing event so the front sees everything in order.
    pub async fn flush(&self) {
        let text = {
            let mut pending = self.pending.lock();
            if pending.is_empty() {
                return;
            }
            pending.take()
        };
        if self.events.send((self.make)(self.item_id.clone(), text)).await.is_ok() {
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
        // Past the cap the oldest bytes go, counted and marked.
        out.push("x");
        out.push(&"y".repeat(OUTPUT_PENDING_CAP));
        out.push("z");
        assert_eq!(text(rx.recv().await.unwrap()), "x");
        assert!(out.has_pending());
        out.flush().await;
        let last = text(rx.recv().await.unwrap());
        let (marker, rest) = last.split_once('\n').unwrap();
        assert!(marker.contains("1 bytes of output not shown live"), "{marker}");
        assert_eq!(rest.len(), OUTPUT_PENDING_CAP);
        assert!(rest.ends_with("yz"));
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

    /// Held text goes out when the channel has room, without waiting for
    /// more output or the end of the item.
    #[tokio::test]
    async fn held_text_is_sent_when_room_appears() {
        let (tx, mut rx) = mpsc::channel(1);
        let out = DeltaSink::output(tx, "i".into(), Arc::default());
        out.push("first");
        out.push("second");
        let sender = async {
            tokio::select! {
                never = out.send_pending() => match never {},
                () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            }
        };
        let receiver = async {
            assert_eq!(text(rx.recv().await.unwrap()), "first");
            // Nothing else is pushed: the held text arrives anyway.
            assert_eq!(text(rx.recv().await.unwrap()), "second");
        };
        tokio::select! {
            () = sender => panic!("the held text was not sent"),
            () = receiver => {}
        }
        assert!(!out.has_pending());
    }
}
