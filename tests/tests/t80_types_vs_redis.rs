//! t80: tanli's collection commands (hashes, lists, sets, sorted sets), the generic commands on
//! them and MULTI/EXEC, held reply for reply to a real `redis-server` (the reference).
//!
//! Two kinds of test, both sending every command to a tanli single node and to a redis-server
//! and comparing the raw RESP2 replies:
//!
//! - a model-based run: a seeded generator (the seed is printed; `TANLI_MODEL_SEED` replays one,
//!   `TANLI_MODEL_OPS` sets the length) produces commands over a small key space (a few keys per
//!   type, all in hash tag `{m}` so multi-key commands stay in one slot, plus string and missing
//!   keys for WRONGTYPE), small member spaces and edge-case numbers, with MULTI/EXEC blocks, and
//!   compares the whole keyspace every [`SYNC_EVERY`] operations;
//! - deterministic per-family edge-case scripts (empty collections disappear, negative indexes,
//!   overflow, WRONGTYPE both ways, expiry, big collections, transactions).
//!
//! Replies are compared exactly, except where Redis leaves the result unspecified: element order
//! of HGETALL (as pairs), HKEYS, HVALS, SMEMBERS, SINTER/SUNION/SDIFF (sorted before comparing),
//! SCAN-family commands (the cursor is followed to 0 on both servers and the collected elements
//! compared as sets; tanli must not return an element twice), random commands (SPOP,
//! SRANDMEMBER, HRANDFIELD: compared by shape and size, and checked to return only members the
//! key held; SPOP's difference is then undone on redis-server so both keep the same set), and
//! positive TTLs (compared as "positive"; -1 and -2 exactly). Error replies are compared by their
//! full text. The first mismatch fails with the seed, the command and its index, both replies and
//! the last commands.
//!
//! Environment, for working on the families:
//! - `TANLI_MODEL_PARTIAL=1`: use only the commands tanli lists in `COMMAND INFO` (the others
//!   are skipped on both servers) and do not require every command to be exercised;
//! - `TANLI_MODEL_KEEP_GOING=1`: record every mismatch instead of stopping at the first (the
//!   model then empties both servers and goes on), and fail at the end with all of them;
//! - `TANLI_MODEL_SKIP=NAME,NAME`: never generate these commands (e.g. a known difference);
//! - `TANLI_T80_SELF_CHECK=1`: compare two redis-servers instead (checks the test itself).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tanli_tests::raw::{RawConn, Reply};
use tanli_tests::redis_server::{RedisServer, REDIS_SERVER};
use tanli_tests::{tools, Node};

/// Operations of the model run unless `TANLI_MODEL_OPS` says otherwise (well under 60 s).
const DEFAULT_OPS: u64 = 20_000;
/// The whole keyspace is compared every this many model operations (and at the end).
const SYNC_EVERY: u64 = 250;
/// Commands shown after a mismatch.
const HISTORY_LEN: usize = 20;
/// A SCAN that has not returned cursor 0 after this many pages is a failure.
const SCAN_PAGES_MAX: usize = 10_000;
/// Mismatches printed per command name in keep-going mode (the rest are counted).
const SHOWN_PER_NAME: usize = 3;
/// How long an expiring key may take to disappear on both servers.
const EXPIRY_TIMEOUT: Duration = Duration::from_secs(10);
/// A reply longer than this is cut in messages.
const SHOW_MAX: usize = 1500;

/// Every command the model must exercise (besides the helpers SET and INCRBY).
const LISTED: &[&str] = &[
    "HSET",
    "HSETNX",
    "HGET",
    "HMGET",
    "HGETALL",
    "HDEL",
    "HEXISTS",
    "HLEN",
    "HKEYS",
    "HVALS",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HSTRLEN",
    "HSCAN",
    "HRANDFIELD", //
    "LPUSH",
    "RPUSH",
    "LPUSHX",
    "RPUSHX",
    "LPOP",
    "RPOP",
    "LLEN",
    "LRANGE",
    "LINDEX",
    "LSET",
    "LREM",
    "LTRIM",
    "LINSERT",
    "LPOS",
    "LMOVE", //
    "SADD",
    "SREM",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SPOP",
    "SRANDMEMBER",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    "SMOVE",
    "SSCAN", //
    "ZADD",
    "ZREM",
    "ZSCORE",
    "ZMSCORE",
    "ZINCRBY",
    "ZCARD",
    "ZCOUNT",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGE",
    "ZRANK",
    "ZREVRANK",
    "ZPOPMIN",
    "ZPOPMAX",
    "ZREMRANGEBYSCORE",
    "ZREMRANGEBYRANK",
    "ZSCAN", //
    "TYPE",
    "EXPIRE",
    "PEXPIRE",
    "TTL",
    "PERSIST",
    "DEL",
    "EXISTS",
    "RENAME",
    "RENAMENX",
    "COPY",
    "OBJECT",
    "MULTI",
    "EXEC",
];

// ------------------------------------------------------------------------------------------
// Comparing two servers
// ------------------------------------------------------------------------------------------

/// How the replies of one command are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Exact,
    /// An array whose order Redis leaves unspecified.
    Sorted,
    /// A flat array of pairs (HGETALL) whose pair order is unspecified.
    Pairs,
    /// TTL: positive values compare as "positive".
    Ttl,
    /// A SCAN-family command: followed to cursor 0, elements (pairs if true) compared as sets.
    Scan(bool),
    /// SPOP, SRANDMEMBER, HRANDFIELD.
    Random,
}

fn mode_of(name: &str) -> Mode {
    match name {
        "HGETALL" => Mode::Pairs,
        "HKEYS" | "HVALS" | "SMEMBERS" | "SINTER" | "SUNION" | "SDIFF" => Mode::Sorted,
        "TTL" => Mode::Ttl,
        "HSCAN" | "ZSCAN" => Mode::Scan(true),
        "SSCAN" => Mode::Scan(false),
        "SPOP" | "SRANDMEMBER" | "HRANDFIELD" => Mode::Random,
        _ => Mode::Exact,
    }
}

/// A reply as text for messages and as a sort key.
fn show(reply: &Reply) -> String {
    match reply {
        Reply::Simple(s) => format!("+{s}"),
        Reply::Error(e) => format!("-{e}"),
        Reply::Integer(n) => format!(":{n}"),
        Reply::Bulk(None) => "(nil)".to_owned(),
        Reply::Bulk(Some(b)) => format!("{:?}", String::from_utf8_lossy(b)),
        Reply::Array(None) => "(nil array)".to_owned(),
        Reply::Array(Some(items)) => {
            format!(
                "[{}]",
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

fn cut(text: String) -> String {
    if text.len() <= SHOW_MAX {
        return text;
    }
    let mut end = SHOW_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

/// Applies a mode's normalisation (sorting, TTL bucketing) to a reply.
fn normalize(mode: Mode, reply: Reply) -> Reply {
    match (mode, reply) {
        (Mode::Sorted, Reply::Array(Some(mut items))) => {
            items.sort_by_key(show);
            Reply::Array(Some(items))
        }
        (Mode::Pairs, Reply::Array(Some(items))) => {
            let mut pairs: Vec<Vec<Reply>> = items.chunks(2).map(<[Reply]>::to_vec).collect();
            pairs.sort_by_key(|p| p.iter().map(show).collect::<Vec<_>>());
            Reply::Array(Some(pairs.into_iter().flatten().collect()))
        }
        (Mode::Ttl, Reply::Integer(n)) if n > 0 => Reply::Simple("(positive TTL)".to_owned()),
        (_, reply) => reply,
    }
}

/// A difference between the two servers' answers to one command.
struct Mismatch {
    tanli: String,
    redis: String,
    note: String,
}

fn differ(tanli: &Reply, redis: &Reply, note: &str) -> Mismatch {
    Mismatch {
        tanli: cut(show(tanli)),
        redis: cut(show(redis)),
        note: note.to_owned(),
    }
}

fn same(tanli: Reply, redis: Reply) -> Result<u64, Mismatch> {
    if tanli == redis {
        Ok(1)
    } else {
        Err(differ(&tanli, &redis, "replies differ"))
    }
}

/// One connection to each server, and the modes of the commands queued in a MULTI on it.
struct Pair {
    tanli: RawConn,
    redis: RawConn,
    queued: Option<Vec<Mode>>,
}

impl Pair {
    fn both(&mut self, args: &[&str]) -> (Reply, Reply) {
        (self.tanli.cmd(args), self.redis.cmd(args))
    }

    /// Sends one command to both servers and compares the replies as its mode says; returns
    /// how many replies were compared.
    fn exchange(&mut self, args: &[String]) -> Result<u64, Mismatch> {
        let name = args[0].to_ascii_uppercase();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let control = ["EXEC", "DISCARD", "MULTI", "WATCH"].contains(&name.as_str());
        if self.queued.is_some() && !control {
            let (t, r) = self.both(&refs);
            if r == Reply::Simple("QUEUED".to_owned()) {
                if let Some(modes) = self.queued.as_mut() {
                    modes.push(mode_of(&name));
                }
            }
            return same(t, r);
        }
        match name.as_str() {
            "EXEC" => {
                let modes = self.queued.take().unwrap_or_default();
                let (t, r) = self.both(&refs);
                match (t, r) {
                    (Reply::Array(Some(t)), Reply::Array(Some(r))) if t.len() == r.len() => {
                        let mode = |i: usize| modes.get(i).copied().unwrap_or(Mode::Exact);
                        let t = t
                            .into_iter()
                            .enumerate()
                            .map(|(i, x)| normalize(mode(i), x));
                        let r = r
                            .into_iter()
                            .enumerate()
                            .map(|(i, x)| normalize(mode(i), x));
                        same(
                            Reply::Array(Some(t.collect())),
                            Reply::Array(Some(r.collect())),
                        )
                    }
                    (t, r) => same(t, r),
                }
            }
            "DISCARD" => {
                self.queued = None;
                let (t, r) = self.both(&refs);
                same(t, r)
            }
            "MULTI" => {
                let (t, r) = self.both(&refs);
                let ok = Reply::Simple("OK".to_owned());
                if t == ok && r == ok && self.queued.is_none() {
                    self.queued = Some(Vec::new());
                }
                same(t, r)
            }
            _ => match mode_of(&name) {
                Mode::Scan(pairs) => self.scan(args, pairs),
                Mode::Random => self.random(&name, args),
                mode => {
                    let (t, r) = self.both(&refs);
                    same(normalize(mode, t), normalize(mode, r))
                }
            },
        }
    }

    /// Follows a SCAN-family cursor to 0 on both servers and compares the element sets.
    fn scan(&mut self, args: &[String], pairs: bool) -> Result<u64, Mismatch> {
        let t = scan_all(&mut self.tanli, args);
        let r = scan_all(&mut self.redis, args);
        let (t, r) = match (t, r) {
            (Ok(t), Ok(r)) => (t, r),
            (Err(t), Err(r)) => return same(t, r),
            (t, r) => {
                let as_reply = |x: Result<Vec<Reply>, Reply>| match x {
                    Ok(items) => Reply::Array(Some(items)),
                    Err(reply) => reply,
                };
                return Err(differ(&as_reply(t), &as_reply(r), "SCAN: one side failed"));
            }
        };
        let units = |items: &[Reply]| -> Vec<String> {
            items
                .chunks(if pairs { 2 } else { 1 })
                .map(|unit| unit.iter().map(show).collect::<Vec<_>>().join(" "))
                .collect()
        };
        let (t_units, r_units) = (units(&t), units(&r));
        let t_set: BTreeSet<String> = t_units.iter().cloned().collect();
        let r_set: BTreeSet<String> = r_units.into_iter().collect();
        let as_text = |set: &BTreeSet<String>| {
            cut(format!(
                "{{{}}}",
                set.iter().cloned().collect::<Vec<_>>().join(", ")
            ))
        };
        if t_set != r_set {
            return Err(Mismatch {
                tanli: as_text(&t_set),
                redis: as_text(&r_set),
                note: "SCAN: different elements collected".to_owned(),
            });
        }
        if t_set.len() != t_units.len() {
            return Err(Mismatch {
                tanli: cut(format!("{t_units:?}")),
                redis: as_text(&r_set),
                note: "SCAN: tanli returned an element more than once".to_owned(),
            });
        }
        Ok(1)
    }

    /// SPOP, SRANDMEMBER, HRANDFIELD: same shape and size, members the key held, distinct when
    /// they must be; SPOP's difference is undone on redis-server.
    fn random(&mut self, name: &str, args: &[String]) -> Result<u64, Mismatch> {
        let key = args.get(1).map(String::as_str).unwrap_or("");
        let with_values = args.iter().any(|a| a.eq_ignore_ascii_case("WITHVALUES"));
        let truth = if name == "HRANDFIELD" {
            "HGETALL"
        } else {
            "SMEMBERS"
        };
        let before = match self.redis.cmd(&[truth, key]) {
            Reply::Array(Some(items)) => items,
            _ => Vec::new(),
        };
        let allowed: HashSet<String> = if name != "HRANDFIELD" {
            before.iter().map(show).collect()
        } else if with_values {
            before
                .chunks(2)
                .map(|p| p.iter().map(show).collect::<Vec<_>>().join(" "))
                .collect()
        } else {
            before.iter().step_by(2).map(show).collect()
        };
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (t, r) = self.both(&refs);
        if shape(&t) != shape(&r) {
            return Err(differ(&t, &r, "random command: different shape or size"));
        }
        let flat = |x: &Reply| -> Vec<Reply> {
            match x {
                Reply::Array(Some(items)) => items.clone(),
                Reply::Bulk(Some(_)) => vec![x.clone()],
                _ => Vec::new(),
            }
        };
        let units = |x: &Reply| -> Vec<String> {
            flat(x)
                .chunks(if with_values { 2 } else { 1 })
                .map(|u| u.iter().map(show).collect::<Vec<_>>().join(" "))
                .collect()
        };
        let t_units = units(&t);
        if let Some(stray) = t_units.iter().find(|u| !allowed.contains(*u)) {
            return Err(differ(
                &t,
                &r,
                &format!("random command: tanli returned {stray}, which the key did not hold"),
            ));
        }
        let count: Option<i64> = args.get(2).and_then(|c| c.parse().ok());
        let distinct = name == "SPOP" || count.is_none_or(|c| c >= 0);
        let t_set: BTreeSet<&String> = t_units.iter().collect();
        if distinct && t_set.len() != t_units.len() {
            return Err(differ(&t, &r, "random command: tanli repeated an element"));
        }
        if name == "SPOP" {
            let (t_members, r_members) = (flat(&t), flat(&r));
            let bytes = |items: &[Reply]| -> BTreeSet<String> {
                items
                    .iter()
                    .filter_map(|i| match i {
                        Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                        _ => None,
                    })
                    .collect()
            };
            let (t_popped, r_popped) = (bytes(&t_members), bytes(&r_members));
            if t_popped != r_popped {
                // Make redis-server pop what tanli popped: put its own back, remove tanli's.
                let mut sadd = vec!["SADD", key];
                sadd.extend(r_popped.iter().map(String::as_str));
                let mut srem = vec!["SREM", key];
                srem.extend(t_popped.iter().map(String::as_str));
                if sadd.len() > 2 {
                    self.redis.cmd(&sadd);
                }
                if srem.len() > 2 {
                    self.redis.cmd(&srem);
                }
            }
        }
        Ok(1)
    }
}

/// What must agree between two answers of a random command.
fn shape(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(Some(_)) => "a bulk string".to_owned(),
        Reply::Array(Some(items)) => format!("an array of {}", items.len()),
        other => show(other),
    }
}

/// The elements of a SCAN-family command followed to cursor 0 (`args[2]` is the first
/// cursor), or the first reply that is not a SCAN page.
fn scan_all(conn: &mut RawConn, args: &[String]) -> Result<Vec<Reply>, Reply> {
    let mut args = args.to_vec();
    let mut items = Vec::new();
    for _ in 0..SCAN_PAGES_MAX {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let reply = conn.cmd(&refs);
        let Reply::Array(Some(page)) = &reply else {
            return Err(reply);
        };
        let [Reply::Bulk(Some(cursor)), Reply::Array(Some(elements))] = page.as_slice() else {
            return Err(reply);
        };
        items.extend(elements.iter().cloned());
        if cursor.as_slice() == b"0" {
            return Ok(items);
        }
        if args.len() < 3 {
            return Err(reply);
        }
        args[2] = String::from_utf8_lossy(cursor).into_owned();
    }
    Err(Reply::Error(format!(
        "(test) no cursor 0 after {SCAN_PAGES_MAX} pages"
    )))
}

/// A command line as text: arguments separated by spaces, empty or spaced ones quoted.
fn line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains(' ') {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A tanli node and a redis-server side by side, with comparison counts and history.
struct Twin {
    /// The server under test: a tanli node, or (`TANLI_T80_SELF_CHECK`) a second redis-server.
    _tanli: (Option<Node>, Option<RedisServer>),
    _redis: RedisServer,
    main: Pair,
    /// A second connection to each server (WATCH scripts).
    second: Pair,
    /// A connection to tanli for `COMMAND INFO` (never inside a MULTI).
    probe: RawConn,
    /// `TANLI_MODEL_PARTIAL`: whether tanli knows each command name asked so far (upper
    /// case); `None`: all commands are used.
    known: Option<HashMap<String, bool>>,
    skipped: BTreeMap<String, u64>,
    replies: u64,
    commands: u64,
    names: BTreeSet<String>,
    history: VecDeque<String>,
    /// Where we are, for messages ("model seed=… op 12", "script lists line 3").
    context: String,
    keep_going: bool,
    /// In keep-going mode: empty both servers after a mismatch (the model does; scripts don't).
    flush_on_mismatch: bool,
    mismatches: Vec<String>,
    per_name: BTreeMap<String, usize>,
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

impl Twin {
    /// Starts both servers, or `None` (test skipped) if redis-server is not installed.
    fn start() -> Option<Twin> {
        if !tools::have(REDIS_SERVER) {
            return None;
        }
        // Self-check of this test: the "tanli" side is another redis-server, so every mismatch
        // is a bug of the comparison, not of tanli.
        let tanli = if env_flag("TANLI_T80_SELF_CHECK") {
            (None, Some(RedisServer::start()))
        } else {
            (Some(Node::start_single()), None)
        };
        let tanli_addr = match &tanli {
            (Some(node), _) => node.addr(),
            (None, Some(redis)) => redis.addr(),
            (None, None) => unreachable!("one server under test"),
        };
        let redis = RedisServer::start();
        let pair = || Pair {
            tanli: RawConn::connect(tanli_addr),
            redis: RawConn::connect(redis.addr()),
            queued: None,
        };
        let (main, second, probe) = (pair(), pair(), RawConn::connect(tanli_addr));
        let mut twin = Twin {
            main,
            second,
            probe,
            _tanli: tanli,
            _redis: redis,
            known: None,
            skipped: BTreeMap::new(),
            replies: 0,
            commands: 0,
            names: BTreeSet::new(),
            history: VecDeque::new(),
            context: String::new(),
            keep_going: env_flag("TANLI_MODEL_KEEP_GOING"),
            flush_on_mismatch: false,
            mismatches: Vec::new(),
            per_name: BTreeMap::new(),
        };
        if env_flag("TANLI_MODEL_PARTIAL") {
            twin.known = Some(HashMap::new());
        }
        twin.flush();
        Some(twin)
    }

    /// Whether tanli knows command `name` (always true unless `TANLI_MODEL_PARTIAL`, where
    /// tanli's `COMMAND INFO` is asked once per name).
    fn knows(&mut self, name: &str) -> bool {
        let name = name.to_ascii_uppercase();
        let Some(known) = self.known.as_mut() else {
            return true;
        };
        if let Some(&answer) = known.get(&name) {
            return answer;
        }
        let answer = match self.probe.cmd(&["COMMAND", "INFO", &name]) {
            Reply::Array(Some(infos)) => matches!(infos.first(), Some(Reply::Array(Some(_)))),
            other => panic!("tanli's COMMAND INFO {name} answered {}", show(&other)),
        };
        known.insert(name, answer);
        answer
    }

    /// Empties both servers (not compared).
    fn flush(&mut self) {
        for pair in [&mut self.main, &mut self.second] {
            if pair.queued.take().is_some() {
                pair.both(&["DISCARD"]);
            }
            pair.both(&["UNWATCH"]);
            let (t, r) = pair.both(&["FLUSHALL"]);
            assert_eq!(
                (show(&t), show(&r)),
                ("+OK".to_owned(), "+OK".to_owned()),
                "FLUSHALL"
            );
        }
    }

    /// Runs one command on the main connections and compares.
    fn run(&mut self, args: &[String]) {
        self.run_on(false, args);
    }

    fn run_on(&mut self, second: bool, args: &[String]) {
        let name = args[0].to_ascii_uppercase();
        if !self.knows(&name) {
            *self.skipped.entry(name).or_default() += 1;
            return;
        }
        self.history.push_back(format!(
            "{}{}",
            if second { "(conn 2) " } else { "" },
            line(args)
        ));
        if self.history.len() > HISTORY_LEN {
            self.history.pop_front();
        }
        self.commands += 1;
        self.names.insert(name.clone());
        let pair = if second {
            &mut self.second
        } else {
            &mut self.main
        };
        match pair.exchange(args) {
            Ok(n) => self.replies += n,
            Err(m) => self.mismatch(&name, args, m),
        }
    }

    fn mismatch(&mut self, name: &str, args: &[String], m: Mismatch) {
        if m.redis.contains("-ERR unknown command") && name != "NOSUCHCOMMAND" {
            panic!(
                "test bug: redis-server does not know {}: {}",
                line(args),
                m.redis
            );
        }
        let text = format!(
            "MISMATCH at {}, command #{}: {}\n  tanli: {}\n  redis: {}\n  ({})",
            self.context,
            self.commands,
            line(args),
            m.tanli,
            m.redis,
            m.note
        );
        if !self.keep_going {
            let history: Vec<String> = self.history.iter().map(|h| format!("    {h}")).collect();
            panic!(
                "{text}\n  last {} commands (the mismatch last):\n{}",
                history.len(),
                history.join("\n")
            );
        }
        let shown = self.per_name.entry(name.to_owned()).or_default();
        *shown += 1;
        if *shown <= SHOWN_PER_NAME {
            eprintln!("{text}");
            self.mismatches.push(text);
        }
        if self.flush_on_mismatch {
            self.flush();
        }
    }

    /// Compares every key of `keys` (type, contents, TTL) on both servers.
    fn compare_keyspace(&mut self, keys: &[&str]) {
        for key in keys {
            self.run(&args(&["TYPE", key]));
            let kind = match self.main.redis.cmd(&["TYPE", key]) {
                Reply::Simple(kind) => kind,
                other => panic!("TYPE on redis-server: {}", show(&other)),
            };
            let read: &[&str] = match kind.as_str() {
                "hash" => &["HGETALL"],
                "list" => &["LRANGE", "0", "-1"],
                "set" => &["SMEMBERS"],
                "zset" => &["ZRANGE", "0", "-1", "WITHSCORES"],
                "string" => &["GET"],
                _ => &[],
            };
            if let Some((name, rest)) = read.split_first() {
                let mut cmd = vec![name.to_string(), key.to_string()];
                cmd.extend(rest.iter().map(|s| s.to_string()));
                self.run(&cmd);
            }
            self.run(&args(&["TTL", key]));
        }
    }

    /// Waits until `key` is gone on both servers (an expiring key), then compares EXISTS.
    fn wait_gone(&mut self, key: &str) {
        let deadline = Instant::now() + EXPIRY_TIMEOUT;
        loop {
            let (t, r) = self.main.both(&["EXISTS", key]);
            if t == Reply::Integer(0) && r == Reply::Integer(0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{key} still exists after {EXPIRY_TIMEOUT:?} (tanli {}, redis {}) at {}",
                show(&t),
                show(&r),
                self.context
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.run(&args(&["EXISTS", key]));
    }

    /// Runs a script: one command per line (whitespace-separated, `""` is an empty argument,
    /// `@2 ` runs it on the second connections, `WAIT_GONE key` waits for an expiry).
    fn script(&mut self, name: &str, lines: &[String]) {
        for (i, text) in lines.iter().enumerate() {
            self.context = format!("script {name} line {}", i + 1);
            let (second, text) = match text.strip_prefix("@2 ") {
                Some(rest) => (true, rest),
                None => (false, text.as_str()),
            };
            let words: Vec<String> = text
                .split_whitespace()
                .map(|w| {
                    if w == "\"\"" {
                        String::new()
                    } else {
                        w.to_owned()
                    }
                })
                .collect();
            match words.as_slice() {
                [] => {}
                [directive, key] if directive == "WAIT_GONE" => self.wait_gone(key),
                _ => self.run_on(second, &words),
            }
        }
    }

    /// Prints the counts, and fails with every recorded mismatch (keep-going mode).
    fn finish(&self, what: &str) {
        eprintln!(
            "{what}: compared {} replies, {} commands, {} distinct command names",
            self.replies,
            self.commands,
            self.names.len()
        );
        if !self.skipped.is_empty() {
            eprintln!(
                "{what}: skipped (tanli does not know them yet): {:?}",
                self.skipped
            );
        }
        let hidden: usize = self
            .per_name
            .values()
            .map(|n| n.saturating_sub(SHOWN_PER_NAME))
            .sum();
        assert!(
            self.mismatches.is_empty(),
            "{what}: {} mismatches by command {:?} ({hidden} not shown):\n{}",
            self.per_name.values().sum::<usize>(),
            self.per_name,
            self.mismatches.join("\n")
        );
    }
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

fn lines(text: &[&str]) -> Vec<String> {
    text.iter().map(|l| (*l).to_owned()).collect()
}

// ------------------------------------------------------------------------------------------
// The model: a seeded generator of commands
// ------------------------------------------------------------------------------------------

/// splitmix64: small, seedable, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }
}

const HASH_KEYS: &[&str] = &["{m}h1", "{m}h2", "{m}h3"];
const LIST_KEYS: &[&str] = &["{m}l1", "{m}l2", "{m}l3"];
const SET_KEYS: &[&str] = &["{m}s1", "{m}s2", "{m}s3"];
const ZSET_KEYS: &[&str] = &["{m}z1", "{m}z2", "{m}z3"];
/// A sorted set whose members all have score 0: BYLEX ranges are only specified on those.
const ZLEX_KEY: &str = "{m}zlex";
const STRING_KEYS: &[&str] = &["{m}str", "{m}num"];
/// Never written by the generator (but may be a RENAME/COPY destination).
const MISSING_KEY: &str = "{m}missing";

/// Every key but [`ZLEX_KEY`]: the wrong-type picks and the destinations of RENAME, COPY and
/// the *STORE commands, which could otherwise give the lex key mixed scores.
fn other_keys() -> Vec<&'static str> {
    let mut keys = Vec::new();
    for group in [HASH_KEYS, LIST_KEYS, SET_KEYS, ZSET_KEYS, STRING_KEYS] {
        keys.extend_from_slice(group);
    }
    keys.push(MISSING_KEY);
    keys
}

fn all_keys() -> Vec<&'static str> {
    let mut keys = other_keys();
    keys.push(ZLEX_KEY);
    keys
}

const FIELDS: &[&str] = &["f1", "f2", "f3", "f4", "n", "x", ""];
const HVALUES: &[&str] = &[
    "v1",
    "v2",
    "",
    "10",
    "-3",
    "1.5",
    "9223372036854775807",
    "abc",
    "0",
    "1e2",
];
const ELEMS: &[&str] = &["a", "b", "c", "d", "1", "2", "10", ""];
const MEMBERS: &[&str] = &["1", "2", "3", "-5", "10", "a", "b", "c", "d"];
const ZMEMBERS: &[&str] = &["a", "b", "c", "d", "e", "f"];
/// Scores whose shortest and `%.17g` forms agree (redis 7.0 prints `%.17g`).
const SCORES: &[&str] = &[
    "0", "1", "-1", "1.5", "2", "2.25", "-0.5", "10", "1e3", "inf", "-inf", "+inf", "abc", "nan",
    "3", "5", "1.0",
];
const INDEXES: &[&str] = &[
    "0",
    "1",
    "2",
    "-1",
    "-2",
    "-3",
    "5",
    "100",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "abc",
];
const INCRS: &[&str] = &[
    "1",
    "-1",
    "5",
    "0",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
    "abc",
    "1.5",
    "-9223372036854775807",
];
const FLOAT_INCRS: &[&str] = &[
    "1", "-1", "0.1", "1.5", "-2.5", "1e3", "0", "inf", "-inf", "abc", "5.0e-3", "-0.25",
];
const SCORE_RANGES: &[&str] = &[
    "-inf", "+inf", "0", "1", "(1", "2.5", "(2.25", "10", "(10", "abc", "(-inf", "-1", "(",
];
const LEX_RANGES: &[&str] = &[
    "-", "+", "[a", "(a", "[c", "(d", "[zz", "a", "[", "(b", "[f",
];
const LIMIT_OFFSETS: &[&str] = &["0", "1", "2", "-1"];
const LIMIT_COUNTS: &[&str] = &["1", "2", "-1", "0", "5"];

/// Commands never put in a MULTI block (their replies are compared specially).
const NOT_IN_MULTI: &[&str] = &[
    "HSCAN",
    "SSCAN",
    "ZSCAN",
    "SPOP",
    "SRANDMEMBER",
    "HRANDFIELD",
    "MULTI",
    "EXEC",
];

/// The names the model picks from, with weights (writes that grow collections weigh more).
fn weighted_names() -> Vec<(&'static str, usize)> {
    let mut names: Vec<(&'static str, usize)> = LISTED
        .iter()
        .filter(|n| **n != "EXEC")
        .map(|n| {
            let weight = match *n {
                "HSET" | "LPUSH" | "RPUSH" | "SADD" | "ZADD" => 4,
                "HINCRBY" | "HINCRBYFLOAT" | "ZINCRBY" | "MULTI" | "SMOVE" | "LMOVE" => 2,
                _ => 1,
            };
            (*n, weight)
        })
        .collect();
    names.extend([("SET", 1), ("INCRBY", 1)]);
    names
}

/// A key for a command of the family whose keys are `own`: mostly one of them, sometimes any
/// other key (WRONGTYPE, missing keys).
fn key_of(rng: &mut Rng, own: &[&str]) -> String {
    if rng.chance(85) {
        rng.pick(own).to_owned()
    } else {
        rng.pick(&other_keys()).to_owned()
    }
}

/// A sorted-set key; the lex key only where `lex_ok` (commands that keep its scores at 0).
fn zkey(rng: &mut Rng, lex_ok: bool) -> String {
    if lex_ok && rng.chance(20) {
        ZLEX_KEY.to_owned()
    } else {
        key_of(rng, ZSET_KEYS)
    }
}

fn some(rng: &mut Rng, items: &[&str], low: usize, high: usize) -> Vec<String> {
    let n = rng.between(low, high);
    (0..n).map(|_| rng.pick(items).to_owned()).collect()
}

/// One command `name` with random arguments.
fn gen(rng: &mut Rng, name: &str) -> Vec<String> {
    let mut a: Vec<String> = vec![name.to_owned()];
    macro_rules! push {
        ($($x:expr),*) => {{ $( a.push(String::from($x)); )* }};
    }
    let opt = |rng: &mut Rng, percent: usize| rng.chance(percent);
    match name {
        "HSET" => {
            push!(key_of(rng, HASH_KEYS));
            for _ in 0..rng.between(1, 3) {
                push!(rng.pick(FIELDS), rng.pick(HVALUES));
            }
            if opt(rng, 3) {
                push!("dangling");
            }
        }
        "HSETNX" => push!(key_of(rng, HASH_KEYS), rng.pick(FIELDS), rng.pick(HVALUES)),
        "HGET" | "HEXISTS" | "HSTRLEN" => push!(key_of(rng, HASH_KEYS), rng.pick(FIELDS)),
        "HMGET" | "HDEL" => {
            push!(key_of(rng, HASH_KEYS));
            a.extend(some(rng, FIELDS, 1, 3));
        }
        "HGETALL" | "HLEN" | "HKEYS" | "HVALS" => push!(key_of(rng, HASH_KEYS)),
        "HINCRBY" => push!(
            key_of(rng, HASH_KEYS),
            rng.pick(&["n", "n", "f1", "x"]),
            rng.pick(INCRS)
        ),
        "HINCRBYFLOAT" => push!(
            key_of(rng, HASH_KEYS),
            rng.pick(&["x", "x", "f1", "n"]),
            rng.pick(FLOAT_INCRS)
        ),
        "HSCAN" | "SSCAN" | "ZSCAN" => {
            let key = match name {
                "HSCAN" => key_of(rng, HASH_KEYS),
                "SSCAN" => key_of(rng, SET_KEYS),
                _ => zkey(rng, true),
            };
            push!(key, "0");
            if opt(rng, 30) {
                push!("MATCH", rng.pick(&["*", "f*", "*1", "[a-c]", "x", "1*"]));
            }
            if opt(rng, 40) {
                push!("COUNT", rng.pick(&["1", "2", "10", "0", "abc"]));
            }
        }
        "HRANDFIELD" => {
            push!(key_of(rng, HASH_KEYS));
            if opt(rng, 70) {
                push!(rng.pick(&["0", "1", "2", "3", "10", "-1", "-3", "-10", "abc"]));
                if opt(rng, 40) {
                    push!("WITHVALUES");
                }
            }
        }
        "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" => {
            push!(key_of(rng, LIST_KEYS));
            a.extend(some(rng, ELEMS, 1, 3));
        }
        "LPOP" | "RPOP" => {
            push!(key_of(rng, LIST_KEYS));
            if opt(rng, 50) {
                push!(rng.pick(&["0", "1", "2", "5", "-1", "abc"]));
            }
        }
        "LLEN" => push!(key_of(rng, LIST_KEYS)),
        "LRANGE" => push!(key_of(rng, LIST_KEYS), rng.pick(INDEXES), rng.pick(INDEXES)),
        "LINDEX" => push!(key_of(rng, LIST_KEYS), rng.pick(INDEXES)),
        "LSET" => push!(key_of(rng, LIST_KEYS), rng.pick(INDEXES), rng.pick(ELEMS)),
        "LREM" => push!(
            key_of(rng, LIST_KEYS),
            rng.pick(&["-2", "-1", "0", "1", "2"]),
            rng.pick(ELEMS)
        ),
        "LTRIM" => {
            let idx = &["0", "1", "-1", "-2", "2", "5", "-100", "100"];
            push!(key_of(rng, LIST_KEYS), rng.pick(idx), rng.pick(idx));
        }
        "LINSERT" => push!(
            key_of(rng, LIST_KEYS),
            rng.pick(&["BEFORE", "AFTER", "before", "AFTER", "MIDDLE"]),
            rng.pick(ELEMS),
            rng.pick(ELEMS)
        ),
        "LPOS" => {
            push!(key_of(rng, LIST_KEYS), rng.pick(ELEMS));
            if opt(rng, 40) {
                push!("RANK", rng.pick(&["1", "2", "-1", "-2", "0"]));
            }
            if opt(rng, 40) {
                push!("COUNT", rng.pick(&["0", "1", "2", "-1"]));
            }
            if opt(rng, 30) {
                push!("MAXLEN", rng.pick(&["0", "1", "3"]));
            }
        }
        "LMOVE" => push!(
            key_of(rng, LIST_KEYS),
            key_of(rng, LIST_KEYS),
            rng.pick(&["LEFT", "RIGHT"]),
            rng.pick(&["LEFT", "RIGHT", "right"])
        ),
        "SADD" | "SREM" => {
            push!(key_of(rng, SET_KEYS));
            a.extend(some(rng, MEMBERS, 1, 3));
        }
        "SMEMBERS" | "SCARD" => push!(key_of(rng, SET_KEYS)),
        "SISMEMBER" => push!(key_of(rng, SET_KEYS), rng.pick(MEMBERS)),
        "SMISMEMBER" => {
            push!(key_of(rng, SET_KEYS));
            a.extend(some(rng, MEMBERS, 1, 3));
        }
        "SPOP" => {
            push!(key_of(rng, SET_KEYS));
            if opt(rng, 50) {
                push!(rng.pick(&["0", "1", "2", "5", "-1"]));
            }
        }
        "SRANDMEMBER" => {
            push!(key_of(rng, SET_KEYS));
            if opt(rng, 60) {
                push!(rng.pick(&["0", "1", "2", "5", "100", "-1", "-3", "-10"]));
            }
        }
        "SINTER" | "SUNION" | "SDIFF" => {
            for _ in 0..rng.between(1, 3) {
                push!(key_of(rng, SET_KEYS));
            }
        }
        "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" => {
            push!(key_of(rng, SET_KEYS));
            for _ in 0..rng.between(1, 3) {
                push!(key_of(rng, SET_KEYS));
            }
        }
        "SMOVE" => push!(
            key_of(rng, SET_KEYS),
            key_of(rng, SET_KEYS),
            rng.pick(MEMBERS)
        ),
        "ZADD" => gen_zadd(rng, &mut a),
        "ZREM" | "ZMSCORE" => {
            push!(zkey(rng, true));
            a.extend(some(rng, ZMEMBERS, 1, 3));
        }
        "ZSCORE" | "ZRANK" | "ZREVRANK" => push!(zkey(rng, true), rng.pick(ZMEMBERS)),
        "ZINCRBY" => push!(
            zkey(rng, false),
            rng.pick(&["1", "-1", "0.5", "2.5", "inf", "-inf", "abc", "0"]),
            rng.pick(ZMEMBERS)
        ),
        "ZCARD" => push!(zkey(rng, true)),
        "ZCOUNT" | "ZREMRANGEBYSCORE" => push!(
            zkey(rng, name == "ZCOUNT"),
            rng.pick(SCORE_RANGES),
            rng.pick(SCORE_RANGES)
        ),
        "ZRANGE" => gen_zrange(rng, &mut a),
        "ZRANGEBYSCORE" => {
            push!(
                zkey(rng, true),
                rng.pick(SCORE_RANGES),
                rng.pick(SCORE_RANGES)
            );
            if opt(rng, 40) {
                push!("WITHSCORES");
            }
            if opt(rng, 30) {
                push!("LIMIT", rng.pick(LIMIT_OFFSETS), rng.pick(LIMIT_COUNTS));
            }
        }
        "ZREVRANGE" | "ZREMRANGEBYRANK" => {
            push!(
                zkey(rng, name == "ZREVRANGE"),
                rng.pick(INDEXES),
                rng.pick(INDEXES)
            );
            if name == "ZREVRANGE" && opt(rng, 40) {
                push!("WITHSCORES");
            }
        }
        "ZPOPMIN" | "ZPOPMAX" => {
            push!(zkey(rng, true));
            if opt(rng, 50) {
                push!(rng.pick(&["0", "1", "2", "5", "-1"]));
            }
        }
        "TYPE" | "TTL" | "PERSIST" => push!(rng.pick(&all_keys())),
        "EXPIRE" | "PEXPIRE" => {
            push!(rng.pick(&all_keys()));
            if name == "EXPIRE" {
                push!(rng.pick(&["100000", "1000000", "0", "-1", "abc"]));
            } else {
                push!(rng.pick(&["100000000", "0", "-5"]));
            }
            if opt(rng, 30) {
                push!(rng.pick(&["NX", "XX", "GT", "LT"]));
            }
        }
        "DEL" | "EXISTS" => {
            let keys = all_keys();
            for _ in 0..rng.between(1, if name == "DEL" { 2 } else { 3 }) {
                push!(rng.pick(&keys));
            }
        }
        "RENAME" | "RENAMENX" | "COPY" => {
            push!(rng.pick(&all_keys()), rng.pick(&other_keys()));
            if name == "COPY" && opt(rng, 40) {
                push!("REPLACE");
            }
        }
        "OBJECT" => push!("ENCODING", rng.pick(&all_keys())),
        "SET" => push!(
            rng.pick(STRING_KEYS),
            rng.pick(&["v", "10", "9223372036854775806"])
        ),
        "INCRBY" => push!(rng.pick(STRING_KEYS), rng.pick(INCRS)),
        other => panic!("test bug: no generator for {other}"),
    }
    a
}

fn gen_zadd(rng: &mut Rng, a: &mut Vec<String>) {
    let key = zkey(rng, true);
    let lex = key == ZLEX_KEY;
    a.push(key);
    let incr = rng.chance(15) && !lex;
    for (flag, percent) in [("NX", 12), ("XX", 12), ("GT", 8), ("LT", 8), ("CH", 30)] {
        if (!lex || !["GT", "LT"].contains(&flag)) && rng.chance(percent) {
            a.push(flag.to_owned());
        }
    }
    if incr {
        a.push("INCR".to_owned());
    }
    let pairs = if incr && rng.chance(85) {
        1
    } else {
        rng.between(1, 3)
    };
    for _ in 0..pairs {
        let score = if lex { "0" } else { rng.pick(SCORES) };
        a.push(score.to_owned());
        a.push(rng.pick(ZMEMBERS).to_owned());
    }
    if rng.chance(3) {
        a.push("dangling".to_owned());
    }
}

fn gen_zrange(rng: &mut Rng, a: &mut Vec<String>) {
    match rng.below(10) {
        0..=3 => {
            a.push(zkey(rng, true));
            a.push(rng.pick(INDEXES).to_owned());
            a.push(rng.pick(INDEXES).to_owned());
            if rng.chance(30) {
                a.push("REV".to_owned());
            }
            if rng.chance(5) {
                a.push("LIMIT".to_owned());
                a.push("0".to_owned());
                a.push("1".to_owned());
            }
        }
        4..=6 => {
            a.push(zkey(rng, true));
            a.push(rng.pick(SCORE_RANGES).to_owned());
            a.push(rng.pick(SCORE_RANGES).to_owned());
            a.push("BYSCORE".to_owned());
            if rng.chance(30) {
                a.push("REV".to_owned());
            }
            if rng.chance(40) {
                a.push("LIMIT".to_owned());
                a.push(rng.pick(LIMIT_OFFSETS).to_owned());
                a.push(rng.pick(LIMIT_COUNTS).to_owned());
            }
        }
        _ => {
            let key = if rng.chance(90) {
                ZLEX_KEY.to_owned()
            } else {
                rng.pick(STRING_KEYS).to_owned()
            };
            a.push(key);
            a.push(rng.pick(LEX_RANGES).to_owned());
            a.push(rng.pick(LEX_RANGES).to_owned());
            a.push("BYLEX".to_owned());
            if rng.chance(30) {
                a.push("REV".to_owned());
            }
            if rng.chance(40) {
                a.push("LIMIT".to_owned());
                a.push(rng.pick(LIMIT_OFFSETS).to_owned());
                a.push(rng.pick(LIMIT_COUNTS).to_owned());
            }
            if rng.chance(5) {
                a.push("WITHSCORES".to_owned());
            }
            return;
        }
    }
    if rng.chance(40) {
        a.push("WITHSCORES".to_owned());
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

/// Random command sequences over every listed command, MULTI/EXEC blocks included, reply for
/// reply equal to redis-server's; every listed command is exercised.
#[test]
fn model_random_sequences_match_redis() {
    let Some(mut twin) = Twin::start() else {
        return;
    };
    twin.flush_on_mismatch = true;
    let seed = env_u64("TANLI_MODEL_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let ops = env_u64("TANLI_MODEL_OPS").unwrap_or(DEFAULT_OPS);
    eprintln!("t80 model: seed {seed} (replay: TANLI_MODEL_SEED={seed}), {ops} operations");
    let skip: HashSet<String> = std::env::var("TANLI_MODEL_SKIP")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    let names: Vec<(&str, usize)> = weighted_names()
        .into_iter()
        .filter(|(n, _)| !skip.contains(*n) && twin.knows(n))
        .collect();
    let names: Vec<(&str, usize)> = if twin.knows("EXEC") {
        names
    } else {
        names.into_iter().filter(|(n, _)| *n != "MULTI").collect()
    };
    let total: usize = names.iter().map(|(_, w)| w).sum();
    let mut rng = Rng(seed);
    let started = Instant::now();
    let keys = all_keys();
    for op in 0..ops {
        twin.context = format!("seed {seed} op {op}");
        let mut roll = rng.below(total);
        let name = names
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map_or("TYPE", |(n, _)| n);
        if name == "MULTI" {
            let inner: Vec<&str> = names
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| !NOT_IN_MULTI.contains(n))
                .collect();
            twin.run(&args(&["MULTI"]));
            for _ in 0..rng.between(1, 4) {
                if rng.chance(5) {
                    twin.run(&args(&["HSET", "{m}h1"])); // wrong arity: EXECABORT
                } else {
                    let name = rng.pick(&inner);
                    let cmd = gen(&mut rng, name);
                    twin.run(&cmd);
                }
            }
            twin.run(&args(&["EXEC"]));
        } else {
            let cmd = gen(&mut rng, name);
            twin.run(&cmd);
        }
        if (op + 1) % SYNC_EVERY == 0 {
            twin.compare_keyspace(&keys);
        }
    }
    twin.context = format!("seed {seed} final keyspace comparison");
    twin.compare_keyspace(&keys);
    eprintln!("t80 model: {ops} operations in {:?}", started.elapsed());
    twin.finish(&format!("t80 model (seed {seed})"));
    let missing: Vec<&&str> = LISTED
        .iter()
        .filter(|n| !twin.names.contains(**n) && !skip.contains(**n))
        .collect();
    if twin.known.is_some() {
        eprintln!("t80 model: not exercised (partial mode): {missing:?}");
    } else {
        assert!(
            missing.is_empty(),
            "commands never exercised: {missing:?} (raise TANLI_MODEL_OPS)"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Deterministic edge-case scripts
// ------------------------------------------------------------------------------------------

/// Runs one script in a fresh pair of servers and fails on the first mismatch (or on all of
/// them at the end in keep-going mode).
fn run_script(name: &str, script: &[String]) {
    let Some(mut twin) = Twin::start() else {
        return;
    };
    twin.script(name, script);
    twin.finish(&format!("t80 script {name}"));
}

/// Hashes: the last HDEL removes the key, HINCRBY overflow, HINCRBYFLOAT's formatting and
/// NaN/Infinity refusal, WRONGTYPE both ways, arity and syntax errors.
#[test]
fn script_hashes() {
    run_script(
        "hashes",
        &lines(&[
            "HSET {m}h f v",
            "HSET {m}h f v2 g w",
            "HGETALL {m}h",
            "HDEL {m}h f g nope",
            "EXISTS {m}h",
            "TYPE {m}h",
            "HGETALL {m}h",
            "HLEN {m}h",
            "HKEYS {m}h",
            "HGET {m}h f",
            "HMGET {m}h f g",
            "HDEL {m}h f",
            "HSETNX {m}h f 1",
            "HSETNX {m}h f 2",
            "HGET {m}h f",
            "HSTRLEN {m}h f",
            "HSTRLEN {m}h nope",
            "HSTRLEN {m}nope f",
            "HINCRBY {m}h n 9223372036854775807",
            "HINCRBY {m}h n 1",
            "HINCRBY {m}h n -9223372036854775808",
            "HINCRBY {m}h n -9223372036854775808",
            "HGET {m}h n",
            "HINCRBY {m}h n 1.5",
            "HINCRBY {m}h n abc",
            "HINCRBY {m}h n 99999999999999999999",
            "HSET {m}h s abc",
            "HINCRBY {m}h s 1",
            "HINCRBYFLOAT {m}h s 1",
            "HINCRBYFLOAT {m}h x 0.1",
            "HINCRBYFLOAT {m}h x 0.2",
            "HINCRBYFLOAT {m}h x 1e308",
            "HINCRBYFLOAT {m}h x 1e308",
            "HINCRBYFLOAT {m}h x inf",
            "HINCRBYFLOAT {m}h x nan",
            "HINCRBYFLOAT {m}h x -0.3",
            "HINCRBYFLOAT {m}h y 3.0e3",
            "HINCRBYFLOAT {m}h y 5.0e-3",
            "HINCRBYFLOAT {m}h y 1.23456789012345678",
            "HINCRBYFLOAT {m}h z 10.50",
            "HSET {m}h big 1e400",
            "HINCRBYFLOAT {m}h big 1",
            "HSET {m}h sp \" 1\"",
            "HINCRBYFLOAT {m}h \"\" 1",
            "HGETALL {m}h",
            "HVALS {m}h",
            "HSET {m}h",
            "HSET {m}h f",
            "HSET {m}h f v g",
            "HGET {m}h",
            "HMGET {m}h",
            "HDEL {m}h",
            "HSETNX {m}h f",
            "HINCRBY {m}h f",
            "SET {m}str v",
            "HSET {m}str f v",
            "HGET {m}str f",
            "HGETALL {m}str",
            "HLEN {m}str",
            "HDEL {m}str f",
            "HINCRBY {m}str f 1",
            "HRANDFIELD {m}str",
            "HSCAN {m}str 0",
            "GET {m}h",
            "INCR {m}h",
            "APPEND {m}h x",
            "STRLEN {m}h",
            "HRANDFIELD {m}h 0",
            "HRANDFIELD {m}nope",
            "HRANDFIELD {m}nope 3",
            "HRANDFIELD {m}nope 3 WITHVALUES",
            "HRANDFIELD {m}h 1 WITHVALUE",
            "HRANDFIELD {m}h abc",
            "HRANDFIELD {m}h 1 WITHVALUES extra",
            "HSCAN {m}h 0 COUNT 0",
            "HSCAN {m}h 0 COUNT -1",
            "HSCAN {m}h 0 MATCH",
            "HSCAN {m}h 0 NOVALUE",
            "HSCAN {m}h abc",
            "HSCAN {m}nope 0",
            "HSCAN {m}h 0 MATCH f* COUNT 1",
            "HLEN {m}nope",
            "HGETALL {m}nope",
            "HKEYS {m}nope",
            "HEXISTS {m}nope f",
            "HDEL {m}nope f",
            "hset {m}h Upper Case",
            "HGET {m}h Upper",
            "HGET {m}h upper",
        ]),
    );
}

/// Lists: negative and out-of-range indexes, LSET/LINSERT/LPOS edge cases, LPOP counts, LTRIM
/// to nothing removes the key, LMOVE rotation, WRONGTYPE both ways.
#[test]
fn script_lists() {
    run_script(
        "lists",
        &lines(&[
            "RPUSH {m}l a b c d e",
            "LRANGE {m}l 0 -1",
            "LRANGE {m}l -100 100",
            "LRANGE {m}l -1 -2",
            "LRANGE {m}l 3 1",
            "LRANGE {m}l -3 -1",
            "LRANGE {m}l 5 10",
            "LRANGE {m}l -9223372036854775808 9223372036854775807",
            "LRANGE {m}l 0 abc",
            "LINDEX {m}l -1",
            "LINDEX {m}l -5",
            "LINDEX {m}l -6",
            "LINDEX {m}l 5",
            "LINDEX {m}l abc",
            "LSET {m}l -1 E",
            "LSET {m}l 5 x",
            "LSET {m}l -6 x",
            "LSET {m}nope 0 x",
            "LSET {m}l abc x",
            "LINSERT {m}l BEFORE a A",
            "LINSERT {m}l AFTER E Z",
            "LINSERT {m}l AFTER nope Z",
            "LINSERT {m}nope AFTER a Z",
            "LINSERT {m}l MIDDLE a Z",
            "LRANGE {m}l 0 -1",
            "RPUSH {m}l a a b a",
            "LPOS {m}l a",
            "LPOS {m}l a RANK 2",
            "LPOS {m}l a RANK -1",
            "LPOS {m}l a RANK -2 COUNT 2",
            "LPOS {m}l a COUNT 0",
            "LPOS {m}l a COUNT 0 MAXLEN 3",
            "LPOS {m}l a RANK 0",
            "LPOS {m}l a RANK -9223372036854775808",
            "LPOS {m}l a COUNT -1",
            "LPOS {m}l a MAXLEN -1",
            "LPOS {m}l nope",
            "LPOS {m}l nope COUNT 2",
            "LPOS {m}nope a",
            "LPOS {m}nope a COUNT 1",
            "LPOS {m}l a FOO 1",
            "LREM {m}l -2 a",
            "LRANGE {m}l 0 -1",
            "LREM {m}l 0 a",
            "LREM {m}l 1 nope",
            "LREM {m}nope 1 a",
            "LPOP {m}l 0",
            "LPOP {m}l -1",
            "LPOP {m}l abc",
            "LPOP {m}l 2",
            "RPOP {m}l 2",
            "RPOP {m}l",
            "LPOP {m}nope",
            "LPOP {m}nope 2",
            "LPOP {m}nope 0",
            "RPOP {m}nope 0",
            "LLEN {m}l",
            "LPOP {m}l 100",
            "EXISTS {m}l",
            "LPOP {m}l",
            "RPUSH {m}l 1 2 3",
            "LTRIM {m}l 1 0",
            "EXISTS {m}l",
            "RPUSH {m}l 1 2 3 4 5",
            "LTRIM {m}l -2 100",
            "LRANGE {m}l 0 -1",
            "LTRIM {m}l -100 -100",
            "EXISTS {m}l",
            "LTRIM {m}nope 0 1",
            "RPUSH {m}l 1 2 3",
            "LMOVE {m}l {m}l RIGHT LEFT",
            "LRANGE {m}l 0 -1",
            "LMOVE {m}l {m}l LEFT RIGHT",
            "LMOVE {m}l {m}l2 LEFT LEFT",
            "LMOVE {m}l {m}l2 RIGHT RIGHT",
            "LRANGE {m}l2 0 -1",
            "LMOVE {m}nope {m}l2 LEFT LEFT",
            "LMOVE {m}l {m}l2 UP LEFT",
            "LMOVE {m}l {m}l2 LEFT LEFT",
            "EXISTS {m}l",
            "LPUSHX {m}l x",
            "RPUSHX {m}l x",
            "EXISTS {m}l",
            "LPUSHX {m}l2 x y",
            "RPUSHX {m}l2 z",
            "LRANGE {m}l2 0 -1",
            "LPUSH {m}l",
            "LPUSHX {m}l",
            "LRANGE {m}l 0",
            "LINDEX {m}l",
            "LSET {m}l 0",
            "LREM {m}l 0",
            "LINSERT {m}l BEFORE a",
            "LMOVE {m}l {m}l2 LEFT",
            "SET {m}str v",
            "LPUSH {m}str a",
            "RPUSHX {m}str a",
            "LRANGE {m}str 0 -1",
            "LLEN {m}str",
            "LPOP {m}str",
            "LINDEX {m}str 0",
            "LMOVE {m}l2 {m}str LEFT LEFT",
            "LRANGE {m}l2 0 -1",
            "LMOVE {m}str {m}l2 LEFT LEFT",
            "GET {m}l2",
            "SADD {m}s a",
            "LPUSH {m}s a",
            "RPUSH {m}l3 \"\" \"\"",
            "LRANGE {m}l3 0 -1",
            "LPOS {m}l3 \"\" COUNT 0",
        ]),
    );
}

/// Sets: intset and non-integer members, the last SREM removes the key, the *STORE commands
/// (an empty result deletes the destination, whatever its type), SMOVE edge cases, SPOP and
/// SRANDMEMBER counts, WRONGTYPE both ways.
#[test]
fn script_sets() {
    run_script(
        "sets",
        &lines(&[
            "SADD {m}s 1 2 3 2",
            "SMEMBERS {m}s",
            "SADD {m}s a -5 10",
            "SCARD {m}s",
            "SISMEMBER {m}s 1",
            "SISMEMBER {m}s 01",
            "SMISMEMBER {m}s 1 nope a",
            "SMISMEMBER {m}nope 1 2",
            "SREM {m}s 1 2 3 a -5 10 nope",
            "EXISTS {m}s",
            "SCARD {m}s",
            "SADD {m}s1 a b c d",
            "SADD {m}s2 c d e",
            "SADD {m}s3 d x",
            "SINTER {m}s1 {m}s2 {m}s3",
            "SINTER {m}s1 {m}nope",
            "SUNION {m}s1 {m}s2 {m}nope",
            "SDIFF {m}s1 {m}s2",
            "SDIFF {m}nope {m}s1",
            "SDIFF {m}s1 {m}nope",
            "SINTERSTORE {m}d {m}s1 {m}s2",
            "SMEMBERS {m}d",
            "SINTERSTORE {m}d {m}s1 {m}nope",
            "EXISTS {m}d",
            "SET {m}d x",
            "SUNIONSTORE {m}d {m}s1 {m}s3",
            "TYPE {m}d",
            "SMEMBERS {m}d",
            "SET {m}d x",
            "SDIFFSTORE {m}d {m}s1 {m}s1",
            "EXISTS {m}d",
            "SDIFFSTORE {m}s1 {m}s1 {m}s2",
            "SMEMBERS {m}s1",
            "SINTERSTORE {m}d {m}str",
            "SET {m}str v",
            "SINTER {m}s1 {m}str",
            "SINTER {m}nope {m}str",
            "SUNION {m}s1 {m}str",
            "SDIFF {m}nope {m}str",
            "SINTERSTORE {m}d {m}s1 {m}str",
            "SUNIONSTORE {m}str {m}s1",
            "TYPE {m}str",
            "SET {m}str v",
            "SMOVE {m}s1 {m}s2 a",
            "SMOVE {m}s1 {m}s2 a",
            "SMOVE {m}s1 {m}s2 b",
            "EXISTS {m}s1",
            "SMOVE {m}s2 {m}s2 c",
            "SMOVE {m}s2 {m}s2 nope",
            "SMOVE {m}s2 {m}str c",
            "SMOVE {m}str {m}s2 c",
            "SMOVE {m}nope {m}str c",
            "SMOVE {m}s2 {m}new c",
            "SMEMBERS {m}new",
            "SMEMBERS {m}s2",
            "SPOP {m}nope",
            "SPOP {m}nope 2",
            "SPOP {m}nope 0",
            "SPOP {m}s2 0",
            "SPOP {m}s2 -1",
            "SPOP {m}s2 abc",
            "SPOP {m}s2 1 2",
            "SRANDMEMBER {m}nope",
            "SRANDMEMBER {m}nope 5",
            "SRANDMEMBER {m}nope -5",
            "SRANDMEMBER {m}s2 0",
            "SRANDMEMBER {m}s2 100",
            "SRANDMEMBER {m}s2 -7",
            "SRANDMEMBER {m}s2 abc",
            "SPOP {m}s2 100",
            "EXISTS {m}s2",
            "SADD {m}s",
            "SREM {m}s",
            "SISMEMBER {m}s",
            "SMISMEMBER {m}s",
            "SMOVE {m}s {m}t",
            "SINTER",
            "SINTERSTORE {m}d",
            "SADD {m}str a",
            "SREM {m}str a",
            "SMEMBERS {m}str",
            "SCARD {m}str",
            "SISMEMBER {m}str a",
            "SPOP {m}str",
            "SSCAN {m}str 0",
            "GET {m}new",
            "SADD {m}i 1 2 3 -9223372036854775808 9223372036854775807 0 00 -0 +1",
            "SMEMBERS {m}i",
            "SSCAN {m}i 0 MATCH *0*",
            "SSCAN {m}i 0 COUNT 1",
            "SSCAN {m}i 0 COUNT 0",
            "SSCAN {m}nope 0",
        ]),
    );
}

/// Sorted sets: ZADD's flag combinations and errors, INCR to infinity and NaN, score
/// formatting, ranges by rank/score/lex with REV and LIMIT, pops, removals that empty the key,
/// WRONGTYPE both ways.
#[test]
fn script_sorted_sets() {
    run_script(
        "sorted_sets",
        &lines(&[
            "ZADD {m}z 1 a 2 b 3 c",
            "ZADD {m}z NX XX 1 a",
            "ZADD {m}z GT LT 1 a",
            "ZADD {m}z NX GT 1 a",
            "ZADD {m}z NX LT 1 a",
            "ZADD {m}z INCR 1 a 2 b",
            "ZADD {m}z nan a",
            "ZADD {m}z abc a",
            "ZADD {m}z 1",
            "ZADD {m}z 1 a 2",
            "ZADD {m}z",
            "ZADD {m}z CH 5 a 2 b 7 d",
            "ZADD {m}z XX CH 6 a 8 e",
            "ZADD {m}z NX 100 a 4 f",
            "ZADD {m}z GT CH 1 a 9 b",
            "ZADD {m}z LT CH 1 a 100 c",
            "ZADD {m}z GT 1 new",
            "ZRANGE {m}z 0 -1 WITHSCORES",
            "ZADD {m}z INCR 1 a",
            "ZADD {m}z XX INCR 1 nope",
            "ZADD {m}z NX INCR 1 a",
            "ZADD {m}z GT INCR -1 a",
            "ZADD {m}z LT INCR 1 a",
            "ZADD {m}z INCR +inf a",
            "ZADD {m}z INCR -inf a",
            "ZSCORE {m}z a",
            "ZINCRBY {m}z -inf a",
            "ZINCRBY {m}z 1 a",
            "ZINCRBY {m}z nan a",
            "ZINCRBY {m}z abc a",
            "ZSCORE {m}z a",
            "ZADD {m}f 0.1 x 1e20 y -0 z 1.5e-7 w 123456789012345678 v 0.5 u",
            "ZRANGE {m}f 0 -1 WITHSCORES",
            "ZINCRBY {m}f 0.2 x",
            "ZADD {m}f 3.0 t 2.50 s -1e3 r 1E2 q",
            "ZSCORE {m}f t",
            "ZSCORE {m}f s",
            "ZSCORE {m}f r",
            "ZSCORE {m}f q",
            "ZSCORE {m}f z",
            "ZMSCORE {m}f t nope s",
            "ZMSCORE {m}nope a b",
            "ZADD {m}f 0x10 hex",
            "ZADD {m}f \" 1\" sp",
            "ZADD {m}f 1.5abc bad",
            "ZRANGE {m}z 0 -1",
            "ZRANGE {m}z -2 -1 WITHSCORES",
            "ZRANGE {m}z -100 100",
            "ZRANGE {m}z 2 1",
            "ZRANGE {m}z 0 -1 REV WITHSCORES",
            "ZRANGE {m}z 0 0 REV",
            "ZRANGE {m}z (1 +inf BYSCORE",
            "ZRANGE {m}z -inf +inf BYSCORE LIMIT 1 2",
            "ZRANGE {m}z -inf +inf BYSCORE LIMIT 1 -1",
            "ZRANGE {m}z -inf +inf BYSCORE LIMIT -1 2",
            "ZRANGE {m}z +inf -inf BYSCORE REV LIMIT 0 2 WITHSCORES",
            "ZRANGE {m}z (9 (2 BYSCORE REV",
            "ZRANGE {m}z 0 -1 LIMIT 0 1",
            "ZRANGE {m}z 0 -1 BYSCORE BYLEX",
            "ZRANGE {m}z abc 1 BYSCORE",
            "ZRANGE {m}z 0 abc",
            "ZRANGE {m}z 0 -1 WITHSCORES WITHSCORES",
            "ZRANGE {m}z 0",
            "ZRANGEBYSCORE {m}z -inf +inf WITHSCORES LIMIT 0 2",
            "ZRANGEBYSCORE {m}z (1 (9",
            "ZRANGEBYSCORE {m}z 9 1",
            "ZRANGEBYSCORE {m}z -inf +inf LIMIT 0",
            "ZRANGEBYSCORE {m}z [1 2",
            "ZREVRANGE {m}z 0 -1 WITHSCORES",
            "ZREVRANGE {m}z -1 -1",
            "ZREVRANGE {m}z 0 -1 REV",
            "ZCOUNT {m}z -inf +inf",
            "ZCOUNT {m}z (1 9",
            "ZCOUNT {m}z 9 1",
            "ZCOUNT {m}z x 1",
            "ZCOUNT {m}nope 0 1",
            "ZRANK {m}z a",
            "ZRANK {m}z nope",
            "ZREVRANK {m}z a",
            "ZRANK {m}nope a",
            "ZADD {m}lex 0 a 0 b 0 c 0 d 0 e 0 \"\"",
            "ZRANGE {m}lex - + BYLEX",
            "ZRANGE {m}lex [b (e BYLEX",
            "ZRANGE {m}lex + - BYLEX REV",
            "ZRANGE {m}lex (e [b BYLEX REV LIMIT 1 2",
            "ZRANGE {m}lex [ (b BYLEX",
            "ZRANGE {m}lex b d BYLEX",
            "ZRANGE {m}lex - + BYLEX WITHSCORES",
            "ZRANGE {m}lex - + BYLEX LIMIT 0 -1",
            "ZPOPMIN {m}z",
            "ZPOPMAX {m}z",
            "ZPOPMIN {m}z 2",
            "ZPOPMAX {m}z 0",
            "ZPOPMIN {m}z -1",
            "ZPOPMIN {m}z abc",
            "ZPOPMIN {m}nope",
            "ZPOPMAX {m}nope 3",
            "ZPOPMIN {m}z 100",
            "EXISTS {m}z",
            "ZADD {m}z 1 a 2 b 3 c 4 d",
            "ZREMRANGEBYSCORE {m}z (1 3",
            "ZRANGE {m}z 0 -1",
            "ZREMRANGEBYSCORE {m}z abc 1",
            "ZREMRANGEBYRANK {m}z -1 -1",
            "ZREMRANGEBYRANK {m}z 5 10",
            "ZREMRANGEBYRANK {m}z 0 -1",
            "EXISTS {m}z",
            "ZADD {m}z 1 a",
            "ZREM {m}z a nope",
            "EXISTS {m}z",
            "ZREM {m}z a",
            "ZCARD {m}nope",
            "ZREMRANGEBYSCORE {m}nope 0 1",
            "ZREMRANGEBYRANK {m}nope 0 1",
            "SET {m}str v",
            "ZADD {m}str 1 a",
            "ZSCORE {m}str a",
            "ZRANGE {m}str 0 -1",
            "ZCARD {m}str",
            "ZINCRBY {m}str 1 a",
            "ZPOPMIN {m}str",
            "ZSCAN {m}str 0",
            "GET {m}f",
            "ZSCAN {m}f 0",
            "ZSCAN {m}f 0 MATCH * COUNT 1",
            "ZSCAN {m}f 0 COUNT 0",
            "ZSCAN {m}nope 0",
            "zadd {m}z ch nx 1 a",
            "zscore {m}z a",
        ]),
    );
}

/// Generic commands on collections: TYPE, EXISTS and DEL counts, EXPIRE options, RENAME,
/// RENAMENX, COPY, OBJECT ENCODING, and INCRBY overflow on strings.
#[test]
fn script_generic() {
    run_script(
        "generic",
        &lines(&[
            "HSET {m}h f v",
            "RPUSH {m}l a b",
            "SADD {m}s a",
            "SADD {m}si 1 2",
            "ZADD {m}z 1 a",
            "SET {m}str v",
            "SET {m}int 12",
            "TYPE {m}h",
            "TYPE {m}l",
            "TYPE {m}s",
            "TYPE {m}z",
            "TYPE {m}str",
            "TYPE {m}nope",
            "EXISTS {m}h {m}l {m}s {m}z {m}str {m}nope {m}h",
            "OBJECT ENCODING {m}h",
            "OBJECT ENCODING {m}l",
            "OBJECT ENCODING {m}s",
            "OBJECT ENCODING {m}si",
            "OBJECT ENCODING {m}z",
            "OBJECT ENCODING {m}str",
            "OBJECT ENCODING {m}int",
            "OBJECT ENCODING {m}nope",
            "OBJECT ENCODING",
            "OBJECT NOPE {m}h",
            "SADD {m}enc 1 a",
            "SREM {m}enc a",
            "OBJECT ENCODING {m}enc",
            "COPY {m}enc {m}enc2",
            "OBJECT ENCODING {m}enc2",
            "SINTERSTORE {m}enc3 {m}enc",
            "OBJECT ENCODING {m}enc3",
            "SMOVE {m}enc {m}enc4 1",
            "OBJECT ENCODING {m}enc4",
            "HSET {m}hb f xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "OBJECT ENCODING {m}hb",
            "HSET {m}hb f short",
            "OBJECT ENCODING {m}hb",
            "ZADD {m}zb 1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "OBJECT ENCODING {m}zb",
            "ZADD {m}zb 2 short",
            "ZREM {m}zb xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "OBJECT ENCODING {m}zb",
            "RPUSH {m}lb xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "OBJECT ENCODING {m}lb",
            "DEL {m}enc {m}enc2 {m}enc3 {m}enc4 {m}hb {m}zb {m}lb",
            "TTL {m}h",
            "EXPIRE {m}h 1000",
            "TTL {m}h",
            "EXPIRE {m}h 2000 NX",
            "EXPIRE {m}h 2000 XX",
            "EXPIRE {m}h 10 GT",
            "EXPIRE {m}h 10 LT",
            "EXPIRE {m}l 1000 XX",
            "EXPIRE {m}l 1000 GT",
            "EXPIRE {m}l 1000 LT",
            "TTL {m}l",
            "EXPIRE {m}h 10 NX XX",
            "EXPIRE {m}h 10 GT LT",
            "EXPIRE {m}h abc",
            "EXPIRE {m}h 9223372036854775807",
            "PEXPIRE {m}h 9223372036854775807",
            "EXPIRE {m}nope 10",
            "PERSIST {m}h",
            "PERSIST {m}h",
            "TTL {m}h",
            "PERSIST {m}nope",
            "EXPIRE {m}s 0",
            "EXISTS {m}s",
            "PEXPIRE {m}si -1",
            "EXISTS {m}si",
            "RENAME {m}h {m}h2",
            "TYPE {m}h",
            "HGETALL {m}h2",
            "RENAME {m}h2 {m}h2",
            "RENAME {m}nope {m}x",
            "RENAME {m}nope {m}nope",
            "RENAME {m}h2 {m}str",
            "TYPE {m}str",
            "HGET {m}str f",
            "EXPIRE {m}l 1000",
            "RENAME {m}l {m}l2",
            "TTL {m}l2",
            "RENAMENX {m}l2 {m}str",
            "RENAMENX {m}l2 {m}l3",
            "RENAMENX {m}nope {m}l3",
            "RENAMENX {m}l3 {m}l3",
            "LRANGE {m}l3 0 -1",
            "TTL {m}l3",
            "COPY {m}l3 {m}l4",
            "LRANGE {m}l4 0 -1",
            "TTL {m}l4",
            "COPY {m}l3 {m}str",
            "COPY {m}l3 {m}str REPLACE",
            "TYPE {m}str",
            "COPY {m}nope {m}x",
            "COPY {m}l3 {m}l3",
            "COPY {m}l3 {m}l3 REPLACE",
            "COPY {m}z {m}z2 FOO",
            "COPY {m}z {m}z2 DB 0",
            "ZADD {m}z2 5 b",
            "ZRANGE {m}z 0 -1 WITHSCORES",
            "ZRANGE {m}z2 0 -1 WITHSCORES",
            "ZADD {m}z 7 c",
            "ZRANGE {m}z2 0 -1 WITHSCORES",
            "SADD {m}sc 1 2 3",
            "COPY {m}sc {m}sc2",
            "SREM {m}sc2 1",
            "SMEMBERS {m}sc",
            "HSET {m}hc a 1",
            "COPY {m}hc {m}hc2",
            "HINCRBY {m}hc2 a 1",
            "HGET {m}hc a",
            "DEL {m}l3 {m}l4 {m}nope {m}l3",
            "DEL {m}z {m}z2 {m}sc {m}sc2 {m}hc {m}hc2 {m}str {m}int",
            "EXISTS {m}l3 {m}z",
            "SET {m}n 9223372036854775807",
            "INCRBY {m}n 1",
            "INCR {m}n",
            "DECRBY {m}n -1",
            "SET {m}n -9223372036854775808",
            "DECR {m}n",
            "DECRBY {m}n 1",
            "INCRBY {m}n -1",
            "GET {m}n",
            "SET {m}n 1",
            "INCRBY {m}n 9223372036854775807",
            "DECRBY {m}n -9223372036854775808",
        ]),
    );
}

/// Collections expire like strings: gone from every read once their time passes (waited for
/// with a deadline, never a fixed sleep), PEXPIREAT in the past deletes at once, a collection
/// re-created after expiry has no TTL, and writes to an expired key start a new one.
#[test]
fn script_expiry() {
    run_script(
        "expiry",
        &lines(&[
            "HSET {m}eh f v",
            "RPUSH {m}el a b",
            "SADD {m}es a b",
            "ZADD {m}ez 1 a",
            "SET {m}estr v",
            "PEXPIRE {m}eh 50",
            "PEXPIRE {m}el 50",
            "PEXPIRE {m}es 50",
            "PEXPIRE {m}ez 50",
            "PEXPIRE {m}estr 50",
            "WAIT_GONE {m}eh",
            "WAIT_GONE {m}el",
            "WAIT_GONE {m}es",
            "WAIT_GONE {m}ez",
            "WAIT_GONE {m}estr",
            "TYPE {m}eh",
            "HGET {m}eh f",
            "HGETALL {m}eh",
            "HLEN {m}eh",
            "LLEN {m}el",
            "LRANGE {m}el 0 -1",
            "SCARD {m}es",
            "SMEMBERS {m}es",
            "SISMEMBER {m}es a",
            "ZCARD {m}ez",
            "ZSCORE {m}ez a",
            "TTL {m}eh",
            "TTL {m}el",
            "HSET {m}eh g w",
            "HGETALL {m}eh",
            "TTL {m}eh",
            "RPUSHX {m}el x",
            "LPUSH {m}el x",
            "LRANGE {m}el 0 -1",
            "TTL {m}el",
            "SADD {m}es c",
            "SMEMBERS {m}es",
            "ZADD {m}ez XX 5 a",
            "ZADD {m}ez 5 b",
            "ZRANGE {m}ez 0 -1 WITHSCORES",
            "PEXPIREAT {m}eh 1000",
            "EXISTS {m}eh",
            "EXPIREAT {m}el 1",
            "LLEN {m}el",
            "EXPIRE {m}es 100",
            "TTL {m}es",
            "PERSIST {m}es",
            "TTL {m}es",
            "PEXPIRE {m}ez 50",
            "WAIT_GONE {m}ez",
            "ZADD {m}ez2 1 a",
            "COPY {m}ez {m}ez2 REPLACE",
            "ZCARD {m}ez2",
            "RENAME {m}ez {m}ez3",
            "SADD {m}s1 a b",
            "SADD {m}s2 b c",
            "PEXPIRE {m}s2 50",
            "WAIT_GONE {m}s2",
            "SUNION {m}s1 {m}s2",
            "SINTERSTORE {m}d {m}s1 {m}s2",
            "EXISTS {m}d",
            "SMOVE {m}s2 {m}s1 b",
        ]),
    );
}

/// Big collections (1000 elements), built with a few commands and read back in pieces: ranges
/// by index, score and rank, SCAN with small COUNTs, encodings past the small-size limits.
#[test]
fn script_big_collections() {
    const N: usize = 1000;
    const CHUNK: usize = 250;
    let mut script: Vec<String> = Vec::new();
    for start in (0..N).step_by(CHUNK) {
        let range = start..start + CHUNK;
        let els: Vec<String> = range.clone().map(|i| format!("e{i}")).collect();
        script.push(format!("RPUSH {{m}}bl {}", els.join(" ")));
        let pairs: Vec<String> = range
            .clone()
            .map(|i| format!("{} m{i:04}", i % 97))
            .collect();
        script.push(format!("ZADD {{m}}bz {}", pairs.join(" ")));
        let fields: Vec<String> = range.clone().map(|i| format!("f{i} {i}")).collect();
        script.push(format!("HSET {{m}}bh {}", fields.join(" ")));
        let members: Vec<String> = range.clone().map(|i| i.to_string()).collect();
        script.push(format!("SADD {{m}}bs {}", members.join(" ")));
        let words: Vec<String> = range.map(|i| format!("w{i}")).collect();
        script.push(format!("SADD {{m}}bw {}", words.join(" ")));
    }
    for cmd in [
        "LLEN {m}bl",
        "ZCARD {m}bz",
        "HLEN {m}bh",
        "SCARD {m}bs",
        "OBJECT ENCODING {m}bl",
        "OBJECT ENCODING {m}bz",
        "OBJECT ENCODING {m}bh",
        "OBJECT ENCODING {m}bs",
        "OBJECT ENCODING {m}bw",
        "LINDEX {m}bl 500",
        "LINDEX {m}bl -1000",
        "LRANGE {m}bl -1000 -990",
        "LRANGE {m}bl 995 2000",
        "LPOS {m}bl e999",
        "LPOS {m}bl e999 MAXLEN 100",
        "LSET {m}bl 700 changed",
        "LINSERT {m}bl BEFORE e300 inserted",
        "LREM {m}bl 0 e400",
        "ZRANGEBYSCORE {m}bz 10 (12 WITHSCORES",
        "ZRANGE {m}bz 500 510 WITHSCORES",
        "ZRANGE {m}bz +inf 90 BYSCORE REV LIMIT 5 10",
        "ZRANK {m}bz m0500",
        "ZREVRANK {m}bz m0500",
        "ZCOUNT {m}bz (50 60",
        "ZREMRANGEBYSCORE {m}bz 20 29",
        "ZREMRANGEBYRANK {m}bz 100 199",
        "ZPOPMIN {m}bz 3",
        "ZPOPMAX {m}bz 3",
        "HSCAN {m}bh 0 COUNT 10",
        "HSCAN {m}bh 0 MATCH f99* COUNT 7",
        "SSCAN {m}bs 0 COUNT 10",
        "ZSCAN {m}bz 0 COUNT 10",
        "SINTERSTORE {m}bi {m}bs {m}bs",
        "SCARD {m}bi",
        "SISMEMBER {m}bs 999",
        "SMISMEMBER {m}bw w1 w1000 w999",
        "HGET {m}bh f999",
        "HINCRBY {m}bh f999 1",
        "HSTRLEN {m}bh f999",
        "SRANDMEMBER {m}bw 5",
        "SRANDMEMBER {m}bw -5",
        "HRANDFIELD {m}bh 5 WITHVALUES",
        "SPOP {m}bw 10",
        "SCARD {m}bw",
        "LTRIM {m}bl 100 -100",
        "LLEN {m}bl",
        "LPOP {m}bl 10",
        "RPOP {m}bl 10",
    ] {
        script.push(cmd.to_owned());
    }
    for start in (0..N).step_by(100) {
        script.push(format!("LRANGE {{m}}bl {start} {}", start + 99));
        script.push(format!("ZRANGE {{m}}bz {start} {} WITHSCORES", start + 99));
    }
    script.extend(
        [
            "HGETALL {m}bh",
            "SMEMBERS {m}bs",
            "SDIFF {m}bs {m}bi",
            "HVALS {m}bh",
        ]
        .map(String::from),
    );
    run_script("big_collections", &script);
}

/// MULTI/EXEC: queued replies, EXEC's array (with a runtime error inside), EXECABORT after a
/// queueing error, nesting and EXEC without MULTI, DISCARD, and WATCH aborting on another
/// connection's write.
#[test]
fn script_transactions() {
    run_script(
        "transactions",
        &lines(&[
            "EXEC",
            "DISCARD",
            "MULTI",
            "HSET {m}h f v",
            "RPUSH {m}l a b",
            "SADD {m}s a",
            "ZADD {m}z 1 a",
            "HGETALL {m}h",
            "SMEMBERS {m}s",
            "TTL {m}h",
            "EXEC",
            "MULTI",
            "MULTI",
            "LPUSH {m}h x",
            "HGET {m}h f",
            "EXEC",
            "MULTI",
            "HSET {m}h g",
            "HSET {m}h g w",
            "EXEC",
            "HGET {m}h g",
            "MULTI",
            "NOSUCHCOMMAND",
            "EXEC",
            "MULTI",
            "HSET {m}h g w",
            "DISCARD",
            "HGET {m}h g",
            "MULTI",
            "WATCH {m}h",
            "EXEC",
            "WATCH {m}h",
            "@2 HSET {m}h f changed",
            "MULTI",
            "HGET {m}h f",
            "EXEC",
            "WATCH {m}h",
            "MULTI",
            "HGET {m}h f",
            "HINCRBY {m}h n 5",
            "EXEC",
            "WATCH {m}l",
            "@2 RPUSH {m}other x",
            "MULTI",
            "LLEN {m}l",
            "EXEC",
            "WATCH {m}s",
            "@2 SREM {m}s a",
            "MULTI",
            "SCARD {m}s",
            "EXEC",
            "WATCH {m}z",
            "@2 ZINCRBY {m}z 1 a",
            "MULTI",
            "ZSCORE {m}z a",
            "EXEC",
            "WATCH {m}l",
            "UNWATCH",
            "@2 RPUSH {m}l c",
            "MULTI",
            "LRANGE {m}l 0 -1",
            "EXEC",
            "MULTI",
            "EXPIRE {m}l 100",
            "TTL {m}l",
            "PERSIST {m}l",
            "RENAME {m}l {m}l2",
            "COPY {m}l2 {m}l3",
            "LRANGE {m}l3 0 -1",
            "DEL {m}l2",
            "EXEC",
        ]),
    );
}
