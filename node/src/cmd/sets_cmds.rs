//! The set writes (SADD, SREM, SPOP, SMOVE and the STORE commands) and the set algebra shared by
//! SINTER, SUNION, SDIFF and their STORE forms.

use std::ops::Bound::{Excluded, Included, Unbounded};

use tanli_storage::{Kind, KvRead, KvWrite};

use super::super::coll::{self, Coll};
use super::super::hashorder::Rng;
use super::super::{len_reply, Step};
use super::hash;
use super::{add, all_members, is_in, remove, whole_set_reply, SetOp};
use super::{ALGEBRA_PAGE_MEMBERS, MEMBERS, MERGE_FACTOR};
use crate::reply::Reply;

/// A write that changes nothing stores nothing (so `WATCH` sees no change, as in Redis).
pub(super) fn sadd(kv: &mut dyn KvWrite, now: u64, key: &[u8], members: &[Vec<u8>]) -> Step<Reply> {
    let mut c = coll::load_or_create(kv, now, key, Kind::Set)?;
    let mut added = 0;
    for m in members {
        if add(kv, key, &mut c, m)? {
            added += 1;
        }
    }
    if added > 0 {
        coll::save(kv, key, c)?;
    }
    Ok(len_reply(added))
}

pub(super) fn srem(kv: &mut dyn KvWrite, now: u64, key: &[u8], members: &[Vec<u8>]) -> Step<Reply> {
    let Some(mut c) = coll::load_w(kv, now, key, Kind::Set)? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for m in members {
        if remove(kv, key, &mut c, m)? {
            removed += 1;
        }
    }
    if removed > 0 {
        coll::save(kv, key, c)?;
    }
    Ok(len_reply(removed))
}

/// SPOP with a count replies a set (RESP3 `~`), also when the key is missing or the count is 0.
pub(super) fn spop(kv: &mut dyn KvWrite, now: u64, key: &[u8], count: Option<u64>) -> Step<Reply> {
    let Some(mut c) = coll::load_w(kv, now, key, Kind::Set)? else {
        return Ok(count.map_or(Reply::Nil, |_| Reply::Set(Vec::new())));
    };
    let popped = match count {
        Some(0) => return Ok(Reply::Set(Vec::new())),
        Some(n) if n >= c.meta.len => {
            let all = all_members(&*kv, key, &c)?;
            c.meta.len = 0;
            coll::save(kv, key, c)?;
            return Ok(whole_set_reply(all));
        }
        n => {
            let mut rng = Rng(coll::apply_random(kv));
            hash::distinct(&*kv, key, &c, n.unwrap_or(1), &mut rng)?
        }
    };
    for m in &popped {
        remove(kv, key, &mut c, m)?;
    }
    coll::save(kv, key, c)?;
    Ok(match count {
        Some(_) => Reply::Set(popped.into_iter().map(Reply::Bulk).collect()),
        None => popped.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
    })
}

pub(super) fn store(
    kv: &mut dyn KvWrite,
    now: u64,
    op: SetOp,
    dest: &[u8],
    keys: &[Vec<u8>],
) -> Step<Reply> {
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let result = combine(&*kv, now, op, &keys)?;
    let mut c = coll::create(kv, Kind::Set);
    for m in &result {
        add(kv, dest, &mut c, m)?;
    }
    coll::save(kv, dest, c)?;
    Ok(len_reply(result.len()))
}

/// Redis's order: a missing source answers 0 before the destination's type is checked, and the
/// destination's type is checked before the member is looked for. Replies 1 when the member was
/// moved, also if the destination had it already.
pub(super) fn smove(
    kv: &mut dyn KvWrite,
    now: u64,
    src: &[u8],
    dst: &[u8],
    member: &[u8],
) -> Step<Reply> {
    let Some(mut from) = coll::load_w(kv, now, src, Kind::Set)? else {
        return Ok(Reply::Int(0));
    };
    let to = coll::load_w(kv, now, dst, Kind::Set)?;
    if src == dst {
        let there = is_in(&*kv, src, Some(&from), member)?;
        return Ok(Reply::Int(i64::from(there)));
    }
    if !remove(kv, src, &mut from, member)? {
        return Ok(Reply::Int(0));
    }
    coll::save(kv, src, from)?;
    let mut to = match to {
        Some(c) => c,
        None => coll::create(kv, Kind::Set),
    };
    if add(kv, dst, &mut to, member)? {
        coll::save(kv, dst, to)?;
    }
    Ok(Reply::Int(1))
}

/// The members of `op` over `keys`, sorted and distinct. Every key is type-checked first.
pub(super) fn combine(r: &dyn KvRead, now: u64, op: SetOp, keys: &[&[u8]]) -> Step<Vec<Vec<u8>>> {
    let mut sets = Vec::with_capacity(keys.len());
    for &key in keys {
        sets.push((key, coll::load(r, now, key, Kind::Set)?));
    }
    match op {
        SetOp::Union => {
            let mut out = Vec::new();
            for (key, c) in &sets {
                if let Some(c) = c {
                    out.extend(all_members(r, key, c)?);
                }
            }
            out.sort_unstable();
            out.dedup();
            Ok(out)
        }
        SetOp::Inter => {
            let present: Option<Vec<(&[u8], Coll)>> =
                sets.into_iter().map(|(k, c)| c.map(|c| (k, c))).collect();
            let Some(mut present) = present else {
                return Ok(Vec::new());
            };
            present.sort_by_key(|(_, c)| c.meta.len);
            match present.split_first() {
                Some((walked, others)) => filtered(r, walked, others, true),
                None => Ok(Vec::new()),
            }
        }
        SetOp::Diff => {
            let mut sets = sets.into_iter();
            let Some((key, Some(first))) = sets.next() else {
                return Ok(Vec::new());
            };
            let others: Vec<_> = sets.filter_map(|(k, c)| c.map(|c| (k, c))).collect();
            filtered(r, &(key, first), &others, false)
        }
    }
}

/// The members of `walked` that are in every one of `others` (`keep_in`) or in none of them.
fn filtered(
    r: &dyn KvRead,
    walked: &(&[u8], Coll),
    others: &[(&[u8], Coll)],
    keep_in: bool,
) -> Step<Vec<Vec<u8>>> {
    let (key, c) = walked;
    let sub = c.sub(key, MEMBERS);
    let mut out = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let lo = after.as_deref().map_or(Unbounded, Excluded);
        let page = r.sub_range(sub, (lo, Unbounded), false, ALGEBRA_PAGE_MEMBERS)?;
        let full = page.len() == ALGEBRA_PAGE_MEMBERS;
        let mut candidates: Vec<Vec<u8>> = page.into_iter().map(|(m, _)| m).collect();
        after = candidates.last().cloned();
        for (okey, other) in others {
            let merge = other.meta.len <= c.meta.len.saturating_mul(MERGE_FACTOR);
            candidates = sift(r, okey, other, candidates, keep_in, merge)?;
        }
        out.extend(candidates);
        if !full {
            return Ok(out);
        }
    }
}

/// The `candidates` (sorted) that are (`keep_in`) or are not in `set`: by a merge with the set's
/// members over the candidates' range, or by a point lookup per candidate.
fn sift(
    r: &dyn KvRead,
    key: &[u8],
    set: &Coll,
    candidates: Vec<Vec<u8>>,
    keep_in: bool,
    merge: bool,
) -> Step<Vec<Vec<u8>>> {
    let sub = set.sub(key, MEMBERS);
    let (Some(first), Some(last)) = (candidates.first(), candidates.last()) else {
        return Ok(candidates);
    };
    let mut out = Vec::new();
    if merge {
        let range = (Included(first.as_slice()), Included(last.as_slice()));
        let present = r.sub_range(sub, range, false, usize::MAX)?;
        let mut present = present.into_iter().map(|(m, _)| m).peekable();
        for cand in candidates {
            while present.next_if(|m| *m < cand).is_some() {}
            if present.peek().is_some_and(|m| *m == cand) == keep_in {
                out.push(cand);
            }
        }
    } else {
        for cand in candidates {
            if r.sub_get(sub, &cand)?.is_some() == keep_in {
                out.push(cand);
            }
        }
    }
    Ok(out)
}
