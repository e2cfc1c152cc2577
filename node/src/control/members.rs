//! On a group's leader: bring the group's Raft membership to what the cluster map says, one
//! safe step at a time — add missing replicas as learners, promote them to voters only once they
//! have caught up, drop voters and learners the map no longer lists.
//!
//! The map says *where* replicas should be; this is the only code that changes a Raft
//! configuration. Because it runs on whichever node leads the group now and reads the map
//! afresh every time, a change interrupted by a crash or a leader change simply resumes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::rt::watch::WatchReceiver;
use openraft::{ChangeMembers, Instant};
use tanli_router::{ClusterMap, NodeId, ShardId};
use tanli_storage::types::PeerAddr;

use crate::shard::Shard;

/// The membership the map asks of `shard`: voters, and (meta shard) every other node as a
/// learner, each with its address. Peer ids of meta replicas are node ids.
pub fn desired(
    map: &ClusterMap,
    shard: ShardId,
) -> Option<(BTreeMap<u64, PeerAddr>, BTreeMap<u64, PeerAddr>)> {
    let info = map.shard(shard)?;
    let addr = |node: tanli_router::NodeId| {
        map.node(node).map(|n| PeerAddr {
            node_id: node.0,
            cluster_addr: n.cluster_addr.clone(),
            resp_addr: n.resp_addr.clone(),
        })
    };
    let voters: BTreeMap<u64, PeerAddr> = info
        .replicas
        .iter()
        .filter_map(|r| Some((r.peer.0, addr(r.node)?)))
        .collect();
    let mut learners = BTreeMap::new();
    if shard == ShardId::META {
        for n in map.nodes().values() {
            if n.state != tanli_router::NodeState::Removed && !voters.contains_key(&n.id.0) {
                if let Some(a) = addr(n.id) {
                    learners.insert(n.id.0, a);
                }
            }
        }
    }
    (!voters.is_empty()).then_some((voters, learners))
}

/// The replica that should lead `shard`: the first live replica in placement order (the ring's
/// order for the shard over the map's `Up` nodes), as its peer id. Placement spreads first
/// replicas evenly by weight, so leaders spread too.
pub fn preferred_leader(
    map: &ClusterMap,
    shard: ShardId,
    live: impl Fn(NodeId) -> bool,
) -> Option<u64> {
    let info = map.shard(shard)?;
    let up = tanli_router::up_nodes(map);
    tanli_router::place(&up, shard, up.len())
        .into_iter()
        .filter(|n| live(*n))
        .find_map(|n| info.replica_on(n).map(|r| r.peer.0))
}

/// The data shard's leader as the placement record wants it (`plans.rs`), as a peer id, if that
/// node is live, `Up` and a replica; else `None` (leadership stays where it is).
pub fn target_leader(
    map: &ClusterMap,
    placement: &crate::control::plans::Placement,
    shard: ShardId,
    live: impl Fn(NodeId) -> bool,
) -> Option<u64> {
    let (node, _) = placement.leaders.get(&shard.0)?;
    let node = NodeId(*node);
    let up = map
        .node(node)
        .is_some_and(|n| n.state == tanli_router::NodeState::Up);
    if !up || !live(node) {
        return None;
    }
    map.shard(shard)?.replica_on(node).map(|r| r.peer.0)
}

/// One reconciling step on `shard`, if this replica leads it. Returns what it did, for logs.
/// Once the membership matches, leadership moves to `preferred` (a voter peer id) if it has
/// caught up and `transfer_allowed` — so leaders spread over the nodes as placement ranks them
/// instead of staying wherever the shard began.
#[allow(clippy::too_many_arguments)]
pub async fn step(
    shard: &Shard,
    voters: BTreeMap<u64, PeerAddr>,
    learners: BTreeMap<u64, PeerAddr>,
    preferred: Option<u64>,
    transfer_allowed: bool,
    catchup_lag_max: u64,
    fresh: Duration,
    timeout: Duration,
) -> Result<Option<String>, String> {
    let m = shard.raft.metrics().borrow_watched().clone();
    if m.state != openraft::ServerState::Leader {
        return Ok(None);
    }
    // A peer counts as caught up when it is within `catchup_lag_max` entries of the leader and
    // has acknowledged the leader within `fresh` (a replica that died after catching up is not
    // made a voter, nor handed the leadership).
    let last = m.last_log_index.unwrap_or(0);
    let caught_up = |peer: u64| {
        let matched = m
            .replication
            .as_ref()
            .and_then(|r| r.get(&peer).cloned().flatten())
            .map(|l| l.index)
            .unwrap_or(0);
        let acked = m
            .heartbeat
            .as_ref()
            .and_then(|h| h.get(&peer).cloned().flatten())
            .is_some_and(|t| t.elapsed() <= fresh);
        matched + catchup_lag_max >= last && acked
    };
    let membership = m.membership_config.membership().clone();
    if membership.get_joint_config().len() > 1 {
        // A change is in progress; openraft finishes it.
        tracing::debug!(shard = shard.id, "membership change in progress");
        return Ok(None);
    }
    let present: BTreeSet<u64> = membership.nodes().map(|(id, _)| *id).collect();
    let current_voters: BTreeSet<u64> = membership.voter_ids().collect();
    let run = |what: String| async move {
        tracing::info!(shard = shard.id, change = %what, "membership change");
        Ok::<_, String>(Some(what))
    };
    // 1. Missing replicas join as learners (without waiting: catch-up is checked below).
    for (peer, addr) in voters.iter().chain(learners.iter()) {
        if !present.contains(peer) {
            tokio::time::timeout(timeout, shard.raft.add_learner(*peer, addr.clone(), false))
                .await
                .map_err(|_| format!("adding learner {peer} timed out"))?
                .map_err(|e| format!("adding learner {peer}: {e}"))?;
            return run(format!("learner {peer} added")).await;
        }
    }
    // 2. Voters as the map says, once every new voter has caught up. A leader the map drops
    //    first hands leadership to a caught-up voter that stays, so the group never waits out
    //    an election for a leader that removed itself.
    let want: BTreeSet<u64> = voters.keys().copied().collect();
    if want != current_voters && !want.contains(&m.id) {
        let heir = preferred
            .filter(|p| want.contains(p) && current_voters.contains(p))
            .into_iter()
            .chain(want.intersection(&current_voters).copied())
            .find(|p| caught_up(*p));
        tracing::debug!(
            shard = shard.id,
            ?want,
            ?current_voters,
            ?heir,
            "leader leaving its group"
        );
        if let Some(to) = heir {
            shard.offer_leadership(to).await?;
            return run(format!("leadership handed to peer {to} before leaving")).await;
        }
    }
    if want != current_voters {
        let lagging: Vec<u64> = want
            .difference(&current_voters)
            .filter(|p| !caught_up(**p))
            .copied()
            .collect();
        if !lagging.is_empty() {
            return Ok(None);
        }
        let change = ChangeMembers::ReplaceAllVoters(want.clone());
        change_membership(shard, change, "voter change", timeout).await?;
        return run(format!("voters now {want:?}")).await;
    }
    // 3. Learners nobody asked for leave.
    let extra: BTreeSet<u64> = membership
        .learner_ids()
        .filter(|p| !learners.contains_key(p) && !voters.contains_key(p))
        .collect();
    if !extra.is_empty() {
        let change = ChangeMembers::RemoveNodes(extra.clone());
        change_membership(shard, change, "learner removal", timeout).await?;
        return run(format!("learners {extra:?} removed")).await;
    }
    // 4. Leadership to the preferred replica, once it has caught up.
    if let Some(to) = preferred.filter(|p| *p != m.id && want.contains(p) && transfer_allowed) {
        if caught_up(to) {
            shard.offer_leadership(to).await?;
            return run(format!("leadership offered to peer {to}")).await;
        }
    }
    Ok(None)
}

/// One Raft configuration change (`retain = false`: voters left out leave), within `timeout`.
async fn change_membership(
    shard: &Shard,
    change: ChangeMembers<u64, PeerAddr>,
    what: &str,
    timeout: Duration,
) -> Result<(), String> {
    tokio::time::timeout(timeout, shard.change_membership(change))
        .await
        .map_err(|_| format!("{what} timed out"))?
        .map_err(|e| format!("{what}: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use tanli_router::{NodeState, PeerId, Replica, ShardInfo};

    use super::*;

    use crate::control::test_node as node;

    /// Nodes 1..=4 (4 still joining); shard 1 on 1, 2, 3; the meta shard's voters 1 and 2.
    fn map() -> ClusterMap {
        let m = ClusterMap::initial(node(1, NodeState::Up), 1, PeerId(100)).expect("map");
        let m = m
            .with_node(node(2, NodeState::Up))
            .and_then(|m| m.with_node(node(3, NodeState::Up)))
            .and_then(|m| m.with_node(node(4, NodeState::Joining)))
            .expect("nodes");
        let replicas = |ids: &[(u64, u64)]| -> Vec<Replica> {
            ids.iter()
                .map(|&(n, p)| Replica {
                    node: NodeId(n),
                    peer: PeerId(p),
                })
                .collect()
        };
        m.with_shard(ShardInfo {
            id: ShardId(1),
            replicas: replicas(&[(1, 100), (2, 101), (3, 102)]),
            leader: None,
        })
        .and_then(|m| {
            m.with_shard(ShardInfo {
                id: ShardId::META,
                replicas: replicas(&[(1, 1), (2, 2)]),
                leader: None,
            })
        })
        .expect("shards")
    }

    #[test]
    fn desired_membership_of_data_and_meta_shards() {
        let m = map();
        let (voters, learners) = desired(&m, ShardId(1)).expect("shard 1");
        assert_eq!(voters.keys().copied().collect::<Vec<_>>(), [100, 101, 102]);
        assert_eq!(voters[&101].node_id, 2);
        assert!(learners.is_empty(), "data shards want no learners");
        let (voters, learners) = desired(&m, ShardId::META).expect("meta");
        assert_eq!(voters.keys().copied().collect::<Vec<_>>(), [1, 2]);
        // Every other node holds a meta learner, peer id = node id.
        assert_eq!(learners.keys().copied().collect::<Vec<_>>(), [3, 4]);
        assert!(desired(&m, ShardId(9)).is_none());
    }

    #[test]
    fn preferred_leader_is_the_first_live_replica_in_placement_order() {
        let m = map();
        let all = |_: NodeId| true;
        let first = preferred_leader(&m, ShardId(1), all).expect("a preferred replica");
        assert!([100, 101, 102].contains(&first));
        // The preferred node is down: the next replica in ring order, never a non-replica.
        let first_node = m
            .shard(ShardId(1))
            .and_then(|s| s.replicas.iter().find(|r| r.peer.0 == first))
            .map(|r| r.node)
            .expect("node");
        let next = preferred_leader(&m, ShardId(1), |n| n != first_node).expect("next");
        assert_ne!(next, first);
        assert!([100, 101, 102].contains(&next));
        assert_eq!(preferred_leader(&m, ShardId(1), |_| false), None);
    }
}
