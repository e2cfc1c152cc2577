//! Commands about a key whatever its value: RENAME, RENAMENX, COPY and OBJECT (ENCODING, HELP).
//!
//! A collection's elements are named by (slot, version), not by key (`tanli_storage::keys`), and
//! routing keeps both keys of a command in one slot, so RENAME moves any value in O(1): the
//! record goes to the new key with the same version and the old key is detached (its record
//! removed, its elements kept). COPY gives the copy a fresh version and copies every element.
//!
//! OBJECT ENCODING answers what Redis 7.0 would for the same value with its default thresholds.
//! Redis's encoding also depends on a value's history, which is not stored here: a string built
//! by APPEND or SETRANGE is `raw` there (here by its value), and a hash, set or sorted set that
//! once outgrew its compact encoding keeps the big one after shrinking (here it is compact
//! again). OBJECT FREQ, IDLETIME and REFCOUNT are left out: nothing here tracks what they report.

use std::ops::Bound;

use bytes::Bytes;
use tanli_storage::{CollMeta, Kind, KvRead, KvWrite, Record, StorageError, Sub};

use super::parse::{eq_ic, err, parse_i64, Args};
use super::{encoding, live, live_w, Command, ConnCmd, ReadCmd, Step, WriteCmd};
use crate::reply::Reply;

/// Elements COPY reads per page of a collection.
const COPY_PAGE_ENTRIES: usize = 1024;
/// Redis's `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`: longer strings are `raw`.
const EMBSTR_BYTES_MAX: usize = 44;
/// Element spaces a collection may use (a sorted set's members, score order and hash order; a
/// set's members and hash order; one otherwise).
const TAGS: [u8; 3] = [0, 1, 2];

/// OBJECT HELP's lines, for the subcommands this server has.
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "HELP",
    "    Prints this help.",
];

fn parse_rename_cmd(a: &mut Args, nx: bool) -> Result<Command, Reply> {
    let src = a.next_vec()?;
    let dst = a.next_vec()?;
    a.finish()?;
    Ok(Command::Write(WriteCmd::Rename { src, dst, nx }))
}

pub(super) fn parse_rename(a: &mut Args) -> Result<Command, Reply> {
    parse_rename_cmd(a, false)
}

pub(super) fn parse_renamenx(a: &mut Args) -> Result<Command, Reply> {
    parse_rename_cmd(a, true)
}

/// COPY source destination [DB destination-db] [REPLACE]. This server has one database, so
/// `DB 0` is the only one that exists (as SELECT).
pub(super) fn parse_copy(a: &mut Args) -> Result<Command, Reply> {
    let src = a.next_vec()?;
    let dst = a.next_vec()?;
    let mut replace = false;
    while let Ok(opt) = a.take() {
        if eq_ic(opt, "REPLACE") {
            replace = true;
        } else if eq_ic(opt, "DB") && a.remaining() >= 1 {
            let db = parse_i64(a.take()?)
                .and_then(|db| i32::try_from(db).ok())
                .ok_or_else(err::not_integer)?;
            if db != 0 {
                return Err(Reply::err("DB index is out of range"));
            }
        } else {
            return Err(err::syntax());
        }
    }
    Ok(Command::Write(WriteCmd::Copy { src, dst, replace }))
}

pub(super) fn parse_object_encoding(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    Ok(Command::Read(ReadCmd::ObjectEncoding { key }))
}

pub(super) fn parse_object_help(a: &mut Args) -> Result<Command, Reply> {
    a.finish()?;
    Ok(Command::Conn(ConnCmd::ObjectHelp))
}

/// OBJECT HELP's reply.
pub fn object_help() -> Reply {
    Reply::Array(
        OBJECT_HELP
            .iter()
            .map(|line| Reply::Simple((*line).to_string()))
            .collect(),
    )
}

fn no_such_key() -> Reply {
    Reply::err("no such key")
}

/// RENAME and RENAMENX: the value keeps its TTL; the destination's previous value is dropped.
pub(super) fn rename(
    kv: &mut dyn KvWrite,
    now: u64,
    src: &[u8],
    dst: &[u8],
    nx: bool,
) -> Step<Reply> {
    let Some(rec) = live_w(kv, now, src)? else {
        return Err(no_such_key().into());
    };
    let done = if nx { Reply::Int(1) } else { Reply::ok() };
    if src == dst {
        return Ok(if nx { Reply::Int(0) } else { done });
    }
    if nx && live_w(kv, now, dst)?.is_some() {
        return Ok(Reply::Int(0));
    }
    // Same version under the new key: the elements (named by slot and version) stay where they
    // are; `put` drops whatever the destination held.
    kv.put(dst, rec)?;
    kv.detach(src)?;
    Ok(done)
}

/// COPY: 1 when copied, 0 when the source is missing or the destination exists without REPLACE.
pub(super) fn copy(
    kv: &mut dyn KvWrite,
    now: u64,
    src: &[u8],
    dst: &[u8],
    replace: bool,
) -> Step<Reply> {
    if src == dst {
        return Err(Reply::err("source and destination objects are the same").into());
    }
    let Some(rec) = live_w(kv, now, src)? else {
        return Ok(Reply::Int(0));
    };
    if !replace && live_w(kv, now, dst)?.is_some() {
        return Ok(Reply::Int(0));
    }
    if rec.kind == Kind::String {
        kv.put(dst, rec)?;
        return Ok(Reply::Int(1));
    }
    let meta = meta_of(&rec)?;
    let copy_meta = CollMeta {
        version: kv.new_version(),
        ..meta
    };
    kv.put(
        dst,
        Record {
            data: copy_meta.encode(),
            ..rec
        },
    )?;
    for tag in TAGS {
        let from = Sub {
            key: src,
            version: meta.version,
            tag,
        };
        let to = Sub {
            key: dst,
            version: copy_meta.version,
            tag,
        };
        let mut after: Option<Vec<u8>> = None;
        loop {
            let lo = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let page = kv.sub_range(from, (lo, Bound::Unbounded), false, COPY_PAGE_ENTRIES)?;
            for (member, value) in &page {
                kv.sub_put(to, member, value)?;
            }
            if page.len() < COPY_PAGE_ENTRIES {
                break;
            }
            after = page.into_iter().next_back().map(|(m, _)| m);
        }
    }
    Ok(Reply::Int(1))
}

fn meta_of(rec: &Record) -> Step<CollMeta> {
    rec.coll_meta().ok_or_else(|| {
        StorageError::Corrupt {
            what: "collection metadata",
            detail: format!("{} bytes for a {}", rec.data.len(), rec.kind.type_name()),
        }
        .into()
    })
}

/// OBJECT ENCODING: the name Redis 7.0 gives the representation of this value (nil if absent).
pub(super) fn object_encoding(r: &dyn KvRead, now: u64, key: &Bytes) -> Step<Reply> {
    let Some(rec) = live(r, now, key)? else {
        return Ok(Reply::Nil);
    };
    let name = match rec.kind {
        Kind::String => string_encoding(&rec.data),
        Kind::List => "quicklist",
        kind => {
            let meta = meta_of(&rec)?;
            let compact = !meta.big
                && !encoding::too_many(kind, meta.len)
                && all_small(r, key, meta, |m, v| !encoding::too_big(kind, m, v))?;
            match (kind, compact) {
                (Kind::Set, true) => "intset",
                (Kind::Set, false) | (Kind::Hash, false) => "hashtable",
                (Kind::ZSet, false) => "skiplist",
                _ => "listpack",
            }
        }
    };
    Ok(Reply::Bulk(name.as_bytes().to_vec()))
}

/// Redis's `tryObjectEncoding` for a string set by SET: a canonical 64-bit integer is `int`,
/// a short string `embstr`, anything else `raw`.
fn string_encoding(v: &[u8]) -> &'static str {
    if parse_i64(v).is_some() {
        "int"
    } else if v.len() <= EMBSTR_BYTES_MAX {
        "embstr"
    } else {
        "raw"
    }
}

/// True when `fits` holds for each (member, value) of the collection's first element space.
/// Called only under the compact encoding's entry bound; elements are read one at a time, so at
/// most one long element is ever read.
fn all_small(
    r: &dyn KvRead,
    key: &[u8],
    meta: CollMeta,
    fits: impl Fn(&[u8], &[u8]) -> bool,
) -> Step<bool> {
    let sub = Sub {
        key,
        version: meta.version,
        tag: 0,
    };
    let mut after: Option<Vec<u8>> = None;
    loop {
        let lo = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let Some((member, value)) = r
            .sub_range(sub, (lo, Bound::Unbounded), false, 1)?
            .into_iter()
            .next()
        else {
            return Ok(true);
        };
        if !fits(&member, &value) {
            return Ok(false);
        }
        after = Some(member);
    }
}

#[cfg(test)]
#[path = "generic_tests.rs"]
mod tests;
