//! What each list command does to a list, over the index-space moves of `list_space.rs`.
//! Every command validates (type, arguments, room) before its first write, so a failure changes
//! nothing.

use tanli_storage::{Kind, KvRead, KvWrite};

use super::super::coll::{self, Coll};
use super::super::parse::{err, parse_i64};
use super::super::Step;
use super::space::{
    clamp, corrupt, delete_span, exhausted, int, last, member, pack, peek_end, push_one, read_span,
    resolve, room, take_end, Walk, TAG,
};
use super::End;
use crate::reply::Reply;

pub(super) fn llen(r: &dyn KvRead, now: u64, key: &[u8]) -> Step<Reply> {
    Ok(int(load_list(r, now, key)?.map_or(0, |l| l.meta.len)))
}

pub(super) fn lrange(r: &dyn KvRead, now: u64, key: &[u8], start: i64, stop: i64) -> Step<Reply> {
    let Some(list) = load_list(r, now, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let Some((start, stop)) = clamp(start, stop, list.meta.len) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let head = list.meta.head;
    last(&list.meta)?;
    let values = read_span(r, list.sub(key, TAG), head + start, head + stop, false)?;
    Ok(Reply::Array(values.into_iter().map(Reply::Bulk).collect()))
}

pub(super) fn lindex(r: &dyn KvRead, now: u64, key: &[u8], index: &[u8]) -> Step<Reply> {
    let Some(list) = load_list(r, now, key)? else {
        return Ok(Reply::Nil);
    };
    let index = parse_i64(index).ok_or_else(err::not_integer)?;
    let Some(at) = resolve(&list.meta, index) else {
        return Ok(Reply::Nil);
    };
    match r.sub_get(list.sub(key, TAG), &member(at))? {
        Some(v) => Ok(Reply::Bulk(v)),
        None => Err(corrupt(format!("no element at index {at}"))),
    }
}

/// LPOS: the `rank`-th match and on (from the tail when `rank < 0`), within the first `maxlen`
/// elements walked. Indexes are from the head either way. Redis negates and subtracts `rank`
/// in C longs; the wrapping arithmetic reproduces what it answers for `RANK -2^63`.
pub(super) fn lpos(
    r: &dyn KvRead,
    now: u64,
    key: &[u8],
    element: &[u8],
    rank: i64,
    count: Option<i64>,
    maxlen: i64,
) -> Step<Reply> {
    let Some(list) = load_list(r, now, key)? else {
        return Ok(count.map_or(Reply::Nil, |_| Reply::Array(Vec::new())));
    };
    let (rank, reverse) = if rank < 0 {
        (rank.wrapping_neg(), true)
    } else {
        (rank, false)
    };
    let (head, last) = (list.meta.head, last(&list.meta)?);
    let n = match u64::try_from(maxlen) {
        Ok(m) if m > 0 => m.min(list.meta.len),
        _ => list.meta.len,
    };
    let (lo, hi) = if reverse {
        (last - (n - 1), last)
    } else {
        (head, head + (n - 1))
    };
    let mut walk = Walk::new(list.sub(key, TAG), lo, hi, reverse);
    let (mut matches, mut found) = (0i64, Vec::new());
    loop {
        let page = walk.page(r)?;
        if page.is_empty() {
            break;
        }
        for (i, v) in page {
            if v != element {
                continue;
            }
            matches = matches.saturating_add(1);
            if matches < rank {
                continue;
            }
            let index = int(i - head);
            let Some(count) = count else {
                return Ok(index);
            };
            found.push(index);
            if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                return Ok(Reply::Array(found));
            }
        }
    }
    Ok(match count {
        None => Reply::Nil,
        Some(_) => Reply::Array(found),
    })
}

pub(super) fn push(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    end: End,
    elements: &[Vec<u8>],
    only_existing: bool,
) -> Step<Reply> {
    let mut list = if only_existing {
        match load_list_w(kv, now, key)? {
            Some(list) => list,
            None => return Ok(Reply::Int(0)),
        }
    } else {
        coll::load_or_create(kv, now, key, Kind::List)?
    };
    if room(&list.meta, end) < elements.len() as u64 {
        return Err(exhausted());
    }
    for e in elements {
        push_one(kv, key, &mut list, end, e)?;
    }
    let len = list.meta.len;
    coll::save(kv, key, list)?;
    Ok(int(len))
}

pub(super) fn pop(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    end: End,
    count: Option<u64>,
) -> Step<Reply> {
    let Some(mut list) = load_list_w(kv, now, key)? else {
        return Ok(count.map_or(Reply::Nil, |_| Reply::NilArray));
    };
    let n = match count {
        Some(0) => return Ok(Reply::Array(Vec::new())),
        Some(n) => n.min(list.meta.len),
        None => 1,
    };
    let mut values = if n == list.meta.len {
        // The whole list goes: `save` deletes the key and its entries at once.
        let values = peek_end(&*kv, key, &list, end, n)?;
        list.meta.len = 0;
        values
    } else {
        take_end(kv, key, &mut list, end, n)?
    };
    coll::save(kv, key, list)?;
    Ok(match count {
        Some(_) => Reply::Array(values.into_iter().map(Reply::Bulk).collect()),
        None => Reply::Bulk(values.pop().unwrap_or_default()),
    })
}

pub(super) fn lset(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    index: &[u8],
    value: &[u8],
) -> Step<Reply> {
    let Some(list) = load_list_w(kv, now, key)? else {
        return Err(Reply::err("no such key").into());
    };
    let index = parse_i64(index).ok_or_else(err::not_integer)?;
    let at = resolve(&list.meta, index).ok_or_else(|| Reply::err("index out of range"))?;
    kv.sub_put(list.sub(key, TAG), &member(at), value)?;
    coll::save(kv, key, list)?;
    Ok(Reply::ok())
}

pub(super) fn ltrim(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    start: i64,
    stop: i64,
) -> Step<Reply> {
    let Some(mut list) = load_list_w(kv, now, key)? else {
        return Ok(Reply::ok());
    };
    let meta = list.meta;
    last(&meta)?;
    match clamp(start, stop, meta.len) {
        // Everything goes: `save` deletes the key and its entries at once.
        None => list.meta.len = 0,
        Some((start, stop)) => {
            let sub = list.sub(key, TAG);
            delete_span(kv, sub, meta.head, meta.head + start)?;
            delete_span(kv, sub, meta.head + stop + 1, meta.head + meta.len)?;
            list.meta.head = meta.head + start;
            list.meta.len = stop - start + 1;
        }
    }
    coll::save(kv, key, list)?;
    Ok(Reply::ok())
}

/// LREM: a first walk finds the span `lo..=hi` holding the elements to remove (the first
/// `count` matches from the head, the last `-count`, or all), then the side of the list from
/// that span to its nearer end is packed over the holes.
pub(super) fn lrem(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    count: i64,
    element: &[u8],
) -> Step<Reply> {
    let Some(mut list) = load_list_w(kv, now, key)? else {
        return Ok(Reply::Int(0));
    };
    let (head, last) = (list.meta.head, last(&list.meta)?);
    let sub = list.sub(key, TAG);
    let limit = if count == 0 {
        u64::MAX
    } else {
        count.unsigned_abs()
    };
    let mut walk = Walk::new(sub, head, last, count < 0);
    let (mut found, mut lo, mut hi) = (0u64, u64::MAX, 0u64);
    'walk: loop {
        let page = walk.page(&*kv)?;
        if page.is_empty() {
            break;
        }
        for (i, v) in page {
            if v == element {
                found += 1;
                lo = lo.min(i);
                hi = hi.max(i);
                if found == limit {
                    break 'walk;
                }
            }
        }
    }
    if found == 0 {
        return Ok(Reply::Int(0));
    }
    let removed = |i: u64, v: &[u8]| (lo..=hi).contains(&i) && v == element;
    if found == list.meta.len {
        // Everything goes: `save` deletes the key and its entries at once.
        list.meta.len = 0;
    } else if last - lo <= hi - head {
        let kept = pack(kv, sub, (lo, last), End::Left, lo, &removed)?;
        expect_kept(kept, last - lo + 1 - found)?;
        delete_span(kv, sub, last + 1 - found, last + 1)?;
        list.meta.len -= found;
    } else {
        let kept = pack(kv, sub, (head, hi), End::Right, hi, &removed)?;
        expect_kept(kept, hi - head + 1 - found)?;
        delete_span(kv, sub, head, head + found)?;
        list.meta.head += found;
        list.meta.len -= found;
    }
    coll::save(kv, key, list)?;
    Ok(int(found))
}

/// The second walk of LREM must keep exactly what the first one did not select.
fn expect_kept(kept: u64, due: u64) -> Step<()> {
    if kept != due {
        return Err(corrupt(format!(
            "kept {kept} elements where {due} were due"
        )));
    }
    Ok(())
}

/// LINSERT: finds the first element equal to `pivot` from the head, then makes room next to it
/// by shifting whichever side of the insertion point is shorter one step outward.
pub(super) fn linsert(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    after: bool,
    pivot: &[u8],
    element: &[u8],
) -> Step<Reply> {
    let Some(mut list) = load_list_w(kv, now, key)? else {
        return Ok(Reply::Int(0));
    };
    let (head, len, last) = (list.meta.head, list.meta.len, last(&list.meta)?);
    let sub = list.sub(key, TAG);
    let mut walk = Walk::new(sub, head, last, false);
    let found = 'walk: loop {
        let page = walk.page(&*kv)?;
        if page.is_empty() {
            break None;
        }
        for (i, v) in page {
            if v == pivot {
                break 'walk Some(i);
            }
        }
    };
    let Some(p) = found else {
        return Ok(Reply::Int(-1));
    };
    // The new element's place, relative to the head: 0..=len.
    let q = p - head + u64::from(after);
    let no_drop = |_: u64, _: &[u8]| false;
    if q <= len - q {
        let new_head = head.checked_sub(1).ok_or_else(exhausted)?;
        if q > 0 {
            pack(kv, sub, (head, head + q - 1), End::Left, new_head, &no_drop)?;
        }
        kv.sub_put(sub, &member(new_head + q), element)?;
        list.meta.head = new_head;
    } else {
        if room(&list.meta, End::Right) == 0 {
            return Err(exhausted());
        }
        pack(kv, sub, (head + q, last), End::Right, last + 1, &no_drop)?;
        kv.sub_put(sub, &member(head + q), element)?;
    }
    list.meta.len += 1;
    let len = list.meta.len;
    coll::save(kv, key, list)?;
    Ok(int(len))
}

/// LMOVE / RPOPLPUSH. A missing source answers nil before the destination is looked at; a
/// destination of another type is refused before anything changes. Source and destination may
/// be the same list (a rotation).
pub(super) fn lmove(
    kv: &mut dyn KvWrite,
    now: u64,
    source: &[u8],
    destination: &[u8],
    from: End,
    to: End,
) -> Step<Reply> {
    let Some(mut src) = load_list_w(kv, now, source)? else {
        return Ok(Reply::Nil);
    };
    last(&src.meta)?;
    if source == destination {
        let mut popped = src.meta;
        popped.len -= 1;
        if from == End::Left {
            popped.head += 1;
        }
        if room(&popped, to) == 0 {
            return Err(exhausted());
        }
        let value = take_end(kv, source, &mut src, from, 1)?
            .pop()
            .unwrap_or_default();
        push_one(kv, source, &mut src, to, &value)?;
        coll::save(kv, source, src)?;
        return Ok(Reply::Bulk(value));
    }
    let mut dst = match load_list_w(kv, now, destination)? {
        Some(dst) => dst,
        None => coll::create(kv, Kind::List),
    };
    if room(&dst.meta, to) == 0 {
        return Err(exhausted());
    }
    let value = if src.meta.len == 1 {
        let values = peek_end(&*kv, source, &src, from, 1)?;
        src.meta.len = 0;
        values
    } else {
        take_end(kv, source, &mut src, from, 1)?
    }
    .pop()
    .unwrap_or_default();
    push_one(kv, destination, &mut dst, to, &value)?;
    coll::save(kv, source, src)?;
    coll::save(kv, destination, dst)?;
    Ok(Reply::Bulk(value))
}

fn load_list(r: &dyn KvRead, now: u64, key: &[u8]) -> Step<Option<Coll>> {
    coll::load(r, now, key, Kind::List)
}

fn load_list_w(kv: &mut dyn KvWrite, now: u64, key: &[u8]) -> Step<Option<Coll>> {
    coll::load_w(kv, now, key, Kind::List)
}
