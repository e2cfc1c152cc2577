//! Checkers: decide from a recorded history ([`crate::history`]) whether the cluster behaved
//! correctly for the workload that ran, and say why not in a form a person can act on.
//!
//! This module owns the entry point ([`check`]), the verdict every checker returns ([`Verdict`]),
//! and the few helpers the checkers share (how an operation is shown in a report, how it is named
//! in an error). Each workload's rules live in their own module:
//!
//! - [`linear`]: the generic Wing–Gong–Lowe linearizability search, with its state cache and
//!   search budget. It knows nothing of registers or histories.
//! - [`register`]: the register model (read, write, compare-and-set), how history operations map
//!   onto it, and the per-key checking.
//! - `minimize`: shrinking a failing register key to a small sub-history that still fails.
//! - [`set`]: lost and phantom elements of the set workload.
//! - [`counter`]: bounds on every counter read and increment result.
//!
//! A history that is malformed (cannot be paired, or carries values the workload cannot mean) is
//! never a panic: it is an invalid verdict whose summary says what was wrong.

pub mod counter;
pub mod linear;
mod minimize;
pub mod register;
pub mod set;
#[cfg(test)]
mod testkit;

use serde_json::{json, Map, Value};

use crate::history::{self, Completed, Event, Kind, F};

/// The workload a history was recorded under, which decides how it is checked.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Reads, writes and compare-and-sets on registers: must be linearizable, per key.
    Register,
    /// Adds of unique elements, then a final read: nothing acknowledged lost, nothing invented.
    Set,
    /// Increments and reads of counters: every value within what could have been counted.
    Counter,
}

/// What a checker decided about a history.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub workload: Workload,
    pub valid: bool,
    /// Client operations in the history (invocations paired with their completion, if any).
    pub ops: usize,
    /// Of those, completed `ok`, `fail`, and indeterminate (`info` or never completed).
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    /// Acknowledged effects missing at the end (set elements, counter increments).
    pub lost: usize,
    /// Effects observed that no operation could have caused (set elements, counter increments).
    pub phantom: usize,
    /// One line for a person.
    pub summary: String,
    /// Workload-specific facts, including a failing sub-history when there is one.
    pub details: Value,
}

impl Verdict {
    /// An invalid verdict with the operation counts of `ops` and nothing decided yet.
    pub(crate) fn new(workload: Workload, ops: &[Completed]) -> Verdict {
        let count = |kind: Kind| ops.iter().filter(|op| op.kind == kind).count();
        Verdict {
            workload,
            valid: false,
            ops: ops.len(),
            ok: count(Kind::Ok),
            fail: count(Kind::Fail),
            info: ops.len() - count(Kind::Ok) - count(Kind::Fail),
            lost: 0,
            phantom: 0,
            summary: String::new(),
            details: Value::Null,
        }
    }

    /// This verdict, made invalid because the history cannot mean anything for the workload.
    pub(crate) fn malformed(mut self, reason: impl Into<String>) -> Verdict {
        let reason = reason.into();
        self.valid = false;
        self.summary = format!("malformed history: {reason}");
        self.details = json!({ "malformed": reason });
        self
    }
}

/// Checks `events` as a history of `workload`.
pub fn check(workload: Workload, events: &[Event]) -> Verdict {
    match history::pair(events) {
        Ok(ops) => match workload {
            Workload::Register => register::check(&ops),
            Workload::Set => set::check(&ops),
            Workload::Counter => counter::check(&ops),
        },
        Err(e) => Verdict::new(workload, &[]).malformed(format!("{e:#}")),
    }
}

/// The name of `f` as the history spells it.
pub(crate) fn f_name(f: F) -> &'static str {
    match f {
        F::Read => "read",
        F::Write => "write",
        F::Cas => "cas",
        F::Add => "add",
        F::Incr => "incr",
        F::FinalRead => "final-read",
        F::Start => "start",
        F::Stop => "stop",
    }
}

/// The value a report shows for `op`: what was read or returned, for operations that return
/// something and completed `ok`; otherwise what was sent.
pub(crate) fn shown_value(op: &Completed) -> &Value {
    match (op.f, op.kind) {
        (F::Read | F::FinalRead | F::Incr, Kind::Ok) => &op.value,
        _ => &op.invoke_value,
    }
}

/// `op` as a report shows it.
pub(crate) fn op_json(op: &Completed) -> Value {
    let mut fields = Map::new();
    fields.insert("process".into(), json!(op.process));
    fields.insert("f".into(), json!(op.f));
    fields.insert("type".into(), json!(op.kind));
    fields.insert("key".into(), json!(op.key));
    fields.insert("value".into(), shown_value(op).clone());
    fields.insert("invoke_index".into(), json!(op.invoke_index));
    fields.insert("complete_index".into(), json!(op.complete_index));
    if let Some(error) = &op.error {
        fields.insert("error".into(), json!(error));
    }
    Value::Object(fields)
}

/// `op` named in an error message.
pub(crate) fn describe(op: &Completed) -> String {
    let key = op
        .key
        .as_deref()
        .map_or_else(String::new, |k| format!(" on {k:?}"));
    format!(
        "{}{key} invoked at index {} by process {}",
        f_name(op.f),
        op.invoke_index,
        json!(op.process)
    )
}

/// Up to `cap` items of `items`, for reports that must stay readable.
pub(crate) fn capped<T: Clone>(items: &[T], cap: usize) -> Vec<T> {
    items.iter().take(cap).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::testkit::events;

    #[test]
    fn unpairable_history_is_invalid_not_a_panic() {
        let history = events("0 ok write x 1");
        for workload in [Workload::Register, Workload::Set, Workload::Counter] {
            let verdict = check(workload, &history);
            assert!(!verdict.valid);
            assert!(
                verdict.summary.starts_with("malformed history"),
                "{}",
                verdict.summary
            );
        }
    }

    #[test]
    fn workload_names_are_kebab_case() {
        assert_eq!(json!(Workload::Register), json!("register"));
        let parsed: Workload = serde_json::from_value(json!("counter")).expect("parses");
        assert_eq!(parsed, Workload::Counter);
    }
}
