//! A shard leader's lease, readable by every thread without asking Raft: with `--read-policy
//! lease`, a read that arrives while it holds skips the read batcher and the Raft core (two task
//! hops and a message) and reads the applied state at once.
//!
//! It is the lease openraft's own lease check uses (see `shard::read_check`), taken from the
//! metrics the shard's Raft publishes: it holds until the newest quorum acknowledgement's send
//! time plus the lease age (half of election-timeout-min). The metrics lag Raft's state, which
//! only makes the acknowledgement look older. Two more conditions stand in for what openraft's
//! check adds:
//!
//! - **This leader's first entry is applied** (the metrics' last applied entry carries the
//!   leader's own term). Every write acknowledged by an earlier leader is then applied here.
//!   Entries committed but not yet applied need no wait: a write is acknowledged only by its
//!   apply on the leader, so none of them has been acknowledged to anyone yet.
//! - **No leadership transfer is under way.** A transfer's election ignores followers' leases, so
//!   offering leadership ([`LocalLease::pause`]) ends the local lease first. It stays off until
//!   the metrics show this replica not leading; reads meanwhile take the batcher's path, where
//!   Raft itself decides.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use openraft::alias::InstantOf;
use openraft::vote::RaftLeaderId;
use openraft::{Instant as _, RaftMetrics, ServerState};
use tanli_storage::types::TypeConfig;

/// Raft's monotonic clock (tokio's), which its acknowledgement times are read on.
type Instant = InstantOf<TypeConfig>;

/// See the module doc.
pub struct LocalLease {
    /// The lease age; `None` (the ReadIndex policy): never holds.
    age: Option<Duration>,
    /// Origin of `until_ns`.
    base: Instant,
    /// Reads arriving before `base` + this many nanoseconds may skip Raft (0: no lease).
    until_ns: AtomicU64,
    /// A transfer was offered and this replica has not been seen not leading since. A mutex (a
    /// few loads, never held across an await) so that [`LocalLease::update`] cannot store a lease
    /// computed before a concurrent [`LocalLease::pause`].
    paused: Mutex<bool>,
}

impl LocalLease {
    pub fn new(age: Option<Duration>) -> LocalLease {
        LocalLease {
            age,
            base: Instant::now(),
            until_ns: AtomicU64::new(0),
            paused: Mutex::new(false),
        }
    }

    /// The lease holds now.
    pub fn holds(&self) -> bool {
        self.remaining_at(Instant::now) > 0
    }

    /// The lease holds at `now`.
    pub fn holds_at(&self, now: Instant) -> bool {
        self.remaining_at(|| now) > 0
    }

    /// Nanoseconds the lease still holds at `now` (0: it does not). Without a lease (always, with
    /// the ReadIndex policy) the clock is not read.
    fn remaining_at(&self, now: impl FnOnce() -> Instant) -> u128 {
        match self.until_ns.load(Ordering::Acquire) {
            0 => 0,
            until => u128::from(until).saturating_sub(self.since_base(now())),
        }
    }

    /// Nanoseconds from `base` to `t` (0 if `t` is earlier).
    fn since_base(&self, t: Instant) -> u128 {
        t.saturating_duration_since(self.base).as_nanos()
    }

    /// Takes the lease from Raft's metrics `m` (see the module doc). With the ReadIndex policy
    /// there is never a lease, and nothing to take.
    pub fn update(&self, m: &RaftMetrics<TypeConfig>) {
        let Some(age) = self.age else { return };
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        let leads = m.state == ServerState::Leader;
        if !leads {
            *paused = false;
        }
        let own_entry_applied = m.vote.is_committed()
            && m.last_applied
                .as_ref()
                .is_some_and(|l| *l.committed_leader_id() == m.vote.leader_id().to_committed());
        let until = match m.last_quorum_acked {
            Some(acked) if leads && own_entry_applied && !*paused => {
                self.since_base(acked.into_inner() + age)
            }
            _ => 0,
        };
        self.until_ns
            .store(u64::try_from(until).unwrap_or(u64::MAX), Ordering::Release);
    }

    /// Ends the lease before a leadership transfer is offered (see the module doc).
    pub fn pause(&self) {
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        *paused = true;
        self.until_ns.store(0, Ordering::Release);
    }

    /// Ends the lease for good: the Raft stopped or the node shuts down.
    pub fn end(&self) {
        self.until_ns.store(0, Ordering::Release);
    }

    /// How long the lease still holds (INFO).
    pub fn remaining(&self) -> Duration {
        let ns = self.remaining_at(Instant::now);
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use openraft::alias::LeaderIdOf;
    use openraft::metrics::SerdeInstant;
    use openraft::vote::RaftLeaderIdExt;
    use tanli_storage::types::{LogId, Vote};

    const AGE: Duration = Duration::from_millis(375);

    /// Metrics of peer 1 leading term 3, acknowledged by a quorum `ago`, with its last applied
    /// entry from `applied_term`.
    fn leader(ago: Duration, applied_term: u64) -> RaftMetrics<TypeConfig> {
        let mut m = RaftMetrics::new_initial(1);
        m.state = ServerState::Leader;
        m.current_term = 3;
        m.vote = Vote::new_committed(3, 1);
        let applied_leader = LeaderIdOf::<TypeConfig>::new_committed(applied_term, 1);
        m.last_applied = Some(LogId::new(applied_leader, 10));
        m.last_quorum_acked = Some(SerdeInstant::new(Instant::now() - ago));
        m
    }

    #[test]
    fn holds_only_while_the_acknowledgement_is_young_and_the_leaders_entry_is_applied() {
        let lease = LocalLease::new(Some(AGE));
        assert!(!lease.holds(), "no lease before any metrics");
        lease.update(&leader(Duration::from_millis(10), 3));
        assert!(lease.holds());
        assert!(lease.remaining() > Duration::from_millis(300));
        assert!(
            !lease.holds_at(Instant::now() + AGE),
            "expires with the acknowledgement's age"
        );
        lease.update(&leader(AGE + Duration::from_millis(1), 3));
        assert!(!lease.holds(), "stale acknowledgement");
        lease.update(&leader(Duration::from_millis(10), 2));
        assert!(
            !lease.holds(),
            "the leader's own first entry is not applied"
        );
        let mut follower = leader(Duration::from_millis(10), 3);
        follower.state = ServerState::Follower;
        lease.update(&follower);
        assert!(!lease.holds(), "not leading");
        // The ReadIndex policy never holds a lease.
        let none = LocalLease::new(None);
        none.update(&leader(Duration::from_millis(10), 3));
        assert!(!none.holds());
    }

    #[test]
    fn a_transfer_ends_the_lease_until_the_replica_is_seen_not_leading() {
        let lease = LocalLease::new(Some(AGE));
        lease.update(&leader(Duration::from_millis(10), 3));
        assert!(lease.holds());
        lease.pause();
        assert!(!lease.holds());
        // Still leading in the same term (the transfer has not happened yet, or failed).
        lease.update(&leader(Duration::from_millis(5), 3));
        assert!(!lease.holds());
        let mut follower = leader(Duration::from_millis(5), 3);
        follower.state = ServerState::Follower;
        lease.update(&follower);
        lease.update(&leader(Duration::from_millis(5), 3));
        assert!(lease.holds(), "leading again after it was seen not leading");
    }
}
