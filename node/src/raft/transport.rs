//! Outgoing Raft RPC: one multiplexed, pipelined TCP connection per peer node.
//!
//! Callers of every shard share a peer's connection: a request gets an id, goes into the
//! connection's bounded send queue, and its reply is matched by id. Every call has a deadline.
//! A peer that cannot be reached is marked down for a short backoff, during which calls fail at
//! once as `Unreachable` instead of piling up. Sockets bind this node's address first, so a node
//! on 127.0.0.2 talks from 127.0.0.2 (partition tests filter by address).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tanli_storage::types::ShardId;
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use super::wire::{self, Frame, Request, Response, WireError};

/// How long a peer that refused a connection is considered down.
const DOWN_BACKOFF: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("peer {0} unreachable: {1}")]
    Unreachable(SocketAddr, String),
    #[error("peer {0} did not answer within {1:?}")]
    Timeout(SocketAddr, Duration),
    #[error("peer {0}: connection lost: {1}")]
    Network(SocketAddr, String),
    #[error("peer {0}: {1}")]
    Remote(SocketAddr, WireError),
}

#[derive(Debug, Clone)]
pub struct TransportConfig {
    pub stats: Arc<super::RpcStats>,
    pub bind: IpAddr,
    pub cluster_id: String,
    pub node_id: u64,
    pub frame_bytes_max: usize,
    pub connect_timeout: Duration,
    pub inflight_max: usize,
}

pub fn codec(frame_bytes_max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(frame_bytes_max)
        .new_codec()
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Response, WireError>>>>>;

/// One live connection: its send queue and the calls awaiting replies.
#[derive(Clone)]
struct Conn {
    tx: mpsc::Sender<Bytes>,
    /// Request id → waiting caller. A std mutex: held only to insert or remove, never across await.
    pending: Pending,
}

struct Peer {
    /// The current connection, if any; replaced after a failure.
    conn: tokio::sync::Mutex<Option<Conn>>,
    /// Until when calls fail fast. A std mutex: tiny section, never across await.
    down_until: Mutex<Option<Instant>>,
}

pub struct Transport {
    cfg: TransportConfig,
    next_id: AtomicU64,
    /// Peer address → link. A std mutex: only to look up or insert.
    peers: Mutex<HashMap<SocketAddr, Arc<Peer>>>,
}

impl Transport {
    pub fn new(cfg: TransportConfig) -> Arc<Transport> {
        Arc::new(Transport {
            cfg,
            next_id: AtomicU64::new(1),
            peers: Mutex::new(HashMap::new()),
        })
    }

    fn peer(&self, addr: SocketAddr) -> Arc<Peer> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers
            .entry(addr)
            .or_insert_with(|| {
                Arc::new(Peer {
                    conn: tokio::sync::Mutex::new(None),
                    down_until: Mutex::new(None),
                })
            })
            .clone()
    }

    /// Sends one request to `addr` for `shard` and waits for its reply, at most `timeout`.
    pub async fn call(
        &self,
        addr: SocketAddr,
        shard: ShardId,
        body: Request,
        timeout: Duration,
    ) -> Result<Response, CallError> {
        let peer = self.peer(addr);
        if let Some(until) = *peer.down_until.lock().unwrap_or_else(|e| e.into_inner()) {
            if Instant::now() < until {
                return Err(CallError::Unreachable(addr, "recently refused".into()));
            }
        }
        let deadline = Instant::now() + timeout;
        let conn = match tokio::time::timeout(timeout, self.connection(addr, &peer)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                *peer.down_until.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Instant::now() + DOWN_BACKOFF);
                return Err(e);
            }
            Err(_) => return Err(CallError::Timeout(addr, timeout)),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = wire::encode(&Frame::Request { id, shard, body })
            .map_err(|e| CallError::Network(addr, e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        conn.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let remaining = deadline.saturating_duration_since(Instant::now());
        let outcome = tokio::time::timeout(remaining, async {
            conn.tx
                .send(frame)
                .await
                .map_err(|_| CallError::Network(addr, "connection closed".into()))?;
            rx.await
                .map_err(|_| CallError::Network(addr, "connection closed".into()))
        })
        .await;
        match outcome {
            Ok(Ok(Ok(resp))) => Ok(resp),
            Ok(Ok(Err(remote))) => Err(CallError::Remote(addr, remote)),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                conn.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                Err(CallError::Timeout(addr, timeout))
            }
        }
    }

    async fn connection(&self, addr: SocketAddr, peer: &Peer) -> Result<Conn, CallError> {
        let mut slot = peer.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.tx.is_closed() {
                return Ok(c.clone());
            }
        }
        let conn = self.dial(addr).await?;
        *peer.down_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    async fn dial(&self, addr: SocketAddr) -> Result<Conn, CallError> {
        let unreachable = |e: std::io::Error| CallError::Unreachable(addr, e.to_string());
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(unreachable)?;
        socket
            .bind(SocketAddr::new(self.cfg.bind, 0))
            .map_err(unreachable)?;
        let stream = tokio::time::timeout(self.cfg.connect_timeout, socket.connect(addr))
            .await
            .map_err(|_| CallError::Unreachable(addr, "connect timed out".into()))?
            .map_err(unreachable)?;
        stream.set_nodelay(true).map_err(unreachable)?;
        let (rd, wr) = stream.into_split();
        let mut reader = FramedRead::new(rd, codec(self.cfg.frame_bytes_max));
        let mut writer = FramedWrite::new(wr, codec(self.cfg.frame_bytes_max));
        let hello = wire::encode(&Frame::Hello {
            cluster_id: self.cfg.cluster_id.clone(),
            node_id: self.cfg.node_id,
        })
        .map_err(|e| CallError::Network(addr, e.to_string()))?;
        writer.send(hello).await.map_err(unreachable)?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(self.cfg.inflight_max);
        let pending: Pending = Arc::default();
        let (stats_out, stats_in) = (self.cfg.stats.clone(), self.cfg.stats.clone());
        let writer_task = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                stats_out
                    .bytes_out
                    .fetch_add(frame.len() as u64, Ordering::Relaxed);
                if let Err(e) = writer.send(frame).await {
                    tracing::debug!(%addr, error = %e, "raft connection write failed");
                    break;
                }
            }
        });
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            while let Some(item) = reader.next().await {
                if let Ok(b) = &item {
                    stats_in
                        .bytes_in
                        .fetch_add(b.len() as u64, Ordering::Relaxed);
                }
                let frame = match item
                    .map_err(|e| e.to_string())
                    .and_then(|b| wire::decode(&b).map_err(|e| e.to_string()))
                {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(%addr, error = %e, "raft connection dropped");
                        break;
                    }
                };
                match frame {
                    Frame::Response { id, body } => {
                        let waiter = reader_pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&id);
                        if let Some(w) = waiter {
                            let _ = w.send(body);
                        }
                    }
                    Frame::Refused { reason } => {
                        tracing::error!(%addr, %reason, "peer refused this node");
                        break;
                    }
                    other => tracing::warn!(%addr, frame = ?other, "unexpected frame from peer"),
                }
            }
            // Closing the send queue marks the connection dead for the next caller; dropping every
            // waiter fails its call with "connection closed".
            writer_task.abort();
            reader_pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        });
        Ok(Conn { tx, pending })
    }
}
