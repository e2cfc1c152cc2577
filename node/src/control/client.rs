//! Sending control requests to other nodes: a meta command to whichever node leads the meta
//! shard (following `NotMetaLeader` hints), a map fetch, a membership query.
//!
//! Bounded: every call has the RPC deadline, every retry loop a total deadline and a backoff.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::meta::{MetaCmd, MetaReply};
use crate::raft::transport::{CallError, Transport};
use crate::raft::wire::{Request, Response, WireError};

/// Pause between rounds over the known addresses.
const ROUND_BACKOFF: Duration = Duration::from_millis(200);
/// Leader hints followed within one round (a hint loop cannot spin).
const HOPS_MAX: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no meta leader answered within {0:?} (last error: {1})")]
    Timeout(Duration, String),
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

/// Proposes `cmd` to the meta leader, trying `targets` (cluster addresses) and following leader
/// hints, until `within` has passed. Returns the reply and the cluster id.
pub async fn propose_meta(
    transport: &Arc<Transport>,
    targets: &[SocketAddr],
    cmd: &MetaCmd,
    call_timeout: Duration,
    within: Duration,
) -> Result<(MetaReply, String), ControlError> {
    let deadline = Instant::now() + within;
    let body = cmd.encode();
    let mut last = String::from("no address to try");
    loop {
        for &first in targets {
            let mut addr = first;
            for _ in 0..HOPS_MAX {
                match transport
                    .call(addr, 0, Request::Meta(body.clone()), call_timeout)
                    .await
                {
                    Ok(Response::Meta { reply, cluster_id }) => {
                        let reply = MetaReply::decode(&reply).map_err(ControlError::Protocol)?;
                        return Ok((reply, cluster_id));
                    }
                    Ok(other) => return Err(ControlError::Protocol(format!("{other:?}"))),
                    Err(CallError::Remote(_, WireError::NotMetaLeader { leader })) => {
                        last = format!("{addr} is not the meta leader");
                        match leader.and_then(|l| l.parse().ok()) {
                            Some(next) if next != addr => addr = next,
                            _ => break,
                        }
                    }
                    Err(e) => {
                        last = e.to_string();
                        break;
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(ControlError::Timeout(within, last));
            }
        }
        if Instant::now() >= deadline {
            return Err(ControlError::Timeout(within, last));
        }
        tokio::time::sleep(ROUND_BACKOFF).await;
    }
}

/// The committed membership of `shard` on the node at `addr`: (voters, learners).
pub async fn membership(
    transport: &Transport,
    addr: SocketAddr,
    shard: u64,
    timeout: Duration,
) -> Result<(Vec<u64>, Vec<u64>), String> {
    match transport
        .call(addr, shard, Request::Membership, timeout)
        .await
    {
        Ok(Response::Membership { voters, learners }) => Ok((voters, learners)),
        Ok(other) => Err(format!("unexpected reply {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The encoded map the node at `addr` holds (empty: none).
pub async fn fetch_map(
    transport: &Transport,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    match transport.call(addr, 0, Request::FetchMap, timeout).await {
        Ok(Response::Map(b)) => Ok(b),
        Ok(other) => Err(format!("unexpected reply {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}
