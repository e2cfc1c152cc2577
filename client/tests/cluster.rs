//! `tanli-client` against real multi-node clusters (`tanli-server` processes on loopback; build
//! them first with `cargo build --release --bins`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tanli_client::{Client, Config};
use tanli_tests::Cluster;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn seeds(cluster: &Cluster) -> Vec<String> {
    cluster.addrs().iter().map(|a| a.to_string()).collect()
}

async fn connect(seeds: &[String], cfg: Config) -> Client {
    let refs: Vec<&str> = seeds.iter().map(String::as_str).collect();
    Client::connect_with(&refs, cfg).await.expect("connect")
}

/// A retry budget that outlasts a failover (about 2 s with the test timing).
fn patient() -> Config {
    Config {
        request_timeout: Duration::from_millis(1000),
        attempts_max: 40,
        backoff_max: Duration::from_millis(400),
        ..Config::default()
    }
}

/// Kills the leader of `key`'s shard `times` times, restarting it after a new leader is up.
fn kill_leaders(cluster: &mut Cluster, key: &str, times: usize) {
    for _ in 0..times {
        std::thread::sleep(Duration::from_millis(1200));
        let leader = cluster.leader_of(key);
        cluster.kill9(leader);
        let _ = cluster.leader_of(key);
        cluster.restart(leader);
    }
    std::thread::sleep(Duration::from_millis(800));
}

#[test]
fn increments_survive_leader_kills_exactly_once_and_naive_retries_overcount() {
    let rt = runtime();
    let mut cluster = Cluster::start(3);
    let seeds = seeds(&cluster);
    let client = rt.block_on(connect(&seeds, patient()));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, maybe, refused) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            let (ok, maybe, refused) = (ok.clone(), maybe.clone(), refused.clone());
            rt.spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    match client.incr("storm").await {
                        Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(e) if e.may_have_applied() => maybe.fetch_add(1, Ordering::SeqCst),
                        Err(_) => refused.fetch_add(1, Ordering::SeqCst),
                    };
                }
            })
        })
        .collect();
    kill_leaders(&mut cluster, "storm", 3);
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        rt.block_on(t).expect("task");
    }
    let final_value: i64 = rt.block_on(async {
        let v = client
            .get("storm")
            .await
            .expect("final read")
            .expect("a value");
        std::str::from_utf8(&v)
            .expect("utf8")
            .parse()
            .expect("integer")
    });
    let (ok, maybe, refused) = (
        ok.load(Ordering::SeqCst),
        maybe.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst),
    );
    println!(
        "tanli-client: {ok} acknowledged, {maybe} unknown, {refused} refused; counter {final_value} (over-count {})",
        final_value - ok as i64
    );
    assert!(ok > 100, "too few increments: {ok}");
    assert!(
        (ok as i64..=(ok + maybe) as i64).contains(&final_value),
        "counter {final_value} outside [{ok}, {}]",
        ok + maybe
    );
    assert_eq!(maybe, 0, "the retry budget outlasts the failovers");
    assert_eq!(
        final_value, ok as i64,
        "every acknowledged increment counted exactly once"
    );

    // The same storm through the `redis` crate, retrying any error naively.
    let nodes = cluster.addrs();
    let stop = Arc::new(AtomicBool::new(false));
    let naive_ok = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (stop, naive_ok, nodes) = (stop.clone(), naive_ok.clone(), nodes.clone());
            std::thread::spawn(move || {
                let client = tanli_tests::client::cluster_client(&nodes);
                let mut conn = None;
                while !stop.load(Ordering::SeqCst) {
                    // One logical increment: retried on every error until it succeeds.
                    loop {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        if conn.is_none() {
                            conn = client.get_connection().ok();
                        }
                        let Some(c) = conn.as_mut() else {
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        };
                        match redis::cmd("INCR").arg("naive").query::<i64>(c) {
                            Ok(_) => {
                                naive_ok.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            Err(_) => {
                                conn = None;
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    kill_leaders(&mut cluster, "naive", 3);
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().expect("thread");
    }
    let naive_final: i64 = rt.block_on(async {
        let v = client.get("naive").await.expect("read").unwrap_or_default();
        std::str::from_utf8(&v).unwrap_or("0").parse().unwrap_or(0)
    });
    let naive_ok = naive_ok.load(Ordering::SeqCst) as i64;
    println!(
        "redis crate, naive retry: {naive_ok} acknowledged; counter {naive_final} (over-count {})",
        naive_final - naive_ok
    );
    assert!(
        naive_final >= naive_ok,
        "an acknowledged increment was lost"
    );
}

#[test]
fn a_million_ids_from_eight_clients_are_unique_and_increasing() {
    let rt = runtime();
    let cluster = Cluster::start(3);
    let seeds = seeds(&cluster);
    let per_client = 125_000usize;
    let batches: Vec<Vec<u64>> = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let client = connect(&seeds, Config::default()).await;
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    ids.push(client.next_id().await.expect("id"));
                }
                ids
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    });
    let mut all = HashSet::with_capacity(per_client * 8);
    let mut workers = HashSet::new();
    for ids in &batches {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids increase per client"
        );
        workers.insert(tanli_client::id_parts(ids[0]).1);
        all.extend(ids.iter().copied());
    }
    assert_eq!(all.len(), per_client * 8, "every id is unique");
    assert_eq!(workers.len(), 8, "each client leased its own worker id");
}

#[test]
fn concurrent_compare_and_set_has_exactly_one_winner() {
    let rt = runtime();
    let cluster = Cluster::start(3);
    let seeds = seeds(&cluster);
    rt.block_on(async {
        let client = connect(&seeds, Config::default()).await;
        for round in 0..20 {
            let key = format!("cas:{round}");
            client.set(&key, "unpaid").await.expect("set");
            let racers: Vec<_> = (0..16)
                .map(|i| {
                    let (client, key) = (client.clone(), key.clone());
                    tokio::spawn(async move {
                        client
                            .set_if_eq(&key, "unpaid", format!("paid-by-{i}"))
                            .await
                            .expect("set_if_eq")
                    })
                })
                .collect();
            let mut winners = 0;
            for r in racers {
                winners += usize::from(r.await.expect("task"));
            }
            assert_eq!(winners, 1, "round {round}");
            let value = client.get(&key).await.expect("get").expect("value");
            assert!(value.starts_with(b"paid-by-"));
            assert!(!client.del_if_eq(&key, "unpaid").await.expect("delifeq"));
            assert!(client.del_if_eq(&key, &value).await.expect("delifeq"));
            assert!(!client.set_xx(&key, "x").await.expect("set xx"));
            assert!(client.set_nx(&key, "x").await.expect("set nx"));
            assert_eq!(
                client.getset(&key, "y").await.expect("getset").as_deref(),
                Some(&b"x"[..])
            );
        }
    });
}

#[test]
fn a_moved_leader_is_followed_without_an_error() {
    let rt = runtime();
    let mut cluster = Cluster::start(3);
    let seeds = seeds(&cluster);
    let client = rt.block_on(connect(&seeds, patient()));
    rt.block_on(client.set("moving", "1")).expect("first write");
    // The client's map still names the old leader: after it dies and comes back as a
    // follower, the client meets a dead connection, then `-MOVED`, and must hide both.
    let leader = cluster.leader_of("moving");
    cluster.kill9(leader);
    let new_leader = cluster.leader_of("moving");
    assert_ne!(new_leader, leader);
    cluster.restart(leader);
    rt.block_on(async {
        client
            .set("moving", "2")
            .await
            .expect("write after the leader moved");
        assert_eq!(
            client.get("moving").await.expect("read").as_deref(),
            Some(&b"2"[..])
        );
    });
}
