//! Tests of the two walks of a set's hash order: SSCAN (every member once across changes, hash
//! collisions, Redis 7.0's arguments, intsets in one page) and random picks (reach, spread), and
//! that reads stay bounded by what they return.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use tanli_storage::{KvRead, MemberRange, Record, StorageError, Sub};

use super::super::super::hashorder::{element_hash, RANDOM_READ_ALL_MAX, RANDOM_WINDOW};
use super::super::super::testkv::{bulk, err, run, MemKv};
use super::super::BY_HASH;
use super::{fill, items, read_seeded, set_of, NOT_INT, SYNTAX};
use crate::reply::Reply;

#[test]
fn srandmember_on_a_big_set_uses_the_hash_order() {
    let mut kv = MemKv::default();
    let n = 1_000;
    fill(&mut kv, "s", "m", n);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for seed in 0..4_000 {
        let Reply::Bulk(one) = read_seeded(&kv, seed, &["SRANDMEMBER", "s"]) else {
            panic!("bulk expected")
        };
        *counts
            .entry(String::from_utf8(one).expect("utf8"))
            .or_default() += 1;
        if seed % 100 == 0 {
            let picks = items(&read_seeded(&kv, seed, &["SRANDMEMBER", "s", "50"]));
            assert_eq!(picks.iter().collect::<BTreeSet<_>>().len(), 50);
            let repeats = items(&read_seeded(&kv, seed, &["SRANDMEMBER", "s", "-50"]));
            assert_eq!(repeats.len(), 50);
            assert!(repeats.iter().all(|p| p.starts_with('m')));
        }
    }
    assert!(counts.keys().all(|m| m.starts_with('m')));
    // 4 picks per member on average: most members are reached, none dominates.
    assert!(
        counts.len() > n * 9 / 10,
        "{} members reached",
        counts.len()
    );
    assert!(
        counts.values().all(|c| *c < 25),
        "{:?}",
        counts.values().max()
    );
}

#[test]
fn random_picks_are_roughly_uniform() {
    let mut kv = MemKv::default();
    let n = 300;
    fill(&mut kv, "s", "member:", n);
    assert!(n as u64 > RANDOM_READ_ALL_MAX, "exercise the windowed pick");
    // Counts below len / 3 take the windowed path; 600 x 99 draws.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for seed in 0..600 {
        for m in items(&read_seeded(&kv, seed, &["SRANDMEMBER", "s", "-99"])) {
            *counts.entry(m).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), n, "every member is reachable");
    // 198 expected per member; the window's spread is about 18%, sampling noise about 7%.
    let (min, max) = (counts.values().min(), counts.values().max());
    assert!(min > Some(&80) && max < Some(&360), "{min:?}..{max:?}");
}

/// A full SSCAN iteration: (every member returned, in order, number of pages).
fn full_sscan(kv: &mut MemKv, key: &str, opts: &[&str]) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    for pages in 1..100_000 {
        let mut line = vec!["SSCAN", key, cursor.as_str()];
        line.extend_from_slice(opts);
        let reply = run(kv, 0, &line);
        let Reply::Array(parts) = reply else {
            panic!("SSCAN reply shape: {reply:?}")
        };
        let [Reply::Bulk(next), page] = parts.as_slice() else {
            panic!("SSCAN parts")
        };
        seen.extend(items(page));
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            return (seen, pages);
        }
    }
    panic!("SSCAN did not terminate");
}

#[test]
fn sscan_returns_every_member_once() {
    let mut kv = MemKv::default();
    fill(&mut kv, "s", "m", 500);
    let (all, pages) = full_sscan(&mut kv, "s", &[]);
    assert_eq!(all.len(), 500);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 500);
    assert_eq!(pages, 50);
    let (ones, _) = full_sscan(&mut kv, "s", &["COUNT", "7", "MATCH", "m1*"]);
    assert_eq!(ones.len(), 111);
    assert!(ones.iter().all(|m| m.starts_with("m1")));
    let (star, pages) = full_sscan(&mut kv, "s", &["match", "*", "count", "1000"]);
    assert_eq!((star.len(), pages), (500, 1));
    assert_eq!(
        run(&mut kv, 0, &["SSCAN", "nokey", "0"]),
        Reply::Array(vec![bulk("0"), Reply::Array(vec![])])
    );
}

#[test]
fn sscan_cursor_survives_changes_between_pages() {
    let mut kv = MemKv::default();
    fill(&mut kv, "s", "stay", 300);
    fill(&mut kv, "s2", "go", 200);
    run(&mut kv, 0, &["SUNIONSTORE", "s", "s", "s2"]);
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let Reply::Array(parts) = run(&mut kv, 0, &["SSCAN", "s", &cursor, "COUNT", "9"]) else {
            panic!("shape")
        };
        seen.extend(items(&parts[1]));
        let Reply::Bulk(next) = &parts[0] else {
            panic!("cursor")
        };
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            break;
        }
        // Between pages: remove some members, add new ones.
        let gone = format!("go{step}");
        let new = format!("new{step}");
        run(&mut kv, 0, &["SREM", "s", &gone]);
        run(&mut kv, 0, &["SADD", "s", &new]);
        step += 1;
    }
    let stay: Vec<&String> = seen.iter().filter(|m| m.starts_with("stay")).collect();
    assert_eq!(
        stay.len(),
        300,
        "every member present throughout is returned"
    );
    assert_eq!(stay.iter().collect::<BTreeSet<_>>().len(), 300, "once");
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        seen.len(),
        "no duplicates"
    );
}

#[test]
fn sscan_keeps_members_sharing_a_hash_in_one_page() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SADD", "s", "a", "b", "c"]);
    let version = kv
        .record("s")
        .and_then(Record::coll_meta)
        .map(|m| m.version);
    let version = version.expect("a set");
    // Three fake entries colliding on hash 5, ahead of every real member.
    for m in ["x1", "x2", "x3"] {
        let mut entry = 5u64.to_be_bytes().to_vec();
        entry.extend_from_slice(m.as_bytes());
        kv.subs
            .insert((b"s".to_vec(), version, BY_HASH, entry), Vec::new());
    }
    let Reply::Array(parts) = run(&mut kv, 0, &["SSCAN", "s", "0", "COUNT", "1"]) else {
        panic!("shape")
    };
    assert_eq!(items(&parts[1]), ["x1", "x2", "x3"]);
    let Reply::Bulk(next) = &parts[0] else {
        panic!("cursor")
    };
    let next: u64 = String::from_utf8_lossy(next).parse().expect("a number");
    let smallest = ["a", "b", "c"]
        .map(|m| element_hash(m.as_bytes()))
        .into_iter()
        .min();
    assert_eq!(Some(next), smallest);
    // Resuming at 5 again returns the whole group, never part of it.
    let Reply::Array(parts) = run(&mut kv, 0, &["SSCAN", "s", "5", "COUNT", "2"]) else {
        panic!("shape")
    };
    assert_eq!(items(&parts[1]), ["x1", "x2", "x3"]);
}

#[test]
fn sscan_arguments() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SADD", "s", "a"]);
    let page = |c: &str| Reply::Array(vec![bulk(c), Reply::Array(vec![bulk("a")])]);
    // Redis 7.0's strtoul cursor.
    for ok in ["0", "", "+0", "00", "-0"] {
        assert_eq!(run(&mut kv, 0, &["SSCAN", "s", ok]), page("0"), "{ok:?}");
    }
    for ok in ["-1", "18446744073709551615", "+7", "007"] {
        let reply = run(&mut kv, 0, &["SSCAN", "s", ok]);
        assert!(!reply.is_error(), "{ok:?}");
    }
    for bad in [
        " 1",
        "1 ",
        "x",
        "1x",
        "+",
        "-",
        "18446744073709551616",
        "0x1",
    ] {
        let reply = run(&mut kv, 0, &["SSCAN", "s", bad]);
        assert_eq!(reply, err("ERR invalid cursor"), "{bad:?}");
    }
    for (opts, e) in [
        (&["COUNT", "0"][..], SYNTAX),
        (&["COUNT", "-1"], SYNTAX),
        (&["COUNT", "x"], NOT_INT),
        (&["COUNT"], SYNTAX),
        (&["MATCH"], SYNTAX),
        (&["TYPE", "string"], SYNTAX),
        (&["NOVALUES"], SYNTAX),
        (&["COUNT", "x", "BOGUS", "1"], NOT_INT),
        (&["BOGUS", "1", "COUNT", "x"], SYNTAX),
        (&["MATCH", "*", "COUNT", "1", "x"], SYNTAX),
    ] {
        let mut line = vec!["SSCAN", "s", "0"];
        line.extend_from_slice(opts);
        assert_eq!(run(&mut kv, 0, &line), err(e), "{opts:?}");
        // A missing key answers an empty page whatever the options.
        line[1] = "nokey";
        let empty = Reply::Array(vec![bulk("0"), Reply::Array(vec![])]);
        assert_eq!(run(&mut kv, 0, &line), empty, "{opts:?}");
    }
    let huge = run(
        &mut kv,
        0,
        &["SSCAN", "s", "0", "COUNT", "9223372036854775807"],
    );
    assert_eq!(huge, page("0"));
}

/// A read view that counts the elements it hands out.
struct Counting<'a> {
    kv: &'a MemKv,
    elements: Cell<usize>,
}

impl KvRead for Counting<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, StorageError> {
        self.kv.get(key)
    }

    fn record_count(&self) -> Result<u64, StorageError> {
        self.kv.record_count()
    }

    fn sub_get(&self, sub: Sub<'_>, member: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.elements.set(self.elements.get() + 1);
        self.kv.sub_get(sub, member)
    }

    fn sub_range(
        &self,
        sub: Sub<'_>,
        range: MemberRange<'_>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StorageError> {
        let out = self.kv.sub_range(sub, range, reverse, limit)?;
        self.elements.set(self.elements.get() + out.len());
        Ok(out)
    }
}

#[test]
fn reads_are_bounded_by_what_they_return() {
    let mut kv = MemKv::default();
    fill(&mut kv, "big", "m", 5_000);
    run(&mut kv, 0, &["SADD", "small", "m1", "m2", "x"]);
    let cost = |line: &[&str]| {
        let view = Counting {
            kv: &kv,
            elements: Cell::new(0),
        };
        read_seeded(&view, 3, line);
        view.elements.get()
    };
    assert_eq!(cost(&["SCARD", "big"]), 0);
    assert_eq!(cost(&["SISMEMBER", "big", "m1"]), 1);
    assert!(cost(&["SRANDMEMBER", "big"]) <= RANDOM_WINDOW);
    assert!(cost(&["SRANDMEMBER", "big", "10"]) <= (10 * 4 + 16) * RANDOM_WINDOW);
    assert!(cost(&["SRANDMEMBER", "big", "-10"]) <= 10 * RANDOM_WINDOW);
    assert!(cost(&["SSCAN", "big", "0", "COUNT", "20"]) <= 21);
    assert!(cost(&["SINTER", "big", "small"]) <= 3 + 3);
    assert!(cost(&["SDIFF", "small", "big"]) <= 3 + 3);
    assert_eq!(cost(&["SINTER", "small", "big", "nokey"]), 0);
}

#[test]
fn intsets_come_in_numeric_order_and_scan_in_one_page() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SADD", "i", "10", "9", "-1", "200"]);
    let numeric = ["-1", "9", "10", "200"];
    assert_eq!(run(&mut kv, 0, &["SMEMBERS", "i"]), set_of(&numeric));
    assert_eq!(run(&mut kv, 0, &["SUNION", "i", "nokey"]), set_of(&numeric));
    let all = Reply::Array(numeric.iter().map(|m| bulk(m)).collect());
    assert_eq!(run(&mut kv, 0, &["SRANDMEMBER", "i", "10"]), all);
    // Not canonical integers: byte order.
    run(&mut kv, 0, &["SADD", "j", "10", "9", "09"]);
    assert_eq!(
        run(&mut kv, 0, &["SMEMBERS", "j"]),
        set_of(&["09", "10", "9"])
    );
    // An intset scans in one page from cursor 0, whatever COUNT; MATCH still filters.
    fill(&mut kv, "n", "", 512);
    let Reply::Array(parts) = run(&mut kv, 0, &["SSCAN", "n", "0", "COUNT", "3"]) else {
        panic!("shape")
    };
    assert_eq!(parts[0], bulk("0"));
    let expected: Vec<String> = (0..512).map(|i| i.to_string()).collect();
    assert_eq!(items(&parts[1]), expected);
    let Reply::Array(parts) = run(&mut kv, 0, &["SSCAN", "n", "0", "MATCH", "5?"]) else {
        panic!("shape")
    };
    assert_eq!(
        items(&parts[1]),
        ["50", "51", "52", "53", "54", "55", "56", "57", "58", "59"]
    );
    // One more member and it pages.
    run(&mut kv, 0, &["SADD", "n", "512"]);
    let (members, pages) = full_sscan(&mut kv, "n", &["COUNT", "100"]);
    assert_eq!((members.len(), pages), (513, 6));
}
