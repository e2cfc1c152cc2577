//! A self-organising N-node cluster: node 1 bootstraps (no `--join`, empty data dir), then every
//! other node starts with `--join <node 1's cluster address>`, each on its own loopback address
//! when the machine allows it (127.0.0.2, 127.0.0.3, ...) and on ports reserved free for TCP and
//! UDP (the cluster port carries Raft over TCP and gossip over UDP). Readiness is judged from the
//! outside: `CLUSTER SHARDS` and `CLUSTER INFO` on the running nodes, `INFO raft` for catch-up.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::client::{self, RaftStatus, ShardView};
use crate::node::{loopback_ip_in, reserve_ports_on, Node, ServerSpec};
use crate::slot::{key_slot, SLOTS};
use crate::wait::wait_until;

/// How long a cluster may take to agree on leaders (first elections, or after a kill).
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a cluster may take to place every shard's replicas after nodes start or join.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a restarted node may take to apply everything its shards' leaders had applied.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);
/// The server's default `--replication-factor`.
pub const DEFAULT_REPLICATION: usize = 3;
/// Raft timing for test clusters: shorter than the server's defaults (150 / 750..1500 ms) so
/// failovers are quick, yet long enough for 2 loaded cores not to cause spurious elections.
pub const FAST_TIMING: [&str; 6] = [
    "--heartbeat-interval-ms",
    "100",
    "--election-timeout-min-ms",
    "500",
    "--election-timeout-max-ms",
    "1000",
];

/// How a [`Cluster`] is started.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// `--initial-shards` for the bootstrapping node (server default 8).
    pub initial_shards: Option<u32>,
    /// `--replication-factor` for every node (server default 3).
    pub replication_factor: Option<u32>,
    /// More arguments for every node (limits, snapshot thresholds).
    pub extra_args: Vec<String>,
    /// Raft timing flags in place of [`FAST_TIMING`] (the server refuses a flag given twice).
    pub timing: Option<[&'static str; 6]>,
    /// Environment variables for every node's process; `{node}` in a value becomes the node's
    /// index in start order (e.g. a per-node file for libfaketime).
    pub env: Vec<(String, String)>,
    /// The loopback block nodes live in: node i binds `prefix.(i + 1)` (127.0.0.1 excepted, see
    /// [`loopback_ip_in`]). `None` is 127.0.0.0/24.
    pub loopback_prefix: Option<[u8; 3]>,
}

pub struct Cluster {
    /// In start order: index 0 bootstrapped the cluster. Node ids come from the cluster; find a
    /// node by id with [`Cluster::node`].
    pub nodes: Vec<Node>,
    pub options: ClusterOptions,
}

impl Cluster {
    /// Starts `n` nodes and waits until every data shard has min(3, n) replicas and a leader.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_opts(n, ClusterOptions::default())
    }

    /// Like [`Cluster::start`], with `extra_args` given to every node (e.g. limits).
    pub fn start_with(n: usize, extra_args: &[&str]) -> Cluster {
        Cluster::start_opts(
            n,
            ClusterOptions {
                extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
                ..ClusterOptions::default()
            },
        )
    }

    /// Starts node 1 (bootstrap), waits for its ready line, then starts `n - 1` nodes joining
    /// it at once, waits for their ready lines, and waits until the cluster has settled
    /// ([`Cluster::wait_settled`]).
    pub fn start_opts(n: usize, options: ClusterOptions) -> Cluster {
        assert!(n >= 1);
        let mut cluster = Cluster {
            nodes: Vec::new(),
            options,
        };
        let first = cluster.spec_for(0, Vec::new());
        cluster.nodes.push(Node::start(first));
        let seed = cluster.nodes[0].cluster_addr();
        for i in 1..n {
            let spec = cluster.spec_for(i, vec![seed]);
            cluster.nodes.push(Node::spawn(spec));
        }
        for node in &mut cluster.nodes[1..] {
            node.await_ready();
        }
        cluster.wait_settled(SETTLE_TIMEOUT);
        cluster
    }

    /// The spec of the `index`-th node: its own loopback address if possible, reserved ports,
    /// fast Raft timing, and `join`.
    fn spec_for(&self, index: usize, join: Vec<SocketAddr>) -> ServerSpec {
        let ip = self.ip(index);
        let ports = reserve_ports_on(ip, 2);
        let timing = self.options.timing.unwrap_or(FAST_TIMING);
        let mut extra_args: Vec<String> = timing.iter().map(|a| a.to_string()).collect();
        extra_args.extend(self.options.extra_args.iter().cloned());
        ServerSpec {
            bind: Some(ip),
            port: ports[0],
            cluster_port: ports[1],
            initial_shards: if join.is_empty() {
                self.options.initial_shards
            } else {
                None
            },
            replication_factor: self.options.replication_factor,
            join,
            extra_args,
            env: self
                .options
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.replace("{node}", &index.to_string())))
                .collect(),
            ..ServerSpec::default()
        }
    }

    /// The `index`-th node address of this cluster's loopback block.
    fn ip(&self, index: usize) -> IpAddr {
        loopback_ip_in(self.options.loopback_prefix.unwrap_or([127, 0, 0]), index)
    }

    /// Starts one more node joining through the running nodes' cluster addresses and waits for
    /// its ready line (not for replicas to move: see [`Cluster::wait_settled`]). Returns its id.
    pub fn add_node(&mut self) -> u64 {
        let join = self.running_cluster_addrs();
        let spec = self.spec_for(self.nodes.len(), join);
        let node = Node::start(spec);
        let id = node.id();
        assert!(
            self.nodes.iter().all(|n| n.id() != id),
            "a joining node got the id {id} of an existing node"
        );
        self.nodes.push(node);
        id
    }

    /// The replicas each data shard should have: min(R, nodes).
    pub fn replicas_wanted(&self) -> usize {
        let r = self
            .options
            .replication_factor
            .map_or(DEFAULT_REPLICATION, |r| r as usize);
        r.min(self.nodes.len())
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[self.index(id)]
    }

    pub fn node_mut(&mut self, id: u64) -> &mut Node {
        let i = self.index(id);
        &mut self.nodes[i]
    }

    fn index(&self, id: u64) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id() == id)
            .unwrap_or_else(|| panic!("no node with id {id} in this cluster"))
    }

    /// Ids of all nodes, in start order.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(Node::id).collect()
    }

    /// RESP addresses of all nodes, in start order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(Node::addr).collect()
    }

    /// Ids of the nodes whose process is running.
    pub fn running_ids(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .map(Node::id)
            .collect()
    }

    /// RESP addresses of the running nodes.
    pub fn running_addrs(&self) -> Vec<SocketAddr> {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .map(Node::addr)
            .collect()
    }

    /// Cluster (gossip/Raft) addresses of the running nodes: what a (re)starting node joins.
    pub fn running_cluster_addrs(&self) -> Vec<SocketAddr> {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .map(Node::cluster_addr)
            .collect()
    }

    /// A loopback address no node of this cluster uses now (for a re-mount on a new address),
    /// or 127.0.0.1 when distinct loopback addresses are not available.
    pub fn unused_ip(&self) -> IpAddr {
        let used: BTreeSet<IpAddr> = self.nodes.iter().map(|n| n.addr().ip()).collect();
        (self.nodes.len()..250)
            .map(|index| self.ip(index))
            .find(|ip| !used.contains(ip))
            .unwrap_or_else(|| self.ip(0))
    }

    /// `CLUSTER SHARDS` of node `id`.
    pub fn shards_on(&self, id: u64) -> Result<Vec<ShardView>, String> {
        client::cluster_shards(self.node(id).addr(), None)
    }

    /// `CLUSTER SHARDS` from the first running node that answers.
    pub fn shards(&self) -> Result<Vec<ShardView>, String> {
        let mut errors = Vec::new();
        for id in self.running_ids() {
            match self.shards_on(id) {
                Ok(shards) => return Ok(shards),
                Err(e) => errors.push(e),
            }
        }
        Err(format!(
            "no running node answered CLUSTER SHARDS: {errors:?}"
        ))
    }

    /// Checks one node's `CLUSTER SHARDS`: the shards cover all 16384 slots exactly once, each
    /// has exactly one master, which is a running node reported online, and (if `replicas` is
    /// given) exactly that many nodes, all running, online, at their current RESP addresses.
    fn check_shards(&self, shards: &[ShardView], replicas: Option<usize>) -> Result<(), String> {
        let mut covered = vec![0u8; usize::from(SLOTS)];
        for shard in shards {
            for &(lo, hi) in &shard.slots {
                if lo > hi || hi >= SLOTS {
                    return Err(format!("bad slot range {lo}-{hi}: {shards:?}"));
                }
                for slot in lo..=hi {
                    covered[usize::from(slot)] += 1;
                }
            }
        }
        if let Some(slot) = covered.iter().position(|&c| c != 1) {
            return Err(format!(
                "slot {slot} is owned by {} shards: {shards:?}",
                covered[slot]
            ));
        }
        let running = self.running_ids();
        for shard in shards {
            let Some(master) = shard.master() else {
                return Err(format!("a shard has no single master: {shard:?}"));
            };
            if !running.contains(&master.id) || master.health != "online" {
                return Err(format!("a shard's master is not a live node: {shard:?}"));
            }
            let Some(replicas) = replicas else { continue };
            if shard.nodes.len() != replicas {
                return Err(format!(
                    "a shard has {} nodes, want {replicas}: {shard:?}",
                    shard.nodes.len()
                ));
            }
            for node in &shard.nodes {
                let current = self.nodes.iter().find(|n| n.id() == node.id);
                let live = current.is_some_and(|n| n.pid().is_some() && n.addr() == node.addr);
                if !live || node.health != "online" {
                    return Err(format!(
                        "node {} listed at {} ({}) is not a running node at that address: \
                         {shard:?}",
                        node.id, node.addr, node.health
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every running node's `CLUSTER SHARDS` passes [`Cluster::check_shards`] and its
    /// `CLUSTER INFO` says `cluster_state:ok`.
    fn observe(&self, replicas: Option<usize>) -> Result<(), String> {
        for id in self.running_ids() {
            let shards = self.shards_on(id)?;
            self.check_shards(&shards, replicas)
                .map_err(|e| format!("CLUSTER SHARDS on node {id}: {e}"))?;
            let info = client::cluster_info(self.node(id).addr(), None)?;
            let state = info.get("cluster_state").map(|s| s.trim());
            if state != Some("ok") {
                return Err(format!("CLUSTER INFO on node {id}: {info:?}"));
            }
            if let Some(replicas) = replicas {
                self.check_memberships(id, replicas)?;
            }
        }
        Ok(())
    }

    /// The map says placement is done (`cluster_placement_pending:0` in INFO cluster), and every
    /// data shard node `id` leads has exactly `replicas` voters and no learner in its Raft
    /// configuration (INFO raft): the map's replicas are real voters, not just planned ones.
    fn check_memberships(&self, id: u64, replicas: usize) -> Result<(), String> {
        let mut conn = client::try_connect(self.node(id).addr(), None, Duration::from_secs(2))
            .map_err(|e| format!("node {id}: {e}"))?;
        let info = client::info(&mut conn, "everything").map_err(|e| format!("node {id}: {e}"))?;
        let pending = info.get("cluster_placement_pending").map(|s| s.trim());
        if pending != Some("0") {
            return Err(format!("node {id}: cluster_placement_pending:{pending:?}"));
        }
        for (key, role) in &info {
            let Some(shard) = key
                .strip_prefix("shard")
                .and_then(|k| k.strip_suffix("_role"))
            else {
                continue;
            };
            if shard == "0" || role.trim() != "leader" {
                continue;
            }
            let field = |name: &str| {
                info.get(&format!("shard{shard}_{name}"))
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_default()
            };
            let voters = field("voters");
            let learners = field("learners");
            let count = voters.split(',').filter(|v| !v.is_empty()).count();
            if count != replicas || !learners.is_empty() {
                return Err(format!(
                    "node {id} leads shard {shard} with voters [{voters}] and learners [{learners}], want {replicas} voters"
                ));
            }
        }
        Ok(())
    }

    /// Waits until every data shard has [`Cluster::replicas_wanted`] replicas, all on running
    /// nodes, and a live leader, as every running node's `CLUSTER SHARDS` and `CLUSTER INFO`
    /// report it.
    pub fn wait_settled(&self, timeout: Duration) {
        let replicas = self.replicas_wanted();
        wait_until(
            timeout,
            &format!("every data shard to have {replicas} replicas and a live leader"),
            || self.observe(Some(replicas)),
        );
    }

    /// Waits until every slot has a live leader (as every running node reports it), whatever
    /// the replica counts: what clients need after a node died.
    pub fn wait_leaders(&self, timeout: Duration) {
        wait_until(timeout, "every slot to have a live leader", || {
            self.observe(None)
        });
    }

    /// The shard owning `key`'s slot, from `CLUSTER SHARDS`.
    pub fn shard_of(&self, key: &str) -> Result<ShardView, String> {
        let slot = key_slot(key.as_bytes());
        let shards = self.shards()?;
        shards
            .iter()
            .find(|s| s.owns(slot))
            .cloned()
            .ok_or_else(|| format!("no shard owns slot {slot}: {shards:?}"))
    }

    /// The node leading the shard of `key` (a live master), waiting up to [`ELECTION_TIMEOUT`].
    pub fn leader_of(&self, key: &str) -> u64 {
        wait_until(
            ELECTION_TIMEOUT,
            &format!("a live leader for the shard of {key:?}"),
            || {
                let shard = self.shard_of(key)?;
                let master = shard
                    .master()
                    .ok_or_else(|| format!("no single master: {shard:?}"))?;
                if self.running_ids().contains(&master.id) && master.health == "online" {
                    Ok(master.id)
                } else {
                    Err(format!("master not live: {shard:?}"))
                }
            },
        )
    }

    /// A plain connection to the node leading the shard of `key`.
    pub fn leader_conn_for(&self, key: &str) -> redis::Connection {
        self.node(self.leader_of(key)).conn()
    }

    /// One key per data shard (found by trying `prefix:0`, `prefix:1`, ... against the slot
    /// ranges of `CLUSTER SHARDS`), in the order of the shards' first slots.
    pub fn key_per_shard(&self, prefix: &str) -> Vec<String> {
        let mut shards = self.shards().expect("CLUSTER SHARDS");
        shards.sort_by_key(ShardView::first_slot);
        shards
            .iter()
            .map(|shard| {
                (0..1_000_000)
                    .map(|i| format!("{prefix}:{i}"))
                    .find(|k| shard.owns(key_slot(k.as_bytes())))
                    .unwrap_or_else(|| panic!("no key of {prefix:?} hashes into {shard:?}"))
            })
            .collect()
    }

    /// `SET key value` for every pair, pipelined to each shard's leader (from one read of
    /// `CLUSTER SHARDS`). A chunk refused because leadership moved meanwhile (placement hands
    /// leadership to each shard's preferred replica) is re-sent key by key through a cluster
    /// connection, which follows redirects; panics if that fails too.
    pub fn set_many(&self, pairs: &[(String, String)]) {
        let shards = self.shards().expect("CLUSTER SHARDS");
        let mut by_leader: std::collections::HashMap<SocketAddr, Vec<&(String, String)>> =
            std::collections::HashMap::new();
        for pair in pairs {
            let slot = key_slot(pair.0.as_bytes());
            let shard = shards
                .iter()
                .find(|s| s.owns(slot))
                .unwrap_or_else(|| panic!("no shard owns slot {slot}: {shards:?}"));
            let master = shard
                .master()
                .unwrap_or_else(|| panic!("no single master: {shard:?}"));
            by_leader.entry(master.addr).or_default().push(pair);
        }
        for (addr, pairs) in by_leader {
            let mut c = client::connect(addr, None);
            for chunk in pairs.chunks(200) {
                let mut pipe = redis::pipe();
                for (key, value) in chunk {
                    pipe.cmd("SET").arg(key).arg(value).ignore();
                }
                if let Err(e) = pipe.query::<()>(&mut c) {
                    eprintln!("pipelined SETs on {addr} refused ({e:.200}); re-sending one by one");
                    let mut cc = self.cluster_conn();
                    for (key, value) in chunk {
                        wait_until(SETTLE_TIMEOUT, &format!("SET {key}"), || {
                            redis::cmd("SET")
                                .arg(key)
                                .arg(value)
                                .query::<()>(&mut cc)
                                .map_err(|e| e.to_string())
                        });
                    }
                }
            }
        }
    }

    /// One attempt at `SET key value` as a plain Redis Cluster client would: through each
    /// running node in turn, following one `-MOVED`. `Ok` once a node answered `OK`.
    pub fn try_set(&self, key: &str, value: &str) -> Result<(), String> {
        let mut errors = Vec::new();
        for addr in self.running_addrs() {
            let mut target = addr;
            for _ in 0..2 {
                let mut c = match client::try_connect(target, None, Duration::from_secs(1)) {
                    Ok(c) => c,
                    Err(e) => {
                        errors.push(format!("connect {target}: {e}"));
                        break;
                    }
                };
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                match redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .query::<String>(&mut c)
                {
                    Ok(ok) if ok == "OK" => return Ok(()),
                    Ok(other) => return Err(format!("SET answered {other:?}")),
                    Err(e) => match client::moved_to(&e) {
                        Some((_, to)) => target = to,
                        None => {
                            errors.push(format!("{target}: {e}"));
                            break;
                        }
                    },
                }
            }
        }
        Err(format!("SET {key} failed everywhere: {errors:?}"))
    }

    /// A synchronous `redis` cluster connection seeded with the running nodes.
    pub fn cluster_conn(&self) -> redis::cluster::ClusterConnection {
        client::cluster_conn(&self.running_addrs())
    }

    /// A `redis` async cluster client seeded with the running nodes.
    pub fn cluster_client(&self) -> redis::cluster::ClusterClient {
        client::cluster_client(&self.running_addrs())
    }

    /// `cluster_current_epoch` from `CLUSTER INFO` on node `id`.
    pub fn epoch(&self, id: u64) -> Result<u64, String> {
        client::cluster_epoch(self.node(id).addr(), None)
    }

    /// `INFO raft` of every running node, by id.
    pub fn raft_statuses(&self) -> Vec<(u64, Result<RaftStatus, String>)> {
        self.running_ids()
            .into_iter()
            .map(|id| (id, self.node(id).raft_status()))
            .collect()
    }

    /// For every shard node `id` hosts: the applied index of that shard's leader now (the
    /// running node that reports itself leader with the highest term).
    fn leader_applied(&self, id: u64) -> Result<Vec<(u64, u64, u64)>, String> {
        let mine = self.node(id).raft_status()?;
        let statuses = self.raft_statuses();
        let mut targets = Vec::new();
        for &shard in mine.shards.keys() {
            let leader = statuses
                .iter()
                .filter_map(|(node, s)| Some((*node, s.as_ref().ok()?.shards.get(&shard)?)))
                .filter(|(_, s)| s.role == "leader")
                .max_by_key(|(_, s)| s.term)
                .ok_or_else(|| format!("no running node leads shard {shard}"))?;
            targets.push((shard, leader.0, leader.1.applied_index));
        }
        Ok(targets)
    }

    /// Waits until node `id` has applied, in every shard it hosts, at least what that shard's
    /// leader had applied when this was called.
    pub fn wait_caught_up(&self, id: u64) {
        let targets = wait_until(
            ELECTION_TIMEOUT,
            &format!("leaders for every shard of node {id}"),
            || self.leader_applied(id),
        );
        wait_until(
            CATCH_UP_TIMEOUT,
            &format!("node {id} to apply up to its shards' leaders' indexes {targets:?}"),
            || {
                let status = self.node(id).raft_status()?;
                for &(shard, leader, target) in &targets {
                    let s = status.shard(shard)?;
                    if s.applied_index < target {
                        return Err(format!(
                            "shard {shard}: applied {} < {target} (leader node {leader}): \
                             {status:?}",
                            s.applied_index
                        ));
                    }
                }
                Ok(())
            },
        );
    }

    /// SIGKILLs node `id`.
    pub fn kill9(&mut self, id: u64) {
        self.node_mut(id).kill9();
    }

    /// Stops node `id` gracefully (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self, id: u64) {
        self.node_mut(id).stop();
    }

    /// Restarts node `id` on its data dir, address and ports, joining through the other running
    /// nodes (for a node with a data dir, `--join` only seeds gossip).
    pub fn restart(&mut self, id: u64) {
        let join = self.join_for(id);
        self.node_mut(id).restart_joining(join);
    }

    /// Re-mounts node `id`'s data dir on a new address (if distinct loopbacks work) and new
    /// ports, joining through the other running nodes.
    pub fn remount(&mut self, id: u64) {
        let join = self.join_for(id);
        let ip = self.unused_ip();
        self.node_mut(id).remount(ip, join);
    }

    /// Cluster addresses of the running nodes other than `id`, else of every other node.
    fn join_for(&self, id: u64) -> Vec<SocketAddr> {
        let others = |running: bool| -> Vec<SocketAddr> {
            self.nodes
                .iter()
                .filter(|n| n.id() != id && (!running || n.pid().is_some()))
                .map(Node::cluster_addr)
                .collect()
        };
        let running = others(true);
        if running.is_empty() {
            others(false)
        } else {
            running
        }
    }

    /// SIGKILLs every node.
    pub fn kill_all(&mut self) {
        for node in &mut self.nodes {
            node.kill9();
        }
    }

    /// Starts every killed node again at once (same dirs, addresses and ports, each joining
    /// through all the others), waits for their ready lines and for every slot to have a leader.
    pub fn restart_all(&mut self) {
        let mut started = Vec::new();
        for i in 0..self.nodes.len() {
            if self.nodes[i].pid().is_none() {
                let id = self.nodes[i].id();
                let join = self.join_for_all(id);
                self.nodes[i].spawn_again_joining(join);
                started.push(i);
            }
        }
        for i in started {
            self.nodes[i].await_ready();
        }
        self.wait_leaders(ELECTION_TIMEOUT);
    }

    fn join_for_all(&self, id: u64) -> Vec<SocketAddr> {
        self.nodes
            .iter()
            .filter(|n| n.id() != id)
            .map(Node::cluster_addr)
            .collect()
    }
}
