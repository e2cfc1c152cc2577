//! A model check of the sorted-set writes: random ZADD, ZINCRBY, ZREM, ZPOPMIN, ZPOPMAX,
//! ZREMRANGEBYRANK and ZREMRANGEBYSCORE against a map, comparing the whole set after each step
//! and checking that the three element spaces stay in step.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::super::testkv::{bulk, run, MemKv};
use super::tests::{assert_consistent, with_scores};
use crate::reply::Reply;

/// One random operation of the model check.
#[derive(Debug, Clone)]
enum Op {
    Add(i8, u8),
    Incr(i8, u8),
    Rem(u8),
    PopMin(u8),
    PopMax(u8),
    RemRank(i8, i8),
    RemScore(i8, i8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<i8>(), 0u8..24).prop_map(|(s, m)| Op::Add(s % 5, m)),
        (any::<i8>(), 0u8..24).prop_map(|(s, m)| Op::Incr(s % 3, m)),
        (0u8..24).prop_map(Op::Rem),
        (0u8..4).prop_map(Op::PopMin),
        (0u8..4).prop_map(Op::PopMax),
        (-8i8..8, -8i8..8).prop_map(|(a, b)| Op::RemRank(a, b)),
        (-6i8..6, -6i8..6).prop_map(|(a, b)| Op::RemScore(a, b)),
    ]
}

proptest! {
    #[test]
    fn writes_match_a_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut kv = MemKv::default();
        let mut model: BTreeMap<String, f64> = BTreeMap::new();
        let sorted = |m: &BTreeMap<String, f64>| {
            let mut v: Vec<(String, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
            v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        for op in ops {
            match op {
                Op::Add(s, m) => {
                    let m = format!("m{m}");
                    run(&mut kv, 0, &["ZADD", "z", &s.to_string(), &m]);
                    model.insert(m, f64::from(s));
                }
                Op::Incr(s, m) => {
                    let m = format!("m{m}");
                    run(&mut kv, 0, &["ZINCRBY", "z", &s.to_string(), &m]);
                    *model.entry(m).or_insert(0.0) += f64::from(s);
                }
                Op::Rem(m) => {
                    let m = format!("m{m}");
                    run(&mut kv, 0, &["ZREM", "z", &m]);
                    model.remove(&m);
                }
                Op::PopMin(n) | Op::PopMax(n) => {
                    let max = matches!(op, Op::PopMax(_));
                    let name = if max { "ZPOPMAX" } else { "ZPOPMIN" };
                    run(&mut kv, 0, &[name, "z", &n.to_string()]);
                    let mut order = sorted(&model);
                    if max {
                        order.reverse();
                    }
                    for (m, _) in order.into_iter().take(usize::from(n)) {
                        model.remove(&m);
                    }
                }
                Op::RemRank(a, b) => {
                    run(&mut kv, 0, &["ZREMRANGEBYRANK", "z", &a.to_string(), &b.to_string()]);
                    let order = sorted(&model);
                    let len = order.len() as i64;
                    let norm = |i: i8| if i < 0 { len + i64::from(i) } else { i64::from(i) };
                    let (s, e) = (norm(a).max(0), norm(b).min(len - 1));
                    for (i, (m, _)) in order.iter().enumerate() {
                        if (s..=e).contains(&(i as i64)) {
                            model.remove(m);
                        }
                    }
                }
                Op::RemScore(a, b) => {
                    run(&mut kv, 0, &["ZREMRANGEBYSCORE", "z", &a.to_string(), &format!("({b}")]);
                    model.retain(|_, s| !(*s >= f64::from(a) && *s < f64::from(b)));
                }
            }
            let want: Vec<(Reply, Reply)> = sorted(&model)
                .into_iter()
                .map(|(m, s)| (bulk(&m), Reply::Score(s)))
                .collect();
            // A missing key answers an empty array whatever the options.
            let want = if want.is_empty() { Reply::Array(vec![]) } else { Reply::Pairs(want) };
            prop_assert_eq!(with_scores(&mut kv, "z"), want);
            assert_consistent(&kv, "z");
        }
    }
}

/// Runs long enough to go with one range deletion of the score index remove exactly the members
/// they return, from either end and from the middle, and leave the rest in order.
#[test]
fn long_runs_remove_exactly_their_members() {
    let mut kv = MemKv::default();
    let members: Vec<String> = (0..400).map(|i| format!("m{i:03}")).collect();
    for (i, m) in members.iter().enumerate() {
        run(&mut kv, 0, &["ZADD", "z", &i.to_string(), m]);
    }
    let popped = |r: Reply| match r {
        Reply::Pairs(p) => p.len(),
        other => panic!("{other:?}"),
    };
    assert_eq!(popped(run(&mut kv, 0, &["ZPOPMIN", "z", "100"])), 100);
    assert_eq!(popped(run(&mut kv, 0, &["ZPOPMAX", "z", "100"])), 100);
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYRANK", "z", "10", "79"]),
        Reply::Int(70)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYSCORE", "z", "(200", "269"]),
        Reply::Int(69)
    );
    assert_consistent(&kv, "z");
    let left: Vec<Reply> = members[100..300]
        .iter()
        .enumerate()
        .filter(|(i, _)| !(10..80).contains(i) && !(101..170).contains(i))
        .map(|(_, m)| bulk(m))
        .collect();
    assert_eq!(left.len(), 61);
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "z", "0", "-1"]),
        Reply::Array(left)
    );
    // Re-added below the popped run, then popped with it: the range reaches the new member too.
    for i in 0..10 {
        run(&mut kv, 0, &["ZADD", "z", "-1", &format!("low{i}")]);
    }
    assert_eq!(popped(run(&mut kv, 0, &["ZPOPMIN", "z", "64"])), 64);
    assert_consistent(&kv, "z");
    let rest: Vec<Reply> = ["m293", "m294", "m295", "m296", "m297", "m298", "m299"]
        .iter()
        .map(|m| bulk(m))
        .collect();
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "z", "0", "-1"]),
        Reply::Array(rest)
    );
}
