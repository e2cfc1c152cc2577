//! Sorted sets: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT ZRANGE ZRANGEBYSCORE
//! ZREVRANGEBYSCORE ZREVRANGE ZRANGEBYLEX ZREVRANGEBYLEX ZRANK ZREVRANK ZPOPMIN ZPOPMAX
//! ZREMRANGEBYSCORE ZREMRANGEBYRANK ZREMRANGEBYLEX ZSCAN, with Redis 7.0's replies and error
//! texts.
//!
//! **Layout.** A member has three entries in its instance's element spaces, kept in step by every
//! write (`ZSetElems` in `zset_cmds.rs`):
//! - tag 0 ([`MEMBERS`]): `member -> score` (8 bytes, `zset_score::sortable`), for ZSCORE and
//!   every update;
//! - tag 1 ([`BY_SCORE`]): `sortable score ++ member -> empty`: Redis's order (score, then member
//!   bytes), which every range, rank and pop walks;
//! - tag 2 ([`BY_HASH`]): `hash(member):u64 BE ++ member -> empty`, the members in the order of a
//!   stable 64-bit hash, for ZSCAN. A 64-bit cursor cannot name a position in byte order (members
//!   sharing a long prefix cannot be told apart in 64 bits, so a page could not end between
//!   them); in hash order it can, as for SSCAN.
//!
//! **Scores** are read, compared and printed as Redis 7.0 does (`zset_score.rs`): `strtod`
//! syntax, `%.17g` output ([`Reply::Score`]); -0 is stored as 0, as Redis's compact encoding
//! does.
//!
//! **Ranges** (`zset_span.rs`) become a span of tag-1 keys: a score range by seeking to its
//! bounds; a lex range as Redis's compact (listpack) encoding answers it, which for members of
//! equal score is the documented lexicographic range and for mixed scores is "the first member in
//! score order at or above min, then on while at or below max" (Redis's big encoding answers those
//! differently, depending on its skip list's random levels). Nothing indexes ranks, so a rank
//! (ZRANK, ZRANGE by index, ZREMRANGEBYRANK) costs reading the members before it, from whichever
//! end of the set is nearer; counts race the range against its complement and stop at the first
//! to finish. A command reads only what it returns, except skipped ranks and LIMIT offsets.
//!
//! **ZSCAN** (`zset_scan.rs`). A set Redis would hold compactly (at most 128 members of at most 64
//! bytes) answers cursor 0 with every member in score order and cursor 0, as Redis does. Any other
//! page walks tag 2: COUNT members whose hash is at least the cursor, extended while the next
//! member shares the last one's hash; the next cursor is the hash of the first member not
//! returned (never 0), or 0 at the end. A member present for the whole iteration is returned
//! exactly once.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tanli_storage::{KvRead, KvWrite};

use super::table::{cmd, Spec, NONDET, RO, RO_ACCESS, RO_FAST, RW_ACCESS_UPDATE, RW_UPDATE, W};
use super::table::{W_FAST, W_OOM_FAST};
use super::{ReadCtx, Step};
use crate::reply::Reply;

#[path = "zset_cmds.rs"]
mod cmds;
#[path = "zset_parse.rs"]
mod parse;
#[path = "zset_scan.rs"]
mod scan;
#[path = "zset_score.rs"]
mod score;
#[path = "zset_span.rs"]
mod span;
#[path = "zset_walk.rs"]
mod walk;

pub use super::hashorder::ScanOpts;

/// Element space: member -> sortable score.
const MEMBERS: u8 = 0;
/// Element space: sortable score ++ member -> empty.
const BY_SCORE: u8 = 1;
/// Element space: hash(member) ++ member -> empty.
const BY_HASH: u8 = 2;

const ZSET: &[&str] = &["sortedset"];
const GROUP: &str = "sorted-set";
const RW_DELETE: &[&str] = &["RW", "delete"];
const RW_ACCESS_DELETE: &[&str] = &["RW", "access", "delete"];

/// The family's command-table rows.
#[rustfmt::skip]
pub(super) static TABLE: &[Spec] = &[
    cmd("zadd", -4, W_OOM_FAST, ZSET, GROUP, "1.2.0", "Adds members to a sorted set or updates their scores.", parse::zadd).key(RW_UPDATE),
    cmd("zcard", 2, RO_FAST, ZSET, GROUP, "1.2.0", "Counts the members of a sorted set.", parse::zcard).key(&["RO"]),
    cmd("zcount", 4, RO_FAST, ZSET, GROUP, "2.0.0", "Counts the members whose score is in a range.", parse::zcount).key(RO_ACCESS),
    cmd("zincrby", 4, W_OOM_FAST, ZSET, GROUP, "1.2.0", "Adds to a member's score.", parse::zincrby).key(RW_ACCESS_UPDATE),
    cmd("zlexcount", 4, RO_FAST, ZSET, GROUP, "2.8.9", "Counts the members in a lexicographical range.", parse::zlexcount).key(RO_ACCESS),
    cmd("zmscore", -3, RO_FAST, ZSET, GROUP, "6.2.0", "Returns the scores of several members.", parse::zmscore).key(RO_ACCESS),
    cmd("zpopmax", -2, W_FAST, ZSET, GROUP, "5.0.0", "Removes and returns the members with the highest scores.", parse::zpopmax).key(RW_ACCESS_DELETE),
    cmd("zpopmin", -2, W_FAST, ZSET, GROUP, "5.0.0", "Removes and returns the members with the lowest scores.", parse::zpopmin).key(RW_ACCESS_DELETE),
    cmd("zrange", -4, RO, ZSET, GROUP, "1.2.0", "Returns members by rank, score or lexicographical range.", parse::zrange).key(RO_ACCESS),
    cmd("zrangebylex", -4, RO, ZSET, GROUP, "2.8.9", "Returns members in a lexicographical range.", parse::zrangebylex).key(RO_ACCESS),
    cmd("zrangebyscore", -4, RO, ZSET, GROUP, "1.0.5", "Returns members in a score range.", parse::zrangebyscore).key(RO_ACCESS),
    cmd("zrank", 3, RO_FAST, ZSET, GROUP, "2.0.0", "Returns a member's rank by ascending score.", parse::zrank).key(RO_ACCESS),
    cmd("zrem", -3, W_FAST, ZSET, GROUP, "1.2.0", "Removes members from a sorted set.", parse::zrem).key(RW_DELETE),
    cmd("zremrangebylex", 4, W, ZSET, GROUP, "2.8.9", "Removes the members in a lexicographical range.", parse::zremrangebylex).key(RW_DELETE),
    cmd("zremrangebyrank", 4, W, ZSET, GROUP, "2.0.0", "Removes the members in a rank range.", parse::zremrangebyrank).key(RW_DELETE),
    cmd("zremrangebyscore", 4, W, ZSET, GROUP, "1.2.0", "Removes the members in a score range.", parse::zremrangebyscore).key(RW_DELETE),
    cmd("zrevrange", -4, RO, ZSET, GROUP, "1.2.0", "Returns members by rank, highest score first.", parse::zrevrange).key(RO_ACCESS),
    cmd("zrevrangebylex", -4, RO, ZSET, GROUP, "2.8.9", "Returns members in a lexicographical range, highest first.", parse::zrevrangebylex).key(RO_ACCESS),
    cmd("zrevrangebyscore", -4, RO, ZSET, GROUP, "2.2.0", "Returns members in a score range, highest score first.", parse::zrevrangebyscore).key(RO_ACCESS),
    cmd("zrevrank", 3, RO_FAST, ZSET, GROUP, "2.0.0", "Returns a member's rank by descending score.", parse::zrevrank).key(RO_ACCESS),
    cmd("zscan", -3, RO, ZSET, GROUP, "2.8.0", "Iterates over the members and scores of a sorted set.", parse::zscan).tips(NONDET).key(RO_ACCESS),
    cmd("zscore", 3, RO_FAST, ZSET, GROUP, "1.2.0", "Returns a member's score.", parse::zscore).key(RO_ACCESS),
];

/// A score range as `zslParseRange` reads it: `(` makes a bound exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreRange {
    pub min: f64,
    pub min_ex: bool,
    pub max: f64,
    pub max_ex: bool,
}

/// One bound of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

/// What a range command selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RangeBy {
    /// Ranks as given (negative: from the end), not yet clamped.
    Rank {
        start: i64,
        end: i64,
    },
    Score(ScoreRange),
    Lex(LexRange),
}

/// ZRANGE and its older forms, parsed. For REV the range is already in (min, max) order.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeQuery {
    pub by: RangeBy,
    pub rev: bool,
    /// LIMIT's offset (0 without LIMIT); negative selects nothing, as in Redis.
    pub offset: i64,
    /// LIMIT's count; negative (the default, -1) means no limit.
    pub limit: i64,
    pub withscores: bool,
}

/// ZADD's options (ZINCRBY is ZADD with `incr`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub ch: bool,
    pub incr: bool,
}

/// The family's reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ZSetRead {
    Score {
        key: Bytes,
        member: Bytes,
    },
    MScore {
        key: Bytes,
        members: Vec<Bytes>,
    },
    Card {
        key: Bytes,
    },
    Count {
        key: Bytes,
        range: ScoreRange,
    },
    LexCount {
        key: Bytes,
        range: LexRange,
    },
    /// ZRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZREVRANGE, ZRANGEBYLEX, ZREVRANGEBYLEX.
    Range {
        key: Bytes,
        query: RangeQuery,
    },
    /// ZRANK (`rev == false`) and ZREVRANK.
    Rank {
        key: Bytes,
        member: Bytes,
        rev: bool,
    },
    /// ZSCAN. An option error is the reply only once the key is found to hold a sorted set (a
    /// missing key answers an empty page whatever the options), as in Redis.
    Scan {
        key: Bytes,
        cursor: u64,
        opts: Result<ScanOpts, Reply>,
    },
}

impl ZSetRead {
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            ZSetRead::Score { key, .. }
            | ZSetRead::MScore { key, .. }
            | ZSetRead::Card { key }
            | ZSetRead::Count { key, .. }
            | ZSetRead::LexCount { key, .. }
            | ZSetRead::Range { key, .. }
            | ZSetRead::Rank { key, .. }
            | ZSetRead::Scan { key, .. } => vec![key.as_ref()],
        }
    }

    pub(super) fn execute(&self, r: &dyn KvRead, ctx: &ReadCtx) -> Step<Reply> {
        let now = ctx.now_ms;
        match self {
            ZSetRead::Score { key, member } => cmds::zscore(r, now, key, member),
            ZSetRead::MScore { key, members } => cmds::zmscore(r, now, key, members),
            ZSetRead::Card { key } => cmds::zcard(r, now, key),
            ZSetRead::Count { key, range } => cmds::zcount(r, now, key, range),
            ZSetRead::LexCount { key, range } => cmds::zlexcount(r, now, key, range),
            ZSetRead::Range { key, query } => cmds::zrange(r, now, key, query),
            ZSetRead::Rank { key, member, rev } => cmds::zrank(r, now, key, member, *rev),
            ZSetRead::Scan { key, cursor, opts } => scan::zscan(r, now, key, *cursor, opts),
        }
    }
}

/// The family's writes, as they travel in the Raft log: never renumber or reorder variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ZSetWrite {
    /// ZADD and ZINCRBY: `(score or increment, member)` pairs, scores parsed.
    Add {
        key: Vec<u8>,
        flags: AddFlags,
        pairs: Vec<(f64, Vec<u8>)>,
    },
    Rem {
        key: Vec<u8>,
        members: Vec<Vec<u8>>,
    },
    /// ZPOPMIN (`max == false`) and ZPOPMAX; `count: None` when not given (a flat reply).
    Pop {
        key: Vec<u8>,
        max: bool,
        count: Option<u64>,
    },
    /// ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX.
    RemRange {
        key: Vec<u8>,
        by: RangeBy,
    },
}

impl ZSetWrite {
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            ZSetWrite::Add { key, .. }
            | ZSetWrite::Rem { key, .. }
            | ZSetWrite::Pop { key, .. }
            | ZSetWrite::RemRange { key, .. } => vec![key.as_slice()],
        }
    }

    pub(super) fn apply(&self, kv: &mut dyn KvWrite, now: u64) -> Step<Reply> {
        match self {
            ZSetWrite::Add { key, flags, pairs } => cmds::zadd(kv, now, key, *flags, pairs),
            ZSetWrite::Rem { key, members } => cmds::zrem(kv, now, key, members),
            ZSetWrite::Pop { key, max, count } => cmds::zpop(kv, now, key, *max, *count),
            ZSetWrite::RemRange { key, by } => cmds::zremrange(kv, now, key, by),
        }
    }
}

#[cfg(test)]
#[path = "zset_lex_tests.rs"]
mod lex_tests;
#[cfg(test)]
#[path = "zset_model_tests.rs"]
mod model_tests;
#[cfg(test)]
#[path = "zset_range_tests.rs"]
mod range_tests;
#[cfg(test)]
#[path = "zset_scan_tests.rs"]
mod scan_tests;
#[cfg(test)]
#[path = "zset_tests.rs"]
mod tests;
