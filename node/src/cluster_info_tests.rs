//! Tests of the CLUSTER replies against hand-built topologies: exact reply shapes (checked against
//! redis-server 7.0.15 in cluster mode), liveness and leader-hint handling, errors before a map.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tanli_router::{
    ClusterMap, NodeId, NodeInfo, NodeState, PeerId, Replica, ShardId, ShardInfo, SlotRange,
};

use super::*;
use crate::control::gossip::{Announcement, Phase};

fn node(id: u64, port: u16) -> NodeInfo {
    NodeInfo {
        id: NodeId(id),
        resp_addr: format!("10.0.0.{id}:{port}"),
        cluster_addr: format!("10.0.0.{id}:{}", port + 10000),
        state: NodeState::Up,
        weight: 1,
    }
}

fn shard(id: u64, replicas: &[(u64, u64)], leader: Option<u64>) -> ShardInfo {
    ShardInfo {
        id: ShardId(id),
        replicas: replicas
            .iter()
            .map(|&(n, p)| Replica {
                node: NodeId(n),
                peer: PeerId(p),
            })
            .collect(),
        leader: leader.map(NodeId),
    }
}

fn announce(id: u64, resp: &str, cluster: &str) -> (u64, Announcement) {
    let a = Announcement {
        node_id: id,
        resp_addr: resp.parse().expect("addr"),
        cluster_addr: cluster.parse().expect("addr"),
        phase: Phase::Up,
        epoch: 0,
        leads: Vec::new(),
        load: 0,
        keys: 0,
        bytes: 0,
        led: Vec::new(),
    };
    (id, a)
}

fn topo(me: u64, map: Option<ClusterMap>, live: Vec<(u64, Announcement)>) -> Topology {
    Topology {
        me: NodeId(me),
        map: map.map(Arc::new),
        shards: BTreeMap::new(),
        meta: None,
        live: Arc::new(live.into_iter().collect()),
        published: std::time::Instant::now(),
    }
}

/// Three data shards over nodes 1 (me), 2 (live, gossiping a newer address) and 3 (not live);
/// node 4 is removed; the meta shard is listed. Shard 1 is led by 2, shard 2 by 1 (me), shard 3
/// has no leader hint. Epoch 8.
fn three_nodes() -> Topology {
    let mut map = ClusterMap::initial(node(1, 6379), 3, PeerId(10)).expect("initial");
    let mut removed = node(4, 6382);
    removed.state = NodeState::Removed;
    for n in [node(2, 6380), node(3, 6381), removed] {
        map = map.with_node(n).expect("node");
    }
    for s in [
        shard(0, &[(1, 1)], Some(1)),
        shard(1, &[(1, 10), (2, 20), (3, 30)], Some(2)),
        shard(2, &[(1, 11), (2, 21)], Some(1)),
        shard(3, &[(3, 32), (1, 12)], None),
    ] {
        map = map.with_shard(s).expect("shard");
    }
    assert_eq!(map.epoch(), 8);
    let live = vec![announce(2, "10.0.0.2:7000", "10.0.0.2:17000")];
    topo(1, Some(map), live)
}

fn id(n: u64) -> String {
    format!("{n:040x}")
}

fn b(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

fn wire(r: &Reply, resp3: bool) -> String {
    let mut out = BytesMut::new();
    r.encode(resp3, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn ask(t: &Topology, cmd: ClusterCmd) -> Reply {
    answer(t, &cmd)
}

#[test]
fn nodes_lists_every_node_as_a_master_with_the_slots_it_leads() {
    let want = format!(
        "{} 10.0.0.1:6379@16379 myself,master - 0 0 8 connected 5461-10921\n\
         {} 10.0.0.2:7000@17000 master - 0 0 8 connected 0-5460\n\
         {} 10.0.0.3:6381@16381 master,fail - 0 0 8 disconnected\n",
        id(1),
        id(2),
        id(3)
    );
    assert_eq!(
        ask(&three_nodes(), ClusterCmd::Nodes),
        Reply::Verbatim(want)
    );
}

#[test]
fn nodes_merges_adjacent_led_ranges_and_prints_single_slots_bare() {
    let nodes = BTreeMap::from([(NodeId(1), node(1, 6379)), (NodeId(2), node(2, 6380))]);
    let ranges = vec![
        SlotRange {
            start: 0,
            end: 0,
            shard: ShardId(1),
        },
        SlotRange {
            start: 1,
            end: 99,
            shard: ShardId(2),
        },
        SlotRange {
            start: 100,
            end: 16383,
            shard: ShardId(3),
        },
    ];
    let shards = BTreeMap::from([
        (ShardId(1), shard(1, &[(1, 1)], Some(1))),
        (ShardId(2), shard(2, &[(2, 2)], Some(2))),
        (ShardId(3), shard(3, &[(2, 3)], Some(2))),
    ]);
    let map = ClusterMap::new(5, nodes, ranges, shards).expect("map");
    let live = vec![announce(1, "10.0.0.1:6379", "10.0.0.1:16379")];
    let Reply::Verbatim(text) = ask(&topo(2, Some(map), live), ClusterCmd::Nodes) else {
        panic!()
    };
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with(" master - 0 0 5 connected 0"), "{text}");
    assert!(
        lines[1].ends_with(" myself,master - 0 0 5 connected 1-16383"),
        "{text}"
    );
}

#[test]
fn slots_name_master_then_live_replicas() {
    let n = |i: u64, ip: &str, port: i64| {
        Reply::Array(vec![b(ip), int(port), b(&id(i)), Reply::Map(vec![])])
    };
    let want = Reply::Array(vec![
        Reply::Array(vec![
            int(0),
            int(5460),
            n(2, "10.0.0.2", 7000),
            n(1, "10.0.0.1", 6379),
        ]),
        Reply::Array(vec![
            int(5461),
            int(10921),
            n(1, "10.0.0.1", 6379),
            n(2, "10.0.0.2", 7000),
        ]),
        Reply::Array(vec![
            int(10922),
            int(16383),
            n(3, "10.0.0.3", 6381),
            n(1, "10.0.0.1", 6379),
        ]),
    ]);
    assert_eq!(ask(&three_nodes(), ClusterCmd::Slots), want);
}

#[test]
fn shards_list_data_shards_with_master_first() {
    let member = |i: u64, ip: &str, port: i64, role: &str, health: &str| {
        Reply::Map(vec![
            (b("id"), b(&id(i))),
            (b("port"), int(port)),
            (b("ip"), b(ip)),
            (b("endpoint"), b(ip)),
            (b("role"), b(role)),
            (b("replication-offset"), int(0)),
            (b("health"), b(health)),
        ])
    };
    let entry = |slots: [i64; 2], nodes: Vec<Reply>| {
        Reply::Map(vec![
            (b("slots"), Reply::Array(slots.map(int).to_vec())),
            (b("nodes"), Reply::Array(nodes)),
        ])
    };
    let want = Reply::Array(vec![
        entry(
            [0, 5460],
            vec![
                member(2, "10.0.0.2", 7000, "master", "online"),
                member(1, "10.0.0.1", 6379, "replica", "online"),
                member(3, "10.0.0.3", 6381, "replica", "fail"),
            ],
        ),
        entry(
            [5461, 10921],
            vec![
                member(1, "10.0.0.1", 6379, "master", "online"),
                member(2, "10.0.0.2", 7000, "replica", "online"),
            ],
        ),
        // No leader hint: the first replica stands in as a failed master.
        entry(
            [10922, 16383],
            vec![
                member(3, "10.0.0.3", 6381, "master", "fail"),
                member(1, "10.0.0.1", 6379, "replica", "online"),
            ],
        ),
    ]);
    assert_eq!(ask(&three_nodes(), ClusterCmd::Shards), want);
}

#[test]
fn info_counts_slots_served_by_a_live_leader() {
    let want = "cluster_state:fail\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:10922\r\n\
                cluster_slots_pfail:0\r\ncluster_slots_fail:5462\r\ncluster_known_nodes:3\r\n\
                cluster_size:3\r\ncluster_current_epoch:8\r\ncluster_my_epoch:8\r\n\
                cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
                total_cluster_links_buffer_limit_exceeded:0\r\n";
    assert_eq!(
        ask(&three_nodes(), ClusterCmd::Info),
        Reply::Verbatim(want.into())
    );
    let mut out = String::new();
    info_section(&three_nodes(), &mut out).expect("fmt");
    assert_eq!(
        out,
        "# Cluster\r\ncluster_enabled:1\r\ncluster_epoch:8\r\ncluster_known_nodes:3\r\n\
         cluster_live_nodes:2\r\ncluster_shards_hosted:0\r\ncluster_shards_led:1\r\n"
    );
}

/// One node, one shard: byte for byte what redis-server 7.0.15 sends for the same layout.
#[test]
fn single_node_replies_are_byte_exact() {
    let mut me = node(1, 6379);
    me.resp_addr = "127.0.0.1:7001".into();
    me.cluster_addr = "127.0.0.1:17001".into();
    let map = ClusterMap::initial(me, 1, PeerId(1)).expect("initial");
    let t = topo(1, Some(map), vec![]);
    let i = id(1);
    let slots = ask(&t, ClusterCmd::Slots);
    let head = "*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:7001\r\n$40\r\n";
    assert_eq!(wire(&slots, false), format!("{head}{i}\r\n*0\r\n"));
    assert_eq!(wire(&slots, true), format!("{head}{i}\r\n%0\r\n"));
    let shards = ask(&t, ClusterCmd::Shards);
    let body = format!(
        "$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n{{}}\r\n$2\r\nid\r\n$40\r\n{i}\r\n\
         $4\r\nport\r\n:7001\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    );
    assert_eq!(
        wire(&shards, false),
        format!("*1\r\n*4\r\n{}", body.replace("{}", "*14"))
    );
    assert_eq!(
        wire(&shards, true),
        format!("*1\r\n%2\r\n{}", body.replace("{}", "%7"))
    );
    let nodes = format!("{i} 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-16383\n");
    assert_eq!(ask(&t, ClusterCmd::Nodes), Reply::Verbatim(nodes));
    let Reply::Verbatim(info) = ask(&t, ClusterCmd::Info) else {
        panic!()
    };
    assert!(info.starts_with(
        "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n"
    ));
    assert!(info.contains("\r\ncluster_known_nodes:1\r\ncluster_size:1\r\n"));
}

#[test]
fn ids_keyslot_and_slot_keys() {
    let t = three_nodes();
    assert_eq!(ask(&t, ClusterCmd::MyId), b(&id(1)));
    assert_eq!(ask(&t, ClusterCmd::MyShardId), b(&id(2)));
    // Node 3 leads nothing: its first shard by the map.
    let t3 = Topology {
        me: NodeId(3),
        ..three_nodes()
    };
    assert_eq!(ask(&t3, ClusterCmd::MyShardId), b(&id(1)));
    assert_eq!(
        ask(&t, ClusterCmd::KeySlot(Bytes::from_static(b"foo"))),
        int(12182)
    );
    // Shards not hosted here: answered as Redis answers for slots it does not own.
    assert_eq!(ask(&t, ClusterCmd::CountKeysInSlot(12182)), int(0));
    assert_eq!(
        ask(&t, ClusterCmd::GetKeysInSlot { slot: 1, count: 10 }),
        Reply::Array(vec![])
    );
    let Reply::Array(help) = ask(&t, ClusterCmd::Help) else {
        panic!()
    };
    assert!(!help.is_empty());
}

#[test]
fn without_a_map_only_keyslot_myid_and_help_answer() {
    let t = topo(7, None, vec![]);
    let down = Reply::Error("CLUSTERDOWN The cluster is not ready".into());
    for cmd in [
        ClusterCmd::Info,
        ClusterCmd::Nodes,
        ClusterCmd::Slots,
        ClusterCmd::Shards,
        ClusterCmd::MyShardId,
        ClusterCmd::CountKeysInSlot(0),
        ClusterCmd::GetKeysInSlot { slot: 0, count: 1 },
    ] {
        assert_eq!(ask(&t, cmd.clone()), down, "{cmd:?}");
    }
    assert_eq!(ask(&t, ClusterCmd::MyId), b(&id(7)));
    assert_eq!(
        ask(&t, ClusterCmd::KeySlot(Bytes::from_static(b"{user1000}.x"))),
        int(i64::from(slot_of(b"user1000")))
    );
    assert!(matches!(ask(&t, ClusterCmd::Help), Reply::Array(_)));
    let mut out = String::new();
    info_section(&t, &mut out).expect("fmt");
    assert!(out.contains("cluster_enabled:1\r\ncluster_epoch:0\r\n"));
}

#[test]
fn addresses_split_like_redis() {
    assert_eq!(split_addr("10.1.2.3:6379"), ("10.1.2.3".into(), 6379));
    assert_eq!(split_addr("[::1]:7000"), ("::1".into(), 7000));
    assert_eq!(split_addr("host"), ("host".into(), 0));
    assert_eq!(hex_id(255), format!("{}ff", "0".repeat(38)));
}
