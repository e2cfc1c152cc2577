//! The key-value view that command code runs against.
//!
//! `storage` owns how a value is laid out on disk (`Record`); the meaning of each command lives in
//! `node::cmd`, which executes against these traits. Writes happen only inside the state machine's
//! apply (through [`KvWrite`]), reads through a [`ShardRead`] taken after the read's consistency
//! check. Unit tests of the command layer implement these traits in memory.

use std::ops::Bound;

use crate::dedup::{DedupPolicy, RequestId, Seen};
use crate::StorageError;

/// What kind of value a key holds. Persisted as one byte: never renumber, only append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum Kind {
    String = 0,
    Hash = 1,
    List = 2,
    Set = 3,
    ZSet = 4,
}

impl Kind {
    /// The name Redis's `TYPE` command answers.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
        }
    }

    pub fn from_byte(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::String),
            1 => Some(Kind::Hash),
            2 => Some(Kind::List),
            3 => Some(Kind::Set),
            4 => Some(Kind::ZSet),
            _ => None,
        }
    }
}

/// One stored value: a string, or the metadata record of a collection (its [`CollMeta`] in
/// `data`; the elements are sub-entries, see [`Sub`]). `expire_at_ms` is in log time
/// (milliseconds since the Unix epoch as stamped by the leader that proposed the write); a record
/// whose `expire_at_ms <= now` is logically absent even while it is still on disk awaiting
/// reclamation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub expire_at_ms: Option<u64>,
    pub data: Vec<u8>,
    /// The log index of the write that last stored this record (0: written before stamps
    /// existed). Set by the state machine on every `put`, whatever the caller passed: `WATCH`
    /// compares it to see whether a key changed.
    pub stamp: u64,
}

impl Record {
    pub fn string(data: Vec<u8>) -> Record {
        Record {
            kind: Kind::String,
            expire_at_ms: None,
            data,
            stamp: 0,
        }
    }

    /// The metadata record of a collection of `kind` (not `Kind::String`), without expiry.
    pub fn collection(kind: Kind, meta: &CollMeta) -> Record {
        Record {
            kind,
            expire_at_ms: None,
            data: meta.encode(),
            stamp: 0,
        }
    }

    /// The metadata of a collection record; `None` for a string or a malformed one.
    pub fn coll_meta(&self) -> Option<CollMeta> {
        if self.kind == Kind::String {
            return None;
        }
        CollMeta::decode(&self.data)
    }

    /// True when the record is still visible at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_none_or(|at| at > now_ms)
    }
}

/// What a collection's metadata record holds: its instance version, its number of elements, for
/// a list the index of its first element, and whether it has outgrown Redis's compact encoding.
/// Persisted as `version:u64 len:u64 head:u64`, all big-endian, then one flags byte (bit 0:
/// `big`) only when a flag is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollMeta {
    /// Names this instance's sub-entries. A new collection gets a version no earlier instance in
    /// the shard had ([`KvWrite::new_version`]), so a deleted one's leftovers are never seen.
    pub version: u64,
    /// Elements (fields, members, list items).
    pub len: u64,
    /// Lists: the index of the first element; elements sit at `head..head + len`.
    pub head: u64,
    /// The collection once held more or bigger elements than Redis keeps in its compact
    /// encoding (listpack, intset). Redis never converts back, so neither does `OBJECT ENCODING`.
    pub big: bool,
}

impl CollMeta {
    /// Where a new list's first element goes: the middle of the index space, so it can grow
    /// 2^63 elements either way.
    pub const LIST_START: u64 = 1 << 63;

    pub fn new(version: u64) -> CollMeta {
        CollMeta {
            version,
            len: 0,
            head: CollMeta::LIST_START,
            big: false,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(25);
        for v in [self.version, self.len, self.head] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if self.big {
            out.push(META_BIG);
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<CollMeta> {
        let flags = match b.len() {
            24 => 0,
            25 if b[24] & !META_BIG == 0 => b[24],
            _ => return None,
        };
        let at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        Some(CollMeta {
            version: at(0),
            len: at(8),
            head: at(16),
            big: flags & META_BIG != 0,
        })
    }
}

/// `CollMeta` flag bit: `big`.
const META_BIG: u8 = 1;

/// One space of sub-entries of one collection instance: `tag` separates a sorted set's
/// member-to-score entries from its score index; hashes, lists and sets use one tag. Members are
/// ordered bytewise within a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sub<'a> {
    pub key: &'a [u8],
    pub version: u64,
    pub tag: u8,
}

/// `(member, value)` entries of a [`Sub`] space, in the order read.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A range of members in a [`Sub`] space.
pub type MemberRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

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

    /// The value of `member` in `sub`.
    fn sub_get(&self, sub: Sub<'_>, member: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let _ = (sub, member);
        Err(no_sub_entries())
    }

    /// Up to `limit` `(member, value)` entries of `sub` with members in `range`, in member
    /// order (`reverse`: descending).
    fn sub_range(
        &self,
        sub: Sub<'_>,
        range: MemberRange<'_>,
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let _ = (sub, range, reverse, limit);
        Err(no_sub_entries())
    }
}

fn no_sub_entries() -> StorageError {
    StorageError::Db("this view reads no collection elements".into())
}

/// Writes, available only inside the state machine's apply. All writes of one apply batch land in
/// one RocksDB `WriteBatch` together with the applied log id; reads see earlier writes of the same
/// batch.
pub trait KvWrite: KvRead {
    /// Insert or replace. Maintains the expiry index and the record count.
    fn put(&mut self, key: &[u8], record: Record) -> Result<(), StorageError>;
    /// Remove; returns whether a record (live or expired) was there.
    ///
    /// Both `put` and `delete` drop the sub-entries of the collection a key held when the key
    /// stops naming that instance (deleted, or replaced by a record of another kind or version):
    /// a few entries are deleted one by one, a big collection with one range deletion that
    /// compaction reclaims in the background, so deleting or expiring a key is cheap whatever
    /// its size.
    fn delete(&mut self, key: &[u8]) -> Result<bool, StorageError>;
    /// Removes `key`'s record but keeps its collection's elements, for a record moved to another
    /// key of the same slot with the same version (`RENAME`): O(1) whatever the size.
    fn detach(&mut self, key: &[u8]) -> Result<bool, StorageError>;
    /// Sets `member` of `sub` to `value`.
    fn sub_put(&mut self, sub: Sub<'_>, member: &[u8], value: &[u8]) -> Result<(), StorageError>;
    /// Removes `member` of `sub` (absent: nothing happens).
    fn sub_delete(&mut self, sub: Sub<'_>, member: &[u8]) -> Result<(), StorageError>;
    /// Removes every member of `sub` in `range` with one range deletion: for long runs (a
    /// `ZREMRANGEBYRANK` or a big pop), where one range tombstone replaces many point ones. Not
    /// for single elements: RocksDB re-fragments every in-memory range deletion on each new one,
    /// so one per pop costs more than the point deletes it replaces (measured: draining a sorted
    /// set one pop at a time got 30 times slower).
    fn sub_delete_range(
        &mut self,
        sub: Sub<'_>,
        range: MemberRange<'_>,
    ) -> Result<(), StorageError>;
    /// A collection version no instance in this shard has had. Deterministic: derived from the
    /// log index of the entry being applied.
    fn new_version(&mut self) -> u64;
    /// Hints that the records of `keys` are about to be read, so that their lookups' cache
    /// misses overlap (a batch of writes names them before it runs). Changes nothing.
    fn prefetch(&self, keys: &[&[u8]]) {
        let _ = keys;
    }
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
