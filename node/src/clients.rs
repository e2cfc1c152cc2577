//! The registry of connected clients, for `CLIENT LIST/INFO/ID` and INFO's clients section.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One connection's visible state. Counters are atomics; the name is behind a std mutex that is
/// only held to copy it.
pub struct ClientState {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    created: Instant,
    last_active: Mutex<Instant>,
    name: Mutex<Option<String>>,
    last_cmd: Mutex<String>,
    pub resp3: AtomicBool,
    pub commands: AtomicU64,
}

impl ClientState {
    pub fn touch(&self, cmd: &[u8]) {
        self.commands.fetch_add(1, Ordering::Relaxed);
        *self.last_active.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let mut last = self.last_cmd.lock().unwrap_or_else(|e| e.into_inner());
        last.clear();
        last.push_str(&String::from_utf8_lossy(cmd).to_ascii_lowercase());
    }

    pub fn name(&self) -> Option<String> {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_name(&self, name: Option<String>) {
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = name;
    }

    /// One line of `CLIENT LIST`, with Redis's field names (fields tanli does not track are
    /// left out rather than invented).
    pub fn info_line(&self) -> String {
        let idle = self
            .last_active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            .as_secs();
        let cmd = self
            .last_cmd
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        format!(
            "id={} addr={} laddr={} name={} age={} idle={} flags=N db=0 cmd={} user=default resp={} tot-cmds={}",
            self.id,
            self.addr,
            self.laddr,
            self.name().unwrap_or_default(),
            self.created.elapsed().as_secs(),
            idle,
            if cmd.is_empty() { "NULL".to_string() } else { cmd },
            if self.resp3.load(Ordering::Relaxed) { 3 } else { 2 },
            self.commands.load(Ordering::Relaxed),
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
            last_active: Mutex::new(now),
            name: Mutex::new(None),
            last_cmd: Mutex::new(String::new()),
            resp3: AtomicBool::new(false),
            commands: AtomicU64::new(0),
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
