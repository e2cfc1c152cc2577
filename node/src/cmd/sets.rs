//! Sets: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SINTER SUNION SDIFF
//! SINTERSTORE SUNIONSTORE SDIFFSTORE SMOVE SSCAN, with Redis 7.0's replies and error texts.
//! This file holds the table rows, the command types and the element helpers; parsing is in
//! `sets_parse.rs`, the writes and the set algebra in `sets_cmds.rs`, SSCAN and random picks (the
//! two walks of the hash order, shared with hashes in `hashorder.rs`) in `sets_hash.rs`.
//!
//! **Layout.** Every member has two entries in its instance's element spaces: tag 0
//! ([`MEMBERS`]) `member -> empty`, in member byte order, for membership tests and whole-set reads
//! (SMEMBERS, and the set algebra, whose sorted streams merge without hashing); tag 1
//! ([`BY_HASH`]) `hash(member):u64 BE + member -> empty`, the same members in the order of a
//! stable 64-bit hash, for SSCAN and random picks: `hashorder.rs`, shared with hashes, says why
//! a second order and how its cursors and picks work. Every write keeps the two in step.
//!
//! **SSCAN** pages through the hash order with `hashorder.rs`'s stateless cursor: a member
//! present for the whole iteration is returned exactly once. One exception, as in Redis 7.0: a
//! set it would hold as an intset (at most [`INTSET_ENTRIES_MAX`] canonical integers) answers
//! cursor 0 with all its members in numeric order and cursor 0. Only cursor 0 does, so an
//! iteration begun page by page never switches.
//!
//! **Random members** (SPOP, SRANDMEMBER) use `hashorder.rs`'s sampling: exact for small sets
//! and big samples (which read the set whole, in member byte order), a window in hash order
//! otherwise. SPOP, a write, draws from [`coll::apply_random`] (the same on every replica);
//! SRANDMEMBER, a read, from the reader's seed. A negative SRANDMEMBER count allows repeats: it
//! is refused beyond [`hashorder::RANDOM_REPEATS_MAX`] picks (as HRANDFIELD's), by the parser.
//!
//! **Set algebra.** Every key is looked up and type-checked before any member is read (WRONGTYPE
//! if any holds another type, as in Redis 7.0); a missing key is an empty set. SINTER walks its
//! smallest set and SDIFF its first, a page of [`ALGEBRA_PAGE_MEMBERS`] at a time, testing each
//! page against the other sets: by a merge over the page's member range when the other set is at
//! most [`MERGE_FACTOR`] times the walked one, else by point lookups, so a big other set costs
//! no more than the walked one. SUNION reads every set (each member is in the reply). The STORE
//! forms compute the result first, then replace the destination, whatever it held, with a new
//! instance (no expiry), or delete it when the result is empty. Every key of a command is in
//! [`SetRead::keys`] / [`SetWrite::keys`], so routing refuses a cross-slot command.
//!
//! **Order.** A reply of a whole set or of a set-algebra result comes in member byte order
//! (Redis's order is unspecified), except that at most [`INTSET_ENTRIES_MAX`] canonical integers
//! come in numeric order, as Redis 7.0 walks an intset.

use std::ops::Bound::Unbounded;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tanli_storage::{Kind, KvRead, KvWrite};

use super::coll::{self, Coll};
use super::hashorder;
use super::parse::parse_i64;
use super::table::{
    cmd, Spec, NONDET, NONDET_ORDER, RO, RO_ACCESS, RO_FAST, W_FAST, W_OOM, W_OOM_FAST,
};
use super::{ReadCtx, Step};
use crate::reply::Reply;

pub use super::hashorder::ScanOpts;

#[path = "sets_cmds.rs"]
mod cmds;
#[path = "sets_hash.rs"]
mod hash;
#[path = "sets_parse.rs"]
mod parse;

/// Element space of the members in byte order: `member -> empty`.
const MEMBERS: u8 = 0;
/// Element space of the members in hash order (`hashorder.rs`): `hash(member):u64 BE + member
/// -> empty`.
const BY_HASH: u8 = hashorder::TAG;

/// Members of the walked set that SINTER and SDIFF test against the other sets at a time.
const ALGEBRA_PAGE_MEMBERS: usize = 1024;
/// Another set at most this many times the walked one is merged over a page's range; a bigger
/// one is probed member by member.
const MERGE_FACTOR: u64 = 4;
/// Redis 7.0's `set-max-intset-entries` default: a set of at most this many canonical integers
/// is an intset there, walked in numeric order.
const INTSET_ENTRIES_MAX: u64 = 512;

const SET_ACL: &[&str] = &["set"];
const RW_INSERT: &[&str] = &["RW", "insert"];
const RW_DELETE: &[&str] = &["RW", "delete"];
const RW_ACCESS_DELETE: &[&str] = &["RW", "access", "delete"];
const OW_UPDATE: &[&str] = &["OW", "update"];
const RW_UPDATE: &[&str] = &["RW", "update"];
const RO_KEY: &[&str] = &["RO"];

/// The family's command-table rows (summaries as Redis 7.0's). Redis gives the STORE commands
/// and SMOVE two key specs (destination, sources); the table has one range per command, which
/// covers every key and carries the first spec's flags.
#[rustfmt::skip]
pub(super) static TABLE: &[Spec] = &[
    cmd("sadd", -3, W_OOM_FAST, SET_ACL, "set", "1.0.0", "Add one or more members to a set", parse::sadd).key(RW_INSERT),
    cmd("scard", 2, RO_FAST, SET_ACL, "set", "1.0.0", "Get the number of members in a set", parse::scard).key(RO_KEY),
    cmd("sdiff", -2, RO, SET_ACL, "set", "1.0.0", "Subtract multiple sets", parse::sdiff).tips(NONDET_ORDER).key_range(None, RO_ACCESS, -1, 1),
    cmd("sdiffstore", -3, W_OOM, SET_ACL, "set", "1.0.0", "Subtract multiple sets and store the resulting set in a key", parse::sdiffstore).key_range(None, OW_UPDATE, -1, 1),
    cmd("sinter", -2, RO, SET_ACL, "set", "1.0.0", "Intersect multiple sets", parse::sinter).tips(NONDET_ORDER).key_range(None, RO_ACCESS, -1, 1),
    cmd("sinterstore", -3, W_OOM, SET_ACL, "set", "1.0.0", "Intersect multiple sets and store the resulting set in a key", parse::sinterstore).key_range(None, RW_UPDATE, -1, 1),
    cmd("sismember", 3, RO_FAST, SET_ACL, "set", "1.0.0", "Determine if a given value is a member of a set", parse::sismember).key(RO_KEY),
    cmd("smembers", 2, RO, SET_ACL, "set", "1.0.0", "Get all the members in a set", parse::smembers).tips(NONDET_ORDER).key(RO_ACCESS),
    cmd("smismember", -3, RO_FAST, SET_ACL, "set", "6.2.0", "Returns the membership associated with the given elements for a set", parse::smismember).key(RO_ACCESS),
    cmd("smove", 4, W_FAST, SET_ACL, "set", "1.0.0", "Move a member from one set to another", parse::smove).key_range(None, RW_ACCESS_DELETE, 1, 1),
    cmd("spop", -2, W_FAST, SET_ACL, "set", "1.0.0", "Remove and return one or multiple random members from a set", parse::spop).tips(NONDET).key(RW_ACCESS_DELETE),
    cmd("srandmember", -2, RO, SET_ACL, "set", "1.0.0", "Get one or multiple random members from a set", parse::srandmember).tips(NONDET).key(RO_ACCESS),
    cmd("srem", -3, W_FAST, SET_ACL, "set", "1.0.0", "Remove one or more members from a set", parse::srem).key(RW_DELETE),
    cmd("sscan", -3, RO, SET_ACL, "set", "2.8.0", "Incrementally iterate Set elements", parse::sscan).tips(NONDET).key(RO_ACCESS),
    cmd("sunion", -2, RO, SET_ACL, "set", "1.0.0", "Add multiple sets", parse::sunion).tips(NONDET_ORDER).key_range(None, RO_ACCESS, -1, 1),
    cmd("sunionstore", -3, W_OOM, SET_ACL, "set", "1.0.0", "Add multiple sets and store the resulting set in a key", parse::sunionstore).key_range(None, OW_UPDATE, -1, 1),
];

/// Which combination SINTER / SUNION / SDIFF (and their STORE forms) compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

/// The family's reads.
#[derive(Debug, Clone, PartialEq)]
pub enum SetRead {
    Members {
        key: Bytes,
    },
    IsMember {
        key: Bytes,
        member: Bytes,
    },
    MIsMember {
        key: Bytes,
        members: Vec<Bytes>,
    },
    Card {
        key: Bytes,
    },
    /// SRANDMEMBER; a negative count allows repeats.
    RandMember {
        key: Bytes,
        count: Option<i64>,
    },
    /// SINTER, SUNION, SDIFF.
    Combine {
        op: SetOp,
        keys: Vec<Bytes>,
    },
    /// SSCAN. An option error is the reply only once the key is found to hold a set (a missing
    /// key answers an empty page whatever the options), as in Redis.
    Scan {
        key: Bytes,
        cursor: u64,
        opts: Result<ScanOpts, Reply>,
    },
}

impl SetRead {
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            SetRead::Members { key }
            | SetRead::IsMember { key, .. }
            | SetRead::MIsMember { key, .. }
            | SetRead::Card { key }
            | SetRead::RandMember { key, .. }
            | SetRead::Scan { key, .. } => vec![key.as_ref()],
            SetRead::Combine { keys, .. } => keys.iter().map(|k| k.as_ref()).collect(),
        }
    }

    pub(super) fn execute(&self, r: &dyn KvRead, ctx: &ReadCtx) -> Step<Reply> {
        let now = ctx.now_ms;
        match self {
            SetRead::Members { key } => {
                let members = match coll::load(r, now, key, Kind::Set)? {
                    Some(c) => all_members(r, key, &c)?,
                    None => Vec::new(),
                };
                Ok(whole_set_reply(members))
            }
            SetRead::IsMember { key, member } => {
                let set = coll::load(r, now, key, Kind::Set)?;
                Ok(Reply::Int(i64::from(is_in(r, key, set.as_ref(), member)?)))
            }
            SetRead::MIsMember { key, members } => {
                let set = coll::load(r, now, key, Kind::Set)?;
                let mut out = Vec::with_capacity(members.len());
                for m in members {
                    out.push(Reply::Int(i64::from(is_in(r, key, set.as_ref(), m)?)));
                }
                Ok(Reply::Array(out))
            }
            SetRead::Card { key } => Ok(match coll::load(r, now, key, Kind::Set)? {
                Some(c) => Reply::Int(i64::try_from(c.meta.len).unwrap_or(i64::MAX)),
                None => Reply::Int(0),
            }),
            SetRead::RandMember { key, count } => {
                hash::srandmember(r, now, key, *count, ctx.random)
            }
            SetRead::Combine { op, keys } => {
                let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
                Ok(whole_set_reply(cmds::combine(r, now, *op, &keys)?))
            }
            SetRead::Scan { key, cursor, opts } => hash::sscan(r, now, key, *cursor, opts),
        }
    }
}

/// The family's writes, as they travel in the Raft log: never renumber or reorder variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SetWrite {
    Add {
        key: Vec<u8>,
        members: Vec<Vec<u8>>,
    },
    Rem {
        key: Vec<u8>,
        members: Vec<Vec<u8>>,
    },
    /// SPOP; without a count, one member replied as a bulk string.
    Pop {
        key: Vec<u8>,
        count: Option<u64>,
    },
    /// SINTERSTORE, SUNIONSTORE, SDIFFSTORE.
    Store {
        op: SetOp,
        dest: Vec<u8>,
        keys: Vec<Vec<u8>>,
    },
    Move {
        src: Vec<u8>,
        dst: Vec<u8>,
        member: Vec<u8>,
    },
}

impl SetWrite {
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            SetWrite::Add { key, .. } | SetWrite::Rem { key, .. } | SetWrite::Pop { key, .. } => {
                vec![key.as_slice()]
            }
            SetWrite::Store { dest, keys, .. } => std::iter::once(dest.as_slice())
                .chain(keys.iter().map(Vec::as_slice))
                .collect(),
            SetWrite::Move { src, dst, .. } => vec![src.as_slice(), dst.as_slice()],
        }
    }

    pub(super) fn apply(&self, kv: &mut dyn KvWrite, now: u64) -> Step<Reply> {
        match self {
            SetWrite::Add { key, members } => cmds::sadd(kv, now, key, members),
            SetWrite::Rem { key, members } => cmds::srem(kv, now, key, members),
            SetWrite::Pop { key, count } => cmds::spop(kv, now, key, *count),
            SetWrite::Store { op, dest, keys } => cmds::store(kv, now, *op, dest, keys),
            SetWrite::Move { src, dst, member } => cmds::smove(kv, now, src, dst, member),
        }
    }
}

// --- Elements --------------------------------------------------------------------------------

fn is_in(r: &dyn KvRead, key: &[u8], set: Option<&Coll>, member: &[u8]) -> Step<bool> {
    match set {
        Some(c) => Ok(r.sub_get(c.sub(key, MEMBERS), member)?.is_some()),
        None => Ok(false),
    }
}

/// Adds `member` to `c` in both orders; false if it was there already.
fn add(kv: &mut dyn KvWrite, key: &[u8], c: &mut Coll, member: &[u8]) -> Step<bool> {
    if kv.sub_get(c.sub(key, MEMBERS), member)?.is_some() {
        return Ok(false);
    }
    kv.sub_put(c.sub(key, MEMBERS), member, b"")?;
    kv.sub_put(c.sub(key, BY_HASH), &hashorder::hash_entry(member), b"")?;
    c.meta.len = c.meta.len.saturating_add(1);
    Ok(true)
}

/// Removes `member` from `c` in both orders; false if it was absent.
fn remove(kv: &mut dyn KvWrite, key: &[u8], c: &mut Coll, member: &[u8]) -> Step<bool> {
    if kv.sub_get(c.sub(key, MEMBERS), member)?.is_none() {
        return Ok(false);
    }
    kv.sub_delete(c.sub(key, MEMBERS), member)?;
    kv.sub_delete(c.sub(key, BY_HASH), &hashorder::hash_entry(member))?;
    c.meta.len = c.meta.len.saturating_sub(1);
    Ok(true)
}

/// Every member, in byte order.
fn all_members(r: &dyn KvRead, key: &[u8], c: &Coll) -> Step<Vec<Vec<u8>>> {
    let all = (Unbounded, Unbounded);
    let entries = r.sub_range(c.sub(key, MEMBERS), all, false, usize::MAX)?;
    Ok(entries.into_iter().map(|(m, _)| m).collect())
}

/// True when Redis 7.0 would hold these members as an intset.
fn is_intset(members: &[Vec<u8>]) -> bool {
    u64::try_from(members.len()).is_ok_and(|n| n <= INTSET_ENTRIES_MAX)
        && members.iter().all(|m| parse_i64(m).is_some())
}

/// Puts a whole set (or a set-algebra result, sorted) in Redis's walk order when that is known:
/// numeric for what would be an intset; otherwise it stays in byte order.
fn redis_order(members: &mut [Vec<u8>]) {
    if is_intset(members) {
        members.sort_by_cached_key(|m| parse_i64(m));
    }
}

/// The reply of a whole set or a set-algebra result.
fn whole_set_reply(mut members: Vec<Vec<u8>>) -> Reply {
    redis_order(&mut members);
    Reply::Set(members.into_iter().map(Reply::Bulk).collect())
}

#[cfg(test)]
#[path = "sets_tests.rs"]
mod tests;
