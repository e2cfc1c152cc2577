//! `tanli-jepsen`: runs workloads against a real tanli cluster under faults and checks the
//! histories. One run, the CI matrix (every nemesis × every workload), or a long soak.
//!
//! ```text
//! cargo run --release -p tanli-jepsen -- --workload register --nemesis partition,kill --time-limit 60
//! cargo run --release -p tanli-jepsen -- --matrix --time-limit 20
//! cargo run --release -p tanli-jepsen -- --soak --time-limit 3600
//! cargo run --release -p tanli-jepsen -- --workload register --nemesis kill --read-policy read-index
//! ```
//!
//! The matrix runs with the servers' default read policy (leader leases), under which every
//! nemesis is also one a lease must survive: partitions, kills (a restarted node's votes),
//! pauses, clock jumps and rebalancing (leadership transfers, whose elections ignore leases). It
//! then runs the register workload with ReadIndex reads (`--read-policy read-index`) under
//! those five faults.
//!
//! Exit status: 0 every run valid, 1 some run invalid, 2 the suite itself failed.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tanli_jepsen::checker::Workload;
use tanli_jepsen::nemesis::{Nemesis, Schedule};
use tanli_jepsen::run::{interrupt, interrupted, run, Options};

#[derive(Parser, Debug)]
#[command(
    name = "tanli-jepsen",
    about = "Fault-injection correctness runs against real tanli-server processes"
)]
struct Args {
    /// Workload: register (linearizability), set (lost/phantom), counter (bounds).
    #[arg(long, value_enum, default_value = "register")]
    workload: Workload,
    /// Faults, comma-separated; empty for none.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "partition,kill"
    )]
    nemesis: Vec<Nemesis>,
    /// Seconds of workload per run.
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 10)]
    concurrency: u64,
    /// Seconds without faults between two faults.
    #[arg(long, default_value_t = 3)]
    quiet_s: u64,
    /// Seconds each fault lasts.
    #[arg(long, default_value_t = 5)]
    fault_s: u64,
    /// Per-operation timeout in milliseconds (past it the operation is indeterminate).
    #[arg(long, default_value_t = 2000)]
    op_timeout_ms: u64,
    /// Seconds the cluster may take to recover after healing.
    #[arg(long, default_value_t = 60)]
    recovery_timeout_s: u64,
    /// Folder for results; each run gets a subfolder.
    #[arg(long, default_value = "jepsen-results")]
    results: PathBuf,
    /// Every nemesis (alone) × every workload, one run each.
    #[arg(long, conflicts_with = "soak")]
    matrix: bool,
    /// Long soak: every workload in turn under all faults at once, --time-limit seconds each,
    /// round after round until Ctrl-C (which ends the current run cleanly and reports it).
    #[arg(long)]
    soak: bool,
    /// Start the servers with --unsafe-stale-reads (the suite must then report INVALID).
    #[arg(long)]
    unsafe_stale_reads: bool,
    /// The servers' --read-policy (default: theirs, lease).
    #[arg(long, value_parser = ["read-index", "lease"])]
    read_policy: Option<String>,
}

/// The faults the matrix also runs the register workload under with ReadIndex reads.
const READ_INDEX_NEMESES: [Nemesis; 5] = [
    Nemesis::Partition,
    Nemesis::Kill,
    Nemesis::Pause,
    Nemesis::Clock,
    Nemesis::Rebalance,
];

const WORKLOADS: [Workload; 3] = [Workload::Register, Workload::Set, Workload::Counter];
const NEMESES: [Nemesis; 8] = [
    Nemesis::Partition,
    Nemesis::Loss,
    Nemesis::Kill,
    Nemesis::Pause,
    Nemesis::Remount,
    Nemesis::Clock,
    Nemesis::Disk,
    Nemesis::Rebalance,
];

fn main() {
    let args = Args::parse();
    // Ctrl-C ends the current run early but cleanly: faults healed, servers stopped, history
    // checked and written. A second Ctrl-C is not special: the same flag is set again.
    if let Err(e) = ctrlc::set_handler(interrupt) {
        eprintln!("tanli-jepsen: no Ctrl-C handler ({e}); an interrupt will not clean up");
    }
    // Each run: workload, faults, the servers' read policy (None: their default).
    let policy = args.read_policy.clone();
    let mut plan: Vec<(Workload, Vec<Nemesis>, Option<String>)> = Vec::new();
    if args.matrix {
        for n in NEMESES {
            for w in WORKLOADS {
                plan.push((w, vec![n], policy.clone()));
            }
        }
        if policy.is_none() {
            for n in READ_INDEX_NEMESES {
                plan.push((Workload::Register, vec![n], Some("read-index".to_owned())));
            }
        }
    } else if args.soak {
        for w in WORKLOADS {
            plan.push((w, NEMESES.to_vec(), policy.clone()));
        }
    } else {
        plan.push((args.workload, args.nemesis.clone(), policy));
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut lines = Vec::new();
    let mut invalid = 0;
    let mut errors = 0;
    loop {
        for (workload, nemeses, read_policy) in &plan {
            if interrupted() {
                break;
            }
            let names: Vec<&str> = nemeses.iter().map(|n| n.name()).collect();
            let name = format!(
                "{stamp}-{}-{}{}",
                format!("{workload:?}").to_lowercase(),
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join("+")
                },
                read_policy
                    .as_deref()
                    .map(|p| format!("-{p}"))
                    .unwrap_or_default()
            );
            let mut server_args = Vec::new();
            if args.unsafe_stale_reads {
                server_args.push("--unsafe-stale-reads".to_owned());
            }
            if let Some(p) = read_policy {
                server_args.extend(["--read-policy".to_owned(), p.clone()]);
            }
            let options = Options {
                workload: *workload,
                nemeses: nemeses.clone(),
                nodes: args.nodes,
                concurrency: args.concurrency,
                time_limit: Duration::from_secs(args.time_limit),
                schedule: Schedule {
                    quiet: Duration::from_secs(args.quiet_s),
                    fault: Duration::from_secs(args.fault_s),
                },
                op_timeout: Duration::from_millis(args.op_timeout_ms),
                recovery_timeout: Duration::from_secs(args.recovery_timeout_s),
                out: args.results.join(&name),
                server_args,
            };
            match run(&options) {
                Ok(report) => {
                    println!("{}", report.summary);
                    println!("  results: {}", report.out.display());
                    if !report.verdict.valid {
                        invalid += 1;
                        println!("  {}", report.verdict.summary);
                    }
                    lines.push(report.summary);
                }
                Err(e) => {
                    errors += 1;
                    let line = format!("{name}: ERROR {e:#}");
                    println!("{line}");
                    lines.push(line);
                }
            }
        }
        if !args.soak || interrupted() {
            break;
        }
    }
    if plan.len() > 1 {
        println!(
            "\n== {} runs, {invalid} invalid, {errors} errors",
            lines.len()
        );
        for l in &lines {
            println!("{l}");
        }
    }
    std::process::exit(if errors > 0 {
        2
    } else if invalid > 0 {
        1
    } else {
        0
    });
}
