//! t40: the real Redis tools against tanli — `redis-cli` (one-shot, piped, cluster mode) and
//! `redis-benchmark` — because "works with redis-cli and redis-benchmark" is a promise to users.
//! A test skips (and passes, saying so) only if the tool is not installed; `.ci/run` installs
//! redis-tools, so CI runs them all.

use std::net::SocketAddr;
use std::time::Duration;

use tanli_tests::client::query;
use tanli_tests::tools::{benchmark, have, run};
use tanli_tests::{Cluster, ClusterOptions, Node};

/// A full `redis-benchmark -n 20000` run of four tests must finish within this time.
const BENCHMARK_TIMEOUT: Duration = Duration::from_secs(300);
/// A one-shot `redis-cli` call must finish within this time.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

fn cli(port: u16, args: &[&str]) -> String {
    cli_with(port, &[], args, b"")
}

fn cli_with(port: u16, opts: &[&str], args: &[&str], stdin: &[u8]) -> String {
    cli_at(SocketAddr::from(([127, 0, 0, 1], port)), opts, args, stdin)
}

/// `redis-cli -h <ip> -p <port> opts... args...`, which must exit 0; its stdout.
fn cli_at(addr: SocketAddr, opts: &[&str], args: &[&str], stdin: &[u8]) -> String {
    let mut all: Vec<String> = vec![
        "-h".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
    ];
    all.extend(opts.iter().chain(args).map(|s| s.to_string()));
    let out = run("redis-cli", &all, stdin, CLI_TIMEOUT);
    assert!(out.status.success(), "redis-cli {all:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `redis-cli` one-shot commands, INFO, errors and commands piped on stdin all work, with
/// output identical to what redis-cli prints for real Redis.
#[test]
fn redis_cli_basic_commands_and_info() {
    if !have("redis-cli") {
        return;
    }
    let node = Node::start_single();
    let port = node.port();
    assert_eq!(cli(port, &["PING"]), "PONG\n");
    assert_eq!(cli(port, &["SET", "a", "b"]), "OK\n");
    assert_eq!(cli(port, &["GET", "a"]), "b\n");
    assert_eq!(cli(port, &["GET", "missing"]), "\n");
    assert_eq!(cli(port, &["DBSIZE"]), "1\n");
    // redis-cli prints an error reply followed by an empty line.
    assert_eq!(
        cli(port, &["FOO"]),
        "ERR unknown command 'FOO', with args beginning with: \n\n"
    );

    let info = cli(port, &["INFO"]);
    for needle in [
        format!("tcp_port:{port}"),
        "node_id:".into(),
        "db0:keys=1".into(),
    ] {
        assert!(info.contains(&needle), "INFO lacks {needle:?}:\n{info}");
    }
    let raft = cli(port, &["INFO", "raft"]);
    assert!(raft.contains("shard1_role:leader"), "INFO raft:\n{raft}");

    let piped = cli_with(port, &[], &[], b"SET x 1\nINCR x\nGET x\nGET nope\n");
    assert_eq!(piped, "OK\n2\n2\n\n");
}

/// `redis-cli -c` (cluster mode) sent to a node that does not lead the key's shard follows the
/// `-MOVED` redirect to the leader, so a stock Redis Cluster client can use any node as its
/// entry point.
#[test]
fn redis_cli_cluster_mode_follows_moved() {
    if !have("redis-cli") {
        return;
    }
    let cluster = Cluster::start(3);
    let leader = cluster.leader_of("k");
    let other = cluster
        .running_ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a node not leading the shard of k");
    let addr = cluster.node(other).addr();
    assert_eq!(cli_at(addr, &["-c"], &["SET", "k", "v"], b""), "OK\n");
    assert_eq!(cli_at(addr, &["-c"], &["GET", "k"], b""), "v\n");
    let mut c = cluster.node(leader).conn();
    assert_eq!(query::<String>(&mut c, &["GET", "k"]), "v");
}

/// Runs `redis-benchmark -t set,get,incr,mset -n 20000 -q` against `port` and checks it exits
/// cleanly, reports no error, and gives a rate for every test. Then checks the INCR counter:
/// 20000 acknowledged INCRs must have been applied exactly once each.
fn run_benchmark(node: &Node) {
    const REQUESTS: u64 = 20_000;
    let (ip, port, requests) = (
        node.addr().ip().to_string(),
        node.port().to_string(),
        REQUESTS.to_string(),
    );
    let args = [
        "-h",
        &ip,
        "-p",
        &port,
        "-t",
        "set,get,incr,mset",
        "-n",
        &requests,
        "-q",
    ];
    let bench = benchmark(&args, BENCHMARK_TIMEOUT, &["rror"]);
    let finals = &bench.finals;
    println!(
        "redis-benchmark against {} took {:?}:\n{}",
        node.addr(),
        bench.took,
        finals.join("\n")
    );
    for test in ["SET", "GET", "INCR", "MSET (10 keys)"] {
        let line = finals
            .iter()
            .find(|line| line.trim_start().starts_with(&format!("{test}: ")))
            .unwrap_or_else(|| panic!("no result line for {test}:\n{}", bench.stdout));
        let rate: f64 = line
            .trim_start()
            .trim_start_matches(&format!("{test}: "))
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no rate in {line:?}"));
        assert!(rate > 0.0, "{test} rate {rate}");
    }
    let mut c = node.conn();
    assert_eq!(
        query::<String>(&mut c, &["GET", "counter:__rand_int__"]),
        REQUESTS.to_string(),
        "every INCR applied exactly once"
    );
}

/// `redis-benchmark` completes against a single node with no errors and a rate for every test.
#[test]
fn redis_benchmark_single_node() {
    if !have("redis-benchmark") {
        return;
    }
    let node = Node::start_single();
    run_benchmark(&node);
}

/// `redis-benchmark` completes against the leader of a 3-node cluster (every write replicated to
/// a majority before its reply) with no errors and a rate for every test. The cluster is
/// bootstrapped with a single data shard (`--initial-shards 1`), so one node leads every slot
/// and the non-cluster-mode benchmark (whose keys hash to several slots) needs no redirects.
#[test]
fn redis_benchmark_three_node_leader() {
    if !have("redis-benchmark") {
        return;
    }
    let cluster = Cluster::start_opts(
        3,
        ClusterOptions {
            initial_shards: Some(1),
            ..ClusterOptions::default()
        },
    );
    let leader = cluster.leader_of("key:__rand_int__");
    assert_eq!(
        cluster.leader_of("counter:__rand_int__"),
        leader,
        "one data shard: one leader for every key"
    );
    run_benchmark(cluster.node(leader));
}
