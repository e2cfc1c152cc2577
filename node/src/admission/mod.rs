//! Admission control and shedding: how a node pushes back before it falls over.
//!
//! Every request a connection reads takes a [`Ticket`] from [`Admission::admit`] and holds it
//! until its reply is ready, so the node knows how many requests are in flight (a group of
//! pipelined reads shares one ticket, grown by [`Admission::admit_more`], until the group's
//! replies are ready). Past `inflight-high-watermark`, requests from *hot* clients are refused
//! with `-TRYAGAIN ... retry in N ms` (nothing was done; the hint tells a client how long to
//! back off); past `inflight-max`, everyone's are. A refusal is cheap, so a client that ignores
//! it keeps the node in overload: when refusals have gone on in every tick for `shed-after-ms`,
//! the ticker disconnects the hottest refused client, and another each further period while it
//! lasts.
//! Independently, when all clients together buffer more than `clients-memory-bytes-max`
//! (unparsed input plus unsent replies), the ticker disconnects the clients buffering the most
//! until the total is under the bound.
//!
//! *Hot* is relative, so a node with one busy client and nobody else never throttles it: a
//! client is hot when its decaying request rate (half-life `rate-half-life-ms`, evaluated every
//! `admission-tick-ms`) is more than `hot-factor` times the mean rate of the other active
//! clients, and those together send at least `bystander-rate-min` requests per second. A flood
//! from one connection is refused while ten modest clients beside it are served, or a hundred
//! slow ones; fifty equal benchmark connections are all served; and a deep pipeline beside
//! connections that are merely open (a health check, a monitor polling INFO, a pool's spare
//! connections, a few requests a second between them) is not throttled for them: hardly anyone
//! waits behind its queue. Each shed is counted (metrics, INFO) and logged with the client's
//! address, name, rate and buffered bytes.

pub mod config;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use self::config::{AdmissionArgs, AdmissionConfig};
use crate::clients::{ClientState, Clients};
use crate::metrics::{Metrics, ShedReason};
use crate::reply::Reply;

/// A client below this rate (requests per second) is idle: it does not count among the others
/// a hot client is compared with, so idle connections do not dilute their mean.
const ACTIVE_RATE_MIN: f64 = 1.0;

pub struct Admission {
    cfg: AdmissionConfig,
    inflight: AtomicUsize,
    /// Requests refused for overload, ever.
    pub refusals: AtomicU64,
    /// Clients disconnected by shedding (overload, client memory, output buffer, idle), ever.
    pub shed: AtomicU64,
    /// All clients' buffered bytes at the last tick.
    pub clients_memory: AtomicUsize,
    /// Clients marked hot at the last tick.
    pub hot_clients: AtomicUsize,
}

/// Admitted requests of one client (one, or a group of reads grown by [`Admission::admit_more`]);
/// dropping it (when the replies are ready, or when the requests are abandoned) ends their
/// count.
pub struct Ticket {
    admission: Arc<Admission>,
    client: Arc<ClientState>,
    requests: usize,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.count_out(&self.client, self.requests);
    }
}

impl Admission {
    pub fn new(cfg: AdmissionConfig) -> Arc<Admission> {
        Arc::new(Admission {
            cfg,
            inflight: AtomicUsize::new(0),
            refusals: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            clients_memory: AtomicUsize::new(0),
            hot_clients: AtomicUsize::new(0),
        })
    }

    pub fn config(&self) -> &AdmissionConfig {
        &self.cfg
    }

    /// Requests in flight on this node.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Admits one request of `client`, or refuses it with a TRYAGAIN reply carrying the retry
    /// hint.
    pub fn admit(self: &Arc<Self>, client: &Arc<ClientState>) -> Result<Ticket, Reply> {
        let before = self.count_in(client);
        let ticket = Ticket {
            admission: self.clone(),
            client: client.clone(),
            requests: 1,
        };
        match self.refusal(client, before) {
            None => Ok(ticket),
            Some(reply) => Err(reply),
        }
    }

    /// Admits one more request into `ticket` (same client), or refuses it as [`Self::admit`]
    /// does. The ticket's references are shared, so a pipeline of reads costs two counter
    /// updates per read, not four more for references.
    pub fn admit_more(&self, ticket: &mut Ticket) -> Result<(), Reply> {
        let before = self.count_in(&ticket.client);
        ticket.requests += 1;
        match self.refusal(&ticket.client, before) {
            None => Ok(()),
            Some(reply) => {
                ticket.requests -= 1;
                self.count_out(&ticket.client, 1);
                Err(reply)
            }
        }
    }

    /// Counts a request in; returns the node's requests in flight before it.
    fn count_in(&self, client: &ClientState) -> usize {
        client.inflight.fetch_add(1, Ordering::Relaxed);
        self.inflight.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts `requests` of `client` out.
    fn count_out(&self, client: &ClientState, requests: usize) {
        self.inflight.fetch_sub(requests, Ordering::Relaxed);
        client.inflight.fetch_sub(requests, Ordering::Relaxed);
    }

    /// The refusal of a request counted in with `before` in flight, if over the watermarks for
    /// this client; the caller then counts it out.
    fn refusal(&self, client: &ClientState, before: usize) -> Option<Reply> {
        let hot = client.hot.load(Ordering::Relaxed);
        if before < self.cfg.inflight_high_watermark || (before < self.cfg.inflight_max && !hot) {
            return None;
        }
        client.refused.fetch_add(1, Ordering::Relaxed);
        self.refusals.fetch_add(1, Ordering::Relaxed);
        Some(Reply::Error(format!(
            "TRYAGAIN node overloaded ({before} requests in flight{}); retry in {} ms",
            if hot {
                ", this client among the busiest"
            } else {
                ""
            },
            self.cfg.retry_hint.as_millis()
        )))
    }

    /// Disconnects `client`, counting and logging why.
    pub fn shed(&self, client: &ClientState, reason: ShedReason, metrics: &Metrics) {
        if client.kill.is_cancelled() {
            return;
        }
        client.kill.cancel();
        self.shed.fetch_add(1, Ordering::Relaxed);
        metrics.shed(reason);
        tracing::warn!(
            client = client.id,
            addr = %client.addr,
            name = client.name().unwrap_or_default(),
            rate_per_s = client.rate().round(),
            buffered_bytes = client.buffered(),
            inflight = client.inflight.load(Ordering::Relaxed),
            reason = reason.label(),
            "client shed"
        );
    }

    /// Evaluates rates, hot clients, client memory and overload every tick until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        clients: Arc<Clients>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(self.cfg.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut state = Overload::default();
        let mut last = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            let elapsed = now.duration_since(last);
            last = now;
            self.tick(&clients, &metrics, &mut state, now, elapsed);
        }
    }

    fn tick(
        &self,
        clients: &Clients,
        metrics: &Metrics,
        state: &mut Overload,
        now: Instant,
        elapsed: Duration,
    ) {
        let list = clients.list();
        let seen = update_rates(&list, elapsed, self.cfg.rate_half_life);
        let hot = mark_hot(&list, self.cfg.hot_factor, self.cfg.bystander_rate_min);
        self.hot_clients.store(hot, Ordering::Relaxed);
        let mut memory: usize = list.iter().map(|c| c.buffered()).sum();
        self.clients_memory.store(memory, Ordering::Relaxed);
        if memory > self.cfg.clients_memory_bytes_max {
            let mut by_size: Vec<_> = list.iter().filter(|c| !c.kill.is_cancelled()).collect();
            by_size.sort_by_key(|c| std::cmp::Reverse(c.buffered()));
            for c in by_size {
                if memory <= self.cfg.clients_memory_bytes_max {
                    break;
                }
                memory = memory.saturating_sub(c.buffered());
                self.shed(c, ShedReason::ClientsMemory, metrics);
            }
        }
        if let Some(victim) = state.next_victim(&seen, now, self.cfg.shed_after) {
            self.shed(&victim, ShedReason::Overload, metrics);
        }
        if let Some(idle_after) = self.cfg.idle_timeout {
            for c in idle_clients(&list, idle_after) {
                self.shed(c, ShedReason::IdleTimeout, metrics);
            }
        }
    }
}

/// Clients that sent no request for `idle_after` and wait for no reply (Redis's `timeout`). The
/// tick finds them, not a timer per connection: a timer set and cleared on every request cost
/// each request a trip through the runtime's timer wheel.
fn idle_clients(list: &[Arc<ClientState>], idle_after: Duration) -> Vec<&Arc<ClientState>> {
    list.iter()
        .filter(|c| c.inflight.load(Ordering::Relaxed) == 0 && c.idle() >= idle_after)
        .collect()
}

/// What one tick saw of a client.
struct Seen {
    client: Arc<ClientState>,
    /// Requests of it refused since the previous tick.
    refused: u64,
}

/// Folds each client's requests since the last tick into its decaying rate.
fn update_rates(list: &[Arc<ClientState>], elapsed: Duration, half_life: Duration) -> Vec<Seen> {
    let dt = elapsed.as_secs_f64().max(1e-3);
    let alpha = 1.0 - 0.5f64.powf(dt / half_life.as_secs_f64());
    list.iter()
        .map(|c| {
            let commands = c.commands.load(Ordering::Relaxed);
            let done =
                commands.saturating_sub(c.rate.commands_seen.swap(commands, Ordering::Relaxed));
            let refused_total = c.refused.load(Ordering::Relaxed);
            let refused = refused_total
                .saturating_sub(c.rate.refused_seen.swap(refused_total, Ordering::Relaxed));
            let rate = c.rate.get();
            c.rate.set(rate + alpha * (done as f64 / dt - rate));
            Seen {
                client: c.clone(),
                refused,
            }
        })
        .collect()
}

/// Marks as hot each client whose rate exceeds `factor` times the mean of the other active
/// clients, when those together send at least `bystanders_min` requests per second (none when
/// it is the only active one); returns how many are hot.
fn mark_hot(list: &[Arc<ClientState>], factor: f64, bystanders_min: f64) -> usize {
    let rates: Vec<f64> = list.iter().map(|c| c.rate()).collect();
    let active: Vec<f64> = rates
        .iter()
        .copied()
        .filter(|&r| r >= ACTIVE_RATE_MIN)
        .collect();
    let (sum, n) = (active.iter().sum::<f64>(), active.len());
    let mut hot = 0;
    for (c, &r) in list.iter().zip(&rates) {
        let others = sum - r;
        let is_hot = r >= ACTIVE_RATE_MIN
            && n > 1
            && others >= bystanders_min
            && r > factor * others / (n - 1) as f64;
        c.hot.store(is_hot, Ordering::Relaxed);
        hot += usize::from(is_hot);
    }
    hot
}

/// How long refusals have gone on, and when the last client was shed for it.
#[derive(Default)]
struct Overload {
    since: Option<Instant>,
    last_shed: Option<Instant>,
}

impl Overload {
    /// The client to disconnect now, if refusals have gone on for `after` (and no client was
    /// shed for it within `after`): the one with the highest rate among those refused in this
    /// tick.
    fn next_victim(
        &mut self,
        seen: &[Seen],
        now: Instant,
        after: Duration,
    ) -> Option<Arc<ClientState>> {
        let refused: Vec<&Seen> = seen.iter().filter(|s| s.refused > 0).collect();
        if refused.is_empty() {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        let waited = now.duration_since(since) >= after
            && self
                .last_shed
                .is_none_or(|t| now.duration_since(t) >= after);
        if !waited {
            return None;
        }
        let victim = refused
            .iter()
            .filter(|s| !s.client.kill.is_cancelled())
            .max_by(|a, b| a.client.rate().total_cmp(&b.client.rate()))?;
        self.last_shed = Some(now);
        Some(victim.client.clone())
    }
}

#[cfg(test)]
mod tests;
