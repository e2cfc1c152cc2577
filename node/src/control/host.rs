//! The Raft groups hosted on this node: creating one (with the peer id the cluster map gave it)
//! and removing one (stop its Raft, then delete its data). Only the control loop calls these;
//! a request handler never creates or removes a group.
//!
//! Every group shares the node's RocksDB, its peer transport and its address book. The peer id
//! of each hosted replica is recorded in the data directory; a replica found on disk under
//! another peer id is a leftover of an earlier membership and is wiped before the new one starts
//! (a peer id is never reused, so stale Raft state cannot pass for the new replica's).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use tanli_storage::types::{PeerAddr, Raft};
use tanli_storage::{Applier, LogReadLimits, LogStore, ShardReader, StateMachine, Store};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::Config;
use crate::raft::network::{AddressBook, ShardNetworkFactory};
use crate::raft::service::Registry;
use crate::raft::transport::Transport;
use crate::shard::{Shard, ShardLimits};

struct Hosted {
    shard: Arc<Shard>,
    peer: u64,
    stop: CancellationToken,
}

pub struct Host {
    pub store: Store,
    cfg: Config,
    raft_config: Arc<openraft::Config>,
    pub transport: Arc<Transport>,
    pub book: AddressBook,
    registry: Registry,
    shutdown: CancellationToken,
    /// A tokio mutex: creating a group awaits Raft's start; one change at a time.
    groups: tokio::sync::Mutex<BTreeMap<u64, Hosted>>,
    /// A copy for synchronous readers (the control loop's snapshot of what is hosted).
    view: RwLock<BTreeMap<u64, Arc<Shard>>>,
}

impl Host {
    pub fn new(
        store: Store,
        cfg: &Config,
        transport: Arc<Transport>,
        book: AddressBook,
        registry: Registry,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Host> {
        Ok(Host {
            store,
            raft_config: crate::raft::raft_config(cfg)?,
            cfg: cfg.clone(),
            transport,
            book,
            registry,
            shutdown,
            groups: tokio::sync::Mutex::new(BTreeMap::new()),
            view: RwLock::new(BTreeMap::new()),
        })
    }

    /// The hosted groups now, by shard id (the meta shard is 0).
    pub fn hosted(&self) -> BTreeMap<u64, Arc<Shard>> {
        self.view.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Starts `shard` here as Raft peer `peer`, unless it already runs. Does not initialise it:
    /// a new replica waits for its leader to add it.
    pub async fn ensure(
        &self,
        shard: u64,
        peer: u64,
        applier: Arc<dyn Applier>,
    ) -> anyhow::Result<Arc<Shard>> {
        let mut groups = self.groups.lock().await;
        if let Some(h) = groups.get(&shard) {
            if h.peer == peer {
                return Ok(h.shard.clone());
            }
        }
        if let Some(old) = groups.remove(&shard) {
            tracing::warn!(
                shard,
                old = old.peer,
                new = peer,
                "replacing a replica of another peer id"
            );
            self.stop(shard, old).await;
        }
        match self.store.replica_peer(shard)? {
            Some(p) if p != peer => {
                tracing::info!(shard, old = p, new = peer, "wiping a leftover replica");
                self.store.drop_replica(shard)?;
            }
            _ => {}
        }
        self.store.set_replica_peer(shard, peer)?;
        let log = LogStore::new(self.store.clone(), shard, LogReadLimits::default());
        let sm = StateMachine::open(self.store.clone(), shard, applier)?;
        let network = ShardNetworkFactory {
            transport: self.transport.clone(),
            shard,
            book: self.book.clone(),
        };
        // Raft's own tasks start under a `shard{id}` span, so their log lines say which shard.
        let raft = Raft::new(peer, self.raft_config.clone(), network, log, sm)
            .instrument(tracing::info_span!("shard", id = shard))
            .await
            .map_err(|e| anyhow::anyhow!("starting shard {shard}: {e}"))?;
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shard, raft.clone());
        let stop = self.shutdown.child_token();
        let reader = ShardReader::new(self.store.clone(), shard);
        let s = Shard::start(
            shard,
            raft,
            reader,
            ShardLimits::from_config(&self.cfg),
            stop.clone(),
        );
        groups.insert(
            shard,
            Hosted {
                shard: s.clone(),
                peer,
                stop,
            },
        );
        self.publish(&groups);
        tracing::info!(shard, peer, "replica started");
        Ok(s)
    }

    /// Makes a fresh group the sole voter of itself (only for replicas the cluster's bootstrap
    /// created). Does nothing if the group already has state.
    pub async fn initialize_alone(
        &self,
        shard: &Shard,
        me: PeerAddr,
        peer: u64,
    ) -> anyhow::Result<()> {
        if shard
            .raft
            .is_initialized()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            return Ok(());
        }
        shard
            .raft
            .initialize(BTreeMap::from([(peer, me)]))
            .await
            .with_context(|| format!("initialising shard {}", shard.id))
    }

    /// Stops `shard` and deletes its data. Only for a replica its group no longer counts.
    pub async fn remove(&self, shard: u64) -> anyhow::Result<()> {
        let mut groups = self.groups.lock().await;
        let Some(h) = groups.remove(&shard) else {
            return Ok(());
        };
        self.publish(&groups);
        self.stop(shard, h).await;
        self.store.drop_replica(shard)?;
        tracing::info!(shard, "replica removed and its data deleted");
        Ok(())
    }

    async fn stop(&self, shard: u64, h: Hosted) {
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&shard);
        h.stop.cancel();
        if let Err(e) = h.shard.raft.shutdown().await {
            tracing::warn!(shard, error = %e, "raft shutdown");
        }
    }

    /// Stops every group (node shutdown); data stays.
    pub async fn shutdown(&self) {
        let mut groups = self.groups.lock().await;
        let all = std::mem::take(&mut *groups);
        self.publish(&groups);
        for (shard, h) in all {
            self.stop(shard, h).await;
        }
    }

    fn publish(&self, groups: &BTreeMap<u64, Hosted>) {
        *self.view.write().unwrap_or_else(|e| e.into_inner()) = groups
            .iter()
            .map(|(&id, h)| (id, h.shard.clone()))
            .collect();
    }
}
