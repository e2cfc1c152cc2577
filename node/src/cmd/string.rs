//! String commands other than SET's family and the counters: GET, MGET, STRLEN, GETRANGE
//! (SUBSTR), GETDEL, MSET, MSETNX, APPEND, SETRANGE.

use bytes::Bytes;
use tanli_storage::{KvRead, KvWrite, Record};

use super::parse::{err, Args, STRING_BYTES_MAX};
use super::{len_reply, live_string, live_string_w, live_w, Command, ReadCmd, Step, WriteCmd};
use crate::reply::Reply;

pub(super) fn parse_get(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    Ok(Command::Read(ReadCmd::Get { key }))
}

pub(super) fn parse_mget(a: &mut Args) -> Result<Command, Reply> {
    Ok(Command::Read(ReadCmd::MGet {
        keys: a.rest().to_vec(),
    }))
}

pub(super) fn parse_strlen(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    Ok(Command::Read(ReadCmd::Strlen { key }))
}

/// GETRANGE and SUBSTR: both bounds must be integers before the key is looked at.
pub(super) fn parse_getrange(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let start = a.next_i64()?;
    let end = a.next_i64()?;
    a.finish()?;
    Ok(Command::Read(ReadCmd::GetRange { key, start, end }))
}

pub(super) fn parse_getdel(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    a.finish()?;
    Ok(Command::Write(WriteCmd::GetDel { key }))
}

fn parse_pairs(a: &mut Args, nx: bool) -> Result<Command, Reply> {
    let rest = a.rest();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(err::arity(a.fullname()));
    }
    let pairs = rest
        .chunks_exact(2)
        .map(|kv| (kv[0].to_vec(), kv[1].to_vec()))
        .collect();
    Ok(Command::Write(WriteCmd::MSet { pairs, nx }))
}

pub(super) fn parse_mset(a: &mut Args) -> Result<Command, Reply> {
    parse_pairs(a, false)
}

pub(super) fn parse_msetnx(a: &mut Args) -> Result<Command, Reply> {
    parse_pairs(a, true)
}

pub(super) fn parse_append(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let value = a.next_vec()?;
    a.finish()?;
    Ok(Command::Write(WriteCmd::Append { key, value }))
}

pub(super) fn parse_setrange(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let offset = a.next_i64()?;
    let value = a.next_vec()?;
    a.finish()?;
    let offset = u64::try_from(offset).map_err(|_| Reply::err("offset is out of range"))?;
    Ok(Command::Write(WriteCmd::SetRange { key, offset, value }))
}

pub(super) fn get(r: &dyn KvRead, now: u64, key: &Bytes) -> Step<Reply> {
    Ok(live_string(r, now, key)?.map_or(Reply::Nil, |rec| Reply::Bulk(rec.data)))
}

/// MGET answers nil for missing keys and for keys of another type (no WRONGTYPE).
pub(super) fn mget(r: &dyn KvRead, now: u64, keys: &[Bytes]) -> Step<Reply> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        out.push(match live_string(r, now, key) {
            Ok(Some(rec)) => Reply::Bulk(rec.data),
            Ok(None) | Err(super::Stop::Reply(_)) => Reply::Nil,
            Err(e) => return Err(e),
        });
    }
    Ok(Reply::Array(out))
}

pub(super) fn strlen(r: &dyn KvRead, now: u64, key: &Bytes) -> Step<Reply> {
    Ok(len_reply(
        live_string(r, now, key)?.map_or(0, |rec| rec.data.len()),
    ))
}

pub(super) fn getrange(r: &dyn KvRead, now: u64, key: &Bytes, start: i64, end: i64) -> Step<Reply> {
    let Some(rec) = live_string(r, now, key)? else {
        return Ok(Reply::Bulk(Vec::new()));
    };
    let len = i64::try_from(rec.data.len()).unwrap_or(i64::MAX);
    let start = if start < 0 {
        start.saturating_add(len)
    } else {
        start
    };
    let end = if end < 0 {
        end.saturating_add(len)
    } else {
        end
    };
    if len == 0 || start >= len || end < 0 || start > end {
        return Ok(Reply::Bulk(Vec::new()));
    }
    let (start, end) = (start.max(0) as usize, end.min(len - 1) as usize);
    Ok(Reply::Bulk(rec.data[start..=end].to_vec()))
}

pub(super) fn getdel(kv: &mut dyn KvWrite, now: u64, key: &[u8]) -> Step<Reply> {
    let Some(rec) = live_string_w(kv, now, key)? else {
        return Ok(Reply::Nil);
    };
    kv.delete(key)?;
    Ok(Reply::Bulk(rec.data))
}

/// MSET and MSETNX; every key loses its TTL. MSETNX sets nothing if any key is live.
pub(super) fn mset(
    kv: &mut dyn KvWrite,
    now: u64,
    pairs: &[(Vec<u8>, Vec<u8>)],
    nx: bool,
) -> Step<Reply> {
    if nx {
        for (key, _) in pairs {
            if live_w(kv, now, key)?.is_some() {
                return Ok(Reply::Int(0));
            }
        }
    }
    for (key, value) in pairs {
        kv.put(key, Record::string(value.clone()))?;
    }
    Ok(if nx { Reply::Int(1) } else { Reply::ok() })
}

/// APPEND keeps the key's TTL; it creates the key (without TTL) when missing.
pub(super) fn append(kv: &mut dyn KvWrite, now: u64, key: &[u8], value: &[u8]) -> Step<Reply> {
    let rec = match live_string_w(kv, now, key)? {
        None => Record::string(value.to_vec()),
        Some(mut rec) => {
            check_length(rec.data.len() as u64, value.len() as u64)?;
            rec.data.extend_from_slice(value);
            rec
        }
    };
    let len = rec.data.len();
    kv.put(key, rec)?;
    Ok(len_reply(len))
}

/// SETRANGE pads with zero bytes; an empty value changes nothing (and creates nothing).
pub(super) fn setrange(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    offset: u64,
    value: &[u8],
) -> Step<Reply> {
    let existing = live_string_w(kv, now, key)?;
    if value.is_empty() {
        return Ok(len_reply(existing.map_or(0, |r| r.data.len())));
    }
    check_length(offset, value.len() as u64)?;
    let mut rec = existing.unwrap_or_else(|| Record::string(Vec::new()));
    let (offset, end) = (offset as usize, offset as usize + value.len());
    if rec.data.len() < end {
        rec.data.resize(end, 0);
    }
    rec.data[offset..end].copy_from_slice(value);
    let len = rec.data.len();
    kv.put(key, rec)?;
    Ok(len_reply(len))
}

fn check_length(size: u64, append: u64) -> Step<()> {
    match size.checked_add(append) {
        Some(total) if total <= STRING_BYTES_MAX => Ok(()),
        _ => Err(err::too_big().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkv::{bulk, err, run, MemKv};
    use crate::reply::Reply;

    #[test]
    fn get_and_mget_skip_expired_records() {
        let mut kv = MemKv::default();
        kv.put_str("a", "1", None);
        kv.put_str("old", "x", Some(100));
        assert_eq!(run(&mut kv, 50, &["GET", "old"]), bulk("x"));
        assert_eq!(run(&mut kv, 100, &["GET", "old"]), Reply::Nil);
        assert_eq!(
            run(&mut kv, 100, &["MGET", "a", "old", "nope"]),
            Reply::Array(vec![bulk("1"), Reply::Nil, Reply::Nil])
        );
        assert_eq!(
            run(&mut kv, 0, &["GET", "a", "b"]),
            err("ERR wrong number of arguments for 'get' command")
        );
        assert_eq!(
            run(&mut kv, 0, &["MGET"]),
            err("ERR wrong number of arguments for 'mget' command")
        );
    }

    #[test]
    fn strlen_and_getrange() {
        let mut kv = MemKv::default();
        kv.put_str("s", "This is a string", None);
        assert_eq!(run(&mut kv, 0, &["STRLEN", "s"]), Reply::Int(16));
        assert_eq!(run(&mut kv, 0, &["STRLEN", "none"]), Reply::Int(0));
        let gr = |kv: &mut MemKv, a: &str, b: &str| run(kv, 0, &["GETRANGE", "s", a, b]);
        assert_eq!(gr(&mut kv, "0", "3"), bulk("This"));
        assert_eq!(gr(&mut kv, "-3", "-1"), bulk("ing"));
        assert_eq!(gr(&mut kv, "0", "-1"), bulk("This is a string"));
        assert_eq!(gr(&mut kv, "10", "100"), bulk("string"));
        assert_eq!(gr(&mut kv, "5", "3"), bulk(""));
        assert_eq!(gr(&mut kv, "-100", "-50"), bulk(""));
        assert_eq!(gr(&mut kv, "-100", "2"), bulk("Thi"));
        assert_eq!(gr(&mut kv, "16", "20"), bulk(""));
        assert_eq!(run(&mut kv, 0, &["SUBSTR", "s", "0", "1"]), bulk("Th"));
        assert_eq!(run(&mut kv, 0, &["GETRANGE", "none", "0", "1"]), bulk(""));
        assert_eq!(
            run(&mut kv, 0, &["GETRANGE", "s", "a", "1"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut kv, 0, &["GETRANGE", "s", "0", "9223372036854775807"]),
            bulk("This is a string")
        );
        assert_eq!(
            run(&mut kv, 0, &["GETRANGE", "s", "-9223372036854775808", "0"]),
            bulk("T")
        );
    }

    #[test]
    fn getdel_returns_and_removes() {
        let mut kv = MemKv::default();
        kv.put_str("k", "v", Some(10));
        assert_eq!(run(&mut kv, 5, &["GETDEL", "k"]), bulk("v"));
        assert!(kv.record("k").is_none());
        assert_eq!(run(&mut kv, 5, &["GETDEL", "k"]), Reply::Nil);
    }

    #[test]
    fn mset_clears_ttls_and_msetnx_is_all_or_nothing() {
        let mut kv = MemKv::default();
        kv.put_str("a", "old", Some(100));
        assert_eq!(
            run(&mut kv, 0, &["MSET", "a", "1", "b", "2", "a", "3"]),
            Reply::ok()
        );
        assert_eq!(kv.value("a").as_deref(), Some("3"));
        assert_eq!(kv.record("a").and_then(|r| r.expire_at_ms), None);
        assert_eq!(
            run(&mut kv, 0, &["MSET", "a"]),
            err("ERR wrong number of arguments for 'mset' command")
        );
        assert_eq!(
            run(&mut kv, 0, &["MSET", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'mset' command")
        );
        assert_eq!(
            run(&mut kv, 0, &["MSETNX", "c", "1", "b", "9"]),
            Reply::Int(0)
        );
        assert!(kv.record("c").is_none());
        kv.put_str("old", "x", Some(5));
        assert_eq!(
            run(&mut kv, 10, &["MSETNX", "c", "1", "old", "y"]),
            Reply::Int(1)
        );
        assert_eq!(kv.value("old").as_deref(), Some("y"));
    }

    #[test]
    fn append_keeps_ttl_and_creates() {
        let mut kv = MemKv::default();
        assert_eq!(run(&mut kv, 0, &["APPEND", "k", "Hello"]), Reply::Int(5));
        kv.put_str("t", "ab", Some(100));
        assert_eq!(run(&mut kv, 0, &["APPEND", "t", "cd"]), Reply::Int(4));
        assert_eq!(kv.record("t").and_then(|r| r.expire_at_ms), Some(100));
        // An expired record is replaced, not appended to.
        assert_eq!(run(&mut kv, 100, &["APPEND", "t", "x"]), Reply::Int(1));
        assert_eq!(kv.record("t").and_then(|r| r.expire_at_ms), None);
    }

    #[test]
    fn setrange_pads_checks_offsets_and_limits() {
        let mut kv = MemKv::default();
        assert_eq!(run(&mut kv, 0, &["SETRANGE", "k", "5", "x"]), Reply::Int(6));
        assert_eq!(
            kv.record("k").map(|r| r.data.clone()),
            Some(b"\0\0\0\0\0x".to_vec())
        );
        kv.put_str("h", "Hello World", Some(50));
        assert_eq!(
            run(&mut kv, 0, &["SETRANGE", "h", "6", "Redis"]),
            Reply::Int(11)
        );
        assert_eq!(kv.value("h").as_deref(), Some("Hello Redis"));
        assert_eq!(kv.record("h").and_then(|r| r.expire_at_ms), Some(50));
        assert_eq!(run(&mut kv, 0, &["SETRANGE", "h", "0", ""]), Reply::Int(11));
        assert_eq!(
            run(&mut kv, 0, &["SETRANGE", "none", "3", ""]),
            Reply::Int(0)
        );
        assert!(kv.record("none").is_none());
        assert_eq!(
            run(&mut kv, 0, &["SETRANGE", "h", "-1", "x"]),
            err("ERR offset is out of range")
        );
        assert_eq!(
            run(&mut kv, 0, &["SETRANGE", "h", "536870911", "xx"]),
            err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        );
        assert_eq!(
            run(&mut kv, 0, &["SETRANGE", "h", "9223372036854775807", "x"]),
            err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        );
        assert_eq!(
            run(&mut kv, 0, &["SETRANGE", "h", "x", "x"]),
            err("ERR value is not an integer or out of range")
        );
    }
}
