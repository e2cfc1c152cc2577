//! The argument cursor every command parser reads through, Redis's strict number parsing, and
//! the texts of the errors shared by several command families.
//!
//! A parser takes its arguments in order and ends with [`Args::finish`], the one place leftover
//! arguments are rejected.

use bytes::Bytes;

use crate::reply::Reply;

/// Error replies shared across families, with Redis's exact texts.
pub mod err {
    use crate::reply::Reply;

    pub fn syntax() -> Reply {
        Reply::err("syntax error")
    }
    pub fn not_integer() -> Reply {
        Reply::err("value is not an integer or out of range")
    }
    pub fn not_float() -> Reply {
        Reply::err("value is not a valid float")
    }
    pub fn wrong_type() -> Reply {
        Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into())
    }
    pub fn arity(fullname: &str) -> Reply {
        Reply::err(format!(
            "wrong number of arguments for '{fullname}' command"
        ))
    }
    pub fn invalid_expire(name: &str) -> Reply {
        Reply::err(format!("invalid expire time in '{name}' command"))
    }
    pub fn incr_overflow() -> Reply {
        Reply::err("increment or decrement would overflow")
    }
    pub fn too_big() -> Reply {
        Reply::err("string exceeds maximum allowed size (proto-max-bulk-len)")
    }
}

/// Redis's `proto-max-bulk-len` default: the largest string a write may produce.
pub const STRING_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// A cursor over one command's arguments (the command name already consumed).
pub struct Args<'a> {
    fullname: &'static str,
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    /// `fullname` is the name arity errors quote (`"get"`, `"client|setname"`).
    pub fn new(fullname: &'static str, args: &'a [Bytes]) -> Args<'a> {
        Args {
            fullname,
            args,
            pos: 0,
        }
    }

    pub fn fullname(&self) -> &'static str {
        self.fullname
    }

    pub fn remaining(&self) -> usize {
        self.args.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn peek(&self) -> Option<&'a Bytes> {
        self.args.get(self.pos)
    }

    /// The next argument; a missing one is an arity error (the table's arity check normally
    /// catches this first).
    pub fn take(&mut self) -> Result<&'a Bytes, Reply> {
        let a = self
            .args
            .get(self.pos)
            .ok_or_else(|| err::arity(self.fullname))?;
        self.pos += 1;
        Ok(a)
    }

    pub fn next_vec(&mut self) -> Result<Vec<u8>, Reply> {
        self.take().map(|b| b.to_vec())
    }

    pub fn next_i64(&mut self) -> Result<i64, Reply> {
        parse_i64(self.take()?).ok_or_else(err::not_integer)
    }

    /// Everything not consumed yet.
    pub fn rest(&mut self) -> &'a [Bytes] {
        let r = &self.args[self.pos..];
        self.pos = self.args.len();
        r
    }

    /// Succeeds only when every argument was consumed.
    pub fn finish(&self) -> Result<(), Reply> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(err::syntax())
        }
    }
}

/// ASCII case-insensitive comparison of an argument with a keyword.
pub fn eq_ic(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Redis's `string2ll`: optional `-`, no `+`, no leading zeros, no spaces, at most 20 bytes.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Redis's `string2ull` (SCAN cursors): `string2ll` when it succeeds (negative rejected),
/// otherwise C `strtoull` over the whole argument (leading spaces and a sign allowed).
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let start = s.iter().position(|c| !is_c_space(*c))?;
    let mut rest = &s[start..];
    let mut negative = false;
    if let Some((&sign, tail)) = rest.split_first() {
        if sign == b'+' || sign == b'-' {
            negative = sign == b'-';
            rest = tail;
        }
    }
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in rest {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// C `isspace` in the C locale.
pub fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_is_strict_like_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"1.0",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"abc",
            b"000000000000000000001",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn parse_u64_falls_back_to_strtoull() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"+7"), Some(7));
        assert_eq!(parse_u64(b" 7"), Some(7));
        assert_eq!(parse_u64(b"007"), Some(7));
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"7x"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b" "), None);
    }

    #[test]
    fn cursor_reports_arity_and_leftovers() {
        let args = [Bytes::from_static(b"a"), Bytes::from_static(b"12")];
        let mut a = Args::new("get", &args);
        assert_eq!(a.take().map(|b| b.to_vec()), Ok(b"a".to_vec()));
        assert!(a.finish().is_err());
        assert_eq!(a.next_i64(), Ok(12));
        assert_eq!(a.finish(), Ok(()));
        assert_eq!(a.take(), Err(err::arity("get")));
    }
}
