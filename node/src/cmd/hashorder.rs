//! The hash-order element space that hashes and sets keep beside their byte-order space, and the
//! walks over it that both families share: SCAN pages (HSCAN, SSCAN) with stable stateless
//! cursors, and near-uniform random picks (HRANDFIELD, SRANDMEMBER, SPOP).
//!
//! **Why a second order.** Every element of a hash or a set also has an entry in its instance's
//! element space [`TAG`]: `hash(element):u64 BE + element -> empty` ([`hash_entry`]), where the
//! hash is the storage's persisted xxh3 ([`element_hash`], stable forever since stored entries
//! depend on it). Byte order can give a scan no bounded page behind a 64-bit cursor (elements
//! sharing a long prefix cannot be told apart in 64 bits), nor a fair random pick (elements are
//! rarely spread evenly over the byte space); hash order gives both. The family keeps this space
//! in step with its own: only adding or removing an element touches it.
//!
//! **Cursors** ([`Space::scan_page`]). A cursor is a position in hash order. A page returns the
//! elements whose hash is at least the cursor, COUNT of them, extended past COUNT while the next
//! element has the same hash as the last one returned (a 64-bit collision: practically never);
//! the next cursor is the hash of the first element not returned (never 0: it exceeds a hash
//! already returned), or 0 at the end. Nothing is kept on the server, any replica answers any
//! cursor, and an element present for the whole iteration is returned exactly once whatever is
//! added or removed meanwhile (one added or removed during it may or may not be). MATCH filters a
//! page after it is read, so a page may be empty while the cursor is not 0, as in Redis. Cursors
//! and options parse as in Redis 7.0 ([`parse_cursor`], [`parse_scan_opts`]).
//!
//! **Random picks** ([`Space::distinct`], [`Space::repeats`]), from a seeded [`Rng`]. A
//! collection of at most [`RANDOM_READ_ALL_MAX`] elements, or one from which at least a third is
//! asked for, is read whole and sampled exactly uniformly (reading at most three times the
//! reply). Otherwise one pick reads [`RANDOM_WINDOW`] elements in hash order from a random 64-bit
//! position (wrapping around) and takes one of them uniformly. An element's chance is then the
//! mean of the hash-space gaps in front of the 32 elements ending at it; with a well-mixed hash
//! the gaps are close to independent exponentials, so over the elements `n * P(element)` follows
//! a Gamma(32, 1/32) law: mean 1, standard deviation 18%, 99% of elements within -40%..+52% of
//! the fair 1/n (a simulation of the scheme agrees). The bias is a property of the collection's
//! elements, not re-drawn per call. Distinct picks repeat single picks, skipping duplicates.
//! The caller says how a whole read lists the elements (hashes: hash order; sets: byte order):
//! SPOP is applied on every replica, so the picks a seed gives must never change.
//!
//! **Limits.** A negative count allows repeats and so is not bounded by the collection: it is
//! refused beyond [`RANDOM_REPEATS_MAX`] picks ([`check_repeats`], one text for both families),
//! and repeats also stop at a byte bound the caller gives (HRANDFIELD's values).

use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Included, Unbounded};

use bytes::Bytes;
use tanli_storage::{KvRead, StorageError, Sub};

use super::coll::Coll;
use super::parse::{eq_ic, err, is_c_space, parse_i64};
use super::scan::SCAN_COUNT_MAX;
use super::{glob, keyspace, Step};
use crate::reply::Reply;

/// The element space of the hash order: `hash(element):u64 BE + element -> empty`.
pub(super) const TAG: u8 = 1;
/// Bytes of the hash in front of a [`TAG`] entry.
const HASH_BYTES: usize = 8;
/// A scan's page size when COUNT is not given (Redis's).
const SCAN_COUNT_DEFAULT: usize = 10;
/// Collections up to this many elements are read whole for a random pick (exactly uniform).
pub(super) const RANDOM_READ_ALL_MAX: u64 = 128;
/// A random sample of at least `len / READ_ALL_FACTOR` elements reads the whole collection.
const READ_ALL_FACTOR: u64 = 3;
/// Elements read after a random hash position; one of them is the pick.
pub(super) const RANDOM_WINDOW: usize = 32;
/// Distinct picks try at most this many single picks per element asked, plus
/// [`DISTINCT_ATTEMPTS_EXTRA`], before completing the sample from the whole collection (after an
/// improbable run of repeats only).
const DISTINCT_ATTEMPTS_FACTOR: u64 = 4;
const DISTINCT_ATTEMPTS_EXTRA: u64 = 16;
/// The most picks a negative HRANDFIELD or SRANDMEMBER count (repeats allowed, so not bounded by
/// the collection) may ask for. Redis has no bound and builds any reply.
pub const RANDOM_REPEATS_MAX: u64 = 1_000_000;
/// The most picks room is reserved for up front (a big count grows the reply as it goes).
const PICKS_RESERVE_MAX: usize = 1024;

/// The order of [`TAG`]: the storage's persisted key hash (xxh3), stable forever since stored
/// entries depend on it.
pub(super) fn element_hash(element: &[u8]) -> u64 {
    tanli_storage::keys::key_hash(element)
}

/// The [`TAG`] entry of `element`.
pub(super) fn hash_entry(element: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(HASH_BYTES + element.len());
    e.extend_from_slice(&element_hash(element).to_be_bytes());
    e.extend_from_slice(element);
    e
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

/// What a pick adds to a reply, for the byte bound of [`Space::repeats`].
pub(super) trait PickBytes {
    fn pick_bytes(&self) -> usize;
}

/// A set member.
impl PickBytes for Vec<u8> {
    fn pick_bytes(&self) -> usize {
        self.len()
    }
}

/// A hash field, and its value when the reply carries it.
impl PickBytes for (Vec<u8>, Option<Vec<u8>>) {
    fn pick_bytes(&self) -> usize {
        self.0
            .len()
            .saturating_add(self.1.as_ref().map_or(0, Vec::len))
    }
}

/// One collection instance's hash-order space, as the walks read it.
#[derive(Clone, Copy)]
pub(super) struct Space<'a> {
    r: &'a dyn KvRead,
    sub: Sub<'a>,
    /// The collection's length, from its metadata.
    len: u64,
    /// Names the elements in corruption errors ("hash element", "set element").
    what: &'static str,
}

impl<'a> Space<'a> {
    pub(super) fn new(r: &'a dyn KvRead, key: &'a [u8], c: &Coll, what: &'static str) -> Self {
        Space {
            r,
            sub: c.sub(key, TAG),
            len: c.meta.len,
            what,
        }
    }

    fn corrupt(&self, detail: String) -> StorageError {
        StorageError::Corrupt {
            what: self.what,
            detail,
        }
    }

    /// The hash in front of an entry.
    fn entry_hash(&self, entry: &[u8]) -> Result<u64, StorageError> {
        entry
            .get(..HASH_BYTES)
            .and_then(|h| <[u8; HASH_BYTES]>::try_from(h).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| self.corrupt(format!("{}-byte hash-order entry", entry.len())))
    }

    /// The element of an entry.
    fn element(&self, mut entry: Vec<u8>) -> Result<Vec<u8>, StorageError> {
        if entry.len() < HASH_BYTES {
            return Err(self.corrupt(format!("{}-byte hash-order entry", entry.len())));
        }
        Ok(entry.split_off(HASH_BYTES))
    }

    /// Every element, in hash order.
    pub(super) fn all(&self) -> Step<Vec<Vec<u8>>> {
        let entries = self
            .r
            .sub_range(self.sub, (Unbounded, Unbounded), false, usize::MAX)?;
        let mut out = Vec::with_capacity(entries.len());
        for (entry, _) in entries {
            out.push(self.element(entry)?);
        }
        Ok(out)
    }

    /// The elements of one page from `cursor` (at least `count` of them unless the space ends)
    /// and the next cursor, 0 at the end (see the module doc).
    pub(super) fn scan_page(&self, cursor: u64, count: usize) -> Step<(Vec<Vec<u8>>, u64)> {
        let from = cursor.to_be_bytes();
        let range = (Included(&from[..]), Unbounded);
        let mut page = self
            .r
            .sub_range(self.sub, range, false, count.saturating_add(1))?;
        let mut next_cursor = 0;
        if page.len() > count {
            let mut following = page.pop();
            let boundary = match page.last() {
                Some((e, _)) => self.entry_hash(e)?,
                None => 0,
            };
            // End the page between two hashes: an element sharing the last one's hash stays in it.
            while let Some(entry) = following {
                let h = self.entry_hash(&entry.0)?;
                if h != boundary {
                    next_cursor = h;
                    break;
                }
                let after = entry.0.clone();
                page.push(entry);
                let range = (Excluded(&after[..]), Unbounded);
                following = self.r.sub_range(self.sub, range, false, 1)?.pop();
            }
        }
        let mut elements = Vec::with_capacity(page.len());
        for (entry, _) in page {
            elements.push(self.element(entry)?);
        }
        Ok((elements, next_cursor))
    }

    /// True when a sample of `count` elements is drawn from the whole collection, read at once.
    pub(super) fn reads_whole(&self, count: u64) -> bool {
        self.len <= RANDOM_READ_ALL_MAX || count.saturating_mul(READ_ALL_FACTOR) >= self.len
    }

    /// One element of a window of [`RANDOM_WINDOW`] in hash order from a random position.
    fn window_pick(&self, rng: &mut Rng) -> Step<Vec<u8>> {
        let start = rng.next().to_be_bytes();
        let from = (Included(&start[..]), Unbounded);
        let mut window = self.r.sub_range(self.sub, from, false, RANDOM_WINDOW)?;
        if window.len() < RANDOM_WINDOW {
            let wrap = RANDOM_WINDOW - window.len();
            let before = (Unbounded, Excluded(&start[..]));
            window.extend(self.r.sub_range(self.sub, before, false, wrap)?);
        }
        let i = rng.below(window.len());
        match window.into_iter().nth(i) {
            Some((entry, _)) => Ok(self.element(entry)?),
            None => Err(self.empty().into()),
        }
    }

    fn empty(&self) -> StorageError {
        self.corrupt(format!("no element in hash order, length {}", self.len))
    }

    /// `count` distinct elements (fewer only if the collection has fewer), in the order drawn.
    /// `whole` lists every element, in the order an exact sample shuffles.
    pub(super) fn distinct(
        &self,
        count: u64,
        rng: &mut Rng,
        whole: impl FnOnce() -> Step<Vec<Vec<u8>>>,
    ) -> Step<Vec<Vec<u8>>> {
        let want = usize::try_from(count).unwrap_or(usize::MAX);
        if self.reads_whole(count) {
            let mut all = whole()?;
            let n = want.min(all.len());
            // The first steps of a Fisher-Yates shuffle.
            for i in 0..n {
                let j = i + rng.below(all.len() - i);
                all.swap(i, j);
            }
            all.truncate(n);
            return Ok(all);
        }
        let mut chosen = Vec::with_capacity(want.min(PICKS_RESERVE_MAX));
        let mut seen = BTreeSet::new();
        let attempts = count
            .saturating_mul(DISTINCT_ATTEMPTS_FACTOR)
            .saturating_add(DISTINCT_ATTEMPTS_EXTRA);
        for _ in 0..attempts {
            if chosen.len() >= want {
                return Ok(chosen);
            }
            let e = self.window_pick(rng)?;
            if seen.insert(e.clone()) {
                chosen.push(e);
            }
        }
        for e in whole()? {
            if chosen.len() >= want {
                break;
            }
            if !seen.contains(&e) {
                chosen.push(e);
            }
        }
        Ok(chosen)
    }

    /// `n` independent picks (a negative count). `whole` lists every pick possible, read when the
    /// sample is drawn from the whole collection; otherwise each pick is a window's element made
    /// a pick by `from_window`. Refused with "value is out of range" once the picks would pass
    /// `bytes_max`.
    pub(super) fn repeats<T: Clone + PickBytes>(
        &self,
        n: u64,
        bytes_max: u64,
        rng: &mut Rng,
        whole: impl FnOnce() -> Step<Vec<T>>,
        mut from_window: impl FnMut(Vec<u8>) -> Step<T>,
    ) -> Step<Vec<T>> {
        let whole = if self.reads_whole(n) {
            Some(whole()?)
        } else {
            None
        };
        let reserve = usize::try_from(n).unwrap_or(0).min(PICKS_RESERVE_MAX);
        let mut picks = Vec::with_capacity(reserve);
        let mut bytes: u64 = 0;
        for _ in 0..n {
            let pick = match &whole {
                Some(all) => match all.get(rng.below(all.len())) {
                    Some(p) => p.clone(),
                    None => return Err(self.empty().into()),
                },
                None => from_window(self.window_pick(rng)?)?,
            };
            let size = u64::try_from(pick.pick_bytes()).unwrap_or(u64::MAX);
            bytes = bytes.saturating_add(size);
            if bytes > bytes_max {
                return Err(out_of_range().into());
            }
            picks.push(pick);
        }
        Ok(picks)
    }
}

// --- Arguments and replies -------------------------------------------------------------------

/// Redis's plain "value is out of range" (HRANDFIELD's WITHVALUES count beyond ±`LONG_MAX / 2`),
/// also this server's reply when repeats would pass their byte bound.
pub(super) fn out_of_range() -> Reply {
    Reply::err("value is out of range")
}

/// A random count as Redis 7.0 reads it: an integer within ±`LONG_MAX`.
pub(super) fn parse_count(arg: &[u8]) -> Result<i64, Reply> {
    let n = parse_i64(arg).ok_or_else(err::not_integer)?;
    if n == i64::MIN {
        return Err(Reply::err(format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    Ok(n)
}

/// Refuses a negative count (repeats allowed) beyond [`RANDOM_REPEATS_MAX`] picks.
pub(super) fn check_repeats(count: i64) -> Result<(), Reply> {
    if count < 0 && count.unsigned_abs() > RANDOM_REPEATS_MAX {
        return Err(Reply::err(format!(
            "value is out of range, a negative count must be at least -{RANDOM_REPEATS_MAX}"
        )));
    }
    Ok(())
}

/// Redis 7.0's scan cursor: C `strtoul` in base 10 over the argument up to a NUL, refused when
/// it starts with a space, leaves characters unread or overflows. So `""` is 0, `"+5"` and
/// `"007"` are accepted, and `"-1"` wraps around to the largest cursor.
pub(super) fn parse_cursor(arg: &[u8]) -> Result<u64, Reply> {
    strtoul(arg).ok_or_else(|| Reply::err("invalid cursor"))
}

fn strtoul(arg: &[u8]) -> Option<u64> {
    let s = &arg[..arg.iter().position(|c| *c == 0).unwrap_or(arg.len())];
    let Some(first) = s.first() else {
        return Some(0);
    };
    if is_c_space(*first) {
        return None;
    }
    let (negative, digits) = match first {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// HSCAN's and SSCAN's options.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOpts {
    /// `None`: every element (no MATCH, or MATCH `*`).
    pub pattern: Option<Bytes>,
    /// Elements read for one page: at least 1, at most [`SCAN_COUNT_MAX`].
    pub count: usize,
    /// NOVALUES (HSCAN only, Redis 7.4): fields without their values.
    pub no_values: bool,
}

impl ScanOpts {
    /// True when MATCH lets `element` into the reply.
    pub(super) fn keeps(&self, element: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| glob::matches(p, element))
    }
}

/// Redis 7.0's `scanGenericCommand` options, in order: the first bad one is the error. NOVALUES
/// is an option only when `novalues` (HSCAN).
pub(super) fn parse_scan_opts(args: &[Bytes], novalues: bool) -> Result<ScanOpts, Reply> {
    let mut opts = ScanOpts {
        pattern: None,
        count: SCAN_COUNT_DEFAULT,
        no_values: false,
    };
    let mut rest = args;
    while let Some((opt, tail)) = rest.split_first() {
        if novalues && eq_ic(opt, "NOVALUES") {
            opts.no_values = true;
            rest = tail;
            continue;
        }
        let Some((value, tail)) = tail.split_first() else {
            return Err(err::syntax());
        };
        if eq_ic(opt, "COUNT") {
            let count = parse_i64(value).ok_or_else(err::not_integer)?;
            if count < 1 {
                return Err(err::syntax());
            }
            opts.count = usize::try_from(count)
                .unwrap_or(usize::MAX)
                .min(SCAN_COUNT_MAX);
        } else if eq_ic(opt, "MATCH") {
            // A lone "*" matches everything: the same as no pattern.
            opts.pattern = (value.as_ref() != b"*").then(|| value.clone());
        } else {
            return Err(err::syntax());
        }
        rest = tail;
    }
    Ok(opts)
}

/// `[cursor, [element, ...]]`: a flat array in RESP3 too, as Redis sends it.
pub(super) fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(cursor.to_string().into_bytes()),
        Reply::Array(items),
    ])
}
