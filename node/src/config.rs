//! Configuration: flags, `TANLI_*` environment variables and an optional TOML file, in that order
//! of precedence, resolved once into a [`Config`] where every limit is a named field with its unit.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

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
    /// Data directory (a mounted volume): Raft logs, data and the node's identity.
    #[arg(long, env = "TANLI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Password clients must give with AUTH (or HELLO ... AUTH).
    #[arg(long, env = "TANLI_REQUIREPASS")]
    pub requirepass: Option<String>,
    /// Log level: debug, verbose, notice or warning (as redis-server), or a tracing filter.
    #[arg(long, env = "TANLI_LOGLEVEL")]
    pub loglevel: Option<String>,
    /// This node's id in a static cluster.
    #[arg(long, env = "TANLI_NODE_ID")]
    pub node_id: Option<u64>,
    /// Static cluster members: `id=host:port@cluster_port,...` (this node included).
    #[arg(long, env = "TANLI_PEERS", value_delimiter = ',')]
    pub peers: Option<Vec<String>>,
    /// Cluster name; recorded in the data directory, which then refuses any other cluster.
    #[arg(long, env = "TANLI_CLUSTER_ID")]
    pub cluster_id: Option<String>,
    /// Initialise the shards' membership with all peers (on exactly one node, first start only).
    #[arg(long, env = "TANLI_BOOTSTRAP")]
    #[serde(default)]
    pub bootstrap: bool,
    /// Bounds; in a TOML file they go in a `[limits]` table.
    #[command(flatten)]
    #[serde(default)]
    pub limits: LimitArgs,
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
}

/// A static cluster member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: u64,
    pub resp_addr: SocketAddr,
    pub cluster_addr: SocketAddr,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: IpAddr,
    pub port: u16,
    pub cluster_port: u16,
    pub data_dir: PathBuf,
    pub requirepass: Option<String>,
    pub loglevel: String,
    pub node_id: Option<u64>,
    pub peers: Vec<Peer>,
    pub cluster_id: Option<String>,
    pub bootstrap: bool,
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
    pub snapshot_logs_since_last: u64,
    pub expiry_reclaim_interval_ms: u64,
    pub expiry_reclaim_keys_max: usize,
    pub read_timeout_ms: u64,
    pub write_timeout_ms: u64,
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
        let peers = a
            .peers
            .clone()
            .or(f.peers.clone())
            .unwrap_or_default()
            .iter()
            .map(|p| parse_peer(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let config = Config {
            bind: pick!(bind, IpAddr::from([127, 0, 0, 1])),
            port,
            cluster_port,
            data_dir: pick!(data_dir, PathBuf::from("tanli-data")),
            requirepass: a.requirepass.clone().or(f.requirepass.clone()),
            loglevel: pick!(loglevel, "notice".to_string()),
            node_id: a.node_id.or(f.node_id),
            peers,
            cluster_id: a.cluster_id.clone().or(f.cluster_id.clone()),
            bootstrap: a.bootstrap || f.bootstrap,
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
            snapshot_logs_since_last: limit!(snapshot_logs_since_last, 100_000),
            expiry_reclaim_interval_ms: limit!(expiry_reclaim_interval_ms, 100),
            expiry_reclaim_keys_max: limit!(expiry_reclaim_keys_max, 256),
            read_timeout_ms: limit!(read_timeout_ms, 5_000),
            write_timeout_ms: limit!(write_timeout_ms, 10_000),
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
            self.pipeline_depth_max > 0 && self.connections_max > 0 && self.proposal_queue_max > 0,
            "limits must be positive"
        );
        if !self.peers.is_empty() {
            let id = self
                .node_id
                .ok_or_else(|| anyhow::anyhow!("--peers needs --node-id"))?;
            anyhow::ensure!(
                self.peers.iter().any(|p| p.id == id),
                "--peers must list this node (id {id})"
            );
            anyhow::ensure!(
                self.cluster_id.is_some(),
                "--peers needs --cluster-id (the same on every member)"
            );
            let mut ids: Vec<u64> = self.peers.iter().map(|p| p.id).collect();
            ids.sort_unstable();
            ids.dedup();
            anyhow::ensure!(ids.len() == self.peers.len(), "--peers lists an id twice");
        } else {
            anyhow::ensure!(!self.bootstrap, "--bootstrap needs --peers");
        }
        Ok(())
    }
}

/// `id=host:port@cluster_port`.
fn parse_peer(s: &str) -> anyhow::Result<Peer> {
    let bad = || anyhow::anyhow!("peer {s:?}: expected id=host:port@cluster_port");
    let (id, rest) = s.trim().split_once('=').ok_or_else(bad)?;
    let (resp, cport) = rest.split_once('@').ok_or_else(bad)?;
    let resp_addr: SocketAddr = resp.parse().map_err(|_| bad())?;
    let cport: u16 = cport.parse().map_err(|_| bad())?;
    Ok(Peer {
        id: id.parse().map_err(|_| bad())?,
        resp_addr,
        cluster_addr: SocketAddr::new(resp_addr.ip(), cport),
    })
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
        assert_eq!((c.port, c.cluster_port), (6379, 16379));
        assert_eq!(c.data_dir, PathBuf::from("tanli-data"));
        let c = Config::resolve(args(&["--port", "7000"])).expect("config");
        assert_eq!(c.cluster_port, 17000);
    }

    #[test]
    fn peers_parse_and_validate() {
        let c = Config::resolve(args(&[
            "--node-id",
            "2",
            "--cluster-id",
            "t",
            "--peers",
            "1=127.0.0.1:7001@17001,2=127.0.0.1:7002@17002",
        ]))
        .expect("config");
        assert_eq!(
            c.peers[1].cluster_addr,
            "127.0.0.1:17002".parse().expect("addr")
        );
        assert!(Config::resolve(args(&["--peers", "1=127.0.0.1:7001@17001"])).is_err());
        assert!(Config::resolve(args(&[
            "--node-id",
            "1",
            "--cluster-id",
            "t",
            "--peers",
            "1=nonsense"
        ]))
        .is_err());
        assert!(Config::resolve(args(&["--bootstrap"])).is_err());
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
}
