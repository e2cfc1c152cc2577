//! The counter workload's checker: every value a counter showed must lie between what had
//! certainly been counted and what could have been, and after healing no acknowledged increment
//! may be missing.
//!
//! This module owns those bounds. Each key is its own counter, starting at 0, and each `incr`
//! adds 1. For an operation on a key invoked at index `i` and completed at index `c`:
//!
//! - *lower* = increments acknowledged (`ok`) with a completion before `i`: they took effect
//!   before the operation began;
//! - *upper* = increments invoked before `c`, except refused (`fail`) ones: nothing else can have
//!   taken effect by the time it ended.
//!
//! An `ok` `read` or `final-read` value `r` (`null` is 0) must satisfy lower ≤ r ≤ upper; an `ok`
//! `incr`'s returned value (the counter after it) must satisfy lower + 1 ≤ r ≤ upper. *Lost* is
//! the acknowledged increments above a key's last final read, *phantom* the final value above the
//! increments attempted. Valid iff every bound holds and every key has a final read.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{describe, op_json, Verdict, Workload};
use crate::history::{Completed, Kind, F};

/// Violations listed in the details, at most.
const LISTED: usize = 20;

/// One key's operations.
#[derive(Default)]
struct Key<'a> {
    /// Completion indexes of acknowledged increments, sorted.
    acknowledged: Vec<u64>,
    /// Invocation indexes of increments not refused, sorted.
    attempted: Vec<u64>,
    /// Operations that showed a value, with it; increments marked by `true`.
    observed: Vec<(&'a Completed, i64, bool)>,
    /// The last final read: its completion index and value.
    last_final: Option<(u64, i64)>,
}

impl Key<'_> {
    fn bounds(&self, op: &Completed) -> (i64, i64) {
        let lower = self.acknowledged.partition_point(|&c| c < op.invoke_index);
        let end = op.complete_index.unwrap_or(u64::MAX);
        let upper = self.attempted.partition_point(|&i| i < end);
        (count(lower), count(upper))
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Checks a paired counter history.
pub fn check(ops: &[Completed]) -> Verdict {
    let verdict = Verdict::new(Workload::Counter, ops);
    let mut keys: BTreeMap<&str, Key> = BTreeMap::new();
    for op in ops {
        let bad = |what: String| {
            verdict
                .clone()
                .malformed(format!("{}: {what}", describe(op)))
        };
        let Some(name) = op.key.as_deref() else {
            return bad("a counter operation needs a key".into());
        };
        let key = keys.entry(name).or_default();
        let value = match (op.f, op.kind) {
            (F::Incr | F::Read | F::FinalRead, Kind::Ok) => match &op.value {
                Value::Null if op.f != F::Incr => 0,
                v => match v.as_i64() {
                    Some(v) => v,
                    None => return bad(format!("{v} is not an integer")),
                },
            },
            (F::Incr | F::Read | F::FinalRead, _) => {
                if op.f == F::Incr && op.kind != Kind::Fail {
                    key.attempted.push(op.invoke_index);
                }
                continue;
            }
            (f, _) => return bad(format!("{} is not a counter operation", super::f_name(f))),
        };
        let complete = op.complete_index.unwrap_or(op.invoke_index);
        match op.f {
            F::Incr => {
                key.acknowledged.push(complete);
                key.attempted.push(op.invoke_index);
            }
            F::FinalRead if key.last_final.is_none_or(|(at, _)| at < complete) => {
                key.last_final = Some((complete, value));
            }
            _ => {}
        }
        key.observed.push((op, value, op.f == F::Incr));
    }

    let mut violations = Vec::new();
    let mut missing_final = Vec::new();
    let mut per_key = serde_json::Map::new();
    let (mut lost, mut phantom, mut acknowledged, mut attempted) = (0, 0, 0, 0);
    for (name, key) in &mut keys {
        key.acknowledged.sort_unstable();
        key.attempted.sort_unstable();
        for &(op, value, is_incr) in &key.observed {
            let (lower, upper) = key.bounds(op);
            let lower = lower + i64::from(is_incr);
            if value < lower || value > upper {
                violations.push(json!({
                    "key": name,
                    "op": op_json(op),
                    "value": value,
                    "lower": lower,
                    "upper": upper,
                }));
            }
        }
        let (acked, tried) = (count(key.acknowledged.len()), count(key.attempted.len()));
        acknowledged += acked;
        attempted += tried;
        let final_value = key.last_final.map(|(_, v)| v);
        match final_value {
            Some(v) => {
                lost += (acked - v).max(0);
                phantom += (v - tried).max(0);
            }
            None => missing_final.push(*name),
        }
        per_key.insert(
            (*name).to_owned(),
            json!({ "acknowledged": acked, "attempted": tried, "final": final_value }),
        );
    }

    let mut verdict = Verdict {
        valid: violations.is_empty() && missing_final.is_empty(),
        lost: usize::try_from(lost).unwrap_or(usize::MAX),
        phantom: usize::try_from(phantom).unwrap_or(usize::MAX),
        ..verdict
    };
    verdict.summary = if verdict.valid {
        format!(
            "counters consistent: {} key(s), {acknowledged} acknowledged of {attempted} attempted \
             increment(s), every value within bounds",
            keys.len()
        )
    } else {
        let mut problems = Vec::new();
        if !violations.is_empty() {
            problems.push(format!("{} value(s) out of bounds", violations.len()));
        }
        if lost > 0 {
            problems.push(format!("{lost} acknowledged increment(s) lost"));
        }
        if phantom > 0 {
            problems.push(format!("{phantom} increment(s) never attempted"));
        }
        if !missing_final.is_empty() {
            problems.push(format!("no final read of {}", missing_final.join(", ")));
        }
        format!("counter WRONG: {}", problems.join("; "))
    };
    verdict.details = json!({
        "keys": per_key,
        "acknowledged": acknowledged,
        "attempted": attempted,
        "violations_total": violations.len(),
        "violations": super::capped(&violations, LISTED),
        "missing_final_read": missing_final,
    });
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::testkit::completed;

    /// Three increments on c0: two acknowledged, one indeterminate; one refused.
    const INCRS: &str = "
        0 invoke incr c0
        0 ok incr c0 1
        1 invoke incr c0
        2 invoke incr c0
        2 ok incr c0 2
        1 info incr c0 err=timeout
        3 invoke incr c0
        3 fail incr c0 err=TRYAGAIN
    ";

    fn with(rest: &str) -> Verdict {
        check(&completed(&format!("{INCRS}\n{rest}")))
    }

    #[test]
    fn values_within_bounds_are_valid() {
        for v in [2, 3] {
            let verdict = with(&format!(
                "4 invoke read c0\n4 ok read c0 {v}\n9 invoke final-read c0\n9 ok final-read c0 {v}"
            ));
            assert!(verdict.valid, "{}", verdict.summary);
            assert_eq!((verdict.lost, verdict.phantom), (0, 0));
        }
        let verdict = with("9 invoke final-read c0\n9 ok final-read c0 2");
        assert_eq!(verdict.details["keys"]["c0"]["acknowledged"], json!(2));
        assert_eq!(verdict.details["keys"]["c0"]["attempted"], json!(3));
    }

    #[test]
    fn final_value_above_attempted_is_flagged() {
        let verdict = with("9 invoke final-read c0\n9 ok final-read c0 4");
        assert!(!verdict.valid);
        assert_eq!(verdict.phantom, 1);
        assert_eq!(verdict.details["violations"][0]["upper"], json!(3));
    }

    #[test]
    fn final_value_below_acknowledged_is_lost() {
        let verdict = with("9 invoke final-read c0\n9 ok final-read c0 1");
        assert!(!verdict.valid);
        assert_eq!(verdict.lost, 1);
        assert!(verdict.summary.contains("lost"), "{}", verdict.summary);
    }

    #[test]
    fn read_below_lower_bound_is_flagged() {
        // Both acknowledged increments completed before this read began.
        let verdict = with(
            "4 invoke read c0\n4 ok read c0 null\n9 invoke final-read c0\n9 ok final-read c0 2",
        );
        assert!(!verdict.valid);
        assert_eq!(verdict.details["violations_total"], json!(1));
        assert_eq!(verdict.details["violations"][0]["lower"], json!(2));
        assert_eq!(verdict.lost, 0);
    }

    #[test]
    fn increment_result_out_of_bounds_is_flagged() {
        // Second increment returns 5, yet only two were ever attempted.
        let verdict = check(&completed(
            "0 invoke incr c0\n0 ok incr c0 1\n1 invoke incr c0\n1 ok incr c0 5\n\
             9 invoke final-read c0\n9 ok final-read c0 2",
        ));
        assert!(!verdict.valid);
        assert_eq!(verdict.details["violations"][0]["value"], json!(5));
    }

    #[test]
    fn keys_are_independent_and_each_needs_a_final_read() {
        let verdict =
            with("5 invoke incr c1\n5 ok incr c1 1\n9 invoke final-read c0\n9 ok final-read c0 3");
        assert!(!verdict.valid);
        assert_eq!(verdict.details["missing_final_read"], json!(["c1"]));
        let verdict = with(
            "5 invoke incr c1\n5 ok incr c1 1\n9 invoke final-read c0\n9 ok final-read c0 3\n\
             9 invoke final-read c1\n9 ok final-read c1 1",
        );
        assert!(verdict.valid, "{}", verdict.summary);
    }
}
