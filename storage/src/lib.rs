//! tanli-storage: the only crate that names RocksDB.
//!
//! One RocksDB per node (`db.rs`) holds the Raft log and vote (`log_store.rs`), the applied state
//! and records (`state_machine.rs`) and snapshots (`snapshot.rs`) of every shard the node hosts,
//! each shard a range of keys (`keys.rs`, the whole layout). Command semantics are not here: the
//! state machine calls the node's [`Applier`] against the [`KvWrite`] view (`kv.rs`), and the
//! read path reads through a [`ShardReader`] (`reader.rs`). Collections (hashes, lists, sets,
//! sorted sets) are a metadata record plus one `sub` entry per element (`keys.rs`, `sub.rs`). Point reads of records go through an
//! in-memory copy of hot records (`cache.rs`) that every write of records keeps exact.
//!
//! Durability: a log append or vote is acknowledged only after the WAL is synced; one sync serves
//! every shard waiting at that moment.

mod cache;
mod codec;
mod db;
pub mod dedup;
pub mod keys;
pub mod kv;
mod log_store;
mod prefetch;
mod reader;
mod snapshot;
mod state_machine;
mod sub;
mod table;
pub mod types;

pub use cache::RecordCacheStats;
pub use codec::byte_strings;
pub use db::{db_options, Identity, OpenError, Store, StoreOptions, StoreSizes, StoreStats};
pub use kv::{
    Applier, CollMeta, Entries, Kind, KvRead, KvWrite, MemberRange, Record, ScanPage, ShardRead,
    Sub,
};
pub use log_store::{LogReadLimits, LogStore};
pub use reader::{scan_cursor_at_slot, scan_cursor_slot, ShardReader};
pub use snapshot::SnapshotBuilder;
pub use state_machine::{AppliedState, StateMachine};

/// A failure to read or write the node's storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Db(String),
    #[error("corrupt data in {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
