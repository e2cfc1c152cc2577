//! Hand-made register histories: each case the checker must accept or flag, and what its report
//! must say.

use serde_json::json;

use super::*;
use crate::checker::testkit::completed;

fn verdict(text: &str) -> Verdict {
    check(&completed(text))
}

fn assert_valid(text: &str) {
    let verdict = verdict(text);
    assert!(verdict.valid, "{}\n{:#}", verdict.summary, verdict.details);
}

fn assert_flagged(text: &str) -> Verdict {
    let verdict = verdict(text);
    assert!(!verdict.valid, "should be flagged: {text}");
    assert!(
        verdict.summary.starts_with("NOT linearizable"),
        "{}",
        verdict.summary
    );
    verdict
}

#[test]
fn sequential_history_is_linearizable() {
    assert_valid(
        "0 invoke read x
         0 ok read x null
         0 invoke write x 1
         0 ok write x 1
         1 invoke read x
         1 ok read x 1
         1 invoke cas x [1, 2]
         1 ok cas x [1, 2]
         0 invoke read x
         0 ok read x 2",
    );
}

#[test]
fn concurrent_read_may_return_either_value() {
    for seen in ["null", "1"] {
        assert_valid(&format!(
            "0 invoke write x 1
             1 invoke read x
             1 ok read x {seen}
             0 ok write x 1"
        ));
    }
    assert_flagged(
        "0 invoke write x 1
         1 invoke read x
         1 ok read x 2
         0 ok write x 1",
    );
}

const STALE_READ: &str = "
    0 invoke write x 1
    0 ok write x 1
    0 invoke write x 2
    0 ok write x 2
    1 invoke read x
    1 ok read x 1
";

#[test]
fn stale_read_after_completed_write_is_flagged() {
    let verdict = assert_flagged(STALE_READ);
    assert_eq!(verdict.details["failed_keys"], json!(["x"]));
    let stuck = &verdict.details["first_failure"]["full_search"];
    assert_eq!(stuck["stuck_op"]["f"], json!("read"));
    assert_eq!(stuck["state_at_stuck"], json!(2));
}

#[test]
fn read_of_value_never_written_is_flagged() {
    assert_flagged(
        "0 invoke write x 1
         0 ok write x 1
         1 invoke read x
         1 ok read x 7",
    );
}

#[test]
fn cas_success_and_refusal_semantics() {
    // A swap from the held value succeeds; a refusal when the value differed is fine.
    assert_valid(
        "0 invoke write x 1
         0 ok write x 1
         0 invoke cas x [1, 2]
         0 ok cas x [1, 2]
         1 invoke cas x [1, 3]
         1 fail cas x [1, 3] err=mismatch
         2 invoke cas x [2, 4]
         2 fail cas x [2, 4] err=TRYAGAIN
         2 invoke read x
         2 ok read x 2",
    );
    // A swap that succeeded from a value the register did not hold.
    assert_flagged(
        "0 invoke write x 1
         0 ok write x 1
         0 invoke cas x [5, 2]
         0 ok cas x [5, 2]",
    );
    // A definite refusal (no error, or `mismatch`) while the register held the expected value.
    for refusal in ["", "err=mismatch"] {
        assert_flagged(&format!(
            "0 invoke write x 1
             0 ok write x 1
             1 invoke cas x [1, 3]
             1 fail cas x [1, 3] {refusal}"
        ));
    }
    // An indeterminate swap may take effect later.
    assert_valid(
        "0 invoke write x 1
         0 ok write x 1
         1 invoke cas x [1, 3]
         1 info cas x [1, 3] err=timeout
         2 invoke read x
         2 ok read x 1
         2 invoke read x
         2 ok read x 3",
    );
}

#[test]
fn indeterminate_write_may_appear_later_or_never() {
    assert_valid(
        "0 invoke write x 1
         0 info write x 1 err=timeout
         10 invoke read x
         10 ok read x null
         10 invoke read x
         10 ok read x 1",
    );
    assert_valid(
        "0 invoke write x 1
         0 info write x 1 err=timeout
         10 invoke read x
         10 ok read x null
         10 invoke read x
         10 ok read x null",
    );
    // Once seen it cannot un-happen.
    assert_flagged(
        "0 invoke write x 1
         0 info write x 1 err=timeout
         10 invoke read x
         10 ok read x 1
         10 invoke read x
         10 ok read x null",
    );
}

#[test]
fn refused_write_did_not_happen() {
    assert_flagged(
        "0 invoke write x 1
         0 fail write x 1 err=TRYAGAIN
         1 invoke read x
         1 ok read x 1",
    );
}

#[test]
fn two_swaps_from_the_same_value_cannot_both_succeed() {
    assert_flagged(
        "0 invoke write x 0
         0 ok write x 0
         1 invoke cas x [0, 1]
         2 invoke cas x [0, 2]
         1 ok cas x [0, 1]
         2 ok cas x [0, 2]",
    );
}

#[test]
fn keys_are_checked_independently() {
    // As one register this would be a stale read of x after y's write; as two it is fine.
    assert_valid(
        "0 invoke write x 1
         0 ok write x 1
         1 invoke write y 2
         1 ok write y 2
         2 invoke read x
         2 ok read x 1
         3 invoke read y
         3 ok read y 2",
    );
}

#[test]
fn report_names_the_failing_key_only() {
    let verdict = assert_flagged(
        "0 invoke write a 1
         0 ok write a 1
         1 invoke write b 1
         1 ok write b 1
         1 invoke write b 2
         1 ok write b 2
         0 invoke read a
         0 ok read a 1
         2 invoke read b
         2 ok read b 1",
    );
    assert_eq!(verdict.details["keys"], json!(2));
    assert_eq!(verdict.details["failed_keys"], json!(["b"]));
    assert_eq!(verdict.details["first_failure"]["key"], json!("b"));
    assert!(verdict.summary.contains("\"b\""), "{}", verdict.summary);
}

#[test]
fn minimization_shrinks_a_stale_read_to_its_writes() {
    // Noise before and after the stale read on x, and on another process concurrently.
    let mut text = String::new();
    for v in 10..30 {
        text.push_str(&format!(
            "0 invoke write x {v}\n0 ok write x {v}\n0 invoke read x\n0 ok read x {v}\n"
        ));
    }
    text.push_str(
        "0 invoke write x 1\n0 ok write x 1\n0 invoke write x 2\n0 ok write x 2\n\
         3 invoke cas x [7, 8]\n1 invoke read x\n1 ok read x 1\n3 fail cas x [7, 8]\n",
    );
    for v in 30..40 {
        text.push_str(&format!(
            "0 invoke write x {v}\n0 ok write x {v}\n1 invoke read x\n1 ok read x {v}\n"
        ));
    }
    let verdict = assert_flagged(&text);
    let ops = verdict.details["first_failure"]["ops"]
        .as_array()
        .expect("ops listed");
    assert!(ops.len() <= 4, "{ops:#?}");
    let values: Vec<_> = ops.iter().map(|op| op["value"].clone()).collect();
    assert_eq!(values, vec![json!(1), json!(2), json!(1)], "{ops:#?}");
    assert_eq!(verdict.details["first_failure"]["minimized"], json!(true));
}

#[test]
fn malformed_register_operations_are_invalid() {
    for text in [
        "0 invoke write x \"one\"\n0 ok write x \"one\"",
        "0 invoke cas x [1]\n0 ok cas x [1]",
        "0 invoke read x\n0 ok read x [1]",
        "0 invoke read -\n0 ok read - 1",
        "0 invoke add x 1\n0 ok add x 1",
    ] {
        let verdict = verdict(text);
        assert!(!verdict.valid, "{text}");
        assert!(
            verdict.summary.starts_with("malformed history"),
            "{}",
            verdict.summary
        );
    }
}

#[test]
fn exhausted_budget_is_unknown_and_invalid() {
    let mut text = String::new();
    for p in 0..12 {
        text.push_str(&format!("{p} invoke write x {p}\n{p} info write x {p}\n"));
    }
    text.push_str("50 invoke read x\n50 ok read x 99\n");
    let options = Options {
        budget: Budget {
            max_states: 100,
            ..Budget::default()
        },
        ..Options::default()
    };
    let verdict = check_with(&completed(&text), &options);
    assert!(!verdict.valid);
    assert!(
        verdict
            .summary
            .starts_with("unknown (search budget exhausted)"),
        "{}",
        verdict.summary
    );
    assert_eq!(verdict.details["unknown_keys"], json!(["x"]));
}
