//! What each sorted-set command does with the elements: lookups, range reads and the writes that
//! keep the three element spaces in step ([`Elems`]).

use std::ops::Bound::{Included, Unbounded};

use tanli_storage::{Kind, KvRead, KvWrite, StorageError, Sub};

use super::super::coll::{self, Coll};
use super::super::{len_reply, Step, Stop};
use super::score::{self, index_key, sortable, split_index_key, SCORE_BYTES};
use super::span::{lex_span, lex_span_rev, score_span, Span};
use super::walk::{self, by_rank, clamp_ranks, rank_span, Walk, PAGE_KEYS};
use super::{AddFlags, LexRange, RangeBy, RangeQuery, ScoreRange, BY_HASH, BY_SCORE, MEMBERS};
use crate::reply::Reply;

/// The fewest score-index keys removed as one run (a pop, a ZREMRANGEBY*) that go with one range
/// deletion instead of a point delete each. A range deletion lets later reads from that end seek
/// past the run at once, where point tombstones are walked one by one until compaction; but
/// RocksDB re-fragments every range tombstone of a memtable on each range deletion, so one per
/// removed member (draining a set with single pops) costs more than the tombstones it saves.
const RANGE_DELETE_MIN_KEYS: usize = 64;

/// The key of `member` in the hash-order space.
pub fn hash_key(member: &[u8]) -> Vec<u8> {
    let mut k = tanli_storage::keys::key_hash(member).to_be_bytes().to_vec();
    k.extend_from_slice(member);
    k
}

/// One sorted set as a command sees it: its metadata and its three element spaces.
pub struct Elems<'k> {
    key: &'k [u8],
    pub coll: Coll,
}

impl<'k> Elems<'k> {
    pub fn new(key: &'k [u8], coll: Coll) -> Elems<'k> {
        Elems { key, coll }
    }

    pub fn len(&self) -> u64 {
        self.coll.meta.len
    }

    pub fn members(&self) -> Sub<'k> {
        self.coll.sub(self.key, MEMBERS)
    }

    pub fn by_score(&self) -> Sub<'k> {
        self.coll.sub(self.key, BY_SCORE)
    }

    pub fn by_hash(&self) -> Sub<'k> {
        self.coll.sub(self.key, BY_HASH)
    }

    /// The stored (sortable) score of `member`.
    pub fn stored(&self, r: &dyn KvRead, member: &[u8]) -> Step<Option<[u8; SCORE_BYTES]>> {
        match r.sub_get(self.members(), member)? {
            None => Ok(None),
            Some(v) => Ok(Some(v.as_slice().try_into().map_err(|_| {
                StorageError::Corrupt {
                    what: "sorted-set score",
                    detail: format!("{} bytes", v.len()),
                }
            })?)),
        }
    }

    pub fn score(&self, r: &dyn KvRead, member: &[u8]) -> Step<Option<f64>> {
        Ok(self.stored(r, member)?.map(score::from_sortable))
    }

    fn insert(&mut self, kv: &mut dyn KvWrite, member: &[u8], s: [u8; SCORE_BYTES]) -> Step<()> {
        kv.sub_put(self.members(), member, &s)?;
        kv.sub_put(self.by_score(), &index_key(&s, member), &[])?;
        kv.sub_put(self.by_hash(), &hash_key(member), &[])?;
        self.coll.meta.len += 1;
        Ok(())
    }

    fn rescore(&self, kv: &mut dyn KvWrite, member: &[u8], old: [u8; 8], new: [u8; 8]) -> Step<()> {
        kv.sub_delete(self.by_score(), &index_key(&old, member))?;
        kv.sub_put(self.by_score(), &index_key(&new, member), &[])?;
        kv.sub_put(self.members(), member, &new)?;
        Ok(())
    }

    /// Removes the member of score-index key `index`.
    fn remove(&mut self, kv: &mut dyn KvWrite, index: &[u8]) -> Step<()> {
        self.remove_unindexed(kv, index)?;
        kv.sub_delete(self.by_score(), index)?;
        Ok(())
    }

    /// Removes the member of score-index key `index` except that key itself: the caller drops a
    /// whole run of the score index with one range deletion (see [`Elems::remove_span`]).
    fn remove_unindexed(&mut self, kv: &mut dyn KvWrite, index: &[u8]) -> Step<()> {
        let (_, member) = split_index_key(index)?;
        kv.sub_delete(self.members(), member)?;
        kv.sub_delete(self.by_hash(), &hash_key(member))?;
        self.coll.meta.len = self.coll.meta.len.saturating_sub(1);
        Ok(())
    }

    /// Removes every member of `span`; returns how many. A long run of score-index keys goes
    /// with one range deletion of `span`, which holds nothing else (every key in it was just
    /// removed); see [`RANGE_DELETE_MIN_KEYS`].
    fn remove_span(&mut self, kv: &mut dyn KvWrite, span: Span) -> Step<u64> {
        let mut w = Walk::new(self.by_score(), span.clone(), false);
        let mut removed = 0;
        let mut few = Vec::new();
        while !w.is_done() {
            for k in w.page(&*kv, PAGE_KEYS)? {
                self.remove_unindexed(kv, &k)?;
                removed += 1;
                if few.len() < RANGE_DELETE_MIN_KEYS {
                    few.push(k);
                }
            }
        }
        if few.len() < RANGE_DELETE_MIN_KEYS {
            for k in &few {
                kv.sub_delete(self.by_score(), k)?;
            }
        } else {
            kv.sub_delete_range(self.by_score(), span.range())?;
        }
        Ok(removed)
    }

    fn save(self, kv: &mut dyn KvWrite) -> Step<()> {
        coll::save(kv, self.key, self.coll)
    }
}

fn load<'k>(r: &dyn KvRead, now: u64, key: &'k [u8]) -> Step<Option<Elems<'k>>> {
    Ok(coll::load(r, now, key, Kind::ZSet)?.map(|c| Elems::new(key, c)))
}

fn load_w<'k>(kv: &mut dyn KvWrite, now: u64, key: &'k [u8]) -> Step<Option<Elems<'k>>> {
    Ok(coll::load_w(kv, now, key, Kind::ZSet)?.map(|c| Elems::new(key, c)))
}

fn score_or_nil(s: Option<f64>) -> Reply {
    s.map_or(Reply::Nil, Reply::Score)
}

pub fn zscore(r: &dyn KvRead, now: u64, key: &[u8], member: &[u8]) -> Step<Reply> {
    let Some(z) = load(r, now, key)? else {
        return Ok(Reply::Nil);
    };
    Ok(score_or_nil(z.score(r, member)?))
}

pub fn zmscore<M: AsRef<[u8]>>(r: &dyn KvRead, now: u64, key: &[u8], members: &[M]) -> Step<Reply> {
    let z = load(r, now, key)?;
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        out.push(match &z {
            None => Reply::Nil,
            Some(z) => score_or_nil(z.score(r, m.as_ref())?),
        });
    }
    Ok(Reply::Array(out))
}

pub fn zcard(r: &dyn KvRead, now: u64, key: &[u8]) -> Step<Reply> {
    Ok(Reply::Int(
        load(r, now, key)?.map_or(0, |z| i64::try_from(z.len()).unwrap_or(i64::MAX)),
    ))
}

fn count_reply(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

pub fn zcount(r: &dyn KvRead, now: u64, key: &[u8], range: &ScoreRange) -> Step<Reply> {
    let Some(z) = load(r, now, key)? else {
        return Ok(Reply::Int(0));
    };
    let n = walk::count(r, z.by_score(), score_span(range), z.len())?;
    Ok(count_reply(n))
}

pub fn zlexcount(r: &dyn KvRead, now: u64, key: &[u8], range: &LexRange) -> Step<Reply> {
    let Some(z) = load(r, now, key)? else {
        return Ok(Reply::Int(0));
    };
    let span = lex_span(r, z.by_score(), range)?;
    Ok(count_reply(walk::count(r, z.by_score(), span, z.len())?))
}

pub fn zrank(r: &dyn KvRead, now: u64, key: &[u8], member: &[u8], rev: bool) -> Step<Reply> {
    let Some(z) = load(r, now, key)? else {
        return Ok(Reply::Nil);
    };
    let Some(s) = z.stored(r, member)? else {
        return Ok(Reply::Nil);
    };
    let at = index_key(&s, member);
    let span = if rev {
        Span {
            lo: std::ops::Bound::Excluded(at),
            hi: std::ops::Bound::Unbounded,
        }
    } else {
        Span {
            lo: std::ops::Bound::Unbounded,
            hi: std::ops::Bound::Excluded(at),
        }
    };
    Ok(count_reply(walk::count(r, z.by_score(), span, z.len())?))
}

/// Members (and scores) of score-index keys, as ZRANGE answers them.
fn entries_reply(keys: Vec<Vec<u8>>, withscores: bool) -> Step<Reply> {
    let mut plain = Vec::new();
    let mut pairs = Vec::new();
    for k in keys {
        let (s, member) = split_index_key(&k)?;
        let member = Reply::Bulk(member.to_vec());
        if withscores {
            pairs.push((member, Reply::Score(s)));
        } else {
            plain.push(member);
        }
    }
    Ok(if withscores {
        Reply::Pairs(pairs)
    } else {
        Reply::Array(plain)
    })
}

pub fn zrange(r: &dyn KvRead, now: u64, key: &[u8], q: &RangeQuery) -> Step<Reply> {
    let Some(z) = load(r, now, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let (sub, len) = (z.by_score(), z.len());
    let keys = match &q.by {
        RangeBy::Rank { start, end } => match clamp_ranks(*start, *end, len) {
            None => Vec::new(),
            // REV ranks count from the end.
            Some((s, e)) if q.rev => {
                let mut keys = by_rank(r, sub, len, len - 1 - e, len - 1 - s)?;
                keys.reverse();
                keys
            }
            Some((s, e)) => by_rank(r, sub, len, s, e)?,
        },
        RangeBy::Score(range) => limited(r, sub, score_span(range), q, len)?,
        RangeBy::Lex(range) => {
            let span = if q.rev {
                lex_span_rev(r, sub, range)?
            } else {
                lex_span(r, sub, range)?
            };
            limited(r, sub, span, q, len)?
        }
    };
    entries_reply(keys, q.withscores)
}

/// The keys of `span` in the query's direction after LIMIT: a negative offset, or one past the
/// set's end, selects nothing; a negative count means all.
fn limited(
    r: &dyn KvRead,
    sub: Sub<'_>,
    span: Span,
    q: &RangeQuery,
    len: u64,
) -> Step<Vec<Vec<u8>>> {
    let Ok(offset) = u64::try_from(q.offset) else {
        return Ok(Vec::new());
    };
    if offset >= len && offset > 0 {
        return Ok(Vec::new());
    }
    let mut w = Walk::new(sub, span, q.rev);
    w.skip(r, offset)?;
    w.take(r, u64::try_from(q.limit).unwrap_or(u64::MAX))
}

/// ZADD and ZINCRBY (`zsetAdd` per pair, in order).
pub fn zadd(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    f: AddFlags,
    pairs: &[(f64, Vec<u8>)],
) -> Step<Reply> {
    let nothing = || {
        if f.incr {
            Reply::Nil
        } else {
            Reply::Int(0)
        }
    };
    let mut z = match load_w(kv, now, key)? {
        Some(z) => z,
        None if f.xx => return Ok(nothing()),
        None => Elems::new(key, coll::create(kv, Kind::ZSet)),
    };
    let (mut added, mut updated, mut last) = (0i64, 0i64, None);
    for (score, member) in pairs {
        match z.stored(&*kv, member)? {
            Some(_) if f.nx => {}
            Some(old) => {
                let cur = score::from_sortable(old);
                let new = if f.incr { score + cur } else { *score };
                if new.is_nan() {
                    return Err(Stop::Reply(Reply::err(
                        "resulting score is not a number (NaN)",
                    )));
                }
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    continue;
                }
                last = Some(new);
                if new != cur {
                    z.rescore(kv, member, old, sortable(new))?;
                    updated += 1;
                }
            }
            None if f.xx => {}
            None => {
                z.insert(kv, member, sortable(*score))?;
                last = Some(*score);
                added += 1;
            }
        }
    }
    if added + updated > 0 {
        z.save(kv)?;
    }
    Ok(match last {
        _ if !f.incr => Reply::Int(if f.ch { added + updated } else { added }),
        Some(s) => Reply::Score(s),
        None => Reply::Nil,
    })
}

pub fn zrem<M: AsRef<[u8]>>(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    members: &[M],
) -> Step<Reply> {
    let Some(mut z) = load_w(kv, now, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for m in members {
        let m = m.as_ref();
        if let Some(s) = z.stored(&*kv, m)? {
            z.remove(kv, &index_key(&s, m))?;
            removed += 1;
        }
    }
    if removed > 0 {
        z.save(kv)?;
    }
    Ok(len_reply(removed))
}

/// ZPOPMIN / ZPOPMAX: `count: None` answers one flat (member, score) array.
pub fn zpop(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    max: bool,
    count: Option<u64>,
) -> Step<Reply> {
    let Some(mut z) = load_w(kv, now, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let n = count.unwrap_or(1).min(z.len());
    if n == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let keys = Walk::new(z.by_score(), Span::all(), max).take(&*kv, n)?;
    let mut pairs = Vec::with_capacity(keys.len());
    for k in &keys {
        let (s, member) = split_index_key(k)?;
        pairs.push((Reply::Bulk(member.to_vec()), Reply::Score(s)));
        z.remove_unindexed(kv, k)?;
    }
    // The popped keys are every key of the index from its end (min: the start) through the last
    // one taken, so one range deletion from that end removes exactly them.
    match keys.last() {
        Some(last) if keys.len() >= RANGE_DELETE_MIN_KEYS => {
            let last = Included(last.as_slice());
            let run = if max {
                (last, Unbounded)
            } else {
                (Unbounded, last)
            };
            kv.sub_delete_range(z.by_score(), run)?;
        }
        _ => {
            for k in &keys {
                kv.sub_delete(z.by_score(), k)?;
            }
        }
    }
    z.save(kv)?;
    Ok(match count {
        Some(_) => Reply::Pairs(pairs),
        None => Reply::Array(pairs.into_iter().flat_map(|(m, s)| [m, s]).collect()),
    })
}

/// ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX.
pub fn zremrange(kv: &mut dyn KvWrite, now: u64, key: &[u8], by: &RangeBy) -> Step<Reply> {
    let Some(mut z) = load_w(kv, now, key)? else {
        return Ok(Reply::Int(0));
    };
    let (sub, len) = (z.by_score(), z.len());
    let span = match by {
        RangeBy::Rank { start, end } => match clamp_ranks(*start, *end, len) {
            Some((s, e)) => rank_span(&*kv, sub, len, s, e)?,
            None => None,
        },
        RangeBy::Score(range) => Some(score_span(range)),
        RangeBy::Lex(range) => Some(lex_span(&*kv, sub, range)?),
    };
    let removed = match span {
        Some(span) => z.remove_span(kv, span)?,
        None => 0,
    };
    if removed > 0 {
        z.save(kv)?;
    }
    Ok(count_reply(removed))
}
