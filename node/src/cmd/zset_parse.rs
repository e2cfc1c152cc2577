//! Argument parsing of the sorted-set commands, in Redis 7.0's order of checks: every error a
//! parser returns comes before the key lookup in Redis too (ZSCAN's options are the exception,
//! see [`ZSetRead::Scan`]).

use bytes::Bytes;

use super::super::parse::{eq_ic, err, parse_i64, Args};
use super::super::{Command, ReadCmd, WriteCmd};
use super::score::{parse_score, parse_score_bound};
use super::{AddFlags, LexBound, LexRange, RangeBy, RangeQuery, ScoreRange, ZSetRead, ZSetWrite};
use crate::reply::Reply;

fn read(r: ZSetRead) -> Result<Command, Reply> {
    Ok(Command::Read(ReadCmd::ZSet(r)))
}

fn write(w: ZSetWrite) -> Result<Command, Reply> {
    Ok(Command::Write(WriteCmd::ZSet(w)))
}

fn not_float_range() -> Reply {
    Reply::err("min or max is not a float")
}

fn not_lex_range() -> Reply {
    Reply::err("min or max not valid string range item")
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`.
pub(super) fn zadd(a: &mut Args) -> Result<Command, Reply> {
    add(a, AddFlags::default())
}

/// `ZINCRBY key increment member`: ZADD INCR, through ZADD's parser as in Redis (so an option
/// word in the increment's place is a syntax error rather than a bad float).
pub(super) fn zincrby(a: &mut Args) -> Result<Command, Reply> {
    add(
        a,
        AddFlags {
            incr: true,
            ..AddFlags::default()
        },
    )
}

fn add(a: &mut Args, mut f: AddFlags) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let rest = a.rest();
    let mut i = 0;
    while let Some(opt) = rest.get(i) {
        let flag = match opt {
            o if eq_ic(o, "NX") => &mut f.nx,
            o if eq_ic(o, "XX") => &mut f.xx,
            o if eq_ic(o, "CH") => &mut f.ch,
            o if eq_ic(o, "INCR") => &mut f.incr,
            o if eq_ic(o, "GT") => &mut f.gt,
            o if eq_ic(o, "LT") => &mut f.lt,
            _ => break,
        };
        *flag = true;
        i += 1;
    }
    let elements = &rest[i..];
    if elements.is_empty() || elements.len() % 2 == 1 {
        return Err(err::syntax());
    }
    if f.nx && f.xx {
        return Err(Reply::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(Reply::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && elements.len() > 2 {
        return Err(Reply::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let pairs = elements
        .chunks_exact(2)
        .map(|p| {
            let score = parse_score(&p[0]).ok_or_else(err::not_float)?;
            Ok((score, p[1].to_vec()))
        })
        .collect::<Result<Vec<_>, Reply>>()?;
    write(ZSetWrite::Add {
        key,
        flags: f,
        pairs,
    })
}

pub(super) fn zrem(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let members = a.rest().iter().map(|m| m.to_vec()).collect();
    write(ZSetWrite::Rem { key, members })
}

pub(super) fn zscore(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let member = a.take()?.clone();
    a.finish()?;
    read(ZSetRead::Score { key, member })
}

pub(super) fn zmscore(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let members = a.rest().to_vec();
    read(ZSetRead::MScore { key, members })
}

pub(super) fn zcard(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    read(ZSetRead::Card { key })
}

pub(super) fn zcount(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let range = score_range(a.take()?, a.take()?).ok_or_else(not_float_range)?;
    a.finish()?;
    read(ZSetRead::Count { key, range })
}

pub(super) fn zlexcount(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let range = lex_range(a.take()?, a.take()?).ok_or_else(not_lex_range)?;
    a.finish()?;
    read(ZSetRead::LexCount { key, range })
}

pub(super) fn zrank(a: &mut Args) -> Result<Command, Reply> {
    rank(a, false)
}

pub(super) fn zrevrank(a: &mut Args) -> Result<Command, Reply> {
    rank(a, true)
}

fn rank(a: &mut Args, rev: bool) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let member = a.take()?.clone();
    a.finish()?;
    read(ZSetRead::Rank { key, member, rev })
}

pub(super) fn zpopmin(a: &mut Args) -> Result<Command, Reply> {
    pop(a, false)
}

pub(super) fn zpopmax(a: &mut Args) -> Result<Command, Reply> {
    pop(a, true)
}

fn pop(a: &mut Args, max: bool) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let rest = a.rest();
    if rest.len() > 1 {
        return Err(err::syntax());
    }
    let count = match rest.first() {
        None => None,
        Some(c) => Some(
            parse_i64(c)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| Reply::err("value is out of range, must be positive"))?,
        ),
    };
    write(ZSetWrite::Pop { key, max, count })
}

pub(super) fn zremrangebyrank(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let start = a.next_i64()?;
    let end = a.next_i64()?;
    a.finish()?;
    write(ZSetWrite::RemRange {
        key,
        by: RangeBy::Rank { start, end },
    })
}

pub(super) fn zremrangebyscore(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let range = score_range(a.take()?, a.take()?).ok_or_else(not_float_range)?;
    a.finish()?;
    write(ZSetWrite::RemRange {
        key,
        by: RangeBy::Score(range),
    })
}

pub(super) fn zremrangebylex(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let range = lex_range(a.take()?, a.take()?).ok_or_else(not_lex_range)?;
    a.finish()?;
    write(ZSetWrite::RemRange {
        key,
        by: RangeBy::Lex(range),
    })
}

/// Which kind of range a ZRANGE form selects; `Auto` until BYSCORE or BYLEX says (ZRANGE).
#[derive(Clone, Copy, PartialEq)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

/// The direction of a ZRANGE form; `Auto` until REV says (ZRANGE).
#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Auto,
    Forward,
    Reverse,
}

pub(super) fn zrange(a: &mut Args) -> Result<Command, Reply> {
    range(a, By::Auto, Dir::Auto)
}

pub(super) fn zrangebyscore(a: &mut Args) -> Result<Command, Reply> {
    range(a, By::Score, Dir::Forward)
}

pub(super) fn zrevrangebyscore(a: &mut Args) -> Result<Command, Reply> {
    range(a, By::Score, Dir::Reverse)
}

pub(super) fn zrevrange(a: &mut Args) -> Result<Command, Reply> {
    range(a, By::Rank, Dir::Reverse)
}

pub(super) fn zrangebylex(a: &mut Args) -> Result<Command, Reply> {
    range(a, By::Lex, Dir::Forward)
}

pub(super) fn zrevrangebylex(a: &mut Args) -> Result<Command, Reply> {
    range(a, By::Lex, Dir::Reverse)
}

/// Redis 7.0's `zrangeGenericCommand`: options first (a bad LIMIT number is the first error),
/// then the conflicts, then the range itself.
fn range(a: &mut Args, mut by: By, mut dir: Dir) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let first = a.take()?;
    let second = a.take()?;
    let opts = a.rest();
    let (mut withscores, mut offset, mut limit) = (false, 0, -1);
    let mut j = 0;
    while let Some(opt) = opts.get(j) {
        let left = opts.len() - j - 1;
        if eq_ic(opt, "WITHSCORES") {
            withscores = true;
        } else if eq_ic(opt, "LIMIT") && left >= 2 {
            offset = parse_i64(&opts[j + 1]).ok_or_else(err::not_integer)?;
            limit = parse_i64(&opts[j + 2]).ok_or_else(err::not_integer)?;
            j += 2;
        } else if dir == Dir::Auto && eq_ic(opt, "REV") {
            dir = Dir::Reverse;
        } else if by == By::Auto && eq_ic(opt, "BYLEX") {
            by = By::Lex;
        } else if by == By::Auto && eq_ic(opt, "BYSCORE") {
            by = By::Score;
        } else {
            return Err(err::syntax());
        }
        j += 1;
    }
    let rev = dir == Dir::Reverse;
    if by == By::Auto {
        by = By::Rank;
    }
    // -1 is Redis's "no LIMIT given", so `LIMIT 0 -1` is accepted with ranks.
    if limit != -1 && by == By::Rank {
        return Err(Reply::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(Reply::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Score and lex ranges are written max first in reverse.
    let (min, max) = if rev && by != By::Rank {
        (second, first)
    } else {
        (first, second)
    };
    let by = match by {
        By::Score => RangeBy::Score(score_range(min, max).ok_or_else(not_float_range)?),
        By::Lex => RangeBy::Lex(lex_range(min, max).ok_or_else(not_lex_range)?),
        By::Auto | By::Rank => RangeBy::Rank {
            start: parse_i64(min).ok_or_else(err::not_integer)?,
            end: parse_i64(max).ok_or_else(err::not_integer)?,
        },
    };
    let query = RangeQuery {
        by,
        rev,
        offset,
        limit,
        withscores,
    };
    read(ZSetRead::Range { key, query })
}

fn score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    let (min, min_ex) = parse_score_bound(min)?;
    let (max, max_ex) = parse_score_bound(max)?;
    Some(ScoreRange {
        min,
        min_ex,
        max,
        max_ex,
    })
}

fn lex_range(min: &[u8], max: &[u8]) -> Option<LexRange> {
    Some(LexRange {
        min: lex_bound(min)?,
        max: lex_bound(max)?,
    })
}

/// `zslParseLexRangeItem`: `-` and `+` alone (a C string: a NUL byte ends it), or `[`/`(`
/// followed by the member.
fn lex_bound(item: &[u8]) -> Option<LexBound> {
    let alone = item.get(1).is_none_or(|c| *c == 0);
    match item.split_first()? {
        (b'-', _) if alone => Some(LexBound::Min),
        (b'+', _) if alone => Some(LexBound::Max),
        (b'[', member) => Some(LexBound::Incl(member.to_vec())),
        (b'(', member) => Some(LexBound::Excl(member.to_vec())),
        _ => None,
    }
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: a bad cursor fails here, before the key is
/// looked up; option errors wait for the lookup.
pub(super) fn zscan(a: &mut Args) -> Result<Command, Reply> {
    let key: Bytes = a.take()?.clone();
    let cursor = super::super::hashorder::parse_cursor(a.take()?)?;
    // NOVALUES is HSCAN's alone (Redis 7.4): Redis 7.0's ZSCAN answers it with a syntax error.
    let opts = super::super::hashorder::parse_scan_opts(a.rest(), false);
    read(ZSetRead::Scan { key, cursor, opts })
}
