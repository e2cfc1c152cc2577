//! `TANLI.STATUS`: the cluster as this node sees it — the map its meta replica holds, with
//! leader hints and live addresses laid over by gossip, and each node's own figures (keys,
//! bytes, load, and for the shards it leads, log index and replication lag) as it gossips
//! them. Shape documented in `ctl/README.md`.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tanli_router::{NodeId, ShardId};

use crate::admin_placement::{plan_json, state_str};
use crate::server::Node;

pub fn status(node: &Node) -> Value {
    let topo = node.topology();
    let placement = node.control.local_placement();
    let Some(map) = topo.map.clone() else {
        return json!({ "epoch": null, "nodes": [], "shards": [], "plan": null });
    };
    let live = |n: NodeId| n == topo.me || topo.live.contains_key(&n.0);
    let leaders: BTreeMap<ShardId, NodeId> = map
        .shards()
        .values()
        .filter(|s| s.id != ShardId::META)
        .filter_map(|s| Some((s.id, s.leader?)))
        .collect();
    let nodes: Vec<Value> = map
        .nodes()
        .values()
        .map(|n| {
            let a = topo.live.get(&n.id.0);
            let replicas = map
                .shards_on_node(n.id)
                .iter()
                .filter(|s| **s != ShardId::META)
                .count();
            let led = leaders.values().filter(|l| **l == n.id).count();
            json!({
                "id": n.id.0,
                "resp_addr": n.resp_addr,
                "cluster_addr": n.cluster_addr,
                "state": state_str(n.state),
                "live": live(n.id),
                "weight": n.weight,
                "replicas": replicas,
                "leaders": led,
                "keys": a.map(|a| a.keys),
                "bytes": a.map(|a| a.bytes),
                "load": a.map(|a| a.load),
            })
        })
        .collect();
    let shards: Vec<Value> = map
        .shards()
        .values()
        .filter(|s| s.id != ShardId::META)
        .map(|s| {
            let leader = leaders.get(&s.id).copied();
            let gossip = leader.and_then(|l| topo.live.get(&l.0));
            let term = gossip.and_then(|a| {
                a.leads
                    .iter()
                    .find(|(id, _)| *id == s.id.0)
                    .map(|(_, t)| *t)
            });
            let led = gossip.and_then(|a| a.led.iter().find(|(id, _, _)| *id == s.id.0));
            let slots: Vec<[u16; 2]> = map
                .slots_of_shard(s.id)
                .into_iter()
                .map(|(a, b)| [a, b])
                .collect();
            json!({
                "id": s.id.0,
                "slots": slots,
                "replicas": s.replicas.iter().map(|r| r.node.0).collect::<Vec<_>>(),
                "leader": leader.map(|l| l.0),
                "preferred_leader": placement.leaders.get(&s.id.0).map(|(n, _)| *n),
                "pinned": placement.leaders.get(&s.id.0).is_some_and(|(_, p)| *p),
                "term": term,
                "commit": led.map(|(_, last, _)| *last),
                "lag": led.map(|(_, _, lag)| *lag),
            })
        })
        .collect();
    let spread = tanli_router::spread(&map, &leaders, &live);
    let tolerance = node.config.balance_tolerance;
    json!({
        "epoch": map.epoch(),
        "meta_leader": node.control.meta_leader().map(|n| n.0),
        "replication_factor": node.config.replication_factor,
        "nodes": nodes,
        "shards": shards,
        "balance": {
            "replicas_spread": spread.replicas,
            "leaders_spread": spread.leaders,
            "tolerance": tolerance,
            "balanced": spread.replicas <= tolerance && spread.leaders <= tolerance,
            "auto_rebalance": node.config.auto_rebalance,
            "held": placement.hold_balance,
        },
        "plan": placement.running().map(plan_json),
    })
}
