//! A bounded LRU cache with a time to live, shared between threads.
//!
//! The cache is bounded by an entry count and by a byte weight ([`Weigh`]),
//! and entries expire a fixed time after they were inserted. Every entry that
//! leaves the cache is handed to the observers added with [`Cache::observe`],
//! together with the reason ([`Evicted`]), so they can release whatever the
//! value stands for (a temp file, a child process, a metric).
//!
//! The one rule this crate exists for: **observers never run while the
//! cache's lock is held**. Each operation collects what it evicted while
//! locked, releases the lock, and only then calls the observers and drops
//! the values. An observer may therefore call back into the same cache, and
//! a slow observer or a `Drop` impl never stalls other threads' lookups.
//! Values are handed out as `Arc<V>`, so a reader keeps a whole value even if
//! it is replaced or evicted a moment later.
//!
//! The cache is synchronous and never blocks on anything but its own short
//! critical sections, so it is fine to call from async code.

use parking_lot::Mutex;
use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

// Recency order comes from the `lru` crate, used unbounded with our own byte
// and entry accounting: it gives O(1) promote and pop-least-recent over a
// linked hash map, which by hand would need `unsafe` (denied here) or an
// index-linked slab that is more code than this whole file.
use lru::LruCache;

/// How big the cache may grow and how long entries live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries held at once; 0 stores nothing.
    pub entries: usize,
    /// Most total weight ([`Weigh::weight`]) held at once.
    pub bytes: usize,
    /// How long an entry lives after its insert; reads do not extend it.
    /// `Duration::MAX` (or any time past `Instant`'s range) never expires.
    pub ttl: Duration,
}

/// What a value weighs against [`Limits::bytes`].
///
/// The weight is taken once, at insert, and used until the entry leaves; a
/// value that changes size behind an `Arc` does not change the accounting.
pub trait Weigh {
    /// The value's weight, usually the heap bytes it keeps alive.
    fn weight(&self) -> usize;
}

impl Weigh for String {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// The elements' own size; heap data behind the elements is not counted.
impl<T> Weigh for Vec<T> {
    fn weight(&self) -> usize {
        self.len() * size_of::<T>()
    }
}

/// Why an entry left the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Evicted {
    /// Pushed out by the entry or byte bound, or too heavy to store at all.
    Capacity,
    /// Its time to live had passed (whatever else was removing it).
    Expired,
    /// An insert under the same key replaced it.
    Replaced,
    /// Removed on purpose: [`Cache::remove`], [`Cache::retain`], [`Cache::clear`].
    Invalidated,
}

/// Counters since the cache was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `get` calls that returned a value.
    pub hits: u64,
    /// `get` calls that found nothing or only an expired entry.
    pub misses: u64,
    /// `insert` calls, including values too heavy to store.
    pub inserts: u64,
    /// Entries that left with [`Evicted::Capacity`].
    pub capacity: u64,
    /// Entries that left with [`Evicted::Expired`].
    pub expired: u64,
    /// Entries that left with [`Evicted::Replaced`].
    pub replaced: u64,
    /// Entries that left with [`Evicted::Invalidated`].
    pub invalidated: u64,
}

impl Stats {
    /// All entries that left the cache, for any reason.
    pub fn evictions(&self) -> u64 {
        self.capacity + self.expired + self.replaced + self.invalidated
    }
}

/// Where the cache reads the time; injectable so tests need not sleep.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

type Observer<K, V> = Box<dyn Fn(&K, &Arc<V>, Evicted) + Send + Sync>;

/// What one operation evicted, reported once the lock is released.
type Gone<K, V> = Vec<(K, Arc<V>, Evicted)>;

struct Entry<V> {
    value: Arc<V>,
    weight: usize,
    /// `None` when `now + ttl` is past `Instant`'s range: never expires.
    expires: Option<Instant>,
}

impl<V> Entry<V> {
    fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|t| now >= t)
    }

    /// An expired entry is reported as such whatever removes it, so an
    /// observer counting expiries is not misled by who got there first.
    fn reason(&self, now: Instant, otherwise: Evicted) -> Evicted {
        if self.expired(now) { Evicted::Expired } else { otherwise }
    }
}

struct Inner<K, V> {
    map: LruCache<K, Entry<V>>,
    bytes: usize,
    stats: Stats,
}

impl<K: Hash + Eq, V> Inner<K, V> {
    /// Counts the eviction and queues it for the observers.
    fn evicted(&mut self, key: K, entry: Entry<V>, why: Evicted, gone: &mut Gone<K, V>) {
        self.bytes -= entry.weight;
        match why {
            Evicted::Capacity => self.stats.capacity += 1,
            Evicted::Expired => self.stats.expired += 1,
            Evicted::Replaced => self.stats.replaced += 1,
            Evicted::Invalidated => self.stats.invalidated += 1,
        }
        gone.push((key, entry.value, why));
    }

    fn take<Q>(&mut self, key: &Q, now: Instant, why: Evicted, gone: &mut Gone<K, V>) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (k, entry) = self.map.pop_entry(key)?;
        let why = entry.reason(now, why);
        let value = (why != Evicted::Expired).then(|| entry.value.clone());
        self.evicted(k, entry, why, gone);
        value
    }
}

/// A bounded LRU cache with a time to live; `Send + Sync` when `K: Send`
/// and `V: Send + Sync`, so share it in an `Arc`.
pub struct Cache<K, V> {
    limits: Limits,
    clock: Clock,
    observers: Vec<Observer<K, V>>,
    inner: Mutex<Inner<K, V>>,
}

impl<K: Hash + Eq + Clone, V: Weigh> Cache<K, V> {
    /// An empty cache on the system clock.
    pub fn new(limits: Limits) -> Self {
        Self::with_clock(limits, Arc::new(Instant::now))
    }

    /// An empty cache that reads the time from `clock` (for tests).
    pub fn with_clock(limits: Limits, clock: Clock) -> Self {
        let inner = Inner { map: LruCache::unbounded(), bytes: 0, stats: Stats::default() };
        Self { limits, clock, observers: Vec::new(), inner: Mutex::new(inner) }
    }

    /// Adds an observer called for every entry that leaves the cache, after
    /// the cache's lock is released; it may call back into the cache.
    ///
    /// A builder, so observers are fixed before the cache is shared and
    /// calling them needs no lock of its own. Observers run on the thread
    /// whose call evicted the entry, in the order they were added. One that
    /// panics unwinds out of that call; the cache itself stays consistent.
    pub fn observe(mut self, f: impl Fn(&K, &Arc<V>, Evicted) + Send + Sync + 'static) -> Self {
        self.observers.push(Box::new(f));
        self
    }

    /// The value under `key`, marked most recently used. An expired entry is
    /// removed (observers see [`Evicted::Expired`]) and `None` returned.
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = (self.clock)();
        let mut gone = Vec::new();
        let found = {
            let mut inner = self.inner.lock();
            // Some(None): present but expired.
            let found = inner.map.get(key).map(|e| (!e.expired(now)).then(|| e.value.clone()));
            if matches!(found, Some(None)) {
                inner.take(key, now, Evicted::Expired, &mut gone);
            }
            let found = found.flatten();
            if found.is_some() {
                inner.stats.hits += 1
            } else {
                inner.stats.misses += 1
            }
            found
        };
        self.notify(gone);
        found
    }

    /// Stores `value` under `key` and returns it shared.
    ///
    /// An entry already under `key` leaves with [`Evicted::Replaced`]; then
    /// least recently used entries leave with [`Evicted::Capacity`] until
    /// the new one fits both bounds. A value heavier than [`Limits::bytes`]
    /// on its own (or any value when `entries` is 0) is not stored: evicting
    /// everything else would not make it fit. It is reported with
    /// `Capacity` so observers release it like any other, and the old entry
    /// under `key` is still replaced, so no stale value outlives the insert.
    pub fn insert(&self, key: K, value: V) -> Arc<V> {
        let now = (self.clock)();
        // User code (the weight) runs before the lock is taken.
        let weight = value.weight();
        let value = Arc::new(value);
        let expires = now.checked_add(self.limits.ttl);
        let mut gone = Vec::new();
        {
            let mut inner = self.inner.lock();
            inner.stats.inserts += 1;
            inner.take(&key, now, Evicted::Replaced, &mut gone);
            if weight > self.limits.bytes || self.limits.entries == 0 {
                inner.stats.capacity += 1;
                gone.push((key, value.clone(), Evicted::Capacity));
            } else {
                // Make room first, so the new entry is never its own victim
                // and `bytes + weight` cannot overflow.
                while inner.map.len() >= self.limits.entries || inner.bytes > self.limits.bytes - weight {
                    let Some((k, entry)) = inner.map.pop_lru() else { break };
                    let why = entry.reason(now, Evicted::Capacity);
                    inner.evicted(k, entry, why, &mut gone);
                }
                inner.bytes += weight;
                inner.map.push(key, Entry { value: value.clone(), weight, expires });
            }
        }
        self.notify(gone);
        value
    }

    /// Removes the entry under `key` ([`Evicted::Invalidated`]) and returns
    /// its value; an expired entry is removed as `Expired` and `None` returned.
    pub fn remove<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = (self.clock)();
        let mut gone = Vec::new();
        let value = self.inner.lock().take(key, now, Evicted::Invalidated, &mut gone);
        self.notify(gone);
        value
    }

    /// Removes every entry for which `keep` returns false ([`Evicted::Invalidated`]).
    ///
    /// `keep` runs on a snapshot, outside the lock, so it may call into the
    /// cache. An entry replaced while `keep` ran was not judged and stays.
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        let snapshot: Vec<(K, Arc<V>)> =
            self.inner.lock().map.iter().map(|(k, e)| (k.clone(), e.value.clone())).collect();
        let doomed: Vec<(K, Arc<V>)> = snapshot.into_iter().filter(|(k, v)| !keep(k, v)).collect();
        if doomed.is_empty() {
            return;
        }
        let now = (self.clock)();
        let mut gone = Vec::new();
        {
            let mut inner = self.inner.lock();
            for (k, v) in &doomed {
                if inner.map.peek(k).is_some_and(|e| Arc::ptr_eq(&e.value, v)) {
                    inner.take(k, now, Evicted::Invalidated, &mut gone);
                }
            }
        }
        // `doomed` still holds a reference to each value, so none is
        // dropped above under the lock; they drop here, after the observers.
        self.notify(gone);
        drop(doomed);
    }

    /// Removes every entry ([`Evicted::Invalidated`]).
    pub fn clear(&self) {
        let now = (self.clock)();
        let mut gone = Vec::new();
        {
            let mut inner = self.inner.lock();
            while let Some((k, entry)) = inner.map.pop_lru() {
                let why = entry.reason(now, Evicted::Invalidated);
                inner.evicted(k, entry, why, &mut gone);
            }
        }
        self.notify(gone);
    }

    /// Removes every expired entry ([`Evicted::Expired`]). Expired entries
    /// otherwise leave only when looked up or pushed out, and count toward
    /// [`len`](Self::len) and [`bytes`](Self::bytes) until then.
    pub fn purge_expired(&self) {
        let now = (self.clock)();
        let mut gone = Vec::new();
        {
            let mut inner = self.inner.lock();
            let expired: Vec<K> = inner.map.iter().filter(|(_, e)| e.expired(now)).map(|(k, _)| k.clone()).collect();
            for k in &expired {
                inner.take(k, now, Evicted::Expired, &mut gone);
            }
        }
        self.notify(gone);
    }

    /// Entries held, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    /// Whether the cache holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total weight of the entries held.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// The limits the cache was built with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Counters since the cache was created.
    pub fn stats(&self) -> Stats {
        self.inner.lock().stats
    }

    /// Calls the observers for what an operation evicted. Takes `gone` by
    /// value and is only called once the guard is dropped: values are
    /// released here, outside the lock, observed or not.
    fn notify(&self, gone: Gone<K, V>) {
        for (key, value, why) in &gone {
            for observe in &self.observers {
                observe(key, value, *why);
            }
        }
    }
}
