//! INFO sections and the HELLO reply: what a node says about itself.
//!
//! Fields keep Redis's names where Redis has one, so existing dashboards and tools read them.
//! The `raft` section is tanli's own. INFO is answered from local state, not linearizably.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::reply::Reply;
use crate::server::Node;

/// The Redis version tanli's command set and replies follow.
pub const REDIS_COMPAT_VERSION: &str = "7.4.0";

const SECTIONS: [&str; 7] = [
    "server", "clients", "memory", "stats", "cluster", "keyspace", "raft",
];

pub fn hello(node: &Node, client_id: u64, resp3: bool) -> Reply {
    let s = |v: &str| Reply::Bulk(v.as_bytes().to_vec());
    Reply::Map(vec![
        (s("server"), s("redis")),
        (s("version"), s(REDIS_COMPAT_VERSION)),
        (s("proto"), Reply::Int(if resp3 { 3 } else { 2 })),
        (s("id"), Reply::Int(client_id as i64)),
        (s("mode"), s("standalone")),
        (
            s("role"),
            s(if node.topology().led_shards().is_empty() {
                "replica"
            } else {
                "master"
            }),
        ),
        (s("modules"), Reply::Array(vec![])),
    ])
}

/// Renders the requested sections (`default`/`all`/`everything` or empty: all of them).
pub fn render(node: &Node, wanted: &[String]) -> String {
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_str(), "all" | "default" | "everything"));
    let mut out = String::new();
    for name in SECTIONS {
        if !all && !wanted.iter().any(|w| w == name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = match name {
            "server" => server(node, &mut out),
            "clients" => clients(node, &mut out),
            "memory" => memory(&mut out),
            "stats" => stats(node, &mut out),
            "cluster" => cluster(node, &mut out),
            "keyspace" => keyspace(node, &mut out),
            _ => raft(node, &mut out),
        };
    }
    out
}

fn server(node: &Node, out: &mut String) -> std::fmt::Result {
    let up = node.started.elapsed().as_secs();
    writeln!(out, "# Server\r")?;
    writeln!(out, "redis_version:{REDIS_COMPAT_VERSION}\r")?;
    writeln!(out, "tanli_version:{}\r", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "redis_mode:standalone\r")?;
    writeln!(
        out,
        "os:{} {}\r",
        std::env::consts::OS,
        std::env::consts::ARCH
    )?;
    writeln!(out, "arch_bits:{}\r", usize::BITS)?;
    writeln!(out, "process_id:{}\r", std::process::id())?;
    writeln!(out, "run_id:{}\r", node.identity.cluster_id)?;
    writeln!(out, "tcp_port:{}\r", node.resp_addr.port())?;
    writeln!(out, "cluster_port:{}\r", node.cluster_addr.port())?;
    writeln!(out, "uptime_in_seconds:{up}\r")?;
    writeln!(out, "uptime_in_days:{}\r", up / 86_400)?;
    writeln!(out, "data_dir:{}\r", node.config.data_dir.display())?;
    // How this node's shard leaders confirm a linearizable read (READONLY reads are stale).
    writeln!(out, "read_policy:{}\r", node.config.read_policy.name())
}

fn clients(node: &Node, out: &mut String) -> std::fmt::Result {
    writeln!(out, "# Clients\r")?;
    writeln!(out, "connected_clients:{}\r", node.clients.count())?;
    writeln!(out, "maxclients:{}\r", node.config.connections_max)?;
    let adm = &node.admission;
    writeln!(out, "clients_in_flight:{}\r", adm.inflight())?;
    writeln!(
        out,
        "clients_memory:{}\r",
        adm.clients_memory.load(Ordering::Relaxed)
    )?;
    writeln!(
        out,
        "hot_clients:{}\r",
        adm.hot_clients.load(Ordering::Relaxed)
    )
}

/// Resident memory from /proc (Linux); the section says so when it cannot be read.
fn memory(out: &mut String) -> std::fmt::Result {
    writeln!(out, "# Memory\r")?;
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096);
    match rss {
        Some(b) => {
            writeln!(out, "used_memory_rss:{b}\r")?;
            writeln!(
                out,
                "used_memory_rss_human:{:.2}M\r",
                b as f64 / (1 << 20) as f64
            )
        }
        None => writeln!(out, "used_memory_rss:unavailable\r"),
    }
}

fn stats(node: &Node, out: &mut String) -> std::fmt::Result {
    writeln!(out, "# Stats\r")?;
    writeln!(
        out,
        "total_connections_received:{}\r",
        node.clients.total_connections.load(Ordering::Relaxed)
    )?;
    writeln!(
        out,
        "total_commands_processed:{}\r",
        node.commands_processed.load(Ordering::Relaxed)
    )?;
    writeln!(
        out,
        "overload_refusals:{}\r",
        node.admission.refusals.load(Ordering::Relaxed)
    )?;
    writeln!(
        out,
        "clients_shed:{}\r",
        node.admission.shed.load(Ordering::Relaxed)
    )?;
    writeln!(
        out,
        "wal_syncs:{}\r",
        node.store.stats.wal_syncs.load(Ordering::Relaxed)
    )?;
    writeln!(
        out,
        "wal_sync_waiters:{}\r",
        node.store.stats.wal_sync_waiters.load(Ordering::Relaxed)
    )?;
    // Point reads the record cache answered, and what it holds (see `tanli_storage` cache.rs).
    let rc = node.store.record_cache_stats();
    writeln!(out, "record_cache_hits:{}\r", rc.hits)?;
    writeln!(out, "record_cache_misses:{}\r", rc.misses)?;
    writeln!(out, "record_cache_bytes:{}\r", rc.bytes)?;
    writeln!(out, "record_cache_bytes_max:{}\r", rc.bytes_max)?;
    writeln!(out, "record_cache_entries:{}\r", rc.entries)?;
    // Writes per Raft entry, over the shards hosted here (see `proposer.rs`).
    let (mut entries, mut writes) = (0, 0);
    for shard in node.topology().shards.values() {
        entries += shard.proposal_stats.entries.load(Ordering::Relaxed);
        writes += shard.proposal_stats.writes.load(Ordering::Relaxed);
    }
    writeln!(out, "raft_entries_proposed:{entries}\r")?;
    writeln!(out, "raft_writes_proposed:{writes}\r")?;
    // Yields of threads about to sleep, and their back-offs (see `park.rs`).
    writeln!(
        out,
        "park_yields:{}\r",
        crate::park::YIELDS.load(Ordering::Relaxed)
    )?;
    let slow = crate::park::SLOW_YIELDS.load(Ordering::Relaxed);
    writeln!(out, "park_slow_yields:{slow}\r")?;
    let backoffs = crate::park::BACKOFFS.load(Ordering::Relaxed);
    writeln!(out, "park_yield_backoffs:{backoffs}\r")?;
    let rpc = &node.rpc_stats;
    writeln!(
        out,
        "cluster_bytes_in:{}\r",
        rpc.bytes_in.load(Ordering::Relaxed)
    )?;
    writeln!(
        out,
        "cluster_bytes_out:{}\r",
        rpc.bytes_out.load(Ordering::Relaxed)
    )?;
    writeln!(
        out,
        "cluster_snapshots_installed:{}\r",
        rpc.snapshots_installed.load(Ordering::Relaxed)
    )
}

fn keyspace(node: &Node, out: &mut String) -> std::fmt::Result {
    writeln!(out, "# Keyspace\r")?;
    let (mut keys, mut expires) = (0, 0);
    for shard in node.topology().led_shards() {
        match shard.reader.applied() {
            Ok(a) => {
                keys += a.record_count;
                expires += a.expiring_count;
            }
            Err(e) => tracing::warn!(shard = shard.id, error = %e, "INFO keyspace"),
        }
    }
    if keys > 0 {
        writeln!(out, "db0:keys={keys},expires={expires},avg_ttl=0\r")?;
    }
    Ok(())
}

fn cluster(node: &Node, out: &mut String) -> std::fmt::Result {
    let topo = node.topology();
    crate::cluster_info::info_section(&topo, out)?;
    // What placement still has to do on the map this node holds (0: settled): nodes to admit
    // (still joining), moves of the running plan not yet ended, and the moves a new plan
    // would make (balancing only if the driver would start it by itself).
    let placement = node.control.local_placement();
    let pending = topo.map.as_ref().map_or(0, |m| {
        let joining = m
            .nodes()
            .values()
            .filter(|n| n.state == tanli_router::NodeState::Joining)
            .count();
        let cfg = &node.config;
        let can_take = |n: tanli_router::NodeId| n == topo.me || topo.live.contains_key(&n.0);
        let balance = cfg.auto_rebalance && !placement.hold_balance;
        let planned =
            tanli_router::plan(m, cfg.replication_factor, cfg.balance_tolerance, &can_take)
                .into_iter()
                .filter(|mv| balance || mv.why.is_repair())
                .count();
        let running = placement
            .running()
            .map_or(0, |p| p.moves.iter().filter(|mv| !mv.ended()).count());
        joining
            + planned
            + running
            + leaders_pending(m, &placement, cfg.balance_tolerance, &can_take)
    });
    writeln!(out, "cluster_placement_pending:{pending}\r")?;
    writeln!(
        out,
        "cluster_view_age_ms:{}\r",
        topo.published.elapsed().as_millis()
    )
}

/// Data shards whose leadership is still to move: the leader known here is not the recorded
/// target (a live, up replica), or the driver would record a different target.
fn leaders_pending(
    m: &tanli_router::ClusterMap,
    placement: &crate::control::plans::Placement,
    tolerance: u64,
    can_take: &dyn Fn(tanli_router::NodeId) -> bool,
) -> usize {
    let recorded = placement.recorded_leaders();
    let known = m
        .shards()
        .values()
        .filter_map(|s| Some((s.id, s.leader?)))
        .collect();
    let want = placement.wanted_leaders(m, &known, tolerance, can_take);
    want.iter()
        .filter(|(s, n)| {
            let hint = m.shard(**s).and_then(|i| i.leader);
            recorded.get(s) != Some(n) || hint != Some(**n)
        })
        .count()
}

fn raft(node: &Node, out: &mut String) -> std::fmt::Result {
    writeln!(out, "# Raft\r")?;
    writeln!(out, "node_id:{}\r", node.identity.node_id)?;
    writeln!(out, "cluster_id:{}\r", node.identity.cluster_id)?;
    let topo = node.topology();
    let hosted: Vec<_> = topo
        .meta
        .iter()
        .chain(topo.shards.values())
        .cloned()
        .collect();
    writeln!(out, "raft_shards:{}\r", hosted.len())?;
    for shard in hosted {
        let s = shard.status();
        let id = shard.id;
        let role = format!("{:?}", s.state).to_ascii_lowercase();
        writeln!(out, "shard{id}_role:{role}\r")?;
        writeln!(
            out,
            "shard{id}_leader_id:{}\r",
            // The leader's node id (Raft peer ids differ per shard).
            s.leader_addr
                .as_ref()
                .map(|a| a.node_id.to_string())
                .unwrap_or_default()
        )?;
        writeln!(
            out,
            "shard{id}_leader_addr:{}\r",
            s.leader_addr
                .map(|a| topo
                    .resp_addr(tanli_router::NodeId(a.node_id))
                    .unwrap_or(a.resp_addr))
                .unwrap_or_default()
        )?;
        writeln!(out, "shard{id}_term:{}\r", s.term)?;
        // The group's membership as this replica knows it, by node id.
        let ids = |peers: Vec<u64>| -> String {
            let m = s.membership.membership();
            let mut nodes: Vec<String> = peers
                .iter()
                .filter_map(|p| m.get_node(p).map(|a| a.node_id.to_string()))
                .collect();
            nodes.sort();
            nodes.join(",")
        };
        let m = s.membership.membership();
        writeln!(out, "shard{id}_voters:{}\r", ids(m.voter_ids().collect()))?;
        writeln!(
            out,
            "shard{id}_learners:{}\r",
            ids(m.learner_ids().collect())
        )?;
        writeln!(out, "shard{id}_last_log_index:{}\r", s.last_log_index)?;
        writeln!(out, "shard{id}_applied_index:{}\r", s.applied_index)?;
        // With `--read-policy lease`: how long reads still skip Raft on the leader's lease.
        writeln!(
            out,
            "shard{id}_lease_remaining_ms:{}\r",
            shard.lease_remaining().as_millis()
        )?;
    }
    Ok(())
}
