//! The node's one RocksDB: opening it, the directory lock, node identity, and the WAL flusher.
//!
//! Durability lives here: log appends and votes are written to RocksDB (readable at once) and
//! acknowledged only after the flusher has synced the WAL (`FlushWAL(sync=true)`). One sync serves
//! every append and vote waiting at that moment, from every shard on the node (group commit).
//! Data written by apply rides the same WAL; it is never acknowledged on its own, because the log
//! it is derived from is already durable. The WAL is flushed by hand (`manual_wal_flush`): records
//! reach the file only at a sync, so a sync costs one write(2) however many batches it covers.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, DB};

use crate::cache::{RecordCache, RecordCacheStats};
use crate::keys;
use crate::StorageError;

/// Version of the on-disk layout in `keys.rs`. A data directory with another version is refused.
const FORMAT_VERSION: u8 = 1;

/// Bounds and tuning of the node's store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Appends and votes waiting for a WAL sync before senders wait.
    pub flush_queue_max: usize,
    /// RocksDB block cache, shared by all shards.
    pub block_cache_bytes: usize,
    /// In-memory copy of recently written or read records, in front of RocksDB (`cache.rs`).
    pub record_cache_bytes: usize,
    /// Each memtable of the records column family (see `Store::open`).
    pub data_memtable_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            flush_queue_max: 65_536,
            block_cache_bytes: 192 << 20,
            record_cache_bytes: 128 << 20,
            data_memtable_bytes: 8 << 20,
        }
    }
}

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("data directory {0} is in use by another tanli-server process")]
    Locked(PathBuf),
    #[error("data directory {dir}: {source}")]
    Io { dir: PathBuf, source: io::Error },
    #[error("data directory {dir}: {detail}")]
    Db { dir: PathBuf, detail: String },
    #[error(
        "data directory {dir} has on-disk format {found}, this build reads format {FORMAT_VERSION}"
    )]
    Format { dir: PathBuf, found: u8 },
}

/// Who this node is. Lives on the volume: a node restarted elsewhere with the same data directory
/// keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub node_id: u64,
    pub cluster_id: String,
}

type FlushCallback = Box<dyn FnOnce(Result<(), io::Error>) + Send>;

/// Counters for INFO and metrics.
#[derive(Debug, Default)]
pub struct StoreStats {
    pub wal_syncs: AtomicU64,
    pub wal_sync_waiters: AtomicU64,
}

/// RocksDB's estimates of what the node's store holds ([`Store::sizes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreSizes {
    /// Bytes of live data (`rocksdb.estimate-live-data-size`).
    pub live_data_bytes: u64,
    /// Bytes of SST files on disk, obsolete ones included (`rocksdb.total-sst-files-size`).
    pub sst_files_bytes: u64,
    /// Bytes in memtables, not yet flushed to SST files (`rocksdb.cur-size-all-mem-tables`).
    pub memtable_bytes: u64,
    /// Keys, an estimate (`rocksdb.estimate-num-keys`): Raft log entries and records count too.
    pub estimated_keys: u64,
}

/// The WAL flusher thread. Dropped with the last `Store` handle: closing its queue ends the
/// thread, which is joined, so the database is closed before the process can exit (RocksDB
/// aborts if its background threads race with process teardown).
struct Flusher {
    tx: Option<mpsc::SyncSender<FlushCallback>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The node's store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Arc<DB>,
    /// Records of the data column family; every write of data records goes through it.
    pub(crate) records: Arc<RecordCache>,
    flush_tx: mpsc::SyncSender<FlushCallback>,
    _flusher: Arc<Flusher>,
    pub stats: Arc<StoreStats>,
    dir: PathBuf,
    _lock: Arc<File>,
}

/// The meta column family's memtable: see `Store::open`.
const META_MEMTABLE_BYTES: usize = 4 << 20;

impl Store {
    /// Opens (creating if empty) the store in `dir`. Fails, touching nothing, if another process
    /// holds the directory or its format is unknown.
    pub fn open(dir: &Path, opts: &StoreOptions) -> Result<Store, OpenError> {
        let io_err = |source| OpenError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("tanli.lock"))
            .map_err(io_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OpenError::Locked(dir.to_path_buf()))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let db_dir = dir.join("db");
        let (db_opts, cfs) = db_options(opts);
        let db = DB::open_cf_descriptors(&db_opts, &db_dir, cfs).map_err(|e| OpenError::Db {
            dir: dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        let db = Arc::new(db);
        let meta = db.cf_handle(keys::CF_META).ok_or_else(|| OpenError::Db {
            dir: dir.to_path_buf(),
            detail: "missing meta column family".into(),
        })?;
        let db_err = |e: rocksdb::Error| OpenError::Db {
            dir: dir.to_path_buf(),
            detail: e.to_string(),
        };
        match db.get_cf(meta, keys::NODE_FORMAT).map_err(db_err)? {
            Some(v) if v.as_slice() == [FORMAT_VERSION] => {}
            Some(v) => {
                return Err(OpenError::Format {
                    dir: dir.to_path_buf(),
                    found: v.first().copied().unwrap_or(0),
                })
            }
            None => db
                .put_cf(meta, keys::NODE_FORMAT, [FORMAT_VERSION])
                .map_err(db_err)?,
        }
        let stats = Arc::new(StoreStats::default());
        let (flush_tx, flush_rx) = mpsc::sync_channel(opts.flush_queue_max);
        let flusher_db = db.clone();
        let flusher_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("tanli-wal-sync".into())
            .spawn(move || run_flusher(flusher_db, flush_rx, flusher_stats))
            .map_err(io_err)?;
        Ok(Store {
            db,
            records: Arc::new(RecordCache::new(opts.record_cache_bytes)),
            flush_tx: flush_tx.clone(),
            _flusher: Arc::new(Flusher {
                tx: Some(flush_tx),
                thread: Some(thread),
            }),
            stats,
            dir: dir.to_path_buf(),
            _lock: Arc::new(lock),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// RocksDB's estimates for the user data column family, over every shard this node holds:
    /// (keys, bytes: live data in SST files plus memtables not yet flushed). Cheap (in-memory
    /// properties); 0 where RocksDB has no estimate. The key estimate counts each shard's few
    /// bookkeeping records too.
    pub fn estimates(&self) -> (u64, u64) {
        let Ok(cf) = self.cf(keys::CF_DATA) else {
            return (0, 0);
        };
        let prop = |name: &str| {
            self.db
                .property_int_value_cf(cf, name)
                .ok()
                .flatten()
                .unwrap_or(0)
        };
        (
            prop("rocksdb.estimate-num-keys"),
            prop("rocksdb.estimate-live-data-size") + prop("rocksdb.cur-size-all-mem-tables"),
        )
    }

    /// The record cache's hits, misses and size, for INFO.
    pub fn record_cache_stats(&self) -> RecordCacheStats {
        self.records.stats()
    }

    /// RocksDB's size figures summed over every column family (log, data, expiry, meta) of
    /// every shard this node holds, for metrics. Cheap: in-memory properties, no I/O; a
    /// property RocksDB cannot give counts as 0.
    pub fn sizes(&self) -> StoreSizes {
        let mut sizes = StoreSizes::default();
        for name in keys::ALL_CFS {
            let Ok(cf) = self.cf(name) else { continue };
            let prop = |p: &str| {
                self.db
                    .property_int_value_cf(cf, p)
                    .ok()
                    .flatten()
                    .unwrap_or(0)
            };
            sizes.live_data_bytes += prop("rocksdb.estimate-live-data-size");
            sizes.sst_files_bytes += prop("rocksdb.total-sst-files-size");
            sizes.memtable_bytes += prop("rocksdb.cur-size-all-mem-tables");
            sizes.estimated_keys += prop("rocksdb.estimate-num-keys");
        }
        sizes
    }

    pub(crate) fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StorageError::Db(format!("missing column family {name}")))
    }

    /// The identity recorded in this directory, if any.
    pub fn identity(&self) -> Result<Option<Identity>, StorageError> {
        let meta = self.cf(keys::CF_META)?;
        let id = self.db.get_cf(&meta, keys::NODE_ID).map_err(db_err)?;
        let cluster = self.db.get_cf(&meta, keys::NODE_CLUSTER).map_err(db_err)?;
        match (id, cluster) {
            (None, None) => Ok(None),
            (Some(id), Some(cluster)) => {
                let node_id = u64::from_be_bytes(id.as_slice().try_into().map_err(|_| {
                    StorageError::Corrupt {
                        what: "node id",
                        detail: format!("{} bytes", id.len()),
                    }
                })?);
                let cluster_id = String::from_utf8(cluster).map_err(|e| StorageError::Corrupt {
                    what: "cluster id",
                    detail: e.to_string(),
                })?;
                Ok(Some(Identity {
                    node_id,
                    cluster_id,
                }))
            }
            _ => Err(StorageError::Corrupt {
                what: "identity",
                detail: "node id and cluster id must be recorded together".into(),
            }),
        }
    }

    /// Records the identity, durably, in one batch.
    pub fn set_identity(&self, identity: &Identity) -> Result<(), StorageError> {
        let meta = self.cf(keys::CF_META)?;
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(&meta, keys::NODE_ID, identity.node_id.to_be_bytes());
        batch.put_cf(&meta, keys::NODE_CLUSTER, identity.cluster_id.as_bytes());
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).map_err(db_err)
    }

    /// The Raft peer id recorded for this node's replica of `shard`, if the shard is hosted.
    pub fn replica_peer(&self, shard: u64) -> Result<Option<u64>, StorageError> {
        let meta = self.cf(keys::CF_META)?;
        match self
            .db
            .get_cf(&meta, keys::shard_meta(shard, keys::ShardMeta::Peer))
            .map_err(db_err)?
        {
            None => Ok(None),
            Some(b) => crate::codec::decode("replica peer", &b).map(Some),
        }
    }

    /// Records, durably, that this node hosts `shard` as Raft peer `peer`.
    pub fn set_replica_peer(&self, shard: u64, peer: u64) -> Result<(), StorageError> {
        let meta = self.cf(keys::CF_META)?;
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_cf_opt(
                &meta,
                keys::shard_meta(shard, keys::ShardMeta::Peer),
                crate::codec::encode(&peer)?,
                &wo,
            )
            .map_err(db_err)
    }

    /// Deletes everything this node holds of `shard` (log, vote, applied state, records,
    /// collection elements, expiry index, peer record, snapshot image) in one synced batch. Only for a replica that is no
    /// longer a member of its group, and whose Raft is stopped.
    pub fn drop_replica(&self, shard: u64) -> Result<(), StorageError> {
        let mut batch = rocksdb::WriteBatch::default();
        let (start, end) = keys::shard_meta_range(shard);
        batch.delete_range_cf(self.cf(keys::CF_META)?, &start[..], &end[..]);
        let (start, end) = keys::shard_range(shard);
        for cf in [keys::CF_LOG, keys::CF_DATA, keys::CF_EXPIRY, keys::CF_SUB] {
            batch.delete_range_cf(self.cf(cf)?, &start[..], &end[..]);
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.records
            .write(|| self.db.write_opt(batch, &wo), [], true)
            .map_err(db_err)?;
        match std::fs::remove_file(crate::snapshot::path(self, shard)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StorageError::Io(e)),
            _ => Ok(()),
        }
    }

    /// Queues `callback` to run after the next WAL sync, which covers everything written before
    /// this call.
    pub(crate) fn after_sync(&self, callback: FlushCallback) -> Result<(), io::Error> {
        self.flush_tx
            .send(callback)
            .map_err(|_| io::Error::other("the WAL flusher has stopped"))
    }

    /// Waits until everything written so far is synced to disk.
    pub(crate) async fn sync(&self) -> Result<(), io::Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.after_sync(Box::new(move |res| {
            let _ = tx.send(res);
        }))?;
        rx.await
            .map_err(|_| io::Error::other("the WAL flusher has stopped"))?
    }
}

fn run_flusher(db: Arc<DB>, rx: mpsc::Receiver<FlushCallback>, stats: Arc<StoreStats>) {
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let res = db.flush_wal(true).map_err(|e| e.to_string());
        stats.wal_syncs.fetch_add(1, Ordering::Relaxed);
        stats
            .wal_sync_waiters
            .fetch_add(waiting.len() as u64, Ordering::Relaxed);
        if let Err(e) = &res {
            tracing::error!(error = %e, "WAL sync failed; nothing waiting on it is acknowledged");
        }
        for cb in waiting {
            cb(res.clone().map_err(io::Error::other));
        }
    }
}

/// The RocksDB options of a node's store: the DB's, and each column family's (`keys::ALL_CFS`).
/// Public so that the storage floor benchmark (`examples/write_floor.rs`) measures RocksDB as
/// the node configures it.
pub fn db_options(opts: &StoreOptions) -> (Options, Vec<ColumnFamilyDescriptor>) {
    let mut db_opts = Options::default();
    db_opts.create_if_missing(true);
    db_opts.create_missing_column_families(true);
    // A torn tail record after a crash is dropped; everything before it is kept. Nothing in a
    // torn record was acknowledged, because acknowledgement waits for the sync.
    db_opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::PointInTime);
    db_opts.increase_parallelism(2);
    // WAL records wait in RocksDB's buffer until the flusher's `FlushWAL(sync)` writes and
    // syncs them together: one write(2) per sync instead of one per write batch. Nothing is
    // acknowledged before that sync either way; a crash loses only unacknowledged appends and
    // applies the log still holds. A sync write (`set_sync`) writes the buffer out first.
    db_opts.set_manual_wal_flush(true);
    let cache = rocksdb::Cache::new_lru_cache(opts.block_cache_bytes);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_block_cache(&cache);
    table.set_bloom_filter(10.0, false);
    let cfs = keys::ALL_CFS.iter().map(|name| {
        let mut o = Options::default();
        o.set_block_based_table_factory(&table);
        if *name != keys::CF_LOG {
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
        }
        if *name == keys::CF_META {
            // Apply rewrites the applied-state key on every group and the log its commit
            // point: a small memtable keeps that skiplist of versions of a few keys in cache.
            o.set_write_buffer_size(META_MEMTABLE_BYTES);
        }
        if *name == keys::CF_DATA {
            // A bloom filter over the memtable's whole keys: a write to a new key (SET, INCR,
            // MSET) looks its old record up first, and a miss otherwise walks the skiplist.
            o.set_memtable_prefix_bloom_ratio(0.05);
            o.set_memtable_whole_key_filtering(true);
            // Every write of a record inserts into the memtable by a skiplist walk, one cache
            // miss per level: with RocksDB's default 64 MiB, 9% of the machine's CPU under
            // SET load (3 nodes, 2 cores) went to that walk; with 8 MiB, 4.8%, and SET gained
            // 10-25% (issue 7's note). More, smaller flushes are the price.
            o.set_write_buffer_size(opts.data_memtable_bytes);
        }
        ColumnFamilyDescriptor::new(*name, o)
    });
    (db_opts, cfs.collect())
}

pub(crate) fn db_err(e: rocksdb::Error) -> StorageError {
    StorageError::Db(e.to_string())
}

pub(crate) fn io_err(e: StorageError) -> io::Error {
    match e {
        StorageError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_what_was_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
        let id = Identity {
            node_id: 7,
            cluster_id: "c".into(),
        };
        store.set_identity(&id).expect("identity");
        let sizes = store.sizes();
        // The format marker and the identity, still in the memtable: no SST file yet.
        assert!(sizes.estimated_keys >= 2, "{sizes:?}");
        assert!(sizes.memtable_bytes > 0, "{sizes:?}");
        assert_eq!(sizes.sst_files_bytes, 0, "{sizes:?}");
    }
}
