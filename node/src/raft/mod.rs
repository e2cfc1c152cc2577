//! Raft for every shard hosted here: openraft configuration, the shard network ([`network`]), the
//! node-to-node RPC transport ([`transport`], [`service`]) and its wire format ([`wire`]).

pub mod network;
pub mod service;
pub mod transport;
pub mod wire;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use openraft::SnapshotPolicy;

use crate::config::Config;

/// openraft's configuration for a data shard, from the node's config.
pub fn raft_config(cfg: &Config) -> anyhow::Result<Arc<openraft::Config>> {
    let c = openraft::Config {
        cluster_name: "tanli".into(),
        heartbeat_interval: cfg.heartbeat_interval_ms,
        election_timeout_min: cfg.election_timeout_min_ms,
        election_timeout_max: cfg.election_timeout_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_logs_since_last),
        // Keep enough log after a snapshot that a briefly absent follower catches up from the log.
        max_in_snapshot_log_to_keep: cfg.snapshot_logs_since_last / 2,
        enable_pre_vote: Some(true),
        // One AppendEntries carries every entry proposed while the previous one was in flight:
        // a pipelined burst (50 clients x 16 commands) is 800 entries, and openraft's default of
        // 300 split it into several round trips and fsyncs on each follower.
        max_payload_entries: 4096,
        // A restarted leader stands for election like any other node; it must not take its old
        // term back (openraft's default). Followers may hold entries the leader sent before it
        // had synced them itself, and a SIGKILL loses that unsynced tail (the WAL is flushed by
        // hand, `storage/src/db.rs`). Back in its old term, the leader would write different
        // entries at those same (term, index) ids; a follower that already holds the id keeps
        // its own entry, so the replicas' logs diverge and an acknowledged write can vanish
        // (seen in Jepsen `set × kill`). An election at a new term truncates such tails.
        enable_leader_restore: Some(false),
        ..Default::default()
    };
    Ok(Arc::new(c.validate()?))
}

/// Node-to-node traffic counters (INFO stats): what a catch-up or a move costs on the wire.
#[derive(Debug, Default)]
pub struct RpcStats {
    /// Frame bytes received on peer connections (requests served and replies to our calls).
    pub bytes_in: AtomicU64,
    /// Frame bytes sent on peer connections.
    pub bytes_out: AtomicU64,
    /// Full snapshots this node installed from a leader.
    pub snapshots_installed: AtomicU64,
}
