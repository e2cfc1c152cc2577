//! Ranges of the score index (tag 1, `sortable score ++ member`) as spans of its keys.
//!
//! A score range is two seeks' worth of bounds. A lex range is answered as Redis's compact
//! (listpack) encoding answers it: empty unless the last member is at or above min and the first
//! at or below max; otherwise it starts at the first member, in score order, at or above min, and
//! goes on while members are at or below max (REV: from the last member at or below max, back
//! while at or above min). Members of equal score form a group that is ordered by member, so
//! each of those searches is one seek per group of scores it passes: one seek in all when every
//! score is equal, the case lex ranges are meant for.

use std::cmp::Ordering;
use std::ops::Bound::{self, Excluded, Included, Unbounded};

use tanli_storage::{KvRead, MemberRange, Sub};

use super::super::Step;
use super::score::{sortable, SCORE_BYTES};
use super::{LexBound, LexRange, ScoreRange};

/// A range of score-index keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub lo: Bound<Vec<u8>>,
    pub hi: Bound<Vec<u8>>,
}

impl Span {
    pub fn all() -> Span {
        Span {
            lo: Unbounded,
            hi: Unbounded,
        }
    }

    pub fn empty() -> Span {
        Span {
            lo: Excluded(Vec::new()),
            hi: Excluded(Vec::new()),
        }
    }

    /// True when no key can be in the span (the storage is never asked for an inverted range).
    pub fn is_empty(&self) -> bool {
        match (&self.lo, &self.hi) {
            (Unbounded, _) | (_, Unbounded) => false,
            (Included(a), Included(b)) => a > b,
            (Included(a) | Excluded(a), Included(b) | Excluded(b)) => a >= b,
        }
    }

    pub fn range(&self) -> MemberRange<'_> {
        (
            self.lo.as_ref().map(Vec::as_slice),
            self.hi.as_ref().map(Vec::as_slice),
        )
    }

    /// The keys below the span and the keys above it.
    pub fn complement(&self) -> (Span, Span) {
        let flip = |b: &Bound<Vec<u8>>| match b {
            Included(k) => Some(Excluded(k.clone())),
            Excluded(k) => Some(Included(k.clone())),
            Unbounded => None,
        };
        let below = flip(&self.lo).map_or_else(Span::empty, |hi| Span { lo: Unbounded, hi });
        let above = flip(&self.hi).map_or_else(Span::empty, |lo| Span { lo, hi: Unbounded });
        (below, above)
    }
}

/// The 8-byte score prefix of a score-index key: its group.
type Group = [u8; SCORE_BYTES];

fn group_of(key: &[u8]) -> Group {
    let mut g = [0; SCORE_BYTES];
    let n = key.len().min(SCORE_BYTES);
    g[..n].copy_from_slice(&key[..n]);
    g
}

/// The group right after `g` (the next representable score), if any.
fn next_group(g: Group) -> Option<Group> {
    u64::from_be_bytes(g).checked_add(1).map(u64::to_be_bytes)
}

/// The keys of group `g`: lower and upper bound.
fn group_start(g: Group) -> Bound<Vec<u8>> {
    Included(g.to_vec())
}

fn group_end(g: Group) -> Bound<Vec<u8>> {
    next_group(g).map_or(Unbounded, |n| Excluded(n.to_vec()))
}

fn at(g: Group, member: &[u8]) -> Vec<u8> {
    let mut k = g.to_vec();
    k.extend_from_slice(member);
    k
}

fn member_of(key: &[u8]) -> &[u8] {
    key.get(SCORE_BYTES..).unwrap_or_default()
}

/// The scores of `r` as a span: Redis's `zslValueGteMin` / `zslValueLteMax` bounds.
pub fn score_span(r: &ScoreRange) -> Span {
    let min = sortable(r.min);
    let max = sortable(r.max);
    let lo = if r.min_ex {
        match next_group(min) {
            Some(n) => Included(n.to_vec()),
            None => return Span::empty(),
        }
    } else {
        Included(min.to_vec())
    };
    let hi = if r.max_ex {
        Excluded(max.to_vec())
    } else {
        group_end(max)
    };
    Span { lo, hi }
}

fn gte_min(member: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Incl(x) => member >= x.as_slice(),
        LexBound::Excl(x) => member > x.as_slice(),
    }
}

fn lte_max(member: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Max => true,
        LexBound::Min => false,
        LexBound::Incl(x) => member <= x.as_slice(),
        LexBound::Excl(x) => member < x.as_slice(),
    }
}

/// Redis's `sdscmplex` of two bounds, and whether min > max (or equal with an exclusive side)
/// makes the range empty whatever the members.
fn always_empty(r: &LexRange) -> bool {
    fn point(b: &LexBound) -> (u8, &[u8]) {
        match b {
            LexBound::Min => (0, &[]),
            LexBound::Max => (2, &[]),
            LexBound::Incl(x) | LexBound::Excl(x) => (1, x.as_slice()),
        }
    }
    let exclusive = |b: &LexBound| !matches!(b, LexBound::Incl(_));
    match point(&r.min).cmp(&point(&r.max)) {
        Ordering::Greater => true,
        Ordering::Equal => exclusive(&r.min) || exclusive(&r.max),
        Ordering::Less => false,
    }
}

/// The first key of `sub` in `(lo, hi)` (the last one when `reverse`).
fn first_in(
    r: &dyn KvRead,
    sub: Sub<'_>,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    reverse: bool,
) -> Step<Option<Vec<u8>>> {
    let span = Span { lo, hi };
    if span.is_empty() {
        return Ok(None);
    }
    Ok(r.sub_range(sub, span.range(), reverse, 1)?
        .into_iter()
        .next()
        .map(|(k, _)| k))
}

/// `zzlIsInLexRange`: the range can select something given the set's first and last keys.
fn may_select(first: &[u8], last: &[u8], r: &LexRange) -> bool {
    !always_empty(r) && gte_min(member_of(last), &r.min) && lte_max(member_of(first), &r.max)
}

/// The first and last keys of the score index, unless the set is empty or `r` cannot select
/// any of its members ([`may_select`]).
fn ends_if_selecting(
    kv: &dyn KvRead,
    sub: Sub<'_>,
    r: &LexRange,
) -> Step<Option<(Vec<u8>, Vec<u8>)>> {
    let Some(first) = first_in(kv, sub, Unbounded, Unbounded, false)? else {
        return Ok(None);
    };
    let Some(last) = first_in(kv, sub, Unbounded, Unbounded, true)? else {
        return Ok(None);
    };
    Ok(may_select(&first, &last, r).then_some((first, last)))
}

/// The lex range `r` walked forward (ZRANGEBYLEX, ZLEXCOUNT, ZREMRANGEBYLEX).
pub fn lex_span(kv: &dyn KvRead, sub: Sub<'_>, r: &LexRange) -> Step<Span> {
    let Some((first, _)) = ends_if_selecting(kv, sub, r)? else {
        return Ok(Span::empty());
    };
    // The first key, in order, whose member is at or above min.
    let mut g = group_of(&first);
    let start = loop {
        let lo = match &r.min {
            LexBound::Min => break first,
            LexBound::Max => return Ok(Span::empty()),
            LexBound::Incl(x) => Included(at(g, x)),
            LexBound::Excl(x) => Excluded(at(g, x)),
        };
        if let Some(k) = first_in(kv, sub, lo, group_end(g), false)? {
            break k;
        }
        let Some(n) = next_group(g) else {
            return Ok(Span::empty());
        };
        let Some(k) = first_in(kv, sub, Included(n.to_vec()), Unbounded, false)? else {
            return Ok(Span::empty());
        };
        g = group_of(&k);
    };
    if !lte_max(member_of(&start), &r.max) {
        return Ok(Span::empty());
    }
    // The first key after it whose member is above max.
    let mut g = group_of(&start);
    let stop = loop {
        let in_group = match &r.max {
            LexBound::Max => break Unbounded,
            LexBound::Min => Included(g.to_vec()),
            LexBound::Incl(x) => Excluded(at(g, x)),
            LexBound::Excl(x) => Included(at(g, x)),
        };
        if let Some(k) = first_in(kv, sub, in_group, group_end(g), false)? {
            break Excluded(k);
        }
        let Some(n) = next_group(g) else {
            break Unbounded;
        };
        let Some(k) = first_in(kv, sub, Included(n.to_vec()), Unbounded, false)? else {
            break Unbounded;
        };
        if !lte_max(member_of(&k), &r.max) {
            break Excluded(k);
        }
        g = group_of(&k);
    };
    Ok(Span {
        lo: Included(start),
        hi: stop,
    })
}

/// The lex range `r` walked backward (ZREVRANGEBYLEX): the span's keys, read from its end.
pub fn lex_span_rev(kv: &dyn KvRead, sub: Sub<'_>, r: &LexRange) -> Step<Span> {
    let Some((_, last)) = ends_if_selecting(kv, sub, r)? else {
        return Ok(Span::empty());
    };
    // The last key, in order, whose member is at or below max.
    let mut g = group_of(&last);
    let start = loop {
        let hi = match &r.max {
            LexBound::Max => break last,
            LexBound::Min => return Ok(Span::empty()),
            LexBound::Incl(x) => Included(at(g, x)),
            LexBound::Excl(x) => Excluded(at(g, x)),
        };
        if let Some(k) = first_in(kv, sub, group_start(g), hi, true)? {
            break k;
        }
        let Some(k) = first_in(kv, sub, Unbounded, Excluded(g.to_vec()), true)? else {
            return Ok(Span::empty());
        };
        g = group_of(&k);
    };
    if !gte_min(member_of(&start), &r.min) {
        return Ok(Span::empty());
    }
    // The last key before it whose member is below min.
    let mut g = group_of(&start);
    let stop = loop {
        let in_group = match &r.min {
            LexBound::Min => break Unbounded,
            LexBound::Max => group_end(g),
            LexBound::Incl(x) => Excluded(at(g, x)),
            LexBound::Excl(x) => Included(at(g, x)),
        };
        if let Some(k) = first_in(kv, sub, group_start(g), in_group, true)? {
            break Excluded(k);
        }
        let Some(k) = first_in(kv, sub, Unbounded, Excluded(g.to_vec()), true)? else {
            break Unbounded;
        };
        if !gte_min(member_of(&k), &r.min) {
            break Excluded(k);
        }
        g = group_of(&k);
    };
    Ok(Span {
        lo: stop,
        hi: Included(start),
    })
}
