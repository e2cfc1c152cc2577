//! Answers the commands that need the meta shard rather than a data shard: `TANLI.CLIENTID`,
//! `TANLI.WORKERID` and `TANLI.ID` (see `cmd/tanli.rs`), and owns this node's own Snowflake
//! generator behind `TANLI.ID`.
//!
//! The generator's worker id is leased with this node's id as holder and renewed when a third of
//! the lease is left. Its validity is measured on this node's monotonic clock from when the lease
//! was requested (the lease began at or after that moment, in the meta shard's log time), so the
//! node stops issuing ids before the lease can have passed to someone else. The wall clock only
//! fills the id's time field: when it is behind the last id (it stepped back), `TANLI.ID` waits
//! up to [`CLOCK_WAIT_MAX`] and otherwise fails rather than risk a repeat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tanli_router::ids::{LeaseWait, Leased, Wait};

use crate::cmd::tanli::DEFAULT_LEASE_TTL_MS;
use crate::cmd::AdminCmd;
use crate::control::meta::{MetaCmd, MetaReply};
use crate::reply::Reply;
use crate::server::Node;
use crate::shard::now_ms;

/// How long a meta request may take before the command fails.
const META_WITHIN: Duration = Duration::from_secs(5);
/// How long `TANLI.ID` waits for a clock that is behind the last id.
pub const CLOCK_WAIT_MAX: Duration = Duration::from_secs(1);

/// This node's leased generator.
#[derive(Default)]
pub struct IdSource {
    state: tokio::sync::Mutex<Option<Leased>>,
}

pub async fn answer(node: &Arc<Node>, cmd: AdminCmd) -> Reply {
    match cmd {
        AdminCmd::ClientId => match node.control.propose(MetaCmd::NewClient, META_WITHIN).await {
            Ok(MetaReply::Id(id)) => Reply::Int(i64::try_from(id).unwrap_or(i64::MAX)),
            Ok(other) => unexpected(other),
            Err(e) => unavailable(&e),
        },
        AdminCmd::WorkerId { holder, ttl_ms } => match lease(node, holder, ttl_ms).await {
            Ok((worker, ttl, not_before)) => Reply::Array(vec![
                Reply::Int(i64::from(worker)),
                Reply::Int(i64::try_from(ttl).unwrap_or(i64::MAX)),
                Reply::Int(i64::try_from(not_before).unwrap_or(i64::MAX)),
            ]),
            Err(reply) => reply,
        },
        AdminCmd::NextId => next_id(node).await,
        other => crate::admin_placement::answer(node, other).await,
    }
}

fn unexpected(reply: MetaReply) -> Reply {
    match reply {
        MetaReply::Refused(why) => Reply::err(why),
        other => Reply::err(format!("unexpected meta reply {other:?}")),
    }
}

fn unavailable(e: &str) -> Reply {
    Reply::Error(format!("CLUSTERDOWN the meta shard did not answer: {e}"))
}

/// Leases a worker id for `holder`: (worker, lease length granted, not-before Unix ms).
async fn lease(node: &Arc<Node>, holder: u64, ttl_ms: u64) -> Result<(u16, u64, u64), Reply> {
    let cmd = MetaCmd::LeaseWorker { holder, ttl_ms };
    match node.control.propose(cmd, META_WITHIN).await {
        Ok(MetaReply::Worker {
            worker,
            expires_ms: _,
            not_before_ms,
        }) => {
            // The granted length, clamped by the meta shard; the holder measures it from when
            // it asked.
            let granted = ttl_ms.clamp(
                crate::control::leases::LEASE_TTL_MIN_MS,
                crate::control::leases::LEASE_TTL_MAX_MS,
            );
            Ok((worker, granted, not_before_ms))
        }
        Ok(other) => Err(unexpected(other)),
        Err(e) => Err(unavailable(&e)),
    }
}

async fn next_id(node: &Arc<Node>) -> Reply {
    let mut state = node.ids.state.lock().await;
    if Leased::needs_renewal(state.as_ref(), Instant::now()) {
        let asked = Instant::now();
        match lease(node, node.identity.node_id, DEFAULT_LEASE_TTL_MS).await {
            Ok((worker, ttl, not_before)) => {
                let ttl = Duration::from_millis(ttl);
                match Leased::renewed(state.take(), worker, ttl, not_before, asked) {
                    Some(l) => *state = Some(l),
                    None => return Reply::err(format!("worker id {worker} out of range")),
                }
            }
            // A lease still valid keeps serving while the meta shard is unreachable.
            Err(reply) if !Leased::is_valid(state.as_ref(), Instant::now()) => return reply,
            Err(_) => {}
        }
    }
    let Some(leased) = state.as_mut() else {
        return Reply::err("no worker id");
    };
    let give_up = Instant::now() + CLOCK_WAIT_MAX;
    loop {
        match leased.next(Instant::now(), now_ms()) {
            Ok(id) => return Reply::Int(i64::try_from(id).unwrap_or(i64::MAX)),
            Err(LeaseWait::Expired) => {
                return Reply::Error("TRYAGAIN the worker id lease ran out; retry".into())
            }
            Err(LeaseWait::Clock(Wait::ClockOutOfRange)) => {
                return Reply::err("this node's clock is outside the id range")
            }
            Err(LeaseWait::Clock(Wait::Until(at))) => {
                let wait = Duration::from_millis(at.saturating_sub(now_ms()));
                if Instant::now() + wait > give_up {
                    return Reply::err(format!(
                        "this node's clock is {} ms behind its last id; refusing to repeat an id",
                        wait.as_millis()
                    ));
                }
                tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
            }
        }
    }
}
