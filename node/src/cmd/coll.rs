//! What every collection family (hashes, lists, sets, sorted sets) shares: finding a key's live
//! collection of the right kind (else `WRONGTYPE`), creating one, and storing its metadata back
//! (an emptied collection disappears, as in Redis).
//!
//! A collection is a metadata record ([`CollMeta`]: version, length, list head) plus one `sub`
//! entry per element (see `tanli_storage::keys`). A command reads and writes only the elements
//! it needs, so a big collection is never read or rewritten whole.

use tanli_storage::{CollMeta, Kind, KvRead, KvWrite, Record, StorageError, Sub};

use super::parse::err;
use super::{live, live_w, Step, Stop};

/// A live collection as one command sees it.
#[derive(Debug, Clone)]
pub(super) struct Coll {
    /// The metadata record as stored (kind, expiry, stamp).
    pub rec: Record,
    pub meta: CollMeta,
}

impl Coll {
    /// Element space `tag` of this instance of `key`.
    pub fn sub<'a>(&self, key: &'a [u8], tag: u8) -> Sub<'a> {
        Sub {
            key,
            version: self.meta.version,
            tag,
        }
    }
}

fn of_kind(rec: Option<Record>, kind: Kind) -> Step<Option<Coll>> {
    match rec {
        None => Ok(None),
        Some(r) if r.kind != kind => Err(Stop::Reply(err::wrong_type())),
        Some(rec) => {
            let meta = rec.coll_meta().ok_or_else(|| {
                Stop::Storage(StorageError::Corrupt {
                    what: "collection metadata",
                    detail: format!("{} bytes for a {}", rec.data.len(), kind.type_name()),
                })
            })?;
            Ok(Some(Coll { rec, meta }))
        }
    }
}

/// The live collection at `key`, which must be of `kind` (else WRONGTYPE); `None` if absent.
pub(super) fn load(kv: &dyn KvRead, now: u64, key: &[u8], kind: Kind) -> Step<Option<Coll>> {
    of_kind(live(kv, now, key)?, kind)
}

/// Write-path [`load`]: an expired record found is deleted first.
pub(super) fn load_w(kv: &mut dyn KvWrite, now: u64, key: &[u8], kind: Kind) -> Step<Option<Coll>> {
    let rec = live_w(kv, now, key)?;
    of_kind(rec, kind)
}

/// [`load_w`], or a new empty collection of `kind` (with a fresh version) when absent. It is
/// stored only by [`save`], and only if it has elements by then.
pub(super) fn load_or_create(kv: &mut dyn KvWrite, now: u64, key: &[u8], kind: Kind) -> Step<Coll> {
    match load_w(kv, now, key, kind)? {
        Some(c) => Ok(c),
        None => Ok(create(kv, kind)),
    }
}

/// A new, empty, not yet stored collection of `kind`.
pub(super) fn create(kv: &mut dyn KvWrite, kind: Kind) -> Coll {
    let meta = CollMeta::new(kv.new_version());
    Coll {
        rec: Record::collection(kind, &meta),
        meta,
    }
}

/// Stores `coll`'s metadata (keeping its expiry), or deletes the key when it has no element
/// left. Call it after every change, even one that keeps the length: the record's stamp is what
/// `WATCH` sees.
pub(super) fn save(kv: &mut dyn KvWrite, key: &[u8], coll: Coll) -> Step<()> {
    if coll.meta.len == 0 {
        kv.delete(key)?;
    } else {
        let mut rec = coll.rec;
        rec.data = coll.meta.encode();
        kv.put(key, rec)?;
    }
    Ok(())
}

/// A deterministic pseudo-random 64-bit value for apply (SPOP and the like): derived from a
/// fresh collection version, so it differs for every call in the log and is the same on every
/// replica.
pub(super) fn apply_random(kv: &mut dyn KvWrite) -> u64 {
    super::keyspace::splitmix64(kv.new_version())
}
