//! tanli-router: where a key lives. Pure logic: no I/O, no async, no clocks, no randomness.
//!
//! Node, client and ctl all call these functions, so they cannot disagree about where a key
//! lives or where a replica belongs.
//!
//! - [`slot`](slot_of): key → slot, CRC16-XMODEM mod 16384 with `{hash tags}`, as Redis Cluster.
//! - [`map`](ClusterMap): the validated cluster map — nodes, slot ranges → shard, shard →
//!   replicas and leader hint, one epoch — and its versioned encoding.
//! - [`placement`](place): shard → replica nodes on a consistent-hash ring (placement order).
//! - [`balance`](plan()): the repair and rebalance planner (replica moves, leader assignment).
//! - [`route`](route()): a command's keys → serve here, `MOVED`, `CROSSSLOT` or `CLUSTERDOWN`.
//! - [`ids`]: Snowflake-style global ids (the wall clock is passed in).

mod balance;
pub mod ids;
mod map;
mod placement;
mod route;
mod slot;

pub use balance::{assign_leaders, plan, spread, ReplicaMove, Spread, Why};
pub use map::{
    ClusterMap, MapError, NodeId, NodeInfo, NodeState, PeerId, Replica, ShardId, ShardInfo,
    SlotRange, MAP_VERSION,
};
pub use placement::{place, up_nodes, Ring, MAX_WEIGHT, VNODES_PER_WEIGHT};
pub use route::{route, Mode, Route};
pub use slot::{slot_of, SLOT_COUNT};
