//! tanli-server: a Redis-protocol node whose every shard is a Raft group on RocksDB.
//!
//! The request path (the data plane), one module each, in the order a `SET k v` takes:
//!
//! ```text
//! server → connection → frame → cmd → exec → route → shard → raft → storage (tanli-storage)
//! ```
//!
//! - `server`: binds listeners, opens the data directory, bootstraps or joins, accepts clients
//!   and hands each to a connection thread (`conn_threads`).
//! - `connection`: one client: session state, pipelining, replies in order; its MULTI queue
//!   and WATCHes live in `multi`, which also applies EXEC's one log entry.
//! - `frame`: request decoding with limits checked before allocation.
//! - `cmd`: typed commands (one file per family), their keys, semantics and replies.
//! - `exec`: runs a data command: routing, consistency check or proposal.
//! - `route`: the one place that maps keys to shards and refusals to redirects.
//! - `shard`: one hosted shard: writes through Raft, batched linearizable reads, expiry reclaim.
//! - `raft`: openraft config, the per-shard network, the node-to-node RPC and its wire format.
//!
//! Beside them: `config` (every limit, named), `admission` (requests in flight, TRYAGAIN for
//! hot clients under overload, shedding), `error` (the one error → reply mapping),
//! `clients` (CLIENT LIST), `info` (INFO, HELLO), `cluster_info` (CLUSTER SHARDS, SLOTS, NODES,
//! INFO, ... rendered from the topology), `keyless` (DBSIZE/KEYS/SCAN over several shards),
//! `admin` (client ids, worker-id leases and `TANLI.ID`, through the meta shard), `metrics`
//! (the Prometheus metrics) and `http` (the admin port serving them and `/health`).
//! The control plane lives in `control/` (gossip, the meta shard, placement, the hosted Raft
//! groups): it publishes the topology the data plane routes by and never sits on the request
//! path.

pub mod admin;
pub mod admin_placement;
pub mod admin_status;
pub mod admission;
pub mod clients;
pub mod cluster_info;
pub mod cmd;
pub mod config;
mod conn_threads;
pub mod connection;
pub mod control;
pub mod error;
pub mod exec;
pub mod frame;
#[cfg(test)]
mod frame_props;
pub mod http;
pub mod info;
pub mod keyless;
pub mod lease;
pub mod metrics;
pub mod multi;
pub mod park;
pub mod proposer;
pub mod raft;
mod read_group;
pub mod reply;
pub mod route;
mod sequencer;
pub mod server;
pub mod shard;

/// `tokio::spawn` inside the caller's span (the node's, a shard's), so the task's log lines say
/// which node and shard they come from. Tasks spawned by the control plane and the node-to-node
/// service use it.
pub fn spawn<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(tracing::Instrument::in_current_span(task))
}
