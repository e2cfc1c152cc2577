//! The two walks of a set's hash order (see the module doc of `sets.rs`): SSCAN pages, and random
//! picks for SPOP and SRANDMEMBER.

use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Included, Unbounded};

use tanli_storage::{Kind, KvRead};

use super::super::coll::{self, Coll};
use super::super::parse::parse_i64;
use super::super::{glob, keyspace, Step};
use super::{all_members, corrupt, entry_hash, entry_member, is_intset, redis_order, ScanOpts};
use super::{BY_HASH, DISTINCT_ATTEMPTS_EXTRA, DISTINCT_ATTEMPTS_FACTOR, INTSET_ENTRIES_MAX};
use super::{MEMBERS, RANDOM_READ_ALL_MAX, RANDOM_WINDOW, READ_ALL_FACTOR};
use crate::reply::Reply;

pub(super) fn sscan(
    r: &dyn KvRead,
    now: u64,
    key: &[u8],
    cursor: u64,
    opts: &Result<ScanOpts, Reply>,
) -> Step<Reply> {
    let Some(c) = coll::load(r, now, key, Kind::Set)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = opts.as_ref().map_err(|e| e.clone())?;
    let keep = |m: &[u8]| opts.pattern.as_ref().is_none_or(|p| glob::matches(p, m));
    if cursor == 0 {
        if let Some(ints) = intset(r, key, &c)? {
            return Ok(scan_reply(
                0,
                ints.into_iter().filter(|m| keep(m)).collect(),
            ));
        }
    }
    let count = opts.count.max(1);
    let sub = c.sub(key, BY_HASH);
    let from = cursor.to_be_bytes();
    let range = (Included(&from[..]), Unbounded);
    let mut page = r.sub_range(sub, range, false, count.saturating_add(1))?;
    let mut next = 0;
    if page.len() > count {
        // End the page between two hashes: a member sharing the last one's hash stays in it.
        let boundary = match page.get(count - 1) {
            Some((e, _)) => entry_hash(e)?,
            None => 0,
        };
        let mut following = page.pop();
        while let Some(entry) = following {
            let h = entry_hash(&entry.0)?;
            if h != boundary {
                next = h;
                break;
            }
            page.push(entry);
            let last = page.last().map(|(e, _)| e.as_slice()).unwrap_or_default();
            following = r
                .sub_range(sub, (Excluded(last), Unbounded), false, 1)?
                .pop();
        }
    }
    let mut members = Vec::with_capacity(page.len());
    for (entry, _) in page {
        let m = entry_member(entry)?;
        if keep(&m) {
            members.push(m);
        }
    }
    Ok(scan_reply(next, members))
}

/// The members in numeric order if Redis 7.0 would hold the set as an intset. Reads at most
/// [`INTSET_ENTRIES_MAX`] members, and one when the first is not an integer.
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

fn scan_reply(cursor: u64, members: Vec<Vec<u8>>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(cursor.to_string().into_bytes()),
        Reply::Array(members.into_iter().map(Reply::Bulk).collect()),
    ])
}

/// A splitmix64 stream from one seed.
pub(super) struct Rng(pub(super) u64);

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

/// True when a sample of `count` members is drawn from the whole set, read at once.
fn reads_whole(c: &Coll, count: u64) -> bool {
    c.meta.len <= RANDOM_READ_ALL_MAX || count.saturating_mul(READ_ALL_FACTOR) >= c.meta.len
}

/// One member of a window of [`RANDOM_WINDOW`] in hash order from a random position.
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
        Some((entry, _)) => Ok(entry_member(entry)?),
        None => Err(corrupt(format!("no member in a set of length {}", c.meta.len)).into()),
    }
}

/// `count` distinct members (fewer only if the set has fewer), in the order drawn.
pub(super) fn distinct(
    r: &dyn KvRead,
    key: &[u8],
    c: &Coll,
    count: u64,
    rng: &mut Rng,
) -> Step<Vec<Vec<u8>>> {
    let want = usize::try_from(count).unwrap_or(usize::MAX);
    if reads_whole(c, count) {
        let mut all = all_members(r, key, c)?;
        let n = want.min(all.len());
        // The first steps of a Fisher-Yates shuffle.
        for i in 0..n {
            let j = i + rng.below(all.len() - i);
            all.swap(i, j);
        }
        all.truncate(n);
        return Ok(all);
    }
    let mut chosen = Vec::with_capacity(want);
    let mut seen = BTreeSet::new();
    let attempts = count
        .saturating_mul(DISTINCT_ATTEMPTS_FACTOR)
        .saturating_add(DISTINCT_ATTEMPTS_EXTRA);
    for _ in 0..attempts {
        if chosen.len() >= want {
            return Ok(chosen);
        }
        let m = window_pick(r, key, c, rng)?;
        if seen.insert(m.clone()) {
            chosen.push(m);
        }
    }
    for m in all_members(r, key, c)? {
        if chosen.len() >= want {
            break;
        }
        if !seen.contains(&m) {
            chosen.push(m);
        }
    }
    Ok(chosen)
}

/// Redis 7.0's replies: a bulk string (nil if missing) without a count; with one an array, empty
/// for a missing key or a count of 0 (after the type check).
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
    } else if reads_whole(&c, n) {
        let all = all_members(r, key, &c)?;
        let mut picks = Vec::new();
        for _ in 0..n {
            picks.extend(all.get(rng.below(all.len())).cloned());
        }
        picks
    } else {
        let mut picks = Vec::new();
        for _ in 0..n {
            picks.push(window_pick(r, key, &c, rng)?);
        }
        picks
    };
    Ok(Reply::Array(picks.into_iter().map(Reply::Bulk).collect()))
}
