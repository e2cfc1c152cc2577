//! The Raft type configuration shared by every shard, and the ids and payloads it names.
//!
//! The log payload is opaque to storage: a [`Proposal`] carries the leader's timestamp and the
//! command bytes that `node::cmd` encodes; the state machine hands them to an
//! [`Applier`](crate::Applier) and records the encoded reply as the response.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Raft group. Shard 0 is reserved for the meta shard; data shards start at 1.
pub type ShardId = u64;

/// The Raft node id of one replica of one shard.
pub type PeerId = u64;

/// Where a replica's node can be reached. Stored in Raft memberships, so it is persisted: fields
/// are positional in postcard, append only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PeerAddr {
    /// The node (server) id hosting the replica.
    pub node_id: u64,
    /// Raft RPC address, `host:port`.
    pub cluster_addr: String,
    /// Redis-protocol address, `host:port`, given to clients in `-MOVED`.
    pub resp_addr: String,
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node{}@{}/{}",
            self.node_id, self.resp_addr, self.cluster_addr
        )
    }
}

/// One normal log entry: a command stamped with the proposing leader's wall clock. Apply uses
/// `max(stamp_ms, previous log time)` as "now", so expiry is deterministic on every replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub stamp_ms: u64,
    #[serde(with = "serde_bytes")]
    pub cmd: Vec<u8>,
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proposal({} bytes @{})", self.cmd.len(), self.stamp_ms)
    }
}

/// The encoded reply of an applied command.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Applied(#[serde(with = "serde_bytes")] pub Vec<u8>);

openraft::declare_raft_types!(
    /// Raft types of every tanli shard.
    pub TypeConfig:
        D = Proposal,
        R = Applied,
        NodeId = PeerId,
        Node = PeerAddr,
);

pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
/// A shard snapshot as it travels: an encoded byte image (see `snapshot.rs`).
pub type SnapshotData = std::io::Cursor<Vec<u8>>;
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;
pub type Raft = openraft::Raft<TypeConfig, crate::StateMachine>;
