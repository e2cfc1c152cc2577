//! Replica placement on a consistent-hash ring: the order in which nodes are preferred for a
//! shard's replicas and leadership (the balance planner, `balance.rs`, breaks its ties with it).
//!
//! Placement is consistent hashing on a `hashring` ring. Each node is `weight *
//! VNODES_PER_WEIGHT` virtual nodes; a shard's replicas are the first `r` *distinct* nodes met
//! walking clockwise from the shard's position (`hashring` alone hands back ring entries, which
//! repeat nodes, so [`Ring`] wraps it). Because a vnode's position depends only on its own node
//! id and index, a node joining only inserts its vnodes into the walk and a node leaving only
//! deletes its own: for every shard, a join at most swaps the new node in for the last replica
//! and a leave only replaces the node that left. Only replicas that must move, move.
//!
//! Positions must agree across processes and builds, so nothing here uses `RandomState` or
//! `std::hash::Hash` of integers or slices (whose byte feed std does not promise to keep): the
//! ring hasher is `hashring`'s default, SipHash-2-4 with zero keys, and every hashed value feeds
//! it one fixed big-endian byte string.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use hashring::{DefaultHashBuilder, HashRing};

use crate::map::{ClusterMap, NodeId, NodeState, ShardId};

/// Virtual nodes per unit of weight: enough that shards spread within a few percent of the
/// weights, few enough that a ring of 100 heavy nodes stays around 100k entries.
pub const VNODES_PER_WEIGHT: u32 = 64;

/// The largest node weight; [`ClusterMap::new`] rejects larger ones and [`Ring::new`] clamps to
/// `1..=MAX_WEIGHT`, so one node can never flood the ring.
pub const MAX_WEIGHT: u32 = 16;

/// One point on the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VNode {
    node: NodeId,
    idx: u32,
}

impl Hash for VNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut bytes = [0u8; 14];
        bytes[..2].copy_from_slice(b"vn");
        bytes[2..10].copy_from_slice(&self.node.0.to_be_bytes());
        bytes[10..].copy_from_slice(&self.idx.to_be_bytes());
        state.write(&bytes);
    }
}

/// A shard's position on the ring (a different prefix from vnodes: a shard and a vnode with
/// equal numbers do not land on the same point).
struct ShardKey(ShardId);

impl Hash for ShardKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut bytes = [0u8; 10];
        bytes[..2].copy_from_slice(b"sh");
        bytes[2..].copy_from_slice(&self.0 .0.to_be_bytes());
        state.write(&bytes);
    }
}

/// A placement ring over a set of weighted nodes. Build once, ask for many shards.
pub struct Ring {
    ring: HashRing<VNode, DefaultHashBuilder>,
    nodes: usize,
}

impl Ring {
    /// A ring over `nodes` (`(id, weight)`). A node listed twice counts once, with its last
    /// weight; weights are clamped to `1..=MAX_WEIGHT`.
    pub fn new(nodes: &[(NodeId, u32)]) -> Ring {
        let weights: BTreeMap<NodeId, u32> = nodes.iter().copied().collect();
        // Vnodes go in sorted by (node, idx), so even two vnodes hashing to the same point
        // (hashring's sort is stable) keep an order that depends on nothing else on the ring.
        let vnodes: Vec<VNode> = weights
            .iter()
            .flat_map(|(&node, &weight)| {
                let count = weight.clamp(1, MAX_WEIGHT) * VNODES_PER_WEIGHT;
                (0..count).map(move |idx| VNode { node, idx })
            })
            .collect();
        let mut ring = HashRing::with_hasher(DefaultHashBuilder);
        ring.batch_add(vnodes);
        Ring {
            ring,
            nodes: weights.len(),
        }
    }

    /// Distinct nodes on the ring.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// The `min(r, node_count)` distinct nodes that should hold `shard`'s replicas, in ring
    /// order (the first is the shard's natural leader).
    pub fn replicas(&self, shard: ShardId, r: usize) -> Vec<NodeId> {
        let want = r.min(self.nodes);
        let mut chosen = Vec::with_capacity(want);
        if want == 0 {
            return chosen;
        }
        // With `replicas > len`, hashring returns the whole ring rotated to the shard's
        // position: the clockwise walk. O(ring) per call, fine for placement decisions.
        let walk = self
            .ring
            .get_with_replicas(&ShardKey(shard), usize::MAX)
            .unwrap_or_default();
        for vnode in walk {
            if !chosen.contains(&vnode.node) {
                chosen.push(vnode.node);
                if chosen.len() == want {
                    break;
                }
            }
        }
        chosen
    }
}

/// The `min(r, nodes)` distinct nodes that should hold `shard`'s replicas. Deterministic: every
/// process computes the same answer from the same input. See [`Ring`] to place many shards.
pub fn place(nodes: &[(NodeId, u32)], shard: ShardId, r: usize) -> Vec<NodeId> {
    Ring::new(nodes).replicas(shard, r)
}

/// The nodes that may receive replicas (state `Up`) with their weights: what placement is over.
pub fn up_nodes(map: &ClusterMap) -> Vec<(NodeId, u32)> {
    map.nodes()
        .values()
        .filter(|n| n.state == NodeState::Up)
        .map(|n| (n.id, n.weight))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(ids: &[u64]) -> Vec<(NodeId, u32)> {
        ids.iter().map(|&id| (NodeId(id), 1)).collect()
    }

    #[test]
    fn golden_placement_is_stable_across_builds() {
        // Pinned output: if this changes, every running cluster would disagree about placement.
        let placed = place(&nodes(&[1, 2, 3, 4, 5]), ShardId(7), 3);
        assert_eq!(placed, GOLDEN_7);
    }

    const GOLDEN_7: [NodeId; 3] = [NodeId(2), NodeId(3), NodeId(1)];

    #[test]
    fn fewer_nodes_than_replicas() {
        let placed = place(&nodes(&[9, 4]), ShardId(1), 3);
        assert_eq!(placed.len(), 2);
        assert!(placed.contains(&NodeId(9)) && placed.contains(&NodeId(4)));
        assert!(place(&[], ShardId(1), 3).is_empty());
        assert!(place(&nodes(&[1]), ShardId(1), 0).is_empty());
    }

    #[test]
    fn duplicates_and_zero_weights_count_once() {
        let ring = Ring::new(&[(NodeId(1), 0), (NodeId(1), 3), (NodeId(2), 1)]);
        assert_eq!(ring.node_count(), 2);
        assert_eq!(ring.replicas(ShardId(3), 5).len(), 2);
    }

    #[test]
    fn weights_skew_the_share_of_first_replicas() {
        let ring = Ring::new(&[(NodeId(1), 1), (NodeId(2), 4)]);
        let heavy = (1..=2000)
            .filter(|&s| ring.replicas(ShardId(s), 1) == [NodeId(2)])
            .count();
        // Expect about 4/5 of 2000.
        assert!((1400..=1800).contains(&heavy), "node 2 led {heavy} of 2000");
    }
}
