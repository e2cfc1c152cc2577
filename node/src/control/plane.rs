//! The control loop: every `control_interval_ms` it joins the newest map, gossip and the hosted
//! groups, and acts — start replicas the map gives this node, remove replicas their group no
//! longer counts, step each led group's membership toward the map, run the placement driver on
//! the meta leader, fetch a newer map a peer gossips, correct this node's address in the map
//! after a volume re-mount — then publishes the [`Topology`] the data plane reads.
//!
//! Slow work (RPCs, membership changes) runs in spawned tasks, at most one per shard and one
//! driver round at a time, so one stuck peer never stalls the loop.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tanli_router::{ClusterMap, NodeId, ShardId};
use tanli_storage::types::PeerAddr;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::control::gossip::{Announcement, Gossip, Phase};
use crate::control::host::Host;
use crate::control::meta::{MetaApplier, MetaCmd, MetaReply, MetaState};
use crate::control::plans::Placement;
use crate::control::topology::Topology;
use crate::control::{client, driver, hints, members};

/// How often a node asks for a newer map it heard of, or re-sends its address correction.
const RETRY_EVERY: Duration = Duration::from_secs(1);

pub struct Control {
    pub me: NodeId,
    pub cluster_id: String,
    pub cfg: Config,
    pub host: Host,
    pub resp_addr: SocketAddr,
    pub cluster_addr: SocketAddr,
    pub topo: watch::Sender<Arc<Topology>>,
    pub gossip: Gossip,
    fetched: Mutex<Option<Arc<ClusterMap>>>,
    /// The map last decoded from the local meta state, with its encoded bytes. Each round reads
    /// the state; only a changed map is decoded again (decoding validates it and builds its
    /// slot table, which an idle node would otherwise redo ten times a second).
    decoded: Mutex<Option<(Vec<u8>, Arc<ClusterMap>)>>,
    /// Shards with a membership step or removal check running; the driver's round is `u64::MAX`.
    busy: Mutex<BTreeSet<u64>>,
    last_fetch: Mutex<Option<Instant>>,
    last_addr_fix: Mutex<Option<Instant>>,
    last_drive: Mutex<Option<Instant>>,
    /// When each shard last offered its leadership away (one offer per `TRANSFER_EVERY`).
    transfers: Mutex<BTreeMap<u64, Instant>>,
    /// (when, applied entries of led shards then, decayed entries/s) for the gossiped load.
    load: Mutex<(Instant, u64, u64)>,
    /// Since when each map node has been silent, as this node's gossip sees it.
    dead_since: Mutex<BTreeMap<u64, Instant>>,
    /// Moves under way in the running plan, as last seen by the driver (0 off the meta leader).
    pub moves_in_flight: std::sync::atomic::AtomicU64,
}

/// Least time between two leadership offers of one shard: a preferred replica that cannot take
/// over (slow, partitioned) is not offered leadership in a tight loop.
const TRANSFER_EVERY: Duration = Duration::from_secs(5);

impl Control {
    pub fn new(
        me: NodeId,
        cluster_id: String,
        cfg: Config,
        host: Host,
        (resp_addr, cluster_addr): (SocketAddr, SocketAddr),
        gossip: Gossip,
    ) -> Arc<Control> {
        let (topo, _) = watch::channel(Arc::new(Topology::empty(me)));
        Arc::new(Control {
            me,
            cluster_id,
            cfg,
            host,
            resp_addr,
            cluster_addr,
            topo,
            gossip,
            fetched: Mutex::new(None),
            decoded: Mutex::new(None),
            busy: Mutex::new(BTreeSet::new()),
            last_fetch: Mutex::new(None),
            last_addr_fix: Mutex::new(None),
            last_drive: Mutex::new(None),
            transfers: Mutex::new(BTreeMap::new()),
            load: Mutex::new((Instant::now(), 0, 0)),
            dead_since: Mutex::new(BTreeMap::new()),
            moves_in_flight: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.control_rpc_timeout_ms)
    }

    pub fn my_peer_addr(&self) -> PeerAddr {
        PeerAddr {
            node_id: self.me.0,
            cluster_addr: self.cluster_addr.to_string(),
            resp_addr: self.resp_addr.to_string(),
        }
    }

    /// The meta state this node's replica has applied, if any.
    pub fn local_meta(&self) -> Option<MetaState> {
        let meta = self.host.hosted().get(&0)?.clone();
        match MetaState::read(&meta.reader) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "reading the meta state failed");
                None
            }
        }
    }

    /// The cluster map in `state`, decoded once per change of its bytes; `None` if it is invalid.
    fn decode_local(&self, state: MetaState) -> Option<Arc<ClusterMap>> {
        let mut decoded = self.decoded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((bytes, map)) = decoded.as_ref() {
            if *bytes == state.map {
                return Some(map.clone());
            }
        }
        let map = Arc::new(state.map().ok()?);
        *decoded = Some((state.map, map.clone()));
        Some(map)
    }

    /// The placement record this node's meta replica has applied (default before any).
    pub fn local_placement(&self) -> Placement {
        let Some(meta) = self.host.hosted().get(&0).cloned() else {
            return Placement::default();
        };
        Placement::read(&meta.reader).unwrap_or_else(|e| {
            tracing::error!(error = %e, "reading the placement record failed");
            Placement::default()
        })
    }

    /// Map nodes silent for longer than `dead_node_grace_ms`; refreshes the silence clocks.
    fn dead_past_grace(&self, map: &ClusterMap, live: &BTreeSet<u64>) -> BTreeSet<u64> {
        let grace = Duration::from_millis(self.cfg.dead_node_grace_ms);
        let mut since = self.dead_since.lock().unwrap_or_else(|e| e.into_inner());
        since.retain(|n, _| !live.contains(n) && map.node(NodeId(*n)).is_some());
        let now = Instant::now();
        for n in map.nodes().keys() {
            if !live.contains(&n.0) {
                since.entry(n.0).or_insert(now);
            }
        }
        since
            .iter()
            .filter(|(_, t)| t.elapsed() >= grace)
            .map(|(n, _)| *n)
            .collect()
    }

    /// Runs the loop until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(self.cfg.control_interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.clone().round().await;
        }
    }

    async fn round(self: Arc<Self>) {
        let local = self.local_meta();
        let initial_peers: BTreeSet<u64> = local
            .as_ref()
            .map(|s| s.initial_peers.iter().copied().collect())
            .unwrap_or_default();
        let local_map = local.and_then(|s| self.decode_local(s));
        let fetched = self
            .fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let map = match (local_map, fetched) {
            (Some(l), Some(f)) if f.epoch() > l.epoch() => Some(f),
            (Some(l), _) => Some(l),
            (None, f) => f,
        };
        let live = Arc::new(self.gossip.live().borrow().clone());
        self.update_book(map.as_deref(), &live);
        if let Some(map) = &map {
            self.host_replicas(map, &initial_peers).await;
        }
        let hosted = self.host.hosted();
        let hinted = map
            .as_ref()
            .map(|m| Arc::new(hints::hint_leaders(m, &hosted, &live)));
        let topo = Topology {
            me: self.me,
            map: hinted.clone(),
            shards: hosted
                .iter()
                .filter(|(id, _)| **id != 0)
                .map(|(id, s)| (*id, s.clone()))
                .collect(),
            meta: hosted.get(&0).cloned(),
            live: live.clone(),
            published: Instant::now(),
        };
        let topo = Arc::new(topo);
        self.topo.send_replace(topo.clone());
        self.announce(&topo).await;
        let (Some(map), Some(recorded)) = (hinted, map) else {
            return;
        };
        self.fetch_newer(&map, &live);
        // Against the map as recorded, not as overlaid with gossiped addresses.
        self.fix_my_address(&recorded);
        for (id, shard) in &hosted {
            if shard.is_leader() {
                self.reconcile(*id, &map, &live);
            }
        }
        if topo.meta.as_ref().is_some_and(|m| m.is_leader()) {
            self.drive(&map, &live);
        } else {
            // Silence clocks belong to the driver's term in office: a later term starts afresh.
            self.dead_since
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            self.moves_in_flight
                .store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn update_book(&self, map: Option<&ClusterMap>, live: &BTreeMap<u64, Announcement>) {
        let mut book = self.host.book.write().unwrap_or_else(|e| e.into_inner());
        if let Some(map) = map {
            for n in map.nodes().values() {
                if let Ok(a) = n.cluster_addr.parse() {
                    book.insert(n.id.0, a);
                }
            }
        }
        for a in live.values() {
            book.insert(a.node_id, a.cluster_addr);
        }
    }

    /// Starts the replicas the map puts here; checks the ones it no longer does.
    async fn host_replicas(self: &Arc<Self>, map: &ClusterMap, initial: &BTreeSet<u64>) {
        let hosted = self.host.hosted();
        for info in map.shards().values().filter(|s| s.id != ShardId::META) {
            let Some(replica) = info.replica_on(self.me) else {
                continue;
            };
            let shard = match self
                .host
                .ensure(info.id.0, replica.peer.0, Arc::new(crate::cmd::Applier))
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(shard = info.id.0, error = %e, "could not start a replica");
                    continue;
                }
            };
            if initial.contains(&replica.peer.0) && !hosted.contains_key(&info.id.0) {
                if let Err(e) = self
                    .host
                    .initialize_alone(&shard, self.my_peer_addr(), replica.peer.0)
                    .await
                {
                    tracing::error!(shard = info.id.0, error = %e, "initialising a bootstrap replica");
                }
            }
        }
        for (id, shard) in hosted.iter().filter(|(id, _)| **id != 0) {
            let listed = map
                .shard(ShardId(*id))
                .is_some_and(|s| s.replica_on(self.me).is_some());
            // A leader the map drops first hands its leadership on (`reconcile`); checking for
            // removal meanwhile would only hold the shard's claim and starve that hand-over.
            if !listed && !shard.is_leader() {
                self.check_removed(*id, map);
            }
        }
    }

    fn claim(&self, key: u64) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key)
    }

    fn release(&self, key: u64) {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    /// Removes the local replica of `shard` once a replica the map lists confirms a committed
    /// membership without it (so the group no longer needs it).
    fn check_removed(self: &Arc<Self>, shard: u64, map: &ClusterMap) {
        let Ok(Some(mine)) = self.host.store.replica_peer(shard) else {
            return;
        };
        let targets: Vec<SocketAddr> = map
            .shard(ShardId(shard))
            .map(|s| {
                s.replicas
                    .iter()
                    .filter_map(|r| self.book_addr(r.node))
                    .collect()
            })
            .unwrap_or_default();
        if !self.claim(shard) {
            return;
        }
        let this = self.clone();
        crate::spawn(async move {
            for addr in targets {
                match client::membership(&this.host.transport, addr, shard, this.rpc_timeout())
                    .await
                {
                    Ok((voters, learners))
                        if !voters.contains(&mine) && !learners.contains(&mine) =>
                    {
                        if let Err(e) = this.host.remove(shard).await {
                            tracing::error!(shard, error = %e, "removing a replica failed");
                        }
                        break;
                    }
                    Ok(_) => break,
                    Err(e) => tracing::debug!(shard, %addr, error = %e, "membership query failed"),
                }
            }
            this.release(shard);
        });
    }

    pub fn book_addr(&self, node: NodeId) -> Option<SocketAddr> {
        self.host
            .book
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&node.0)
            .copied()
    }

    async fn announce(&self, topo: &Topology) {
        let mut leads = Vec::new();
        let mut led = Vec::new();
        let mut applied = 0u64;
        for (id, s) in self.host.hosted() {
            if s.is_leader() {
                let status = s.status();
                leads.push((id, status.term));
                applied += status.applied_index;
                if id != 0 {
                    led.push((id, status.last_log_index, s.replication_lag()));
                }
            }
        }
        let (keys, bytes) = self.host.store.estimates();
        let me = Announcement {
            node_id: self.me.0,
            resp_addr: self.resp_addr,
            cluster_addr: self.cluster_addr,
            phase: Phase::Up,
            epoch: topo.epoch(),
            leads,
            load: self.load(applied),
            keys,
            bytes,
            led,
        };
        self.gossip.publish(&me).await;
    }

    /// Log entries per second applied by the shards this node leads, averaged over the last
    /// few seconds: its write load, as gossip reports it to placement.
    fn load(&self, applied_now: u64) -> u64 {
        let mut l = self.load.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (at, applied, rate) = *l;
        let secs = now.duration_since(at).as_secs_f64();
        if secs < 1.0 {
            return rate;
        }
        // Leadership changes move the sum both ways; a drop is not negative load.
        let fresh = applied_now.saturating_sub(applied) as f64 / secs;
        let rate = (0.5 * rate as f64 + 0.5 * fresh) as u64;
        *l = (now, applied_now, rate);
        rate
    }

    fn fetch_newer(self: &Arc<Self>, map: &ClusterMap, live: &BTreeMap<u64, Announcement>) {
        let Some(newer) = live
            .values()
            .filter(|a| a.epoch > map.epoch())
            .max_by_key(|a| a.epoch)
        else {
            return;
        };
        if !due(&self.last_fetch) {
            return;
        }
        let (this, addr) = (self.clone(), newer.cluster_addr);
        crate::spawn(async move {
            match client::fetch_map(&this.host.transport, addr, this.rpc_timeout()).await {
                Ok(b) if !b.is_empty() => match ClusterMap::decode(&b) {
                    Ok(m) => {
                        let mut f = this.fetched.lock().unwrap_or_else(|e| e.into_inner());
                        if f.as_ref().is_none_or(|old| old.epoch() < m.epoch()) {
                            tracing::info!(epoch = m.epoch(), from = %addr, "fetched a newer cluster map");
                            *f = Some(Arc::new(m));
                        }
                    }
                    Err(e) => tracing::warn!(from = %addr, error = %e, "fetched map is invalid"),
                },
                Ok(_) => {}
                Err(e) => tracing::debug!(from = %addr, error = %e, "map fetch failed"),
            }
        });
    }

    /// After a volume re-mount the map still names the old addresses: ask the meta leader to
    /// record the new ones.
    fn fix_my_address(self: &Arc<Self>, map: &ClusterMap) {
        let Some(n) = map.node(self.me) else { return };
        if n.resp_addr == self.resp_addr.to_string()
            && n.cluster_addr == self.cluster_addr.to_string()
        {
            return;
        }
        if !due(&self.last_addr_fix) {
            return;
        }
        let cmd = MetaCmd::SetAddrs {
            node: self.me,
            resp_addr: self.resp_addr.to_string(),
            cluster_addr: self.cluster_addr.to_string(),
        };
        let this = self.clone();
        crate::spawn(async move {
            let r = this.propose(cmd, RETRY_EVERY).await;
            tracing::info!(result = ?r, "recording this node's new addresses");
        });
    }

    /// Proposes a meta command: locally if this node leads the meta shard, else to its leader.
    pub async fn propose(&self, cmd: MetaCmd, within: Duration) -> Result<MetaReply, String> {
        let targets: Vec<SocketAddr> = {
            let book = self.host.book.read().unwrap_or_else(|e| e.into_inner());
            let leader = self.meta_leader();
            leader
                .and_then(|l| book.get(&l.0).copied())
                .into_iter()
                .chain(book.values().copied())
                .collect()
        };
        client::propose_meta(
            &self.host.transport,
            &targets,
            &cmd,
            self.rpc_timeout(),
            within,
        )
        .await
        .map(|(r, _)| r)
        .map_err(|e| e.to_string())
    }

    /// The meta shard's leader as this node's replica sees it (meta peer ids are node ids).
    pub fn meta_leader(&self) -> Option<NodeId> {
        self.host.hosted().get(&0)?.leader_node().map(NodeId)
    }

    fn reconcile(
        self: &Arc<Self>,
        shard: u64,
        map: &ClusterMap,
        live: &BTreeMap<u64, Announcement>,
    ) {
        let Some((voters, learners)) = members::desired(map, ShardId(shard)) else {
            return;
        };
        let is_live = |n: NodeId| n == self.me || live.contains_key(&n.0);
        let preferred = if shard == 0 {
            members::preferred_leader(map, ShardId(shard), is_live)
        } else {
            members::target_leader(map, &self.local_placement(), ShardId(shard), is_live)
        };
        let transfer_allowed = self
            .transfers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&shard)
            .is_none_or(|t| t.elapsed() >= TRANSFER_EVERY);
        let Some(s) = self.host.hosted().get(&shard).cloned() else {
            return;
        };
        if !self.claim(shard) {
            return;
        }
        let this = self.clone();
        crate::spawn(async move {
            let timeout = this.rpc_timeout() * 5;
            let lag = this.cfg.catchup_lag_max;
            let fresh = Duration::from_millis(this.cfg.heartbeat_interval_ms * 3);
            let stepped = members::step(
                &s,
                voters,
                learners,
                preferred,
                transfer_allowed,
                lag,
                fresh,
                timeout,
            );
            match stepped.await {
                Ok(Some(what)) if what.starts_with("leadership") => {
                    this.transfers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(shard, Instant::now());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(shard, error = %e, "membership step failed"),
            }
            this.release(shard);
        });
    }

    fn drive(self: &Arc<Self>, map: &Arc<ClusterMap>, live: &BTreeMap<u64, Announcement>) {
        {
            let mut last = self.last_drive.lock().unwrap_or_else(|e| e.into_inner());
            let every = Duration::from_millis(self.cfg.placement_interval_ms);
            if last.is_some_and(|t| t.elapsed() < every) {
                return;
            }
            *last = Some(Instant::now());
        }
        if !self.claim(u64::MAX) {
            return;
        }
        // Plan against the authoritative map this leader has applied, not a fetched one.
        let Some(authoritative) = self.local_meta().and_then(|s| self.decode_local(s)) else {
            self.release(u64::MAX);
            return;
        };
        let placement = self.local_placement();
        let leader_addrs: BTreeMap<u64, SocketAddr> = map
            .shards()
            .values()
            .filter_map(|s| Some((s.id.0, self.book_addr(s.leader?)?)))
            .collect();
        let leaders_now: BTreeMap<ShardId, NodeId> = map
            .shards()
            .values()
            .filter_map(|s| Some((s.id, s.leader?)))
            .collect();
        let live: BTreeSet<u64> = live.keys().copied().chain([self.me.0]).collect();
        let dead = self.dead_past_grace(&authoritative, &live);
        let balance_leaders = driver::view_settled(
            &authoritative,
            &live,
            &self.dead_since.lock().unwrap_or_else(|e| e.into_inner()),
            Duration::from_millis(self.cfg.leader_balance_settle_ms),
        );
        let in_flight = placement
            .running()
            .map_or(0, |p| p.moves.iter().filter(|m| m.in_flight()).count());
        self.moves_in_flight
            .store(in_flight as u64, std::sync::atomic::Ordering::Relaxed);
        let this = self.clone();
        crate::spawn(async move {
            let input = driver::DriverInput {
                map: &authoritative,
                placement: &placement,
                live: &live,
                dead_past_grace: &dead,
                leaders_now,
                leader_addrs,
                replication_factor: this.cfg.replication_factor,
                moves_in_flight_max: this.cfg.moves_in_flight_max,
                tolerance: this.cfg.balance_tolerance,
                auto_rebalance: this.cfg.auto_rebalance,
                rpc_timeout: this.rpc_timeout(),
                balance_leaders,
            };
            if let Some(cmd) = driver::next(&this.host.transport, input).await {
                let r = this.propose(cmd.clone(), this.rpc_timeout()).await;
                tracing::info!(?cmd, result = ?r, "placement");
            }
            this.release(u64::MAX);
        });
    }
}

/// True (and records now) if the last attempt was long enough ago.
fn due(last: &Mutex<Option<Instant>>) -> bool {
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    if last.is_some_and(|t| t.elapsed() < RETRY_EVERY) {
        return false;
    }
    *last = Some(Instant::now());
    true
}

/// Registers the meta applier type for the host (the meta shard is group 0).
pub fn meta_applier() -> Arc<dyn tanli_storage::Applier> {
    Arc::new(MetaApplier)
}
