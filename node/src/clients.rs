//! The registry of connected clients, for `CLIENT LIST/INFO/ID`, INFO's clients section and
//! admission control (each client's decaying request rate, requests in flight and buffered
//! bytes, and the token that disconnects it).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

/// One connection's visible state. Counters are atomics; the name is behind a std mutex that is
/// only held to copy it.
pub struct ClientState {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    created: Instant,
    /// Milliseconds after `created` of the last request.
    last_active_ms: AtomicU64,
    name: Mutex<Option<String>>,
    /// The last command's command-table index plus one (see `metrics::command_index`); 0
    /// before the first.
    last_cmd: AtomicUsize,
    pub resp3: AtomicBool,
    pub commands: AtomicU64,
    /// Requests read and not yet answered.
    pub inflight: AtomicUsize,
    /// Bytes read but not yet parsed into a request (Redis's `qbuf`), kept by the request
    /// decoder.
    pub qbuf: Arc<AtomicUsize>,
    /// Reply bytes encoded but not yet taken by the socket (Redis's `omem`).
    pub omem: AtomicUsize,
    /// Requests refused with TRYAGAIN because the node was overloaded.
    pub refused: AtomicU64,
    /// Admission's bookkeeping (only its ticker writes these).
    pub(crate) rate: RateCell,
    /// Set by admission: a recent rate far above the other clients'.
    pub hot: AtomicBool,
    /// Cancelled to disconnect the client (shedding).
    pub kill: CancellationToken,
}

/// A client's decaying request rate (f64 bits, requests per second), with the command and
/// refusal counts it was last updated from.
#[derive(Default)]
pub(crate) struct RateCell {
    per_s: AtomicU64,
    pub(crate) commands_seen: AtomicU64,
    pub(crate) refused_seen: AtomicU64,
}

impl RateCell {
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.per_s.load(Ordering::Relaxed))
    }

    pub(crate) fn set(&self, v: f64) {
        self.per_s.store(v.to_bits(), Ordering::Relaxed);
    }
}

impl ClientState {
    /// Records a request for command-table index `cmd`, read at `now` (no lock, no allocation,
    /// no clock reading: every request passes here).
    pub fn touch(&self, cmd: usize, now: Instant) {
        self.commands.fetch_add(1, Ordering::Relaxed);
        let active_ms = now.saturating_duration_since(self.created).as_millis() as u64;
        self.last_active_ms.store(active_ms, Ordering::Relaxed);
        self.last_cmd.store(cmd + 1, Ordering::Relaxed);
    }

    /// Time since the last request (since connecting, before the first).
    pub fn idle(&self) -> std::time::Duration {
        self.created
            .elapsed()
            .saturating_sub(std::time::Duration::from_millis(
                self.last_active_ms.load(Ordering::Relaxed),
            ))
    }

    pub fn name(&self) -> Option<String> {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_name(&self, name: Option<String>) {
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = name;
    }

    /// The recent request rate (requests per second, decaying).
    pub fn rate(&self) -> f64 {
        self.rate.get()
    }

    /// Bytes this connection buffers: unparsed input plus unsent replies.
    pub fn buffered(&self) -> usize {
        self.qbuf.load(Ordering::Relaxed) + self.omem.load(Ordering::Relaxed)
    }

    /// One line of `CLIENT LIST`, with Redis's field names (fields tanli does not track are
    /// left out rather than invented), then tanli's own: `rate` (requests per second, decaying),
    /// `hot` (1 when admission control counts it among the busiest at the last tick, so its
    /// requests are refused past the in-flight watermark), `inflight` and `refused` (requests
    /// refused for overload).
    pub fn info_line(&self) -> String {
        let cmd = match self.last_cmd.load(Ordering::Relaxed) {
            0 => "NULL",
            i => crate::metrics::command_name(i - 1),
        };
        format!(
            "id={} addr={} laddr={} name={} age={} idle={} flags=N db=0 qbuf={} omem={} tot-mem={} cmd={} user=default resp={} tot-cmds={} rate={:.0} hot={} inflight={} refused={}",
            self.id,
            self.addr,
            self.laddr,
            self.name().unwrap_or_default(),
            self.created.elapsed().as_secs(),
            self.idle().as_secs(),
            self.qbuf.load(Ordering::Relaxed),
            self.omem.load(Ordering::Relaxed),
            self.buffered(),
            cmd,
            if self.resp3.load(Ordering::Relaxed) { 3 } else { 2 },
            self.commands.load(Ordering::Relaxed),
            self.rate(),
            u8::from(self.hot.load(Ordering::Relaxed)),
            self.inflight.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

#[derive(Default)]
pub struct Clients {
    next_id: AtomicU64,
    pub total_connections: AtomicU64,
    /// Live clients by id. A std mutex: held to insert, remove or copy the list.
    map: Mutex<HashMap<u64, Arc<ClientState>>>,
}

/// Removes its client from the registry when the connection ends.
pub struct ClientGuard {
    clients: Arc<Clients>,
    pub state: Arc<ClientState>,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.clients
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.state.id);
    }
}

impl Clients {
    pub fn register(self: &Arc<Self>, addr: SocketAddr, laddr: SocketAddr) -> ClientGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.total_connections.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let state = Arc::new(ClientState {
            id,
            addr,
            laddr,
            created: now,
            last_active_ms: AtomicU64::new(0),
            name: Mutex::new(None),
            last_cmd: AtomicUsize::new(0),
            resp3: AtomicBool::new(false),
            commands: AtomicU64::new(0),
            inflight: AtomicUsize::new(0),
            qbuf: Arc::default(),
            omem: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            rate: RateCell::default(),
            hot: AtomicBool::new(false),
            kill: CancellationToken::new(),
        });
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, state.clone());
        ClientGuard {
            clients: self.clone(),
            state,
        }
    }

    pub fn list(&self) -> Vec<Arc<ClientState>> {
        let mut v: Vec<_> = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    pub fn count(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
