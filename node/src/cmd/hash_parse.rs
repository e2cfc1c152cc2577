//! Argument parsing of the hash commands, in Redis 7.0's order of checks: every error a parser
//! returns comes before the key lookup in Redis too (HSCAN's options and HRANDFIELD's bound on
//! repeats are the exceptions, see [`HashRead::Scan`] and `hash.rs`).

use bytes::Bytes;

use super::super::hashorder;
use super::super::ldouble::{self, LongDouble, Parsed};
use super::super::parse::{eq_ic, err, Args};
use super::super::{Command, ReadCmd, WriteCmd};
use super::{HashRead, HashWrite, Part};
use crate::reply::Reply;

fn read(r: HashRead) -> Result<Command, Reply> {
    Ok(Command::Read(ReadCmd::Hash(r)))
}

fn write(w: HashWrite) -> Result<Command, Reply> {
    Ok(Command::Write(WriteCmd::Hash(w)))
}

/// HSET and HMSET: field-value pairs, an odd count being an arity error (before the key is
/// looked at, as in Redis).
fn parse_pairs(a: &mut Args, ok_reply: bool) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let rest = a.rest();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(err::arity(a.fullname()));
    }
    let pairs = rest
        .chunks_exact(2)
        .map(|p| (p[0].to_vec(), p[1].to_vec()))
        .collect();
    write(HashWrite::Set {
        key,
        pairs,
        ok_reply,
    })
}

pub(super) fn hset(a: &mut Args) -> Result<Command, Reply> {
    parse_pairs(a, false)
}

pub(super) fn hmset(a: &mut Args) -> Result<Command, Reply> {
    parse_pairs(a, true)
}

pub(super) fn hsetnx(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let field = a.next_vec()?;
    let value = a.next_vec()?;
    a.finish()?;
    write(HashWrite::SetNx { key, field, value })
}

/// `key field`: HGET, HEXISTS, HSTRLEN.
fn key_field(a: &mut Args) -> Result<(Bytes, Bytes), Reply> {
    let key = a.take()?.clone();
    let field = a.take()?.clone();
    a.finish()?;
    Ok((key, field))
}

pub(super) fn hget(a: &mut Args) -> Result<Command, Reply> {
    let (key, field) = key_field(a)?;
    read(HashRead::Get { key, field })
}

pub(super) fn hexists(a: &mut Args) -> Result<Command, Reply> {
    let (key, field) = key_field(a)?;
    read(HashRead::Exists { key, field })
}

pub(super) fn hstrlen(a: &mut Args) -> Result<Command, Reply> {
    let (key, field) = key_field(a)?;
    read(HashRead::StrLen { key, field })
}

pub(super) fn hmget(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let fields = a.rest().to_vec();
    read(HashRead::MGet { key, fields })
}

fn parse_all(a: &mut Args, part: Part) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    read(HashRead::All { key, part })
}

pub(super) fn hgetall(a: &mut Args) -> Result<Command, Reply> {
    parse_all(a, Part::Both)
}

pub(super) fn hkeys(a: &mut Args) -> Result<Command, Reply> {
    parse_all(a, Part::Fields)
}

pub(super) fn hvals(a: &mut Args) -> Result<Command, Reply> {
    parse_all(a, Part::Values)
}

pub(super) fn hlen(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    read(HashRead::Len { key })
}

pub(super) fn hdel(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let fields = a.rest().iter().map(|f| f.to_vec()).collect();
    write(HashWrite::Del { key, fields })
}

pub(super) fn hincrby(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let field = a.next_vec()?;
    let by = a.next_i64()?;
    a.finish()?;
    write(HashWrite::IncrBy { key, field, by })
}

pub(super) fn hincrbyfloat(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let field = a.next_vec()?;
    let by = a.next_vec()?;
    a.finish()?;
    float_increment(&by)?;
    write(HashWrite::IncrByFloat { key, field, by })
}

/// HINCRBYFLOAT's increment as Redis checks it: a number `strtold` takes whole, and finite.
pub(super) fn float_increment(arg: &[u8]) -> Result<LongDouble, Reply> {
    match ldouble::parse(arg) {
        None => Err(err::not_float()),
        Some(Parsed::Infinite) => Err(Reply::err("value is NaN or Infinity")),
        Some(Parsed::Finite(v)) => Ok(v),
    }
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]`: a bad cursor fails here, before
/// the key is looked up; option errors wait for the lookup ([`HashRead::Scan`]).
pub(super) fn hscan(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let cursor = hashorder::parse_cursor(a.take()?)?;
    let opts = hashorder::parse_scan_opts(a.rest(), true);
    read(HashRead::Scan { key, cursor, opts })
}

/// `HRANDFIELD key [count [WITHVALUES]]`, checked in Redis's order: the count (within
/// ±`LONG_MAX`), then the option, then the WITHVALUES range (±`LONG_MAX / 2`). This server's
/// bound on repeats ([`hashorder::check_repeats`]) is checked once the hash is found, where Redis
/// would start building the reply.
pub(super) fn hrandfield(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let Some((count, opts)) = a.rest().split_first() else {
        return read(HashRead::RandField {
            key,
            count: None,
            with_values: false,
        });
    };
    let count = hashorder::parse_count(count)?;
    let with_values = match opts {
        [] => false,
        [opt] if eq_ic(opt, "WITHVALUES") => true,
        _ => return Err(err::syntax()),
    };
    let half = i64::MAX / 2;
    if with_values && !(-half..=half).contains(&count) {
        return Err(hashorder::out_of_range());
    }
    read(HashRead::RandField {
        key,
        count: Some(count),
        with_values,
    })
}
