//! Tests of ZSCAN: Redis's answer for compact sets, its errors, and the stable hash-order
//! cursor of bigger ones.

use std::collections::BTreeSet;

use super::super::testkv::{bulk, err, run, MemKv};
use super::range_tests::{numbered, pairs};
use crate::reply::Reply;

fn scan_page(reply: Reply) -> (u64, Vec<(String, String)>) {
    let Reply::Array(parts) = reply else {
        panic!("not a scan reply: {reply:?}")
    };
    let [Reply::Bulk(cursor), Reply::Array(items)] = parts.as_slice() else {
        panic!("not a scan reply: {parts:?}")
    };
    let cursor = String::from_utf8_lossy(cursor)
        .parse()
        .expect("numeric cursor");
    let text = |r: &Reply| match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a bulk: {other:?}"),
    };
    let items = items
        .chunks(2)
        .map(|p| (text(&p[0]), text(&p[1])))
        .collect();
    (cursor, items)
}

#[test]
fn zscan_small_sets_answer_at_once_in_score_order() {
    let mut kv = MemKv::default();
    run(
        &mut kv,
        0,
        &["ZADD", "z", "1.1", "a", "2", "b", "inf", "c", "-inf", "d"],
    );
    let (cursor, items) = scan_page(run(&mut kv, 0, &["ZSCAN", "z", "0", "COUNT", "1"]));
    assert_eq!(cursor, 0);
    let want = [
        ("d", "-inf"),
        ("a", "1.1000000000000001"),
        ("b", "2"),
        ("c", "inf"),
    ];
    assert_eq!(items, want.map(|(m, s)| (m.to_string(), s.to_string())));
    let (_, items) = scan_page(run(&mut kv, 0, &["ZSCAN", "z", "0", "MATCH", "[ab]"]));
    assert_eq!(items.len(), 2);
    assert_eq!(
        run(&mut kv, 0, &["ZSCAN", "nokey", "0", "COUNT", "0"]),
        scan_reply_empty()
    );
    assert_eq!(
        run(&mut kv, 0, &["ZSCAN", "z", "x"]),
        err("ERR invalid cursor")
    );
    assert_eq!(
        run(&mut kv, 0, &["ZSCAN", "z", " 1"]),
        err("ERR invalid cursor")
    );
    assert_eq!(
        run(&mut kv, 0, &["ZSCAN", "z", "18446744073709551616"]),
        err("ERR invalid cursor")
    );
    for line in [
        &["ZSCAN", "z", "0", "BAD"][..],
        &["ZSCAN", "z", "0", "COUNT", "0"],
        &["ZSCAN", "z", "0", "COUNT"],
        &["ZSCAN", "z", "0", "TYPE", "zset"],
        &["ZSCAN", "z", "0", "NOVALUES"],
    ] {
        assert_eq!(run(&mut kv, 0, line), err("ERR syntax error"), "{line:?}");
    }
    assert_eq!(
        run(&mut kv, 0, &["ZSCAN", "z", "0", "COUNT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    // Redis's compact encoding stores integral scores as integers, and ZSCAN shows them so.
    run(
        &mut kv,
        0,
        &[
            "ZADD",
            "i",
            "1e17",
            "a",
            "4611686018427387904",
            "b",
            "4611686018427388904",
            "c",
            "-0",
            "d",
        ],
    );
    let (_, items) = scan_page(run(&mut kv, 0, &["ZSCAN", "i", "0"]));
    let want = [
        ("d", "0"),
        ("a", "100000000000000000"),
        ("b", "4611686018427387904"),
        ("c", "4.6116860184273889e+18"),
    ];
    assert_eq!(items, want.map(|(m, s)| (m.to_string(), s.to_string())));
    assert_eq!(
        run(&mut kv, 0, &["ZRANGE", "i", "1", "1", "WITHSCORES"]),
        pairs(&[("a", 1e17)])
    );
    // A long member makes the set "big" for Redis: then pages follow COUNT.
    run(&mut kv, 0, &["ZADD", "z", "0", &"x".repeat(65)]);
    let (cursor, items) = scan_page(run(&mut kv, 0, &["ZSCAN", "z", "0", "COUNT", "1"]));
    assert!(cursor != 0 && items.len() == 1);
}

fn scan_reply_empty() -> Reply {
    Reply::Array(vec![bulk("0"), Reply::Array(vec![])])
}

#[test]
fn zscan_pages_return_every_stable_member_once() {
    let mut kv = MemKv::default();
    numbered(&mut kv, "z", 1000, false);
    let mut seen = BTreeSet::new();
    let mut cursor = 0u64;
    let mut round = 0;
    loop {
        let reply = run(
            &mut kv,
            0,
            &["ZSCAN", "z", &cursor.to_string(), "COUNT", "37"],
        );
        let (next, items) = scan_page(reply);
        assert!(items.len() <= 37);
        for (m, s) in items {
            let i: u64 = m[1..].parse().expect("numbered member");
            if i < 1000 {
                assert_eq!(s, i.to_string());
            }
            assert!(seen.insert(m.clone()), "{m} returned twice");
        }
        // Churn meanwhile: members 0..100 are removed and new ones added; the rest stay.
        round += 1;
        run(&mut kv, 0, &["ZREM", "z", &format!("m{:05}", round)]);
        run(
            &mut kv,
            0,
            &["ZADD", "z", "1", &format!("m{:05}", 5000 + round)],
        );
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for i in 100..1000 {
        assert!(seen.contains(&format!("m{i:05}")), "m{i:05} was skipped");
    }
    let (_, items) = scan_page(run(
        &mut kv,
        0,
        &["ZSCAN", "z", "0", "MATCH", "m0000*", "COUNT", "2000"],
    ));
    assert!(items.iter().all(|(m, _)| m.starts_with("m0000")));
}
