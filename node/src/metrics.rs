//! The node's Prometheus metrics (names `tanli_*`), served by `http` on the admin port.
//!
//! Two kinds. Counted as they happen, by the code that sees the event: commands (count, errors,
//! latency, labelled by command name) and shed client connections. Read at scrape time from what
//! the node already keeps, so the request path pays nothing for them: each hosted Raft group's
//! term, indexes, lags and role, the map epoch, open connections, the placement driver's moves
//! in flight, and RocksDB's size estimates.
//!
//! Every label value is bounded: a command name is one of the command table's or `unknown`, a
//! shard is one hosted here, a shed reason is one of [`ShedReason`].

use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use openraft::ServerState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::cmd::table::{position, table};
use crate::reply::Reply;
use crate::server::Node;

/// The label of a command the table does not know.
pub const UNKNOWN_COMMAND: &str = "unknown";
/// Latency buckets: 50 µs doubling 19 times, to about 13 s.
const LATENCY_BUCKET_START_S: f64 = 50e-6;
const LATENCY_BUCKET_COUNT: u16 = 19;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    command: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShardLabels {
    shard: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShedLabels {
    reason: &'static str,
}

/// Why the node refused or dropped a client connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShedReason {
    /// `connections_max` clients were connected already.
    ConnectionsMax,
    /// The client sent malformed or oversized RESP; the connection was closed.
    ProtocolError,
    /// Overload went on and this was the hottest client refused (admission control).
    Overload,
    /// All clients together buffered too much, and this one the most.
    ClientsMemory,
    /// The client did not read its replies (output-buffer limit).
    OutputBuffer,
    /// The client sent nothing for `idle-timeout-ms`.
    IdleTimeout,
}

impl ShedReason {
    const ALL: [ShedReason; 6] = [
        ShedReason::ConnectionsMax,
        ShedReason::ProtocolError,
        ShedReason::Overload,
        ShedReason::ClientsMemory,
        ShedReason::OutputBuffer,
        ShedReason::IdleTimeout,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ShedReason::ConnectionsMax => "connections_max",
            ShedReason::ProtocolError => "protocol_error",
            ShedReason::Overload => "overload",
            ShedReason::ClientsMemory => "clients_memory",
            ShedReason::OutputBuffer => "output_buffer",
            ShedReason::IdleTimeout => "idle_timeout",
        }
    }
}

/// One command name's series, cloned out of the families once (they share the counts).
#[derive(Clone)]
struct CommandSeries {
    count: Counter,
    errors: Counter,
    duration: Histogram,
}

/// Per hosted shard, refreshed at scrape time.
#[derive(Default)]
struct ShardGauges {
    term: Family<ShardLabels, Gauge>,
    commit_index: Family<ShardLabels, Gauge>,
    applied_index: Family<ShardLabels, Gauge>,
    apply_lag: Family<ShardLabels, Gauge>,
    is_leader: Family<ShardLabels, Gauge>,
    replication_lag: Family<ShardLabels, Gauge>,
}

impl ShardGauges {
    fn clear(&self) {
        for f in [
            &self.term,
            &self.commit_index,
            &self.applied_index,
            &self.apply_lag,
            &self.is_leader,
            &self.replication_lag,
        ] {
            f.clear();
        }
    }
}

pub struct Metrics {
    registry: Registry,
    commands: Family<CommandLabels, Counter>,
    command_errors: Family<CommandLabels, Counter>,
    command_duration: Family<CommandLabels, Histogram, fn() -> Histogram>,
    /// By command-table index (the last: unknown), made on first use so only commands seen
    /// appear; after that, recording takes no lock.
    series: Box<[OnceLock<CommandSeries>]>,
    /// Placement moves under way (the placement driver's running plan; 0 off the meta leader).
    /// Each scrape sets it from `Control::moves_in_flight`; the driver may also set it directly.
    pub moves_in_flight: Gauge,
    connections: Gauge,
    shed: Family<ShedLabels, Counter>,
    /// Admission control, read at scrape time.
    requests_in_flight: Gauge,
    clients_memory_bytes: Gauge,
    hot_clients: Gauge,
    overload_refusals: Counter,
    shards: ShardGauges,
    leaders: Gauge,
    replicas: Gauge,
    cluster_epoch: Gauge,
    rocksdb_live_data_bytes: Gauge,
    rocksdb_sst_files_bytes: Gauge,
    rocksdb_memtable_bytes: Gauge,
    rocksdb_estimated_keys: Gauge,
    /// Held while a scrape refreshes the read-at-scrape gauges and encodes, so two scrapes never
    /// interleave one's clearing with the other's encoding. A std mutex: no `.await` inside.
    scrape: Mutex<()>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(
        LATENCY_BUCKET_START_S,
        2.0,
        LATENCY_BUCKET_COUNT,
    ))
}

fn gauge_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("tanli"),
            commands: Family::default(),
            command_errors: Family::default(),
            command_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            series: (0..=table().len()).map(|_| OnceLock::new()).collect(),
            moves_in_flight: Gauge::default(),
            connections: Gauge::default(),
            shed: Family::default(),
            requests_in_flight: Gauge::default(),
            clients_memory_bytes: Gauge::default(),
            hot_clients: Gauge::default(),
            overload_refusals: Counter::default(),
            shards: ShardGauges::default(),
            leaders: Gauge::default(),
            replicas: Gauge::default(),
            cluster_epoch: Gauge::default(),
            rocksdb_live_data_bytes: Gauge::default(),
            rocksdb_sst_files_bytes: Gauge::default(),
            rocksdb_memtable_bytes: Gauge::default(),
            rocksdb_estimated_keys: Gauge::default(),
            scrape: Mutex::new(()),
        };
        // Every reason from the start, at 0, so a dashboard's rate has a series to work on.
        for r in ShedReason::ALL {
            let _ = m.shed.get_or_create(&ShedLabels { reason: r.label() });
        }
        let r = &mut m.registry;
        r.register(
            "commands",
            "Client commands received, by command name",
            m.commands.clone(),
        );
        r.register(
            "command_errors",
            "Commands answered with an error (redirects not counted), by command name",
            m.command_errors.clone(),
        );
        r.register(
            "command_duration_seconds",
            "Time from reading a command to its reply being ready, by command name",
            m.command_duration.clone(),
        );
        let s = &m.shards;
        r.register(
            "raft_term",
            "Raft term of each hosted shard",
            s.term.clone(),
        );
        r.register(
            "raft_commit_index",
            "Newest log index this replica knows committed, by shard",
            s.commit_index.clone(),
        );
        r.register(
            "raft_applied_index",
            "Newest log index applied to this replica's state machine, by shard",
            s.applied_index.clone(),
        );
        r.register(
            "raft_apply_lag",
            "Committed entries not yet applied on this replica, by shard",
            s.apply_lag.clone(),
        );
        r.register(
            "raft_is_leader",
            "1 where this node leads the shard, else 0",
            s.is_leader.clone(),
        );
        r.register(
            "raft_replication_lag",
            "On the leader: log entries the slowest replica is behind (0 elsewhere), by shard",
            s.replication_lag.clone(),
        );
        r.register("leaders", "Data shards this node leads", m.leaders.clone());
        r.register(
            "replicas",
            "Data shards this node hosts a replica of",
            m.replicas.clone(),
        );
        r.register(
            "cluster_epoch",
            "Epoch of the newest cluster map known here",
            m.cluster_epoch.clone(),
        );
        r.register(
            "placement_moves_in_flight",
            "Shards whose replicas the placement driver is moving (0 off the meta leader)",
            m.moves_in_flight.clone(),
        );
        r.register(
            "connections",
            "Client connections open now",
            m.connections.clone(),
        );
        r.register(
            "connections_shed",
            "Client connections refused or dropped by the node, by reason",
            m.shed.clone(),
        );
        r.register(
            "requests_in_flight",
            "Client requests read and not yet answered",
            m.requests_in_flight.clone(),
        );
        r.register(
            "clients_memory_bytes",
            "Bytes all client connections buffer (unparsed input, unsent replies)",
            m.clients_memory_bytes.clone(),
        );
        r.register(
            "hot_clients",
            "Clients whose request rate is far above the others' (throttled under overload)",
            m.hot_clients.clone(),
        );
        r.register(
            "overload_refusals",
            "Requests refused with TRYAGAIN because the node was overloaded",
            m.overload_refusals.clone(),
        );
        r.register(
            "rocksdb_live_data_bytes",
            "RocksDB's estimate of live data, all column families",
            m.rocksdb_live_data_bytes.clone(),
        );
        r.register(
            "rocksdb_sst_files_bytes",
            "Size of RocksDB's SST files, all column families",
            m.rocksdb_sst_files_bytes.clone(),
        );
        r.register(
            "rocksdb_memtable_bytes",
            "Bytes in RocksDB's memtables, not yet flushed to SST files, all column families",
            m.rocksdb_memtable_bytes.clone(),
        );
        r.register(
            "rocksdb_estimated_keys",
            "RocksDB's estimate of its keys (log entries and records included)",
            m.rocksdb_estimated_keys.clone(),
        );
        m
    }

    /// Starts timing, from `start`, a command whose first word is `name`; finish with
    /// [`CommandTimer::finish`]. The caller reads the clock once for all the requests it takes
    /// at a time.
    pub fn command(&self, name: &[u8], start: Instant) -> CommandTimer {
        CommandTimer {
            index: command_index(name),
            start,
        }
    }

    fn series(&self, index: usize) -> &CommandSeries {
        self.series[index].get_or_init(|| {
            let labels = CommandLabels {
                command: table().get(index).map_or(UNKNOWN_COMMAND, |s| s.name),
            };
            CommandSeries {
                count: self.commands.get_or_create_owned(&labels),
                errors: self.command_errors.get_or_create_owned(&labels),
                duration: self.command_duration.get_or_create_owned(&labels),
            }
        })
    }

    /// Counts a client connection the node refused or dropped.
    pub fn shed(&self, reason: ShedReason) {
        self.shed
            .get_or_create(&ShedLabels {
                reason: reason.label(),
            })
            .inc();
    }

    /// The metrics in the OpenMetrics text format ([`CONTENT_TYPE`]), with the figures read at
    /// scrape time taken from `node` (left as they were while the node is still starting).
    pub fn render(&self, node: Option<&Node>) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(node) = node {
            self.refresh(node);
        }
        let mut out = String::with_capacity(16 << 10);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            // Writing to a String cannot fail; a label that cannot be encoded would.
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }

    fn refresh(&self, node: &Node) {
        let topo = node.topology();
        self.cluster_epoch.set(gauge_of(topo.epoch()));
        self.connections.set(gauge_of(node.clients.count() as u64));
        let adm = &node.admission;
        self.requests_in_flight.set(gauge_of(adm.inflight() as u64));
        self.clients_memory_bytes
            .set(gauge_of(adm.clients_memory.load(Ordering::Relaxed) as u64));
        self.hot_clients
            .set(gauge_of(adm.hot_clients.load(Ordering::Relaxed) as u64));
        let refused = adm.refusals.load(Ordering::Relaxed);
        self.overload_refusals
            .inc_by(refused.saturating_sub(self.overload_refusals.get()));
        self.moves_in_flight.set(gauge_of(
            node.control.moves_in_flight.load(Ordering::Relaxed),
        ));
        self.shards.clear();
        let (mut leaders, mut replicas) = (0, 0);
        for (&id, shard) in &node.control.host.hosted() {
            let st = shard.status();
            let leads = st.state == ServerState::Leader;
            let labels = ShardLabels { shard: id };
            let s = &self.shards;
            s.term.get_or_create(&labels).set(gauge_of(st.term));
            s.commit_index
                .get_or_create(&labels)
                .set(gauge_of(st.commit_index));
            s.applied_index
                .get_or_create(&labels)
                .set(gauge_of(st.applied_index));
            s.apply_lag
                .get_or_create(&labels)
                .set(gauge_of(st.commit_index.saturating_sub(st.applied_index)));
            s.is_leader.get_or_create(&labels).set(i64::from(leads));
            s.replication_lag
                .get_or_create(&labels)
                .set(gauge_of(shard.replication_lag()));
            if id != 0 {
                replicas += 1;
                leaders += u64::from(leads);
            }
        }
        self.leaders.set(gauge_of(leaders));
        self.replicas.set(gauge_of(replicas));
        let sizes = node.store.sizes();
        self.rocksdb_live_data_bytes
            .set(gauge_of(sizes.live_data_bytes));
        self.rocksdb_sst_files_bytes
            .set(gauge_of(sizes.sst_files_bytes));
        self.rocksdb_memtable_bytes
            .set(gauge_of(sizes.memtable_bytes));
        self.rocksdb_estimated_keys
            .set(gauge_of(sizes.estimated_keys));
    }
}

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One command being served; records its count, latency and outcome when finished. It holds no
/// reference to the metrics: a shared counter touched twice per request costs more than the
/// request's own bookkeeping once two threads serve requests.
pub struct CommandTimer {
    /// The command's command-table index (see [`command_index`]).
    pub index: usize,
    start: Instant,
}

impl CommandTimer {
    /// Records the command, answered with `reply` at `now`.
    pub fn finish(self, metrics: &Metrics, reply: &Reply, now: Instant) {
        let s = metrics.series(self.index);
        s.count.inc();
        s.duration
            .observe(now.saturating_duration_since(self.start).as_secs_f64());
        if let Reply::Error(e) = reply {
            if !is_redirect(e) {
                s.errors.inc();
            }
        }
    }
}

/// `MOVED`/`ASK` tell a cluster client where to go; they are routing, not failures.
fn is_redirect(error: &str) -> bool {
    error.starts_with("MOVED ") || error.starts_with("ASK ")
}

/// The command-table index of a command whose first word is `name`; the table's length for an
/// unknown command.
pub fn command_index(name: &[u8]) -> usize {
    position(name).unwrap_or(table().len())
}

/// The name of command-table index `index` ([`UNKNOWN_COMMAND`] past the table).
pub fn command_name(index: usize) -> &'static str {
    table().get(index).map_or(UNKNOWN_COMMAND, |s| s.name)
}

/// The `command` label of a command whose first word is `name`: its lower-case table name, or
/// [`UNKNOWN_COMMAND`], so clients cannot mint label values.
pub fn command_label(name: &[u8]) -> &'static str {
    table()
        .get(command_index(name))
        .map_or(UNKNOWN_COMMAND, |s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_labels_are_bounded_to_the_table() {
        assert_eq!(command_label(b"SET"), "set");
        assert_eq!(command_label(b"get"), "get");
        assert_eq!(command_label(b"TaNlI.Id"), "tanli.id");
        assert_eq!(command_label(b"nosuchcommand"), UNKNOWN_COMMAND);
        assert_eq!(command_label(b""), UNKNOWN_COMMAND);
        assert_eq!(command_label(&[b'a'; 1000]), UNKNOWN_COMMAND);
        assert_eq!(command_label(&[0xff, 0xfe]), UNKNOWN_COMMAND);
        // Subcommands are not labels of their own: `client|id` is not a first word.
        assert_eq!(command_label(b"client|id"), UNKNOWN_COMMAND);
        let longest = table()
            .iter()
            .copied()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0);
        assert!(longest <= crate::cmd::table::NAME_BYTES_MAX);
    }

    #[test]
    fn recorded_commands_appear_with_their_latency_and_errors() {
        let m = Metrics::new();
        let run = |name: &[u8], reply: Reply| {
            let start = Instant::now();
            m.command(name, start).finish(&m, &reply, Instant::now());
        };
        run(b"SET", Reply::ok());
        run(b"Set", Reply::Error("ERR syntax error".into()));
        run(b"GET", Reply::Error("MOVED 1 127.0.0.1:7000".into()));
        run(b"bogus", Reply::Error("ERR unknown command".into()));
        m.shed(ShedReason::ConnectionsMax);
        let text = m.render(None);
        for line in [
            "tanli_commands_total{command=\"set\"} 2",
            "tanli_command_errors_total{command=\"set\"} 1",
            "tanli_command_errors_total{command=\"get\"} 0",
            "tanli_commands_total{command=\"unknown\"} 1",
            "tanli_command_duration_seconds_count{command=\"set\"} 2",
            "tanli_connections_shed_total{reason=\"connections_max\"} 1",
            "tanli_connections_shed_total{reason=\"protocol_error\"} 0",
            "tanli_placement_moves_in_flight 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(
            text.lines().any(|l| l.starts_with(
                "tanli_command_duration_seconds_bucket{le=\"0.00005\",command=\"set\"}"
            )),
            "no 50 µs latency bucket in\n{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
