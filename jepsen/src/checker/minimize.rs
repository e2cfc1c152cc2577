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
//! 2. **Greedy removal.** Runs of operations, then single ones, latest first, are left out if the
//!    rest still fails: halves of what is left, then quarters, and so on down to one pass over
//!    single operations (as in delta debugging; big cuts while the history is long keep the
//!    expensive failing searches few). A writer is kept while it is the last source of a value
//!    some remaining completed operation observes, so a stale read shrinks to the writes that
//!    make it stale rather than to a bare "read of a value never written".

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

/// Whether going from `before` to `after` (which ops are kept) leaves a value some kept completed
/// operation observes with no kept writer, where it had one: the observer would then fail for
/// the dull reason that its value was never written.
fn orphans(ops: &[KeyOp], before: &[bool], after: &[bool]) -> bool {
    let written = |keep: &[bool], v: i64| {
        (0..ops.len()).any(|i| keep[i] && ops[i].action.writes() == Some(v))
    };
    (0..ops.len())
        .filter(|&i| before[i] && !after[i])
        .filter_map(|i| ops[i].action.writes())
        .any(|v| {
            !written(after, v)
                && (0..ops.len()).any(|i| {
                    after[i] && ops[i].complete.is_some() && ops[i].action.needs() == Some(v)
                })
        })
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
    let mut size = current.len().next_power_of_two() / 2;
    'granularity: loop {
        let kept: Vec<usize> = (0..current.len()).filter(|&i| keep[i]).collect();
        for chunk in kept.chunks(size.max(1)).rev() {
            if Instant::now() >= deadline {
                complete = false;
                break 'granularity;
            }
            let before = keep.clone();
            for &i in chunk {
                keep[i] = false;
            }
            let rest: Vec<KeyOp> = current
                .iter()
                .zip(&keep)
                .filter(|(_, kept)| **kept)
                .map(|(op, _)| op.clone())
                .collect();
            if orphans(&current, &before, &keep) || !fails(&rest, budget) {
                keep = before;
            }
        }
        if size <= 1 {
            break;
        }
        size /= 2;
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
