//! The whole on-disk key layout of a node's RocksDB.
//!
//! Five column families, every key big-endian so byte order is numeric order:
//!
//! | CF       | key                                                   | value                     |
//! |----------|-------------------------------------------------------|---------------------------|
//! | `meta`   | `"node/id"`, `"node/cluster"`, `"node/format"`         | node identity (the volume)|
//! | `meta`   | `0x10 shard:u64 kind:u8` (vote, committed, purged, applied, peer) | versioned postcard |
//! | `log`    | `shard:u64 index:u64`                                 | versioned postcard entry  |
//! | `data`   | `shard:u64 slot:u16 hash:u64 user_key`                | record (`codec.rs`)       |
//! | `expiry` | `shard:u64 expire_at_ms:u64 slot:u16 hash:u64 user_key`| empty                    |
//! | `sub`    | `shard:u64 slot:u16 version:u64 tag:u8 member`         | element value (raw bytes) |
//!
//! A key's record in `data` is its string value or, for a hash, list, set or sorted set, its
//! metadata (`kv::CollMeta`: version, length, list head). The elements are `sub` entries named by
//! the instance's version, which the shard never reuses (log index << 20 | a counter within the
//! entry), so they need not repeat the user key, and a deleted or overwritten collection's
//! leftovers could never be mistaken for a new instance's. Per kind:
//!
//! | kind   | tag | member                                   | value          |
//! |--------|-----|------------------------------------------|----------------|
//! | hash   | 0   | field                                    | field value    |
//! | hash   | 1   | field hash (8 bytes, `key_hash`) + field | empty (hash order: `node::cmd::hashorder`) |
//! | set    | 0   | member                                   | empty          |
//! | set    | 1   | member hash (8 bytes, `key_hash`) + member | empty (hash order: `node::cmd::hashorder`) |
//! | list   | 0   | index:u64 BE (head..head+len, start 2^63) | element        |
//! | zset   | 0   | member                                   | score (8 bytes, see `node::cmd::zset`) |
//! | zset   | 1   | sortable score (8 bytes) + member        | empty          |
//! | zset   | 2   | member hash (8 bytes, `key_hash`) + member | empty (ZSCAN's order)  |
//!
//! An instance's entries are one range (`sub_instance_range`); deleting a big collection is one
//! range deletion, its entries reclaimed by compaction in the background. A slot's entries are
//! one range too, so a slot is still contiguous in every column family.
//!
//! Why this order: a shard's log is one contiguous range (purge and truncate are one
//! `delete_range`); a shard's data is one range (snapshot build/install, drop a replica), and
//! within it a slot's data is one range (slot moves). Inside a slot, keys are ordered by a stable
//! 64-bit hash so a `SCAN` cursor (slot + hash prefix) fits the u64 Redis clients expect. The
//! expiry index is ordered by time so reclaiming finds expired keys with one seek.
//! (DESIGN.md puts the slot first; the shard id leads here so one replica's data is one range.)

use crate::types::ShardId;

pub const CF_META: &str = "meta";
pub const CF_LOG: &str = "log";
pub const CF_DATA: &str = "data";
pub const CF_EXPIRY: &str = "expiry";
pub const CF_SUB: &str = "sub";
pub const ALL_CFS: [&str; 5] = [CF_META, CF_LOG, CF_DATA, CF_EXPIRY, CF_SUB];

pub const NODE_ID: &[u8] = b"node/id";
pub const NODE_CLUSTER: &[u8] = b"node/cluster";
pub const NODE_FORMAT: &[u8] = b"node/format";

pub(crate) const SHARD_META: u8 = 0x10;

/// Per-shard metadata records in the `meta` CF.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub enum ShardMeta {
    Vote = 1,
    Committed = 2,
    LastPurged = 3,
    Applied = 4,
    /// The Raft peer id this node's replica of the shard has (postcard u64, versioned).
    Peer = 5,
    // 6, 7 and 8 are the exactly-once table's replies, client heads and sweep cursor: see
    // `dedup.rs`.
}

pub fn shard_meta(shard: ShardId, kind: ShardMeta) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = SHARD_META;
    k[1..9].copy_from_slice(&shard.to_be_bytes());
    k[9] = kind as u8;
    k
}

pub fn log(shard: ShardId, index: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&shard.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

/// Decodes the index of a `log` key, checking it belongs to `shard`.
pub fn log_index(shard: ShardId, key: &[u8]) -> Option<u64> {
    if key.len() != 16 || key[..8] != shard.to_be_bytes() {
        return None;
    }
    Some(u64::from_be_bytes(key[8..].try_into().ok()?))
}

/// The stable hash that orders keys inside a slot. Persisted in keys: never change it.
pub fn key_hash(user_key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(user_key)
}

pub fn data(shard: ShardId, user_key: &[u8]) -> Vec<u8> {
    let slot = tanli_router::slot_of(user_key);
    let mut k = Vec::with_capacity(18 + user_key.len());
    k.extend_from_slice(&shard.to_be_bytes());
    k.extend_from_slice(&slot.to_be_bytes());
    k.extend_from_slice(&key_hash(user_key).to_be_bytes());
    k.extend_from_slice(user_key);
    k
}

/// The user key inside a `data` key of `shard`.
pub fn data_user_key(shard: ShardId, key: &[u8]) -> Option<&[u8]> {
    if key.len() < 18 || key[..8] != shard.to_be_bytes() {
        return None;
    }
    Some(&key[18..])
}

/// The position of a `data` key: (slot, hash).
pub fn data_position(key: &[u8]) -> Option<(u16, u64)> {
    if key.len() < 18 {
        return None;
    }
    let slot = u16::from_be_bytes([key[8], key[9]]);
    let hash = u64::from_be_bytes(key[10..18].try_into().ok()?);
    Some((slot, hash))
}

/// The first `data` key at or after (slot, hash).
pub fn data_seek(shard: ShardId, slot: u16, hash: u64) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[..8].copy_from_slice(&shard.to_be_bytes());
    k[8..10].copy_from_slice(&slot.to_be_bytes());
    k[10..18].copy_from_slice(&hash.to_be_bytes());
    k
}

/// `[slot, slot+1)` inside `shard`'s `data` range: every key of one slot (`slot < 16384`, so
/// `slot + 1` never overflows).
pub fn slot_range(shard: ShardId, slot: u16) -> ([u8; 10], [u8; 10]) {
    let bound = |s: u16| {
        let mut k = [0u8; 10];
        k[..8].copy_from_slice(&shard.to_be_bytes());
        k[8..].copy_from_slice(&s.to_be_bytes());
        k
    };
    (bound(slot), bound(slot.saturating_add(1)))
}

pub fn expiry(shard: ShardId, expire_at_ms: u64, user_key: &[u8]) -> Vec<u8> {
    let d = data(shard, user_key);
    let mut k = Vec::with_capacity(d.len() + 8);
    k.extend_from_slice(&shard.to_be_bytes());
    k.extend_from_slice(&expire_at_ms.to_be_bytes());
    k.extend_from_slice(&d[8..]);
    k
}

/// (expire_at_ms, user_key) of an `expiry` key of `shard`.
pub fn expiry_parts(shard: ShardId, key: &[u8]) -> Option<(u64, &[u8])> {
    if key.len() < 26 || key[..8] != shard.to_be_bytes() {
        return None;
    }
    let at = u64::from_be_bytes(key[8..16].try_into().ok()?);
    Some((at, &key[26..]))
}

/// Bytes of a `sub` key before the member: shard, slot, version, tag.
pub const SUB_PREFIX_LEN: usize = 19;

/// The start of space `tag` of instance `version` of `user_key`: its members follow.
pub fn sub_prefix(shard: ShardId, user_key: &[u8], version: u64, tag: u8) -> [u8; SUB_PREFIX_LEN] {
    let slot = tanli_router::slot_of(user_key);
    let mut k = [0u8; SUB_PREFIX_LEN];
    k[..8].copy_from_slice(&shard.to_be_bytes());
    k[8..10].copy_from_slice(&slot.to_be_bytes());
    k[10..18].copy_from_slice(&version.to_be_bytes());
    k[18] = tag;
    k
}

pub fn sub(shard: ShardId, user_key: &[u8], version: u64, tag: u8, member: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(SUB_PREFIX_LEN + member.len());
    k.extend_from_slice(&sub_prefix(shard, user_key, version, tag));
    k.extend_from_slice(member);
    k
}

/// `[version, version+1)` of `user_key`'s slot: every sub entry of one collection instance, all
/// tags. Versions are below `u64::MAX` (a log index shifted by 20 bits), so `+ 1` never wraps.
pub fn sub_instance_range(shard: ShardId, user_key: &[u8], version: u64) -> (Vec<u8>, Vec<u8>) {
    let start = sub_prefix(shard, user_key, version, 0)[..18].to_vec();
    let end = sub_prefix(shard, user_key, version.saturating_add(1), 0)[..18].to_vec();
    (start, end)
}

/// `[0x10 shard, 0x10 shard+1)`: every per-shard record of one shard in the `meta` CF.
pub fn shard_meta_range(shard: ShardId) -> ([u8; 9], Vec<u8>) {
    let mut start = [0u8; 9];
    start[0] = SHARD_META;
    start[1..].copy_from_slice(&shard.to_be_bytes());
    let end = match shard.checked_add(1) {
        Some(next) => {
            let mut e = vec![SHARD_META];
            e.extend_from_slice(&next.to_be_bytes());
            e
        }
        None => vec![SHARD_META + 1],
    };
    (start, end)
}

/// `[shard, shard+1)`: every key of one shard in the `log`, `data`, `expiry` and `sub` CFs.
pub fn shard_range(shard: ShardId) -> ([u8; 8], Vec<u8>) {
    let start = shard.to_be_bytes();
    let end = match shard.checked_add(1) {
        Some(next) => next.to_be_bytes().to_vec(),
        None => vec![0xff; 9],
    };
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip_and_order() {
        assert_eq!(log_index(7, &log(7, 42)), Some(42));
        assert_eq!(log_index(8, &log(7, 42)), None);
        assert!(log(7, 1) < log(7, 256));
        assert!(log(7, u64::MAX) < log(8, 0));
        let d = data(3, b"user:1");
        assert_eq!(data_user_key(3, &d), Some(&b"user:1"[..]));
        let (slot, hash) = data_position(&d).expect("position");
        assert_eq!(slot, tanli_router::slot_of(b"user:1"));
        assert_eq!(hash, key_hash(b"user:1"));
        assert!(data_seek(3, slot, hash).as_slice() <= d.as_slice());
        let e = expiry(3, 1000, b"user:1");
        assert_eq!(expiry_parts(3, &e), Some((1000, &b"user:1"[..])));
        assert!(expiry(3, 999, b"zzz") < expiry(3, 1000, b"aaa"));
        let (s, e) = shard_range(3);
        assert!(d.as_slice() >= s.as_slice() && d.as_slice() < e.as_slice());
        let (s, e) = slot_range(3, slot);
        assert!(d.as_slice() >= s.as_slice() && d.as_slice() < e.as_slice());
        assert_eq!(slot_range(3, 5).1, slot_range(3, 6).0);
        assert!(slot_range(3, 16383).1.as_slice() < shard_range(3).1.as_slice());
        // Sub entries: one instance is one range, inside its slot and shard.
        let m = sub(3, b"user:1", 9, 1, b"member");
        assert_eq!(&m[..SUB_PREFIX_LEN], &sub_prefix(3, b"user:1", 9, 1)[..]);
        let (s, e) = sub_instance_range(3, b"user:1", 9);
        assert!(m.as_slice() >= s.as_slice() && m.as_slice() < e.as_slice());
        assert!(sub(3, b"user:1", 10, 0, b"").as_slice() >= e.as_slice());
        let (s, e) = slot_range(3, slot);
        assert!(m.as_slice() >= s.as_slice() && m.as_slice() < e.as_slice());
    }
}
