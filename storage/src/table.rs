//! The record cache's hash table: open addressing with linear probing, each slot the key's full
//! hash and the value.
//!
//! It exists, instead of `hashbrown`, so that a lookup's first slot has an address known from the
//! hash alone: a group of reads prefetches the slots of all its keys, then their entries, before
//! it reads any of them, so their cache misses overlap instead of following one another (see
//! `cache.rs`). A lookup here also touches one array, not hashbrown's control bytes and then its
//! buckets, and the full hash in the slot rules out other keys without reading their entries.
//!
//! At most half the slots are used, so a probe ends at an empty slot within a few steps. A
//! removal shifts the entries after it back (no tombstones), so a probe never walks past a slot
//! that was only emptied.

/// A table of values placed by a 64-bit hash. Equality is the caller's (`eq`), checked only on
/// slots whose hash is the same.
pub(crate) struct Table<T> {
    /// A power of two in length (or empty).
    slots: Box<[Option<(u64, T)>]>,
    len: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            slots: Box::default(),
            len: 0,
        }
    }
}

/// Slots of a table's first allocation.
const MIN_SLOTS: usize = 16;

impl<T> Table<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask()
    }

    fn position(&self, hash: u64, mut eq: impl FnMut(&T) -> bool) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(hash);
        loop {
            match &self.slots[i] {
                None => return None,
                Some((h, v)) if *h == hash && eq(v) => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    pub(crate) fn find(&self, hash: u64, eq: impl FnMut(&T) -> bool) -> Option<&T> {
        let i = self.position(hash, eq)?;
        self.slots[i].as_ref().map(|(_, v)| v)
    }

    /// Takes out the value `eq` picks among those of `hash`.
    pub(crate) fn remove(&mut self, hash: u64, eq: impl FnMut(&T) -> bool) -> Option<T> {
        let mut hole = self.position(hash, eq)?;
        let (_, value) = self.slots[hole].take()?;
        self.len -= 1;
        // Backward shift: each following entry of the run that may sit in the hole (its home is
        // not after the hole, in probe order) moves into it, and leaves its own slot as the hole.
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some((h, _)) = &self.slots[j] else { break };
            let from_home = j.wrapping_sub(self.home(*h)) & mask;
            if from_home >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
        }
        Some(value)
    }

    /// Puts `value` in, in place of the value of `hash` that is the `same` as it, which it
    /// returns.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        value: T,
        same: impl Fn(&T, &T) -> bool,
    ) -> Option<T> {
        if let Some(i) = self.position(hash, |v| same(v, &value)) {
            let (_, old) = self.slots[i].as_mut()?;
            return Some(std::mem::replace(old, value));
        }
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        self.place(hash, value);
        self.len += 1;
        None
    }

    /// Stores a value known not to be in the table, in the first empty slot from its home.
    fn place(&mut self, hash: u64, value: T) {
        let mask = self.mask();
        let mut i = self.home(hash);
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some((hash, value));
    }

    fn grow(&mut self) {
        let slots = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, (0..slots).map(|_| None).collect());
        for (hash, value) in old.into_vec().into_iter().flatten() {
            self.place(hash, value);
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Table::default();
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten().map(|(_, v)| v)
    }

    /// Calls `touch` on each value of `hash` (without comparing keys, which would read the
    /// values): for prefetching them.
    pub(crate) fn each_of(&self, hash: u64, mut touch: impl FnMut(&T)) {
        if self.len == 0 {
            return;
        }
        let mask = self.mask();
        let mut i = self.home(hash);
        while let Some((h, v)) = &self.slots[i] {
            if *h == hash {
                touch(v);
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks the CPU to load the slots a lookup of `hash` reads first (it loads nothing itself).
    pub(crate) fn prefetch(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let home = self.home(hash);
        // The slot may straddle two cache lines, and a probe often goes on to the next one.
        crate::prefetch::value(&self.slots[home]);
        crate::prefetch::value(&self.slots[(home + 1) & self.mask()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Keys whose hashes collide on purpose (`k % 8`), so runs form and wrap around the end.
    fn hash(k: u32) -> u64 {
        (k % 8) as u64 * 0x1_0000_0001 + 13
    }

    #[test]
    fn behaves_like_a_map_under_colliding_inserts_and_removes() {
        let mut t: Table<(u32, u32)> = Table::default();
        let mut model = HashMap::new();
        let mut x: u32 = 7;
        for step in 0..20_000u32 {
            // A small xorshift: keys from 0..64, so removals find present keys often.
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let k = x % 64;
            if x.is_multiple_of(3) {
                let got = t.remove(hash(k), |v| v.0 == k).map(|v| v.1);
                assert_eq!(got, model.remove(&k), "remove {k} at {step}");
            } else {
                let got = t.insert(hash(k), (k, step), |a, b| a.0 == b.0).map(|v| v.1);
                assert_eq!(got, model.insert(k, step), "insert {k} at {step}");
            }
            assert_eq!(t.len(), model.len());
            if step.is_multiple_of(97) {
                for k in 0..64 {
                    assert_eq!(
                        t.find(hash(k), |v| v.0 == k).map(|v| v.1),
                        model.get(&k).copied()
                    );
                }
                assert_eq!(t.iter().count(), model.len());
                for k in 0..64 {
                    let mut seen = Vec::new();
                    t.each_of(hash(k), |v| seen.push(v.0));
                    assert!(seen.iter().all(|s| hash(*s) == hash(k)), "{seen:?}");
                    assert_eq!(seen.contains(&k), model.contains_key(&k));
                }
            }
        }
        assert!(t.len() * 2 <= t.slots.len(), "at most half full");
        t.clear();
        assert_eq!((t.len(), t.iter().count()), (0, 0));
        assert_eq!(t.find(hash(1), |v| v.0 == 1), None);
        t.prefetch(hash(1));
    }

    #[test]
    fn grows_and_finds_every_key() {
        let mut t: Table<u64> = Table::default();
        t.prefetch(5);
        for k in 0..10_000u64 {
            let h = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(t.insert(h, k, |a, b| a == b), None);
        }
        assert_eq!(t.len(), 10_000);
        for k in 0..10_000u64 {
            let h = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            t.prefetch(h);
            assert_eq!(t.find(h, |v| *v == k), Some(&k));
        }
        assert_eq!(t.find(1, |_| true), None);
    }
}
