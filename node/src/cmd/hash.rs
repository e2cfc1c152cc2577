//! Hashes: HSET HMSET HSETNX HGET HMGET HGETALL HDEL HEXISTS HLEN HKEYS HVALS HINCRBY
//! HINCRBYFLOAT HSTRLEN HSCAN HRANDFIELD, with Redis 7.0's replies and error texts.
//! This file holds the table rows, the command types and their dispatch; parsing is in
//! `hash_parse.rs`, the command bodies in `hash_cmds.rs`.
//!
//! **Layout.** Every field has two entries in its instance's element spaces: tag 0 ([`FIELDS`])
//! `field -> value`, in field byte order, for point reads and whole-hash reads (HGETALL, HKEYS
//! and HVALS, which Redis leaves unordered, answer in this order, the same for all three); tag 1
//! ([`BY_HASH`]) the same fields in hash order, for HSCAN and HRANDFIELD, shared with sets in
//! `hashorder.rs` (which says why a second order, and how its cursors and random picks work).
//! Only adding or deleting a field touches tag 1; updating a value does not.
//!
//! **HSCAN** pages through the hash order with `hashorder.rs`'s stateless cursor: a field
//! present for the whole iteration is returned exactly once. NOVALUES (Redis 7.4) is accepted.
//!
//! **HRANDFIELD** reads use the reader's random seed ([`ReadCtx::random`]) and `hashorder.rs`'s
//! sampling: exact for small hashes and big samples, a window in hash order otherwise. A small
//! hash or a big sample is read whole in hash order, with the values read along (in field order)
//! only for repeats WITHVALUES. A negative count allows repeats and so is not bounded by the
//! hash: it is refused beyond [`hashorder::RANDOM_REPEATS_MAX`] picks (as SRANDMEMBER's), or once
//! the reply would pass [`HRANDFIELD_REPLY_BYTES_MAX`], with Redis's "value is out of range"
//! (Redis builds any reply).
//!
//! **Order of checks**, as in Redis: argument errors Redis finds before looking the key up are
//! the parser's, so they win over WRONGTYPE (HSET's odd pair count, the increments of HINCRBY
//! and HINCRBYFLOAT, including the latter's "NaN or Infinity", HRANDFIELD's count and option,
//! HSCAN's cursor); HSCAN's options are checked only once the key is found to hold a hash, and
//! HRANDFIELD's bound on repeats once the hash is found, where Redis would start building the
//! reply. A failing write changes nothing. HSET stores the hash even when no value changes (so
//! `WATCH` sees it, as Redis signals the key); HSETNX on an existing field and HDEL of absent
//! fields store nothing.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tanli_storage::{KvRead, KvWrite};

use super::hashorder::{self, Rng};
use super::table::{
    cmd, Spec, NONDET, NONDET_ORDER, RO, RO_ACCESS, RO_FAST, RW_ACCESS_UPDATE, RW_UPDATE, W_FAST,
    W_OOM_FAST,
};
use super::{len_reply, ReadCtx, Step};
use crate::reply::Reply;

pub use super::hashorder::ScanOpts;

#[path = "hash_cmds.rs"]
mod cmds;
#[path = "hash_parse.rs"]
mod parse;

/// Element space of the fields in byte order: `field -> value`.
const FIELDS: u8 = 0;
/// Element space of the fields in hash order (`hashorder.rs`): `hash(field):u64 BE + field ->
/// empty`.
const BY_HASH: u8 = hashorder::TAG;

/// Entries HGETALL, HKEYS and HVALS read at a time (HKEYS drops each page's values).
const ALL_PAGE_ENTRIES: usize = 1024;
/// The most bytes of fields and values the picks of a negative HRANDFIELD count may add up to
/// (Redis's `proto-max-bulk-len`): a few picks of a huge value could otherwise exhaust memory.
pub const HRANDFIELD_REPLY_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// A field and its value.
type Entry = (Vec<u8>, Vec<u8>);

const HASH_ACL: &[&str] = &["hash"];
const KEY_RO: &[&str] = &["RO"];
const RW_INSERT: &[&str] = &["RW", "insert"];
const RW_DELETE: &[&str] = &["RW", "delete"];

/// The family's command-table rows (summaries as Redis 7.0's).
#[rustfmt::skip]
pub(super) static TABLE: &[Spec] = &[
    cmd("hdel", -3, W_FAST, HASH_ACL, "hash", "2.0.0", "Delete one or more hash fields", parse::hdel).key(RW_DELETE),
    cmd("hexists", 3, RO_FAST, HASH_ACL, "hash", "2.0.0", "Determine if a hash field exists", parse::hexists).key(KEY_RO),
    cmd("hget", 3, RO_FAST, HASH_ACL, "hash", "2.0.0", "Get the value of a hash field", parse::hget).key(RO_ACCESS),
    cmd("hgetall", 2, RO, HASH_ACL, "hash", "2.0.0", "Get all the fields and values in a hash", parse::hgetall).tips(NONDET_ORDER).key(RO_ACCESS),
    cmd("hincrby", 4, W_OOM_FAST, HASH_ACL, "hash", "2.0.0", "Increment the integer value of a hash field by the given number", parse::hincrby).key(RW_ACCESS_UPDATE),
    cmd("hincrbyfloat", 4, W_OOM_FAST, HASH_ACL, "hash", "2.6.0", "Increment the float value of a hash field by the given amount", parse::hincrbyfloat).key(RW_ACCESS_UPDATE),
    cmd("hkeys", 2, RO, HASH_ACL, "hash", "2.0.0", "Get all the fields in a hash", parse::hkeys).tips(NONDET_ORDER).key(RO_ACCESS),
    cmd("hlen", 2, RO_FAST, HASH_ACL, "hash", "2.0.0", "Get the number of fields in a hash", parse::hlen).key(KEY_RO),
    cmd("hmget", -3, RO_FAST, HASH_ACL, "hash", "2.0.0", "Get the values of all the given hash fields", parse::hmget).key(RO_ACCESS),
    cmd("hmset", -4, W_OOM_FAST, HASH_ACL, "hash", "2.0.0", "Set multiple hash fields to multiple values", parse::hmset).key(RW_UPDATE),
    cmd("hrandfield", -2, RO, HASH_ACL, "hash", "6.2.0", "Get one or multiple random fields from a hash", parse::hrandfield).tips(NONDET).key(RO_ACCESS),
    cmd("hscan", -3, RO, HASH_ACL, "hash", "2.8.0", "Incrementally iterate hash fields and associated values", parse::hscan).tips(NONDET).key(RO_ACCESS),
    cmd("hset", -4, W_OOM_FAST, HASH_ACL, "hash", "2.0.0", "Set the string value of a hash field", parse::hset).key(RW_UPDATE),
    cmd("hsetnx", 4, W_OOM_FAST, HASH_ACL, "hash", "2.0.0", "Set the value of a hash field, only if the field does not exist", parse::hsetnx).key(RW_INSERT),
    cmd("hstrlen", 3, RO_FAST, HASH_ACL, "hash", "3.2.0", "Get the length of the value of a hash field", parse::hstrlen).key(KEY_RO),
    cmd("hvals", 2, RO, HASH_ACL, "hash", "2.0.0", "Get all the values in a hash", parse::hvals).tips(NONDET_ORDER).key(RO_ACCESS),
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
                let hash = cmds::load(r, now, key)?;
                Ok(cmds::value(r, key, hash.as_ref(), field)?.map_or(Reply::Nil, Reply::Bulk))
            }
            HashRead::MGet { key, fields } => {
                let hash = cmds::load(r, now, key)?;
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    out.push(
                        cmds::value(r, key, hash.as_ref(), f)?.map_or(Reply::Nil, Reply::Bulk),
                    );
                }
                Ok(Reply::Array(out))
            }
            HashRead::All { key, part } => cmds::all(r, now, key, *part),
            HashRead::Exists { key, field } => {
                let hash = cmds::load(r, now, key)?;
                let found = cmds::value(r, key, hash.as_ref(), field)?.is_some();
                Ok(Reply::Int(i64::from(found)))
            }
            HashRead::Len { key } => Ok(match cmds::load(r, now, key)? {
                Some(c) => Reply::Int(i64::try_from(c.meta.len).unwrap_or(i64::MAX)),
                None => Reply::Int(0),
            }),
            HashRead::StrLen { key, field } => {
                let hash = cmds::load(r, now, key)?;
                Ok(len_reply(
                    cmds::value(r, key, hash.as_ref(), field)?.map_or(0, |v| v.len()),
                ))
            }
            HashRead::Scan { key, cursor, opts } => cmds::hscan(r, now, key, *cursor, opts),
            HashRead::RandField {
                key,
                count,
                with_values,
            } => cmds::hrandfield(r, now, key, *count, *with_values, &mut Rng(ctx.random)),
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
            } => cmds::hset(kv, now, key, pairs, *ok_reply),
            HashWrite::SetNx { key, field, value } => cmds::hsetnx(kv, now, key, field, value),
            HashWrite::Del { key, fields } => cmds::hdel(kv, now, key, fields),
            HashWrite::IncrBy { key, field, by } => cmds::hincrby(kv, now, key, field, *by),
            HashWrite::IncrByFloat { key, field, by } => {
                cmds::hincrbyfloat(kv, now, key, field, by)
            }
        }
    }
}

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;
