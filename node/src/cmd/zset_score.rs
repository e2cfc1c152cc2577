//! Sorted-set scores: how Redis 7.0 reads them from arguments, and how they are stored.
//!
//! Redis reads a score with C `strtod`, in two flavours: `string2d` for ZADD and ZINCRBY (the
//! whole argument, no leading space, no NaN, no overflow to infinity, no underflow to zero) and
//! the looser one of range bounds (`zslParseRange`: leading spaces and overflow allowed, the
//! value ends at the end of the argument or at a NUL byte, an empty text is 0). [`strtod`] is a
//! pure-Rust `strtod` for the C locale (decimal and hexadecimal forms, `inf`, `infinity`, `nan`);
//! decimal text is converted by Rust's correctly rounded parser, as glibc's is, so every replica
//! gets the same bits.
//!
//! Storage: a score is 8 "sortable" bytes, the `f64` bits transformed so that byte order is
//! numeric order (negative numbers have all bits flipped, others only the sign bit), with -0
//! stored as 0 (Redis's compact encoding does the same). The member space (tag 0) maps a member
//! to these bytes; the score index (tag 1) holds `sortable ++ member`, so it is ordered by score,
//! then member bytes, exactly Redis's order.

use tanli_storage::StorageError;

use super::super::parse::is_c_space;

/// Bytes of a stored score.
pub const SCORE_BYTES: usize = 8;
/// Significant decimal digits kept when converting a longer mantissa: more than any `f64`
/// needs to round correctly (767), the rest only matters as a non-zero "sticky" digit.
const DIGITS_KEPT: usize = 800;
/// Decimal magnitudes beyond these overflow or underflow whatever the digits.
const EXP10_OVERFLOW: i64 = 310;
const EXP10_UNDERFLOW: i64 = -330;

/// What `strtod` made of the start of a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strtod {
    pub value: f64,
    /// Bytes consumed; 0 when nothing was converted (then `value` is 0).
    pub len: usize,
    /// Set when a finite text overflowed to infinity or a non-zero one underflowed to zero
    /// (`errno == ERANGE` with `HUGE_VAL` or zero).
    pub range_error: bool,
}

/// C `strtod` in the C locale over `s` (a NUL byte ends the text as it would in C).
pub fn strtod(s: &[u8]) -> Strtod {
    let none = Strtod {
        value: 0.0,
        len: 0,
        range_error: false,
    };
    let end = s.iter().position(|c| *c == 0).unwrap_or(s.len());
    let s = &s[..end];
    let mut i = s.iter().take_while(|c| is_c_space(**c)).count();
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &s[i..];
    let starts =
        |w: &str| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes());
    let signed = |v: f64| if neg { -v } else { v };
    if starts("infinity") || starts("inf") {
        let len = if starts("infinity") { 8 } else { 3 };
        return Strtod {
            value: signed(f64::INFINITY),
            len: i + len,
            range_error: false,
        };
    }
    if starts("nan") {
        let mut len = 3;
        if rest.get(3) == Some(&b'(') {
            let inner = rest[4..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            if rest.get(4 + inner) == Some(&b')') {
                len = 5 + inner;
            }
        }
        return Strtod {
            value: f64::NAN,
            len: i + len,
            range_error: false,
        };
    }
    let hex = (starts("0x") || starts("0X"))
        && match rest.get(2) {
            Some(c) if c.is_ascii_hexdigit() => true,
            Some(b'.') => rest.get(3).is_some_and(u8::is_ascii_hexdigit),
            _ => false,
        };
    let parsed = if hex {
        hex_float(&rest[2..]).map(|(v, n, e)| (v, n + 2, e))
    } else {
        decimal(rest)
    };
    match parsed {
        None => none,
        Some((value, len, range_error)) => Strtod {
            value: signed(value),
            len: i + len,
            range_error,
        },
    }
}

/// A decimal number at the start of `s` (no sign): `(magnitude, bytes, range error)`.
fn decimal(s: &[u8]) -> Option<(f64, usize, bool)> {
    let int = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut len = int;
    let mut frac = 0;
    if s.get(len) == Some(&b'.') {
        frac = s[len + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if int + frac > 0 {
            len += 1 + frac;
        }
    }
    if int + frac == 0 {
        return None;
    }
    let digits: Vec<u8> = s[..len]
        .iter()
        .copied()
        .filter(u8::is_ascii_digit)
        .collect();
    let (exp, exp_len) = exponent(&s[len..], b'e');
    len += exp_len;
    let frac = i64::try_from(frac).unwrap_or(i64::MAX);
    let first = digits.iter().position(|d| *d != b'0');
    let Some(first) = first else {
        return Some((0.0, len, false));
    };
    let sig = &digits[first..];
    // value = sig * 10^(exp - frac); its magnitude is about 10^(sig.len() + exp - frac).
    let scale = exp.saturating_sub(frac);
    let magnitude = scale.saturating_add(i64::try_from(sig.len()).unwrap_or(i64::MAX));
    if magnitude > EXP10_OVERFLOW {
        return Some((f64::INFINITY, len, true));
    }
    if magnitude < EXP10_UNDERFLOW {
        return Some((0.0, len, true));
    }
    let mut text: Vec<u8> = sig.iter().take(DIGITS_KEPT).copied().collect();
    let mut scale = scale;
    if sig.len() > DIGITS_KEPT {
        scale += i64::try_from(sig.len() - DIGITS_KEPT).unwrap_or(0);
        if sig[DIGITS_KEPT..].iter().any(|d| *d != b'0') {
            text.push(b'1');
            scale -= 1;
        }
    }
    text.extend_from_slice(format!("e{scale}").as_bytes());
    let value: f64 = std::str::from_utf8(&text).ok()?.parse().ok()?;
    let range_error = value.is_infinite() || value == 0.0;
    Some((value, len, range_error))
}

/// An optional exponent (`e`/`p` marker, sign, digits) at the start of `s`: `(value, bytes)`;
/// `(0, 0)` when there is none (a marker without digits is not part of the number). The value
/// saturates: beyond a few hundred it only means overflow or underflow.
fn exponent(s: &[u8], marker: u8) -> (i64, usize) {
    if !s.first().is_some_and(|c| c.eq_ignore_ascii_case(&marker)) {
        return (0, 0);
    }
    let (neg, start) = match s.get(1) {
        Some(b'-') => (true, 2),
        Some(b'+') => (false, 2),
        _ => (false, 1),
    };
    let n = s[start..].iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return (0, 0);
    }
    let v = s[start..start + n].iter().fold(0i64, |v, d| {
        v.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    (if neg { -v } else { v }, start + n)
}

/// A hexadecimal float after its `0x` (no sign): `(magnitude, bytes, range error)`.
fn hex_float(s: &[u8]) -> Option<(f64, usize, bool)> {
    let int = s.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    let mut len = int;
    let mut frac = 0;
    if s.get(len) == Some(&b'.') {
        frac = s[len + 1..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        len += 1 + frac;
    }
    if int + frac == 0 {
        return None;
    }
    let (exp, exp_len) = exponent(&s[len..], b'p');
    let digits = s[..len].iter().filter(|c| c.is_ascii_hexdigit());
    // Top 64 bits of the mantissa, the binary exponent of their lowest bit, and whether any
    // bit below them is set.
    let (mut mant, mut lsb, mut sticky) = (0u64, 0i64, false);
    let mut seen = false;
    for d in digits {
        let v = u64::from(char::from(*d).to_digit(16).unwrap_or(0));
        seen |= v != 0;
        if !seen {
            continue;
        }
        if mant >> 60 == 0 {
            mant = (mant << 4) | v;
        } else {
            sticky |= v != 0;
            lsb += 4;
        }
    }
    let frac_bits = i64::try_from(frac).unwrap_or(i64::MAX).saturating_mul(4);
    lsb = lsb.saturating_add(exp).saturating_sub(frac_bits);
    let len = len + exp_len;
    if mant == 0 {
        return Some((0.0, len, false));
    }
    let value = round_binary(mant, lsb, sticky);
    Some((value, len, value.is_infinite() || value == 0.0))
}

/// `mant * 2^lsb` (plus a little more when `sticky`) rounded to the nearest `f64`, ties to even.
fn round_binary(mant: u64, lsb: i64, sticky: bool) -> f64 {
    let top = lsb.saturating_add(63 - i64::from(mant.leading_zeros()));
    if top > 1023 {
        return f64::INFINITY;
    }
    // Exponent of the result's lowest mantissa bit: 52 below the top for a normal number,
    // fixed at -1074 for a subnormal one.
    let keep_lsb = (top - 52).max(-1074);
    let shift = keep_lsb.saturating_sub(lsb);
    let (q, half, below) = if shift <= 0 {
        let Ok(s) = u32::try_from(shift.saturating_neg()) else {
            return 0.0;
        };
        (mant << s, false, false)
    } else if shift > 64 {
        (0, false, true)
    } else {
        let s = u32::try_from(shift).unwrap_or(64);
        let wide = u128::from(mant);
        let q = (wide >> s) as u64;
        let rem = wide & ((1u128 << s) - 1);
        let half_bit = 1u128 << (s - 1);
        (q, rem & half_bit != 0, rem & (half_bit - 1) != 0)
    };
    let up = half && (below || sticky || q & 1 == 1);
    let q = q + u64::from(up);
    // q <= 2^53 and keep_lsb >= -1074, so the product is exact unless it overflows.
    q as f64 * pow2(keep_lsb)
}

/// 2^e for -1074 <= e <= 1023.
fn pow2(e: i64) -> f64 {
    if e >= -1022 {
        f64::from_bits(u64::try_from(e + 1023).unwrap_or(0) << 52)
    } else {
        f64::from_bits(1u64 << u32::try_from(e + 1074).unwrap_or(0))
    }
}

/// Redis's `string2d`: a ZADD / ZINCRBY score.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let r = strtod(s);
    (r.len == s.len() && !r.range_error && !r.value.is_nan()).then_some(r.value)
}

/// One bound of a score range: `(value, exclusive)`, as `zslParseRange` reads it.
pub fn parse_score_bound(s: &[u8]) -> Option<(f64, bool)> {
    let (exclusive, text) = match s.split_first() {
        Some((b'(', rest)) => (true, rest),
        _ => (false, s),
    };
    let r = strtod(text);
    let ends = text.get(r.len).is_none_or(|c| *c == 0);
    (ends && !r.value.is_nan()).then_some((r.value, exclusive))
}

/// The stored form of `score` (never NaN): byte order is numeric order, -0 is 0.
pub fn sortable(score: f64) -> [u8; SCORE_BYTES] {
    let bits = if score == 0.0 { 0 } else { score.to_bits() };
    let key = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    key.to_be_bytes()
}

/// The score stored as `b`.
pub fn from_sortable(b: [u8; SCORE_BYTES]) -> f64 {
    let key = u64::from_be_bytes(b);
    let bits = if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    };
    f64::from_bits(bits)
}

/// The score of a member-space value.
pub fn decode(value: &[u8]) -> Result<f64, StorageError> {
    let b: [u8; SCORE_BYTES] = value.try_into().map_err(|_| corrupt(value))?;
    Ok(from_sortable(b))
}

/// A score-index key: `sortable(score) ++ member`.
pub fn index_key(sortable: &[u8; SCORE_BYTES], member: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(SCORE_BYTES + member.len());
    k.extend_from_slice(sortable);
    k.extend_from_slice(member);
    k
}

/// `(score, member)` of a score-index key.
pub fn split_index_key(key: &[u8]) -> Result<(f64, &[u8]), StorageError> {
    if key.len() < SCORE_BYTES {
        return Err(corrupt(key));
    }
    let (s, member) = key.split_at(SCORE_BYTES);
    Ok((decode(s)?, member))
}

fn corrupt(b: &[u8]) -> StorageError {
    StorageError::Corrupt {
        what: "sorted-set score",
        detail: format!("{} bytes", b.len()),
    }
}

#[cfg(test)]
#[path = "zset_score_tests.rs"]
mod tests;
