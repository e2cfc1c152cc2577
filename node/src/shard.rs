//! One shard hosted on this node: its Raft, how a write is proposed and a read is made
//! linearizable, and the leader's reclaiming of expired keys.
//!
//! Writes: the command is encoded, stamped with the leader's clock (never going backwards on this
//! node) and queued for the shard's proposer (`proposer.rs`, which may carry several queued
//! writes in one entry); the reply comes from the state machine after commit and apply.
//! Reads: linearizable, batched: concurrent reads share one leadership check (openraft's
//! `ensure_linearizable`) that started after they arrived, then read the applied state. The
//! check is the leader's lease (the default, `--read-policy lease`) or a ReadIndex heartbeat
//! round (`--read-policy read-index`; see [`read_check`]); while the lease holds as the shard
//! last saw it (`lease.rs`), reads skip the batcher and Raft altogether.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::error::{LinearizableReadError, RaftError};
use openraft::raft::linearizable_read::LinearizerOption;
use openraft::rt::watch::WatchReceiver;
use openraft::{ChangeMembers, ServerState};
use tanli_storage::types::{PeerAddr, Raft, ShardId, TypeConfig};
use tanli_storage::{ShardRead, ShardReader};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::cmd::WriteCmd;
use crate::config::ReadPolicy;
use crate::lease::LocalLease;
use crate::proposer::{self, Batching, ProposalStats, Queued};
use crate::reply::Reply;

/// Reads waiting for the next leadership check, before new reads wait for room.
const READ_QUEUE_MAX: usize = 65_536;

/// Why a shard could not serve a command.
#[derive(Debug, Clone)]
pub enum ShardError {
    /// Another replica leads (if known: where).
    NotLeader(Option<PeerAddr>),
    /// Nothing was applied; retry.
    Retry(String),
    /// The write may or may not have been applied.
    Unknown(String),
    Internal(String),
}

pub struct ShardLimits {
    pub read_timeout: Duration,
    /// How a leadership check is confirmed (see [`read_check`]).
    pub read_check: LinearizerOption,
    /// With the lease policy, how young a quorum acknowledgement must be (see [`lease_age`]).
    pub lease_age: Option<Duration>,
    pub write_timeout: Duration,
    pub reclaim_interval: Duration,
    pub reclaim_keys_max: usize,
    pub proposal_queue_max: usize,
    pub proposal_batch_max: usize,
    pub proposal_batch_bytes_max: usize,
    /// Entries committed but not applied past which new writes are refused.
    pub apply_lag_max: u64,
}

impl ShardLimits {
    pub fn from_config(cfg: &crate::config::Config) -> ShardLimits {
        ShardLimits {
            read_timeout: Duration::from_millis(cfg.read_timeout_ms),
            read_check: read_check(cfg.read_policy, cfg.election_timeout_min_ms),
            lease_age: lease_age(cfg.read_policy, cfg.election_timeout_min_ms),
            write_timeout: Duration::from_millis(cfg.write_timeout_ms),
            reclaim_interval: Duration::from_millis(cfg.expiry_reclaim_interval_ms),
            reclaim_keys_max: cfg.expiry_reclaim_keys_max,
            proposal_queue_max: cfg.proposal_queue_max,
            proposal_batch_max: cfg.proposal_batch_max,
            proposal_batch_bytes_max: cfg.proposal_batch_bytes_max,
            apply_lag_max: cfg.admission.apply_lag_max,
        }
    }
}

/// The leadership check of `policy`.
///
/// ReadIndex: a heartbeat round, sent after the reads arrived, acknowledged by a quorum.
///
/// Lease: a quorum acknowledgement of a message the leader sent less than half of
/// `election_timeout_min_ms` ago stands for the round (at the defaults, 375 ms; heartbeats go out
/// every 150 ms, so a healthy leader never waits). A follower refuses to vote for another
/// candidate for election-timeout-max (openraft's follower lease, 1,500 ms) after it last heard
/// from its leader, and counts from when the message arrived, after the leader sent it. No other
/// leader can therefore be elected while the lease is used, unless a follower's monotonic clock
/// runs at least four times as fast as the leader's (twice, with election-timeout-max set to its
/// lowest, just above election-timeout-min). A stale acknowledgement falls back to a round. Wall
/// clock jumps do not matter: both sides measure with the monotonic clock.
pub fn read_check(policy: ReadPolicy, election_timeout_min_ms: u64) -> LinearizerOption {
    match lease_age(policy, election_timeout_min_ms) {
        None => openraft::ReadPolicy::ReadIndex.into(),
        Some(age) => LinearizerOption::new(Some(age), true),
    }
}

/// The lease policy's largest age of a quorum acknowledgement (see [`read_check`]).
pub fn lease_age(policy: ReadPolicy, election_timeout_min_ms: u64) -> Option<Duration> {
    match policy {
        ReadPolicy::ReadIndex => None,
        ReadPolicy::Lease => Some(Duration::from_millis(election_timeout_min_ms / 2)),
    }
}

pub struct Shard {
    pub id: ShardId,
    pub raft: Raft,
    pub reader: ShardReader,
    limits: ShardLimits,
    last_stamp_ms: AtomicU64,
    reads: mpsc::Sender<oneshot::Sender<Result<(), ShardError>>>,
    proposals: mpsc::Sender<Queued>,
    /// Entries and writes proposed (INFO stats).
    pub proposal_stats: Arc<ProposalStats>,
    /// This replica leads, as of the last metrics its Raft published (kept by
    /// [`track_leadership`]). Every request's routing reads it: a plain load, where reading the
    /// metrics channel takes its lock and a reference shared by the node's threads.
    leading: Arc<AtomicBool>,
    /// The leader's lease as of the same metrics (also kept by [`track_leadership`]).
    lease: Arc<LocalLease>,
}

/// A shard's Raft metrics channel.
type MetricsReceiver =
    openraft::alias::WatchReceiverOf<TypeConfig, openraft::RaftMetrics<TypeConfig>>;

/// Keeps `leading` equal to whether the metrics Raft publishes say this replica leads, and
/// `lease` to the lease they show, until the node shuts down or the Raft stops (then it leads no
/// more).
async fn track_leadership(
    mut metrics: MetricsReceiver,
    leading: Arc<AtomicBool>,
    lease: Arc<LocalLease>,
    shutdown: CancellationToken,
) {
    loop {
        {
            let m = metrics.borrow_watched();
            leading.store(m.state == ServerState::Leader, Ordering::Release);
            lease.update(&m);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = metrics.changed() => if changed.is_err() { break },
        }
    }
    leading.store(false, Ordering::Release);
    lease.end();
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Shard {
    /// Wraps a started Raft and spawns the shard's read batcher and expiry reclaimer, in a
    /// `shard{id}` span (under the caller's, the node's), so their log lines say which shard.
    pub fn start(
        id: ShardId,
        raft: Raft,
        reader: ShardReader,
        limits: ShardLimits,
        shutdown: CancellationToken,
    ) -> Arc<Shard> {
        let (tx, rx) = mpsc::channel(READ_QUEUE_MAX);
        let (ptx, prx) = mpsc::channel(limits.proposal_queue_max);
        let metrics = raft.metrics();
        let leading = Arc::new(AtomicBool::new(
            metrics.borrow_watched().state == ServerState::Leader,
        ));
        let lease = Arc::new(LocalLease::new(limits.lease_age));
        let shard = Arc::new(Shard {
            id,
            raft: raft.clone(),
            reader,
            limits,
            last_stamp_ms: AtomicU64::new(0),
            reads: tx,
            proposals: ptx,
            proposal_stats: Arc::default(),
            leading: leading.clone(),
            lease: lease.clone(),
        });
        let span = tracing::info_span!("shard", id);
        tokio::spawn(
            track_leadership(metrics, leading, lease, shutdown.clone()).instrument(span.clone()),
        );
        let batching = Batching {
            // The meta shard's applier knows no batches.
            writes_max: if id == 0 {
                1
            } else {
                shard.limits.proposal_batch_max
            },
            bytes_max: shard.limits.proposal_batch_bytes_max,
        };
        tokio::spawn(
            proposer::run(raft.clone(), prx, batching, shard.proposal_stats.clone())
                .instrument(span.clone()),
        );
        let (read_timeout, read_check) =
            (shard.limits.read_timeout, shard.limits.read_check.clone());
        tokio::spawn(
            batch_reads(raft, rx, read_check, read_timeout, shutdown.clone())
                .instrument(span.clone()),
        );
        // The meta shard holds no user keys; only data shards reclaim expired ones.
        if id != 0 {
            tokio::spawn(reclaim_expired(Arc::downgrade(&shard), shutdown).instrument(span));
        }
        shard
    }

    /// The leader's clock for a new entry: wall time, but never below what this node stamped.
    fn stamp(&self) -> u64 {
        let now = now_ms();
        self.last_stamp_ms
            .fetch_max(now, Ordering::Relaxed)
            .max(now)
    }

    /// Queues `cmd` for proposal now, in call order, and returns the future of its applied
    /// reply. Commands submitted by one caller reach the Raft log in submission order. A full
    /// proposal queue refuses at once (`Retry`): nothing was proposed.
    pub fn submit(
        &self,
        cmd: &WriteCmd,
    ) -> Result<impl Future<Output = Result<Reply, ShardError>> + Send + 'static, ShardError> {
        let applied = self.submit_raw(cmd.encode())?;
        Ok(async move {
            let bytes = applied.await?;
            Reply::from_bytes(&bytes)
                .map_err(|e| ShardError::Internal(format!("undecodable reply: {e}")))
        })
    }

    /// [`Shard::submit`] for an already encoded command; yields the state machine's raw reply.
    pub fn submit_raw(
        &self,
        cmd: Vec<u8>,
    ) -> Result<impl Future<Output = Result<Vec<u8>, ShardError>> + Send + 'static, ShardError>
    {
        self.check_apply_lag()?;
        let (reply, rx) = oneshot::channel();
        let queued = Queued {
            cmd,
            stamp_ms: self.stamp(),
            reply,
            deadline: tokio::time::Instant::now() + self.limits.write_timeout,
        };
        self.proposals.try_send(queued).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                ShardError::Retry(format!("shard {} has too many writes in flight", self.id))
            }
            mpsc::error::TrySendError::Closed(_) => {
                ShardError::Internal(format!("shard {} stopped", self.id))
            }
        })?;
        // The proposer bounds the wait by the deadline.
        Ok(async move {
            rx.await.unwrap_or_else(|_| {
                Err(ShardError::Unknown(
                    "the shard stopped before confirming the write; it may or may not have been applied".into(),
                ))
            })
        })
    }

    /// Refuses new writes while the state machine is more than `apply_lag_max` entries behind
    /// the commit index: more proposals would only lengthen the wait of every write queued.
    fn check_apply_lag(&self) -> Result<(), ShardError> {
        let lag = {
            let m = self.raft.metrics();
            let m = m.borrow_watched();
            let committed = m.local_committed.map_or(0, |l| l.index);
            committed.saturating_sub(m.last_applied.map_or(0, |l| l.index))
        };
        if lag > self.limits.apply_lag_max {
            return Err(ShardError::Retry(format!(
                "shard {} is applying {lag} entries behind its log; retry later",
                self.id
            )));
        }
        Ok(())
    }

    /// Proposes `cmd` and waits for its applied reply.
    pub async fn write(&self, cmd: &WriteCmd) -> Result<Reply, ShardError> {
        self.submit(cmd)?.await
    }

    /// Waits until a read started now may see every write acknowledged before it.
    pub async fn linearize(&self) -> Result<(), ShardError> {
        if self.lease.holds() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.reads
            .send(tx)
            .await
            .map_err(|_| ShardError::Internal("read batcher stopped".into()))?;
        // No timer per read: the batcher bounds each leadership check by the read timeout.
        match rx.await {
            Err(_) => Err(ShardError::Internal("read batcher stopped".into())),
            Ok(r) => r,
        }
    }

    /// Offers the group's leadership to peer `to`, ending the local lease first (`lease.rs`).
    pub async fn offer_leadership(&self, to: u64) -> Result<(), String> {
        self.lease.pause();
        self.raft
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| format!("leader transfer: {e}"))
    }

    /// Asks the group's Raft for a membership change (`retain = false`: voters left out leave),
    /// ending first a lease the leader holds as its group's only voter, until the metrics show
    /// the change (`lease.rs`).
    pub async fn change_membership(
        &self,
        change: ChangeMembers<u64, PeerAddr>,
    ) -> Result<(), String> {
        self.lease
            .before_membership_change(&self.raft.metrics().borrow_watched());
        self.raft
            .change_membership(change, false)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// How long reads may still skip Raft on the local lease (INFO).
    pub fn lease_remaining(&self) -> Duration {
        self.lease.remaining()
    }

    /// On the leader: entries the slowest replica is behind the leader's last log index
    /// (0 off the leader).
    pub fn replication_lag(&self) -> u64 {
        let m = self.raft.metrics().borrow_watched().clone();
        let last = m.last_log_index.unwrap_or(0);
        m.replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter(|(peer, _)| **peer != m.id)
                    .map(|(_, l)| last.saturating_sub(l.as_ref().map_or(0, |l| l.index)))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    pub fn status(&self) -> ShardStatus {
        let m = self.raft.metrics().borrow_watched().clone();
        ShardStatus {
            state: m.state,
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            commit_index: m.local_committed.map(|l| l.index).unwrap_or(0),
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            leader_addr: m
                .current_leader
                .and_then(|l| m.membership_config.membership().get_node(&l).cloned()),
            membership: m.membership_config.clone(),
        }
    }

    /// The node (not peer) this replica currently knows as its leader, if any.
    pub fn leader_node(&self) -> Option<u64> {
        let m = self.raft.metrics();
        let m = m.borrow_watched();
        let leader = m.current_leader?;
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|a| a.node_id)
    }

    /// This replica leads, as its Raft last reported; a read or write still finds out through
    /// Raft itself (a leadership check, a proposal) whether it does at that moment.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }
}

#[derive(Debug, Clone)]
pub struct ShardStatus {
    pub state: ServerState,
    pub leader: Option<u64>,
    pub term: u64,
    pub last_log_index: u64,
    /// The newest entry this replica knows to be committed.
    pub commit_index: u64,
    pub applied_index: u64,
    pub leader_addr: Option<PeerAddr>,
    /// The group's effective membership (may not be committed yet).
    pub membership: Arc<tanli_storage::types::StoredMembership>,
}

/// One leadership check at a time, serving every read that queued before it started. A check
/// not confirmed within `timeout` fails every read waiting on it (retryable).
async fn batch_reads(
    raft: Raft,
    mut rx: mpsc::Receiver<oneshot::Sender<Result<(), ShardError>>>,
    read_check: LinearizerOption,
    timeout: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            w = rx.recv() => match w { Some(w) => w, None => return },
        };
        let mut waiting = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiting.push(w);
        }
        let check = tokio::time::timeout(timeout, raft.ensure_linearizable(read_check.clone()));
        let outcome = match check.await {
            Err(_) => Err(ShardError::Retry(
                "read could not be confirmed in time".into(),
            )),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f)))) => {
                Err(ShardError::NotLeader(f.leader_node))
            }
            Ok(Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(q)))) => {
                Err(ShardError::Retry(q.to_string()))
            }
            Ok(Err(RaftError::Fatal(f))) => Err(ShardError::Internal(f.to_string())),
        };
        for w in waiting {
            let _ = w.send(outcome.clone());
        }
    }
}

/// On the leader, proposes deletion of keys whose expiry has passed. Followers never delete on
/// their own: every removal is a log entry, so replicas stay identical.
async fn reclaim_expired(shard: std::sync::Weak<Shard>, shutdown: CancellationToken) {
    let interval = match shard.upgrade() {
        Some(s) => s.limits.reclaim_interval,
        None => return,
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(shard) = shard.upgrade() else { return };
        if !shard.is_leader() {
            continue;
        }
        let expired = match shard
            .reader
            .expired(now_ms(), shard.limits.reclaim_keys_max)
        {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(shard = shard.id, error = %e, "reading the expiry index failed");
                continue;
            }
        };
        if expired.is_empty() {
            continue;
        }
        let n = expired.len();
        match shard.write(&WriteCmd::reap(expired)).await {
            Ok(_) => tracing::debug!(shard = shard.id, keys = n, "reclaimed expired keys"),
            Err(e) => tracing::debug!(shard = shard.id, error = ?e, "expiry reclaim deferred"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_read_takes_acknowledgements_younger_than_half_the_shortest_election_timeout() {
        let lease = read_check(ReadPolicy::Lease, 750).to_string();
        assert!(lease.contains("max_quorum_ack_age: Some(375ms)"), "{lease}");
        assert!(
            lease.contains("heartbeat_if_quorum_ack_stale: true"),
            "{lease}"
        );
        // ReadIndex wants a round sent after the read: no acknowledgement is young enough.
        let index = read_check(ReadPolicy::ReadIndex, 750).to_string();
        assert!(index.contains("max_quorum_ack_age: Some(0ns)"), "{index}");
    }
}
