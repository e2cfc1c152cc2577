//! A hint to the CPU to load memory into its caches ahead of its use, for lookups whose cache
//! misses would otherwise follow one another (the record cache's batched lookups, `cache.rs`).
//!
//! A prefetch changes nothing the program reads; it only moves a cache line closer. It goes
//! through `safe_arch` (the workspace forbids `unsafe`), which takes a reference, so only memory
//! the caller may read anyway is ever named. On targets other than x86_64 it does nothing.

/// Cache lines a hint covers at most (a longer slice is read mostly by a copy, which the
/// hardware prefetcher follows).
const MAX_LINES: usize = 4;
const LINE: usize = 64;

/// Hints that `bytes` are read soon (the first [`MAX_LINES`] cache lines of them).
pub(crate) fn bytes(bytes: &[u8]) {
    // The offset of each cache line's first byte in the slice, after the first byte's line.
    let mut at = 0;
    for _ in 0..MAX_LINES {
        let Some(b) = bytes.get(at) else { break };
        value(b);
        at += LINE - (bytes.as_ptr() as usize + at) % LINE;
    }
}

/// Hints that `value` is read soon (the cache line it starts on).
#[cfg(target_arch = "x86_64")]
pub(crate) fn value<T>(value: &T) {
    safe_arch::prefetch_t0(value);
}

/// Hints that `value` is read soon (the cache line it starts on).
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn value<T>(_value: &T) {}

#[cfg(test)]
mod tests {
    #[test]
    fn hints_change_nothing() {
        let v: Vec<u8> = (0..=255).collect();
        for start in 0..70 {
            super::bytes(&v[start..]);
        }
        super::bytes(&[]);
        super::value(&v);
        assert_eq!(v.iter().map(|&b| b as u32).sum::<u32>(), 255 * 128);
    }
}
