//! Bounds, TTL, observers (outside the lock, re-entrant), concurrency, stats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};
use tern_cache::{Cache, Clock, Evicted, Limits, Stats, Weigh};

/// A value whose weight is set by the test.
#[derive(Debug, PartialEq)]
struct W(usize);

impl Weigh for W {
    fn weight(&self) -> usize {
        self.0
    }
}

type Log<K> = Arc<Mutex<Vec<(K, Evicted)>>>;

fn limits(entries: usize, bytes: usize) -> Limits {
    Limits { entries, bytes, ttl: Duration::from_secs(3600) }
}

/// A cache of `W` that records every eviction.
fn logged(limits: Limits) -> (Cache<&'static str, W>, Log<&'static str>) {
    let log: Log<&'static str> = Arc::default();
    let l = log.clone();
    let cache = Cache::new(limits).observe(move |k, _, why| l.lock().push((*k, why)));
    (cache, log)
}

/// A clock the test moves by hand.
fn manual_clock() -> (Clock, Arc<AtomicU64>) {
    let base = Instant::now();
    let ms = Arc::new(AtomicU64::new(0));
    let m = ms.clone();
    (Arc::new(move || base + Duration::from_millis(m.load(Ordering::SeqCst))), ms)
}

#[test]
fn the_entry_bound_evicts_the_least_recently_used() {
    let (cache, log) = logged(limits(3, 1000));
    cache.insert("a", W(1));
    cache.insert("b", W(1));
    cache.insert("c", W(1));
    // Reading "a" makes "b" the least recently used.
    assert_eq!(*cache.get("a").unwrap(), W(1));
    cache.insert("d", W(1));
    assert_eq!(*log.lock(), [("b", Evicted::Capacity)]);
    assert!(cache.get("b").is_none());
    cache.insert("e", W(1));
    assert_eq!(*log.lock(), [("b", Evicted::Capacity), ("c", Evicted::Capacity)]);
    assert_eq!(cache.len(), 3);
    for k in ["a", "d", "e"] {
        assert!(cache.get(k).is_some(), "{k} should still be cached");
    }
}

#[test]
fn the_byte_bound_evicts_as_many_as_needed() {
    let (cache, log) = logged(limits(100, 10));
    cache.insert("a", W(3));
    cache.insert("b", W(3));
    cache.insert("c", W(3));
    assert_eq!(cache.bytes(), 9);
    // 8 more bytes: 9 + 8 > 10, and dropping "a" (6 + 8) is not enough either.
    cache.insert("d", W(8));
    assert_eq!(*log.lock(), [("a", Evicted::Capacity), ("b", Evicted::Capacity), ("c", Evicted::Capacity)]);
    assert_eq!(cache.bytes(), 8);
    assert_eq!(cache.len(), 1);
    cache.insert("e", W(2));
    assert_eq!(cache.bytes(), 10);
    assert_eq!(log.lock().len(), 3, "exactly at the bound is within it");
}

#[test]
fn a_value_heavier_than_the_bound_is_not_stored_but_is_reported() {
    let (cache, log) = logged(limits(10, 10));
    cache.insert("a", W(4));
    cache.insert("big", W(5));
    let v = cache.insert("big", W(11));
    assert_eq!(*v, W(11), "the caller still gets its value");
    // The old "big" is replaced (no stale value survives), the new one is
    // reported as Capacity, and "a" is untouched.
    assert_eq!(*log.lock(), [("big", Evicted::Replaced), ("big", Evicted::Capacity)]);
    assert!(cache.get("big").is_none());
    assert_eq!(*cache.get("a").unwrap(), W(4));
    assert_eq!((cache.len(), cache.bytes()), (1, 4));
}

#[test]
fn a_zero_entry_bound_stores_nothing() {
    let (cache, log) = logged(limits(0, 10));
    cache.insert("a", W(1));
    assert!(cache.is_empty());
    assert_eq!(*log.lock(), [("a", Evicted::Capacity)]);
}

#[test]
fn replacing_reports_the_old_value_and_reweighs() {
    let seen: Arc<Mutex<Vec<(usize, Evicted)>>> = Arc::default();
    let s = seen.clone();
    let cache = Cache::new(limits(10, 100)).observe(move |_: &&str, v: &Arc<W>, why| s.lock().push((v.0, why)));
    cache.insert("k", W(5));
    cache.insert("k", W(7));
    assert_eq!(*seen.lock(), [(5, Evicted::Replaced)]);
    assert_eq!(*cache.get("k").unwrap(), W(7));
    assert_eq!((cache.len(), cache.bytes()), (1, 7));
}

#[test]
fn an_expired_entry_is_not_returned_and_is_reported() {
    let (clock, ms) = manual_clock();
    let log: Log<&str> = Arc::default();
    let l = log.clone();
    let limits = Limits { entries: 10, bytes: 100, ttl: Duration::from_secs(10) };
    let cache = Cache::with_clock(limits, clock).observe(move |k, _, why| l.lock().push((*k, why)));
    cache.insert("a", W(1));
    ms.store(9_999, Ordering::SeqCst);
    assert!(cache.get("a").is_some(), "alive just before its ttl");
    assert!(log.lock().is_empty());
    ms.store(10_000, Ordering::SeqCst);
    assert!(cache.get("a").is_none(), "gone at its ttl: reads do not extend it");
    assert_eq!(*log.lock(), [("a", Evicted::Expired)]);
    assert_eq!((cache.len(), cache.bytes()), (0, 0));
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.expired), (1, 1, 1));
}

#[test]
fn purge_expired_removes_only_the_expired() {
    let (clock, ms) = manual_clock();
    let log: Log<&str> = Arc::default();
    let l = log.clone();
    let limits = Limits { entries: 10, bytes: 100, ttl: Duration::from_secs(10) };
    let cache = Cache::with_clock(limits, clock).observe(move |k, _, why| l.lock().push((*k, why)));
    cache.insert("old1", W(1));
    cache.insert("old2", W(2));
    ms.store(5_000, Ordering::SeqCst);
    cache.insert("new", W(4));
    ms.store(12_000, Ordering::SeqCst);
    assert_eq!(cache.len(), 3, "expired entries stay until purged or looked up");
    cache.purge_expired();
    let mut got = log.lock().clone();
    got.sort_by_key(|(k, _)| *k);
    assert_eq!(got, [("old1", Evicted::Expired), ("old2", Evicted::Expired)]);
    assert_eq!((cache.len(), cache.bytes()), (1, 4));
    assert!(cache.get("new").is_some());
}

#[test]
fn an_expired_entry_pushed_out_or_removed_is_reported_as_expired() {
    let (clock, ms) = manual_clock();
    let log: Log<&str> = Arc::default();
    let l = log.clone();
    let limits = Limits { entries: 2, bytes: 100, ttl: Duration::from_secs(1) };
    let cache = Cache::with_clock(limits, clock).observe(move |k, _, why| l.lock().push((*k, why)));
    cache.insert("a", W(1));
    cache.insert("b", W(1));
    ms.store(2_000, Ordering::SeqCst);
    cache.insert("c", W(1));
    assert!(cache.remove("b").is_none(), "remove does not hand out an expired value");
    assert_eq!(*log.lock(), [("a", Evicted::Expired), ("b", Evicted::Expired)]);
}

#[test]
fn remove_retain_and_clear_report_invalidated() {
    let (cache, log) = logged(limits(10, 100));
    for (k, w) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
        cache.insert(k, W(w));
    }
    assert_eq!(*cache.remove("a").unwrap(), W(1));
    assert!(cache.remove("a").is_none());
    assert_eq!(*log.lock(), [("a", Evicted::Invalidated)]);

    cache.retain(|_, v| v.0 % 2 == 0);
    assert_eq!(log.lock()[1..], [("c", Evicted::Invalidated)]);
    assert_eq!((cache.len(), cache.bytes()), (2, 6));

    cache.clear();
    let mut cleared = log.lock()[2..].to_vec();
    cleared.sort_by_key(|(k, _)| *k);
    assert_eq!(cleared, [("b", Evicted::Invalidated), ("d", Evicted::Invalidated)]);
    assert!(cache.is_empty());
    assert_eq!(cache.bytes(), 0);
    assert_eq!(cache.stats().invalidated, 4);
}

#[test]
fn retain_may_call_into_the_cache() {
    let cache = Cache::new(limits(10, 100));
    cache.insert(1u32, W(1));
    cache.insert(2u32, W(2));
    // `keep` runs outside the lock, so this neither deadlocks nor panics.
    cache.retain(|k, _| cache.get(&(k + 1)).is_some());
    assert!(cache.get(&1).is_some());
    assert!(cache.get(&2).is_none());
}

/// Runs `f` on its own thread and fails the test if it has not finished
/// in a few seconds (a deadlock), rather than hanging the test run.
fn within_seconds(f: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    finished.recv_timeout(Duration::from_secs(5)).expect("deadlocked, or the scenario panicked");
}

#[test]
fn an_observer_may_call_back_into_its_own_cache() {
    within_seconds(|| {
        type C = Cache<String, W>;
        let me: Arc<OnceLock<Weak<C>>> = Arc::default();
        let seen: Arc<Mutex<Vec<(String, Evicted, bool)>>> = Arc::default();
        let (m, s) = (me.clone(), seen.clone());
        let cache: Arc<C> = Arc::new(Cache::new(limits(2, 100)).observe(move |k: &String, _, why| {
            let Some(cache) = m.get().and_then(Weak::upgrade) else { return };
            // Takes the cache's lock: the entry is already gone from it...
            let still_there = cache.get(k).is_some();
            s.lock().push((k.clone(), why, still_there));
            // ...and this insert evicts (and observes) again, re-entrantly.
            if !k.starts_with("seen-") {
                cache.insert(format!("seen-{k}"), W(1));
            }
            cache.remove("nothing");
            assert!(cache.len() <= 2);
        }));
        me.set(Arc::downgrade(&cache)).unwrap();

        cache.insert("a".into(), W(1));
        cache.insert("b".into(), W(1));
        cache.insert("c".into(), W(1)); // evicts a -> inserts seen-a, evicting b -> seen-b, evicting c...
        cache.insert("b".into(), W(2)); // replaces or inserts; either way more observer re-entry
        let seen = seen.lock().clone();
        assert!(seen.len() >= 3, "observers ran: {seen:?}");
        assert_eq!(seen[0], ("a".to_string(), Evicted::Capacity, false));
        assert!(seen.iter().all(|(_, _, there)| !there), "an evicted entry is gone before observers run");
        assert!(cache.len() <= 2);
    });
}

#[test]
fn values_are_dropped_outside_the_lock() {
    // A value whose Drop calls into the cache would deadlock if it were
    // dropped while the lock is held.
    struct Reentrant(Arc<OnceLock<Weak<Cache<u32, Reentrant>>>>);
    impl Weigh for Reentrant {
        fn weight(&self) -> usize {
            1
        }
    }
    impl Drop for Reentrant {
        fn drop(&mut self) {
            if let Some(cache) = self.0.get().and_then(Weak::upgrade) {
                cache.get(&0);
            }
        }
    }
    within_seconds(|| {
        let me: Arc<OnceLock<Weak<Cache<u32, Reentrant>>>> = Arc::default();
        let cache = Arc::new(Cache::new(limits(1, 100)));
        me.set(Arc::downgrade(&cache)).unwrap();
        drop(cache.insert(1, Reentrant(me.clone())));
        drop(cache.insert(2, Reentrant(me.clone()))); // evicts 1 for capacity
        drop(cache.insert(2, Reentrant(me.clone()))); // replaces 2
        drop(cache.remove(&2));
        cache.insert(3, Reentrant(me.clone()));
        cache.retain(|_, _| false);
        cache.insert(4, Reentrant(me.clone()));
        cache.clear();
        assert_eq!(cache.stats().evictions(), 5);
    });
}

/// A value with an internal invariant a torn write would break: `len`
/// copies of `seed`, where `len` and the key both derive from `seed`.
struct Block {
    seed: u64,
    data: Vec<u64>,
}

impl Block {
    fn new(key: u64, version: u64) -> Self {
        let seed = key * 1_000_000 + version;
        Block { seed, data: vec![seed; (seed % 13 + 1) as usize] }
    }

    fn check(&self, key: u64) {
        assert_eq!(self.seed / 1_000_000, key, "value under the wrong key");
        assert_eq!(self.data.len() as u64, self.seed % 13 + 1);
        assert!(self.data.iter().all(|&x| x == self.seed), "torn value");
    }
}

impl Weigh for Block {
    fn weight(&self) -> usize {
        self.data.len() * 8
    }
}

#[test]
fn concurrent_readers_and_writers_see_whole_values_and_accounting_holds() {
    let lim = limits(40, 2000);
    let observed = Arc::new(AtomicU64::new(0));
    let o = observed.clone();
    let cache = Arc::new(Cache::new(lim).observe(move |k: &u64, v: &Arc<Block>, _| {
        v.check(*k);
        o.fetch_add(1, Ordering::Relaxed);
    }));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let mut rng = t * 7919 + 1;
                for i in 0..5000u64 {
                    // xorshift: cheap, deterministic per thread.
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let key = rng % 64;
                    match rng % 10 {
                        0..=3 => cache.insert(key, Block::new(key, t * 100_000 + i)).check(key),
                        4 => {
                            if let Some(v) = cache.remove(&key) {
                                v.check(key)
                            }
                        }
                        5 if i % 500 == 0 => cache.retain(|k, v| {
                            v.check(*k);
                            k % 3 != 0
                        }),
                        _ => {
                            if let Some(v) = cache.get(&key) {
                                v.check(key)
                            }
                        }
                    }
                    assert!(cache.len() <= lim.entries);
                    assert!(cache.bytes() <= lim.bytes);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut live_bytes = 0;
    let mut live = 0;
    cache.retain(|k, v| {
        v.check(*k);
        live_bytes += v.weight();
        live += 1;
        true
    });
    assert_eq!(cache.bytes(), live_bytes);
    assert_eq!(cache.len(), live);
    let stats = cache.stats();
    // Every insert added one entry and every eviction took one away.
    assert_eq!(stats.inserts - stats.evictions(), live as u64);
    assert_eq!(observed.load(Ordering::Relaxed), stats.evictions());
    assert!(stats.hits > 0 && stats.misses > 0 && stats.capacity > 0);
}

#[test]
fn stats_count_each_outcome() {
    let (clock, ms) = manual_clock();
    let limits = Limits { entries: 2, bytes: 10, ttl: Duration::from_secs(1) };
    let cache = Cache::with_clock(limits, clock);
    cache.insert("a", W(1));
    cache.insert("a", W(1)); // replaced
    cache.get("a"); // hit
    cache.get("x"); // miss
    cache.insert("b", W(1));
    cache.insert("c", W(1)); // a: capacity
    cache.insert("huge", W(11)); // capacity, not stored
    cache.remove("b"); // invalidated
    ms.store(1_000, Ordering::SeqCst);
    cache.get("c"); // expired, miss
    assert_eq!(
        cache.stats(),
        Stats { hits: 1, misses: 2, inserts: 5, capacity: 2, expired: 1, replaced: 1, invalidated: 1 }
    );
    assert_eq!(cache.stats().evictions(), 5);
}

#[test]
fn the_cache_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Cache<String, Vec<u8>>>();
    assert_eq!(Vec::<u32>::with_capacity(3).weight(), 0);
    assert_eq!(vec![0u32; 3].weight(), 12);
    assert_eq!("héllo".to_string().weight(), 6);
}
