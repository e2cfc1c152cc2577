//! The cluster-aware client: slot map, connection pool, routing, redirects, retries with
//! exponential backoff and full jitter, and exactly-once request ids on writes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;
use tanli_router::slot_of;

use crate::conn::{Conn, ConnError};
use crate::error::{Error, Result};
use crate::ids::IdSource;
use crate::topology::SlotMap;

/// Every bound and timing of a [`Client`]. `Config::default()` suits a LAN cluster.
#[derive(Clone)]
pub struct Config {
    /// Deadline of one attempt (send to reply).
    pub request_timeout: Duration,
    /// Attempts per request, the first included.
    pub attempts_max: u32,
    /// Backoff before attempt n+1 is a random time in `[0, min(backoff_max, backoff_base * 2^n)]`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    /// `-MOVED` / `-ASK` redirects followed within one attempt.
    pub redirects_max: u32,
    /// Wrap every write in `TANLI.REQ <client-id> <seq>` so retries apply it at most once.
    /// Retries of one request must end within the servers' dedup window (10 minutes by default).
    pub exactly_once: bool,
    /// Requests queued per connection before callers wait.
    pub inflight_max: usize,
    /// Largest reply buffered from a server.
    pub max_reply_bytes: usize,
    /// Length of a Snowflake worker-id lease (renewed when a third is left).
    pub worker_lease: Duration,
    /// Sent as `AUTH <password>` on every new connection (the servers' `requirepass`).
    pub password: Option<String>,
}

/// Everything but the password.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("request_timeout", &self.request_timeout)
            .field("attempts_max", &self.attempts_max)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("redirects_max", &self.redirects_max)
            .field("exactly_once", &self.exactly_once)
            .field("inflight_max", &self.inflight_max)
            .field("max_reply_bytes", &self.max_reply_bytes)
            .field("worker_lease", &self.worker_lease)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            request_timeout: Duration::from_secs(2),
            attempts_max: 12,
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            redirects_max: 5,
            exactly_once: true,
            inflight_max: 4096,
            max_reply_bytes: 512 << 20,
            worker_lease: Duration::from_secs(30),
            password: None,
        }
    }
}

/// A handle to a tanli cluster. Cheap to clone; clones share connections, the slot map, the
/// client id and the id generator.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) cfg: Config,
    seeds: Vec<SocketAddr>,
    map: RwLock<SlotMap>,
    conns: tokio::sync::Mutex<HashMap<SocketAddr, Arc<Conn>>>,
    refreshing: AtomicBool,
    /// Leased from the cluster (`TANLI.CLIENTID`); 0 when exactly-once is off.
    pub(crate) client_id: u64,
    seq: AtomicU64,
    pub(crate) ids: IdSource,
}

/// Whether a request changes data (decides request ids and what a lost reply means).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    Write,
}

impl Client {
    /// Connects to a cluster through any of `seeds` (`host:port` of RESP endpoints): learns the
    /// slot map and, with exactly-once writes on, a client id.
    pub async fn connect(seeds: &[&str]) -> Result<Client> {
        Client::connect_with(seeds, Config::default()).await
    }

    pub async fn connect_with(seeds: &[&str], cfg: Config) -> Result<Client> {
        let mut inner = Inner::new(seeds, cfg).await?;
        inner.refresh().await?;
        if inner.cfg.exactly_once {
            let reply = inner
                .run(
                    vec![Bytes::from_static(b"TANLI.CLIENTID")],
                    None,
                    Kind::Read,
                )
                .await?;
            inner.client_id = match reply {
                BytesFrame::Integer(id) if id > 0 => id as u64,
                other => return Err(Error::Client(format!("TANLI.CLIENTID answered {other:?}"))),
            };
        }
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    /// A client that asks the cluster nothing until it is used, for tools that must work while
    /// the cluster is unhealthy (no shard has a leader, the meta shard has no quorum): `seeds`
    /// are only resolved, and the slot map is learnt at the first keyed command. Exactly-once
    /// writes are off, whatever `cfg.exactly_once` says: a client id is leased from the cluster.
    pub async fn connect_lazy(seeds: &[&str], mut cfg: Config) -> Result<Client> {
        cfg.exactly_once = false;
        let inner = Inner::new(seeds, cfg).await?;
        inner.refresh_soon();
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    /// This client's cluster-wide id (0 when exactly-once writes are off).
    pub fn client_id(&self) -> u64 {
        self.inner.client_id
    }

    /// Runs a command routed by `key`.
    pub(crate) async fn run(
        &self,
        args: Vec<Bytes>,
        key: Option<&[u8]>,
        kind: Kind,
    ) -> Result<BytesFrame> {
        let args = if kind == Kind::Write && self.inner.cfg.exactly_once {
            let seq = self.inner.seq.fetch_add(1, Ordering::SeqCst) + 1;
            let mut wrapped = vec![
                Bytes::from_static(b"TANLI.REQ"),
                Bytes::from(self.inner.client_id.to_string()),
                Bytes::from(seq.to_string()),
            ];
            wrapped.extend(args);
            wrapped
        } else {
            args
        };
        self.inner.run(args, key, kind).await
    }
}

/// What one attempt came to.
enum Attempt {
    Done(BytesFrame),
    /// Definitely not applied; retry after a backoff.
    Refused(String),
    /// Possibly applied; retry after a backoff only if that is safe.
    Unknown(String),
    Fail(Error),
}

impl Inner {
    /// Resolves the seeds; connects to nothing yet.
    async fn new(seeds: &[&str], cfg: Config) -> Result<Inner> {
        let mut addrs = Vec::new();
        for s in seeds {
            match tokio::net::lookup_host(s).await {
                Ok(found) => addrs.extend(found),
                Err(e) => return Err(Error::Client(format!("seed {s}: {e}"))),
            }
        }
        if addrs.is_empty() {
            return Err(Error::Client("no seed address".into()));
        }
        Ok(Inner {
            cfg,
            seeds: addrs,
            map: RwLock::new(SlotMap::default()),
            conns: tokio::sync::Mutex::new(HashMap::new()),
            refreshing: AtomicBool::new(false),
            client_id: 0,
            seq: AtomicU64::new(0),
            ids: IdSource::default(),
        })
    }

    fn owner(&self, slot: Option<u16>) -> Option<SocketAddr> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        slot.and_then(|s| map.owner(s))
            .or_else(|| map.nodes().first().copied())
    }

    /// The live connection to `addr`, connecting if there is none. The pool is not locked while
    /// connecting, so a dead node's connect timeout never holds up requests to other nodes.
    async fn conn(&self, addr: SocketAddr) -> std::result::Result<Arc<Conn>, ConnError> {
        if let Some(c) = self.conns.lock().await.get(&addr) {
            if !c.is_dead() {
                return Ok(c.clone());
            }
        }
        let fresh = Arc::new(
            Conn::connect(
                addr,
                self.cfg.connect_timeout,
                self.cfg.inflight_max,
                self.cfg.max_reply_bytes,
            )
            .await?,
        );
        if let Some(password) = &self.cfg.password {
            self.auth(addr, &fresh, password).await?;
        }
        let mut conns = self.conns.lock().await;
        match conns.get(&addr) {
            // Another caller connected meanwhile: keep one connection per node.
            Some(c) if !c.is_dead() => Ok(c.clone()),
            _ => {
                conns.insert(addr, fresh.clone());
                Ok(fresh)
            }
        }
    }

    /// `AUTH` on a new connection, before anything else is sent on it.
    async fn auth(
        &self,
        addr: SocketAddr,
        conn: &Conn,
        password: &str,
    ) -> std::result::Result<(), ConnError> {
        let args = [
            Bytes::from_static(b"AUTH"),
            Bytes::copy_from_slice(password.as_bytes()),
        ];
        let why = match tokio::time::timeout(self.cfg.request_timeout, conn.request(&args)).await {
            Ok(Ok(BytesFrame::SimpleString(_))) => return Ok(()),
            Ok(Ok(BytesFrame::Error(e))) => return Err(ConnError::AuthRefused(e.to_string())),
            Ok(Ok(other)) => format!("answered {other:?}"),
            Ok(Err(ConnError::NotSent(e) | ConnError::Lost(e) | ConnError::AuthRefused(e))) => e,
            Err(_) => "timed out".into(),
        };
        // The command itself was not sent on this connection.
        Err(ConnError::NotSent(format!("AUTH to {addr}: {why}")))
    }

    /// Re-reads the slot map from the first node (known leaders, then seeds) that answers.
    pub(crate) async fn refresh(&self) -> Result<()> {
        let mut candidates = self.map.read().unwrap_or_else(|e| e.into_inner()).nodes();
        candidates.extend(self.seeds.iter().copied());
        let mut last = String::from("no node to ask");
        for addr in candidates {
            let conn = match self.conn(addr).await {
                Ok(c) => c,
                Err(e) => {
                    last = format!("{e:?}");
                    continue;
                }
            };
            let args = [
                Bytes::from_static(b"CLUSTER"),
                Bytes::from_static(b"SHARDS"),
            ];
            match tokio::time::timeout(self.cfg.request_timeout, conn.request(&args)).await {
                Ok(Ok(frame)) => match SlotMap::from_shards(&frame) {
                    Ok(map) if !map.nodes().is_empty() => {
                        *self.map.write().unwrap_or_else(|e| e.into_inner()) = map;
                        return Ok(());
                    }
                    Ok(_) => last = format!("{addr}: no shard has a leader"),
                    Err(e) => last = e,
                },
                Ok(Err(e)) => last = format!("{e:?}"),
                Err(_) => last = format!("{addr}: CLUSTER SHARDS timed out"),
            }
        }
        Err(Error::Client(format!(
            "could not learn the slot map: {last}"
        )))
    }

    /// Asks for the slot map to be re-read before the next attempt (by whichever request gets
    /// there first: the flag is taken once, so concurrent callers do not all refresh).
    fn refresh_soon(&self) {
        self.refreshing.store(true, Ordering::SeqCst);
    }

    pub(crate) async fn run(
        &self,
        args: Vec<Bytes>,
        key: Option<&[u8]>,
        kind: Kind,
    ) -> Result<BytesFrame> {
        let slot = key.map(slot_of);
        let started = Instant::now();
        let (mut maybe, mut last) = (false, String::new());
        for attempt in 1..=self.cfg.attempts_max {
            if self.refreshing.swap(false, Ordering::SeqCst) {
                let _ = self.refresh().await;
            }
            match self.attempt(&args, slot).await {
                Attempt::Done(frame) => return Ok(frame),
                Attempt::Fail(e) => return Err(e),
                Attempt::Refused(why) => last = why,
                Attempt::Unknown(why) => {
                    last = why;
                    if kind == Kind::Write {
                        maybe = true;
                        if !self.cfg.exactly_once {
                            // Without a request id a retry could apply it twice.
                            break;
                        }
                    }
                }
            }
            if attempt < self.cfg.attempts_max {
                tokio::time::sleep(self.backoff(attempt).max(crate::backoff::hinted(&last))).await;
            }
        }
        let attempts = self.cfg.attempts_max;
        Err(if maybe {
            Error::MaybeApplied {
                attempts,
                elapsed: started.elapsed(),
                last,
            }
        } else {
            Error::Unavailable { attempts, last }
        })
    }

    /// Runs a keyless command on whichever node answers: the slot map's nodes, then the seeds,
    /// each in turn, with a backoff after every full round. A node that cannot be reached or
    /// refuses for now (`-TRYAGAIN`, `-CLUSTERDOWN`, `-LOADING`) hands the command to the next;
    /// a lost reply does too for a read, but ends a write with [`Error::MaybeApplied`] (it
    /// carries no request id, so a retry could apply it twice).
    pub(crate) async fn run_any(&self, args: Vec<Bytes>, kind: Kind) -> Result<BytesFrame> {
        let mut nodes = self.map.read().unwrap_or_else(|e| e.into_inner()).nodes();
        for s in &self.seeds {
            if !nodes.contains(s) {
                nodes.push(*s);
            }
        }
        if nodes.is_empty() {
            return Err(Error::Client("no seed address".into()));
        }
        let started = Instant::now();
        let mut last = String::new();
        for attempt in 0..self.cfg.attempts_max {
            let (round, i) = (
                attempt as usize / nodes.len(),
                attempt as usize % nodes.len(),
            );
            if round > 0 && i == 0 {
                tokio::time::sleep(
                    self.backoff(round as u32)
                        .max(crate::backoff::hinted(&last)),
                )
                .await;
            }
            let addr = nodes[i];
            let conn = match self.conn(addr).await {
                Ok(c) => c,
                Err(ConnError::AuthRefused(e)) => return Err(Error::Server(e)),
                Err(ConnError::NotSent(e) | ConnError::Lost(e)) => {
                    last = e;
                    continue;
                }
            };
            let lost =
                match tokio::time::timeout(self.cfg.request_timeout, conn.request(&args)).await {
                    Err(_) => format!("{addr}: timed out"),
                    Ok(Err(ConnError::NotSent(e) | ConnError::AuthRefused(e))) => {
                        last = e;
                        continue;
                    }
                    Ok(Err(ConnError::Lost(e))) => e,
                    Ok(Ok(BytesFrame::Error(text))) => {
                        let text = text.to_string();
                        match text.split_whitespace().next().unwrap_or("") {
                            "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" => {
                                last = format!("{addr}: {text}");
                                continue;
                            }
                            "UNCERTAIN" => text,
                            _ => return Err(Error::Server(text)),
                        }
                    }
                    Ok(Ok(frame)) => return Ok(frame),
                };
            last = lost;
            if kind == Kind::Write {
                return Err(Error::MaybeApplied {
                    attempts: attempt + 1,
                    elapsed: started.elapsed(),
                    last,
                });
            }
        }
        Err(Error::Unavailable {
            attempts: self.cfg.attempts_max,
            last,
        })
    }

    /// Full jitter: uniform in `[0, min(max, base * 2^attempt)]` (at least the server's retry
    /// hint, see [`hinted`]).
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .cfg
            .backoff_base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.cfg.backoff_max);
        cap.mul_f64(rand::random::<f64>())
    }

    async fn attempt(&self, args: &[Bytes], slot: Option<u16>) -> Attempt {
        let Some(mut target) = self.owner(slot).or_else(|| self.seeds.first().copied()) else {
            return Attempt::Refused("no known node".into());
        };
        let mut asking = false;
        for _ in 0..=self.cfg.redirects_max {
            let conn = match self.conn(target).await {
                Ok(c) => c,
                Err(ConnError::AuthRefused(e)) => return Attempt::Fail(Error::Server(e)),
                Err(e) => {
                    self.refresh_soon();
                    return Attempt::Refused(format!("{e:?}"));
                }
            };
            let sent = if asking {
                let asking_cmd = [Bytes::from_static(b"ASKING")];
                let both: [&[Bytes]; 2] = [&asking_cmd, args];
                tokio::time::timeout(self.cfg.request_timeout, async {
                    conn.request_all(&both).await.and_then(|mut r| {
                        r.pop().unwrap_or(Err(ConnError::Lost("no reply".into())))
                    })
                })
                .await
            } else {
                tokio::time::timeout(self.cfg.request_timeout, conn.request(args)).await
            };
            let frame = match sent {
                Err(_) => return Attempt::Unknown(format!("{target}: timed out")),
                Ok(Err(ConnError::NotSent(e) | ConnError::AuthRefused(e))) => {
                    return Attempt::Refused(e)
                }
                Ok(Err(ConnError::Lost(e))) => {
                    self.refresh_soon();
                    return Attempt::Unknown(e);
                }
                Ok(Ok(frame)) => frame,
            };
            let BytesFrame::Error(text) = &frame else {
                return Attempt::Done(frame);
            };
            let text = text.to_string();
            let mut words = text.split_whitespace();
            match words.next().unwrap_or("") {
                code @ ("MOVED" | "ASK") => {
                    let (s, addr) = (words.next(), words.next());
                    let Some(addr) = addr.and_then(|a| a.parse::<SocketAddr>().ok()) else {
                        return Attempt::Fail(Error::Client(format!(
                            "unreadable redirect: {text}"
                        )));
                    };
                    if code == "MOVED" {
                        if let Some(s) = s.and_then(|s| s.parse::<u16>().ok()) {
                            self.map
                                .write()
                                .unwrap_or_else(|e| e.into_inner())
                                .set(s, addr);
                        }
                        self.refresh_soon();
                        asking = false;
                    } else {
                        asking = true;
                    }
                    target = addr;
                }
                "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" | "READONLY" => {
                    self.refresh_soon();
                    return Attempt::Refused(text);
                }
                "UNCERTAIN" => return Attempt::Unknown(text),
                _ => return Attempt::Fail(Error::Server(text)),
            }
        }
        Attempt::Refused(format!("more than {} redirects", self.cfg.redirects_max))
    }
}
