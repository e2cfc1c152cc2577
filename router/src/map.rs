//! The cluster map: which nodes exist, which shard owns each slot, and where each shard's replicas
//! live. One immutable, validated value per `epoch`.
//!
//! The meta shard (Raft group 0) holds the authoritative map and bumps the epoch on every change;
//! nodes publish it as an `Arc<ClusterMap>` and route with it. The constructor is the one gate:
//! a `ClusterMap` that exists has every slot owned exactly once by a known data shard, every
//! replica on a known node, no node twice in a shard, no peer id twice anywhere, and leader hints
//! that name replicas. Decoding goes through the same gate, so a map read from disk or the wire
//! is checked exactly like one built in memory.
//!
//! **Shard 0 is the meta shard.** It owns no slots (a range naming it is rejected). The map may
//! list it in `shards` so that every node knows where it lives and its peer ids take part in the
//! uniqueness check, but its membership is driven by its own Raft configuration, not by
//! the balance planner (`crate::plan`). Data shards have ids 1 and up.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::placement::MAX_WEIGHT;
use crate::slot::SLOT_COUNT;

/// The version byte that leads every encoded map. Bump it when the encoded fields change shape.
pub const MAP_VERSION: u8 = 1;

/// A node: one `tanli-server` process with one data directory. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u64);

/// A shard: one Raft group owning slot ranges. 0 is the meta shard, data shards start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ShardId(pub u64);

impl ShardId {
    /// The meta shard, which holds the cluster map and owns no slots.
    pub const META: ShardId = ShardId(0);
}

/// A replica's Raft node id inside its group. Unique across the whole cluster and never reused,
/// so a removed replica that wakes up cannot pass for a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerId(pub u64);

macro_rules! display_id {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}
display_id!(NodeId, ShardId, PeerId);

/// Where a node is in its life, as the meta shard records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// Registered, not yet given replicas.
    Joining,
    /// Serving; the only state that receives replicas.
    Up,
    /// Leaving: its replicas are moved elsewhere.
    Draining,
    /// Gone for good; kept so its id is never reused.
    Removed,
    /// Dead longer than the grace period: its replicas are replaced elsewhere. Back to `Up` when
    /// it is heard from again. (Added after the others, so maps encoded before it still decode.)
    Down,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: NodeId,
    /// `host:port` that Redis clients connect to (what `MOVED` names).
    pub resp_addr: String,
    /// `host:port` of gossip and Raft RPC.
    pub cluster_addr: String,
    pub state: NodeState,
    /// Relative capacity, `1..=MAX_WEIGHT`: placement gives a node replicas in proportion.
    pub weight: u32,
}

/// Slots `start..=end` belong to `shard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRange {
    pub start: u16,
    /// Inclusive.
    pub end: u16,
    pub shard: ShardId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    pub node: NodeId,
    pub peer: PeerId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub id: ShardId,
    pub replicas: Vec<Replica>,
    /// The last known leader: a hint for routing, never an authority.
    pub leader: Option<NodeId>,
}

impl ShardInfo {
    /// The replica on `node`, if any.
    pub fn replica_on(&self, node: NodeId) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.node == node)
    }
}

/// Why a map is not a valid cluster map, or could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("slot {slot} is owned by no shard")]
    SlotUnowned { slot: u16 },
    #[error("slot {slot} is owned twice, by shard {first} and shard {second}")]
    SlotOwnedTwice {
        slot: u16,
        first: ShardId,
        second: ShardId,
    },
    #[error("slot range {start}..={end} is empty or beyond slot {}", SLOT_COUNT - 1)]
    BadRange { start: u16, end: u16 },
    #[error("slot range {start}..={end} names unknown shard {shard}")]
    RangeUnknownShard {
        start: u16,
        end: u16,
        shard: ShardId,
    },
    #[error("the meta shard (0) owns no slots, but range {start}..={end} names it")]
    MetaShardOwnsSlots { start: u16, end: u16 },
    #[error("node entry keyed {key} describes node {id}")]
    NodeKeyMismatch { key: NodeId, id: NodeId },
    #[error("shard entry keyed {key} describes shard {id}")]
    ShardKeyMismatch { key: ShardId, id: ShardId },
    #[error("node {node} has weight {weight}, outside 1..={MAX_WEIGHT}")]
    BadWeight { node: NodeId, weight: u32 },
    #[error("shard {shard} has a replica on unknown node {node}")]
    ReplicaUnknownNode { shard: ShardId, node: NodeId },
    #[error("shard {shard} has two replicas on node {node}")]
    DuplicateNode { shard: ShardId, node: NodeId },
    #[error("peer id {peer} is used twice")]
    DuplicatePeer { peer: PeerId },
    #[error("shard {shard}'s leader hint {node} is not one of its replicas")]
    LeaderNotReplica { shard: ShardId, node: NodeId },
    #[error("unknown shard {shard}")]
    UnknownShard { shard: ShardId },
    #[error("no node {node} in the map")]
    UnknownNode { node: NodeId },
    #[error("a cluster needs 1..={SLOT_COUNT} data shards, not {count}")]
    BadShardCount { count: u16 },
    #[error("peer ids ran past u64::MAX")]
    PeerIdOverflow,
    #[error("encoded map is empty")]
    Empty,
    #[error("encoded map has version {found}, this build reads version {MAP_VERSION}")]
    Version { found: u8 },
    #[error("encoded map is malformed: {0}")]
    Decode(#[from] postcard::Error),
}

/// The serialized form: exactly the constructor's inputs. The slot table is derived, never
/// stored, and deserializing re-runs every check ([`ClusterMap::new`]).
#[derive(Clone, Serialize, Deserialize)]
struct MapParts {
    epoch: u64,
    nodes: BTreeMap<NodeId, NodeInfo>,
    ranges: Vec<SlotRange>,
    shards: BTreeMap<ShardId, ShardInfo>,
}

/// A validated cluster map. See the module doc for what "validated" promises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MapParts", into = "MapParts")]
pub struct ClusterMap {
    epoch: u64,
    nodes: BTreeMap<NodeId, NodeInfo>,
    /// Sorted by `start`, tiling `0..SLOT_COUNT`, adjacent ranges of one shard merged.
    ranges: Vec<SlotRange>,
    shards: BTreeMap<ShardId, ShardInfo>,
    /// `slot_table[slot]` is the owner of `slot`: routing is one index, no search. Shared by
    /// clones, which only change hints and addresses: the node copies the map each control round
    /// to lay its routing hints over it.
    slot_table: Arc<[ShardId]>,
}

impl TryFrom<MapParts> for ClusterMap {
    type Error = MapError;
    fn try_from(p: MapParts) -> Result<ClusterMap, MapError> {
        ClusterMap::new(p.epoch, p.nodes, p.ranges, p.shards)
    }
}

impl From<ClusterMap> for MapParts {
    fn from(m: ClusterMap) -> MapParts {
        MapParts {
            epoch: m.epoch,
            nodes: m.nodes,
            ranges: m.ranges,
            shards: m.shards,
        }
    }
}

impl ClusterMap {
    /// Validates and builds a map. `ranges` may come in any order; they are stored sorted, with
    /// adjacent ranges of the same shard merged, so equal maps encode to equal bytes.
    pub fn new(
        epoch: u64,
        nodes: BTreeMap<NodeId, NodeInfo>,
        ranges: Vec<SlotRange>,
        shards: BTreeMap<ShardId, ShardInfo>,
    ) -> Result<ClusterMap, MapError> {
        for (&key, info) in &nodes {
            if key != info.id {
                return Err(MapError::NodeKeyMismatch { key, id: info.id });
            }
            if !(1..=MAX_WEIGHT).contains(&info.weight) {
                return Err(MapError::BadWeight {
                    node: key,
                    weight: info.weight,
                });
            }
        }
        let mut peers = BTreeSet::new();
        for (&key, info) in &shards {
            if key != info.id {
                return Err(MapError::ShardKeyMismatch { key, id: info.id });
            }
            let mut seen = BTreeSet::new();
            for replica in &info.replicas {
                if !nodes.contains_key(&replica.node) {
                    return Err(MapError::ReplicaUnknownNode {
                        shard: key,
                        node: replica.node,
                    });
                }
                if !seen.insert(replica.node) {
                    return Err(MapError::DuplicateNode {
                        shard: key,
                        node: replica.node,
                    });
                }
                if !peers.insert(replica.peer) {
                    return Err(MapError::DuplicatePeer { peer: replica.peer });
                }
            }
            if let Some(node) = info.leader {
                if !seen.contains(&node) {
                    return Err(MapError::LeaderNotReplica { shard: key, node });
                }
            }
        }
        let mut owner: Vec<Option<ShardId>> = vec![None; usize::from(SLOT_COUNT)];
        for r in &ranges {
            let (start, end) = (r.start, r.end);
            if start > end || end >= SLOT_COUNT {
                return Err(MapError::BadRange { start, end });
            }
            if r.shard == ShardId::META {
                return Err(MapError::MetaShardOwnsSlots { start, end });
            }
            if !shards.contains_key(&r.shard) {
                return Err(MapError::RangeUnknownShard {
                    start,
                    end,
                    shard: r.shard,
                });
            }
            for slot in start..=end {
                let cell = &mut owner[usize::from(slot)];
                if let Some(first) = *cell {
                    return Err(MapError::SlotOwnedTwice {
                        slot,
                        first,
                        second: r.shard,
                    });
                }
                *cell = Some(r.shard);
            }
        }
        let slot_table = owner
            .iter()
            .zip(0..SLOT_COUNT)
            .map(|(cell, slot)| cell.ok_or(MapError::SlotUnowned { slot }))
            .collect::<Result<Arc<[ShardId]>, MapError>>()?;
        let ranges = ranges_of_table(&slot_table);
        Ok(ClusterMap {
            epoch,
            nodes,
            ranges,
            shards,
            slot_table,
        })
    }

    /// The map a new cluster starts with (epoch 1): `node` alone, `shard_count` data shards with
    /// ids `1..=shard_count`, each owning one contiguous slot range (sizes differ by at most one
    /// slot), each with one replica on `node` (peer ids `first_peer_id`, `first_peer_id + 1`, …)
    /// and `node` as the leader hint. The meta shard is not listed: its first peer id is the
    /// caller's to allocate outside `first_peer_id..first_peer_id + shard_count`.
    pub fn initial(
        node: NodeInfo,
        shard_count: u16,
        first_peer_id: PeerId,
    ) -> Result<ClusterMap, MapError> {
        if shard_count == 0 || shard_count > SLOT_COUNT {
            return Err(MapError::BadShardCount { count: shard_count });
        }
        let n = u32::from(shard_count);
        // First slot of shard i (0-based); i == n gives SLOT_COUNT, which fits in u16.
        let bound = |i: u32| (i * u32::from(SLOT_COUNT) / n) as u16;
        let mut ranges = Vec::with_capacity(usize::from(shard_count));
        let mut shards = BTreeMap::new();
        for i in 0..n {
            let shard = ShardId(u64::from(i) + 1);
            ranges.push(SlotRange {
                start: bound(i),
                end: bound(i + 1) - 1,
                shard,
            });
            let peer = first_peer_id
                .0
                .checked_add(u64::from(i))
                .ok_or(MapError::PeerIdOverflow)?;
            let peer = PeerId(peer);
            let replicas = vec![Replica {
                node: node.id,
                peer,
            }];
            shards.insert(
                shard,
                ShardInfo {
                    id: shard,
                    replicas,
                    leader: Some(node.id),
                },
            );
        }
        let nodes = BTreeMap::from([(node.id, node)]);
        ClusterMap::new(1, nodes, ranges, shards)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn nodes(&self) -> &BTreeMap<NodeId, NodeInfo> {
        &self.nodes
    }

    pub fn node(&self, id: NodeId) -> Option<&NodeInfo> {
        self.nodes.get(&id)
    }

    /// Slot ownership, sorted by `start`, tiling every slot exactly once.
    pub fn ranges(&self) -> &[SlotRange] {
        &self.ranges
    }

    pub fn shards(&self) -> &BTreeMap<ShardId, ShardInfo> {
        &self.shards
    }

    pub fn shard(&self, id: ShardId) -> Option<&ShardInfo> {
        self.shards.get(&id)
    }

    /// The shard owning `slot`.
    ///
    /// # Panics
    /// If `slot >= SLOT_COUNT`; [`crate::slot_of`] never returns such a slot, and a slot number
    /// from a client (`CLUSTER COUNTKEYSINSLOT`) must be checked first.
    pub fn shard_of_slot(&self, slot: u16) -> ShardId {
        self.slot_table[usize::from(slot)]
    }

    /// The inclusive slot ranges `shard` owns, in slot order; empty for the meta shard or an
    /// unknown shard.
    pub fn slots_of_shard(&self, shard: ShardId) -> Vec<(u16, u16)> {
        self.ranges
            .iter()
            .filter(|r| r.shard == shard)
            .map(|r| (r.start, r.end))
            .collect()
    }

    /// The shards with a replica on `node`, in id order.
    pub fn shards_on_node(&self, node: NodeId) -> Vec<ShardId> {
        self.shards
            .values()
            .filter(|s| s.replica_on(node).is_some())
            .map(|s| s.id)
            .collect()
    }

    /// The largest peer id in the map, if any. A peer id allocator must also remember ids of
    /// replicas already removed; this is only a floor.
    pub fn max_peer_id(&self) -> Option<PeerId> {
        self.shards
            .values()
            .flat_map(|s| s.replicas.iter().map(|r| r.peer))
            .max()
    }

    /// This map with `replica` added to `shard`, at the next epoch.
    pub fn with_replica_added(
        &self,
        shard: ShardId,
        replica: Replica,
    ) -> Result<ClusterMap, MapError> {
        self.with_shard_changed(shard, |info| info.replicas.push(replica))
    }

    /// This map with `shard`'s replica on `node` removed (and the leader hint cleared if it named
    /// `node`), at the next epoch. Removing a replica that is not there changes nothing but the
    /// epoch.
    pub fn with_replica_removed(
        &self,
        shard: ShardId,
        node: NodeId,
    ) -> Result<ClusterMap, MapError> {
        self.with_shard_changed(shard, |info| {
            info.replicas.retain(|r| r.node != node);
            if info.leader == Some(node) {
                info.leader = None;
            }
        })
    }

    /// This map with `info` added or replacing the node of the same id, at the next epoch.
    pub fn with_node(&self, info: NodeInfo) -> Result<ClusterMap, MapError> {
        let mut parts = MapParts::from(self.clone());
        parts.nodes.insert(info.id, info);
        parts.epoch += 1;
        parts.try_into()
    }

    /// This map with `info` added or replacing the shard of the same id, at the next epoch.
    pub fn with_shard(&self, info: ShardInfo) -> Result<ClusterMap, MapError> {
        let mut parts = MapParts::from(self.clone());
        parts.shards.insert(info.id, info);
        parts.epoch += 1;
        parts.try_into()
    }

    /// This map with `change` applied to `shard`, validated again, at the next epoch.
    fn with_shard_changed(
        &self,
        shard: ShardId,
        change: impl FnOnce(&mut ShardInfo),
    ) -> Result<ClusterMap, MapError> {
        let mut parts = MapParts::from(self.clone());
        let info = parts
            .shards
            .get_mut(&shard)
            .ok_or(MapError::UnknownShard { shard })?;
        change(info);
        parts.epoch += 1;
        parts.try_into()
    }

    /// Records who leads `shard` as last seen (from Raft or gossip). Hints are not authoritative,
    /// so the epoch stays; the hint must still name a replica.
    pub fn set_leader_hint(
        &mut self,
        shard: ShardId,
        leader: Option<NodeId>,
    ) -> Result<(), MapError> {
        let info = self
            .shards
            .get_mut(&shard)
            .ok_or(MapError::UnknownShard { shard })?;
        if let Some(node) = leader {
            if info.replica_on(node).is_none() {
                return Err(MapError::LeaderNotReplica { shard, node });
            }
        }
        info.leader = leader;
        Ok(())
    }

    /// Records where `node` is reachable now, as gossip says (after a volume re-mount, before
    /// the meta shard has recorded it). A hint like the leader hint: the epoch stays.
    pub fn set_node_addrs(
        &mut self,
        node: NodeId,
        resp_addr: String,
        cluster_addr: String,
    ) -> Result<(), MapError> {
        let info = self
            .nodes
            .get_mut(&node)
            .ok_or(MapError::UnknownNode { node })?;
        info.resp_addr = resp_addr;
        info.cluster_addr = cluster_addr;
        Ok(())
    }

    /// The persisted and wire form: [`MAP_VERSION`], then the map in postcard.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing into a Vec fails only for sequences of unknown length; there are none here.
        postcard::to_extend(self, vec![MAP_VERSION]).expect("a cluster map always serializes")
    }

    /// Reads [`ClusterMap::encode`]'s bytes, checking the version and every invariant of `new`.
    pub fn decode(bytes: &[u8]) -> Result<ClusterMap, MapError> {
        let (&version, body) = bytes.split_first().ok_or(MapError::Empty)?;
        if version != MAP_VERSION {
            return Err(MapError::Version { found: version });
        }
        // Through the parts, not `ClusterMap`'s own Deserialize, so a map that fails validation
        // reports which check failed (serde would flatten it into postcard's custom error).
        let p: MapParts = postcard::from_bytes(body)?;
        p.try_into()
    }
}

/// The sorted, merged ranges of a complete slot table.
fn ranges_of_table(table: &[ShardId]) -> Vec<SlotRange> {
    let mut ranges: Vec<SlotRange> = Vec::new();
    for (slot, &shard) in (0..SLOT_COUNT).zip(table) {
        match ranges.last_mut() {
            Some(last) if last.shard == shard => last.end = slot,
            _ => ranges.push(SlotRange {
                start: slot,
                end: slot,
                shard,
            }),
        }
    }
    ranges
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
