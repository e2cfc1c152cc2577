//! Tests of lexicographical ranges (ZRANGEBYLEX, ZREVRANGEBYLEX, ZLEXCOUNT, ZREMRANGEBYLEX,
//! ZRANGE BYLEX), counts and ranks, on small and big sets. Expected replies were taken from
//! Redis 7.0.15.

use super::super::testkv::{run, MemKv};
use super::range_tests::{abcde, flat, numbered, pairs};
use crate::reply::Reply;

#[test]
fn lex_ranges_over_equal_scores() {
    let mut kv = MemKv::default();
    run(
        &mut kv,
        0,
        &[
            "ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", "f",
        ],
    );
    let lex = |kv: &mut MemKv, a: &str, b: &str| run(kv, 0, &["ZRANGEBYLEX", "l", a, b]);
    assert_eq!(
        lex(&mut kv, "-", "+"),
        flat(&["a", "b", "c", "d", "e", "f"])
    );
    assert_eq!(lex(&mut kv, "[b", "(e"), flat(&["b", "c", "d"]));
    assert_eq!(lex(&mut kv, "+", "-"), flat(&[]));
    assert_eq!(lex(&mut kv, "-", "-"), flat(&[]));
    assert_eq!(lex(&mut kv, "+", "+"), flat(&[]));
    assert_eq!(lex(&mut kv, "[c", "[c"), flat(&["c"]));
    assert_eq!(lex(&mut kv, "(c", "[c"), flat(&[]));
    assert_eq!(lex(&mut kv, "[c", "(c"), flat(&[]));
    assert_eq!(lex(&mut kv, "[", "["), flat(&[]));
    assert_eq!(
        lex(&mut kv, "(", "+"),
        flat(&["a", "b", "c", "d", "e", "f"])
    );
    assert_eq!(lex(&mut kv, "(cc", "[dd"), flat(&["d"]));
    assert_eq!(
        run(
            &mut kv,
            0,
            &["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "1", "2"]
        ),
        flat(&["b", "c"])
    );
    assert_eq!(
        run(
            &mut kv,
            0,
            &["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "-1", "2"]
        ),
        flat(&[])
    );
    assert_eq!(
        run(
            &mut kv,
            0,
            &["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "2", "-1"]
        ),
        flat(&["c", "d", "e", "f"])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREVRANGEBYLEX", "l", "+", "-"]),
        flat(&["f", "e", "d", "c", "b", "a"])
    );
    assert_eq!(
        run(
            &mut kv,
            0,
            &["ZREVRANGEBYLEX", "l", "(e", "[b", "LIMIT", "1", "1"]
        ),
        flat(&["c"])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREVRANGEBYLEX", "l", "-", "+"]),
        flat(&[])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "l", "[e", "(b", "BYLEX", "REV"]),
        flat(&["e", "d", "c"])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZLEXCOUNT", "l", "-", "+"]),
        Reply::Int(6)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZLEXCOUNT", "l", "[b", "(e"]),
        Reply::Int(3)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZLEXCOUNT", "nokey", "-", "+"]),
        Reply::Int(0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYLEX", "l", "[e", "+"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "l", "0", "-1"]),
        flat(&["a", "b", "c", "d"])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYLEX", "nokey", "-", "+"]),
        Reply::Int(0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYLEX", "l", "-", "+"]),
        Reply::Int(4)
    );
    assert!(kv.record("l").is_none() && kv.elements("l").is_empty());
}

#[test]
fn lex_ranges_over_mixed_scores_follow_the_compact_encoding() {
    let mut kv = MemKv::default();
    run(
        &mut kv,
        0,
        &[
            "ZADD", "m", "1", "b", "2", "a", "3", "d", "4", "c", "5", "e",
        ],
    );
    let lex = |kv: &mut MemKv, cmd: &str, a: &str, b: &str| run(kv, 0, &[cmd, "m", a, b]);
    assert_eq!(
        lex(&mut kv, "ZRANGEBYLEX", "[b", "[d"),
        flat(&["b", "a", "d", "c"])
    );
    assert_eq!(lex(&mut kv, "ZRANGEBYLEX", "[a", "[c"), flat(&["b", "a"]));
    assert_eq!(
        lex(&mut kv, "ZRANGEBYLEX", "[c", "+"),
        flat(&["d", "c", "e"])
    );
    assert_eq!(
        lex(&mut kv, "ZRANGEBYLEX", "[a", "+"),
        flat(&["b", "a", "d", "c", "e"])
    );
    assert_eq!(lex(&mut kv, "ZRANGEBYLEX", "-", "[a"), flat(&[]));
    assert_eq!(lex(&mut kv, "ZRANGEBYLEX", "[c", "[c"), flat(&[]));
    assert_eq!(
        lex(&mut kv, "ZREVRANGEBYLEX", "[d", "[b"),
        flat(&["c", "d"])
    );
    assert_eq!(
        lex(&mut kv, "ZREVRANGEBYLEX", "+", "[c"),
        flat(&["e", "c", "d"])
    );
    assert_eq!(lex(&mut kv, "ZLEXCOUNT", "[a", "[c"), Reply::Int(2));
    run(&mut kv, 0, &["ZADD", "m2", "1", "c", "2", "a", "3", "z"]);
    let lex2 = |kv: &mut MemKv, cmd: &str, a: &str, b: &str| run(kv, 0, &[cmd, "m2", a, b]);
    assert_eq!(lex2(&mut kv, "ZRANGEBYLEX", "-", "[b"), flat(&[]));
    assert_eq!(
        lex2(&mut kv, "ZRANGEBYLEX", "[b", "+"),
        flat(&["c", "a", "z"])
    );
    assert_eq!(lex2(&mut kv, "ZREVRANGEBYLEX", "+", "[b"), flat(&["z"]));
    assert_eq!(lex(&mut kv, "ZREMRANGEBYLEX", "[a", "[c"), Reply::Int(2));
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "m", "0", "-1"]),
        flat(&["d", "c", "e"])
    );
}

#[test]
fn counts_and_ranks() {
    let mut kv = MemKv::default();
    abcde(&mut kv);
    let count = |kv: &mut MemKv, a: &str, b: &str| run(kv, 0, &["ZCOUNT", "z", a, b]);
    assert_eq!(count(&mut kv, "-inf", "+inf"), Reply::Int(6));
    assert_eq!(count(&mut kv, "(1", "(3"), Reply::Int(1));
    assert_eq!(count(&mut kv, "(3", "(3"), Reply::Int(0));
    assert_eq!(count(&mut kv, "5", "1"), Reply::Int(0));
    assert_eq!(count(&mut kv, "", ""), Reply::Int(1));
    assert_eq!(count(&mut kv, "0x2", "+inf"), Reply::Int(4));
    assert_eq!(count(&mut kv, "1e400", "inf"), Reply::Int(0));
    assert_eq!(
        run(&mut kv, 0, &["ZCOUNT", "nokey", "0", "1"]),
        Reply::Int(0)
    );
    assert_eq!(run(&mut kv, 0, &["ZRANK", "z", "b"]), Reply::Int(2));
    assert_eq!(run(&mut kv, 0, &["ZREVRANK", "z", "b"]), Reply::Int(3));
    assert_eq!(run(&mut kv, 0, &["ZREVRANK", "z", "zero"]), Reply::Int(5));
    assert_eq!(run(&mut kv, 0, &["ZRANK", "z", "x"]), Reply::Nil);
    assert_eq!(run(&mut kv, 0, &["ZRANK", "nokey", "x"]), Reply::Nil);
    // Big sets: the count races the range against its complement, ranks walk from either end.
    numbered(&mut kv, "big", 3000, false);
    numbered(&mut kv, "flat", 1500, true);
    for (a, b, want) in [
        ("-inf", "+inf", 3000),
        ("10", "19", 10),
        ("(10", "2989", 2979),
        ("2990", "(5000", 10),
        ("-5", "(0", 0),
        ("1500", "1500", 1),
    ] {
        assert_eq!(
            run(&mut kv, 0, &["ZCOUNT", "big", a, b]),
            Reply::Int(want),
            "{a} {b}"
        );
    }
    for (i, rank) in [(0, 0), (1, 1), (1499, 1499), (1500, 1500), (2999, 2999)] {
        let m = format!("m{i:05}");
        assert_eq!(run(&mut kv, 0, &["ZRANK", "big", &m]), Reply::Int(rank));
        assert_eq!(
            run(&mut kv, 0, &["ZREVRANK", "big", &m]),
            Reply::Int(2999 - rank)
        );
    }
    assert_eq!(
        run(&mut kv, 0, &["ZLEXCOUNT", "flat", "[m00100", "(m01400"]),
        Reply::Int(1300)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZLEXCOUNT", "flat", "-", "+"]),
        Reply::Int(1500)
    );
    assert_eq!(
        run(
            &mut kv,
            0,
            &["ZRANGEBYLEX", "flat", "(m01000", "+", "LIMIT", "497", "5"]
        ),
        flat(&["m01498", "m01499"])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "big", "2998", "5000"]),
        flat(&["m02998", "m02999"])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "big", "-3000", "-2999"]),
        flat(&["m00000", "m00001"])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREVRANGE", "big", "1", "2", "WITHSCORES"]),
        pairs(&[("m02998", 2998.0), ("m02997", 2997.0)])
    );
    assert_eq!(
        run(
            &mut kv,
            0,
            &["ZRANGE", "big", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "2990", "100"]
        ),
        flat(&[
            "m00009", "m00008", "m00007", "m00006", "m00005", "m00004", "m00003", "m00002",
            "m00001", "m00000"
        ])
    );
}
