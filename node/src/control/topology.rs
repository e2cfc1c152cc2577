//! What the data plane reads: one immutable [`Topology`] per change, published by the control
//! loop through a `watch` (a clone of an `Arc`, no lock on the request path).
//!
//! It joins the three sources the control plane has: the newest cluster map (from this node's
//! meta replica, or fetched from a peer that gossiped a newer epoch), the shards hosted here, and
//! gossip (live nodes, their current addresses, who leads what). Leader hints in `map` are filled
//! from this node's own Raft groups first (exact), then from gossip.

use std::collections::BTreeMap;
use std::sync::Arc;

use tanli_router::{ClusterMap, NodeId, ShardId};

use crate::control::gossip::Announcement;
use crate::shard::Shard;

pub struct Topology {
    pub me: NodeId,
    /// The newest map known here, leader hints filled in; `None` before this node has one (a
    /// node still joining).
    pub map: Option<Arc<ClusterMap>>,
    /// Data shards hosted here, by shard id.
    pub shards: BTreeMap<u64, Arc<Shard>>,
    /// This node's replica of the meta shard.
    pub meta: Option<Arc<Shard>>,
    /// Live nodes as gossip sees them (this node included).
    pub live: Arc<BTreeMap<u64, Announcement>>,
    /// When the control loop published this view (INFO shows its age: a stuck loop shows).
    pub published: std::time::Instant,
}

impl Topology {
    pub fn empty(me: NodeId) -> Topology {
        Topology {
            me,
            map: None,
            shards: BTreeMap::new(),
            meta: None,
            live: Arc::default(),
            published: std::time::Instant::now(),
        }
    }

    pub fn shard(&self, id: ShardId) -> Option<&Arc<Shard>> {
        self.shards.get(&id.0)
    }

    /// Data shards this node leads now.
    pub fn led_shards(&self) -> Vec<Arc<Shard>> {
        self.shards
            .values()
            .filter(|s| s.is_leader())
            .cloned()
            .collect()
    }

    pub fn is_live(&self, node: NodeId) -> bool {
        node == self.me || self.live.contains_key(&node.0)
    }

    /// Where clients reach `node`: its gossiped address if it is live (the newest, after a
    /// volume re-mount), else the map's.
    pub fn resp_addr(&self, node: NodeId) -> Option<String> {
        if let Some(a) = self.live.get(&node.0) {
            return Some(a.resp_addr.to_string());
        }
        self.map
            .as_ref()
            .and_then(|m| m.node(node))
            .map(|n| n.resp_addr.clone())
    }

    pub fn epoch(&self) -> u64 {
        self.map.as_ref().map(|m| m.epoch()).unwrap_or(0)
    }
}
