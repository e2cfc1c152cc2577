//! The key-value view that command code runs against.
//!
//! `storage` owns how a value is laid out on disk (`Record`); the meaning of each command lives in
//! `node::cmd`, which executes against these traits. Writes happen only inside the state machine's
//! apply (through [`KvWrite`]), reads through a [`ShardRead`] taken after the read's consistency
//! check. Unit tests of the command layer implement these traits in memory.

use crate::dedup::{DedupPolicy, RequestId, Seen};
use crate::StorageError;

/// What kind of value a key holds. Persisted as one byte: never renumber, only append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum Kind {
    String = 0,
}

impl Kind {
    /// The name Redis's `TYPE` command answers.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::String => "string",
        }
    }

    pub fn from_byte(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::String),
            _ => None,
        }
    }
}

/// One stored value. `expire_at_ms` is in log time (milliseconds since the Unix epoch as stamped
/// by the leader that proposed the write); a record whose `expire_at_ms <= now` is logically
/// absent even while it is still on disk awaiting reclamation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub expire_at_ms: Option<u64>,
    pub data: Vec<u8>,
}

impl Record {
    pub fn string(data: Vec<u8>) -> Record {
        Record {
            kind: Kind::String,
            expire_at_ms: None,
            data,
        }
    }

    /// True when the record is still visible at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_none_or(|at| at > now_ms)
    }
}

/// One page of a `SCAN`. `next_cursor == 0` means the iteration is complete.
#[derive(Debug, Clone, Default)]
pub struct ScanPage {
    pub next_cursor: u64,
    pub entries: Vec<(Vec<u8>, Record)>,
}

/// Point reads, shared by apply and the read path. Records are returned as stored, expired or not:
/// the caller decides with its own notion of now.
pub trait KvRead {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, StorageError>;
    /// Number of records stored in this shard, including expired ones not yet reclaimed (what
    /// Redis's `DBSIZE` counts). O(1).
    fn record_count(&self) -> Result<u64, StorageError>;
}

/// Writes, available only inside the state machine's apply. All writes of one apply batch land in
/// one RocksDB `WriteBatch` together with the applied log id; reads see earlier writes of the same
/// batch.
pub trait KvWrite: KvRead {
    /// Insert or replace. Maintains the expiry index and the record count.
    fn put(&mut self, key: &[u8], record: Record) -> Result<(), StorageError>;
    /// Remove; returns whether a record (live or expired) was there.
    fn delete(&mut self, key: &[u8]) -> Result<bool, StorageError>;
    /// Remove every record of this shard (`FLUSHDB`/`FLUSHALL`). The exactly-once table stays.
    fn clear(&mut self) -> Result<(), StorageError>;
    /// What the exactly-once table knows of request `id` (see `dedup.rs`).
    fn request_seen(&self, id: RequestId) -> Result<Seen, StorageError>;
    /// Records the reply of request `id`, applied now, in the same batch as its writes.
    fn request_done(
        &mut self,
        id: RequestId,
        reply: &[u8],
        policy: DedupPolicy,
    ) -> Result<(), StorageError>;
}

/// Range reads of one shard's committed state, for `SCAN`, `KEYS` and `RANDOMKEY`.
pub trait ShardRead: KvRead {
    /// Up to about `count` records starting at `cursor` (0 = the beginning), in a stable order
    /// (slot, then key hash), expired ones included. A full iteration from 0 until the returned
    /// cursor is 0 returns every record present for the whole iteration at least once.
    fn scan(&self, cursor: u64, count: usize) -> Result<ScanPage, StorageError>;
    /// The first record at or after a position derived from `seed` (wrapping around), or `None`
    /// when the shard is empty.
    fn record_at(&self, seed: u64) -> Result<Option<(Vec<u8>, Record)>, StorageError>;
    /// Keys whose expiry is at or before `now_ms`, oldest first, at most `limit`: candidates for
    /// the leader's reclaim proposal.
    fn expired(&self, now_ms: u64, limit: usize) -> Result<Vec<(Vec<u8>, u64)>, StorageError>;
}

/// The command semantics the state machine calls for each committed normal entry. Must be
/// deterministic: the result depends only on `cmd`, `log_time_ms` and the data.
pub trait Applier: Send + Sync + 'static {
    /// Executes one encoded command and returns the encoded reply. An `Err` is an I/O failure and
    /// stops the shard; a command-level failure (wrong type, bad value) is a reply.
    fn apply(
        &self,
        kv: &mut dyn KvWrite,
        log_time_ms: u64,
        cmd: &[u8],
    ) -> Result<Vec<u8>, StorageError>;
}
