//! Argument parsing of the set commands, in Redis 7.0's order of checks: every error a parser
//! returns comes before the key lookup in Redis too (SSCAN's options are the exception, see
//! [`SetRead::Scan`]).

use super::super::hashorder;
use super::super::parse::{err, parse_i64, Args};
use super::super::{Command, ReadCmd, WriteCmd};
use super::{SetOp, SetRead, SetWrite};
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
/// within [`hashorder::RANDOM_REPEATS_MAX`].
pub(super) fn srandmember(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let count = match a.rest() {
        [] => None,
        [c] => {
            let count = hashorder::parse_count(c)?;
            hashorder::check_repeats(count)?;
            Some(count)
        }
        _ => return Err(err::syntax()),
    };
    read(SetRead::RandMember { key, count })
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
    let cursor = hashorder::parse_cursor(a.take()?)?;
    let opts = hashorder::parse_scan_opts(a.rest(), false);
    read(SetRead::Scan { key, cursor, opts })
}
