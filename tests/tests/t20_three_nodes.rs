//! t20: a static 3-node cluster (one data shard on all three). The promise under test: writes go
//! through the leader, followers redirect like Redis Cluster, and no acknowledged write is lost
//! when the leader is killed, when the killed node comes back, or when every node restarts.

use std::time::{Duration, Instant};

use tanli_tests::client::{self, get_many, moved_to, query};
use tanli_tests::cluster::ELECTION_TIMEOUT;
use tanli_tests::slot::key_slot;
use tanli_tests::{Cluster, Writer};

/// Failover must elect a new leader within this time ("a few seconds").
const FAILOVER_MAX: Duration = Duration::from_secs(10);

/// Writes through the leader succeed and replicate to both followers; a follower answers a key
/// command (read or write) with `-MOVED <slot> <leader address>` using Redis Cluster's slot
/// function, so cluster clients can find the leader.
#[test]
fn leader_serves_followers_redirect_with_moved() {
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let mut c = cluster.node(leader).conn();
    for key in ["foo", "bar", "{user1000}.following"] {
        assert_eq!(query::<String>(&mut c, &["SET", key, "v"]), "OK");
    }
    assert_eq!(
        query::<Option<String>>(&mut c, &["GET", "foo"]),
        Some("v".into())
    );

    for follower in cluster.running_ids().into_iter().filter(|&id| id != leader) {
        let mut f = cluster.node(follower).conn();
        for key in ["foo", "bar", "{user1000}.following", "never-written"] {
            for args in [vec!["GET", key], vec!["SET", key, "x"]] {
                let err = redis::cmd(args[0])
                    .arg(&args[1..])
                    .query::<redis::Value>(&mut f)
                    .expect_err("a follower must not serve a key command");
                assert_eq!(
                    moved_to(&err),
                    Some((key_slot(key.as_bytes()), cluster.node(leader).addr())),
                    "node {follower} answered {args:?} with {err}"
                );
            }
        }
        // Commands without keys are served locally.
        assert_eq!(query::<String>(&mut f, &["PING"]), "PONG");
        cluster.wait_caught_up(follower);
    }
    // The refused SETs on followers changed nothing.
    assert_eq!(
        query::<Option<String>>(&mut c, &["GET", "foo"]),
        Some("v".into())
    );
    assert_eq!(
        query::<Option<String>>(&mut c, &["GET", "never-written"]),
        None
    );
}

/// The central promise. One client streams distinct SETs, recording the acknowledged ones; the
/// leader is killed with SIGKILL mid-stream. A new leader must be agreed within a few seconds
/// (measured and printed), writes must resume, and every acknowledged write must be readable
/// from the new leader. Then the killed node restarts on its data dir, catches up, and is a working
/// member: it makes the majority in a second failover.
#[test]
fn leader_kill9_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3);
    let old_leader = cluster.leader();
    // Start at the leader; the writer follows MOVED and tries other nodes on errors.
    let mut nodes = cluster.addrs();
    nodes.rotate_left(usize::try_from(old_leader - 1).expect("id"));
    let writer = Writer::spawn("failover", nodes, None);
    writer.wait_acked(
        300,
        Duration::from_secs(60),
        "300 writes acknowledged before the kill",
    );

    let before_kill = writer.acked();
    let killed_at = Instant::now();
    cluster.node_mut(old_leader).kill9();
    let new_leader = cluster.wait_leader(ELECTION_TIMEOUT);
    let election = killed_at.elapsed();
    println!("leader {old_leader} killed; node {new_leader} leads after {election:?}");
    assert_ne!(new_leader, old_leader);
    assert!(
        election <= FAILOVER_MAX,
        "new leader took {election:?} (limit {FAILOVER_MAX:?})"
    );

    writer.wait_acked(
        before_kill + 300,
        Duration::from_secs(30),
        "300 more writes acknowledged after the failover",
    );
    let log = writer.stop();
    println!(
        "writer: {} acknowledged of {} sent; longest gap between acks {:?}; errors {:?}",
        log.acked.len(),
        log.attempted,
        log.longest_gap,
        log.errors
    );

    let mut c = cluster.node(new_leader).conn();
    log.assert_all_acked_readable(&mut c);
    let size = u64::try_from(query::<i64>(&mut c, &["DBSIZE"])).expect("DBSIZE >= 0");
    assert!(
        (log.acked.len() as u64..=log.attempted).contains(&size),
        "DBSIZE {size} outside [acknowledged {}, sent {}]",
        log.acked.len(),
        log.attempted
    );

    // The killed node comes back with its identity and data, and catches up with what it missed.
    cluster.node_mut(old_leader).restart();
    let mut c = cluster.leader_conn();
    assert_eq!(
        query::<String>(&mut c, &["SET", "after-restart", "yes"]),
        "OK"
    );
    let leader = cluster.leader();
    cluster.wait_caught_up(old_leader);
    let status = cluster
        .node(old_leader)
        .raft_status()
        .expect("INFO raft of the restarted node");
    assert_eq!(status.node_id, old_leader);
    assert_eq!(status.leader_id, Some(leader));

    // A second failover: with the current leader killed, the restarted node's vote is needed for
    // a majority, and the new leader still holds every acknowledged write.
    cluster.node_mut(leader).kill9();
    let third = cluster.wait_leader(ELECTION_TIMEOUT);
    assert_ne!(third, leader);
    let mut c = cluster.node(third).conn();
    log.assert_all_acked_readable(&mut c);
    assert_eq!(
        query::<Option<String>>(&mut c, &["GET", "after-restart"]),
        Some("yes".into())
    );
}

/// Every node killed with SIGKILL at once, then all restarted on their data dirs: a leader is
/// agreed again (openraft may let the old leader resume its own term) and all data is intact —
/// values, counters and DBSIZE.
#[test]
fn full_cluster_restart_keeps_data() {
    let mut cluster = Cluster::start(3);
    let keys: Vec<String> = (0..1000).map(|i| format!("full:{i}")).collect();
    {
        let mut c = cluster.leader_conn();
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("SET").arg(key).arg(format!("{key}-v")).ignore();
        }
        pipe.query::<()>(&mut c)
            .expect("pipelined SETs on the leader");
        for _ in 0..25 {
            query::<i64>(&mut c, &["INCR", "full:counter"]);
        }
        assert_eq!(query::<i64>(&mut c, &["DEL", "full:0"]), 1);
    }
    cluster.kill_all();
    cluster.restart_all();
    let leader = cluster.leader();
    let mut c = cluster.node(leader).conn();
    let values = get_many(&mut c, &keys).expect("read back");
    assert_eq!(values[0], None, "full:0 was deleted before the restart");
    for (key, value) in keys.iter().zip(&values).skip(1) {
        assert_eq!(value.as_deref(), Some(format!("{key}-v").as_str()), "{key}");
    }
    assert_eq!(query::<String>(&mut c, &["GET", "full:counter"]), "25");
    assert_eq!(query::<i64>(&mut c, &["DBSIZE"]), 1000);
    // And the cluster accepts writes again, replicated to every node.
    assert_eq!(query::<i64>(&mut c, &["INCR", "full:counter"]), 26);
    for id in cluster.running_ids() {
        cluster.wait_caught_up(id);
    }
    let info = client::info(&mut c, "raft").expect("INFO raft");
    assert_eq!(info.get("raft_shards").map(String::as_str), Some("1"));
}

/// A follower that was down while the leader wrote far more entries than it keeps in its log
/// (snapshots every 100 entries, so the log it missed is purged) catches up by installing a
/// snapshot, and then holds every key: read back on that follower with `READONLY`.
#[test]
fn lagging_follower_catches_up_by_snapshot() {
    let mut cluster = Cluster::start_with(3, &["--snapshot-logs-since-last", "100"]);
    let leader = cluster.leader();
    let lagging = cluster
        .running_ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    cluster.node_mut(lagging).kill9();

    let keys: Vec<String> = (0..2000).map(|i| format!("lag:{i}")).collect();
    let mut c = cluster.node(leader).conn();
    for chunk in keys.chunks(200) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("SET").arg(key).arg(format!("{key}-v")).ignore();
        }
        pipe.query::<()>(&mut c).expect("pipelined SETs");
    }

    cluster.node_mut(lagging).restart();
    cluster.wait_caught_up(lagging);
    let mut f = cluster.node(lagging).conn();
    assert_eq!(query::<String>(&mut f, &["READONLY"]), "OK");
    let values = get_many(&mut f, &keys).expect("READONLY reads on the caught-up follower");
    let missing: Vec<&String> = keys
        .iter()
        .zip(&values)
        .filter(|(key, value)| value.as_deref() != Some(format!("{key}-v").as_str()))
        .map(|(key, _)| key)
        .collect();
    assert!(
        missing.is_empty(),
        "{} keys missing or wrong on the caught-up follower, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let log = std::fs::read_to_string(cluster.node(lagging).log_path()).unwrap_or_default();
    println!(
        "follower {lagging} installed a snapshot: {} (from its log; not asserted)",
        log.contains("install_full_snapshot")
    );
}

/// Key-less reads (DBSIZE, KEYS, SCAN) on a follower must not silently answer "empty" while the
/// shard holds data: a Redis Cluster replica answers them from its replica of the data, and that
/// is what a `READONLY` connection (stale reads allowed) asks for. Without READONLY, an error is
/// also acceptable — an empty answer is not: scripts that count or scan keys would see no data.
#[test]
fn follower_keyless_reads_are_not_silently_empty() {
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let mut c = cluster.node(leader).conn();
    let keys: Vec<String> = (0..50).map(|i| format!("kl:{i}")).collect();
    for key in &keys {
        assert_eq!(query::<String>(&mut c, &["SET", key, "v"]), "OK");
    }
    let mut want = keys.clone();
    want.sort();

    for follower in cluster.running_ids().into_iter().filter(|&id| id != leader) {
        cluster.wait_caught_up(follower);
        for readonly in [true, false] {
            let mut f = cluster.node(follower).conn();
            if readonly {
                assert_eq!(query::<String>(&mut f, &["READONLY"]), "OK");
            }
            let what = format!("node {follower} (READONLY: {readonly})");
            match redis::cmd("DBSIZE").query::<i64>(&mut f) {
                Ok(n) => assert_eq!(n, 50, "DBSIZE on {what}"),
                Err(e) => assert!(!readonly, "DBSIZE on {what} failed: {e}"),
            }
            match redis::cmd("KEYS").arg("*").query::<Vec<String>>(&mut f) {
                Ok(mut got) => {
                    got.sort();
                    assert_eq!(got, want, "KEYS * on {what}");
                }
                Err(e) => assert!(!readonly, "KEYS on {what} failed: {e}"),
            }
            match redis::cmd("SCAN")
                .arg("0")
                .arg("COUNT")
                .arg("1000")
                .query::<(String, Vec<String>)>(&mut f)
            {
                Ok((cursor, got)) => assert!(
                    cursor != "0" || got.len() == 50,
                    "SCAN 0 on {what} ended the iteration with {} of 50 keys",
                    got.len()
                ),
                Err(e) => assert!(!readonly, "SCAN on {what} failed: {e}"),
            }
        }
    }
}
