//! Property tests of the router's public API: slot coverage of the initial map, placement
//! distinctness, determinism and stability, and the repair and balance planner.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tanli_router::{
    place, plan, up_nodes, ClusterMap, NodeId, NodeInfo, NodeState, PeerId, Replica, ShardId,
    ShardInfo, SlotRange, SLOT_COUNT,
};

fn node_info(id: NodeId, state: NodeState, weight: u32) -> NodeInfo {
    NodeInfo {
        id,
        resp_addr: format!("n{id}:6379"),
        cluster_addr: format!("n{id}:7000"),
        state,
        weight,
    }
}

fn set(nodes: &[NodeId]) -> BTreeSet<NodeId> {
    nodes.iter().copied().collect()
}

/// 1..=max distinct node ids with weights 1..=4.
fn weighted_nodes(max: usize) -> impl Strategy<Value = Vec<(NodeId, u32)>> {
    prop::collection::btree_map(0u64..1000, 1u32..=4, 1..=max)
        .prop_map(|m| m.into_iter().map(|(id, w)| (NodeId(id), w)).collect())
}

fn check_initial(count: u16, first_peer: u64) -> Result<(), TestCaseError> {
    let me = node_info(NodeId(42), NodeState::Up, 1);
    let map = ClusterMap::initial(me, count, PeerId(first_peer)).expect("valid initial map");
    let mut owners = vec![0u32; usize::from(SLOT_COUNT)];
    let mut sizes = BTreeSet::new();
    for r in map.ranges() {
        for slot in r.start..=r.end {
            owners[usize::from(slot)] += 1;
            prop_assert_eq!(map.shard_of_slot(slot), r.shard);
        }
        sizes.insert(r.end - r.start + 1);
    }
    prop_assert!(
        owners.iter().all(|&n| n == 1),
        "a slot is not owned exactly once"
    );
    prop_assert_eq!(map.ranges().len(), usize::from(count));
    prop_assert!(sizes.last().copied().unwrap_or(0) - sizes.first().copied().unwrap_or(0) <= 1);
    for (i, r) in map.ranges().iter().enumerate() {
        prop_assert_eq!(r.shard, ShardId(i as u64 + 1));
        // slots_of_shard scans every range: check a sample, or this is quadratic in `count`.
        if i < 64 {
            prop_assert_eq!(map.slots_of_shard(r.shard), vec![(r.start, r.end)]);
        }
    }
    prop_assert_eq!(map.shards_on_node(NodeId(42)).len(), usize::from(count));
    Ok(())
}

#[test]
fn initial_maps_cover_every_slot_once_for_1_to_64_shards() {
    for count in 1..=64 {
        check_initial(count, 1).expect("coverage");
    }
}

proptest! {
    #[test]
    fn initial_maps_cover_every_slot_once(count in 1u16..=SLOT_COUNT, first_peer in 0u64..1 << 40) {
        check_initial(count, first_peer)?;
    }

    #[test]
    fn placement_is_distinct_complete_and_deterministic(
        nodes in weighted_nodes(20),
        shard in any::<u64>(),
        r in 0usize..=7,
    ) {
        let placed = place(&nodes, ShardId(shard), r);
        prop_assert_eq!(placed.len(), r.min(nodes.len()));
        prop_assert_eq!(set(&placed).len(), placed.len(), "duplicates in {:?}", placed);
        let ids: BTreeSet<NodeId> = nodes.iter().map(|n| n.0).collect();
        prop_assert!(placed.iter().all(|n| ids.contains(n)));
        prop_assert_eq!(&place(&nodes, ShardId(shard), r), &placed);
        let mut reversed = nodes.clone();
        reversed.reverse();
        prop_assert_eq!(&place(&reversed, ShardId(shard), r), &placed, "input order mattered");
    }

    #[test]
    fn a_join_moves_at_most_one_replica_per_shard(
        nodes in weighted_nodes(12),
        joiner in 1000u64..2000,
        weight in 1u32..=4,
        shards in prop::collection::vec(any::<u64>(), 1..20),
        r in 1usize..=5,
    ) {
        let joined: Vec<_> = nodes.iter().copied().chain([(NodeId(joiner), weight)]).collect();
        for shard in shards {
            let before = set(&place(&nodes, ShardId(shard), r));
            let after = set(&place(&joined, ShardId(shard), r));
            let gained: BTreeSet<_> = after.difference(&before).copied().collect();
            let lost: BTreeSet<_> = before.difference(&after).copied().collect();
            prop_assert!(gained.iter().all(|&n| n == NodeId(joiner)), "gained {:?}", gained);
            prop_assert!(lost.len() <= gained.len(), "lost {:?}, gained {:?}", lost, gained);
            if before.len() < r {
                prop_assert!(lost.is_empty() && gained.len() == 1);
            }
        }
    }

    #[test]
    fn a_leave_replaces_only_the_leaver(
        nodes in weighted_nodes(12),
        pick in any::<prop::sample::Index>(),
        shards in prop::collection::vec(any::<u64>(), 1..20),
        r in 1usize..=5,
    ) {
        let leaver = nodes[pick.index(nodes.len())].0;
        let left: Vec<_> = nodes.iter().copied().filter(|n| n.0 != leaver).collect();
        for shard in shards {
            let before = set(&place(&nodes, ShardId(shard), r));
            let after = set(&place(&left, ShardId(shard), r));
            let lost: BTreeSet<_> = before.difference(&after).copied().collect();
            let gained: BTreeSet<_> = after.difference(&before).copied().collect();
            if before.contains(&leaver) {
                prop_assert_eq!(lost, BTreeSet::from([leaver]));
                prop_assert_eq!(gained.len(), usize::from(left.len() >= r));
            } else {
                prop_assert!(lost.is_empty() && gained.is_empty(), "{:?} -> {:?}", before, after);
            }
        }
    }

    #[test]
    fn planned_moves_repair_and_balance_without_dropping_replicas(
        (map, r) in cluster_map().prop_flat_map(|m| (Just(m), 1usize..=5)),
    ) {
        let all = |_: NodeId| true;
        let up: BTreeSet<NodeId> = up_nodes(&map).into_iter().map(|(n, _)| n).collect();
        let want = r.min(up.len());
        let moves = plan(&map, r, 1, &all);
        let mut next_peer = map.max_peer_id().map_or(1, |p| p.0 + 1);
        let mut cur = map.clone();
        for mv in &moves {
            let before = cur.shard(mv.shard).map_or(0, |s| s.replicas.len());
            if let Some(node) = mv.to {
                prop_assert!(up.contains(&node), "a replica placed on a node not up: {:?}", mv);
                next_peer += 1;
                let replica = Replica { node, peer: PeerId(next_peer) };
                cur = cur.with_replica_added(mv.shard, replica).expect("a valid add");
            }
            if let Some(node) = mv.from {
                let info = cur.shard(mv.shard).expect("known shard");
                prop_assert!(info.replica_on(node).is_some(), "removes a missing replica: {:?}", mv);
                cur = cur.with_replica_removed(mv.shard, node).expect("a valid remove");
            }
            let after = cur.shard(mv.shard).map_or(0, |s| s.replicas.len());
            prop_assert!(after >= before.min(want), "{:?} left {} of {}", mv, after, before);
        }
        if want > 0 {
            for shard in cur.shards().values() {
                let nodes: Vec<NodeId> = shard.replicas.iter().map(|r| r.node).collect();
                prop_assert!(nodes.iter().all(|n| up.contains(n)), "shard {} on {:?}", shard.id, nodes);
                prop_assert_eq!(nodes.len(), want, "shard {} on {:?}", shard.id, nodes);
            }
        } else {
            prop_assert!(moves.is_empty(), "moves with no node up: {:?}", moves);
        }
        prop_assert!(plan(&cur, r, 1, &all).is_empty(), "the plan is not a fixpoint");
    }
}

/// A random valid map: 1..=10 nodes in random states, 1..=8 data shards splitting the slots, each
/// with a random replica subset and a leader hint that is one of its replicas or none.
fn cluster_map() -> impl Strategy<Value = ClusterMap> {
    let states = prop_oneof![
        3 => Just(NodeState::Up),
        1 => Just(NodeState::Joining),
        1 => Just(NodeState::Draining),
        1 => Just(NodeState::Removed),
        1 => Just(NodeState::Down),
    ];
    let nodes = prop::collection::btree_map(0u64..100, (states, 1u32..=4), 1..=10);
    (nodes, 1usize..=8).prop_flat_map(|(nodes, shard_count)| {
        let ids: Vec<NodeId> = nodes.keys().map(|&id| NodeId(id)).collect();
        let n = ids.len();
        let replica_sets = prop::collection::vec(
            (
                prop::sample::subsequence(ids, 0..=n).prop_shuffle(),
                any::<bool>(),
            ),
            shard_count,
        );
        (Just(nodes), replica_sets).prop_map(|(nodes, replica_sets)| build_map(nodes, replica_sets))
    })
}

fn build_map(
    nodes: BTreeMap<u64, (NodeState, u32)>,
    replica_sets: Vec<(Vec<NodeId>, bool)>,
) -> ClusterMap {
    let nodes: BTreeMap<NodeId, NodeInfo> = nodes
        .into_iter()
        .map(|(id, (state, weight))| (NodeId(id), node_info(NodeId(id), state, weight)))
        .collect();
    let count = replica_sets.len() as u32;
    let total = u32::from(SLOT_COUNT);
    let mut ranges = Vec::new();
    let mut shards = BTreeMap::new();
    let mut peer = 0;
    for (i, (on, led)) in (0u32..).zip(replica_sets) {
        let id = ShardId(u64::from(i) + 1);
        let start = u16::try_from(i * total / count).expect("slot");
        let end = u16::try_from((i + 1) * total / count - 1).expect("slot");
        ranges.push(SlotRange {
            start,
            end,
            shard: id,
        });
        let leader = if led { on.first().copied() } else { None };
        let replicas = on
            .into_iter()
            .map(|node| {
                peer += 1;
                Replica {
                    node,
                    peer: PeerId(peer),
                }
            })
            .collect();
        shards.insert(
            id,
            ShardInfo {
                id,
                replicas,
                leader,
            },
        );
    }
    ClusterMap::new(9, nodes, ranges, shards).expect("generated map is valid")
}
