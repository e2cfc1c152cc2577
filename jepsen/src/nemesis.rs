//! The nemeses: faults with a start and an end, each recorded in the history as a `start` and a
//! `stop` event of process `nemesis`. One nemesis thread alternates quiet periods and faults,
//! picking each fault at random from the ones the run asked for, and always ends the fault in
//! progress before it returns.
//!
//! | name        | start                                                    | stop |
//! |-------------|----------------------------------------------------------|------|
//! | `partition` | nftables grudge: halves, one node alone, a shard leader alone, bridge, ring | delete the table |
//! | `loss`      | 20–50 % of packets between nodes dropped (`numgen random`) | delete the table |
//! | `kill`      | SIGKILL of one or two random nodes, or of a shard leader | restart them on their data |
//! | `pause`     | SIGSTOP of a random node or of a shard leader            | SIGCONT |
//! | `remount`   | SIGKILL of a random node                                 | start it on its data directory under a new address and ports |
//! | `clock`     | wall clock of one or two nodes jumps ±5–120 s (libfaketime) | back to true time |
//! | `disk`      | fsync/fdatasync fail at random on one node (libfiu)      | failures off, the node restarted (its repair) |
//!
//! | `rebalance` | a node drained (`TANLI.NODE DRAIN`): its replicas and leaderships move away by Raft membership changes | undrained: the balancer moves replicas back |

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use serde_json::{json, Value};

use crate::db::Db;
use crate::history::{Kind, Op, Process, Recorder, F};
use crate::net::{shapes, Firewall};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Nemesis {
    Partition,
    Loss,
    Kill,
    Pause,
    Remount,
    Clock,
    Disk,
    /// Membership changes under load: a node drained, then undrained.
    Rebalance,
}

impl Nemesis {
    pub fn name(self) -> &'static str {
        match self {
            Nemesis::Partition => "partition",
            Nemesis::Loss => "loss",
            Nemesis::Kill => "kill",
            Nemesis::Pause => "pause",
            Nemesis::Remount => "remount",
            Nemesis::Clock => "clock",
            Nemesis::Disk => "disk",
            Nemesis::Rebalance => "rebalance",
        }
    }

    /// Faults made with nftables (need root).
    pub fn needs_firewall(self) -> bool {
        matches!(self, Nemesis::Partition | Nemesis::Loss)
    }
}

/// How long the nemesis waits between faults and how long each lasts.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub quiet: Duration,
    pub fault: Duration,
}

/// A fault in progress: what its stop must undo.
enum Active {
    Net,
    Killed(Vec<usize>),
    Paused(usize),
    Unmounted(usize),
    Clock(Vec<usize>),
    Disk(usize),
    Drained(usize),
}

/// Runs faults from `kinds` until `deadline` or `stop`, recording each start and stop.
pub fn run(
    db: &Mutex<Db>,
    firewall: Option<&Firewall>,
    kinds: &[Nemesis],
    schedule: Schedule,
    recorder: &Recorder,
    deadline: Instant,
    stop: &AtomicBool,
) {
    if kinds.is_empty() {
        return;
    }
    let wait = |d: Duration| -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until.min(deadline) {
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Instant::now() < deadline && !stop.load(Ordering::SeqCst)
    };
    while wait(schedule.quiet) {
        let kind = kinds[rand::random_range(0..kinds.len())];
        let started = {
            let mut db = db.lock().unwrap_or_else(|e| e.into_inner());
            start(&mut db, firewall, kind)
        };
        match started {
            Ok((active, detail)) => {
                record(recorder, F::Start, kind, detail);
                wait(schedule.fault);
                let mut db = db.lock().unwrap_or_else(|e| e.into_inner());
                let detail = match end(&mut db, firewall, active) {
                    Ok(text) => json!({ "detail": text }),
                    Err(e) => json!({ "detail": format!("repair failed: {e:#}") }),
                };
                record(recorder, F::Stop, kind, detail);
            }
            Err(e) => record(
                recorder,
                F::Stop,
                kind,
                json!({ "detail": format!("could not start: {e:#}") }),
            ),
        }
    }
}

fn record(recorder: &Recorder, f: F, kind: Nemesis, mut detail: Value) {
    detail["fault"] = json!(kind.name());
    recorder.record(Op::new(Process::NEMESIS, Kind::Info, f, None, detail));
}

/// Node indexes in random order.
fn shuffled(n: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    all.shuffle(&mut rand::rng());
    all
}

/// A shard leader (with the slots of the shards it leads), or a random node.
fn victim(db: &Db, leader: bool) -> (usize, Value) {
    if leader {
        if let Some((i, slots)) = leader_with_slots(db) {
            return (i, json!(slots));
        }
    }
    (rand::random_range(0..db.len()), Value::Null)
}

/// A random shard's leader and the slot ranges of every shard it leads.
fn leader_with_slots(db: &Db) -> Option<(usize, Vec<(u16, u16)>)> {
    let i = db.some_leader()?;
    let id = db.cluster.nodes[i].id();
    let shards = db.cluster.shards().ok()?;
    let slots = shards
        .iter()
        .filter(|s| s.master().is_some_and(|m| m.id == id))
        .flat_map(|s| s.slots.clone())
        .collect();
    Some((i, slots))
}

fn start(
    db: &mut Db,
    firewall: Option<&Firewall>,
    kind: Nemesis,
) -> anyhow::Result<(Active, Value)> {
    let n = db.len();
    let ips = db.ips();
    let order = shuffled(n);
    let firewall = || firewall.ok_or_else(|| anyhow::anyhow!("nftables unavailable"));
    Ok(match kind {
        Nemesis::Partition => {
            let by_order: Vec<IpAddr> = order.iter().map(|&i| ips[i]).collect();
            let mut slots = Value::Null;
            let (shape, grudge) = match rand::random_range(0..5) {
                0 => ("halves", shapes::split(&by_order, n / 2)),
                1 => ("one-alone", shapes::split(&by_order, 1)),
                2 => {
                    let (leader, s) = victim(db, true);
                    slots = s;
                    let mut rest: Vec<IpAddr> = ips.clone();
                    rest.retain(|&ip| ip != ips[leader]);
                    ("leader-alone", shapes::groups(&[vec![ips[leader]], rest]))
                }
                3 => ("bridge", shapes::bridge(&by_order)),
                _ => ("ring", shapes::ring(&by_order)),
            };
            firewall()?.partition(&grudge)?;
            let detail = format!("{shape}: {}", shapes::describe(&grudge));
            (Active::Net, json!({ "detail": detail, "slots": slots }))
        }
        Nemesis::Loss => {
            let percent = rand::random_range(20..=50);
            firewall()?.lossy(&ips, percent)?;
            (
                Active::Net,
                json!({ "detail": format!("{percent}% of packets between nodes dropped") }),
            )
        }
        Nemesis::Kill => {
            let (victims, slots) = if rand::random_bool(0.5) {
                let (i, slots) = victim(db, true);
                (vec![i], slots)
            } else {
                let count = rand::random_range(1..=((n - 1) / 2).max(1));
                (order[..count].to_vec(), Value::Null)
            };
            for &i in &victims {
                db.kill(i);
            }
            let names: Vec<String> = victims.iter().map(|&i| db.name(i)).collect();
            (
                Active::Killed(victims),
                json!({ "detail": format!("SIGKILL {}", names.join(" ")), "slots": slots }),
            )
        }
        Nemesis::Pause => {
            let (i, slots) = victim(db, rand::random_bool(0.5));
            db.pause(i, true)?;
            (
                Active::Paused(i),
                json!({ "detail": format!("SIGSTOP {}", db.name(i)), "slots": slots }),
            )
        }
        Nemesis::Remount => {
            let i = order[0];
            db.kill(i);
            (
                Active::Unmounted(i),
                json!({ "detail": format!("SIGKILL {}, its volume to move", db.name(i)) }),
            )
        }
        Nemesis::Clock => {
            let count = rand::random_range(1..=2usize.min(n));
            let mut parts = Vec::new();
            for &i in &order[..count] {
                let magnitude = rand::random_range(5..=120);
                let offset = if rand::random_bool(0.5) {
                    magnitude
                } else {
                    -magnitude
                };
                db.set_clock_offset(i, offset)?;
                parts.push(format!("{} {offset:+} s", db.name(i)));
            }
            (
                Active::Clock(order[..count].to_vec()),
                json!({ "detail": format!("clock jump: {}", parts.join(", ")) }),
            )
        }
        Nemesis::Disk => {
            let i = order[0];
            let p = rand::random_range(30..=100) as f64 / 100.0;
            db.fiu(
                i,
                &[
                    &format!("enable_random name=posix/io/sync/fsync,probability={p}"),
                    &format!("enable_random name=posix/io/sync/fdatasync,probability={p}"),
                ],
            )?;
            (
                Active::Disk(i),
                json!({ "detail": format!("fsync and fdatasync fail with p={p} on {}", db.name(i)) }),
            )
        }
        Nemesis::Rebalance => {
            let i = order[0];
            admin(
                db,
                &["TANLI.NODE", "DRAIN", &db.cluster.nodes[i].id().to_string()],
            )?;
            (
                Active::Drained(i),
                json!({ "detail": format!("drain {}: its replicas move away", db.name(i)) }),
            )
        }
    })
}

/// Sends an admin command through the first node that answers it.
fn admin(db: &Db, args: &[&str]) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for addr in db.cluster.running_addrs() {
        let conn = tanli_tests::client::try_connect(addr, None, Duration::from_secs(1));
        let reply = conn.map_err(|e| e.to_string()).and_then(|mut c| {
            redis::cmd(args[0])
                .arg(&args[1..])
                .query::<String>(&mut c)
                .map_err(|e| e.to_string())
        });
        match reply {
            Ok(_) => return Ok(()),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    anyhow::bail!("{} failed on every node: {errors:?}", args.join(" "))
}

fn end(db: &mut Db, firewall: Option<&Firewall>, active: Active) -> anyhow::Result<String> {
    Ok(match active {
        Active::Net => {
            if let Some(f) = firewall {
                f.heal()?;
            }
            "healed".to_owned()
        }
        Active::Killed(victims) => {
            for &i in &victims {
                db.restart(i)?;
            }
            format!("restarted {} node(s)", victims.len())
        }
        Active::Paused(i) => {
            db.pause(i, false)?;
            format!("SIGCONT {}", db.name(i))
        }
        Active::Unmounted(i) => {
            let addr = db.remount(i)?;
            format!("n{} re-mounted at {addr}", i + 1)
        }
        Active::Clock(nodes) => {
            for &i in &nodes {
                db.set_clock_offset(i, 0)?;
            }
            "clocks back to true time".to_owned()
        }
        Active::Drained(i) => {
            admin(
                db,
                &[
                    "TANLI.NODE",
                    "UNDRAIN",
                    &db.cluster.nodes[i].id().to_string(),
                ],
            )?;
            format!("undrain {}: replicas move back", db.name(i))
        }
        Active::Disk(i) => {
            let crashed = !db.is_running(i);
            if !crashed {
                db.fiu(
                    i,
                    &[
                        "disable name=posix/io/sync/fsync",
                        "disable name=posix/io/sync/fdatasync",
                    ],
                )?;
            }
            db.kill(i);
            db.restart(i)?;
            format!(
                "failures off; {} restarted{}",
                db.name(i),
                if crashed {
                    " (it had stopped itself)"
                } else {
                    ""
                }
            )
        }
    })
}
