//! Routing: the one place that decides which shard serves a command's keys, and how a shard's
//! refusal becomes a Redis Cluster redirect.
//!
//! Today one data shard (id 1) owns all 16384 slots; the cluster map replaces the fixed table with
//! the cluster issue. Multi-key commands are accepted when every key maps to the same shard.

use std::sync::Arc;

use tanli_router::slot_of;

use crate::error::ClusterError;
use crate::shard::{Shard, ShardError};

/// The data shard of a single-shard node.
pub const DATA_SHARD: u64 = 1;

pub struct Routes {
    shards: Vec<Arc<Shard>>,
}

impl Routes {
    pub fn new(shards: Vec<Arc<Shard>>) -> Routes {
        Routes { shards }
    }

    pub fn shards(&self) -> &[Arc<Shard>] {
        &self.shards
    }

    fn shard_of_slot(&self, _slot: u16) -> Option<&Arc<Shard>> {
        self.shards.iter().find(|s| s.id == DATA_SHARD)
    }

    /// The shard serving `keys` and the slot of the first key (for redirects); `None` when the
    /// command has no keys.
    pub fn route(&self, keys: &[&[u8]]) -> Result<Option<(u16, Arc<Shard>)>, ClusterError> {
        let Some(first) = keys.first() else {
            return Ok(None);
        };
        let slot = slot_of(first);
        let shard = self
            .shard_of_slot(slot)
            .ok_or_else(|| ClusterError::ClusterDown(format!("Hash slot {slot} not served")))?;
        for k in &keys[1..] {
            let other = self.shard_of_slot(slot_of(k)).map(|s| s.id);
            if other != Some(shard.id) {
                return Err(ClusterError::CrossSlot);
            }
        }
        Ok(Some((slot, shard.clone())))
    }

    /// Shards this node leads: what key-less reads (DBSIZE, SCAN, KEYS, RANDOMKEY) cover, as
    /// Redis Cluster answers them over a node's primary slots.
    pub fn led_shards(&self) -> Vec<Arc<Shard>> {
        self.shards
            .iter()
            .filter(|s| s.is_leader())
            .cloned()
            .collect()
    }
}

/// How a shard's refusal reaches the client. `slot` is the command's first key's slot, if any.
pub fn redirect(slot: Option<u16>, e: ShardError) -> ClusterError {
    match (e, slot) {
        (ShardError::NotLeader(Some(leader)), Some(slot)) => ClusterError::Moved {
            slot,
            addr: leader.resp_addr,
        },
        (ShardError::NotLeader(Some(_)), None) => ClusterError::ReadOnly,
        (ShardError::NotLeader(None), _) => {
            ClusterError::ClusterDown("The cluster is down: the shard has no leader".into())
        }
        (ShardError::Retry(why), _) => ClusterError::TryAgain(why),
        (ShardError::Unknown(why), _) => ClusterError::Uncertain(why),
        (ShardError::Internal(why), _) => ClusterError::Internal(why),
    }
}
