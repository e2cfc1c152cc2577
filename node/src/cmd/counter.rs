//! Counters stored as decimal strings: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT. All keep the
//! key's TTL; a missing key counts as 0.

use tanli_storage::{KvWrite, Record};

use super::ldouble::{self, LongDouble, Parsed};
use super::parse::{err, parse_i64, Args};
use super::{live_string_w, Command, Step, WriteCmd};
use crate::reply::Reply;

pub(super) fn parse_incr(a: &mut Args) -> Result<Command, Reply> {
    by(a, 1)
}

pub(super) fn parse_decr(a: &mut Args) -> Result<Command, Reply> {
    by(a, -1)
}

fn by(a: &mut Args, by: i64) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    a.finish()?;
    Ok(Command::Write(WriteCmd::IncrBy { key, by }))
}

pub(super) fn parse_incrby(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let by = a.next_i64()?;
    a.finish()?;
    Ok(Command::Write(WriteCmd::IncrBy { key, by }))
}

pub(super) fn parse_decrby(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let by = a.next_i64()?;
    a.finish()?;
    let by = by
        .checked_neg()
        .ok_or_else(|| Reply::err("decrement would overflow"))?;
    Ok(Command::Write(WriteCmd::IncrBy { key, by }))
}

pub(super) fn parse_incrbyfloat(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let by = a.next_vec()?;
    a.finish()?;
    Ok(Command::Write(WriteCmd::IncrByFloat { key, by }))
}

pub(super) fn incrby(kv: &mut dyn KvWrite, now: u64, key: &[u8], by: i64) -> Step<Reply> {
    let old = live_string_w(kv, now, key)?;
    let current = match &old {
        Some(rec) => parse_i64(&rec.data).ok_or_else(err::not_integer)?,
        None => 0,
    };
    let value = current.checked_add(by).ok_or_else(err::incr_overflow)?;
    put_keeping_ttl(kv, key, old, value.to_string().into_bytes())?;
    Ok(Reply::Int(value))
}

/// Adds in x87 extended precision and stores Redis's human-readable form of the sum.
pub(super) fn incrbyfloat(kv: &mut dyn KvWrite, now: u64, key: &[u8], by: &[u8]) -> Step<Reply> {
    let old = live_string_w(kv, now, key)?;
    let current = match &old {
        Some(rec) => ldouble::parse(&rec.data).ok_or_else(err::not_float)?,
        None => Parsed::Finite(LongDouble::ZERO),
    };
    let by = ldouble::parse(by).ok_or_else(err::not_float)?;
    let sum = match (current, by) {
        (Parsed::Finite(a), Parsed::Finite(b)) => ldouble::add(a, b),
        _ => None,
    };
    let sum = sum.ok_or_else(|| Reply::err("increment would produce NaN or Infinity"))?;
    let text = ldouble::to_human(sum).into_bytes();
    put_keeping_ttl(kv, key, old, text.clone())?;
    Ok(Reply::Bulk(text))
}

fn put_keeping_ttl(
    kv: &mut dyn KvWrite,
    key: &[u8],
    old: Option<Record>,
    data: Vec<u8>,
) -> Step<()> {
    let expire_at_ms = old.and_then(|r| r.expire_at_ms);
    kv.put(
        key,
        Record {
            expire_at_ms,
            ..Record::string(data)
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testkv::{bulk, err, run, MemKv};
    use crate::reply::Reply;

    #[test]
    fn incr_family() {
        let mut kv = MemKv::default();
        assert_eq!(run(&mut kv, 0, &["INCR", "n"]), Reply::Int(1));
        assert_eq!(run(&mut kv, 0, &["INCRBY", "n", "41"]), Reply::Int(42));
        assert_eq!(run(&mut kv, 0, &["DECR", "n"]), Reply::Int(41));
        assert_eq!(run(&mut kv, 0, &["DECRBY", "n", "-9"]), Reply::Int(50));
        assert_eq!(kv.value("n").as_deref(), Some("50"));
        assert_eq!(
            run(&mut kv, 0, &["DECRBY", "n", "-9223372036854775808"]),
            err("ERR decrement would overflow")
        );
        assert_eq!(
            run(&mut kv, 0, &["INCRBY", "n", "x"]),
            err("ERR value is not an integer or out of range")
        );
    }

    #[test]
    fn incr_rejects_non_integers_and_overflow() {
        let mut kv = MemKv::default();
        let not_int = err("ERR value is not an integer or out of range");
        for bad in [" 1", "1 ", "01", "1.0", "abc", "", "9223372036854775808"] {
            kv.put_str("s", bad, None);
            assert_eq!(run(&mut kv, 0, &["INCR", "s"]), not_int, "{bad:?}");
        }
        kv.put_str("max", "9223372036854775807", None);
        assert_eq!(
            run(&mut kv, 0, &["INCR", "max"]),
            err("ERR increment or decrement would overflow")
        );
        kv.put_str("min", "-9223372036854775808", None);
        assert_eq!(
            run(&mut kv, 0, &["DECR", "min"]),
            err("ERR increment or decrement would overflow")
        );
        assert_eq!(kv.value("min").as_deref(), Some("-9223372036854775808"));
    }

    #[test]
    fn counters_keep_ttl_but_expired_values_restart_at_zero() {
        let mut kv = MemKv::default();
        kv.put_str("t", "10", Some(100));
        assert_eq!(run(&mut kv, 50, &["INCR", "t"]), Reply::Int(11));
        assert_eq!(kv.record("t").and_then(|r| r.expire_at_ms), Some(100));
        assert_eq!(run(&mut kv, 100, &["INCR", "t"]), Reply::Int(1));
        assert_eq!(kv.record("t").and_then(|r| r.expire_at_ms), None);
        kv.put_str("f", "1.5", Some(100));
        assert_eq!(run(&mut kv, 50, &["INCRBYFLOAT", "f", "1"]), bulk("2.5"));
        assert_eq!(kv.record("f").and_then(|r| r.expire_at_ms), Some(100));
    }

    #[test]
    fn incrbyfloat_formats_like_redis() {
        let mut kv = MemKv::default();
        assert_eq!(
            run(&mut kv, 0, &["INCRBYFLOAT", "f", "10.50"]),
            bulk("10.5")
        );
        assert_eq!(run(&mut kv, 0, &["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
        assert_eq!(run(&mut kv, 0, &["INCRBYFLOAT", "f", "-5"]), bulk("5.6"));
        kv.put_str("g", "5.0e3", None);
        assert_eq!(
            run(&mut kv, 0, &["INCRBYFLOAT", "g", "2.0e2"]),
            bulk("5200")
        );
        kv.put_str("h", "0.1", None);
        assert_eq!(run(&mut kv, 0, &["INCRBYFLOAT", "h", "0.2"]), bulk("0.3"));
        kv.put_str("big", "17179869184", None);
        assert_eq!(
            run(&mut kv, 0, &["INCRBYFLOAT", "big", "1.5"]),
            bulk("17179869185.5")
        );
        assert_eq!(
            run(&mut kv, 0, &["INCRBYFLOAT", "z", "0.024390243902439025"]),
            bulk("0.02439024390243902")
        );
        assert_eq!(
            run(&mut kv, 0, &["INCRBYFLOAT", "z", "-0.02439024390243902"]),
            bulk("0")
        );
    }

    #[test]
    fn incrbyfloat_errors() {
        let mut kv = MemKv::default();
        let not_float = err("ERR value is not a valid float");
        kv.put_str("s", " 11", None);
        assert_eq!(run(&mut kv, 0, &["INCRBYFLOAT", "s", "1"]), not_float);
        kv.put_str("s", "11", None);
        assert_eq!(run(&mut kv, 0, &["INCRBYFLOAT", "s", "1x"]), not_float);
        assert_eq!(run(&mut kv, 0, &["INCRBYFLOAT", "s", "nan"]), not_float);
        let naninf = err("ERR increment would produce NaN or Infinity");
        assert_eq!(run(&mut kv, 0, &["INCRBYFLOAT", "s", "+inf"]), naninf);
        kv.put_str("huge", "1e4932", None);
        assert_eq!(run(&mut kv, 0, &["INCRBYFLOAT", "huge", "1e4932"]), naninf);
        assert_eq!(kv.value("s").as_deref(), Some("11"));
    }
}
