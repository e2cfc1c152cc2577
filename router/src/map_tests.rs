use super::*;

fn node(id: u64) -> NodeInfo {
    NodeInfo {
        id: NodeId(id),
        resp_addr: format!("h{id}:6379"),
        cluster_addr: format!("h{id}:7000"),
        state: NodeState::Up,
        weight: 1,
    }
}

fn nodes(ids: &[u64]) -> BTreeMap<NodeId, NodeInfo> {
    ids.iter().map(|&id| (NodeId(id), node(id))).collect()
}

fn shard(id: u64, replicas: &[(u64, u64)], leader: Option<u64>) -> (ShardId, ShardInfo) {
    let replicas = replicas.iter().map(|&(n, p)| Replica {
        node: NodeId(n),
        peer: PeerId(p),
    });
    let info = ShardInfo {
        id: ShardId(id),
        replicas: replicas.collect(),
        leader: leader.map(NodeId),
    };
    (ShardId(id), info)
}

fn range(start: u16, end: u16, shard: u64) -> SlotRange {
    SlotRange {
        start,
        end,
        shard: ShardId(shard),
    }
}

/// A valid two-node, two-shard map; each rejection test breaks exactly one thing in it.
struct Parts {
    nodes: BTreeMap<NodeId, NodeInfo>,
    ranges: Vec<SlotRange>,
    shards: BTreeMap<ShardId, ShardInfo>,
}

fn good() -> Parts {
    Parts {
        nodes: nodes(&[1, 2]),
        ranges: vec![range(0, 99, 1), range(100, 16383, 2)],
        shards: BTreeMap::from([
            shard(1, &[(1, 11), (2, 12)], Some(1)),
            shard(2, &[(2, 22)], None),
        ]),
    }
}

fn build(p: Parts) -> Result<ClusterMap, MapError> {
    ClusterMap::new(3, p.nodes, p.ranges, p.shards)
}

#[test]
fn good_map_builds_and_answers() {
    let m = build(good()).expect("valid");
    assert_eq!(m.epoch(), 3);
    assert_eq!(m.shard_of_slot(0), ShardId(1));
    assert_eq!(m.shard_of_slot(99), ShardId(1));
    assert_eq!(m.shard_of_slot(100), ShardId(2));
    assert_eq!(m.shard_of_slot(16383), ShardId(2));
    assert_eq!(m.slots_of_shard(ShardId(1)), vec![(0, 99)]);
    assert_eq!(m.slots_of_shard(ShardId(9)), vec![]);
    assert_eq!(m.shards_on_node(NodeId(1)), vec![ShardId(1)]);
    assert_eq!(m.shards_on_node(NodeId(2)), vec![ShardId(1), ShardId(2)]);
    assert_eq!(m.max_peer_id(), Some(PeerId(22)));
    assert_eq!(
        m.node(NodeId(2)).map(|n| n.resp_addr.as_str()),
        Some("h2:6379")
    );
}

#[test]
fn ranges_are_sorted_and_merged() {
    let mut p = good();
    p.ranges = vec![range(100, 16383, 2), range(50, 99, 1), range(0, 49, 1)];
    let m = build(p).expect("valid");
    assert_eq!(m.ranges(), &[range(0, 99, 1), range(100, 16383, 2)]);
}

#[test]
fn rejects_an_unowned_slot() {
    let mut p = good();
    p.ranges = vec![range(0, 99, 1), range(101, 16383, 2)];
    assert!(matches!(build(p), Err(MapError::SlotUnowned { slot: 100 })));
    let mut p = good();
    p.ranges = vec![range(0, 99, 1), range(100, 16382, 2)];
    assert!(matches!(
        build(p),
        Err(MapError::SlotUnowned { slot: 16383 })
    ));
}

#[test]
fn rejects_a_slot_owned_twice() {
    let mut p = good();
    p.ranges = vec![range(0, 100, 1), range(100, 16383, 2)];
    let err = build(p).expect_err("overlap");
    assert!(matches!(
        err,
        MapError::SlotOwnedTwice {
            slot: 100,
            first: ShardId(1),
            second: ShardId(2)
        }
    ));
    assert_eq!(
        err.to_string(),
        "slot 100 is owned twice, by shard 1 and shard 2"
    );
}

#[test]
fn rejects_bad_ranges() {
    let mut p = good();
    p.ranges.push(range(5, 4, 1));
    assert!(matches!(
        build(p),
        Err(MapError::BadRange { start: 5, end: 4 })
    ));
    let mut p = good();
    p.ranges = vec![range(0, 99, 1), range(100, 16384, 2)];
    assert!(matches!(
        build(p),
        Err(MapError::BadRange {
            start: 100,
            end: 16384
        })
    ));
}

#[test]
fn rejects_a_range_of_an_unknown_shard() {
    let mut p = good();
    p.ranges = vec![range(0, 99, 1), range(100, 16383, 3)];
    assert!(matches!(
        build(p),
        Err(MapError::RangeUnknownShard {
            shard: ShardId(3),
            ..
        })
    ));
}

#[test]
fn rejects_slots_on_the_meta_shard() {
    let mut p = good();
    p.shards.extend([shard(0, &[(1, 1)], Some(1))]);
    assert!(build(Parts {
        nodes: p.nodes.clone(),
        ranges: p.ranges.clone(),
        shards: p.shards.clone()
    })
    .is_ok());
    p.ranges = vec![range(0, 99, 0), range(100, 16383, 2)];
    assert!(matches!(
        build(p),
        Err(MapError::MetaShardOwnsSlots { start: 0, end: 99 })
    ));
}

#[test]
fn rejects_a_replica_on_an_unknown_node() {
    let mut p = good();
    p.shards.extend([shard(2, &[(2, 22), (3, 23)], None)]);
    assert!(matches!(
        build(p),
        Err(MapError::ReplicaUnknownNode {
            shard: ShardId(2),
            node: NodeId(3)
        })
    ));
}

#[test]
fn rejects_a_node_twice_in_a_shard() {
    let mut p = good();
    p.shards.extend([shard(2, &[(2, 22), (2, 23)], None)]);
    assert!(matches!(
        build(p),
        Err(MapError::DuplicateNode {
            shard: ShardId(2),
            node: NodeId(2)
        })
    ));
}

#[test]
fn rejects_a_peer_id_used_twice() {
    // Across shards…
    let mut p = good();
    p.shards.extend([shard(2, &[(2, 11)], None)]);
    assert!(matches!(
        build(p),
        Err(MapError::DuplicatePeer { peer: PeerId(11) })
    ));
    // …and within one.
    let mut p = good();
    p.shards.extend([shard(1, &[(1, 11), (2, 11)], None)]);
    assert!(matches!(
        build(p),
        Err(MapError::DuplicatePeer { peer: PeerId(11) })
    ));
}

#[test]
fn rejects_a_leader_hint_that_is_not_a_replica() {
    let mut p = good();
    p.shards.extend([shard(2, &[(2, 22)], Some(1))]);
    assert!(matches!(
        build(p),
        Err(MapError::LeaderNotReplica {
            shard: ShardId(2),
            node: NodeId(1)
        })
    ));
}

#[test]
fn rejects_mismatched_keys_and_bad_weights() {
    let mut p = good();
    p.nodes.insert(NodeId(5), node(6));
    assert!(matches!(
        build(p),
        Err(MapError::NodeKeyMismatch {
            key: NodeId(5),
            id: NodeId(6)
        })
    ));
    let mut p = good();
    p.shards.insert(ShardId(4), shard(5, &[], None).1);
    assert!(matches!(
        build(p),
        Err(MapError::ShardKeyMismatch {
            key: ShardId(4),
            ..
        })
    ));
    for weight in [0, MAX_WEIGHT + 1] {
        let mut p = good();
        p.nodes
            .extend([(NodeId(2), NodeInfo { weight, ..node(2) })]);
        assert!(matches!(
            build(p),
            Err(MapError::BadWeight {
                node: NodeId(2),
                ..
            })
        ));
    }
}

#[test]
fn initial_map_splits_slots_evenly_on_one_node() {
    let m = ClusterMap::initial(node(7), 3, PeerId(100)).expect("valid");
    assert_eq!(m.epoch(), 1);
    assert_eq!(
        m.ranges(),
        &[
            range(0, 5460, 1),
            range(5461, 10921, 2),
            range(10922, 16383, 3)
        ]
    );
    assert_eq!(
        m.shards_on_node(NodeId(7)),
        vec![ShardId(1), ShardId(2), ShardId(3)]
    );
    for (i, s) in m.shards().values().enumerate() {
        assert_eq!(
            s.replicas,
            vec![Replica {
                node: NodeId(7),
                peer: PeerId(100 + i as u64)
            }]
        );
        assert_eq!(s.leader, Some(NodeId(7)));
    }
    assert!(m.shard(ShardId::META).is_none());
    let one = ClusterMap::initial(node(1), 1, PeerId(1)).expect("valid");
    assert_eq!(one.ranges(), &[range(0, 16383, 1)]);
    let all = ClusterMap::initial(node(1), SLOT_COUNT, PeerId(1)).expect("valid");
    assert_eq!(all.shard_of_slot(16383), ShardId(16384));
    assert!(matches!(
        ClusterMap::initial(node(1), 0, PeerId(1)),
        Err(MapError::BadShardCount { count: 0 })
    ));
    assert!(matches!(
        ClusterMap::initial(node(1), 2, PeerId(u64::MAX)),
        Err(MapError::PeerIdOverflow)
    ));
}

#[test]
fn replica_changes_bump_the_epoch_and_stay_valid() {
    let m = build(good()).expect("valid");
    let added = m.with_replica_added(
        ShardId(2),
        Replica {
            node: NodeId(1),
            peer: PeerId(30),
        },
    );
    let added = added.expect("valid add");
    assert_eq!(added.epoch(), 4);
    assert_eq!(
        added.shards_on_node(NodeId(1)),
        vec![ShardId(1), ShardId(2)]
    );
    let dup_peer = m.with_replica_added(
        ShardId(2),
        Replica {
            node: NodeId(1),
            peer: PeerId(11),
        },
    );
    assert!(matches!(dup_peer, Err(MapError::DuplicatePeer { .. })));
    let removed = m
        .with_replica_removed(ShardId(1), NodeId(1))
        .expect("valid remove");
    assert_eq!(removed.epoch(), 4);
    assert_eq!(removed.shard(ShardId(1)).map(|s| s.leader), Some(None));
    assert!(matches!(
        m.with_replica_removed(ShardId(8), NodeId(1)),
        Err(MapError::UnknownShard { shard: ShardId(8) })
    ));
}

#[test]
fn leader_hints_must_name_replicas() {
    let mut m = build(good()).expect("valid");
    m.set_leader_hint(ShardId(1), Some(NodeId(2)))
        .expect("replica");
    assert_eq!(m.shard(ShardId(1)).and_then(|s| s.leader), Some(NodeId(2)));
    assert_eq!(m.epoch(), 3);
    assert!(m.set_leader_hint(ShardId(2), Some(NodeId(1))).is_err());
    assert!(m.set_leader_hint(ShardId(9), None).is_err());
}

#[test]
fn encode_decode_round_trips() {
    let m = build(good()).expect("valid");
    let bytes = m.encode();
    assert_eq!(bytes[0], MAP_VERSION);
    assert_eq!(ClusterMap::decode(&bytes).expect("decodes"), m);
    let big = ClusterMap::initial(node(3), 64, PeerId(1)).expect("valid");
    assert_eq!(ClusterMap::decode(&big.encode()).expect("decodes"), big);
}

/// The encoding is a wire and disk format: these bytes must not change without a version bump.
#[test]
fn golden_bytes() {
    let n = NodeInfo {
        id: NodeId(1),
        resp_addr: "a:1".into(),
        cluster_addr: "b:2".into(),
        state: NodeState::Draining,
        weight: 2,
    };
    let nodes = BTreeMap::from([(NodeId(1), n)]);
    let shards = BTreeMap::from([shard(1, &[(1, 300)], Some(1))]);
    let m = ClusterMap::new(5, nodes, vec![range(0, 16383, 1)], shards).expect("valid");
    #[rustfmt::skip]
    let golden: &[u8] = &[
        1,                                  // MAP_VERSION
        5,                                  // epoch
        1,                                  // nodes: 1 entry
        1,                                  //   key NodeId(1)
        1,                                  //   id
        3, b'a', b':', b'1',                //   resp_addr
        3, b'b', b':', b'2',                //   cluster_addr
        2,                                  //   state: Draining
        2,                                  //   weight
        1,                                  // ranges: 1 entry
        0, 0xff, 0x7f, 1,                   //   start 0, end 16383 (varint), shard 1
        1,                                  // shards: 1 entry
        1,                                  //   key ShardId(1)
        1,                                  //   id
        1, 1, 0xac, 0x02,                   //   replicas: [node 1, peer 300 (varint)]
        1, 1,                               //   leader: Some(1)
    ];
    assert_eq!(m.encode(), golden);
    assert_eq!(ClusterMap::decode(golden).expect("decodes"), m);
}

#[test]
fn decode_rejects_bad_input() {
    let bytes = build(good()).expect("valid").encode();
    assert!(matches!(ClusterMap::decode(&[]), Err(MapError::Empty)));
    let mut wrong = bytes.clone();
    wrong[0] = 9;
    assert!(matches!(
        ClusterMap::decode(&wrong),
        Err(MapError::Version { found: 9 })
    ));
    assert!(matches!(
        ClusterMap::decode(&bytes[..bytes.len() - 3]),
        Err(MapError::Decode(_))
    ));
    // Well-formed postcard, invalid map: the constructor's check is reported.
    let parts = MapParts {
        epoch: 1,
        nodes: nodes(&[1]),
        ranges: vec![range(0, 10, 1)],
        shards: BTreeMap::from([shard(1, &[(1, 1)], None)]),
    };
    let invalid = postcard::to_extend(&parts, vec![MAP_VERSION]).expect("serializes");
    assert!(matches!(
        ClusterMap::decode(&invalid),
        Err(MapError::SlotUnowned { slot: 11 })
    ));
    // Serde's own Deserialize (e.g. a map inside a larger message) validates too.
    assert!(postcard::from_bytes::<ClusterMap>(&invalid[1..]).is_err());
}
