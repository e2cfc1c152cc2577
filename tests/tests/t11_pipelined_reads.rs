//! t11: the reads a connection pipelines run as one group, which prefetches the group's records
//! from the record cache before it reads them (`exec::CheckedReads`, `RecordCache::prefetch`).
//! Every reply must still be its own key's, whichever shard the key is on, whether the record
//! cache holds it (in either half) or has evicted it, and after writes and deletions.

use std::collections::HashMap;

use tanli_tests::node::ServerSpec;
use tanli_tests::raw::{encode, RawConn, Reply};
use tanli_tests::Node;

/// Keys of the test: more than a prefetch window (16) many times over, spread over every shard.
const KEYS: usize = 300;

fn key(i: usize) -> String {
    format!("pipelined:{i}")
}

/// What each key holds, as the test wrote it.
#[derive(Clone)]
enum Held {
    Absent,
    /// A string, and whether it has an expiry.
    Str(Vec<u8>, bool),
    Hash,
}

/// Sends `cmds` in one write and reads one reply per command.
fn pipeline(conn: &mut RawConn, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
    let mut bytes = Vec::new();
    for cmd in cmds {
        let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        bytes.extend(encode(&args));
    }
    conn.send(&bytes);
    cmds.iter().map(|_| conn.read_reply()).collect()
}

fn cmd(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

/// Writes `held` for every key (one pipeline), then checks GET, STRLEN, TYPE, PTTL and GETRANGE
/// of every key, all in one pipeline.
fn write_then_check(conn: &mut RawConn, held: &HashMap<usize, Held>) {
    let mut writes = Vec::new();
    for i in 0..KEYS {
        let k = key(i);
        writes.push(cmd(&[b"DEL", k.as_bytes()]));
        match &held[&i] {
            Held::Absent => {}
            Held::Str(v, false) => writes.push(cmd(&[b"SET", k.as_bytes(), v])),
            Held::Str(v, true) => writes.push(cmd(&[b"SET", k.as_bytes(), v, b"EX", b"1000"])),
            Held::Hash => writes.push(cmd(&[b"HSET", k.as_bytes(), b"f", b"v"])),
        }
    }
    for reply in pipeline(conn, &writes) {
        assert!(!matches!(reply, Reply::Error(_)), "write failed: {reply:?}");
    }
    let mut reads = Vec::new();
    for i in 0..KEYS {
        let k = key(i);
        for c in [&b"GET"[..], b"STRLEN", b"TYPE", b"PTTL"] {
            reads.push(cmd(&[c, k.as_bytes()]));
        }
        reads.push(cmd(&[b"GETRANGE", k.as_bytes(), b"0", b"2"]));
    }
    let replies = pipeline(conn, &reads);
    for (i, r) in replies.chunks(5).enumerate() {
        let wrong_type = |r: &Reply| matches!(r, Reply::Error(e) if e.starts_with("WRONGTYPE"));
        match &held[&i] {
            Held::Absent => {
                assert_eq!(r[0], Reply::Bulk(None), "GET {i}");
                assert_eq!(r[1], Reply::Integer(0), "STRLEN {i}");
                assert_eq!(r[2], Reply::Simple("none".into()), "TYPE {i}");
                assert_eq!(r[3], Reply::Integer(-2), "PTTL {i}");
                assert_eq!(r[4], Reply::Bulk(Some(Vec::new())), "GETRANGE {i}");
            }
            Held::Str(v, expires) => {
                assert_eq!(r[0], Reply::Bulk(Some(v.clone())), "GET {i}");
                assert_eq!(r[1], Reply::Integer(v.len() as i64), "STRLEN {i}");
                assert_eq!(r[2], Reply::Simple("string".into()), "TYPE {i}");
                match (&r[3], expires) {
                    (Reply::Integer(ms), true) => assert!(*ms > 990_000, "PTTL {i}: {ms}"),
                    (other, true) => panic!("PTTL {i}: {other:?}"),
                    (other, false) => assert_eq!(other, &Reply::Integer(-1), "PTTL {i}"),
                }
                assert_eq!(r[4], Reply::Bulk(Some(v[..3].to_vec())), "GETRANGE {i}");
            }
            Held::Hash => {
                assert!(wrong_type(&r[0]), "GET {i}: {:?}", r[0]);
                assert!(wrong_type(&r[1]), "STRLEN {i}: {:?}", r[1]);
                assert_eq!(r[2], Reply::Simple("hash".into()), "TYPE {i}");
                assert_eq!(r[3], Reply::Integer(-1), "PTTL {i}");
                assert!(wrong_type(&r[4]), "GETRANGE {i}: {:?}", r[4]);
            }
        }
    }
}

#[test]
fn pipelined_reads_answer_each_its_own_key() {
    // The default cache holds every key; a 64 KiB one (2 KiB per half of each of its 16
    // stripes) evicts most of them, so reads miss, fill, and hit in the old half.
    for cache_bytes in [None, Some("65536")] {
        let mut spec = ServerSpec::single();
        if let Some(bytes) = cache_bytes {
            spec.extra_args = vec!["--record-cache-bytes".into(), bytes.into()];
        }
        let node = Node::start_single_with(spec);
        let mut conn = RawConn::connect(node.addr());
        let hits_before = node.info_number("stats", "record_cache_hits");
        let value = |i: usize, round: usize| format!("value-{round}-{i}-{}", "x".repeat(i % 40));
        let mut held: HashMap<usize, Held> = (0..KEYS)
            .map(|i| {
                let h = match i % 7 {
                    0 => Held::Absent,
                    1 => Held::Hash,
                    n => Held::Str(value(i, 0).into_bytes(), n == 2),
                };
                (i, h)
            })
            .collect();
        write_then_check(&mut conn, &held);
        // Overwrite, delete and retype some keys, then read them all again.
        for i in (0..KEYS).step_by(3) {
            let h = match i % 4 {
                0 => Held::Absent,
                1 => Held::Hash,
                n => Held::Str(value(i, 1).into_bytes(), n == 2),
            };
            held.insert(i, h);
        }
        write_then_check(&mut conn, &held);
        // The reads went through the record cache (not only through RocksDB).
        let hits = node.info_number("stats", "record_cache_hits") - hits_before;
        assert!(hits >= KEYS as u64, "record cache hits {hits}");
    }
}
