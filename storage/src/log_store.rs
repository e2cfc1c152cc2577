//! openraft's log storage for one shard, as a view on the node's shared RocksDB.
//!
//! Appends are written to RocksDB at once (so readers see them when `append` returns) and
//! acknowledged through the callback only after the WAL sync (see `db.rs`). Votes are synced
//! before `save_vote` returns. Truncation and purge need no sync of their own: they precede, in
//! the one WAL, every later write whose sync makes them durable.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use rocksdb::{Direction, IteratorMode, WriteBatch};

use crate::codec;
use crate::db::{db_err, io_err, Store};
use crate::keys::{self, ShardMeta};
use crate::types::{Entry, LogId, ShardId, TypeConfig, Vote};

/// Bound on what one read of the log returns, so replication never loads an unbounded batch.
#[derive(Debug, Clone, Copy)]
pub struct LogReadLimits {
    pub entries_max: usize,
    pub bytes_max: usize,
}

impl Default for LogReadLimits {
    fn default() -> Self {
        LogReadLimits {
            entries_max: 4096,
            bytes_max: 4 << 20,
        }
    }
}

#[derive(Clone)]
pub struct LogStore {
    store: Store,
    shard: ShardId,
    limits: LogReadLimits,
}

impl LogStore {
    pub fn new(store: Store, shard: ShardId, limits: LogReadLimits) -> LogStore {
        LogStore {
            store,
            shard,
            limits,
        }
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        kind: ShardMeta,
    ) -> Result<Option<T>, io::Error> {
        let meta = self.store.cf(keys::CF_META).map_err(io_err)?;
        match self
            .store
            .db
            .get_cf(&meta, keys::shard_meta(self.shard, kind))
            .map_err(|e| io_err(db_err(e)))?
        {
            None => Ok(None),
            Some(b) => codec::decode("shard meta", &b).map(Some).map_err(io_err),
        }
    }

    fn put_meta<T: serde::Serialize>(&self, kind: ShardMeta, value: &T) -> Result<(), io::Error> {
        let meta = self.store.cf(keys::CF_META).map_err(io_err)?;
        let bytes = codec::encode(value).map_err(io_err)?;
        self.store
            .db
            .put_cf(&meta, keys::shard_meta(self.shard, kind), bytes)
            .map_err(|e| io_err(db_err(e)))
    }

    /// Reads entries in `[start, end)`, stopping early at the configured bounds (at least one
    /// entry is returned when any exists). Asserts the log has no holes.
    fn read_range(&self, start: u64, end: u64, limited: bool) -> Result<Vec<Entry>, io::Error> {
        let cf = self.store.cf(keys::CF_LOG).map_err(io_err)?;
        let from = keys::log(self.shard, start);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for item in self
            .store
            .db
            .iterator_cf(&cf, IteratorMode::From(&from, Direction::Forward))
        {
            let (k, v) = item.map_err(|e| io_err(db_err(e)))?;
            let Some(index) = keys::log_index(self.shard, &k) else {
                break;
            };
            if index >= end {
                break;
            }
            let entry: Entry = codec::decode("log entry", &v).map_err(io_err)?;
            // Entries below `start` may be purged, so the first one found may begin later.
            let expected = out.last().map_or(index, |prev: &Entry| prev.index() + 1);
            if entry.index() != index || index != expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "shard {} log hole or mismatch: key {index}, entry {}, expected {expected}",
                        self.shard,
                        entry.index()
                    ),
                ));
            }
            bytes += v.len();
            out.push(entry);
            if limited && (out.len() >= self.limits.entries_max || bytes >= self.limits.bytes_max) {
                break;
            }
        }
        Ok(out)
    }
}

fn bounds<RB: RangeBounds<u64>>(range: &RB) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(x) => *x,
        Bound::Excluded(x) => x.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(x) => x.saturating_add(1),
        Bound::Excluded(x) => *x,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = bounds(&range);
        self.read_range(start, end, false)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_meta(ShardMeta::Vote)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        self.read_range(start, end, true)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let cf = self.store.cf(keys::CF_LOG).map_err(io_err)?;
        let (_, end) = keys::shard_range(self.shard);
        let mut it = self
            .store
            .db
            .iterator_cf(&cf, IteratorMode::From(&end, Direction::Reverse));
        let mut last = None;
        if let Some(item) = it.next() {
            let (k, v) = item.map_err(|e| io_err(db_err(e)))?;
            if keys::log_index(self.shard, &k).is_some() {
                let entry: Entry = codec::decode("log entry", &v).map_err(io_err)?;
                last = Some(entry.log_id());
            }
        }
        let last_purged: Option<LogId> = self.get_meta(ShardMeta::LastPurged)?;
        Ok(LogState {
            last_log_id: last.or(last_purged),
            last_purged_log_id: last_purged,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.put_meta(ShardMeta::Vote, vote)?;
        // Durable before returning: a vote forgotten by a crash could vote twice in one term.
        self.store.sync().await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.put_meta(ShardMeta::Committed, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self
            .get_meta::<Option<LogId>>(ShardMeta::Committed)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = self.store.cf(keys::CF_LOG).map_err(io_err)?;
        let mut batch = WriteBatch::default();
        for entry in entries {
            let bytes = codec::encode(&entry).map_err(io_err)?;
            batch.put_cf(&cf, keys::log(self.shard, entry.index()), bytes);
        }
        self.store.db.write(batch).map_err(|e| io_err(db_err(e)))?;
        // Acknowledged only after the WAL sync that covers this write.
        self.store
            .after_sync(Box::new(move |res| callback.io_completed(res)))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let cf = self.store.cf(keys::CF_LOG).map_err(io_err)?;
        let start = last_log_id.map_or(0, |l| l.index() + 1);
        let (_, end) = keys::shard_range(self.shard);
        self.store
            .db
            .delete_range_cf(cf, &keys::log(self.shard, start)[..], &end[..])
            .map_err(|e| io_err(db_err(e)))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        // Record the purge point first: entries at or below it are ignored from then on.
        self.put_meta(ShardMeta::LastPurged, &log_id)?;
        let cf = self.store.cf(keys::CF_LOG).map_err(io_err)?;
        let (start, _) = keys::shard_range(self.shard);
        self.store
            .db
            .delete_range_cf(
                cf,
                &start[..],
                &keys::log(self.shard, log_id.index() + 1)[..],
            )
            .map_err(|e| io_err(db_err(e)))
    }
}
