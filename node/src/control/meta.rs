//! The meta shard's state machine (Raft group 0): the authoritative cluster map and the id
//! allocator, changed only by committed [`MetaCmd`] entries.
//!
//! One allocator hands out node ids and Raft peer ids from the same counter, so no id is ever
//! used twice for anything. A node's replica of the meta shard has the node's own id as its peer
//! id (a node joins the meta group once in its life). Every change bumps the map epoch.
//! Commands from the placement driver carry the epoch the driver planned against; a command
//! planned against an older map is refused (`Stale`), so a deposed driver cannot undo newer
//! decisions. Apply reads nothing but the command and the stored state: deterministic.

use serde::{Deserialize, Serialize};
use tanli_router::{
    ClusterMap, NodeId, NodeInfo, NodeState, PeerId, Replica, ReplicaMove, ShardId, ShardInfo,
};

use super::plans::{NodeOp, PlanKind, Step};
use tanli_storage::{Applier, KvRead, KvWrite, Record, StorageError};

/// The version byte of every encoded meta command, reply and state.
const META_V1: u8 = 1;

/// Where the meta state lives inside the meta shard's records (never a user key: the meta shard
/// serves no clients).
pub const STATE_KEY: &[u8] = b"tanli/meta/state";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum MetaCmd {
    /// Creates the cluster: `node` alone, `shards` data shards. Ignored once a map exists.
    Bootstrap {
        node: NodeInfo,
        shards: u16,
    },
    /// Registers a new node (state `Joining`) and allocates its id.
    Join {
        resp_addr: String,
        cluster_addr: String,
        weight: u32,
    },
    /// A node's addresses changed (its volume was mounted on another host).
    SetAddrs {
        node: NodeId,
        resp_addr: String,
        cluster_addr: String,
    },
    SetState {
        node: NodeId,
        state: NodeState,
        if_epoch: u64,
    },
    /// Adds a replica of `shard` on `node` with a freshly allocated peer id (the meta shard:
    /// a voter, whose peer id is the node id).
    AddReplica {
        shard: ShardId,
        node: NodeId,
        if_epoch: u64,
    },
    RemoveReplica {
        shard: ShardId,
        node: NodeId,
        if_epoch: u64,
    },
    /// Allocates a client id (for exactly-once writes) from the shared counter.
    NewClient,
    /// Leases, or renews, a Snowflake worker id for `holder` (see `leases.rs`).
    LeaseWorker {
        holder: u64,
        ttl_ms: u64,
    },
    // Placement (see `plans.rs`); added after the others so older entries still decode.
    /// Records a new plan; refused while one runs.
    PlanCreate {
        kind: PlanKind,
        reason: String,
        moves: Vec<ReplicaMove>,
        if_epoch: u64,
    },
    /// Advances move `index` of plan `plan` (editing the map where the step needs it).
    PlanStep {
        plan: u64,
        index: u32,
        step: Step,
        if_epoch: u64,
    },
    /// Cancels the running plan and holds automatic balancing.
    PlanCancel,
    SetHold {
        hold: bool,
    },
    /// The leader each listed data shard should have (the driver's assignment).
    SetLeaders {
        targets: Vec<(u64, u64)>,
    },
    /// An operator's choice of leader for a shard (kept by the driver).
    PinLeader {
        shard: ShardId,
        node: NodeId,
    },
    /// Drain, undrain or remove a node, checked against the map (`replication_factor`: the
    /// proposer's, for the drain check).
    Node {
        node: NodeId,
        op: NodeOp,
        replication_factor: u32,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum MetaReply {
    /// Applied; the map is now at `epoch`.
    Done {
        epoch: u64,
    },
    Joined {
        node: NodeId,
        epoch: u64,
    },
    /// Planned against an older map; nothing changed.
    Stale {
        epoch: u64,
    },
    /// Impossible (unknown node, invalid map); nothing changed.
    Refused(String),
    /// A newly allocated id.
    Id(u64),
    /// A worker id leased until `expires_ms` (log time); its ids must be after `not_before_ms`.
    Worker {
        worker: u16,
        expires_ms: u64,
        not_before_ms: u64,
    },
    /// A plan was created or cancelled.
    Plan {
        id: u64,
    },
}

/// Everything the meta shard knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaState {
    /// The next id to hand out (node or peer). Only grows.
    pub next_id: u64,
    /// The encoded [`ClusterMap`] (it validates itself on decode).
    pub map: Vec<u8>,
    /// Peer ids created by `Bootstrap`: the only replicas a node may initialise on its own.
    pub initial_peers: Vec<u64>,
}

pub(crate) fn encode_meta<T: Serialize>(v: &T) -> Vec<u8> {
    encode(v)
}

pub(crate) fn decode_meta<T: for<'de> Deserialize<'de>>(what: &str, b: &[u8]) -> Result<T, String> {
    decode(what, b)
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing plain enums and structs into a Vec cannot fail.
    postcard::to_extend(v, vec![META_V1]).expect("meta values always serialize")
}

fn decode<T: for<'de> Deserialize<'de>>(what: &str, b: &[u8]) -> Result<T, String> {
    match b.split_first() {
        Some((&META_V1, body)) => postcard::from_bytes(body).map_err(|e| format!("{what}: {e}")),
        Some((v, _)) => Err(format!("{what}: unknown version {v}")),
        None => Err(format!("{what}: empty")),
    }
}

impl MetaCmd {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Commands answered by `plans.rs` (they read and write the placement record).
    pub fn is_placement(&self) -> bool {
        matches!(
            self,
            MetaCmd::PlanCreate { .. }
                | MetaCmd::PlanStep { .. }
                | MetaCmd::PlanCancel
                | MetaCmd::SetHold { .. }
                | MetaCmd::SetLeaders { .. }
                | MetaCmd::PinLeader { .. }
                | MetaCmd::Node { .. }
        )
    }

    /// Whether `bytes` is an encoded [`MetaCmd::Join`] (the only request a node outside the
    /// cluster may send).
    pub fn is_join(bytes: &[u8]) -> bool {
        matches!(
            decode::<MetaCmd>("meta command", bytes),
            Ok(MetaCmd::Join { .. })
        )
    }
}

impl MetaReply {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(b: &[u8]) -> Result<MetaReply, String> {
        decode("meta reply", b)
    }
}

impl MetaState {
    /// The stored state, or `None` before `Bootstrap`.
    pub fn read(kv: &dyn KvRead) -> Result<Option<MetaState>, StorageError> {
        let Some(rec) = kv.get(STATE_KEY)? else {
            return Ok(None);
        };
        decode("meta state", &rec.data)
            .map(Some)
            .map_err(|detail| StorageError::Corrupt {
                what: "meta state",
                detail,
            })
    }

    pub fn map(&self) -> Result<ClusterMap, StorageError> {
        ClusterMap::decode(&self.map).map_err(|e| StorageError::Corrupt {
            what: "cluster map",
            detail: e.to_string(),
        })
    }

    fn alloc(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

/// Applies [`MetaCmd`]s to the meta shard.
pub struct MetaApplier;

impl Applier for MetaApplier {
    fn apply(
        &self,
        kv: &mut dyn KvWrite,
        log_time_ms: u64,
        cmd: &[u8],
    ) -> Result<Vec<u8>, StorageError> {
        let cmd: MetaCmd = match decode("meta command", cmd) {
            Ok(c) => c,
            Err(e) => return Ok(MetaReply::Refused(e).encode()),
        };
        let state = MetaState::read(kv)?;
        let (reply, new_state) = match (state, cmd) {
            (None, MetaCmd::Bootstrap { node, shards }) => bootstrap(node, shards),
            (Some(mut s), MetaCmd::NewClient) => (MetaReply::Id(s.alloc()), Some(s)),
            (Some(_), MetaCmd::LeaseWorker { holder, ttl_ms }) => {
                (super::leases::lease(kv, log_time_ms, holder, ttl_ms)?, None)
            }
            (None, _) => (
                MetaReply::Refused("the cluster is not bootstrapped".into()),
                None,
            ),
            (Some(s), cmd) if cmd.is_placement() => {
                let map = s.map()?;
                super::plans::apply(kv, log_time_ms, s, &map, cmd, change)?
            }
            (Some(s), cmd) => {
                let map = s.map()?;
                change(s, &map, cmd)
            }
        };
        if let Some(s) = new_state {
            kv.put(STATE_KEY, Record::string(encode(&s)))?;
        }
        Ok(reply.encode())
    }
}

fn bootstrap(node: NodeInfo, shards: u16) -> (MetaReply, Option<MetaState>) {
    let first = node.id.0;
    // The node's id is also its meta peer id; data peers follow.
    let map = ClusterMap::initial(node.clone(), shards, PeerId(first + 1)).and_then(|m| {
        m.with_shard(ShardInfo {
            id: ShardId::META,
            replicas: vec![Replica {
                node: node.id,
                peer: PeerId(first),
            }],
            leader: Some(node.id),
        })
    });
    match map {
        Err(e) => (MetaReply::Refused(e.to_string()), None),
        Ok(map) => {
            let state = MetaState {
                next_id: first + 1 + u64::from(shards),
                initial_peers: (first + 1..first + 1 + u64::from(shards)).collect(),
                map: map.encode(),
            };
            (MetaReply::Done { epoch: map.epoch() }, Some(state))
        }
    }
}

fn change(mut s: MetaState, map: &ClusterMap, cmd: MetaCmd) -> (MetaReply, Option<MetaState>) {
    let stale = |if_epoch: u64| if_epoch != map.epoch();
    let edited = match cmd {
        MetaCmd::Bootstrap { .. } => return (MetaReply::Done { epoch: map.epoch() }, None),
        // Answered by the applier before the map is touched.
        MetaCmd::NewClient | MetaCmd::LeaseWorker { .. } => {
            return (MetaReply::Refused("not a map change".into()), None)
        }
        MetaCmd::PlanCreate { .. }
        | MetaCmd::PlanStep { .. }
        | MetaCmd::PlanCancel
        | MetaCmd::SetHold { .. }
        | MetaCmd::SetLeaders { .. }
        | MetaCmd::PinLeader { .. }
        | MetaCmd::Node { .. } => return (MetaReply::Refused("not a map change".into()), None),
        MetaCmd::Join {
            resp_addr,
            cluster_addr,
            weight,
        } => {
            let id = NodeId(s.alloc());
            let info = NodeInfo {
                id,
                resp_addr,
                cluster_addr,
                state: NodeState::Joining,
                weight,
            };
            return match map.with_node(info) {
                Ok(m) => {
                    let epoch = m.epoch();
                    s.map = m.encode();
                    (MetaReply::Joined { node: id, epoch }, Some(s))
                }
                Err(e) => (MetaReply::Refused(e.to_string()), None),
            };
        }
        MetaCmd::SetAddrs {
            node,
            resp_addr,
            cluster_addr,
        } => match map.node(node) {
            None => Err(format!("unknown node {node}")),
            Some(n) if n.resp_addr == resp_addr && n.cluster_addr == cluster_addr => {
                return (MetaReply::Done { epoch: map.epoch() }, None)
            }
            Some(n) => map
                .with_node(NodeInfo {
                    resp_addr,
                    cluster_addr,
                    ..n.clone()
                })
                .map_err(|e| e.to_string()),
        },
        MetaCmd::SetState { if_epoch, .. }
        | MetaCmd::AddReplica { if_epoch, .. }
        | MetaCmd::RemoveReplica { if_epoch, .. }
            if stale(if_epoch) =>
        {
            return (MetaReply::Stale { epoch: map.epoch() }, None)
        }
        MetaCmd::SetState { node, state, .. } => match map.node(node) {
            None => Err(format!("unknown node {node}")),
            Some(n) => map
                .with_node(NodeInfo { state, ..n.clone() })
                .map_err(|e| e.to_string()),
        },
        MetaCmd::AddReplica { shard, node, .. } => match map.shard(shard) {
            None => Err(format!("unknown shard {shard}")),
            Some(info) if info.replica_on(node).is_some() => {
                return (MetaReply::Done { epoch: map.epoch() }, None)
            }
            Some(_) => {
                let peer = if shard == ShardId::META {
                    PeerId(node.0)
                } else {
                    PeerId(s.alloc())
                };
                map.with_replica_added(shard, Replica { node, peer })
                    .map_err(|e| e.to_string())
            }
        },
        MetaCmd::RemoveReplica { shard, node, .. } => match map.shard(shard) {
            None => Err(format!("unknown shard {shard}")),
            Some(info) if info.replicas.len() <= 1 => {
                Err(format!("shard {shard} would lose its last replica"))
            }
            Some(_) => map
                .with_replica_removed(shard, node)
                .map_err(|e| e.to_string()),
        },
    };
    match edited {
        Err(e) => (MetaReply::Refused(e), None),
        Ok(m) => {
            let epoch = m.epoch();
            s.map = m.encode();
            (MetaReply::Done { epoch }, Some(s))
        }
    }
}

#[cfg(test)]
#[path = "meta_tests.rs"]
mod tests;
