//! The search's memory of configurations already explored, with dominance over indeterminate
//! operations.
//!
//! A configuration is the set of operations linearized so far and the model state they lead to;
//! it determines the rest of the search. This module owns the rule for when a configuration
//! needs no exploring because one explored before covers it: same completed operations
//! linearized, same state, and a *subset* of the indeterminate operations linearized. The one
//! seen before can do everything the new one can — the extra indeterminate operations it still
//! has pending may simply never take effect — so if it found no way to success, neither can the
//! new one. (Exactly equal configurations are the special case Lowe's and Porcupine's caches
//! use.) Without this, every indeterminate operation left pending doubles the configurations of
//! a failing search; with it, linearizing one that changes nothing lasting is seen through.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;

/// The completed operations linearized, and the state.
type Key<S> = (Box<[u64]>, S);

/// Explored configurations: for each (completed set, state), the indeterminate sets explored
/// with it, none a superset of another.
pub(super) struct Seen<S> {
    explored: HashMap<Key<S>, Vec<Box<[u64]>>>,
    /// Approximate bytes held.
    pub bytes: usize,
}

fn subset(small: &[u64], large: &[u64]) -> bool {
    small.iter().zip(large).all(|(s, l)| s & !l == 0)
}

impl<S: Clone + Eq + Hash> Seen<S> {
    pub fn new() -> Seen<S> {
        Seen {
            explored: HashMap::new(),
            bytes: 0,
        }
    }

    /// Records the configuration; false if one explored before covers it.
    pub fn visit(&mut self, completed: &[u64], state: &S, indeterminate: &[u64]) -> bool {
        let entry = self.explored.entry((Box::from(completed), state.clone()));
        if matches!(entry, Entry::Vacant(_)) {
            self.bytes += std::mem::size_of_val(completed)
                + std::mem::size_of::<(Key<S>, Vec<Box<[u64]>>)>()
                + 16;
        }
        let sets = entry.or_default();
        if sets.iter().any(|seen| subset(seen, indeterminate)) {
            return false;
        }
        // Sets the new one covers will never be needed again.
        let before = sets.len();
        sets.retain(|seen| !subset(indeterminate, seen));
        let per_set = std::mem::size_of_val(indeterminate) + std::mem::size_of::<Box<[u64]>>();
        self.bytes = self.bytes.saturating_sub((before - sets.len()) * per_set) + per_set;
        sets.push(indeterminate.into());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_with_more_indeterminate_operations_is_covered() {
        let mut seen = Seen::new();
        assert!(seen.visit(&[0b11], &7, &[0b01]));
        assert!(!seen.visit(&[0b11], &7, &[0b01]), "the same one");
        assert!(!seen.visit(&[0b11], &7, &[0b11]), "a superset");
        assert!(seen.visit(&[0b11], &7, &[0b10]), "incomparable");
        assert!(seen.visit(&[0b11], &8, &[0b11]), "another state");
        assert!(
            seen.visit(&[0b01], &7, &[0b11]),
            "other completed operations"
        );
        assert!(seen.visit(&[0b11], &7, &[0b00]), "a subset is new");
        assert!(
            !seen.visit(&[0b11], &7, &[0b10]),
            "now covered by the empty set"
        );
        assert_eq!(
            seen.explored[&(Box::from([0b11u64].as_slice()), 7)].len(),
            1
        );
    }
}
