//! What a runtime thread does when it runs out of work, just before it sleeps in `epoll_wait`
//! (`yield-before-park`): it yields its core (`sched_yield`) first, unless its yields have lately
//! been slow.
//!
//! Why yield: sleeping and being woken cost more than a read from the record cache. With the
//! node's threads and a client sharing cores, a yield lets the runnable threads (the client among
//! them) go first, and the thread comes back to requests already waiting instead of sleeping and
//! being woken for each (measurements: `conn_threads`' module doc and README). Under GET `-P 1`
//! on 2 cores, half the leader's yields returned within a microsecond, a fifth took over 200 µs
//! (the client's turn) and 1.4% over [`SLOW_YIELD`].
//!
//! Why not always: a yield to a thread that is busy for long (a CPU-bound process on the host, a
//! compaction) returns only when that thread's time slice ends, milliseconds later, and a request
//! that arrives meanwhile waits for it, where a sleeping thread would have been woken at once.
//! With two busy loops on a 2-core host, 35% of the yields took over [`SLOW_YIELD`], and yielding
//! on every park cut a client's GET rate tenfold. So each thread keeps a running share of its
//! yields that were slow (each yield weighs [`SHARE_WEIGHT`]); past [`SLOW_SHARE_MAX`] it stops
//! yielding for a back-off ([`BACKOFF_MIN`], doubled each time the share trips again, up to
//! [`BACKOFF_MAX`]). After a back-off the share starts at the bound, so one more slow yield trips
//! it again: beside a CPU-bound neighbour a thread pays about one slow yield per
//! [`BACKOFF_MAX`]. Once quick yields bring the share under a quarter of the bound, the back-off
//! is reset. The back-offs are short because a busy spell of the node's own threads trips the
//! share as well (every runnable thread is busy then), and yielding should come back soon after
//! it ends.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Yields made, yields that took over [`SLOW_YIELD`], and back-offs started, over every thread
/// of the process (`INFO stats`: `park_yields`, `park_slow_yields`, `park_yield_backoffs`).
pub static YIELDS: AtomicU64 = AtomicU64::new(0);
pub static SLOW_YIELDS: AtomicU64 = AtomicU64::new(0);
pub static BACKOFFS: AtomicU64 = AtomicU64::new(0);

/// A yield that took longer than this ran someone's long time slice, not a peer's quick turn.
pub const SLOW_YIELD: Duration = Duration::from_millis(1);
/// The share of a thread's recent yields that may be slow before it stops yielding.
pub const SLOW_SHARE_MAX: f64 = 0.2;
/// Each yield's weight in the running share (about the last 64 yields count).
pub const SHARE_WEIGHT: f64 = 1.0 / 64.0;
/// How long a thread stops yielding when its share of slow yields first trips.
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The longest it stops yielding, after the share trips again and again.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// One thread's record of its yields: whether to yield now, and for how long to stop when too
/// many are slow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct YieldGate {
    /// Running share of recent yields that took over [`SLOW_YIELD`].
    slow_share: f64,
    /// No yield before this instant.
    skip_until: Option<Instant>,
    /// The next back-off.
    backoff: Duration,
}

impl Default for YieldGate {
    fn default() -> Self {
        YieldGate {
            slow_share: 0.0,
            skip_until: None,
            backoff: BACKOFF_MIN,
        }
    }
}

impl YieldGate {
    /// Whether a thread about to park at `now` should yield first.
    pub(crate) fn should_yield(&self, now: Instant) -> bool {
        self.skip_until.is_none_or(|until| now >= until)
    }

    /// Records a yield that began at `start` and took `took`.
    pub(crate) fn yielded(&mut self, start: Instant, took: Duration) {
        if self.skip_until.take().is_some() {
            // The first yield after a back-off starts at the bound: if the neighbour is still
            // there, this one slow yield trips the share again.
            self.slow_share = SLOW_SHARE_MAX;
        }
        let slow = if took > SLOW_YIELD { 1.0 } else { 0.0 };
        self.slow_share += (slow - self.slow_share) * SHARE_WEIGHT;
        if self.slow_share > SLOW_SHARE_MAX {
            self.skip_until = Some(start + took + self.backoff);
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        } else if self.slow_share < SLOW_SHARE_MAX / 4.0 {
            self.backoff = BACKOFF_MIN;
        }
    }
}

thread_local! {
    static GATE: Cell<YieldGate> = Cell::new(YieldGate::default());
}

/// The runtimes' `on_thread_park` hook: yields the core unless this thread's yields have lately
/// been slow (module doc).
pub fn before_park() {
    let mut gate = GATE.get();
    let start = Instant::now();
    if !gate.should_yield(start) {
        return;
    }
    std::thread::yield_now();
    let took = start.elapsed();
    gate.yielded(start, took);
    GATE.set(gate);
    YIELDS.fetch_add(1, Relaxed);
    if took > SLOW_YIELD {
        SLOW_YIELDS.fetch_add(1, Relaxed);
    }
    if !gate.should_yield(start + took) {
        BACKOFFS.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Duration = Duration::from_micros(5);
    const SLOW: Duration = Duration::from_millis(3);

    /// Feeds `gate` yields from `at` on, every `every`-th one slow, while it lets the thread
    /// yield; returns how many it took and when it stopped (or `None`: it never stopped).
    fn feed(gate: &mut YieldGate, at: &mut Instant, n: usize, every: usize) -> Option<usize> {
        for i in 0..n {
            if !gate.should_yield(*at) {
                return Some(i);
            }
            let took = if (i + 1) % every == 0 { SLOW } else { QUICK };
            gate.yielded(*at, took);
            *at += took + Duration::from_micros(20);
        }
        None
    }

    #[test]
    fn quick_yields_and_a_rare_slow_one_go_on() {
        let mut g = YieldGate::default();
        let mut at = Instant::now();
        assert_eq!(feed(&mut g, &mut at, 10_000, usize::MAX), None);
        // One slow yield in twenty: three times the benchmark's share, still no stop.
        assert_eq!(feed(&mut g, &mut at, 100_000, 20), None);
    }

    #[test]
    fn mostly_slow_yields_stop_for_a_backoff_that_doubles_up_to_its_bound() {
        let mut g = YieldGate::default();
        let mut at = Instant::now();
        let first = feed(&mut g, &mut at, 1_000, 2).expect("half slow: stops");
        assert!((20..200).contains(&first), "stopped after {first} yields");
        let stopped = at;
        assert!(!g.should_yield(stopped + BACKOFF_MIN - Duration::from_millis(10)));
        assert!(g.should_yield(stopped + BACKOFF_MIN));
        // Still slow after the back-off: its first yield trips it again, for twice as long.
        at = stopped + BACKOFF_MIN;
        let again = feed(&mut g, &mut at, 1_000, 1).expect("all slow: stops");
        assert_eq!(again, 1, "stopped again after {again} yields");
        assert!(!g.should_yield(at + 2 * BACKOFF_MIN - Duration::from_millis(10)));
        assert!(g.should_yield(at + 2 * BACKOFF_MIN));
        for _ in 0..20 {
            at += BACKOFF_MAX;
            feed(&mut g, &mut at, 1_000, 1).expect("stops");
        }
        assert!(!g.should_yield(at + BACKOFF_MAX - Duration::from_millis(10)));
        assert!(g.should_yield(at + BACKOFF_MAX));
    }

    #[test]
    fn quick_yields_after_a_backoff_reset_it() {
        let mut g = YieldGate::default();
        let mut at = Instant::now();
        for _ in 0..5 {
            feed(&mut g, &mut at, 1_000, 1).expect("stops");
            at += BACKOFF_MAX;
        }
        assert_eq!(feed(&mut g, &mut at, 1_000, usize::MAX), None);
        feed(&mut g, &mut at, 1_000, 1).expect("stops");
        assert!(
            g.should_yield(at + BACKOFF_MIN),
            "the back-off is the shortest again"
        );
    }

    #[test]
    fn the_hook_does_not_yield_while_backing_off() {
        std::thread::spawn(|| {
            let mut g = YieldGate::default();
            let mut at = Instant::now();
            feed(&mut g, &mut at, 1_000, 1).expect("stops");
            let (until, backoff) = (g.skip_until, g.backoff);
            assert!(until.is_some_and(|u| u > Instant::now()));
            GATE.set(g);
            before_park();
            let after = GATE.get();
            assert_eq!(after.skip_until, until, "no yield, nothing recorded");
            assert_eq!(after.backoff, backoff);
        })
        .join()
        .expect("thread");
    }
}
