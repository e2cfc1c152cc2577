//! Key-less reads over several shards (those this node leads, or on a `READONLY` connection all
//! it hosts), as Redis Cluster answers `DBSIZE`, `KEYS`, `SCAN` and `RANDOMKEY` over a node.
//!
//! [`MultiReader`] presents several shards' readers as one [`ShardRead`]: counts add up, a `SCAN`
//! walks the shards in slot order (the cursor's slot says which shard it is in; a finished shard
//! hands over at the next shard's first slot), `RANDOMKEY` probes a shard chosen by the seed.

use tanli_router::{slot_of, ClusterMap, ShardId};
use tanli_storage::{
    scan_cursor_at_slot, scan_cursor_slot, KvRead, Record, ScanPage, ShardRead, ShardReader,
    StorageError,
};

pub struct MultiReader {
    /// (first slot, last slot, reader), sorted by first slot; one entry per owned range.
    ranges: Vec<(u16, u16, ShardReader)>,
    readers: Vec<ShardReader>,
}

impl MultiReader {
    pub fn new(map: &ClusterMap, shards: &[(ShardId, ShardReader)]) -> MultiReader {
        let mut ranges = Vec::new();
        for (id, reader) in shards {
            for (start, end) in map.slots_of_shard(*id) {
                ranges.push((start, end, reader.clone()));
            }
        }
        ranges.sort_by_key(|r| r.0);
        MultiReader {
            ranges,
            readers: shards.iter().map(|(_, r)| r.clone()).collect(),
        }
    }

    fn reader_of_slot(&self, slot: u16) -> Option<&ShardReader> {
        self.ranges
            .iter()
            .find(|(s, e, _)| (*s..=*e).contains(&slot))
            .map(|(_, _, r)| r)
    }
}

impl KvRead for MultiReader {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, StorageError> {
        match self.reader_of_slot(slot_of(key)) {
            Some(r) => r.get(key),
            None => Ok(None),
        }
    }

    fn record_count(&self) -> Result<u64, StorageError> {
        self.readers
            .iter()
            .try_fold(0u64, |sum, r| Ok(sum + r.record_count()?))
    }
}

impl ShardRead for MultiReader {
    fn scan(&self, cursor: u64, count: usize) -> Result<ScanPage, StorageError> {
        let mut cursor = cursor;
        let slot = scan_cursor_slot(cursor);
        // The first range at or after the cursor's slot, then each later one in turn.
        let mut i = match self.ranges.iter().position(|(_, end, _)| *end >= slot) {
            Some(i) => i,
            None => return Ok(ScanPage::default()),
        };
        if self.ranges[i].0 > slot {
            cursor = scan_cursor_at_slot(self.ranges[i].0);
        }
        loop {
            let (_, end, reader) = &self.ranges[i];
            let mut page = reader.scan(cursor, count)?;
            // A shard's scan runs over all its ranges; stop it at the end of this one.
            let past_range = page.next_cursor != 0 && scan_cursor_slot(page.next_cursor) > *end;
            if page.next_cursor != 0 && !past_range {
                return Ok(page);
            }
            page.entries.retain(|(k, _)| slot_of(k) <= *end);
            let next = self
                .ranges
                .get(i + 1)
                .map(|(s, _, _)| scan_cursor_at_slot(*s));
            match next {
                None => {
                    page.next_cursor = 0;
                    return Ok(page);
                }
                Some(n) if !page.entries.is_empty() => {
                    page.next_cursor = n;
                    return Ok(page);
                }
                Some(n) => {
                    cursor = n;
                    i += 1;
                }
            }
        }
    }

    fn record_at(&self, seed: u64) -> Result<Option<(Vec<u8>, Record)>, StorageError> {
        let n = self.readers.len();
        for k in 0..n {
            let r = &self.readers[(seed as usize).wrapping_add(k) % n];
            if let Some(found) = r.record_at(seed)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn expired(&self, _now_ms: u64, _limit: usize) -> Result<Vec<(Vec<u8>, u64)>, StorageError> {
        // Reclaiming is per shard, on its leader; never through this view.
        Ok(Vec::new())
    }
}
