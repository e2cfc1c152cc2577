//! `tanlictl` and the placement driver against real clusters (`tanli-server` processes on
//! loopback; build them first with `cargo build --release --bins`): a 3 → 5 node rebalance
//! under writes, a drain, a node killed past its grace period, and the meta leader killed in
//! the middle of a rebalance. Times are printed for the figures.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tanli_client::{Client, Config};
use tanli_tests::{wait_until, Cluster, ClusterOptions};

/// Runs `tanlictl --seed <node> args...`: (exit code, stdout, stderr).
fn ctl(cluster: &Cluster, args: &[&str]) -> (i32, String, String) {
    let seed = cluster.running_addrs()[0].to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_tanlictl"))
        .args(["--seed", &seed])
        .args(args)
        .output()
        .expect("run tanlictl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tanlictl --json status`, parsed.
fn status(cluster: &Cluster) -> Result<Value, String> {
    let (code, out, err) = ctl(cluster, &["--json", "status"]);
    if code != 0 {
        return Err(format!("tanlictl status exited {code}: {err}"));
    }
    serde_json::from_str(&out).map_err(|e| format!("status --json is not JSON ({e}): {out}"))
}

fn nodes(s: &Value) -> Vec<&Value> {
    s["nodes"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn node_of(s: &Value, id: u64) -> Option<&Value> {
    nodes(s).into_iter().find(|n| n["id"].as_u64() == Some(id))
}

/// `TANLI.REBALANCE STATUS JSON` through `redis-cli` (the running plan, else the last one).
fn rebalance_status(cluster: &Cluster) -> Result<Value, String> {
    let addr = cluster.running_addrs()[0];
    let out = Command::new("redis-cli")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["TANLI.REBALANCE", "STATUS", "JSON"])
        .output()
        .map_err(|e| format!("redis-cli: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).map_err(|e| format!("{e}: {text}"))
}

/// Every data shard has `r` replicas, all on live `up` nodes, with a leader; no plan runs.
fn fully_replicated(s: &Value, r: usize) -> Result<(), String> {
    let up: Vec<u64> = nodes(s)
        .iter()
        .filter(|n| n["state"] == "up" && n["live"] == true)
        .filter_map(|n| n["id"].as_u64())
        .collect();
    for sh in s["shards"].as_array().ok_or("no shards")? {
        let reps: Vec<u64> = sh["replicas"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        if reps.len() != r || !reps.iter().all(|n| up.contains(n)) || sh["leader"].is_null() {
            return Err(format!(
                "shard {} has replicas {reps:?}, leader {} (up: {up:?})",
                sh["id"], sh["leader"]
            ));
        }
    }
    if !s["plan"].is_null() {
        return Err(format!("plan {} still running", s["plan"]["id"]));
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A client that keeps writing unique keys with tanli-client's retries (request ids on), and
/// remembers what was acknowledged and what failed after all retries.
struct Writer {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<(Vec<String>, Vec<String>)>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Writer {
    fn start(rt: &tokio::runtime::Runtime, cluster: &Cluster) -> Writer {
        let seeds: Vec<String> = cluster
            .running_addrs()
            .iter()
            .map(|a| a.to_string())
            .collect();
        let cfg = Config {
            request_timeout: Duration::from_millis(1000),
            attempts_max: 40,
            backoff_max: Duration::from_millis(400),
            ..Config::default()
        };
        let refs: Vec<&str> = seeds.iter().map(String::as_str).collect();
        let client = rt
            .block_on(Client::connect_with(&refs, cfg))
            .expect("connect the writer");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new((Vec::new(), Vec::new())));
        let (s, l) = (stop.clone(), log.clone());
        let task = rt.spawn(async move {
            let mut i = 0u64;
            while !s.load(Ordering::SeqCst) {
                let key = format!("w:{i}");
                let r = client.set(&key, format!("v{i}")).await;
                {
                    let mut log = l.lock().unwrap_or_else(|e| e.into_inner());
                    match r {
                        Ok(()) => log.0.push(key),
                        Err(e) => log.1.push(format!("{key}: {e}")),
                    }
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Writer {
            stop,
            log,
            task: Some(task),
        }
    }

    /// Stops; returns (acknowledged keys, failures after retries).
    fn stop(mut self, rt: &tokio::runtime::Runtime) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.take() {
            rt.block_on(t).expect("writer task");
        }
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        (log.0.clone(), log.1.clone())
    }
}

impl Writer {
    /// Stops; no write failed beyond retries and every acknowledged one reads back.
    fn stop_and_check(self, rt: &tokio::runtime::Runtime, cluster: &Cluster) -> Vec<String> {
        let (acked, failed) = self.stop(rt);
        assert!(
            failed.is_empty(),
            "writes failed beyond retries: {failed:?}"
        );
        assert_readable(rt, cluster, &acked);
        acked
    }
}

/// Every acknowledged key reads back with its value.
fn assert_readable(rt: &tokio::runtime::Runtime, cluster: &Cluster, keys: &[String]) {
    let seeds: Vec<String> = cluster
        .running_addrs()
        .iter()
        .map(|a| a.to_string())
        .collect();
    let refs: Vec<&str> = seeds.iter().map(String::as_str).collect();
    rt.block_on(async {
        let c = Client::connect(&refs).await.expect("connect the reader");
        for key in keys {
            let want = format!("v{}", &key[2..]);
            let got = c.get(key).await.expect("read back");
            assert_eq!(
                got.as_deref(),
                Some(want.as_bytes()),
                "acknowledged write {key} lost"
            );
        }
    });
}

/// Starts two more nodes and waits until the cluster counts them up and live.
fn add_two_nodes(cluster: &mut Cluster) -> [u64; 2] {
    let added = [cluster.add_node(), cluster.add_node()];
    wait_until(Duration::from_secs(60), "the new nodes are up", || {
        let s = status(cluster)?;
        added
            .iter()
            .all(|id| node_of(&s, *id).is_some_and(|n| n["state"] == "up" && n["live"] == true))
            .then_some(())
            .ok_or_else(|| format!("{:?}", counts(&s)))
    });
    added
}

/// Per-node (replicas, leaders) of live up nodes.
fn counts(s: &Value) -> BTreeMap<u64, (u64, u64)> {
    nodes(s)
        .iter()
        .filter(|n| n["state"] == "up" && n["live"] == true)
        .filter_map(|n| {
            Some((
                n["id"].as_u64()?,
                (n["replicas"].as_u64()?, n["leaders"].as_u64()?),
            ))
        })
        .collect()
}

fn spread(c: &BTreeMap<u64, (u64, u64)>, f: impl Fn(&(u64, u64)) -> u64) -> u64 {
    let v: Vec<u64> = c.values().map(f).collect();
    v.iter().max().copied().unwrap_or(0) - v.iter().min().copied().unwrap_or(0)
}

#[test]
fn three_to_five_nodes_rebalance_with_tanlictl_while_a_client_writes() {
    let rt = runtime();
    let mut cluster = Cluster::start_opts(
        3,
        ClusterOptions {
            extra_args: vec!["--auto-rebalance".into(), "false".into()],
            ..ClusterOptions::default()
        },
    );
    cluster.wait_settled(Duration::from_secs(60));
    let writer = Writer::start(&rt, &cluster);
    let added = add_two_nodes(&mut cluster);
    let (code, out, _) = ctl(&cluster, &["rebalance", "--dry-run"]);
    assert_eq!(code, 0, "dry run: {out}");
    let before = status(&cluster).expect("status");
    assert!(
        counts(&before).get(&added[0]).is_some_and(|c| c.0 == 0),
        "a dry run moves nothing"
    );
    let started = Instant::now();
    let (code, out, err) = ctl(&cluster, &["rebalance", "--wait", "--timeout", "180"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "rebalance --wait: {out}\n{err}");
    eprintln!("FIGURE rebalance 3->5 nodes took {took:?}");
    // Leaders move right after the replicas: wait for the spread to settle within tolerance.
    wait_until(Duration::from_secs(60), "balanced within tolerance", || {
        let s = status(&cluster)?;
        let c = counts(&s);
        let ok = c.len() == 5
            && spread(&c, |c| c.0) <= 1
            && spread(&c, |c| c.1) <= 1
            && s["balance"]["balanced"] == true;
        ok.then_some(s.clone())
            .ok_or_else(|| format!("{c:?} {}", s["balance"]))
    });
    wait_until(Duration::from_secs(60), "every shard at 3 replicas", || {
        fully_replicated(&status(&cluster)?, 3)
    });
    let acked = writer.stop_and_check(&rt, &cluster);
    assert!(
        acked.len() > 50,
        "the writer made progress: {}",
        acked.len()
    );
}

#[test]
fn a_drained_node_holds_nothing_and_impossible_requests_are_refused() {
    let rt = runtime();
    let cluster = Cluster::start(4);
    cluster.wait_settled(Duration::from_secs(90));
    let writer = Writer::start(&rt, &cluster);
    let s = status(&cluster).expect("status");
    let meta_leader = s["meta_leader"].as_u64().expect("meta leader");
    let ids = cluster.ids();
    let victim = *ids.iter().find(|id| **id != meta_leader).expect("a node");
    let (code, out, err) = ctl(
        &cluster,
        &["drain", &victim.to_string(), "--wait", "--timeout", "120"],
    );
    assert_eq!(code, 0, "drain --wait: {out}\n{err}");
    wait_until(
        Duration::from_secs(60),
        "the drained node leads nothing",
        || {
            let s = status(&cluster)?;
            let n = node_of(&s, victim).ok_or("node gone")?;
            (n["replicas"] == 0 && n["leaders"] == 0 && n["state"] == "draining")
                .then_some(())
                .ok_or_else(|| format!("{n}"))
        },
    );
    let s = wait_until(
        Duration::from_secs(60),
        "3 replicas on the other nodes",
        || {
            let s = status(&cluster)?;
            fully_replicated(&s, 3).map(|_| s)
        },
    );
    // Three up nodes are left for replication factor 3: no second drain.
    let other = *ids
        .iter()
        .find(|id| **id != victim && **id != meta_leader)
        .expect("another node");
    let (code, _, err) = ctl(&cluster, &["drain", &other.to_string()]);
    assert_eq!(
        code, 1,
        "a drain below the replication factor is refused: {err}"
    );
    assert!(err.contains("would leave"), "{err}");
    // A node that holds replicas cannot be removed; the drained one can.
    let (code, _, err) = ctl(&cluster, &["remove", &other.to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("still holds replicas"), "{err}");
    let (code, _, err) = ctl(&cluster, &["remove", &victim.to_string()]);
    assert_eq!(code, 0, "{err}");
    // Moving a replica to a node that is not up is refused.
    let shard = s["shards"][0]["id"].as_u64().expect("a shard");
    let from = s["shards"][0]["replicas"][0].as_u64().expect("a replica");
    let (code, _, err) = ctl(
        &cluster,
        &[
            "move",
            &shard.to_string(),
            &from.to_string(),
            &victim.to_string(),
        ],
    );
    assert_eq!(code, 1, "{err}");
    writer.stop_and_check(&rt, &cluster);
}

#[test]
fn a_node_dead_past_its_grace_period_is_replaced() {
    const GRACE_MS: u64 = 3000;
    let rt = runtime();
    let mut cluster = Cluster::start_opts(
        4,
        ClusterOptions {
            extra_args: vec!["--dead-node-grace-ms".into(), GRACE_MS.to_string()],
            ..ClusterOptions::default()
        },
    );
    cluster.wait_settled(Duration::from_secs(90));
    let writer = Writer::start(&rt, &cluster);
    std::thread::sleep(Duration::from_millis(500));
    let s = status(&cluster).expect("status");
    let meta_leader = s["meta_leader"].as_u64().expect("meta leader");
    let victim = cluster
        .ids()
        .into_iter()
        .find(|id| {
            *id != meta_leader && node_of(&s, *id).is_some_and(|n| n["replicas"].as_u64() > Some(0))
        })
        .expect("a node holding replicas");
    let died = Instant::now();
    cluster.kill9(victim);
    let mut marked_down = None;
    wait_until(
        Duration::from_secs(120),
        "every shard back at 3 live replicas",
        || {
            let s = status(&cluster)?;
            if node_of(&s, victim).is_some_and(|n| n["state"] == "down") {
                marked_down.get_or_insert_with(|| died.elapsed());
            } else {
                return Err("not marked down".to_string());
            }
            fully_replicated(&s, 3)
        },
    );
    let restored = died.elapsed();
    let down = marked_down.unwrap_or_default();
    eprintln!(
        "FIGURE node marked down {down:?} after death (gossip detection + {GRACE_MS} ms grace); \
         full replication restored {restored:?} after death, {:?} after it was marked down",
        restored.saturating_sub(down)
    );
    assert!(
        down >= Duration::from_millis(GRACE_MS),
        "marked down before its grace period ended"
    );
    writer.stop_and_check(&rt, &cluster);
}

#[test]
fn the_new_meta_leader_resumes_a_rebalance_cut_short() {
    let rt = runtime();
    let mut cluster = Cluster::start_opts(
        3,
        ClusterOptions {
            extra_args: vec![
                "--auto-rebalance".into(),
                "false".into(),
                "--moves-in-flight-max".into(),
                "1".into(),
                "--dead-node-grace-ms".into(),
                "4000".into(),
            ],
            ..ClusterOptions::default()
        },
    );
    cluster.wait_settled(Duration::from_secs(60));
    add_two_nodes(&mut cluster);
    let (code, out, err) = ctl(&cluster, &["--json", "rebalance"]);
    assert_eq!(code, 0, "{out}{err}");
    let plan: Value = serde_json::from_str(&out).expect("plan JSON");
    let id = plan["id"].as_u64().expect("a plan id");
    let total = plan["total"].as_u64().expect("total");
    assert!(
        total >= 4,
        "a 3 -> 5 rebalance moves several replicas: {plan}"
    );
    let done_before = wait_until(Duration::from_secs(60), "the plan is under way", || {
        let s = status(&cluster)?;
        let done = s["plan"]["done"].as_u64().unwrap_or(0);
        (s["plan"]["id"].as_u64() == Some(id) && done >= 1 && done + 2 <= total)
            .then_some(done)
            .ok_or_else(|| format!("{}", s["plan"]))
    });
    let meta_leader = status(&cluster).expect("status")["meta_leader"]
        .as_u64()
        .expect("leader");
    cluster.kill9(meta_leader);
    // Another node's replica of the meta shard carries the plan; its new leader goes on.
    let end = wait_until(Duration::from_secs(180), "the same plan ends", || {
        let p = rebalance_status(&cluster)?;
        (p["id"].as_u64() == Some(id) && p["state"] == "done")
            .then_some(p.clone())
            .ok_or_else(|| format!("{p}"))
    });
    let finished = end["done"].as_u64().unwrap_or(0) + end["skipped"].as_u64().unwrap_or(0);
    assert_eq!(finished, total, "{end}");
    assert!(
        end["done"].as_u64().unwrap_or(0) > done_before,
        "moves were done after the kill: {end}"
    );
    let s = wait_until(
        Duration::from_secs(120),
        "full replication on live nodes",
        || {
            let s = status(&cluster)?;
            fully_replicated(&s, 3).map(|_| s)
        },
    );
    assert!(node_of(&s, meta_leader).is_some_and(|n| n["state"] == "down"));
    drop(rt);
}
