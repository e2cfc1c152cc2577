//! t10: one `tanli-server` with no cluster flags — the embedded default a newcomer runs first.
//! Command semantics through the `redis` crate, durability across kill -9, and the clear errors a
//! server gives when it cannot start.

use std::collections::HashSet;
use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tanli_tests::client::get_many;
use tanli_tests::client::{query, query_err};
use tanli_tests::node::{run_expecting_exit, ServerSpec, LOOPBACK};
use tanli_tests::raw::{RawConn, Reply};
use tanli_tests::{wait_until, Node, Writer};

/// Basic string commands answer exactly as Redis does, including the conditional forms
/// (NX, XX, GET, Redis 8's IFEQ/IFNE) that the resilience design relies on, and values are
/// binary-safe.
#[test]
fn strings_get_set_and_conditional_sets() {
    let node = Node::start_single();
    let mut c = node.conn();

    assert_eq!(query::<String>(&mut c, &["SET", "s1", "v1"]), "OK");
    assert_eq!(
        query::<Option<String>>(&mut c, &["GET", "s1"]),
        Some("v1".into())
    );
    assert_eq!(query::<Option<String>>(&mut c, &["GET", "missing"]), None);

    assert_eq!(
        query::<Option<String>>(&mut c, &["SET", "s1", "v2", "NX"]),
        None
    );
    assert_eq!(query::<String>(&mut c, &["GET", "s1"]), "v1");
    assert_eq!(
        query::<Option<String>>(&mut c, &["SET", "s1", "v2", "XX"]),
        Some("OK".into())
    );
    assert_eq!(query::<String>(&mut c, &["GET", "s1"]), "v2");
    assert_eq!(
        query::<Option<String>>(&mut c, &["SET", "s2", "v", "XX"]),
        None
    );
    assert_eq!(query::<i64>(&mut c, &["EXISTS", "s2"]), 0);
    assert_eq!(
        query::<Option<String>>(&mut c, &["SET", "s2", "v", "NX"]),
        Some("OK".into())
    );
    assert_eq!(
        query::<Option<String>>(&mut c, &["SET", "s1", "v3", "GET"]),
        Some("v2".into())
    );
    assert_eq!(
        query::<Option<String>>(&mut c, &["SET", "new", "n", "GET"]),
        None
    );
    assert_eq!(query::<String>(&mut c, &["GET", "s1"]), "v3");

    // Redis 8: IFEQ sets only if the current value equals, IFNE only if it differs.
    assert_eq!(
        query::<Option<String>>(&mut c, &["SET", "s1", "v4", "IFEQ", "nope"]),
        None
    );
    assert_eq!(query::<String>(&mut c, &["GET", "s1"]), "v3");
    assert_eq!(
        query::<Option<String>>(&mut c, &["SET", "s1", "v4", "IFEQ", "v3"]),
        Some("OK".into())
    );
    assert_eq!(
        query::<Option<String>>(&mut c, &["SET", "s1", "v5", "IFNE", "v4"]),
        None
    );
    assert_eq!(
        query::<Option<String>>(&mut c, &["SET", "s1", "v5", "IFNE", "zz"]),
        Some("OK".into())
    );
    assert_eq!(query::<String>(&mut c, &["GET", "s1"]), "v5");

    assert_eq!(query::<i64>(&mut c, &["SETNX", "s1", "x"]), 0);
    assert_eq!(query::<i64>(&mut c, &["SETNX", "s3", "x"]), 1);
    assert_eq!(
        query::<Option<String>>(&mut c, &["GETSET", "s3", "y"]),
        Some("x".into())
    );
    assert_eq!(
        query::<Option<String>>(&mut c, &["GETDEL", "s3"]),
        Some("y".into())
    );
    assert_eq!(query::<Option<String>>(&mut c, &["GETDEL", "s3"]), None);
    assert_eq!(query::<String>(&mut c, &["TYPE", "s1"]), "string");
    assert_eq!(query::<String>(&mut c, &["TYPE", "s3"]), "none");

    let binary: Vec<u8> = b"a\0b\r\nc\xff".to_vec();
    let set: String = redis::cmd("SET")
        .arg("bin")
        .arg(&binary)
        .query(&mut c)
        .expect("SET binary value");
    assert_eq!(set, "OK");
    let got: Vec<u8> = redis::cmd("GET")
        .arg("bin")
        .query(&mut c)
        .expect("GET binary");
    assert_eq!(got, binary);

    assert_eq!(
        query_err(&mut c, &["SET", "s1", "v", "NX", "XX"]),
        "ERR syntax error"
    );
}

/// TTLs are reported like Redis, an expired key is invisible to every read as soon as its time
/// passes (time comes from the log, so no node sees it later than another), and expired keys are
/// eventually reclaimed (DBSIZE drops back).
#[test]
fn expiry_ttl_and_invisibility() {
    let node = Node::start_single();
    let mut c = node.conn();

    assert_eq!(
        query::<String>(&mut c, &["SET", "e1", "v", "EX", "100"]),
        "OK"
    );
    let ttl: i64 = query(&mut c, &["TTL", "e1"]);
    assert!((95..=100).contains(&ttl), "TTL after EX 100 was {ttl}");
    let pttl: i64 = query(&mut c, &["PTTL", "e1"]);
    assert!(
        (95_000..=100_000).contains(&pttl),
        "PTTL after EX 100 was {pttl}"
    );
    assert_eq!(
        query::<String>(&mut c, &["SET", "e1", "w", "KEEPTTL"]),
        "OK"
    );
    assert!(
        query::<i64>(&mut c, &["TTL", "e1"]) > 0,
        "KEEPTTL kept no TTL"
    );
    assert_eq!(query::<String>(&mut c, &["SET", "e1", "w"]), "OK");
    assert_eq!(
        query::<i64>(&mut c, &["TTL", "e1"]),
        -1,
        "plain SET must clear the TTL"
    );
    assert_eq!(query::<i64>(&mut c, &["TTL", "nokey"]), -2);

    assert_eq!(query::<i64>(&mut c, &["EXPIRE", "e1", "50"]), 1);
    let ttl: i64 = query(&mut c, &["TTL", "e1"]);
    assert!((45..=50).contains(&ttl), "TTL after EXPIRE 50 was {ttl}");
    assert_eq!(query::<i64>(&mut c, &["PERSIST", "e1"]), 1);
    assert_eq!(query::<i64>(&mut c, &["PERSIST", "e1"]), 0);
    assert_eq!(query::<i64>(&mut c, &["TTL", "e1"]), -1);
    assert_eq!(query::<i64>(&mut c, &["EXPIRE", "nokey", "50"]), 0);

    assert_eq!(query::<String>(&mut c, &["SETEX", "e2", "100", "v"]), "OK");
    assert!((95..=100).contains(&query::<i64>(&mut c, &["TTL", "e2"])));
    assert_eq!(
        query::<String>(&mut c, &["PSETEX", "e3", "100000", "v"]),
        "OK"
    );
    assert!((95..=100).contains(&query::<i64>(&mut c, &["TTL", "e3"])));
    assert_eq!(
        query::<Option<String>>(&mut c, &["GETEX", "e3", "PERSIST"]),
        Some("v".into())
    );
    assert_eq!(query::<i64>(&mut c, &["TTL", "e3"]), -1);
    assert_eq!(
        query::<Option<String>>(&mut c, &["GETEX", "e3", "EX", "70"]),
        Some("v".into())
    );
    assert!((65..=70).contains(&query::<i64>(&mut c, &["TTL", "e3"])));

    // An absolute time in the past deletes the key at once.
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    assert_eq!(
        query::<i64>(&mut c, &["EXPIREAT", "e2", &(now_s - 10).to_string()]),
        1
    );
    assert_eq!(query::<Option<String>>(&mut c, &["GET", "e2"]), None);
    let future_ms = (now_s + 100) * 1000;
    assert_eq!(
        query::<i64>(&mut c, &["PEXPIREAT", "e1", &future_ms.to_string()]),
        1
    );
    assert!((95..=100).contains(&query::<i64>(&mut c, &["TTL", "e1"])));

    let baseline: i64 = query(&mut c, &["DBSIZE"]);
    // A key with 3 s left is visible now; one with 100 ms becomes invisible.
    assert_eq!(
        query::<String>(&mut c, &["SET", "slow", "v", "PX", "3000"]),
        "OK"
    );
    assert_eq!(
        query::<Option<String>>(&mut c, &["GET", "slow"]),
        Some("v".into())
    );
    let pttl: i64 = query(&mut c, &["PTTL", "slow"]);
    assert!((1..=3000).contains(&pttl), "PTTL after PX 3000 was {pttl}");
    assert_eq!(
        query::<String>(&mut c, &["SET", "fast", "v", "PX", "100"]),
        "OK"
    );
    wait_expired(&mut c, "fast");
    assert_eq!(query::<i64>(&mut c, &["EXISTS", "fast"]), 0);
    assert_eq!(query::<i64>(&mut c, &["TTL", "fast"]), -2);
    assert_eq!(query::<Option<String>>(&mut c, &["GETDEL", "fast"]), None);
    assert!(query::<Vec<String>>(&mut c, &["KEYS", "fast"]).is_empty());
    assert_eq!(query::<String>(&mut c, &["TYPE", "fast"]), "none");
    // INCR on an expired key starts from 0, like Redis.
    assert_eq!(
        query::<String>(&mut c, &["SET", "ctr", "41", "PX", "50"]),
        "OK"
    );
    wait_expired(&mut c, "ctr");
    assert_eq!(query::<i64>(&mut c, &["INCR", "ctr"]), 1);
    // A plain SET over an expired key (not yet reclaimed) and over a key with a TTL: the new
    // value has no TTL, and the old expiries reclaim nothing.
    assert_eq!(
        query::<String>(&mut c, &["SET", "over", "old", "PX", "50"]),
        "OK"
    );
    wait_expired(&mut c, "over");
    assert_eq!(query::<String>(&mut c, &["SET", "over", "new"]), "OK");
    assert_eq!(
        query::<String>(&mut c, &["SET", "ttl", "old", "PX", "300"]),
        "OK"
    );
    assert_eq!(query::<String>(&mut c, &["SET", "ttl", "new"]), "OK");
    assert_eq!(query::<i64>(&mut c, &["TTL", "over"]), -1);
    assert_eq!(query::<i64>(&mut c, &["TTL", "ttl"]), -1);

    // Expired keys are reclaimed by leader-proposed deletes: only `slow` (until it expires),
    // `ctr`, `over` and `ttl` remain beyond the baseline, then only the last three.
    wait_until(
        Duration::from_secs(20),
        "expired keys to be reclaimed",
        || {
            let size: i64 = query(&mut c, &["DBSIZE"]);
            if size == baseline + 3 {
                Ok(())
            } else {
                Err(format!("DBSIZE {size}, want {}", baseline + 3))
            }
        },
    );
    for key in ["over", "ttl"] {
        assert_eq!(
            query::<Option<String>>(&mut c, &["GET", key]),
            Some("new".into()),
            "{key}"
        );
    }
}

/// Waits (up to 5 s) until a GET of `key` finds it expired.
fn wait_expired(c: &mut redis::Connection, key: &str) {
    wait_until(
        Duration::from_secs(5),
        &format!("`{key}` to expire"),
        || match query::<Option<String>>(c, &["GET", key]) {
            None => Ok(()),
            Some(v) => Err(format!("GET {key} = {v:?}")),
        },
    );
}

/// INCR and friends: integer semantics, Redis's error texts for non-integers and overflow, and
/// INCRBYFLOAT's formatting.
#[test]
fn counters() {
    let node = Node::start_single();
    let mut c = node.conn();
    assert_eq!(query::<i64>(&mut c, &["INCR", "c"]), 1);
    assert_eq!(query::<i64>(&mut c, &["INCR", "c"]), 2);
    assert_eq!(query::<i64>(&mut c, &["INCRBY", "c", "10"]), 12);
    assert_eq!(query::<i64>(&mut c, &["DECR", "c"]), 11);
    assert_eq!(query::<i64>(&mut c, &["DECRBY", "c", "5"]), 6);
    assert_eq!(query::<i64>(&mut c, &["INCRBY", "c", "-10"]), -4);
    assert_eq!(query::<String>(&mut c, &["GET", "c"]), "-4");

    assert_eq!(query::<String>(&mut c, &["SET", "word", "abc"]), "OK");
    assert_eq!(
        query_err(&mut c, &["INCR", "word"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        query_err(&mut c, &["INCRBY", "c", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        query::<String>(&mut c, &["SET", "max", &i64::MAX.to_string()]),
        "OK"
    );
    assert_eq!(
        query_err(&mut c, &["INCR", "max"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        query::<String>(&mut c, &["GET", "max"]),
        i64::MAX.to_string()
    );

    assert_eq!(
        query::<String>(&mut c, &["INCRBYFLOAT", "f", "10.5"]),
        "10.5"
    );
    assert_eq!(
        query::<String>(&mut c, &["INCRBYFLOAT", "f", "0.1"]),
        "10.6"
    );
    assert_eq!(query::<String>(&mut c, &["INCRBYFLOAT", "f", "-5"]), "5.6");
    assert_eq!(
        query_err(&mut c, &["INCRBYFLOAT", "word", "1"]),
        "ERR value is not a valid float"
    );
}

/// Multi-key commands on keys of one hash tag (one slot, so they are valid in cluster mode too):
/// MSET/MGET with a missing key, EXISTS counting repeats, DEL/UNLINK counting only existing keys,
/// MSETNX all-or-nothing. Keys of different slots are refused with `-CROSSSLOT`, as Redis
/// Cluster does, even though this one node leads every shard — and nothing is written.
#[test]
fn multi_key_commands() {
    let node = Node::start_single();
    let mut c = node.conn();
    // "a" and "b" hash to different slots (15495 and 3300).
    for args in [
        &["MSET", "a", "1", "b", "2"][..],
        &["MGET", "a", "b"][..],
        &["DEL", "a", "b"][..],
        &["EXISTS", "a", "b"][..],
        &["MSETNX", "a", "1", "b", "2"][..],
    ] {
        let err = query_err(&mut c, args);
        assert!(err.starts_with("CROSSSLOT"), "{args:?} answered {err}");
    }
    assert_eq!(query::<i64>(&mut c, &["EXISTS", "a"]), 0);
    assert_eq!(query::<i64>(&mut c, &["EXISTS", "b"]), 0);
    assert_eq!(
        query::<String>(&mut c, &["MSET", "{m}a", "1", "{m}b", "2", "{m}c", "3"]),
        "OK"
    );
    assert_eq!(
        query::<Vec<Option<String>>>(&mut c, &["MGET", "{m}a", "{m}b", "{m}nope", "{m}c"]),
        vec![Some("1".into()), Some("2".into()), None, Some("3".into())]
    );
    assert_eq!(
        query::<i64>(&mut c, &["EXISTS", "{m}a", "{m}a", "{m}nope"]),
        2
    );
    assert_eq!(query::<i64>(&mut c, &["DEL", "{m}a", "{m}b", "{m}nope"]), 2);
    assert_eq!(query::<i64>(&mut c, &["UNLINK", "{m}c", "{m}a"]), 1);
    assert_eq!(query::<i64>(&mut c, &["EXISTS", "{m}a", "{m}b", "{m}c"]), 0);

    assert_eq!(
        query::<i64>(&mut c, &["MSETNX", "{m}x", "1", "{m}y", "2"]),
        1
    );
    assert_eq!(
        query::<i64>(&mut c, &["MSETNX", "{m}y", "3", "{m}z", "4"]),
        0
    );
    assert_eq!(
        query::<Vec<Option<String>>>(&mut c, &["MGET", "{m}x", "{m}y", "{m}z"]),
        vec![Some("1".into()), Some("2".into()), None]
    );
}

/// SCAN iterated to the end returns exactly the live keys (MATCH and TYPE filters included), KEYS
/// agrees, DBSIZE counts them, RANDOMKEY picks one, and FLUSHDB/FLUSHALL empty the store.
#[test]
fn scan_keys_dbsize_flush() {
    let node = Node::start_single();
    let mut c = node.conn();
    let scan_keys: HashSet<String> = (0..250).map(|i| format!("scan:{i}")).collect();
    let other_keys: HashSet<String> = (0..40).map(|i| format!("other:{i}")).collect();
    let mut pipe = redis::pipe();
    for key in scan_keys.iter().chain(&other_keys) {
        pipe.cmd("SET").arg(key).arg("v").ignore();
    }
    pipe.query::<()>(&mut c).expect("pipelined SETs");
    assert_eq!(query::<i64>(&mut c, &["DBSIZE"]), 290);
    let keyspace = tanli_tests::client::info(&mut c, "keyspace").expect("INFO keyspace");
    assert_eq!(
        keyspace.get("db0").map(String::as_str),
        Some("keys=290,expires=0,avg_ttl=0")
    );

    let scan = |c: &mut redis::Connection, extra: &[&str]| -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut cursor = "0".to_owned();
        for _ in 0..10_000 {
            let mut args = vec!["SCAN", cursor.as_str()];
            args.extend_from_slice(extra);
            let (next, keys): (String, Vec<String>) = query(c, &args);
            seen.extend(keys);
            if next == "0" {
                return seen;
            }
            cursor = next;
        }
        panic!("SCAN {extra:?} did not finish in 10000 calls");
    };
    assert_eq!(scan(&mut c, &["MATCH", "scan:*", "COUNT", "17"]), scan_keys);
    let all: HashSet<String> = scan_keys.union(&other_keys).cloned().collect();
    assert_eq!(scan(&mut c, &[]), all);
    assert_eq!(scan(&mut c, &["COUNT", "1000"]), all);
    assert_eq!(scan(&mut c, &["TYPE", "string", "COUNT", "7"]), all);
    assert!(scan(&mut c, &["TYPE", "list"]).is_empty());
    assert!(scan(&mut c, &["MATCH", "nothing:*"]).is_empty());

    let keys: HashSet<String> = query::<Vec<String>>(&mut c, &["KEYS", "scan:1?"])
        .into_iter()
        .collect();
    let want: HashSet<String> = (10..20).map(|i| format!("scan:{i}")).collect();
    assert_eq!(keys, want);
    assert_eq!(query::<Vec<String>>(&mut c, &["KEYS", "*"]).len(), 290);

    let random: String = query(&mut c, &["RANDOMKEY"]);
    assert!(all.contains(&random), "RANDOMKEY returned {random:?}");

    assert_eq!(query::<String>(&mut c, &["FLUSHDB"]), "OK");
    assert_eq!(query::<i64>(&mut c, &["DBSIZE"]), 0);
    assert!(scan(&mut c, &[]).is_empty());
    assert_eq!(query::<Option<String>>(&mut c, &["RANDOMKEY"]), None);
    assert_eq!(query::<Option<String>>(&mut c, &["GET", "scan:1"]), None);

    assert_eq!(query::<String>(&mut c, &["SET", "k", "v"]), "OK");
    assert_eq!(query::<String>(&mut c, &["FLUSHALL"]), "OK");
    assert_eq!(query::<i64>(&mut c, &["DBSIZE"]), 0);
    let keyspace = tanli_tests::client::info(&mut c, "keyspace").expect("INFO keyspace");
    assert!(
        keyspace
            .get("db0")
            .is_none_or(|db0| db0.starts_with("keys=0,")),
        "INFO keyspace after FLUSHALL: {keyspace:?}"
    );
}

/// INFO stats counts the record cache's hits and misses: a written key is answered from it, an
/// absent key misses once and is then known absent; what it holds stays within its bound.
#[test]
fn info_counts_record_cache_hits_and_misses() {
    let node = Node::start_single();
    let mut c = node.conn();
    let stat = |c: &mut redis::Connection, field: &str| -> u64 {
        let stats = tanli_tests::client::info(c, "stats").expect("INFO stats");
        stats
            .get(field)
            .unwrap_or_else(|| panic!("INFO stats has no {field}: {stats:?}"))
            .parse()
            .expect("a count")
    };
    assert_eq!(stat(&mut c, "record_cache_bytes_max"), 128 << 20);
    assert_eq!(query::<String>(&mut c, &["SET", "cached", "v"]), "OK");
    let (hits, misses) = (
        stat(&mut c, "record_cache_hits"),
        stat(&mut c, "record_cache_misses"),
    );
    for _ in 0..2 {
        assert_eq!(
            query::<Option<String>>(&mut c, &["GET", "cached"]),
            Some("v".into())
        );
        assert_eq!(query::<Option<String>>(&mut c, &["GET", "never:set"]), None);
    }
    // The node's own reads (none run here unprompted) could only add to the counts.
    assert!(stat(&mut c, "record_cache_hits") >= hits + 3);
    let missed = stat(&mut c, "record_cache_misses") - misses;
    assert!((1..=2).contains(&missed), "missed {missed}");
    let bytes = stat(&mut c, "record_cache_bytes");
    assert!(bytes > 0 && bytes <= 128 << 20, "{bytes}");
    assert!(stat(&mut c, "record_cache_entries") >= 2);
}

/// String editing commands: APPEND/STRLEN/GETRANGE (negative indexes)/SETRANGE (zero padding).
#[test]
fn append_strlen_getrange_setrange() {
    let node = Node::start_single();
    let mut c = node.conn();
    assert_eq!(query::<i64>(&mut c, &["APPEND", "s", "Hello"]), 5);
    assert_eq!(query::<i64>(&mut c, &["APPEND", "s", " World"]), 11);
    assert_eq!(query::<i64>(&mut c, &["STRLEN", "s"]), 11);
    assert_eq!(query::<i64>(&mut c, &["STRLEN", "nokey"]), 0);
    assert_eq!(
        query::<String>(&mut c, &["GETRANGE", "s", "0", "4"]),
        "Hello"
    );
    assert_eq!(
        query::<String>(&mut c, &["GETRANGE", "s", "-5", "-1"]),
        "World"
    );
    assert_eq!(
        query::<String>(&mut c, &["GETRANGE", "s", "5", "1000"]),
        " World"
    );
    assert_eq!(
        query::<String>(&mut c, &["GETRANGE", "nokey", "0", "10"]),
        ""
    );
    assert_eq!(query::<i64>(&mut c, &["SETRANGE", "s", "6", "Redis"]), 11);
    assert_eq!(query::<String>(&mut c, &["GET", "s"]), "Hello Redis");
    assert_eq!(query::<i64>(&mut c, &["SETRANGE", "pad", "5", "x"]), 6);
    let padded: Vec<u8> = redis::cmd("GET").arg("pad").query(&mut c).expect("GET pad");
    assert_eq!(padded, b"\0\0\0\0\0x");
    assert_eq!(
        query_err(&mut c, &["SETRANGE", "s", "-1", "x"]),
        "ERR offset is out of range"
    );
}

/// Acknowledged data survives kill -9 and a restart on the same data dir and ports: values,
/// counters and remaining TTLs (expiry is absolute time in the log, not a countdown).
#[test]
fn restart_keeps_data() {
    let mut node = Node::start_single();
    let id_before = node.id();
    {
        let mut c = node.conn();
        let mut pipe = redis::pipe();
        for i in 0..300 {
            pipe.cmd("SET")
                .arg(format!("r:{i}"))
                .arg(format!("v{i}"))
                .ignore();
        }
        pipe.query::<()>(&mut c).expect("pipelined SETs");
        assert_eq!(query::<i64>(&mut c, &["INCRBY", "r:counter", "42"]), 42);
        assert_eq!(
            query::<String>(&mut c, &["SET", "r:ttl", "v", "EX", "1000"]),
            "OK"
        );
        assert_eq!(query::<i64>(&mut c, &["DEL", "r:0"]), 1);
    }
    node.kill9();
    node.restart();
    node.wait_role_leader(tanli_tests::node::LEADER_TIMEOUT);
    assert_eq!(node.id(), id_before, "a restarted node keeps its id");

    let mut c = node.conn();
    let keys: Vec<String> = (1..300).map(|i| format!("r:{i}")).collect();
    let values = get_many(&mut c, &keys).expect("read back");
    for (i, value) in (1..300).zip(values) {
        assert_eq!(value, Some(format!("v{i}")), "r:{i} after restart");
    }
    assert_eq!(query::<Option<String>>(&mut c, &["GET", "r:0"]), None);
    assert_eq!(query::<String>(&mut c, &["GET", "r:counter"]), "42");
    let ttl: i64 = query(&mut c, &["TTL", "r:ttl"]);
    assert!((900..=1000).contains(&ttl), "TTL after restart was {ttl}");
    assert_eq!(query::<i64>(&mut c, &["DBSIZE"]), 301);
    assert_eq!(query::<i64>(&mut c, &["INCR", "r:counter"]), 43);
}

/// Crash safety of the storage path: four clients stream SETs (so appends share syncs), the
/// process is killed with SIGKILL mid-stream, and after restart every write that had been
/// acknowledged is present with its value; nothing beyond what was sent appears.
#[test]
fn kill9_mid_stream_keeps_every_acknowledged_write() {
    let mut node = Node::start_single();
    let writers: Vec<Writer> = (0..4)
        .map(|w| Writer::spawn(&format!("crash{w}"), vec![node.addr()], None))
        .collect();
    tanli_tests::wait_until(
        Duration::from_secs(60),
        "2000 acknowledged writes before the crash",
        || {
            let n: u64 = writers.iter().map(Writer::acked).sum();
            if n >= 2000 {
                Ok(())
            } else {
                Err(format!("{n} acknowledged"))
            }
        },
    );
    node.kill9();
    let logs: Vec<_> = writers.into_iter().map(Writer::stop).collect();
    let acked: usize = logs.iter().map(|l| l.acked.len()).sum();
    let attempted: u64 = logs.iter().map(|l| l.attempted).sum();
    println!("crash test: {acked} acknowledged, {attempted} attempted before SIGKILL");

    node.restart();
    node.wait_role_leader(tanli_tests::node::LEADER_TIMEOUT);
    let mut c = node.conn();
    for log in &logs {
        log.assert_all_acked_readable(&mut c);
    }
    let size = u64::try_from(query::<i64>(&mut c, &["DBSIZE"])).expect("DBSIZE >= 0");
    assert!(
        (acked as u64..=attempted).contains(&size),
        "DBSIZE {size} outside [acknowledged {acked}, attempted {attempted}]"
    );
}

/// A second server on a data dir that a running server holds must refuse to start, with a clear
/// message, and must not disturb the first one.
#[test]
fn second_server_on_same_data_dir_is_refused() {
    let node = Node::start_single();
    let mut c = node.conn();
    assert_eq!(query::<String>(&mut c, &["SET", "k", "v"]), "OK");

    let exit = run_expecting_exit(&ServerSpec::single(), &node.data_dir());
    assert!(
        !exit.status.success(),
        "second server exited with {}",
        exit.status
    );
    assert!(
        !exit.stdout.contains("tanli ready"),
        "second server announced ready: {}",
        exit.stdout
    );
    let stderr = exit.stderr.to_lowercase();
    let dir = node.data_dir().display().to_string().to_lowercase();
    assert!(
        stderr.contains("lock") || stderr.contains(&dir),
        "stderr should say the data dir is locked/in use, got:\n{}",
        exit.stderr
    );

    assert_eq!(
        query::<Option<String>>(&mut c, &["GET", "k"]),
        Some("v".into())
    );
    assert_eq!(query::<String>(&mut c, &["SET", "k2", "v2"]), "OK");
    let mut fresh = node.conn();
    assert_eq!(
        query::<Option<String>>(&mut fresh, &["GET", "k2"]),
        Some("v2".into())
    );
}

/// A RESP or cluster port that is already taken is a clear error at start naming the port,
/// not a hang or a panic.
#[test]
fn port_in_use_is_a_clear_error() {
    let taken = TcpListener::bind((LOOPBACK, 0)).expect("bind a port to occupy");
    let port = taken.local_addr().expect("local_addr").port();
    let dir = tempfile::tempdir().expect("tempdir");

    for spec in [
        ServerSpec {
            port,
            ..ServerSpec::single()
        },
        ServerSpec {
            cluster_port: port,
            ..ServerSpec::single()
        },
    ] {
        let exit = run_expecting_exit(&spec, &dir.path().join("data"));
        assert!(!exit.status.success(), "exited with {}", exit.status);
        assert!(
            exit.stderr.contains(&port.to_string()),
            "stderr should name the taken port {port}, got:\n{}",
            exit.stderr
        );
    }
}

/// `--requirepass`: commands before AUTH get NOAUTH, a wrong password WRONGPASS, the right one
/// OK (one- and two-argument forms), exactly as Redis words them; without requirepass, AUTH is
/// an error.
#[test]
fn requirepass_and_auth() {
    let password = "s3cret pass";
    let node = Node::start_single_with(ServerSpec {
        requirepass: Some(password.into()),
        ..ServerSpec::single()
    });
    let mut raw = RawConn::connect(node.addr());
    assert_eq!(
        raw.cmd(&["GET", "k"]),
        Reply::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        raw.cmd(&["SET", "k", "v"]),
        Reply::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        raw.cmd(&["AUTH", "wrong"]),
        Reply::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(raw.cmd(&["AUTH", password]), Reply::Simple("OK".into()));
    assert_eq!(raw.cmd(&["GET", "k"]), Reply::Bulk(None));

    let mut raw2 = RawConn::connect(node.addr());
    assert_eq!(
        raw2.cmd(&["AUTH", "default", password]),
        Reply::Simple("OK".into())
    );
    assert_eq!(raw2.cmd(&["SET", "k", "v"]), Reply::Simple("OK".into()));

    // The redis crate authenticates from its connection settings.
    let mut c = node.conn();
    assert_eq!(
        query::<Option<String>>(&mut c, &["GET", "k"]),
        Some("v".into())
    );
    let mut anonymous = tanli_tests::client::try_connect(node.addr(), None, Duration::from_secs(5))
        .expect("connect without password");
    assert_eq!(
        query_err(&mut anonymous, &["GET", "k"]),
        "NOAUTH Authentication required."
    );

    let open = Node::start_single();
    let mut raw = RawConn::connect(open.addr());
    assert_eq!(
        raw.cmd(&["AUTH", "x"]),
        Reply::Error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
                .into()
        )
    );
}

/// A connection that sends a very long run of reads and then a write is served: the server keeps
/// a connection's commands in order by counting completions, not by chaining one wait per
/// command (100,000 chained waits overflowed a worker's stack when the write polled them).
#[test]
fn a_long_run_of_reads_then_a_write_on_one_connection() {
    let node = Node::start_single();
    let mut conn = RawConn::connect(node.addr());
    let batch = tanli_tests::raw::encode(&[b"GET", b"k"]).repeat(250);
    for _ in 0..400 {
        conn.send(&batch);
        for _ in 0..250 {
            assert_eq!(conn.read_reply(), Reply::Bulk(None));
        }
    }
    assert_eq!(conn.cmd(&["SET", "k", "v"]), Reply::Simple("OK".into()));
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::Bulk(Some(b"v".to_vec())));
}
