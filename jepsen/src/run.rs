//! One run, start to finish: start the cluster, run the client workers and the nemesis until the
//! time limit, heal everything, wait for the cluster to recover, do the final reads, check the
//! history, and write the results folder (history, verdict, plots, logs, one-line summary).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::checker::{self, Verdict, Workload};
use crate::db::{Db, Preload};
use crate::failover;
use crate::history::{write_jsonl, Kind, Process, Recorder, F};
use crate::nemesis::{self, Nemesis, Schedule};
use crate::net::Firewall;
use crate::workload::{self, Shared};

/// Set by Ctrl-C: runs end their workload early, heal, and still check and report.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Asks every run in progress to wrap up (from a signal handler).
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether [`interrupt`] was called.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Everything a run is told.
#[derive(Clone, Debug)]
pub struct Options {
    pub workload: Workload,
    pub nemeses: Vec<Nemesis>,
    pub nodes: usize,
    pub concurrency: u64,
    pub time_limit: Duration,
    pub schedule: Schedule,
    /// Per-operation timeout: past it, the operation is indeterminate.
    pub op_timeout: Duration,
    /// How long the cluster may take to recover after healing before the final reads give up.
    pub recovery_timeout: Duration,
    /// The results folder of this run (created).
    pub out: PathBuf,
    /// Extra server flags (e.g. `--unsafe-stale-reads`).
    pub server_args: Vec<String>,
}

/// What a run came to.
#[derive(Debug)]
pub struct Report {
    pub verdict: Verdict,
    pub summary: String,
    /// Nemeses asked for but skipped here, with why.
    pub skipped: Vec<String>,
    pub out: PathBuf,
}

/// Drops the nemeses this machine cannot run, saying why.
fn usable(nemeses: &[Nemesis]) -> (Vec<Nemesis>, Vec<String>, Option<Firewall>) {
    let mut skipped = Vec::new();
    let mut keep = Vec::new();
    let firewall_problem = nemeses
        .iter()
        .any(|n| n.needs_firewall())
        .then(Firewall::unavailable)
        .flatten();
    for &n in nemeses {
        let problem = match n {
            _ if n.needs_firewall() => firewall_problem.clone(),
            Nemesis::Clock => Preload::unavailable(true, false),
            Nemesis::Disk => Preload::unavailable(false, true),
            _ => None,
        };
        match problem {
            Some(why) => skipped.push(format!("{}: skipped: {why}", n.name())),
            None => keep.push(n),
        }
    }
    let firewall = keep.iter().any(|n| n.needs_firewall()).then(Firewall::new);
    (keep, skipped, firewall)
}

pub fn run(options: &Options) -> anyhow::Result<Report> {
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("create {}", options.out.display()))?;
    let (nemeses, skipped, firewall) = usable(&options.nemeses);
    for s in &skipped {
        eprintln!("tanli-jepsen: {s}");
    }
    let preload = Preload {
        clock: nemeses.contains(&Nemesis::Clock),
        disk: nemeses.contains(&Nemesis::Disk),
    };
    eprintln!(
        "tanli-jepsen: starting {} nodes for {:?} under {:?}",
        options.nodes, options.workload, nemeses
    );
    let db = Mutex::new(Db::start(options.nodes, preload, &options.server_args)?);
    let addresses = db.lock().unwrap_or_else(|e| e.into_inner()).addresses();
    let recorder = Recorder::new();
    let shared = Shared::new(options.workload, options.concurrency);
    let deadline = Instant::now() + options.time_limit;
    let stop = AtomicBool::new(false);
    eprintln!("tanli-jepsen: running for {:?}", options.time_limit);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.concurrency)
            .map(|w| {
                let (shared, recorder, addresses) = (&shared, &recorder, &addresses);
                scope.spawn(move || {
                    workload::run_worker(
                        shared,
                        recorder,
                        addresses,
                        w,
                        options.concurrency,
                        options.op_timeout,
                        deadline,
                    )
                })
            })
            .collect();
        scope.spawn(|| {
            nemesis::run(
                &db,
                firewall.as_ref(),
                &nemeses,
                options.schedule,
                &recorder,
                deadline,
                &stop,
            )
        });
        for w in workers {
            if w.join().is_err() {
                eprintln!("tanli-jepsen: a client worker panicked");
            }
        }
        stop.store(true, Ordering::SeqCst);
    });

    // Heal: the nemesis has ended its last fault; make sure nothing is left broken.
    let mut db = db.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = &firewall {
        f.heal()?;
    }
    for i in 0..db.len() {
        if !db.is_running(i) {
            db.restart(i)?;
        }
    }
    let recovered = {
        let cluster = &db.cluster;
        let timeout = options.recovery_timeout;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cluster.wait_leaders(timeout)
        }))
        .map_err(|p| crate::db::panic_text(&p))
    };
    if let Err(e) = &recovered {
        eprintln!("tanli-jepsen: the cluster did not recover after healing: {e}");
    }
    let addrs = db
        .addresses()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let final_deadline = Instant::now() + options.recovery_timeout;
    if let Err(e) = workload::final_reads(
        &shared,
        &recorder,
        &addrs,
        options.op_timeout,
        final_deadline,
    ) {
        eprintln!("tanli-jepsen: final reads failed: {e:#}");
    }
    db.save_logs(&options.out.join("logs"))?;
    drop(db);

    let events = recorder.snapshot();
    let verdict = checker::check(options.workload, &events);
    let gaps = failover::gaps(&events);
    let faults = events
        .iter()
        .filter(|e| e.process == Process::NEMESIS && e.f == F::Start)
        .count();
    let failover_text = match failover::median_max(&gaps) {
        Some((median, max)) => format!(
            "leader-fault gaps: {} median {median:.0} ms max {max:.0} ms",
            gaps.len()
        ),
        None => "leader-fault gaps: none".to_owned(),
    };
    let client_ops = events
        .iter()
        .filter(|e| e.process != Process::NEMESIS && e.kind != Kind::Invoke)
        .count();
    // Server flags that change what is checked (the read policy) are named in the summary.
    let flags = if options.server_args.is_empty() {
        String::new()
    } else {
        format!(" [{}]", options.server_args.join(" "))
    };
    let summary = format!(
        "{} × {}{flags}: {} ops ({} ok, {} fail, {} info), {} faults, verdict {}, lost {}, phantom {}; {}",
        format!("{:?}", options.workload).to_lowercase(),
        nemeses
            .iter()
            .map(|n| n.name())
            .collect::<Vec<_>>()
            .join(","),
        client_ops,
        verdict.ok,
        verdict.fail,
        verdict.info,
        faults,
        if verdict.valid { "VALID" } else { "INVALID" },
        verdict.lost,
        verdict.phantom,
        failover_text,
    );

    let mut history =
        std::io::BufWriter::new(std::fs::File::create(options.out.join("history.jsonl"))?);
    write_jsonl(&events, &mut history)?;
    let verdict_json = serde_json::json!({
        "verdict": verdict,
        "failover_gaps": gaps,
        "skipped_nemeses": skipped,
        "recovered": recovered.is_ok(),
    });
    std::fs::write(
        options.out.join("verdict.json"),
        serde_json::to_string_pretty(&verdict_json)?,
    )?;
    std::fs::write(options.out.join("summary.txt"), format!("{summary}\n"))?;
    crate::report::write(&options.out, &events, &summary, &verdict_json)?;
    Ok(Report {
        verdict,
        summary,
        skipped,
        out: options.out.clone(),
    })
}
