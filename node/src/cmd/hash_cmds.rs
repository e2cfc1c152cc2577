//! The hash commands' bodies (design in `hash.rs`): the two element spaces kept in step, the
//! whole-hash reads, the writes, and HSCAN and HRANDFIELD over `hashorder.rs`'s walks.

use std::ops::Bound::{Excluded, Unbounded};

use tanli_storage::{Kind, KvRead, KvWrite, StorageError};

use super::super::coll::{self, Coll};
use super::super::hashorder::{self, Rng, ScanOpts, Space};
use super::super::ldouble::{self, LongDouble, Parsed};
use super::super::parse::{err, parse_i64};
use super::super::{len_reply, Step};
use super::parse::float_increment;
use super::{Entry, Part, ALL_PAGE_ENTRIES, BY_HASH, FIELDS, HRANDFIELD_REPLY_BYTES_MAX};
use crate::reply::Reply;

/// A random pick: a field, and its value when it was read along.
type Pick = (Vec<u8>, Option<Vec<u8>>);

// --- Elements --------------------------------------------------------------------------------

/// The live hash at `key` (WRONGTYPE if it holds another kind).
pub(super) fn load(r: &dyn KvRead, now: u64, key: &[u8]) -> Step<Option<Coll>> {
    coll::load(r, now, key, Kind::Hash)
}

/// The value of `field`, if the hash exists and has it.
pub(super) fn value(
    r: &dyn KvRead,
    key: &[u8],
    hash: Option<&Coll>,
    field: &[u8],
) -> Step<Option<Vec<u8>>> {
    match hash {
        Some(c) => Ok(r.sub_get(c.sub(key, FIELDS), field)?),
        None => Ok(None),
    }
}

/// The hash-order space of the hash `c` at `key`.
fn space<'a>(r: &'a dyn KvRead, key: &'a [u8], c: &Coll) -> Space<'a> {
    Space::new(r, key, c, "hash element")
}

fn corrupt(detail: String) -> StorageError {
    StorageError::Corrupt {
        what: "hash element",
        detail,
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
        kv.sub_put(c.sub(key, BY_HASH), &hashorder::hash_entry(field), b"")?;
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
    kv.sub_delete(c.sub(key, BY_HASH), &hashorder::hash_entry(field))?;
    c.meta.len = c.meta.len.saturating_sub(1);
    Ok(true)
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
pub(super) fn all(r: &dyn KvRead, now: u64, key: &[u8], part: Part) -> Step<Reply> {
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

pub(super) fn hset(
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

pub(super) fn hsetnx(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    field: &[u8],
    value: &[u8],
) -> Step<Reply> {
    let mut c = coll::load_or_create(kv, now, key, Kind::Hash)?;
    if kv.sub_get(c.sub(key, FIELDS), field)?.is_some() {
        return Ok(Reply::Int(0));
    }
    put_field(kv, key, &mut c, field, value)?;
    coll::save(kv, key, c)?;
    Ok(Reply::Int(1))
}

/// Deleting the last field deletes the key.
pub(super) fn hdel(kv: &mut dyn KvWrite, now: u64, key: &[u8], fields: &[Vec<u8>]) -> Step<Reply> {
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
pub(super) fn hincrby(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    field: &[u8],
    by: i64,
) -> Step<Reply> {
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
pub(super) fn hincrbyfloat(
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

pub(super) fn hscan(
    r: &dyn KvRead,
    now: u64,
    key: &[u8],
    cursor: u64,
    opts: &Result<ScanOpts, Reply>,
) -> Step<Reply> {
    let Some(c) = load(r, now, key)? else {
        return Ok(hashorder::scan_reply(0, Vec::new()));
    };
    let opts = opts.as_ref().map_err(|e| e.clone())?;
    let (fields, next) = space(r, key, &c).scan_page(cursor, opts.count.max(1))?;
    let mut items = Vec::new();
    for field in fields {
        if !opts.keeps(&field) {
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
    Ok(hashorder::scan_reply(next, items))
}

// --- HRANDFIELD ------------------------------------------------------------------------------

/// Redis 7.0's replies: a bulk string (nil if missing) without a count; with one an array (of
/// field-value pairs with WITHVALUES: flat in RESP2, two-element arrays in RESP3), empty for a
/// missing key or a count of 0 (after the type check).
pub(super) fn hrandfield(
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
    hashorder::check_repeats(count)?;
    let n = count.unsigned_abs();
    let picks: Vec<Pick> = if count > 0 && n >= c.meta.len && with_values {
        all_entries(r, key, &c)?
            .into_iter()
            .map(|(f, v)| (f, Some(v)))
            .collect()
    } else if count > 0 && n >= c.meta.len {
        space(r, key, &c)
            .all()?
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

/// `count` distinct fields (fewer only if the hash has fewer), in the order drawn; a whole read
/// shuffles the fields in hash order.
fn distinct(r: &dyn KvRead, key: &[u8], c: &Coll, count: u64, rng: &mut Rng) -> Step<Vec<Vec<u8>>> {
    let space = space(r, key, c);
    space.distinct(count, rng, || space.all())
}

/// `n` independent picks (a negative count), each with its value when `with_values`; refused
/// once they would pass `bytes_max` ([`HRANDFIELD_REPLY_BYTES_MAX`]). A whole read takes the
/// fields in hash order, or with their values in field order.
pub(super) fn repeats(
    r: &dyn KvRead,
    key: &[u8],
    c: &Coll,
    n: u64,
    with_values: bool,
    bytes_max: u64,
    rng: &mut Rng,
) -> Step<Vec<Pick>> {
    let space = space(r, key, c);
    let whole = || -> Step<Vec<Pick>> {
        Ok(if with_values {
            let entries = all_entries(r, key, c)?.into_iter();
            entries.map(|(f, v)| (f, Some(v))).collect()
        } else {
            space.all()?.into_iter().map(|f| (f, None)).collect()
        })
    };
    let from_window = |f: Vec<u8>| -> Step<Pick> {
        let v = if with_values {
            Some(value_of(r, key, c, &f)?)
        } else {
            None
        };
        Ok((f, v))
    };
    space.repeats(n, bytes_max, rng, whole, from_window)
}
