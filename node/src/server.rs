//! Starting and stopping a node: bind the listeners, open the data directory, check the node's
//! identity, start each shard's Raft, then accept clients until shutdown.
//!
//! A server is a function of its configuration and a shutdown token, so tests and the binary
//! start it the same way. Listeners are bound before the data directory is touched, so a taken
//! port changes nothing on disk.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tanli_storage::types::{PeerAddr, Raft};
use tanli_storage::{
    Identity, LogReadLimits, LogStore, ShardReader, StateMachine, Store, StoreOptions,
};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::clients::Clients;
use crate::config::Config;
use crate::connection;
use crate::raft::network::ShardNetworkFactory;
use crate::raft::service::{self, Registry, ServiceConfig};
use crate::raft::transport::{Transport, TransportConfig};
use crate::route::{Routes, DATA_SHARD};
use crate::shard::{Shard, ShardLimits};

/// What every connection shares.
pub struct Node {
    pub config: Config,
    pub identity: Identity,
    pub resp_addr: SocketAddr,
    pub cluster_addr: SocketAddr,
    pub routes: Routes,
    pub clients: Arc<Clients>,
    pub store: Store,
    pub started: Instant,
    pub commands_processed: AtomicU64,
    /// The control plane's newest published view.
    pub topology: tokio::sync::watch::Receiver<Arc<crate::control::topology::Topology>>,
}

impl Node {
    /// The current topology (a cheap `Arc` clone; never blocks on the control plane).
    pub fn topology(&self) -> Arc<crate::control::topology::Topology> {
        self.topology.borrow().clone()
    }
}

/// Where a started server listens.
#[derive(Debug, Clone)]
pub struct Bound {
    pub node_id: u64,
    pub resp_addr: SocketAddr,
    pub cluster_addr: SocketAddr,
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("Could not bind {what} port {addr}"))
}

/// Establishes (first start) or checks (restart) who this data directory belongs to.
fn identity(store: &Store, cfg: &Config) -> anyhow::Result<Identity> {
    let dir = cfg.data_dir.display();
    match store.identity()? {
        Some(id) => {
            if let Some(want) = &cfg.cluster_id {
                anyhow::ensure!(
                    *want == id.cluster_id,
                    "data directory {dir} belongs to cluster {:?}, not {want:?}; refusing to start",
                    id.cluster_id
                );
            }
            if let Some(want) = cfg.node_id {
                anyhow::ensure!(
                    want == id.node_id,
                    "data directory {dir} belongs to node {}, not node {want}; refusing to start",
                    id.node_id
                );
            }
            Ok(id)
        }
        None => {
            let id = Identity {
                node_id: cfg.node_id.unwrap_or(1),
                cluster_id: cfg
                    .cluster_id
                    .clone()
                    .unwrap_or_else(|| format!("tanli-{:016x}", rand::random::<u64>())),
            };
            store.set_identity(&id)?;
            Ok(id)
        }
    }
}

/// Runs a node until `shutdown` is cancelled. `ready` receives the bound addresses once clients
/// can connect.
pub async fn run(
    cfg: Config,
    shutdown: CancellationToken,
    ready: tokio::sync::oneshot::Sender<Bound>,
) -> anyhow::Result<()> {
    let resp_listener = bind(SocketAddr::new(cfg.bind, cfg.port), "client").await?;
    let cluster_listener = bind(SocketAddr::new(cfg.bind, cfg.cluster_port), "cluster").await?;
    let resp_addr = resp_listener.local_addr()?;
    let cluster_addr = cluster_listener.local_addr()?;

    let store = Store::open(&cfg.data_dir, &StoreOptions::default())?;
    let identity = identity(&store, &cfg)?;
    tracing::info!(node = identity.node_id, cluster = %identity.cluster_id, dir = %cfg.data_dir.display(), "data directory opened");

    let transport = Transport::new(TransportConfig {
        bind: cfg.bind,
        cluster_id: identity.cluster_id.clone(),
        node_id: identity.node_id,
        frame_bytes_max: cfg.rpc_frame_bytes_max,
        connect_timeout: Duration::from_millis(cfg.rpc_connect_timeout_ms),
        inflight_max: cfg.rpc_inflight_max,
    });
    let registry: Registry = Arc::new(RwLock::new(HashMap::new()));
    tokio::spawn(service::serve(
        cluster_listener,
        registry.clone(),
        ServiceConfig {
            cluster_id: identity.cluster_id.clone(),
            frame_bytes_max: cfg.rpc_frame_bytes_max,
            inflight_max: cfg.rpc_inflight_max,
        },
        shutdown.clone(),
    ));

    let shard = start_shard(
        &cfg,
        &store,
        &identity,
        resp_addr,
        cluster_addr,
        transport,
        &registry,
        shutdown.clone(),
    )
    .await?;
    let node = Arc::new(Node {
        config: cfg.clone(),
        identity: identity.clone(),
        resp_addr,
        cluster_addr,
        routes: Routes::new(vec![shard.clone()]),
        clients: Arc::new(Clients::default()),
        store,
        started: Instant::now(),
        commands_processed: AtomicU64::new(0),
        topology: tokio::sync::watch::channel(Arc::new(crate::control::topology::Topology::empty(
            tanli_router::NodeId(identity.node_id),
        )))
        .1,
    });
    let _ = ready.send(Bound {
        node_id: identity.node_id,
        resp_addr,
        cluster_addr,
    });
    accept(resp_listener, node.clone(), shutdown.clone()).await;
    if let Err(e) = shard.raft.shutdown().await {
        tracing::warn!(error = %e, "raft shutdown");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn start_shard(
    cfg: &Config,
    store: &Store,
    identity: &Identity,
    resp_addr: SocketAddr,
    cluster_addr: SocketAddr,
    transport: Arc<Transport>,
    registry: &Registry,
    shutdown: CancellationToken,
) -> anyhow::Result<Arc<Shard>> {
    let shard_id = DATA_SHARD;
    let log = LogStore::new(store.clone(), shard_id, LogReadLimits::default());
    let sm = StateMachine::open(store.clone(), shard_id, Arc::new(crate::cmd::Applier))?;
    let network = ShardNetworkFactory {
        transport,
        shard: shard_id,
    };
    // In the static layout a replica's Raft id is its node id (the cluster issue allocates
    // never-reused peer ids instead).
    let raft = Raft::new(
        identity.node_id,
        crate::raft::raft_config(cfg)?,
        network,
        log,
        sm,
    )
    .await
    .map_err(|e| anyhow::anyhow!("starting shard {shard_id}: {e}"))?;
    registry
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(shard_id, raft.clone());
    if !raft
        .is_initialized()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        let members: BTreeMap<u64, PeerAddr> = if cfg.peers.is_empty() {
            BTreeMap::from([(
                identity.node_id,
                PeerAddr {
                    node_id: identity.node_id,
                    cluster_addr: cluster_addr.to_string(),
                    resp_addr: resp_addr.to_string(),
                },
            )])
        } else if cfg.bootstrap {
            cfg.peers
                .iter()
                .map(|p| {
                    (
                        p.id,
                        PeerAddr {
                            node_id: p.id,
                            cluster_addr: p.cluster_addr.to_string(),
                            resp_addr: p.resp_addr.to_string(),
                        },
                    )
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        if !members.is_empty() {
            raft.initialize(members)
                .await
                .map_err(|e| anyhow::anyhow!("initialising shard {shard_id}: {e}"))?;
        }
    }
    let reader = ShardReader::new(store.clone(), shard_id);
    let limits = ShardLimits {
        read_timeout: Duration::from_millis(cfg.read_timeout_ms),
        write_timeout: Duration::from_millis(cfg.write_timeout_ms),
        reclaim_interval: Duration::from_millis(cfg.expiry_reclaim_interval_ms),
        reclaim_keys_max: cfg.expiry_reclaim_keys_max,
        proposal_queue_max: cfg.proposal_queue_max,
    };
    Ok(Shard::start(shard_id, raft, reader, limits, shutdown))
}

async fn accept(listener: TcpListener, node: Arc<Node>, shutdown: CancellationToken) {
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
            tokio::spawn(connection::refuse(
                stream,
                "ERR max number of clients reached",
            ));
            continue;
        };
        let (node, shutdown) = (node.clone(), shutdown.clone());
        tokio::spawn(async move {
            connection::serve(stream, addr, node, shutdown).await;
            drop(permit);
        });
    }
}
