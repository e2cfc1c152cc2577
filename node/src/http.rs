//! The HTTP admin port: `GET /metrics` (Prometheus, from [`Metrics`]) and `GET /health`; any
//! other path is 404. HTTP/1.1 only, plain text, no request body read.
//!
//! Bounded: at most [`ADMIN_CONNECTIONS_MAX`] connections (more are closed at once), request
//! headers of at most [`ADMIN_HEADER_BYTES_MAX`] bytes read within [`ADMIN_HEADER_READ_TIMEOUT`],
//! and a connection lives at most [`ADMIN_CONNECTION_TIMEOUT`]. It is served from before the
//! node has an identity (`/health` says 503 until the node serves clients), until the shutdown
//! token is cancelled; [`serve`] returns only once every connection is gone.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::{self, Metrics};
use crate::server::Node;

/// Admin connections open at once; one more is closed without an answer.
pub const ADMIN_CONNECTIONS_MAX: usize = 32;
/// Largest request head (request line and headers); a larger one gets 431 and the connection
/// closes.
pub const ADMIN_HEADER_BYTES_MAX: usize = 16 << 10;
/// Most request headers.
pub const ADMIN_HEADERS_MAX: usize = 64;
/// Time a client has to send a request's head.
pub const ADMIN_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest life of one connection (keep-alive included); scrapers reconnect.
pub const ADMIN_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// What the admin port answers from: the metrics from the start, the node once it serves.
pub struct Admin {
    pub metrics: Arc<Metrics>,
    node: OnceLock<Arc<Node>>,
}

impl Admin {
    pub fn new(metrics: Arc<Metrics>) -> Admin {
        Admin {
            metrics,
            node: OnceLock::new(),
        }
    }

    /// The node serves clients now: `/health` may say ok, `/metrics` reads its shards.
    pub fn serving(&self, node: Arc<Node>) {
        let _ = self.node.set(node);
    }
}

/// Serves the admin port on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, shutdown: CancellationToken) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(ADMIN_HEADER_READ_TIMEOUT)
        .max_buf_size(ADMIN_HEADER_BYTES_MAX)
        .max_header_size(ADMIN_HEADER_BYTES_MAX)
        .max_headers(ADMIN_HEADERS_MAX);
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        if connections.len() >= ADMIN_CONNECTIONS_MAX {
            tracing::debug!("admin connection refused: {ADMIN_CONNECTIONS_MAX} open");
            continue;
        }
        let admin = admin.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let reply = respond(&admin, &req);
            async move { Ok::<_, Infallible>(reply) }
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        connections.spawn(async move {
            // Past the timeout the connection is dropped, whatever it was doing.
            if let Ok(Err(e)) = tokio::time::timeout(ADMIN_CONNECTION_TIMEOUT, conn).await {
                tracing::debug!(error = %e, "admin connection");
            }
        });
    }
    connections.shutdown().await;
}

fn respond(admin: &Admin, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let known = matches!(req.uri().path(), "/metrics" | "/health");
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => reply(
            StatusCode::OK,
            metrics::CONTENT_TYPE,
            admin.metrics.render(admin.node.get().map(|n| n.as_ref())),
        ),
        (&Method::GET, "/health") => {
            let (status, body) = match health(admin.node.get()) {
                Ok(()) => (StatusCode::OK, r#"{"status":"ok"}"#.to_string()),
                Err(reason) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(r#"{{"status":"unavailable","reason":"{reason}"}}"#),
                ),
            };
            reply(status, "application/json", format!("{body}\n"))
        }
        _ if known => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "only GET\n".into(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: the admin port serves /metrics and /health\n".into(),
        ),
    }
}

/// Whether the node serves: it is started (listeners up), knows a cluster map, and every shard
/// it hosts knows a leader. Cheap: in-memory state only. The reason never contains a quote.
fn health(node: Option<&Arc<Node>>) -> Result<(), String> {
    let node = node.ok_or("starting")?;
    let topo = node.topology();
    if topo.map.is_none() {
        return Err("no cluster map yet".into());
    }
    for shard in topo.meta.iter().chain(topo.shards.values()) {
        if shard.status().leader.is_none() {
            return Err(format!("shard {} has no known leader", shard.id));
        }
    }
    Ok(())
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
