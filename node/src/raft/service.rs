//! Incoming Raft RPC: accepts peer connections on the cluster port and hands each request to the
//! addressed shard's Raft, replying on the same connection. Requests run concurrently (one slow
//! shard never stalls another's messages), at most `inflight_max` per connection.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use futures::{SinkExt, StreamExt};
use tanli_storage::types::{Raft, ShardId, Snapshot};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use super::transport::codec;
use super::wire::{self, Frame, Request, Response, WireError};

/// Largest first frame (the peer's hello) accepted from a new connection.
const HELLO_BYTES_MAX: usize = 4096;

/// The shards hosted here. A std lock: read to clone a handle out, never held across await.
pub type Registry = Arc<RwLock<HashMap<ShardId, Raft>>>;

/// Answers the control-plane requests ([`Request::Meta`], [`Request::FetchMap`],
/// [`Request::Membership`]); the node's control plane implements it.
pub trait ControlService: Send + Sync + 'static {
    fn handle(
        &self,
        shard: ShardId,
        req: Request,
    ) -> futures::future::BoxFuture<'static, Result<Response, WireError>>;
}

/// Set once the control plane is up; until then control requests are refused.
pub type ControlSlot = Arc<std::sync::OnceLock<Arc<dyn ControlService>>>;

#[derive(Clone)]
pub struct ServiceConfig {
    pub stats: Arc<super::RpcStats>,
    pub cluster_id: String,
    pub frame_bytes_max: usize,
    pub inflight_max: usize,
    /// Until then, this node grants no vote (see [`hold_votes_until`]).
    pub votes_held_until: Option<tokio::time::Instant>,
}

/// With lease reads, when a restarted node may vote again. openraft keeps a follower's lease
/// (no vote for another candidate within election-timeout-max of hearing from the leader) in
/// memory only, so a node that crashed and came back at once would grant votes at once, and a
/// new leader could be elected while the old one still answers reads from its lease. Holding
/// back its votes for election-timeout-max after it starts keeps the promise it made before the
/// crash. Its own candidacy needs no hold: its election timer runs at least election-timeout-min,
/// longer than the lease. A leadership transfer, which the leader asked for, is never held back.
pub fn hold_votes_until(cfg: &crate::config::Config) -> Option<tokio::time::Instant> {
    (cfg.read_policy == crate::config::ReadPolicy::Lease).then(|| {
        tokio::time::Instant::now() + std::time::Duration::from_millis(cfg.election_timeout_max_ms)
    })
}

pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    control: ControlSlot,
    cfg: ServiceConfig,
    shutdown: CancellationToken,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster port accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (registry, cfg, shutdown) = (registry.clone(), cfg.clone(), shutdown.clone());
        let control = control.clone();
        crate::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = connection(stream, registry, control, cfg) => {}
            }
            tracing::debug!(%peer, "raft connection closed");
        });
    }
}

async fn connection(
    stream: TcpStream,
    registry: Registry,
    control: ControlSlot,
    cfg: ServiceConfig,
) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let (rd, wr) = stream.into_split();
    // Until the peer has said who it is, a frame may not be larger than a hello: an unknown
    // connection cannot make this node reserve a large buffer.
    let mut reader = FramedRead::new(rd, codec(HELLO_BYTES_MAX));
    let mut writer = FramedWrite::new(wr, codec(cfg.frame_bytes_max));
    // A node that is still joining does not know the cluster id yet: it may only send control
    // requests (its join), never Raft messages.
    let stranger;
    match reader.next().await.map(|r| r.map(|b| wire::decode(&b))) {
        Some(Ok(Ok(Frame::Hello {
            cluster_id,
            node_id,
        }))) if cluster_id == cfg.cluster_id || cluster_id.is_empty() => {
            stranger = cluster_id.is_empty();
            tracing::debug!(?peer, node_id, stranger, "raft peer connected");
        }
        Some(Ok(Ok(Frame::Hello {
            cluster_id,
            node_id,
        }))) => {
            tracing::error!(?peer, node_id, theirs = %cluster_id, ours = %cfg.cluster_id, "refusing a node of another cluster");
            if let Ok(b) = wire::encode(&Frame::Refused {
                reason: format!("this node belongs to cluster {:?}", cfg.cluster_id),
            }) {
                let _ = writer.send(b).await;
            }
            return;
        }
        other => {
            tracing::warn!(?peer, first = ?other.map(|r| r.map(|f| f.is_ok())), "raft connection without a valid hello");
            return;
        }
    }
    reader
        .decoder_mut()
        .set_max_frame_length(cfg.frame_bytes_max);
    let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(cfg.inflight_max);
    let stats = cfg.stats.clone();
    let writer_task = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            stats
                .bytes_out
                .fetch_add(frame.len() as u64, Ordering::Relaxed);
            if writer.send(frame).await.is_err() {
                break;
            }
        }
    });
    let permits = Arc::new(Semaphore::new(cfg.inflight_max));
    while let Some(item) = reader.next().await {
        if let Ok(b) = &item {
            cfg.stats
                .bytes_in
                .fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        let frame = match item
            .map_err(|e| e.to_string())
            .and_then(|b| wire::decode(&b).map_err(|e| e.to_string()))
        {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(?peer, error = %e, "dropping raft connection");
                break;
            }
        };
        let Frame::Request { id, shard, body } = frame else {
            tracing::warn!(?peer, "unexpected frame on raft connection");
            break;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let is_control = matches!(
            body,
            Request::Meta(_) | Request::FetchMap | Request::Membership
        );
        // A node outside the cluster may ask to join, and nothing else.
        let is_join =
            matches!(&body, Request::Meta(cmd) if crate::control::meta::MetaCmd::is_join(cmd));
        if stranger && !is_join {
            tracing::warn!(
                ?peer,
                "a node outside the cluster sent more than a join request"
            );
            break;
        }
        let raft = registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&shard)
            .cloned();
        let control = control.get().cloned();
        if matches!(body, Request::Snapshot { .. }) {
            cfg.stats
                .snapshots_installed
                .fetch_add(1, Ordering::Relaxed);
        }
        let tx = tx.clone();
        let votes_held_until = cfg.votes_held_until;
        crate::spawn(async move {
            let body = match (raft, control) {
                (_, Some(c)) if is_control => c.handle(shard, body).await,
                (_, None) if is_control => Err(WireError::Refused("node is starting".into())),
                (Some(raft), _) => handle(&raft, body, votes_held_until).await,
                (None, _) => Err(WireError::UnknownShard(shard)),
            };
            match wire::encode(&Frame::Response { id, body }) {
                Ok(b) => {
                    let _ = tx.send(b).await;
                }
                Err(e) => tracing::error!(error = %e, "could not encode a raft reply"),
            }
            drop(permit);
        });
    }
    drop(tx);
    let _ = writer_task.await;
}

async fn handle(
    raft: &Raft,
    req: Request,
    votes_held_until: Option<tokio::time::Instant>,
) -> Result<Response, WireError> {
    let raft_err = |e: &dyn std::fmt::Display| WireError::Raft(e.to_string());
    match req {
        // Only votes look at the clock: appends, the hot path, go straight on.
        Request::Vote(r) | Request::PreVote(r)
            if !r.leadership_transfer
                && votes_held_until.is_some_and(|t| tokio::time::Instant::now() < t) =>
        {
            Err(WireError::Refused(
                "this node just started: its votes are held back (lease reads)".into(),
            ))
        }
        Request::Append(r) => raft
            .append_entries(r)
            .await
            .map(Response::Append)
            .map_err(|e| raft_err(&e)),
        Request::Vote(r) => raft
            .vote(r)
            .await
            .map(Response::Vote)
            .map_err(|e| raft_err(&e)),
        Request::PreVote(r) => raft
            .pre_vote(r)
            .await
            .map(Response::Vote)
            .map_err(|e| raft_err(&e)),
        Request::Snapshot { vote, meta, data } => raft
            .install_full_snapshot(
                vote,
                Snapshot {
                    meta,
                    snapshot: Cursor::new(data),
                },
            )
            .await
            .map(Response::Snapshot)
            .map_err(|e| raft_err(&e)),
        Request::TransferLeader(r) => raft
            .handle_transfer_leader(r)
            .await
            .map(Response::TransferLeader)
            .map_err(|e| raft_err(&e)),
        Request::Meta(_) | Request::FetchMap | Request::Membership => Err(WireError::Refused(
            "control request on the raft path".into(),
        )),
    }
}
