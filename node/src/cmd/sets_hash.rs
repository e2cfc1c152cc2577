//! The two walks of a set's hash order (see the module doc of `sets.rs`), over `hashorder.rs`'s
//! shared machinery: SSCAN pages (with Redis 7.0's one-page intsets), and random picks for SPOP
//! and SRANDMEMBER.

use std::ops::Bound::Unbounded;

use tanli_storage::{Kind, KvRead};

use super::super::coll::{self, Coll};
use super::super::hashorder::{self, Rng, ScanOpts, Space};
use super::super::parse::parse_i64;
use super::super::Step;
use super::{all_members, is_intset, redis_order, INTSET_ENTRIES_MAX, MEMBERS};
use crate::reply::Reply;

/// The hash-order space of the set `c` at `key`.
fn space<'a>(r: &'a dyn KvRead, key: &'a [u8], c: &Coll) -> Space<'a> {
    Space::new(r, key, c, "set element")
}

pub(super) fn sscan(
    r: &dyn KvRead,
    now: u64,
    key: &[u8],
    cursor: u64,
    opts: &Result<ScanOpts, Reply>,
) -> Step<Reply> {
    let Some(c) = coll::load(r, now, key, Kind::Set)? else {
        return Ok(hashorder::scan_reply(0, Vec::new()));
    };
    let opts = opts.as_ref().map_err(|e| e.clone())?;
    if cursor == 0 {
        if let Some(ints) = intset(r, key, &c)? {
            return Ok(scan_reply(0, ints, opts));
        }
    }
    let (members, next) = space(r, key, &c).scan_page(cursor, opts.count.max(1))?;
    Ok(scan_reply(next, members, opts))
}

/// The members of an intset in numeric order if Redis 7.0 would hold the set as one. Reads at
/// most [`INTSET_ENTRIES_MAX`] members, and one when the first is not an integer.
fn intset(r: &dyn KvRead, key: &[u8], c: &Coll) -> Step<Option<Vec<Vec<u8>>>> {
    if c.meta.len > INTSET_ENTRIES_MAX {
        return Ok(None);
    }
    let sub = c.sub(key, MEMBERS);
    let Some((first, _)) = r.sub_range(sub, (Unbounded, Unbounded), false, 1)?.pop() else {
        return Ok(None);
    };
    if parse_i64(&first).is_none() {
        return Ok(None);
    }
    let mut members = all_members(r, key, c)?;
    if !is_intset(&members) {
        return Ok(None);
    }
    redis_order(&mut members);
    Ok(Some(members))
}

/// A page of the members MATCH keeps.
fn scan_reply(cursor: u64, members: Vec<Vec<u8>>, opts: &ScanOpts) -> Reply {
    let kept = members.into_iter().filter(|m| opts.keeps(m));
    hashorder::scan_reply(cursor, kept.map(Reply::Bulk).collect())
}

/// `count` distinct members (fewer only if the set has fewer), in the order drawn; a whole read
/// shuffles the members in byte order.
pub(super) fn distinct(
    r: &dyn KvRead,
    key: &[u8],
    c: &Coll,
    count: u64,
    rng: &mut Rng,
) -> Step<Vec<Vec<u8>>> {
    space(r, key, c).distinct(count, rng, || all_members(r, key, c))
}

/// Redis 7.0's replies: a bulk string (nil if missing) without a count; with one an array, empty
/// for a missing key or a count of 0 (after the type check). The parser has bounded a negative
/// count.
pub(super) fn srandmember(
    r: &dyn KvRead,
    now: u64,
    key: &[u8],
    count: Option<i64>,
    seed: u64,
) -> Step<Reply> {
    let rng = &mut Rng(seed);
    let set = coll::load(r, now, key, Kind::Set)?;
    let Some(count) = count else {
        return Ok(match set {
            None => Reply::Nil,
            Some(c) => distinct(r, key, &c, 1, rng)?
                .pop()
                .map_or(Reply::Nil, Reply::Bulk),
        });
    };
    let Some(c) = set.filter(|_| count != 0) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let n = count.unsigned_abs();
    let picks = if count > 0 && n >= c.meta.len {
        let mut all = all_members(r, key, &c)?;
        redis_order(&mut all);
        all
    } else if count > 0 {
        distinct(r, key, &c, n, rng)?
    } else {
        // Members only: the count bounds the reply (no byte bound, unlike HRANDFIELD's values).
        let whole = || all_members(r, key, &c);
        space(r, key, &c).repeats(n, u64::MAX, rng, whole, Ok)?
    };
    Ok(Reply::Array(picks.into_iter().map(Reply::Bulk).collect()))
}
