//! Exactly-once writes: the reply of every write sent with a request id (client id + sequence
//! number), recorded in the same batch as the write, so a retried request returns the recorded
//! reply and changes nothing.
//!
//! Layout (in the `meta` CF, under the shard's per-shard prefix, so dropping a replica drops it):
//!
//! | key                                   | value                                  |
//! |---------------------------------------|----------------------------------------|
//! | `0x10 shard 0x06 client:u64 seq:u64`  | the encoded reply (versioned postcard)  |
//! | `0x10 shard 0x07 client:u64`          | [`ClientHead`]: highest seq, floor, last log time |
//! | `0x10 shard 0x08`                     | sweep cursor: the last client id swept  |
//!
//! Bounds, both fixed by the proposal so every replica applies the same ones ([`DedupPolicy`]):
//! a client keeps at most `per_client_max` replies (older ones are dropped and their sequence
//! numbers answered "too old", never applied again), and a client idle for longer than
//! `window_ms` of log time is forgotten entirely, found by a sweep that visits a few clients per
//! recorded reply. A client must therefore not retry a request older than the window; the
//! `tanli-client` crate's retry budget is far shorter.
//!
//! Apply groups differ between replicas, so every read here sees the writes of the current group
//! exactly as if each entry had been applied alone: see [`MetaRw`].

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::keys::SHARD_META;
use crate::types::ShardId;
use crate::StorageError;

const ENTRY: u8 = 0x06;
const HEAD: u8 = 0x07;
const CURSOR: u8 = 0x08;
/// Clients the sweep looks at per recorded reply.
const SWEEP_PER_REPLY: usize = 4;
/// Dropped replies deleted one by one; a bigger jump of the floor is one range delete.
const POINT_DELETES_MAX: u64 = 64;

/// Who sent a write: a client id leased from the cluster and that client's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId {
    pub client: u64,
    pub seq: u64,
}

/// How long and how much is remembered. Carried in each proposal by the leader that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupPolicy {
    /// A client idle this long (log time) is forgotten.
    pub window_ms: u64,
    /// Replies kept per client.
    pub per_client_max: u64,
}

/// What the table knows of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Never applied: apply it and record the reply.
    Fresh,
    /// Applied before: here is its reply.
    Replied(Vec<u8>),
    /// Its reply was dropped (past the per-client bound): it may or may not have been applied,
    /// and must not be applied now.
    TooOld,
}

/// Per-client state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientHead {
    /// The highest sequence number recorded.
    pub max_seq: u64,
    /// Replies at or below this sequence number were dropped.
    pub floor: u64,
    /// Log time of the client's latest recorded reply.
    pub last_ms: u64,
}

/// The `meta` CF as the current apply group leaves it. Implementations must make reads see this
/// group's earlier writes and deletes, so the outcome never depends on how entries were grouped.
pub trait MetaRw {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
    fn delete(&mut self, key: Vec<u8>);
    /// Deletes every reply of `client` with `seq < below` (all of them for `u64::MAX`).
    fn delete_entries(&mut self, shard: ShardId, client: u64, below: u64);
    /// Up to `limit` client heads with ids greater than `after`, in id order: `(client, head)`.
    fn heads_after(
        &self,
        shard: ShardId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StorageError>;
}

fn prefix(shard: ShardId, kind: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(26);
    k.push(SHARD_META);
    k.extend_from_slice(&shard.to_be_bytes());
    k.push(kind);
    k
}

pub fn entry_key(shard: ShardId, client: u64, seq: u64) -> Vec<u8> {
    let mut k = prefix(shard, ENTRY);
    k.extend_from_slice(&client.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub fn head_key(shard: ShardId, client: u64) -> Vec<u8> {
    let mut k = prefix(shard, HEAD);
    k.extend_from_slice(&client.to_be_bytes());
    k
}

/// `[start, end)` of every head of `shard`.
pub fn head_range(shard: ShardId) -> (Vec<u8>, Vec<u8>) {
    (prefix(shard, HEAD), prefix(shard, HEAD + 1))
}

/// `[start, end)` of every reply of `shard`.
pub fn entry_range(shard: ShardId) -> (Vec<u8>, Vec<u8>) {
    (prefix(shard, ENTRY), prefix(shard, ENTRY + 1))
}

/// The client and sequence number of a reply key of `shard`.
pub fn entry_parts(shard: ShardId, key: &[u8]) -> Option<(u64, u64)> {
    let p = prefix(shard, ENTRY);
    let rest = key.strip_prefix(p.as_slice())?;
    if rest.len() != 16 {
        return None;
    }
    Some((
        u64::from_be_bytes(rest[..8].try_into().ok()?),
        u64::from_be_bytes(rest[8..].try_into().ok()?),
    ))
}

/// The client id of a head key.
pub fn head_client(shard: ShardId, key: &[u8]) -> Option<u64> {
    let p = prefix(shard, HEAD);
    let rest = key.strip_prefix(p.as_slice())?;
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

fn cursor_key(shard: ShardId) -> Vec<u8> {
    prefix(shard, CURSOR)
}

fn head(
    meta: &dyn MetaRw,
    shard: ShardId,
    client: u64,
) -> Result<Option<ClientHead>, StorageError> {
    meta.get(&head_key(shard, client))?
        .map(|b| codec::decode("dedup client head", &b))
        .transpose()
}

/// What the table knows of `id`.
pub fn lookup(meta: &dyn MetaRw, shard: ShardId, id: RequestId) -> Result<Seen, StorageError> {
    let Some(h) = head(meta, shard, id.client)? else {
        return Ok(Seen::Fresh);
    };
    if id.seq <= h.floor {
        return Ok(Seen::TooOld);
    }
    match meta.get(&entry_key(shard, id.client, id.seq))? {
        Some(b) => Ok(Seen::Replied(codec::decode("dedup reply", &b)?)),
        None => Ok(Seen::Fresh),
    }
}

/// Records `reply` for `id` at log time `now_ms`, drops the client's replies past the bound, and
/// sweeps a few idle clients.
pub fn record(
    meta: &mut dyn MetaRw,
    shard: ShardId,
    id: RequestId,
    reply: &[u8],
    now_ms: u64,
    policy: DedupPolicy,
) -> Result<(), StorageError> {
    let keep = policy.per_client_max.max(1);
    let mut h = head(meta, shard, id.client)?.unwrap_or(ClientHead {
        max_seq: 0,
        floor: 0,
        last_ms: now_ms,
    });
    h.max_seq = h.max_seq.max(id.seq);
    h.last_ms = h.last_ms.max(now_ms);
    let floor = h.max_seq.saturating_sub(keep);
    if floor > h.floor {
        if floor - h.floor <= POINT_DELETES_MAX {
            // The usual case, one reply per request: point deletes. (A range delete per write
            // would pile up range tombstones, which make every later read slow.)
            for seq in h.floor + 1..=floor {
                meta.delete(entry_key(shard, id.client, seq));
            }
        } else {
            meta.delete_entries(shard, id.client, floor + 1);
        }
        h.floor = floor;
    }
    meta.put(
        entry_key(shard, id.client, id.seq),
        codec::encode(&reply.to_vec())?,
    );
    meta.put(head_key(shard, id.client), codec::encode(&h)?);
    sweep(meta, shard, now_ms, policy.window_ms)
}

/// Forgets up to [`SWEEP_PER_REPLY`] clients idle longer than `window_ms`, continuing from where
/// the last sweep stopped and wrapping around.
fn sweep(
    meta: &mut dyn MetaRw,
    shard: ShardId,
    now_ms: u64,
    window_ms: u64,
) -> Result<(), StorageError> {
    let after = match meta.get(&cursor_key(shard))? {
        Some(b) => codec::decode::<u64>("dedup sweep cursor", &b)?,
        None => 0,
    };
    let mut heads = meta.heads_after(shard, after, SWEEP_PER_REPLY)?;
    if heads.len() < SWEEP_PER_REPLY && after > 0 {
        let more = meta.heads_after(shard, 0, SWEEP_PER_REPLY - heads.len())?;
        heads.extend(more.into_iter().filter(|(c, _)| *c <= after));
    }
    let mut last = 0;
    for (client, bytes) in heads {
        last = client;
        let h: ClientHead = codec::decode("dedup client head", &bytes)?;
        if now_ms.saturating_sub(h.last_ms) > window_ms {
            meta.delete_entries(shard, client, u64::MAX);
            meta.delete(head_key(shard, client));
        }
    }
    meta.put(cursor_key(shard), codec::encode(&last)?);
    Ok(())
}
