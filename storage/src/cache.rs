//! A bounded in-memory copy of records of the data column family, in front of RocksDB.
//!
//! A point read of a hot key otherwise walks RocksDB's memtable skiplist, a chain of cache
//! misses that costs microseconds per lookup and dominated the profile of GET and of apply.
//! Here it is one hash lookup.
//!
//! It never changes what a read returns, because it only ever holds what RocksDB holds:
//! - every write of data records goes through [`RecordCache::write`]: while the RocksDB write is
//!   under way a cached key still answers its old value (the write is not acknowledged yet), and
//!   right after it, under its stripe's lock, the cache takes the new values (or is emptied), so a key
//!   never goes back from a new value to an old one;
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
//! The generation and the count of writes under way are shared by every stripe (atomics); a
//! fill checks them under its stripe's lock, and a write changes them before its RocksDB write
//! and again after it has stored its keys, so the argument above holds stripe by stripe.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};

use hashbrown::HashTable;

use crate::kv::Record;

/// What a lookup found.
pub(crate) enum Lookup {
    /// The key's current record (`None`: the key is absent).
    Hit(Option<Record>),
    /// Not cached; pass the generation to [`RecordCache::fill`] with what RocksDB returned.
    Miss(u64),
}

/// Bytes an entry is charged beyond its key and value (table slot, record header, allocations).
const ENTRY_OVERHEAD: usize = 64;

/// Stripes of the cache, each with its own lock and its share of the byte bound.
pub(crate) const STRIPES: usize = 16;

pub(crate) struct RecordCache {
    stripes: Box<[Mutex<Stripe>]>,
    hasher: RandomState,
    /// Bumped when a write of records starts and when it ends.
    generation: AtomicU64,
    /// RocksDB writes of records under way (shards apply in parallel).
    writing: AtomicUsize,
    /// Bytes each half of each stripe may hold.
    half_bytes_max: usize,
}

struct Entry {
    hash: u64,
    key: Vec<u8>,
    value: Option<Record>,
}

#[derive(Default)]
struct Stripe {
    young: HashTable<Entry>,
    young_bytes: usize,
    old: HashTable<Entry>,
}

fn cost(key: &[u8], value: &Option<Record>) -> usize {
    key.len() + value.as_ref().map_or(0, |r| r.data.len()) + ENTRY_OVERHEAD
}

fn remove(table: &mut HashTable<Entry>, hash: u64, key: &[u8]) -> Option<Entry> {
    match table.find_entry(hash, |e| e.key == key) {
        Ok(found) => Some(found.remove().0),
        Err(_) => None,
    }
}

impl Stripe {
    fn insert(&mut self, entry: Entry, half_bytes_max: usize) {
        let bytes = cost(&entry.key, &entry.value);
        if bytes > half_bytes_max {
            // Too big to keep: make sure no older copy stays.
            remove(&mut self.young, entry.hash, &entry.key);
            remove(&mut self.old, entry.hash, &entry.key);
            return;
        }
        remove(&mut self.old, entry.hash, &entry.key);
        if self.young_bytes + bytes > half_bytes_max {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        match self
            .young
            .entry(entry.hash, |e| e.key == entry.key, |e| e.hash)
        {
            // Replaced: the old copy's charge stays counted, a small overestimate until rotation.
            hashbrown::hash_table::Entry::Occupied(mut o) => o.get_mut().value = entry.value,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(entry);
                self.young_bytes += bytes;
            }
        }
    }

    fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
        self.young_bytes = 0;
    }
}

impl RecordCache {
    /// A cache of at most about `bytes_max` bytes (0 disables it).
    pub(crate) fn new(bytes_max: usize) -> RecordCache {
        RecordCache {
            stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
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
        let i = (hash >> 40) as usize % STRIPES;
        (hash, lock(&self.stripes[i]))
    }

    pub(crate) fn get(&self, key: &[u8]) -> Lookup {
        let (hash, mut stripe) = self.stripe(key);
        if let Some(e) = stripe.young.find(hash, |e| e.key == key) {
            return Lookup::Hit(e.value.clone());
        }
        if let Some(e) = remove(&mut stripe.old, hash, key) {
            let value = e.value.clone();
            stripe.insert(e, self.half_bytes_max);
            return Lookup::Hit(value);
        }
        Lookup::Miss(self.generation.load(SeqCst))
    }

    /// Caches what RocksDB returned for `key` after a miss at `generation`, unless a write
    /// happened since (the value read may then be older than that write).
    pub(crate) fn fill(&self, key: &[u8], value: Option<Record>, generation: u64) {
        if self.half_bytes_max == 0 {
            return;
        }
        let (hash, mut stripe) = self.stripe(key);
        // Checked under the stripe's lock: a write stores its keys under that lock before its
        // second bump, so a write this check does not see has not stored `key` yet and will
        // overwrite what is filled here.
        if self.generation.load(SeqCst) == generation && self.writing.load(SeqCst) == 0 {
            let entry = Entry {
                hash,
                key: key.to_vec(),
                value,
            };
            stripe.insert(entry, self.half_bytes_max);
        }
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
                lock(stripe).clear();
            }
        } else {
            for (key, value) in written {
                let (hash, mut stripe) = self.stripe(&key);
                stripe.insert(Entry { hash, key, value }, self.half_bytes_max);
            }
        }
        self.generation.fetch_add(1, SeqCst);
        self.writing.fetch_sub(1, SeqCst);
        res
    }
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
        c.fill(b"k", rec("old"), gen);
        assert_eq!(hit(&c, "k"), Some(rec("new")));
        c.fill(b"j", rec("j"), gen);
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
                c.fill(b"m", rec("read mid-write"), gen);
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
    fn stays_within_its_bound() {
        let c = RecordCache::new(64 * 1024);
        for i in 0..10_000u32 {
            let k = format!("key{i}").into_bytes();
            c.write(|| Ok::<_, ()>(()), [(k, rec("0123456789"))], false)
                .expect("write");
        }
        let held: usize = c
            .stripes
            .iter()
            .map(|s| {
                let s = lock(s);
                s.young
                    .iter()
                    .chain(s.old.iter())
                    .map(|e| cost(&e.key, &e.value))
                    .sum::<usize>()
            })
            .sum();
        assert!(held <= 64 * 1024, "{held}");
        // The newest key is still there.
        assert_eq!(hit(&c, "key9999"), Some(rec("0123456789")));
        // A disabled cache holds nothing.
        let off = RecordCache::new(0);
        off.write(|| Ok::<_, ()>(()), [(b"k".to_vec(), rec("v"))], false)
            .expect("write");
        assert_eq!(hit(&off, "k"), None);
    }
}
