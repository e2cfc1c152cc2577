use super::*;
use crate::map::{NodeInfo, PeerId, Replica, ShardInfo};

fn node(id: u64, state: NodeState) -> NodeInfo {
    NodeInfo {
        id: NodeId(id),
        resp_addr: format!("127.0.0.1:{}", 7000 + id),
        cluster_addr: format!("127.0.0.1:{}", 17000 + id),
        state,
        weight: 1,
    }
}

/// `shards` data shards on nodes `on` (every shard on the first min(3, len) of them, like a
/// cluster that started on those nodes), plus `extra` Up nodes holding nothing.
fn cluster(shards: u64, on: &[u64], extra: &[u64]) -> ClusterMap {
    let mut m = ClusterMap::initial(node(on[0], NodeState::Up), shards as u16, PeerId(1000))
        .expect("initial");
    for id in on.iter().skip(1).chain(extra) {
        m = m.with_node(node(*id, NodeState::Up)).expect("node");
    }
    let mut peer = 2000;
    for s in 1..=shards {
        let replicas = on
            .iter()
            .take(3)
            .map(|n| {
                peer += 1;
                Replica {
                    node: NodeId(*n),
                    peer: PeerId(peer),
                }
            })
            .collect();
        m = m
            .with_shard(ShardInfo {
                id: ShardId(s),
                replicas,
                leader: None,
            })
            .expect("shard");
    }
    m
}

/// Applies moves to the map (fresh peer ids), as the driver would one by one.
fn apply(mut m: ClusterMap, moves: &[ReplicaMove]) -> ClusterMap {
    let mut peer = 50_000;
    for mv in moves {
        if let Some(to) = mv.to {
            peer += 1;
            m = m
                .with_replica_added(
                    mv.shard,
                    Replica {
                        node: to,
                        peer: PeerId(peer),
                    },
                )
                .expect("add");
        }
        if let Some(from) = mv.from {
            m = m.with_replica_removed(mv.shard, from).expect("remove");
        }
    }
    m
}

fn counts(m: &ClusterMap) -> BTreeMap<u64, usize> {
    let mut c: BTreeMap<u64, usize> = m
        .nodes()
        .values()
        .filter(|n| n.state == NodeState::Up)
        .map(|n| (n.id.0, 0))
        .collect();
    for s in m.shards().values().filter(|s| s.id != ShardId::META) {
        for r in &s.replicas {
            *c.entry(r.node.0).or_default() += 1;
        }
    }
    c
}

fn all(_: NodeId) -> bool {
    true
}

#[test]
fn three_to_five_nodes_balances_within_one_and_only_moves_what_it_must() {
    let m = cluster(8, &[1, 2, 3], &[4, 5]);
    let moves = plan(&m, 3, 1, &all);
    assert!(moves.iter().all(|mv| mv.why == Why::Balance));
    // 24 replicas over 5 nodes: 4 or 5 each, so the new nodes receive 9 or 10 in all.
    assert!(
        (9..=10).contains(&moves.len()),
        "{} moves: {moves:?}",
        moves.len()
    );
    let after = apply(m, &moves);
    let c = counts(&after);
    let (min, max) = (c.values().min().copied(), c.values().max().copied());
    assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{c:?}");
    for s in after.shards().values().filter(|s| s.id != ShardId::META) {
        assert_eq!(s.replicas.len(), 3, "shard {} keeps 3 replicas", s.id);
    }
    // Planning again on the result: nothing left to do.
    assert!(plan(&after, 3, 1, &all).is_empty());
}

#[test]
fn a_down_node_is_replaced_on_the_least_loaded_live_nodes() {
    let m = cluster(6, &[1, 2, 3], &[4]);
    let down = m.with_node(node(2, NodeState::Down)).expect("down");
    let moves = plan(&down, 3, 1, &all);
    let repairs: Vec<_> = moves.iter().filter(|m| m.why == Why::NodeDown).collect();
    assert_eq!(repairs.len(), 6, "{moves:?}");
    assert!(repairs
        .iter()
        .all(|m| m.from == Some(NodeId(2)) && m.to == Some(NodeId(4))));
    let after = apply(down, &moves);
    assert!(after.shards_on_node(NodeId(2)).is_empty());
}

#[test]
fn a_draining_node_with_no_room_keeps_its_replicas_and_a_pure_surplus_is_dropped() {
    let m = cluster(2, &[1, 2, 3], &[]);
    let draining = m.with_node(node(3, NodeState::Draining)).expect("drain");
    // Two Up nodes left, r = 3: the shard wants 2 replicas, it has 2 healthy: node 3's go.
    let moves = plan(&draining, 3, 1, &all);
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert!(moves
        .iter()
        .all(|m| m.from == Some(NodeId(3)) && m.to.is_none() && m.why == Why::NodeDraining));
}

#[test]
fn nodes_that_cannot_take_replicas_now_are_not_targets() {
    let m = cluster(4, &[1, 2, 3], &[4, 5]);
    let moves = plan(&m, 3, 1, &|n| n != NodeId(5));
    assert!(moves.iter().all(|m| m.to != Some(NodeId(5))), "{moves:?}");
    assert!(!moves.is_empty());
}

#[test]
fn below_and_above_factor() {
    let m = cluster(3, &[1, 2], &[3]);
    let moves = plan(&m, 3, 1, &all);
    assert_eq!(
        moves.iter().filter(|m| m.why == Why::BelowFactor).count(),
        3
    );
    let m = cluster(3, &[1, 2, 3], &[]);
    let moves = plan(&m, 2, 1, &all);
    assert_eq!(
        moves.iter().filter(|m| m.why == Why::AboveFactor).count(),
        3
    );
    let after = apply(m, &moves);
    let c = counts(&after);
    assert_eq!(c.values().sum::<usize>(), 6);
    assert!(c.values().all(|v| *v == 2), "{c:?}");
}

#[test]
fn leaders_spread_within_one_and_pins_stay() {
    let m = cluster(8, &[1, 2, 3], &[4, 5]);
    let m = apply(m.clone(), &plan(&m, 3, 1, &all));
    let none = BTreeMap::new();
    let leaders = assign_leaders(&m, &none, &BTreeSet::new(), 1, &all);
    assert_eq!(leaders.len(), 8);
    let mut led: BTreeMap<NodeId, u64> = BTreeMap::new();
    for (s, n) in &leaders {
        assert!(m.shard(*s).is_some_and(|i| i.replica_on(*n).is_some()));
        *led.entry(*n).or_default() += 1;
    }
    let max = led.values().max().copied().unwrap_or(0);
    let min = (1..=5)
        .map(|n| led.get(&NodeId(n)).copied().unwrap_or(0))
        .min()
        .unwrap_or(0);
    assert!(max - min <= 1, "{led:?}");
    // Stable: the assignment as input comes back unchanged.
    assert_eq!(
        assign_leaders(&m, &leaders, &BTreeSet::new(), 1, &all),
        leaders
    );
    assert_eq!(spread(&m, &leaders, &all).leaders, max - min);
    // A pin survives even if it unbalances.
    let s1 = ShardId(1);
    let other = m
        .shard(s1)
        .and_then(|i| i.replicas.iter().find(|r| r.node != leaders[&s1]))
        .map(|r| r.node)
        .expect("another replica");
    let mut pinned_in = leaders.clone();
    pinned_in.insert(s1, other);
    let pins = BTreeSet::from([s1]);
    assert_eq!(assign_leaders(&m, &pinned_in, &pins, 1, &all)[&s1], other);
    // A leader on a draining node moves.
    let lead1 = leaders[&s1];
    let drained = m
        .with_node(node(lead1.0, NodeState::Draining))
        .expect("drain");
    assert_ne!(
        assign_leaders(&drained, &leaders, &BTreeSet::new(), 1, &all)[&s1],
        lead1
    );
}

#[test]
fn weighted_nodes_take_shares_by_weight() {
    let m = cluster(12, &[1, 2, 3], &[]);
    let heavy = NodeInfo {
        weight: 3,
        ..node(4, NodeState::Up)
    };
    let m = m.with_node(heavy).expect("heavy");
    let after = apply(m.clone(), &plan(&m, 3, 1, &all));
    let c = counts(&after);
    // 36 replicas, weights 1+1+1+3: node 4 takes about half (it can hold at most 12).
    assert!(c[&4] >= 10, "{c:?}");
}
