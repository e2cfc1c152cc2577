//! Unit tests of the hash family against the in-memory store: every command's replies, error
//! texts and edge cases as Redis 7.0 gives them, the two element spaces kept in step, HSCAN's
//! no-skip/no-duplicate cursor, and HRANDFIELD's shapes and bounds.

use std::collections::{BTreeMap, BTreeSet};

use tanli_storage::Kind;

use super::super::coll;
use super::super::hashorder::hash_entry;
use super::super::testkv::{argv, bulk, err, run, MemKv};
use super::super::{parse, Command, ReadCtx, Stop};
use super::*;
use crate::reply::Reply;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

fn map(pairs: &[(&str, &str)]) -> Reply {
    Reply::Map(pairs.iter().map(|(f, v)| (bulk(f), bulk(v))).collect())
}

/// Runs a read with a chosen random seed.
fn read_seeded(kv: &MemKv, now: u64, random: u64, line: &[&str]) -> Reply {
    let Ok(Command::Read(r)) = parse(&argv(line)) else {
        panic!("{line:?} is not a read")
    };
    r.execute(
        kv,
        &ReadCtx {
            now_ms: now,
            random,
        },
    )
    .expect("in-memory storage does not fail")
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn texts(r: &Reply) -> Vec<String> {
    match r {
        Reply::Array(items) => items.iter().map(text).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// A hash `h` of `n` fields `f<i>` -> `v<i>`.
fn filled(n: usize) -> MemKv {
    let mut kv = MemKv::default();
    let mut line = vec!["HSET".to_string(), "h".to_string()];
    for i in 0..n {
        line.push(format!("f{i}"));
        line.push(format!("v{i}"));
    }
    let line: Vec<&str> = line.iter().map(String::as_str).collect();
    assert_eq!(run(&mut kv, 0, &line), Reply::Int(n as i64));
    kv
}

fn stamp(kv: &MemKv, key: &str) -> Option<u64> {
    kv.record(key).map(|r| r.stamp)
}

#[test]
fn set_get_and_friends() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["HSET", "h", "f", "v"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["HSET", "h", "f", "v"]), Reply::Int(0));
    assert_eq!(
        run(&mut kv, 0, &["HSET", "h", "f", "w", "g", "x"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut kv, 0, &["HMSET", "h", "f", "1"]), Reply::ok());
    assert_eq!(run(&mut kv, 0, &["HGET", "h", "f"]), bulk("1"));
    assert_eq!(run(&mut kv, 0, &["HGET", "h", "zz"]), Reply::Nil);
    assert_eq!(run(&mut kv, 0, &["HGET", "nokey", "f"]), Reply::Nil);
    assert_eq!(run(&mut kv, 0, &["HEXISTS", "h", "g"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["HEXISTS", "h", "zz"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["HEXISTS", "nokey", "g"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["HLEN", "h"]), Reply::Int(2));
    assert_eq!(run(&mut kv, 0, &["HLEN", "nokey"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["HSTRLEN", "h", "g"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["HSTRLEN", "h", "zz"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["HSTRLEN", "nokey", "zz"]), Reply::Int(0));
    assert_eq!(
        run(&mut kv, 0, &["TYPE", "h"]),
        Reply::Simple("hash".into())
    );
    // The same field twice in one HSET: counted once, the last value wins.
    assert_eq!(
        run(&mut kv, 0, &["HSET", "d", "a", "1", "a", "2"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut kv, 0, &["HGET", "d", "a"]), bulk("2"));
    assert_eq!(run(&mut kv, 0, &["HLEN", "d"]), Reply::Int(1));
    // Empty fields and values are fine.
    assert_eq!(run(&mut kv, 0, &["HSET", "e", "", ""]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["HGET", "e", ""]), bulk(""));
    assert_eq!(run(&mut kv, 0, &["HEXISTS", "e", ""]), Reply::Int(1));
}

#[test]
fn hmget_answers_nil_per_missing_field() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["HSET", "h", "a", "1", "c", "3"]);
    assert_eq!(
        run(&mut kv, 0, &["HMGET", "h", "a", "b", "c", "a"]),
        Reply::Array(vec![bulk("1"), Reply::Nil, bulk("3"), bulk("1")])
    );
    assert_eq!(
        run(&mut kv, 0, &["HMGET", "nokey", "a", "b"]),
        Reply::Array(vec![Reply::Nil, Reply::Nil])
    );
    kv.put_str("s", "x", None);
    assert_eq!(run(&mut kv, 0, &["HMGET", "s", "a"]), err(WRONGTYPE));
}

#[test]
fn whole_hash_reads_agree_on_order() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["HSET", "h", "b", "2", "a", "1", "c", "3"]);
    assert_eq!(
        run(&mut kv, 0, &["HGETALL", "h"]),
        map(&[("a", "1"), ("b", "2"), ("c", "3")])
    );
    assert_eq!(run(&mut kv, 0, &["HKEYS", "h"]), arr(&["a", "b", "c"]));
    assert_eq!(run(&mut kv, 0, &["HVALS", "h"]), arr(&["1", "2", "3"]));
    assert_eq!(
        run(&mut kv, 0, &["HGETALL", "nokey"]),
        Reply::Map(Vec::new())
    );
    assert_eq!(
        run(&mut kv, 0, &["HKEYS", "nokey"]),
        Reply::Array(Vec::new())
    );
    assert_eq!(
        run(&mut kv, 0, &["HVALS", "nokey"]),
        Reply::Array(Vec::new())
    );
}

#[test]
fn whole_hash_reads_page_through_big_hashes() {
    let n = ALL_PAGE_ENTRIES * 2 + 5;
    let mut kv = filled(n);
    let Reply::Map(pairs) = run(&mut kv, 0, &["HGETALL", "h"]) else {
        panic!("HGETALL is a map")
    };
    assert_eq!(pairs.len(), n);
    let got: BTreeMap<String, String> = pairs.iter().map(|(f, v)| (text(f), text(v))).collect();
    assert_eq!(got.len(), n);
    assert!(got.iter().all(|(f, v)| f[1..] == v[1..]));
    let keys = texts(&run(&mut kv, 0, &["HKEYS", "h"]));
    let vals = texts(&run(&mut kv, 0, &["HVALS", "h"]));
    assert_eq!(keys, got.keys().cloned().collect::<Vec<_>>());
    assert_eq!(vals, got.values().cloned().collect::<Vec<_>>());
}

#[test]
fn both_element_spaces_stay_in_step() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["HSET", "h", "a", "1", "b", "2"]);
    let count = |kv: &MemKv, tag: u8| kv.elements("h").iter().filter(|e| e.0 == tag).count();
    assert_eq!((count(&kv, FIELDS), count(&kv, BY_HASH)), (2, 2));
    run(&mut kv, 0, &["HSET", "h", "a", "changed"]);
    assert_eq!((count(&kv, FIELDS), count(&kv, BY_HASH)), (2, 2));
    let by_hash: Vec<Vec<u8>> = kv
        .elements("h")
        .into_iter()
        .filter(|e| e.0 == BY_HASH)
        .map(|e| e.1)
        .collect();
    assert!(by_hash.contains(&hash_entry(b"a")));
    assert!(by_hash.contains(&hash_entry(b"b")));
    run(&mut kv, 0, &["HDEL", "h", "a"]);
    assert_eq!((count(&kv, FIELDS), count(&kv, BY_HASH)), (1, 1));
    assert_eq!(
        kv.record("h").and_then(|r| r.coll_meta()).map(|m| m.len),
        Some(1)
    );
}

#[test]
fn hdel_removes_fields_and_the_emptied_key() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(run(&mut kv, 0, &["HDEL", "h", "zz"]), Reply::Int(0));
    assert_eq!(
        run(&mut kv, 0, &["HDEL", "h", "a", "zz", "a"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut kv, 0, &["HLEN", "h"]), Reply::Int(2));
    assert_eq!(run(&mut kv, 0, &["HDEL", "h", "b", "c"]), Reply::Int(2));
    assert!(kv.record("h").is_none(), "an emptied hash disappears");
    assert!(kv.elements("h").is_empty());
    assert_eq!(run(&mut kv, 0, &["EXISTS", "h"]), Reply::Int(0));
    assert_eq!(
        run(&mut kv, 0, &["TYPE", "h"]),
        Reply::Simple("none".into())
    );
    assert_eq!(run(&mut kv, 0, &["HDEL", "nokey", "a"]), Reply::Int(0));
    assert!(kv.record("nokey").is_none());
}

#[test]
fn hsetnx_sets_only_new_fields() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["HSETNX", "h", "f", "1"]), Reply::Int(1));
    let before = stamp(&kv, "h");
    assert_eq!(run(&mut kv, 0, &["HSETNX", "h", "f", "2"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["HGET", "h", "f"]), bulk("1"));
    assert_eq!(stamp(&kv, "h"), before, "a refused HSETNX stores nothing");
    assert_eq!(run(&mut kv, 0, &["HSETNX", "h", "g", "2"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["HLEN", "h"]), Reply::Int(2));
}

#[test]
fn stamps_change_on_every_hset_but_not_on_no_ops() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["HSET", "h", "f", "v"]);
    let first = stamp(&kv, "h");
    run(&mut kv, 0, &["HSET", "h", "f", "v"]);
    let second = stamp(&kv, "h");
    assert_ne!(
        first, second,
        "HSET of the same value still touches the key"
    );
    run(&mut kv, 0, &["HDEL", "h", "absent"]);
    assert_eq!(stamp(&kv, "h"), second);
    run(&mut kv, 0, &["HINCRBY", "h", "n", "0"]);
    assert_ne!(stamp(&kv, "h"), second);
}

#[test]
fn arity_and_syntax_errors() {
    let mut kv = MemKv::default();
    let arity = |name: &str| {
        err(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    };
    for (line, name) in [
        (&["HSET", "h"][..], "hset"),
        (&["HSET", "h", "f"], "hset"),
        (&["HSET", "h", "f", "v", "g"], "hset"),
        (&["HMSET", "h", "f"], "hmset"),
        (&["HMSET", "h", "f", "v", "g"], "hmset"),
        (&["HSETNX", "h", "f"], "hsetnx"),
        (&["HSETNX", "h", "f", "v", "x"], "hsetnx"),
        (&["HGET", "h"], "hget"),
        (&["HGET", "h", "f", "x"], "hget"),
        (&["HMGET", "h"], "hmget"),
        (&["HGETALL"], "hgetall"),
        (&["HGETALL", "h", "x"], "hgetall"),
        (&["HDEL", "h"], "hdel"),
        (&["HEXISTS", "h"], "hexists"),
        (&["HLEN"], "hlen"),
        (&["HKEYS", "h", "x"], "hkeys"),
        (&["HVALS"], "hvals"),
        (&["HINCRBY", "h", "f"], "hincrby"),
        (&["HINCRBYFLOAT", "h", "f", "1", "2"], "hincrbyfloat"),
        (&["HSTRLEN", "h"], "hstrlen"),
        (&["HSCAN", "h"], "hscan"),
        (&["HRANDFIELD"], "hrandfield"),
    ] {
        assert_eq!(run(&mut kv, 0, line), arity(name), "{line:?}");
    }
    assert!(kv.map.is_empty(), "no failed command stored anything");
}

#[test]
fn wrong_type_both_ways() {
    let mut kv = MemKv::default();
    kv.put_str("s", "str", None);
    run(&mut kv, 0, &["HSET", "h", "f", "1"]);
    for line in [
        &["HSET", "s", "f", "v"][..],
        &["HMSET", "s", "f", "v"],
        &["HSETNX", "s", "f", "v"],
        &["HGET", "s", "f"],
        &["HMGET", "s", "f"],
        &["HGETALL", "s"],
        &["HKEYS", "s"],
        &["HVALS", "s"],
        &["HDEL", "s", "f"],
        &["HEXISTS", "s", "f"],
        &["HLEN", "s"],
        &["HSTRLEN", "s", "f"],
        &["HINCRBY", "s", "f", "1"],
        &["HINCRBYFLOAT", "s", "f", "1"],
        &["HSCAN", "s", "0"],
        &["HSCAN", "s", "0", "COUNT", "0"],
        &["HRANDFIELD", "s"],
        &["HRANDFIELD", "s", "0"],
        &["HRANDFIELD", "s", "-1", "WITHVALUES"],
    ] {
        assert_eq!(run(&mut kv, 0, line), err(WRONGTYPE), "{line:?}");
    }
    assert_eq!(kv.value("s").as_deref(), Some("str"));
    for line in [
        &["GET", "h"][..],
        &["INCR", "h"],
        &["APPEND", "h", "x"],
        &["STRLEN", "h"],
        &["GETRANGE", "h", "0", "1"],
    ] {
        assert_eq!(run(&mut kv, 0, line), err(WRONGTYPE), "{line:?}");
    }
    assert_eq!(run(&mut kv, 0, &["HGET", "h", "f"]), bulk("1"));
    // SET replaces a hash whatever it held, and its elements go with it.
    assert_eq!(run(&mut kv, 0, &["SET", "h", "plain"]), Reply::ok());
    assert!(kv.elements("h").is_empty());
    assert_eq!(run(&mut kv, 0, &["HGET", "h", "f"]), err(WRONGTYPE));
}

#[test]
fn expired_hashes_are_absent() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["HSET", "h", "a", "1", "b", "2"]);
    assert_eq!(run(&mut kv, 0, &["PEXPIRE", "h", "100"]), Reply::Int(1));
    // Alive before the deadline; writes keep the TTL.
    assert_eq!(run(&mut kv, 50, &["HSET", "h", "c", "3"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 50, &["HINCRBY", "h", "n", "1"]), Reply::Int(1));
    assert_eq!(kv.record("h").and_then(|r| r.expire_at_ms), Some(100));
    for line in [&["HGET", "h", "a"][..], &["HRANDFIELD", "h"]] {
        assert_eq!(run(&mut kv, 100, line), Reply::Nil, "{line:?}");
    }
    assert_eq!(run(&mut kv, 100, &["HLEN", "h"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 100, &["HEXISTS", "h", "a"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 100, &["HGETALL", "h"]), Reply::Map(Vec::new()));
    assert_eq!(
        run(&mut kv, 100, &["HRANDFIELD", "h", "-3"]),
        Reply::Array(Vec::new())
    );
    assert_eq!(run(&mut kv, 100, &["HSCAN", "h", "0"]), scan(0, &[]));
    assert_eq!(run(&mut kv, 100, &["HDEL", "h", "a"]), Reply::Int(0));
    // A write after the deadline starts a new hash, without the old fields or TTL.
    assert_eq!(run(&mut kv, 200, &["HSET", "h", "z", "9"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 200, &["HGETALL", "h"]), map(&[("z", "9")]));
    assert_eq!(kv.record("h").and_then(|r| r.expire_at_ms), None);
    assert_eq!(kv.elements("h").len(), 2);
}

#[test]
fn hincrby_counts_and_refuses_bad_values() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["HINCRBY", "h", "n", "5"]), Reply::Int(5));
    assert_eq!(
        run(&mut kv, 0, &["HINCRBY", "h", "n", "-7"]),
        Reply::Int(-2)
    );
    assert_eq!(run(&mut kv, 0, &["HGET", "h", "n"]), bulk("-2"));
    let not_int = err("ERR hash value is not an integer");
    for bad in [" 1", "1 ", "01", "1.5", "abc", "", "9223372036854775808"] {
        run(&mut kv, 0, &["HSET", "h", "bad", bad]);
        assert_eq!(
            run(&mut kv, 0, &["HINCRBY", "h", "bad", "1"]),
            not_int,
            "{bad:?}"
        );
    }
    let overflow = err("ERR increment or decrement would overflow");
    run(&mut kv, 0, &["HSET", "h", "max", "9223372036854775807"]);
    assert_eq!(run(&mut kv, 0, &["HINCRBY", "h", "max", "1"]), overflow);
    assert_eq!(
        run(&mut kv, 0, &["HINCRBY", "h", "max", "-1"]),
        Reply::Int(i64::MAX - 1)
    );
    run(&mut kv, 0, &["HSET", "h", "min", "-9223372036854775808"]);
    assert_eq!(run(&mut kv, 0, &["HINCRBY", "h", "min", "-1"]), overflow);
    assert_eq!(
        run(&mut kv, 0, &["HGET", "h", "min"]),
        bulk("-9223372036854775808")
    );
    let arg = err("ERR value is not an integer or out of range");
    assert_eq!(run(&mut kv, 0, &["HINCRBY", "h", "n", "x"]), arg);
    assert_eq!(run(&mut kv, 0, &["HINCRBY", "h", "n", "1.0"]), arg);
    // The increment is checked before the key's type.
    kv.put_str("s", "1", None);
    assert_eq!(run(&mut kv, 0, &["HINCRBY", "s", "n", "x"]), arg);
    // A failed HINCRBY on a missing key leaves no empty hash behind.
    assert_eq!(run(&mut kv, 0, &["HINCRBY", "new", "n", "x"]), arg);
    assert!(kv.record("new").is_none());
}

#[test]
fn hincrbyfloat_formats_like_redis() {
    let mut kv = MemKv::default();
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "f", "10.50"]),
        bulk("10.5")
    );
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "f", "0.1"]),
        bulk("10.6")
    );
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "f", "-5"]),
        bulk("5.6")
    );
    assert_eq!(run(&mut kv, 0, &["HGET", "h", "f"]), bulk("5.6"));
    run(&mut kv, 0, &["HSET", "h", "g", "5.0e3"]);
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "g", "2.0e2"]),
        bulk("5200")
    );
    run(&mut kv, 0, &["HSET", "h", "p", "0.1"]);
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "p", "0.2"]),
        bulk("0.3")
    );
    run(&mut kv, 0, &["HSET", "h", "i", "9223372036854775806"]);
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "i", "1"]),
        bulk("9223372036854775807")
    );
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "x", "0x10"]),
        bulk("16")
    );
}

#[test]
fn hincrbyfloat_errors_in_redis_order() {
    let mut kv = MemKv::default();
    let not_float = err("ERR value is not a valid float");
    let naninf_arg = err("ERR value is NaN or Infinity");
    let naninf_sum = err("ERR increment would produce NaN or Infinity");
    run(
        &mut kv,
        0,
        &[
            "HSET", "h", "f", "1", "sp", " 1", "word", "abc", "inf", "inf",
        ],
    );
    for bad in ["x", "nan", " 1", "1 ", "", "1e5000"] {
        assert_eq!(
            run(&mut kv, 0, &["HINCRBYFLOAT", "h", "f", bad]),
            not_float,
            "{bad:?}"
        );
    }
    for inf in ["inf", "-inf", "+Infinity"] {
        assert_eq!(
            run(&mut kv, 0, &["HINCRBYFLOAT", "h", "f", inf]),
            naninf_arg,
            "{inf:?}"
        );
    }
    let not_hash_float = err("ERR hash value is not a float");
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "sp", "1"]),
        not_hash_float
    );
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "word", "1"]),
        not_hash_float
    );
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "inf", "1"]),
        naninf_sum
    );
    run(&mut kv, 0, &["HSET", "h", "huge", "1e4932"]);
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "h", "huge", "1e4932"]),
        naninf_sum
    );
    assert_eq!(run(&mut kv, 0, &["HGET", "h", "f"]), bulk("1"));
    // The increment is checked before the key's type.
    kv.put_str("s", "1", None);
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "s", "f", "inf"]),
        naninf_arg
    );
    assert_eq!(run(&mut kv, 0, &["HINCRBYFLOAT", "s", "f", "x"]), not_float);
    assert_eq!(
        run(&mut kv, 0, &["HINCRBYFLOAT", "s", "f", "1"]),
        err(WRONGTYPE)
    );
}

fn scan(cursor: u64, items: &[&str]) -> Reply {
    Reply::Array(vec![bulk(&cursor.to_string()), arr(items)])
}

/// One HSCAN page: (next cursor, flat items).
fn scan_once(kv: &mut MemKv, line: &[&str]) -> (String, Vec<String>) {
    let Reply::Array(parts) = run(kv, 0, line) else {
        panic!("HSCAN reply shape for {line:?}")
    };
    let [next, items] = parts.as_slice() else {
        panic!("HSCAN parts")
    };
    (text(next), texts(items))
}

/// A whole HSCAN iteration: every (field, value) returned (the value empty with NOVALUES),
/// panicking on a duplicate field. `between` runs after every page.
fn full_hscan(
    kv: &mut MemKv,
    opts: &[&str],
    mut between: impl FnMut(&mut MemKv, usize),
) -> BTreeMap<String, String> {
    let mut seen = BTreeMap::new();
    let mut cursor = "0".to_string();
    for page in 0..100_000 {
        let mut line = vec!["HSCAN", "h", cursor.as_str()];
        line.extend_from_slice(opts);
        let (next, items) = scan_once(kv, &line);
        let per_field = if opts.contains(&"NOVALUES") { 1 } else { 2 };
        for pair in items.chunks(per_field) {
            let value = pair.get(1).cloned().unwrap_or_default();
            assert!(
                seen.insert(pair[0].clone(), value).is_none(),
                "{} returned twice",
                pair[0]
            );
        }
        if next == "0" {
            return seen;
        }
        cursor = next;
        between(kv, page);
    }
    panic!("HSCAN did not terminate");
}

#[test]
fn hscan_returns_every_field_once() {
    let mut kv = filled(1000);
    let all = full_hscan(&mut kv, &["COUNT", "7"], |_, _| {});
    assert_eq!(all.len(), 1000);
    assert!(all.iter().all(|(f, v)| f[1..] == v[1..]));
    let ones = full_hscan(&mut kv, &["MATCH", "f1*"], |_, _| {});
    assert_eq!(ones.len(), 111);
    assert!(ones.keys().all(|f| f.starts_with("f1")));
    let all_star = full_hscan(&mut kv, &["match", "*", "count", "1000"], |_, _| {});
    assert_eq!(all_star.len(), 1000);
    let no_values = full_hscan(&mut kv, &["NOVALUES", "COUNT", "50"], |_, _| {});
    assert_eq!(no_values.len(), 1000);
    assert!(no_values.values().all(String::is_empty));
}

#[test]
fn hscan_pages_follow_count_and_end_with_zero() {
    let mut kv = filled(25);
    let (next, items) = scan_once(&mut kv, &["HSCAN", "h", "0", "COUNT", "10"]);
    assert_ne!(next, "0");
    assert_eq!(items.len(), 20);
    let (_, items) = scan_once(&mut kv, &["HSCAN", "h", "0"]);
    assert_eq!(items.len(), 20, "COUNT defaults to 10");
    let (next, items) = scan_once(&mut kv, &["HSCAN", "h", "0", "COUNT", "25"]);
    assert_eq!((next.as_str(), items.len()), ("0", 50));
    // Past the last hash: an empty last page.
    assert_eq!(
        run(&mut kv, 0, &["HSCAN", "h", "18446744073709551615"]),
        scan(0, &[])
    );
}

#[test]
fn hscan_skips_nothing_and_repeats_nothing_while_the_hash_changes() {
    let mut kv = filled(300);
    let mut added = 0;
    let seen = full_hscan(&mut kv, &["COUNT", "5"], |kv, page| {
        // Each page: two new fields, and one field of the "gone" family deleted.
        for _ in 0..2 {
            let f = format!("new{added}");
            run(kv, 0, &["HSET", "h", &f, "n"]);
            added += 1;
        }
        if page < 100 {
            run(kv, 0, &["HDEL", "h", &format!("f{}", 200 + page)]);
        }
    });
    for i in 0..200 {
        assert!(seen.contains_key(&format!("f{i}")), "f{i} was skipped");
    }
}

#[test]
fn hscan_never_splits_fields_of_one_hash() {
    // Two fields whose hash-order entries share a hash, as a 64-bit collision would.
    let mut kv = filled(4);
    let version = kv
        .record("h")
        .and_then(|r| r.coll_meta())
        .map(|m| m.version);
    let version = version.expect("a hash");
    kv.subs.retain(|(_, _, tag, _), _| *tag != BY_HASH);
    for (i, h) in [(0, 5u64), (1, 9), (2, 9), (3, 12)] {
        let mut entry = h.to_be_bytes().to_vec();
        entry.extend_from_slice(format!("f{i}").as_bytes());
        kv.subs
            .insert((b"h".to_vec(), version, BY_HASH, entry), Vec::new());
    }
    let (next, items) = scan_once(&mut kv, &["HSCAN", "h", "0", "COUNT", "2"]);
    assert_eq!(next, "12");
    assert_eq!(items, ["f0", "v0", "f1", "v1", "f2", "v2"]);
    let (next, items) = scan_once(&mut kv, &["HSCAN", "h", "12", "COUNT", "2"]);
    assert_eq!(
        (next.as_str(), items),
        ("0", vec!["f3".to_string(), "v3".to_string()])
    );
    let (next, items) = scan_once(&mut kv, &["HSCAN", "h", "6", "COUNT", "1"]);
    assert_eq!((next.as_str(), items.len()), ("12", 4));
}

#[test]
fn hscan_argument_errors_in_redis_order() {
    let mut kv = filled(3);
    let invalid = err("ERR invalid cursor");
    for bad in ["x", " 1", "1x", "18446744073709551616"] {
        assert_eq!(run(&mut kv, 0, &["HSCAN", "h", bad]), invalid, "{bad:?}");
        assert_eq!(
            run(&mut kv, 0, &["HSCAN", "nokey", bad]),
            invalid,
            "{bad:?}"
        );
    }
    for ok in ["", "+0", "007", "-1"] {
        assert!(
            matches!(run(&mut kv, 0, &["HSCAN", "h", ok]), Reply::Array(_)),
            "{ok:?}"
        );
    }
    let syntax = err("ERR syntax error");
    for opts in [
        &["COUNT", "0"][..],
        &["COUNT", "-1"],
        &["COUNT"],
        &["MATCH"],
        &["TYPE", "hash"],
        &["BOGUS", "1"],
    ] {
        let mut line = vec!["HSCAN", "h", "0"];
        line.extend_from_slice(opts);
        assert_eq!(run(&mut kv, 0, &line), syntax, "{opts:?}");
        // Options are only checked once the key is found to hold a hash.
        line[1] = "nokey";
        assert_eq!(run(&mut kv, 0, &line), scan(0, &[]), "{opts:?}");
    }
    assert_eq!(
        run(&mut kv, 0, &["HSCAN", "h", "0", "COUNT", "x"]),
        err("ERR value is not an integer or out of range")
    );
}

#[test]
fn hrandfield_shapes() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    let fields: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let one = run(&mut kv, 0, &["HRANDFIELD", "h"]);
    assert!(fields.contains(&text(&one)));
    assert_eq!(run(&mut kv, 0, &["HRANDFIELD", "nokey"]), Reply::Nil);
    for line in [
        &["HRANDFIELD", "nokey", "3"][..],
        &["HRANDFIELD", "nokey", "-3", "WITHVALUES"],
        &["HRANDFIELD", "h", "0"],
        &["HRANDFIELD", "h", "0", "withvalues"],
    ] {
        assert_eq!(run(&mut kv, 0, line), Reply::Array(Vec::new()), "{line:?}");
    }
    let two = texts(&run(&mut kv, 0, &["HRANDFIELD", "h", "2"]));
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    assert!(two.iter().all(|f| fields.contains(f)));
    let all: BTreeSet<String> = texts(&run(&mut kv, 0, &["HRANDFIELD", "h", "10"]))
        .into_iter()
        .collect();
    assert_eq!(all, fields);
    let repeats = texts(&run(&mut kv, 0, &["HRANDFIELD", "h", "-10"]));
    assert_eq!(repeats.len(), 10);
    assert!(repeats.iter().all(|f| fields.contains(f)));
    for line in [
        &["HRANDFIELD", "h", "1", "WithValues"][..],
        &["HRANDFIELD", "h", "2", "WITHVALUES"],
        &["HRANDFIELD", "h", "5", "WITHVALUES"],
        &["HRANDFIELD", "h", "-7", "WITHVALUES"],
    ] {
        let Reply::Pairs(pairs) = run(&mut kv, 0, line) else {
            panic!("{line:?} answers pairs")
        };
        let want: usize = line[2].trim_start_matches('-').parse().expect("count");
        assert_eq!(
            pairs.len(),
            want.min(if line[2].starts_with('-') { want } else { 3 })
        );
        for (f, v) in &pairs {
            let (f, v) = (text(f), text(v));
            let expected = match f.as_str() {
                "a" => "1",
                "b" => "2",
                "c" => "3",
                other => panic!("unknown field {other}"),
            };
            assert_eq!(v, expected);
        }
    }
}

#[test]
fn hrandfield_argument_errors_in_redis_order() {
    let mut kv = MemKv::default();
    kv.put_str("s", "x", None);
    run(&mut kv, 0, &["HSET", "h", "a", "1"]);
    let not_int = err("ERR value is not an integer or out of range");
    let range = err("ERR value is out of range");
    let repeats = err("ERR value is out of range, a negative count must be at least -1000000");
    let syntax = err("ERR syntax error");
    for (line, want) in [
        (&["HRANDFIELD", "h", "x"][..], &not_int),
        (&["HRANDFIELD", "s", "x"], &not_int),
        (&["HRANDFIELD", "nokey", "x", "WITHVALUES", "y"], &not_int),
        (&["HRANDFIELD", "h", "1", "x"], &syntax),
        (&["HRANDFIELD", "s", "1", "x"], &syntax),
        (&["HRANDFIELD", "h", "1", "WITHVALUES", "x"], &syntax),
        (
            &["HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"],
            &range,
        ),
        (
            &["HRANDFIELD", "s", "4611686018427387904", "WITHVALUES"],
            &range,
        ),
        (&["HRANDFIELD", "h", "-1000001"], &repeats),
        (&["HRANDFIELD", "s", "-1000001"], &err(WRONGTYPE)),
    ] {
        assert_eq!(&run(&mut kv, 0, line), want, "{line:?}");
    }
    assert_eq!(
        run(&mut kv, 0, &["HRANDFIELD", "h", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    // In range: the whole (one-field) hash, and the most repeats allowed.
    let Reply::Pairs(pairs) = run(
        &mut kv,
        0,
        &["HRANDFIELD", "h", "4611686018427387903", "WITHVALUES"],
    ) else {
        panic!("pairs")
    };
    assert_eq!(pairs, vec![(bulk("a"), bulk("1"))]);
    assert_eq!(
        texts(&run(&mut kv, 0, &["HRANDFIELD", "h", "-1000"])).len(),
        1000
    );
    // Past the bound on repeats, a missing key still answers like Redis: an empty array.
    let far = ["HRANDFIELD", "nokey", "-9223372036854775807"];
    assert_eq!(run(&mut kv, 0, &far), Reply::Array(Vec::new()));
}

#[test]
fn hrandfield_picks_every_field_of_a_small_hash() {
    let kv = filled(5);
    let mut seen = BTreeSet::new();
    for seed in 0..200 {
        seen.insert(text(&read_seeded(&kv, 0, seed, &["HRANDFIELD", "h"])));
    }
    assert_eq!(seen.len(), 5);
    let mut counts = BTreeMap::<String, usize>::new();
    for f in texts(&read_seeded(&kv, 0, 1, &["HRANDFIELD", "h", "-5000"])) {
        *counts.entry(f).or_default() += 1;
    }
    assert_eq!(counts.len(), 5);
    assert!(
        counts.values().all(|&n| (800..1200).contains(&n)),
        "{counts:?}"
    );
}

#[test]
fn hrandfield_on_a_big_hash_reads_windows() {
    let n = 1000;
    let kv = filled(n);
    let valid = |f: &str| {
        f.strip_prefix('f')
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| i < n)
    };
    // Window picks: a few distinct fields, and repeats.
    for seed in 0..20 {
        let some = texts(&read_seeded(&kv, 0, seed, &["HRANDFIELD", "h", "10"]));
        assert_eq!(some.len(), 10);
        assert_eq!(some.iter().collect::<BTreeSet<_>>().len(), 10);
        assert!(some.iter().all(|f| valid(f)));
    }
    let reps = texts(&read_seeded(&kv, 0, 3, &["HRANDFIELD", "h", "-50"]));
    assert_eq!(reps.len(), 50);
    assert!(reps.iter().all(|f| valid(f)));
    // A third or more of the hash: read whole.
    let big = texts(&read_seeded(&kv, 0, 4, &["HRANDFIELD", "h", "400"]));
    assert_eq!(big.iter().collect::<BTreeSet<_>>().len(), 400);
    let Reply::Pairs(pairs) = read_seeded(&kv, 0, 5, &["HRANDFIELD", "h", "-20", "WITHVALUES"])
    else {
        panic!("pairs")
    };
    assert_eq!(pairs.len(), 20);
    assert!(pairs.iter().all(|(f, v)| text(f)[1..] == text(v)[1..]));
    // Over many single picks, most of the hash shows up.
    let mut seen = BTreeSet::new();
    for seed in 0..3000 {
        seen.insert(text(&read_seeded(&kv, 0, seed, &["HRANDFIELD", "h"])));
    }
    assert!(seen.len() > 850, "{} distinct of {n}", seen.len());
}

#[test]
fn hrandfield_repeats_are_bounded_by_reply_bytes() {
    let kv = filled(200);
    let c = coll::load(&kv, 0, b"h", Kind::Hash)
        .ok()
        .flatten()
        .expect("hash");
    let mut rng = Rng(9);
    // Each pick is "f<i>" + "v<i>": 4 to 8 bytes.
    let ok = cmds::repeats(&kv, b"h", &c, 10, true, 80, &mut rng);
    assert!(matches!(ok, Ok(ref picks) if picks.len() == 10));
    let refused = cmds::repeats(&kv, b"h", &c, 100, true, 80, &mut rng);
    assert!(matches!(refused, Err(Stop::Reply(ref r)) if *r == err("ERR value is out of range")));
}

#[test]
fn commands_name_their_key_and_table_rows_match_redis() {
    let Ok(Command::Write(w)) = parse(&argv(&["HSET", "k", "f", "v"])) else {
        panic!()
    };
    assert_eq!(w.keys(), vec![&b"k"[..]]);
    let Ok(Command::Read(r)) = parse(&argv(&["HRANDFIELD", "k", "1"])) else {
        panic!()
    };
    assert_eq!(r.keys(), vec![&b"k"[..]]);
    let spec = |name: &str| super::super::table::lookup(name.as_bytes()).expect(name);
    assert_eq!(spec("hgetall").acl_categories(), ["read", "hash", "slow"]);
    assert_eq!(spec("hset").acl_categories(), ["write", "hash", "fast"]);
    assert_eq!(spec("HSCAN").arity, -3);
    assert_eq!(TABLE.len(), 16);
}
