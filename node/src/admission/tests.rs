//! Unit tests of admission: rates, hot clients, refusals and the choice of whom to shed.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::clients::{ClientGuard, Clients};

fn clients(n: usize) -> (Arc<Clients>, Vec<ClientGuard>) {
    let reg = Arc::new(Clients::default());
    let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    let guards = (0..n).map(|_| reg.register(addr, addr)).collect();
    (reg, guards)
}

fn cfg(high: usize, max: usize) -> AdmissionConfig {
    AdmissionConfig {
        inflight_high_watermark: high,
        inflight_max: max,
        ..AdmissionConfig::default()
    }
}

/// Adds `n` requests to a client's count, as its connection would.
fn requests(g: &ClientGuard, n: u64) {
    g.state.commands.fetch_add(n, Ordering::Relaxed);
}

/// Folds the requests counted so far into every client's rate as one tick of one second, with
/// a half-life of one second: each rate becomes half of that second's requests.
fn one_half_life(reg: &Clients) {
    update_rates(&reg.list(), Duration::from_secs(1), Duration::from_secs(1));
}

#[test]
fn rate_decays_with_the_half_life() {
    let (reg, g) = clients(1);
    requests(&g[0], 1000);
    one_half_life(&reg);
    assert!(
        (g[0].state.rate() - 500.0).abs() < 1e-6,
        "half of 1000/s after one half-life"
    );
    one_half_life(&reg);
    assert!(
        (g[0].state.rate() - 250.0).abs() < 1e-6,
        "idle: halves again"
    );
}

#[test]
fn hot_is_relative_to_the_other_active_clients() {
    let (reg, g) = clients(12);
    // One flooder, ten modest clients, one idle connection.
    requests(&g[0], 50_000);
    for c in &g[1..11] {
        requests(c, 50);
    }
    one_half_life(&reg);
    assert_eq!(mark_hot(&reg.list(), 4.0, 10.0), 1);
    assert!(g[0].state.hot.load(Ordering::Relaxed));
    assert!(!g[5].state.hot.load(Ordering::Relaxed));
    assert!(!g[11].state.hot.load(Ordering::Relaxed));

    // Equal clients (a benchmark): none is hot. A lone busy client is not hot either.
    let (reg, g) = clients(50);
    for c in &g {
        requests(c, 2_000);
    }
    one_half_life(&reg);
    assert_eq!(mark_hot(&reg.list(), 4.0, 10.0), 0);
    let (reg, g) = clients(3);
    requests(&g[0], 100_000);
    one_half_life(&reg);
    assert_eq!(
        mark_hot(&reg.list(), 4.0, 10.0),
        0,
        "the others are idle: nobody to protect"
    );

    // A deep pipeline beside a health check, a monitor and a pool's spare connection (1, 2
    // and 3 requests in the second, 6 together): under bystander-rate-min, so it is not hot;
    // with a minimum of 0 (any active neighbour counts) it would be.
    let (reg, g) = clients(4);
    requests(&g[0], 30_000);
    for (c, n) in g[1..].iter().zip([1, 2, 3]) {
        requests(c, n);
    }
    one_half_life(&reg);
    assert_eq!(mark_hot(&reg.list(), 4.0, 10.0), 0, "quiet neighbours");
    assert_eq!(
        mark_hot(&reg.list(), 4.0, 0.0),
        1,
        "the same, any neighbour counts"
    );
    assert!(g[0].state.hot.load(Ordering::Relaxed));

    // A hundred slow clients (5 requests each in the second, 500 together) are protected.
    let (reg, g) = clients(101);
    requests(&g[0], 30_000);
    for c in &g[1..] {
        requests(c, 5);
    }
    one_half_life(&reg);
    assert_eq!(mark_hot(&reg.list(), 4.0, 10.0), 1, "many slow neighbours");
    assert!(g[0].state.hot.load(Ordering::Relaxed));
}

#[test]
fn hot_clients_are_refused_past_the_watermark_and_everyone_past_the_max() {
    let adm = Admission::new(cfg(2, 4));
    let (_reg, g) = clients(2);
    let (hot, calm) = (&g[0].state, &g[1].state);
    hot.hot.store(true, Ordering::Relaxed);
    let t1 = adm.admit(hot).expect("under the watermark");
    let _t2 = adm.admit(calm).expect("under the watermark");
    let refused = adm.admit(hot).err().expect("hot, at the watermark");
    let Reply::Error(text) = refused else {
        panic!("an error reply")
    };
    assert!(text.starts_with("TRYAGAIN node overloaded"), "{text}");
    assert!(text.ends_with("retry in 50 ms"), "{text}");
    assert_eq!(hot.refused.load(Ordering::Relaxed), 1);
    let _t3 = adm.admit(calm).expect("calm clients pass the watermark");
    let _t4 = adm.admit(calm).expect("up to the max");
    assert!(adm.admit(calm).is_err(), "past the max: everyone");
    assert_eq!(adm.inflight(), 4, "refusals hold nothing");
    drop(t1);
    assert_eq!(adm.inflight(), 3);
    assert_eq!(hot.inflight.load(Ordering::Relaxed), 0);
    assert_eq!(adm.refusals.load(Ordering::Relaxed), 2);
}

#[test]
fn a_ticket_grown_by_admit_more_counts_each_read_and_refuses_past_the_max() {
    let adm = Admission::new(cfg(2, 3));
    let (_reg, g) = clients(1);
    let calm = &g[0].state;
    let mut group = adm.admit(calm).expect("under the watermark");
    adm.admit_more(&mut group).expect("under the watermark");
    adm.admit_more(&mut group).expect("calm: up to the max");
    assert_eq!(adm.inflight(), 3);
    let refused = adm.admit_more(&mut group).expect_err("past the max");
    assert!(matches!(refused, Reply::Error(t) if t.starts_with("TRYAGAIN")));
    assert_eq!(adm.inflight(), 3, "a refused read holds nothing");
    assert_eq!(calm.inflight.load(Ordering::Relaxed), 3);
    drop(group);
    assert_eq!(adm.inflight(), 0, "the group's reads end together");
    assert_eq!(calm.inflight.load(Ordering::Relaxed), 0);
}

#[test]
fn idle_clients_are_those_quiet_for_the_timeout_with_nothing_in_flight() {
    let adm = Admission::new(cfg(10, 20));
    let (reg, g) = clients(3);
    let (quiet, waiting, talking) = (&g[0].state, &g[1].state, &g[2].state);
    let _ticket = adm.admit(waiting).expect("admitted");
    std::thread::sleep(Duration::from_millis(30));
    talking.touch(0, Instant::now());
    let list = reg.list();
    let ids: Vec<u64> = idle_clients(&list, Duration::from_millis(20))
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        ids,
        vec![quiet.id],
        "a request in flight or a recent one keeps a client"
    );
    assert!(idle_clients(&reg.list(), Duration::from_secs(5)).is_empty());
}

#[test]
fn the_hottest_refused_client_is_shed_after_overload_lasts() {
    let (reg, g) = clients(3);
    g[0].state.rate.set(10_000.0);
    g[1].state.rate.set(20_000.0);
    g[2].state.rate.set(90_000.0); // hottest, but never refused
    let after = Duration::from_secs(2);
    let mut o = Overload::default();
    let t0 = Instant::now();
    let seen = |refused: &[u64]| -> Vec<Seen> {
        reg.list()
            .into_iter()
            .zip(refused)
            .map(|(client, &refused)| Seen { client, refused })
            .collect()
    };
    assert!(o.next_victim(&seen(&[1, 1, 0]), t0, after).is_none());
    let at = |ms| t0 + Duration::from_millis(ms);
    assert!(o.next_victim(&seen(&[1, 1, 0]), at(1000), after).is_none());
    let v = o
        .next_victim(&seen(&[1, 1, 0]), at(2000), after)
        .expect("shed");
    assert_eq!(v.id, g[1].state.id, "the hottest refused one");
    assert!(
        o.next_victim(&seen(&[1, 0, 0]), at(2100), after).is_none(),
        "one per period"
    );
    // A tick without refusals ends the overload.
    assert!(o.next_victim(&seen(&[0, 0, 0]), at(4100), after).is_none());
    assert!(o.next_victim(&seen(&[1, 0, 0]), at(4200), after).is_none());
}
