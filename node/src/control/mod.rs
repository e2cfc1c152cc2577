//! The control plane: how nodes learn about each other and what the cluster looks like. It
//! publishes what the data plane reads ([`topology::Topology`]) and never sits on the request
//! path; the data plane never creates, moves or removes a shard.
//!
//! - `gossip`: chitchat over UDP on the cluster port — liveness, addresses, state, the newest map
//!   epoch each node holds, the shards it leads and its load. Hints, not truth.
//! - `meta`: the meta shard's state machine — the authoritative cluster map and id allocator;
//!   `leases` keeps its Snowflake worker-id leases.
//! - `topology`: the published view joining map, hosted shards and gossip.
//! - `plane`: the control loop that acts on them; `host` starts and removes Raft groups;
//!   `members` steps a led group's membership toward the map; `driver` (meta leader only) plans
//!   map changes and `plans` records its plans, leader targets and holds in the meta shard; `client` sends control requests to other nodes, `rpc` answers them; `hints`
//!   lays leader and address hints over the map before it is published.

pub mod client;
pub mod driver;
pub mod gossip;
pub mod hints;
pub mod host;
pub mod leases;
pub mod members;
pub mod meta;
pub mod plane;
pub mod plans;
pub mod rpc;
pub mod topology;

/// A node record for tests: RESP port 7000 + id, cluster port 17000 + id, weight 1.
#[cfg(test)]
pub(crate) fn test_node(id: u64, state: tanli_router::NodeState) -> tanli_router::NodeInfo {
    tanli_router::NodeInfo {
        id: tanli_router::NodeId(id),
        resp_addr: format!("127.0.0.1:{}", 7000 + id),
        cluster_addr: format!("127.0.0.1:{}", 17000 + id),
        state,
        weight: 1,
    }
}
