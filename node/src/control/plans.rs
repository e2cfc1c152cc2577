//! Placement records in the meta shard: the rebalance plan (every planned replica move and how
//! far it got), the leader each data shard should have, and the operator's hold on automatic
//! balancing. They live in the meta shard beside the map, so a new meta leader reads exactly
//! where the old one stopped and resumes; and a step that edits the map (add the new replica,
//! drop the old one) records the move's progress in the same entry, so the two never disagree.
//!
//! Apply is deterministic: time is the entry's log time, nothing else is read.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tanli_router::{ClusterMap, NodeId, NodeState, ReplicaMove, ShardId, Why};
use tanli_storage::{KvRead, KvWrite, Record, StorageError};

use super::meta::{decode_meta, encode_meta, MetaCmd, MetaReply, MetaState};

/// Where the placement record lives inside the meta shard.
pub const PLACEMENT_KEY: &[u8] = b"tanli/meta/placement";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanKind {
    /// Evening out replica counts (by an operator, or by the driver when auto-balancing).
    Rebalance,
    /// Replicas on down or draining nodes, or shards off their replication factor.
    Repair,
    /// `TANLI.SHARD MOVE`.
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanState {
    Running,
    Done,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MoveState {
    Pending,
    /// The new replica is in the map: a learner catching up, then a voter.
    Adding,
    /// The old replica is out of the map: it leaves the group, then its data is deleted.
    Removing,
    Done,
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanMove {
    pub mv: ReplicaMove,
    pub state: MoveState,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
}

impl PlanMove {
    pub fn in_flight(&self) -> bool {
        matches!(self.state, MoveState::Adding | MoveState::Removing)
    }

    pub fn ended(&self) -> bool {
        matches!(self.state, MoveState::Done | MoveState::Skipped(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: u64,
    pub kind: PlanKind,
    pub state: PlanState,
    pub reason: String,
    pub created_ms: u64,
    pub finished_ms: Option<u64>,
    pub moves: Vec<PlanMove>,
}

impl Plan {
    pub fn running(&self) -> bool {
        self.state == PlanState::Running
    }
}

/// One advance of a running plan's move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Puts `to` in the map (or, for a pure remove, takes `from` out).
    Start,
    /// `to` is a caught-up voter: takes `from` out of the map.
    Remove,
    Finish,
    Skip(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeOp {
    Drain,
    Undrain,
    Remove,
}

/// The whole placement record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub next_plan: u64,
    /// The running plan, or the last one that ended.
    pub plan: Option<Plan>,
    /// Set by cancelling a plan: the driver plans no balancing (repairs still run) until the
    /// next `TANLI.REBALANCE START`.
    pub hold_balance: bool,
    /// Shard → (node that should lead it, pinned by an operator).
    pub leaders: BTreeMap<u64, (u64, bool)>,
}

impl Placement {
    pub fn read(kv: &dyn KvRead) -> Result<Placement, StorageError> {
        match kv.get(PLACEMENT_KEY)? {
            None => Ok(Placement::default()),
            Some(rec) => {
                decode_meta("placement", &rec.data).map_err(|detail| StorageError::Corrupt {
                    what: "placement",
                    detail,
                })
            }
        }
    }

    fn write(&self, kv: &mut dyn KvWrite) -> Result<(), StorageError> {
        kv.put(PLACEMENT_KEY, Record::string(encode_meta(self)))
    }

    pub fn running(&self) -> Option<&Plan> {
        self.plan.as_ref().filter(|p| p.running())
    }

    /// The recorded leader target of each data shard.
    pub fn recorded_leaders(&self) -> BTreeMap<ShardId, NodeId> {
        self.leaders
            .iter()
            .map(|(s, (n, _))| (ShardId(*s), NodeId(*n)))
            .collect()
    }

    /// The leader targets the driver wants now: the recorded ones (pins kept), then `known`
    /// leaders for shards with none, balanced by [`tanli_router::assign_leaders`].
    pub fn wanted_leaders(
        &self,
        map: &ClusterMap,
        known: &BTreeMap<ShardId, NodeId>,
        tolerance: u64,
        can_take: &dyn Fn(NodeId) -> bool,
    ) -> BTreeMap<ShardId, NodeId> {
        let pinned: BTreeSet<ShardId> = self
            .leaders
            .iter()
            .filter(|(_, (_, pin))| *pin)
            .map(|(s, _)| ShardId(*s))
            .collect();
        let mut current = self.recorded_leaders();
        for (s, n) in known {
            current.entry(*s).or_insert(*n);
        }
        tanli_router::assign_leaders(map, &current, &pinned, tolerance, can_take)
    }
}

/// Applies a placement command. `change` applies a plain map command (the meta applier's).
pub fn apply(
    kv: &mut dyn KvWrite,
    log_ms: u64,
    state: MetaState,
    map: &ClusterMap,
    cmd: MetaCmd,
    change: fn(MetaState, &ClusterMap, MetaCmd) -> (MetaReply, Option<MetaState>),
) -> Result<(MetaReply, Option<MetaState>), StorageError> {
    let mut p = Placement::read(kv)?;
    let refused = |why: String| Ok((MetaReply::Refused(why), None));
    let stale = |e: u64| e != map.epoch();
    let (reply, new_state) = match cmd {
        MetaCmd::PlanCreate { if_epoch, .. } | MetaCmd::PlanStep { if_epoch, .. }
            if stale(if_epoch) =>
        {
            return Ok((MetaReply::Stale { epoch: map.epoch() }, None));
        }
        MetaCmd::PlanCreate {
            kind,
            reason,
            moves,
            ..
        } => {
            if let Some(r) = p.running() {
                return refused(format!("plan {} is running", r.id));
            }
            if moves.is_empty() {
                return refused("nothing to move".into());
            }
            p.next_plan += 1;
            let id = p.next_plan;
            if kind == PlanKind::Rebalance {
                p.hold_balance = false;
            }
            p.plan = Some(Plan {
                id,
                kind,
                state: PlanState::Running,
                reason,
                created_ms: log_ms,
                finished_ms: None,
                moves: moves
                    .into_iter()
                    .map(|mv| PlanMove {
                        mv,
                        state: MoveState::Pending,
                        started_ms: None,
                        finished_ms: None,
                    })
                    .collect(),
            });
            (MetaReply::Plan { id }, None)
        }
        MetaCmd::PlanStep {
            plan,
            index,
            step,
            if_epoch,
        } => {
            let Some(running) = p.plan.as_mut().filter(|r| r.running() && r.id == plan) else {
                return refused(format!("plan {plan} is not running"));
            };
            let Some(m) = running.moves.get_mut(index as usize) else {
                return refused(format!("plan {plan} has no move {index}"));
            };
            let mv = m.mv;
            let mut new_state = None;
            let map_cmd = match (&step, mv.to, mv.from) {
                (Step::Start, Some(node), _) => Some(MetaCmd::AddReplica {
                    shard: mv.shard,
                    node,
                    if_epoch,
                }),
                (Step::Start, None, Some(node)) | (Step::Remove, _, Some(node)) => {
                    let holds = map
                        .shard(mv.shard)
                        .is_some_and(|s| s.replica_on(node).is_some());
                    holds.then_some(MetaCmd::RemoveReplica {
                        shard: mv.shard,
                        node,
                        if_epoch,
                    })
                }
                _ => None,
            };
            if let Some(c) = map_cmd {
                match change(state, map, c) {
                    (MetaReply::Done { .. }, s) => new_state = s,
                    (other, _) => return Ok((other, None)),
                }
            }
            match step {
                Step::Start => {
                    m.state = if mv.to.is_some() {
                        MoveState::Adding
                    } else {
                        MoveState::Removing
                    };
                    m.started_ms = Some(log_ms);
                }
                Step::Remove => m.state = MoveState::Removing,
                Step::Finish => {
                    m.state = MoveState::Done;
                    m.finished_ms = Some(log_ms);
                }
                Step::Skip(note) => {
                    m.state = MoveState::Skipped(note);
                    m.finished_ms = Some(log_ms);
                }
            }
            if running.moves.iter().all(PlanMove::ended) {
                running.state = PlanState::Done;
                running.finished_ms = Some(log_ms);
            }
            let epoch = new_state
                .as_ref()
                .and_then(|s: &MetaState| s.map().ok())
                .map_or(map.epoch(), |m| m.epoch());
            (MetaReply::Done { epoch }, new_state)
        }
        MetaCmd::PlanCancel => {
            let Some(running) = p.plan.as_mut().filter(|r| r.running()) else {
                return refused("no plan is running".into());
            };
            for m in running
                .moves
                .iter_mut()
                .filter(|m| m.state == MoveState::Pending)
            {
                m.state = MoveState::Skipped("cancelled".into());
                m.finished_ms = Some(log_ms);
            }
            running.state = PlanState::Cancelled;
            running.finished_ms = Some(log_ms);
            let id = running.id;
            p.hold_balance = true;
            (MetaReply::Plan { id }, None)
        }
        MetaCmd::SetHold { hold } => {
            p.hold_balance = hold;
            (MetaReply::Done { epoch: map.epoch() }, None)
        }
        MetaCmd::SetLeaders { targets } => {
            for (shard, node) in targets {
                let keep_pin = p
                    .leaders
                    .get(&shard)
                    .is_some_and(|(n, pin)| *pin && *n == node);
                p.leaders.insert(shard, (node, keep_pin));
            }
            p.leaders.retain(|s, _| map.shard(ShardId(*s)).is_some());
            (MetaReply::Done { epoch: map.epoch() }, None)
        }
        MetaCmd::PinLeader { shard, node } => {
            let Some(info) = map.shard(shard).filter(|_| shard != ShardId::META) else {
                return refused(format!("unknown data shard {shard}"));
            };
            if info.replica_on(node).is_none() {
                return refused(format!("node {node} holds no replica of shard {shard}"));
            }
            if map.node(node).map(|n| n.state) != Some(NodeState::Up) {
                return refused(format!("node {node} is not up"));
            }
            p.leaders.insert(shard.0, (node.0, true));
            (MetaReply::Done { epoch: map.epoch() }, None)
        }
        MetaCmd::Node {
            node,
            op,
            replication_factor,
        } => return node_op(kv, p, state, map, node, op, replication_factor, change),
        other => return refused(format!("not a placement command: {other:?}")),
    };
    p.write(kv)?;
    Ok((reply, new_state))
}

#[allow(clippy::too_many_arguments)]
fn node_op(
    kv: &mut dyn KvWrite,
    mut p: Placement,
    state: MetaState,
    map: &ClusterMap,
    node: NodeId,
    op: NodeOp,
    r: u32,
    change: fn(MetaState, &ClusterMap, MetaCmd) -> (MetaReply, Option<MetaState>),
) -> Result<(MetaReply, Option<MetaState>), StorageError> {
    let refused = |why: String| Ok((MetaReply::Refused(why), None));
    let Some(info) = map.node(node) else {
        return refused(format!("unknown node {node}"));
    };
    let to = match (op, info.state) {
        (NodeOp::Drain, NodeState::Draining) | (NodeOp::Undrain, NodeState::Up) => {
            return Ok((MetaReply::Done { epoch: map.epoch() }, None))
        }
        (NodeOp::Drain, NodeState::Up | NodeState::Joining | NodeState::Down) => {
            let others = map
                .nodes()
                .values()
                .filter(|n| n.state == NodeState::Up && n.id != node)
                .count();
            if others < r as usize {
                return refused(format!(
                    "draining node {node} would leave {others} up nodes for replication factor {r}"
                ));
            }
            NodeState::Draining
        }
        (NodeOp::Undrain, NodeState::Draining) => NodeState::Up,
        (NodeOp::Remove, NodeState::Removed) => {
            return Ok((MetaReply::Done { epoch: map.epoch() }, None))
        }
        (NodeOp::Remove, _) => {
            let held: Vec<String> = map
                .shards_on_node(node)
                .iter()
                .map(|s| {
                    if *s == ShardId::META {
                        "meta".into()
                    } else {
                        s.to_string()
                    }
                })
                .collect();
            if !held.is_empty() {
                return refused(format!(
                    "node {node} still holds replicas of shards {}: drain it first",
                    held.join(",")
                ));
            }
            NodeState::Removed
        }
        (op, s) => return refused(format!("cannot {op:?} node {node} in state {s:?}")),
    };
    let (reply, new_state) = change(
        state,
        map,
        MetaCmd::SetState {
            node,
            state: to,
            if_epoch: map.epoch(),
        },
    );
    // Leadership targets on a node that leaves stop being pins.
    if to != NodeState::Up {
        for (n, pin) in p.leaders.values_mut() {
            if *n == node.0 {
                *pin = false;
            }
        }
        p.write(kv)?;
    }
    Ok((reply, new_state))
}

/// Why label for a move, for status output.
pub fn why_str(w: Why) -> &'static str {
    w.as_str()
}
