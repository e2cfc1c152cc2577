//! A static N-node cluster (`--node-id`, `--peers`, `--cluster-id`, `--bootstrap` on node 1) on
//! loopback ports reserved in advance, and finding its leader from the nodes' `INFO raft`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::client::RaftStatus;
use crate::node::{reserve_ports, Node, ServerSpec, LOOPBACK};
use crate::wait::wait_until;

/// How long a cluster may take to agree on a leader (first election, or after a kill).
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a restarted follower may take to apply everything the leader had applied.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);

static CLUSTERS: AtomicU32 = AtomicU32::new(0);

pub struct Cluster {
    /// Node `id` is at index `id - 1`.
    pub nodes: Vec<Node>,
    pub cluster_id: String,
}

impl Cluster {
    /// Starts `n` nodes (ids 1..=n) at once, waits for every ready line and for an agreed leader.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[])
    }

    /// Like [`Cluster::start`], with `extra_args` given to every node (e.g. limits).
    pub fn start_with(n: usize, extra_args: &[&str]) -> Cluster {
        assert!(n >= 1);
        let ports = reserve_ports(2 * n);
        let (resp, bus) = ports.split_at(n);
        let peers = (0..n)
            .map(|i| format!("{}={LOOPBACK}:{}@{}", i + 1, resp[i], bus[i]))
            .collect::<Vec<_>>()
            .join(",");
        let cluster_id = format!(
            "test-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::SeqCst)
        );
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| {
                Node::spawn(ServerSpec {
                    port: resp[i],
                    cluster_port: bus[i],
                    node_id: Some(i as u64 + 1),
                    peers: Some(peers.clone()),
                    cluster_id: Some(cluster_id.clone()),
                    bootstrap: i == 0,
                    extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
                    ..ServerSpec::default()
                })
            })
            .collect();
        for node in &mut nodes {
            node.await_ready();
        }
        let cluster = Cluster { nodes, cluster_id };
        cluster.wait_leader(ELECTION_TIMEOUT);
        cluster
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[Self::index(id)]
    }

    pub fn node_mut(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[Self::index(id)]
    }

    fn index(id: u64) -> usize {
        usize::try_from(id - 1).expect("node id")
    }

    /// RESP addresses of all nodes, by id.
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

    /// The leader of shard 1 if one is agreed now: a node that says it is leader, with the
    /// highest term among such nodes, and a majority of the cluster (counting itself) reporting
    /// it as leader in that term. Two leaders in one term is a safety violation and panics.
    pub fn observe_leader(&self) -> Result<u64, String> {
        let statuses: Vec<(u64, Result<RaftStatus, String>)> = self
            .running_ids()
            .into_iter()
            .map(|id| (id, self.node(id).raft_status()))
            .collect();
        let summary = || {
            statuses
                .iter()
                .map(|(id, s)| match s {
                    Ok(s) => format!(
                        "n{id}: {} term={} leader={:?} last_log={} applied={}",
                        s.role, s.term, s.leader_id, s.last_log_index, s.applied_index
                    ),
                    Err(e) => format!("n{id}: {e}"),
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let leaders: Vec<&RaftStatus> = statuses
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok())
            .filter(|s| s.role == "leader")
            .collect();
        let Some(leader) = leaders.iter().max_by_key(|s| s.term) else {
            return Err(format!("no node is leader: {}", summary()));
        };
        let same_term = leaders.iter().filter(|s| s.term == leader.term).count();
        assert!(
            same_term == 1,
            "two leaders in term {}: {}",
            leader.term,
            summary()
        );
        let followers = statuses
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok())
            .filter(|s| s.node_id != leader.node_id)
            .filter(|s| s.term == leader.term && s.leader_id == Some(leader.node_id))
            .count();
        let majority = self.nodes.len() / 2 + 1;
        if 1 + followers >= majority {
            Ok(leader.node_id)
        } else {
            Err(format!(
                "node {} leads term {} but only {followers} follower(s) agree: {}",
                leader.node_id,
                leader.term,
                summary()
            ))
        }
    }

    /// Waits until a leader is agreed (see [`Cluster::observe_leader`]) and returns its id.
    pub fn wait_leader(&self, timeout: Duration) -> u64 {
        wait_until(timeout, "the cluster to agree on a leader", || {
            self.observe_leader()
        })
    }

    /// The current leader's id (waiting for one with [`ELECTION_TIMEOUT`]).
    pub fn leader(&self) -> u64 {
        self.wait_leader(ELECTION_TIMEOUT)
    }

    /// A connection to the current leader.
    pub fn leader_conn(&self) -> redis::Connection {
        self.node(self.leader()).conn()
    }

    /// Waits until node `id` has applied at least everything the leader has applied now.
    pub fn wait_caught_up(&self, id: u64) {
        let leader = self.leader();
        let target = self
            .node(leader)
            .raft_status()
            .expect("INFO raft of the leader")
            .applied_index;
        wait_until(
            CATCH_UP_TIMEOUT,
            &format!("node {id} to apply up to index {target} (the leader's, node {leader})"),
            || {
                let status = self.node(id).raft_status()?;
                if status.applied_index >= target && status.leader_id == Some(leader) {
                    Ok(())
                } else {
                    Err(format!("{status:?}"))
                }
            },
        );
    }

    /// SIGKILLs every node.
    pub fn kill_all(&mut self) {
        for node in &mut self.nodes {
            node.kill9();
        }
    }

    /// Starts every killed node again at once (same dirs and ports) and waits for their ready
    /// lines and an agreed leader.
    pub fn restart_all(&mut self) {
        let mut started = Vec::new();
        for node in &mut self.nodes {
            if node.pid().is_none() {
                node.spawn_again();
                started.push(node.id());
            }
        }
        for id in started {
            self.node_mut(id).await_ready();
        }
        self.wait_leader(ELECTION_TIMEOUT);
    }
}
