//! The cluster harness: real `tanli-server` processes on loopback, driven from the outside.
//!
//! Layout, in the order a test uses it:
//!
//! - [`binary`]: where the `tanli-server` executable is (`TANLI_SERVER_BIN`, else next to the test).
//! - [`node`]: one server process — its own temp dir (data + stderr log), the ready line read from
//!   stdout with a deadline, `kill9`, graceful `stop`, `restart` on the same dir and ports,
//!   `remount` of the same dir on a new address and ports, killed by PID on drop.
//! - [`cluster`]: a self-organising N-node cluster (node 1 bootstraps, the others `--join`), each
//!   node on its own loopback address when possible; waits until every shard is replicated and
//!   led (from `CLUSTER SHARDS`), finds the leader of a key's shard, restarts and re-mounts nodes.
//! - [`client`]: `redis` crate connections with timeouts, `INFO` and `CLUSTER SHARDS|INFO|SLOTS`
//!   parsing, `redis` cluster clients (sync and async), and a [`client::Writer`] that streams
//!   distinct keys over all slots and records exactly which writes were acknowledged.
//! - [`raw`]: a raw TCP RESP connection for bytes no well-behaved client would send.
//! - [`http`]: a hand-written HTTP GET for the admin port, and reading Prometheus samples.
//! - [`wait`]: polling with a deadline and a message — tests never sleep a fixed time.
//! - [`slot`]: CRC16 key slots, computed independently of the server's `router` crate.
//! - [`tools`]: running `redis-cli` and `redis-benchmark` with deadlines.
//! - [`redis_server`]: a real `redis-server` beside tanli, for tests that compare their replies.
//!
//! The harness depends on no tanli crate: it checks the server only through its sockets, its exit
//! status and its output, as a user would.

pub mod binary;
pub mod client;
pub mod cluster;
pub mod http;
pub mod node;
pub mod raw;
pub mod redis_server;
pub mod slot;
pub mod tools;
pub mod wait;

pub use client::{connect, RaftStatus, ShardStatus, ShardView, Writer};
pub use cluster::{Cluster, ClusterOptions};
pub use node::{Node, ServerSpec};
pub use wait::wait_until;

/// Whether an external tool (e.g. `redis-cli`) is on `PATH`. Tests that need one skip with a
/// message when it is absent; `.ci/run` installs them, so CI never skips.
pub fn tool_available(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}
