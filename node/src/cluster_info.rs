//! What a Redis Cluster client sees of tanli: the CLUSTER introspection replies (SHARDS, SLOTS,
//! NODES, INFO, MYID, MYSHARDID, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT) and INFO's `cluster`
//! section, rendered from one [`Topology`] in Redis 7.0's exact reply shapes.
//!
//! The translation: a data shard is a Redis "shard"; its master is its leader (the map's leader
//! hint), or, with no hint, its first replica reported as failed. Every tanli node is a Redis
//! master (one that leads nothing has no slots), so `redis-benchmark --cluster` and cluster
//! clients accept the layout. The meta shard (0) owns no slots and never appears. Node ids are
//! the tanli id as 40 hex digits; liveness is gossip's.

use std::fmt::Write;

use tanli_router::{slot_of, ClusterMap, NodeId, NodeState, ShardId, ShardInfo, SLOT_COUNT};

use crate::cmd::cluster::{help, ClusterCmd};
use crate::control::topology::Topology;
use crate::reply::Reply;

/// Answers `cmd` from `topo`. Slot key reads are synchronous reads of this node's replica.
pub fn answer(topo: &Topology, cmd: &ClusterCmd) -> Reply {
    let map = match &topo.map {
        Some(m) => m.as_ref(),
        None if cmd.needs_map() => {
            return Reply::Error("CLUSTERDOWN The cluster is not ready".into())
        }
        None => return answer_without_map(topo, cmd),
    };
    match cmd {
        ClusterCmd::Info => Reply::Verbatim(info(topo, map)),
        ClusterCmd::Nodes => Reply::Verbatim(nodes(topo, map)),
        ClusterCmd::Slots => slots(topo, map),
        ClusterCmd::Shards => shards(topo, map),
        ClusterCmd::MyShardId => match my_shard(topo, map) {
            Some(s) => Reply::Bulk(hex_id(s.0).into_bytes()),
            None => Reply::err("This node hosts no data shard"),
        },
        ClusterCmd::CountKeysInSlot(slot) => match topo.shard(map.shard_of_slot(*slot)) {
            None => Reply::Int(0),
            Some(s) => match s.reader.count_in_slot(*slot) {
                Ok(n) => Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                Err(e) => crate::error::ClusterError::from(e).to_reply(),
            },
        },
        ClusterCmd::GetKeysInSlot { slot, count } => match topo.shard(map.shard_of_slot(*slot)) {
            None => Reply::Array(Vec::new()),
            Some(s) => {
                let limit = usize::try_from(*count).unwrap_or(usize::MAX);
                match s.reader.keys_in_slot(*slot, limit) {
                    Ok(keys) => Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
                    Err(e) => crate::error::ClusterError::from(e).to_reply(),
                }
            }
        },
        _ => answer_without_map(topo, cmd),
    }
}

fn answer_without_map(topo: &Topology, cmd: &ClusterCmd) -> Reply {
    match cmd {
        ClusterCmd::KeySlot(key) => Reply::Int(i64::from(slot_of(key))),
        ClusterCmd::MyId => Reply::Bulk(hex_id(topo.me.0).into_bytes()),
        ClusterCmd::Help => help(),
        _ => Reply::Error("CLUSTERDOWN The cluster is not ready".into()),
    }
}

/// A tanli id as a Redis node (or shard) id: 40 lowercase hex digits.
pub fn hex_id(id: u64) -> String {
    format!("{id:040x}")
}

/// The data shards of `map` (the meta shard left out), in id order.
fn data_shards(map: &ClusterMap) -> impl Iterator<Item = &ShardInfo> {
    map.shards().values().filter(|s| s.id != ShardId::META)
}

/// The node Redis would call the shard's master: the leader hint, else the first replica
/// (`false`: no leader is known, so it is reported failed).
fn master_of(shard: &ShardInfo) -> Option<(NodeId, bool)> {
    match shard.leader {
        Some(l) => Some((l, true)),
        None => shard.replicas.first().map(|r| (r.node, false)),
    }
}

/// `(ip, port)` clients reach `node` at; `("", 0)` when unknown, as Redis reports an unknown ip.
fn client_addr(topo: &Topology, node: NodeId) -> (String, u16) {
    topo.resp_addr(node)
        .map(|a| split_addr(&a))
        .unwrap_or_default()
}

/// The port of the node's cluster (Raft and gossip) address: gossiped if live, else the map's.
fn cluster_port(topo: &Topology, map: &ClusterMap, node: NodeId) -> u16 {
    match topo.live.get(&node.0) {
        Some(a) => a.cluster_addr.port(),
        None => map
            .node(node)
            .map(|n| split_addr(&n.cluster_addr).1)
            .unwrap_or(0),
    }
}

/// Splits `host:port` (`[v6]:port` too); a missing or bad port is 0.
fn split_addr(addr: &str) -> (String, u16) {
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            (host.to_string(), port.parse().unwrap_or(0))
        }
        None => (addr.to_string(), 0),
    }
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// CLUSTER SHARDS: per data shard, its slots and its nodes, master first.
fn shards(topo: &Topology, map: &ClusterMap) -> Reply {
    let entries = data_shards(map).map(|shard| {
        let slots = map
            .slots_of_shard(shard.id)
            .into_iter()
            .flat_map(|(s, e)| [Reply::Int(i64::from(s)), Reply::Int(i64::from(e))])
            .collect();
        let master = master_of(shard);
        // (node, is master, leads): a master without a leader hint is reported failed.
        let mut members: Vec<(NodeId, bool, bool)> = Vec::new();
        if let Some((node, led)) = master {
            members.push((node, true, led));
        }
        for r in &shard.replicas {
            if Some(r.node) != master.map(|m| m.0) {
                members.push((r.node, false, false));
            }
        }
        let nodes = members
            .into_iter()
            .map(|(node, is_master, led)| shard_node(topo, shard.id, node, is_master, led))
            .collect();
        Reply::Map(vec![
            (bulk("slots"), Reply::Array(slots)),
            (bulk("nodes"), Reply::Array(nodes)),
        ])
    });
    Reply::Array(entries.collect())
}

fn shard_node(topo: &Topology, shard: ShardId, node: NodeId, master: bool, led: bool) -> Reply {
    let leaderless = master && !led;
    let (ip, port) = client_addr(topo, node);
    let offset = match topo.shard(shard) {
        Some(s) if node == topo.me => s.status().applied_index,
        _ => 0,
    };
    let health = if !leaderless && topo.is_live(node) {
        "online"
    } else {
        "fail"
    };
    Reply::Map(vec![
        (bulk("id"), bulk(&hex_id(node.0))),
        (bulk("port"), Reply::Int(i64::from(port))),
        (bulk("ip"), bulk(&ip)),
        (bulk("endpoint"), bulk(&ip)),
        (
            bulk("role"),
            bulk(if master { "master" } else { "replica" }),
        ),
        (
            bulk("replication-offset"),
            Reply::Int(i64::try_from(offset).unwrap_or(i64::MAX)),
        ),
        (bulk("health"), bulk(health)),
    ])
}

/// CLUSTER SLOTS: per slot range, `start, end, master, replicas...`, each node
/// `[ip, port, id, {}]`; replicas that are not live are left out, as Redis leaves out failed ones.
fn slots(topo: &Topology, map: &ClusterMap) -> Reply {
    let node = |n: NodeId| {
        let (ip, port) = client_addr(topo, n);
        Reply::Array(vec![
            bulk(&ip),
            Reply::Int(i64::from(port)),
            bulk(&hex_id(n.0)),
            Reply::Map(Vec::new()),
        ])
    };
    let entries = map.ranges().iter().filter_map(|r| {
        let shard = map.shard(r.shard)?;
        let (master, _) = master_of(shard)?;
        let mut entry = vec![
            Reply::Int(i64::from(r.start)),
            Reply::Int(i64::from(r.end)),
            node(master),
        ];
        entry.extend(
            shard
                .replicas
                .iter()
                .filter(|rep| rep.node != master && topo.is_live(rep.node))
                .map(|rep| node(rep.node)),
        );
        Some(Reply::Array(entry))
    });
    Reply::Array(entries.collect())
}

/// The slot ranges of the shards `node` leads (by leader hint), adjacent ranges merged.
fn led_ranges(map: &ClusterMap, node: NodeId) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for r in map.ranges() {
        if map.shard(r.shard).and_then(|s| s.leader) != Some(node) {
            continue;
        }
        match out.last_mut() {
            Some(last) if u32::from(last.1) + 1 == u32::from(r.start) => last.1 = r.end,
            _ => out.push((r.start, r.end)),
        }
    }
    out
}

/// CLUSTER NODES: one line per node of the map that is not removed, every one a master.
fn nodes(topo: &Topology, map: &ClusterMap) -> String {
    let mut out = String::new();
    for info in map.nodes().values() {
        if info.state == NodeState::Removed {
            continue;
        }
        let id = info.id;
        let (ip, port) = client_addr(topo, id);
        let live = topo.is_live(id);
        let flags = match (id == topo.me, live) {
            (true, _) => "myself,master",
            (false, true) => "master",
            (false, false) => "master,fail",
        };
        let link = if live { "connected" } else { "disconnected" };
        let _ = write!(
            out,
            "{} {ip}:{port}@{} {flags} - 0 0 {} {link}",
            hex_id(id.0),
            cluster_port(topo, map, id),
            map.epoch()
        );
        for (start, end) in led_ranges(map, id) {
            let _ = match start == end {
                true => write!(out, " {start}"),
                false => write!(out, " {start}-{end}"),
            };
        }
        out.push('\n');
    }
    out
}

/// Slots whose shard has a leader hint naming a live node.
fn slots_ok(topo: &Topology, map: &ClusterMap) -> u32 {
    map.ranges()
        .iter()
        .filter(|r| {
            map.shard(r.shard)
                .and_then(|s| s.leader)
                .is_some_and(|l| topo.is_live(l))
        })
        .map(|r| u32::from(r.end - r.start) + 1)
        .sum()
}

fn known_nodes(map: &ClusterMap) -> impl Iterator<Item = NodeId> + '_ {
    map.nodes()
        .values()
        .filter(|n| n.state != NodeState::Removed)
        .map(|n| n.id)
}

/// CLUSTER INFO's text, CRLF-terminated lines as Redis prints them.
fn info(topo: &Topology, map: &ClusterMap) -> String {
    let ok = slots_ok(topo, map);
    let all = u32::from(SLOT_COUNT);
    let epoch = map.epoch();
    let fields: [(&str, String); 12] = [
        (
            "cluster_state",
            if ok == all { "ok" } else { "fail" }.into(),
        ),
        ("cluster_slots_assigned", all.to_string()),
        ("cluster_slots_ok", ok.to_string()),
        ("cluster_slots_pfail", "0".into()),
        ("cluster_slots_fail", (all - ok).to_string()),
        ("cluster_known_nodes", known_nodes(map).count().to_string()),
        ("cluster_size", data_shards(map).count().to_string()),
        ("cluster_current_epoch", epoch.to_string()),
        ("cluster_my_epoch", epoch.to_string()),
        ("cluster_stats_messages_sent", "0".into()),
        ("cluster_stats_messages_received", "0".into()),
        ("total_cluster_links_buffer_limit_exceeded", "0".into()),
    ];
    let mut out = String::new();
    for (k, v) in fields {
        let _ = write!(out, "{k}:{v}\r\n");
    }
    out
}

/// The shard CLUSTER MYSHARDID names: the first this node leads, else the first it hosts, else
/// the first the map places on it.
fn my_shard(topo: &Topology, map: &ClusterMap) -> Option<ShardId> {
    let data = |s: &ShardId| *s != ShardId::META;
    data_shards(map)
        .find(|s| s.leader == Some(topo.me))
        .map(|s| s.id)
        .or_else(|| topo.shards.keys().map(|&id| ShardId(id)).find(data))
        .or_else(|| map.shards_on_node(topo.me).into_iter().find(data))
}

/// INFO's `cluster` section: Redis's `cluster_enabled`, then tanli's own fields.
pub fn info_section(topo: &Topology, out: &mut String) -> std::fmt::Result {
    writeln!(out, "# Cluster\r")?;
    writeln!(out, "cluster_enabled:1\r")?;
    writeln!(out, "cluster_epoch:{}\r", topo.epoch())?;
    let (known, live, led) = match &topo.map {
        Some(map) => (
            known_nodes(map).count(),
            known_nodes(map).filter(|&n| topo.is_live(n)).count(),
            data_shards(map)
                .filter(|s| s.leader == Some(topo.me))
                .count(),
        ),
        None => (0, topo.live.len(), 0),
    };
    writeln!(out, "cluster_known_nodes:{known}\r")?;
    writeln!(out, "cluster_live_nodes:{live}\r")?;
    writeln!(out, "cluster_shards_hosted:{}\r", topo.shards.len())?;
    writeln!(out, "cluster_shards_led:{led}\r")
}

#[cfg(test)]
#[path = "cluster_info_tests.rs"]
mod tests;
