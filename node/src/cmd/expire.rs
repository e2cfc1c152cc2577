//! Key expiry: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX XX GT LT), PERSIST, TTL, PTTL.
//!
//! Relative times are added to the entry's log time at apply, so every replica computes the
//! same deadline. A deadline at or before the log time deletes the key (and still answers 1).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tanli_storage::{KvRead, KvWrite};

use super::parse::{eq_ic, err, Args};
use super::{live, live_w, Command, ReadCmd, Step, WriteCmd};
use crate::reply::Reply;

/// Which of the four commands: decides the unit, whether the time is relative, and the name in
/// error texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireKind {
    Expire,
    PExpire,
    ExpireAt,
    PExpireAt,
}

impl ExpireKind {
    fn name(self) -> &'static str {
        match self {
            ExpireKind::Expire => "expire",
            ExpireKind::PExpire => "pexpire",
            ExpireKind::ExpireAt => "expireat",
            ExpireKind::PExpireAt => "pexpireat",
        }
    }

    fn seconds(self) -> bool {
        matches!(self, ExpireKind::Expire | ExpireKind::ExpireAt)
    }

    fn relative(self) -> bool {
        matches!(self, ExpireKind::Expire | ExpireKind::PExpire)
    }
}

/// The NX / XX / GT / LT flags (valid combinations: XX with GT or LT).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireCond {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

fn parse_expire(a: &mut Args, kind: ExpireKind) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let when = a.take()?;
    let mut cond = ExpireCond::default();
    for opt in a.rest() {
        if eq_ic(opt, "NX") {
            cond.nx = true;
        } else if eq_ic(opt, "XX") {
            cond.xx = true;
        } else if eq_ic(opt, "GT") {
            cond.gt = true;
        } else if eq_ic(opt, "LT") {
            cond.lt = true;
        } else {
            return Err(Reply::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if cond.nx && (cond.xx || cond.gt || cond.lt) {
        return Err(Reply::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if cond.gt && cond.lt {
        return Err(Reply::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let when = super::parse::parse_i64(when).ok_or_else(err::not_integer)?;
    let when_ms = if kind.seconds() {
        when.checked_mul(1000)
            .ok_or_else(|| err::invalid_expire(kind.name()))?
    } else {
        when
    };
    Ok(Command::Write(WriteCmd::Expire {
        key,
        when_ms,
        kind,
        cond,
    }))
}

pub(super) fn parse_expire_cmd(a: &mut Args) -> Result<Command, Reply> {
    parse_expire(a, ExpireKind::Expire)
}

pub(super) fn parse_pexpire(a: &mut Args) -> Result<Command, Reply> {
    parse_expire(a, ExpireKind::PExpire)
}

pub(super) fn parse_expireat(a: &mut Args) -> Result<Command, Reply> {
    parse_expire(a, ExpireKind::ExpireAt)
}

pub(super) fn parse_pexpireat(a: &mut Args) -> Result<Command, Reply> {
    parse_expire(a, ExpireKind::PExpireAt)
}

pub(super) fn parse_persist(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    a.finish()?;
    Ok(Command::Write(WriteCmd::Persist { key }))
}

pub(super) fn parse_ttl(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    Ok(Command::Read(ReadCmd::Ttl { key, ms: false }))
}

pub(super) fn parse_pttl(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    Ok(Command::Read(ReadCmd::Ttl { key, ms: true }))
}

pub(super) fn apply_expire(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    when_ms: i64,
    kind: ExpireKind,
    cond: ExpireCond,
) -> Step<Reply> {
    let base = if kind.relative() {
        i64::try_from(now).unwrap_or(i64::MAX)
    } else {
        0
    };
    let when = when_ms
        .checked_add(base)
        .ok_or_else(|| err::invalid_expire(kind.name()))?;
    let Some(mut rec) = live_w(kv, now, key)? else {
        return Ok(Reply::Int(0));
    };
    // A key without TTL has an infinite one: it is never "less than" GT and always beats LT.
    let current = rec
        .expire_at_ms
        .map(|at| i64::try_from(at).unwrap_or(i64::MAX));
    let refused = (cond.nx && current.is_some())
        || (cond.xx && current.is_none())
        || (cond.gt && current.is_none_or(|cur| when <= cur))
        || (cond.lt && current.is_some_and(|cur| when >= cur));
    if refused {
        return Ok(Reply::Int(0));
    }
    match u64::try_from(when) {
        Ok(at) if at > now => {
            rec.expire_at_ms = Some(at);
            kv.put(key, rec)?;
        }
        _ => {
            kv.delete(key)?;
        }
    }
    Ok(Reply::Int(1))
}

pub(super) fn persist(kv: &mut dyn KvWrite, now: u64, key: &[u8]) -> Step<Reply> {
    match live_w(kv, now, key)? {
        Some(mut rec) if rec.expire_at_ms.is_some() => {
            rec.expire_at_ms = None;
            kv.put(key, rec)?;
            Ok(Reply::Int(1))
        }
        _ => Ok(Reply::Int(0)),
    }
}

/// -2 for a missing key, -1 without TTL, else the remaining time (seconds rounded to nearest).
pub(super) fn ttl(r: &dyn KvRead, now: u64, key: &Bytes, ms: bool) -> Step<Reply> {
    let Some(rec) = live(r, now, key)? else {
        return Ok(Reply::Int(-2));
    };
    let Some(at) = rec.expire_at_ms else {
        return Ok(Reply::Int(-1));
    };
    let left = i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX);
    Ok(Reply::Int(if ms {
        left
    } else {
        left.saturating_add(500) / 1000
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testkv::{err, run, MemKv};
    use crate::reply::Reply;

    fn ttl_of(kv: &MemKv, key: &str) -> Option<u64> {
        kv.record(key).and_then(|r| r.expire_at_ms)
    }

    #[test]
    fn expire_family_sets_deadlines_from_log_time() {
        let mut kv = MemKv::default();
        kv.put_str("k", "v", None);
        assert_eq!(run(&mut kv, 1_000, &["EXPIRE", "k", "10"]), Reply::Int(1));
        assert_eq!(ttl_of(&kv, "k"), Some(11_000));
        assert_eq!(run(&mut kv, 1_000, &["PEXPIRE", "k", "10"]), Reply::Int(1));
        assert_eq!(ttl_of(&kv, "k"), Some(1_010));
        assert_eq!(run(&mut kv, 1_000, &["EXPIREAT", "k", "5"]), Reply::Int(1));
        assert_eq!(ttl_of(&kv, "k"), Some(5_000));
        assert_eq!(
            run(&mut kv, 1_000, &["PEXPIREAT", "k", "6000"]),
            Reply::Int(1)
        );
        assert_eq!(ttl_of(&kv, "k"), Some(6_000));
        assert_eq!(
            run(&mut kv, 1_000, &["EXPIRE", "missing", "10"]),
            Reply::Int(0)
        );
    }

    #[test]
    fn past_deadlines_delete() {
        let mut kv = MemKv::default();
        kv.put_str("a", "v", None);
        kv.put_str("b", "v", None);
        kv.put_str("c", "v", None);
        assert_eq!(run(&mut kv, 1_000, &["EXPIRE", "a", "-1"]), Reply::Int(1));
        assert_eq!(
            run(&mut kv, 1_000, &["PEXPIREAT", "b", "1000"]),
            Reply::Int(1)
        );
        assert_eq!(run(&mut kv, 1_000, &["EXPIREAT", "c", "-5"]), Reply::Int(1));
        assert!(kv.map.is_empty());
    }

    #[test]
    fn conditions() {
        let mut kv = MemKv::default();
        kv.put_str("k", "v", None);
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "100", "XX"]),
            Reply::Int(0)
        );
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "100", "GT"]),
            Reply::Int(0)
        );
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "100", "LT"]),
            Reply::Int(1)
        );
        assert_eq!(run(&mut kv, 0, &["EXPIRE", "k", "50", "NX"]), Reply::Int(0));
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "200", "LT"]),
            Reply::Int(0)
        );
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "200", "GT", "XX"]),
            Reply::Int(1)
        );
        assert_eq!(ttl_of(&kv, "k"), Some(200_000));
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "200", "gt"]),
            Reply::Int(0)
        );
        let e = |s: &str| err(s);
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "1", "NX", "XX"]),
            e("ERR NX and XX, GT or LT options at the same time are not compatible")
        );
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "1", "GT", "LT"]),
            e("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "1", "YY"]),
            e("ERR Unsupported option YY")
        );
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "x"]),
            e("ERR value is not an integer or out of range")
        );
    }

    #[test]
    fn overflow_errors_name_the_command() {
        let mut kv = MemKv::default();
        kv.put_str("k", "v", None);
        assert_eq!(
            run(&mut kv, 0, &["EXPIRE", "k", "9223372036854775807"]),
            err("ERR invalid expire time in 'expire' command")
        );
        assert_eq!(
            run(&mut kv, 5, &["PEXPIRE", "k", "9223372036854775807"]),
            err("ERR invalid expire time in 'pexpire' command")
        );
        assert_eq!(
            run(&mut kv, 5, &["PEXPIREAT", "k", "9223372036854775807"]),
            Reply::Int(1)
        );
        assert_eq!(ttl_of(&kv, "k"), Some(i64::MAX as u64));
    }

    #[test]
    fn persist_and_ttl() {
        let mut kv = MemKv::default();
        kv.put_str("k", "v", Some(10_600));
        assert_eq!(run(&mut kv, 1_000, &["TTL", "k"]), Reply::Int(10));
        assert_eq!(run(&mut kv, 1_000, &["PTTL", "k"]), Reply::Int(9_600));
        kv.put_str("r", "v", Some(1_499));
        assert_eq!(run(&mut kv, 1_000, &["TTL", "r"]), Reply::Int(0));
        kv.put_str("r", "v", Some(1_500));
        assert_eq!(run(&mut kv, 1_000, &["TTL", "r"]), Reply::Int(1));
        assert_eq!(run(&mut kv, 1_000, &["TTL", "missing"]), Reply::Int(-2));
        assert_eq!(run(&mut kv, 20_000, &["TTL", "k"]), Reply::Int(-2));
        assert_eq!(run(&mut kv, 1_000, &["PERSIST", "k"]), Reply::Int(1));
        assert_eq!(run(&mut kv, 1_000, &["TTL", "k"]), Reply::Int(-1));
        assert_eq!(run(&mut kv, 1_000, &["PERSIST", "k"]), Reply::Int(0));
        assert_eq!(run(&mut kv, 1_000, &["PERSIST", "missing"]), Reply::Int(0));
    }

    #[test]
    fn writes_reclaim_expired_records_they_find() {
        let mut kv = MemKv::default();
        kv.put_str("a", "v", Some(10));
        kv.put_str("b", "v", Some(10));
        assert_eq!(run(&mut kv, 10, &["EXPIRE", "a", "100"]), Reply::Int(0));
        assert_eq!(run(&mut kv, 10, &["PERSIST", "b"]), Reply::Int(0));
        assert!(kv.map.is_empty());
    }
}
