//! Starting and stopping a node: bind the listeners, open the data directory, establish the
//! node's identity (restart: from the directory; first start: bootstrap a new cluster, or join
//! one through `--join`), start the meta replica, gossip and the control loop (which starts the
//! data shards the map gives this node), then accept clients until shutdown.
//!
//! A server is a function of its configuration and a shutdown token, so tests and the binary
//! start it the same way. Listeners are bound before the data directory is touched, so a taken
//! port changes nothing on disk.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tanli_router::{NodeId, NodeInfo, NodeState};
use tanli_storage::types::PeerAddr;
use tanli_storage::{Identity, ShardReader, Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::admission::Admission;
use crate::clients::Clients;
use crate::config::Config;
use crate::conn_threads::Connections;
use crate::connection;
use crate::control::client;
use crate::control::gossip::{Announcement, Gossip, GossipConfig, Phase};
use crate::control::host::Host;
use crate::control::meta::{MetaCmd, MetaReply, MetaState};
use crate::control::plane::{self, Control};
use crate::control::topology::Topology;
use crate::http::{self, Admin};
use crate::metrics::{Metrics, ShedReason};
use crate::raft::service::{self, ControlService, ControlSlot, Registry, ServiceConfig};
use crate::raft::transport::{Transport, TransportConfig};
use crate::raft::RpcStats;
use crate::shard::Shard;

/// What every connection shares.
pub struct Node {
    pub config: Config,
    pub identity: Identity,
    pub resp_addr: SocketAddr,
    pub cluster_addr: SocketAddr,
    pub clients: Arc<Clients>,
    pub store: Store,
    pub started: Instant,
    pub commands_processed: AtomicU64,
    /// Node-to-node traffic, for INFO stats.
    pub rpc_stats: Arc<RpcStats>,
    /// The control plane's newest published view.
    pub topology: watch::Receiver<Arc<Topology>>,
    /// The control plane, for commands that need the meta shard (client ids, worker ids).
    pub control: Arc<Control>,
    /// This node's Snowflake generator for `TANLI.ID`.
    pub ids: crate::admin::IdSource,
    /// What `/metrics` on the admin port reports.
    pub metrics: Arc<Metrics>,
    /// Requests in flight, overload refusals and shedding of clients.
    pub admission: Arc<Admission>,
}

impl Node {
    /// The current topology (a cheap `Arc` clone; never blocks on the control plane).
    pub fn topology(&self) -> Arc<Topology> {
        self.topology.borrow().clone()
    }
}

/// Where a started server listens.
#[derive(Debug, Clone)]
pub struct Bound {
    pub node_id: u64,
    pub resp_addr: SocketAddr,
    pub cluster_addr: SocketAddr,
    /// The HTTP admin port (`/metrics`, `/health`).
    pub admin_addr: SocketAddr,
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("Could not bind {what} port {addr}"))
}

/// Checks that a data directory that already has an identity may start with this config.
fn check_identity(id: &Identity, cfg: &Config) -> anyhow::Result<()> {
    if let Some(want) = &cfg.cluster_id {
        anyhow::ensure!(
            *want == id.cluster_id,
            "data directory {} belongs to cluster {:?}, not {want:?}; refusing to start",
            cfg.data_dir.display(),
            id.cluster_id
        );
    }
    Ok(())
}

/// How this start came to have an identity.
enum Origin {
    /// Restart: identity from the data directory.
    Existing,
    /// First start without `--join`: a new cluster.
    Bootstrap,
    /// First start with `--join`: the cluster gave this node its id.
    Joined,
}

/// Establishes (first start: bootstrap or join) or checks (restart) who this node is.
async fn identity(
    store: &Store,
    cfg: &Config,
    adv: (SocketAddr, SocketAddr),
) -> anyhow::Result<(Identity, Origin)> {
    if let Some(id) = store.identity()? {
        check_identity(&id, cfg)?;
        return Ok((id, Origin::Existing));
    }
    if cfg.join.is_empty() {
        let id = Identity {
            node_id: 1,
            cluster_id: cfg
                .cluster_id
                .clone()
                .unwrap_or_else(|| format!("tanli-{:016x}", rand::random::<u64>())),
        };
        store.set_identity(&id)?;
        return Ok((id, Origin::Bootstrap));
    }
    // A stranger's transport: no cluster id yet, so peers accept only control requests from it.
    let transport = Transport::new(transport_config(cfg, String::new(), 0, Arc::default()));
    let mut seeds = Vec::new();
    for s in &cfg.join {
        let found = tokio::net::lookup_host(s.as_str())
            .await
            .with_context(|| format!("--join address {s:?}"))?;
        seeds.extend(found);
    }
    anyhow::ensure!(!seeds.is_empty(), "--join names no reachable address");
    let cmd = MetaCmd::Join {
        resp_addr: adv.0.to_string(),
        cluster_addr: adv.1.to_string(),
        weight: cfg.weight,
    };
    let (reply, cluster_id) = client::propose_meta(
        &transport,
        &seeds,
        &cmd,
        Duration::from_millis(cfg.control_rpc_timeout_ms),
        Duration::from_millis(cfg.join_timeout_ms),
    )
    .await
    .context("joining the cluster")?;
    let MetaReply::Joined { node, .. } = reply else {
        anyhow::bail!("the cluster refused the join: {reply:?}");
    };
    if let Some(want) = &cfg.cluster_id {
        anyhow::ensure!(
            *want == cluster_id,
            "--join reached cluster {cluster_id:?}, not {want:?}"
        );
    }
    let id = Identity {
        node_id: node.0,
        cluster_id,
    };
    store.set_identity(&id)?;
    tracing::info!(node = node.0, cluster = %id.cluster_id, "joined the cluster");
    Ok((id, Origin::Joined))
}

fn transport_config(
    cfg: &Config,
    cluster_id: String,
    node_id: u64,
    stats: Arc<RpcStats>,
) -> TransportConfig {
    TransportConfig {
        stats,
        bind: cfg.bind,
        cluster_id,
        node_id,
        frame_bytes_max: cfg.rpc_frame_bytes_max,
        connect_timeout: Duration::from_millis(cfg.rpc_connect_timeout_ms),
        inflight_max: cfg.rpc_inflight_max,
    }
}

/// Runs a node until `shutdown` is cancelled. `ready` receives the bound addresses once clients
/// can connect. The admin port answers from the start (`/health`: 503 until then).
pub async fn run(
    cfg: Config,
    shutdown: CancellationToken,
    ready: tokio::sync::oneshot::Sender<Bound>,
) -> anyhow::Result<()> {
    let resp_listener = bind(SocketAddr::new(cfg.bind, cfg.port), "client").await?;
    let cluster_listener = bind(SocketAddr::new(cfg.bind, cfg.cluster_port), "cluster").await?;
    let admin_listener = bind(SocketAddr::new(cfg.bind, cfg.admin_port), "admin").await?;
    let resp_addr = resp_listener.local_addr()?;
    let cluster_addr = cluster_listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;
    let admin = Arc::new(Admin::new(Arc::new(Metrics::new())));
    let admin_stop = shutdown.child_token();
    // Whatever way `run` ends, the admin port closes.
    let _admin_stop_on_return = admin_stop.clone().drop_guard();
    let admin_task = tokio::spawn(http::serve(
        admin_listener,
        admin.clone(),
        admin_stop.clone(),
    ));
    let adv_ip = match cfg.advertise {
        Some(ip) => ip,
        None if cfg.bind.is_unspecified() => {
            anyhow::bail!("--bind {} is a wildcard: give --advertise with the address peers and clients should use", cfg.bind)
        }
        None => cfg.bind,
    };
    let adv = (
        SocketAddr::new(adv_ip, resp_addr.port()),
        SocketAddr::new(adv_ip, cluster_addr.port()),
    );

    if cfg.unsafe_stale_reads {
        tracing::warn!("--unsafe-stale-reads: reads skip the leader check and may be stale; for the fault-injection suite only");
    }
    let store_options = StoreOptions {
        block_cache_bytes: cfg.block_cache_bytes,
        record_cache_bytes: cfg.record_cache_bytes,
        data_memtable_bytes: cfg.data_memtable_bytes,
        ..StoreOptions::default()
    };
    let store = Store::open(&cfg.data_dir, &store_options)?;
    let (identity, origin) = identity(&store, &cfg, adv).await?;
    let span = tracing::info_span!("node", id = identity.node_id);
    let bound = Bound {
        node_id: identity.node_id,
        resp_addr,
        cluster_addr,
        admin_addr,
    };
    let opened = Opened {
        cfg,
        store,
        identity,
        origin,
        adv,
        resp_listener,
        cluster_listener,
        admin,
        bound,
    };
    let served = serve_node(opened, shutdown, ready).instrument(span).await;
    // The node's tasks are done: let the admin port drop its handle on the node before the
    // store closes.
    admin_stop.cancel();
    let _ = admin_task.await;
    served
}

/// A node whose data directory is open and whose identity is known.
struct Opened {
    cfg: Config,
    store: Store,
    identity: Identity,
    origin: Origin,
    /// Advertised (RESP, cluster) addresses.
    adv: (SocketAddr, SocketAddr),
    resp_listener: TcpListener,
    cluster_listener: TcpListener,
    admin: Arc<Admin>,
    /// What `ready` receives once clients can connect.
    bound: Bound,
}

/// The rest of a node's life, inside its `node{id}` span (every task spawned from here carries
/// it, so log lines say which node): start the meta replica, gossip and the control loop, then
/// serve clients until `shutdown`.
async fn serve_node(
    opened: Opened,
    shutdown: CancellationToken,
    ready: tokio::sync::oneshot::Sender<Bound>,
) -> anyhow::Result<()> {
    let Opened {
        cfg,
        store,
        identity,
        origin,
        adv,
        resp_listener,
        cluster_listener,
        admin,
        bound,
    } = opened;
    let me = NodeId(identity.node_id);
    tracing::info!(node = identity.node_id, cluster = %identity.cluster_id, dir = %cfg.data_dir.display(), "data directory opened");

    let rpc_stats: Arc<RpcStats> = Arc::default();
    let transport = Transport::new(transport_config(
        &cfg,
        identity.cluster_id.clone(),
        identity.node_id,
        rpc_stats.clone(),
    ));
    let registry: Registry = Arc::new(RwLock::new(HashMap::new()));
    let control_slot: ControlSlot = Arc::default();
    crate::spawn(service::serve(
        cluster_listener,
        registry.clone(),
        control_slot.clone(),
        ServiceConfig {
            stats: rpc_stats.clone(),
            cluster_id: identity.cluster_id.clone(),
            frame_bytes_max: cfg.rpc_frame_bytes_max,
            inflight_max: cfg.rpc_inflight_max,
            votes_held_until: crate::raft::service::hold_votes_until(&cfg),
        },
        shutdown.clone(),
    ));
    let host = Host::new(
        store.clone(),
        &cfg,
        transport,
        Arc::default(),
        registry,
        shutdown.clone(),
    )?;
    let meta = host
        .ensure(0, identity.node_id, plane::meta_applier())
        .await?;
    let me_addr = PeerAddr {
        node_id: me.0,
        cluster_addr: adv.1.to_string(),
        resp_addr: adv.0.to_string(),
    };
    // A new cluster; or node 1 of one whose first start stopped between recording its identity
    // and committing the first map (both steps are idempotent).
    // Only while the meta shard still has node 1 as its sole voter: once others joined, the map
    // exists (they joined through it).
    let alone = meta
        .status()
        .membership
        .membership()
        .voter_ids()
        .eq([identity.node_id]);
    let unfinished = matches!(origin, Origin::Existing)
        && identity.node_id == 1
        && cfg.join.is_empty()
        && alone
        && MetaState::read(&meta.reader)?.is_none();
    if matches!(origin, Origin::Bootstrap) || unfinished {
        bootstrap(&host, &meta, me_addr.clone(), &cfg).await?;
    }
    let gossip = start_gossip(&cfg, &identity, &store, adv).await?;
    let control = Control::new(
        me,
        identity.cluster_id.clone(),
        cfg.clone(),
        host,
        adv,
        gossip,
    );
    let _ = control_slot.set(control.clone() as Arc<dyn ControlService>);
    crate::spawn(control.clone().run(shutdown.clone()));
    let mut topology = control.topo.subscribe();
    wait_until_serving(&mut topology, &origin, &cfg).await?;

    let node = Arc::new(Node {
        config: cfg.clone(),
        identity: identity.clone(),
        resp_addr: adv.0,
        cluster_addr: adv.1,
        clients: Arc::new(Clients::default()),
        store,
        started: Instant::now(),
        commands_processed: AtomicU64::new(0),
        topology,
        rpc_stats,
        control: control.clone(),
        ids: crate::admin::IdSource::default(),
        metrics: admin.metrics.clone(),
        admission: Admission::new(cfg.admission.clone()),
    });
    crate::spawn(node.admission.clone().run(
        node.clients.clone(),
        node.metrics.clone(),
        shutdown.clone(),
    ));
    let connections = Connections::start(cfg.connection_threads, cfg.yield_before_park, &shutdown)
        .context("starting the connection threads")?;
    tracing::info!(
        connection_threads = connections.threads(),
        yield_before_park = cfg.yield_before_park,
        "serving clients"
    );
    admin.serving(node.clone());
    let _ = ready.send(bound);
    accept(resp_listener, node.clone(), &connections, shutdown.clone()).await;
    connections.closed().await;
    control.host.shutdown().await;
    Ok(())
}

/// A new cluster: this node is the meta shard's only voter, and the first meta entry creates the
/// map with `initial_shards` data shards on this node.
async fn bootstrap(host: &Host, meta: &Shard, me: PeerAddr, cfg: &Config) -> anyhow::Result<()> {
    host.initialize_alone(meta, me.clone(), me.node_id).await?;
    let node = NodeInfo {
        id: NodeId(me.node_id),
        resp_addr: me.resp_addr,
        cluster_addr: me.cluster_addr,
        state: NodeState::Up,
        weight: cfg.weight,
    };
    let cmd = MetaCmd::Bootstrap {
        node,
        shards: cfg.initial_shards,
    };
    let deadline = Instant::now() + Duration::from_millis(cfg.join_timeout_ms);
    loop {
        let outcome = match meta.submit_raw(cmd.encode()) {
            Ok(f) => f.await,
            Err(e) => Err(e),
        };
        match outcome.map(|b| MetaReply::decode(&b)) {
            Ok(Ok(MetaReply::Done { .. })) => return Ok(()),
            Ok(other) => anyhow::bail!("bootstrapping the cluster map: {other:?}"),
            Err(e) if Instant::now() > deadline => {
                anyhow::bail!("bootstrapping the cluster map: {e:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn start_gossip(
    cfg: &Config,
    identity: &Identity,
    store: &Store,
    adv: (SocketAddr, SocketAddr),
) -> anyhow::Result<Gossip> {
    // Seeds: the --join addresses, and every other node the local map knows (a restarted node
    // finds its peers without flags).
    let mut seeds = cfg.join.clone();
    let reader = ShardReader::new(store.clone(), 0);
    if let Ok(Some(state)) = MetaState::read(&reader) {
        if let Ok(map) = state.map() {
            seeds.extend(
                map.nodes()
                    .values()
                    .filter(|n| n.id.0 != identity.node_id)
                    .map(|n| n.cluster_addr.clone()),
            );
        }
    }
    let me = Announcement {
        node_id: identity.node_id,
        resp_addr: adv.0,
        cluster_addr: adv.1,
        phase: Phase::Joining,
        epoch: 0,
        leads: Vec::new(),
        load: 0,
        keys: 0,
        bytes: 0,
        led: Vec::new(),
    };
    Gossip::start(
        GossipConfig {
            cluster_id: identity.cluster_id.clone(),
            listen_addr: SocketAddr::new(cfg.bind, adv.1.port()),
            advertise_addr: adv.1,
            seeds,
            interval: Duration::from_millis(cfg.gossip_interval_ms),
            phi_threshold: cfg.gossip_phi_threshold,
            dead_node_grace: Duration::from_millis(cfg.gossip_dead_grace_ms),
        },
        &me,
    )
    .await
}

/// Waits until the node can serve: it has a cluster map, and (a new cluster) leads every
/// initial shard, so the first client of a fresh node is served at once. A node that just
/// joined also waits, briefly, to hear another node by gossip, so it can redirect clients to
/// the shards' leaders from its first request.
async fn wait_until_serving(
    topology: &mut watch::Receiver<Arc<Topology>>,
    origin: &Origin,
    cfg: &Config,
) -> anyhow::Result<()> {
    let within = Duration::from_millis(cfg.join_timeout_ms);
    let wanted = |t: &Arc<Topology>| match (origin, &t.map) {
        (_, None) => false,
        (Origin::Bootstrap, Some(m)) => {
            let shards = m.shards().len().saturating_sub(1);
            t.shards.len() == shards && t.shards.values().all(|s| s.is_leader())
        }
        _ => true,
    };
    tokio::time::timeout(within, topology.wait_for(wanted))
        .await
        .map_err(|_| anyhow::anyhow!("no cluster map within {within:?}"))?
        .map_err(|_| anyhow::anyhow!("control plane stopped"))?;
    if let Origin::Joined = origin {
        let heard = |t: &Arc<Topology>| t.live.keys().any(|n| *n != t.me.0);
        let hearing = tokio::time::timeout(JOINED_GOSSIP_WAIT, topology.wait_for(heard)).await;
        if hearing.is_err() {
            tracing::warn!(
                "no other node heard by gossip within {JOINED_GOSSIP_WAIT:?}; serving anyway"
            );
        }
    }
    Ok(())
}

/// How long a node that just joined waits to hear its peers by gossip before serving.
const JOINED_GOSSIP_WAIT: Duration = Duration::from_secs(10);

async fn accept(
    listener: TcpListener,
    node: Arc<Node>,
    connections: &Connections,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(node.config.connections_max));
    loop {
        let (stream, addr) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            node.metrics.shed(ShedReason::ConnectionsMax);
            tokio::spawn(connection::refuse(
                stream,
                "ERR max number of clients reached",
            ));
            continue;
        };
        let (node, shutdown) = (node.clone(), shutdown.clone());
        connections.spawn(stream, move |stream| async move {
            connection::serve(stream, addr, node, shutdown).await;
            drop(permit);
        });
    }
}
