//! Lists: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LREM LTRIM LINSERT LPOS
//! LMOVE RPOPLPUSH. The blocking forms (BLPOP, BRPOP, BLMOVE, ...) are not in the table, so they
//! are unknown commands rather than half-implemented ones.
//!
//! Layout: a list's elements are the `sub` entries of tag 0, member = the element's index as a
//! big-endian u64, dense at `head..head + len` (`CollMeta::head`; a new list starts in the middle
//! of the index space, `CollMeta::LIST_START`). Pushes and pops touch one entry per element at
//! either end, LINDEX and LSET one entry, LRANGE is one range read and LTRIM deletes from the
//! ends. LREM and LINSERT change the middle: they keep the index space dense by rewriting only
//! the elements between the change and the nearer end.
//!
//! Files: this one holds the table rows, the parsed forms and their parsing; `list_ops.rs` what
//! each command does; `list_space.rs` the index-space moves they are built from.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tanli_storage::{KvRead, KvWrite};

use super::parse::{eq_ic, err, parse_i64, Args};
use super::table::{cmd, Spec, RO, RO_FAST, W, W_FAST, W_OOM, W_OOM_FAST};
use super::{Command, ReadCmd, ReadCtx, Step, WriteCmd};
use crate::reply::Reply;

#[path = "list_ops.rs"]
mod ops;
#[path = "list_space.rs"]
mod space;

const LIST: &[&str] = &["list"];
const RW_INSERT: &[&str] = &["RW", "insert"];
const RW_DELETE: &[&str] = &["RW", "delete"];
const RW_ACCESS_DELETE: &[&str] = &["RW", "access", "delete"];
const RO_ACCESS: &[&str] = &["RO", "access"];

/// The family's command-table rows.
#[rustfmt::skip]
pub(super) static TABLE: &[Spec] = &[
    cmd("lindex", 3, RO, LIST, "list", "1.0.0", "Returns the element at an index of a list.", parse_lindex).key(RO_ACCESS),
    cmd("linsert", 5, W_OOM, LIST, "list", "2.2.0", "Inserts an element before or after another one in a list.", parse_linsert).key(RW_INSERT),
    cmd("llen", 2, RO_FAST, LIST, "list", "1.0.0", "Returns the length of a list.", parse_llen).key(&["RO"]),
    cmd("lmove", 5, W_OOM, LIST, "list", "6.2.0", "Pops an element from one end of a list and pushes it onto an end of another.", parse_lmove).key(RW_ACCESS_DELETE).then_key(2, RW_INSERT),
    cmd("lpop", -2, W_FAST, LIST, "list", "1.0.0", "Removes and returns the first elements of a list.", parse_lpop).key(RW_ACCESS_DELETE),
    cmd("lpos", -3, RO, LIST, "list", "6.0.6", "Returns the indexes of the elements equal to a value.", parse_lpos).key(RO_ACCESS),
    cmd("lpush", -3, W_OOM_FAST, LIST, "list", "1.0.0", "Prepends elements to a list, creating it if needed.", parse_lpush).key(RW_INSERT),
    cmd("lpushx", -3, W_OOM_FAST, LIST, "list", "2.2.0", "Prepends elements to a list only if it exists.", parse_lpushx).key(RW_INSERT),
    cmd("lrange", 4, RO, LIST, "list", "1.0.0", "Returns a range of elements of a list.", parse_lrange).key(RO_ACCESS),
    cmd("lrem", 4, W, LIST, "list", "1.0.0", "Removes elements equal to a value from a list.", parse_lrem).key(RW_DELETE),
    cmd("lset", 4, W_OOM, LIST, "list", "1.0.0", "Replaces the element at an index of a list.", parse_lset).key(&["RW", "update"]),
    cmd("ltrim", 4, W, LIST, "list", "1.0.0", "Keeps only a range of elements of a list.", parse_ltrim).key(RW_DELETE),
    cmd("rpop", -2, W_FAST, LIST, "list", "1.0.0", "Removes and returns the last elements of a list.", parse_rpop).key(RW_ACCESS_DELETE),
    cmd("rpoplpush", 3, W_OOM, LIST, "list", "1.2.0", "Pops the last element of a list and prepends it to another.", parse_rpoplpush).key(RW_ACCESS_DELETE).then_key(2, RW_INSERT),
    cmd("rpush", -3, W_OOM_FAST, LIST, "list", "1.0.0", "Appends elements to a list, creating it if needed.", parse_rpush).key(RW_INSERT),
    cmd("rpushx", -3, W_OOM_FAST, LIST, "list", "2.2.0", "Appends elements to a list only if it exists.", parse_rpushx).key(RW_INSERT),
];

/// One end of a list: `Left` is the head (index 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum End {
    Left,
    Right,
}

/// The family's reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ListRead {
    Len {
        key: Bytes,
    },
    Range {
        key: Bytes,
        start: i64,
        stop: i64,
    },
    /// The index stays text: Redis looks the key up first (a missing key is nil whatever the
    /// index, a string is WRONGTYPE), then parses it.
    Index {
        key: Bytes,
        index: Bytes,
    },
    Pos {
        key: Bytes,
        element: Bytes,
        /// Never 0; negative walks from the tail.
        rank: i64,
        /// `None`: answer one index (or nil); `Some(0)`: every match.
        count: Option<i64>,
        /// Elements compared at most; 0 = no limit.
        maxlen: i64,
    },
}

impl ListRead {
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            ListRead::Len { key }
            | ListRead::Range { key, .. }
            | ListRead::Index { key, .. }
            | ListRead::Pos { key, .. } => vec![key.as_ref()],
        }
    }

    pub(super) fn execute(&self, r: &dyn KvRead, ctx: &ReadCtx) -> Step<Reply> {
        let now = ctx.now_ms;
        match self {
            ListRead::Len { key } => ops::llen(r, now, key),
            ListRead::Range { key, start, stop } => ops::lrange(r, now, key, *start, *stop),
            ListRead::Index { key, index } => ops::lindex(r, now, key, index),
            ListRead::Pos {
                key,
                element,
                rank,
                count,
                maxlen,
            } => ops::lpos(r, now, key, element, *rank, *count, *maxlen),
        }
    }
}

/// The family's writes, as they travel in the Raft log: never renumber or reorder variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ListWrite {
    /// LPUSH, RPUSH, and LPUSHX / RPUSHX (`only_existing`).
    Push {
        key: Vec<u8>,
        end: End,
        elements: Vec<Vec<u8>>,
        only_existing: bool,
    },
    /// LPOP and RPOP; `count: None` answers one element, `Some` an array.
    Pop {
        key: Vec<u8>,
        end: End,
        count: Option<u64>,
    },
    /// LSET; the index stays text, parsed after the key lookup as Redis does.
    Set {
        key: Vec<u8>,
        index: Vec<u8>,
        element: Vec<u8>,
    },
    Rem {
        key: Vec<u8>,
        count: i64,
        element: Vec<u8>,
    },
    Trim {
        key: Vec<u8>,
        start: i64,
        stop: i64,
    },
    Insert {
        key: Vec<u8>,
        after: bool,
        pivot: Vec<u8>,
        element: Vec<u8>,
    },
    /// LMOVE and RPOPLPUSH.
    Move {
        source: Vec<u8>,
        destination: Vec<u8>,
        from: End,
        to: End,
    },
}

impl ListWrite {
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            ListWrite::Push { key, .. }
            | ListWrite::Pop { key, .. }
            | ListWrite::Set { key, .. }
            | ListWrite::Rem { key, .. }
            | ListWrite::Trim { key, .. }
            | ListWrite::Insert { key, .. } => vec![key.as_slice()],
            ListWrite::Move {
                source,
                destination,
                ..
            } => vec![source.as_slice(), destination.as_slice()],
        }
    }

    pub(super) fn apply(&self, kv: &mut dyn KvWrite, now: u64) -> Step<Reply> {
        match self {
            ListWrite::Push {
                key,
                end,
                elements,
                only_existing,
            } => ops::push(kv, now, key, *end, elements, *only_existing),
            ListWrite::Pop { key, end, count } => ops::pop(kv, now, key, *end, *count),
            ListWrite::Set {
                key,
                index,
                element,
            } => ops::lset(kv, now, key, index, element),
            ListWrite::Rem {
                key,
                count,
                element,
            } => ops::lrem(kv, now, key, *count, element),
            ListWrite::Trim { key, start, stop } => ops::ltrim(kv, now, key, *start, *stop),
            ListWrite::Insert {
                key,
                after,
                pivot,
                element,
            } => ops::linsert(kv, now, key, *after, pivot, element),
            ListWrite::Move {
                source,
                destination,
                from,
                to,
            } => ops::lmove(kv, now, source, destination, *from, *to),
        }
    }
}

// ---- Parsers -------------------------------------------------------------------------------

fn write(w: ListWrite) -> Result<Command, Reply> {
    Ok(Command::Write(WriteCmd::List(w)))
}

fn read(r: ListRead) -> Result<Command, Reply> {
    Ok(Command::Read(ReadCmd::List(r)))
}

fn parse_push(a: &mut Args, end: End, only_existing: bool) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let elements = a.rest().iter().map(|e| e.to_vec()).collect();
    write(ListWrite::Push {
        key,
        end,
        elements,
        only_existing,
    })
}

fn parse_lpush(a: &mut Args) -> Result<Command, Reply> {
    parse_push(a, End::Left, false)
}

fn parse_rpush(a: &mut Args) -> Result<Command, Reply> {
    parse_push(a, End::Right, false)
}

fn parse_lpushx(a: &mut Args) -> Result<Command, Reply> {
    parse_push(a, End::Left, true)
}

fn parse_rpushx(a: &mut Args) -> Result<Command, Reply> {
    parse_push(a, End::Right, true)
}

/// A count Redis reads with `getPositiveLongFromObjectOrReply`: a non-negative integer, any
/// failure answered with `msg`.
fn non_negative(arg: &[u8], msg: &str) -> Result<i64, Reply> {
    parse_i64(arg)
        .filter(|n| *n >= 0)
        .ok_or_else(|| Reply::err(msg))
}

/// LPOP / RPOP: at most one count argument (more is an arity error, as in Redis).
fn parse_pop(a: &mut Args, end: End) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    if a.remaining() > 1 {
        return Err(err::arity(a.fullname()));
    }
    let count = match a.peek() {
        None => None,
        Some(arg) => {
            let n = non_negative(arg, "value is out of range, must be positive")?;
            a.take()?;
            Some(n.unsigned_abs())
        }
    };
    write(ListWrite::Pop { key, end, count })
}

fn parse_lpop(a: &mut Args) -> Result<Command, Reply> {
    parse_pop(a, End::Left)
}

fn parse_rpop(a: &mut Args) -> Result<Command, Reply> {
    parse_pop(a, End::Right)
}

fn parse_llen(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    read(ListRead::Len { key })
}

fn parse_lrange(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let start = a.next_i64()?;
    let stop = a.next_i64()?;
    a.finish()?;
    read(ListRead::Range { key, start, stop })
}

fn parse_lindex(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let index = a.take()?.clone();
    a.finish()?;
    read(ListRead::Index { key, index })
}

fn parse_lset(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let index = a.next_vec()?;
    let element = a.next_vec()?;
    a.finish()?;
    write(ListWrite::Set {
        key,
        index,
        element,
    })
}

fn parse_lrem(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let count = a.next_i64()?;
    let element = a.next_vec()?;
    a.finish()?;
    write(ListWrite::Rem {
        key,
        count,
        element,
    })
}

fn parse_ltrim(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let start = a.next_i64()?;
    let stop = a.next_i64()?;
    a.finish()?;
    write(ListWrite::Trim { key, start, stop })
}

fn parse_linsert(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let place = a.take()?;
    let after = if eq_ic(place, "after") {
        true
    } else if eq_ic(place, "before") {
        false
    } else {
        return Err(err::syntax());
    };
    let pivot = a.next_vec()?;
    let element = a.next_vec()?;
    a.finish()?;
    write(ListWrite::Insert {
        key,
        after,
        pivot,
        element,
    })
}

/// LPOS options, each taking one argument, in any order and repeatable (the last one wins).
fn parse_lpos(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    let element = a.take()?.clone();
    let (mut rank, mut count, mut maxlen) = (1, None, 0);
    while let Some(opt) = a.peek() {
        a.take()?;
        let Some(value) = a.peek() else {
            return Err(err::syntax());
        };
        if eq_ic(opt, "rank") {
            rank = parse_i64(value).ok_or_else(err::not_integer)?;
            if rank == 0 {
                return Err(Reply::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if eq_ic(opt, "count") {
            count = Some(non_negative(value, "COUNT can't be negative")?);
        } else if eq_ic(opt, "maxlen") {
            maxlen = non_negative(value, "MAXLEN can't be negative")?;
        } else {
            return Err(err::syntax());
        }
        a.take()?;
    }
    read(ListRead::Pos {
        key,
        element,
        rank,
        count,
        maxlen,
    })
}

fn parse_end(arg: &[u8]) -> Result<End, Reply> {
    if eq_ic(arg, "left") {
        Ok(End::Left)
    } else if eq_ic(arg, "right") {
        Ok(End::Right)
    } else {
        Err(err::syntax())
    }
}

fn parse_lmove(a: &mut Args) -> Result<Command, Reply> {
    let source = a.next_vec()?;
    let destination = a.next_vec()?;
    let from = parse_end(a.take()?)?;
    let to = parse_end(a.take()?)?;
    a.finish()?;
    write(ListWrite::Move {
        source,
        destination,
        from,
        to,
    })
}

fn parse_rpoplpush(a: &mut Args) -> Result<Command, Reply> {
    let source = a.next_vec()?;
    let destination = a.next_vec()?;
    a.finish()?;
    write(ListWrite::Move {
        source,
        destination,
        from: End::Right,
        to: End::Left,
    })
}

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
