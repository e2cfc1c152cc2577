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
