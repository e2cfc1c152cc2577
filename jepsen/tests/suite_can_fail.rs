//! The suite must be able to fail: servers started with `--unsafe-stale-reads` answer reads from
//! any replica's applied state, and the register checker must flag the history as not
//! linearizable; the same run on safe servers must pass, so neither verdict is a constant.
//!
//! Real processes: a 5-node cluster from the built `tanli-server` (`cargo build --release --bins`
//! first). With root and `nft`, leader partitions make the stale reads plentiful; without, the
//! followers' apply lag alone produces them.

use std::time::Duration;

use tanli_jepsen::checker::Workload;
use tanli_jepsen::nemesis::{Nemesis, Schedule};
use tanli_jepsen::net::Firewall;
use tanli_jepsen::run::{run, Options};

fn options(unsafe_reads: bool, out: &std::path::Path) -> Options {
    let nemeses = if Firewall::unavailable().is_none() {
        vec![Nemesis::Partition]
    } else {
        eprintln!("nftables unavailable: running without partitions");
        Vec::new()
    };
    Options {
        workload: Workload::Register,
        nemeses,
        nodes: 5,
        concurrency: 10,
        time_limit: Duration::from_secs(12),
        schedule: Schedule {
            quiet: Duration::from_secs(2),
            fault: Duration::from_secs(3),
        },
        op_timeout: Duration::from_millis(1500),
        recovery_timeout: Duration::from_secs(60),
        out: out.to_path_buf(),
        server_args: if unsafe_reads {
            vec!["--unsafe-stale-reads".to_owned()]
        } else {
            Vec::new()
        },
    }
}

#[test]
fn stale_reads_are_caught_and_safe_reads_pass() {
    let dir = tempfile::tempdir().expect("temp dir");

    let broken = run(&options(true, &dir.path().join("unsafe"))).expect("the unsafe run completes");
    println!("unsafe: {}", broken.summary);
    assert!(
        !broken.verdict.valid,
        "stale reads went unnoticed: {}",
        broken.summary
    );
    assert!(
        broken.verdict.ok > 100,
        "too few operations: {}",
        broken.summary
    );
    assert!(dir.path().join("unsafe/history.jsonl").is_file());
    assert!(dir.path().join("unsafe/index.html").is_file());

    let safe = run(&options(false, &dir.path().join("safe"))).expect("the safe run completes");
    println!("safe: {}", safe.summary);
    assert!(
        safe.verdict.valid,
        "a correct server was flagged: {}",
        safe.summary
    );
    assert!(
        safe.verdict.ok > 100,
        "too few operations: {}",
        safe.summary
    );
}
