//! Shrinking a non-linearizable register key to a small sub-history that still fails, so a
//! report shows the handful of operations that matter instead of hundreds.
//!
//! This module owns the shrinking strategy, which runs under a time cap and a per-search budget
//! (a search that comes back unknown counts as "does not fail": shrinking only ever keeps a
//! history it has seen fail):
//!
//! 1. **Shortest failing prefix.** Cutting the history at an index keeps the operations invoked
//!    by then; those that completed later become indeterminate (writes and swaps may or may not
//!    have happened; reads and refused swaps constrain nothing and go). A linearization of a
//!    history restricts to one of any such prefix, so failing is monotone in the cut, and a
//!    binary search over the completion indexes finds the earliest failing cut.
//! 2. **Greedy removal, one pass.** Each operation in turn is left out if the rest still fails:
//!    operations that only observe first, then writers. A writer is kept while it is the last
//!    source of a value some remaining completed operation observes, so a stale read shrinks to
//!    the writes that make it stale rather than to a bare "read of a value never written".

use std::time::{Duration, Instant};

use super::linear::{Budget, Outcome};
use super::register::{search, Action, KeyOp};

/// A shrunk failing history.
pub(crate) struct Shrunk {
    /// The operations kept, as they were checked (those cut off are indeterminate).
    pub ops: Vec<KeyOp>,
    /// The index the history was cut at, if it was.
    pub cut_at: Option<u64>,
    /// Whether shrinking finished within its time cap.
    pub complete: bool,
}

fn fails(ops: &[KeyOp], budget: Budget) -> bool {
    matches!(search(ops, budget).outcome, Outcome::NotLinearizable(_))
}

/// The operations invoked at or before index `at`, as they were known then.
pub(crate) fn cut(ops: &[KeyOp], at: u64) -> Vec<KeyOp> {
    ops.iter()
        .filter(|op| op.invoke <= at)
        .filter_map(|op| match op.complete {
            Some(complete) if complete <= at => Some(op.clone()),
            _ => match op.action {
                Action::Read(_) | Action::CasMismatch { .. } => None,
                Action::Write(_) | Action::Cas { .. } => Some(KeyOp {
                    complete: None,
                    ..op.clone()
                }),
            },
        })
        .collect()
}

/// Whether leaving out `ops[candidate]` leaves a value some kept completed operation observes
/// with no kept writer (a writer that never was is never needed, so only kept ones count).
fn orphans(ops: &[KeyOp], keep: &[bool], candidate: usize) -> bool {
    let Some(written) = ops[candidate].action.writes() else {
        return false;
    };
    let kept = |i: &usize| *i != candidate && keep[*i];
    let other_writer = (0..ops.len()).any(|i| kept(&i) && ops[i].action.writes() == Some(written));
    let observer = (0..ops.len())
        .any(|i| kept(&i) && ops[i].complete.is_some() && ops[i].action.needs() == Some(written));
    observer && !other_writer
}

/// Shrinks `ops`, a key's history known not to be linearizable, for at most `time`.
pub(crate) fn minimize(ops: &[KeyOp], time: Duration, budget: Budget) -> Shrunk {
    let deadline = Instant::now() + time;
    let mut cuts: Vec<u64> = ops.iter().filter_map(|op| op.complete).collect();
    cuts.sort_unstable();
    cuts.dedup();
    // Invariant: the cut at `hi` fails (`hi == cuts.len()`: no cut, the whole history).
    let (mut lo, mut hi) = (0, cuts.len());
    let mut complete = true;
    while lo < hi {
        if Instant::now() >= deadline {
            complete = false;
            break;
        }
        let mid = lo + (hi - lo) / 2;
        if fails(&cut(ops, cuts[mid]), budget) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let cut_at = cuts.get(hi).copied();
    let current = cut_at.map_or_else(|| ops.to_vec(), |at| cut(ops, at));

    let mut keep = vec![true; current.len()];
    let (observers, writers): (Vec<usize>, Vec<usize>) =
        (0..current.len()).partition(|&i| current[i].action.writes().is_none());
    for candidate in observers.into_iter().chain(writers) {
        if Instant::now() >= deadline {
            complete = false;
            break;
        }
        if orphans(&current, &keep, candidate) {
            continue;
        }
        keep[candidate] = false;
        let rest: Vec<KeyOp> = current
            .iter()
            .zip(&keep)
            .filter(|(_, kept)| **kept)
            .map(|(op, _)| op.clone())
            .collect();
        if !fails(&rest, budget) {
            keep[candidate] = true;
        }
    }
    Shrunk {
        ops: current
            .into_iter()
            .zip(keep)
            .filter(|(_, kept)| *kept)
            .map(|(op, _)| op)
            .collect(),
        cut_at,
        complete,
    }
}
