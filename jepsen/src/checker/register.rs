//! The register workload's checker: reads, writes and compare-and-sets on many keys must be
//! linearizable.
//!
//! This module owns the register [`Model`] (state `Option<i64>`, `None` for a missing key), the
//! mapping from history operations to model operations — which completions constrain the search,
//! which are indeterminate, which are dropped — and the per-key checking. Keys are independent
//! registers, so, as Knossos' and Porcupine's "independent" checkers do, the history is split by
//! key and each key is searched alone (in parallel across cores): the searches stay small, and a
//! failure names its key.
//!
//! | operation | `ok` | `fail` | `info` (or no completion) |
//! |-----------|------|--------|---------------------------|
//! | `read`    | the register holds the value read (`null`: absent) | dropped | dropped |
//! | `write v` | sets `v` | dropped: did not happen | may set `v`, any time after its invocation, or never |
//! | `cas [old, new]` | register held `old`; sets `new` | error absent or `mismatch`: the register did not hold `old` (a read of sorts); any other error: dropped | may swap, if it held `old` |

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::linear::{self, Budget, Model, Operation, Outcome};
use super::{capped, describe, minimize, op_json, Verdict, Workload};
use crate::history::{Completed, Kind, F};

/// A register operation as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read this value (`None`: the key was absent).
    Read(Option<i64>),
    Write(i64),
    /// Swap to `new` if the register holds `old`.
    Cas {
        old: i64,
        new: i64,
    },
    /// A compare-and-set the server definitely refused: the register did not hold `old`.
    CasMismatch {
        old: i64,
    },
}

impl Action {
    /// The value this action leaves in the register, if it takes effect and writes.
    pub(crate) fn writes(self) -> Option<i64> {
        match self {
            Action::Write(v) | Action::Cas { new: v, .. } => Some(v),
            Action::Read(_) | Action::CasMismatch { .. } => None,
        }
    }

    /// The value the register must hold for this action to be allowed, if it needs one.
    pub(crate) fn needs(self) -> Option<i64> {
        match self {
            Action::Read(v) => v,
            Action::Cas { old, .. } => Some(old),
            Action::Write(_) | Action::CasMismatch { .. } => None,
        }
    }
}

/// A single register, initially absent.
pub struct Register;

impl Model for Register {
    type State = Option<i64>;
    type Op = Action;

    fn init() -> Option<i64> {
        None
    }

    fn step(state: &Option<i64>, op: &Action) -> Option<Option<i64>> {
        match *op {
            Action::Read(v) => (*state == v).then_some(*state),
            Action::Write(v) => Some(Some(v)),
            Action::Cas { old, new } => (*state == Some(old)).then_some(Some(new)),
            Action::CasMismatch { old } => (*state != Some(old)).then_some(*state),
        }
    }
}

/// One key's operation that the search must account for, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeyOp {
    /// Its position in the paired history.
    pub source: usize,
    pub invoke: u64,
    /// `None`: indeterminate.
    pub complete: Option<u64>,
    pub action: Action,
}

/// Searches one key's operations.
pub(crate) fn search(ops: &[KeyOp], budget: Budget) -> linear::Report<Option<i64>> {
    let ops: Vec<Operation<Action>> = ops
        .iter()
        .map(|op| Operation {
            invoke: op.invoke,
            complete: op.complete,
            op: op.action,
        })
        .collect();
    linear::check::<Register>(&ops, budget)
}

/// How hard [`check_with`] tries.
#[derive(Clone, Debug)]
pub struct Options {
    /// Per key.
    pub budget: Budget,
    /// Time spent shrinking the first failing key to a small failing sub-history.
    pub minimize_for: Duration,
    /// Per search while shrinking.
    pub minimize_budget: Budget,
    /// Keys searched at once (0: one per core).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            budget: Budget::default(),
            minimize_for: Duration::from_secs(10),
            minimize_budget: Budget {
                max_states: 1_000_000,
                ..Budget::default()
            },
            threads: 0,
        }
    }
}

/// Checks a paired register history with the default [`Options`].
pub fn check(ops: &[Completed]) -> Verdict {
    check_with(ops, &Options::default())
}

/// Checks a paired register history: valid iff every key is linearizable.
pub fn check_with(ops: &[Completed], options: &Options) -> Verdict {
    let verdict = Verdict::new(Workload::Register, ops);
    let keys = match split(ops) {
        Ok(keys) => keys,
        Err(reason) => return verdict.malformed(reason),
    };
    let keys: Vec<(&String, &Vec<KeyOp>)> = keys.iter().collect();
    let reports = search_all(&keys, options);
    let mut failed = Vec::new();
    let mut unknown = Vec::new();
    let mut explored = 0u64;
    for ((key, key_ops), report) in keys.iter().zip(&reports) {
        match report {
            Some(report) => {
                explored += report.explored;
                match &report.outcome {
                    Outcome::Linearizable => {}
                    Outcome::NotLinearizable(failure) => failed.push((*key, *key_ops, failure)),
                    Outcome::Unknown => unknown.push(*key),
                }
            }
            // Its search thread panicked: nothing was decided for it.
            None => unknown.push(*key),
        }
    }
    let failed_keys: Vec<&String> = failed.iter().map(|(key, ..)| *key).collect();
    let mut details = json!({
        "keys": keys.len(),
        "failed_keys": failed_keys,
        "unknown_keys": unknown,
        "explored": explored,
    });
    let mut verdict = Verdict {
        valid: failed.is_empty() && unknown.is_empty(),
        ..verdict
    };
    let counts = format!(
        "{} key(s), {} ops ({} ok, {} fail, {} info)",
        keys.len(),
        verdict.ops,
        verdict.ok,
        verdict.fail,
        verdict.info
    );
    verdict.summary = if let Some(&(key, key_ops, failure)) = failed.first() {
        let first = first_failure(ops, key, key_ops, failure, options);
        let shown = first["ops"].as_array().map_or(0, Vec::len);
        details["first_failure"] = first;
        format!(
            "NOT linearizable: key(s) {} of {counts}; a failing sub-history of {shown} op(s) on {key:?}",
            list(&failed_keys)
        )
    } else if !unknown.is_empty() {
        format!(
            "unknown (search budget exhausted) on key(s) {} of {counts}",
            list(&unknown)
        )
    } else {
        format!("linearizable: {counts}")
    };
    verdict.details = details;
    verdict
}

/// Up to 10 keys, for a summary line.
fn list(keys: &[&String]) -> String {
    let mut text = capped(keys, 10)
        .iter()
        .map(|k| format!("{k:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > 10 {
        text.push_str(&format!(" and {} more", keys.len() - 10));
    }
    text
}

/// The register operations of `ops` by key, in history order; an error for anything that is not
/// a register operation or carries a value a register operation cannot have.
pub(crate) fn split(ops: &[Completed]) -> Result<BTreeMap<String, Vec<KeyOp>>, String> {
    let mut keys: BTreeMap<String, Vec<KeyOp>> = BTreeMap::new();
    for (source, op) in ops.iter().enumerate() {
        let bad = |what: &str| format!("{}: {what}", describe(op));
        let Some(key) = &op.key else {
            return Err(bad("a register operation needs a key"));
        };
        let int = |v: &Value| {
            v.as_i64()
                .ok_or_else(|| bad(&format!("{v} is not an integer")))
        };
        let (action, complete) = match (op.f, op.kind) {
            (F::Read, Kind::Ok) => {
                let read = if op.value.is_null() {
                    None
                } else {
                    Some(int(&op.value)?)
                };
                (Some(Action::Read(read)), op.complete_index)
            }
            (F::Read, _) => (None, None),
            (F::Write, kind) => {
                let v = int(&op.invoke_value)?;
                match kind {
                    Kind::Ok => (Some(Action::Write(v)), op.complete_index),
                    Kind::Fail => (None, None),
                    Kind::Info | Kind::Invoke => (Some(Action::Write(v)), None),
                }
            }
            (F::Cas, kind) => {
                let pair = op.invoke_value.as_array().filter(|a| a.len() == 2);
                let Some(pair) = pair else {
                    return Err(bad(&format!("{} is not [old, new]", op.invoke_value)));
                };
                let (old, new) = (int(&pair[0])?, int(&pair[1])?);
                match kind {
                    Kind::Ok => (Some(Action::Cas { old, new }), op.complete_index),
                    Kind::Fail if op.error.as_deref().is_none_or(|e| e == "mismatch") => {
                        (Some(Action::CasMismatch { old }), op.complete_index)
                    }
                    Kind::Fail => (None, None),
                    Kind::Info | Kind::Invoke => (Some(Action::Cas { old, new }), None),
                }
            }
            (f, _) => {
                return Err(bad(&format!(
                    "{} is not a register operation",
                    super::f_name(f)
                )))
            }
        };
        let entry = keys.entry(key.clone()).or_default();
        if let Some(action) = action {
            if matches!(op.kind, Kind::Ok | Kind::Fail) && complete.is_none() {
                return Err(bad("a definite completion without an index"));
            }
            entry.push(KeyOp {
                source,
                invoke: op.invoke_index,
                complete,
                action,
            });
        }
    }
    Ok(keys)
}

/// Searches every key, largest first, on up to `options.threads` threads; `None` for a key whose
/// search thread panicked.
fn search_all(
    keys: &[(&String, &Vec<KeyOp>)],
    options: &Options,
) -> Vec<Option<linear::Report<Option<i64>>>> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(keys[i].1.len()));
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
    .clamp(1, keys.len().max(1));
    let next = AtomicUsize::new(0);
    let mut reports: Vec<Option<linear::Report<Option<i64>>>> = vec![None; keys.len()];
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        done.push((i, search(keys[i].1, options.budget)));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            for (i, report) in worker.join().unwrap_or_default() {
                reports[i] = Some(report);
            }
        }
    });
    reports
}

/// The report of the first failing key: its shrunk failing sub-history, and where the full
/// search got stuck.
fn first_failure(
    ops: &[Completed],
    key: &str,
    key_ops: &[KeyOp],
    failure: &linear::Failure<Option<i64>>,
    options: &Options,
) -> Value {
    let shrunk = minimize::minimize(key_ops, options.minimize_for, options.minimize_budget);
    let shown: Vec<Value> = shrunk
        .ops
        .iter()
        .map(|op| {
            let mut shown = op_json(&ops[op.source]);
            if let Value::Object(fields) = &mut shown {
                if op.complete.is_none() && ops[op.source].complete_index.is_some() {
                    // Completed after the shortest failing prefix: checked as indeterminate.
                    fields.insert("checked_as_indeterminate".into(), json!(true));
                }
            }
            shown
        })
        .collect();
    let source = |i: usize| key_ops.get(i).map(|op| op_json(&ops[op.source]));
    json!({
        "key": key,
        "ops": shown,
        "minimized": shrunk.complete,
        "cut_at_index": shrunk.cut_at,
        "full_search": {
            "linearized_before_stuck": failure.longest.len(),
            "state_at_stuck": failure.state,
            "stuck_op": failure.stuck.and_then(source),
            "pending_ops": capped(&failure.pending, 20).into_iter().filter_map(source).collect::<Vec<_>>(),
        },
    })
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
