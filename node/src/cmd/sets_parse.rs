//! Argument parsing of the set commands, in Redis 7.0's order of checks: every error a parser
//! returns comes before the key lookup in Redis too (SSCAN's options are the exception, see
//! [`SetRead::Scan`]).

use bytes::Bytes;

use super::super::parse::{eq_ic, err, is_c_space, parse_i64, Args};
use super::super::scan::SCAN_COUNT_MAX;
use super::super::{Command, ReadCmd, WriteCmd};
use super::{ScanOpts, SetOp, SetRead, SetWrite, SCAN_COUNT_DEFAULT, SRANDMEMBER_REPEATS_MAX};
use crate::reply::Reply;

fn read(r: SetRead) -> Result<Command, Reply> {
    Ok(Command::Read(ReadCmd::Sets(r)))
}

fn write(w: SetWrite) -> Result<Command, Reply> {
    Ok(Command::Write(WriteCmd::Sets(w)))
}

fn rest_vecs(a: &mut Args) -> Vec<Vec<u8>> {
    a.rest().iter().map(|b| b.to_vec()).collect()
}

pub(super) fn sadd(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let members = rest_vecs(a);
    write(SetWrite::Add { key, members })
}

pub(super) fn srem(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let members = rest_vecs(a);
    write(SetWrite::Rem { key, members })
}

pub(super) fn smembers(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    read(SetRead::Members { key })
}

pub(super) fn sismember(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let member = a.take()?.clone();
    a.finish()?;
    read(SetRead::IsMember { key, member })
}

pub(super) fn smismember(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let members = a.rest().to_vec();
    read(SetRead::MIsMember { key, members })
}

pub(super) fn scard(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    read(SetRead::Card { key })
}

/// `SPOP key [count]`: the count is 0 or more (Redis's `getPositiveLong`, whose one error text
/// covers a non-number too); a further argument is a syntax error before the count is read.
pub(super) fn spop(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let count = match a.rest() {
        [] => None,
        [c] => Some(
            parse_i64(c)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| Reply::err("value is out of range, must be positive"))?,
        ),
        _ => return Err(err::syntax()),
    };
    write(SetWrite::Pop { key, count })
}

/// `SRANDMEMBER key [count]`: the count is within ±`LONG_MAX` as in Redis, and a negative one
/// within [`SRANDMEMBER_REPEATS_MAX`].
pub(super) fn srandmember(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let count = match a.rest() {
        [] => None,
        [c] => Some(parse_rand_count(c)?),
        _ => return Err(err::syntax()),
    };
    read(SetRead::RandMember { key, count })
}

fn parse_rand_count(arg: &[u8]) -> Result<i64, Reply> {
    let n = parse_i64(arg).ok_or_else(err::not_integer)?;
    if n == i64::MIN {
        return Err(Reply::err(format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    if n < 0 && n.unsigned_abs() > SRANDMEMBER_REPEATS_MAX {
        return Err(Reply::err(format!(
            "value is out of range, a negative count must be at least -{SRANDMEMBER_REPEATS_MAX}"
        )));
    }
    Ok(n)
}

fn parse_combine(a: &mut Args, op: SetOp) -> Result<Command, Reply> {
    let keys = a.rest().to_vec();
    read(SetRead::Combine { op, keys })
}

pub(super) fn sinter(a: &mut Args) -> Result<Command, Reply> {
    parse_combine(a, SetOp::Inter)
}

pub(super) fn sunion(a: &mut Args) -> Result<Command, Reply> {
    parse_combine(a, SetOp::Union)
}

pub(super) fn sdiff(a: &mut Args) -> Result<Command, Reply> {
    parse_combine(a, SetOp::Diff)
}

fn parse_store(a: &mut Args, op: SetOp) -> Result<Command, Reply> {
    let dest = a.next_vec()?;
    let keys = rest_vecs(a);
    write(SetWrite::Store { op, dest, keys })
}

pub(super) fn sinterstore(a: &mut Args) -> Result<Command, Reply> {
    parse_store(a, SetOp::Inter)
}

pub(super) fn sunionstore(a: &mut Args) -> Result<Command, Reply> {
    parse_store(a, SetOp::Union)
}

pub(super) fn sdiffstore(a: &mut Args) -> Result<Command, Reply> {
    parse_store(a, SetOp::Diff)
}

pub(super) fn smove(a: &mut Args) -> Result<Command, Reply> {
    let src = a.next_vec()?;
    let dst = a.next_vec()?;
    let member = a.next_vec()?;
    a.finish()?;
    write(SetWrite::Move { src, dst, member })
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`: a bad cursor fails here, before the key is
/// looked up; option errors wait for the lookup (see [`SetRead::Scan`]).
pub(super) fn sscan(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let cursor = parse_cursor(a.take()?).ok_or_else(|| Reply::err("invalid cursor"))?;
    let opts = parse_scan_opts(a.rest());
    read(SetRead::Scan { key, cursor, opts })
}

/// Redis 7.0's `scanGenericCommand` options, in order: the first bad one is the error.
fn parse_scan_opts(args: &[Bytes]) -> Result<ScanOpts, Reply> {
    let mut opts = ScanOpts {
        pattern: None,
        count: SCAN_COUNT_DEFAULT,
    };
    let mut rest = args;
    while let Some((opt, tail)) = rest.split_first() {
        let Some((value, tail)) = tail.split_first() else {
            return Err(err::syntax());
        };
        if eq_ic(opt, "COUNT") {
            let count = parse_i64(value).ok_or_else(err::not_integer)?;
            if count < 1 {
                return Err(err::syntax());
            }
            opts.count = usize::try_from(count)
                .unwrap_or(usize::MAX)
                .min(SCAN_COUNT_MAX);
        } else if eq_ic(opt, "MATCH") {
            // A lone "*" matches everything: the same as no pattern.
            opts.pattern = (value.as_ref() != b"*").then(|| value.clone());
        } else {
            return Err(err::syntax());
        }
        rest = tail;
    }
    Ok(opts)
}

/// Redis 7.0's scan cursor: C `strtoul` in base 10 over the argument up to a NUL, refused when
/// it starts with a space, leaves characters unread or overflows. So `""` is 0, `"+5"` and
/// `"007"` are accepted, and `"-1"` wraps around to the largest cursor.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let s = &arg[..arg.iter().position(|c| *c == 0).unwrap_or(arg.len())];
    let Some(first) = s.first() else {
        return Some(0);
    };
    if is_c_space(*first) {
        return None;
    }
    let (negative, digits) = match first {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}
