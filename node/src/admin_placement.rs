//! Answers the placement admin commands (`TANLI.STATUS`, `TANLI.REBALANCE`, `TANLI.NODE`,
//! `TANLI.SHARD MOVE`, `TANLI.LEADER TRANSFER`; parsed in `cmd/placement.rs`, contract in
//! `ctl/README.md`).
//!
//! Decisions go to the meta shard's leader as meta commands, which check them again when they
//! apply (so two operators racing cannot both win an impossible request). What is shown comes
//! from this node's replica of the meta shard and its gossip view; after a change, the answer
//! waits until this node's replica has applied it, so a reply never shows the old state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tanli_router::{ClusterMap, NodeId, NodeState, ReplicaMove, ShardId, Why};

use crate::admin_status::status;
use crate::cmd::placement::RebalanceOp;
use crate::cmd::AdminCmd;
use crate::control::meta::{MetaCmd, MetaReply};
use crate::control::plans::{MoveState, Placement, Plan, PlanKind, PlanState};
use crate::reply::Reply;
use crate::server::Node;
use crate::shard::now_ms;

/// How long a meta request may take before the command fails.
const META_WITHIN: Duration = Duration::from_secs(5);
/// How long a reply waits for this node's meta replica to show a change it made.
const SHOW_WITHIN: Duration = Duration::from_secs(3);
/// Attempts to plan against a map this node's replica has not caught up on yet.
const STALE_RETRIES: usize = 10;

pub async fn answer(node: &Arc<Node>, cmd: AdminCmd) -> Reply {
    let out = match cmd {
        AdminCmd::Status { json } => Ok(encode(status(node), json)),
        AdminCmd::Rebalance { op, json } => rebalance(node, op).await.map(|v| encode(v, json)),
        AdminCmd::Node { op, node: id } => {
            let cmd = MetaCmd::Node {
                node: NodeId(id),
                op,
                replication_factor: node.config.replication_factor as u32,
            };
            propose(node, cmd).await.map(|_| Reply::ok())
        }
        AdminCmd::ShardMove {
            shard,
            from,
            to,
            json,
        } => shard_move(node, ShardId(shard), NodeId(from), NodeId(to))
            .await
            .map(|v| encode(v, json)),
        AdminCmd::LeaderTransfer { shard, to } => {
            leader_transfer(node, ShardId(shard), NodeId(to)).await
        }
        other => Err(Reply::err(format!("not a placement command: {other:?}"))),
    };
    out.unwrap_or_else(|e| e)
}

/// Proposes to the meta leader; a refusal becomes `-ERR <why>`.
async fn propose(node: &Node, cmd: MetaCmd) -> Result<MetaReply, Reply> {
    match node.control.propose(cmd, META_WITHIN).await {
        Ok(MetaReply::Refused(why)) => Err(Reply::err(why)),
        Ok(r) => Ok(r),
        Err(e) => Err(Reply::Error(format!(
            "CLUSTERDOWN the meta shard did not answer: {e}"
        ))),
    }
}

/// Waits until this node's meta replica shows `ok`, then returns what it shows.
async fn shown(node: &Node, ok: impl Fn(&Placement) -> bool) -> Placement {
    let until = Instant::now() + SHOW_WITHIN;
    loop {
        let p = node.control.local_placement();
        if ok(&p) || Instant::now() >= until {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn live_up(node: &Node) -> impl Fn(NodeId) -> bool {
    let topo = node.topology();
    move |n: NodeId| n == topo.me || topo.live.contains_key(&n.0)
}

async fn rebalance(node: &Arc<Node>, op: RebalanceOp) -> Result<Value, Reply> {
    match op {
        RebalanceOp::Status => Ok(match node.control.local_placement().plan {
            Some(p) => plan_json(&p),
            None => json!({ "plan": null }),
        }),
        RebalanceOp::Plan => {
            let map = authoritative(node)?;
            let moves = moves_now(node, &map);
            Ok(preview_json(&moves, "preview"))
        }
        RebalanceOp::Cancel => {
            let id = match propose(node, MetaCmd::PlanCancel).await? {
                MetaReply::Plan { id } => id,
                other => return Err(Reply::err(format!("unexpected meta reply {other:?}"))),
            };
            let p = shown(node, |p| {
                p.plan.as_ref().is_some_and(|p| p.id == id && !p.running())
            })
            .await;
            Ok(p.plan.as_ref().map_or(json!({ "plan": null }), plan_json))
        }
        RebalanceOp::Start => {
            if let Some(p) = node.control.local_placement().running() {
                return Ok(plan_json(p));
            }
            propose(node, MetaCmd::SetHold { hold: false }).await?;
            create(node, |map| {
                let moves = moves_now(node, map);
                let kind = if moves.iter().any(|m| m.why.is_repair()) {
                    PlanKind::Repair
                } else {
                    PlanKind::Rebalance
                };
                (kind, "started by an operator".to_string(), moves)
            })
            .await
        }
    }
}

/// Creates a plan against this node's applied map, retrying while that map is older than the
/// meta leader's; with nothing to move, answers an empty, finished preview.
async fn create(
    node: &Arc<Node>,
    make: impl Fn(&ClusterMap) -> (PlanKind, String, Vec<ReplicaMove>),
) -> Result<Value, Reply> {
    for _ in 0..STALE_RETRIES {
        let map = authoritative(node)?;
        let (kind, reason, moves) = make(&map);
        if moves.is_empty() {
            return Ok(preview_json(&moves, "done"));
        }
        let cmd = MetaCmd::PlanCreate {
            kind,
            reason,
            moves,
            if_epoch: map.epoch(),
        };
        match node.control.propose(cmd, META_WITHIN).await {
            Ok(MetaReply::Plan { id }) => {
                let p = shown(node, |p| p.plan.as_ref().is_some_and(|p| p.id == id)).await;
                return Ok(p.plan.as_ref().map_or(json!({ "plan": null }), plan_json));
            }
            Ok(MetaReply::Stale { .. }) => tokio::time::sleep(Duration::from_millis(100)).await,
            Ok(MetaReply::Refused(why)) => {
                // Someone else's plan started first: show it.
                return match node.control.local_placement().running() {
                    Some(p) if why.contains("is running") => Ok(plan_json(p)),
                    _ => Err(Reply::err(why)),
                };
            }
            Ok(other) => return Err(Reply::err(format!("unexpected meta reply {other:?}"))),
            Err(e) => {
                return Err(Reply::Error(format!(
                    "CLUSTERDOWN the meta shard did not answer: {e}"
                )))
            }
        }
    }
    Err(Reply::Error(
        "TRYAGAIN this node's copy of the cluster map is behind the meta leader's".into(),
    ))
}

fn authoritative(node: &Node) -> Result<ClusterMap, Reply> {
    node.control
        .local_meta()
        .and_then(|s| s.map().ok())
        .ok_or_else(|| Reply::Error("CLUSTERDOWN this node has no cluster map yet".into()))
}

fn moves_now(node: &Node, map: &ClusterMap) -> Vec<ReplicaMove> {
    let cfg = &node.config;
    tanli_router::plan(
        map,
        cfg.replication_factor,
        cfg.balance_tolerance,
        &live_up(node),
    )
}

async fn shard_move(
    node: &Arc<Node>,
    shard: ShardId,
    from: NodeId,
    to: NodeId,
) -> Result<Value, Reply> {
    let live = live_up(node);
    let map = authoritative(node)?;
    let info = map
        .shard(shard)
        .filter(|_| shard != ShardId::META)
        .ok_or_else(|| Reply::err(format!("unknown data shard {shard}")))?;
    if info.replica_on(from).is_none() {
        return Err(Reply::err(format!(
            "node {from} holds no replica of shard {shard}"
        )));
    }
    if info.replica_on(to).is_some() {
        return Err(Reply::err(format!(
            "node {to} already holds a replica of shard {shard}"
        )));
    }
    match map.node(to).map(|n| n.state) {
        None => return Err(Reply::err(format!("unknown node {to}"))),
        Some(NodeState::Up) if live(to) => {}
        Some(NodeState::Up) => return Err(Reply::err(format!("node {to} is not live"))),
        Some(s) => return Err(Reply::err(format!("node {to} is {}", state_str(s)))),
    }
    let quorum = info.replicas.iter().filter(|r| live(r.node)).count();
    if quorum * 2 <= info.replicas.len() {
        return Err(Reply::err(format!(
            "shard {shard} has {quorum} of {} replicas live: a move needs a quorum",
            info.replicas.len()
        )));
    }
    if let Some(p) = node.control.local_placement().running() {
        return Err(Reply::err(format!(
            "plan {} is running: wait for it or cancel it",
            p.id
        )));
    }
    let mv = ReplicaMove {
        shard,
        from: Some(from),
        to: Some(to),
        why: Why::Operator,
    };
    let reason = format!("move shard {shard} from node {from} to node {to}");
    create(node, move |_| (PlanKind::Manual, reason.clone(), vec![mv])).await
}

async fn leader_transfer(node: &Arc<Node>, shard: ShardId, to: NodeId) -> Result<Reply, Reply> {
    if !live_up(node)(to) {
        return Err(Reply::err(format!("node {to} is not live")));
    }
    propose(node, MetaCmd::PinLeader { shard, node: to }).await?;
    Ok(Reply::ok())
}

pub fn state_str(s: NodeState) -> &'static str {
    match s {
        NodeState::Joining => "joining",
        NodeState::Up => "up",
        NodeState::Draining => "draining",
        NodeState::Removed => "removed",
        NodeState::Down => "down",
    }
}

fn move_state(s: &MoveState) -> (&'static str, Option<&str>) {
    match s {
        MoveState::Pending => ("pending", None),
        MoveState::Adding => ("adding", None),
        MoveState::Removing => ("removing", None),
        MoveState::Done => ("done", None),
        MoveState::Skipped(note) => ("skipped", Some(note.as_str())),
    }
}

fn kind_str(k: PlanKind) -> &'static str {
    match k {
        PlanKind::Rebalance => "rebalance",
        PlanKind::Repair => "repair",
        PlanKind::Manual => "manual",
    }
}

fn node_id(n: Option<NodeId>) -> Value {
    n.map_or(Value::Null, |n| json!(n.0))
}

pub fn plan_json(p: &Plan) -> Value {
    let count = |f: &dyn Fn(&MoveState) -> bool| p.moves.iter().filter(|m| f(&m.state)).count();
    json!({
        "id": p.id,
        "kind": kind_str(p.kind),
        "state": match p.state {
            PlanState::Running => "running",
            PlanState::Done => "done",
            PlanState::Cancelled => "cancelled",
        },
        "reason": p.reason,
        "created_ms": p.created_ms,
        "finished_ms": p.finished_ms,
        "now_ms": now_ms(),
        "total": p.moves.len(),
        "done": count(&|s| *s == MoveState::Done),
        "skipped": count(&|s| matches!(s, MoveState::Skipped(_))),
        "in_flight": count(&|s| matches!(s, MoveState::Adding | MoveState::Removing)),
        "moves": p.moves.iter().map(|m| {
            let (state, note) = move_state(&m.state);
            json!({
                "shard": m.mv.shard.0,
                "from": node_id(m.mv.from),
                "to": node_id(m.mv.to),
                "state": state,
                "why": m.mv.why.as_str(),
                "started_ms": m.started_ms,
                "finished_ms": m.finished_ms,
                "note": note,
            })
        }).collect::<Vec<_>>(),
    })
}

fn preview_json(moves: &[ReplicaMove], state: &str) -> Value {
    let kind = if moves.iter().any(|m| m.why.is_repair()) {
        "repair"
    } else {
        "rebalance"
    };
    json!({
        "id": null,
        "kind": kind,
        "state": state,
        "reason": if moves.is_empty() { "already balanced" } else { "preview" },
        "created_ms": null,
        "finished_ms": null,
        "now_ms": now_ms(),
        "total": moves.len(),
        "done": 0,
        "skipped": 0,
        "in_flight": 0,
        "moves": moves.iter().map(|m| json!({
            "shard": m.shard.0,
            "from": node_id(m.from),
            "to": node_id(m.to),
            "state": "pending",
            "why": m.why.as_str(),
            "started_ms": null,
            "finished_ms": null,
            "note": null,
        })).collect::<Vec<_>>(),
    })
}

/// The reply for `v`: one JSON bulk string, or nested field/value arrays (maps in RESP3).
pub fn encode(v: Value, json: bool) -> Reply {
    if json {
        return Reply::Bulk(v.to_string().into_bytes());
    }
    to_reply(v)
}

fn to_reply(v: Value) -> Reply {
    match v {
        Value::Null => Reply::Nil,
        Value::Bool(b) => Reply::Int(i64::from(b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Reply::Int(i),
            None => Reply::Bulk(n.to_string().into_bytes()),
        },
        Value::String(s) => Reply::Bulk(s.into_bytes()),
        Value::Array(a) => Reply::Array(a.into_iter().map(to_reply).collect()),
        Value::Object(o) => Reply::Map(
            o.into_iter()
                .map(|(k, v)| (Reply::Bulk(k.into_bytes()), to_reply(v)))
                .collect(),
        ),
    }
}
