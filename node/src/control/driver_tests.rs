use std::sync::Arc;

use tanli_router::{PeerId, Replica, ShardInfo};

use super::*;
use crate::control::plans::{MoveState, Plan, PlanMove, PlanState};
use crate::control::test_node as node;
use crate::raft::transport::TransportConfig;

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

struct Fixture {
    map: ClusterMap,
    placement: Placement,
    live: BTreeSet<u64>,
    dead: BTreeSet<u64>,
}

impl Fixture {
    fn input(&self) -> DriverInput<'_> {
        DriverInput {
            map: &self.map,
            placement: &self.placement,
            live: &self.live,
            dead_past_grace: &self.dead,
            leaders_now: BTreeMap::new(),
            leader_addrs: BTreeMap::new(),
            replication_factor: 3,
            moves_in_flight_max: 2,
            tolerance: 1,
            auto_rebalance: true,
            rpc_timeout: Duration::from_millis(100),
            balance_leaders: true,
        }
    }
}

/// Nodes 1..=3 up, 2 data shards on all three, meta voters 1..=3.
fn three() -> ClusterMap {
    let mut m = ClusterMap::initial(node(1, NodeState::Up), 2, PeerId(100)).expect("map");
    for id in [2, 3] {
        m = m.with_node(node(id, NodeState::Up)).expect("node");
    }
    let reps = |base: u64| -> Vec<Replica> {
        (1..=3)
            .map(|n| Replica {
                node: NodeId(n),
                peer: PeerId(base + n),
            })
            .collect()
    };
    for (s, base) in [(1, 200), (2, 300)] {
        m = m
            .with_shard(ShardInfo {
                id: ShardId(s),
                replicas: reps(base),
                leader: None,
            })
            .expect("shard");
    }
    m.with_shard(ShardInfo {
        id: ShardId::META,
        replicas: (1..=3)
            .map(|n| Replica {
                node: NodeId(n),
                peer: PeerId(n),
            })
            .collect(),
        leader: None,
    })
    .expect("meta")
}

#[tokio::test]
async fn a_node_dead_past_grace_goes_down_then_a_repair_plan_replaces_it() {
    let t = transport();
    let map = three().with_node(node(4, NodeState::Up)).expect("4");
    let mut f = Fixture {
        map,
        placement: Placement::default(),
        live: BTreeSet::from([1, 2, 4]),
        dead: BTreeSet::new(),
    };
    // Silent but within grace: nothing about node 3 (leaders first get targets).
    let cmd = next(&t, f.input()).await;
    assert!(!matches!(cmd, Some(MetaCmd::SetState { .. })), "{cmd:?}");
    f.dead.insert(3);
    assert_eq!(
        next(&t, f.input()).await,
        Some(MetaCmd::SetState {
            node: NodeId(3),
            state: NodeState::Down,
            if_epoch: f.map.epoch()
        })
    );
    f.map = f.map.with_node(node(3, NodeState::Down)).expect("down");
    // The meta voter on the down node is replaced first (node 4 is up and live).
    assert!(matches!(
        next(&t, f.input()).await,
        Some(MetaCmd::AddReplica {
            shard: ShardId::META,
            node: NodeId(4),
            ..
        })
    ));
    f.map = f
        .map
        .with_replica_added(
            ShardId::META,
            Replica {
                node: NodeId(4),
                peer: PeerId(4),
            },
        )
        .expect("meta 4");
    assert!(matches!(
        next(&t, f.input()).await,
        Some(MetaCmd::RemoveReplica {
            shard: ShardId::META,
            node: NodeId(3),
            ..
        })
    ));
    f.map = f
        .map
        .with_replica_removed(ShardId::META, NodeId(3))
        .expect("rm");
    match next(&t, f.input()).await {
        Some(MetaCmd::PlanCreate { kind, moves, .. }) => {
            assert_eq!(kind, PlanKind::Repair);
            assert_eq!(moves.len(), 2);
            assert!(moves
                .iter()
                .all(|m| m.from == Some(NodeId(3)) && m.to == Some(NodeId(4))));
        }
        other => panic!("want a repair plan, got {other:?}"),
    }
    // It comes back: up again.
    f.live.insert(3);
    assert!(matches!(
        next(&t, f.input()).await,
        Some(MetaCmd::SetState {
            node: NodeId(3),
            state: NodeState::Up,
            ..
        })
    ));
}

#[tokio::test]
async fn a_running_plan_waits_for_confirmation_and_a_held_balance_plans_nothing() {
    let t = transport();
    let map = three().with_node(node(4, NodeState::Up)).expect("4");
    let mut f = Fixture {
        map,
        placement: Placement::default(),
        live: BTreeSet::from([1, 2, 3, 4]),
        dead: BTreeSet::new(),
    };
    // Auto-balance: 6 replicas on 3 of 4 nodes is within tolerance 1? 2,2,2,0 is not.
    assert!(matches!(
        next(&t, f.input()).await,
        Some(MetaCmd::PlanCreate {
            kind: PlanKind::Rebalance,
            ..
        })
    ));
    f.placement.hold_balance = true;
    // Held: only leader targets may be recorded.
    assert!(matches!(
        next(&t, f.input()).await,
        None | Some(MetaCmd::SetLeaders { .. })
    ));
    // A running plan whose shard no leader confirms as settled (none known here) never starts.
    f.placement.plan = Some(Plan {
        id: 1,
        kind: PlanKind::Rebalance,
        state: PlanState::Running,
        reason: "t".into(),
        created_ms: 0,
        finished_ms: None,
        moves: vec![PlanMove {
            mv: tanli_router::ReplicaMove {
                shard: ShardId(1),
                from: Some(NodeId(1)),
                to: Some(NodeId(4)),
                why: tanli_router::Why::Balance,
            },
            state: MoveState::Pending,
            started_ms: None,
            finished_ms: None,
        }],
    });
    assert!(matches!(
        next(&t, f.input()).await,
        None | Some(MetaCmd::SetLeaders { .. })
    ));
    // Its target goes down: the move is skipped.
    f.map = f.map.with_node(node(4, NodeState::Down)).expect("down");
    f.live.remove(&4);
    assert!(matches!(
        next(&t, f.input()).await,
        Some(MetaCmd::PlanStep {
            step: Step::Skip(_),
            ..
        })
    ));
}

#[test]
fn the_view_settles_when_every_up_node_is_heard_or_silent_long_enough() {
    let map = three();
    let settle = Duration::from_secs(5);
    let ago = |secs: u64| Instant::now() - Duration::from_secs(secs);
    let all = BTreeSet::from([1, 2, 3]);
    assert!(view_settled(&map, &all, &BTreeMap::new(), settle));
    // Node 3 not heard yet (a driver that just started): not settled, until it is heard...
    let two = BTreeSet::from([1, 2]);
    let fresh = BTreeMap::from([(3, Instant::now())]);
    assert!(!view_settled(&map, &two, &fresh, settle));
    assert!(!view_settled(&map, &two, &BTreeMap::new(), settle));
    // ...or silent for the settle period (then it is judged: not live).
    assert!(view_settled(
        &map,
        &two,
        &BTreeMap::from([(3, ago(6))]),
        settle
    ));
    assert!(!view_settled(
        &map,
        &two,
        &BTreeMap::from([(3, ago(4))]),
        settle
    ));
    // A node already `Down` is not waited for.
    let map = map.with_node(node(3, NodeState::Down)).expect("down");
    assert!(view_settled(&map, &two, &fresh, settle));
}

#[tokio::test]
async fn leader_targets_wait_for_a_settled_view() {
    let t = transport();
    let f = Fixture {
        map: three(),
        placement: Placement::default(),
        live: BTreeSet::from([1, 2, 3]),
        dead: BTreeSet::new(),
    };
    // No targets recorded yet: a settled driver records them...
    assert!(matches!(
        next(&t, f.input()).await,
        Some(MetaCmd::SetLeaders { .. })
    ));
    // ...an unsettled one does not.
    let unsettled = DriverInput {
        balance_leaders: false,
        ..f.input()
    };
    assert!(next(&t, unsettled).await.is_none());
}
