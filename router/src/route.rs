//! The routing decision: given the cluster map, this node and a command's keys, serve here or
//! answer with which Redis Cluster redirect or error.
//!
//! This is the one place the decision is made, with Redis Cluster's rules: keys in different
//! *slots* are `CROSSSLOT` even when one shard owns both slots (clients rely on slot equality,
//! not on our shard layout); a shard's leader serves; a replica serves only `READONLY` reads; any
//! other node redirects with `MOVED` to the leader. Turning a [`Route`] into reply bytes is the
//! caller's job.

use crate::map::{ClusterMap, NodeId, ShardId};
use crate::slot::slot_of;

/// The connection state that changes routing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mode {
    /// The connection sent `READONLY` *and* this command only reads: a replica may serve it from
    /// its own (possibly stale) state. Pass `false` for writes on a `READONLY` connection.
    pub readonly: bool,
    /// The connection sent `ASKING` just before this command. Accepted for client compatibility;
    /// it changes nothing yet, because slots move by Raft membership changes, never by the
    /// migrating/importing states that `ASK` exists for.
    pub asking: bool,
}

/// Where a command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The command has no keys: not a question for the slot map.
    Keyless,
    /// Serve it here, in this shard.
    Local(ShardId),
    /// `-MOVED slot addr`: the shard's leader is another node, whose RESP address is `addr`.
    Moved { slot: u16, addr: String },
    /// `-CROSSSLOT`: the keys hash to more than one slot.
    CrossSlot,
    /// `-CLUSTERDOWN`: nobody is known to serve `slot` right now (no leader hint, or no
    /// reachable address for the shard).
    ClusterDown { slot: u16 },
}

/// Routes a command touching `keys` on node `me`.
///
/// In order: no keys → [`Route::Keyless`]; keys in two slots → [`Route::CrossSlot`]; this node is
/// the shard's leader hint → [`Route::Local`]; `mode.readonly` and this node holds a replica →
/// [`Route::Local`]; the leader hint is another node → [`Route::Moved`] to its RESP address (to
/// another replica's if the leader's address is not known yet); no leader hint →
/// [`Route::ClusterDown`].
pub fn route(map: &ClusterMap, me: NodeId, keys: &[&[u8]], mode: Mode) -> Route {
    let Some((first, rest)) = keys.split_first() else {
        return Route::Keyless;
    };
    let slot = slot_of(first);
    if rest.iter().any(|k| slot_of(k) != slot) {
        return Route::CrossSlot;
    }
    let shard_id = map.shard_of_slot(slot);
    let Some(shard) = map.shard(shard_id) else {
        // Unreachable for a validated map (every owning shard is listed); answer, don't panic.
        return Route::ClusterDown { slot };
    };
    if shard.leader == Some(me) || (mode.readonly && shard.replica_on(me).is_some()) {
        return Route::Local(shard_id);
    }
    let Some(leader) = shard.leader else {
        return Route::ClusterDown { slot };
    };
    let addr_of = |node: NodeId| {
        map.node(node)
            .map(|n| n.resp_addr.as_str())
            .filter(|a| !a.is_empty())
    };
    let fallback = || {
        shard
            .replicas
            .iter()
            .filter(|r| r.node != me)
            .find_map(|r| addr_of(r.node))
    };
    match addr_of(leader).or_else(fallback) {
        Some(addr) => Route::Moved {
            slot,
            addr: addr.to_owned(),
        },
        None => Route::ClusterDown { slot },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::map::{NodeInfo, NodeState, PeerId, Replica, ShardInfo, SlotRange};

    const RW: Mode = Mode {
        readonly: false,
        asking: false,
    };
    const RO: Mode = Mode {
        readonly: true,
        asking: false,
    };

    fn node(id: u64, resp_addr: &str) -> (NodeId, NodeInfo) {
        let info = NodeInfo {
            id: NodeId(id),
            resp_addr: resp_addr.to_owned(),
            cluster_addr: format!("10.0.0.{id}:7000"),
            state: NodeState::Up,
            weight: 1,
        };
        (NodeId(id), info)
    }

    /// Nodes 1, 2, 3 (node 3's address unknown); shard 1 owns slots 0..=8191 with replicas on
    /// 1 and 2, led by `lead1`; shard 2 owns the rest, replicas on 3 and 2, led by `lead2`.
    fn map(lead1: Option<u64>, lead2: Option<u64>) -> ClusterMap {
        let nodes = BTreeMap::from([
            node(1, "10.0.0.1:6379"),
            node(2, "10.0.0.2:6379"),
            node(3, ""),
        ]);
        let shard = |id: u64, on: [u64; 2], leader: Option<u64>| {
            let replicas = on
                .iter()
                .map(|&n| Replica {
                    node: NodeId(n),
                    peer: PeerId(id * 10 + n),
                })
                .collect();
            (
                ShardId(id),
                ShardInfo {
                    id: ShardId(id),
                    replicas,
                    leader: leader.map(NodeId),
                },
            )
        };
        let shards = BTreeMap::from([shard(1, [1, 2], lead1), shard(2, [3, 2], lead2)]);
        let ranges = vec![
            SlotRange {
                start: 0,
                end: 8191,
                shard: ShardId(1),
            },
            SlotRange {
                start: 8192,
                end: 16383,
                shard: ShardId(2),
            },
        ];
        ClusterMap::new(7, nodes, ranges, shards).expect("valid test map")
    }

    // slot_of("bar") = 5061 (shard 1), slot_of("foo") = 12182 (shard 2).

    #[test]
    fn no_keys_is_keyless() {
        assert_eq!(
            route(&map(Some(1), Some(2)), NodeId(1), &[], RW),
            Route::Keyless
        );
    }

    #[test]
    fn leader_serves_locally() {
        let m = map(Some(1), Some(2));
        assert_eq!(
            route(&m, NodeId(1), &[b"bar"], RW),
            Route::Local(ShardId(1))
        );
        assert_eq!(
            route(&m, NodeId(2), &[b"foo", b"{foo}x"], RW),
            Route::Local(ShardId(2))
        );
    }

    #[test]
    fn different_slots_are_crossslot_even_in_one_shard() {
        let m = map(Some(1), Some(2));
        assert_ne!(slot_of(b"bar"), slot_of(b"b"));
        assert_eq!(m.shard_of_slot(slot_of(b"b")), ShardId(1));
        assert_eq!(route(&m, NodeId(1), &[b"bar", b"b"], RW), Route::CrossSlot);
        assert_eq!(
            route(&m, NodeId(1), &[b"bar", b"foo"], RO),
            Route::CrossSlot
        );
    }

    #[test]
    fn elsewhere_is_moved_to_the_leader() {
        let m = map(Some(1), Some(2));
        let moved = Route::Moved {
            slot: 5061,
            addr: "10.0.0.1:6379".into(),
        };
        assert_eq!(route(&m, NodeId(2), &[b"bar"], RW), moved);
        assert_eq!(route(&m, NodeId(3), &[b"bar"], RO), moved);
        let asking = Mode {
            readonly: false,
            asking: true,
        };
        assert_eq!(route(&m, NodeId(3), &[b"bar"], asking), moved);
    }

    #[test]
    fn readonly_replica_serves_locally() {
        let m = map(Some(1), None);
        assert_eq!(
            route(&m, NodeId(2), &[b"bar"], RO),
            Route::Local(ShardId(1))
        );
        // Even with no leader known: stale reads are what READONLY asked for.
        assert_eq!(
            route(&m, NodeId(3), &[b"foo"], RO),
            Route::Local(ShardId(2))
        );
    }

    #[test]
    fn no_leader_hint_is_clusterdown() {
        let m = map(Some(1), None);
        assert_eq!(
            route(&m, NodeId(1), &[b"foo"], RW),
            Route::ClusterDown { slot: 12182 }
        );
        assert_eq!(
            route(&m, NodeId(3), &[b"foo"], RW),
            Route::ClusterDown { slot: 12182 }
        );
    }

    #[test]
    fn leader_without_address_redirects_to_a_replica() {
        // Shard 2's leader is node 3, whose address is not known; node 2 is the other replica.
        let m = map(Some(1), Some(3));
        let to_2 = Route::Moved {
            slot: 12182,
            addr: "10.0.0.2:6379".into(),
        };
        assert_eq!(route(&m, NodeId(1), &[b"foo"], RW), to_2);
        // Node 2 itself has nowhere to send it.
        assert_eq!(
            route(&m, NodeId(2), &[b"foo"], RW),
            Route::ClusterDown { slot: 12182 }
        );
    }
}
