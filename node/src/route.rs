//! Routing: the one place that decides which hosted shard serves a command's keys, and how a
//! shard's refusal becomes a Redis Cluster redirect.
//!
//! Slots are `tanli_router::slot_of` and the slot's shard is the published map's, so the node,
//! the client crate and tanlictl cannot disagree. A shard hosted here is served or refused by
//! its Raft state; for any other, `tanli_router::route` over the map names the redirect. Keys in
//! different slots are `-CROSSSLOT`, as in Redis Cluster. A read computes its slot once here.

use std::sync::Arc;

use tanli_router::{route as decide, slot_of, Mode, NodeId, Route};

use crate::control::topology::Topology;
use crate::error::ClusterError;
use crate::shard::{Shard, ShardError};

/// Where a command runs.
pub enum Target<'t> {
    /// No keys: the caller decides (key-less commands run over the shards this node leads).
    Keyless,
    /// This hosted shard (of the topology routed by); `slot` is the first key's slot (for
    /// redirects).
    Shard { slot: u16, shard: &'t Arc<Shard> },
}

pub fn route<'t>(
    topo: &'t Topology,
    keys: &[&[u8]],
    mode: Mode,
) -> Result<Target<'t>, ClusterError> {
    let Some(map) = &topo.map else {
        return Err(ClusterError::ClusterDown(
            "The cluster is down: this node has no cluster map yet".into(),
        ));
    };
    // The slot is computed once here; `decide` (which computes it again) runs only when no
    // hosted replica answers, to name the redirect.
    let Some((first, rest)) = keys.split_first() else {
        return Ok(Target::Keyless);
    };
    let slot = slot_of(first);
    if rest.iter().any(|k| slot_of(k) != slot) {
        return Err(ClusterError::CrossSlot);
    }
    // A shard hosted here is routed by its Raft's state now, not by the published hint, which
    // lags a leadership change by up to one control round (two nodes could redirect a client
    // back and forth meanwhile).
    if let Some(shard) = topo.shard(map.shard_of_slot(slot)) {
        if shard.is_leader() || mode.readonly {
            return Ok(Target::Shard { slot, shard });
        }
        return Err(match shard.leader_node() {
            Some(node) if node != topo.me.0 => ClusterError::Moved {
                slot,
                addr: topo.resp_addr(NodeId(node)).unwrap_or_default(),
            },
            _ => {
                ClusterError::TryAgain(format!("hash slot {slot}: its shard is electing a leader"))
            }
        });
    }
    match decide(map, topo.me, keys, mode) {
        Route::Local(id) => Err(ClusterError::TryAgain(format!(
            "shard {id} is not started on this node yet"
        ))),
        Route::Moved { slot, addr } => Err(ClusterError::Moved { slot, addr }),
        _ => Err(ClusterError::ClusterDown(format!(
            "The cluster is down: hash slot {slot} has no leader"
        ))),
    }
}

/// How a shard's refusal reaches the client. `slot` is the command's first key's slot, if any.
/// A leader elsewhere is named by its current address (gossip), not the one Raft recorded when
/// the replica joined (a re-mounted node has moved).
pub fn redirect(topo: &Topology, slot: Option<u16>, e: ShardError) -> ClusterError {
    match (e, slot) {
        // This replica was the leader it would name (it just stepped down, a transfer or an
        // election is under way): a redirect to itself would loop; ask the client to retry.
        (ShardError::NotLeader(Some(leader)), _) if leader.node_id == topo.me.0 => {
            ClusterError::TryAgain("the shard's leadership is changing".into())
        }
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
