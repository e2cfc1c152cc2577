//! Tests of SET's family and GETEX against the in-memory store.

use super::super::testkv::{bulk, err, run, MemKv};
use crate::reply::Reply;

const SYNTAX: &str = "ERR syntax error";

fn ttl_of(kv: &MemKv, key: &str) -> Option<u64> {
    kv.record(key).and_then(|r| r.expire_at_ms)
}

#[test]
fn plain_set_overwrites_and_clears_ttl() {
    let mut kv = MemKv::default();
    kv.put_str("k", "old", Some(500));
    assert_eq!(run(&mut kv, 100, &["SET", "k", "v"]), Reply::ok());
    assert_eq!(kv.value("k").as_deref(), Some("v"));
    assert_eq!(ttl_of(&kv, "k"), None);
    assert_eq!(run(&mut kv, 100, &["set", "k2", ""]), Reply::ok());
    assert_eq!(kv.value("k2").as_deref(), Some(""));
}

#[test]
fn expiry_options_are_stamped_from_log_time() {
    let mut kv = MemKv::default();
    assert_eq!(
        run(&mut kv, 1_000, &["SET", "a", "1", "EX", "10"]),
        Reply::ok()
    );
    assert_eq!(ttl_of(&kv, "a"), Some(11_000));
    assert_eq!(
        run(&mut kv, 1_000, &["SET", "b", "1", "px", "10"]),
        Reply::ok()
    );
    assert_eq!(ttl_of(&kv, "b"), Some(1_010));
    assert_eq!(
        run(&mut kv, 1_000, &["SET", "c", "1", "EXAT", "5"]),
        Reply::ok()
    );
    assert_eq!(ttl_of(&kv, "c"), Some(5_000));
    assert_eq!(
        run(&mut kv, 1_000, &["SET", "d", "1", "PXAT", "7000"]),
        Reply::ok()
    );
    assert_eq!(ttl_of(&kv, "d"), Some(7_000));
    assert_eq!(
        run(&mut kv, 1_000, &["SET", "d", "2", "KEEPTTL"]),
        Reply::ok()
    );
    assert_eq!(ttl_of(&kv, "d"), Some(7_000));
    // An absolute time already past: the write happens and the key is gone.
    assert_eq!(
        run(&mut kv, 1_000, &["SET", "e", "1", "PXAT", "999"]),
        Reply::ok()
    );
    assert!(kv.record("e").is_none());
    // Repeating the same option is allowed; the last one wins.
    assert_eq!(
        run(&mut kv, 0, &["SET", "f", "1", "EX", "1", "EX", "2"]),
        Reply::ok()
    );
    assert_eq!(ttl_of(&kv, "f"), Some(2_000));
}

#[test]
fn expiry_errors() {
    let mut kv = MemKv::default();
    let invalid = "ERR invalid expire time in 'set' command";
    assert_eq!(run(&mut kv, 0, &["SET", "k", "v", "EX", "0"]), err(invalid));
    assert_eq!(
        run(&mut kv, 0, &["SET", "k", "v", "EX", "-1"]),
        err(invalid)
    );
    assert_eq!(run(&mut kv, 0, &["SET", "k", "v", "PX", "0"]), err(invalid));
    assert_eq!(
        run(&mut kv, 0, &["SET", "k", "v", "EXAT", "0"]),
        err(invalid)
    );
    assert_eq!(
        run(&mut kv, 0, &["SET", "k", "v", "EX", "9223372036854776"]),
        err(invalid)
    );
    assert_eq!(
        run(&mut kv, 0, &["SET", "k", "v", "EX", "9223372036854775"]),
        Reply::ok()
    );
    // Overflow only shows when the log time is added.
    assert_eq!(
        run(&mut kv, 10, &["SET", "k", "v", "PX", "9223372036854775807"]),
        err(invalid)
    );
    assert_eq!(
        run(&mut kv, 0, &["SET", "k", "v", "EX", "1.5"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        run(&mut kv, 0, &["SETEX", "k", "0", "v"]),
        err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(
        run(&mut kv, 0, &["PSETEX", "k", "-5", "v"]),
        err("ERR invalid expire time in 'psetex' command")
    );
    assert!(kv
        .record("k")
        .is_some_and(|r| r.expire_at_ms == Some(9_223_372_036_854_775_000)));
}

#[test]
fn option_conflicts_are_syntax_errors() {
    let mut kv = MemKv::default();
    for line in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "XX", "NX"],
        &["SET", "k", "v", "EX", "1", "PX", "1"],
        &["SET", "k", "v", "EX", "1", "KEEPTTL"],
        &["SET", "k", "v", "KEEPTTL", "PXAT", "1"],
        &["SET", "k", "v", "EXAT", "1", "PXAT", "1"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "IFEQ"],
        &["SET", "k", "v", "NX", "IFEQ", "v"],
        &["SET", "k", "v", "IFEQ", "a", "IFNE", "b"],
        &["SET", "k", "v", "IFNE", "a", "XX"],
        &["SET", "k", "v", "PERSIST"],
        &["SET", "k", "v", "BOGUS"],
        &["SET", "k", "v", "EX", "abc", "NX", "XX"],
    ] {
        assert_eq!(run(&mut kv, 0, line), err(SYNTAX), "{line:?}");
    }
    assert!(kv.map.is_empty());
    assert_eq!(
        run(&mut kv, 0, &["SET", "k"]),
        err("ERR wrong number of arguments for 'set' command")
    );
}

#[test]
fn nx_xx_and_get() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["SET", "k", "1", "XX"]), Reply::Nil);
    assert_eq!(run(&mut kv, 0, &["SET", "k", "1", "NX"]), Reply::ok());
    assert_eq!(run(&mut kv, 0, &["SET", "k", "2", "NX"]), Reply::Nil);
    assert_eq!(run(&mut kv, 0, &["SET", "k", "3", "XX", "GET"]), bulk("1"));
    assert_eq!(run(&mut kv, 0, &["SET", "k", "4", "NX", "GET"]), bulk("3"));
    assert_eq!(kv.value("k").as_deref(), Some("3"));
    assert_eq!(run(&mut kv, 0, &["SET", "new", "x", "GET"]), Reply::Nil);
    assert_eq!(kv.value("new").as_deref(), Some("x"));
    // An expired record counts as absent for NX.
    kv.put_str("old", "o", Some(10));
    assert_eq!(
        run(&mut kv, 10, &["SET", "old", "n", "NX", "GET"]),
        Reply::Nil
    );
    assert_eq!(kv.value("old").as_deref(), Some("n"));
}

#[test]
fn ifeq_and_ifne() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["SET", "k", "v", "IFEQ", "v"]), Reply::Nil);
    assert!(kv.record("k").is_none());
    assert_eq!(
        run(&mut kv, 0, &["SET", "k", "v", "IFNE", "x"]),
        Reply::ok()
    );
    assert_eq!(
        run(&mut kv, 0, &["SET", "k", "w", "IFEQ", "nope"]),
        Reply::Nil
    );
    assert_eq!(
        run(&mut kv, 0, &["SET", "k", "w", "IFEQ", "v", "GET"]),
        bulk("v")
    );
    assert_eq!(
        run(&mut kv, 0, &["SET", "k", "z", "IFNE", "w", "GET"]),
        bulk("w")
    );
    assert_eq!(
        run(&mut kv, 0, &["SET", "k", "z", "IFNE", "q", "PX", "5"]),
        Reply::ok()
    );
    assert_eq!(ttl_of(&kv, "k"), Some(5));
}

#[test]
fn setnx_setex_psetex_getset() {
    let mut kv = MemKv::default();
    assert_eq!(run(&mut kv, 0, &["SETNX", "k", "1"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["SETNX", "k", "2"]), Reply::Int(0));
    assert_eq!(run(&mut kv, 0, &["SETEX", "k", "3", "v"]), Reply::ok());
    assert_eq!(ttl_of(&kv, "k"), Some(3_000));
    assert_eq!(run(&mut kv, 0, &["PSETEX", "k", "3", "v"]), Reply::ok());
    assert_eq!(ttl_of(&kv, "k"), Some(3));
    assert_eq!(run(&mut kv, 0, &["GETSET", "k", "new"]), bulk("v"));
    assert_eq!(ttl_of(&kv, "k"), None);
    assert_eq!(run(&mut kv, 0, &["GETSET", "other", "x"]), Reply::Nil);
    assert_eq!(
        run(&mut kv, 0, &["SETEX", "k", "x", "v"]),
        err("ERR value is not an integer or out of range")
    );
}

#[test]
fn getex_options() {
    let mut kv = MemKv::default();
    kv.put_str("k", "v", Some(50_000));
    assert_eq!(run(&mut kv, 0, &["GETEX", "k"]), bulk("v"));
    assert_eq!(ttl_of(&kv, "k"), Some(50_000));
    assert_eq!(run(&mut kv, 1_000, &["GETEX", "k", "EX", "10"]), bulk("v"));
    assert_eq!(ttl_of(&kv, "k"), Some(11_000));
    assert_eq!(run(&mut kv, 1_000, &["GETEX", "k", "PX", "10"]), bulk("v"));
    assert_eq!(ttl_of(&kv, "k"), Some(1_010));
    assert_eq!(run(&mut kv, 1_000, &["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_eq!(ttl_of(&kv, "k"), None);
    assert_eq!(run(&mut kv, 1_000, &["GETEX", "k", "EXAT", "2"]), bulk("v"));
    assert_eq!(ttl_of(&kv, "k"), Some(2_000));
    // A past absolute time deletes the key after returning it.
    assert_eq!(
        run(&mut kv, 1_000, &["GETEX", "k", "PXAT", "1000"]),
        bulk("v")
    );
    assert!(kv.record("k").is_none());
    // Errors about the time come after the lookup: a missing key answers nil.
    assert_eq!(
        run(&mut kv, 0, &["GETEX", "missing", "EX", "abc"]),
        Reply::Nil
    );
    kv.put_str("k", "v", None);
    assert_eq!(
        run(&mut kv, 0, &["GETEX", "k", "EX", "0"]),
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(
        run(&mut kv, 0, &["GETEX", "k", "EX", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    for line in [
        &["GETEX", "k", "EX", "1", "PX", "1"][..],
        &["GETEX", "k", "PERSIST", "EX", "1"],
        &["GETEX", "k", "KEEPTTL"],
        &["GETEX", "k", "NX"],
        &["GETEX", "k", "EX"],
    ] {
        assert_eq!(run(&mut kv, 0, line), err(SYNTAX), "{line:?}");
    }
    assert_eq!(ttl_of(&kv, "k"), None);
}
