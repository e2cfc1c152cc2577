//! t21: the read policies on a 3-node cluster. By default (`--read-policy lease`) a shard leader
//! answers linearizable reads from its lease (a quorum acknowledgement younger than half of
//! election-timeout-min) instead of a heartbeat round per group of reads. The promises under
//! test: reads and writes behave as with ReadIndex, and a leader that has lost its quorum stops
//! answering reads once its lease has run out, instead of serving what may be stale; with
//! `--read-policy read-index` no lease is ever taken.

use std::time::{Duration, Instant};

use tanli_tests::client;
use tanli_tests::cluster::ELECTION_TIMEOUT;
use tanli_tests::{wait_until, Cluster};

/// Longer than any lease the test cluster's timing allows (half of election-timeout-min, at most
/// 375 ms with the server's defaults), with room for a loaded machine.
const LEASE_OVER: Duration = Duration::from_millis(1_500);

#[test]
fn a_lease_leader_cut_off_from_its_quorum_stops_answering_reads() {
    // The default policy: no flag.
    let mut cluster = Cluster::start(3);
    assert_policy(&cluster, "lease");
    // Leaders may still move (the cluster balances them), so a redirect or a retry is waited
    // out; a wrong value never is.
    set(&cluster, "v1");
    read_back(&cluster, "v1");
    set(&cluster, "v2");
    let (leader, mut c) = read_back(&cluster, "v2");
    // While a quorum acknowledges it, the leader reads on its local lease (no Raft round trip).
    wait_until(ELECTION_TIMEOUT, "a local lease on the leader", || {
        let leased = leases(&cluster, leader)?;
        if leased.iter().any(|(role, ms)| role == "leader" && *ms > 0) {
            Ok(())
        } else {
            Err(format!("roles and lease ms: {leased:?}"))
        }
    });

    // The leader loses both followers: once its lease is over, a read must not be answered from
    // its state (another leader could by then have been elected and have acknowledged writes).
    let others: Vec<u64> = cluster
        .running_ids()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();
    for &id in &others {
        cluster.kill9(id);
    }
    let killed = Instant::now();
    // Time itself is the condition here: the lease must run out.
    std::thread::sleep(LEASE_OVER);
    let leased = leases(&cluster, leader).expect("INFO raft");
    assert!(
        leased.iter().all(|(_, ms)| *ms == 0),
        "a local lease outlived the quorum: {leased:?}"
    );
    for i in 0..5 {
        let sent = killed.elapsed();
        match redis::cmd("GET").arg(KEY).query::<Option<String>>(&mut c) {
            Ok(v) => panic!(
                "read {i}, sent {sent:?} after the leader's followers were killed, answered {v:?}"
            ),
            Err(e) => assert!(
                matches!(e.code(), Some("TRYAGAIN" | "CLUSTERDOWN" | "MOVED")),
                "read {i}: {e}"
            ),
        }
    }

    // With its followers back, the cluster serves the last acknowledged value again.
    for &id in &others {
        cluster.restart(id);
    }
    cluster.wait_leaders(ELECTION_TIMEOUT);
    read_back(&cluster, "v2");
}

#[test]
fn the_read_index_policy_takes_no_lease() {
    let cluster = Cluster::start_with(3, &["--read-policy", "read-index"]);
    assert_policy(&cluster, "read-index");
    set(&cluster, "r1");
    read_back(&cluster, "r1");
    // Reads and writes went through the leaders just now; a lease would show on them.
    let leased: Vec<(String, u64)> = cluster
        .running_ids()
        .into_iter()
        .flat_map(|id| leases(&cluster, id).expect("INFO raft"))
        .collect();
    assert!(
        leased.iter().any(|(role, _)| role == "leader"),
        "no node leads a shard: {leased:?}"
    );
    assert!(
        leased.iter().all(|(_, ms)| *ms == 0),
        "a lease with the read-index policy: {leased:?}"
    );
}

const KEY: &str = "lease-probe";

/// Every node reports `policy` in INFO server.
fn assert_policy(cluster: &Cluster, policy: &str) {
    for id in cluster.running_ids() {
        let info = client::info(&mut cluster.node(id).conn(), "server").expect("INFO server");
        assert_eq!(
            info.get("read_policy").map(String::as_str),
            Some(policy),
            "node {id}"
        );
    }
}

/// Each hosted shard's role and how long its local lease still holds (INFO raft).
fn leases(cluster: &Cluster, id: u64) -> Result<Vec<(String, u64)>, String> {
    let status = cluster.node(id).raft_status()?;
    Ok(status
        .shards
        .into_values()
        .map(|s| (s.role, s.lease_remaining_ms))
        .collect())
}

fn set(cluster: &Cluster, value: &str) {
    wait_until(ELECTION_TIMEOUT, &format!("SET {KEY} {value}"), || {
        cluster.try_set(KEY, value)
    });
}

/// Reads `KEY` on its leader, twice pipelined and once alone, until no read is redirected or
/// refused; every value read must be `expected`. Returns the leader and the connection to it.
fn read_back(cluster: &Cluster, expected: &str) -> (u64, redis::Connection) {
    wait_until(
        ELECTION_TIMEOUT,
        &format!("reads of {KEY} on its leader"),
        || {
            let leader = cluster.leader_of(KEY);
            let mut c = cluster.node(leader).conn();
            let (a, b): (Option<String>, Option<String>) = redis::pipe()
                .cmd("GET")
                .arg(KEY)
                .cmd("GET")
                .arg(KEY)
                .query(&mut c)
                .map_err(|e| e.to_string())?;
            let alone: Option<String> = redis::cmd("GET")
                .arg(KEY)
                .query(&mut c)
                .map_err(|e| e.to_string())?;
            for v in [a, b, alone] {
                assert_eq!(v.as_deref(), Some(expected), "a read on node {leader}");
            }
            Ok::<_, String>((leader, c))
        },
    )
}
