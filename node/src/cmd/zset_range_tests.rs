//! Tests of the sorted-set range commands against the in-memory store: ZRANGE by rank and by
//! score in every form (ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZREVRANGE), their option errors and
//! the ZREMRANGEBY family. Expected replies were taken from Redis 7.0.15. The helpers here serve
//! the lex and scan tests too.

use super::super::testkv::{bulk, err, run, MemKv};
use crate::reply::Reply;

pub(super) fn flat(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

pub(super) fn pairs(items: &[(&str, f64)]) -> Reply {
    Reply::Pairs(
        items
            .iter()
            .map(|(m, s)| (bulk(m), Reply::Score(*s)))
            .collect(),
    )
}

pub(super) fn abcde(kv: &mut MemKv) {
    run(
        kv,
        0,
        &[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "0", "zero",
        ],
    );
}

/// `n` members `m00000..` with score `i` (or all 0 when `equal`).
pub(super) fn numbered(kv: &mut MemKv, key: &str, n: usize, equal: bool) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut line = vec!["ZADD".to_string(), key.to_string()];
        for i in chunk {
            line.push(if equal { "0".into() } else { i.to_string() });
            line.push(format!("m{i:05}"));
        }
        let line: Vec<&str> = line.iter().map(String::as_str).collect();
        run(kv, 0, &line);
    }
}
#[test]
fn zrange_by_rank() {
    let mut kv = MemKv::default();
    abcde(&mut kv);
    let z = |kv: &mut MemKv, a: &str, b: &str| run(kv, 0, &["ZRANGE", "z", a, b]);
    assert_eq!(
        z(&mut kv, "0", "-1"),
        flat(&["zero", "a", "b", "c", "d", "e"])
    );
    assert_eq!(
        z(&mut kv, "-100", "100"),
        flat(&["zero", "a", "b", "c", "d", "e"])
    );
    assert_eq!(z(&mut kv, "3", "1"), flat(&[]));
    assert_eq!(z(&mut kv, "5", "10"), flat(&["e"]));
    assert_eq!(z(&mut kv, "6", "10"), flat(&[]));
    assert_eq!(z(&mut kv, "-1", "-2"), flat(&[]));
    assert_eq!(z(&mut kv, "-2", "-1"), flat(&["d", "e"]));
    assert_eq!(
        z(&mut kv, "9223372036854775807", "-9223372036854775808"),
        flat(&[])
    );
    assert_eq!(
        z(&mut kv, "-9223372036854775808", "9223372036854775807"),
        flat(&["zero", "a", "b", "c", "d", "e"])
    );
    assert_eq!(
        run(
            &mut kv,
            0,
            &["ZRANGE", "z", "-2", "-1", "REV", "WITHSCORES"]
        ),
        pairs(&[("a", 1.0), ("zero", 0.0)])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREVRANGE", "z", "0", "1", "WITHSCORES"]),
        pairs(&[("e", 5.0), ("d", 4.0)])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREVRANGE", "z", "4", "100"]),
        flat(&["a", "zero"])
    );
    // -1 is Redis's "no LIMIT" marker.
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "z", "0", "0", "LIMIT", "5", "-1"]),
        flat(&["zero"])
    );
    assert_eq!(run(&mut kv, 0, &["ZRANGE", "nokey", "0", "-1"]), flat(&[]));
}

#[test]
fn zrange_by_score() {
    let mut kv = MemKv::default();
    abcde(&mut kv);
    let q = |kv: &mut MemKv, line: &[&str]| run(kv, 0, line);
    assert_eq!(
        q(&mut kv, &["ZRANGEBYSCORE", "z", "(1", "3"]),
        flat(&["b", "c"])
    );
    assert_eq!(
        q(&mut kv, &["ZRANGEBYSCORE", "z", "-inf", "(1"]),
        flat(&["zero"])
    );
    assert_eq!(q(&mut kv, &["ZRANGEBYSCORE", "z", "3", "3"]), flat(&["c"]));
    assert_eq!(q(&mut kv, &["ZRANGEBYSCORE", "z", "(3", "3"]), flat(&[]));
    assert_eq!(q(&mut kv, &["ZRANGEBYSCORE", "z", "5", "1"]), flat(&[]));
    assert_eq!(q(&mut kv, &["ZRANGEBYSCORE", "z", "", "("]), flat(&[]));
    assert_eq!(q(&mut kv, &["ZRANGEBYSCORE", "z", "", ""]), flat(&["zero"]));
    assert_eq!(
        q(&mut kv, &["ZRANGEBYSCORE", "z", "(-0", "1"]),
        flat(&["a"])
    );
    let all = &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT"];
    let limit = |kv: &mut MemKv, o: &str, c: &str| {
        let mut line = all.to_vec();
        line.extend([o, c]);
        run(kv, 0, &line)
    };
    assert_eq!(limit(&mut kv, "-1", "2"), flat(&[]));
    assert_eq!(limit(&mut kv, "2", "-1"), flat(&["b", "c", "d", "e"]));
    assert_eq!(limit(&mut kv, "2", "-5"), flat(&["b", "c", "d", "e"]));
    assert_eq!(limit(&mut kv, "6", "1"), flat(&[]));
    assert_eq!(limit(&mut kv, "5", "1"), flat(&["e"]));
    assert_eq!(limit(&mut kv, "0", "0"), flat(&[]));
    assert_eq!(
        q(
            &mut kv,
            &[
                "ZRANGEBYSCORE",
                "z",
                "-inf",
                "+inf",
                "WITHSCORES",
                "LIMIT",
                "1",
                "2",
                "WITHSCORES"
            ]
        ),
        pairs(&[("a", 1.0), ("b", 2.0)])
    );
    assert_eq!(
        q(&mut kv, &["ZREVRANGEBYSCORE", "z", "4", "2"]),
        flat(&["d", "c", "b"])
    );
    assert_eq!(q(&mut kv, &["ZREVRANGEBYSCORE", "z", "2", "4"]), flat(&[]));
    assert_eq!(
        q(
            &mut kv,
            &[
                "ZREVRANGEBYSCORE",
                "z",
                "+inf",
                "-inf",
                "LIMIT",
                "1",
                "2",
                "WITHSCORES"
            ]
        ),
        pairs(&[("d", 4.0), ("c", 3.0)])
    );
    assert_eq!(
        q(
            &mut kv,
            &[
                "ZRANGE",
                "z",
                "(1",
                "4",
                "BYSCORE",
                "LIMIT",
                "1",
                "1",
                "WITHSCORES"
            ]
        ),
        pairs(&[("c", 3.0)])
    );
    assert_eq!(
        q(&mut kv, &["ZRANGE", "z", "4", "(1", "BYSCORE", "REV"]),
        flat(&["d", "c", "b"])
    );
    // Infinite scores, and equal scores ordered by member bytes.
    run(
        &mut kv,
        0,
        &[
            "ZADD", "i", "inf", "p", "inf", "o", "-inf", "n", "1", "b", "1", "a", "1", "B",
        ],
    );
    assert_eq!(
        q(&mut kv, &["ZRANGEBYSCORE", "i", "inf", "inf"]),
        flat(&["o", "p"])
    );
    assert_eq!(
        q(&mut kv, &["ZRANGEBYSCORE", "i", "(-inf", "(inf"]),
        flat(&["B", "a", "b"])
    );
    assert_eq!(
        q(&mut kv, &["ZRANGEBYSCORE", "i", "-inf", "-inf"]),
        flat(&["n"])
    );
    assert_eq!(
        q(&mut kv, &["ZREVRANGE", "i", "0", "-1"]),
        flat(&["p", "o", "b", "a", "B", "n"])
    );
}

#[test]
fn range_option_errors() {
    let mut kv = MemKv::default();
    abcde(&mut kv);
    kv.put_str("s", "v", None);
    let limit_err =
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
    let lex_err = "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
    let cases: &[(&[&str], &str)] = &[
        (&["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"], limit_err),
        (&["ZREVRANGE", "z", "0", "1", "LIMIT", "0", "1"], limit_err),
        (&["ZRANGE", "z", "0", "-1", "BYLEX", "WITHSCORES"], lex_err),
        (
            &[
                "ZRANGE",
                "z",
                "0",
                "-1",
                "LIMIT",
                "0",
                "1",
                "WITHSCORES",
                "BYLEX",
            ],
            lex_err,
        ),
        (&["ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"], lex_err),
        (
            &["ZRANGE", "z", "0", "-1", "BYSCORE", "BYLEX"],
            "ERR syntax error",
        ),
        (
            &["ZRANGE", "z", "0", "-1", "REV", "REV"],
            "ERR syntax error",
        ),
        (
            &[
                "ZRANGE",
                "z",
                "0",
                "-1",
                "WITHSCORES",
                "BYLEX",
                "LIMIT",
                "0",
            ],
            "ERR syntax error",
        ),
        (&["ZRANGEBYSCORE", "z", "0", "1", "REV"], "ERR syntax error"),
        (
            &["ZRANGEBYSCORE", "z", "0", "1", "BYSCORE"],
            "ERR syntax error",
        ),
        (&["ZREVRANGE", "z", "0", "1", "REV"], "ERR syntax error"),
        (&["ZRANGEBYLEX", "z", "-", "+", "BYLEX"], "ERR syntax error"),
        (
            &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1"],
            "ERR syntax error",
        ),
        (
            &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "a", "1"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZRANGE", "z", "0", "1", "LIMIT", "a", "b"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZRANGE", "z", "a", "b"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZRANGE", "nokey", "a", "b"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZRANGE", "s", "a", "1"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZRANGE", "z", "a", "b", "BYSCORE"],
            "ERR min or max is not a float",
        ),
        (
            &["ZRANGEBYSCORE", "z", "1 ", "2"],
            "ERR min or max is not a float",
        ),
        (
            &["ZRANGEBYSCORE", "z", "nan", "2"],
            "ERR min or max is not a float",
        ),
        (
            &["ZRANGE", "z", "a", "b", "BYLEX"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZRANGEBYLEX", "z", "", "+"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZRANGEBYLEX", "z", "-x", "+"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZRANGEBYLEX", "z", "-", "+x"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZCOUNT", "z", "abc", "1"],
            "ERR min or max is not a float",
        ),
        (&["ZCOUNT", "s", "a", "1"], "ERR min or max is not a float"),
        (
            &["ZLEXCOUNT", "nokey", "x", "y"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZREMRANGEBYRANK", "nokey", "a", "1"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZREMRANGEBYSCORE", "s", "x", "1"],
            "ERR min or max is not a float",
        ),
        (
            &["ZREMRANGEBYLEX", "z", "a", "b"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZRANGE", "z", "0"],
            "ERR wrong number of arguments for 'zrange' command",
        ),
        (
            &["ZLEXCOUNT", "z", "-", "+", "x"],
            "ERR wrong number of arguments for 'zlexcount' command",
        ),
        (
            &["ZRANK", "z", "a", "WITHSCORE"],
            "ERR wrong number of arguments for 'zrank' command",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(run(&mut kv, 0, line), err(want), "{line:?}");
    }
}

#[test]
fn zremrange_family() {
    let mut kv = MemKv::default();
    abcde(&mut kv);
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYRANK", "z", "1", "2"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "z", "0", "-1"]),
        flat(&["zero", "c", "d", "e"])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYRANK", "z", "5", "10"]),
        Reply::Int(0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYRANK", "z", "-1", "-1"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYSCORE", "z", "(0", "3"]),
        Reply::Int(1)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYSCORE", "z", "5", "1"]),
        Reply::Int(0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "z", "0", "-1"]),
        flat(&["zero", "d"])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYRANK", "nokey", "0", "-1"]),
        Reply::Int(0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYSCORE", "nokey", "0", "1"]),
        Reply::Int(0)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]),
        Reply::Int(2)
    );
    assert!(kv.record("z").is_none() && kv.elements("z").is_empty());
    numbered(&mut kv, "big", 2000, false);
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYRANK", "big", "1500", "-2"]),
        Reply::Int(499)
    );
    assert_eq!(
        run(&mut kv, 0, &["ZREMRANGEBYSCORE", "big", "10", "(1000"]),
        Reply::Int(990)
    );
    assert_eq!(run(&mut kv, 0, &["ZCARD", "big"]), Reply::Int(511));
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "big", "8", "11"]),
        flat(&["m00008", "m00009", "m01000", "m01001"])
    );
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "big", "-1", "-1"]),
        flat(&["m01999"])
    );
    assert_eq!(kv.elements("big").len(), 511 * 3);
}
