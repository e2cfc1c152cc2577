//! t70: the limits a node puts on each client, over raw TCP against a real server: idle
//! connections are closed, a client that does not read its replies is disconnected at the
//! output-buffer limit without the node's memory following its backlog, clients that together
//! buffer too much are shed biggest first, nested arrays and oversized inline lines are refused,
//! and `CLIENT LIST` shows each connection's buffers, recent rate and hot flag. Everyone else
//! keeps being served throughout. (Protocol errors and declared lengths are t30's.) Clients are
//! served on `--connection-threads` threads of their own, or on the worker threads with 0, and
//! threads that run out of work yield before they sleep unless `--yield-before-park false`. A
//! deep pipeline beside connections that are merely open is not throttled for them.

use std::time::{Duration, Instant};

use tanli_tests::client::query;
use tanli_tests::node::ServerSpec;
use tanli_tests::raw::{encode, RawConn, Reply};
use tanli_tests::wait::{check, wait_until};
use tanli_tests::Node;

const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

fn start(extra: &[&str]) -> Node {
    Node::start_single_with(ServerSpec {
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
        ..ServerSpec::single()
    })
}

fn stat(node: &Node, field: &str) -> u64 {
    node.info_number("stats", field)
}

fn assert_serves(conn: &mut RawConn) {
    assert_eq!(conn.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

/// `--idle-timeout-ms`: a connection that sends nothing is closed; one that keeps talking is
/// not; the close is counted.
#[test]
fn idle_connections_are_closed() {
    let node = start(&["--idle-timeout-ms", "1000"]);
    let mut idle = RawConn::connect(node.addr());
    assert_serves(&mut idle);
    let mut chatty = RawConn::connect(node.addr());
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        assert_serves(&mut chatty);
        std::thread::sleep(Duration::from_millis(200));
    }
    idle.expect_closed(CLOSE_TIMEOUT);
    assert_serves(&mut chatty);
    assert!(stat(&node, "clients_shed") >= 1);
}

/// A client that pipelines reads of a large value and never reads the replies is disconnected
/// by the output-buffer limit; the node's resident memory does not grow with the backlog it
/// asked for (~100 MiB of replies), and a bystander is served all along.
#[test]
fn clients_that_do_not_read_are_disconnected() {
    let node = start(&[
        "--reply-buffer-bytes-max",
        "1048576",
        "--output-stall-ms",
        "1000",
    ]);
    let mut bystander = RawConn::connect(node.addr());
    let big = "x".repeat(512 << 10);
    assert_eq!(
        bystander.cmd(&["SET", "big", &big]),
        Reply::Simple("OK".into())
    );
    let before = node.memory();
    let mut slow = RawConn::connect(node.addr());
    let get = encode(&[b"GET", b"big"]);
    // 200 × 512 KiB of replies asked for, none read.
    slow.send(&get.repeat(200));
    let started = Instant::now();
    wait_until(
        CLOSE_TIMEOUT,
        "the output-buffer limit to shed the slow reader",
        || {
            let n = stat(&node, "clients_shed");
            check(n >= 1, || format!("clients_shed {n}"))
        },
    );
    let shed_after = started.elapsed();
    assert_serves(&mut bystander);
    let after = node.memory();
    let grew_mib = after.peak_rss_kib.saturating_sub(before.peak_rss_kib) / 1024;
    println!("slow reader shed after {shed_after:?}; peak RSS grew {grew_mib} MiB (before {before:?}, after {after:?})");
    assert!(
        grew_mib < 64,
        "peak RSS grew by {grew_mib} MiB for a 100 MiB backlog"
    );
    assert!(
        node.log_tail(200).contains("reason=\"output_buffer\"")
            || node.log_tail(200).contains("reason=output_buffer"),
        "the shed is logged with its reason\n{}",
        node.log_tail(40)
    );
}

/// Clients that together buffer more than `--clients-memory-bytes-max` are shed, the biggest
/// first; a client buffering little stays.
#[test]
fn client_memory_over_the_bound_sheds_the_biggest() {
    let node = start(&["--clients-memory-bytes-max", "8388608"]);
    let mut small = RawConn::connect(node.addr());
    assert_serves(&mut small);
    // A request declaring 64 MiB that arrives slowly: its bytes sit in the query buffer.
    let mut hog = RawConn::connect(node.addr());
    hog.send(format!("*3\r\n$3\r\nSET\r\n$3\r\nhog\r\n${}\r\n", 64 << 20).as_bytes());
    let chunk = vec![b'h'; 1 << 20];
    let mut sent = 0;
    let closed = loop {
        if hog.try_send(&chunk).is_err() {
            break true;
        }
        sent += 1;
        if sent >= 48 {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !closed {
        hog.expect_closed(CLOSE_TIMEOUT);
    }
    println!("hog sent {sent} MiB before it was shed");
    assert!(sent < 48, "the hog could buffer {sent} MiB");
    assert_serves(&mut small);
    assert_eq!(small.cmd(&["EXISTS", "hog"]), Reply::Integer(0));
}

/// A request must be a flat array of bulk strings: a nested array is a protocol error and closes
/// the connection; an inline command longer than `--inline-bytes-max` too.
#[test]
fn nesting_and_long_inline_lines_are_refused() {
    let node = start(&["--inline-bytes-max", "1024"]);
    let mut bystander = RawConn::connect(node.addr());
    let mut nested = RawConn::connect(node.addr());
    nested.send(b"*2\r\n$3\r\nGET\r\n*1\r\n$1\r\nk\r\n");
    assert!(nested.read_line().starts_with("-ERR Protocol error"));
    nested.expect_closed(CLOSE_TIMEOUT);
    let mut inline = RawConn::connect(node.addr());
    inline.send(format!("SET k {}\r\n", "v".repeat(2000)).as_bytes());
    assert_eq!(
        inline.read_line(),
        "-ERR Protocol error: too big inline request"
    );
    inline.expect_closed(CLOSE_TIMEOUT);
    inline = RawConn::connect(node.addr());
    inline.send(b"SET k short\r\n");
    assert_eq!(inline.read_reply(), Reply::Simple("OK".into()));
    assert_serves(&mut bystander);
}

/// The value of `key` (with its `=`) in one line of `CLIENT LIST`.
fn client_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ').find_map(|f| f.strip_prefix(key))
}

/// `CLIENT LIST` shows each connection's query and output buffers and its recent request rate.
#[test]
fn client_list_shows_rates() {
    let node = start(&[]);
    let mut busy = node.conn();
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("busy")
        .query(&mut busy)
        .expect("CLIENT SETNAME");
    let mut lister = node.conn();
    let started = Instant::now();
    let rate = wait_until(
        Duration::from_secs(20),
        "a visible rate for the busy client",
        || {
            for _ in 0..200 {
                let _: Option<String> = query(&mut busy, &["GET", "k"]);
            }
            let list: String = query(&mut lister, &["CLIENT", "LIST"]);
            let line = list
                .lines()
                .find(|l| l.contains(" name=busy "))
                .ok_or_else(|| format!("no busy client in {list}"))?;
            for field in [
                "qbuf=",
                "omem=",
                "tot-mem=",
                "hot=",
                "inflight=",
                "refused=",
            ] {
                if !line.contains(field) {
                    return Err(format!("no {field} in {line}"));
                }
            }
            let rate: f64 = client_field(line, "rate=")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("no rate= in {line}"))?;
            check(rate >= 100.0, || line.to_string()).map(|()| rate)
        },
    );
    println!("busy client rate {rate}/s after {:?}", started.elapsed());
}

/// Pipelines batches of GETs on a fresh connection while two other connections each PING
/// twice a second (a health check, a monitor), for up to `length` or until a reply is a
/// TRYAGAIN (with `stop_at_refusal`); returns the GETs sent and refused, and the `hot=` flags
/// `CLIENT LIST` shows at the end for the pipelining connection and the others.
fn pipeline_beside_quiet_connections(
    node: &Node,
    length: Duration,
    stop_at_refusal: bool,
) -> (u64, u64, String) {
    const BATCH: usize = 500;
    const PING_EVERY: Duration = Duration::from_millis(500);
    let mut quiet: Vec<RawConn> = (0..2).map(|_| RawConn::connect(node.addr())).collect();
    let mut busy = RawConn::connect(node.addr());
    assert_eq!(
        busy.cmd(&["CLIENT", "SETNAME", "busy"]),
        Reply::Simple("OK".into())
    );
    let batch: Vec<u8> = (0..BATCH)
        .flat_map(|i| encode(&[b"GET", format!("pipelined:{i}").as_bytes()]))
        .collect();
    let mut last_ping = Instant::now() - PING_EVERY;
    let mut ping_when_due = |quiet: &mut Vec<RawConn>| {
        if last_ping.elapsed() >= PING_EVERY {
            quiet.iter_mut().for_each(assert_serves);
            last_ping = Instant::now();
        }
    };
    // Their decaying rates settle (1.7 to 2.4 requests a second each) before the load starts.
    let warming = Instant::now();
    while warming.elapsed() < Duration::from_millis(2500) {
        ping_when_due(&mut quiet);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (mut sent, mut refused) = (0u64, 0u64);
    let started = Instant::now();
    while started.elapsed() < length && !(stop_at_refusal && refused > 0) {
        ping_when_due(&mut quiet);
        busy.send(&batch);
        for _ in 0..BATCH {
            match busy.read_reply() {
                Reply::Bulk(None) => {}
                Reply::Error(e) if e.starts_with("TRYAGAIN") => refused += 1,
                other => panic!("GET of an absent key answered {other:?}"),
            }
        }
        sent += BATCH as u64;
    }
    let Reply::Bulk(Some(list)) = quiet[0].cmd(&["CLIENT", "LIST"]) else {
        panic!("CLIENT LIST is a bulk string")
    };
    let mut flags: Vec<String> = String::from_utf8_lossy(&list)
        .lines()
        .map(|l| {
            let field = |k: &str| client_field(l, k).unwrap_or("?");
            format!("{}:{}", field("name="), field("hot="))
        })
        .collect();
    flags.sort();
    (sent, refused, flags.join(" "))
}

/// A deep pipeline beside connections that are merely open (a few requests a second together,
/// under `--bystander-rate-min`) is not hot, so it is served without TRYAGAIN however many of
/// its reads are in flight. The same load on a node where any active neighbour counts
/// (`--bystander-rate-min 0`) is refused: the load does reach the watermark, and the bound is
/// what decides.
#[test]
fn a_deep_pipeline_beside_quiet_connections_is_served() {
    let node = start(&[]);
    let (sent, refused, hot) =
        pipeline_beside_quiet_connections(&node, Duration::from_secs(3), false);
    assert_eq!(refused, 0, "{refused} of {sent} pipelined GETs refused");
    assert_eq!(hot, ":0 :0 busy:0", "CLIENT LIST's hot flags (name:hot)");
    assert_eq!(stat(&node, "overload_refusals"), 0);
    println!("default: {sent} pipelined GETs in 3 s, none refused");
    drop(node);

    let strict = start(&["--bystander-rate-min", "0"]);
    let (sent, refused, hot) =
        pipeline_beside_quiet_connections(&strict, Duration::from_secs(20), true);
    assert!(
        refused > 0,
        "{sent} GETs, none refused with --bystander-rate-min 0"
    );
    assert!(stat(&strict, "overload_refusals") >= refused);
    assert_eq!(hot, ":0 :0 busy:1", "CLIENT LIST's hot flags (name:hot)");
    println!("--bystander-rate-min 0: refusals after {sent} pipelined GETs");
}

/// Threads of process `pid` named `tanli-conn-*` (Linux names them in `/proc/PID/task/*/comm`).
fn connection_threads(pid: u32) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("tanli-conn-"))
        .count()
}

/// `--connection-threads N` starts N threads for client connections (0: none, connections run
/// on the worker threads), and clients are served either way, each on its own connection,
/// pipelined and not.
#[test]
fn connection_threads_serve_clients() {
    for threads in [3usize, 0] {
        let node = start(&["--connection-threads", &threads.to_string()]);
        let pid = node.pid().expect("pid");
        assert_eq!(
            connection_threads(pid),
            threads,
            "--connection-threads {threads}"
        );
        let mut conns: Vec<RawConn> = (0..5).map(|_| RawConn::connect(node.addr())).collect();
        for (i, conn) in conns.iter_mut().enumerate() {
            let key = format!("ct{threads}:{i}");
            assert_eq!(conn.cmd(&["SET", &key, "v"]), Reply::Simple("OK".into()));
        }
        for (i, conn) in conns.iter_mut().enumerate() {
            let mut batch = Vec::new();
            for j in 0..5 {
                let key = format!("ct{threads}:{}", (i + j) % 5);
                batch.extend(encode(&[b"GET", key.as_bytes()]));
            }
            conn.send(&batch);
            for _ in 0..5 {
                assert_eq!(conn.read_reply(), Reply::Bulk(Some(b"v".to_vec())));
            }
        }
    }
}

/// A thread that runs out of work yields its core before it sleeps (`node/src/park.rs`): `INFO
/// stats` counts the yields, and a node started with `--yield-before-park false` makes none.
#[test]
fn idle_threads_yield_before_they_sleep_unless_told_not_to() {
    let serve_some = |node: &Node| {
        let mut conn = RawConn::connect(node.addr());
        // Each request wakes a connection thread, which then runs out of work and sleeps.
        for i in 0..20 {
            let value = i.to_string();
            assert_eq!(conn.cmd(&["SET", "k", &value]), Reply::Simple("OK".into()));
        }
    };
    let node = start(&[]);
    serve_some(&node);
    wait_until(
        CLOSE_TIMEOUT,
        "threads that yield before they sleep",
        || {
            let yields = stat(&node, "park_yields");
            check(yields > 0, || format!("park_yields {yields}"))
        },
    );
    let off = start(&["--yield-before-park", "false"]);
    serve_some(&off);
    assert_eq!(stat(&off, "park_yields"), 0);
    assert_eq!(stat(&off, "park_yield_backoffs"), 0);
}
