use tanli_router::{NodeId, NodeInfo, NodeState, ShardId};
use tanli_storage::Applier;

use super::*;
use crate::cmd::testkv::MemKv;

fn node(id: u64) -> NodeInfo {
    crate::control::test_node(id, NodeState::Up)
}

fn apply(kv: &mut MemKv, cmd: MetaCmd) -> MetaReply {
    let b = MetaApplier.apply(kv, 0, &cmd.encode()).expect("apply");
    MetaReply::decode(&b).expect("reply")
}

fn map(kv: &MemKv) -> ClusterMap {
    MetaState::read(kv)
        .expect("read")
        .expect("state")
        .map()
        .expect("map")
}

#[test]
fn bootstrap_join_and_replicas_allocate_ids_never_reused() {
    let mut kv = MemKv::default();
    assert!(matches!(
        apply(
            &mut kv,
            MetaCmd::SetAddrs {
                node: NodeId(1),
                resp_addr: "a".into(),
                cluster_addr: "b".into()
            }
        ),
        MetaReply::Refused(_)
    ));
    assert_eq!(
        apply(
            &mut kv,
            MetaCmd::Bootstrap {
                node: node(1),
                shards: 8
            }
        ),
        MetaReply::Done { epoch: 2 }
    );
    let m = map(&kv);
    assert_eq!(m.shards().len(), 9);
    assert_eq!(m.shard(ShardId::META).expect("meta").replicas[0].peer.0, 1);
    // A second bootstrap changes nothing.
    assert_eq!(
        apply(
            &mut kv,
            MetaCmd::Bootstrap {
                node: node(5),
                shards: 2
            }
        ),
        MetaReply::Done { epoch: 2 }
    );
    let joined = apply(
        &mut kv,
        MetaCmd::Join {
            resp_addr: "r".into(),
            cluster_addr: "c".into(),
            weight: 1,
        },
    );
    assert_eq!(
        joined,
        MetaReply::Joined {
            node: NodeId(10),
            epoch: 3
        }
    );
    // Planned against an old epoch: refused.
    assert_eq!(
        apply(
            &mut kv,
            MetaCmd::AddReplica {
                shard: ShardId(1),
                node: NodeId(10),
                if_epoch: 2
            }
        ),
        MetaReply::Stale { epoch: 3 }
    );
    assert_eq!(
        apply(
            &mut kv,
            MetaCmd::AddReplica {
                shard: ShardId(1),
                node: NodeId(10),
                if_epoch: 3
            }
        ),
        MetaReply::Done { epoch: 4 }
    );
    let peer = map(&kv)
        .shard(ShardId(1))
        .expect("s1")
        .replica_on(NodeId(10))
        .expect("r")
        .peer;
    assert_eq!(peer.0, 11);
    assert_eq!(
        apply(
            &mut kv,
            MetaCmd::RemoveReplica {
                shard: ShardId(1),
                node: NodeId(10),
                if_epoch: 4
            }
        ),
        MetaReply::Done { epoch: 5 }
    );
    apply(
        &mut kv,
        MetaCmd::AddReplica {
            shard: ShardId(1),
            node: NodeId(10),
            if_epoch: 5,
        },
    );
    let again = map(&kv)
        .shard(ShardId(1))
        .expect("s1")
        .replica_on(NodeId(10))
        .expect("r")
        .peer;
    assert_eq!(again.0, 12, "a re-added replica gets a new peer id");
    // The last replica cannot be removed.
    assert!(matches!(
        apply(
            &mut kv,
            MetaCmd::RemoveReplica {
                shard: ShardId(2),
                node: NodeId(1),
                if_epoch: 6
            }
        ),
        MetaReply::Refused(_)
    ));
    assert!(matches!(
        apply(
            &mut kv,
            MetaCmd::SetAddrs {
                node: NodeId(99),
                resp_addr: "a".into(),
                cluster_addr: "b".into()
            }
        ),
        MetaReply::Refused(_)
    ));
    // Garbage is refused, not a panic.
    let b = MetaApplier
        .apply(&mut kv, 0, &[1, 0xff, 0xff])
        .expect("apply");
    assert!(matches!(MetaReply::decode(&b), Ok(MetaReply::Refused(_))));
}

#[test]
fn only_a_join_passes_for_a_node_outside_the_cluster() {
    let join = MetaCmd::Join {
        resp_addr: "r".into(),
        cluster_addr: "c".into(),
        weight: 1,
    };
    assert!(MetaCmd::is_join(&join.encode()));
    let other = MetaCmd::SetState {
        node: NodeId(1),
        state: NodeState::Removed,
        if_epoch: 1,
    };
    assert!(!MetaCmd::is_join(&other.encode()));
    assert!(!MetaCmd::is_join(&[]));
    assert!(!MetaCmd::is_join(&[9, 0]));
}

fn placement(kv: &MemKv) -> crate::control::plans::Placement {
    crate::control::plans::Placement::read(kv).expect("placement")
}

#[test]
fn a_plan_moves_a_replica_step_by_step_and_a_cancel_holds_balancing() {
    use crate::control::plans::{MoveState, NodeOp, PlanKind, PlanState, Step};
    use tanli_router::{ReplicaMove, Why};
    let mut kv = MemKv::default();
    apply(
        &mut kv,
        MetaCmd::Bootstrap {
            node: node(1),
            shards: 2,
        },
    );
    let mut joined = Vec::new();
    for addr in ["a", "b"] {
        let r = apply(
            &mut kv,
            MetaCmd::Join {
                resp_addr: addr.into(),
                cluster_addr: addr.into(),
                weight: 1,
            },
        );
        let MetaReply::Joined { node, .. } = r else {
            panic!("{r:?}")
        };
        joined.push(node);
    }
    let (n2, n3) = (joined[0], joined[1]);
    for n in [n2, n3] {
        let e = map(&kv).epoch();
        apply(
            &mut kv,
            MetaCmd::SetState {
                node: n,
                state: NodeState::Up,
                if_epoch: e,
            },
        );
    }
    let mv = ReplicaMove {
        shard: ShardId(1),
        from: Some(NodeId(1)),
        to: Some(n2),
        why: Why::Balance,
    };
    let e = map(&kv).epoch();
    let create = |moves: Vec<ReplicaMove>, if_epoch| MetaCmd::PlanCreate {
        kind: PlanKind::Rebalance,
        reason: "t".into(),
        moves,
        if_epoch,
    };
    assert_eq!(
        apply(&mut kv, create(vec![mv], e)),
        MetaReply::Plan { id: 1 }
    );
    assert!(
        matches!(apply(&mut kv, create(vec![mv], e)), MetaReply::Refused(w) if w.contains("is running"))
    );
    let step = |step, if_epoch| MetaCmd::PlanStep {
        plan: 1,
        index: 0,
        step,
        if_epoch,
    };
    // Start: the new replica enters the map, the old one stays.
    assert!(matches!(
        apply(&mut kv, step(Step::Start, e)),
        MetaReply::Done { .. }
    ));
    let s1 = map(&kv).shard(ShardId(1)).cloned().expect("s1");
    assert!(s1.replica_on(n2).is_some() && s1.replica_on(NodeId(1)).is_some());
    assert_eq!(
        placement(&kv).plan.expect("plan").moves[0].state,
        MoveState::Adding
    );
    // A step planned against an old map is refused.
    assert!(matches!(
        apply(&mut kv, step(Step::Remove, e)),
        MetaReply::Stale { .. }
    ));
    let e = map(&kv).epoch();
    apply(&mut kv, step(Step::Remove, e));
    assert!(map(&kv)
        .shard(ShardId(1))
        .expect("s1")
        .replica_on(NodeId(1))
        .is_none());
    let e = map(&kv).epoch();
    apply(&mut kv, step(Step::Finish, e));
    let p = placement(&kv).plan.expect("plan");
    assert_eq!(
        (p.state, p.moves[0].state.clone()),
        (PlanState::Done, MoveState::Done)
    );
    // A second plan, cancelled before it starts: its move is skipped, balancing is held.
    let mv2 = ReplicaMove {
        shard: ShardId(2),
        from: Some(NodeId(1)),
        to: Some(n3),
        why: Why::Balance,
    };
    let e = map(&kv).epoch();
    assert_eq!(
        apply(&mut kv, create(vec![mv2], e)),
        MetaReply::Plan { id: 2 }
    );
    assert_eq!(
        apply(&mut kv, MetaCmd::PlanCancel),
        MetaReply::Plan { id: 2 }
    );
    let pl = placement(&kv);
    assert!(pl.hold_balance);
    let p = pl.plan.expect("plan");
    assert_eq!(p.state, PlanState::Cancelled);
    assert!(matches!(p.moves[0].state, MoveState::Skipped(_)));
    // Node operations: drain below the replication factor, remove while holding replicas.
    let op = |node, op| MetaCmd::Node {
        node,
        op,
        replication_factor: 3,
    };
    assert!(
        matches!(apply(&mut kv, op(n2, NodeOp::Drain)), MetaReply::Refused(w) if w.contains("would leave"))
    );
    assert!(
        matches!(apply(&mut kv, op(n2, NodeOp::Remove)), MetaReply::Refused(w) if w.contains("still holds"))
    );
    let op2 = |node, op| MetaCmd::Node {
        node,
        op,
        replication_factor: 2,
    };
    assert!(matches!(
        apply(&mut kv, op2(n3, NodeOp::Drain)),
        MetaReply::Done { .. }
    ));
    assert_eq!(
        map(&kv).node(n3).map(|n| n.state),
        Some(NodeState::Draining)
    );
    assert!(matches!(
        apply(&mut kv, op2(n3, NodeOp::Undrain)),
        MetaReply::Done { .. }
    ));
    assert_eq!(map(&kv).node(n3).map(|n| n.state), Some(NodeState::Up));
    // Pins name a replica on an up node.
    assert!(matches!(
        apply(
            &mut kv,
            MetaCmd::PinLeader {
                shard: ShardId(1),
                node: n3
            }
        ),
        MetaReply::Refused(_)
    ));
    assert!(matches!(
        apply(
            &mut kv,
            MetaCmd::PinLeader {
                shard: ShardId(1),
                node: n2
            }
        ),
        MetaReply::Done { .. }
    ));
    assert_eq!(placement(&kv).leaders.get(&1), Some(&(n2.0, true)));
}
