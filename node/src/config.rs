//! Configuration: flags, `TANLI_*` environment variables and an optional TOML file, in that order
//! of precedence, resolved once into a [`Config`] where every limit is a named field with its unit.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

use crate::admission::{AdmissionArgs, AdmissionConfig};

/// tanli-server: a Raft-replicated key-value store that speaks the Redis protocol.
#[derive(Debug, Parser, Default, Deserialize)]
#[command(name = "tanli-server", version)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Args {
    /// TOML file with any of these options (kebab-case keys); flags and env override it.
    #[arg(long, env = "TANLI_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address every listener and every outgoing peer connection binds to.
    #[arg(long, env = "TANLI_BIND")]
    pub bind: Option<IpAddr>,
    /// Redis-protocol port (0 = any free port). Default 6379.
    #[arg(long, env = "TANLI_PORT")]
    pub port: Option<u16>,
    /// Raft RPC port (0 = any free port). Default: port + 10000, like Redis Cluster's bus.
    #[arg(long, env = "TANLI_CLUSTER_PORT")]
    pub cluster_port: Option<u16>,
    /// HTTP admin port, for `/metrics` and `/health` (0 = any free port). Default: port + 3000
    /// (any free port when that does not fit, or when port is 0).
    #[arg(long, env = "TANLI_ADMIN_PORT")]
    pub admin_port: Option<u16>,
    /// Data directory (a mounted volume): Raft logs, data and the node's identity.
    #[arg(long, env = "TANLI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Password clients must give with AUTH (or HELLO ... AUTH).
    #[arg(long, env = "TANLI_REQUIREPASS")]
    pub requirepass: Option<String>,
    /// Log level: debug, verbose, notice or warning (as redis-server), or a tracing filter.
    #[arg(long, env = "TANLI_LOGLEVEL")]
    pub loglevel: Option<String>,
    /// Existing nodes' cluster addresses (`host:cluster-port`, comma-separated) to join on first
    /// start; on later starts they only seed gossip. Without it, an empty data directory starts a
    /// new single-node cluster.
    #[arg(long, env = "TANLI_JOIN", value_delimiter = ',')]
    pub join: Option<Vec<String>>,
    /// The IP other nodes and clients use to reach this node, when it differs from `--bind`
    /// (NAT, containers). Default: the bind address.
    #[arg(long, env = "TANLI_ADVERTISE")]
    pub advertise: Option<IpAddr>,
    /// Cluster name for a new cluster; a data directory of another cluster is refused.
    #[arg(long, env = "TANLI_CLUSTER_ID")]
    pub cluster_id: Option<String>,
    /// Data shards a new cluster starts with (each a contiguous slot range). Default 8.
    #[arg(long, env = "TANLI_INITIAL_SHARDS")]
    pub initial_shards: Option<u16>,
    /// Replicas per shard (fewer while there are fewer nodes). Default 3.
    #[arg(long, env = "TANLI_REPLICATION_FACTOR")]
    pub replication_factor: Option<usize>,
    /// This node's placement weight (1..=16): its share of replicas. Default 1.
    #[arg(long, env = "TANLI_WEIGHT")]
    pub weight: Option<u32>,
    /// Threads that run Raft, storage and the control plane, and serve clients when
    /// `connection-threads` is 0 (at most 1024). Default (or 0): one per CPU available to the
    /// process, which honours a container's CPU quota. Nodes that share a host should share its
    /// CPUs out: more threads than cores only add switches between them.
    #[arg(long, env = "TANLI_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
    /// Threads that serve client connections, each connection on one of them from accept to
    /// close (at most 1024). Default: one per CPU available to the process. 0: connections run
    /// on the worker threads, where a busy or descheduled thread's connections can move to an
    /// idle one, at the cost of cross-thread wake-ups on every request.
    #[arg(long, env = "TANLI_CONNECTION_THREADS")]
    pub connection_threads: Option<usize>,
    /// Whether a thread with no work left lets the host's other runnable threads go first
    /// (`sched_yield`) before it sleeps (`true`, the default, or `false`). Clients and peers on
    /// the same host then get the core first, and the thread more often finds their next
    /// requests ready instead of sleeping and being woken for each (see README's benchmark
    /// notes). It costs one system call per sleep and no spinning; a thread whose yields turn
    /// slow (a CPU-bound neighbour holds the core for its whole time slice) stops yielding for a
    /// back-off of 50 ms to 1 s.
    #[arg(long, env = "TANLI_YIELD_BEFORE_PARK")]
    pub yield_before_park: Option<bool>,
    /// How a shard leader confirms a linearizable read: `lease` (default: no round while a
    /// quorum acknowledged the leader within the last half election-timeout-min; safe unless a
    /// node's monotonic clock runs four times as fast as another's, or twice with the two
    /// election timeouts almost equal: see README) or `read-index` (a heartbeat round to a
    /// quorum of its replicas, shared by the reads that arrived before it, which assumes nothing
    /// about clocks). Set the same policy on every node: a node with the lease policy holds back
    /// its votes after a restart, and the lease is safe only if every voter does.
    #[arg(long, env = "TANLI_READ_POLICY", value_enum)]
    pub read_policy: Option<ReadPolicy>,
    /// UNSAFE, for the fault-injection suite only: answer every read from this replica's applied
    /// state with no leadership check, breaking linearizability, so the suite can show that it
    /// catches a broken server. Never set it on a real deployment.
    #[arg(long, env = "TANLI_UNSAFE_STALE_READS", hide = true)]
    #[serde(default)]
    pub unsafe_stale_reads: bool,
    /// Bounds; in a TOML file they go in a `[limits]` table.
    #[command(flatten)]
    #[serde(default)]
    pub limits: LimitArgs,
    /// Admission control and client limits; in a TOML file they go in an `[admission]` table.
    #[command(flatten)]
    #[serde(default)]
    pub admission: AdmissionArgs,
}

/// How a shard leader confirms that it still leads before a linearizable read (`--read-policy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadPolicy {
    /// ReadIndex: a heartbeat round acknowledged by a quorum, started after the read arrived.
    ReadIndex,
    /// A leader lease (the default): a quorum acknowledgement younger than half of
    /// election-timeout-min stands for the round.
    #[default]
    Lease,
}

impl ReadPolicy {
    pub fn name(self) -> &'static str {
        match self {
            ReadPolicy::ReadIndex => "read-index",
            ReadPolicy::Lease => "lease",
        }
    }
}

/// Every bound, overridable. Field names end with their unit.
#[derive(Debug, clap::Args, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitArgs {
    /// Largest bulk string a client may send (Redis's proto-max-bulk-len).
    #[arg(long, env = "TANLI_BULK_BYTES_MAX")]
    pub bulk_bytes_max: Option<usize>,
    /// Most elements in one command array.
    #[arg(long, env = "TANLI_ARRAY_LEN_MAX")]
    pub array_len_max: Option<usize>,
    /// Most bytes one request may declare in total (Redis's client-query-buffer-limit).
    #[arg(long, env = "TANLI_REQUEST_BYTES_MAX")]
    pub request_bytes_max: Option<usize>,
    /// Largest inline (non-RESP) command line.
    #[arg(long, env = "TANLI_INLINE_BYTES_MAX")]
    pub inline_bytes_max: Option<usize>,
    /// Commands of one connection executing at once (pipelining depth).
    #[arg(long, env = "TANLI_PIPELINE_DEPTH_MAX")]
    pub pipeline_depth_max: Option<usize>,
    /// Client connections accepted at once (Redis's maxclients).
    #[arg(long, env = "TANLI_CONNECTIONS_MAX")]
    pub connections_max: Option<usize>,
    /// Raft heartbeat interval.
    #[arg(long, env = "TANLI_HEARTBEAT_INTERVAL_MS")]
    pub heartbeat_interval_ms: Option<u64>,
    /// Lower bound of the randomised election timeout.
    #[arg(long, env = "TANLI_ELECTION_TIMEOUT_MIN_MS")]
    pub election_timeout_min_ms: Option<u64>,
    /// Upper bound of the randomised election timeout.
    #[arg(long, env = "TANLI_ELECTION_TIMEOUT_MAX_MS")]
    pub election_timeout_max_ms: Option<u64>,
    /// Largest Raft RPC frame (a snapshot travels in one frame).
    #[arg(long, env = "TANLI_RPC_FRAME_BYTES_MAX")]
    pub rpc_frame_bytes_max: Option<usize>,
    /// Time allowed to connect to a peer.
    #[arg(long, env = "TANLI_RPC_CONNECT_TIMEOUT_MS")]
    pub rpc_connect_timeout_ms: Option<u64>,
    /// Raft RPCs in flight to one peer before senders wait.
    #[arg(long, env = "TANLI_RPC_INFLIGHT_MAX")]
    pub rpc_inflight_max: Option<usize>,
    /// Writes queued for proposal on one shard before new ones are refused with TRYAGAIN.
    #[arg(long, env = "TANLI_PROPOSAL_QUEUE_MAX")]
    pub proposal_queue_max: Option<usize>,
    /// RocksDB's block cache, shared by every shard on the node.
    #[arg(long, env = "TANLI_BLOCK_CACHE_BYTES")]
    pub block_cache_bytes: Option<usize>,
    /// In-memory copy of recently written or read records, in front of RocksDB (0: off).
    #[arg(long, env = "TANLI_RECORD_CACHE_BYTES")]
    pub record_cache_bytes: Option<usize>,
    /// Size of each memtable of the records column family (at least 1 MiB) before it is flushed
    /// to a file. Every write inserts into it by a skiplist walk whose cache misses grow with its
    /// size.
    #[arg(long, env = "TANLI_DATA_MEMTABLE_BYTES")]
    pub data_memtable_bytes: Option<usize>,
    /// Most queued writes one Raft entry carries (1: every write is its own entry).
    #[arg(long, env = "TANLI_PROPOSAL_BATCH_MAX")]
    pub proposal_batch_max: Option<usize>,
    /// Command bytes past which a Raft entry takes no more queued writes.
    #[arg(long, env = "TANLI_PROPOSAL_BATCH_BYTES_MAX")]
    pub proposal_batch_bytes_max: Option<usize>,
    /// Log entries applied since the last snapshot that trigger a new one.
    #[arg(long, env = "TANLI_SNAPSHOT_LOGS_SINCE_LAST")]
    pub snapshot_logs_since_last: Option<u64>,
    /// How often the leader looks for expired keys to reclaim.
    #[arg(long, env = "TANLI_EXPIRY_RECLAIM_INTERVAL_MS")]
    pub expiry_reclaim_interval_ms: Option<u64>,
    /// Most expired keys reclaimed by one proposal.
    #[arg(long, env = "TANLI_EXPIRY_RECLAIM_KEYS_MAX")]
    pub expiry_reclaim_keys_max: Option<usize>,
    /// Time a read waits for its consistency check before answering TRYAGAIN.
    #[arg(long, env = "TANLI_READ_TIMEOUT_MS")]
    pub read_timeout_ms: Option<u64>,
    /// Time a write waits for commit and apply before answering TRYAGAIN (outcome unknown).
    #[arg(long, env = "TANLI_WRITE_TIMEOUT_MS")]
    pub write_timeout_ms: Option<u64>,
    /// How often the control loop looks at the map, gossip and the hosted groups.
    #[arg(long, env = "TANLI_CONTROL_INTERVAL_MS")]
    pub control_interval_ms: Option<u64>,
    /// How often the placement driver (on the meta leader) plans the next map change.
    #[arg(long, env = "TANLI_PLACEMENT_INTERVAL_MS")]
    pub placement_interval_ms: Option<u64>,
    /// Shards whose replicas may be changing at once.
    #[arg(long, env = "TANLI_MOVES_IN_FLIGHT_MAX")]
    pub moves_in_flight_max: Option<usize>,
    /// A learner within this many log entries of its leader counts as caught up (may vote).
    #[arg(long, env = "TANLI_CATCHUP_LAG_MAX")]
    pub catchup_lag_max: Option<u64>,
    /// Deadline of one control request between nodes (join, meta command, map fetch).
    #[arg(long, env = "TANLI_CONTROL_RPC_TIMEOUT_MS")]
    pub control_rpc_timeout_ms: Option<u64>,
    /// How long a first start keeps trying to join before giving up.
    #[arg(long, env = "TANLI_JOIN_TIMEOUT_MS")]
    pub join_timeout_ms: Option<u64>,
    /// Exactly-once writes: a client whose last request is older than this (log time) is
    /// forgotten, so its requests must not be retried later than this.
    #[arg(long, env = "TANLI_DEDUP_WINDOW_MS")]
    pub dedup_window_ms: Option<u64>,
    /// Exactly-once writes: replies kept per client (older requests answer `-UNCERTAIN`).
    #[arg(long, env = "TANLI_DEDUP_REPLIES_PER_CLIENT_MAX")]
    pub dedup_replies_per_client_max: Option<u64>,
    /// Gossip round interval.
    #[arg(long, env = "TANLI_GOSSIP_INTERVAL_MS")]
    pub gossip_interval_ms: Option<u64>,
    /// Phi-accrual threshold above which gossip deems a node dead.
    #[arg(long, env = "TANLI_GOSSIP_PHI_THRESHOLD")]
    pub gossip_phi_threshold: Option<f64>,
    /// How long gossip keeps a dead node's state before forgetting it.
    #[arg(long, env = "TANLI_GOSSIP_DEAD_GRACE_MS")]
    pub gossip_dead_grace_ms: Option<u64>,
    /// A node silent this long is marked down and its replicas are rebuilt on other nodes.
    #[arg(long, env = "TANLI_DEAD_NODE_GRACE_MS")]
    pub dead_node_grace_ms: Option<u64>,
    /// Leaderships are rebalanced only when every `up` node has been heard from, or silent this
    /// long: a driver that has just started (a cluster restart) or lost sight of a node waits
    /// rather than move every leadership to the nodes it hears and straight back.
    #[arg(long, env = "TANLI_LEADER_BALANCE_SETTLE_MS")]
    pub leader_balance_settle_ms: Option<u64>,
    /// Balanced means no two nodes' replica (and leader) counts per unit of weight differ by
    /// more than this.
    #[arg(long, env = "TANLI_BALANCE_TOLERANCE")]
    pub balance_tolerance: Option<u64>,
    /// Whether the placement driver starts balancing plans by itself (`true`/`false`); repairs
    /// always run.
    #[arg(long, env = "TANLI_AUTO_REBALANCE")]
    pub auto_rebalance: Option<bool>,
    /// Commands one MULTI may queue, and keys one connection may WATCH (at most 65536: one log
    /// entry can create 2^20 collection versions, and a queued command may use a few).
    #[arg(long, env = "TANLI_MULTI_COMMANDS_MAX")]
    pub multi_commands_max: Option<usize>,
    /// Argument bytes one MULTI may queue: EXEC carries them all in one log entry, so at most
    /// half of rpc-frame-bytes-max.
    #[arg(long, env = "TANLI_MULTI_BYTES_MAX")]
    pub multi_bytes_max: Option<usize>,
}

/// The largest `multi-commands-max` (see [`LimitArgs::multi_commands_max`]).
pub const MULTI_COMMANDS_CEILING: usize = 65_536;

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: IpAddr,
    pub port: u16,
    pub cluster_port: u16,
    pub admin_port: u16,
    pub data_dir: PathBuf,
    pub requirepass: Option<String>,
    pub loglevel: String,
    pub join: Vec<String>,
    pub advertise: Option<IpAddr>,
    pub cluster_id: Option<String>,
    pub initial_shards: u16,
    pub replication_factor: usize,
    pub weight: u32,
    /// Runtime worker threads; `None`: one per available CPU.
    pub worker_threads: Option<usize>,
    /// Client connection threads; 0: connections run on the worker threads.
    pub connection_threads: usize,
    /// See [`Args::yield_before_park`]: every runtime thread yields before it sleeps.
    pub yield_before_park: bool,
    /// See [`Args::read_policy`].
    pub read_policy: ReadPolicy,
    /// See [`Args::unsafe_stale_reads`]: reads skip the leader check (test-only, unsafe).
    pub unsafe_stale_reads: bool,
    pub bulk_bytes_max: usize,
    pub array_len_max: usize,
    pub inline_bytes_max: usize,
    pub request_bytes_max: usize,
    pub pipeline_depth_max: usize,
    pub connections_max: usize,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub rpc_frame_bytes_max: usize,
    pub rpc_connect_timeout_ms: u64,
    pub rpc_inflight_max: usize,
    pub proposal_queue_max: usize,
    pub block_cache_bytes: usize,
    pub record_cache_bytes: usize,
    pub data_memtable_bytes: usize,
    pub proposal_batch_max: usize,
    pub proposal_batch_bytes_max: usize,
    pub snapshot_logs_since_last: u64,
    pub expiry_reclaim_interval_ms: u64,
    pub expiry_reclaim_keys_max: usize,
    pub read_timeout_ms: u64,
    pub write_timeout_ms: u64,
    pub control_interval_ms: u64,
    pub placement_interval_ms: u64,
    pub moves_in_flight_max: usize,
    pub catchup_lag_max: u64,
    pub control_rpc_timeout_ms: u64,
    pub join_timeout_ms: u64,
    pub gossip_interval_ms: u64,
    pub gossip_phi_threshold: f64,
    pub gossip_dead_grace_ms: u64,
    pub dead_node_grace_ms: u64,
    pub leader_balance_settle_ms: u64,
    pub balance_tolerance: u64,
    pub auto_rebalance: bool,
    pub dedup_window_ms: u64,
    pub dedup_replies_per_client_max: u64,
    pub multi_commands_max: usize,
    pub multi_bytes_max: usize,
    /// Admission control and client limits.
    pub admission: AdmissionConfig,
}

impl Config {
    /// Parses the process's flags, environment and config file.
    pub fn from_env() -> anyhow::Result<Config> {
        Config::resolve(Args::parse())
    }

    pub fn resolve(args: Args) -> anyhow::Result<Config> {
        let file: Args = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?
            }
            None => Args::default(),
        };
        let (a, f, l, fl) = (&args, &file, &args.limits, &file.limits);
        macro_rules! pick {
            ($field:ident, $default:expr) => {
                a.$field.clone().or(f.$field.clone()).unwrap_or($default)
            };
        }
        macro_rules! limit {
            ($field:ident, $default:expr) => {
                l.$field.or(fl.$field).unwrap_or($default)
            };
        }
        let port = pick!(port, 6379);
        let cluster_port = match a.cluster_port.or(f.cluster_port) {
            Some(p) => p,
            None if port == 0 => 0,
            None => port
                .checked_add(10000)
                .ok_or_else(|| anyhow::anyhow!("--port {port} leaves no room for the default cluster port (port + 10000); give --cluster-port"))?,
        };
        // The admin port is optional to reach: when port + 3000 does not fit, any free port.
        let admin_port = match a.admin_port.or(f.admin_port) {
            Some(p) => p,
            None => port.checked_add(3000).filter(|_| port != 0).unwrap_or(0),
        };
        let config = Config {
            bind: pick!(bind, IpAddr::from([127, 0, 0, 1])),
            port,
            cluster_port,
            admin_port,
            data_dir: pick!(data_dir, PathBuf::from("tanli-data")),
            requirepass: a.requirepass.clone().or(f.requirepass.clone()),
            loglevel: pick!(loglevel, "notice".to_string()),
            join: pick!(join, Vec::new())
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            advertise: a.advertise.or(f.advertise),
            cluster_id: a.cluster_id.clone().or(f.cluster_id.clone()),
            initial_shards: pick!(initial_shards, 8),
            replication_factor: pick!(replication_factor, 3),
            weight: pick!(weight, 1),
            worker_threads: a.worker_threads.or(f.worker_threads).filter(|&n| n > 0),
            connection_threads: a
                .connection_threads
                .or(f.connection_threads)
                .unwrap_or_else(available_cpus),
            yield_before_park: pick!(yield_before_park, true),
            read_policy: a.read_policy.or(f.read_policy).unwrap_or_default(),
            unsafe_stale_reads: a.unsafe_stale_reads || f.unsafe_stale_reads,
            bulk_bytes_max: limit!(bulk_bytes_max, 512 << 20),
            array_len_max: limit!(array_len_max, 1 << 20),
            inline_bytes_max: limit!(inline_bytes_max, 64 << 10),
            request_bytes_max: limit!(request_bytes_max, 1 << 30),
            pipeline_depth_max: limit!(pipeline_depth_max, 256),
            connections_max: limit!(connections_max, 10_000),
            heartbeat_interval_ms: limit!(heartbeat_interval_ms, 150),
            election_timeout_min_ms: limit!(election_timeout_min_ms, 750),
            election_timeout_max_ms: limit!(election_timeout_max_ms, 1500),
            rpc_frame_bytes_max: limit!(rpc_frame_bytes_max, 1 << 30),
            rpc_connect_timeout_ms: limit!(rpc_connect_timeout_ms, 1000),
            rpc_inflight_max: limit!(rpc_inflight_max, 1024),
            proposal_queue_max: limit!(proposal_queue_max, 16_384),
            // 320 MiB in all, of which the record cache now has 128 (it had 64): a point read it
            // answers costs one hash lookup, one that falls through to the block cache several
            // microseconds more (issue 7's note: with 23% of GETs missing a 64 MiB record
            // cache, GET `-P 16` lost a third of its throughput).
            block_cache_bytes: limit!(block_cache_bytes, 192 << 20),
            record_cache_bytes: limit!(record_cache_bytes, 128 << 20),
            data_memtable_bytes: limit!(data_memtable_bytes, 8 << 20),
            proposal_batch_max: limit!(proposal_batch_max, 256),
            proposal_batch_bytes_max: limit!(proposal_batch_bytes_max, 4 << 20),
            snapshot_logs_since_last: limit!(snapshot_logs_since_last, 100_000),
            expiry_reclaim_interval_ms: limit!(expiry_reclaim_interval_ms, 100),
            expiry_reclaim_keys_max: limit!(expiry_reclaim_keys_max, 256),
            read_timeout_ms: limit!(read_timeout_ms, 5_000),
            write_timeout_ms: limit!(write_timeout_ms, 10_000),
            control_interval_ms: limit!(control_interval_ms, 100),
            placement_interval_ms: limit!(placement_interval_ms, 300),
            moves_in_flight_max: limit!(moves_in_flight_max, 2),
            catchup_lag_max: limit!(catchup_lag_max, 64),
            control_rpc_timeout_ms: limit!(control_rpc_timeout_ms, 2_000),
            join_timeout_ms: limit!(join_timeout_ms, 60_000),
            gossip_interval_ms: limit!(gossip_interval_ms, 200),
            gossip_phi_threshold: limit!(gossip_phi_threshold, 8.0),
            gossip_dead_grace_ms: limit!(gossip_dead_grace_ms, 3_600_000),
            dead_node_grace_ms: limit!(dead_node_grace_ms, 300_000),
            leader_balance_settle_ms: limit!(leader_balance_settle_ms, 5_000),
            balance_tolerance: limit!(balance_tolerance, 1).max(1),
            auto_rebalance: limit!(auto_rebalance, true),
            dedup_window_ms: limit!(dedup_window_ms, 600_000),
            dedup_replies_per_client_max: limit!(dedup_replies_per_client_max, 4096).max(1),
            multi_commands_max: limit!(multi_commands_max, 10_000),
            multi_bytes_max: limit!(multi_bytes_max, 512 << 20),
            admission: AdmissionConfig::resolve(&a.admission, &f.admission)?,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.heartbeat_interval_ms * 3 <= self.election_timeout_min_ms,
            "heartbeat-interval-ms must be at most a third of election-timeout-min-ms"
        );
        anyhow::ensure!(
            self.election_timeout_min_ms < self.election_timeout_max_ms,
            "election-timeout-min-ms must be below election-timeout-max-ms"
        );
        anyhow::ensure!(
            self.pipeline_depth_max > 0
                && self.connections_max > 0
                && self.proposal_queue_max > 0
                && self.proposal_batch_max > 0,
            "limits must be positive"
        );
        anyhow::ensure!(
            (1..=tanli_router::SLOT_COUNT).contains(&self.initial_shards),
            "initial-shards must be between 1 and 16384"
        );
        anyhow::ensure!(
            (1 << 20..=1 << 30).contains(&self.data_memtable_bytes),
            "data-memtable-bytes must be between 1 MiB and 1 GiB"
        );
        anyhow::ensure!(
            self.worker_threads.is_none_or(|n| n <= 1024),
            "worker-threads must be at most 1024"
        );
        anyhow::ensure!(
            self.connection_threads <= 1024,
            "connection-threads must be at most 1024"
        );
        anyhow::ensure!(
            (1..=7).contains(&self.replication_factor),
            "replication-factor must be between 1 and 7"
        );
        anyhow::ensure!(
            (1..=tanli_router::MAX_WEIGHT).contains(&self.weight),
            "weight must be between 1 and {}",
            tanli_router::MAX_WEIGHT
        );
        anyhow::ensure!(
            self.control_interval_ms > 0
                && self.placement_interval_ms > 0
                && self.gossip_interval_ms > 0
                && self.moves_in_flight_max > 0,
            "control, placement and gossip intervals and moves-in-flight-max must be positive"
        );
        anyhow::ensure!(
            (1..=MULTI_COMMANDS_CEILING).contains(&self.multi_commands_max),
            "multi-commands-max must be between 1 and {MULTI_COMMANDS_CEILING}"
        );
        anyhow::ensure!(
            self.multi_bytes_max > 0 && self.multi_bytes_max <= self.rpc_frame_bytes_max / 2,
            "multi-bytes-max must be positive and at most half of rpc-frame-bytes-max ({})",
            self.rpc_frame_bytes_max
        );
        anyhow::ensure!(
            self.dead_node_grace_ms >= 1000,
            "dead-node-grace-ms must be at least 1000: a shorter silence is a hiccup, not a death"
        );
        Ok(())
    }
}

/// CPUs this process may use (a container's quota counts); 1 when it cannot be told.
fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Args {
        Args::parse_from(std::iter::once("tanli-server").chain(v.iter().copied()))
    }

    #[test]
    fn defaults_follow_redis() {
        let c = Config::resolve(args(&[])).expect("config");
        assert_eq!((c.port, c.cluster_port, c.admin_port), (6379, 16379, 9379));
        assert_eq!(c.data_dir, PathBuf::from("tanli-data"));
        let c = Config::resolve(args(&["--port", "7000"])).expect("config");
        assert_eq!((c.cluster_port, c.admin_port), (17000, 10000));
        let c = Config::resolve(args(&["--port", "0"])).expect("config");
        assert_eq!((c.cluster_port, c.admin_port), (0, 0));
        let c = Config::resolve(args(&["--port", "65000", "--cluster-port", "1"])).expect("config");
        assert_eq!(c.admin_port, 0, "port + 3000 does not fit: any free port");
        let c = Config::resolve(args(&["--admin-port", "8080"])).expect("config");
        assert_eq!(c.admin_port, 8080);
    }

    #[test]
    fn cluster_options_parse_and_validate() {
        let c = Config::resolve(args(&[
            "--join",
            "127.0.0.1:17001, 127.0.0.2:17002",
            "--advertise",
            "10.0.0.5",
        ]))
        .expect("config");
        assert_eq!(c.join, ["127.0.0.1:17001", "127.0.0.2:17002"]);
        assert_eq!(c.advertise, Some(IpAddr::from([10, 0, 0, 5])));
        assert_eq!((c.initial_shards, c.replication_factor), (8, 3));
        assert!(Config::resolve(args(&["--initial-shards", "0"])).is_err());
        assert!(Config::resolve(args(&["--replication-factor", "0"])).is_err());
        assert!(Config::resolve(args(&["--weight", "17"])).is_err());
    }

    #[test]
    fn transaction_bounds_are_checked() {
        let c = Config::resolve(args(&[])).expect("config");
        assert_eq!(
            (c.multi_commands_max, c.multi_bytes_max),
            (10_000, 512 << 20)
        );
        assert!(Config::resolve(args(&["--multi-commands-max", "0"])).is_err());
        assert!(Config::resolve(args(&["--multi-commands-max", "65537"])).is_err());
        assert!(Config::resolve(args(&["--multi-bytes-max", "0"])).is_err());
        assert!(Config::resolve(args(&[
            "--rpc-frame-bytes-max",
            "1000",
            "--multi-bytes-max",
            "501"
        ]))
        .is_err());
    }

    #[test]
    fn cache_and_batch_bounds_come_from_flags_or_the_limits_table() {
        let c = Config::resolve(args(&[])).expect("config");
        assert_eq!(
            (c.block_cache_bytes, c.record_cache_bytes),
            (192 << 20, 128 << 20)
        );
        assert_eq!(
            (c.proposal_batch_max, c.proposal_batch_bytes_max),
            (256, 4 << 20)
        );
        assert_eq!(c.data_memtable_bytes, 8 << 20);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "[limits]\nrecord-cache-bytes = 0\nproposal-batch-max = 8\n",
        )
        .expect("write");
        let c = Config::resolve(args(&[
            "--config",
            path.to_str().expect("utf8"),
            "--block-cache-bytes",
            "1048576",
        ]))
        .expect("config");
        assert_eq!(
            (
                c.block_cache_bytes,
                c.record_cache_bytes,
                c.proposal_batch_max
            ),
            (1 << 20, 0, 8)
        );
        assert!(Config::resolve(args(&["--proposal-batch-max", "0"])).is_err());
        assert!(Config::resolve(args(&["--data-memtable-bytes", "65536"])).is_err());
        let c = Config::resolve(args(&["--data-memtable-bytes", "67108864"])).expect("config");
        assert_eq!(c.data_memtable_bytes, 64 << 20);
    }

    #[test]
    fn worker_threads_default_to_the_cpus_and_come_from_a_flag_or_the_file() {
        assert_eq!(
            Config::resolve(args(&[])).expect("config").worker_threads,
            None
        );
        let c = Config::resolve(args(&["--worker-threads", "1"])).expect("config");
        assert_eq!(c.worker_threads, Some(1));
        let c = Config::resolve(args(&["--worker-threads", "0"])).expect("config");
        assert_eq!(c.worker_threads, None, "0 means the default");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.toml");
        std::fs::write(&path, "worker-threads = 3\n").expect("write");
        let file = path.to_str().expect("utf8");
        let c = Config::resolve(args(&["--config", file])).expect("config");
        assert_eq!(c.worker_threads, Some(3));
        assert!(Config::resolve(args(&["--worker-threads", "1025"])).is_err());
    }

    #[test]
    fn connection_threads_default_to_the_cpus_and_zero_means_none() {
        let c = Config::resolve(args(&[])).expect("config");
        assert_eq!(c.connection_threads, available_cpus());
        assert!(c.connection_threads >= 1);
        let c = Config::resolve(args(&["--connection-threads", "0"])).expect("config");
        assert_eq!(c.connection_threads, 0);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "connection-threads = 3\n").expect("write");
        let file = path.to_str().expect("utf8");
        let c = Config::resolve(args(&["--config", file])).expect("config");
        assert_eq!(c.connection_threads, 3);
        assert!(Config::resolve(args(&["--connection-threads", "1025"])).is_err());
    }

    #[test]
    fn threads_yield_before_they_park_unless_told_not_to() {
        assert!(
            Config::resolve(args(&[]))
                .expect("config")
                .yield_before_park
        );
        let c = Config::resolve(args(&["--yield-before-park", "false"])).expect("config");
        assert!(!c.yield_before_park);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "yield-before-park = false\n").expect("write");
        let file = path.to_str().expect("utf8");
        let c = Config::resolve(args(&["--config", file])).expect("config");
        assert!(!c.yield_before_park);
        assert!(Args::try_parse_from(["tanli-server", "--yield-before-park", "maybe"]).is_err());
    }

    #[test]
    fn read_policy_defaults_to_lease_and_comes_from_a_flag_or_the_file() {
        let c = Config::resolve(args(&[])).expect("config");
        assert_eq!(c.read_policy, ReadPolicy::Lease);
        let c = Config::resolve(args(&["--read-policy", "read-index"])).expect("config");
        assert_eq!(c.read_policy, ReadPolicy::ReadIndex);
        assert!(Args::try_parse_from(["tanli-server", "--read-policy", "quorum"]).is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "read-policy = \"read-index\"\n").expect("write");
        let c = Config::resolve(args(&["--config", path.to_str().expect("utf8")])).expect("config");
        assert_eq!(c.read_policy, ReadPolicy::ReadIndex);
        std::fs::write(&path, "read-policy = \"stale\"\n").expect("write");
        assert!(Config::resolve(args(&["--config", path.to_str().expect("utf8")])).is_err());
    }

    #[test]
    fn file_values_yield_to_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "port = 7100\n[limits]\npipeline-depth-max = 9\n").expect("write");
        let c = Config::resolve(args(&[
            "--config",
            path.to_str().expect("utf8"),
            "--port",
            "7200",
        ]))
        .expect("config");
        assert_eq!((c.port, c.pipeline_depth_max), (7200, 9));
        std::fs::write(&path, "nonsense = 1\n").expect("write");
        assert!(Config::resolve(args(&["--config", path.to_str().expect("utf8")])).is_err());
    }

    #[test]
    fn admission_bounds_come_from_flags_and_an_admission_table() {
        let c = Config::resolve(args(&[])).expect("config");
        assert_eq!(c.admission.inflight_high_watermark, 32);
        assert_eq!(
            c.admission.idle_timeout, None,
            "as Redis: idle clients stay"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.toml");
        std::fs::write(
            &path,
            "[admission]\ninflight-max = 100\ninflight-high-watermark = 50\nidle-timeout-ms = 5000\n",
        )
        .expect("write");
        let file = path.to_str().expect("utf8");
        let c = Config::resolve(args(&["--config", file, "--inflight-high-watermark", "10"]))
            .expect("config");
        assert_eq!(
            (
                c.admission.inflight_max,
                c.admission.inflight_high_watermark
            ),
            (100, 10)
        );
        assert_eq!(
            c.admission.idle_timeout,
            Some(std::time::Duration::from_secs(5))
        );
        let bad = [
            &["--inflight-high-watermark", "0"][..],
            &["--inflight-max", "10"],
            &["--hot-factor", "0.5"],
            &["--bystander-rate-min=-1"],
            &["--bystander-rate-min", "NaN"],
            &[
                "--reply-buffer-bytes-max",
                "10",
                "--output-buffer-bytes-max",
                "5",
            ],
            &["--output-stall-ms", "0"],
        ];
        for b in bad {
            assert!(Config::resolve(args(b)).is_err(), "{b:?} accepted");
        }
    }
}
