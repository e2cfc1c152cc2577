//! The set workload's checker: after the faults are healed, every acknowledged element must be
//! there (nothing lost) and nothing else may be (nothing invented).
//!
//! This module owns those rules. `add` operations carry their element (an integer) in `value`;
//! a `final-read` that completed `ok` carries the elements found, a JSON array of integers. An
//! element is *lost* if its add was acknowledged (`ok`) and some final read lacks it, and
//! *phantom* if a final read has it and no add of it was ever invoked. Indeterminate (`info`) and
//! refused (`fail`) adds may or may not be there; indeterminate ones that are there count as
//! *recovered*. Keys are ignored: the elements form one set however they are stored.

use std::collections::{BTreeSet, HashSet};

use serde_json::json;

use super::{capped, describe, Verdict, Workload};
use crate::history::{Completed, Kind, F};

/// Lost and phantom elements listed in the details, at most.
const LISTED: usize = 100;

/// Checks a paired set history: valid iff a final read succeeded and nothing is lost or phantom.
pub fn check(ops: &[Completed]) -> Verdict {
    let verdict = Verdict::new(Workload::Set, ops);
    let mut attempted = HashSet::new();
    let mut acknowledged = BTreeSet::new();
    let mut indeterminate = Vec::new();
    let mut refused = Vec::new();
    let (mut ok_adds, mut info_adds, mut fail_adds) = (0, 0, 0);
    // Final reads in order of completion.
    let mut finals: Vec<(u64, HashSet<i64>)> = Vec::new();
    let mut duplicates = 0;
    for op in ops {
        match op.f {
            F::Add => {
                let Some(element) = op.invoke_value.as_i64() else {
                    return verdict.malformed(format!(
                        "{}: element {} is not an integer",
                        describe(op),
                        op.invoke_value
                    ));
                };
                attempted.insert(element);
                match op.kind {
                    Kind::Ok => {
                        ok_adds += 1;
                        acknowledged.insert(element);
                    }
                    Kind::Fail => {
                        fail_adds += 1;
                        refused.push(element);
                    }
                    Kind::Info | Kind::Invoke => {
                        info_adds += 1;
                        indeterminate.push(element);
                    }
                }
            }
            F::FinalRead if op.kind == Kind::Ok => {
                let elements = op.value.as_array().and_then(|items| {
                    items
                        .iter()
                        .map(serde_json::Value::as_i64)
                        .collect::<Option<Vec<i64>>>()
                });
                let Some(elements) = elements else {
                    return verdict.malformed(format!(
                        "{}: {} is not an array of integers",
                        describe(op),
                        op.value
                    ));
                };
                let found: HashSet<i64> = elements.iter().copied().collect();
                duplicates += elements.len() - found.len();
                finals.push((op.complete_index.unwrap_or(op.invoke_index), found));
            }
            F::FinalRead => {}
            f => {
                return verdict.malformed(format!(
                    "{}: {} is not a set operation",
                    describe(op),
                    super::f_name(f)
                ))
            }
        }
    }
    finals.sort_by_key(|(at, _)| *at);

    let lost: Vec<i64> = acknowledged
        .iter()
        .copied()
        .filter(|e| finals.iter().any(|(_, found)| !found.contains(e)))
        .collect();
    let phantom: BTreeSet<i64> = finals
        .iter()
        .flat_map(|(_, found)| found.iter().copied())
        .filter(|e| !attempted.contains(e))
        .collect();
    let phantom: Vec<i64> = phantom.into_iter().collect();
    let last = finals.last().map(|(_, found)| found);
    let present = |elements: &[i64]| {
        last.map_or(0, |found| {
            elements.iter().filter(|e| found.contains(e)).count()
        })
    };
    let recovered = present(&indeterminate);

    let mut verdict = Verdict {
        valid: !finals.is_empty() && lost.is_empty() && phantom.is_empty(),
        lost: lost.len(),
        phantom: phantom.len(),
        ..verdict
    };
    let adds = format!("{ok_adds} ok, {info_adds} info, {fail_adds} fail");
    verdict.summary = if finals.is_empty() {
        format!("no successful final read: cannot tell what survived ({adds} adds)")
    } else if verdict.valid {
        format!(
            "set intact: all {} acknowledged element(s) present, {recovered} of {info_adds} \
             indeterminate add(s) recovered, nothing invented ({adds} adds)",
            acknowledged.len()
        )
    } else {
        format!(
            "set WRONG: {} acknowledged element(s) lost, {} phantom element(s) ({adds} adds)",
            lost.len(),
            phantom.len()
        )
    };
    verdict.details = json!({
        "final_reads": finals.len(),
        "final_size": last.map(HashSet::len),
        "ok_adds": ok_adds,
        "info_adds": info_adds,
        "fail_adds": fail_adds,
        "acknowledged": acknowledged.len(),
        "recovered": recovered,
        "refused_but_present": present(&refused),
        "duplicates_in_final_reads": duplicates,
        "lost": capped(&lost, LISTED),
        "phantom": capped(&phantom, LISTED),
    });
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::testkit::completed;

    const ADDS: &str = "
        0 invoke add s:1 1
        0 ok add s:1 1
        1 invoke add s:2 2
        1 info add s:2 2 err=timeout
        2 invoke add s:3 3
        2 fail add s:3 3 err=TRYAGAIN
        3 invoke add s:4 4
        3 ok add s:4 4
    ";

    fn with_final(found: &str) -> Verdict {
        check(&completed(&format!(
            "{ADDS}\n9 invoke final-read - \n9 ok final-read - {found}"
        )))
    }

    #[test]
    fn all_acknowledged_present_is_valid() {
        let verdict = with_final("[1, 2, 4]");
        assert!(verdict.valid, "{}", verdict.summary);
        assert_eq!(verdict.details["recovered"], json!(1));
        assert_eq!((verdict.ok, verdict.info, verdict.fail), (3, 1, 1));
    }

    #[test]
    fn lost_element_is_flagged() {
        let verdict = with_final("[1, 2]");
        assert!(!verdict.valid);
        assert_eq!(verdict.lost, 1);
        assert_eq!(verdict.details["lost"], json!([4]));
        assert!(verdict.summary.contains("lost"), "{}", verdict.summary);
    }

    #[test]
    fn phantom_element_is_flagged() {
        let verdict = with_final("[1, 4, 99]");
        assert!(!verdict.valid);
        assert_eq!((verdict.lost, verdict.phantom), (0, 1));
        assert_eq!(verdict.details["phantom"], json!([99]));
    }

    #[test]
    fn indeterminate_or_refused_adds_may_be_absent_or_present() {
        assert!(with_final("[1, 4]").valid);
        let verdict = with_final("[1, 2, 3, 4]");
        assert!(verdict.valid, "{}", verdict.summary);
        assert_eq!(verdict.details["refused_but_present"], json!(1));
    }

    #[test]
    fn missing_final_read_is_invalid() {
        let verdict = check(&completed(&format!(
            "{ADDS}\n9 invoke final-read -\n9 info final-read - err=timeout"
        )));
        assert!(!verdict.valid);
        assert!(
            verdict.summary.contains("no successful final read"),
            "{}",
            verdict.summary
        );
    }

    #[test]
    fn malformed_elements_are_invalid() {
        let verdict = with_final(r#"[1, "two"]"#);
        assert!(!verdict.valid);
        assert!(verdict.summary.starts_with("malformed history"));
        let verdict = check(&completed("0 invoke add s:x \"x\"\n0 ok add s:x \"x\""));
        assert!(
            verdict.summary.contains("not an integer"),
            "{}",
            verdict.summary
        );
    }
}
