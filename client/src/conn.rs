//! One pipelined connection to one node: many requests in flight, replies matched to requests in
//! the order they were sent (RESP replies arrive in request order on a connection).
//!
//! A writer task encodes each request and records its reply slot before the bytes leave; a
//! reader task decodes replies (at most `max_reply_bytes` buffered) and fills the slots in order.
//! When either side fails, every waiting request is told the connection was lost, and the
//! connection is marked dead for the pool to replace.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::BytesFrame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Why a request got no reply from this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnError {
    /// Not sent: the connection could not be made or was already gone.
    NotSent(String),
    /// Sent (or possibly sent), and the connection broke before the reply.
    Lost(String),
    /// Not sent: the server refused the connection's `AUTH` with this error reply.
    AuthRefused(String),
}

type Slot = oneshot::Sender<Result<BytesFrame, ConnError>>;

pub struct Conn {
    tx: mpsc::Sender<(BytesMut, Vec<Slot>)>,
    dead: Arc<AtomicBool>,
}

impl Conn {
    pub async fn connect(
        addr: SocketAddr,
        timeout: Duration,
        inflight_max: usize,
        max_reply_bytes: usize,
    ) -> Result<Conn, ConnError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnError::NotSent(format!("connect to {addr} timed out")))?
            .map_err(|e| ConnError::NotSent(format!("connect to {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<(BytesMut, Vec<Slot>)>(inflight_max.max(1));
        let pending: Arc<Mutex<VecDeque<Slot>>> = Arc::default();
        let dead = Arc::new(AtomicBool::new(false));

        let (p, d) = (pending.clone(), dead.clone());
        tokio::spawn(async move {
            while let Some((bytes, slots)) = rx.recv().await {
                p.lock().unwrap_or_else(|e| e.into_inner()).extend(slots);
                // Take whatever else is queued: one write for a pipeline.
                let mut out = bytes;
                while let Ok((more, slots)) = rx.try_recv() {
                    p.lock().unwrap_or_else(|e| e.into_inner()).extend(slots);
                    out.extend_from_slice(&more);
                }
                if let Err(e) = wr.write_all(&out).await {
                    fail_all(&p, &d, &format!("write to {addr}: {e}"));
                    return;
                }
            }
        });

        let (p, d) = (pending, dead.clone());
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(16 * 1024);
            loop {
                loop {
                    match decode_bytes_mut(&mut buf) {
                        Ok(Some((frame, _, _))) => {
                            let slot = p.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                            match slot {
                                Some(s) => {
                                    let _ = s.send(Ok(frame));
                                }
                                None => {
                                    fail_all(
                                        &p,
                                        &d,
                                        &format!("{addr} sent a reply nobody asked for"),
                                    );
                                    return;
                                }
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            fail_all(&p, &d, &format!("{addr} sent malformed RESP: {e:?}"));
                            return;
                        }
                    }
                }
                if buf.len() > max_reply_bytes {
                    fail_all(
                        &p,
                        &d,
                        &format!("a reply from {addr} exceeds {max_reply_bytes} bytes"),
                    );
                    return;
                }
                match rd.read_buf(&mut buf).await {
                    Ok(0) => {
                        fail_all(&p, &d, &format!("{addr} closed the connection"));
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        fail_all(&p, &d, &format!("read from {addr}: {e}"));
                        return;
                    }
                }
            }
        });
        Ok(Conn { tx, dead })
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst) || self.tx.is_closed()
    }

    /// Sends one command (its arguments) and waits for its reply. Dropping the future (a
    /// timeout) leaves the reply to be discarded when it arrives.
    pub async fn request(&self, args: &[Bytes]) -> Result<BytesFrame, ConnError> {
        let mut replies = self.request_all(&[args]).await?;
        replies
            .pop()
            .unwrap_or_else(|| Err(ConnError::Lost("no reply".into())))
    }

    /// Sends several commands back to back, with nothing from other callers between them (for
    /// `ASKING` + command), and waits for every reply.
    pub async fn request_all(
        &self,
        commands: &[&[Bytes]],
    ) -> Result<Vec<Result<BytesFrame, ConnError>>, ConnError> {
        let mut bytes = BytesMut::new();
        let mut slots = Vec::with_capacity(commands.len());
        let mut replies = Vec::with_capacity(commands.len());
        for args in commands {
            let frame =
                BytesFrame::Array(args.iter().cloned().map(BytesFrame::BulkString).collect());
            extend_encode(&mut bytes, &frame, false)
                .map_err(|e| ConnError::NotSent(format!("encode: {e:?}")))?;
            let (slot, reply) = oneshot::channel();
            slots.push(slot);
            replies.push(reply);
        }
        self.tx
            .send((bytes, slots))
            .await
            .map_err(|_| ConnError::NotSent("connection closed".into()))?;
        let mut out = Vec::with_capacity(replies.len());
        for reply in replies {
            out.push(
                reply
                    .await
                    .unwrap_or_else(|_| Err(ConnError::Lost("connection closed".into()))),
            );
        }
        Ok(out)
    }
}

fn fail_all(pending: &Mutex<VecDeque<Slot>>, dead: &AtomicBool, why: &str) {
    dead.store(true, Ordering::SeqCst);
    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
    for slot in p.drain(..) {
        let _ = slot.send(Err(ConnError::Lost(why.to_owned())));
    }
}
