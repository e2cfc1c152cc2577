//! Global ids without a central allocator, Snowflake-style: 64-bit ids made of 41 bits of
//! milliseconds since [`EPOCH_MS`], 10 bits of worker id (leased from the cluster, so no two
//! live generators share one) and 12 bits of sequence within the millisecond.
//!
//! Pure: the caller passes the wall clock in and acts on [`Wait`]. Ids from one generator are
//! strictly increasing. The clock may step backwards: a generator never issues an id at or below
//! the last millisecond it used, so it asks the caller to wait until the clock passes it again
//! (and refuses outright when the gap is beyond the caller's tolerance). A worker id handed over
//! from a previous holder carries that holder's lease end (`not_before_ms`): no id is issued at
//! or before it, so the two holders' ids cannot collide even if the new holder's clock is behind.

/// 2026-01-01T00:00:00Z in Unix milliseconds: the zero of the id's time field.
pub const EPOCH_MS: u64 = 1_767_225_600_000;
pub const TIME_BITS: u32 = 41;
pub const WORKER_BITS: u32 = 10;
pub const SEQ_BITS: u32 = 12;
/// Worker ids are `0..WORKERS`.
pub const WORKERS: u16 = 1 << WORKER_BITS;
const SEQ_MAX: u64 = (1 << SEQ_BITS) - 1;
const TIME_MAX: u64 = (1 << TIME_BITS) - 1;

/// Why no id can be issued now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Try again once the wall clock reaches this Unix millisecond (the sequence of the current
    /// millisecond is used up, or the clock is behind the last id).
    Until(u64),
    /// The clock is before [`EPOCH_MS`] or past the 41-bit range (year 2095).
    ClockOutOfRange,
}

/// One worker's generator.
#[derive(Debug, Clone)]
pub struct Snowflake {
    worker: u64,
    /// The millisecond (since [`EPOCH_MS`]) of the last id, or the floor before the first.
    last: u64,
    seq: u64,
    issued: bool,
}

impl Snowflake {
    /// A generator for `worker` (`< WORKERS`) that issues no id at or before `not_before_ms`
    /// (Unix milliseconds; 0 for none). `None` for a worker id out of range.
    pub fn new(worker: u16, not_before_ms: u64) -> Option<Snowflake> {
        (worker < WORKERS).then(|| Snowflake {
            worker: u64::from(worker),
            last: not_before_ms.saturating_sub(EPOCH_MS),
            seq: SEQ_MAX,
            issued: not_before_ms > EPOCH_MS,
        })
    }

    pub fn worker(&self) -> u16 {
        // `new` checked the range.
        u16::try_from(self.worker).unwrap_or(u16::MAX)
    }

    /// The next id at wall-clock time `now_ms` (Unix milliseconds).
    pub fn next(&mut self, now_ms: u64) -> Result<u64, Wait> {
        let Some(ms) = now_ms.checked_sub(EPOCH_MS).filter(|&m| m <= TIME_MAX) else {
            return Err(Wait::ClockOutOfRange);
        };
        if self.issued && ms < self.last {
            return Err(Wait::Until(self.last + EPOCH_MS));
        }
        if self.issued && ms == self.last {
            if self.seq >= SEQ_MAX {
                return Err(Wait::Until(self.last + 1 + EPOCH_MS));
            }
            self.seq += 1;
        } else {
            self.last = ms;
            self.seq = 0;
            self.issued = true;
        }
        Ok((self.last << (WORKER_BITS + SEQ_BITS)) | (self.worker << SEQ_BITS) | self.seq)
    }
}

/// A generator bound to a worker-id lease, whose validity the holder measures on its own
/// monotonic clock from the moment it asked for the lease (the lease began at or after that, in
/// the meta shard's log time), so the holder stops before the worker id can pass to anyone else.
/// Renewed when a third of the lease is left.
#[derive(Debug, Clone)]
pub struct Leased {
    generator: Snowflake,
    valid_until: std::time::Instant,
    renew_at: std::time::Instant,
}

/// Why a [`Leased`] generator gives no id now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseWait {
    /// The lease ran out: lease again.
    Expired,
    Clock(Wait),
}

impl Leased {
    /// The generator after a lease reply (`worker`, `ttl`, `not_before_ms`) to a request made at
    /// `asked`: `previous` goes on if it holds the same worker id and is still valid (its last
    /// id stays the floor), else a fresh generator starts after `not_before_ms`.
    pub fn renewed(
        previous: Option<Leased>,
        worker: u16,
        ttl: std::time::Duration,
        not_before_ms: u64,
        asked: std::time::Instant,
    ) -> Option<Leased> {
        let generator =
            match previous.filter(|p| p.generator.worker() == worker && asked < p.valid_until) {
                Some(p) => p.generator,
                None => Snowflake::new(worker, not_before_ms)?,
            };
        Some(Leased {
            generator,
            valid_until: asked + ttl,
            renew_at: asked + ttl / 3,
        })
    }

    /// Whether `current` (if any) should be renewed at `now`.
    pub fn needs_renewal(current: Option<&Leased>, now: std::time::Instant) -> bool {
        current.is_none_or(|l| now >= l.renew_at)
    }

    /// Whether the lease still covers `now`.
    pub fn is_valid(current: Option<&Leased>, now: std::time::Instant) -> bool {
        current.is_some_and(|l| now < l.valid_until)
    }

    /// The next id at monotonic `now` and wall-clock `unix_ms`.
    pub fn next(&mut self, now: std::time::Instant, unix_ms: u64) -> Result<u64, LeaseWait> {
        if now >= self.valid_until {
            return Err(LeaseWait::Expired);
        }
        self.generator.next(unix_ms).map_err(LeaseWait::Clock)
    }
}

/// The parts of an id: (Unix milliseconds, worker, sequence).
pub fn parts(id: u64) -> (u64, u16, u16) {
    let ms = (id >> (WORKER_BITS + SEQ_BITS)) + EPOCH_MS;
    let worker = ((id >> SEQ_BITS) & u64::from(WORKERS - 1)) as u16;
    let seq = (id & SEQ_MAX) as u16;
    (ms, worker, seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = EPOCH_MS + 1_000_000;

    #[test]
    fn ids_increase_and_carry_their_parts() {
        let mut g = Snowflake::new(5, 0).expect("worker in range");
        let a = g.next(T).expect("id");
        let b = g.next(T).expect("id");
        let c = g.next(T + 1).expect("id");
        assert!(a < b && b < c);
        assert_eq!(parts(a), (T, 5, 0));
        assert_eq!(parts(b), (T, 5, 1));
        assert_eq!(parts(c), (T + 1, 5, 0));
        assert!(Snowflake::new(WORKERS, 0).is_none());
    }

    #[test]
    fn a_used_up_millisecond_and_a_clock_behind_make_the_caller_wait() {
        let mut g = Snowflake::new(1, 0).expect("worker");
        for _ in 0..=SEQ_MAX {
            g.next(T).expect("4096 ids in one millisecond");
        }
        assert_eq!(g.next(T), Err(Wait::Until(T + 1)));
        let last = g.next(T + 1).expect("next millisecond");
        // The clock steps back: nothing until it passes the last id's millisecond again.
        assert_eq!(g.next(T - 500), Err(Wait::Until(T + 1)));
        assert!(g.next(T + 1).expect("same millisecond again") > last);
        assert_eq!(g.next(EPOCH_MS - 1), Err(Wait::ClockOutOfRange));
    }

    #[test]
    fn a_lease_runs_out_and_a_renewal_keeps_the_generator() {
        use std::time::{Duration, Instant};
        let asked = Instant::now();
        let ttl = Duration::from_secs(30);
        let mut l = Leased::renewed(None, 3, ttl, 0, asked).expect("lease");
        let first = l.next(asked, T).expect("id");
        assert!(!Leased::needs_renewal(Some(&l), asked + ttl / 4));
        assert!(Leased::needs_renewal(Some(&l), asked + ttl / 2));
        assert_eq!(l.next(asked + ttl, T + 1), Err(LeaseWait::Expired));
        // Renewed while valid: the same generator, so ids keep increasing even at the same ms.
        let mut r = Leased::renewed(Some(l), 3, ttl, 0, asked + ttl / 2).expect("renewal");
        assert!(r.next(asked + ttl / 2, T).expect("id") > first);
        assert!(Leased::is_valid(Some(&r), asked + ttl) && !Leased::is_valid(None, asked));
    }

    #[test]
    fn a_handed_over_worker_starts_after_the_previous_lease() {
        let mut g = Snowflake::new(9, T + 100).expect("worker");
        assert_eq!(g.next(T + 50), Err(Wait::Until(T + 100)));
        let id = g.next(T + 101).expect("after the previous lease");
        assert_eq!(parts(id).0, T + 101);
    }
}
