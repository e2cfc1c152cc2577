//! Tests of the sorted-set writes and point reads against the in-memory store: ZADD (every
//! option and error), ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD, ZPOPMIN, ZPOPMAX, types and expiry.

use tanli_storage::Record;

use super::super::testkv::{bulk, err, run, MemKv};
use super::{BY_HASH, BY_SCORE, MEMBERS};
use crate::reply::Reply;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn flat(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

fn pairs(items: &[(&str, f64)]) -> Reply {
    Reply::Pairs(
        items
            .iter()
            .map(|(m, s)| (bulk(m), Reply::Score(*s)))
            .collect(),
    )
}

pub(super) fn with_scores(kv: &mut MemKv, key: &str) -> Reply {
    run(kv, 0, &["ZRANGE", key, "0", "-1", "WITHSCORES"])
}

/// The element spaces of `key` agree with each other and with the stored length.
pub(super) fn assert_consistent(kv: &MemKv, key: &str) {
    let elems = kv.elements(key);
    let of = |tag| elems.iter().filter(|(t, _, _)| *t == tag).count();
    let len = kv
        .record(key)
        .and_then(Record::coll_meta)
        .map_or(0, |m| m.len as usize);
    assert_eq!(
        (of(MEMBERS), of(BY_SCORE), of(BY_HASH)),
        (len, len, len),
        "{key}"
    );
    for (t, m, v) in &elems {
        if *t == MEMBERS {
            let mut index = v.clone();
            index.extend_from_slice(m);
            assert!(elems
                .iter()
                .any(|(t2, k, _)| *t2 == BY_SCORE && *k == index));
        }
    }
}

#[test]
fn zadd_adds_updates_and_counts() {
    let mut kv = MemKv::default();
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "1", "a", "2", "b"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "3", "a", "1", "c"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(
            &mut kv,
            0,
            &["ZADD", "z", "CH", "4", "a", "2", "b", "0", "d"]
        ),
        Reply::Int(2)
    );
    // The same member twice in one call: added once, then updated.
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "1", "e", "2", "e", "3", "e"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(
            &mut kv,
            0,
            &["ZADD", "z", "ch", "1", "f", "2", "f", "3", "f"]
        ),
        Reply::Int(3)
    );
    assert_eq!(run(&mut kv, 0, &["ZCARD", "z"]), Reply::Int(6));
    assert_eq!(
        with_scores(&mut kv, "z"),
        pairs(&[
            ("d", 0.0),
            ("c", 1.0),
            ("b", 2.0),
            ("e", 3.0),
            ("f", 3.0),
            ("a", 4.0)
        ])
    );
    assert_eq!(run(&mut kv, 0, &["ZADD", "z", "1.1", "x"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["ZSCORE", "z", "x"]), Reply::Score(1.1));
    assert_consistent(&kv, "z");
}

#[test]
fn zadd_errors_use_redis_texts_and_change_nothing() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["ZADD", "z", "1", "a"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["ZADD", "z"],
            "ERR wrong number of arguments for 'zadd' command",
        ),
        (
            &["ZADD", "z", "1"],
            "ERR wrong number of arguments for 'zadd' command",
        ),
        (&["ZADD", "z", "1", "a", "2"], "ERR syntax error"),
        (&["ZADD", "z", "NX", "XX", "1"], "ERR syntax error"),
        (&["ZADD", "z", "INCR", "NX", "1"], "ERR syntax error"),
        (
            &["ZADD", "z", "NX", "XX", "1", "a"],
            "ERR XX and NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "GT", "LT", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "GT", "NX", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "NX", "LT", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "INCR", "1", "a", "2", "b"],
            "ERR INCR option supports a single increment-element pair",
        ),
        (&["ZADD", "z", "abc", "a"], "ERR value is not a valid float"),
        (
            &["ZADD", "z", "1", "a", "nan", "b"],
            "ERR value is not a valid float",
        ),
        (&["ZADD", "z", "", "a"], "ERR value is not a valid float"),
        (&["ZADD", "z", " 1", "a"], "ERR value is not a valid float"),
        (
            &["ZADD", "z", "1e400", "a"],
            "ERR value is not a valid float",
        ),
        (&["ZINCRBY", "z", "nx", "a"], "ERR syntax error"),
        (&["ZINCRBY", "z", "incr", "a"], "ERR syntax error"),
        (
            &["ZINCRBY", "z", "x", "a"],
            "ERR value is not a valid float",
        ),
        (
            &["ZINCRBY", "z", "1"],
            "ERR wrong number of arguments for 'zincrby' command",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(run(&mut kv, 0, line), err(want), "{line:?}");
    }
    assert_eq!(with_scores(&mut kv, "z"), pairs(&[("a", 1.0)]));
    // A float error comes before the type check, as in Redis.
    kv.put_str("s", "v", None);
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "s", "x", "a"]),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "s", "XX", "1", "a"]),
        err(WRONGTYPE)
    );
}

#[test]
fn zadd_conditions() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["ZADD", "z", "5", "a"]);
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "GT", "3", "a"]),
        Reply::Int(0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "GT", "CH", "7", "a"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "LT", "CH", "7", "a"]),
        Reply::Int(0)
    );
    // GT and LT only gate updates: new members are still added.
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "LT", "CH", "6", "a", "1", "b"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "GT", "INCR", "-1", "a"]),
        Reply::Nil
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "LT", "INCR", "-1", "a"]),
        Reply::Score(5.0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "XX", "INCR", "1", "nob"]),
        Reply::Nil
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "XX", "CH", "1", "nob", "9", "a"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(
            &mut kv,
            0,
            &["ZADD", "z", "NX", "CH", "1", "nob", "10", "a"]
        ),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "NX", "INCR", "1", "a"]),
        Reply::Nil
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "xx", "gt", "ch", "10", "a"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "nx", "nx", "1", "q"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "incr", "ch", "2", "q"]),
        Reply::Score(3.0)
    );
    assert_eq!(
        with_scores(&mut kv, "z"),
        pairs(&[("b", 1.0), ("nob", 1.0), ("q", 3.0), ("a", 10.0)])
    );
    // XX on a missing key creates nothing.
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "n", "XX", "1", "a"]),
        Reply::Int(0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "n", "XX", "INCR", "1", "a"]),
        Reply::Nil
    );
    assert!(kv.record("n").is_none());
    assert!(kv.elements("n").is_empty());
    assert_consistent(&kv, "z");
}

#[test]
fn zincrby_and_special_scores() {
    let mut kv = MemKv::default();
    assert_eq!(
        run(&mut kv, 0, &["ZINCRBY", "z", "1.5", "a"]),
        Reply::Score(1.5)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZINCRBY", "z", "-0.5", "a"]),
        Reply::Score(1.0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZINCRBY", "z", "0x10", "a"]),
        Reply::Score(17.0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZADD", "z", "inf", "i", "-inf", "j"]),
        Reply::Int(2)
    );
    let nan = err("ERR resulting score is not a number (NaN)");
    assert_eq!(run(&mut kv, 0, &["ZINCRBY", "z", "-inf", "i"]), nan);
    assert_eq!(run(&mut kv, 0, &["ZADD", "z", "INCR", "inf", "j"]), nan);
    assert_eq!(
        run(&mut kv, 0, &["ZINCRBY", "z", "1", "i"]),
        Reply::Score(f64::INFINITY)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZINCRBY", "z", "1e308", "big"]),
        Reply::Score(1e308)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZINCRBY", "z", "1e308", "big"]),
        Reply::Score(f64::INFINITY)
    );
    assert_eq!(
        with_scores(&mut kv, "z"),
        pairs(&[
            ("j", f64::NEG_INFINITY),
            ("a", 17.0),
            ("big", f64::INFINITY),
            ("i", f64::INFINITY)
        ])
    );
    // -0 is stored as 0; the reply of the increment that created it keeps its sign, as in Redis.
    let reply = run(&mut kv, 0, &["ZINCRBY", "z", "-0", "neg"]);
    assert!(matches!(reply, Reply::Score(s) if s == 0.0 && s.is_sign_negative()));
    assert!(
        matches!(run(&mut kv, 0, &["ZSCORE", "z", "neg"]), Reply::Score(s) if s.is_sign_positive())
    );
    run(&mut kv, 0, &["ZADD", "z", "-0", "neg2"]);
    assert!(
        matches!(run(&mut kv, 0, &["ZSCORE", "z", "neg2"]), Reply::Score(s) if s.is_sign_positive())
    );
    assert_consistent(&kv, "z");
}

#[test]
fn zrem_and_empty_sets_disappear() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        run(&mut kv, 0, &["ZREM", "z", "a", "a", "x"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut kv, 0, &["ZREM", "missing", "a"]), Reply::Int(0));
    assert_eq!(
        run(&mut kv, 0, &["ZREM", "z"]),
        err("ERR wrong number of arguments for 'zrem' command")
    );
    assert_consistent(&kv, "z");
    assert_eq!(run(&mut kv, 0, &["ZREM", "z", "b", "c"]), Reply::Int(2));
    assert!(kv.record("z").is_none());
    assert!(kv.elements("z").is_empty());
    assert_eq!(run(&mut kv, 0, &["EXISTS", "z"]), Reply::Int(0));
}

#[test]
fn point_reads() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["ZADD", "z", "1", "a", "inf", "c"]);
    assert_eq!(run(&mut kv, 0, &["ZSCORE", "z", "a"]), Reply::Score(1.0));
    assert_eq!(run(&mut kv, 0, &["ZSCORE", "z", "x"]), Reply::Nil);
    assert_eq!(run(&mut kv, 0, &["ZSCORE", "nokey", "x"]), Reply::Nil);
    assert_eq!(
        run(&mut kv, 0, &["ZMSCORE", "z", "a", "x", "c"]),
        Reply::Array(vec![
            Reply::Score(1.0),
            Reply::Nil,
            Reply::Score(f64::INFINITY)
        ])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZMSCORE", "nokey", "a", "b"]),
        Reply::Array(vec![Reply::Nil, Reply::Nil])
    );
    assert_eq!(run(&mut kv, 0, &["ZCARD", "z"]), Reply::Int(2));
    assert_eq!(run(&mut kv, 0, &["ZCARD", "nokey"]), Reply::Int(0));
    assert_eq!(
        run(&mut kv, 0, &["ZSCORE", "z"]),
        err("ERR wrong number of arguments for 'zscore' command")
    );
    assert_eq!(
        run(&mut kv, 0, &["ZMSCORE", "z"]),
        err("ERR wrong number of arguments for 'zmscore' command")
    );
}

#[test]
fn zpopmin_and_zpopmax() {
    let mut kv = MemKv::default();
    run(
        &mut kv,
        0,
        &["ZADD", "z", "1", "a", "2", "b", "3", "c", "3", "d"],
    );
    assert_eq!(
        run(&mut kv, 0, &["ZPOPMIN", "z"]),
        Reply::Array(vec![bulk("a"), Reply::Score(1.0)])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZPOPMAX", "z"]),
        Reply::Array(vec![bulk("d"), Reply::Score(3.0)])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZPOPMAX", "z", "1"]),
        pairs(&[("c", 3.0)])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZPOPMIN", "z", "0"]),
        Reply::Array(vec![])
    );
    let positive = err("ERR value is out of range, must be positive");
    for bad in ["-1", "abc", "1.5", "99999999999999999999"] {
        assert_eq!(run(&mut kv, 0, &["ZPOPMIN", "z", bad]), positive, "{bad}");
    }
    assert_eq!(
        run(&mut kv, 0, &["ZPOPMIN", "z", "1", "2"]),
        err("ERR syntax error")
    );
    assert_consistent(&kv, "z");
    run(&mut kv, 0, &["ZADD", "z", "0", "x"]);
    assert_eq!(
        run(&mut kv, 0, &["ZPOPMIN", "z", "10"]),
        pairs(&[("x", 0.0), ("b", 2.0)])
    );
    assert!(kv.record("z").is_none() && kv.elements("z").is_empty());
    assert_eq!(run(&mut kv, 0, &["ZPOPMIN", "z"]), Reply::Array(vec![]));
    assert_eq!(
        run(&mut kv, 0, &["ZPOPMAX", "z", "3"]),
        Reply::Array(vec![])
    );
}

#[test]
fn wrong_type_both_ways() {
    let mut kv = MemKv::default();
    kv.put_str("s", "v", None);
    for line in [
        &["ZADD", "s", "1", "a"][..],
        &["ZINCRBY", "s", "1", "a"],
        &["ZREM", "s", "a"],
        &["ZSCORE", "s", "a"],
        &["ZMSCORE", "s", "a"],
        &["ZCARD", "s"],
        &["ZCOUNT", "s", "0", "1"],
        &["ZLEXCOUNT", "s", "-", "+"],
        &["ZRANGE", "s", "0", "1"],
        &["ZRANGEBYSCORE", "s", "0", "1"],
        &["ZREVRANGEBYLEX", "s", "+", "-"],
        &["ZRANK", "s", "a"],
        &["ZREVRANK", "s", "a"],
        &["ZPOPMIN", "s"],
        &["ZPOPMAX", "s", "0"],
        &["ZREMRANGEBYRANK", "s", "0", "1"],
        &["ZREMRANGEBYSCORE", "s", "0", "1"],
        &["ZREMRANGEBYLEX", "s", "-", "+"],
        &["ZSCAN", "s", "0"],
        &["ZSCAN", "s", "0", "BAD"],
    ] {
        assert_eq!(run(&mut kv, 0, line), err(WRONGTYPE), "{line:?}");
    }
    assert_eq!(kv.value("s").as_deref(), Some("v"));
    run(&mut kv, 0, &["ZADD", "z", "1", "a"]);
    for line in [&["GET", "z"][..], &["APPEND", "z", "x"], &["INCR", "z"]] {
        assert_eq!(run(&mut kv, 0, line), err(WRONGTYPE), "{line:?}");
    }
    assert_eq!(
        run(&mut kv, 0, &["TYPE", "z"]),
        Reply::Simple("zset".into())
    );
    // SET replaces the sorted set, elements included.
    assert_eq!(run(&mut kv, 0, &["SET", "z", "x"]), Reply::ok());
    assert!(kv.elements("z").is_empty());
}

#[test]
fn expired_sets_are_absent() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["ZADD", "z", "1", "a", "2", "b"]);
    assert_eq!(run(&mut kv, 0, &["PEXPIRE", "z", "100"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 50, &["ZCARD", "z"]), Reply::Int(2));
    assert_eq!(run(&mut kv, 100, &["ZCARD", "z"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 100, &["ZSCORE", "z", "a"]), Reply::Nil);
    assert_eq!(
        run(&mut kv, 100, &["ZRANGE", "z", "0", "-1"]),
        Reply::Array(vec![])
    );
    assert_eq!(run(&mut kv, 100, &["ZRANK", "z", "a"]), Reply::Nil);
    assert_eq!(run(&mut kv, 100, &["ZPOPMIN", "z"]), Reply::Array(vec![]));
    assert_eq!(run(&mut kv, 100, &["ZREM", "z", "a"]), Reply::Int(0));
    // A write finds nothing there: a new set, without the old members or the old expiry.
    assert_eq!(run(&mut kv, 100, &["ZADD", "z", "3", "c"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 100, &["ZRANGE", "z", "0", "-1"]), flat(&["c"]));
    assert_eq!(kv.record("z").and_then(|r| r.expire_at_ms), None);
    assert_consistent(&kv, "z");
    // A TTL survives updates.
    run(&mut kv, 100, &["PEXPIRE", "z", "100"]);
    run(&mut kv, 150, &["ZADD", "z", "4", "d"]);
    run(&mut kv, 150, &["ZPOPMIN", "z"]);
    assert_eq!(kv.record("z").and_then(|r| r.expire_at_ms), Some(200));
}
