//! The rebalance planner: from a cluster map, the replica moves that (1) take every replica off
//! nodes that may not hold one (down, draining, joining, removed), (2) give every data shard
//! `min(r, Up nodes)` replicas, and (3) even out replica counts over the nodes that can take
//! them, until no two differ by more than a tolerance; and the leader assignment that evens out
//! leaderships the same way.
//!
//! Pure and deterministic, like the rest of this crate: the meta leader plans with it, and
//! `tanlictl`/INFO preview with it, from the same map. Only what must move, moves: a repair
//! replaces exactly the replicas that must go, and balancing moves one replica at a time from
//! the most loaded node to the least loaded one, and stops as soon as the spread is within the
//! tolerance. Ties are broken by the consistent-hash ring ([`Ring`]), so the same cluster lands
//! on the same placement.
//!
//! **Tolerance.** Load is counted per unit of weight. Balanced means: for any two nodes that
//! can take replicas, `count_a / weight_a - count_b / weight_b <= tolerance` (with equal weights
//! and tolerance 1: replica counts differ by at most one), unless no single move can improve it
//! (every shard of the fuller node is already on the emptier one).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::map::{ClusterMap, NodeId, NodeState, ShardId};
use crate::placement::Ring;

/// Why a replica moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Why {
    /// Its node is down past the grace period.
    NodeDown,
    /// Its node is draining.
    NodeDraining,
    /// Its node is joining or removed: not a node that holds replicas.
    NodeNotUp,
    /// The shard has fewer replicas than it should.
    BelowFactor,
    /// The shard has more replicas than it should.
    AboveFactor,
    /// Evening out replica counts.
    Balance,
    /// An operator asked for it (`TANLI.SHARD MOVE`).
    Operator,
}

impl Why {
    /// Repairs restore safety or follow an operator's drain; balancing is optional.
    pub fn is_repair(self) -> bool {
        !matches!(self, Why::Balance | Why::Operator)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Why::NodeDown => "node down",
            Why::NodeDraining => "node draining",
            Why::NodeNotUp => "node not up",
            Why::BelowFactor => "below replication factor",
            Why::AboveFactor => "above replication factor",
            Why::Balance => "balance",
            Why::Operator => "operator",
        }
    }
}

/// One replica move: add on `to` (if any), then remove from `from` (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaMove {
    pub shard: ShardId,
    pub from: Option<NodeId>,
    pub to: Option<NodeId>,
    pub why: Why,
}

/// Replica and leader spread over the nodes that can hold replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    /// Largest minus smallest replicas per unit of weight, rounded up.
    pub replicas: u64,
    /// The same for leaderships.
    pub leaders: u64,
}

/// The nodes that may receive replicas: `Up` and accepted by `can_take` (live, as the caller
/// knows it), with weights.
fn takers(map: &ClusterMap, can_take: &dyn Fn(NodeId) -> bool) -> BTreeMap<NodeId, u64> {
    map.nodes()
        .values()
        .filter(|n| n.state == NodeState::Up && can_take(n.id))
        .map(|n| (n.id, u64::from(n.weight.max(1))))
        .collect()
}

/// Planning state: the replica sets as the moves planned so far will leave them.
struct Draft<'a> {
    ring: Ring,
    weights: &'a BTreeMap<NodeId, u64>,
    holdings: BTreeMap<ShardId, BTreeSet<NodeId>>,
    counts: BTreeMap<NodeId, u64>,
    moves: Vec<ReplicaMove>,
}

impl Draft<'_> {
    /// `a` carries more load per weight than `b` by more than `tol` (cross-multiplied).
    fn heavier(&self, a: NodeId, b: NodeId, tol: u64) -> bool {
        let (ca, cb) = (self.count(a), self.count(b));
        let (wa, wb) = (self.weights[&a], self.weights[&b]);
        ca * wb > cb * wa + tol * wa * wb
    }

    fn count(&self, n: NodeId) -> u64 {
        self.counts.get(&n).copied().unwrap_or(0)
    }

    /// The least loaded taker not holding `shard` (ties: ring order for the shard).
    fn pick_target(&self, shard: ShardId) -> Option<NodeId> {
        let held = &self.holdings[&shard];
        let order = self.ring.replicas(shard, self.weights.len());
        order
            .into_iter()
            .filter(|n| !held.contains(n))
            .min_by(|a, b| {
                let (ca, cb) = (self.count(*a), self.count(*b));
                let (wa, wb) = (self.weights[a], self.weights[b]);
                (ca * wb).cmp(&(cb * wa))
            })
    }

    fn record(&mut self, m: ReplicaMove) {
        let held = self.holdings.entry(m.shard).or_default();
        if let Some(to) = m.to {
            held.insert(to);
            *self.counts.entry(to).or_default() += 1;
        }
        if let Some(from) = m.from {
            held.remove(&from);
            let c = self.counts.entry(from).or_default();
            *c = c.saturating_sub(1);
        }
        self.moves.push(m);
    }
}

/// The moves that repair and then balance `map`'s data shards for replication factor `r`.
/// `can_take(node)` says whether an `Up` node may receive a replica now (live); replicas on an
/// `Up` node that cannot take one stay where they are (it may come back within its grace
/// period). Repairs come first, in shard order; then balance moves.
pub fn plan(
    map: &ClusterMap,
    r: usize,
    tolerance: u64,
    can_take: &dyn Fn(NodeId) -> bool,
) -> Vec<ReplicaMove> {
    let weights = takers(map, can_take);
    let up = map
        .nodes()
        .values()
        .filter(|n| n.state == NodeState::Up)
        .count();
    let want = r.min(up);
    let data = || map.shards().values().filter(|s| s.id != ShardId::META);
    let mut draft = Draft {
        ring: Ring::new(
            &weights
                .iter()
                .map(|(n, w)| (*n, *w as u32))
                .collect::<Vec<_>>(),
        ),
        weights: &weights,
        holdings: data()
            .map(|s| (s.id, s.replicas.iter().map(|r| r.node).collect()))
            .collect(),
        counts: BTreeMap::new(),
        moves: Vec::new(),
    };
    for s in data() {
        for rep in &s.replicas {
            *draft.counts.entry(rep.node).or_default() += 1;
        }
    }
    if want == 0 {
        return Vec::new();
    }
    for s in data() {
        let state = |n: NodeId| map.node(n).map(|i| i.state);
        let good = |d: &Draft, n: NodeId| {
            state(n) == Some(NodeState::Up) && d.holdings[&s.id].contains(&n)
        };
        // Replicas on nodes that may not hold one: replaced (or simply dropped when the shard
        // has enough elsewhere). With nowhere to go, they stay: a copy on a down node is no
        // worse than none, and a drain waits for room.
        for rep in &s.replicas {
            let why = match state(rep.node) {
                Some(NodeState::Up) => continue,
                Some(NodeState::Down) => Why::NodeDown,
                Some(NodeState::Draining) => Why::NodeDraining,
                _ => Why::NodeNotUp,
            };
            let healthy = draft.holdings[&s.id]
                .iter()
                .filter(|n| good(&draft, **n))
                .count();
            let to = if healthy >= want {
                None
            } else {
                match draft.pick_target(s.id) {
                    Some(t) => Some(t),
                    None => continue,
                }
            };
            draft.record(ReplicaMove {
                shard: s.id,
                from: Some(rep.node),
                to,
                why,
            });
        }
        while draft.holdings[&s.id]
            .iter()
            .filter(|n| good(&draft, **n))
            .count()
            < want
        {
            let Some(to) = draft.pick_target(s.id) else {
                break;
            };
            draft.record(ReplicaMove {
                shard: s.id,
                from: None,
                to: Some(to),
                why: Why::BelowFactor,
            });
        }
        while draft.holdings[&s.id].len() > want {
            // The fullest holder per weight leaves (takers only; others were handled above).
            let Some(from) = draft.holdings[&s.id]
                .iter()
                .copied()
                .filter(|n| weights.contains_key(n))
                .max_by(|a, b| {
                    let (ca, cb) = (draft.count(*a), draft.count(*b));
                    (ca * weights[b]).cmp(&(cb * weights[a]))
                })
            else {
                break;
            };
            draft.record(ReplicaMove {
                shard: s.id,
                from: Some(from),
                to: None,
                why: Why::AboveFactor,
            });
        }
    }
    balance(&mut draft, tolerance);
    draft.moves
}

/// Moves one replica at a time from the most to the least loaded taker while they differ by
/// more than `tolerance` and a move does not overshoot.
fn balance(draft: &mut Draft, tolerance: u64) {
    let nodes: Vec<NodeId> = draft.weights.keys().copied().collect();
    let shard_count = draft.holdings.len();
    // Each move lowers the sum of squared loads, so this ends; the bound is a backstop.
    for _ in 0..(shard_count * nodes.len() * 2 + 1) {
        let mut by_load = nodes.clone();
        by_load.sort_by(|a, b| {
            let (ca, cb) = (draft.count(*a), draft.count(*b));
            (ca * draft.weights[b])
                .cmp(&(cb * draft.weights[a]))
                .then(a.cmp(b))
        });
        let mut found = None;
        'pairs: for &over in by_load.iter().rev() {
            for &under in &by_load {
                if !draft.heavier(over, under, tolerance) {
                    break;
                }
                // No overshoot: after the move `under` must not be heavier than `over`.
                let (co, cu) = (draft.count(over), draft.count(under));
                let (wo, wu) = (draft.weights[&over], draft.weights[&under]);
                if co == 0 || (cu + 1) * wo > (co - 1) * wu {
                    continue;
                }
                // Prefer the shard with the fewest moves planned so far (they run in parallel).
                let shard = draft
                    .holdings
                    .iter()
                    .filter(|(_, held)| held.contains(&over) && !held.contains(&under))
                    .map(|(s, _)| *s)
                    .min_by_key(|s| (draft.moves.iter().filter(|m| m.shard == *s).count(), *s));
                if let Some(shard) = shard {
                    found = Some((shard, over, under));
                    break 'pairs;
                }
            }
        }
        let Some((shard, from, to)) = found else {
            return;
        };
        draft.record(ReplicaMove {
            shard,
            from: Some(from),
            to: Some(to),
            why: Why::Balance,
        });
    }
}

/// Spread of per-weight counts over the nodes in `weights`, rounded up to whole units.
fn spread_of(counts: &BTreeMap<NodeId, u64>, weights: &BTreeMap<NodeId, u64>) -> u64 {
    let loads: Vec<f64> = weights
        .iter()
        .map(|(n, w)| counts.get(n).copied().unwrap_or(0) as f64 / *w as f64)
        .collect();
    let max = loads.iter().copied().fold(f64::MIN, f64::max);
    let min = loads.iter().copied().fold(f64::MAX, f64::min);
    if loads.is_empty() {
        0
    } else {
        (max - min - 1e-9).ceil().max(0.0) as u64
    }
}

/// Replica and leader spread of `map` over `Up` nodes accepted by `can_take`, with `leaders`
/// the leader of each shard (as known).
pub fn spread(
    map: &ClusterMap,
    leaders: &BTreeMap<ShardId, NodeId>,
    can_take: &dyn Fn(NodeId) -> bool,
) -> Spread {
    let weights = takers(map, can_take);
    let mut replicas = BTreeMap::new();
    for s in map.shards().values().filter(|s| s.id != ShardId::META) {
        for r in &s.replicas {
            *replicas.entry(r.node).or_insert(0u64) += 1;
        }
    }
    let mut led = BTreeMap::new();
    for (s, n) in leaders {
        if *s != ShardId::META {
            *led.entry(*n).or_insert(0u64) += 1;
        }
    }
    Spread {
        replicas: spread_of(&replicas, &weights),
        leaders: spread_of(&led, &weights),
    }
}

/// The leader each data shard should have. Starts from `current` (a target already recorded,
/// else the known leader) where that is still a replica on a node that can take replicas, fills
/// the rest by the least-led eligible replica (ring order on ties), then moves leaderships from
/// the most to the least led node while they differ by more than `tolerance`. `pinned` shards
/// (an operator's choice) keep their entry from `current` and are never moved.
pub fn assign_leaders(
    map: &ClusterMap,
    current: &BTreeMap<ShardId, NodeId>,
    pinned: &BTreeSet<ShardId>,
    tolerance: u64,
    can_take: &dyn Fn(NodeId) -> bool,
) -> BTreeMap<ShardId, NodeId> {
    let weights = takers(map, can_take);
    let ring = Ring::new(
        &weights
            .iter()
            .map(|(n, w)| (*n, *w as u32))
            .collect::<Vec<_>>(),
    );
    let eligible = |s: ShardId| -> Vec<NodeId> {
        let Some(info) = map.shard(s) else {
            return Vec::new();
        };
        ring.replicas(s, weights.len())
            .into_iter()
            .filter(|n| info.replica_on(*n).is_some())
            .collect()
    };
    let mut out: BTreeMap<ShardId, NodeId> = BTreeMap::new();
    let mut led: BTreeMap<NodeId, u64> = BTreeMap::new();
    let data: Vec<ShardId> = map
        .shards()
        .keys()
        .copied()
        .filter(|s| *s != ShardId::META)
        .collect();
    for s in &data {
        let keep = current.get(s).copied().filter(|n| {
            let replica = map.shard(*s).is_some_and(|i| i.replica_on(*n).is_some());
            replica && (pinned.contains(s) || weights.contains_key(n))
        });
        if let Some(n) = keep {
            out.insert(*s, n);
            *led.entry(n).or_default() += 1;
        }
    }
    let load = |led: &BTreeMap<NodeId, u64>, n: &NodeId| {
        (
            led.get(n).copied().unwrap_or(0),
            weights.get(n).copied().unwrap_or(1),
        )
    };
    for s in &data {
        if out.contains_key(s) {
            continue;
        }
        let pick = eligible(*s).into_iter().min_by(|a, b| {
            let ((ca, wa), (cb, wb)) = (load(&led, a), load(&led, b));
            (ca * wb).cmp(&(cb * wa))
        });
        if let Some(n) = pick {
            out.insert(*s, n);
            *led.entry(n).or_default() += 1;
        }
    }
    for _ in 0..(data.len() * 2 + 1) {
        let mut moved = false;
        let mut nodes: Vec<NodeId> = weights.keys().copied().collect();
        nodes.sort_by(|a, b| {
            let ((ca, wa), (cb, wb)) = (load(&led, a), load(&led, b));
            (cb * wa).cmp(&(ca * wb)).then(a.cmp(b))
        });
        'over: for &over in &nodes {
            let (co, wo) = load(&led, &over);
            for s in data
                .iter()
                .filter(|s| out.get(s) == Some(&over) && !pinned.contains(s))
            {
                let best = eligible(*s)
                    .into_iter()
                    .filter(|n| *n != over)
                    .min_by(|a, b| {
                        let ((ca, wa), (cb, wb)) = (load(&led, a), load(&led, b));
                        (ca * wb).cmp(&(cb * wa))
                    });
                let Some(under) = best else { continue };
                let (cu, wu) = load(&led, &under);
                let gap = co * wu > cu * wo + tolerance * wo * wu;
                let no_overshoot = co > 0 && (cu + 1) * wo <= (co - 1) * wu;
                if gap && no_overshoot {
                    out.insert(*s, under);
                    *led.entry(over).or_default() -= 1;
                    *led.entry(under).or_default() += 1;
                    moved = true;
                    break 'over;
                }
            }
        }
        if !moved {
            break;
        }
    }
    out
}

#[cfg(test)]
#[path = "balance_tests.rs"]
mod tests;
