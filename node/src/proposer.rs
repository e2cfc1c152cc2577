//! A shard's proposer: hands its queued writes to Raft in submission order, several to one log
//! entry when they queue up together, and delivers each write's applied reply.
//!
//! Every Raft entry costs the same fixed work however small its command: the leader's log
//! append, its replication to each follower, the responder, and the follower's own append. When
//! writes arrive faster than Raft takes them (pipelines, many clients), the writes that queued
//! while the previous entry was being handed over go into one [`WriteCmd::Batch`] entry (at most
//! `proposal-batch-max` of them and at most `proposal-batch-bytes-max` bytes of commands, unless
//! one command alone is bigger). A lone
//! write is proposed as itself, so the log of a quiet shard is unchanged.
//!
//! A batch is applied in log order, command after command, each with its own reply, exactly as
//! the same commands in consecutive entries: it changes the cost, not the outcome. The wait for
//! an entry's outcome is bounded by its first write's deadline (submission plus the shard's
//! write timeout), one timer per entry rather than one per write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::error::ClientWriteError;
use openraft::impls::ProgressResponder;
use tanli_storage::types::{Proposal, Raft};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::cmd::WriteCmd;
use crate::reply::decode_versioned;
use crate::shard::ShardError;

/// Where a write's outcome goes: its applied reply (encoded) or why there is none.
pub(crate) type ReplyTx = oneshot::Sender<Result<Vec<u8>, ShardError>>;

/// One write waiting for proposal.
pub(crate) struct Queued {
    pub cmd: Vec<u8>,
    pub stamp_ms: u64,
    pub reply: ReplyTx,
    /// When its caller stops waiting for the outcome (submission plus the write timeout).
    pub deadline: Instant,
}

/// How many queued writes one entry may carry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batching {
    /// 1 disables batching (the meta shard, whose applier knows no batches).
    pub writes_max: usize,
    pub bytes_max: usize,
}

/// What a shard's proposer has handed to Raft (INFO stats: writes per entry).
#[derive(Debug, Default)]
pub struct ProposalStats {
    /// Log entries proposed.
    pub entries: AtomicU64,
    /// Writes they carried.
    pub writes: AtomicU64,
}

/// Proposes queued writes until the queue closes or Raft stops.
pub(crate) async fn run(
    raft: Raft,
    mut rx: mpsc::Receiver<Queued>,
    batching: Batching,
    stats: Arc<ProposalStats>,
) {
    // A write that would have taken an entry past its byte bound starts the next entry.
    let mut carried: Option<Queued> = None;
    loop {
        let first = match carried.take() {
            Some(q) => q,
            None => match rx.recv().await {
                Some(q) => q,
                None => return,
            },
        };
        let mut group = gather(first, &mut rx, batching, &mut carried);
        let stamp_ms = group.iter().map(|q| q.stamp_ms).max().unwrap_or(0);
        // The first write queued first, so its caller is the first to stop waiting.
        let deadline = group[0].deadline;
        let writes = group.len() as u64;
        let (cmd, waiters) = if group.len() == 1 {
            let q = group.pop().expect("one write");
            (q.cmd, Waiters::One(q.reply))
        } else {
            let (cmds, replies): (Vec<_>, Vec<_>) =
                group.into_iter().map(|q| (q.cmd, q.reply)).unzip();
            (WriteCmd::Batch { cmds }.encode(), Waiters::Many(replies))
        };
        let (responder, applied) = ProgressResponder::complete_only();
        if let Err(fatal) = raft
            .client_write_ff(Proposal { stamp_ms, cmd }, Some(responder))
            .await
        {
            // The waiters are dropped: their callers learn the outcome is unknown.
            tracing::error!(error = %fatal, "shard stopped; no more proposals");
            return;
        }
        stats.entries.fetch_add(1, Ordering::Relaxed);
        stats.writes.fetch_add(writes, Ordering::Relaxed);
        tokio::spawn(deliver(applied, waiters, deadline));
    }
}

/// The next entry's writes: `first`, then the writes queued behind it, within the bounds. A write
/// that would take the entry past its byte bound is left in `carried`, to start the next one.
fn gather(
    first: Queued,
    rx: &mut mpsc::Receiver<Queued>,
    batching: Batching,
    carried: &mut Option<Queued>,
) -> Vec<Queued> {
    let mut bytes = first.cmd.len();
    let mut group = vec![first];
    while group.len() < batching.writes_max {
        match rx.try_recv() {
            Ok(q) if bytes + q.cmd.len() > batching.bytes_max => {
                *carried = Some(q);
                break;
            }
            Ok(q) => {
                bytes += q.cmd.len();
                group.push(q);
            }
            Err(_) => break,
        }
    }
    group
}

/// The writes of one entry.
enum Waiters {
    One(ReplyTx),
    Many(Vec<ReplyTx>),
}

type Applied = openraft::alias::OneshotReceiverOf<
    tanli_storage::types::TypeConfig,
    openraft::raft::ClientWriteResult<tanli_storage::types::TypeConfig>,
>;

/// Waits for the entry's outcome (until `deadline`) and gives each write its part.
async fn deliver(applied: Applied, waiters: Waiters, deadline: Instant) {
    let outcome = match tokio::time::timeout_at(deadline, applied).await {
        Err(_) => Err(ShardError::Unknown(
            "write not confirmed within the write timeout; it may or may not have been applied"
                .into(),
        )),
        Ok(Err(_)) => Err(ShardError::Unknown(
            "the shard stopped before confirming the write; it may or may not have been applied"
                .into(),
        )),
        Ok(Ok(Ok(resp))) => Ok(resp.data.0),
        Ok(Ok(Err(ClientWriteError::ForwardToLeader(f)))) => {
            Err(ShardError::NotLeader(f.leader_node))
        }
        Ok(Ok(Err(ClientWriteError::LogEntryDiscarded(_)))) => Err(ShardError::Unknown(
            "leader changed before the write was confirmed; it may or may not have been applied"
                .into(),
        )),
        Ok(Ok(Err(e))) => Err(ShardError::Retry(e.to_string())),
    };
    match waiters {
        Waiters::One(tx) => {
            let _ = tx.send(outcome);
        }
        Waiters::Many(txs) => {
            let parts = outcome.and_then(|bytes| split(&bytes, txs.len()));
            match parts {
                Ok(parts) => {
                    for (tx, part) in txs.into_iter().zip(parts) {
                        let _ = tx.send(Ok(part));
                    }
                }
                Err(e) => {
                    for tx in txs {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// A batch's reply: one encoded reply per write, in order.
fn split(bytes: &[u8], writes: usize) -> Result<Vec<Vec<u8>>, ShardError> {
    match decode_versioned::<Vec<Vec<u8>>>(bytes) {
        Ok(parts) if parts.len() == writes => Ok(parts),
        Ok(parts) => Err(ShardError::Internal(format!(
            "a batch of {writes} writes was applied with {} replies",
            parts.len()
        ))),
        Err(e) => Err(ShardError::Internal(format!(
            "undecodable batch reply: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::encode_versioned;

    fn queued(len: usize) -> Queued {
        Queued {
            cmd: vec![0; len],
            stamp_ms: len as u64,
            reply: oneshot::channel().0,
            deadline: Instant::now(),
        }
    }

    /// The command sizes of each entry `gather` makes from `sizes`, queued in that order.
    fn entries(sizes: &[usize], batching: Batching) -> Vec<Vec<usize>> {
        let (tx, mut rx) = mpsc::channel(64);
        for &n in sizes {
            tx.try_send(queued(n)).expect("room");
        }
        drop(tx);
        let mut carried = None;
        let mut out = Vec::new();
        while let Some(first) = carried.take().or_else(|| rx.try_recv().ok()) {
            let group = gather(first, &mut rx, batching, &mut carried);
            out.push(group.iter().map(|q| q.cmd.len()).collect());
        }
        out
    }

    #[test]
    fn entries_take_queued_writes_in_order_within_both_bounds() {
        let b = Batching {
            writes_max: 3,
            bytes_max: 10,
        };
        assert_eq!(
            entries(&[4, 4, 4, 1, 1, 1, 1], b),
            vec![vec![4, 4], vec![4, 1, 1], vec![1, 1]]
        );
        // A command bigger than the byte bound is an entry of its own.
        assert_eq!(entries(&[1, 50, 1], b), vec![vec![1], vec![50], vec![1]]);
        // One write per entry when batching is off.
        let off = Batching {
            writes_max: 1,
            bytes_max: 10,
        };
        assert_eq!(entries(&[1, 2, 3], off), vec![vec![1], vec![2], vec![3]]);
    }

    #[test]
    fn a_batch_reply_splits_into_one_reply_per_write() {
        let parts = vec![b"a".to_vec(), Vec::new(), b"ccc".to_vec()];
        assert_eq!(
            split(&encode_versioned(&parts), 3).ok(),
            Some(parts.clone())
        );
    }

    #[test]
    fn a_batch_reply_of_the_wrong_shape_fails_every_write() {
        let parts = vec![b"a".to_vec()];
        assert!(matches!(
            split(&encode_versioned(&parts), 2),
            Err(ShardError::Internal(e)) if e.contains("2 writes")
        ));
        // A plain error reply (the whole batch was undecodable at apply).
        let error = crate::reply::Reply::err("boom").to_bytes();
        assert!(matches!(split(&error, 2), Err(ShardError::Internal(_))));
    }
}
