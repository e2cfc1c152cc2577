//! The workloads: what each client process does, how an answer becomes a completion in the
//! history, and the final reads after the faults are healed.
//!
//! - *register*: `GET` / `SET` / `SET k new IFEQ old` on a few keys at a time, each key retired
//!   after [`REGISTER_OPS_PER_KEY`] operations so each per-key search stays small (as Jepsen's
//!   independent keys); values are small integers so compare-and-set often has a chance.
//! - *set*: each `add` writes a unique element as its own key (`s:<n>`), spread over every shard;
//!   the final read fetches every attempted element and lists every `s:*` key on every node.
//! - *counter*: `INCR` and `GET` on a few counters; a final `GET` of each.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::Value;
use serde_json::{json, Value as Json};

use crate::checker::Workload;
use crate::client::{int_of, Client, Outcome};
use crate::history::{Kind, Op, Process, Recorder, F};

/// Register operations on one key before its processes move on to a fresh key.
pub const REGISTER_OPS_PER_KEY: u64 = 200;
/// Client processes sharing one register key at a time.
pub const REGISTER_PROCS_PER_KEY: u64 = 5;
/// Distinct values a register takes.
const REGISTER_VALUES: i64 = 5;
/// Counters the counter workload spreads its increments over.
pub const COUNTERS: u64 = 3;

/// State shared by the client threads of one run.
pub struct Shared {
    pub workload: Workload,
    /// Operations invoked per register key group (index = group).
    register_ops: Vec<AtomicU64>,
    /// The next set element.
    next_element: AtomicU64,
}

impl Shared {
    pub fn new(workload: Workload, concurrency: u64) -> Shared {
        let groups = concurrency.div_ceil(REGISTER_PROCS_PER_KEY).max(1);
        Shared {
            workload,
            register_ops: (0..groups).map(|_| AtomicU64::new(0)).collect(),
            next_element: AtomicU64::new(0),
        }
    }

    /// Elements attempted so far (every element below this was invoked).
    pub fn elements_attempted(&self) -> u64 {
        self.next_element.load(Ordering::SeqCst)
    }
}

/// One operation to invoke.
struct Planned {
    f: F,
    key: Option<String>,
    value: Json,
    cmd: redis::Cmd,
}

fn plan(shared: &Shared, worker: u64) -> Planned {
    match shared.workload {
        Workload::Register => {
            let groups = shared.register_ops.len() as u64;
            let group = worker % groups;
            let n = shared.register_ops[group as usize].fetch_add(1, Ordering::SeqCst);
            let key = format!("r{}", (n / REGISTER_OPS_PER_KEY) * groups + group);
            let v = rand::random_range(0..REGISTER_VALUES);
            match rand::random_range(0..4) {
                0 | 1 => Planned {
                    f: F::Read,
                    cmd: redis::cmd("GET").arg(&key).clone(),
                    key: Some(key),
                    value: Json::Null,
                },
                2 => Planned {
                    f: F::Write,
                    cmd: redis::cmd("SET").arg(&key).arg(v).clone(),
                    key: Some(key),
                    value: json!(v),
                },
                _ => {
                    let old = rand::random_range(0..REGISTER_VALUES);
                    Planned {
                        f: F::Cas,
                        cmd: redis::cmd("SET")
                            .arg(&key)
                            .arg(v)
                            .arg("IFEQ")
                            .arg(old)
                            .clone(),
                        key: Some(key),
                        value: json!([old, v]),
                    }
                }
            }
        }
        Workload::Set => {
            let e = shared.next_element.fetch_add(1, Ordering::SeqCst);
            let key = format!("s:{e}");
            Planned {
                f: F::Add,
                cmd: redis::cmd("SET").arg(&key).arg(e).clone(),
                key: Some(key),
                value: json!(e),
            }
        }
        Workload::Counter => {
            let key = format!("c{}", rand::random_range(0..COUNTERS));
            if rand::random_range(0..4) == 0 {
                Planned {
                    f: F::Read,
                    cmd: redis::cmd("GET").arg(&key).clone(),
                    key: Some(key),
                    value: Json::Null,
                }
            } else {
                Planned {
                    f: F::Incr,
                    cmd: redis::cmd("INCR").arg(&key).clone(),
                    key: Some(key),
                    value: Json::Null,
                }
            }
        }
    }
}

/// The completion of `planned` given the server's answer.
fn complete(planned: &Planned, outcome: Outcome) -> (Kind, Json, Option<String>, Option<String>) {
    match outcome {
        Outcome::Fail(e) => (Kind::Fail, planned.value.clone(), None, Some(e)),
        Outcome::Info(e) => (Kind::Info, planned.value.clone(), None, Some(e)),
        Outcome::Ok(reply, node) => {
            let node = Some(node.to_string());
            match planned.f {
                F::Read | F::Incr => match int_of(&reply) {
                    Ok(v) => (Kind::Ok, json!(v), node, None),
                    Err(e) => (Kind::Info, Json::Null, node, Some(e)),
                },
                // SET ... IFEQ answers nil when the value differed: definitely not swapped.
                F::Cas if reply == Value::Nil => (
                    Kind::Fail,
                    planned.value.clone(),
                    node,
                    Some("mismatch".to_owned()),
                ),
                _ if is_ok(&reply) => (Kind::Ok, planned.value.clone(), node, None),
                _ => (
                    Kind::Info,
                    planned.value.clone(),
                    node,
                    Some(format!("unexpected reply {reply:?}")),
                ),
            }
        }
    }
}

fn is_ok(reply: &Value) -> bool {
    matches!(reply, Value::Okay) || matches!(reply, Value::SimpleString(s) if s == "OK")
}

/// Runs client worker `worker` (of `concurrency`) until `deadline`: one operation at a time on
/// its node, each recorded as an invocation and a completion. After an indeterminate completion
/// the worker continues as a new process, as in Jepsen.
pub fn run_worker(
    shared: &Shared,
    recorder: &Recorder,
    addresses: &std::sync::RwLock<Vec<SocketAddr>>,
    worker: u64,
    concurrency: u64,
    timeout: Duration,
    deadline: Instant,
) {
    let mut process = worker;
    let mut client = Client::new(timeout);
    while Instant::now() < deadline && !crate::run::interrupted() {
        let node = {
            let addrs = addresses.read().unwrap_or_else(|e| e.into_inner());
            addrs[(worker as usize) % addrs.len()]
        };
        let planned = plan(shared, worker);
        let p = Process::Client(process);
        recorder.record(Op::new(
            p,
            Kind::Invoke,
            planned.f,
            planned.key.clone(),
            planned.value.clone(),
        ));
        let outcome = client.exec(node, &planned.cmd);
        let (kind, value, answered_by, error) = complete(&planned, outcome);
        let mut op = Op::new(p, kind, planned.f, planned.key.clone(), value);
        op.node = answered_by;
        op.error = error;
        recorder.record(op);
        match kind {
            Kind::Info => {
                process += concurrency;
                client = Client::new(timeout);
            }
            // A refusal (no leader yet) is retried after a pause, not in a tight loop.
            Kind::Fail => std::thread::sleep(Duration::from_millis(20)),
            _ => {}
        }
    }
}

/// The process number of the final reads, after every worker has stopped.
pub const FINAL_PROCESS: u64 = u64::MAX / 2;

/// Reads after healing: the set's elements or each counter, retried until a definite answer or
/// `deadline`. Recorded as `final-read` operations.
pub fn final_reads(
    shared: &Shared,
    recorder: &Recorder,
    addresses: &[SocketAddr],
    timeout: Duration,
    deadline: Instant,
) -> anyhow::Result<()> {
    let p = Process::Client(FINAL_PROCESS);
    let mut client = Client::new(timeout);
    match shared.workload {
        Workload::Register => Ok(()),
        Workload::Counter => {
            for c in 0..COUNTERS {
                let key = format!("c{c}");
                recorder.record(Op::new(
                    p,
                    Kind::Invoke,
                    F::FinalRead,
                    Some(key.clone()),
                    Json::Null,
                ));
                let value = read_definite(
                    &mut client,
                    addresses,
                    redis::cmd("GET").arg(&key),
                    deadline,
                )?;
                let v = int_of(&value).map_err(anyhow::Error::msg)?;
                recorder.record(Op::new(p, Kind::Ok, F::FinalRead, Some(key), json!(v)));
            }
            Ok(())
        }
        Workload::Set => {
            recorder.record(Op::new(p, Kind::Invoke, F::FinalRead, None, Json::Null));
            let mut found = BTreeSet::new();
            // Every element that was attempted, one linearizable GET each.
            for e in 0..shared.elements_attempted() {
                let value = read_definite(
                    &mut client,
                    addresses,
                    redis::cmd("GET").arg(format!("s:{e}")),
                    deadline,
                )?;
                if value != Value::Nil {
                    found.insert(e);
                }
            }
            // And whatever else exists: `KEYS` on each node covers the shards it leads.
            for &addr in addresses {
                let value = keys_on(&mut client, addr, deadline)?;
                if let Value::Array(keys) = value {
                    for key in keys {
                        if let Value::BulkString(bytes) = key {
                            let text = String::from_utf8_lossy(&bytes).into_owned();
                            match text.strip_prefix("s:").and_then(|n| n.parse::<u64>().ok()) {
                                Some(n) => found.insert(n),
                                None => anyhow::bail!("unexpected key {text:?} in the set"),
                            };
                        }
                    }
                }
            }
            recorder.record(Op::new(
                p,
                Kind::Ok,
                F::FinalRead,
                None,
                json!(found.into_iter().collect::<Vec<_>>()),
            ));
            Ok(())
        }
    }
}

/// Sends a read until it gets a reply, trying each node in turn.
fn read_definite(
    client: &mut Client,
    addresses: &[SocketAddr],
    cmd: &redis::Cmd,
    deadline: Instant,
) -> anyhow::Result<Value> {
    let mut attempt = 0;
    loop {
        match client.exec(addresses[attempt % addresses.len()], cmd) {
            Outcome::Ok(v, _) => return Ok(v),
            Outcome::Fail(e) | Outcome::Info(e) if Instant::now() > deadline => {
                anyhow::bail!("no definite answer before the deadline: {e}")
            }
            _ => {}
        }
        attempt += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `KEYS s:*` on one node: the keys of the shards it leads (none when it leads none).
fn keys_on(client: &mut Client, addr: SocketAddr, deadline: Instant) -> anyhow::Result<Value> {
    loop {
        match client.exec(addr, redis::cmd("KEYS").arg("s:*")) {
            Outcome::Ok(v, _) => return Ok(v),
            Outcome::Info(e) | Outcome::Fail(e) if e.contains("leads no shard") => {
                return Ok(Value::Array(Vec::new()))
            }
            Outcome::Info(e) | Outcome::Fail(e) if Instant::now() > deadline => {
                anyhow::bail!("KEYS on {addr}: no answer before the deadline: {e}")
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
