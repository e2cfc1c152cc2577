//! Gossip with chitchat (UDP, on the node's cluster port): each node publishes an
//! [`Announcement`] about itself and sees the live nodes' announcements through a `watch`.
//!
//! Gossip is how news spreads fast; it is never the authority. Liveness comes from chitchat's
//! phi-accrual failure detector; a node only counts as live once its announcement carries the
//! keys every node must publish, so a half-started node is never routed to. Every restart is a
//! new generation, so peers tell a restarted node from its old incarnation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chitchat::transport::UdpTransport;
use chitchat::{
    spawn_chitchat, ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig, NodeState,
};
use tokio::sync::watch;

const KEY_ID: &str = "id";
const KEY_RESP: &str = "resp";
const KEY_CLUSTER: &str = "cluster";
const KEY_STATE: &str = "state";
const KEY_EPOCH: &str = "epoch";
const KEY_LEADS: &str = "leads";
const KEY_LOAD: &str = "load";
const KEY_KEYS: &str = "keys";
const KEY_BYTES: &str = "bytes";
const KEY_LED: &str = "led";
const REQUIRED: [&str; 3] = [KEY_ID, KEY_RESP, KEY_CLUSTER];

/// Where a node is in its life, as it says itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Joining,
    Up,
    Draining,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Joining => "joining",
            Phase::Up => "up",
            Phase::Draining => "draining",
        }
    }

    fn parse(s: &str) -> Option<Phase> {
        match s {
            "joining" => Some(Phase::Joining),
            "up" => Some(Phase::Up),
            "draining" => Some(Phase::Draining),
            _ => None,
        }
    }
}

/// What a node says about itself. Kept small: chitchat gossips every value to every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub node_id: u64,
    pub resp_addr: SocketAddr,
    pub cluster_addr: SocketAddr,
    pub phase: Phase,
    /// The newest cluster-map epoch this node holds.
    pub epoch: u64,
    /// Shards this node leads, each with the Raft term of its leadership (a routing hint: when
    /// two nodes claim a shard — a dead leader not yet detected — the higher term wins).
    pub leads: Vec<(u64, u64)>,
    /// Write load: log entries per second applied by the shards it leads (for placement).
    pub load: u64,
    /// Estimated keys and live bytes over all its replicas (for status).
    pub keys: u64,
    pub bytes: u64,
    /// Per shard it leads: (shard, last log index, entries the slowest replica is behind).
    pub led: Vec<(u64, u64, u64)>,
}

impl Announcement {
    fn key_values(&self) -> Vec<(String, String)> {
        let leads: Vec<String> = self
            .leads
            .iter()
            .map(|(shard, term)| format!("{shard}:{term}"))
            .collect();
        let led: Vec<String> = self
            .led
            .iter()
            .map(|(shard, last, lag)| format!("{shard}:{last}:{lag}"))
            .collect();
        vec![
            (KEY_ID.into(), self.node_id.to_string()),
            (KEY_RESP.into(), self.resp_addr.to_string()),
            (KEY_CLUSTER.into(), self.cluster_addr.to_string()),
            (KEY_STATE.into(), self.phase.as_str().into()),
            (KEY_EPOCH.into(), self.epoch.to_string()),
            (KEY_LEADS.into(), leads.join(",")),
            (KEY_LOAD.into(), self.load.to_string()),
            (KEY_KEYS.into(), self.keys.to_string()),
            (KEY_BYTES.into(), self.bytes.to_string()),
            (KEY_LED.into(), led.join(",")),
        ]
    }

    /// Reads a peer's announcement; `None` if a required key is missing or malformed (a node
    /// of another version, or one still starting).
    fn from_state(state: &NodeState) -> Option<Announcement> {
        let num = |k: &str| state.get(k).and_then(|v| v.parse::<u64>().ok());
        let leads = match state.get(KEY_LEADS) {
            None | Some("") => Vec::new(),
            Some(v) => v
                .split(',')
                .map(|s| {
                    let (shard, term) = s.split_once(':')?;
                    Some((shard.parse::<u64>().ok()?, term.parse::<u64>().ok()?))
                })
                .collect::<Option<Vec<_>>>()?,
        };
        Some(Announcement {
            node_id: num(KEY_ID)?,
            resp_addr: state.get(KEY_RESP)?.parse().ok()?,
            cluster_addr: state.get(KEY_CLUSTER)?.parse().ok()?,
            phase: state
                .get(KEY_STATE)
                .and_then(Phase::parse)
                .unwrap_or(Phase::Joining),
            epoch: num(KEY_EPOCH).unwrap_or(0),
            leads,
            load: num(KEY_LOAD).unwrap_or(0),
            keys: num(KEY_KEYS).unwrap_or(0),
            bytes: num(KEY_BYTES).unwrap_or(0),
            // Only for status: a malformed value is ignored, not fatal.
            led: state
                .get(KEY_LED)
                .unwrap_or("")
                .split(',')
                .filter_map(|s| {
                    let mut p = s.split(':').map(|x| x.parse::<u64>().ok());
                    Some((p.next()??, p.next()??, p.next()??))
                })
                .collect(),
        })
    }
}

/// Gossip timing, from the node's config.
#[derive(Debug, Clone)]
pub struct GossipConfig {
    pub cluster_id: String,
    /// UDP address to bind (the node's `--bind` address and cluster port).
    pub listen_addr: SocketAddr,
    /// UDP address peers reach this node at (differs from `listen_addr` behind NAT).
    pub advertise_addr: SocketAddr,
    /// Any existing nodes' cluster addresses (`host:port`).
    pub seeds: Vec<String>,
    pub interval: Duration,
    pub phi_threshold: f64,
    /// How long a dead node's state is kept before it is forgotten.
    pub dead_node_grace: Duration,
}

/// A running gossip member.
pub struct Gossip {
    handle: ChitchatHandle,
    live: watch::Receiver<BTreeMap<u64, Announcement>>,
}

fn generation() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Gossip {
    /// Joins the gossip with this node's announcement.
    pub async fn start(cfg: GossipConfig, me: &Announcement) -> anyhow::Result<Gossip> {
        let config = ChitchatConfig {
            chitchat_id: ChitchatId::new(
                format!("node-{}", me.node_id),
                generation(),
                cfg.advertise_addr,
            ),
            cluster_id: cfg.cluster_id,
            gossip_interval: cfg.interval,
            listen_addr: cfg.listen_addr,
            seed_nodes: cfg.seeds,
            failure_detector_config: FailureDetectorConfig::new(
                cfg.phi_threshold,
                1000,
                cfg.interval * 20,
                cfg.interval * 5,
                cfg.dead_node_grace,
            ),
            marked_for_deletion_grace_period: cfg.dead_node_grace,
            catchup_callback: None,
            extra_liveness_predicate: Some(Box::new(|state: &NodeState| {
                REQUIRED.iter().all(|k| state.contains_key(k))
            })),
            protocol_version: chitchat::ProtocolVersion::V0,
        };
        let handle = spawn_chitchat(config, me.key_values(), &UdpTransport).await?;
        let mut raw = handle.chitchat().lock().await.live_nodes_watcher();
        let (tx, live) = watch::channel(BTreeMap::new());
        tokio::spawn(async move {
            loop {
                let view = newest_generations(&raw.borrow_and_update());
                if tx.send(view).is_err() {
                    return;
                }
                if raw.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Gossip { handle, live })
    }

    /// Replaces what this node announces (unchanged keys are not re-gossiped).
    pub async fn publish(&self, me: &Announcement) {
        let chitchat = self.handle.chitchat();
        let mut guard = chitchat.lock().await;
        let state = guard.self_node_state();
        for (k, v) in me.key_values() {
            state.set(k, v);
        }
    }

    /// The live nodes' announcements by node id (this node included), updated as gossip learns.
    pub fn live(&self) -> watch::Receiver<BTreeMap<u64, Announcement>> {
        self.live.clone()
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.handle.shutdown().await
    }
}

/// One announcement per node id: the newest generation wins (a restarted node's old incarnation
/// may linger until the failure detector drops it).
fn newest_generations(states: &BTreeMap<ChitchatId, NodeState>) -> BTreeMap<u64, Announcement> {
    let mut best: BTreeMap<u64, (u64, Announcement)> = BTreeMap::new();
    for (id, state) in states {
        let Some(a) = Announcement::from_state(state) else {
            continue;
        };
        match best.get(&a.node_id) {
            Some((generation, _)) if *generation >= id.generation_id => {}
            _ => {
                best.insert(a.node_id, (id.generation_id, a));
            }
        }
    }
    best.into_iter().map(|(k, (_, a))| (k, a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(id: u64, port: u16) -> Announcement {
        Announcement {
            node_id: id,
            resp_addr: SocketAddr::from(([127, 0, 0, 1], 6000 + id as u16)),
            cluster_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            phase: Phase::Up,
            epoch: 1,
            leads: vec![(id, 1)],
            load: 0,
            keys: 10 * id,
            bytes: 100 * id,
            led: vec![(id, 42, 1)],
        }
    }

    fn free_udp_addr() -> SocketAddr {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    }

    fn config(addr: SocketAddr, seeds: Vec<String>) -> GossipConfig {
        GossipConfig {
            cluster_id: "t".into(),
            listen_addr: addr,
            advertise_addr: addr,
            seeds,
            interval: Duration::from_millis(50),
            phi_threshold: 8.0,
            dead_node_grace: Duration::from_secs(3600),
        }
    }

    async fn wait_for(
        rx: &mut watch::Receiver<BTreeMap<u64, Announcement>>,
        what: &str,
        pred: impl Fn(&BTreeMap<u64, Announcement>) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if pred(&rx.borrow_and_update()) {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => panic!("timed out waiting for {what}: {:?}", rx.borrow()),
                r = rx.changed() => r.expect("gossip stopped"),
            }
        }
    }

    #[test]
    fn announcements_round_trip_and_incomplete_ones_are_ignored() {
        let a = me(7, 17007);
        let mut state = NodeState::for_test();
        for (k, v) in a.key_values() {
            state.set(k, v);
        }
        assert_eq!(Announcement::from_state(&state), Some(a));
        state.set(KEY_RESP, "not an address");
        assert_eq!(Announcement::from_state(&state), None);
    }

    /// Two nodes on loopback find each other through a seed, see each other's updates, and the
    /// survivor stops listing a node that shut down.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_meet_update_and_leave() {
        let (a1, a2) = (free_udp_addr(), free_udp_addr());
        let g1 = Gossip::start(config(a1, vec![]), &me(1, a1.port()))
            .await
            .expect("start 1");
        let g2 = Gossip::start(config(a2, vec![a1.to_string()]), &me(2, a2.port()))
            .await
            .expect("start 2");
        let mut live1 = g1.live();
        wait_for(&mut live1, "node 2 seen by node 1", |m| m.contains_key(&2)).await;
        let mut updated = me(2, a2.port());
        updated.epoch = 9;
        updated.leads = vec![(3, 2), (4, 7)];
        g2.publish(&updated).await;
        wait_for(&mut live1, "node 2's new epoch", |m| {
            m.get(&2).map(|a| a.epoch) == Some(9)
        })
        .await;
        assert_eq!(
            live1.borrow().get(&2).map(|a| a.leads.clone()),
            Some(vec![(3, 2), (4, 7)])
        );
        g2.shutdown().await.expect("shutdown");
        wait_for(&mut live1, "node 2 declared dead", |m| !m.contains_key(&2)).await;
        g1.shutdown().await.expect("shutdown");
    }
}
