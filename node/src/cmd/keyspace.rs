//! Commands about keys regardless of their value: DEL, UNLINK, EXISTS, TYPE, DBSIZE,
//! RANDOMKEY, FLUSHDB, FLUSHALL, and the leader's reclaim of expired records.

use bytes::Bytes;
use tanli_storage::{KvRead, KvWrite, ShardRead};

use super::parse::{eq_ic, err, Args};
use super::{len_reply, live, Command, ReadCmd, Step, WriteCmd};
use crate::reply::Reply;

/// How many random positions RANDOMKEY probes before falling back to walking the shard for any
/// live record (only reached when most probed records are expired).
const RANDOMKEY_PROBES_MAX: u64 = 16;
/// Page size of RANDOMKEY's fallback walk.
const RANDOMKEY_PAGE_RECORDS: usize = 256;

pub(super) fn parse_del(a: &mut Args) -> Result<Command, Reply> {
    let keys = a.rest().iter().map(|k| k.to_vec()).collect();
    Ok(Command::Write(WriteCmd::Del { keys }))
}

pub(super) fn parse_exists(a: &mut Args) -> Result<Command, Reply> {
    Ok(Command::Read(ReadCmd::Exists {
        keys: a.rest().to_vec(),
    }))
}

pub(super) fn parse_type(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    Ok(Command::Read(ReadCmd::Type { key }))
}

pub(super) fn parse_dbsize(a: &mut Args) -> Result<Command, Reply> {
    a.finish()?;
    Ok(Command::Read(ReadCmd::DbSize))
}

pub(super) fn parse_randomkey(a: &mut Args) -> Result<Command, Reply> {
    a.finish()?;
    Ok(Command::Read(ReadCmd::RandomKey))
}

/// FLUSHDB / FLUSHALL [ASYNC | SYNC]: both modes clear synchronously through the log.
pub(super) fn parse_flush(a: &mut Args) -> Result<Command, Reply> {
    match a.rest() {
        [] => {}
        [mode] if eq_ic(mode, "ASYNC") || eq_ic(mode, "SYNC") => {}
        _ => return Err(err::syntax()),
    }
    Ok(Command::Write(WriteCmd::Flush))
}

/// Counts live keys deleted; an expired record is removed too but not counted.
pub(super) fn del(kv: &mut dyn KvWrite, now: u64, keys: &[Vec<u8>]) -> Step<Reply> {
    let mut deleted = 0;
    for key in keys {
        if let Some(rec) = kv.get(key)? {
            kv.delete(key)?;
            if rec.is_live(now) {
                deleted += 1;
            }
        }
    }
    Ok(len_reply(deleted))
}

pub(super) fn flush(kv: &mut dyn KvWrite) -> Step<Reply> {
    kv.clear()?;
    Ok(Reply::ok())
}

/// Deletes each key whose record still expires exactly at the proposed time, which must be due at
/// the entry's log time (a key rewritten or persisted since the proposal is left alone).
pub(super) fn reap(kv: &mut dyn KvWrite, now: u64, keys: &[(Vec<u8>, u64)]) -> Step<Reply> {
    let mut reaped = 0;
    for (key, at) in keys {
        let due = *at <= now;
        if due && kv.get(key)?.is_some_and(|r| r.expire_at_ms == Some(*at)) {
            kv.delete(key)?;
            reaped += 1;
        }
    }
    Ok(len_reply(reaped))
}

/// Counts a key once per mention (`EXISTS k k` is 2).
pub(super) fn exists(r: &dyn KvRead, now: u64, keys: &[Bytes]) -> Step<Reply> {
    let mut n = 0;
    for key in keys {
        if live(r, now, key)?.is_some() {
            n += 1;
        }
    }
    Ok(len_reply(n))
}

pub(super) fn type_of(r: &dyn KvRead, now: u64, key: &Bytes) -> Step<Reply> {
    let name = live(r, now, key)?.map_or("none", |rec| rec.kind.type_name());
    Ok(Reply::Simple(name.to_string()))
}

/// Like Redis, counts records not yet reclaimed even when already expired.
pub(super) fn dbsize(r: &dyn KvRead) -> Step<Reply> {
    Ok(Reply::Int(
        i64::try_from(r.record_count()?).unwrap_or(i64::MAX),
    ))
}

/// A uniformly-probed live key; falls back to the first live key in scan order when the probes
/// only hit expired records, so a shard with any live key never answers nil.
pub(super) fn randomkey(r: &dyn ShardRead, now: u64, random: u64) -> Step<Reply> {
    let mut seed = random;
    for _ in 0..RANDOMKEY_PROBES_MAX {
        match r.record_at(seed)? {
            None => return Ok(Reply::Nil),
            Some((key, rec)) if rec.is_live(now) => return Ok(Reply::Bulk(key)),
            Some(_) => seed = splitmix64(seed),
        }
    }
    let mut cursor = 0;
    loop {
        let page = r.scan(cursor, RANDOMKEY_PAGE_RECORDS)?;
        if let Some((key, _)) = page.entries.into_iter().find(|(_, rec)| rec.is_live(now)) {
            return Ok(Reply::Bulk(key));
        }
        if page.next_cursor == 0 {
            return Ok(Reply::Nil);
        }
        cursor = page.next_cursor;
    }
}

pub(super) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::super::testkv::{bulk, err, run, MemKv};
    use crate::reply::Reply;

    #[test]
    fn del_counts_only_live_keys() {
        let mut kv = MemKv::default();
        kv.put_str("a", "1", None);
        kv.put_str("b", "1", None);
        kv.put_str("gone", "1", Some(5));
        assert_eq!(
            run(&mut kv, 10, &["DEL", "a", "gone", "missing", "a"]),
            Reply::Int(1)
        );
        assert!(
            kv.record("gone").is_none(),
            "expired record reclaimed by DEL"
        );
        assert_eq!(run(&mut kv, 10, &["UNLINK", "b"]), Reply::Int(1));
        assert!(kv.map.is_empty());
        assert_eq!(
            run(&mut kv, 10, &["DEL"]),
            err("ERR wrong number of arguments for 'del' command")
        );
    }

    #[test]
    fn exists_type_dbsize() {
        let mut kv = MemKv::default();
        kv.put_str("a", "1", None);
        kv.put_str("gone", "1", Some(5));
        assert_eq!(
            run(&mut kv, 10, &["EXISTS", "a", "a", "gone", "x"]),
            Reply::Int(2)
        );
        assert_eq!(
            run(&mut kv, 10, &["TYPE", "a"]),
            Reply::Simple("string".into())
        );
        assert_eq!(
            run(&mut kv, 10, &["TYPE", "gone"]),
            Reply::Simple("none".into())
        );
        assert_eq!(run(&mut kv, 10, &["DBSIZE"]), Reply::Int(2));
        assert_eq!(
            run(&mut kv, 10, &["DBSIZE", "x"]),
            err("ERR wrong number of arguments for 'dbsize' command")
        );
    }

    #[test]
    fn flush_accepts_modes() {
        let mut kv = MemKv::default();
        kv.put_str("a", "1", None);
        assert_eq!(run(&mut kv, 0, &["FLUSHDB", "async"]), Reply::ok());
        assert!(kv.map.is_empty());
        kv.put_str("a", "1", None);
        assert_eq!(run(&mut kv, 0, &["FLUSHALL"]), Reply::ok());
        assert_eq!(run(&mut kv, 0, &["FLUSHALL", "SYNC"]), Reply::ok());
        assert_eq!(
            run(&mut kv, 0, &["FLUSHDB", "now"]),
            err("ERR syntax error")
        );
        assert_eq!(
            run(&mut kv, 0, &["FLUSHDB", "sync", "async"]),
            err("ERR syntax error")
        );
    }

    #[test]
    fn randomkey_skips_expired_records() {
        let mut kv = MemKv::default();
        assert_eq!(run(&mut kv, 0, &["RANDOMKEY"]), Reply::Nil);
        for i in 0..40 {
            kv.put_str(&format!("dead{i:02}"), "x", Some(5));
        }
        assert_eq!(run(&mut kv, 10, &["RANDOMKEY"]), Reply::Nil);
        kv.put_str("zlive", "x", None);
        assert_eq!(run(&mut kv, 10, &["RANDOMKEY"]), bulk("zlive"));
        assert!(matches!(run(&mut kv, 0, &["RANDOMKEY"]), Reply::Bulk(_)));
    }
}
