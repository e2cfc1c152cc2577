//! Executes a parsed data command: route its keys, pass the shard's consistency check or propose
//! it through Raft, and produce the reply.
//!
//! Consistency of every read is stated here: linearizable (on the shard leader, by its lease or a
//! ReadIndex round: `--read-policy`) unless the connection said `READONLY`, in which case a
//! replica answers from its applied state, which may be stale (Redis Cluster's replica reads).
//! Key-less reads (DBSIZE, KEYS, SCAN, RANDOMKEY) cover the shards this node leads, each
//! linearized, as Redis Cluster answers them over a node's primary slots (on a `READONLY`
//! connection: every replica hosted here, stale); key-less writes (FLUSHDB, FLUSHALL) go to each
//! shard this node leads. The hidden `--unsafe-stale-reads` flag (for the fault-injection suite
//! only, to prove it catches a broken server) makes every keyed read stale, on any replica.

use std::sync::Arc;

use futures::future::{join_all, ready, BoxFuture, FutureExt};
use tanli_router::{Mode, ShardId};
use tanli_storage::StorageError;

use crate::cmd::{ReadCmd, ReadCtx, WriteCmd};
use crate::error::ClusterError;
use crate::keyless::MultiReader;
use crate::reply::Reply;
use crate::route::{redirect, route, Target};
use crate::server::Node;
use crate::shard::{now_ms, Shard, ShardError};

/// Routes `cmd` and queues it for proposal now (so a connection's writes enter the log in the
/// order it sent them); the returned future yields the applied reply.
pub fn submit_write(
    node: &Arc<Node>,
    mut cmd: WriteCmd,
    asking: bool,
) -> BoxFuture<'static, Reply> {
    if let WriteCmd::Req { policy, .. } = &mut cmd {
        // Carried in the entry, so every replica applies the same bounds.
        *policy = tanli_storage::dedup::DedupPolicy {
            window_ms: node.config.dedup_window_ms,
            per_client_max: node.config.dedup_replies_per_client_max,
        };
    }
    let topo = node.topology();
    let keys = cmd.keys();
    let mode = Mode {
        readonly: false,
        asking,
    };
    let routed = route(&topo, &keys, mode);
    drop(keys);
    match routed {
        Err(e) => ready(e.to_reply()).boxed(),
        Ok(Target::Keyless) => keyless_write(topo, cmd),
        Ok(Target::Shard { slot, shard }) => match shard.submit(&cmd) {
            Err(e) => ready(redirect(&topo, Some(slot), e).to_reply()).boxed(),
            Ok(applied) => async move {
                match applied.await {
                    Ok(reply) => reply,
                    Err(e) => redirect(&topo, Some(slot), e).to_reply(),
                }
            }
            .boxed(),
        },
    }
}

/// FLUSHDB / FLUSHALL: applied to every shard this node leads (not atomically across them).
fn keyless_write(
    topo: Arc<crate::control::topology::Topology>,
    cmd: WriteCmd,
) -> BoxFuture<'static, Reply> {
    let led = topo.led_shards();
    if led.is_empty() {
        // Nothing here to flush: say so, as a Redis Cluster replica refuses writes.
        return ready(ClusterError::ReadOnly.to_reply()).boxed();
    }
    let submitted: Vec<_> = led.iter().map(|s| s.submit(&cmd)).collect();
    async move {
        let mut pending = Vec::new();
        for s in submitted {
            match s {
                Ok(f) => pending.push(f),
                Err(e) => return redirect(&topo, None, e).to_reply(),
            }
        }
        for r in join_all(pending).await {
            match r {
                Ok(Reply::Error(e)) => return Reply::Error(e),
                Ok(_) => {}
                Err(e) => return redirect(&topo, None, e).to_reply(),
            }
        }
        Reply::ok()
    }
    .boxed()
}

/// One read alone: a group of one (see [`check_reads`]).
pub async fn read(node: Arc<Node>, cmd: ReadCmd, stale_ok: bool, asking: bool) -> Reply {
    let mut checked = check_reads(node, vec![cmd], stale_ok, asking).await;
    checked
        .next()
        .unwrap_or_else(|| Reply::err("internal error: a read produced no reply"))
}

/// A key-less read (DBSIZE, KEYS, SCAN, RANDOMKEY): on a `READONLY` connection every replica
/// hosted here, as stored (stale); otherwise the shards this node leads (its primary slots),
/// each linearized.
async fn keyless_read(
    topo: &Arc<crate::control::topology::Topology>,
    cmd: &ReadCmd,
    stale_ok: bool,
) -> Reply {
    let Some(map) = topo.map.clone() else {
        return ClusterError::ClusterDown("no cluster map yet".into()).to_reply();
    };
    let shards = if stale_ok {
        topo.shards.values().cloned().collect()
    } else {
        let led = topo.led_shards();
        if led.is_empty() && !topo.shards.is_empty() {
            return Reply::err(
                "this node leads no shard: key-less reads cover a node's primary slots; send READONLY to read its replicas",
            );
        }
        for r in join_all(led.iter().map(|s| s.linearize())).await {
            if let Err(e) = r {
                return redirect(topo, None, e).to_reply();
            }
        }
        led
    };
    let readers: Vec<_> = shards
        .iter()
        .map(|s| (ShardId(s.id), s.reader.clone()))
        .collect();
    let ctx = ReadCtx {
        now_ms: now_ms(),
        random: rand::random(),
    };
    let multi = MultiReader::new(&map, &readers);
    if let ReadCmd::Keys { .. } = cmd {
        // KEYS walks every key of the node's shards, for as long as that takes: on a blocking
        // thread, so the other connections of this connection's thread are not held up.
        let cmd = cmd.clone();
        return tokio::task::spawn_blocking(move || reply_of(cmd.execute(&multi, &ctx)))
            .await
            .unwrap_or_else(|e| Reply::err(format!("internal error: KEYS failed: {e}")));
    }
    reply_of(cmd.execute(&multi, &ctx))
}

/// Reads sent one after another on a connection, checked together and then run one at a time,
/// in order, by [`CheckedReads::next`]. Every read routed to a hosted shard shares one leadership
/// check of that shard, started after all of them arrived, so each still sees every write
/// acknowledged before it was sent. Misrouted reads get their redirect; key-less ones are
/// answered here, each with its own checks. `asking`: the reads follow ASKING (a group of one).
pub async fn check_reads(
    node: Arc<Node>,
    cmds: Vec<ReadCmd>,
    stale_ok: bool,
    asking: bool,
) -> CheckedReads {
    let topo = node.topology();
    // The suite-only unsafe mode reads like READONLY everywhere, leaders included.
    let unsafe_reads = node.config.unsafe_stale_reads;
    let mode = Mode {
        readonly: stale_ok || unsafe_reads,
        asking,
    };
    let mut steps = Vec::with_capacity(cmds.len());
    let mut shards: Vec<(Arc<Shard>, Result<(), ShardError>)> = Vec::new();
    let mut checks = Vec::new();
    for cmd in cmds {
        let step = match route(&topo, &cmd.keys(), mode) {
            Err(e) => Step::Answered(e.to_reply()),
            Ok(Target::Keyless) => Step::Answered(keyless_read(&topo, &cmd, stale_ok).await),
            Ok(Target::Shard { slot, shard }) => {
                let index = match shards.iter().position(|(s, _)| s.id == shard.id) {
                    Some(index) => index,
                    None => {
                        // Each shard is checked once, unless it is read stale.
                        if !is_stale(shard, stale_ok, unsafe_reads) {
                            let shard = shard.clone();
                            checks.push((shards.len(), async move { shard.linearize().await }));
                        }
                        shards.push((shard.clone(), Ok(())));
                        shards.len() - 1
                    }
                };
                Step::Run {
                    cmd,
                    slot,
                    shard: index,
                }
            }
        };
        steps.push(step);
    }
    let (indexes, checks): (Vec<usize>, Vec<_>) = checks.into_iter().unzip();
    for (index, outcome) in indexes.into_iter().zip(join_all(checks).await) {
        shards[index].1 = outcome;
    }
    CheckedReads {
        topo,
        prefetch_at: steps.len(),
        steps: steps.into_iter(),
        shards,
        now_ms: None,
    }
}

/// Reads whose records [`CheckedReads`] prefetches at once: a window of a long pipeline's reads,
/// not all of them (the first would evict the last from the CPU's caches).
const PREFETCH_WINDOW: usize = 16;

/// Reads whose leadership checks are done (see [`check_reads`]), to run in order.
pub struct CheckedReads {
    topo: Arc<crate::control::topology::Topology>,
    steps: std::vec::IntoIter<Step>,
    /// Each shard the reads run on, once, and how its check ended (`Ok` for a stale read, which
    /// needs none). Steps name it by index: no reference per read.
    shards: Vec<(Arc<Shard>, Result<(), ShardError>)>,
    /// The wall clock the reads judge expiry by, read once for the group (after its checks,
    /// at its first read): the group's reads are answered as of one instant, and the clock is
    /// not read per read.
    now_ms: Option<u64>,
    /// Reads left when the next window of reads is prefetched.
    prefetch_at: usize,
}

enum Step {
    Answered(Reply),
    Run {
        cmd: ReadCmd,
        slot: u16,
        /// Index in [`CheckedReads::shards`].
        shard: usize,
    },
}

impl CheckedReads {
    /// Reads left to run.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.len() == 0
    }
}

/// Each step runs the next read on its shard's applied state and yields its reply (its
/// redirect, if its shard's check failed).
impl Iterator for CheckedReads {
    type Item = Reply;

    fn next(&mut self) -> Option<Reply> {
        if self.steps.len() == self.prefetch_at {
            self.prefetch_at = self.prefetch_at.saturating_sub(PREFETCH_WINDOW);
            self.prefetch();
        }
        Some(match self.steps.next()? {
            Step::Answered(reply) => reply,
            Step::Run { cmd, slot, shard } => match &self.shards[shard] {
                (_, Err(e)) => redirect(&self.topo, Some(slot), e.clone()).to_reply(),
                // Checked, or a stale read that needs no check.
                (shard, Ok(())) => {
                    let ctx = ReadCtx {
                        now_ms: *self.now_ms.get_or_insert_with(now_ms),
                        random: rand::random(),
                    };
                    execute_on(shard, &cmd, &ctx)
                }
            },
        })
    }
}

impl CheckedReads {
    /// Asks the CPU to load the records the next window of reads will read from the record
    /// cache, so their cache misses overlap (`tanli_storage::ShardReader::prefetch`). Only for
    /// windows of two reads or more: one read would only pay for the prefetch.
    fn prefetch(&self) {
        let window = &self.steps.as_slice()[..self.steps.len().min(PREFETCH_WINDOW)];
        let mut keys: Vec<&[u8]> = Vec::with_capacity(window.len());
        let mut on = None;
        for step in window {
            let Step::Run { cmd, shard, .. } = step else {
                continue;
            };
            let Some(key) = cmd.cached_key() else {
                continue;
            };
            if on.is_some_and(|s| s != *shard) {
                self.prefetch_on(on, &keys);
                keys.clear();
            }
            on = Some(*shard);
            keys.push(key);
        }
        self.prefetch_on(on, &keys);
    }

    fn prefetch_on(&self, shard: Option<usize>, keys: &[&[u8]]) {
        if let (Some(i), 2..) = (shard, keys.len()) {
            if let (shard, Ok(())) = &self.shards[i] {
                shard.reader.prefetch(keys);
            }
        }
    }
}

/// Whether a read of `shard` is answered from its applied state without a leadership check:
/// READONLY on a replica (possibly stale), or the suite-only unsafe mode.
fn is_stale(shard: &Shard, stale_ok: bool, unsafe_reads: bool) -> bool {
    (stale_ok && !shard.is_leader()) || unsafe_reads
}

/// Runs `cmd` on the shard's applied state (after its check, where one is due).
fn execute_on(shard: &Shard, cmd: &ReadCmd, ctx: &ReadCtx) -> Reply {
    if cmd.needs_view() {
        reply_of(shard.reader.with_view(|view| cmd.execute(view, ctx)))
    } else {
        reply_of(cmd.execute(&shard.reader, ctx))
    }
}

fn reply_of(r: Result<Reply, StorageError>) -> Reply {
    r.unwrap_or_else(|e| ClusterError::from(e).to_reply())
}
