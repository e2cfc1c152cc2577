//! The routing hints laid over the cluster map before it is published: who leads each shard
//! and where live nodes are now. Hints are not authority (the epoch stays); they are what lets
//! a node redirect a client without asking anyone.

use std::collections::BTreeMap;
use std::sync::Arc;

use tanli_router::{ClusterMap, NodeId};

use crate::control::gossip::Announcement;

/// `map` with each shard's leader hint: for a shard hosted here, what this replica's Raft knows
/// (no leader known — an election is under way — means no hint, so clients are told to retry
/// instead of being sent to a leader that may be gone); for any other shard, the gossiped claim
/// with the highest term (a dead leader's claim lingers until gossip notices, but loses to its
/// successor's). Live nodes' addresses are taken from gossip (a re-mounted node is reachable at
/// its new address before the meta shard records it).
pub fn hint_leaders(
    map: &ClusterMap,
    hosted: &BTreeMap<u64, Arc<crate::shard::Shard>>,
    live: &BTreeMap<u64, Announcement>,
) -> ClusterMap {
    let mut m = map.clone();
    for id in map.shards().keys() {
        let hint = match hosted.get(&id.0) {
            Some(s) => s.leader_node().map(NodeId),
            None => live
                .values()
                .filter_map(|a| {
                    let (_, term) = a.leads.iter().find(|(s, _)| *s == id.0)?;
                    Some((*term, a.node_id))
                })
                .max()
                .map(|(_, node)| NodeId(node)),
        };
        if m.set_leader_hint(*id, hint).is_err() {
            tracing::debug!(
                shard = id.0,
                ?hint,
                "leader hint names no replica in this map"
            );
        }
    }
    // Where live nodes are now (a re-mounted node, before the meta shard records it).
    for a in live.values() {
        let node = NodeId(a.node_id);
        let (resp, cluster) = (a.resp_addr.to_string(), a.cluster_addr.to_string());
        let moved = m
            .node(node)
            .is_some_and(|n| n.resp_addr != resp || n.cluster_addr != cluster);
        if moved {
            let _ = m.set_node_addrs(node, resp, cluster);
        }
    }
    m
}
