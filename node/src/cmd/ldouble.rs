//! `INCRBYFLOAT` arithmetic exactly as Redis does it on x86-64: C `long double` (x87 80-bit
//! extended precision: 64-bit mantissa, exponent range of 2^-16445 .. 2^16384).
//!
//! Redis parses both operands with `strtold`, adds them in `long double`, and prints the sum with
//! `"%.17Lf"` before trimming trailing zeros. Doing the same in `f64` would print `0.1 + 0.2` as
//! `0.30000000000000004` where Redis prints `0.3`, so this module emulates the three steps in
//! software, exactly (correct rounding, ties to even), using [`Big`] for the exact intermediate
//! values. It is pure integer arithmetic, so every replica computes the same bytes.

use super::bignum::Big;
use super::parse::{eq_ic, is_c_space};

/// Bits of mantissa of an x87 extended value.
const MANT_BITS: i64 = 64;
/// Exponent of the least significant bit of the smallest subnormal.
const LSB_MIN: i64 = -16445;
/// Highest bit position a finite value may have (the largest is just below 2^16384).
const TOP_MAX: i64 = 16383;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are rejected.
const INPUT_BYTES_MAX: usize = 5 * 1024;
/// Exponent digits beyond this magnitude cannot change the outcome (overflow or underflow).
const EXP_CLAMP: i64 = 1_000_000;

/// A finite extended-precision value `(-1)^neg * mant * 2^exp` (not necessarily normalized).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongDouble {
    neg: bool,
    mant: u64,
    exp: i32,
}

/// What `strtold` produced for an acceptable input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    Finite(LongDouble),
    Infinite,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble {
        neg: false,
        mant: 0,
        exp: 0,
    };
}

/// Redis's `string2ld`: the whole input must be a number `strtold` accepts (decimal, hex float,
/// `inf`/`infinity`), no leading space, no NaN, no overflow, no underflow to zero.
pub fn parse(s: &[u8]) -> Option<Parsed> {
    if s.is_empty() || s.len() >= INPUT_BYTES_MAX || is_c_space(s[0]) {
        return None;
    }
    let (neg, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if eq_ic(body, "inf") || eq_ic(body, "infinity") {
        return Some(Parsed::Infinite);
    }
    let hex = body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x';
    let value = if hex {
        let (digits, frac_len, rest) = scan_digits(&body[2..], |c| c.is_ascii_hexdigit())?;
        let pexp = scan_exponent(rest, b'p')?;
        hex_to_binary(
            neg,
            &Big::from_hex(&digits),
            pexp.saturating_sub(4 * frac_len as i64),
        )?
    } else {
        let (digits, frac_len, rest) = scan_digits(body, |c| c.is_ascii_digit())?;
        let exp10 = scan_exponent(rest, b'e')?;
        let digits = strip_leading_zeros(&digits);
        decimal_to_binary(neg, digits, exp10 - frac_len as i64)?
    };
    Some(Parsed::Finite(value))
}

/// `mant * 2^exp2` rounded; `None` on overflow or on underflow of a nonzero value to zero
/// (`strtold` reports both as ERANGE, which `string2ld` rejects).
fn hex_to_binary(neg: bool, mant: &Big, exp2: i64) -> Option<LongDouble> {
    if mant.is_zero() {
        return Some(zero(neg));
    }
    let top = exp2.saturating_add(mant.bits() as i64 - 1);
    if !(LSB_MIN - 2..=TOP_MAX).contains(&top) {
        return None;
    }
    nonzero(round(neg, mant, exp2, false)?)
}

fn nonzero(v: LongDouble) -> Option<LongDouble> {
    (v.mant != 0).then_some(v)
}

/// `digits * 10^exp10` (ASCII digits without leading zeros) rounded to extended precision;
/// `None` on overflow or underflow to zero. Values far outside the range are rejected by digit
/// count before any big arithmetic.
fn decimal_to_binary(neg: bool, digits: &[u8], exp10: i64) -> Option<LongDouble> {
    if digits.is_empty() {
        return Some(zero(neg));
    }
    let ndigits = digits.len() as i64;
    // 10^4933 > the largest extended value; 10^-4952 < half the smallest subnormal.
    if ndigits - 1 + exp10 > 4933 {
        return None;
    }
    if ndigits + exp10 < -4952 {
        return None;
    }
    let digits = Big::from_decimal(digits);
    if exp10 >= 0 {
        let big = digits.mul(&Big::pow10(exp10 as u64));
        return nonzero(round(neg, &big, 0, false)?);
    }
    let den = Big::pow10(exp10.unsigned_abs());
    // Scale so the quotient has 67-68 bits: enough below the 64 kept for exact rounding.
    let t = digits.bits() as i64 - den.bits() as i64 - 67;
    let (num, den) = if t < 0 {
        (digits.shl(t.unsigned_abs()), den)
    } else {
        (digits.clone(), den.shl(t as u64))
    };
    let (q, inexact) = num.div_u128(&den);
    nonzero(round(neg, &Big::from_u128(q), t, inexact)?)
}

/// `a + b`, correctly rounded; `None` when the sum overflows to infinity.
pub fn add(a: LongDouble, b: LongDouble) -> Option<LongDouble> {
    if a.mant == 0 && b.mant == 0 {
        return Some(zero(a.neg && b.neg));
    }
    if a.mant == 0 {
        return Some(b);
    }
    if b.mant == 0 {
        return Some(a);
    }
    let e = a.exp.min(b.exp);
    let ma = Big::from_u128(u128::from(a.mant)).shl((a.exp - e) as u64);
    let mb = Big::from_u128(u128::from(b.mant)).shl((b.exp - e) as u64);
    let (neg, sum) = if a.neg == b.neg {
        (a.neg, ma.add(&mb))
    } else if ma >= mb {
        (a.neg, ma.sub(&mb))
    } else {
        (b.neg, mb.sub(&ma))
    };
    if sum.is_zero() {
        return Some(LongDouble::ZERO); // x + (-x) is +0 when rounding to nearest
    }
    round(neg, &sum, i64::from(e), false)
}

/// `printf("%.17Lf")` followed by Redis's trimming of trailing zeros (and of a lone `-0`).
pub fn to_human(v: LongDouble) -> String {
    let mut out = String::new();
    if v.neg {
        out.push('-');
    }
    if v.exp >= 0 {
        let int = Big::from_u128(u128::from(v.mant)).shl(v.exp as u64);
        out.push_str(&int.to_decimal());
    } else {
        let f = u64::from(v.exp.unsigned_abs());
        let mut int: u128 = if f < 64 { u128::from(v.mant >> f) } else { 0 };
        let mut frac = Big::from_u128(u128::from(v.mant));
        frac.truncate_bits(f);
        let mut digits = [0u8; 17];
        for d in digits.iter_mut() {
            frac.mul_small(10);
            *d = frac.shr_low_u128(f) as u8;
            frac.truncate_bits(f);
        }
        let half = frac.bit(f - 1);
        let rest = frac.any_below(f - 1);
        if half && (rest || digits[16] % 2 == 1) {
            let mut carry = true;
            for d in digits.iter_mut().rev() {
                if !carry {
                    break;
                }
                *d += 1;
                carry = *d == 10;
                if carry {
                    *d = 0;
                }
            }
            if carry {
                int += 1;
            }
        }
        out.push_str(&int.to_string());
        out.push('.');
        out.extend(digits.iter().map(|d| char::from(b'0' + d)));
        let trimmed = out.trim_end_matches('0').trim_end_matches('.').len();
        out.truncate(trimmed);
    }
    if out == "-0" {
        out = "0".to_string();
    }
    out
}

fn zero(neg: bool) -> LongDouble {
    LongDouble {
        neg,
        mant: 0,
        exp: 0,
    }
}

/// Rounds `m * 2^exp2` (plus something below 2^exp2 when `sticky`) to extended precision, ties
/// to even. Callers that pass `sticky` supply at least two bits below the kept 64. `None` on
/// overflow to infinity.
fn round(neg: bool, m: &Big, exp2: i64, sticky: bool) -> Option<LongDouble> {
    if m.is_zero() {
        return Some(zero(neg));
    }
    let top = exp2 + m.bits() as i64 - 1;
    let mut lsb = (top - (MANT_BITS - 1)).max(LSB_MIN);
    let shift = lsb - exp2;
    let mut q: u128 = if shift <= 0 {
        m.shr_low_u128(0) << shift.unsigned_abs()
    } else {
        let shift = shift as u64;
        let q = m.shr_low_u128(shift);
        let half = m.bit(shift - 1);
        let rest = sticky || m.any_below(shift - 1);
        q + u128::from(half && (rest || q & 1 == 1))
    };
    if q == 1u128 << MANT_BITS {
        q >>= 1;
        lsb += 1;
    }
    let q_bits = 128 - i64::from(q.leading_zeros());
    if q != 0 && lsb + q_bits - 1 > TOP_MAX {
        return None;
    }
    Some(LongDouble {
        neg,
        mant: q as u64,
        exp: lsb as i32,
    })
}

/// Scans `digits[.digits]`, returning the digits without the dot, how many followed the dot,
/// and the unread rest. At least one digit is required.
fn scan_digits(s: &[u8], is_digit: impl Fn(u8) -> bool) -> Option<(Vec<u8>, usize, &[u8])> {
    let int_len = s.iter().take_while(|c| is_digit(**c)).count();
    let mut digits = s[..int_len].to_vec();
    let mut rest = &s[int_len..];
    let mut frac_len = 0;
    if rest.first() == Some(&b'.') {
        frac_len = rest[1..].iter().take_while(|c| is_digit(**c)).count();
        digits.extend_from_slice(&rest[1..=frac_len]);
        rest = &rest[1 + frac_len..];
    }
    if digits.is_empty() {
        return None;
    }
    Some((digits, frac_len, rest))
}

/// Parses an optional exponent (`e`/`p`, sign, decimal digits) that must end the input.
fn scan_exponent(s: &[u8], marker: u8) -> Option<i64> {
    let Some((&m, rest)) = s.split_first() else {
        return Some(0);
    };
    if (m | 0x20) != marker {
        return None;
    }
    let (neg, digits) = match rest.split_first() {
        Some((b'-', d)) => (true, d),
        Some((b'+', d)) => (false, d),
        _ => (false, rest),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mag = digits.iter().fold(0i64, |acc, d| {
        (acc * 10 + i64::from(d - b'0')).min(EXP_CLAMP)
    });
    Some(if neg { -mag } else { mag })
}

fn strip_leading_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|c| **c == b'0').count();
    &d[n..]
}

#[cfg(test)]
#[path = "ldouble_tests.rs"]
mod tests;
