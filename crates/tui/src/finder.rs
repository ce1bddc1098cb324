//! Ranking an `@` query against the file index with nucleo-matcher: the
//! best [`SHOWN`] paths, exact, and — when scoring every candidate takes
//! longer than a frame — the best of those scored so far first, so a
//! keystroke is answered within a frame even in a 200,000-file tree.

use crate::files::Index;
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use std::cmp::Ordering as Order;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Matches offered.
pub const SHOWN: usize = 8;
/// Candidates scored between looks at whether a newer query came.
const STALE_EVERY: usize = 1024;
/// Below this many candidates one thread scores them all: starting
/// threads would cost more than it saves.
const PARALLEL_FROM: usize = 16_384;
/// Scoring that runs longer than this shows the best so far first: with
/// drawing, within a 60 Hz frame of the keystroke.
const PROVISIONAL_AFTER: Duration = Duration::from_millis(6);
/// The scoring threads' niceness (0 is the UI's; 19 the lowest priority).
const SCORING_NICENESS: i32 = 10;

/// A file's index and its score for the query.
type Scored = (u32, u32);

/// Scores queries against an index, keeping the matchers, what the
/// previous query matched and what it showed.
#[derive(Default)]
pub(crate) struct Finder {
    matchers: Vec<Matcher>,
    /// The previous query and the files it matched, in index order.
    last: Option<(String, Vec<u32>)>,
    /// The files the previous answer showed: scored first, since a query
    /// typed on from it most likely ranks them high again.
    shown: Vec<u32>,
}

impl Finder {
    /// The best [`SHOWN`] paths for `query`: highest score first, then
    /// shorter (the file rather than its neighbours), then index order.
    /// None when `stale` said a newer query waits. When scoring takes
    /// longer than [`PROVISIONAL_AFTER`], `early` hears the best of the
    /// files scored by then, once.
    pub(crate) fn best(
        &mut self,
        index: &Index,
        query: &str,
        stale: &(impl Fn() -> bool + Sync),
        early: &(impl Fn(Vec<String>) + Sync),
    ) -> Option<Vec<String>> {
        let pattern = Pattern::parse(query, CaseMatching::Smart, Normalization::Smart);
        let candidates: Vec<u32> = match self.last.take() {
            Some((last, ids)) if narrows(&last, query) => ids,
            _ => (0..index.len() as u32).collect(),
        };
        let rank = |a: &Scored, b: &Scored| -> Order {
            b.1.cmp(&a.1).then(index.get(a.0).len().cmp(&index.get(b.0).len())).then(a.0.cmp(&b.0))
        };
        if self.matchers.is_empty() {
            self.matchers.push(Matcher::new(Config::DEFAULT.match_paths()));
        }
        let mut buf = Vec::new();
        let seeds: Vec<Scored> = std::mem::take(&mut self.shown)
            .into_iter()
            .filter_map(|id| {
                pattern.score(Utf32Str::new(index.get(id), &mut buf), &mut self.matchers[0]).map(|s| (id, s))
            })
            .collect();
        let provisional = Provisional {
            deadline: Instant::now() + PROVISIONAL_AFTER,
            pool: Mutex::new(seeds),
            told: AtomicUsize::new(0),
            publish: &|pool: &[Scored]| early(pool.iter().map(|&(id, _)| index.get(id).to_string()).collect()),
            rank: &rank,
        };
        let (matched, top) = self.score(index, &pattern, &candidates, stale, &provisional, &rank)?;
        self.shown = top.iter().map(|&(id, _)| id).collect();
        self.last = Some((query.to_string(), matched));
        Some(top.into_iter().map(|(id, _)| index.get(id).to_string()).collect())
    }

    /// The candidates that match, in candidate order, and the best
    /// [`SHOWN`] of them, best first; on every core when there are many.
    /// None once `stale`.
    fn score(
        &mut self,
        index: &Index,
        pattern: &Pattern,
        candidates: &[u32],
        stale: &(impl Fn() -> bool + Sync),
        provisional: &Provisional,
        rank: &(dyn Fn(&Scored, &Scored) -> Order + Sync),
    ) -> Option<(Vec<u32>, Vec<Scored>)> {
        let threads = if candidates.len() < PARALLEL_FROM {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
        };
        while self.matchers.len() < threads {
            self.matchers.push(Matcher::new(Config::DEFAULT.match_paths()));
        }
        let one = |matcher: &mut Matcher, ids: &[u32]| {
            let mut buf = Vec::new();
            let mut matched = Vec::new();
            let mut top = Top { best: Vec::with_capacity(SHOWN + 1), rank };
            let mut told = false;
            for chunk in ids.chunks(STALE_EVERY) {
                if stale() {
                    return None;
                }
                if !told && Instant::now() >= provisional.deadline {
                    told = true;
                    provisional.tell(&top.best, threads);
                }
                for &id in chunk {
                    if let Some(score) = pattern.score(Utf32Str::new(index.get(id), &mut buf), matcher) {
                        matched.push(id);
                        top.offer((id, score));
                    }
                }
            }
            // Done before the deadline: what this part found still counts
            // towards a provisional answer the others may give.
            if !told {
                provisional.tell(&top.best, threads);
            }
            Some((matched, top.best))
        };
        if threads == 1 {
            return one(&mut self.matchers[0], candidates);
        }
        let size = candidates.len().div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = self
                .matchers
                .iter_mut()
                .zip(candidates.chunks(size))
                .map(|(m, ids)| {
                    s.spawn(move || {
                        yield_to_the_ui();
                        one(m, ids)
                    })
                })
                .collect();
            // A scorer cannot panic short of a bug in the matcher; its part
            // is then missing from the results, not the UI's.
            let (mut matched, mut best) = (Vec::new(), Vec::new());
            for part in parts {
                let (ids, top) = part.join().ok().flatten()?;
                matched.extend(ids);
                best.extend(top);
            }
            Some((matched, best_of(best, rank)))
        })
    }
}

/// Lowers this scoring thread's priority: while it and its siblings hold
/// every core, the UI's thread, woken by a key or by the best matches so
/// far, runs at once rather than after their time slices. Best effort.
fn yield_to_the_ui() {
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), SCORING_NICENESS);
}

/// The best [`SHOWN`] of what it was offered, best first.
struct Top<'a> {
    best: Vec<Scored>,
    rank: &'a (dyn Fn(&Scored, &Scored) -> Order + Sync),
}

impl Top<'_> {
    fn offer(&mut self, s: Scored) {
        let full = self.best.len() == SHOWN;
        // Most candidates fall below the worst kept one: a comparison each.
        if full && self.best.last().is_some_and(|worst| (self.rank)(&s, worst) != Order::Less) {
            return;
        }
        let at = self.best.partition_point(|b| (self.rank)(b, &s) == Order::Less);
        self.best.insert(at, s);
        self.best.truncate(SHOWN);
    }
}

/// The answer shown before scoring ends: each scoring thread adds its
/// best so far once (at the deadline, or when its part is done), and the
/// last to do so publishes, if the deadline passed meanwhile.
struct Provisional<'a> {
    deadline: Instant,
    /// The best so far (at most [`SHOWN`]).
    pool: Mutex<Vec<Scored>>,
    /// Threads that added theirs.
    told: AtomicUsize,
    publish: &'a (dyn Fn(&[Scored]) + Sync),
    rank: &'a (dyn Fn(&Scored, &Scored) -> Order + Sync),
}

impl Provisional<'_> {
    fn tell(&self, best: &[Scored], threads: usize) {
        let Ok(mut pool) = self.pool.lock() else { return };
        pool.extend_from_slice(best);
        pool.sort_by_key(|s| s.0);
        pool.dedup_by_key(|s| s.0);
        let merged = best_of(std::mem::take(&mut *pool), self.rank);
        *pool = merged;
        let last = self.told.fetch_add(1, Ordering::AcqRel) + 1 == threads;
        if last && Instant::now() >= self.deadline && !pool.is_empty() {
            (self.publish)(&pool);
        }
    }
}

/// The best [`SHOWN`] of `scored`, best first.
fn best_of(mut scored: Vec<Scored>, rank: &dyn Fn(&Scored, &Scored) -> Order) -> Vec<Scored> {
    if scored.len() > SHOWN {
        scored.select_nth_unstable_by(SHOWN - 1, rank);
        scored.truncate(SHOWN);
    }
    scored.sort_by(rank);
    scored
}

/// Whether every match of `next` is a match of `last`, so `next` need
/// only look at those: it extends `last` and neither uses the pattern
/// syntax (negation, anchors, exact atoms, escapes) that breaks that.
/// ASCII only, so no character joins the one before into a new grapheme.
fn narrows(last: &str, next: &str) -> bool {
    let plain = |q: &str| q.is_ascii() && !q.contains(['!', '^', '$', '\'', '\\']);
    !last.trim().is_empty() && next.starts_with(last) && plain(last) && plain(next)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn index(n: u32) -> Index {
        let mut index = Index::default();
        let words = ["alpha", "beta", "gamma", "delta", "Epsilon", "zeta", "eta", "théta"];
        for i in 0..n {
            let a = words[(i % 8) as usize];
            let b = words[(i / 8 % 8) as usize];
            let c = words[(i / 64 % 8) as usize];
            assert!(index.push(&format!("{a}/{b}_{i}/{c}{}.rs", i % 97)));
        }
        index
    }

    #[test]
    fn narrowing_finds_what_a_full_search_finds() {
        let index = index(40_000);
        let mut narrowing = Finder::default();
        let none = |_: Vec<String>| {};
        for query in ["a", "al", "alp", "alph", "alpha ", "alpha b", "alpha be", "alpha beE", "alpha beEp", "t", "th"] {
            let full = Finder::default().best(&index, query, &|| false, &none).unwrap();
            assert!(!full.is_empty(), "{query}");
            assert_eq!(narrowing.best(&index, query, &|| false, &none).unwrap(), full, "{query}");
        }
        assert!(Finder::default().best(&index, "a", &|| true, &none).is_none(), "a newer query stops the scoring");
        assert!(narrows("al", "alp") && narrows("alpha", "alpha b"));
        assert!(!narrows("", "a") && !narrows("al", "a") && !narrows("!al", "!alp") && !narrows("al", "al$"));
        assert!(!narrows("th", "thé"));
    }

    #[test]
    fn slow_scoring_shows_the_best_so_far_first_and_then_the_exact_answer() {
        let index = index(200_000);
        let mut finder = Finder::default();
        let early = Mutex::new(Vec::new());
        let keep = |paths: Vec<String>| early.lock().unwrap().push(paths);
        let first = finder.best(&index, "alpha/beta_1", &|| false, &keep).unwrap();
        assert_eq!(first.len(), SHOWN);
        // Scoring slowed down past the deadline (each look at whether the
        // query is stale takes as long), however fast this machine is.
        let slow = || {
            std::thread::sleep(PROVISIONAL_AFTER);
            false
        };
        early.lock().unwrap().clear();
        let exact = finder.best(&index, "alpha/beta_1 ", &slow, &keep).unwrap();
        let early = early.into_inner().unwrap();
        // Typed on, the files shown before are scored first: here they are
        // the answer, so the provisional one is already right.
        assert_eq!(early, std::slice::from_ref(&first));
        assert_eq!(exact, first);
        assert_eq!(exact, Finder::default().best(&index, "alpha/beta_1 ", &|| false, &|_| {}).unwrap());
    }
}
