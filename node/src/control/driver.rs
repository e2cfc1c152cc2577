//! The placement driver, run by the meta shard's leader: decides the next change to the cluster
//! map. It never touches a Raft group itself — it edits the map, and each group's leader makes
//! its membership follow (`members`).
//!
//! One decision per round, in order of urgency: admit live joining nodes (`Joining` → `Up`);
//! give the meta shard up to [`META_VOTERS`] voters; then replica moves from
//! [`tanli_router::plan_replicas`] (adds before removes), at most `moves_in_flight_max` shards
//! changing at once, and never a remove on a shard whose last change has not finished (its
//! committed voters differ from the map), so a shard never drops below its replicas.
//! Every command is conditioned on the epoch it was planned against.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use futures::future::join_all;
use tanli_router::{place, plan_replicas, ClusterMap, Move, NodeId, NodeState, ShardId};

use crate::control::client;
use crate::control::meta::MetaCmd;
use crate::raft::transport::Transport;

/// Voters of the meta shard; every other node holds a learner replica.
pub const META_VOTERS: usize = 3;

pub struct DriverInput<'a> {
    pub map: &'a ClusterMap,
    /// Nodes gossip sees alive.
    pub live: &'a BTreeSet<u64>,
    /// Shard id → cluster address of its leader (hint), for membership queries.
    pub leaders: BTreeMap<u64, SocketAddr>,
    pub replication_factor: usize,
    pub moves_in_flight_max: usize,
    pub rpc_timeout: Duration,
}

/// The next map change, if any.
pub async fn next(transport: &Transport, input: DriverInput<'_>) -> Option<MetaCmd> {
    let map = input.map;
    let epoch = map.epoch();
    for n in map.nodes().values() {
        if n.state == NodeState::Joining && input.live.contains(&n.id.0) {
            return Some(MetaCmd::SetState {
                node: n.id,
                state: NodeState::Up,
                if_epoch: epoch,
            });
        }
    }
    let up_live: Vec<(NodeId, u32)> = map
        .nodes()
        .values()
        .filter(|n| n.state == NodeState::Up && input.live.contains(&n.id.0))
        .map(|n| (n.id, n.weight))
        .collect();
    if let Some(meta) = map.shard(ShardId::META) {
        if meta.replicas.len() < META_VOTERS.min(up_live.len()) {
            let pick = place(&up_live, ShardId::META, up_live.len())
                .into_iter()
                .find(|n| meta.replica_on(*n).is_none());
            if let Some(node) = pick {
                return Some(MetaCmd::AddReplica {
                    shard: ShardId::META,
                    node,
                    if_epoch: epoch,
                });
            }
        }
    }
    let moves = plan_replicas(map, input.replication_factor);
    if moves.is_empty() {
        return None;
    }
    let settled = settled_shards(transport, &input).await;
    let busy = map
        .shards()
        .keys()
        .filter(|s| **s != ShardId::META && !settled.contains(s))
        .count();
    for m in moves {
        let (shard, node, add) = match m {
            Move::Add { shard, node } => (shard, node, true),
            Move::Remove { shard, node } => (shard, node, false),
        };
        if !settled.contains(&shard) || busy >= input.moves_in_flight_max {
            continue;
        }
        return Some(if add {
            MetaCmd::AddReplica {
                shard,
                node,
                if_epoch: epoch,
            }
        } else {
            MetaCmd::RemoveReplica {
                shard,
                node,
                if_epoch: epoch,
            }
        });
    }
    None
}

/// Data shards whose leader confirms a committed voter set equal to the map's replicas.
async fn settled_shards(transport: &Transport, input: &DriverInput<'_>) -> BTreeSet<ShardId> {
    let queries = input
        .map
        .shards()
        .values()
        .filter(|s| s.id != ShardId::META)
        .map(|s| {
            let want: BTreeSet<u64> = s.replicas.iter().map(|r| r.peer.0).collect();
            let addr = input.leaders.get(&s.id.0).copied();
            async move {
                let addr = addr?;
                let (voters, learners) =
                    client::membership(transport, addr, s.id.0, input.rpc_timeout)
                        .await
                        .ok()?;
                let voters: BTreeSet<u64> = voters.into_iter().collect();
                (voters == want && learners.is_empty()).then_some(s.id)
            }
        });
    join_all(queries).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tanli_router::PeerId;

    use super::*;
    use crate::raft::transport::TransportConfig;

    use crate::control::test_node as node;

    fn transport() -> Arc<Transport> {
        Transport::new(TransportConfig {
            stats: Arc::default(),
            bind: [127, 0, 0, 1].into(),
            cluster_id: "t".into(),
            node_id: 1,
            frame_bytes_max: 1 << 20,
            connect_timeout: Duration::from_millis(100),
            inflight_max: 8,
        })
    }

    fn input<'a>(map: &'a ClusterMap, live: &'a BTreeSet<u64>) -> DriverInput<'a> {
        DriverInput {
            map,
            live,
            leaders: BTreeMap::new(),
            replication_factor: 3,
            moves_in_flight_max: 2,
            rpc_timeout: Duration::from_millis(100),
        }
    }

    #[tokio::test]
    async fn admits_live_joiners_then_grows_the_meta_voters_then_waits_for_settled_shards() {
        let t = transport();
        let m = ClusterMap::initial(node(1, NodeState::Up), 2, PeerId(2))
            .and_then(|m| {
                m.with_shard(tanli_router::ShardInfo {
                    id: ShardId::META,
                    replicas: vec![tanli_router::Replica {
                        node: NodeId(1),
                        peer: PeerId(1),
                    }],
                    leader: Some(NodeId(1)),
                })
            })
            .and_then(|m| m.with_node(node(10, NodeState::Joining)))
            .expect("map");
        // A joiner gossip does not see yet stays Joining.
        let only_me = BTreeSet::from([1]);
        assert_eq!(next(&t, input(&m, &only_me)).await, None);
        let both = BTreeSet::from([1, 10]);
        assert_eq!(
            next(&t, input(&m, &both)).await,
            Some(MetaCmd::SetState {
                node: NodeId(10),
                state: NodeState::Up,
                if_epoch: m.epoch()
            })
        );
        let m = m.with_node(node(10, NodeState::Up)).expect("up");
        assert_eq!(
            next(&t, input(&m, &both)).await,
            Some(MetaCmd::AddReplica {
                shard: ShardId::META,
                node: NodeId(10),
                if_epoch: m.epoch()
            })
        );
        let m = m
            .with_replica_added(
                ShardId::META,
                tanli_router::Replica {
                    node: NodeId(10),
                    peer: PeerId(10),
                },
            )
            .expect("meta voter");
        // Data shards need a replica on node 10, but no shard leader has confirmed its
        // membership (no leader known here): nothing moves.
        assert!(!plan_replicas(&m, 3).is_empty());
        assert_eq!(next(&t, input(&m, &both)).await, None);
    }
}
