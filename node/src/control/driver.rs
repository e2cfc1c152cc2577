//! The placement driver, run by the meta shard's leader: decides the next change to the cluster
//! map and the placement record. It never touches a Raft group itself — it edits the map, and
//! each group's leader makes its membership follow (`members`).
//!
//! One decision per round, most urgent first:
//! 1. node states: live joiners and nodes heard from again become `Up`; an `Up` node dead longer
//!    than `dead_node_grace_ms` becomes `Down` (so its replicas are replaced);
//! 2. the meta shard's voters: up to [`META_VOTERS`] on live `Up` nodes, none on others;
//! 3. the running plan's next step (`plans.rs`): a move starts (its new replica enters the
//!    map) when fewer than `moves_in_flight_max` are under way, none on the same shard, and
//!    the shard has a live quorum; once the shard's leader confirms the new replica is a voter
//!    the old one leaves the map; once it confirms that, the move is done;
//! 4. with no plan running, a new one from [`tanli_router::plan`]: repairs always, balancing
//!    when `auto_rebalance` is on and an operator has not held it;
//! 5. leader targets from [`tanli_router::assign_leaders`], recorded when they change, once the
//!    driver's view of who is live has settled ([`view_settled`]): right after a cluster
//!    restart the new meta leader hears the other nodes one by one, and targets computed
//!    meanwhile would move every leadership to the first nodes heard, then straight back.
//!
//! Everything the driver knows between rounds is in the meta shard, except how long each node
//! has been silent (a new meta leader starts that clock afresh, so a death right at a leader
//! change is acted on up to one grace period later). Map commands carry the epoch they were
//! planned against; a deposed driver's stale command is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::future::join_all;
use tanli_router::{place, ClusterMap, NodeId, NodeState, ShardId};

use crate::control::client;
use crate::control::meta::MetaCmd;
use crate::control::plans::{MoveState, Placement, PlanKind, Step};
use crate::raft::transport::Transport;

/// Voters of the meta shard; every other node holds a learner replica.
pub const META_VOTERS: usize = 3;

pub struct DriverInput<'a> {
    pub map: &'a ClusterMap,
    pub placement: &'a Placement,
    /// Nodes gossip sees alive (this node included).
    pub live: &'a BTreeSet<u64>,
    /// Nodes silent for longer than the grace period.
    pub dead_past_grace: &'a BTreeSet<u64>,
    /// Shard id → the leader known now (hint), for leader balancing.
    pub leaders_now: BTreeMap<ShardId, NodeId>,
    /// Shard id → cluster address of its leader (hint), for membership queries.
    pub leader_addrs: BTreeMap<u64, SocketAddr>,
    pub replication_factor: usize,
    pub moves_in_flight_max: usize,
    pub tolerance: u64,
    pub auto_rebalance: bool,
    pub rpc_timeout: Duration,
    /// Whether leader targets may change this round ([`view_settled`]).
    pub balance_leaders: bool,
}

impl DriverInput<'_> {
    fn can_take(&self, n: NodeId) -> bool {
        self.live.contains(&n.0)
    }
}

/// The next change, if any.
pub async fn next(transport: &Transport, input: DriverInput<'_>) -> Option<MetaCmd> {
    let map = input.map;
    let epoch = map.epoch();
    for n in map.nodes().values() {
        let live = input.live.contains(&n.id.0);
        let to = match n.state {
            NodeState::Joining | NodeState::Down if live => NodeState::Up,
            NodeState::Up if input.dead_past_grace.contains(&n.id.0) && !live => NodeState::Down,
            _ => continue,
        };
        return Some(MetaCmd::SetState {
            node: n.id,
            state: to,
            if_epoch: epoch,
        });
    }
    if let Some(cmd) = meta_voters(&input) {
        return Some(cmd);
    }
    if let Some(plan) = input.placement.running() {
        if let Some(cmd) = advance(transport, &input, plan).await {
            return Some(cmd);
        }
    } else if let Some(cmd) = new_plan(&input) {
        return Some(cmd);
    }
    leader_targets(&input)
}

/// Adds a meta voter on a live `Up` node while there are fewer than [`META_VOTERS`] healthy
/// ones; drops a voter on a node that is not `Up` once enough healthy ones exist.
fn meta_voters(input: &DriverInput) -> Option<MetaCmd> {
    let map = input.map;
    let meta = map.shard(ShardId::META)?;
    let up = |n: NodeId| map.node(n).is_some_and(|i| i.state == NodeState::Up);
    let up_live: Vec<(NodeId, u32)> = map
        .nodes()
        .values()
        .filter(|n| n.state == NodeState::Up && input.live.contains(&n.id.0))
        .map(|n| (n.id, n.weight))
        .collect();
    let healthy = meta.replicas.iter().filter(|r| up(r.node)).count();
    let want = META_VOTERS.min(up_live.len());
    if healthy < want {
        let pick = place(&up_live, ShardId::META, up_live.len())
            .into_iter()
            .find(|n| meta.replica_on(*n).is_none());
        if let Some(node) = pick {
            return Some(MetaCmd::AddReplica {
                shard: ShardId::META,
                node,
                if_epoch: map.epoch(),
            });
        }
    }
    if healthy >= want.max(1) {
        if let Some(r) = meta.replicas.iter().find(|r| !up(r.node)) {
            return Some(MetaCmd::RemoveReplica {
                shard: ShardId::META,
                node: r.node,
                if_epoch: map.epoch(),
            });
        }
    }
    None
}

fn new_plan(input: &DriverInput) -> Option<MetaCmd> {
    let can_take = |n: NodeId| input.can_take(n);
    let moves = tanli_router::plan(
        input.map,
        input.replication_factor,
        input.tolerance,
        &can_take,
    );
    let repairs = moves.iter().filter(|m| m.why.is_repair()).count();
    let balance_ok = input.auto_rebalance && !input.placement.hold_balance;
    let moves: Vec<_> = moves
        .into_iter()
        .filter(|m| balance_ok || m.why.is_repair())
        .collect();
    if moves.is_empty() {
        return None;
    }
    let (kind, reason) = if repairs > 0 {
        let mut whys: Vec<&str> = moves
            .iter()
            .filter(|m| m.why.is_repair())
            .map(|m| m.why.as_str())
            .collect();
        whys.dedup();
        (PlanKind::Repair, format!("automatic: {}", whys.join(", ")))
    } else {
        (
            PlanKind::Rebalance,
            format!(
                "automatic: replica spread above tolerance {}",
                input.tolerance
            ),
        )
    };
    Some(MetaCmd::PlanCreate {
        kind,
        reason,
        moves,
        if_epoch: input.map.epoch(),
    })
}

/// The next step of the running plan, if one can be taken now.
async fn advance(
    transport: &Transport,
    input: &DriverInput<'_>,
    plan: &crate::control::plans::Plan,
) -> Option<MetaCmd> {
    let map = input.map;
    let shards: BTreeSet<ShardId> = plan
        .moves
        .iter()
        .filter(|m| !m.ended())
        .map(|m| m.mv.shard)
        .collect();
    let settled = settled_shards(transport, input, &shards).await;
    let step = |index: usize, step: Step| MetaCmd::PlanStep {
        plan: plan.id,
        index: index as u32,
        step,
        if_epoch: map.epoch(),
    };
    let state_of = |n: NodeId| map.node(n).map(|i| i.state);
    // A plan that is only balancing gives way to repairs (a node went down meanwhile): its
    // moves not yet started are skipped, so the repair plan can start sooner.
    let repairs_wanted = plan.kind == PlanKind::Rebalance
        && map
            .nodes()
            .values()
            .any(|n| n.state == NodeState::Down && !map.shards_on_node(n.id).is_empty());
    let mut in_flight: BTreeSet<ShardId> = BTreeSet::new();
    for m in plan.moves.iter().filter(|m| m.in_flight()) {
        in_flight.insert(m.mv.shard);
    }
    for (i, m) in plan.moves.iter().enumerate() {
        let mv = m.mv;
        let holds = |n: NodeId| {
            map.shard(mv.shard)
                .is_some_and(|s| s.replica_on(n).is_some())
        };
        match m.state {
            MoveState::Adding => {
                if let Some(to) = mv.to {
                    if state_of(to) != Some(NodeState::Up) {
                        return Some(step(i, Step::Skip(format!("node {to} is no longer up"))));
                    }
                }
                if settled.contains(&mv.shard) {
                    return Some(match mv.from {
                        Some(f) if holds(f) => step(i, Step::Remove),
                        _ => step(i, Step::Finish),
                    });
                }
            }
            MoveState::Removing if settled.contains(&mv.shard) => {
                return Some(step(i, Step::Finish))
            }
            MoveState::Pending => {
                if repairs_wanted {
                    return Some(step(i, Step::Skip("superseded by a repair".into())));
                }
                if let Some(f) = mv.from.filter(|f| !holds(*f)) {
                    return Some(step(i, Step::Skip(format!("node {f} no longer holds it"))));
                }
                if let Some(t) = mv.to {
                    match state_of(t) {
                        Some(NodeState::Up) => {}
                        other => {
                            let s = other.map_or("unknown".into(), |s| format!("{s:?}"));
                            return Some(step(i, Step::Skip(format!("node {t} is {s}"))));
                        }
                    }
                    if !input.can_take(t) {
                        continue;
                    }
                }
                let busy = in_flight.len() >= input.moves_in_flight_max;
                if busy || in_flight.contains(&mv.shard) || !settled.contains(&mv.shard) {
                    continue;
                }
                if !live_quorum(input, mv.shard) {
                    continue;
                }
                return Some(step(i, Step::Start));
            }
            _ => {}
        }
    }
    None
}

/// Whether a majority of the shard's replicas are on live nodes (a membership change needs
/// one to commit).
fn live_quorum(input: &DriverInput, shard: ShardId) -> bool {
    let Some(info) = input.map.shard(shard) else {
        return false;
    };
    let live = info
        .replicas
        .iter()
        .filter(|r| input.live.contains(&r.node.0))
        .count();
    live * 2 > info.replicas.len()
}

/// Whether the driver's view of who is live is settled: every `Up` node of `map` is `live` or
/// has been silent (`silent_since`, this driver's clocks) for at least `settle`. A node not heard
/// yet may only be starting, and one just gone quiet may be back in a moment.
pub fn view_settled(
    map: &ClusterMap,
    live: &BTreeSet<u64>,
    silent_since: &BTreeMap<u64, Instant>,
    settle: Duration,
) -> bool {
    map.nodes()
        .values()
        .filter(|n| n.state == NodeState::Up && !live.contains(&n.id.0))
        .all(|n| {
            silent_since
                .get(&n.id.0)
                .is_some_and(|t| t.elapsed() >= settle)
        })
}

fn leader_targets(input: &DriverInput) -> Option<MetaCmd> {
    if !input.balance_leaders {
        return None;
    }
    let recorded = input.placement.recorded_leaders();
    let can_take = |n: NodeId| input.can_take(n);
    let want =
        input
            .placement
            .wanted_leaders(input.map, &input.leaders_now, input.tolerance, &can_take);
    let changed: Vec<(u64, u64)> = want
        .iter()
        .filter(|(s, n)| recorded.get(s) != Some(n))
        .map(|(s, n)| (s.0, n.0))
        .collect();
    (!changed.is_empty()).then_some(MetaCmd::SetLeaders { targets: changed })
}

/// Of `shards`, those whose leader confirms a committed voter set equal to the map's replicas
/// and no learners: no membership change is under way.
async fn settled_shards(
    transport: &Transport,
    input: &DriverInput<'_>,
    shards: &BTreeSet<ShardId>,
) -> BTreeSet<ShardId> {
    let queries = shards
        .iter()
        .filter_map(|id| input.map.shard(*id))
        .map(|s| {
            let want: BTreeSet<u64> = s.replicas.iter().map(|r| r.peer.0).collect();
            let addr = input.leader_addrs.get(&s.id.0).copied();
            async move {
                let addr = addr?;
                let (voters, learners) =
                    client::membership(transport, addr, s.id.0, input.rpc_timeout)
                        .await
                        .ok()?;
                let voters: BTreeSet<u64> = voters.into_iter().collect();
                (voters == want && learners.is_empty()).then_some(s.id)
            }
        });
    join_all(queries).await.into_iter().flatten().collect()
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
