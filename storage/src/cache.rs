//! A bounded in-memory copy of records of the data column family, in front of RocksDB.
//!
//! A point read of a hot key otherwise walks RocksDB's memtable skiplist, a chain of cache
//! misses that costs microseconds per lookup and dominated the profile of GET and of apply.
//! Here it is one hash lookup.
//!
//! It never changes what a read returns, because it only ever holds what RocksDB holds:
//! - every write of data records goes through [`RecordCache::write`]: while the RocksDB write is
//!   under way a cached key still answers its old value (the write is not acknowledged yet), and
//!   right after it, under the lock, the cache takes the new values (or is emptied), so a key
//!   never goes back from a new value to an old one;
//! - a reader that missed fills the cache with what it read from RocksDB only if no write
//!   started or ended since its miss (a generation number, bumped at both) and none is under way,
//!   so a value read before or during a write can never be put back after it.
//!
//! Entries are full data keys (shard included) and the record or its absence. The bound is in
//! bytes: once the young half fills, it becomes the old half and the previous old half is
//! dropped; a hit in the old half moves the entry to the young one.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::kv::Record;

/// What a lookup found.
pub(crate) enum Lookup {
    /// The key's current record (`None`: the key is absent).
    Hit(Option<Record>),
    /// Not cached; pass the generation to [`RecordCache::fill`] with what RocksDB returned.
    Miss(u64),
}

/// Bytes an entry is charged beyond its key and value (map slot, record header, allocations).
const ENTRY_OVERHEAD: usize = 64;

pub(crate) struct RecordCache {
    inner: Mutex<Inner>,
    /// Bytes each half may hold.
    half_bytes_max: usize,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    /// RocksDB writes of records under way (shards apply in parallel).
    writing: usize,
    young: HashMap<Vec<u8>, Option<Record>>,
    young_bytes: usize,
    old: HashMap<Vec<u8>, Option<Record>>,
}

fn cost(key: &[u8], value: &Option<Record>) -> usize {
    key.len() + value.as_ref().map_or(0, |r| r.data.len()) + ENTRY_OVERHEAD
}

impl Inner {
    fn insert(&mut self, key: Vec<u8>, value: Option<Record>, half_bytes_max: usize) {
        let bytes = cost(&key, &value);
        if bytes > half_bytes_max {
            // Too big to keep: make sure no older copy stays.
            self.young.remove(&key);
            self.old.remove(&key);
            return;
        }
        self.old.remove(&key);
        if self.young_bytes + bytes > half_bytes_max {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        match self.young.insert(key, value) {
            // Replaced: the old copy's charge stays counted, a small overestimate until rotation.
            Some(_) => {}
            None => self.young_bytes += bytes,
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
            inner: Mutex::new(Inner::default()),
            half_bytes_max: bytes_max / 2,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, key: &[u8]) -> Lookup {
        let mut inner = self.lock();
        if let Some(v) = inner.young.get(key) {
            return Lookup::Hit(v.clone());
        }
        if let Some(v) = inner.old.remove(key) {
            let half = self.half_bytes_max;
            inner.insert(key.to_vec(), v.clone(), half);
            return Lookup::Hit(v);
        }
        Lookup::Miss(inner.generation)
    }

    /// Caches what RocksDB returned for `key` after a miss at `generation`, unless a write
    /// happened since (the value read may then be older than that write).
    pub(crate) fn fill(&self, key: &[u8], value: Option<Record>, generation: u64) {
        let mut inner = self.lock();
        if inner.generation == generation && inner.writing == 0 && self.half_bytes_max > 0 {
            let half = self.half_bytes_max;
            inner.insert(key.to_vec(), value, half);
        }
    }

    /// Runs `write` (a RocksDB write of data records; lookups go on meanwhile, fills wait), then
    /// caches `written`: every data key the write set (`Some`) or deleted (`None`). With
    /// `clear_all` (a range deletion: FLUSHDB, snapshot install, dropped replica), or if the
    /// write fails, the cache is emptied instead.
    pub(crate) fn write<T, E>(
        &self,
        write: impl FnOnce() -> Result<T, E>,
        written: impl IntoIterator<Item = (Vec<u8>, Option<Record>)>,
        clear_all: bool,
    ) -> Result<T, E> {
        {
            let mut inner = self.lock();
            inner.generation += 1;
            inner.writing += 1;
        }
        let res = write();
        let mut inner = self.lock();
        inner.generation += 1;
        inner.writing -= 1;
        if res.is_err() || clear_all || self.half_bytes_max == 0 {
            inner.clear();
        } else {
            let half = self.half_bytes_max;
            for (k, v) in written {
                inner.insert(k, v, half);
            }
        }
        res
    }
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
        let inner = c.lock();
        let held: usize = inner
            .young
            .iter()
            .chain(inner.old.iter())
            .map(|(k, v)| cost(k, v))
            .sum();
        assert!(held <= 64 * 1024, "{held}");
        // The newest key is still there.
        drop(inner);
        assert_eq!(hit(&c, "key9999"), Some(rec("0123456789")));
        // A disabled cache holds nothing.
        let off = RecordCache::new(0);
        off.write(|| Ok::<_, ()>(()), [(b"k".to_vec(), rec("v"))], false)
            .expect("write");
        assert_eq!(hit(&off, "k"), None);
    }
}
