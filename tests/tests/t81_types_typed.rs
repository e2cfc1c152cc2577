//! t81: the collection types through the `redis` crate's typed API, as an application uses
//! them: every reply must convert into the Rust types a client asks for (maps, sets, vectors of
//! numbers, `(member, score)` pairs, `Option<f64>`, `bool`), with exact values; plus a pipeline
//! and an atomic pipeline (MULTI/EXEC) mixing the four types.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;

use redis::{Commands, Connection};
use tanli_tests::redis_server::{RedisServer, REDIS_SERVER};
use tanli_tests::{tools, Node};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Hashes: HSET/HGET, HGETALL into a map, HINCRBY and HINCRBYFLOAT through `hincr`, HDEL.
#[test]
fn hashes_round_trip() {
    check_hashes(&mut Node::start_single().conn());
}

fn check_hashes(c: &mut Connection) {
    let added: usize = c.hset("{t}h", "name", "tanli").expect("HSET");
    assert_eq!(added, 1);
    let added: usize = c.hset("{t}h", "name", "tanli2").expect("HSET again");
    assert_eq!(added, 0, "an updated field is not counted as added");
    let () = c
        .hset_multiple("{t}h", &[("a", "1"), ("b", "2")])
        .expect("HSET several");
    let name: Option<String> = c.hget("{t}h", "name").expect("HGET");
    assert_eq!(name.as_deref(), Some("tanli2"));
    let none: Option<String> = c.hget("{t}h", "nope").expect("HGET missing field");
    assert_eq!(none, None);
    let all: HashMap<String, String> = c.hgetall("{t}h").expect("HGETALL");
    let want: HashMap<String, String> = [("name", "tanli2"), ("a", "1"), ("b", "2")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(all, want);
    let n: i64 = c.hincr("{t}h", "a", 41).expect("HINCRBY");
    assert_eq!(n, 42);
    let x: f64 = c.hincr("{t}h", "b", 0.5).expect("HINCRBYFLOAT");
    assert_eq!(x, 2.5);
    let b: String = c.hget("{t}h", "b").expect("HGET after HINCRBYFLOAT");
    assert_eq!(b, "2.5");
    let len: usize = c.hlen("{t}h").expect("HLEN");
    assert_eq!(len, 3);
    let exists: bool = c.hexists("{t}h", "a").expect("HEXISTS");
    assert!(exists);
    let removed: usize = c.hdel("{t}h", &["a", "b", "name"]).expect("HDEL");
    assert_eq!(removed, 3);
    let gone: bool = c.exists("{t}h").expect("EXISTS");
    assert!(!gone, "a hash whose last field is deleted disappears");
    let empty: HashMap<String, String> = c.hgetall("{t}h").expect("HGETALL of nothing");
    assert!(empty.is_empty());
}

/// Lists: LPUSH/RPUSH, LRANGE into strings and into integers, LPOP with a count, RPOP.
#[test]
fn lists_round_trip() {
    check_lists(&mut Node::start_single().conn());
}

fn check_lists(c: &mut Connection) {
    let len: usize = c.rpush("{t}l", &["b", "c"]).expect("RPUSH");
    assert_eq!(len, 2);
    let len: usize = c.lpush("{t}l", "a").expect("LPUSH");
    assert_eq!(len, 3);
    let all: Vec<String> = c.lrange("{t}l", 0, -1).expect("LRANGE");
    assert_eq!(all, strings(&["a", "b", "c"]));
    let tail: Vec<String> = c.lrange("{t}l", -2, -1).expect("LRANGE negative");
    assert_eq!(tail, strings(&["b", "c"]));

    let _: usize = c
        .rpush("{t}n", &[3i64, -7, 9_223_372_036_854_775_807])
        .expect("RPUSH ints");
    let numbers: Vec<i64> = c.lrange("{t}n", 0, -1).expect("LRANGE ints");
    assert_eq!(numbers, vec![3, -7, i64::MAX]);

    let two: Vec<String> = c.lpop("{t}l", NonZeroUsize::new(2)).expect("LPOP 2");
    assert_eq!(two, strings(&["a", "b"]));
    let one: Option<String> = c.lpop("{t}l", None).expect("LPOP");
    assert_eq!(one.as_deref(), Some("c"));
    let none: Option<String> = c.lpop("{t}l", None).expect("LPOP of nothing");
    assert_eq!(none, None);
    let last: Option<i64> = c.rpop("{t}n", None).expect("RPOP");
    assert_eq!(last, Some(i64::MAX));
    let len: usize = c.llen("{t}n").expect("LLEN");
    assert_eq!(len, 2);
}

/// Sets: SADD counts only new members, SMEMBERS into a set, SISMEMBER as bool, SREM, SCARD.
#[test]
fn sets_round_trip() {
    check_sets(&mut Node::start_single().conn());
}

fn check_sets(c: &mut Connection) {
    let added: usize = c.sadd("{t}s", &["x", "y", "z", "x"]).expect("SADD");
    assert_eq!(added, 3);
    let members: HashSet<String> = c.smembers("{t}s").expect("SMEMBERS");
    assert_eq!(members, ["x", "y", "z"].map(String::from).into());
    let is: bool = c.sismember("{t}s", "y").expect("SISMEMBER");
    assert!(is);
    let is_not: bool = c.sismember("{t}s", "w").expect("SISMEMBER missing");
    assert!(!is_not);
    let removed: usize = c.srem("{t}s", &["x", "w"]).expect("SREM");
    assert_eq!(removed, 1);
    let card: usize = c.scard("{t}s").expect("SCARD");
    assert_eq!(card, 2);
    let _: usize = c.sadd("{t}s2", &["z", "q"]).expect("SADD 2");
    let inter: HashSet<String> = c.sinter(&["{t}s", "{t}s2"]).expect("SINTER");
    assert_eq!(inter, ["z"].map(String::from).into());
    let ints: HashSet<i64> = {
        let _: usize = c.sadd("{t}si", &[1i64, 2, 3]).expect("SADD ints");
        c.smembers("{t}si").expect("SMEMBERS ints")
    };
    assert_eq!(ints, [1, 2, 3].into());
}

/// Sorted sets: ZADD, ZRANGE WITHSCORES into `(member, score)` pairs in score order, ZSCORE as
/// `Option<f64>`, ZINCRBY, ZRANK, ZREM.
#[test]
fn sorted_sets_round_trip() {
    check_sorted_sets(&mut Node::start_single().conn());
}

fn check_sorted_sets(c: &mut Connection) {
    let added: usize = c.zadd("{t}z", "b", 2.5).expect("ZADD");
    assert_eq!(added, 1);
    let added: usize = c
        .zadd_multiple("{t}z", &[(1.0, "a"), (-3.25, "c"), (2.5, "b")])
        .expect("ZADD several");
    assert_eq!(added, 2);
    let ranked: Vec<(String, f64)> = c.zrange_withscores("{t}z", 0, -1).expect("ZRANGE");
    assert_eq!(
        ranked,
        vec![
            ("c".to_owned(), -3.25),
            ("a".to_owned(), 1.0),
            ("b".to_owned(), 2.5)
        ]
    );
    let score: Option<f64> = c.zscore("{t}z", "a").expect("ZSCORE");
    assert_eq!(score, Some(1.0));
    let missing: Option<f64> = c.zscore("{t}z", "nope").expect("ZSCORE missing");
    assert_eq!(missing, None);
    let new: f64 = c.zincr("{t}z", "a", 10).expect("ZINCRBY");
    assert_eq!(new, 11.0);
    let half: f64 = c.zincr("{t}z", "c", 0.75).expect("ZINCRBY float");
    assert_eq!(half, -2.5);
    let rank: Option<usize> = c.zrank("{t}z", "a").expect("ZRANK");
    assert_eq!(rank, Some(2));
    let members: Vec<String> = c.zrevrange("{t}z", 0, -1).expect("ZREVRANGE");
    assert_eq!(members, strings(&["a", "b", "c"]));
    let by_score: Vec<String> = c.zrangebyscore("{t}z", 0, "+inf").expect("ZRANGEBYSCORE");
    assert_eq!(by_score, strings(&["b", "a"]));
    let inf: f64 = c.zincr("{t}z", "b", "+inf").expect("ZINCRBY +inf");
    assert_eq!(inf, f64::INFINITY);
    let removed: usize = c.zrem("{t}z", &["a", "b", "c"]).expect("ZREM");
    assert_eq!(removed, 3);
    let card: usize = c.zcard("{t}z").expect("ZCARD");
    assert_eq!(card, 0);
}

/// A pipeline and an atomic pipeline (MULTI/EXEC) over all four types return every reply in
/// order, typed as a tuple; the atomic one's writes are all visible afterwards.
#[test]
fn pipelines_plain_and_atomic() {
    check_pipelines(&mut Node::start_single().conn());
}

fn check_pipelines(c: &mut Connection) {
    #[allow(clippy::type_complexity)]
    let (hset, rpush, sadd, zadd, hget, lrange, smembers, zscore): (
        usize,
        usize,
        usize,
        usize,
        String,
        Vec<String>,
        HashSet<String>,
        Option<f64>,
    ) = redis::pipe()
        .hset("{p}h", "f", "v")
        .rpush("{p}l", &["1", "2"])
        .sadd("{p}s", "m")
        .zadd("{p}z", "m", 4.5)
        .hget("{p}h", "f")
        .lrange("{p}l", 0, -1)
        .smembers("{p}s")
        .zscore("{p}z", "m")
        .query(c)
        .expect("pipeline");
    assert_eq!((hset, rpush, sadd, zadd), (1, 2, 1, 1));
    assert_eq!(hget, "v");
    assert_eq!(lrange, strings(&["1", "2"]));
    assert_eq!(smembers, ["m"].map(String::from).into());
    assert_eq!(zscore, Some(4.5));

    let (incr, len, popped, zincr, all): (i64, usize, Vec<String>, f64, HashMap<String, String>) =
        redis::pipe()
            .atomic()
            .hincr("{p}h", "n", 5)
            .lpush("{p}l", "0")
            .lpop("{p}l", NonZeroUsize::new(2))
            .zincr("{p}z", "m", -0.5)
            .hgetall("{p}h")
            .query(c)
            .expect("atomic pipeline (MULTI/EXEC)");
    assert_eq!(incr, 5);
    assert_eq!(len, 3);
    assert_eq!(popped, strings(&["0", "1"]));
    assert_eq!(zincr, 4.0);
    let want: HashMap<String, String> = [("f", "v"), ("n", "5")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(all, want);
    let rest: Vec<String> = c.lrange("{p}l", 0, -1).expect("LRANGE after EXEC");
    assert_eq!(rest, strings(&["2"]));

    // An atomic pipeline whose command fails at run time still applies the others, as in Redis.
    let result: redis::RedisResult<(usize, usize)> = redis::pipe()
        .atomic()
        .sadd("{p}h", "x")
        .sadd("{p}s", "n")
        .query(c);
    let err = result.expect_err("SADD on a hash inside EXEC fails");
    assert!(
        err.to_string().contains("WRONGTYPE"),
        "unexpected error: {err}"
    );
    let members: HashSet<String> = c.smembers("{p}s").expect("SMEMBERS after EXEC");
    assert_eq!(members, ["m", "n"].map(String::from).into());
}

/// The same checks pass on a real redis-server: they test Redis's behaviour, not tanli's.
#[test]
fn reference_redis_server_passes_the_same_checks() {
    if !tools::have(REDIS_SERVER) {
        return;
    }
    let redis = RedisServer::start();
    let mut c = redis.conn();
    check_hashes(&mut c);
    check_lists(&mut c);
    check_sets(&mut c);
    check_sorted_sets(&mut c);
    check_pipelines(&mut c);
}
