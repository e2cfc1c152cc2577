//! A bounded in-memory copy of records of the data column family, in front of RocksDB.
//!
//! A point read of a hot key otherwise walks RocksDB's memtable skiplist, a chain of cache
//! misses that costs microseconds per lookup and dominated the profile of GET and of apply.
//! Here it is one hash lookup.
//!
//! It never changes what a read returns, because it only ever holds what RocksDB holds:
//! - every write of data records goes through [`RecordCache::write`]: while the RocksDB write is
//!   under way a cached key still answers its old value (the write is not acknowledged yet), and
//!   right after it, under its stripe's lock, the cache takes the new values (or is emptied), so
//!   a key never goes back from a new value to an old one;
//! - a reader that missed fills the cache with what it read from RocksDB only if no write
//!   started or ended since its miss (a generation number, bumped at both) and none is under way,
//!   so a value read before or during a write can never be put back after it.
//!
//! Entries are full data keys (shard included) and the record or its absence. The cache is cut
//! into [`STRIPES`] stripes by the key's hash, each behind its own lock, so the two worker threads'
//! reads seldom wait on one another (one lock showed as contended in the GET `-P 16` profile).
//! The hash is std's SipHash with a random key (user keys must not be able to crowd one bucket),
//! computed once per lookup: it picks the stripe and places the key in the stripe's table. The
//! bound is in bytes, per stripe: once a stripe's young half fills, it becomes the old half and
//! the previous old half is dropped; a hit in the old half moves the entry to the young one.
//!
//! An entry is one allocation (header, key, data) and its table slot only its full hash and a
//! pointer to it (`table.rs`), so a hit reads one slot and then one place in memory. With whole
//! records in the slots (64 bytes each) and keys and data apart, a hit missed the CPU caches
//! three or four times: at 100,000 hot keys that was a fifth of the leader's time under GET
//! `-P 16`. With hashbrown's table a hit still waited on three loads in turn (control bytes,
//! slot, entry), again a fifth of that profile; now a group of reads first calls
//! [`RecordCache::prefetch`] with all its keys: their slots and entries load together, and the
//! reads find them in the CPU's caches (the cache's share of that profile fell to 8%, and GET
//! `-P 16` on 3 nodes rose by about 15%).
//! Each stripe's lock sits on cache lines of its own, so the two threads do not bounce a line
//! between them when they lock neighbouring stripes.
//!
//! The generation and the count of writes under way are shared by every stripe (atomics); a
//! fill checks them under its stripe's lock, and a write changes them before its RocksDB write
//! and again after it has stored its keys, so the argument above holds stripe by stripe.
//!
//! Each stripe counts its hits, misses and bytes under its own lock, so a read adds no shared
//! counter; [`RecordCache::stats`] sums them for `INFO stats`.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};

use crate::keys;
use crate::prefetch;
use crate::table::Table;

use crate::kv::{Kind, Record};
use crate::types::ShardId;

/// What a lookup found.
pub(crate) enum Lookup<T = Option<Record>> {
    /// The key's current record, or what the caller took of it (`None`: the key is absent).
    Hit(T),
    /// Not cached; pass the generation to [`RecordCache::fill`] with what RocksDB returned.
    Miss(u64),
}

/// What the record cache holds and how often it answered ([`crate::Store::record_cache_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCacheStats {
    /// Point reads it answered (the record or the key's absence).
    pub hits: u64,
    /// Point reads that went to RocksDB.
    pub misses: u64,
    /// Bytes its entries are charged (see `Entry::cost`), against `bytes_max`.
    pub bytes: u64,
    pub entries: u64,
    /// Its bound (the configured size, rounded down to whole stripes).
    pub bytes_max: u64,
}

/// Bytes an entry is charged beyond its allocation (header, key and data): its table slot (24
/// bytes, with a table a quarter to half full 48 to 96 per entry) and the allocator's rounding.
const ENTRY_OVERHEAD: usize = 80;

/// Keys one call of [`RecordCache::prefetch`] prefetches at most (more would be evicted from the
/// CPU's caches by the first reads before the last are reached).
pub(crate) const PREFETCH_MAX: usize = 32;

/// Stripes of the cache, each with its own lock and its share of the byte bound.
pub(crate) const STRIPES: usize = 16;

pub(crate) struct RecordCache {
    stripes: Box<[Padded]>,
    hasher: RandomState,
    /// Bumped when a write of records starts and when it ends.
    generation: AtomicU64,
    /// RocksDB writes of records under way (shards apply in parallel).
    writing: AtomicUsize,
    /// Bytes each half of each stripe may hold.
    half_bytes_max: usize,
}

/// One allocation: a header, the key, then the record's data. The table's slot is only the
/// pointer (16 bytes), so the slots of a stripe stay in the CPU's caches, and a hit reads the
/// slot, then one allocation, where the hash, key and data sit together.
struct Entry(Box<[u8]>);

/// Header layout: hash, stamp, expiry, key length (8 bytes each, little endian), then flags
/// ([`PRESENT`], [`EXPIRES`]) and the kind byte.
const HEAD: usize = 40;
const FLAGS: usize = 32;
const KIND: usize = 33;
/// The key holds a record (clear: the key is known absent).
const PRESENT: u8 = 1;
/// The record has an expiry.
const EXPIRES: u8 = 2;

impl Entry {
    fn new(hash: u64, key: &[u8], value: Option<&Record>) -> Entry {
        let data = value.map_or(&[][..], |r| &r.data[..]);
        let mut b = Vec::with_capacity(HEAD + key.len() + data.len());
        b.extend_from_slice(&hash.to_le_bytes());
        b.extend_from_slice(&value.map_or(0, |r| r.stamp).to_le_bytes());
        let expire = value.and_then(|r| r.expire_at_ms);
        b.extend_from_slice(&expire.unwrap_or(0).to_le_bytes());
        b.extend_from_slice(&(key.len() as u64).to_le_bytes());
        let flags = match value {
            None => 0,
            Some(_) if expire.is_some() => PRESENT | EXPIRES,
            Some(_) => PRESENT,
        };
        b.push(flags);
        b.push(value.map_or(0, |r| r.kind as u8));
        b.resize(HEAD, 0);
        b.extend_from_slice(key);
        b.extend_from_slice(data);
        Entry(b.into_boxed_slice())
    }

    fn word(&self, at: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.0[at..at + 8]);
        u64::from_le_bytes(w)
    }

    fn hash(&self) -> u64 {
        self.word(0)
    }

    fn key_end(&self) -> usize {
        HEAD + self.word(24) as usize
    }

    fn key(&self) -> &[u8] {
        &self.0[HEAD..self.key_end()]
    }

    #[cfg(test)]
    fn is(&self, hash: u64, key: &[u8]) -> bool {
        self.hash() == hash && self.key() == key
    }

    /// The cached record, borrowed (`Some(None)`: the key is absent); `None` if the kind byte is
    /// not one this build knows, which [`Entry::new`] never writes.
    fn view(&self) -> Option<Option<View<'_>>> {
        let flags = self.0[FLAGS];
        if flags & PRESENT == 0 {
            return Some(None);
        }
        Some(Some(View {
            kind: Kind::from_byte(self.0[KIND])?,
            expire_at_ms: (flags & EXPIRES != 0).then(|| self.word(16)),
            data: &self.0[self.key_end()..],
            stamp: self.word(8),
        }))
    }

    fn cost(&self) -> usize {
        self.0.len() + ENTRY_OVERHEAD
    }
}

/// A cached record, borrowed from its entry: a caller that needs only part of it (a write needs
/// the old record's expiry and collection instance, not its value) copies only that.
pub(crate) struct View<'a> {
    pub kind: Kind,
    pub expire_at_ms: Option<u64>,
    pub data: &'a [u8],
    pub stamp: u64,
}

impl View<'_> {
    pub fn of(r: &Record) -> View<'_> {
        View {
            kind: r.kind,
            expire_at_ms: r.expire_at_ms,
            data: &r.data,
            stamp: r.stamp,
        }
    }

    pub fn to_record(&self) -> Record {
        Record {
            kind: self.kind,
            expire_at_ms: self.expire_at_ms,
            data: self.data.to_vec(),
            stamp: self.stamp,
        }
    }
}

/// A stripe alone on its cache lines (two, for the adjacent-line prefetcher).
#[derive(Default)]
#[repr(align(128))]
struct Padded(Mutex<Stripe>);

#[derive(Default)]
struct Stripe {
    young: Table<Entry>,
    young_bytes: usize,
    old: Table<Entry>,
    old_bytes: usize,
    /// Lookups answered here, and lookups that missed (counted under the stripe's lock, so a
    /// read shares no counter with the other thread).
    hits: u64,
    misses: u64,
}

fn remove(table: &mut Table<Entry>, hash: u64, key: &[u8]) -> Option<Entry> {
    table.remove(hash, |e| e.key() == key)
}

impl Stripe {
    /// Takes `key`'s entry out of the old half.
    fn take_old(&mut self, hash: u64, key: &[u8]) -> Option<Entry> {
        let e = remove(&mut self.old, hash, key)?;
        self.old_bytes = self.old_bytes.saturating_sub(e.cost());
        Some(e)
    }

    fn insert(&mut self, entry: Entry, half_bytes_max: usize) {
        let bytes = entry.cost();
        if bytes > half_bytes_max {
            // Too big to keep: make sure no older copy stays.
            if let Some(e) = remove(&mut self.young, entry.hash(), entry.key()) {
                self.young_bytes = self.young_bytes.saturating_sub(e.cost());
            }
            self.take_old(entry.hash(), entry.key());
            return;
        }
        self.take_old(entry.hash(), entry.key());
        if self.young_bytes + bytes > half_bytes_max {
            self.old = std::mem::take(&mut self.young);
            self.old_bytes = std::mem::take(&mut self.young_bytes);
        }
        // Replaced: charged as it is now. (Keeping the old copy's charge let values that grew in
        // place hold far more than the bound.)
        let replaced = self
            .young
            .insert(entry.hash(), entry, |a, b| a.key() == b.key());
        let replaced = replaced.as_ref().map_or(0, Entry::cost);
        self.young_bytes = self.young_bytes.saturating_sub(replaced) + bytes;
    }

    fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
        self.young_bytes = 0;
        self.old_bytes = 0;
    }
}

impl RecordCache {
    /// A cache of at most about `bytes_max` bytes (0 disables it).
    pub(crate) fn new(bytes_max: usize) -> RecordCache {
        RecordCache {
            stripes: (0..STRIPES).map(|_| Padded::default()).collect(),
            hasher: RandomState::new(),
            generation: AtomicU64::new(0),
            writing: AtomicUsize::new(0),
            half_bytes_max: bytes_max / 2 / STRIPES,
        }
    }

    /// The key's hash and its stripe, locked. The stripe comes from bits the tables do not use
    /// to place entries (low bits) or to tag them (top bits).
    fn stripe(&self, key: &[u8]) -> (u64, MutexGuard<'_, Stripe>) {
        let hash = self.hasher.hash_one(key);
        (hash, lock(&self.stripes[stripe_index(hash)].0))
    }

    pub(crate) fn get(&self, key: &[u8]) -> Lookup {
        self.get_with(key, |v| v.to_record())
    }

    /// [`RecordCache::get`] of only what `take` copies out of the cached record.
    pub(crate) fn get_with<T>(
        &self,
        key: &[u8],
        take: impl FnOnce(View<'_>) -> T,
    ) -> Lookup<Option<T>> {
        let (hash, mut stripe) = self.stripe(key);
        if let Some(e) = stripe.young.find(hash, |e| e.key() == key) {
            if let Some(view) = e.view() {
                let value = view.map(take);
                stripe.hits += 1;
                return Lookup::Hit(value);
            }
        } else if let Some(e) = stripe.take_old(hash, key) {
            if let Some(view) = e.view() {
                let value = view.map(take);
                stripe.insert(e, self.half_bytes_max);
                stripe.hits += 1;
                return Lookup::Hit(value);
            }
        }
        stripe.misses += 1;
        Lookup::Miss(self.generation.load(SeqCst))
    }

    /// Asks the CPU to load what lookups of `keys` will read (it changes nothing the cache
    /// holds or counts). A lookup of a key not in the CPU's caches waits on three loads in turn
    /// (its stripe's lock, its table slot, its entry); a group of reads that prefetches all its
    /// keys first waits on them together. In two passes: every key's slot, then, with the slots
    /// loaded meanwhile, every key's entry.
    pub(crate) fn prefetch(&self, keys: &[&[u8]]) {
        if self.half_bytes_max == 0 {
            return;
        }
        let mut hashes = [0u64; PREFETCH_MAX];
        let keys = &keys[..keys.len().min(PREFETCH_MAX)];
        for (key, hash) in keys.iter().zip(hashes.iter_mut()) {
            *hash = self.hasher.hash_one(key);
            let stripe = lock(&self.stripes[stripe_index(*hash)].0);
            stripe.young.prefetch(*hash);
        }
        // The entries of the same full hash (all but surely the key's own): comparing keys here
        // would wait on the very loads this is to start.
        for &hash in &hashes[..keys.len()] {
            let stripe = lock(&self.stripes[stripe_index(hash)].0);
            stripe.young.each_of(hash, |e| prefetch::bytes(&e.0));
        }
    }

    /// [`RecordCache::prefetch`] of the records of `user_keys` in `shard` (their data keys,
    /// `keys::data`), [`PREFETCH_MAX`] keys at a time.
    pub(crate) fn prefetch_user_keys(&self, shard: ShardId, user_keys: &[&[u8]]) {
        for window in user_keys.chunks(PREFETCH_MAX) {
            let data: Vec<Vec<u8>> = window.iter().map(|k| keys::data(shard, k)).collect();
            let data: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
            self.prefetch(&data);
        }
    }

    /// Caches what RocksDB returned for `key` after a miss at `generation`, unless a write
    /// happened since (the value read may then be older than that write).
    pub(crate) fn fill(&self, key: &[u8], value: Option<&Record>, generation: u64) {
        if self.half_bytes_max == 0 {
            return;
        }
        let (hash, mut stripe) = self.stripe(key);
        // Checked under the stripe's lock: a write stores its keys under that lock before its
        // second bump, so a write this check does not see has not stored `key` yet and will
        // overwrite what is filled here.
        if self.generation.load(SeqCst) == generation && self.writing.load(SeqCst) == 0 {
            stripe.insert(Entry::new(hash, key, value), self.half_bytes_max);
        }
    }

    /// Counts over every stripe, each locked in turn (so not one instant's).
    pub(crate) fn stats(&self) -> RecordCacheStats {
        let mut st = RecordCacheStats {
            bytes_max: (self.half_bytes_max * 2 * STRIPES) as u64,
            ..RecordCacheStats::default()
        };
        for stripe in self.stripes.iter() {
            let s = lock(&stripe.0);
            st.hits += s.hits;
            st.misses += s.misses;
            st.bytes += (s.young_bytes + s.old_bytes) as u64;
            st.entries += (s.young.len() + s.old.len()) as u64;
        }
        st
    }

    /// Runs `write` (a RocksDB write of data records; lookups go on meanwhile, fills are
    /// refused), then caches `written`: every data key the write set (`Some`) or deleted
    /// (`None`). With `clear_all` (a range deletion: FLUSHDB, snapshot install, dropped replica),
    /// or if the write fails, the cache is emptied instead.
    pub(crate) fn write<T, E>(
        &self,
        write: impl FnOnce() -> Result<T, E>,
        written: impl IntoIterator<Item = (Vec<u8>, Option<Record>)>,
        clear_all: bool,
    ) -> Result<T, E> {
        self.generation.fetch_add(1, SeqCst);
        self.writing.fetch_add(1, SeqCst);
        let res = write();
        if res.is_err() || clear_all || self.half_bytes_max == 0 {
            for stripe in self.stripes.iter() {
                lock(&stripe.0).clear();
            }
        } else {
            for (key, value) in written {
                let (hash, mut stripe) = self.stripe(&key);
                stripe.insert(Entry::new(hash, &key, value.as_ref()), self.half_bytes_max);
            }
        }
        self.generation.fetch_add(1, SeqCst);
        self.writing.fetch_sub(1, SeqCst);
        res
    }
}

fn stripe_index(hash: u64) -> usize {
    (hash >> 40) as usize % STRIPES
}

fn lock(stripe: &Mutex<Stripe>) -> MutexGuard<'_, Stripe> {
    stripe.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: &str) -> Option<Record> {
        Some(Record::string(v.as_bytes().to_vec()))
    }

    fn hit(c: &RecordCache, k: &str) -> Option<Option<Record>> {
        match c.get(k.as_bytes()) {
            Lookup::Hit(v) => Some(v),
            Lookup::Miss(_) => None,
        }
    }

    #[test]
    fn a_fill_after_a_write_is_refused() {
        let c = RecordCache::new(1 << 20);
        let Lookup::Miss(gen) = c.get(b"k") else {
            panic!("empty cache hit")
        };
        // A write lands between the reader's miss and its fill: its (older) value is dropped.
        c.write(|| Ok::<_, ()>(()), [(b"k".to_vec(), rec("new"))], false)
            .expect("write");
        c.fill(b"k", rec("old").as_ref(), gen);
        assert_eq!(hit(&c, "k"), Some(rec("new")));
        c.fill(b"j", rec("j").as_ref(), gen);
        assert_eq!(hit(&c, "j"), None);
    }

    #[test]
    fn during_a_write_old_values_answer_and_fills_wait() {
        let c = RecordCache::new(1 << 20);
        c.write(|| Ok::<_, ()>(()), [(b"k".to_vec(), rec("old"))], false)
            .expect("write");
        c.write(
            || {
                // The write is not acknowledged yet: the cached value is still the old one, and
                // a reader that missed (and may have read RocksDB mid-write) cannot fill.
                assert_eq!(hit(&c, "k"), Some(rec("old")));
                let Lookup::Miss(gen) = c.get(b"m") else {
                    panic!("uncached key hit")
                };
                c.fill(b"m", rec("read mid-write").as_ref(), gen);
                assert_eq!(hit(&c, "m"), None);
                Ok::<_, ()>(())
            },
            [(b"k".to_vec(), rec("new")), (b"m".to_vec(), rec("new"))],
            false,
        )
        .expect("write");
        assert_eq!(hit(&c, "k"), Some(rec("new")));
        assert_eq!(hit(&c, "m"), Some(rec("new")));
    }

    #[test]
    fn writes_replace_and_clear() {
        let c = RecordCache::new(1 << 20);
        c.write(|| Ok::<_, ()>(()), [(b"a".to_vec(), rec("1"))], false)
            .expect("write");
        c.write(|| Ok::<_, ()>(()), [(b"a".to_vec(), None)], false)
            .expect("write");
        assert_eq!(hit(&c, "a"), Some(None));
        c.write(|| Ok::<_, ()>(()), [(b"b".to_vec(), rec("2"))], true)
            .expect("write");
        assert_eq!(hit(&c, "a"), None);
        assert_eq!(hit(&c, "b"), None);
        // A failed write empties the cache: RocksDB's state is not known.
        c.write(|| Ok::<_, ()>(()), [(b"c".to_vec(), rec("3"))], false)
            .expect("write");
        assert!(c
            .write(|| Err::<(), _>("io"), [(b"d".to_vec(), rec("4"))], false)
            .is_err());
        assert_eq!(hit(&c, "c"), None);
        assert_eq!(hit(&c, "d"), None);
    }

    #[test]
    fn an_entry_gives_back_the_record_it_was_made_of() {
        let kinds = [Kind::String, Kind::Hash, Kind::List, Kind::Set, Kind::ZSet];
        for (i, kind) in kinds.into_iter().enumerate() {
            for expire_at_ms in [None, Some(0), Some(u64::MAX)] {
                for (key, data) in [(&b""[..], &b""[..]), (b"k", b"value"), (b"key:1", b"")] {
                    let record = Record {
                        kind,
                        expire_at_ms,
                        data: data.to_vec(),
                        stamp: i as u64 * 1_000_003,
                    };
                    let e = Entry::new(42, key, Some(&record));
                    assert!(e.is(42, key) && !e.is(41, key) && !e.is(42, b"other"));
                    assert_eq!(
                        e.view().map(|v| v.map(|v| v.to_record())),
                        Some(Some(record))
                    );
                    assert_eq!(e.cost(), HEAD + key.len() + data.len() + ENTRY_OVERHEAD);
                }
            }
        }
        let absent = Entry::new(7, b"gone", None);
        assert_eq!((absent.hash(), absent.key()), (7, &b"gone"[..]));
        assert!(matches!(absent.view(), Some(None)));
    }

    /// Bytes the cache holds, charged as [`Entry::cost`].
    fn held(c: &RecordCache) -> usize {
        c.stripes.iter().map(|s| stripe_held(&lock(&s.0))).sum()
    }

    /// Bytes one stripe holds, charged as [`Entry::cost`].
    fn stripe_held(s: &Stripe) -> usize {
        s.young.iter().chain(s.old.iter()).map(Entry::cost).sum()
    }

    #[test]
    fn values_that_grow_in_place_stay_within_the_bound() {
        // 64 KiB over 16 stripes: each stripe holds two halves of 2 KiB.
        let c = RecordCache::new(64 * 1024);
        let keys: Vec<Vec<u8>> = (0..)
            .map(|i| format!("key{i}").into_bytes())
            .filter(|k| stripe_index(c.hasher.hash_one(k)) == 0)
            .take(10)
            .collect();
        let write = |k: &Vec<u8>, v: &str| {
            c.write(|| Ok::<_, ()>(()), [(k.clone(), rec(v))], false)
                .expect("write");
        };
        for k in &keys {
            write(k, "small");
        }
        // Each key, cached, written again much bigger: charged as it is now, so the stripe
        // turns over instead of holding ten big values on ten small charges.
        let big = "x".repeat(1000);
        for k in &keys {
            write(k, &big);
        }
        let held = stripe_held(&lock(&c.stripes[0].0));
        assert!(held <= 4 * 1024, "{held}");
        assert_eq!(
            c.stats().bytes,
            held as u64,
            "the kept count is what is held"
        );
    }

    #[test]
    fn stats_count_lookups_and_what_is_held() {
        let c = RecordCache::new(64 * 1024);
        assert_eq!(c.stats().bytes_max, 64 * 1024);
        for i in 0..2_000u32 {
            let k = format!("key{i}").into_bytes();
            c.write(|| Ok::<_, ()>(()), [(k, rec("0123456789"))], false)
                .expect("write");
        }
        let st = c.stats();
        assert_eq!((st.hits, st.misses), (0, 0));
        assert_eq!(st.bytes, held(&c) as u64);
        assert!(st.entries > 0 && st.entries < 2_000, "{st:?}");
        // Every key is looked up once: the answered ones are hits, the evicted ones misses, and
        // hits in the old half (moved to the young one) keep the byte count exact.
        let hits = (0..2_000)
            .filter(|i| hit(&c, &format!("key{i}")).is_some())
            .count() as u64;
        let st = c.stats();
        assert_eq!((st.hits, st.misses), (hits, 2_000 - hits));
        assert!(hits > 0 && hits < 2_000, "{hits}");
        assert_eq!(st.bytes, held(&c) as u64);
        assert!(st.bytes <= st.bytes_max, "{st:?}");
        c.write(|| Ok::<_, ()>(()), [(b"x".to_vec(), rec("1"))], true)
            .expect("write");
        assert_eq!((c.stats().bytes, c.stats().entries), (0, 0));
    }

    #[test]
    fn a_prefetch_changes_no_answer_and_no_count() {
        let c = RecordCache::new(64 * 1024);
        for i in 0..3_000u32 {
            let k = format!("key{i}").into_bytes();
            c.write(|| Ok::<_, ()>(()), [(k, rec(&i.to_string()))], false)
                .expect("write");
        }
        let before = c.stats();
        // Young, old, evicted and never written keys, more than one call takes, and none.
        let keys: Vec<Vec<u8>> = (0..40)
            .map(|i| format!("key{}", i * 75).into_bytes())
            .chain([b"never".to_vec(), Vec::new()])
            .collect();
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        c.prefetch(&refs);
        c.prefetch(&[]);
        assert_eq!(c.stats(), before);
        for i in (0..3_000u32).step_by(75) {
            if let Some(v) = hit(&c, &format!("key{i}")) {
                assert_eq!(v, rec(&i.to_string()));
            }
        }
        assert_eq!(hit(&c, "key2999"), Some(rec("2999")));
        RecordCache::new(0).prefetch(&refs);
    }

    #[test]
    fn stays_within_its_bound() {
        let c = RecordCache::new(64 * 1024);
        for i in 0..10_000u32 {
            let k = format!("key{i}").into_bytes();
            c.write(|| Ok::<_, ()>(()), [(k, rec("0123456789"))], false)
                .expect("write");
        }
        assert!(held(&c) <= 64 * 1024, "{}", held(&c));
        // The newest key is still there.
        assert_eq!(hit(&c, "key9999"), Some(rec("0123456789")));
        // A disabled cache holds nothing.
        let off = RecordCache::new(0);
        off.write(|| Ok::<_, ()>(()), [(b"k".to_vec(), rec("v"))], false)
            .expect("write");
        assert_eq!(hit(&off, "k"), None);
    }
}
