//! Reads of one shard's committed records, for the read path (after its consistency check).
//!
//! A command that reads several records or elements reads them through [`ShardReader::with_view`]:
//! one RocksDB snapshot, so its reply shows one committed state even while apply goes on (an
//! `MGET` never sees half of an `MSET`, an `HGETALL` never half of an `HSET`).

use rocksdb::{Direction, IteratorMode, ReadOptions, SnapshotWithThreadMode, DB};

use crate::cache::Lookup;
use crate::codec;
use crate::db::{db_err, Store};
use crate::keys;
use crate::kv::{Entries, KvRead, MemberRange, Record, ScanPage, ShardRead, Sub};
use crate::state_machine::read_applied;
use crate::sub;
use crate::types::ShardId;
use crate::StorageError;

/// Low 50 bits of a SCAN cursor: the top 50 bits of the key hash; the 14 bits above: the slot.
const CURSOR_HASH_BITS: u32 = 50;
const CURSOR_HASH_MASK: u64 = (1 << CURSOR_HASH_BITS) - 1;

fn cursor_of(slot: u16, hash: u64) -> u64 {
    ((slot as u64) << CURSOR_HASH_BITS) | (hash >> (64 - CURSOR_HASH_BITS))
}

/// The `SCAN` cursor at the start of `slot` (a multi-shard scan resumes at the next shard's
/// first slot).
pub fn scan_cursor_at_slot(slot: u16) -> u64 {
    cursor_of(slot, 0)
}

/// The slot a `SCAN` cursor points into.
pub fn scan_cursor_slot(cursor: u64) -> u16 {
    position_of(cursor).0
}

fn position_of(cursor: u64) -> (u16, u64) {
    let slot = (cursor >> CURSOR_HASH_BITS) as u16;
    (slot, (cursor & CURSOR_HASH_MASK) << (64 - CURSOR_HASH_BITS))
}

#[derive(Clone)]
pub struct ShardReader {
    store: Store,
    shard: ShardId,
}

impl ShardReader {
    pub fn new(store: Store, shard: ShardId) -> ShardReader {
        ShardReader { store, shard }
    }

    /// The shard's applied state as last written (for INFO; not a linearizable read).
    pub fn applied(&self) -> Result<crate::AppliedState, StorageError> {
        read_applied(&self.store.db, self.store.cf(keys::CF_META)?, self.shard)
    }

    /// Asks the CPU to load what point reads of `user_keys` will read from the record cache, so
    /// that a group of reads waits on their memory once, not once per read (`cache.rs`). It
    /// changes nothing a read returns.
    pub fn prefetch(&self, user_keys: &[&[u8]]) {
        let n = user_keys.len().min(crate::cache::PREFETCH_MAX);
        self.store
            .records
            .prefetch_user_keys(self.shard, &user_keys[..n]);
    }

    /// Runs `read` against one point-in-time view of the shard: every record and element it
    /// reads comes from the same committed state. Records are read from RocksDB, not the record
    /// cache. Key-less reads (scan, random key, expired keys) are not part of the view.
    pub fn with_view<R>(&self, read: impl FnOnce(&dyn ShardRead) -> R) -> R {
        let snapshot = self.store.db.snapshot();
        read(&View {
            reader: self,
            snapshot: &snapshot,
        })
    }
}

/// A [`ShardReader`] pinned to one RocksDB snapshot.
struct View<'a> {
    reader: &'a ShardReader,
    snapshot: &'a SnapshotWithThreadMode<'a, DB>,
}

impl KvRead for View<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, StorageError> {
        let r = self.reader;
        let cf = r.store.cf(keys::CF_DATA)?;
        match self
            .snapshot
            .get_cf(cf, keys::data(r.shard, key))
            .map_err(db_err)?
        {
            None => Ok(None),
            Some(b) => codec::decode_record(&b).map(Some),
        }
    }

    fn record_count(&self) -> Result<u64, StorageError> {
        let r = self.reader;
        let meta = r.store.cf(keys::CF_META)?;
        match self
            .snapshot
            .get_cf(meta, keys::shard_meta(r.shard, keys::ShardMeta::Applied))
            .map_err(db_err)?
        {
            None => Ok(0),
            Some(b) => Ok(codec::decode::<crate::AppliedState>("applied state", &b)?.record_count),
        }
    }

    fn sub_get(&self, sub: Sub<'_>, member: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let r = self.reader;
        let k = keys::sub(r.shard, sub.key, sub.version, sub.tag, member);
        self.snapshot
            .get_cf(r.store.cf(keys::CF_SUB)?, k)
            .map_err(db_err)
    }

    fn sub_range(
        &self,
        sub: Sub<'_>,
        range: MemberRange<'_>,
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let r = self.reader;
        let (lo, hi) = sub::key_range(r.shard, sub, range);
        let cf = r.store.cf(keys::CF_SUB)?;
        let entries = sub::db_range(&r.store.db, cf, lo, hi, reverse, |ro| {
            ro.set_snapshot(self.snapshot)
        })
        .take(limit)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(sub::members(entries))
    }
}

impl ShardRead for View<'_> {
    fn scan(&self, cursor: u64, count: usize) -> Result<ScanPage, StorageError> {
        self.reader.scan(cursor, count)
    }

    fn record_at(&self, seed: u64) -> Result<Option<(Vec<u8>, Record)>, StorageError> {
        self.reader.record_at(seed)
    }

    fn expired(&self, now_ms: u64, limit: usize) -> Result<Vec<(Vec<u8>, u64)>, StorageError> {
        self.reader.expired(now_ms, limit)
    }
}

impl KvRead for ShardReader {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, StorageError> {
        let dk = keys::data(self.shard, key);
        let generation = match self.store.records.get(&dk) {
            Lookup::Hit(record) => return Ok(record),
            Lookup::Miss(generation) => generation,
        };
        let cf = self.store.cf(keys::CF_DATA)?;
        let record = match self.store.db.get_cf(&cf, &dk).map_err(db_err)? {
            None => None,
            Some(b) => Some(codec::decode_record(&b)?),
        };
        self.store.records.fill(&dk, record.as_ref(), generation);
        Ok(record)
    }

    fn record_count(&self) -> Result<u64, StorageError> {
        Ok(read_applied(&self.store.db, self.store.cf(keys::CF_META)?, self.shard)?.record_count)
    }

    fn sub_get(&self, sub: Sub<'_>, member: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let k = keys::sub(self.shard, sub.key, sub.version, sub.tag, member);
        self.store
            .db
            .get_cf(self.store.cf(keys::CF_SUB)?, k)
            .map_err(db_err)
    }

    fn sub_range(
        &self,
        sub: Sub<'_>,
        range: MemberRange<'_>,
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let (lo, hi) = sub::key_range(self.shard, sub, range);
        let cf = self.store.cf(keys::CF_SUB)?;
        let entries = sub::db_range(&self.store.db, cf, lo, hi, reverse, |_| {})
            .take(limit)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(sub::members(entries))
    }
}

impl ShardRead for ShardReader {
    fn scan(&self, cursor: u64, count: usize) -> Result<ScanPage, StorageError> {
        let (slot, hash) = position_of(cursor);
        let mut page = ScanPage::default();
        if slot >= tanli_router::SLOT_COUNT {
            return Ok(page);
        }
        let cf = self.store.cf(keys::CF_DATA)?;
        let (_, end) = keys::shard_range(self.shard);
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(end);
        let from = keys::data_seek(self.shard, slot, hash);
        let mut last_cursor = None;
        for item in
            self.store
                .db
                .iterator_cf_opt(&cf, ro, IteratorMode::From(&from, Direction::Forward))
        {
            let (k, v) = item.map_err(db_err)?;
            let (slot, hash) = keys::data_position(&k).ok_or_else(|| StorageError::Corrupt {
                what: "data key",
                detail: "too short".into(),
            })?;
            let here = cursor_of(slot, hash);
            // Never split keys that share a cursor value between pages: the next page resumes
            // at that value and would return them again, or skip them.
            if page.entries.len() >= count.max(1) && last_cursor != Some(here) {
                page.next_cursor = here;
                return Ok(page);
            }
            let user_key =
                keys::data_user_key(self.shard, &k).ok_or_else(|| StorageError::Corrupt {
                    what: "data key",
                    detail: "outside shard".into(),
                })?;
            page.entries
                .push((user_key.to_vec(), codec::decode_record(&v)?));
            last_cursor = Some(here);
        }
        Ok(page)
    }

    fn record_at(&self, seed: u64) -> Result<Option<(Vec<u8>, Record)>, StorageError> {
        let slot = ((seed >> CURSOR_HASH_BITS) % tanli_router::SLOT_COUNT as u64) as u16;
        let (_, hash) = position_of(seed);
        for (s, h) in [(slot, hash), (0, 0)] {
            if let Some(item) = self.iter_first(s, h)? {
                return Ok(Some(item));
            }
        }
        Ok(None)
    }

    fn expired(&self, now_ms: u64, limit: usize) -> Result<Vec<(Vec<u8>, u64)>, StorageError> {
        let cf = self.store.cf(keys::CF_EXPIRY)?;
        let mut upper = self.shard.to_be_bytes().to_vec();
        upper.extend_from_slice(&now_ms.saturating_add(1).to_be_bytes());
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(upper);
        let (start, _) = keys::shard_range(self.shard);
        let mut out = Vec::new();
        for item in
            self.store
                .db
                .iterator_cf_opt(&cf, ro, IteratorMode::From(&start, Direction::Forward))
        {
            let (k, _) = item.map_err(db_err)?;
            let (at, key) =
                keys::expiry_parts(self.shard, &k).ok_or_else(|| StorageError::Corrupt {
                    what: "expiry key",
                    detail: "malformed".into(),
                })?;
            out.push((key.to_vec(), at));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

/// Per-slot reads (`CLUSTER COUNTKEYSINSLOT` / `GETKEYSINSLOT`): one slot of a shard is one
/// contiguous key range. Like Redis, they count records still on disk, expired or not.
impl ShardReader {
    /// Records stored in `slot` of this shard; walks the slot (O(keys in slot)).
    pub fn count_in_slot(&self, slot: u16) -> Result<u64, StorageError> {
        let mut n = 0;
        self.walk_slot(slot, |_| {
            n += 1;
            true
        })?;
        Ok(n)
    }

    /// Up to `limit` user keys stored in `slot` of this shard, in storage (hash) order.
    pub fn keys_in_slot(&self, slot: u16, limit: usize) -> Result<Vec<Vec<u8>>, StorageError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let shard = self.shard;
        self.walk_slot(slot, |k| {
            if let Some(user_key) = keys::data_user_key(shard, k) {
                out.push(user_key.to_vec());
            }
            out.len() < limit
        })?;
        Ok(out)
    }

    /// Calls `visit` with each `data` key of `slot` in order until it returns false.
    fn walk_slot(
        &self,
        slot: u16,
        mut visit: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), StorageError> {
        if slot >= tanli_router::SLOT_COUNT {
            return Ok(());
        }
        let cf = self.store.cf(keys::CF_DATA)?;
        let (start, end) = keys::slot_range(self.shard, slot);
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(end);
        let mode = IteratorMode::From(&start, Direction::Forward);
        for item in self.store.db.iterator_cf_opt(&cf, ro, mode) {
            let (k, _) = item.map_err(db_err)?;
            if !visit(&k) {
                break;
            }
        }
        Ok(())
    }

    fn iter_first(&self, slot: u16, hash: u64) -> Result<Option<(Vec<u8>, Record)>, StorageError> {
        let page = self.scan(cursor_of(slot, hash), 1)?;
        Ok(page.entries.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Record, StoreOptions};

    /// Writes `keys` as records of `shard` straight into the data CF.
    fn put(store: &Store, shard: ShardId, keys: &[&str]) {
        let cf = store.cf(keys::CF_DATA).expect("data cf");
        for k in keys {
            let v = codec::encode_record(&Record::string(b"v".to_vec()));
            store
                .db
                .put_cf(&cf, keys::data(shard, k.as_bytes()), v)
                .expect("put");
        }
    }

    #[test]
    fn slot_reads_see_exactly_one_slot_of_one_shard() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
        let slot = tanli_router::slot_of(b"foo");
        let same = ["foo", "{foo}a", "{foo}b", "{foo}c"];
        put(&store, 3, &same);
        // Neighbours: another slot of the same shard, the same slot of other shards.
        put(&store, 3, &["bar", "baz"]);
        put(&store, 2, &["{foo}x"]);
        put(&store, 4, &["{foo}y"]);
        let r = ShardReader::new(store.clone(), 3);
        assert_eq!(r.count_in_slot(slot).expect("count"), 4);
        let mut got = r.keys_in_slot(slot, 100).expect("keys");
        got.sort();
        let mut want: Vec<Vec<u8>> = same.iter().map(|k| k.as_bytes().to_vec()).collect();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(r.keys_in_slot(slot, 2).expect("keys").len(), 2);
        assert!(r.keys_in_slot(slot, 0).expect("keys").is_empty());
        let bar = tanli_router::slot_of(b"bar");
        assert_eq!(
            r.count_in_slot(bar).expect("count"),
            1 + u64::from(tanli_router::slot_of(b"baz") == bar)
        );
        let empty = (0..tanli_router::SLOT_COUNT)
            .find(|s| ![slot, bar, tanli_router::slot_of(b"baz")].contains(s))
            .expect("a free slot");
        assert_eq!(r.count_in_slot(empty).expect("count"), 0);
        assert_eq!(r.count_in_slot(16383).expect("count"), 0);
        assert_eq!(r.count_in_slot(tanli_router::SLOT_COUNT).expect("count"), 0);
        assert_eq!(
            ShardReader::new(store, 5)
                .count_in_slot(slot)
                .expect("count"),
            0
        );
    }

    #[test]
    fn cursor_round_trips_position() {
        for (slot, hash) in [(0u16, 0u64), (16383, u64::MAX), (77, 0xdead_beef_0000_0000)] {
            let c = cursor_of(slot, hash);
            let (s, h) = position_of(c);
            assert_eq!(s, slot);
            assert_eq!(h >> 14, hash >> 14);
            assert!(h <= hash);
        }
    }
}
