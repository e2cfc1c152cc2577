//! Tests of RENAME, RENAMENX, COPY and OBJECT against the in-memory store, and of the keyspace
//! commands (TYPE, TTL, EXPIRE, PERSIST, DEL) on collection records.
//!
//! `MemKv` names elements by key (the real store by slot), so after a RENAME these tests check
//! what the real store relies on: the record moved with its version and no element was dropped.

use tanli_storage::{CollMeta, Kind, KvWrite, Record, Sub};

use super::super::parse as parse_cmd;
use super::super::testkv::{argv, bulk, err, run, MemKv};
use super::super::{command_reply, Command, CommandSub, ConnCmd};
use crate::reply::Reply;

/// Stores a collection of `kind` at `key` with `members` in element space 0 (and, for a sorted
/// set, one entry per member in space 1); returns its version.
fn coll(kv: &mut MemKv, key: &str, kind: Kind, members: &[(&[u8], &[u8])]) -> u64 {
    let version = kv.new_version();
    let meta = CollMeta {
        len: members.len() as u64,
        ..CollMeta::new(version)
    };
    kv.put(key.as_bytes(), Record::collection(kind, &meta))
        .expect("put");
    for (tag, space) in [(0u8, true), (1, kind == Kind::ZSet)] {
        if !space {
            continue;
        }
        let sub = Sub {
            key: key.as_bytes(),
            version,
            tag,
        };
        for (m, v) in members {
            kv.sub_put(sub, m, v).expect("sub_put");
        }
    }
    version
}

fn version_of(kv: &MemKv, key: &str) -> Option<u64> {
    kv.record(key)
        .and_then(Record::coll_meta)
        .map(|m| m.version)
}

fn enc(kv: &mut MemKv, key: &str) -> Reply {
    run(kv, 0, &["OBJECT", "ENCODING", key])
}

#[test]
fn rename_moves_the_value_with_its_ttl() {
    let mut kv = MemKv::default();
    kv.put_str("a", "1", Some(500));
    assert_eq!(run(&mut kv, 10, &["RENAME", "a", "b"]), Reply::ok());
    assert!(kv.record("a").is_none());
    assert_eq!(kv.value("b").as_deref(), Some("1"));
    assert_eq!(kv.record("b").and_then(|r| r.expire_at_ms), Some(500));
    kv.put_str("c", "old", None);
    assert_eq!(run(&mut kv, 10, &["RENAME", "b", "c"]), Reply::ok());
    assert_eq!(kv.value("c").as_deref(), Some("1"));
    assert_eq!(run(&mut kv, 10, &["RENAME", "c", "c"]), Reply::ok());
    assert_eq!(kv.value("c").as_deref(), Some("1"));
    assert_eq!(run(&mut kv, 10, &["RENAMENX", "c", "c"]), Reply::Int(0));
}

#[test]
fn rename_errors_and_renamenx() {
    let mut kv = MemKv::default();
    let no_key = err("ERR no such key");
    assert_eq!(run(&mut kv, 0, &["RENAME", "x", "y"]), no_key);
    assert_eq!(run(&mut kv, 0, &["RENAME", "x", "x"]), no_key);
    assert_eq!(run(&mut kv, 0, &["RENAMENX", "x", "y"]), no_key);
    kv.put_str("gone", "1", Some(5));
    assert_eq!(run(&mut kv, 10, &["RENAME", "gone", "y"]), no_key);
    assert_eq!(
        run(&mut kv, 0, &["RENAME", "a"]),
        err("ERR wrong number of arguments for 'rename' command")
    );
    assert_eq!(
        run(&mut kv, 0, &["RENAMENX", "a", "b", "c"]),
        err("ERR wrong number of arguments for 'renamenx' command")
    );
    kv.put_str("a", "1", None);
    kv.put_str("b", "2", None);
    assert_eq!(run(&mut kv, 10, &["RENAMENX", "a", "b"]), Reply::Int(0));
    assert_eq!(kv.value("a").as_deref(), Some("1"));
    kv.put_str("dead", "x", Some(5));
    assert_eq!(run(&mut kv, 10, &["RENAMENX", "a", "dead"]), Reply::Int(1));
    assert_eq!(kv.value("dead").as_deref(), Some("1"));
    assert!(kv.record("dead").is_some_and(|r| r.expire_at_ms.is_none()));
}

#[test]
fn rename_of_a_collection_keeps_its_version_and_elements() {
    let mut kv = MemKv::default();
    let v = coll(&mut kv, "h", Kind::Hash, &[(b"f", b"1"), (b"g", b"2")]);
    let old = coll(&mut kv, "dst", Kind::Set, &[(b"m", b"")]);
    assert_eq!(run(&mut kv, 0, &["RENAME", "h", "dst"]), Reply::ok());
    assert!(kv.record("h").is_none());
    assert_eq!(version_of(&kv, "dst"), Some(v));
    assert_eq!(kv.record("dst").map(|r| r.kind), Some(Kind::Hash));
    // The moved instance's elements stay (the real store finds them by slot and version)...
    assert_eq!(kv.elements("h").len(), 2);
    // ...and the destination's previous instance is gone.
    assert!(kv.subs.keys().all(|(_, version, _, _)| *version != old));
    assert_eq!(
        run(&mut kv, 0, &["TYPE", "dst"]),
        Reply::Simple("hash".into())
    );
}

#[test]
fn copy_strings_and_options() {
    let mut kv = MemKv::default();
    kv.put_str("a", "1", Some(500));
    assert_eq!(run(&mut kv, 10, &["COPY", "a", "b"]), Reply::Int(1));
    assert_eq!(kv.value("b").as_deref(), Some("1"));
    assert_eq!(kv.record("b").and_then(|r| r.expire_at_ms), Some(500));
    assert_eq!(kv.value("a").as_deref(), Some("1"));
    kv.put_str("a", "2", None);
    assert_eq!(run(&mut kv, 10, &["COPY", "a", "b"]), Reply::Int(0));
    assert_eq!(kv.value("b").as_deref(), Some("1"));
    assert_eq!(
        run(&mut kv, 10, &["COPY", "a", "b", "replace", "DB", "0"]),
        Reply::Int(1)
    );
    assert_eq!(kv.value("b").as_deref(), Some("2"));
    assert!(kv.record("b").is_some_and(|r| r.expire_at_ms.is_none()));
    assert_eq!(run(&mut kv, 10, &["COPY", "nosuch", "b"]), Reply::Int(0));
    let same = err("ERR source and destination objects are the same");
    assert_eq!(run(&mut kv, 10, &["COPY", "a", "a"]), same);
    assert_eq!(run(&mut kv, 10, &["COPY", "nosuch", "nosuch"]), same);
    let out_of_range = err("ERR DB index is out of range");
    assert_eq!(
        run(&mut kv, 10, &["COPY", "a", "c", "DB", "1"]),
        out_of_range
    );
    assert_eq!(
        run(&mut kv, 10, &["COPY", "a", "c", "DB", "-1"]),
        out_of_range
    );
    let not_int = err("ERR value is not an integer or out of range");
    assert_eq!(run(&mut kv, 10, &["COPY", "a", "c", "DB", "x"]), not_int);
    assert_eq!(
        run(&mut kv, 10, &["COPY", "a", "c", "DB", "4294967296"]),
        not_int
    );
    let syntax = err("ERR syntax error");
    assert_eq!(run(&mut kv, 10, &["COPY", "a", "c", "DB"]), syntax);
    assert_eq!(run(&mut kv, 10, &["COPY", "a", "c", "FOO"]), syntax);
    assert_eq!(
        run(&mut kv, 10, &["COPY", "a"]),
        err("ERR wrong number of arguments for 'copy' command")
    );
    assert!(kv.record("c").is_none());
}

#[test]
fn copy_of_a_collection_copies_every_element_under_a_new_version() {
    let mut kv = MemKv::default();
    let members: Vec<(Vec<u8>, Vec<u8>)> = (0..2500)
        .map(|i| (format!("m{i:05}").into_bytes(), vec![b'x'; 8]))
        .collect();
    let refs: Vec<(&[u8], &[u8])> = members
        .iter()
        .map(|(m, v)| (m.as_slice(), v.as_slice()))
        .collect();
    let v = coll(&mut kv, "z", Kind::ZSet, &refs);
    let stale = coll(&mut kv, "z2", Kind::Hash, &[(b"f", b"1")]);
    kv.map.get_mut(&b"z"[..]).expect("z").expire_at_ms = Some(1_000);
    assert_eq!(
        run(&mut kv, 0, &["COPY", "z", "z2", "REPLACE"]),
        Reply::Int(1)
    );
    let copy = version_of(&kv, "z2").expect("copied collection");
    assert_ne!(copy, v);
    let rec = kv.record("z2").expect("z2");
    assert_eq!((rec.kind, rec.expire_at_ms), (Kind::ZSet, Some(1_000)));
    assert_eq!(rec.coll_meta().map(|m| m.len), Some(2500));
    let copied: Vec<_> = kv.elements("z2");
    assert_eq!(copied.len(), 5000, "both element spaces");
    assert!(copied.iter().all(|(t, _, _)| *t <= 1));
    assert!(kv.subs.keys().all(|(_, version, _, _)| *version != stale));
    assert_eq!(kv.elements("z").len(), 5000, "the source is untouched");
}

#[test]
fn object_encoding_of_strings() {
    let mut kv = MemKv::default();
    let cases: &[(&str, &str)] = &[
        ("0", "int"),
        ("-1", "int"),
        ("9223372036854775807", "int"),
        ("-9223372036854775808", "int"),
        ("9223372036854775808", "embstr"),
        ("01", "embstr"),
        ("+1", "embstr"),
        (" 1", "embstr"),
        ("1.5", "embstr"),
        ("", "embstr"),
    ];
    for (value, want) in cases {
        kv.put_str("k", value, None);
        assert_eq!(enc(&mut kv, "k"), bulk(want), "{value:?}");
    }
    kv.put_str("k", &"a".repeat(44), None);
    assert_eq!(enc(&mut kv, "k"), bulk("embstr"));
    kv.put_str("k", &"a".repeat(45), None);
    assert_eq!(enc(&mut kv, "k"), bulk("raw"));
    assert_eq!(enc(&mut kv, "nosuch"), Reply::Nil);
    kv.put_str("gone", "1", Some(5));
    assert_eq!(
        run(&mut kv, 10, &["OBJECT", "ENCODING", "gone"]),
        Reply::Nil
    );
}

const V64: &[u8] = &[b'v'; 64];
const V65: &[u8] = &[b'v'; 65];
const SCORE: &[u8] = b"12345678";

/// `n` members named by their index, each with `value`.
fn numbered(n: usize, value: &'static [u8]) -> Vec<(Vec<u8>, &'static [u8])> {
    (0..n)
        .map(|i| (i.to_string().into_bytes(), value))
        .collect()
}

fn check(kv: &mut MemKv, kind: Kind, members: &[(Vec<u8>, &'static [u8])], want: &str) {
    let refs: Vec<(&[u8], &[u8])> = members.iter().map(|(m, v)| (m.as_slice(), *v)).collect();
    coll(kv, "c", kind, &refs);
    assert_eq!(enc(kv, "c"), bulk(want), "{kind:?} of {}", refs.len());
}

#[test]
fn object_encoding_of_collections_follows_redis_7_0_thresholds() {
    let kv = &mut MemKv::default();
    check(kv, Kind::List, &numbered(1000, b"x"), "quicklist");
    check(kv, Kind::Hash, &numbered(512, b"v"), "listpack");
    check(kv, Kind::Hash, &numbered(513, b"v"), "hashtable");
    check(kv, Kind::Hash, &[(vec![b'f'; 64], V64)], "listpack");
    check(kv, Kind::Hash, &[(vec![b'f'; 65], b"v")], "hashtable");
    check(kv, Kind::Hash, &[(b"f".to_vec(), V65)], "hashtable");
    check(kv, Kind::Set, &numbered(512, b""), "intset");
    check(kv, Kind::Set, &numbered(513, b""), "hashtable");
    let extremes = [
        (b"-9223372036854775808".to_vec(), &b""[..]),
        (b"7".to_vec(), b""),
    ];
    check(kv, Kind::Set, &extremes, "intset");
    check(kv, Kind::Set, &[(b"01".to_vec(), b"")], "hashtable");
    check(kv, Kind::Set, &[(b"a".to_vec(), b"")], "hashtable");
    check(kv, Kind::ZSet, &numbered(128, SCORE), "listpack");
    check(kv, Kind::ZSet, &numbered(129, SCORE), "skiplist");
    check(kv, Kind::ZSet, &[(vec![b'm'; 64], SCORE)], "listpack");
    check(kv, Kind::ZSet, &[(vec![b'm'; 65], SCORE)], "skiplist");
}

#[test]
fn object_subcommands() {
    let mut kv = MemKv::default();
    assert_eq!(
        run(&mut kv, 0, &["OBJECT", "ENCODING"]),
        err("ERR wrong number of arguments for 'object|encoding' command")
    );
    assert_eq!(
        run(&mut kv, 0, &["OBJECT", "ENCODING", "a", "b"]),
        err("ERR wrong number of arguments for 'object|encoding' command")
    );
    assert_eq!(
        run(&mut kv, 0, &["OBJECT", "FREQ", "a"]),
        err("ERR unknown subcommand 'FREQ'. Try OBJECT HELP.")
    );
    assert_eq!(
        run(&mut kv, 0, &["OBJECT"]),
        err("ERR wrong number of arguments for 'object' command")
    );
    assert_eq!(
        parse_cmd(&argv(&["object", "help"])),
        Ok(Command::Conn(ConnCmd::ObjectHelp))
    );
    let Reply::Array(lines) = super::object_help() else {
        panic!("help is an array")
    };
    assert_eq!(
        lines[0],
        Reply::Simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into())
    );
}

#[test]
fn keyspace_commands_act_on_collection_records() {
    let mut kv = MemKv::default();
    let v = coll(&mut kv, "s", Kind::Set, &[(b"a", b""), (b"b", b"")]);
    assert_eq!(run(&mut kv, 0, &["TYPE", "s"]), Reply::Simple("set".into()));
    assert_eq!(run(&mut kv, 0, &["TTL", "s"]), Reply::Int(-1));
    assert_eq!(run(&mut kv, 0, &["EXPIRE", "s", "10"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["PTTL", "s"]), Reply::Int(10_000));
    assert_eq!(version_of(&kv, "s"), Some(v));
    assert_eq!(kv.elements("s").len(), 2, "EXPIRE keeps the elements");
    assert_eq!(run(&mut kv, 0, &["PERSIST", "s"]), Reply::Int(1));
    assert_eq!(run(&mut kv, 0, &["TTL", "s"]), Reply::Int(-1));
    assert_eq!(kv.elements("s").len(), 2, "PERSIST keeps the elements");
    assert_eq!(run(&mut kv, 0, &["EXPIRE", "s", "1"]), Reply::Int(1));
    assert_eq!(
        run(&mut kv, 2_000, &["TYPE", "s"]),
        Reply::Simple("none".into())
    );
    assert_eq!(run(&mut kv, 2_000, &["EXISTS", "s"]), Reply::Int(0));
    coll(&mut kv, "h", Kind::Hash, &[(b"f", b"v")]);
    assert_eq!(run(&mut kv, 2_000, &["DEL", "h", "s"]), Reply::Int(1));
    assert!(kv.map.is_empty());
    assert!(kv.subs.is_empty(), "DEL drops the elements");
}

fn info(name: &str) -> Vec<Reply> {
    let sub = CommandSub::Info(argv(&[name]));
    match command_reply(&sub) {
        Reply::Array(mut entries) => match entries.remove(0) {
            Reply::Array(fields) => fields,
            other => panic!("{name}: {other:?}"),
        },
        other => panic!("{name}: {other:?}"),
    }
}

/// The `index` of each key spec's `begin_search` in a COMMAND INFO entry.
fn key_spec_begins(fields: &[Reply]) -> Vec<i64> {
    let Reply::Set(specs) = &fields[8] else {
        panic!("key specs: {:?}", fields[8])
    };
    specs
        .iter()
        .map(|spec| {
            let Reply::Map(spec) = spec else {
                panic!("{spec:?}")
            };
            let begin = spec
                .iter()
                .find(|(k, _)| *k == bulk("begin_search"))
                .map(|(_, v)| v.clone());
            match begin {
                Some(Reply::Map(b)) => match &b[1].1 {
                    Reply::Map(index) => match index[0].1 {
                        Reply::Int(i) => i,
                        ref other => panic!("{other:?}"),
                    },
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

#[test]
fn command_info_and_getkeys_know_where_the_keys_are() {
    let legacy = |f: &[Reply]| f[3..6].to_vec();
    let ints = |v: [i64; 3]| v.map(Reply::Int).to_vec();
    for name in ["rename", "renamenx", "copy"] {
        let f = info(name);
        assert_eq!(legacy(&f), ints([1, 2, 1]), "{name}");
        assert_eq!(key_spec_begins(&f), vec![1, 2], "{name}");
    }
    let f = info("object|encoding");
    assert_eq!(legacy(&f), ints([2, 2, 1]));
    assert_eq!(key_spec_begins(&f), vec![2]);
    assert_eq!(legacy(&info("watch")), ints([1, -1, 1]));
    assert_eq!(legacy(&info("exec")), ints([0, 0, 0]));
    assert_eq!(
        info("multi")[6],
        Reply::Set(vec![
            Reply::Simple("@fast".into()),
            Reply::Simple("@transaction".into())
        ])
    );
    let getkeys = |line: &[&str]| command_reply(&CommandSub::GetKeys(argv(line)));
    let keys = |ks: &[&str]| Reply::Array(ks.iter().map(|k| bulk(k)).collect());
    assert_eq!(getkeys(&["RENAME", "a", "b"]), keys(&["a", "b"]));
    assert_eq!(getkeys(&["COPY", "a", "b", "REPLACE"]), keys(&["a", "b"]));
    assert_eq!(getkeys(&["OBJECT", "ENCODING", "k"]), keys(&["k"]));
    assert_eq!(getkeys(&["WATCH", "a", "b"]), keys(&["a", "b"]));
}
