//! SET with all its options (NX XX IFEQ IFNE GET EX PX EXAT PXAT KEEPTTL), its older forms
//! (SETNX, SETEX, PSETEX, GETSET), and GETEX.
//!
//! Option conflicts follow Redis's parser exactly (a repeated option is allowed, conflicting
//! ones are a syntax error). Relative expiries become absolute at apply, from the log time.

use serde::{Deserialize, Serialize};
use tanli_storage::{Kind, KvWrite, Record};

use super::parse::{eq_ic, err, parse_i64, Args};
use super::{live_string_w, live_w, store, Command, Step, Stop, WriteCmd};
use crate::reply::Reply;

/// The condition under which SET writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCond {
    None,
    Nx,
    Xx,
    /// Only if the key exists and holds exactly this value (Redis 8.4).
    IfEq(Vec<u8>),
    /// If the key is missing or holds a different value (Redis 8.4).
    IfNe(Vec<u8>),
}

/// The TTL SET gives the key. Times are validated (positive) at parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetExpiry {
    /// Clear any TTL.
    None,
    KeepTtl,
    /// Milliseconds after the entry's log time.
    InMs(i64),
    /// Absolute Unix time in milliseconds.
    AtMs(i64),
}

/// Which command spelled the SET: decides the reply shape and the name in expiry errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetFlavor {
    Set,
    SetNx,
    SetEx,
    PSetEx,
    GetSet,
}

impl SetFlavor {
    fn name(self) -> &'static str {
        match self {
            SetFlavor::SetEx => "setex",
            SetFlavor::PSetEx => "psetex",
            SetFlavor::Set | SetFlavor::SetNx | SetFlavor::GetSet => "set",
        }
    }
}

/// GETEX's option. The time stays text until apply: Redis validates it after the key lookup, so
/// a missing key answers nil even for a malformed time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GetExOpt {
    None,
    Persist,
    Ex(Vec<u8>),
    Px(Vec<u8>),
    ExAt(Vec<u8>),
    PxAt(Vec<u8>),
}

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Seconds,
    Millis,
}

/// Which expiry option was given; `Unit` and relativeness follow from it.
#[derive(Clone, Copy, PartialEq)]
enum ExpOpt {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl ExpOpt {
    fn from_arg(arg: &[u8]) -> Option<ExpOpt> {
        [
            ("EX", ExpOpt::Ex),
            ("PX", ExpOpt::Px),
            ("EXAT", ExpOpt::ExAt),
            ("PXAT", ExpOpt::PxAt),
        ]
        .into_iter()
        .find(|(w, _)| eq_ic(arg, w))
        .map(|(_, o)| o)
    }

    fn unit(self) -> Unit {
        match self {
            ExpOpt::Ex | ExpOpt::ExAt => Unit::Seconds,
            ExpOpt::Px | ExpOpt::PxAt => Unit::Millis,
        }
    }

    fn relative(self) -> bool {
        matches!(self, ExpOpt::Ex | ExpOpt::Px)
    }
}

/// Redis's check of an expiry argument: an integer, positive, convertible to ms without overflow.
fn expire_ms(arg: &[u8], unit: Unit, name: &str) -> Result<i64, Reply> {
    let v = parse_i64(arg).ok_or_else(err::not_integer)?;
    if v <= 0 || (unit == Unit::Seconds && v > i64::MAX / 1000) {
        return Err(err::invalid_expire(name));
    }
    Ok(if unit == Unit::Seconds { v * 1000 } else { v })
}

fn to_expiry(opt: ExpOpt, ms: i64) -> SetExpiry {
    if opt.relative() {
        SetExpiry::InMs(ms)
    } else {
        SetExpiry::AtMs(ms)
    }
}

pub(super) fn parse_set(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let value = a.next_vec()?;
    let mut cond = SetCond::None;
    let mut get = false;
    let mut keepttl = false;
    let mut expire: Option<(ExpOpt, &[u8])> = None;
    while let Ok(opt) = a.take() {
        let has_next = !a.is_empty();
        let cond_free = |other: fn(&SetCond) -> bool| !other(&cond);
        if eq_ic(opt, "NX")
            && cond_free(|c| matches!(c, SetCond::Xx | SetCond::IfEq(_) | SetCond::IfNe(_)))
        {
            cond = SetCond::Nx;
        } else if eq_ic(opt, "XX")
            && cond_free(|c| matches!(c, SetCond::Nx | SetCond::IfEq(_) | SetCond::IfNe(_)))
        {
            cond = SetCond::Xx;
        } else if eq_ic(opt, "IFEQ")
            && has_next
            && cond_free(|c| matches!(c, SetCond::Nx | SetCond::Xx | SetCond::IfNe(_)))
        {
            cond = SetCond::IfEq(a.next_vec()?);
        } else if eq_ic(opt, "IFNE")
            && has_next
            && cond_free(|c| matches!(c, SetCond::Nx | SetCond::Xx | SetCond::IfEq(_)))
        {
            cond = SetCond::IfNe(a.next_vec()?);
        } else if eq_ic(opt, "GET") {
            get = true;
        } else if eq_ic(opt, "KEEPTTL") && expire.is_none() {
            keepttl = true;
        } else if let Some(e) = ExpOpt::from_arg(opt)
            .filter(|e| has_next && !keepttl && expire.is_none_or(|(prev, _)| prev == *e))
        {
            expire = Some((e, a.take()?.as_ref()));
        } else {
            return Err(err::syntax());
        }
    }
    let expiry = match expire {
        Some((opt, arg)) => to_expiry(opt, expire_ms(arg, opt.unit(), "set")?),
        None if keepttl => SetExpiry::KeepTtl,
        None => SetExpiry::None,
    };
    Ok(Command::Write(WriteCmd::Set {
        key,
        value,
        cond,
        get,
        expiry,
        flavor: SetFlavor::Set,
    }))
}

pub(super) fn parse_setnx(a: &mut Args) -> Result<Command, Reply> {
    simple_set(a, SetCond::Nx, false, SetFlavor::SetNx)
}

pub(super) fn parse_getset(a: &mut Args) -> Result<Command, Reply> {
    simple_set(a, SetCond::None, true, SetFlavor::GetSet)
}

fn simple_set(a: &mut Args, cond: SetCond, get: bool, flavor: SetFlavor) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let value = a.next_vec()?;
    a.finish()?;
    Ok(Command::Write(WriteCmd::Set {
        key,
        value,
        cond,
        get,
        expiry: SetExpiry::None,
        flavor,
    }))
}

pub(super) fn parse_setex(a: &mut Args) -> Result<Command, Reply> {
    timed_set(a, Unit::Seconds, SetFlavor::SetEx)
}

pub(super) fn parse_psetex(a: &mut Args) -> Result<Command, Reply> {
    timed_set(a, Unit::Millis, SetFlavor::PSetEx)
}

fn timed_set(a: &mut Args, unit: Unit, flavor: SetFlavor) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let time = a.take()?;
    let value = a.next_vec()?;
    a.finish()?;
    let ms = expire_ms(time, unit, flavor.name())?;
    let cond = SetCond::None;
    Ok(Command::Write(WriteCmd::Set {
        key,
        value,
        cond,
        get: false,
        expiry: SetExpiry::InMs(ms),
        flavor,
    }))
}

pub(super) fn parse_getex(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let mut opt = GetExOpt::None;
    while let Ok(arg) = a.take() {
        let has_next = !a.is_empty();
        let opt_free = |same: fn(&GetExOpt) -> bool| matches!(opt, GetExOpt::None) || same(&opt);
        if eq_ic(arg, "PERSIST") && opt_free(|o| matches!(o, GetExOpt::Persist)) {
            opt = GetExOpt::Persist;
        } else if eq_ic(arg, "EX") && has_next && opt_free(|o| matches!(o, GetExOpt::Ex(_))) {
            opt = GetExOpt::Ex(a.next_vec()?);
        } else if eq_ic(arg, "PX") && has_next && opt_free(|o| matches!(o, GetExOpt::Px(_))) {
            opt = GetExOpt::Px(a.next_vec()?);
        } else if eq_ic(arg, "EXAT") && has_next && opt_free(|o| matches!(o, GetExOpt::ExAt(_))) {
            opt = GetExOpt::ExAt(a.next_vec()?);
        } else if eq_ic(arg, "PXAT") && has_next && opt_free(|o| matches!(o, GetExOpt::PxAt(_))) {
            opt = GetExOpt::PxAt(a.next_vec()?);
        } else {
            return Err(err::syntax());
        }
    }
    Ok(Command::Write(WriteCmd::GetEx { key, opt }))
}

/// Absolute expiry in ms for a relative or absolute one, or the expiry error on overflow.
fn absolute(now: u64, expiry: SetExpiry, name: &str) -> Result<Option<u64>, Reply> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let at = match expiry {
        SetExpiry::InMs(ms) => now
            .checked_add(ms)
            .ok_or_else(|| err::invalid_expire(name))?,
        SetExpiry::AtMs(ms) => ms,
        SetExpiry::None | SetExpiry::KeepTtl => return Ok(None),
    };
    u64::try_from(at)
        .map(Some)
        .map_err(|_| err::invalid_expire(name))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn apply_set(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    value: &[u8],
    cond: &SetCond,
    get: bool,
    expiry: SetExpiry,
    flavor: SetFlavor,
) -> Step<Reply> {
    let at = absolute(now, expiry, flavor.name())?;
    // A plain SET replaces whatever the key holds, of any type, expired or not: the write itself
    // drops the old record's elements and expiry, and nothing else of it is needed.
    let blind = !get && matches!(cond, SetCond::None) && expiry != SetExpiry::KeepTtl;
    let old = if blind { None } else { live_w(kv, now, key)? };
    let old_value = match &old {
        Some(r) if get && r.kind != Kind::String => return Err(err::wrong_type().into()),
        Some(r) if get => Reply::Bulk(r.data.clone()),
        _ => Reply::Nil,
    };
    let abort = || match (get, flavor) {
        (true, _) => Ok(old_value.clone()),
        (false, SetFlavor::SetNx) => Ok(Reply::Int(0)),
        (false, _) => Ok(Reply::Nil),
    };
    let proceed = match (cond, &old) {
        (SetCond::Nx, Some(_)) | (SetCond::Xx | SetCond::IfEq(_), None) => false,
        (SetCond::IfEq(v) | SetCond::IfNe(v), Some(r)) => {
            if r.kind != Kind::String {
                return Err(Stop::Reply(err::wrong_type()));
            }
            (r.data == *v) == matches!(cond, SetCond::IfEq(_))
        }
        _ => true,
    };
    if !proceed {
        return abort();
    }
    let expire_at_ms = match expiry {
        SetExpiry::KeepTtl => old.and_then(|r| r.expire_at_ms),
        _ => at,
    };
    store(
        kv,
        now,
        key,
        Record {
            expire_at_ms,
            ..Record::string(value.to_vec())
        },
    )?;
    Ok(match (get, flavor) {
        (true, _) => old_value,
        (false, SetFlavor::SetNx) => Reply::Int(1),
        (false, _) => Reply::ok(),
    })
}

pub(super) fn apply_getex(
    kv: &mut dyn KvWrite,
    now: u64,
    key: &[u8],
    opt: &GetExOpt,
) -> Step<Reply> {
    let Some(mut rec) = live_string_w(kv, now, key)? else {
        return Ok(Reply::Nil);
    };
    let reply = Reply::Bulk(rec.data.clone());
    let (e, arg) = match opt {
        GetExOpt::None => return Ok(reply),
        GetExOpt::Persist => {
            if rec.expire_at_ms.take().is_some() {
                kv.put(key, rec)?;
            }
            return Ok(reply);
        }
        GetExOpt::Ex(arg) => (ExpOpt::Ex, arg),
        GetExOpt::Px(arg) => (ExpOpt::Px, arg),
        GetExOpt::ExAt(arg) => (ExpOpt::ExAt, arg),
        GetExOpt::PxAt(arg) => (ExpOpt::PxAt, arg),
    };
    let ms = expire_ms(arg, e.unit(), "getex")?;
    rec.expire_at_ms = absolute(now, to_expiry(e, ms), "getex")?;
    store(kv, now, key, rec)?;
    Ok(reply)
}

#[cfg(test)]
#[path = "set_tests.rs"]
mod tests;
