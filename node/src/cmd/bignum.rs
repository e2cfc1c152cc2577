//! A minimal unsigned big integer: just what exact decimal <-> binary float conversion needs
//! (`ldouble.rs`). Little-endian 32-bit limbs, always normalized (no high zero limbs).

use std::cmp::Ordering;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Big {
    limbs: Vec<u32>,
}

impl Big {
    pub fn zero() -> Big {
        Big { limbs: Vec::new() }
    }

    pub fn from_u128(mut v: u128) -> Big {
        let mut limbs = Vec::new();
        while v != 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Big { limbs }
    }

    /// `10^n`.
    pub fn pow10(mut n: u64) -> Big {
        let mut b = Big::from_u128(1);
        while n >= 9 {
            b.mul_small(1_000_000_000);
            n -= 9;
        }
        for _ in 0..n {
            b.mul_small(10);
        }
        b
    }

    /// Parses ASCII decimal digits (the caller has validated them).
    pub fn from_decimal(digits: &[u8]) -> Big {
        let mut b = Big::zero();
        for chunk in digits.chunks(9) {
            let mut scale = 1u32;
            let mut value = 0u32;
            for &d in chunk {
                scale *= 10;
                value = value * 10 + u32::from(d - b'0');
            }
            b.mul_small(scale);
            b.add_small(value);
        }
        b
    }

    /// Parses ASCII hex digits (validated by the caller).
    pub fn from_hex(digits: &[u8]) -> Big {
        let mut b = Big::zero();
        for &d in digits {
            b.mul_small(16);
            b.add_small(char::from(d).to_digit(16).unwrap_or(0));
        }
        b
    }

    pub fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    /// Number of significant bits (0 for zero).
    pub fn bits(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(&top) => (self.limbs.len() as u64 - 1) * 32 + u64::from(32 - top.leading_zeros()),
        }
    }

    pub fn bit(&self, i: u64) -> bool {
        let limb = (i / 32) as usize;
        self.limbs
            .get(limb)
            .is_some_and(|l| (l >> (i % 32)) & 1 == 1)
    }

    /// True when any bit below position `i` is set.
    pub fn any_below(&self, i: u64) -> bool {
        let full = (i / 32) as usize;
        if self.limbs.iter().take(full).any(|&l| l != 0) {
            return true;
        }
        let part = i % 32;
        part != 0
            && self
                .limbs
                .get(full)
                .is_some_and(|&l| l & ((1u32 << part) - 1) != 0)
    }

    /// The low 128 bits of `self >> n`.
    pub fn shr_low_u128(&self, n: u64) -> u128 {
        (0..128u64)
            .filter(|k| self.bit(n + k))
            .fold(0u128, |acc, k| acc | (1u128 << k))
    }

    pub fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return Big::zero();
        }
        let (words, bits) = ((n / 32) as usize, (n % 32) as u32);
        let mut limbs = vec![0u32; words];
        let mut carry = 0u32;
        for &l in &self.limbs {
            if bits == 0 {
                limbs.push(l);
            } else {
                limbs.push((l << bits) | carry);
                carry = l >> (32 - bits);
            }
        }
        if carry != 0 {
            limbs.push(carry);
        }
        Big { limbs }
    }

    /// Keeps only the bits below position `n`.
    pub fn truncate_bits(&mut self, n: u64) {
        let words = (n / 32) as usize;
        let bits = (n % 32) as u32;
        if self.limbs.len() > words {
            self.limbs.truncate(words + 1);
            if let Some(last) = self.limbs.get_mut(words) {
                *last &= if bits == 0 { 0 } else { (1u32 << bits) - 1 };
            }
        }
        self.normalize();
    }

    pub fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for l in &mut self.limbs {
            let v = u64::from(*l) * u64::from(m) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
        self.normalize();
    }

    pub fn add_small(&mut self, a: u32) {
        let mut carry = u64::from(a);
        for l in &mut self.limbs {
            if carry == 0 {
                break;
            }
            let v = u64::from(*l) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    pub fn add(&self, other: &Big) -> Big {
        let n = self.limbs.len().max(other.limbs.len());
        let mut limbs = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let v = u64::from(self.limb(i)) + u64::from(other.limb(i)) + carry;
            limbs.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            limbs.push(carry as u32);
        }
        Big { limbs }
    }

    /// Schoolbook product.
    pub fn mul(&self, other: &Big) -> Big {
        let mut limbs = vec![0u32; self.limbs.len() + other.limbs.len()];
        for (i, &a) in self.limbs.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &b) in other.limbs.iter().enumerate() {
                let v = u64::from(a) * u64::from(b) + u64::from(limbs[i + j]) + carry;
                limbs[i + j] = v as u32;
                carry = v >> 32;
            }
            let mut k = i + other.limbs.len();
            while carry != 0 {
                let v = u64::from(limbs[k]) + carry;
                limbs[k] = v as u32;
                carry = v >> 32;
                k += 1;
            }
        }
        let mut b = Big { limbs };
        b.normalize();
        b
    }

    /// `self - other`; the caller guarantees `self >= other`.
    pub fn sub(&self, other: &Big) -> Big {
        let mut limbs = Vec::with_capacity(self.limbs.len());
        let mut borrow = 0i64;
        for i in 0..self.limbs.len() {
            let mut v = i64::from(self.limb(i)) - i64::from(other.limb(i)) - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            limbs.push(v as u32);
        }
        let mut b = Big { limbs };
        b.normalize();
        b
    }

    /// Divides in place by a small divisor, returning the remainder.
    pub fn divrem_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for l in self.limbs.iter_mut().rev() {
            let v = (rem << 32) | u64::from(*l);
            *l = (v / u64::from(d)) as u32;
            rem = v % u64::from(d);
        }
        self.normalize();
        rem as u32
    }

    /// `(self / d, self % d != 0)` for a quotient known to fit in 128 bits.
    pub fn div_u128(&self, d: &Big) -> (u128, bool) {
        if self.cmp(d) == Ordering::Less {
            return (0, !self.is_zero());
        }
        let mut r = self.clone();
        let mut q = 0u128;
        let span = self.bits() - d.bits();
        for i in (0..=span.min(127)).rev() {
            let ds = d.shl(i);
            if r.cmp(&ds) != Ordering::Less {
                r = r.sub(&ds);
                q |= 1u128 << i;
            }
        }
        (q, !r.is_zero())
    }

    pub fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut chunks = Vec::new();
        let mut n = self.clone();
        while !n.is_zero() {
            chunks.push(n.divrem_small(1_000_000_000));
        }
        let mut s = String::new();
        for (i, c) in chunks.iter().rev().enumerate() {
            if i == 0 {
                s.push_str(&c.to_string());
            } else {
                s.push_str(&format!("{c:09}"));
            }
        }
        s
    }

    fn limb(&self, i: usize) -> u32 {
        self.limbs.get(i).copied().unwrap_or(0)
    }

    fn normalize(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, other: &Big) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Big {
    fn cmp(&self, other: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }
}

#[cfg(test)]
mod tests {
    use super::Big;

    #[test]
    fn arithmetic_matches_u128() {
        let a = Big::from_u128(0xffff_ffff_ffff_ffff_ffff);
        let b = Big::from_u128(12345);
        assert_eq!(
            a.add(&b),
            Big::from_u128(0xffff_ffff_ffff_ffff_ffff + 12345)
        );
        assert_eq!(
            a.sub(&b),
            Big::from_u128(0xffff_ffff_ffff_ffff_ffff - 12345)
        );
        assert_eq!(
            a.mul(&b),
            Big::from_u128(0xffff_ffff_ffff_ffff_ffff * 12345)
        );
        assert_eq!(Big::pow10(20).mul(&Big::pow10(25)), Big::pow10(45));
        assert_eq!(b.shl(70), Big::from_u128(12345u128 << 70));
        assert_eq!(a.bits(), 80);
        assert_eq!(Big::pow10(20).to_decimal(), "100000000000000000000");
        assert_eq!(
            Big::from_decimal(b"1234567890123456789012").to_decimal(),
            "1234567890123456789012"
        );
        assert_eq!(Big::from_hex(b"ff").to_decimal(), "255");
        let (q, rem) = Big::pow10(30).div_u128(&Big::from_u128(7));
        assert_eq!(q, 10u128.pow(30) / 7);
        assert!(rem);
        assert_eq!(a.shr_low_u128(8), 0xff_ffff_ffff_ffff_ffff);
        assert!(Big::from_u128(0b1000).any_below(4));
        assert!(!Big::from_u128(0b1000).any_below(3));
        let mut t = Big::from_u128(0x1_ffff_ffff);
        t.truncate_bits(33);
        assert_eq!(t, Big::from_u128(0x1_ffff_ffff));
        t.truncate_bits(4);
        assert_eq!(t, Big::from_u128(0xf));
    }
}
