//! Tests of the list commands against the in-memory store. Expected replies and error texts were
//! taken from Redis 7.0.15; after every write the tests check that the list's entries are exactly
//! the dense run `head..head + len` its metadata names.

use std::collections::VecDeque;

use tanli_storage::{CollMeta, Kind, Record, StorageError};

use super::super::testkv::{argv, bulk, err, run, MemKv};
use super::super::{parse, Command, ReadCtx};
use super::space::PAGE_ELEMENTS;
use crate::reply::Reply;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

fn ints(items: &[i64]) -> Reply {
    Reply::Array(items.iter().map(|n| Reply::Int(*n)).collect())
}

fn meta(kv: &MemKv, key: &str) -> Option<CollMeta> {
    let rec = kv.record(key)?;
    assert_eq!(rec.kind, Kind::List, "{key} is a list");
    rec.coll_meta()
}

/// The list's elements as stored, after checking that they are exactly `head..head + len`.
fn stored(kv: &MemKv, key: &str) -> Vec<String> {
    let entries = kv.elements(key);
    let Some(m) = meta(kv, key) else {
        assert!(entries.is_empty(), "{key}: entries left without a record");
        return Vec::new();
    };
    assert!(m.len > 0, "{key}: an empty list is stored");
    assert_eq!(entries.len() as u64, m.len, "{key}: entry count vs len");
    entries
        .iter()
        .zip(m.head..)
        .map(|((tag, member, value), index)| {
            assert_eq!(*tag, 0);
            assert_eq!(
                member.as_slice(),
                index.to_be_bytes(),
                "{key}: dense indexes"
            );
            String::from_utf8_lossy(value).into_owned()
        })
        .collect()
}

/// `stored`, also checked against LRANGE 0 -1.
fn items(kv: &mut MemKv, key: &str) -> Vec<String> {
    let all = stored(kv, key);
    let want = Reply::Array(all.iter().map(|s| bulk(s)).collect());
    assert_eq!(run(kv, 0, &["LRANGE", key, "0", "-1"]), want);
    all
}

fn list(kv: &mut MemKv, key: &str, elements: &[&str]) {
    let mut line = vec!["RPUSH", key];
    line.extend_from_slice(elements);
    assert_eq!(
        run(kv, 0, &line),
        Reply::Int(i64::try_from(elements.len()).expect("small"))
    );
}

#[test]
fn pushes_keep_order_and_answer_the_length() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["RPUSH", "l", "a", "b"]), Reply::Int(2));
    assert_eq!(run(&mut kv, 0, &["LPUSH", "l", "x", "y"]), Reply::Int(4));
    assert_eq!(run(&mut kv, 0, &["rpush", "l", "c"]), Reply::Int(5));
    assert_eq!(items(&mut kv, "l"), ["y", "x", "a", "b", "c"]);
    let m = meta(&kv, "l").expect("stored");
    assert_eq!((m.head, m.len), (CollMeta::LIST_START - 2, 5));
    assert_eq!(
        run(&mut kv, 0, &["TYPE", "l"]),
        Reply::Simple("list".into())
    );
    assert_eq!(
        run(&mut kv, 0, &["LPUSH", "l"]),
        err("ERR wrong number of arguments for 'lpush' command")
    );
}

#[test]
fn pushx_needs_an_existing_list() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["LPUSHX", "l", "a", "b"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["RPUSHX", "l", "a"]), Reply::Int(0));
    assert!(kv.map.is_empty() && kv.subs.is_empty());
    list(&mut kv, "l", &["m"]);
    assert_eq!(run(&mut kv, 0, &["LPUSHX", "l", "a", "b"]), Reply::Int(3));
    assert_eq!(run(&mut kv, 0, &["RPUSHX", "l", "y", "z"]), Reply::Int(5));
    assert_eq!(items(&mut kv, "l"), ["b", "a", "m", "y", "z"]);
    assert_eq!(
        run(&mut kv, 0, &["RPUSHX", "l"]),
        err("ERR wrong number of arguments for 'rpushx' command")
    );
}

#[test]
fn pops_with_and_without_count() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["LPOP", "l"]), Reply::Nil);
    assert_eq!(run(&mut kv, 0, &["RPOP", "l", "0"]), Reply::NilArray);
    assert_eq!(run(&mut kv, 0, &["LPOP", "l", "2"]), Reply::NilArray);
    list(&mut kv, "l", &["a", "b", "c", "d", "e"]);
    assert_eq!(run(&mut kv, 0, &["LPOP", "l", "0"]), arr(&[]));
    assert_eq!(run(&mut kv, 0, &["LPOP", "l"]), bulk("a"));
    assert_eq!(run(&mut kv, 0, &["RPOP", "l"]), bulk("e"));
    assert_eq!(run(&mut kv, 0, &["RPOP", "l", "2"]), arr(&["d", "c"]));
    assert_eq!(items(&mut kv, "l"), ["b"]);
    assert_eq!(run(&mut kv, 0, &["LPOP", "l", "1"]), arr(&["b"]));
    assert!(kv.map.is_empty() && kv.subs.is_empty());
    list(&mut kv, "l", &["a", "b", "c"]);
    assert_eq!(
        run(&mut kv, 0, &["LPOP", "l", "9223372036854775807"]),
        arr(&["a", "b", "c"])
    );
    assert!(kv.map.is_empty() && kv.subs.is_empty());
    list(&mut kv, "l", &["a", "b", "c"]);
    assert_eq!(run(&mut kv, 0, &["RPOP", "l", "5"]), arr(&["c", "b", "a"]));
    assert!(kv.map.is_empty() && kv.subs.is_empty());
}

#[test]
fn pop_count_errors() {
    let mut kv = MemKv::default();
    list(&mut kv, "l", &["a"]);
    let positive = err("ERR value is out of range, must be positive");
    for bad in ["-1", "abc", "99999999999999999999", "1.5", ""] {
        assert_eq!(run(&mut kv, 0, &["LPOP", "l", bad]), positive, "{bad}");
        assert_eq!(run(&mut kv, 0, &["RPOP", "nokey", bad]), positive, "{bad}");
    }
    assert_eq!(
        run(&mut kv, 0, &["LPOP", "l", "1", "2"]),
        err("ERR wrong number of arguments for 'lpop' command")
    );
    assert_eq!(
        run(&mut kv, 0, &["RPOP", "l", "x", "y"]),
        err("ERR wrong number of arguments for 'rpop' command")
    );
    assert_eq!(items(&mut kv, "l"), ["a"]);
}

#[test]
fn llen_lindex_and_lrange() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["LLEN", "l"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["LINDEX", "l", "0"]), Reply::Nil);
    // The key is looked up before the index is parsed.
    assert_eq!(run(&mut kv, 0, &["LINDEX", "l", "abc"]), Reply::Nil);
    assert_eq!(run(&mut kv, 0, &["LRANGE", "l", "0", "-1"]), arr(&[]));
    assert_eq!(run(&mut kv, 0, &["LRANGE", "l", "a", "1"]), err(NOT_INT));
    list(&mut kv, "l", &["a", "b", "c", "d", "e", "f", "g"]);
    assert_eq!(run(&mut kv, 0, &["LLEN", "l"]), Reply::Int(7));
    assert_eq!(run(&mut kv, 0, &["LINDEX", "l", "abc"]), err(NOT_INT));
    for (index, want) in [
        ("0", bulk("a")),
        ("6", bulk("g")),
        ("7", Reply::Nil),
        ("-1", bulk("g")),
        ("-7", bulk("a")),
        ("-8", Reply::Nil),
        ("9223372036854775807", Reply::Nil),
        ("-9223372036854775808", Reply::Nil),
    ] {
        assert_eq!(run(&mut kv, 0, &["LINDEX", "l", index]), want, "{index}");
    }
    let max = "9223372036854775807";
    let min = "-9223372036854775808";
    for (start, stop, want) in [
        ("0", "-1", &["a", "b", "c", "d", "e", "f", "g"][..]),
        ("1", "2", &["b", "c"]),
        ("-2", "-1", &["f", "g"]),
        ("-1", "-1", &["g"]),
        ("-100", "1", &["a", "b"]),
        ("5", "100", &["f", "g"]),
        ("-100", "-50", &[]),
        ("5", "2", &[]),
        ("7", "10", &[]),
        ("0", max, &["a", "b", "c", "d", "e", "f", "g"]),
        (min, min, &[]),
        (min, max, &["a", "b", "c", "d", "e", "f", "g"]),
    ] {
        assert_eq!(
            run(&mut kv, 0, &["LRANGE", "l", start, stop]),
            arr(want),
            "{start} {stop}"
        );
    }
}

#[test]
fn lset_replaces_in_place() {
    let mut kv = MemKv::default();
    // The key is looked up before the index is parsed.
    assert_eq!(
        run(&mut kv, 0, &["LSET", "l", "abc", "x"]),
        err("ERR no such key")
    );
    assert_eq!(
        run(&mut kv, 0, &["LSET", "l", "0", "x"]),
        err("ERR no such key")
    );
    list(&mut kv, "l", &["a", "b", "c"]);
    assert_eq!(run(&mut kv, 0, &["LSET", "l", "abc", "x"]), err(NOT_INT));
    let range = err("ERR index out of range");
    for bad in ["3", "-4", "-9223372036854775808", "9223372036854775807"] {
        assert_eq!(run(&mut kv, 0, &["LSET", "l", bad, "x"]), range, "{bad}");
    }
    let stamp = kv.record("l").map(|r| r.stamp);
    assert_eq!(run(&mut kv, 0, &["LSET", "l", "1", "B"]), Reply::ok());
    assert_eq!(run(&mut kv, 0, &["LSET", "l", "-1", "C"]), Reply::ok());
    assert_eq!(items(&mut kv, "l"), ["a", "B", "C"]);
    assert_ne!(kv.record("l").map(|r| r.stamp), stamp, "WATCH sees LSET");
}

#[test]
fn ltrim_keeps_a_range() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["LTRIM", "l", "0", "1"]), Reply::ok());
    assert_eq!(run(&mut kv, 0, &["LTRIM", "l", "a", "1"]), err(NOT_INT));
    assert!(kv.map.is_empty());
    list(&mut kv, "l", &["a", "b", "c", "d", "e"]);
    assert_eq!(run(&mut kv, 0, &["LTRIM", "l", "1", "-2"]), Reply::ok());
    assert_eq!(items(&mut kv, "l"), ["b", "c", "d"]);
    assert_eq!(
        run(
            &mut kv,
            0,
            &["LTRIM", "l", "-9223372036854775808", "9223372036854775807"]
        ),
        Reply::ok()
    );
    assert_eq!(items(&mut kv, "l"), ["b", "c", "d"]);
    assert_eq!(run(&mut kv, 0, &["LTRIM", "l", "-1", "100"]), Reply::ok());
    assert_eq!(items(&mut kv, "l"), ["d"]);
    for (start, stop) in [("5", "9"), ("2", "1"), ("-100", "-50")] {
        list(&mut kv, "m", &["a", "b", "c", "d", "e"]);
        assert_eq!(run(&mut kv, 0, &["LTRIM", "m", start, stop]), Reply::ok());
        assert!(kv.record("m").is_none(), "{start} {stop}");
        assert!(kv.elements("m").is_empty());
    }
}

#[test]
fn lrem_from_either_end() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["LREM", "l", "0", "a"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["LREM", "l", "abc", "a"]), err(NOT_INT));
    list(&mut kv, "l", &["a", "b", "a", "c", "a", "d", "a"]);
    assert_eq!(run(&mut kv, 0, &["LREM", "l", "-2", "a"]), Reply::Int(2));
    assert_eq!(items(&mut kv, "l"), ["a", "b", "a", "c", "d"]);
    assert_eq!(run(&mut kv, 0, &["LREM", "l", "1", "a"]), Reply::Int(1));
    assert_eq!(items(&mut kv, "l"), ["b", "a", "c", "d"]);
    assert_eq!(run(&mut kv, 0, &["LREM", "l", "0", "zz"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["LREM", "l", "0", "a"]), Reply::Int(1));
    assert_eq!(items(&mut kv, "l"), ["b", "c", "d"]);
    for e in ["b", "c", "d"] {
        assert_eq!(run(&mut kv, 0, &["LREM", "l", "0", e]), Reply::Int(1));
    }
    assert!(kv.map.is_empty() && kv.subs.is_empty());
    // A count of -2^63 removes every match from the tail, as Redis's wrapped negation does.
    list(&mut kv, "l", &["a", "b", "a", "c", "a"]);
    assert_eq!(
        run(&mut kv, 0, &["LREM", "l", "-9223372036854775808", "a"]),
        Reply::Int(3)
    );
    assert_eq!(items(&mut kv, "l"), ["b", "c"]);
}

#[test]
fn lrem_rewrites_the_side_nearer_an_end() {
    let letters: Vec<String> = (0..20).map(|i| format!("e{i}")).collect();
    let refs: Vec<&str> = letters.iter().map(String::as_str).collect();
    let mut kv = MemKv::default();
    list(&mut kv, "l", &refs);
    let head = meta(&kv, "l").expect("stored").head;
    // Near the head: the elements before the hole move one step toward the tail.
    assert_eq!(run(&mut kv, 0, &["LREM", "l", "1", "e2"]), Reply::Int(1));
    assert_eq!(
        meta(&kv, "l").map(|m| (m.head, m.len)),
        Some((head + 1, 19))
    );
    // Near the tail: the elements after the hole move one step toward the head.
    assert_eq!(run(&mut kv, 0, &["LREM", "l", "1", "e17"]), Reply::Int(1));
    assert_eq!(
        meta(&kv, "l").map(|m| (m.head, m.len)),
        Some((head + 1, 18))
    );
    let mut want = refs.clone();
    want.retain(|e| *e != "e2" && *e != "e17");
    assert_eq!(items(&mut kv, "l"), want);
}

#[test]
fn linsert_before_and_after() {
    let mut kv = MemKv::default();
    assert_eq!(
        run(&mut kv, 0, &["LINSERT", "l", "middle", "a", "b"]),
        err(SYNTAX)
    );
    assert_eq!(
        run(&mut kv, 0, &["LINSERT", "l", "before", "a", "b"]),
        Reply::Int(0)
    );
    assert!(kv.map.is_empty());
    list(&mut kv, "l", &["a", "b", "c", "d"]);
    let head = meta(&kv, "l").expect("stored").head;
    assert_eq!(
        run(&mut kv, 0, &["LINSERT", "l", "BEFORE", "zz", "x"]),
        Reply::Int(-1)
    );
    assert_eq!(
        run(&mut kv, 0, &["LINSERT", "l", "before", "b", "x"]),
        Reply::Int(5)
    );
    assert_eq!(
        meta(&kv, "l").map(|m| m.head),
        Some(head - 1),
        "front shifted"
    );
    assert_eq!(
        run(&mut kv, 0, &["LINSERT", "l", "AFTER", "c", "y"]),
        Reply::Int(6)
    );
    assert_eq!(
        meta(&kv, "l").map(|m| m.head),
        Some(head - 1),
        "back shifted"
    );
    assert_eq!(items(&mut kv, "l"), ["a", "x", "b", "c", "y", "d"]);
    assert_eq!(
        run(&mut kv, 0, &["LINSERT", "l", "before", "a", "0"]),
        Reply::Int(7)
    );
    assert_eq!(
        run(&mut kv, 0, &["LINSERT", "l", "after", "d", "9"]),
        Reply::Int(8)
    );
    assert_eq!(
        run(&mut kv, 0, &["LINSERT", "l", "after", "a", "1"]),
        Reply::Int(9)
    );
    assert_eq!(
        items(&mut kv, "l"),
        ["0", "a", "1", "x", "b", "c", "y", "d", "9"]
    );
    assert_eq!(
        run(&mut kv, 0, &["LINSERT", "l", "before", "b"]),
        err("ERR wrong number of arguments for 'linsert' command")
    );
}

#[test]
fn lpos_rank_count_and_maxlen() {
    let mut kv = MemKv::default();
    let lpos = |kv: &mut MemKv, opts: &[&str]| {
        let mut line = vec!["LPOS", "l", "a"];
        line.extend_from_slice(opts);
        run(kv, 0, &line)
    };
    assert_eq!(lpos(&mut kv, &[]), Reply::Nil);
    assert_eq!(lpos(&mut kv, &["COUNT", "0"]), ints(&[]));
    assert_eq!(
        lpos(&mut kv, &["rank", "1", "count", "1", "maxlen", "1"]),
        ints(&[])
    );
    list(&mut kv, "l", &["a", "b", "a", "c", "a", "d", "a"]);
    let min = "-9223372036854775808";
    for (opts, want) in [
        (&[][..], Reply::Int(0)),
        (&["COUNT", "0"], ints(&[0, 2, 4, 6])),
        (&["COUNT", "2"], ints(&[0, 2])),
        (&["RANK", "-1"], Reply::Int(6)),
        (&["RANK", "-2", "COUNT", "0"], ints(&[4, 2, 0])),
        (&["RANK", "2", "COUNT", "2"], ints(&[2, 4])),
        (&["RANK", "3", "COUNT", "1"], ints(&[4])),
        (&["RANK", "2", "MAXLEN", "3"], Reply::Int(2)),
        (&["RANK", "2", "MAXLEN", "3", "COUNT", "0"], ints(&[2])),
        (&["RANK", "-1", "MAXLEN", "2", "COUNT", "0"], ints(&[6])),
        (&["RANK", "9", "COUNT", "0"], ints(&[])),
        (&["RANK", "9"], Reply::Nil),
        (&["MAXLEN", "0", "COUNT", "0"], ints(&[0, 2, 4, 6])),
        (&["COUNT", "9223372036854775807"], ints(&[0, 2, 4, 6])),
        (&["count", "1", "count", "2"], ints(&[0, 2])),
        (&["RANK", "9223372036854775807"], Reply::Nil),
        (&["RANK", "-9223372036854775807"], Reply::Nil),
        // Redis negates a rank of -2^63 in a C long: it stays negative, so every match
        // qualifies and COUNT never stops the walk.
        (&["RANK", min], Reply::Int(6)),
        (&["RANK", min, "COUNT", "1"], ints(&[6, 4, 2, 0])),
    ] {
        assert_eq!(lpos(&mut kv, opts), want, "{opts:?}");
    }
    assert_eq!(run(&mut kv, 0, &["LPOS", "l", "zz"]), Reply::Nil);
    assert_eq!(
        run(&mut kv, 0, &["LPOS", "l", "zz", "COUNT", "0"]),
        ints(&[])
    );
}

#[test]
fn lpos_option_errors() {
    let mut kv = MemKv::default();
    kv.put_str("s", "x", None);
    let rank = err(
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
         or use negative to start from the end of the list",
    );
    let count = err("ERR COUNT can't be negative");
    let maxlen = err("ERR MAXLEN can't be negative");
    for key in ["l", "s"] {
        for (opts, want) in [
            (&["RANK", "0"][..], &rank),
            (&["RANK", "abc"], &err(NOT_INT)),
            (&["RANK", "-9223372036854775809"], &err(NOT_INT)),
            (&["COUNT", "-1"], &count),
            (&["COUNT", "abc"], &count),
            (&["COUNT", "9223372036854775808"], &count),
            (&["MAXLEN", "-1"], &maxlen),
            (&["MAXLEN", "x"], &maxlen),
            (&["RANK"], &err(SYNTAX)),
            (&["BOGUS", "1"], &err(SYNTAX)),
            (&["COUNT", "1", "MAXLEN"], &err(SYNTAX)),
        ] {
            let mut line = vec!["LPOS", key, "a"];
            line.extend_from_slice(opts);
            assert_eq!(&run(&mut kv, 0, &line), want, "{line:?}");
        }
    }
    assert_eq!(run(&mut kv, 0, &["LPOS", "s", "a"]), err(WRONGTYPE));
}

#[test]
fn lmove_between_lists() {
    let mut kv = MemKv::default();
    list(&mut kv, "src", &["a", "b", "c"]);
    assert_eq!(
        run(&mut kv, 0, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        bulk("a")
    );
    assert_eq!(
        run(&mut kv, 0, &["LMOVE", "src", "dst", "right", "left"]),
        bulk("c")
    );
    assert_eq!(
        run(&mut kv, 0, &["LMOVE", "src", "dst", "Left", "Left"]),
        bulk("b")
    );
    assert!(kv.record("src").is_none() && kv.elements("src").is_empty());
    assert_eq!(items(&mut kv, "dst"), ["b", "c", "a"]);
    assert_eq!(
        run(&mut kv, 0, &["LMOVE", "dst", "src", "RIGHT", "RIGHT"]),
        bulk("a")
    );
    assert_eq!(run(&mut kv, 0, &["RPOPLPUSH", "dst", "src"]), bulk("c"));
    assert_eq!(items(&mut kv, "src"), ["c", "a"]);
    assert_eq!(items(&mut kv, "dst"), ["b"]);
    assert_eq!(
        run(&mut kv, 0, &["LMOVE", "nokey", "dst", "LEFT", "LEFT"]),
        Reply::Nil
    );
    assert_eq!(run(&mut kv, 0, &["RPOPLPUSH", "nokey", "dst"]), Reply::Nil);
    for line in [
        &["LMOVE", "src", "dst", "up", "left"][..],
        &["LMOVE", "nokey", "dst", "left", "down"],
    ] {
        assert_eq!(run(&mut kv, 0, line), err(SYNTAX), "{line:?}");
    }
    assert_eq!(items(&mut kv, "src"), ["c", "a"]);
}

#[test]
fn lmove_onto_the_same_list_rotates() {
    let mut kv = MemKv::default();
    list(&mut kv, "l", &["a", "b", "c"]);
    let mv = |kv: &mut MemKv, from: &str, to: &str| run(kv, 0, &["LMOVE", "l", "l", from, to]);
    assert_eq!(mv(&mut kv, "left", "right"), bulk("a"));
    assert_eq!(items(&mut kv, "l"), ["b", "c", "a"]);
    assert_eq!(mv(&mut kv, "right", "right"), bulk("a"));
    assert_eq!(items(&mut kv, "l"), ["b", "c", "a"]);
    assert_eq!(mv(&mut kv, "right", "left"), bulk("a"));
    assert_eq!(items(&mut kv, "l"), ["a", "b", "c"]);
    assert_eq!(mv(&mut kv, "left", "left"), bulk("a"));
    assert_eq!(run(&mut kv, 0, &["RPOPLPUSH", "l", "l"]), bulk("c"));
    assert_eq!(items(&mut kv, "l"), ["c", "a", "b"]);
    list(&mut kv, "one", &["x"]);
    for (from, to) in [("left", "right"), ("right", "left"), ("left", "left")] {
        assert_eq!(
            run(&mut kv, 0, &["LMOVE", "one", "one", from, to]),
            bulk("x")
        );
        assert_eq!(items(&mut kv, "one"), ["x"]);
    }
}

#[test]
fn wrong_type_both_ways() {
    let mut kv = MemKv::default();
    kv.put_str("s", "x", None);
    list(&mut kv, "l", &["a"]);
    for line in [
        &["LPUSH", "s", "a"][..],
        &["RPUSH", "s", "a"],
        &["LPUSHX", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "0"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "1"],
        &["LINDEX", "s", "abc"],
        &["LSET", "s", "abc", "x"],
        &["LREM", "s", "0", "x"],
        &["LTRIM", "s", "0", "1"],
        &["LINSERT", "s", "before", "a", "b"],
        &["LPOS", "s", "a"],
        &["LMOVE", "s", "l", "left", "right"],
        &["LMOVE", "l", "s", "left", "right"],
        &["LMOVE", "s", "s", "left", "right"],
        &["RPOPLPUSH", "l", "s"],
        &["GET", "l"],
        &["APPEND", "l", "x"],
        &["INCR", "l"],
    ] {
        assert_eq!(run(&mut kv, 0, line), err(WRONGTYPE), "{line:?}");
    }
    assert_eq!(kv.value("s").as_deref(), Some("x"));
    assert_eq!(items(&mut kv, "l"), ["a"]);
    // A missing source answers nil before the destination's type is looked at.
    assert_eq!(
        run(&mut kv, 0, &["LMOVE", "nokey", "s", "left", "right"]),
        Reply::Nil
    );
    // SET replaces a list (and its elements) with a string.
    assert_eq!(run(&mut kv, 0, &["SET", "l", "v"]), Reply::ok());
    assert!(kv.elements("l").is_empty());
}

#[test]
fn an_expired_list_is_absent() {
    let mut kv = MemKv::default();
    list(&mut kv, "l", &["a", "b"]);
    assert_eq!(run(&mut kv, 0, &["PEXPIREAT", "l", "100"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 50, &["LLEN", "l"]), Reply::Int(2));
    for (line, want) in [
        (&["LLEN", "l"][..], Reply::Int(0)),
        (&["LRANGE", "l", "0", "-1"], arr(&[])),
        (&["LINDEX", "l", "0"], Reply::Nil),
        (&["LPOS", "l", "a"], Reply::Nil),
        (&["LSET", "l", "0", "x"], err("ERR no such key")),
        (&["LPUSHX", "l", "x"], Reply::Int(0)),
        (&["LPOP", "l"], Reply::Nil),
        (&["LMOVE", "l", "l", "left", "left"], Reply::Nil),
    ] {
        assert_eq!(run(&mut kv, 100, line), want, "{line:?}");
    }
    assert!(
        kv.elements("l").is_empty(),
        "a write dropped the expired list"
    );
    list(&mut kv, "l", &["a", "b"]);
    assert_eq!(run(&mut kv, 0, &["PEXPIREAT", "l", "100"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 200, &["RPUSH", "l", "new"]), Reply::Int(1));
    assert_eq!(items(&mut kv, "l"), ["new"]);
    assert_eq!(kv.record("l").and_then(|r| r.expire_at_ms), None);
    // An expired destination is replaced, not appended to.
    list(&mut kv, "d", &["old"]);
    assert_eq!(run(&mut kv, 0, &["PEXPIREAT", "d", "100"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 200, &["RPOPLPUSH", "l", "d"]), bulk("new"));
    assert_eq!(items(&mut kv, "d"), ["new"]);
}

#[test]
fn writes_keep_the_expiry() {
    let mut kv = MemKv::default();
    list(&mut kv, "l", &["a", "b", "c"]);
    assert_eq!(run(&mut kv, 0, &["PEXPIREAT", "l", "1000"]), Reply::Int(1));
    for line in [
        &["LPUSH", "l", "x"][..],
        &["LPOP", "l"],
        &["LSET", "l", "0", "y"],
        &["LINSERT", "l", "after", "y", "z"],
        &["LREM", "l", "1", "z"],
        &["LTRIM", "l", "0", "-1"],
        &["LMOVE", "l", "l", "left", "right"],
    ] {
        run(&mut kv, 10, line);
        assert_eq!(
            kv.record("l").and_then(|r| r.expire_at_ms),
            Some(1000),
            "{line:?}"
        );
    }
    assert_eq!(items(&mut kv, "l"), ["b", "c", "y"]);
}

#[test]
fn lmove_reports_both_keys_for_routing() {
    let Ok(Command::Write(w)) = parse(&argv(&["LMOVE", "a", "b", "LEFT", "RIGHT"])) else {
        panic!("LMOVE parses as a write")
    };
    assert_eq!(w.keys(), vec![&b"a"[..], b"b"]);
    let Ok(Command::Write(w)) = parse(&argv(&["RPOPLPUSH", "a", "b"])) else {
        panic!("RPOPLPUSH parses as a write")
    };
    assert_eq!(w.keys(), vec![&b"a"[..], b"b"]);
    for blocking in ["BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP"] {
        assert!(
            matches!(parse(&argv(&[blocking, "k", "0"])), Err(Reply::Error(e)) if e.starts_with("ERR unknown command")),
            "{blocking}"
        );
    }
}

/// A list whose only element sits at index 0 (or u64::MAX - 1, the last index used: u64::MAX
/// stays free so `head + len` always fits): the index space is used up on that side, which
/// 2^63 pushes would take to reach.
fn list_at(kv: &mut MemKv, key: &str, index: u64) {
    let version = 999;
    let meta = CollMeta {
        version,
        len: 1,
        head: index,
        big: false,
    };
    kv.map.insert(
        key.as_bytes().to_vec(),
        Record::collection(Kind::List, &meta),
    );
    kv.subs.insert(
        (
            key.as_bytes().to_vec(),
            version,
            0,
            index.to_be_bytes().to_vec(),
        ),
        b"a".to_vec(),
    );
}

#[test]
fn the_ends_of_the_index_space_are_refused_without_change() {
    let full = err("ERR list index space exhausted");
    let mut kv = MemKv::default();
    list_at(&mut kv, "l", 0);
    assert_eq!(run(&mut kv, 0, &["LPUSH", "l", "x"]), full);
    assert_eq!(run(&mut kv, 0, &["LINSERT", "l", "before", "a", "x"]), full);
    assert_eq!(run(&mut kv, 0, &["RPOPLPUSH", "l", "l"]), full);
    assert_eq!(items(&mut kv, "l"), ["a"]);
    assert_eq!(run(&mut kv, 0, &["RPUSH", "l", "b"]), Reply::Int(2));
    assert_eq!(items(&mut kv, "l"), ["a", "b"]);
    list_at(&mut kv, "r", u64::MAX - 1);
    assert_eq!(run(&mut kv, 0, &["RPUSH", "r", "x"]), full);
    assert_eq!(run(&mut kv, 0, &["LINSERT", "r", "after", "a", "x"]), full);
    assert_eq!(run(&mut kv, 0, &["LMOVE", "r", "r", "left", "right"]), full);
    assert_eq!(items(&mut kv, "r"), ["a"]);
    list(&mut kv, "src", &["s"]);
    assert_eq!(
        run(&mut kv, 0, &["LMOVE", "src", "r", "left", "right"]),
        full
    );
    assert_eq!(items(&mut kv, "src"), ["s"]);
    assert_eq!(run(&mut kv, 0, &["LPUSH", "r", "x"]), Reply::Int(2));
}

#[test]
fn a_gap_in_the_elements_is_a_storage_error() {
    let mut kv = MemKv::default();
    list(&mut kv, "l", &["a", "b", "c"]);
    let m = meta(&kv, "l").expect("stored");
    let gap = (
        b"l".to_vec(),
        m.version,
        0,
        (m.head + 1).to_be_bytes().to_vec(),
    );
    assert!(kv.subs.remove(&gap).is_some());
    let ctx = ReadCtx {
        now_ms: 0,
        random: 0,
    };
    for line in [
        &["LRANGE", "l", "0", "-1"][..],
        &["LINDEX", "l", "1"],
        &["LPOS", "l", "c"],
    ] {
        let Ok(Command::Read(r)) = parse(&argv(line)) else {
            panic!("{line:?} is a read")
        };
        assert!(
            matches!(r.execute(&kv, &ctx), Err(StorageError::Corrupt { .. })),
            "{line:?}"
        );
    }
    let Ok(Command::Write(w)) = parse(&argv(&["LREM", "l", "0", "c"])) else {
        panic!("LREM is a write")
    };
    assert!(matches!(
        w.apply(&mut kv, 0),
        Err(StorageError::Corrupt { .. })
    ));
}

/// A small deterministic generator, so the model test needs no dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }

    fn signed(&mut self, span: i64) -> i64 {
        i64::try_from(self.below(span.unsigned_abs() * 2 + 1)).expect("small") - span
    }
}

/// Redis's LRANGE/LTRIM clamping, written independently for the model.
fn model_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

/// Random commands over lists longer than a walk's page, compared with a `VecDeque` after
/// every step (contents, density of the stored indexes, replies).
#[test]
fn random_commands_match_a_model() {
    let mut kv = MemKv::default();
    let mut model: VecDeque<String> = VecDeque::new();
    let mut rng = Lcg(7);
    let values = ["a", "b", "c", "d"];
    let big = PAGE_ELEMENTS as u64 * 2 + 37;
    let (mut shifts, mut longest) = (0u32, 0usize);
    for step in 0..1500 {
        let v = values[rng.below(4) as usize];
        let (line, want): (Vec<String>, Reply) = match rng.below(10) {
            0 | 1 => {
                let n = if model.len() < 100 {
                    rng.below(big) + 1
                } else {
                    1
                };
                let left = rng.below(2) == 0;
                let mut line = vec![if left { "LPUSH" } else { "RPUSH" }.to_string(), "l".into()];
                for i in 0..n {
                    let e = values[((i + u64::from(left)) % 4) as usize];
                    line.push(e.into());
                    if left {
                        model.push_front(e.into());
                    } else {
                        model.push_back(e.into());
                    }
                }
                (line, Reply::Int(model.len() as i64))
            }
            2 => {
                let n = rng.below(5);
                let left = rng.below(2) == 0;
                let popped: Vec<Reply> = (0..n)
                    .map_while(|_| {
                        if left {
                            model.pop_front()
                        } else {
                            model.pop_back()
                        }
                    })
                    .map(|e| bulk(&e))
                    .collect();
                let want = if popped.is_empty() && kv.record("l").is_none() {
                    Reply::NilArray
                } else {
                    Reply::Array(popped)
                };
                let name = if left { "LPOP" } else { "RPOP" };
                (vec![name.into(), "l".into(), n.to_string()], want)
            }
            3 => {
                let count = rng.signed(3);
                let limit = if count == 0 {
                    usize::MAX
                } else {
                    count.unsigned_abs() as usize
                };
                let mut removed = 0;
                if count >= 0 {
                    let mut kept = VecDeque::new();
                    for e in model.drain(..) {
                        if e == v && removed < limit {
                            removed += 1;
                        } else {
                            kept.push_back(e);
                        }
                    }
                    model = kept;
                } else {
                    let mut kept = VecDeque::new();
                    for e in model.drain(..).rev() {
                        if e == v && removed < limit {
                            removed += 1;
                        } else {
                            kept.push_front(e);
                        }
                    }
                    model = kept;
                }
                let line = vec!["LREM".into(), "l".into(), count.to_string(), v.into()];
                (line, Reply::Int(removed as i64))
            }
            4 | 5 => {
                let after = rng.below(2) == 0;
                let pivot = values[rng.below(4) as usize];
                let want = match model.iter().position(|e| e == pivot) {
                    _ if model.is_empty() => Reply::Int(0),
                    None => Reply::Int(-1),
                    Some(p) => {
                        model.insert(p + usize::from(after), format!("n{step}"));
                        Reply::Int(model.len() as i64)
                    }
                };
                let place = if after { "AFTER" } else { "BEFORE" };
                let line = vec![
                    "LINSERT".into(),
                    "l".into(),
                    place.into(),
                    pivot.into(),
                    format!("n{step}"),
                ];
                (line, want)
            }
            6 => {
                let index = rng.signed(model.len() as i64 + 2);
                let len = model.len() as i64;
                let at = if index < 0 { index + len } else { index };
                let want = if model.is_empty() {
                    err("ERR no such key")
                } else if (0..len).contains(&at) {
                    model[at as usize] = format!("s{step}");
                    Reply::ok()
                } else {
                    err("ERR index out of range")
                };
                (
                    vec![
                        "LSET".into(),
                        "l".into(),
                        index.to_string(),
                        format!("s{step}"),
                    ],
                    want,
                )
            }
            7 => {
                let len = model.len() as i64;
                let (start, stop) = if rng.below(4) == 0 {
                    (rng.signed(len + 2), rng.signed(len + 2))
                } else {
                    (rng.signed(3), -1 - rng.below(3) as i64)
                };
                match model_range(model.len(), start, stop) {
                    None => model.clear(),
                    Some((s, e)) => {
                        model.truncate(e + 1);
                        model.drain(..s);
                    }
                }
                (
                    vec![
                        "LTRIM".into(),
                        "l".into(),
                        start.to_string(),
                        stop.to_string(),
                    ],
                    Reply::ok(),
                )
            }
            8 => {
                let (from, to) = (rng.below(2) == 0, rng.below(2) == 0);
                let want = match if from {
                    model.pop_front()
                } else {
                    model.pop_back()
                } {
                    None => Reply::Nil,
                    Some(e) => {
                        if to {
                            model.push_front(e.clone());
                        } else {
                            model.push_back(e.clone());
                        }
                        bulk(&e)
                    }
                };
                let end = |left: bool| if left { "LEFT" } else { "RIGHT" }.to_string();
                (
                    vec!["LMOVE".into(), "l".into(), "l".into(), end(from), end(to)],
                    want,
                )
            }
            _ => {
                let rank = loop {
                    let r = rng.signed(3);
                    if r != 0 {
                        break r;
                    }
                };
                let maxlen = rng.below(400);
                let idx: Vec<usize> = if rank > 0 {
                    (0..model.len())
                        .take(if maxlen == 0 {
                            usize::MAX
                        } else {
                            maxlen as usize
                        })
                        .filter(|i| model[*i] == v)
                        .collect()
                } else {
                    (0..model.len())
                        .rev()
                        .take(if maxlen == 0 {
                            usize::MAX
                        } else {
                            maxlen as usize
                        })
                        .filter(|i| model[*i] == v)
                        .collect()
                };
                let hits: Vec<i64> = idx
                    .into_iter()
                    .skip(rank.unsigned_abs() as usize - 1)
                    .map(|i| i as i64)
                    .collect();
                let line = vec![
                    "LPOS".into(),
                    "l".into(),
                    v.into(),
                    "RANK".into(),
                    rank.to_string(),
                    "MAXLEN".into(),
                    maxlen.to_string(),
                    "COUNT".into(),
                    "0".into(),
                ];
                (line, ints(&hits))
            }
        };
        let line: Vec<&str> = line.iter().map(String::as_str).collect();
        let shifted =
            matches!(line[0], "LREM" | "LINSERT") && matches!(want, Reply::Int(n) if n > 0);
        shifts += u32::from(shifted && model.len() > PAGE_ELEMENTS);
        longest = longest.max(model.len());
        assert_eq!(run(&mut kv, 0, &line), want, "step {step}: {line:?}");
        let want: Vec<String> = model.iter().cloned().collect();
        assert_eq!(stored(&kv, "l"), want, "step {step}: {line:?}");
    }
    assert!(
        longest > 2 * PAGE_ELEMENTS,
        "lists spanned pages: {longest}"
    );
    assert!(shifts > 50, "LREM and LINSERT shifted long lists: {shifts}");
}
