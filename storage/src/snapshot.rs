//! Per-shard snapshots: build from a RocksDB point-in-time view, install by replacing the shard's
//! range in one synced batch.
//!
//! Image format (v3): `version:u8`, `header_len:u32 BE`, header (versioned postcard [`Header`]),
//! `records_len:u64 BE` and that many bytes of records `key_len:u32 BE, user_key, value_len:u32
//! BE, encoded record`, then `subs_len:u64 BE` and that many bytes of collection elements
//! `key_len:u32 BE, key (the `sub` key after its shard prefix), value_len:u32 BE, value`, then the
//! exactly-once table until the end: `key_len:u32 BE, key (the `meta` key after its `0x10 shard`
//! prefix), value_len:u32 BE, value`. Version 2 images (no elements) and version 1 images
//! (records until the end, no table) are still installed. The newest
//! image of each shard is kept at `<data-dir>/snapshots/shard-<id>.snap` (written to a temporary
//! file, synced, then renamed), so a restarted node can still serve it. Images are held in memory
//! while sent (`SnapshotData` is a byte cursor): streaming from the file is future work.

use std::io::Write;
use std::path::PathBuf;

use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::db::{db_err, Store};
use crate::keys::{self, ShardMeta};
use crate::state_machine::AppliedState;
use crate::types::{ShardId, Snapshot, SnapshotData, SnapshotMeta, TypeConfig};
use crate::StorageError;

const IMAGE_V1: u8 = 1;
const IMAGE_V2: u8 = 2;
const IMAGE_V3: u8 = 3;
/// Bytes of `shard` before a `sub` key's own part.
const SHARD_PREFIX: usize = 8;
/// Bytes of `0x10 shard` before a per-shard `meta` key's own part.
const SHARD_META_PREFIX: usize = 9;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    shard: ShardId,
    meta: SnapshotMeta,
    applied: AppliedState,
}

pub(crate) fn path(store: &Store, shard: ShardId) -> PathBuf {
    store
        .dir()
        .join("snapshots")
        .join(format!("shard-{shard}.snap"))
}

fn corrupt(detail: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        what: "snapshot",
        detail: detail.into(),
    }
}

pub struct SnapshotBuilder {
    store: Store,
    shard: ShardId,
}

impl SnapshotBuilder {
    pub(crate) fn new(store: Store, shard: ShardId) -> SnapshotBuilder {
        SnapshotBuilder { store, shard }
    }

    fn build(&self) -> Result<Snapshot, StorageError> {
        let db = &self.store.db;
        let view = db.snapshot();
        let meta_cf = self.store.cf(keys::CF_META)?;
        let data_cf = self.store.cf(keys::CF_DATA)?;
        let applied: AppliedState = match view
            .get_cf(&meta_cf, keys::shard_meta(self.shard, ShardMeta::Applied))
            .map_err(db_err)?
        {
            None => AppliedState::default(),
            Some(b) => codec::decode("applied state", &b)?,
        };
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership.clone(),
        };
        let header = codec::encode(&Header {
            shard: self.shard,
            meta: meta.clone(),
            applied,
        })?;
        let mut image = vec![IMAGE_V3];
        image.extend_from_slice(&(header.len() as u32).to_be_bytes());
        image.extend_from_slice(&header);
        let records_len_at = image.len();
        image.extend_from_slice(&0u64.to_be_bytes());
        let (start, end) = keys::shard_range(self.shard);
        let mut ro = ReadOptions::default();
        ro.set_snapshot(&view);
        ro.set_iterate_upper_bound(end);
        for item in db.iterator_cf_opt(&data_cf, ro, IteratorMode::From(&start, Direction::Forward))
        {
            let (k, v) = item.map_err(db_err)?;
            let user_key = keys::data_user_key(self.shard, &k)
                .ok_or_else(|| corrupt("foreign key in shard range"))?;
            image.extend_from_slice(&(user_key.len() as u32).to_be_bytes());
            image.extend_from_slice(user_key);
            image.extend_from_slice(&(v.len() as u32).to_be_bytes());
            image.extend_from_slice(&v);
        }
        let records_len = (image.len() - records_len_at - 8) as u64;
        image[records_len_at..records_len_at + 8].copy_from_slice(&records_len.to_be_bytes());
        let subs_len_at = image.len();
        image.extend_from_slice(&0u64.to_be_bytes());
        let sub_cf = self.store.cf(keys::CF_SUB)?;
        let (start, end) = keys::shard_range(self.shard);
        let mut ro = ReadOptions::default();
        ro.set_snapshot(&view);
        ro.set_iterate_upper_bound(end);
        for item in db.iterator_cf_opt(&sub_cf, ro, IteratorMode::From(&start, Direction::Forward))
        {
            let (k, v) = item.map_err(db_err)?;
            let own = k
                .get(SHARD_PREFIX..)
                .ok_or_else(|| corrupt("short element key"))?;
            image.extend_from_slice(&(own.len() as u32).to_be_bytes());
            image.extend_from_slice(own);
            image.extend_from_slice(&(v.len() as u32).to_be_bytes());
            image.extend_from_slice(&v);
        }
        let subs_len = (image.len() - subs_len_at - 8) as u64;
        image[subs_len_at..subs_len_at + 8].copy_from_slice(&subs_len.to_be_bytes());
        let (start, end) = dedup_range(self.shard);
        let mut ro = ReadOptions::default();
        ro.set_snapshot(&view);
        ro.set_iterate_upper_bound(end);
        for item in db.iterator_cf_opt(&meta_cf, ro, IteratorMode::From(&start, Direction::Forward))
        {
            let (k, v) = item.map_err(db_err)?;
            let own = k
                .get(SHARD_META_PREFIX..)
                .ok_or_else(|| corrupt("short exactly-once key"))?;
            image.extend_from_slice(&(own.len() as u32).to_be_bytes());
            image.extend_from_slice(own);
            image.extend_from_slice(&(v.len() as u32).to_be_bytes());
            image.extend_from_slice(&v);
        }
        save(&self.store, self.shard, &image)?;
        Ok(Snapshot {
            meta,
            snapshot: SnapshotData::new(image),
        })
    }
}

impl openraft::storage::RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, std::io::Error> {
        self.build().map_err(crate::db::io_err)
    }
}

fn save(store: &Store, shard: ShardId, image: &[u8]) -> Result<(), StorageError> {
    let final_path = path(store, shard);
    let dir = final_path
        .parent()
        .ok_or_else(|| corrupt("snapshot path has no parent"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = final_path.with_extension("snap.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(image)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &final_path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn read_u32(b: &[u8], at: usize) -> Result<usize, StorageError> {
    let bytes = b
        .get(at..at + 4)
        .ok_or_else(|| corrupt("truncated length"))?;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
}

/// `[start, end)` of the exactly-once table of `shard` in the `meta` CF (replies, client heads,
/// sweep cursor: `0x10 shard 0x06` up to `0x10 shard 0x09`).
fn dedup_range(shard: ShardId) -> (Vec<u8>, Vec<u8>) {
    let (start, _) = crate::dedup::entry_range(shard);
    let mut end = start.clone();
    if let Some(kind) = end.last_mut() {
        *kind = 0x09;
    }
    (start, end)
}

/// A `len:u64 BE` section at `at`: where its bytes start and end.
fn section(image: &[u8], at: usize, what: &str) -> Result<(usize, usize), StorageError> {
    let len = image
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt(format!("truncated {what} length")))?;
    let end = usize::try_from(len)
        .ok()
        .and_then(|n| n.checked_add(at + 8))
        .filter(|&end| end <= image.len())
        .ok_or_else(|| corrupt(format!("{what} length past the end")))?;
    Ok((at + 8, end))
}

/// The image's version, its header, where the records start, and where they end (the
/// elements, in v3, then the table, in v2 and v3, follow).
fn parse_header(image: &[u8]) -> Result<(u8, Header, usize, usize), StorageError> {
    let version = match image.first() {
        Some(&v) if v == IMAGE_V1 || v == IMAGE_V2 || v == IMAGE_V3 => v,
        Some(v) => return Err(corrupt(format!("unknown image version {v}"))),
        None => return Err(corrupt("empty image")),
    };
    let len = read_u32(image, 1)?;
    let body = image
        .get(5..5 + len)
        .ok_or_else(|| corrupt("truncated header"))?;
    let header = codec::decode("snapshot header", body)?;
    let at = 5 + len;
    if version == IMAGE_V1 {
        return Ok((version, header, at, image.len()));
    }
    let (start, end) = section(image, at, "records")?;
    Ok((version, header, start, end))
}

/// One `len:u32 BE, bytes` field at `*at`, advancing `*at`.
fn field<'a>(image: &'a [u8], at: &mut usize, what: &str) -> Result<&'a [u8], StorageError> {
    let len = read_u32(image, *at)?;
    let bytes = image
        .get(*at + 4..*at + 4 + len)
        .ok_or_else(|| corrupt(format!("truncated {what}")))?;
    *at += 4 + len;
    Ok(bytes)
}

/// The newest image of `shard`, if one was built or installed here.
pub(crate) fn current(store: &Store, shard: ShardId) -> Result<Option<Snapshot>, StorageError> {
    let image = match std::fs::read(path(store, shard)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let (_, header, _, _) = parse_header(&image)?;
    Ok(Some(Snapshot {
        meta: header.meta,
        snapshot: SnapshotData::new(image),
    }))
}

/// Replaces the shard's records and applied state with the image, atomically and durably.
pub(crate) fn install(
    store: &Store,
    shard: ShardId,
    meta: &SnapshotMeta,
    image: Vec<u8>,
) -> Result<AppliedState, StorageError> {
    let (version, header, mut at, records_end) = parse_header(&image)?;
    if header.shard != shard {
        return Err(corrupt(format!(
            "image of shard {} offered to shard {shard}",
            header.shard
        )));
    }
    let data_cf = store.cf(keys::CF_DATA)?;
    let expiry_cf = store.cf(keys::CF_EXPIRY)?;
    let meta_cf = store.cf(keys::CF_META)?;
    let sub_cf = store.cf(keys::CF_SUB)?;
    let mut batch = WriteBatch::default();
    let (start, end) = keys::shard_range(shard);
    batch.delete_range_cf(data_cf, &start[..], &end[..]);
    batch.delete_range_cf(expiry_cf, &start[..], &end[..]);
    batch.delete_range_cf(sub_cf, &start[..], &end[..]);
    let mut count = 0u64;
    let mut expiring = 0u64;
    while at < records_end {
        let key = field(&image, &mut at, "key")?;
        let value = field(&image, &mut at, "value")?;
        let record = codec::decode_record(value)?;
        if let Some(exp) = record.expire_at_ms {
            batch.put_cf(&expiry_cf, keys::expiry(shard, exp, key), []);
            expiring += 1;
        }
        batch.put_cf(&data_cf, keys::data(shard, key), value);
        count += 1;
    }
    if at != records_end {
        return Err(corrupt("records overrun their length"));
    }
    if version == IMAGE_V3 {
        let (mut sub_at, subs_end) = section(&image, at, "elements")?;
        while sub_at < subs_end {
            let own = field(&image, &mut sub_at, "element key")?;
            let value = field(&image, &mut sub_at, "element value")?;
            if own.len() < keys::SUB_PREFIX_LEN - SHARD_PREFIX {
                return Err(corrupt("short element key"));
            }
            let mut key = shard.to_be_bytes().to_vec();
            key.extend_from_slice(own);
            batch.put_cf(&sub_cf, key, value);
        }
        if sub_at != subs_end {
            return Err(corrupt("elements overrun their length"));
        }
        at = subs_end;
    }
    let (start, end) = dedup_range(shard);
    batch.delete_range_cf(meta_cf, &start[..], &end[..]);
    let shard_prefix = &start[..SHARD_META_PREFIX];
    while at < image.len() {
        let own = field(&image, &mut at, "exactly-once key")?;
        let value = field(&image, &mut at, "exactly-once value")?;
        let mut key = shard_prefix.to_vec();
        key.extend_from_slice(own);
        if key < start || key >= end {
            return Err(corrupt("exactly-once key outside its range"));
        }
        batch.put_cf(&meta_cf, key, value);
    }
    let applied = AppliedState {
        last_applied: meta.last_log_id,
        membership: meta.last_membership.clone(),
        log_time_ms: header.applied.log_time_ms,
        record_count: count,
        expiring_count: expiring,
    };
    batch.put_cf(
        &meta_cf,
        keys::shard_meta(shard, ShardMeta::Applied),
        codec::encode(&applied)?,
    );
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    // Every record of the shard is replaced: the record cache starts over.
    store
        .records
        .write(|| store.db.write_opt(batch, &wo), [], true)
        .map_err(db_err)?;
    save(store, shard, &image)?;
    Ok(applied)
}
