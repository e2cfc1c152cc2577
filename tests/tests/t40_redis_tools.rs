//! t40: the real Redis tools against tanli — `redis-cli` (one-shot, piped, cluster mode) and
//! `redis-benchmark` — because "works with redis-cli and redis-benchmark" is a promise to users.
//! A test skips (and passes, saying so) only if the tool is not installed; `.ci/run` installs
//! redis-tools, so CI runs them all.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tanli_tests::client::query;
use tanli_tests::{tool_available, Cluster, Node};

/// A full `redis-benchmark -n 20000` run of four tests must finish within this time.
const BENCHMARK_TIMEOUT: Duration = Duration::from_secs(300);
/// A one-shot `redis-cli` call must finish within this time.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `tool` is installed; if not, prints why the calling test is skipped.
fn have(tool: &str) -> bool {
    let ok = tool_available(tool);
    if !ok {
        eprintln!("SKIPPED: `{tool}` is not on PATH (install redis-tools; .ci/run does)");
    }
    ok
}

/// Runs `program args` with `stdin` fed in, killing it by PID if it outlives `timeout`.
fn run(program: &str, args: &[String], stdin: &[u8], timeout: Duration) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(stdin).expect("write stdin");
    } // closed: the tool sees EOF
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(output) => output.unwrap_or_else(|e| panic!("wait for {program}: {e}")),
        Err(_) => {
            // The child was moved into the waiting thread; stop it by PID.
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{program} {args:?} did not finish within {timeout:?}");
        }
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    cli_with(port, &[], args, b"")
}

fn cli_with(port: u16, opts: &[&str], args: &[&str], stdin: &[u8]) -> String {
    let mut all: Vec<String> = vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
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

/// `redis-cli -c` (cluster mode) sent to a follower follows the `-MOVED` redirect to the leader,
/// so a stock Redis Cluster client can use any node as its entry point.
#[test]
fn redis_cli_cluster_mode_follows_moved() {
    if !have("redis-cli") {
        return;
    }
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let follower = cluster
        .running_ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    let port = cluster.node(follower).port();
    assert_eq!(cli_with(port, &["-c"], &["SET", "k", "v"], b""), "OK\n");
    assert_eq!(cli_with(port, &["-c"], &["GET", "k"], b""), "v\n");
    let mut c = cluster.node(leader).conn();
    assert_eq!(query::<String>(&mut c, &["GET", "k"]), "v");
}

/// Runs `redis-benchmark -t set,get,incr,mset -n 20000 -q` against `port` and checks it exits
/// cleanly, reports no error, and gives a rate for every test. Then checks the INCR counter:
/// 20000 acknowledged INCRs must have been applied exactly once each.
fn benchmark(node: &Node) {
    const REQUESTS: u64 = 20_000;
    let args: Vec<String> = [
        "-h",
        "127.0.0.1",
        "-p",
        &node.port().to_string(),
        "-t",
        "set,get,incr,mset",
        "-n",
        &REQUESTS.to_string(),
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let started = Instant::now();
    let out = run("redis-benchmark", &args, b"", BENCHMARK_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-benchmark exited {}: {stdout}\n{stderr}",
        out.status
    );
    assert!(
        !stdout.contains("rror") && !stderr.contains("rror"),
        "redis-benchmark reported errors:\n{stdout}\n{stderr}"
    );
    // -q prints progress lines ending in \r and one final line per test:
    // `SET: 12345.68 requests per second, p50=0.311 msec`.
    let finals: Vec<&str> = stdout
        .split(['\r', '\n'])
        .filter(|line| line.contains("requests per second"))
        .collect();
    println!(
        "redis-benchmark against {} took {:?}:\n{}",
        node.addr(),
        started.elapsed(),
        finals.join("\n")
    );
    for test in ["SET", "GET", "INCR", "MSET (10 keys)"] {
        let line = finals
            .iter()
            .find(|line| line.trim_start().starts_with(&format!("{test}: ")))
            .unwrap_or_else(|| panic!("no result line for {test}:\n{stdout}"));
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
    benchmark(&node);
}

/// `redis-benchmark` completes against the leader of a 3-node cluster (every write replicated to
/// a majority before its reply) with no errors and a rate for every test.
#[test]
fn redis_benchmark_three_node_leader() {
    if !have("redis-benchmark") {
        return;
    }
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    benchmark(cluster.node(leader));
}
