//! Throughput of `tanli-client` against a cluster, to compare with `redis-benchmark` on the same
//! cluster: N tasks share one client (one pipelined connection per node) and write (exactly-once
//! `SET`s of 100-byte values) or read for a fixed time.
//!
//! ```sh
//! cargo run --release -p tanli-client --example throughput -- --seconds 10 --tasks 50 127.0.0.1:7001
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tanli_client::{Client, Config};

#[tokio::main]
async fn main() -> Result<(), tanli_client::Error> {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut tasks, mut seeds, mut exactly_once) = (10u64, 50usize, Vec::new(), true);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(10),
            "--tasks" => tasks = args.next().and_then(|v| v.parse().ok()).unwrap_or(50),
            "--no-request-ids" => exactly_once = false,
            other => seeds.push(other.to_owned()),
        }
    }
    if seeds.is_empty() {
        seeds.push("127.0.0.1:6379".into());
    }
    let refs: Vec<&str> = seeds.iter().map(String::as_str).collect();
    let cfg = Config {
        exactly_once,
        ..Config::default()
    };
    let client = Client::connect_with(&refs, cfg).await?;
    let value = vec![b'x'; 100];
    for (name, write) in [("SET", true), ("GET", false)] {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (client, stop, done, value) =
                    (client.clone(), stop.clone(), done.clone(), value.clone());
                tokio::spawn(async move {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("key:{t}:{}", i % 1000);
                        let r = if write {
                            client.set(&key, &value).await.map(|_| ())
                        } else {
                            client.get(&key).await.map(|_| ())
                        };
                        if r.is_ok() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::SeqCst);
        for h in handles {
            let _ = h.await;
        }
        let ops = done.load(Ordering::SeqCst) as f64 / started.elapsed().as_secs_f64();
        println!("{name}: {ops:.0} ops/s ({tasks} tasks, request ids {exactly_once})");
    }
    Ok(())
}
