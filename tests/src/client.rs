//! Talking to a node through the `redis` crate: connections with timeouts, `INFO` parsing, bulk
//! reads, and a [`Writer`] that streams distinct keys and records which writes were acknowledged.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::{
    Connection, ConnectionAddr, ConnectionLike, ErrorKind, IntoConnectionInfo, RedisConnectionInfo,
    RedisError, RedisResult, ServerErrorKind,
};

use crate::slot::key_slot;
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

/// One shard's fields of `INFO raft` (`shard<N>_role`, `_leader_id`, `_term`,
/// `_last_log_index`, `_applied_index`, `_lease_remaining_ms`). Shard 0 is the meta shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardStatus {
    pub shard: u64,
    /// leader, follower, learner or candidate.
    pub role: String,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub last_log_index: u64,
    pub applied_index: u64,
    /// How long reads still skip Raft on the leader's local lease (0: no lease; always 0 with the
    /// read-index policy).
    pub lease_remaining_ms: u64,
}

/// `INFO raft` of one node: every shard it hosts, by shard id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftStatus {
    /// The `node_id` field, if the section has one (the harness knows ids from ready lines).
    pub node_id: Option<u64>,
    pub shards: BTreeMap<u64, ShardStatus>,
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
        let mut shards = BTreeMap::new();
        for key in info.keys() {
            let Some(id) = key
                .strip_prefix("shard")
                .and_then(|rest| rest.strip_suffix("_role"))
                .and_then(|id| id.parse::<u64>().ok())
            else {
                continue;
            };
            let leader = field(&format!("shard{id}_leader_id"))?;
            let status = ShardStatus {
                shard: id,
                role: field(&format!("shard{id}_role"))?,
                leader_id: if leader.is_empty() {
                    None
                } else {
                    Some(leader.parse().map_err(|e| {
                        format!("INFO raft `shard{id}_leader_id:{leader}` is not a number: {e}")
                    })?)
                },
                term: number(&format!("shard{id}_term"))?,
                last_log_index: number(&format!("shard{id}_last_log_index"))?,
                applied_index: number(&format!("shard{id}_applied_index"))?,
                lease_remaining_ms: number(&format!("shard{id}_lease_remaining_ms"))?,
            };
            shards.insert(id, status);
        }
        if shards.is_empty() {
            return Err(format!("INFO raft lists no shard: {info:?}"));
        }
        let node_id = match info.get("node_id") {
            Some(_) => Some(number("node_id")?),
            None => None,
        };
        Ok(RaftStatus { node_id, shards })
    }

    /// The status of shard `id`, or an error saying this node does not host it.
    pub fn shard(&self, id: u64) -> Result<&ShardStatus, String> {
        self.shards
            .get(&id)
            .ok_or_else(|| format!("shard {id} is not hosted here: {self:?}"))
    }

    /// Data shards (not the meta shard) this node leads.
    pub fn led_data_shards(&self) -> Vec<u64> {
        self.shards
            .values()
            .filter(|s| s.shard != 0 && s.role == "leader")
            .map(|s| s.shard)
            .collect()
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

/// A node id as `CLUSTER` commands print it: 40 hex digits.
pub fn cluster_node_id(id: u64) -> String {
    format!("{id:040x}")
}

/// Parses a 40-hex-digit `CLUSTER` node id back into tanli's numeric id.
pub fn parse_cluster_node_id(text: &str) -> Result<u64, String> {
    if text.len() != 40 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("node id {text:?} is not 40 hex digits"));
    }
    u64::from_str_radix(text.trim_start_matches('0'), 16)
        .or_else(|e| {
            if text.bytes().all(|b| b == b'0') {
                Ok(0)
            } else {
                Err(e)
            }
        })
        .map_err(|e| format!("node id {text:?} does not fit tanli's u64 ids: {e}"))
}

/// One node of a shard in `CLUSTER SHARDS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardNode {
    pub id: u64,
    /// The RESP address (`ip`, `port`).
    pub addr: SocketAddr,
    /// `master` or `replica`.
    pub role: String,
    /// `online`, `fail` or `loading`.
    pub health: String,
}

/// One entry of `CLUSTER SHARDS`: a data shard's slot ranges and nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardView {
    pub slots: Vec<(u16, u16)>,
    pub nodes: Vec<ShardNode>,
}

impl ShardView {
    pub fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot))
    }

    /// The node listed as `master`, if exactly one is.
    pub fn master(&self) -> Option<&ShardNode> {
        let mut masters = self.nodes.iter().filter(|n| n.role == "master");
        let first = masters.next()?;
        masters.next().is_none().then_some(first)
    }

    pub fn node_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        ids
    }

    /// The first slot of the shard (shards' ranges do not overlap, so this names it).
    pub fn first_slot(&self) -> u16 {
        self.slots.iter().map(|&(lo, _)| lo).min().unwrap_or(0)
    }
}

/// The pairs of a RESP2 flat key/value array or a RESP3 map, with keys as strings.
fn pairs(value: &redis::Value) -> Result<Vec<(String, redis::Value)>, String> {
    use redis::Value;
    match value {
        Value::Array(items) => {
            if items.len() % 2 != 0 {
                return Err(format!("odd-length key/value array: {value:?}"));
            }
            items
                .chunks(2)
                .map(|kv| Ok((text(&kv[0])?, kv[1].clone())))
                .collect()
        }
        Value::Map(map) => map.iter().map(|(k, v)| Ok((text(k)?, v.clone()))).collect(),
        other => Err(format!("expected a key/value array or map, got {other:?}")),
    }
}

fn text(value: &redis::Value) -> Result<String, String> {
    use redis::Value;
    match value {
        Value::BulkString(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        other => Err(format!("expected a string, got {other:?}")),
    }
}

fn integer(value: &redis::Value) -> Result<i64, String> {
    match value {
        redis::Value::Int(n) => Ok(*n),
        other => text(other)?
            .parse()
            .map_err(|e| format!("expected an integer, got {other:?}: {e}")),
    }
}

fn list(value: &redis::Value) -> Result<&[redis::Value], String> {
    match value {
        redis::Value::Array(items) | redis::Value::Set(items) => Ok(items),
        other => Err(format!("expected an array, got {other:?}")),
    }
}

/// Parses a `CLUSTER SHARDS` reply (Redis 7 layout).
pub fn parse_cluster_shards(value: &redis::Value) -> Result<Vec<ShardView>, String> {
    let mut shards = Vec::new();
    for shard in list(value)? {
        let mut view = ShardView {
            slots: Vec::new(),
            nodes: Vec::new(),
        };
        for (key, field) in pairs(shard)? {
            match key.as_str() {
                "slots" => {
                    let bounds = list(&field)?
                        .iter()
                        .map(|b| u16::try_from(integer(b)?).map_err(|e| format!("slot {b:?}: {e}")))
                        .collect::<Result<Vec<u16>, String>>()?;
                    if bounds.len() % 2 != 0 {
                        return Err(format!("odd slot bound list {bounds:?}"));
                    }
                    view.slots = bounds.chunks(2).map(|b| (b[0], b[1])).collect();
                }
                "nodes" => {
                    for node in list(&field)? {
                        let fields: HashMap<String, redis::Value> =
                            pairs(node)?.into_iter().collect();
                        let get = |name: &str| {
                            fields.get(name).ok_or_else(|| {
                                format!("CLUSTER SHARDS node lacks {name}: {node:?}")
                            })
                        };
                        let ip: IpAddr = text(get("ip")?)?
                            .parse()
                            .map_err(|e| format!("ip of {node:?}: {e}"))?;
                        let port = u16::try_from(integer(get("port")?)?)
                            .map_err(|e| format!("port of {node:?}: {e}"))?;
                        view.nodes.push(ShardNode {
                            id: parse_cluster_node_id(&text(get("id")?)?)?,
                            addr: SocketAddr::new(ip, port),
                            role: text(get("role")?)?,
                            health: text(get("health")?)?,
                        });
                    }
                }
                _ => {}
            }
        }
        shards.push(view);
    }
    Ok(shards)
}

/// `CLUSTER SHARDS` of the node at `addr`, over a fresh connection with short timeouts.
pub fn cluster_shards(addr: SocketAddr, password: Option<&str>) -> Result<Vec<ShardView>, String> {
    let mut conn =
        try_connect(addr, password, PROBE_TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    let reply: redis::Value = redis::cmd("CLUSTER")
        .arg("SHARDS")
        .query(&mut conn)
        .map_err(|e| format!("CLUSTER SHARDS on {addr}: {e}"))?;
    parse_cluster_shards(&reply).map_err(|e| format!("CLUSTER SHARDS on {addr}: {e}"))
}

/// `CLUSTER INFO` of the node at `addr` as a map (`cluster_state`, `cluster_current_epoch`...).
pub fn cluster_info(
    addr: SocketAddr,
    password: Option<&str>,
) -> Result<HashMap<String, String>, String> {
    let mut conn =
        try_connect(addr, password, PROBE_TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    let text: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query(&mut conn)
        .map_err(|e| format!("CLUSTER INFO on {addr}: {e}"))?;
    Ok(parse_info(&text))
}

/// `cluster_current_epoch` from `CLUSTER INFO` of the node at `addr`.
pub fn cluster_epoch(addr: SocketAddr, password: Option<&str>) -> Result<u64, String> {
    let info = cluster_info(addr, password)?;
    let epoch = info
        .get("cluster_current_epoch")
        .ok_or_else(|| format!("CLUSTER INFO on {addr} has no cluster_current_epoch: {info:?}"))?;
    epoch
        .trim()
        .parse()
        .map_err(|e| format!("cluster_current_epoch:{epoch} on {addr}: {e}"))
}

/// The slot map from `CLUSTER SLOTS`: `(first, last, master address)` per range.
pub fn cluster_slots(conn: &mut Connection) -> Result<Vec<(u16, u16, SocketAddr)>, String> {
    let reply: redis::Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query(conn)
        .map_err(|e| format!("CLUSTER SLOTS: {e}"))?;
    let mut ranges = Vec::new();
    for range in list(&reply)? {
        let items = list(range)?;
        if items.len() < 3 {
            return Err(format!("CLUSTER SLOTS entry too short: {range:?}"));
        }
        let bound =
            |v: &redis::Value| u16::try_from(integer(v)?).map_err(|e| format!("slot {v:?}: {e}"));
        let master = list(&items[2])?;
        if master.len() < 2 {
            return Err(format!("CLUSTER SLOTS master too short: {range:?}"));
        }
        let ip: IpAddr = text(&master[0])?
            .parse()
            .map_err(|e| format!("CLUSTER SLOTS ip: {e}"))?;
        let port =
            u16::try_from(integer(&master[1])?).map_err(|e| format!("CLUSTER SLOTS port: {e}"))?;
        ranges.push((
            bound(&items[0])?,
            bound(&items[1])?,
            SocketAddr::new(ip, port),
        ));
    }
    Ok(ranges)
}

/// A `redis` crate async cluster client seeded with `nodes`, with timeouts suited to tests:
/// it reads the slot map from the cluster and follows `-MOVED`, retrying `-TRYAGAIN` and
/// `-CLUSTERDOWN` with backoff.
pub fn cluster_client(nodes: &[SocketAddr]) -> redis::cluster::ClusterClient {
    let seeds: Vec<String> = nodes
        .iter()
        .map(|a| format!("redis://{}:{}/", a.ip(), a.port()))
        .collect();
    redis::cluster::ClusterClientBuilder::new(seeds)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(IO_TIMEOUT)
        .retries(8)
        .min_retry_wait(20)
        .max_retry_wait(500)
        .build()
        .expect("build a redis cluster client")
}

/// A current-thread tokio runtime to drive the async cluster client from a synchronous test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime")
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

    /// Panics unless every acknowledged write reads back, with its value, through `conn` (a
    /// node connection for a node that leads every shard, or a cluster connection).
    pub fn assert_all_acked_readable(&self, conn: &mut impl ConnectionLike) {
        let keys = self.acked_keys();
        // Errors (a redirect to a node that just died, an election) are retried until the
        // deadline; only the values read decide whether a write was lost.
        let values = crate::wait_until(
            Duration::from_secs(20),
            "read back the acknowledged writes",
            || get_each(conn, &keys).map_err(|e| e.to_string()),
        );
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

/// `GET` of every key, one command at a time (works on cluster connections, which route each
/// key to its shard's leader); `None` for a missing key.
pub fn get_each(
    conn: &mut impl ConnectionLike,
    keys: &[String],
) -> RedisResult<Vec<Option<String>>> {
    keys.iter()
        .map(|key| redis::cmd("GET").arg(key).query(conn))
        .collect()
}

/// A synchronous `redis` cluster connection to the cluster seeded by `nodes` (routes by the
/// slot map, follows `-MOVED`, retries `-TRYAGAIN`/`-CLUSTERDOWN`).
pub fn cluster_conn(nodes: &[SocketAddr]) -> redis::cluster::ClusterConnection {
    cluster_client(nodes)
        .get_connection()
        .unwrap_or_else(|e| panic!("cluster connection to {nodes:?}: {e}"))
}

fn writer_key(prefix: &str, seq: u64) -> String {
    format!("{prefix}:{seq}")
}

fn writer_value(prefix: &str, seq: u64) -> String {
    format!("{prefix}-value-{seq}")
}

/// A background client that `SET`s `prefix:0`, `prefix:1`, ... one at a time (keys spread over
/// all slots), routing each by the slot map (`CLUSTER SLOTS`), following `-MOVED` and trying
/// other nodes on errors, recording each acknowledged sequence number.
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
    // The slot map (from CLUSTER SLOTS, refreshed after a redirect or an error), and slots that
    // a -MOVED pointed elsewhere since.
    let mut ranges: Option<Vec<(u16, u16, SocketAddr)>> = None;
    let mut moved: HashMap<u16, SocketAddr> = HashMap::new();
    let mut conns: HashMap<SocketAddr, Connection> = HashMap::new();
    let mut last_ack = Instant::now();
    let note = |log: &mut WriterLog, e: String| *log.errors.entry(e).or_default() += 1;
    while !stop.load(Ordering::SeqCst) {
        let key = writer_key(&log.prefix, log.attempted);
        let slot = key_slot(key.as_bytes());
        let target = moved
            .get(&slot)
            .copied()
            .or_else(|| {
                ranges.as_ref().and_then(|r| {
                    r.iter()
                        .find(|&&(lo, hi, _)| (lo..=hi).contains(&slot))
                        .map(|&(_, _, addr)| addr)
                })
            })
            .unwrap_or(nodes[next_node]);
        let c = match conns.entry(target) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => match try_connect(target, password.as_deref(), WRITE_TIMEOUT) {
                Ok(c) => entry.insert(c),
                Err(e) => {
                    note(&mut log, format!("connect: {}", e.kind_name()));
                    next_node = (next_node + 1) % nodes.len();
                    ranges = None;
                    moved.clear();
                    std::thread::sleep(BACKOFF);
                    continue;
                }
            },
        };
        if ranges.is_none() {
            // A node that is not a cluster member yet (or a probe error) leaves it unknown.
            ranges = cluster_slots(c).ok();
            moved.clear();
        }
        let seq = log.attempted;
        log.attempted += 1;
        let reply: RedisResult<String> = redis::cmd("SET")
            .arg(&key)
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
                if let Some((slot, addr)) = moved_to(&e) {
                    note(&mut log, "MOVED".to_owned());
                    moved.insert(slot, addr);
                    // The map changed (or was stale): read it again at the next write.
                    ranges = None;
                } else {
                    note(&mut log, e.kind_name());
                    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                        conns.remove(&target);
                        next_node = (next_node + 1) % nodes.len();
                    }
                    ranges = None;
                    moved.clear();
                    std::thread::sleep(BACKOFF);
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// A `CLUSTER SHARDS` reply laid out as Redis 7 sends it over RESP2 (flat key/value arrays,
    /// slots as integers, port as an integer).
    #[test]
    fn parses_cluster_shards_like_redis_7() {
        let node = |id: u64, port: i64, role: &str, health: &str| {
            Value::Array(vec![
                bulk("id"),
                bulk(&cluster_node_id(id)),
                bulk("port"),
                Value::Int(port),
                bulk("ip"),
                bulk("127.0.0.2"),
                bulk("endpoint"),
                bulk("127.0.0.2"),
                bulk("role"),
                bulk(role),
                bulk("replication-offset"),
                Value::Int(7),
                bulk("health"),
                bulk(health),
            ])
        };
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("slots"),
            Value::Array(vec![
                Value::Int(0),
                Value::Int(2047),
                Value::Int(4096),
                Value::Int(4100),
            ]),
            bulk("nodes"),
            Value::Array(vec![
                node(1, 7001, "master", "online"),
                node(0x2a, 7002, "replica", "fail"),
            ]),
        ])]);
        let shards = parse_cluster_shards(&reply).expect("parse");
        assert_eq!(shards.len(), 1);
        let shard = &shards[0];
        assert_eq!(shard.slots, vec![(0, 2047), (4096, 4100)]);
        assert!(shard.owns(4098) && !shard.owns(3000));
        assert_eq!(shard.first_slot(), 0);
        assert_eq!(shard.master().map(|m| m.id), Some(1));
        assert_eq!(shard.node_ids(), vec![1, 42]);
        assert_eq!(
            shard.nodes[1].addr,
            "127.0.0.2:7002".parse::<SocketAddr>().expect("addr")
        );
        assert_eq!(shard.nodes[1].health, "fail");
    }

    #[test]
    fn cluster_node_ids_round_trip() {
        assert_eq!(cluster_node_id(1), format!("{}1", "0".repeat(39)));
        for id in [0, 1, 255, u64::MAX] {
            assert_eq!(parse_cluster_node_id(&cluster_node_id(id)), Ok(id));
        }
        assert!(parse_cluster_node_id("abc").is_err());
        assert!(
            parse_cluster_node_id(&"f".repeat(40)).is_err(),
            "beyond u64"
        );
    }

    #[test]
    fn parses_info_raft_of_every_shard() {
        let text = "# Raft\r\nnode_id:3\r\nraft_shards:2\r\nshard0_role:follower\r\n\
                    shard0_leader_id:1\r\nshard0_term:4\r\nshard0_last_log_index:10\r\n\
                    shard0_applied_index:9\r\nshard0_lease_remaining_ms:0\r\n\
                    shard5_role:leader\r\nshard5_leader_id:3\r\nshard5_term:2\r\n\
                    shard5_last_log_index:100\r\nshard5_applied_index:100\r\n\
                    shard5_lease_remaining_ms:250\r\n";
        let status = RaftStatus::from_info(&parse_info(text)).expect("parse");
        assert_eq!(status.node_id, Some(3));
        assert_eq!(status.shards.len(), 2);
        assert_eq!(status.shard(0).expect("meta").leader_id, Some(1));
        assert_eq!(status.shard(5).expect("shard 5").applied_index, 100);
        assert_eq!(status.shard(5).expect("shard 5").lease_remaining_ms, 250);
        assert_eq!(status.led_data_shards(), vec![5]);
        assert!(status.shard(1).is_err());
    }
}
