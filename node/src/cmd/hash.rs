//! Hashes: HSET HMSET HSETNX HGET HMGET HGETALL HDEL HEXISTS HLEN HKEYS HVALS HINCRBY
//! HINCRBYFLOAT HSTRLEN HSCAN HRANDFIELD, with Redis 7.0's replies and error texts.
//!
//! **Layout.** Every field has two entries in its instance's element spaces: tag 0 ([`FIELDS`])
//! `field -> value`, in field byte order, for point reads and whole-hash reads (HGETALL, HKEYS
//! and HVALS, which Redis leaves unordered, answer in this order, the same for all three); tag 1
//! ([`BY_HASH`]) `hash(field):u64 BE + field -> empty`, the same fields in the order of a stable
//! 64-bit hash, for HSCAN and HRANDFIELD. Byte order can give HSCAN no bounded page behind a
//! 64-bit cursor (fields sharing a long prefix cannot be told apart in 64 bits) nor HRANDFIELD a
//! fair pick (fields are rarely spread evenly over the byte space); hash order gives both, as for
//! sets (`sets.rs`). Only adding or deleting a field touches tag 1; updating a value does not.
//!
//! **HSCAN cursor.** The cursor is a position in hash order: a page returns the fields whose hash
//! is at least the cursor, COUNT of them, extended past COUNT while the next field has the same
//! hash as the last one returned (a 64-bit collision: practically never). The next cursor is the
//! hash of the first field not returned (never 0: it exceeds a hash already returned), or 0 at
//! the end. Nothing is kept on the server, any replica answers any cursor, and a field present for
//! the whole iteration is returned exactly once whatever is added or removed meanwhile (one added
//! or removed during it may or may not be). MATCH filters a page after it is read, so a page may
//! be empty while the cursor is not 0, as in Redis. NOVALUES (Redis 7.4) is accepted.
//!
//! **HRANDFIELD.** Reads use the reader's random seed ([`ReadCtx::random`]). A hash of at most
//! [`RANDOM_READ_ALL_MAX`] fields, or one of which at least a third is asked for, is read whole
//! and sampled exactly uniformly (reading at most three times the reply). Otherwise one pick reads
//! [`RANDOM_WINDOW`] fields in hash order from a random 64-bit position (wrapping around) and
//! takes one of them uniformly: a field's chance is then within -40%..+52% of the fair `1/n` for
//! 99% of fields (the analysis is in `sets.rs`, which samples the same way). Distinct picks repeat
//! single picks, skipping duplicates. A negative count allows repeats and so is not bounded by
//! the hash: it is refused beyond [`HRANDFIELD_REPEATS_MAX`] picks, or once the reply would pass
//! [`HRANDFIELD_REPLY_BYTES_MAX`], with Redis's "value is out of range" (Redis builds any reply).
//!
//! **Order of checks**, as in Redis: argument errors Redis finds before looking the key up are
//! the parser's, so they win over WRONGTYPE (HSET's odd pair count, the increments of HINCRBY
//! and HINCRBYFLOAT, including the latter's "NaN or Infinity", HRANDFIELD's count and option,
//! HSCAN's cursor); HSCAN's options are checked only once the key is found to hold a hash. A
//! failing write changes nothing. HSET stores the hash even when no value changes (so `WATCH`
//! sees it, as Redis signals the key); HSETNX on an existing field and HDEL of absent fields
//! store nothing.

use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Included, Unbounded};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tanli_storage::{Kind, KvRead, KvWrite, StorageError};

use super::coll::{self, Coll};
use super::ldouble::{self, LongDouble, Parsed};
use super::parse::{eq_ic, err, is_c_space, parse_i64, Args};
use super::scan::SCAN_COUNT_MAX;
use super::table::{
    cmd, Spec, NONDET, NONDET_ORDER, RO, RO_ACCESS, RO_FAST, RW_ACCESS_UPDATE, RW_UPDATE, W_FAST,
    W_OOM_FAST,
};
use super::{glob, keyspace, len_reply, Command, ReadCmd, ReadCtx, Step, WriteCmd};
use crate::reply::Reply;

/// Element space of the fields in byte order: `field -> value`.
const FIELDS: u8 = 0;
/// Element space of the fields in hash order: `hash(field):u64 BE + field -> empty`.
const BY_HASH: u8 = 1;
/// Bytes of the hash in front of a [`BY_HASH`] entry.
const HASH_BYTES: usize = 8;

/// Entries HGETALL, HKEYS and HVALS read at a time (HKEYS drops each page's values).
const ALL_PAGE_ENTRIES: usize = 1024;
/// HSCAN's page size when COUNT is not given (Redis's).
const SCAN_COUNT_DEFAULT: usize = 10;
/// Hashes up to this many fields are read whole for a random pick (exactly uniform).
const RANDOM_READ_ALL_MAX: u64 = 128;
/// A random sample of at least `len / READ_ALL_FACTOR` fields reads the whole hash.
const READ_ALL_FACTOR: u64 = 3;
/// Fields read after a random hash position; one of them is the pick.
const RANDOM_WINDOW: usize = 32;
/// Distinct picks try at most this many single picks per field asked, plus
/// [`DISTINCT_ATTEMPTS_EXTRA`], before completing the sample from the hash in order (after an
/// improbable run of repeats only).
const DISTINCT_ATTEMPTS_FACTOR: u64 = 4;
const DISTINCT_ATTEMPTS_EXTRA: u64 = 16;
/// The most fields a negative HRANDFIELD count (repeats allowed) may ask for.
pub const HRANDFIELD_REPEATS_MAX: u64 = 1_000_000;
/// The most bytes of fields and values the picks of a negative HRANDFIELD count may add up to
/// (Redis's `proto-max-bulk-len`): a few picks of a huge value could otherwise exhaust memory.
pub const HRANDFIELD_REPLY_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// A field and its value.
type Entry = (Vec<u8>, Vec<u8>);
/// A random pick: a field, and its value when it was read along.
type Pick = (Vec<u8>, Option<Vec<u8>>);

const HASH_ACL: &[&str] = &["hash"];
const KEY_RO: &[&str] = &["RO"];
const RW_INSERT: &[&str] = &["RW", "insert"];
const RW_DELETE: &[&str] = &["RW", "delete"];

/// The family's command-table rows (summaries as Redis 7.0's).
#[rustfmt::skip]
pub(super) static TABLE: &[Spec] = &[
    cmd("hdel", -3, W_FAST, HASH_ACL, "hash", "2.0.0", "Delete one or more hash fields", parse_hdel).key(RW_DELETE),
    cmd("hexists", 3, RO_FAST, HASH_ACL, "hash", "2.0.0", "Determine if a hash field exists", parse_hexists).key(KEY_RO),
    cmd("hget", 3, RO_FAST, HASH_ACL, "hash", "2.0.0", "Get the value of a hash field", parse_hget).key(RO_ACCESS),
    cmd("hgetall", 2, RO, HASH_ACL, "hash", "2.0.0", "Get all the fields and values in a hash", parse_hgetall).tips(NONDET_ORDER).key(RO_ACCESS),
    cmd("hincrby", 4, W_OOM_FAST, HASH_ACL, "hash", "2.0.0", "Increment the integer value of a hash field by the given number", parse_hincrby).key(RW_ACCESS_UPDATE),
    cmd("hincrbyfloat", 4, W_OOM_FAST, HASH_ACL, "hash", "2.6.0", "Increment the float value of a hash field by the given amount", parse_hincrbyfloat).key(RW_ACCESS_UPDATE),
    cmd("hkeys", 2, RO, HASH_ACL, "hash", "2.0.0", "Get all the fields in a hash", parse_hkeys).tips(NONDET_ORDER).key(RO_ACCESS),
    cmd("hlen", 2, RO_FAST, HASH_ACL, "hash", "2.0.0", "Get the number of fields in a hash", parse_hlen).key(KEY_RO),
    cmd("hmget", -3, RO_FAST, HASH_ACL, "hash", "2.0.0", "Get the values of all the given hash fields", parse_hmget).key(RO_ACCESS),
    cmd("hmset", -4, W_OOM_FAST, HASH_ACL, "hash", "2.0.0", "Set multiple hash fields to multiple values", parse_hmset).key(RW_UPDATE),
    cmd("hrandfield", -2, RO, HASH_ACL, "hash", "6.2.0", "Get one or multiple random fields from a hash", parse_hrandfield).tips(NONDET).key(RO_ACCESS),
    cmd("hscan", -3, RO, HASH_ACL, "hash", "2.8.0", "Incrementally iterate hash fields and associated values", parse_hscan).tips(NONDET).key(RO_ACCESS),
    cmd("hset", -4, W_OOM_FAST, HASH_ACL, "hash", "2.0.0", "Set the string value of a hash field", parse_hset).key(RW_UPDATE),
    cmd("hsetnx", 4, W_OOM_FAST, HASH_ACL, "hash", "2.0.0", "Set the value of a hash field, only if the field does not exist", parse_hsetnx).key(RW_INSERT),
    cmd("hstrlen", 3, RO_FAST, HASH_ACL, "hash", "3.2.0", "Get the length of the value of a hash field", parse_hstrlen).key(KEY_RO),
    cmd("hvals", 2, RO, HASH_ACL, "hash", "2.0.0", "Get all the values in a hash", parse_hvals).tips(NONDET_ORDER).key(RO_ACCESS),
];

/// What a whole-hash read answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// HGETALL: a map of field to value (a flat array in RESP2).
    Both,
    /// HKEYS.
    Fields,
    /// HVALS.
    Values,
}

/// HSCAN's options.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOpts {
    /// `None`: every field (no MATCH, or MATCH `*`).
    pub pattern: Option<Bytes>,
    /// Fields read for one page: at least 1, at most [`SCAN_COUNT_MAX`].
    pub count: usize,
    /// NOVALUES: fields only.
    pub no_values: bool,
}

/// The family's reads.
#[derive(Debug, Clone, PartialEq)]
pub enum HashRead {
    Get {
        key: Bytes,
        field: Bytes,
    },
    MGet {
        key: Bytes,
        fields: Vec<Bytes>,
    },
    /// HGETALL, HKEYS, HVALS.
    All {
        key: Bytes,
        part: Part,
    },
    Exists {
        key: Bytes,
        field: Bytes,
    },
    Len {
        key: Bytes,
    },
    StrLen {
        key: Bytes,
        field: Bytes,
    },
    /// HSCAN. An option error is the reply only once the key is found to hold a hash (a missing
    /// key answers an empty page whatever the options), as in Redis.
    Scan {
        key: Bytes,
        cursor: u64,
        opts: Result<ScanOpts, Reply>,
    },
    /// HRANDFIELD; a negative count allows repeats.
    RandField {
        key: Bytes,
        count: Option<i64>,
        with_values: bool,
    },
}

impl HashRead {
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            HashRead::Get { key, .. }
            | HashRead::MGet { key, .. }
            | HashRead::All { key, .. }
            | HashRead::Exists { key, .. }
            | HashRead::Len { key }
            | HashRead::StrLen { key, .. }
            | HashRead::Scan { key, .. }
            | HashRead::RandField { key, .. } => vec![key.as_ref()],
        }
    }

    pub(super) fn execute(&self, r: &dyn KvRead, ctx: &ReadCtx) -> Step<Reply> {
        let now = ctx.now_ms;
        match self {
            HashRead::Get { key, field } => {
                let hash = load(r, now, key)?;
                Ok(value(r, key, hash.as_ref(), field)?.map_or(Reply::Nil, Reply::Bulk))
            }
            HashRead::MGet { key, fields } => {
                let hash = load(r, now, key)?;
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    out.push(value(r, key, hash.as_ref(), f)?.map_or(Reply::Nil, Reply::Bulk));
                }
                Ok(Reply::Array(out))
            }
            HashRead::All { key, part } => all(r, now, key, *part),
            HashRead::Exists { key, field } => {
                let hash = load(r, now, key)?;
                let found = value(r, key, hash.as_ref(), field)?.is_some();
                Ok(Reply::Int(i64::from(found)))
            }
            HashRead::Len { key } => Ok(match load(r, now, key)? {
                Some(c) => Reply::Int(i64::try_from(c.meta.len).unwrap_or(i64::MAX)),
                None => Reply::Int(0),
            }),
            HashRead::StrLen { key, field } => {
                let hash = load(r, now, key)?;
                Ok(len_reply(
                    value(r, key, hash.as_ref(), field)?.map_or(0, |v| v.len()),
                ))
            }
            HashRead::Scan { key, cursor, opts } => hscan(r, now, key, *cursor, opts),
            HashRead::RandField {
                key,
                count,
                with_values,
            } => hrandfield(r, now, key, *count, *with_values, &mut Rng(ctx.random)),
        }
    }
}

/// The family's writes, as they travel in the Raft log: never renumber or reorder variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HashWrite {
    /// HSET (replies the number of new fields) and HMSET (`ok_reply`: replies OK).
    Set {
        key: Vec<u8>,
        pairs: Vec<Entry>,
        ok_reply: bool,
    },
    SetNx {
        key: Vec<u8>,
        field: Vec<u8>,
        value: Vec<u8>,
    },
    Del {
        key: Vec<u8>,
        fields: Vec<Vec<u8>>,
    },
    IncrBy {
        key: Vec<u8>,
        field: Vec<u8>,
        by: i64,
    },
    /// The increment stays text (checked by the parser, parsed again at apply).
    IncrByFloat {
        key: Vec<u8>,
        field: Vec<u8>,
        by: Vec<u8>,
    },
}

impl HashWrite {
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            HashWrite::Set { key, .. }
            | HashWrite::SetNx { key, .. }
            | HashWrite::Del { key, .. }
            | HashWrite::IncrBy { key, .. }
            | HashWrite::IncrByFloat { key, .. } => vec![key.as_slice()],
        }
    }

    pub(super) fn apply(&self, kv: &mut dyn KvWrite, now: u64) -> Step<Reply> {
        match self {
            HashWrite::Set {
                key,
                pairs,
                ok_reply,
            } => hset(kv, now, key, pairs, *ok_reply),
            HashWrite::SetNx { key, field, value } => hsetnx(kv, now, key, field, value),
            HashWrite::Del { key, fields } => hdel(kv, now, key, fields),
            HashWrite::IncrBy { key, field, by } => hincrby(kv, now, key, field, *by),
            HashWrite::IncrByFloat { key, field, by } => hincrbyfloat(kv, now, key, field, by),
        }
    }
}

// --- Parsing ---------------------------------------------------------------------------------

fn read(r: HashRead) -> Result<Command, Reply> {
    Ok(Command::Read(ReadCmd::Hash(r)))
}

fn write(w: HashWrite) -> Result<Command, Reply> {
    Ok(Command::Write(WriteCmd::Hash(w)))
}

/// HSET and HMSET: field-value pairs, an odd count being an arity error (before the key is
/// looked at, as in Redis).
fn parse_pairs(a: &mut Args, ok_reply: bool) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let rest = a.rest();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(err::arity(a.fullname()));
    }
    let pairs = rest
        .chunks_exact(2)
        .map(|p| (p[0].to_vec(), p[1].to_vec()))
        .collect();
    write(HashWrite::Set {
        key,
        pairs,
        ok_reply,
    })
}

fn parse_hset(a: &mut Args) -> Result<Command, Reply> {
    parse_pairs(a, false)
}

fn parse_hmset(a: &mut Args) -> Result<Command, Reply> {
    parse_pairs(a, true)
}

fn parse_hsetnx(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let field = a.next_vec()?;
    let value = a.next_vec()?;
    a.finish()?;
    write(HashWrite::SetNx { key, field, value })
}

/// `key field`: HGET, HEXISTS, HSTRLEN.
fn key_field(a: &mut Args) -> Result<(Bytes, Bytes), Reply> {
    let key = a.take()?.clone();
    let field = a.take()?.clone();
    a.finish()?;
    Ok((key, field))
}

fn parse_hget(a: &mut Args) -> Result<Command, Reply> {
    let (key, field) = key_field(a)?;
    read(HashRead::Get { key, field })
}

fn parse_hexists(a: &mut Args) -> Result<Command, Reply> {
    let (key, field) = key_field(a)?;
    read(HashRead::Exists { key, field })
}

fn parse_hstrlen(a: &mut Args) -> Result<Command, Reply> {
    let (key, field) = key_field(a)?;
    read(HashRead::StrLen { key, field })
}

fn parse_hmget(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let fields = a.rest().to_vec();
    read(HashRead::MGet { key, fields })
}

fn parse_all(a: &mut Args, part: Part) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    read(HashRead::All { key, part })
}

fn parse_hgetall(a: &mut Args) -> Result<Command, Reply> {
    parse_all(a, Part::Both)
}

fn parse_hkeys(a: &mut Args) -> Result<Command, Reply> {
    parse_all(a, Part::Fields)
}

fn parse_hvals(a: &mut Args) -> Result<Command, Reply> {
    parse_all(a, Part::Values)
}

fn parse_hlen(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    read(HashRead::Len { key })
}

fn parse_hdel(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let fields = a.rest().iter().map(|f| f.to_vec()).collect();
    write(HashWrite::Del { key, fields })
}

fn parse_hincrby(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let field = a.next_vec()?;
    let by = a.next_i64()?;
    a.finish()?;
    write(HashWrite::IncrBy { key, field, by })
}

fn parse_hincrbyfloat(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let field = a.next_vec()?;
    let by = a.next_vec()?;
    a.finish()?;
    float_increment(&by)?;
    write(HashWrite::IncrByFloat { key, field, by })
}

/// HINCRBYFLOAT's increment as Redis checks it: a number `strtold` takes whole, and finite.
fn float_increment(arg: &[u8]) -> Result<LongDouble, Reply> {
    match ldouble::parse(arg) {
        None => Err(err::not_float()),
        Some(Parsed::Infinite) => Err(Reply::err("value is NaN or Infinity")),
        Some(Parsed::Finite(v)) => Ok(v),
    }
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]`: a bad cursor fails here, before
/// the key is looked up; option errors wait for the lookup ([`HashRead::Scan`]).
fn parse_hscan(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let cursor = parse_cursor(a.take()?).ok_or_else(|| Reply::err("invalid cursor"))?;
    let opts = parse_scan_opts(a.rest());
    read(HashRead::Scan { key, cursor, opts })
}

/// Redis's `scanGenericCommand` options, in order: the first bad one is the error.
fn parse_scan_opts(args: &[Bytes]) -> Result<ScanOpts, Reply> {
    let mut opts = ScanOpts {
        pattern: None,
        count: SCAN_COUNT_DEFAULT,
        no_values: false,
    };
    let mut rest = args;
    while let Some((opt, tail)) = rest.split_first() {
        if eq_ic(opt, "NOVALUES") {
            opts.no_values = true;
            rest = tail;
            continue;
        }
        let Some((value, tail)) = tail.split_first() else {
            return Err(err::syntax());
        };
        if eq_ic(opt, "COUNT") {
            let count = parse_i64(value).ok_or_else(err::not_integer)?;
            if count < 1 {
                return Err(err::syntax());
            }
            opts.count = usize::try_from(count)
                .unwrap_or(usize::MAX)
                .min(SCAN_COUNT_MAX);
        } else if eq_ic(opt, "MATCH") {
            // A lone "*" matches everything: the same as no pattern.
            opts.pattern = (value.as_ref() != b"*").then(|| value.clone());
        } else {
            return Err(err::syntax());
        }
        rest = tail;
    }
    Ok(opts)
}

/// Redis 7.0's scan cursor: C `strtoul` in base 10 over the argument up to a NUL, refused when
/// it starts with a space, leaves characters unread or overflows. So `""` is 0, `"+5"` and
/// `"007"` are accepted, and `"-1"` wraps around to the largest cursor.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let s = &arg[..arg.iter().position(|c| *c == 0).unwrap_or(arg.len())];
    let Some(first) = s.first() else {
        return Some(0);
    };
    if is_c_space(*first) {
        return None;
    }
    let (negative, digits) = match first {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// `HRANDFIELD key [count [WITHVALUES]]`, checked in Redis's order: the count (within
/// ±`LONG_MAX`), then the option, then the WITHVALUES range (±`LONG_MAX / 2`). This server's
/// bound on repeats ([`HRANDFIELD_REPEATS_MAX`]) is checked once the hash is found, where Redis
/// would start building the reply.
fn parse_hrandfield(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let Some((count, opts)) = a.rest().split_first() else {
        return read(HashRead::RandField {
            key,
            count: None,
            with_values: false,
        });
    };
    let count = parse_i64(count).ok_or_else(err::not_integer)?;
    if count == i64::MIN {
        return Err(Reply::err(format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    let with_values = match opts {
        [] => false,
        [opt] if eq_ic(opt, "WITHVALUES") => true,
        _ => return Err(err::syntax()),
    };
    let half = i64::MAX / 2;
    if with_values && !(-half..=half).contains(&count) {
        return Err(out_of_range());
    }
    read(HashRead::RandField {
        key,
        count: Some(count),
        with_values,
    })
}

// --- Elements --------------------------------------------------------------------------------

/// The live hash at `key` (WRONGTYPE if it holds another kind).
fn load(r: &dyn KvRead, now: u64, key: &[u8]) -> Step<Option<Coll>> {
    coll::load(r, now, key, Kind::Hash)
}

/// The order of [`BY_HASH`]: the storage's persisted key hash (xxh3), stable forever since
/// stored entries depend on it.
fn field_hash(field: &[u8]) -> u64 {
    tanli_storage::keys::key_hash(field)
}

fn hash_entry(field: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(HASH_BYTES + field.len());
    e.extend_from_slice(&field_hash(field).to_be_bytes());
    e.extend_from_slice(field);
    e
}

fn corrupt(detail: String) -> StorageError {
    StorageError::Corrupt {
        what: "hash element",
        detail,
    }
}

/// The hash in front of a [`BY_HASH`] entry.
fn entry_hash(entry: &[u8]) -> Result<u64, StorageError> {
    entry
        .get(..HASH_BYTES)
        .and_then(|h| <[u8; HASH_BYTES]>::try_from(h).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt(format!("{}-byte hash-order entry", entry.len())))
}

/// The field of a [`BY_HASH`] entry.
fn entry_field(mut entry: Vec<u8>) -> Result<Vec<u8>, StorageError> {
    if entry.len() < HASH_BYTES {
        return Err(corrupt(format!("{}-byte hash-order entry", entry.len())));
    }
    Ok(entry.split_off(HASH_BYTES))
}

/// The value of `field`, if the hash exists and has it.
fn value(r: &dyn KvRead, key: &[u8], hash: Option<&Coll>, field: &[u8]) -> Step<Option<Vec<u8>>> {
    match hash {
        Some(c) => Ok(r.sub_get(c.sub(key, FIELDS), field)?),
        None => Ok(None),
    }
}

/// The value of a field known to be in the hash (found in [`BY_HASH`]).
fn value_of(r: &dyn KvRead, key: &[u8], c: &Coll, field: &[u8]) -> Step<Vec<u8>> {
    r.sub_get(c.sub(key, FIELDS), field)?.ok_or_else(|| {
        corrupt(format!(
            "a {}-byte field is in one element space only",
            field.len()
        ))
        .into()
    })
}

/// Sets `field` to `value` in both spaces; true when the field is new.
fn put_field(
    kv: &mut dyn KvWrite,
    key: &[u8],
    c: &mut Coll,
    field: &[u8],
    value: &[u8],
) -> Step<bool> {
    let new = kv.sub_get(c.sub(key, FIELDS), field)?.is_none();
    kv.sub_put(c.sub(key, FIELDS), field, value)?;
    if new {
        kv.sub_put(c.sub(key, BY_HASH), &hash_entry(field), b"")?;
        c.meta.len = c.meta.len.saturating_add(1);
    }
    Ok(new)
}

/// Removes `field` from both spaces; false if it was absent.
fn remove_field(kv: &mut dyn KvWrite, key: &[u8], c: &mut Coll, field: &[u8]) -> Step<bool> {
    if kv.sub_get(c.sub(key, FIELDS), field)?.is_none() {
        return Ok(false);
    }
    kv.sub_delete(c.sub(key, FIELDS), field)?;
    kv.sub_delete(c.sub(key, BY_HASH), &hash_entry(field))?;
    c.meta.len = c.meta.len.saturating_sub(1);
    Ok(true)
}

/// Every field in hash order (no values).
fn all_fields(r: &dyn KvRead, key: &[u8], c: &Coll) -> Step<Vec<Vec<u8>>> {
    let entries = r.sub_range(
        c.sub(key, BY_HASH),
        (Unbounded, Unbounded),
        false,
        usize::MAX,
    )?;
    let mut out = Vec::with_capacity(entries.len());
    for (entry, _) in entries {
        out.push(entry_field(entry)?);
    }
    Ok(out)
}

/// Every `(field, value)` in field order.
fn all_entries(r: &dyn KvRead, key: &[u8], c: &Coll) -> Step<Vec<Entry>> {
    Ok(r.sub_range(
        c.sub(key, FIELDS),
        (Unbounded, Unbounded),
        false,
        usize::MAX,
    )?)
}

// --- Whole-hash reads ------------------------------------------------------------------------

/// HGETALL (a map), HKEYS, HVALS, in field order, a page at a time so HKEYS never holds more
/// than a page of values.
fn all(r: &dyn KvRead, now: u64, key: &[u8], part: Part) -> Step<Reply> {
    let mut pairs = Vec::new();
    let mut items = Vec::new();
    if let Some(c) = load(r, now, key)? {
        let sub = c.sub(key, FIELDS);
        let mut after: Option<Vec<u8>> = None;
        loop {
            let lo = after.as_deref().map_or(Unbounded, Excluded);
            let page = r.sub_range(sub, (lo, Unbounded), false, ALL_PAGE_ENTRIES)?;
            let full = page.len() == ALL_PAGE_ENTRIES;
            after = page.last().map(|(f, _)| f.clone());
            for (f, v) in page {
                match part {
                    Part::Both => pairs.push((Reply::Bulk(f), Reply::Bulk(v))),
                    Part::Fields => items.push(Reply::Bulk(f)),
                    Part::Values => items.push(Reply::Bulk(v)),
                }
            }
            if !full {
                break;
            }
        }
    }
    Ok(match part {
        Part::Both => Reply::Map(pairs),
        Part::Fields | Part::Values => Reply::Array(items),
    })
}

// --- Writes ----------------------------------------------------------------------------------

fn hset(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    pairs: &[Entry],
    ok_reply: bool,
) -> Step<Reply> {
    let mut c = coll::load_or_create(kv, now, key, Kind::Hash)?;
    let mut added = 0;
    for (field, value) in pairs {
        if put_field(kv, key, &mut c, field, value)? {
            added += 1;
        }
    }
    coll::save(kv, key, c)?;
    Ok(if ok_reply {
        Reply::ok()
    } else {
        len_reply(added)
    })
}

fn hsetnx(kv: &mut dyn KvWrite, now: u64, key: &[u8], field: &[u8], value: &[u8]) -> Step<Reply> {
    let mut c = coll::load_or_create(kv, now, key, Kind::Hash)?;
    if kv.sub_get(c.sub(key, FIELDS), field)?.is_some() {
        return Ok(Reply::Int(0));
    }
    put_field(kv, key, &mut c, field, value)?;
    coll::save(kv, key, c)?;
    Ok(Reply::Int(1))
}

/// Deleting the last field deletes the key.
fn hdel(kv: &mut dyn KvWrite, now: u64, key: &[u8], fields: &[Vec<u8>]) -> Step<Reply> {
    let Some(mut c) = coll::load_w(kv, now, key, Kind::Hash)? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for field in fields {
        if remove_field(kv, key, &mut c, field)? {
            removed += 1;
        }
    }
    if removed > 0 {
        coll::save(kv, key, c)?;
    }
    Ok(len_reply(removed))
}

/// A missing field counts as 0; the hash keeps its TTL.
fn hincrby(kv: &mut dyn KvWrite, now: u64, key: &[u8], field: &[u8], by: i64) -> Step<Reply> {
    let mut c = coll::load_or_create(kv, now, key, Kind::Hash)?;
    let current = match kv.sub_get(c.sub(key, FIELDS), field)? {
        Some(v) => parse_i64(&v).ok_or_else(|| Reply::err("hash value is not an integer"))?,
        None => 0,
    };
    let sum = current.checked_add(by).ok_or_else(err::incr_overflow)?;
    put_field(kv, key, &mut c, field, sum.to_string().as_bytes())?;
    coll::save(kv, key, c)?;
    Ok(Reply::Int(sum))
}

/// Adds in x87 extended precision (`ldouble.rs`, as INCRBYFLOAT) and stores Redis's
/// human-readable form of the sum.
fn hincrbyfloat(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    field: &[u8],
    by: &[u8],
) -> Step<Reply> {
    let by = float_increment(by)?;
    let mut c = coll::load_or_create(kv, now, key, Kind::Hash)?;
    let current = match kv.sub_get(c.sub(key, FIELDS), field)? {
        Some(v) => ldouble::parse(&v).ok_or_else(|| Reply::err("hash value is not a float"))?,
        None => Parsed::Finite(LongDouble::ZERO),
    };
    let sum = match current {
        Parsed::Finite(a) => ldouble::add(a, by),
        Parsed::Infinite => None,
    };
    let sum = sum.ok_or_else(|| Reply::err("increment would produce NaN or Infinity"))?;
    let text = ldouble::to_human(sum).into_bytes();
    put_field(kv, key, &mut c, field, &text)?;
    coll::save(kv, key, c)?;
    Ok(Reply::Bulk(text))
}

// --- HSCAN -----------------------------------------------------------------------------------

fn hscan(
    r: &dyn KvRead,
    now: u64,
    key: &[u8],
    cursor: u64,
    opts: &Result<ScanOpts, Reply>,
) -> Step<Reply> {
    let Some(c) = load(r, now, key)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = opts.as_ref().map_err(|e| e.clone())?;
    let (fields, next) = scan_page(r, key, &c, cursor, opts.count.max(1))?;
    let mut items = Vec::new();
    for field in fields {
        if opts
            .pattern
            .as_ref()
            .is_some_and(|p| !glob::matches(p, &field))
        {
            continue;
        }
        let v = if opts.no_values {
            None
        } else {
            Some(value_of(r, key, &c, &field)?)
        };
        items.push(Reply::Bulk(field));
        items.extend(v.map(Reply::Bulk));
    }
    Ok(scan_reply(next, items))
}

/// The fields of one page from `cursor` in hash order and the next cursor (see the module doc).
fn scan_page(
    r: &dyn KvRead,
    key: &[u8],
    c: &Coll,
    cursor: u64,
    count: usize,
) -> Step<(Vec<Vec<u8>>, u64)> {
    let sub = c.sub(key, BY_HASH);
    let from = cursor.to_be_bytes();
    let mut page = r.sub_range(
        sub,
        (Included(&from[..]), Unbounded),
        false,
        count.saturating_add(1),
    )?;
    let mut next_cursor = 0;
    if page.len() > count {
        let mut following = page.pop();
        let boundary = match page.last() {
            Some((e, _)) => entry_hash(e)?,
            None => 0,
        };
        // End the page between two hashes: a field sharing the last one's hash stays in it.
        while let Some(entry) = following {
            let h = entry_hash(&entry.0)?;
            if h != boundary {
                next_cursor = h;
                break;
            }
            let after = entry.0.clone();
            page.push(entry);
            following = r
                .sub_range(sub, (Excluded(&after[..]), Unbounded), false, 1)?
                .pop();
        }
    }
    let mut fields = Vec::with_capacity(page.len());
    for (entry, _) in page {
        fields.push(entry_field(entry)?);
    }
    Ok((fields, next_cursor))
}

/// `[cursor, [field, value, ...]]`: a flat array in RESP3 too, as Redis sends it.
fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(cursor.to_string().into_bytes()),
        Reply::Array(items),
    ])
}

// --- HRANDFIELD ------------------------------------------------------------------------------

/// A splitmix64 stream from one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let out = keyspace::splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        out
    }

    /// A value in `0..n` (0 when `n` is 0); the modulo bias is below `n / 2^64`.
    fn below(&mut self, n: usize) -> usize {
        match u64::try_from(n) {
            Ok(0) | Err(_) => 0,
            Ok(n) => usize::try_from(self.next() % n).unwrap_or(0),
        }
    }
}

/// True when a sample of `count` fields is drawn from the whole hash, read at once.
fn reads_whole(c: &Coll, count: u64) -> bool {
    c.meta.len <= RANDOM_READ_ALL_MAX || count.saturating_mul(READ_ALL_FACTOR) >= c.meta.len
}

/// One field of a window of [`RANDOM_WINDOW`] in hash order from a random position.
fn window_pick(r: &dyn KvRead, key: &[u8], c: &Coll, rng: &mut Rng) -> Step<Vec<u8>> {
    let sub = c.sub(key, BY_HASH);
    let start = rng.next().to_be_bytes();
    let mut window = r.sub_range(sub, (Included(&start[..]), Unbounded), false, RANDOM_WINDOW)?;
    if window.len() < RANDOM_WINDOW {
        let wrap = RANDOM_WINDOW - window.len();
        window.extend(r.sub_range(sub, (Unbounded, Excluded(&start[..])), false, wrap)?);
    }
    let i = rng.below(window.len());
    match window.into_iter().nth(i) {
        Some((entry, _)) => Ok(entry_field(entry)?),
        None => Err(corrupt(format!("no field in a hash of length {}", c.meta.len)).into()),
    }
}

/// `count` distinct fields (fewer only if the hash has fewer), in the order drawn.
fn distinct(r: &dyn KvRead, key: &[u8], c: &Coll, count: u64, rng: &mut Rng) -> Step<Vec<Vec<u8>>> {
    let want = usize::try_from(count).unwrap_or(usize::MAX);
    if reads_whole(c, count) {
        let mut all = all_fields(r, key, c)?;
        let n = want.min(all.len());
        // The first steps of a Fisher-Yates shuffle.
        for i in 0..n {
            let j = i + rng.below(all.len() - i);
            all.swap(i, j);
        }
        all.truncate(n);
        return Ok(all);
    }
    let mut chosen = Vec::with_capacity(want.min(ALL_PAGE_ENTRIES));
    let mut seen = BTreeSet::new();
    let attempts = count
        .saturating_mul(DISTINCT_ATTEMPTS_FACTOR)
        .saturating_add(DISTINCT_ATTEMPTS_EXTRA);
    for _ in 0..attempts {
        if chosen.len() >= want {
            return Ok(chosen);
        }
        let f = window_pick(r, key, c, rng)?;
        if seen.insert(f.clone()) {
            chosen.push(f);
        }
    }
    for f in all_fields(r, key, c)? {
        if chosen.len() >= want {
            break;
        }
        if !seen.contains(&f) {
            chosen.push(f);
        }
    }
    Ok(chosen)
}

/// Redis 7.0's replies: a bulk string (nil if missing) without a count; with one an array (of
/// field-value pairs with WITHVALUES: flat in RESP2, two-element arrays in RESP3), empty for a
/// missing key or a count of 0 (after the type check).
fn hrandfield(
    r: &dyn KvRead,
    now: u64,
    key: &[u8],
    count: Option<i64>,
    with_values: bool,
    rng: &mut Rng,
) -> Step<Reply> {
    let hash = load(r, now, key)?;
    let Some(count) = count else {
        return Ok(match hash {
            None => Reply::Nil,
            Some(c) => distinct(r, key, &c, 1, rng)?
                .pop()
                .map_or(Reply::Nil, Reply::Bulk),
        });
    };
    let Some(c) = hash.filter(|_| count != 0) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let n = count.unsigned_abs();
    if count < 0 && n > HRANDFIELD_REPEATS_MAX {
        return Err(out_of_range().into());
    }
    let picks: Vec<Pick> = if count > 0 && n >= c.meta.len && with_values {
        all_entries(r, key, &c)?
            .into_iter()
            .map(|(f, v)| (f, Some(v)))
            .collect()
    } else if count > 0 && n >= c.meta.len {
        all_fields(r, key, &c)?
            .into_iter()
            .map(|f| (f, None))
            .collect()
    } else if count > 0 {
        distinct(r, key, &c, n, rng)?
            .into_iter()
            .map(|f| (f, None))
            .collect()
    } else {
        repeats(r, key, &c, n, with_values, HRANDFIELD_REPLY_BYTES_MAX, rng)?
    };
    let mut out = Vec::with_capacity(picks.len());
    for (field, v) in picks {
        let v = match (with_values, v) {
            (false, _) => None,
            (true, Some(v)) => Some(v),
            (true, None) => Some(value_of(r, key, &c, &field)?),
        };
        out.push((field, v));
    }
    Ok(if with_values {
        let pairs = out
            .into_iter()
            .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v.unwrap_or_default())));
        Reply::Pairs(pairs.collect())
    } else {
        Reply::Array(out.into_iter().map(|(f, _)| Reply::Bulk(f)).collect())
    })
}

/// Redis's error for a WITHVALUES count beyond ±`LONG_MAX / 2`, used for this server's bounds on
/// repeats too.
fn out_of_range() -> Reply {
    Reply::err("value is out of range")
}

/// `n` independent picks (a negative count), each with its value when `with_values`; refused
/// once they would pass `bytes_max` ([`HRANDFIELD_REPLY_BYTES_MAX`]).
fn repeats(
    r: &dyn KvRead,
    key: &[u8],
    c: &Coll,
    n: u64,
    with_values: bool,
    bytes_max: u64,
    rng: &mut Rng,
) -> Step<Vec<Pick>> {
    let whole: Option<Vec<Entry>> = match (reads_whole(c, n), with_values) {
        (false, _) => None,
        (true, true) => Some(all_entries(r, key, c)?),
        (true, false) => Some(
            all_fields(r, key, c)?
                .into_iter()
                .map(|f| (f, Vec::new()))
                .collect(),
        ),
    };
    let mut picks = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(ALL_PAGE_ENTRIES));
    let mut bytes: u64 = 0;
    for _ in 0..n {
        let (field, v) = match &whole {
            Some(all) => match all.get(rng.below(all.len())) {
                Some((f, v)) => (f.clone(), with_values.then(|| v.clone())),
                None => {
                    return Err(
                        corrupt(format!("no field in a hash of length {}", c.meta.len)).into(),
                    )
                }
            },
            None => {
                let f = window_pick(r, key, c, rng)?;
                let v = if with_values {
                    Some(value_of(r, key, c, &f)?)
                } else {
                    None
                };
                (f, v)
            }
        };
        let size = field.len().saturating_add(v.as_ref().map_or(0, Vec::len));
        bytes = bytes.saturating_add(u64::try_from(size).unwrap_or(u64::MAX));
        if bytes > bytes_max {
            return Err(out_of_range().into());
        }
        picks.push((field, v));
    }
    Ok(picks)
}

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;
