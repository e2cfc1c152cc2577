//! t60: the HTTP admin port of one real node — what an operator's Prometheus and load balancer
//! see. `/metrics` counts and times the commands clients sent and reports every hosted Raft
//! group; `/health` says 200 on a serving node; anything else is 404.

use std::time::Duration;

use tanli_tests::client::query;
use tanli_tests::http::{get, sample};
use tanli_tests::raw::RawConn;
use tanli_tests::{wait_until, Node};

/// How long figures read at scrape time may take to show what the node did.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
const SETS: u32 = 25;
const GETS: u32 = 7;

/// After SETs and GETs through the `redis` crate, `/metrics` counts at least that many of each,
/// has their latency histograms, and shows the node leading every shard it hosts.
#[test]
fn metrics_count_commands_and_show_each_shard() {
    let node = Node::start_single();
    let mut c = node.conn();
    for i in 0..SETS {
        assert_eq!(
            query::<String>(&mut c, &["SET", &format!("k{i}"), "v"]),
            "OK"
        );
    }
    for i in 0..GETS {
        assert_eq!(query::<String>(&mut c, &["GET", &format!("k{i}")]), "v");
    }
    let admin = node.admin_addr();
    assert_eq!(admin.ip(), node.addr().ip(), "the admin port binds --bind");

    let page = wait_until(SCRAPE_TIMEOUT, "/metrics to count the commands", || {
        let r = get(admin, "/metrics")?;
        if r.status != 200 {
            return Err(format!("status {}: {}", r.status, r.body));
        }
        let sets = sample(&r.body, r#"tanli_commands_total{command="set"}"#).unwrap_or(0.0);
        let gets = sample(&r.body, r#"tanli_commands_total{command="get"}"#).unwrap_or(0.0);
        if sets >= f64::from(SETS) && gets >= f64::from(GETS) {
            Ok(r.body)
        } else {
            Err(format!("set {sets}, get {gets} in\n{}", r.body))
        }
    });
    let lines: Vec<&str> = page.lines().collect();
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("tanli_command_duration_seconds_bucket{")
                && l.contains(r#"command="set""#)),
        "no latency histogram bucket for SET in\n{page}"
    );
    let count = sample(
        &page,
        r#"tanli_command_duration_seconds_count{command="set"}"#,
    );
    assert!(count >= Some(f64::from(SETS)), "histogram count {count:?}");
    for name in [
        "tanli_raft_term{",
        "tanli_raft_commit_index{",
        "tanli_raft_applied_index{",
        "tanli_raft_apply_lag{",
        "tanli_raft_replication_lag{",
        "tanli_cluster_epoch ",
        "tanli_placement_moves_in_flight ",
        "tanli_rocksdb_live_data_bytes ",
        "tanli_rocksdb_sst_files_bytes ",
        "tanli_rocksdb_memtable_bytes ",
        "tanli_rocksdb_estimated_keys ",
        r#"tanli_connections_shed_total{reason="connections_max"} "#,
    ] {
        assert!(has(name), "no {name:?} in\n{page}");
    }
    // A single node leads every shard it hosts, the meta shard (0) included.
    let led: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("tanli_raft_is_leader{shard="))
        .collect();
    assert!(
        led.len() >= 2,
        "is_leader for meta and data shards: {led:?}"
    );
    assert!(led.iter().all(|l| l.ends_with(" 1")), "{led:?}");
    assert_eq!(
        sample(&page, r#"tanli_raft_is_leader{shard="0"}"#),
        Some(1.0)
    );
    let replicas = sample(&page, "tanli_replicas").unwrap_or(0.0);
    assert!(replicas >= 1.0, "tanli_replicas {replicas}");
    assert_eq!(sample(&page, "tanli_leaders"), Some(replicas));
    assert!(
        sample(&page, "tanli_connections") >= Some(1.0),
        "the open connection counts"
    );
    assert!(sample(&page, "tanli_cluster_epoch") >= Some(1.0));
    assert!(
        page.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
}

/// Unknown command names share the `unknown` label (clients cannot mint label values), error
/// replies are counted, and a connection closed for a protocol error counts as shed.
#[test]
fn errors_unknown_commands_and_shed_connections_are_counted() {
    let node = Node::start_single();
    let mut c = node.conn();
    for name in ["NOSUCHCMD", "another-made-up-name"] {
        let err = redis::cmd(name).query::<String>(&mut c);
        assert!(err.is_err(), "{name} must be refused");
    }
    let err = redis::cmd("SET").arg("k").query::<String>(&mut c);
    assert!(err.is_err(), "SET with one argument is an arity error");
    let mut raw = RawConn::connect(node.addr());
    raw.send(b"*x\r\n");
    assert!(raw.read_line().starts_with("-ERR Protocol error"));

    let admin = node.admin_addr();
    wait_until(
        SCRAPE_TIMEOUT,
        "errors and shed connections in /metrics",
        || {
            let page = get(admin, "/metrics")?.body;
            let figure = |s: &str| sample(&page, s).unwrap_or(0.0);
            let seen = (
                figure(r#"tanli_commands_total{command="unknown"}"#),
                figure(r#"tanli_command_errors_total{command="set"}"#),
                figure(r#"tanli_connections_shed_total{reason="protocol_error"}"#),
            );
            if seen.0 >= 2.0 && seen.1 >= 1.0 && seen.2 >= 1.0 {
                Ok(())
            } else {
                Err(format!("(unknown, set errors, shed) = {seen:?}"))
            }
        },
    );
    let page = get(admin, "/metrics").expect("/metrics").body;
    assert!(
        !page.contains("nosuchcmd") && !page.contains("made-up"),
        "a client's command name became a label:\n{page}"
    );
}

/// `/health` is 200 with an ok body on a serving node, `/metrics` says it is OpenMetrics text,
/// and other paths are 404.
#[test]
fn health_is_ok_and_other_paths_are_not_found() {
    let node = Node::start_single();
    let admin = node.admin_addr();
    let health = wait_until(SCRAPE_TIMEOUT, "/health to say ok", || {
        let r = get(admin, "/health")?;
        if r.status == 200 {
            Ok(r)
        } else {
            Err(format!("{r:?}"))
        }
    });
    assert!(health.body.contains(r#""status":"ok""#), "{health:?}");
    let metrics = get(admin, "/metrics").expect("/metrics");
    assert!(
        metrics
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        metrics.content_type
    );
    for path in ["/nope", "/", "/metrics/extra", "/healthz"] {
        let r = get(admin, path).expect("a 404 answer");
        assert_eq!(r.status, 404, "{path}: {r:?}");
    }
}
