//! t20: a 3-node self-organising cluster (node 1 bootstraps 8 data shards, nodes 2 and 3
//! `--join`; with replication factor 3 every node holds every shard, and each shard has its own
//! leader). The promise under test: a key's writes go through its shard's leader, other nodes
//! redirect like Redis Cluster, and no acknowledged write is lost when a leader is killed, when
//! the killed node comes back, or when every node restarts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tanli_tests::client::{
    self, cluster_node_id, get_each, get_many, moved_to, query, query_err, RaftStatus,
};
use tanli_tests::cluster::{ClusterOptions, ELECTION_TIMEOUT, SETTLE_TIMEOUT};
use tanli_tests::raw::{self, RawConn, Reply};
use tanli_tests::slot::key_slot;
use tanli_tests::{wait_until, Cluster, Node, Writer};

/// Failover must make a key writable again within this time ("a few seconds").
const FAILOVER_MAX: Duration = Duration::from_secs(10);

/// A key's shard leader serves it; every other node answers a key command (read or write) with
/// `-MOVED <slot> <leader address>` using Redis Cluster's slot function, so cluster clients can
/// find the leader. Multi-key commands work within one slot (hash tags) and are refused with
/// `-CROSSSLOT` across slots. Every node then catches up with every shard it holds.
#[test]
fn shard_leader_serves_others_redirect_with_moved() {
    let cluster = Cluster::start(3);
    for key in ["foo", "bar", "{user1000}.following"] {
        let mut c = cluster.leader_conn_for(key);
        assert_eq!(query::<String>(&mut c, &["SET", key, "v"]), "OK");
        assert_eq!(
            query::<Option<String>>(&mut c, &["GET", key]),
            Some("v".into())
        );
    }

    for key in ["foo", "bar", "{user1000}.following", "never-written"] {
        let leader = cluster.leader_of(key);
        let leader_addr = cluster.node(leader).addr();
        for other in cluster.running_ids().into_iter().filter(|&id| id != leader) {
            let mut f = cluster.node(other).conn();
            for args in [vec!["GET", key], vec!["SET", key, "x"]] {
                let err = redis::cmd(args[0])
                    .arg(&args[1..])
                    .query::<redis::Value>(&mut f)
                    .expect_err("a non-leader must not serve a key command");
                assert_eq!(
                    moved_to(&err),
                    Some((key_slot(key.as_bytes()), leader_addr)),
                    "node {other} answered {args:?} with {err}"
                );
            }
            // Commands without keys are served locally.
            assert_eq!(query::<String>(&mut f, &["PING"]), "PONG");
        }
    }

    // Multi-key commands: one slot through a hash tag is fine, across slots is CROSSSLOT.
    let mut c = cluster.leader_conn_for("{acct}");
    assert_eq!(
        query::<String>(&mut c, &["MSET", "{acct}a", "1", "{acct}b", "2"]),
        "OK"
    );
    assert_eq!(
        query::<Vec<Option<String>>>(&mut c, &["MGET", "{acct}a", "{acct}b", "{acct}c"]),
        vec![Some("1".into()), Some("2".into()), None]
    );
    let err = query_err(&mut c, &["MSET", "{acct}a", "3", "foo", "4"]);
    assert!(err.starts_with("CROSSSLOT"), "MSET across slots: {err}");
    assert_eq!(query::<String>(&mut c, &["GET", "{acct}a"]), "1");

    for id in cluster.running_ids() {
        cluster.wait_caught_up(id);
    }
    // The refused SETs on other nodes changed nothing.
    let mut cc = cluster.cluster_conn();
    assert_eq!(
        get_each(
            &mut cc,
            &["foo".into(), "bar".into(), "never-written".into()]
        )
        .expect("GETs through a cluster connection"),
        vec![Some("v".into()), Some("v".into()), None]
    );
}

/// The central promise. One client streams distinct SETs over all slots, recording the
/// acknowledged ones; the leader of a probe key's shard is killed with SIGKILL mid-stream. The
/// probe key must be writable again within a few seconds (kill → first successful write,
/// measured and printed), writes must resume, and every acknowledged write must be readable.
/// Then the killed node restarts on its data dir, keeps its id, catches up, and is a working
/// member: its vote is needed when another node is killed next.
#[test]
fn leader_kill9_loses_no_acknowledged_write() {
    const PROBE: &str = "failover-probe";
    let mut cluster = Cluster::start(3);
    let old_leader = cluster.leader_of(PROBE);
    let writer = Writer::spawn("failover", cluster.addrs(), None);
    writer.wait_acked(
        300,
        Duration::from_secs(60),
        "300 writes acknowledged before the kill",
    );

    let before_kill = writer.acked();
    let killed_at = Instant::now();
    cluster.kill9(old_leader);
    let mut attempts = 0u32;
    wait_until(
        ELECTION_TIMEOUT,
        &format!("a successful SET of {PROBE} after its leader (node {old_leader}) was killed"),
        || {
            attempts += 1;
            cluster.try_set(PROBE, "after-failover")
        },
    );
    let first_write = killed_at.elapsed();
    let new_leader = cluster.leader_of(PROBE);
    let elected = killed_at.elapsed();
    println!(
        "failover: leader {old_leader} of {PROBE:?}'s shard killed; first successful write after \
         {first_write:?} ({attempts} attempts); node {new_leader} leads it (seen after {elected:?})"
    );
    assert_ne!(new_leader, old_leader);
    assert!(
        first_write <= FAILOVER_MAX,
        "the first write after the kill took {first_write:?} (limit {FAILOVER_MAX:?})"
    );
    cluster.wait_leaders(ELECTION_TIMEOUT);
    println!(
        "every slot has a live leader {:?} after the kill",
        killed_at.elapsed()
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
    let mut cc = cluster.cluster_conn();
    log.assert_all_acked_readable(&mut cc);

    // The killed node comes back with its identity and data, and catches up with what it missed.
    cluster.restart(old_leader);
    let mut c = cluster.node(old_leader).conn();
    assert_eq!(
        query::<String>(&mut c, &["CLUSTER", "MYID"]),
        cluster_node_id(old_leader)
    );
    let mut cc = cluster.cluster_conn();
    let set: String = redis::cmd("SET")
        .arg("after-restart")
        .arg("yes")
        .query(&mut cc)
        .expect("SET through the cluster after the restart");
    assert_eq!(set, "OK");
    cluster.wait_settled(tanli_tests::cluster::SETTLE_TIMEOUT);
    cluster.wait_caught_up(old_leader);

    // A second failure: another node killed; every shard it led needs the restarted node's vote
    // for a new leader, and the cluster still holds every acknowledged write.
    let victim = cluster
        .running_ids()
        .into_iter()
        .find(|&id| id != old_leader)
        .expect("another node");
    cluster.kill9(victim);
    cluster.wait_leaders(ELECTION_TIMEOUT);
    let mut cc = cluster.cluster_conn();
    log.assert_all_acked_readable(&mut cc);
    assert_eq!(
        get_each(&mut cc, &["after-restart".into()]).expect("GET after-restart"),
        vec![Some("yes".into())]
    );
}

/// Every node killed with SIGKILL at once, then all restarted on their data dirs (each joining
/// through the others): every slot gets a leader again and all data is intact — values,
/// counters, deletions — and the cluster takes writes again, replicated to every node.
#[test]
fn full_cluster_restart_keeps_data() {
    let mut cluster = Cluster::start(3);
    let keys: Vec<String> = (0..1000).map(|i| format!("full:{i}")).collect();
    let pairs: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), format!("{k}-v"))).collect();
    cluster.set_many(&pairs);
    {
        let mut c = cluster.leader_conn_for("full:counter");
        for _ in 0..25 {
            query::<i64>(&mut c, &["INCR", "full:counter"]);
        }
        let mut c = cluster.leader_conn_for("full:0");
        assert_eq!(query::<i64>(&mut c, &["DEL", "full:0"]), 1);
    }
    let ids_before = cluster.ids();
    cluster.kill_all();
    cluster.restart_all();
    assert_eq!(cluster.ids(), ids_before, "restarted nodes keep their ids");

    let mut cc = cluster.cluster_conn();
    let values = get_each(&mut cc, &keys).expect("read back");
    assert_eq!(values[0], None, "full:0 was deleted before the restart");
    for (key, value) in keys.iter().zip(&values).skip(1) {
        assert_eq!(value.as_deref(), Some(format!("{key}-v").as_str()), "{key}");
    }
    let counter: String = redis::cmd("GET")
        .arg("full:counter")
        .query(&mut cc)
        .expect("GET full:counter");
    assert_eq!(counter, "25");
    let incr: i64 = redis::cmd("INCR")
        .arg("full:counter")
        .query(&mut cc)
        .expect("INCR full:counter");
    assert_eq!(incr, 26);
    for id in cluster.running_ids() {
        cluster.wait_caught_up(id);
        let status = cluster.node(id).raft_status().expect("INFO raft");
        assert!(status.shards.contains_key(&0), "node {id}: no meta shard");
        assert_eq!(
            status.shards.keys().filter(|&&s| s != 0).count(),
            8,
            "node {id} should hold all 8 data shards (3 nodes, replication 3): {status:?}"
        );
    }
}

/// Raft timing with elections slow enough that a killed leader is back before its followers
/// give up on it.
const SLOW_ELECTIONS: [&str; 6] = [
    "--heartbeat-interval-ms",
    "300",
    "--election-timeout-min-ms",
    "6000",
    "--election-timeout-max-ms",
    "7000",
];

/// A shard leader killed with SIGKILL and restarted before its followers' election timeout does
/// not take its old term back: every shard it led gets a leader at a higher term. Back in its old
/// term it could write, at (term, index) ids a follower already holds, entries other than the ones
/// it had sent before the kill but not yet synced itself; logs would diverge and an acknowledged
/// write could vanish (Jepsen `set × kill` found one).
#[test]
fn restarted_leader_does_not_resume_its_old_term() {
    let mut cluster = Cluster::start_opts(
        3,
        ClusterOptions {
            timing: Some(SLOW_ELECTIONS),
            ..ClusterOptions::default()
        },
    );
    let led_by = |id: u64| -> BTreeMap<u64, u64> {
        let status = cluster.node(id).raft_status().expect("INFO raft");
        status
            .shards
            .values()
            .filter(|s| s.shard != 0 && s.role == "leader")
            .map(|s| (s.shard, s.term))
            .collect()
    };
    let (victim, led) = cluster
        .running_ids()
        .into_iter()
        .map(|id| (id, led_by(id)))
        .find(|(_, led)| !led.is_empty())
        .expect("some node leads a data shard");
    let killed = Instant::now();
    cluster.kill9(victim);
    cluster.restart(victim);
    let back_after = killed.elapsed();
    assert!(
        back_after < Duration::from_secs(5),
        "the restart took {back_after:?}: too slow to beat the followers' election timeout, so \
         this test would show nothing"
    );
    wait_until(
        ELECTION_TIMEOUT,
        "every shard the killed node led to have a leader at a higher term",
        || {
            // One INFO raft per node per probe, read for every shard the victim led.
            let statuses: Vec<(u64, RaftStatus)> = cluster
                .raft_statuses()
                .into_iter()
                .filter_map(|(id, st)| Some((id, st.ok()?)))
                .collect();
            for (&shard, &old_term) in &led {
                let leaders: Vec<(u64, u64)> = statuses
                    .iter()
                    .filter_map(|(id, st)| {
                        let s = st.shards.get(&shard)?;
                        (s.role == "leader").then_some((*id, s.term))
                    })
                    .collect();
                if !leaders.iter().any(|&(_, term)| term > old_term) {
                    return Err(format!(
                        "shard {shard} (term {old_term} before the kill): leaders (node, term) \
                         {leaders:?}"
                    ));
                }
            }
            Ok(())
        },
    );
}

/// A node that was down while the leaders wrote far more entries than they keep in their logs
/// (snapshots every 100 entries, so the log it missed is purged) catches up by installing
/// snapshots, and then holds every key: read back on that node with `READONLY`.
#[test]
fn lagging_node_catches_up_by_snapshot() {
    let mut cluster = Cluster::start_with(3, &["--snapshot-logs-since-last", "100"]);
    // Any node: with 3 nodes and replication 3, every node holds every shard.
    let lagging = cluster.ids()[2];
    cluster.kill9(lagging);
    cluster.wait_leaders(ELECTION_TIMEOUT);

    let keys: Vec<String> = (0..2000).map(|i| format!("lag:{i}")).collect();
    let pairs: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), format!("{k}-v"))).collect();
    cluster.set_many(&pairs);

    cluster.restart(lagging);
    cluster.wait_caught_up(lagging);
    let mut f = cluster.node(lagging).conn();
    assert_eq!(query::<String>(&mut f, &["READONLY"]), "OK");
    let values = get_many(&mut f, &keys).expect("READONLY reads on the caught-up node");
    let missing: Vec<&String> = keys
        .iter()
        .zip(&values)
        .filter(|(key, value)| value.as_deref() != Some(format!("{key}-v").as_str()))
        .map(|(key, _)| key)
        .collect();
    assert!(
        missing.is_empty(),
        "{} keys missing or wrong on the caught-up node, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let log = std::fs::read_to_string(cluster.node(lagging).log_path()).unwrap_or_default();
    println!(
        "node {lagging} installed a snapshot: {} (from its log; not asserted)",
        log.contains("install_full_snapshot")
    );
}

/// Key-less reads (DBSIZE, KEYS, SCAN) on a node must not silently answer "empty" while its
/// shards hold data: a Redis Cluster replica answers them from its own copy, and that is what a
/// `READONLY` connection (stale reads allowed) asks for. Every node holds every shard here, so a
/// caught-up node's copy is all 50 keys. Without READONLY, an error is also acceptable — an
/// empty answer is not: scripts that count or scan keys would see no data.
#[test]
fn keyless_reads_are_not_silently_empty() {
    let cluster = Cluster::start(3);
    cluster.wait_settled(SETTLE_TIMEOUT);
    let keys: Vec<String> = (0..50).map(|i| format!("kl:{i}")).collect();
    let pairs: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), "v".to_owned())).collect();
    cluster.set_many(&pairs);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    for id in cluster.running_ids() {
        cluster.wait_caught_up(id);
        for readonly in [true, false] {
            let mut f = cluster.node(id).conn();
            // READONLY: every replica this node holds (all shards: 3 nodes, 3 replicas). Else
            // the node's primary slots: the keys of the shards it leads, as Redis Cluster.
            let want = if readonly {
                assert_eq!(query::<String>(&mut f, &["READONLY"]), "OK");
                sorted(keys.clone())
            } else {
                let led: Vec<String> = keys
                    .iter()
                    .filter(|k| cluster.leader_of(k) == id)
                    .cloned()
                    .collect();
                sorted(led)
            };
            let what = format!("node {id} (READONLY: {readonly})");
            match redis::cmd("DBSIZE").query::<i64>(&mut f) {
                Ok(n) => assert_eq!(n as usize, want.len(), "DBSIZE on {what}"),
                Err(e) => assert!(!readonly && want.is_empty(), "DBSIZE on {what} failed: {e}"),
            }
            match redis::cmd("KEYS").arg("*").query::<Vec<String>>(&mut f) {
                Ok(got) => assert_eq!(sorted(got), want, "KEYS * on {what}"),
                Err(e) => assert!(!readonly && want.is_empty(), "KEYS on {what} failed: {e}"),
            }
            let mut cursor = "0".to_owned();
            let mut seen = Vec::new();
            loop {
                let page = redis::cmd("SCAN")
                    .arg(&cursor)
                    .arg("COUNT")
                    .arg("7")
                    .query::<(String, Vec<String>)>(&mut f);
                match page {
                    Ok((next, got)) => {
                        seen.extend(got);
                        cursor = next;
                        if cursor == "0" {
                            break;
                        }
                    }
                    Err(e) => {
                        assert!(!readonly && want.is_empty(), "SCAN on {what} failed: {e}");
                        break;
                    }
                }
            }
            if !(want.is_empty() && !readonly && seen.is_empty()) {
                seen.sort();
                seen.dedup();
                assert_eq!(seen, want, "a full SCAN on {what}");
            }
        }
    }
    let info = client::info(&mut cluster.nodes[0].conn(), "cluster").expect("INFO cluster");
    assert_eq!(info.get("cluster_enabled").map(String::as_str), Some("1"));
    assert_eq!(
        info.get("cluster_known_nodes").map(String::as_str),
        Some("3")
    );
}

/// Writes that queue up together on a shard's leader share Raft entries (`proposer.rs`); the
/// promise is that this changes nothing a client can see. Eight clients each pipeline 250 INCRs
/// of one counter: every reply is a distinct value (each INCR applied exactly once), each
/// client's replies rise in the order it sent them, the counter ends at 2,000 on every replica,
/// and the leader's INFO shows at least four writes to an entry on average (the batching did
/// happen).
#[test]
fn pipelined_writes_share_entries_and_each_applies_once_in_order() {
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 250;
    let cluster = Cluster::start(3);
    let key = "batched-counter";
    let leader = cluster.leader_of(key);
    let addr = cluster.node(leader).addr();
    let before = entries_and_writes(cluster.node(leader));
    let replies: Vec<Vec<i64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                s.spawn(move || {
                    let mut c = client::connect(addr, None);
                    let mut pipe = redis::pipe();
                    for _ in 0..PER_CLIENT {
                        pipe.cmd("INCR").arg(key);
                    }
                    pipe.query::<Vec<i64>>(&mut c).expect("pipelined INCRs")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let mut all: Vec<i64> = Vec::new();
    for r in &replies {
        assert_eq!(r.len(), PER_CLIENT);
        assert!(
            r.windows(2).all(|w| w[0] < w[1]),
            "a client's INCR replies must rise in the order it sent them: {r:?}"
        );
        all.extend(r);
    }
    all.sort_unstable();
    let total = (CLIENTS * PER_CLIENT) as i64;
    assert_eq!(
        all,
        (1..=total).collect::<Vec<_>>(),
        "each INCR applied once"
    );

    let after = entries_and_writes(cluster.node(leader));
    let (entries, writes) = (after.0 - before.0, after.1 - before.1);
    assert!(writes >= total as u64, "writes proposed: {writes}");
    // A pipeline's writes are queued together, so an entry carries many of them; one that is
    // proposed only when the write before it was (two per entry, the bug this caught once)
    // leaves most entries with a write or two.
    println!("{writes} pipelined writes took {entries} entries");
    assert!(
        entries * 4 <= writes,
        "{writes} pipelined writes should have shared entries, at least 4 to an entry; took {entries}"
    );

    for id in cluster.running_ids() {
        cluster.wait_caught_up(id);
        let mut c = cluster.node(id).conn();
        assert_eq!(query::<String>(&mut c, &["READONLY"]), "OK");
        assert_eq!(
            query::<i64>(&mut c, &["GET", key]),
            total,
            "node {id} after catching up"
        );
    }
}

/// `raft_entries_proposed` and `raft_writes_proposed` from a node's INFO stats.
fn entries_and_writes(node: &Node) -> (u64, u64) {
    (
        node.info_number("stats", "raft_entries_proposed"),
        node.info_number("stats", "raft_writes_proposed"),
    )
}

/// A pipeline's consecutive reads are answered as one group (`read_group.rs`: one leadership
/// check per shard); the promise is that each is still answered as if it came alone, in the
/// order sent. One raw pipeline to node 1, sent in one write, reads a key of every shard three
/// times: as a plain connection (its own shards' values, `MOVED` for the others), after
/// `READONLY` (every value, served by its replicas), and after `READWRITE` (as the first time).
/// A write in the middle is seen by the read right behind it.
#[test]
fn pipelined_reads_answer_each_as_alone_in_order() {
    let cluster = Cluster::start(3);
    let keys = cluster.key_per_shard("piped");
    let mut cc = cluster.cluster_conn();
    for (i, key) in keys.iter().enumerate() {
        redis::cmd("SET")
            .arg(key)
            .arg(format!("v{i}"))
            .query::<()>(&mut cc)
            .expect("SET through a cluster connection");
    }
    let id = 1;
    cluster.wait_caught_up(id);
    let own = keys
        .iter()
        .position(|k| cluster.leader_of(k) == id)
        .expect("node 1 leads some shard");
    let leader_only = |values: &[String]| -> Vec<Reply> {
        keys.iter()
            .zip(values)
            .map(|(key, value)| match cluster.leader_of(key) {
                leader if leader == id => Reply::Bulk(Some(value.clone().into_bytes())),
                leader => Reply::Error(format!(
                    "MOVED {} {}",
                    key_slot(key.as_bytes()),
                    cluster.node(leader).addr()
                )),
            })
            .collect()
    };
    let mut values: Vec<String> = (0..keys.len()).map(|i| format!("v{i}")).collect();
    let mut sent: Vec<Vec<String>> = Vec::new();
    let mut want = Vec::new();
    let gets = |sent: &mut Vec<Vec<String>>| {
        sent.extend(keys.iter().map(|k| vec!["GET".to_string(), k.clone()]));
    };
    gets(&mut sent);
    want.extend(leader_only(&values));
    sent.push(vec!["SET".into(), keys[own].clone(), "rewritten".into()]);
    want.push(Reply::Simple("OK".into()));
    values[own] = "rewritten".into();
    sent.push(vec!["GET".into(), keys[own].clone()]);
    want.push(Reply::Bulk(Some(b"rewritten".to_vec())));
    sent.push(vec!["READONLY".into()]);
    want.push(Reply::Simple("OK".into()));
    gets(&mut sent);
    want.extend(
        values
            .iter()
            .map(|v| Reply::Bulk(Some(v.clone().into_bytes()))),
    );
    sent.push(vec!["READWRITE".into()]);
    want.push(Reply::Simple("OK".into()));
    gets(&mut sent);
    want.extend(leader_only(&values));

    let mut bytes = Vec::new();
    for args in &sent {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        bytes.extend(raw::encode(&args));
    }
    let mut conn = RawConn::connect(cluster.node(id).addr());
    conn.send(&bytes);
    for (i, (args, want)) in sent.iter().zip(&want).enumerate() {
        assert_eq!(&conn.read_reply(), want, "reply {i}, to {args:?}");
    }
}
