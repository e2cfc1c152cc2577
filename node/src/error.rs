//! The one mapping from errors on the request path to Redis replies.

use crate::reply::Reply;

/// Why a routed command did not run here.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// The shard's leader is elsewhere (Redis Cluster's `MOVED`).
    #[error("MOVED {slot} {addr}")]
    Moved { slot: u16, addr: String },
    /// Keys of one command live in different shards.
    #[error("CROSSSLOT Keys in request don't hash to the same slot")]
    CrossSlot,
    /// The shard has no leader right now.
    #[error("CLUSTERDOWN {0}")]
    ClusterDown(String),
    /// Retry later; for writes, the outcome may be unknown (the text says so).
    #[error("TRYAGAIN {0}")]
    TryAgain(String),
    /// A write whose outcome is not known: it may or may not have been applied.
    #[error("UNCERTAIN {0}")]
    Uncertain(String),
    /// A write on a node that leads no shard for it, when there is no key to redirect by.
    #[error("READONLY You can't write against a read only replica.")]
    ReadOnly,
    #[error("ERR {0}")]
    Internal(String),
}

impl ClusterError {
    pub fn to_reply(&self) -> Reply {
        Reply::Error(self.to_string())
    }
}

impl From<tanli_storage::StorageError> for ClusterError {
    fn from(e: tanli_storage::StorageError) -> Self {
        tracing::error!(error = %e, "storage failure on the request path");
        ClusterError::Internal(format!("storage failure: {e}"))
    }
}
