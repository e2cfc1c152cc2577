//! Leases of Snowflake worker ids (`tanli_router::ids`), kept in the meta shard: at most one live
//! holder per worker id, by log time, so two generators never share one. A holder (a client id
//! or a node id, both from the meta shard's one allocator) renews its lease before it ends; a
//! lease that ended may go to another holder, which is told the previous lease's end
//! (`not_before_ms`) so its ids start after every id the previous holder could have issued.
//!
//! Records (in the meta shard's key space, never a user key):
//! `tanli/meta/worker/<n>` → [`WorkerLease`]; `tanli/meta/holder/<id>` → the worker id it holds.

use serde::{Deserialize, Serialize};
use tanli_router::ids::WORKERS;
use tanli_storage::{KvWrite, Record, StorageError};

use super::meta::{decode_meta, encode_meta, MetaReply};

/// Bounds on a requested lease length.
pub const LEASE_TTL_MIN_MS: u64 = 1_000;
pub const LEASE_TTL_MAX_MS: u64 = 3_600_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerLease {
    pub holder: u64,
    /// Log time at which the lease ends unless renewed.
    pub expires_ms: u64,
    /// The previous holder's lease end: ids from this lease must be later.
    pub not_before_ms: u64,
}

fn worker_key(w: u16) -> Vec<u8> {
    format!("tanli/meta/worker/{w}").into_bytes()
}

fn holder_key(holder: u64) -> Vec<u8> {
    format!("tanli/meta/holder/{holder}").into_bytes()
}

fn corrupt(what: &'static str, detail: String) -> StorageError {
    StorageError::Corrupt { what, detail }
}

fn read_lease(kv: &dyn KvWrite, w: u16) -> Result<Option<WorkerLease>, StorageError> {
    kv.get(&worker_key(w))?
        .map(|r| decode_meta("worker lease", &r.data).map_err(|d| corrupt("worker lease", d)))
        .transpose()
}

/// Leases a worker id to `holder` for `ttl_ms` (clamped) from `now_ms`, renewing the one it
/// holds if its lease is still its own.
pub fn lease(
    kv: &mut dyn KvWrite,
    now_ms: u64,
    holder: u64,
    ttl_ms: u64,
) -> Result<MetaReply, StorageError> {
    let ttl = ttl_ms.clamp(LEASE_TTL_MIN_MS, LEASE_TTL_MAX_MS);
    let held: Option<u16> = kv
        .get(&holder_key(holder))?
        .map(|r| {
            decode_meta("worker of holder", &r.data).map_err(|d| corrupt("worker of holder", d))
        })
        .transpose()?;
    if let Some(w) = held {
        if let Some(mut l) = read_lease(kv, w)? {
            if l.holder == holder && l.expires_ms > now_ms {
                l.expires_ms = l.expires_ms.max(now_ms + ttl);
                kv.put(&worker_key(w), Record::string(encode_meta(&l)))?;
                return Ok(MetaReply::Worker {
                    worker: w,
                    expires_ms: l.expires_ms,
                    not_before_ms: l.not_before_ms,
                });
            }
        }
    }
    for w in 0..WORKERS {
        let previous = read_lease(kv, w)?;
        if previous.as_ref().is_some_and(|l| l.expires_ms > now_ms) {
            continue;
        }
        let l = WorkerLease {
            holder,
            expires_ms: now_ms + ttl,
            not_before_ms: previous.map(|p| p.expires_ms).unwrap_or(0),
        };
        kv.put(&worker_key(w), Record::string(encode_meta(&l)))?;
        kv.put(&holder_key(holder), Record::string(encode_meta(&w)))?;
        return Ok(MetaReply::Worker {
            worker: w,
            expires_ms: l.expires_ms,
            not_before_ms: l.not_before_ms,
        });
    }
    Ok(MetaReply::Refused(format!(
        "all {WORKERS} worker ids are leased"
    )))
}
