//! The index space of one list: how its elements sit at dense indexes `head..head + len`, and
//! the moves every list command is made of (reading a run, walking page by page, pushing and
//! taking at the ends, packing a stretch over holes or to make room).
//!
//! Every read checks that the indexes it gets are the dense run the metadata promises: a gap is
//! corrupt data, never "treated as absent". Long walks read [`PAGE_ELEMENTS`] entries per storage
//! call, so memory stays bounded whatever the list's length.

use std::ops::Bound::Included;

use tanli_storage::{CollMeta, KvRead, KvWrite, StorageError, Sub};

use super::super::coll::Coll;
use super::super::{Step, Stop};
use super::End;
use crate::reply::Reply;

/// The element space of a list instance.
pub(super) const TAG: u8 = 0;
/// Entries one storage read returns while walking a list (LPOS, LREM, LINSERT, shifts).
pub(super) const PAGE_ELEMENTS: usize = 256;

pub(super) fn int(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

pub(super) fn member(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub(super) fn corrupt(detail: String) -> Stop {
    Stop::Storage(StorageError::Corrupt {
        what: "list elements",
        detail,
    })
}

/// A push past either end of the 64-bit index space (2^63 pushes on one side of a list).
pub(super) fn exhausted() -> Stop {
    Stop::Reply(Reply::err("list index space exhausted"))
}

/// The index of the last element of a non-empty list. Checks the invariant every other index
/// computation relies on: `len > 0` and `head + len` fits in a u64 (index u64::MAX is never
/// used, see [`room`]).
pub(super) fn last(meta: &CollMeta) -> Step<u64> {
    match (meta.len.checked_sub(1), meta.head.checked_add(meta.len)) {
        (Some(n), Some(_)) => Ok(meta.head + n),
        _ => Err(corrupt(format!("list head {} len {}", meta.head, meta.len))),
    }
}

/// How many elements can still be pushed at `end`. Index u64::MAX is kept free, so the index
/// one past the last element always fits.
pub(super) fn room(meta: &CollMeta, end: End) -> u64 {
    match end {
        End::Left => meta.head,
        End::Right => meta
            .head
            .checked_add(meta.len)
            .map_or(0, |next| u64::MAX - next),
    }
}

/// The absolute index of Redis index `index` (negative counts from the tail), if in range.
pub(super) fn resolve(meta: &CollMeta, index: i64) -> Option<u64> {
    let len = i128::from(meta.len);
    let rel = i128::from(index) + if index < 0 { len } else { 0 };
    if rel < 0 || rel >= len {
        return None;
    }
    meta.head.checked_add(u64::try_from(rel).ok()?)
}

/// Redis's LRANGE / LTRIM bounds over `len` elements: negative counts from the tail, then
/// clamped; `None` when the range is empty. Relative indexes, inclusive.
pub(super) fn clamp(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = i128::from(len);
    let (start, stop) = (i128::from(start), i128::from(stop));
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { stop + len } else { stop };
    if start > stop || start >= len {
        return None;
    }
    let stop = stop.min(len - 1);
    Some((u64::try_from(start).ok()?, u64::try_from(stop).ok()?))
}

/// The elements at absolute indexes `lo..=hi` (ascending, or descending if `reverse`), read in
/// one storage call and checked to be the dense run the metadata promises.
pub(super) fn read_span(
    r: &dyn KvRead,
    sub: Sub<'_>,
    lo: u64,
    hi: u64,
    reverse: bool,
) -> Step<Vec<Vec<u8>>> {
    let want = hi
        .checked_sub(lo)
        .and_then(|d| d.checked_add(1))
        .ok_or_else(|| corrupt(format!("empty run {lo}..={hi}")))?;
    let limit = usize::try_from(want).unwrap_or(usize::MAX);
    let (l, h) = (member(lo), member(hi));
    let got = r.sub_range(sub, (Included(&l), Included(&h)), reverse, limit)?;
    let mut expect = if reverse { hi } else { lo };
    let mut out = Vec::with_capacity(got.len());
    for (m, v) in got {
        check_index(&m, expect)?;
        out.push(v);
        expect = if reverse {
            expect.wrapping_sub(1)
        } else {
            expect.wrapping_add(1)
        };
    }
    if out.len() as u64 != want {
        return Err(corrupt(format!(
            "{} of {want} elements at {lo}..={hi}",
            out.len()
        )));
    }
    Ok(out)
}

pub(super) fn check_index(m: &[u8], expect: u64) -> Step<()> {
    let got = <[u8; 8]>::try_from(m).ok().map(u64::from_be_bytes);
    if got != Some(expect) {
        return Err(corrupt(format!(
            "element member {m:?} where index {expect} was due"
        )));
    }
    Ok(())
}

/// A walk over the elements at absolute indexes `lo..=hi`, from either end, one page of
/// [`PAGE_ELEMENTS`] per storage read; it checks density like [`read_span`].
pub(super) struct Walk<'k> {
    sub: Sub<'k>,
    /// The next index due from the walked end, and the index of the other end.
    next: u64,
    stop: u64,
    reverse: bool,
    done: bool,
}

impl<'k> Walk<'k> {
    pub(super) fn new(sub: Sub<'k>, lo: u64, hi: u64, reverse: bool) -> Walk<'k> {
        let (next, stop) = if reverse { (hi, lo) } else { (lo, hi) };
        Walk {
            sub,
            next,
            stop,
            reverse,
            done: lo > hi,
        }
    }

    /// The next page, `(index, element)` in walk order; empty once the walk is over.
    pub(super) fn page(&mut self, r: &dyn KvRead) -> Step<Vec<(u64, Vec<u8>)>> {
        if self.done {
            return Ok(Vec::new());
        }
        let (lo, hi) = if self.reverse {
            (self.stop, self.next)
        } else {
            (self.next, self.stop)
        };
        let (l, h) = (member(lo), member(hi));
        let got = r.sub_range(
            self.sub,
            (Included(&l), Included(&h)),
            self.reverse,
            PAGE_ELEMENTS,
        )?;
        if got.is_empty() {
            return Err(corrupt(format!("no element at {lo}..={hi}")));
        }
        let mut out = Vec::with_capacity(got.len());
        for (m, v) in got {
            check_index(&m, self.next)?;
            out.push((self.next, v));
            if self.next == self.stop {
                self.done = true;
            } else if self.reverse {
                self.next -= 1;
            } else {
                self.next += 1;
            }
        }
        Ok(out)
    }
}

/// Rewrites the elements at `lo..=hi` that `drop` does not select so that they sit, in order,
/// at consecutive indexes from `start` toward `toward` (walking from the opposite side, so a
/// write never lands on an element not read yet: `start` must not be past `lo` toward the tail
/// for `Left`, nor before `hi` for `Right`). Returns how many were kept. Entries left behind
/// are the caller's to delete.
pub(super) fn pack(
    kv: &mut dyn KvWrite,
    sub: Sub<'_>,
    (lo, hi): (u64, u64),
    toward: End,
    start: u64,
    drop: &dyn Fn(u64, &[u8]) -> bool,
) -> Step<u64> {
    let mut walk = Walk::new(sub, lo, hi, toward == End::Right);
    let mut kept = 0u64;
    loop {
        let page = walk.page(&*kv)?;
        if page.is_empty() {
            return Ok(kept);
        }
        for (i, v) in page {
            if drop(i, &v) {
                continue;
            }
            let at = match toward {
                End::Left => start.checked_add(kept),
                End::Right => start.checked_sub(kept),
            }
            .ok_or_else(exhausted)?;
            if at != i {
                kv.sub_put(sub, &member(at), &v)?;
            }
            kept += 1;
        }
    }
}

/// Stores `value` at `end` of `list` (the caller checked [`room`]).
pub(super) fn push_one(
    kv: &mut dyn KvWrite,
    key: &[u8],
    list: &mut Coll,
    end: End,
    value: &[u8],
) -> Step<()> {
    let at = match end {
        End::Left => list.meta.head.checked_sub(1),
        End::Right => list.meta.head.checked_add(list.meta.len),
    }
    .ok_or_else(exhausted)?;
    kv.sub_put(list.sub(key, TAG), &member(at), value)?;
    if end == End::Left {
        list.meta.head = at;
    }
    list.meta.len += 1;
    Ok(())
}

/// The `n` (at most the length, at least 1) elements at `end`, in pop order, without changing
/// anything.
pub(super) fn peek_end(
    r: &dyn KvRead,
    key: &[u8],
    list: &Coll,
    end: End,
    n: u64,
) -> Step<Vec<Vec<u8>>> {
    let meta = &list.meta;
    let n = n.min(meta.len);
    let last = last(meta)?;
    match end {
        End::Left => read_span(r, list.sub(key, TAG), meta.head, meta.head + (n - 1), false),
        End::Right => read_span(r, list.sub(key, TAG), last - (n - 1), last, true),
    }
}

/// Removes and returns `n` elements (at least 1, at most the length) at `end`, entry by entry.
pub(super) fn take_end(
    kv: &mut dyn KvWrite,
    key: &[u8],
    list: &mut Coll,
    end: End,
    n: u64,
) -> Step<Vec<Vec<u8>>> {
    let values = peek_end(&*kv, key, list, end, n)?;
    let n = values.len() as u64;
    let first = match end {
        End::Left => list.meta.head,
        End::Right => last(&list.meta)? + 1 - n,
    };
    let sub = list.sub(key, TAG);
    for i in first..first + n {
        kv.sub_delete(sub, &member(i))?;
    }
    if end == End::Left {
        list.meta.head += n;
    }
    list.meta.len -= n;
    Ok(values)
}

/// Deletes the entries at `lo..hi` (exclusive).
pub(super) fn delete_span(kv: &mut dyn KvWrite, sub: Sub<'_>, lo: u64, hi: u64) -> Step<()> {
    for i in lo..hi {
        kv.sub_delete(sub, &member(i))?;
    }
    Ok(())
}
