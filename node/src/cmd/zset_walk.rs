//! Walking the score index (tag 1) a page at a time: skipping, taking, counting and finding a
//! rank, never holding more than a page of keys that are not part of the reply.

use std::ops::Bound::{Excluded, Included};

use tanli_storage::{KvRead, Sub};

use super::super::Step;
use super::span::Span;

/// Keys read from the storage at a time.
pub const PAGE_KEYS: usize = 512;

/// A cursor over a span of keys, forward or backward.
pub struct Walk<'a> {
    sub: Sub<'a>,
    span: Span,
    reverse: bool,
    done: bool,
}

impl<'a> Walk<'a> {
    pub fn new(sub: Sub<'a>, span: Span, reverse: bool) -> Walk<'a> {
        let done = span.is_empty();
        Walk {
            sub,
            span,
            reverse,
            done,
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Up to `n` (at least 1) next keys; fewer means the span is exhausted.
    pub fn page(&mut self, r: &dyn KvRead, n: usize) -> Step<Vec<Vec<u8>>> {
        if self.done {
            return Ok(Vec::new());
        }
        let n = n.max(1);
        let page = r.sub_range(self.sub, self.span.range(), self.reverse, n)?;
        if page.len() < n {
            self.done = true;
        }
        if let Some((last, _)) = page.last() {
            let past = Excluded(last.clone());
            if self.reverse {
                self.span.hi = past;
            } else {
                self.span.lo = past;
            }
            self.done |= self.span.is_empty();
        }
        Ok(page.into_iter().map(|(k, _)| k).collect())
    }

    /// Skips up to `n` keys; returns how many were skipped.
    pub fn skip(&mut self, r: &dyn KvRead, n: u64) -> Step<u64> {
        let mut skipped = 0;
        while skipped < n && !self.done {
            let want = usize::try_from(n - skipped).map_or(PAGE_KEYS, |w| w.min(PAGE_KEYS));
            skipped += self.page(r, want)?.len() as u64;
        }
        Ok(skipped)
    }

    /// The next `n` keys (fewer at the end; `u64::MAX` for all).
    pub fn take(&mut self, r: &dyn KvRead, n: u64) -> Step<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        while (out.len() as u64) < n && !self.done {
            let left = n - out.len() as u64;
            let want = usize::try_from(left).map_or(PAGE_KEYS, |w| w.min(PAGE_KEYS));
            out.extend(self.page(r, want)?);
        }
        Ok(out)
    }
}

/// The number of keys in `span`, given that the whole index holds `len`: the span and its
/// complement are walked a page at a time each, and whichever ends first gives the answer, so
/// the cost is about twice the smaller of the two.
pub fn count(r: &dyn KvRead, sub: Sub<'_>, span: Span, len: u64) -> Step<u64> {
    let (below, above) = span.complement();
    let mut inside = Walk::new(sub, span, false);
    let mut outside = [Walk::new(sub, below, false), Walk::new(sub, above, false)];
    let (mut n_in, mut n_out) = (0u64, 0u64);
    loop {
        n_in += inside.page(r, PAGE_KEYS)?.len() as u64;
        if inside.is_done() {
            return Ok(n_in);
        }
        if let Some(w) = outside.iter_mut().find(|w| !w.is_done()) {
            n_out += w.page(r, PAGE_KEYS)?.len() as u64;
        }
        if outside.iter().all(Walk::is_done) {
            return Ok(len.saturating_sub(n_out));
        }
    }
}

/// The key at rank `pos` (0-based, `pos < len`), walked to from the nearer end.
pub fn key_at(r: &dyn KvRead, sub: Sub<'_>, len: u64, pos: u64) -> Step<Option<Vec<u8>>> {
    let back = len.saturating_sub(1).saturating_sub(pos);
    let (reverse, skip) = if pos <= back {
        (false, pos)
    } else {
        (true, back)
    };
    let mut w = Walk::new(sub, Span::all(), reverse);
    w.skip(r, skip)?;
    Ok(w.page(r, 1)?.pop())
}

/// The keys at ranks `start..=end` (`start <= end < len`), in order, walked to from the nearer
/// end.
pub fn by_rank(r: &dyn KvRead, sub: Sub<'_>, len: u64, start: u64, end: u64) -> Step<Vec<Vec<u8>>> {
    let n = end - start + 1;
    let back = len.saturating_sub(1).saturating_sub(end);
    if start <= back {
        let mut w = Walk::new(sub, Span::all(), false);
        w.skip(r, start)?;
        w.take(r, n)
    } else {
        let mut w = Walk::new(sub, Span::all(), true);
        w.skip(r, back)?;
        let mut keys = w.take(r, n)?;
        keys.reverse();
        Ok(keys)
    }
}

/// The span of ranks `start..=end` (`start <= end < len`), or `None` if the set is shorter
/// than its length says.
pub fn rank_span(
    r: &dyn KvRead,
    sub: Sub<'_>,
    len: u64,
    start: u64,
    end: u64,
) -> Step<Option<Span>> {
    let Some(lo) = key_at(r, sub, len, start)? else {
        return Ok(None);
    };
    let Some(hi) = key_at(r, sub, len, end)? else {
        return Ok(None);
    };
    Ok(Some(Span {
        lo: Included(lo),
        hi: Included(hi),
    }))
}

/// Redis's rank clamping: negative ranks count from the end; `None` when nothing is selected.
pub fn clamp_ranks(start: i64, end: i64, len: u64) -> Option<(u64, u64)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    let end = end.min(len - 1);
    Some((u64::try_from(start).ok()?, u64::try_from(end).ok()?))
}
