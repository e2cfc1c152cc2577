//! `tanli-client` against an overloaded node (a real `tanli-server` whose in-flight bound is one
//! request, so concurrent requests are refused with `-TRYAGAIN ... retry in N ms`, and whose
//! overload sheds the client's connection after 200 ms): every increment still lands exactly
//! once, the client waits out the hints, and its connection was in fact refused and shed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tanli_client::{Client, Config};
use tanli_tests::client::info;
use tanli_tests::node::ServerSpec;
use tanli_tests::Node;

const TASKS: u64 = 20;
const INCRS_PER_TASK: u64 = 25;

#[test]
fn increments_under_refusals_and_shedding_apply_exactly_once() {
    let node = Node::start_single_with(ServerSpec {
        extra_args: [
            "--inflight-high-watermark",
            "1",
            "--inflight-max",
            "1",
            "--shed-after-ms",
            "200",
            "--retry-hint-ms",
            "20",
        ]
        .map(String::from)
        .to_vec(),
        ..ServerSpec::single()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cfg = Config {
        attempts_max: 200,
        request_timeout: Duration::from_secs(2),
        backoff_max: Duration::from_millis(100),
        ..Config::default()
    };
    let seed = node.addr().to_string();
    let started = Instant::now();
    let errors = rt.block_on(async {
        let client = Arc::new(
            Client::connect_with(&[seed.as_str()], cfg)
                .await
                .expect("connect"),
        );
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move {
                    let mut errors = Vec::new();
                    for _ in 0..INCRS_PER_TASK {
                        if let Err(e) = client.incr("hits").await {
                            errors.push(e.to_string());
                        }
                    }
                    errors
                })
            })
            .collect();
        let mut errors = Vec::new();
        for t in tasks {
            errors.extend(t.await.expect("task"));
        }
        errors
    });
    let took = started.elapsed();
    assert!(errors.is_empty(), "increments failed: {errors:?}");
    let mut conn = node.conn();
    let hits: u64 = redis::cmd("GET")
        .arg("hits")
        .query(&mut conn)
        .expect("GET hits");
    let stats = info(&mut conn, "stats").expect("INFO stats");
    let field = |f: &str| stats.get(f).cloned().unwrap_or_default();
    println!(
        "{} increments in {took:?}; refusals {}, clients shed {}",
        TASKS * INCRS_PER_TASK,
        field("overload_refusals"),
        field("clients_shed")
    );
    assert_eq!(hits, TASKS * INCRS_PER_TASK, "every increment exactly once");
    let refusals: u64 = field("overload_refusals").parse().unwrap_or(0);
    assert!(
        refusals > 0,
        "the node never refused: the test proves nothing"
    );
    let shed: u64 = field("clients_shed").parse().unwrap_or(0);
    assert!(shed > 0, "the client's connection was never shed");
}
