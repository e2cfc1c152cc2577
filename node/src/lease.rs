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
//!
//! A leader that is its group's only voter (a one-node cluster, or a shard before its replicas
//! join) has no followers to acknowledge it, so no acknowledgement ever gets younger; openraft's
//! own check counts such a leader's lease as always valid, since no other node can be elected
//! without a membership change this leader makes. The local lease does the same, renewed for the
//! lease age each time the metrics show it the only voter, with one guard for the lag of the
//! metrics: before this node asks Raft for a membership change
//! ([`LocalLease::before_membership_change`]), being the only voter earns no lease until the
//! metrics show a membership newer than the one they showed then (the change's first entry, or a
//! later one), so a voter added meanwhile is always seen before the lease is renewed again.

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
    /// What holds the lease back. A mutex (a few loads, never held across an await) so that
    /// [`LocalLease::update`] cannot store a lease computed before a concurrent
    /// [`LocalLease::pause`] or [`LocalLease::before_membership_change`].
    gate: Mutex<Gate>,
}

#[derive(Default)]
struct Gate {
    /// A transfer was offered and this replica has not been seen not leading since.
    paused: bool,
    /// A membership change was asked for while the metrics showed the membership of this log
    /// index; until they show a newer one, being the only voter earns no lease.
    changing_from: Option<u64>,
}

impl LocalLease {
    pub fn new(age: Option<Duration>) -> LocalLease {
        LocalLease {
            age,
            base: Instant::now(),
            until_ns: AtomicU64::new(0),
            gate: Mutex::new(Gate::default()),
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
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        let leads = m.state == ServerState::Leader;
        if !leads {
            gate.paused = false;
        }
        let membership = membership_index(m);
        if gate.changing_from.is_some_and(|from| membership > from) {
            gate.changing_from = None;
        }
        let own_entry_applied = m.vote.is_committed()
            && m.last_applied
                .as_ref()
                .is_some_and(|l| *l.committed_leader_id() == m.vote.leader_id().to_committed());
        let mut voters = m.membership_config.voter_ids();
        let only_voter = voters.next() == Some(m.id) && voters.next().is_none();
        let until = if !leads || !own_entry_applied || gate.paused {
            0
        } else if only_voter && gate.changing_from.is_none() {
            self.since_base(Instant::now() + age)
        } else {
            m.last_quorum_acked
                .map_or(0, |acked| self.since_base(acked.into_inner() + age))
        };
        self.until_ns
            .store(u64::try_from(until).unwrap_or(u64::MAX), Ordering::Release);
    }

    /// Ends the lease before a leadership transfer is offered (see the module doc).
    pub fn pause(&self) {
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.paused = true;
        self.until_ns.store(0, Ordering::Release);
    }

    /// Ends the lease before this node asks Raft for a membership change, `m` being the newest
    /// metrics (see the module doc). The lease comes back with the next metrics unless they show
    /// this node the only voter of the membership `m` shows.
    pub fn before_membership_change(&self, m: &RaftMetrics<TypeConfig>) {
        let membership = membership_index(m);
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.changing_from = Some(gate.changing_from.map_or(membership, |f| f.max(membership)));
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

/// The log index of the membership the metrics `m` show (0: the initial one).
fn membership_index(m: &RaftMetrics<TypeConfig>) -> u64 {
    m.membership_config.log_id().as_ref().map_or(0, |l| l.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeSet;
    use std::sync::Arc;

    use openraft::alias::LeaderIdOf;
    use openraft::metrics::SerdeInstant;
    use openraft::vote::RaftLeaderIdExt;
    use openraft::Membership;
    use tanli_storage::types::{LogId, StoredMembership, Vote};

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

    /// `m` with the membership of log index `index` whose voters are `voters`.
    fn with_voters(
        mut m: RaftMetrics<TypeConfig>,
        index: u64,
        voters: &[u64],
    ) -> RaftMetrics<TypeConfig> {
        let log_id = LogId::new(LeaderIdOf::<TypeConfig>::new_committed(3, 1), index);
        let voters: BTreeSet<u64> = voters.iter().copied().collect();
        let membership = Membership::new_with_defaults(vec![voters], []);
        m.membership_config = Arc::new(StoredMembership::new(Some(log_id), membership));
        m
    }

    #[test]
    fn the_only_voter_holds_without_acknowledgements_until_it_asks_for_a_membership_change() {
        let lease = LocalLease::new(Some(AGE));
        // No follower has acknowledged anything for long: a lone leader still holds.
        let alone = with_voters(leader(AGE * 4, 3), 1, &[1]);
        lease.update(&alone);
        assert!(lease.holds(), "the only voter");
        assert!(
            !lease.holds_at(Instant::now() + AGE),
            "renewed for the lease age only"
        );
        // With a second voter the acknowledgement decides again.
        lease.update(&with_voters(leader(AGE * 4, 3), 2, &[1, 2]));
        assert!(!lease.holds(), "two voters, stale acknowledgement");
        // Asking for a membership change ends the lease, and metrics of the same membership do
        // not bring it back, however alone they show the leader.
        lease.update(&alone);
        assert!(lease.holds());
        lease.before_membership_change(&alone);
        assert!(!lease.holds());
        lease.update(&alone);
        assert!(!lease.holds(), "metrics that may predate the change");
        // The change shows (a joint membership with the new voter): acknowledgements decide.
        let joint = with_voters(leader(Duration::from_millis(10), 3), 2, &[1, 2]);
        lease.update(&joint);
        assert!(lease.holds(), "a young quorum acknowledgement");
        lease.update(&with_voters(leader(AGE * 4, 3), 2, &[1, 2]));
        assert!(!lease.holds());
        // Back to one voter by a later change: the lone leader holds again.
        lease.update(&with_voters(leader(AGE * 4, 3), 3, &[1]));
        assert!(lease.holds(), "the only voter of a newer membership");
        // A peer that is the only voter but not this node earns nothing.
        lease.update(&with_voters(leader(AGE * 4, 3), 4, &[2]));
        assert!(!lease.holds(), "another node is the only voter");
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
