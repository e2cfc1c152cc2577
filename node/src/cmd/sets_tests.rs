//! Tests of the set family against the in-memory store: replies and errors as Redis 7.0's,
//! empty sets disappearing, types, expiry, the writes and the set algebra. SSCAN, random picks
//! and read bounds are in `sets_hash_tests.rs`.

use std::collections::{BTreeMap, BTreeSet};

use tanli_storage::{KvRead, Record};

use super::super::hashorder::hash_entry;
use super::super::testkv::{argv, bulk, err, run, MemKv};
use super::super::{parse, Command, ReadCtx};
use super::{BY_HASH, MEMBERS};
use crate::reply::Reply;

#[path = "sets_hash_tests.rs"]
mod hash_order;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const SYNTAX: &str = "ERR syntax error";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// Members of a Set or Array reply of bulk strings, in reply order.
fn items(reply: &Reply) -> Vec<String> {
    let (Reply::Set(v) | Reply::Array(v)) = reply else {
        panic!("not an aggregate: {reply:?}")
    };
    v.iter()
        .map(|r| match r {
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("not a bulk string: {other:?}"),
        })
        .collect()
}

fn sorted(reply: &Reply) -> Vec<String> {
    let mut v = items(reply);
    v.sort();
    v
}

fn set_of(names: &[&str]) -> Reply {
    Reply::Set(names.iter().map(|n| bulk(n)).collect())
}

/// SADD of `prefix0..prefix{n-1}` at time 0.
fn fill(kv: &mut MemKv, key: &str, prefix: &str, n: usize) {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let mut line = vec!["SADD", key];
    line.extend(names.iter().map(String::as_str));
    assert_eq!(run(kv, 0, &line), Reply::Int(n as i64));
}

/// Runs a read with a chosen random seed.
fn read_seeded(kv: &dyn KvRead, random: u64, line: &[&str]) -> Reply {
    let Ok(Command::Read(r)) = parse(&argv(line)) else {
        panic!("{line:?} is not a read")
    };
    r.execute_keyed(kv, &ReadCtx { now_ms: 0, random })
        .expect("in-memory storage does not fail")
}

/// Both element spaces of `key` hold exactly `len` members, in step.
fn assert_consistent(kv: &MemKv, key: &str, len: usize) {
    let elements = kv.elements(key);
    let by_member: Vec<&[u8]> = elements
        .iter()
        .filter(|(t, _, _)| *t == MEMBERS)
        .map(|(_, m, _)| m.as_slice())
        .collect();
    let mut by_hash: Vec<Vec<u8>> = elements
        .iter()
        .filter(|(t, _, _)| *t == BY_HASH)
        .map(|(_, e, _)| e.clone())
        .collect();
    by_hash.sort();
    let mut expected: Vec<Vec<u8>> = by_member.iter().map(|m| hash_entry(m)).collect();
    expected.sort();
    assert_eq!(by_member.len(), len, "{key}");
    assert_eq!(by_hash, expected, "{key}");
    assert_eq!(elements.len(), 2 * len, "{key}: no other element space");
    let meta = kv
        .record(key)
        .and_then(Record::coll_meta)
        .map_or(0, |m| m.len);
    assert_eq!(meta, len as u64, "{key}: metadata length");
}

#[test]
fn sadd_srem_scard_and_the_empty_set_disappears() {
    let mut kv = MemKv::default();
    assert_eq!(
        run(&mut kv, 0, &["SADD", "s", "b", "a", "b"]),
        Reply::Int(2)
    );
    assert_eq!(run(&mut kv, 0, &["SADD", "s", "a", "c"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["SCARD", "s"]), Reply::Int(3));
    assert_eq!(run(&mut kv, 0, &["TYPE", "s"]), Reply::Simple("set".into()));
    assert_consistent(&kv, "s", 3);
    assert_eq!(
        run(&mut kv, 0, &["SREM", "s", "zz", "a", "a"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut kv, 0, &["SREM", "nokey", "a"]), Reply::Int(0));
    assert_consistent(&kv, "s", 2);
    assert_eq!(run(&mut kv, 0, &["SREM", "s", "b", "c"]), Reply::Int(2));
    assert!(kv.record("s").is_none());
    assert!(kv.elements("s").is_empty());
    assert_eq!(run(&mut kv, 0, &["SCARD", "s"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["EXISTS", "s"]), Reply::Int(0));
}

#[test]
fn a_write_that_changes_nothing_stores_nothing() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SADD", "s", "a"]);
    let stamp = kv.record("s").map(|r| r.stamp);
    assert_eq!(run(&mut kv, 0, &["SADD", "s", "a"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["SREM", "s", "b"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["SPOP", "s", "0"]), Reply::Set(vec![]));
    assert_eq!(kv.record("s").map(|r| r.stamp), stamp);
}

#[test]
fn read_replies_have_redis_shapes() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SADD", "s", "x", "a"]);
    assert_eq!(run(&mut kv, 0, &["SMEMBERS", "s"]), set_of(&["a", "x"]));
    assert_eq!(run(&mut kv, 0, &["SMEMBERS", "nokey"]), Reply::Set(vec![]));
    assert_eq!(run(&mut kv, 0, &["SISMEMBER", "s", "a"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["SISMEMBER", "s", "b"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["SISMEMBER", "nokey", "a"]), Reply::Int(0));
    assert_eq!(
        run(&mut kv, 0, &["SMISMEMBER", "s", "a", "zz", "x", "a"]),
        Reply::Array(vec![
            Reply::Int(1),
            Reply::Int(0),
            Reply::Int(1),
            Reply::Int(1)
        ])
    );
    assert_eq!(
        run(&mut kv, 0, &["SMISMEMBER", "nokey", "a"]),
        Reply::Array(vec![Reply::Int(0)])
    );
    assert_eq!(run(&mut kv, 0, &["SCARD", "nokey"]), Reply::Int(0));
    // Binary-safe members, the empty one included.
    assert_eq!(
        run(&mut kv, 0, &["SADD", "b", "", "\0\u{1}"]),
        Reply::Int(2)
    );
    assert_eq!(
        run(&mut kv, 0, &["SMEMBERS", "b"]),
        set_of(&["", "\0\u{1}"])
    );
    assert_eq!(run(&mut kv, 0, &["SISMEMBER", "b", ""]), Reply::Int(1));
}

#[test]
fn arity_and_syntax_errors_use_redis_texts() {
    let mut kv = MemKv::default();
    let arity = |name: &str| {
        err(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    };
    for (line, name) in [
        (&["SADD", "s"][..], "sadd"),
        (&["SREM", "s"], "srem"),
        (&["SMEMBERS"], "smembers"),
        (&["SMEMBERS", "s", "x"], "smembers"),
        (&["SISMEMBER", "s"], "sismember"),
        (&["SMISMEMBER", "s"], "smismember"),
        (&["SCARD", "s", "x"], "scard"),
        (&["SPOP"], "spop"),
        (&["SRANDMEMBER"], "srandmember"),
        (&["SINTER"], "sinter"),
        (&["SUNION"], "sunion"),
        (&["SDIFF"], "sdiff"),
        (&["SINTERSTORE", "d"], "sinterstore"),
        (&["SUNIONSTORE", "d"], "sunionstore"),
        (&["SDIFFSTORE", "d"], "sdiffstore"),
        (&["SMOVE", "a", "b"], "smove"),
        (&["SMOVE", "a", "b", "c", "d"], "smove"),
        (&["SSCAN", "s"], "sscan"),
    ] {
        assert_eq!(run(&mut kv, 0, line), arity(name), "{line:?}");
    }
    assert_eq!(run(&mut kv, 0, &["SPOP", "s", "1", "2"]), err(SYNTAX));
    assert_eq!(run(&mut kv, 0, &["SPOP", "s", "x", "2"]), err(SYNTAX));
    assert_eq!(
        run(&mut kv, 0, &["SRANDMEMBER", "s", "1", "2"]),
        err(SYNTAX)
    );
}

#[test]
fn wrong_type_both_ways() {
    let mut kv = MemKv::default();
    kv.put_str("str", "v", None);
    run(&mut kv, 0, &["SADD", "s", "a"]);
    for line in [
        &["SADD", "str", "a"][..],
        &["SREM", "str", "a"],
        &["SMEMBERS", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SCARD", "str"],
        &["SPOP", "str"],
        &["SPOP", "str", "1"],
        &["SPOP", "str", "0"],
        &["SRANDMEMBER", "str"],
        &["SRANDMEMBER", "str", "0"],
        &["SRANDMEMBER", "str", "-3"],
        &["SINTER", "s", "str"],
        &["SINTER", "nokey", "str"],
        &["SINTER", "str", "nokey"],
        &["SUNION", "nokey", "str"],
        &["SDIFF", "nokey", "str"],
        &["SDIFF", "s", "str"],
        &["SINTERSTORE", "d", "s", "str"],
        &["SUNIONSTORE", "d", "str"],
        &["SDIFFSTORE", "d", "nokey", "str"],
        &["SMOVE", "str", "s", "a"],
        &["SMOVE", "s", "str", "a"],
        &["SMOVE", "s", "str", "zz"],
        &["SSCAN", "str", "0"],
        &["SSCAN", "str", "0", "BOGUS"],
    ] {
        assert_eq!(run(&mut kv, 0, line), err(WRONGTYPE), "{line:?}");
    }
    for line in [
        &["GET", "s"][..],
        &["APPEND", "s", "x"],
        &["INCR", "s"],
        &["STRLEN", "s"],
    ] {
        assert_eq!(run(&mut kv, 0, line), err(WRONGTYPE), "{line:?}");
    }
    // Nothing changed, and a failed STORE did not touch its destination.
    assert_eq!(kv.value("str").as_deref(), Some("v"));
    assert_consistent(&kv, "s", 1);
    assert!(kv.record("d").is_none());
    // Argument errors come before the type check, as in Redis.
    assert_eq!(run(&mut kv, 0, &["SPOP", "str", "-1"]), err(NOT_POSITIVE));
    assert_eq!(run(&mut kv, 0, &["SRANDMEMBER", "str", "x"]), err(NOT_INT));
    assert_eq!(
        run(&mut kv, 0, &["SSCAN", "str", "x"]),
        err("ERR invalid cursor")
    );
}

#[test]
fn an_expired_set_is_absent() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SADD", "s", "a", "b"]);
    run(&mut kv, 0, &["SADD", "t", "a"]);
    assert_eq!(run(&mut kv, 0, &["PEXPIRE", "s", "10"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 9, &["SCARD", "s"]), Reply::Int(2));
    for (line, reply) in [
        (&["SCARD", "s"][..], Reply::Int(0)),
        (&["SMEMBERS", "s"], Reply::Set(vec![])),
        (&["SISMEMBER", "s", "a"], Reply::Int(0)),
        (&["SRANDMEMBER", "s"], Reply::Nil),
        (&["SRANDMEMBER", "s", "2"], Reply::Array(vec![])),
        (&["SINTER", "s", "t"], Reply::Set(vec![])),
        (&["SUNION", "s", "t"], set_of(&["a"])),
        (
            &["SSCAN", "s", "0"],
            Reply::Array(vec![bulk("0"), Reply::Array(vec![])]),
        ),
        (&["SMOVE", "s", "t", "b"], Reply::Int(0)),
        (&["SPOP", "s"], Reply::Nil),
        (&["SREM", "s", "a"], Reply::Int(0)),
    ] {
        assert_eq!(run(&mut kv, 10, line), reply, "{line:?}");
    }
    // A write replaces it with a new set without expiry; the old members are gone.
    run(&mut kv, 0, &["SADD", "e", "a", "b"]);
    run(&mut kv, 0, &["PEXPIRE", "e", "10"]);
    assert_eq!(run(&mut kv, 10, &["SADD", "e", "c"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 10, &["SMEMBERS", "e"]), set_of(&["c"]));
    assert_eq!(kv.record("e").and_then(|r| r.expire_at_ms), None);
    assert_consistent(&kv, "e", 1);
}

#[test]
fn spop_replies_and_removes() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["SPOP", "nokey"]), Reply::Nil);
    assert_eq!(run(&mut kv, 0, &["SPOP", "nokey", "3"]), Reply::Set(vec![]));
    assert_eq!(run(&mut kv, 0, &["SPOP", "nokey", "0"]), Reply::Set(vec![]));
    for bad in ["-1", "x", "1.5", "", "9223372036854775808"] {
        assert_eq!(
            run(&mut kv, 0, &["SPOP", "s", bad]),
            err(NOT_POSITIVE),
            "{bad}"
        );
    }
    fill(&mut kv, "s", "m", 10);
    let Reply::Bulk(one) = run(&mut kv, 0, &["SPOP", "s"]) else {
        panic!("bulk expected")
    };
    let one = String::from_utf8(one).expect("utf8");
    assert!(one.starts_with('m'));
    assert_eq!(run(&mut kv, 0, &["SISMEMBER", "s", &one]), Reply::Int(0));
    assert_consistent(&kv, "s", 9);
    let three = run(&mut kv, 0, &["SPOP", "s", "3"]);
    assert!(
        matches!(three, Reply::Set(_)),
        "SPOP with a count replies a set"
    );
    let three = sorted(&three);
    assert_eq!(three.iter().collect::<BTreeSet<_>>().len(), 3, "distinct");
    assert!(!three.contains(&one));
    assert_consistent(&kv, "s", 6);
    let rest = run(&mut kv, 0, &["SPOP", "s", "100"]);
    assert_eq!(items(&rest).len(), 6);
    assert!(kv.record("s").is_none());
    assert!(kv.elements("s").is_empty());
    // The last single SPOP deletes the key too.
    run(&mut kv, 0, &["SADD", "one", "x"]);
    assert_eq!(run(&mut kv, 0, &["SPOP", "one"]), bulk("x"));
    assert!(kv.record("one").is_none());
    assert!(kv.elements("one").is_empty());
}

#[test]
fn spop_is_deterministic_at_apply() {
    let mut a = MemKv::default();
    fill(&mut a, "s", "m", 1_000);
    let mut b = a.clone();
    for line in [
        &["SPOP", "s"][..],
        &["SPOP", "s", "5"],
        &["SPOP", "s", "400"],
    ] {
        assert_eq!(run(&mut a, 0, line), run(&mut b, 0, line), "{line:?}");
    }
    assert_eq!(a.subs, b.subs);
    // Repeated pops differ (the seed is fresh for every log entry).
    let p1 = run(&mut a, 0, &["SPOP", "s", "5"]);
    let p2 = run(&mut a, 0, &["SPOP", "s", "5"]);
    assert_ne!(sorted(&p1), sorted(&p2));
}

#[test]
fn spop_from_a_big_set_pops_distinct_members() {
    let mut kv = MemKv::default();
    fill(&mut kv, "s", "m", 1_000);
    let popped = sorted(&run(&mut kv, 0, &["SPOP", "s", "200"]));
    assert_eq!(popped.iter().collect::<BTreeSet<_>>().len(), 200);
    assert_consistent(&kv, "s", 800);
    for m in &popped {
        assert_eq!(run(&mut kv, 0, &["SISMEMBER", "s", m]), Reply::Int(0));
    }
    // Reading-whole path (count >= len / 3) as well.
    let popped = sorted(&run(&mut kv, 0, &["SPOP", "s", "500"]));
    assert_eq!(popped.iter().collect::<BTreeSet<_>>().len(), 500);
    assert_consistent(&kv, "s", 300);
}

#[test]
fn srandmember_replies() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["SRANDMEMBER", "nokey"]), Reply::Nil);
    for count in ["3", "-3", "0"] {
        let reply = run(&mut kv, 0, &["SRANDMEMBER", "nokey", count]);
        assert_eq!(reply, Reply::Array(vec![]), "{count}");
    }
    assert_eq!(run(&mut kv, 0, &["SRANDMEMBER", "s", "x"]), err(NOT_INT));
    assert_eq!(
        run(&mut kv, 0, &["SRANDMEMBER", "s", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        run(&mut kv, 0, &["SRANDMEMBER", "s", "-1000001"]),
        err("ERR value is out of range, a negative count must be at least -1000000")
    );
    fill(&mut kv, "s", "m", 8);
    let all: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
    let Reply::Bulk(one) = run(&mut kv, 0, &["SRANDMEMBER", "s"]) else {
        panic!("bulk expected")
    };
    assert!(all.contains(&String::from_utf8(one).expect("utf8")));
    assert_eq!(
        run(&mut kv, 0, &["SRANDMEMBER", "s", "0"]),
        Reply::Array(vec![])
    );
    for count in ["8", "20", "9223372036854775807"] {
        let reply = run(&mut kv, 0, &["SRANDMEMBER", "s", count]);
        assert!(matches!(reply, Reply::Array(_)), "an array, not a set");
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(sorted(&reply), expected, "{count}");
    }
    for seed in 0..50 {
        let picks = items(&read_seeded(&kv, seed, &["SRANDMEMBER", "s", "5"]));
        assert_eq!(picks.iter().collect::<BTreeSet<_>>().len(), 5);
        assert!(picks.iter().all(|p| all.contains(p)));
        let repeats = items(&read_seeded(&kv, seed, &["SRANDMEMBER", "s", "-20"]));
        assert_eq!(repeats.len(), 20);
        assert!(repeats.iter().all(|p| all.contains(p)));
    }
    // Nothing was removed.
    assert_consistent(&kv, "s", 8);
}

#[test]
fn set_algebra() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SADD", "a", "1", "2", "3", "4"]);
    run(&mut kv, 0, &["SADD", "b", "2", "3", "5"]);
    run(&mut kv, 0, &["SADD", "c", "3", "4", "5", "6"]);
    for (line, expected) in [
        (&["SINTER", "a", "b"][..], &["2", "3"][..]),
        (&["SINTER", "a", "b", "c"], &["3"]),
        (&["SINTER", "a"], &["1", "2", "3", "4"]),
        (&["SINTER", "a", "a"], &["1", "2", "3", "4"]),
        (&["SINTER", "a", "nokey"], &[]),
        (&["SINTER", "nokey", "a"], &[]),
        (&["SUNION", "a", "b"], &["1", "2", "3", "4", "5"]),
        (
            &["SUNION", "a", "nokey", "c"],
            &["1", "2", "3", "4", "5", "6"],
        ),
        (&["SUNION", "nokey"], &[]),
        (&["SDIFF", "a", "b"], &["1", "4"]),
        (&["SDIFF", "a", "b", "c"], &["1"]),
        (&["SDIFF", "a", "nokey"], &["1", "2", "3", "4"]),
        (&["SDIFF", "nokey", "a"], &[]),
        (&["SDIFF", "a", "a"], &[]),
        (&["SDIFF", "a"], &["1", "2", "3", "4"]),
    ] {
        assert_eq!(run(&mut kv, 0, line), set_of(expected), "{line:?}");
    }
}

#[test]
fn set_algebra_on_big_sets_pages_merges_and_probes() {
    let mut kv = MemKv::default();
    // Sizes chosen so that SINTER and SDIFF merge with some sets and probe others, over several
    // pages of the walked set.
    let spec: [(&str, usize, usize); 4] = [
        ("a", 3_000, 1),
        ("b", 20_000, 2),
        ("c", 2_500, 3),
        ("d", 40, 7),
    ];
    let mut model: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (key, n, step) in spec {
        let names: Vec<String> = (0..n).map(|i| format!("{:06}", i * step)).collect();
        for chunk in names.chunks(1_000) {
            let mut line = vec!["SADD", key];
            line.extend(chunk.iter().map(String::as_str));
            run(&mut kv, 0, &line);
        }
        model.insert(key, names.into_iter().collect());
    }
    let inter = |keys: &[&str]| -> Vec<String> {
        let mut it = keys.iter().map(|k| model[k].clone());
        let first = it.next().unwrap_or_default();
        it.fold(first, |acc, s| acc.intersection(&s).cloned().collect())
            .into_iter()
            .collect()
    };
    let diff = |keys: &[&str]| -> Vec<String> {
        let mut out = model[keys[0]].clone();
        for k in &keys[1..] {
            out.retain(|m| !model[k].contains(m));
        }
        out.into_iter().collect()
    };
    for keys in [
        &["a", "b"][..],
        &["b", "a", "c"],
        &["a", "c"],
        &["b", "d"],
        &["a", "b", "c", "d"],
    ] {
        let mut line = vec!["SINTER"];
        line.extend(keys);
        assert_eq!(sorted(&run(&mut kv, 0, &line)), inter(keys), "{line:?}");
        line[0] = "SDIFF";
        assert_eq!(sorted(&run(&mut kv, 0, &line)), diff(keys), "{line:?}");
    }
    let union: BTreeSet<String> = model.values().flatten().cloned().collect();
    let reply = run(&mut kv, 0, &["SUNION", "a", "b", "c", "d"]);
    assert_eq!(sorted(&reply), union.into_iter().collect::<Vec<_>>());
}

#[test]
fn store_commands_overwrite_or_delete_the_destination() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SADD", "a", "1", "2", "3"]);
    run(&mut kv, 0, &["SADD", "b", "2", "3", "4"]);
    // Overwrites a string, and clears a TTL.
    kv.put_str("d", "str", Some(1_000));
    assert_eq!(
        run(&mut kv, 0, &["SINTERSTORE", "d", "a", "b"]),
        Reply::Int(2)
    );
    assert_eq!(run(&mut kv, 0, &["SMEMBERS", "d"]), set_of(&["2", "3"]));
    assert_eq!(kv.record("d").and_then(|r| r.expire_at_ms), None);
    assert_consistent(&kv, "d", 2);
    // Replaces an existing set: the old members are gone.
    assert_eq!(run(&mut kv, 0, &["SUNIONSTORE", "d", "b"]), Reply::Int(3));
    assert_eq!(
        run(&mut kv, 0, &["SMEMBERS", "d"]),
        set_of(&["2", "3", "4"])
    );
    assert_consistent(&kv, "d", 3);
    assert_eq!(
        run(&mut kv, 0, &["SDIFFSTORE", "d", "a", "b"]),
        Reply::Int(1)
    );
    assert_eq!(run(&mut kv, 0, &["SMEMBERS", "d"]), set_of(&["1"]));
    assert_consistent(&kv, "d", 1);
    // The destination may be a source.
    assert_eq!(
        run(&mut kv, 0, &["SUNIONSTORE", "a", "a", "b"]),
        Reply::Int(4)
    );
    assert_eq!(
        run(&mut kv, 0, &["SMEMBERS", "a"]),
        set_of(&["1", "2", "3", "4"])
    );
    assert_consistent(&kv, "a", 4);
    assert_eq!(run(&mut kv, 0, &["SDIFFSTORE", "a", "a"]), Reply::Int(4));
    assert_consistent(&kv, "a", 4);
    // An empty result deletes the destination, whatever it held.
    assert_eq!(
        run(&mut kv, 0, &["SINTERSTORE", "d", "a", "nokey"]),
        Reply::Int(0)
    );
    assert!(kv.record("d").is_none());
    assert!(kv.elements("d").is_empty());
    kv.put_str("d", "str", None);
    assert_eq!(
        run(&mut kv, 0, &["SDIFFSTORE", "d", "nokey"]),
        Reply::Int(0)
    );
    assert!(kv.record("d").is_none());
    assert_eq!(
        run(&mut kv, 0, &["SDIFFSTORE", "a", "a", "b", "a"]),
        Reply::Int(0)
    );
    assert!(kv.record("a").is_none());
    assert!(kv.elements("a").is_empty());
    assert_eq!(
        run(&mut kv, 0, &["SUNIONSTORE", "none", "nokey"]),
        Reply::Int(0)
    );
    assert!(kv.record("none").is_none());
}

#[test]
fn smove() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SADD", "s", "a", "b"]);
    kv.put_str("str", "v", None);
    // Same key: a no-op that says whether the member is there.
    assert_eq!(run(&mut kv, 0, &["SMOVE", "s", "s", "a"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["SMOVE", "s", "s", "zz"]), Reply::Int(0));
    assert_consistent(&kv, "s", 2);
    // A missing source answers 0 before the destination's type is looked at.
    assert_eq!(
        run(&mut kv, 0, &["SMOVE", "nokey", "str", "a"]),
        Reply::Int(0)
    );
    assert_eq!(run(&mut kv, 0, &["SMOVE", "s", "str", "a"]), err(WRONGTYPE));
    assert_eq!(run(&mut kv, 0, &["SMOVE", "s", "d", "zz"]), Reply::Int(0));
    assert!(kv.record("d").is_none());
    assert_eq!(run(&mut kv, 0, &["SMOVE", "s", "d", "a"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["SMEMBERS", "d"]), set_of(&["a"]));
    assert_consistent(&kv, "s", 1);
    assert_consistent(&kv, "d", 1);
    // Already in the destination: still 1, and the source loses it.
    run(&mut kv, 0, &["SADD", "s", "a"]);
    assert_eq!(run(&mut kv, 0, &["SMOVE", "s", "d", "a"]), Reply::Int(1));
    assert_consistent(&kv, "s", 1);
    assert_consistent(&kv, "d", 1);
    // Moving the last member deletes the source.
    assert_eq!(run(&mut kv, 0, &["SMOVE", "s", "d", "b"]), Reply::Int(1));
    assert!(kv.record("s").is_none());
    assert!(kv.elements("s").is_empty());
    assert_eq!(run(&mut kv, 0, &["SMEMBERS", "d"]), set_of(&["a", "b"]));
    assert_consistent(&kv, "d", 2);
    assert_eq!(kv.value("str").as_deref(), Some("v"));
}

#[test]
fn keys_cover_every_touched_key() {
    let keys = |line: &[&str]| -> Vec<Vec<u8>> {
        match parse(&argv(line)) {
            Ok(Command::Read(r)) => r.keys().into_iter().map(<[u8]>::to_vec).collect(),
            Ok(Command::Write(w)) => w.keys().into_iter().map(<[u8]>::to_vec).collect(),
            other => panic!("{other:?}"),
        }
    };
    let v = |ks: &[&str]| -> Vec<Vec<u8>> { ks.iter().map(|k| k.as_bytes().to_vec()).collect() };
    assert_eq!(keys(&["SINTERSTORE", "d", "a", "b"]), v(&["d", "a", "b"]));
    assert_eq!(keys(&["SUNION", "a", "b", "c"]), v(&["a", "b", "c"]));
    assert_eq!(keys(&["SMOVE", "a", "b", "m"]), v(&["a", "b"]));
    assert_eq!(keys(&["SSCAN", "k", "0", "MATCH", "x"]), v(&["k"]));
    assert_eq!(keys(&["SMISMEMBER", "k", "a", "b"]), v(&["k"]));
}
