//! ZSCAN's pages (design in `zset.rs`). Its cursor and options are Redis 7.0's, parsed by
//! `hashorder.rs`'s `parse_cursor` and `parse_scan_opts` (NOVALUES refused, as Redis 7.0 does).

use std::ops::Bound::{Excluded, Included, Unbounded};

use tanli_storage::{KvRead, StorageError};

use super::super::hashorder::ScanOpts;
use super::super::Step;
use super::cmds::Elems;
use super::score::split_index_key;
use super::span::Span;
use super::walk::Walk;
use crate::reply::{format_score, Reply};

/// Redis 7.0's `zset-max-listpack-entries` and `zset-max-listpack-value`: a set within both is
/// compact there, and its ZSCAN answers everything at once.
const COMPACT_ENTRIES_MAX: u64 = 128;
const COMPACT_MEMBER_BYTES_MAX: usize = 64;
/// Bytes of a hash-order key before the member.
const HASH_BYTES: usize = 8;

pub fn zscan(
    r: &dyn KvRead,
    now: u64,
    key: &[u8],
    cursor: u64,
    opts: &Result<ScanOpts, Reply>,
) -> Step<Reply> {
    let Some(coll) = super::super::coll::load(r, now, key, tanli_storage::Kind::ZSet)? else {
        return Ok(page_reply(0, Vec::new()));
    };
    let opts = opts.as_ref().map_err(|e| e.clone())?;
    let z = Elems::new(key, coll);
    let keep = |m: &[u8]| opts.keeps(m);
    if cursor == 0 {
        if let Some(all) = compact(r, &z)? {
            let entries = all.into_iter().filter(|(m, _)| keep(m));
            let entries = entries.map(|(m, s)| (m, compact_score(s))).collect();
            return Ok(page_reply(0, entries));
        }
    }
    let (members, next) = hash_page(r, &z, cursor, opts.count)?;
    let mut entries = Vec::with_capacity(members.len());
    for m in members.into_iter().filter(|m| keep(m)) {
        // Read from the same view as the page: a member listed there has a score.
        if let Some(s) = z.score(r, &m)? {
            entries.push((m, format_score(s)));
        }
    }
    Ok(page_reply(next, entries))
}

/// A member and its score.
type Entry = (Vec<u8>, f64);

/// Every (member, score) in score order if Redis would hold the set compactly, else `None`.
fn compact(r: &dyn KvRead, z: &Elems<'_>) -> Step<Option<Vec<Entry>>> {
    if z.len() > COMPACT_ENTRIES_MAX {
        return Ok(None);
    }
    let limit = COMPACT_ENTRIES_MAX as usize + 1;
    let keys = Walk::new(z.by_score(), Span::all(), false).take(r, limit as u64)?;
    let mut out = Vec::with_capacity(keys.len());
    for k in &keys {
        let (s, m) = split_index_key(k)?;
        if m.len() > COMPACT_MEMBER_BYTES_MAX {
            return Ok(None);
        }
        out.push((m.to_vec(), s));
    }
    Ok((out.len() < limit).then_some(out))
}

/// `(hash, member)` of a hash-order key.
fn split_hash_key(k: &[u8]) -> Result<(u64, &[u8]), StorageError> {
    match k.split_first_chunk::<HASH_BYTES>() {
        Some((h, m)) => Ok((u64::from_be_bytes(*h), m)),
        None => Err(StorageError::Corrupt {
            what: "sorted-set hash entry",
            detail: format!("{} bytes", k.len()),
        }),
    }
}

/// Members whose hash is at least `cursor`, `count` of them plus any sharing the last one's
/// hash, and the next cursor (0 at the end).
fn hash_page(
    r: &dyn KvRead,
    z: &Elems<'_>,
    cursor: u64,
    count: usize,
) -> Step<(Vec<Vec<u8>>, u64)> {
    let sub = z.by_hash();
    let from = cursor.to_be_bytes();
    let mut page = r.sub_range(
        sub,
        (Included(&from[..]), Unbounded),
        false,
        count.saturating_add(1),
    )?;
    let mut next = 0;
    if page.len() > count {
        let boundary = match page.get(count.saturating_sub(1)) {
            Some((k, _)) => split_hash_key(k)?.0,
            None => 0,
        };
        let mut following = page.pop();
        while let Some(entry) = following {
            let h = split_hash_key(&entry.0)?.0;
            if h != boundary {
                next = h;
                break;
            }
            page.push(entry);
            let last = page.last().map(|(k, _)| k.as_slice()).unwrap_or_default();
            following = r
                .sub_range(sub, (Excluded(last), Unbounded), false, 1)?
                .pop();
        }
    }
    let members = page
        .into_iter()
        .map(|(k, _)| split_hash_key(&k).map(|(_, m)| m.to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((members, next))
}

/// A score as Redis 7.0's compact encoding stores it, which is how its ZSCAN prints it: an
/// integral value within +-`LLONG_MAX / 2` as an integer (`double2ll`), others with `%.17g`.
fn compact_score(s: f64) -> String {
    const LL_HALF: f64 = (i64::MAX / 2) as f64;
    if (-LL_HALF..=LL_HALF).contains(&s) && s.fract() == 0.0 {
        // In range and integral, so the conversion is exact.
        format!("{}", s as i64)
    } else {
        format_score(s)
    }
}

fn page_reply(cursor: u64, entries: Vec<(Vec<u8>, String)>) -> Reply {
    let mut flat = Vec::with_capacity(entries.len() * 2);
    for (m, s) in entries {
        flat.push(Reply::Bulk(m));
        flat.push(Reply::Bulk(s.into_bytes()));
    }
    Reply::Array(vec![
        Reply::Bulk(cursor.to_string().into_bytes()),
        Reply::Array(flat),
    ])
}
