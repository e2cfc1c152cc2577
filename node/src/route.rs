//! Routing: the one place that decides which hosted shard serves a command's keys, and how a
//! shard's refusal becomes a Redis Cluster redirect.
//!
//! The decision itself is `tanli_router::route` over the published topology's map (so the node,
//! the client crate and tanlictl cannot disagree); this module turns it into a hosted shard or
//! the error the client gets. Keys in different slots are `-CROSSSLOT`, as in Redis Cluster.

use std::sync::Arc;

use tanli_router::{route as decide, slot_of, Mode, NodeId, Route};

use crate::control::topology::Topology;
use crate::error::ClusterError;
use crate::shard::{Shard, ShardError};

/// Where a command runs.
pub enum Target {
    /// No keys: the caller decides (key-less commands run over the shards this node leads).
    Keyless,
    /// This hosted shard; `slot` is the first key's slot (for redirects).
    Shard { slot: u16, shard: Arc<Shard> },
}

pub fn route(topo: &Topology, keys: &[&[u8]], mode: Mode) -> Result<Target, ClusterError> {
    let Some(map) = &topo.map else {
        return Err(ClusterError::ClusterDown(
            "The cluster is down: this node has no cluster map yet".into(),
        ));
    };
    match decide(map, topo.me, keys, mode) {
        Route::Keyless => Ok(Target::Keyless),
        Route::Local(id) => {
            let slot = keys.first().map(|k| slot_of(k)).unwrap_or(0);
            match topo.shard(id) {
                Some(shard) => Ok(Target::Shard {
                    slot,
                    shard: shard.clone(),
                }),
                None => Err(ClusterError::TryAgain(format!(
                    "shard {id} is not started on this node yet"
                ))),
            }
        }
        Route::Moved { slot, addr } => Err(ClusterError::Moved { slot, addr }),
        Route::CrossSlot => Err(ClusterError::CrossSlot),
        Route::ClusterDown { slot } => Err(ClusterError::ClusterDown(format!(
            "The cluster is down: hash slot {slot} has no leader"
        ))),
    }
}

/// How a shard's refusal reaches the client. `slot` is the command's first key's slot, if any.
/// A leader elsewhere is named by its current address (gossip), not the one Raft recorded when
/// the replica joined (a re-mounted node has moved).
pub fn redirect(topo: &Topology, slot: Option<u16>, e: ShardError) -> ClusterError {
    match (e, slot) {
        (ShardError::NotLeader(Some(leader)), Some(slot)) => ClusterError::Moved {
            slot,
            addr: topo
                .resp_addr(NodeId(leader.node_id))
                .unwrap_or(leader.resp_addr),
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
