//! t71: overload. Ten well-behaved clients run at a modest rate against a real node, first
//! alone and then while one client floods it with pipelined writes as fast as the socket takes
//! them (far beyond what the node can commit). The flooder must be throttled (TRYAGAIN) or
//! disconnected; the well-behaved clients' p99 latency must stay within 3× of their p99 without
//! the flood, none of their requests may fail (a TRYAGAIN is retried after its hint), and the
//! node's resident memory must stay under a bound.
//!
//! One test in its own binary, so nothing else shares the machine while it measures. Each phase
//! lasts `TANLI_OVERLOAD_PHASE_S` seconds (default 10, so that one scheduling hiccup of a shared
//! machine, which delays the few requests in flight at that moment, cannot make the p99 alone):
//! set it to 60 for the longer benchmark mode.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tanli_tests::client::{error_line, info};
use tanli_tests::node::ServerSpec;
use tanli_tests::raw::encode;
use tanli_tests::Node;

const WELL_BEHAVED: usize = 10;
/// Each well-behaved client sends one request, waits for it, then pauses this long.
const PAUSE: Duration = Duration::from_millis(20);
/// The node's peak resident memory must stay under this.
const RSS_BOUND_MIB: u64 = 512;
/// Client memory the node may buffer before shedding (passed to the node).
const CLIENTS_MEMORY_BYTES_MAX: usize = 64 << 20;
/// Requests the flooder writes per batch.
const FLOOD_BATCH: usize = 512;

fn phase() -> Duration {
    let s = std::env::var("TANLI_OVERLOAD_PHASE_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(s)
}

/// What the well-behaved clients saw in one phase.
struct Observed {
    latencies: Vec<Duration>,
    retries: u64,
    failures: Vec<String>,
}

impl Observed {
    fn percentile(&self, p: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort();
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
    }
}

/// Runs the well-behaved clients for `length`: alternating SET and GET of their own keys, a
/// TRYAGAIN retried after its hint (counted), any other error or lost reply a failure.
fn well_behaved(addr: SocketAddr, length: Duration, tag: &str) -> Observed {
    let threads: Vec<JoinHandle<Observed>> = (0..WELL_BEHAVED)
        .map(|i| {
            let tag = tag.to_string();
            std::thread::spawn(move || {
                let mut conn = tanli_tests::client::connect(addr, None);
                let mut seen = Observed {
                    latencies: Vec::new(),
                    retries: 0,
                    failures: Vec::new(),
                };
                let end = Instant::now() + length;
                let mut n = 0u64;
                while Instant::now() < end {
                    let key = format!("calm:{tag}:{i}:{}", n % 64);
                    let mut cmd = if n.is_multiple_of(2) {
                        let mut c = redis::cmd("SET");
                        c.arg(&key).arg(n);
                        c
                    } else {
                        let mut c = redis::cmd("GET");
                        c.arg(&key);
                        c
                    };
                    let started = Instant::now();
                    loop {
                        match cmd.query::<redis::Value>(&mut conn) {
                            Ok(_) => break,
                            Err(e) if error_line(&e).starts_with("TRYAGAIN") => {
                                seen.retries += 1;
                                std::thread::sleep(Duration::from_millis(50));
                                cmd = cmd.clone();
                            }
                            Err(e) => {
                                seen.failures.push(error_line(&e));
                                break;
                            }
                        }
                    }
                    seen.latencies.push(started.elapsed());
                    n += 1;
                    std::thread::sleep(PAUSE);
                }
                seen
            })
        })
        .collect();
    let mut all = Observed {
        latencies: Vec::new(),
        retries: 0,
        failures: Vec::new(),
    };
    for t in threads {
        let o = t.join().expect("well-behaved client thread");
        all.latencies.extend(o.latencies);
        all.retries += o.retries;
        all.failures.extend(o.failures);
    }
    all
}

/// What the flooder got back.
#[derive(Default)]
struct Flood {
    ok: AtomicU64,
    refused: AtomicU64,
    other: AtomicU64,
    disconnects: AtomicU64,
    sent: AtomicU64,
}

/// Floods `addr` with pipelined SETs until `stop`: a writer thread sends batches as fast as the
/// socket takes them, a reader counts the replies; when the node disconnects it, it reconnects
/// at once (a misbehaving client).
fn flooder(addr: SocketAddr, stop: Arc<AtomicBool>, flood: Arc<Flood>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let value = vec![b'f'; 100];
        let mut batch = Vec::new();
        for i in 0..FLOOD_BATCH {
            batch.extend(encode(&[b"SET", format!("flood:{i}").as_bytes(), &value]));
        }
        while !stop.load(Ordering::Relaxed) {
            let Ok(stream) = TcpStream::connect(addr) else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let reader_stream = stream.try_clone().expect("clone flood socket");
            let counts = flood.clone();
            let reader = std::thread::spawn(move || {
                for line in BufReader::new(reader_stream).lines() {
                    let Ok(line) = line else { return };
                    let c = match line.as_bytes().first() {
                        Some(b'+') => &counts.ok,
                        Some(b'-') if line.starts_with("-TRYAGAIN") => &counts.refused,
                        _ => &counts.other,
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                }
            });
            let mut stream = stream;
            while !stop.load(Ordering::Relaxed) {
                if stream.write_all(&batch).is_err() {
                    break;
                }
                flood.sent.fetch_add(FLOOD_BATCH as u64, Ordering::Relaxed);
            }
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let _ = reader.join();
            if !stop.load(Ordering::Relaxed) {
                flood.disconnects.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

fn stat(node: &Node, section: &str, field: &str) -> String {
    info(&mut node.conn(), section)
        .expect("INFO")
        .get(field)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_flooder_is_throttled_and_calm_clients_keep_their_latency() {
    let mut node = Node::start_single_with(ServerSpec {
        extra_args: vec![
            "--clients-memory-bytes-max".into(),
            CLIENTS_MEMORY_BYTES_MAX.to_string(),
        ],
        ..ServerSpec::single()
    });
    let addr = node.addr();
    let length = phase();
    // Warm up (leaders elected, connections made), then measure without the flood.
    let _ = well_behaved(addr, Duration::from_secs(1), "warm");
    let calm = well_behaved(addr, length, "calm");
    let stop = Arc::new(AtomicBool::new(false));
    let flood = Arc::new(Flood::default());
    let flood_thread = flooder(addr, stop.clone(), flood.clone());
    // Let the flood build up before measuring under it.
    std::thread::sleep(Duration::from_millis(500));
    let flood_started = Instant::now();
    let stormy = well_behaved(addr, length, "storm");
    let flood_for = flood_started.elapsed();
    let memory = node.memory();
    stop.store(true, Ordering::Relaxed);
    flood_thread.join().expect("flooder thread");

    let (p50_calm, p99_calm) = (calm.percentile(0.50), calm.percentile(0.99));
    let (p50_storm, p99_storm) = (stormy.percentile(0.50), stormy.percentile(0.99));
    let ops = |o: &Observed| o.latencies.len() as f64 / length.as_secs_f64();
    let f = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "well-behaved, no flood: {} requests ({:.0}/s), p50 {p50_calm:?}, p99 {p99_calm:?}",
        calm.latencies.len(),
        ops(&calm)
    );
    println!(
        "well-behaved, flood:    {} requests ({:.0}/s), p50 {p50_storm:?}, p99 {p99_storm:?}, retries {}, failures {}",
        stormy.latencies.len(),
        ops(&stormy),
        stormy.retries,
        stormy.failures.len()
    );
    println!(
        "flooder: sent {} in {flood_for:?}; {} applied ({:.0}/s), {} refused with TRYAGAIN, {} other, disconnected {} times",
        f(&flood.sent),
        f(&flood.ok),
        f(&flood.ok) as f64 / flood_for.as_secs_f64(),
        f(&flood.refused),
        f(&flood.other),
        f(&flood.disconnects)
    );
    println!(
        "node: peak RSS {} MiB; INFO overload_refusals {}, clients_shed {}",
        memory.peak_rss_kib / 1024,
        stat(&node, "stats", "overload_refusals"),
        stat(&node, "stats", "clients_shed")
    );

    assert!(
        f(&flood.refused) + f(&flood.disconnects) > 0,
        "the flooder was neither refused nor disconnected"
    );
    assert!(
        stormy.failures.is_empty(),
        "well-behaved requests failed: {:?}",
        &stormy.failures[..stormy.failures.len().min(5)]
    );
    assert!(
        p99_storm <= p99_calm * 3,
        "well-behaved p99 went from {p99_calm:?} to {p99_storm:?} under the flood"
    );
    assert!(
        memory.peak_rss_kib / 1024 < RSS_BOUND_MIB,
        "peak RSS {} MiB",
        memory.peak_rss_kib / 1024
    );
    assert!(node.is_running(), "the node died under the flood");
}
