//! Talking to a node through the `redis` crate: connections with timeouts, `INFO` parsing, bulk
//! reads, and a [`Writer`] that streams distinct keys and records which writes were acknowledged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::{
    Connection, ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisConnectionInfo, RedisError,
    RedisResult, ServerErrorKind,
};

use crate::wait::wait_until;

/// Connect timeout for test connections (loopback: a refused connect is immediate).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Read and write timeout for test connections: a reply slower than this is a failure.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Shorter timeouts for status probes, which are retried.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a `redis` connection to `addr`, authenticating with `password` if given.
pub fn try_connect(
    addr: SocketAddr,
    password: Option<&str>,
    timeout: Duration,
) -> RedisResult<Connection> {
    let mut settings = RedisConnectionInfo::default();
    if let Some(password) = password {
        settings = settings.set_password(password);
    }
    let info = ConnectionAddr::Tcp(addr.ip().to_string(), addr.port())
        .into_connection_info()?
        .set_redis_settings(settings);
    let conn = redis::Client::open(info)?.get_connection_with_timeout(timeout)?;
    conn.set_read_timeout(Some(timeout.max(IO_TIMEOUT)))?;
    conn.set_write_timeout(Some(timeout.max(IO_TIMEOUT)))?;
    Ok(conn)
}

/// Like [`try_connect`] with the default timeouts; panics with the address if it fails.
pub fn connect(addr: SocketAddr, password: Option<&str>) -> Connection {
    try_connect(addr, password, CONNECT_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to tanli-server at {addr}: {e}"))
}

/// Parses `INFO` text (`# Section` headers, `field:value` lines) into a map.
pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `INFO <section>` as a map.
pub fn info(conn: &mut Connection, section: &str) -> RedisResult<HashMap<String, String>> {
    let text: String = redis::cmd("INFO").arg(section).query(conn)?;
    Ok(parse_info(&text))
}

/// The shard-1 fields of `INFO raft`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftStatus {
    pub node_id: u64,
    pub role: String,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub last_log_index: u64,
    pub applied_index: u64,
}

impl RaftStatus {
    /// Reads the fields from parsed `INFO raft`; an error names a missing or malformed field.
    pub fn from_info(info: &HashMap<String, String>) -> Result<RaftStatus, String> {
        let field = |name: &str| {
            info.get(name)
                .map(|v| v.trim().to_owned())
                .ok_or_else(|| format!("INFO raft has no `{name}` field: {info:?}"))
        };
        let number = |name: &str| {
            let text = field(name)?;
            text.parse::<u64>()
                .map_err(|e| format!("INFO raft `{name}:{text}` is not a number: {e}"))
        };
        let shards = number("raft_shards")?;
        if shards != 1 {
            return Err(format!("expected raft_shards:1, got {shards}"));
        }
        let leader = field("shard1_leader_id")?;
        Ok(RaftStatus {
            node_id: number("node_id")?,
            role: field("shard1_role")?,
            leader_id: if leader.is_empty() {
                None
            } else {
                Some(leader.parse().map_err(|e| {
                    format!("INFO raft `shard1_leader_id:{leader}` is not a number: {e}")
                })?)
            },
            term: number("shard1_term")?,
            last_log_index: number("shard1_last_log_index")?,
            applied_index: number("shard1_applied_index")?,
        })
    }
}

/// `INFO raft` of the node at `addr` over a fresh connection with short timeouts.
pub fn raft_status(addr: SocketAddr, password: Option<&str>) -> Result<RaftStatus, String> {
    let mut conn =
        try_connect(addr, password, PROBE_TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    conn.set_read_timeout(Some(PROBE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let info = info(&mut conn, "raft").map_err(|e| format!("INFO raft on {addr}: {e}"))?;
    RaftStatus::from_info(&info)
}

/// Whether `e` is a server error of `kind` (e.g. `ServerErrorKind::Moved`).
pub fn is_server_error(e: &RedisError, kind: ServerErrorKind) -> bool {
    e.kind() == ErrorKind::Server(kind)
}

/// The `(slot, address)` of a `-MOVED slot host:port` error.
pub fn moved_to(e: &RedisError) -> Option<(u16, SocketAddr)> {
    if !is_server_error(e, ServerErrorKind::Moved) {
        return None;
    }
    let (addr, slot) = e.redirect_node()?;
    Some((slot, addr.parse().ok()?))
}

/// `GET` of every key, pipelined in chunks; `None` for a missing key.
pub fn get_many(conn: &mut Connection, keys: &[String]) -> RedisResult<Vec<Option<String>>> {
    let mut values = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("GET").arg(key);
        }
        let got: Vec<Option<String>> = pipe.query(conn)?;
        values.extend(got);
    }
    Ok(values)
}

/// What a [`Writer`] did: which of its writes were acknowledged. A write that failed or timed out
/// is "unknown" — it may or may not have been applied — and is never counted as lost.
#[derive(Debug)]
pub struct WriterLog {
    pub prefix: String,
    /// Sequence numbers whose `SET` was answered `OK`, in order.
    pub acked: Vec<u64>,
    /// How many sequence numbers were sent (acknowledged or not).
    pub attempted: u64,
    /// Errors seen, with a count per distinct text (MOVED addresses, I/O errors, TRYAGAIN...).
    pub errors: HashMap<String, u64>,
    /// The longest time between two consecutive acknowledgements.
    pub longest_gap: Duration,
}

impl WriterLog {
    pub fn key(&self, seq: u64) -> String {
        writer_key(&self.prefix, seq)
    }

    pub fn value(&self, seq: u64) -> String {
        writer_value(&self.prefix, seq)
    }

    /// The keys of all acknowledged writes.
    pub fn acked_keys(&self) -> Vec<String> {
        self.acked.iter().map(|&seq| self.key(seq)).collect()
    }

    /// Panics unless every acknowledged write reads back, with its value, through `conn`.
    pub fn assert_all_acked_readable(&self, conn: &mut Connection) {
        let keys = self.acked_keys();
        let values = get_many(conn, &keys).expect("read back the acknowledged writes");
        let lost: Vec<(&String, &Option<String>)> = keys
            .iter()
            .zip(&values)
            .zip(&self.acked)
            .filter(|((_, got), &seq)| got.as_deref() != Some(self.value(seq).as_str()))
            .map(|((key, got), _)| (key, got))
            .collect();
        assert!(
            lost.is_empty(),
            "{} of {} acknowledged writes are lost or wrong (key, value read); first ones: {:?}",
            lost.len(),
            keys.len(),
            &lost[..lost.len().min(10)]
        );
    }
}

fn writer_key(prefix: &str, seq: u64) -> String {
    format!("{prefix}:{seq}")
}

fn writer_value(prefix: &str, seq: u64) -> String {
    format!("{prefix}-value-{seq}")
}

/// A background client that `SET`s `prefix:0`, `prefix:1`, ... one at a time, following
/// `-MOVED` and retrying other nodes on errors, recording each acknowledged sequence number.
pub struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    handle: Option<JoinHandle<WriterLog>>,
}

impl Writer {
    /// Starts writing to `nodes` (the first one first). Each write uses a new key, so a retry can
    /// never make an unknown write look acknowledged.
    pub fn spawn(prefix: &str, nodes: Vec<SocketAddr>, password: Option<String>) -> Writer {
        assert!(!nodes.is_empty(), "a writer needs at least one node");
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let log = WriterLog {
            prefix: prefix.to_owned(),
            acked: Vec::new(),
            attempted: 0,
            errors: HashMap::new(),
            longest_gap: Duration::ZERO,
        };
        let (stop2, acked2) = (stop.clone(), acked.clone());
        let handle = std::thread::spawn(move || write_loop(log, nodes, password, &stop2, &acked2));
        Writer {
            stop,
            acked,
            handle: Some(handle),
        }
    }

    /// How many writes have been acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` writes have been acknowledged.
    pub fn wait_acked(&self, count: u64, timeout: Duration, what: &str) {
        wait_until(timeout, what, || {
            let n = self.acked();
            if n >= count {
                Ok(())
            } else {
                Err(format!("{n} of {count} writes acknowledged"))
            }
        });
    }

    /// Stops the writer and returns what it did.
    pub fn stop(mut self) -> WriterLog {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .expect("writer thread")
            .join()
            .expect("writer thread panicked")
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn write_loop(
    mut log: WriterLog,
    nodes: Vec<SocketAddr>,
    password: Option<String>,
    stop: &AtomicBool,
    acked: &AtomicU64,
) -> WriterLog {
    const BACKOFF: Duration = Duration::from_millis(10);
    const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
    let mut next_node = 0;
    let mut target = nodes[0];
    let mut conn: Option<Connection> = None;
    let mut last_ack = Instant::now();
    let note = |log: &mut WriterLog, e: String| *log.errors.entry(e).or_default() += 1;
    while !stop.load(Ordering::SeqCst) {
        let Some(c) = conn.as_mut() else {
            match try_connect(target, password.as_deref(), WRITE_TIMEOUT) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    note(&mut log, format!("connect: {}", e.kind_name()));
                    next_node = (next_node + 1) % nodes.len();
                    target = nodes[next_node];
                    std::thread::sleep(BACKOFF);
                }
            }
            continue;
        };
        let seq = log.attempted;
        log.attempted += 1;
        let reply: RedisResult<String> = redis::cmd("SET")
            .arg(writer_key(&log.prefix, seq))
            .arg(writer_value(&log.prefix, seq))
            .query(c);
        match reply {
            Ok(ok) if ok == "OK" => {
                log.longest_gap = log.longest_gap.max(last_ack.elapsed());
                last_ack = Instant::now();
                log.acked.push(seq);
                acked.fetch_add(1, Ordering::SeqCst);
            }
            Ok(other) => panic!("SET answered {other:?}, expected OK"),
            Err(e) => {
                if let Some((_, addr)) = moved_to(&e) {
                    note(&mut log, "MOVED".to_owned());
                    target = addr;
                } else {
                    note(&mut log, e.kind_name());
                    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                        next_node = (next_node + 1) % nodes.len();
                        target = nodes[next_node];
                    }
                    std::thread::sleep(BACKOFF);
                }
                conn = None;
            }
        }
    }
    log
}

trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for RedisError {
    /// A short, aggregatable name: the server's error code, or the client-side kind.
    fn kind_name(&self) -> String {
        match self.code() {
            Some(code) => code.to_owned(),
            None => format!("{:?}", self.kind()),
        }
    }
}

/// Runs `args` as one command and converts the reply; panics with the command and the error.
pub fn query<T: redis::FromRedisValue>(conn: &mut Connection, args: &[&str]) -> T {
    let (name, rest) = args.split_first().expect("a command name");
    redis::cmd(name)
        .arg(rest)
        .query(conn)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs `args` as one command that must fail, and returns the error as Redis prints it
/// (`CODE detail`, e.g. `ERR value is not an integer or out of range`).
pub fn query_err(conn: &mut Connection, args: &[&str]) -> String {
    let (name, rest) = args.split_first().expect("a command name");
    match redis::cmd(name).arg(rest).query::<redis::Value>(conn) {
        Ok(value) => panic!("{args:?} answered {value:?}, expected an error"),
        Err(e) => error_line(&e),
    }
}

/// A server error as the server sent it, without the leading `-`.
pub fn error_line(e: &RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => format!("(not a server error) {e}"),
    }
}
