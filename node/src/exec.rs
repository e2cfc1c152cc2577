//! Executes a parsed data command: route its keys, pass the shard's consistency check or propose
//! it through Raft, and produce the reply.
//!
//! Consistency of every read is stated here: linearizable (ReadIndex on the shard leader) unless
//! the connection said `READONLY`, in which case a follower answers from its applied state, which
//! may be stale (Redis Cluster's replica reads). Key-less reads (DBSIZE, KEYS, SCAN, RANDOMKEY)
//! on a node that leads no shard are answered from its replica's applied state, possibly stale.

use std::sync::Arc;

use futures::future::{ready, BoxFuture, FutureExt};

use tanli_storage::StorageError;

use crate::cmd::{ReadCmd, ReadCtx, WriteCmd};
use crate::error::ClusterError;
use crate::reply::Reply;
use crate::route::redirect;
use crate::server::Node;
use crate::shard::now_ms;

/// Routes `cmd` and queues it for proposal now (so a connection's writes enter the log in the
/// order it sent them); the returned future yields the applied reply.
pub fn submit_write(node: &Arc<Node>, cmd: WriteCmd) -> BoxFuture<'static, Reply> {
    let keys = cmd.keys();
    let routed = node.routes.route(&keys);
    drop(keys);
    let (slot, shard) = match routed {
        Err(e) => return ready(e.to_reply()).boxed(),
        Ok(Some((slot, shard))) => (Some(slot), shard),
        // A key-less write (FLUSHDB, FLUSHALL) goes to the node's shard; a follower refuses it.
        Ok(None) => match node.routes.shards().first() {
            Some(shard) => (None, shard.clone()),
            None => {
                return ready(
                    ClusterError::ClusterDown("no shard is hosted here".into()).to_reply(),
                )
                .boxed()
            }
        },
    };
    match shard.submit(&cmd) {
        Err(e) => ready(redirect(slot, e).to_reply()).boxed(),
        Ok(applied) => async move {
            match applied.await {
                Ok(reply) => reply,
                Err(e) => redirect(slot, e).to_reply(),
            }
        }
        .boxed(),
    }
}

pub async fn read(node: Arc<Node>, cmd: ReadCmd, stale_ok: bool) -> Reply {
    let ctx = ReadCtx {
        now_ms: now_ms(),
        random: rand::random(),
    };
    let keys = cmd.keys();
    let routed = node.routes.route(&keys);
    drop(keys);
    match routed {
        Err(e) => e.to_reply(),
        Ok(Some((slot, shard))) => {
            // READONLY on a follower: answer from the applied state, possibly stale.
            let stale = stale_ok && !shard.is_leader();
            if !stale {
                if let Err(e) = shard.linearize().await {
                    return redirect(Some(slot), e).to_reply();
                }
            }
            reply_of(cmd.execute(&shard.reader, &ctx))
        }
        Ok(None) => {
            // Key-less reads: on a shard leader, linearizable over what it leads; on a node that
            // leads nothing, its replica's applied state, possibly stale (as a Redis Cluster
            // replica answers DBSIZE, KEYS or SCAN from its copy).
            if let Some(shard) = node.routes.led_shards().first() {
                if let Err(e) = shard.linearize().await {
                    return redirect(None, e).to_reply();
                }
                return reply_of(cmd.execute(&shard.reader, &ctx));
            }
            match node.routes.shards().first() {
                Some(shard) => reply_of(cmd.execute(&shard.reader, &ctx)),
                None => ClusterError::ClusterDown("no shard is hosted here".into()).to_reply(),
            }
        }
    }
}

fn reply_of(r: Result<Reply, StorageError>) -> Reply {
    r.unwrap_or_else(|e| ClusterError::from(e).to_reply())
}
