//! The Wing–Gong–Lowe linearizability search (Lowe, "Testing for linearizability", 2017; as in
//! Porcupine), generic over a sequential [`Model`].
//!
//! This module owns the search and nothing about any particular data type or history format: a
//! caller hands it operations with their real-time interval and a model, and gets back whether
//! some order of the operations, each placed inside its interval, is a legal sequential run.
//!
//! How it searches: the invocations and completions are laid out in real-time order in a doubly
//! linked list. Walking from the front, an invocation whose operation the model allows in the
//! current state is *linearized*: the state advances, the operation's invocation and completion
//! are unlinked, and the walk restarts at the front. Reaching a completion means its operation was
//! not linearized before it had to be, so the search backtracks: it relinks the last linearized
//! operation and tries the entry after it instead. A cache of (set of linearized operations, model
//! state) pairs, each of which determines the rest of the search completely, stops the search from
//! exploring a configuration twice — that is what makes it fast in practice.
//!
//! Indeterminate operations (no completion) have no completion entry, so they never force a
//! backtrack: they may be linearized at any point after their invocation, or never. The search
//! succeeds once every operation *with* a completion is linearized. At each configuration the
//! candidates with a completion are tried before the indeterminate ones, and the cache (`seen`)
//! also skips a configuration that differs from an explored one only by linearizing *more*
//! indeterminate operations: otherwise each indeterminate operation left pending would double
//! the work of a search that fails.
//!
//! It is iterative (an explicit stack, no recursion) and bounded by a [`Budget`]; past it the
//! answer is [`Outcome::Unknown`] rather than a hang or an exhausted memory.

mod seen;

use std::hash::Hash;

use seen::Seen;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash;
    type Op;
    /// The state before any operation.
    fn init() -> Self::State;
    /// The state after `op` in `state`, or `None` if `op` cannot happen in `state` (for example
    /// a read returning something else).
    fn step(state: &Self::State, op: &Self::Op) -> Option<Self::State>;
}

/// An operation and the real-time interval it must take effect in.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation<O> {
    /// When it was invoked (a history index: any totally ordered clock will do).
    pub invoke: u64,
    /// When it completed; `None` for an indeterminate operation, which may take effect at any
    /// point after `invoke`, or never.
    pub complete: Option<u64>,
    pub op: O,
}

/// How much the search may explore before it gives up with [`Outcome::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Distinct (linearized set, state) configurations explored.
    pub max_states: u64,
    /// Approximate memory of the configuration cache, in bytes.
    pub max_cache_bytes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_states: 10_000_000,
            max_cache_bytes: 1 << 30,
        }
    }
}

/// Why a history is not linearizable, as far as the search got.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure<S> {
    /// The longest partial linearization found: operation indexes, in linearization order.
    pub longest: Vec<usize>,
    /// The model state after it.
    pub state: S,
    /// The operation whose completion came before it could be linearized after `longest`
    /// (`None` only if the search ran out of entries instead).
    pub stuck: Option<usize>,
    /// The operations invoked and not yet linearized at that point: each was tried after
    /// `longest` and refused by the model (or led nowhere).
    pub pending: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<S> {
    Linearizable,
    NotLinearizable(Failure<S>),
    /// The budget ran out first.
    Unknown,
}

/// The outcome, and how much searching it took.
#[derive(Clone, Debug, PartialEq)]
pub struct Report<S> {
    pub outcome: Outcome<S>,
    /// Configurations explored.
    pub explored: u64,
}

/// The entries of the list: a head sentinel, the invocations and completions in real-time order,
/// and a tail sentinel; `next` and `prev` link the ones not yet lifted out.
struct Entries {
    /// For each list node: the operation and whether it is the completion.
    nodes: Vec<(usize, bool)>,
    /// The completion node of each operation, if it has one.
    completion: Vec<Option<usize>>,
    next: Vec<usize>,
    prev: Vec<usize>,
    tail: usize,
}

impl Entries {
    fn new<O>(ops: &[Operation<O>]) -> Entries {
        let mut points: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            points.push((op.invoke, false, i));
            if let Some(complete) = op.complete {
                // A completion never sorts before its own invocation, even if the clock says so.
                points.push((complete.max(op.invoke), true, i));
            }
        }
        points.sort_unstable();
        let tail = points.len() + 1;
        let mut nodes = Vec::with_capacity(tail + 1);
        let mut completion = vec![None; ops.len()];
        nodes.push((0, false));
        for &(_, is_completion, op) in &points {
            if is_completion {
                completion[op] = Some(nodes.len());
            }
            nodes.push((op, is_completion));
        }
        nodes.push((0, false));
        Entries {
            nodes,
            completion,
            next: (0..=tail).map(|k| (k + 1).min(tail)).collect(),
            prev: (0..=tail).map(|k| k.saturating_sub(1)).collect(),
            tail,
        }
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        self.prev[next] = node;
    }

    /// Takes invocation `node` and its operation's completion out of the list.
    fn lift(&mut self, node: usize) {
        self.unlink(node);
        if let Some(completion) = self.completion[self.nodes[node].0] {
            self.unlink(completion);
        }
    }

    /// Undoes [`Entries::lift`]; lifts are undone in the reverse order they were made.
    fn unlift(&mut self, node: usize) {
        if let Some(completion) = self.completion[self.nodes[node].0] {
            self.relink(completion);
        }
        self.relink(node);
    }

    /// The operations of the invocations before `stop` in the list.
    fn invocations_before(&self, stop: usize) -> Vec<usize> {
        let mut ops = Vec::new();
        let mut node = self.next[0];
        while node != stop && node != self.tail {
            if !self.nodes[node].1 {
                ops.push(self.nodes[node].0);
            }
            node = self.next[node];
        }
        ops
    }
}

/// The bit of each operation: in the completed set or the indeterminate set.
struct Bits {
    /// For each operation: whether it is indeterminate, and its bit in that set.
    slot: Vec<(bool, usize)>,
    completed: Vec<u64>,
    indeterminate: Vec<u64>,
}

impl Bits {
    fn new<O>(ops: &[Operation<O>]) -> Bits {
        let (mut completed, mut indeterminate) = (0, 0);
        let slot = ops
            .iter()
            .map(|op| {
                let count = if op.complete.is_some() {
                    &mut completed
                } else {
                    &mut indeterminate
                };
                *count += 1;
                (op.complete.is_none(), *count - 1)
            })
            .collect();
        Bits {
            slot,
            completed: vec![0; completed.div_ceil(64)],
            indeterminate: vec![0; indeterminate.div_ceil(64)],
        }
    }

    fn set(&mut self, op: usize, on: bool) {
        let (indeterminate, i) = self.slot[op];
        let bits = if indeterminate {
            &mut self.indeterminate
        } else {
            &mut self.completed
        };
        let mask = 1u64 << (i % 64);
        if on {
            bits[i / 64] |= mask;
        } else {
            bits[i / 64] &= !mask;
        }
    }
}

/// Whether `ops` can be linearized under model `M`.
pub fn check<M: Model>(ops: &[Operation<M::Op>], budget: Budget) -> Report<M::State> {
    let must = ops.iter().filter(|op| op.complete.is_some()).count();
    let any_indeterminate = must < ops.len();
    let mut list = Entries::new(ops);
    let mut bits = Bits::new(ops);
    let mut seen = Seen::new();
    // The invocation nodes linearized so far, with the state and scan phase before each.
    let mut stack: Vec<(usize, M::State, bool)> = Vec::new();
    let mut state = M::init();
    let mut done = 0; // operations with a completion among those linearized
    let mut explored = 0u64;
    let mut deepest: Option<Failure<M::State>> = None;
    let mut node = list.next[0];
    // Each configuration's candidates are tried operations with a completion first, then
    // indeterminate ones, so configurations with fewer indeterminate operations linearized are
    // explored first and cover the rest (see `seen`).
    let mut indeterminate_phase = false;
    loop {
        if done == must {
            return Report {
                outcome: Outcome::Linearizable,
                explored,
            };
        }
        let (op, is_completion) = list.nodes[node];
        if node == list.tail || is_completion {
            if any_indeterminate && !indeterminate_phase {
                indeterminate_phase = true;
                node = list.next[0];
                continue;
            }
            // Every candidate was tried: record how far we got, then backtrack.
            if deepest
                .as_ref()
                .is_none_or(|d| stack.len() > d.longest.len())
            {
                deepest = Some(Failure {
                    longest: stack.iter().map(|&(n, ..)| list.nodes[n].0).collect(),
                    state: state.clone(),
                    stuck: (node != list.tail).then_some(op),
                    pending: list.invocations_before(node),
                });
            }
            let Some((call, before, phase)) = stack.pop() else {
                break;
            };
            let undone = list.nodes[call].0;
            bits.set(undone, false);
            if ops[undone].complete.is_some() {
                done -= 1;
            }
            state = before;
            indeterminate_phase = phase;
            list.unlift(call);
            node = list.next[call];
            continue;
        }
        if (ops[op].complete.is_none()) == indeterminate_phase {
            if let Some(after) = M::step(&state, &ops[op].op) {
                bits.set(op, true);
                if seen.visit(&bits.completed, &after, &bits.indeterminate) {
                    explored += 1;
                    if explored > budget.max_states || seen.bytes > budget.max_cache_bytes {
                        return Report {
                            outcome: Outcome::Unknown,
                            explored,
                        };
                    }
                    let before = std::mem::replace(&mut state, after);
                    stack.push((node, before, indeterminate_phase));
                    if ops[op].complete.is_some() {
                        done += 1;
                    }
                    list.lift(node);
                    node = list.next[0];
                    indeterminate_phase = false;
                    continue;
                }
                bits.set(op, false);
            }
        }
        node = list.next[node];
    }
    // The first dead end always records a failure, and the stack only empties at a dead end.
    Report {
        outcome: deepest.map_or(Outcome::Unknown, Outcome::NotLinearizable),
        explored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter that can be incremented, and read with an expected value.
    struct Counter;

    enum CounterOp {
        Incr,
        Read(u32),
    }

    impl Model for Counter {
        type State = u32;
        type Op = CounterOp;
        fn init() -> u32 {
            0
        }
        fn step(state: &u32, op: &CounterOp) -> Option<u32> {
            match op {
                CounterOp::Incr => Some(state + 1),
                CounterOp::Read(v) => (v == state).then_some(*state),
            }
        }
    }

    fn op(invoke: u64, complete: Option<u64>, op: CounterOp) -> Operation<CounterOp> {
        Operation {
            invoke,
            complete,
            op,
        }
    }

    #[test]
    fn empty_and_indeterminate_only_histories_are_linearizable() {
        let none: Vec<Operation<CounterOp>> = Vec::new();
        assert_eq!(
            check::<Counter>(&none, Budget::default()).outcome,
            Outcome::Linearizable
        );
        let pending = [op(0, None, CounterOp::Read(7))];
        assert_eq!(
            check::<Counter>(&pending, Budget::default()).outcome,
            Outcome::Linearizable
        );
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // incr [0, 3] overlaps both reads; read 0 [1, 2] then read 1 [4, 5].
        let ops = [
            op(0, Some(3), CounterOp::Incr),
            op(1, Some(2), CounterOp::Read(0)),
            op(4, Some(5), CounterOp::Read(1)),
        ];
        assert_eq!(
            check::<Counter>(&ops, Budget::default()).outcome,
            Outcome::Linearizable
        );
    }

    #[test]
    fn failure_names_the_stuck_operation_and_the_longest_prefix() {
        // incr [0, 1], then read 0 [2, 3]: the read can never go after the incr.
        let ops = [
            op(0, Some(1), CounterOp::Incr),
            op(2, Some(3), CounterOp::Read(0)),
        ];
        let Outcome::NotLinearizable(failure) = check::<Counter>(&ops, Budget::default()).outcome
        else {
            panic!("not linearizable");
        };
        assert_eq!(failure.longest, vec![0]);
        assert_eq!(failure.state, 1);
        assert_eq!(failure.stuck, Some(1));
        assert_eq!(failure.pending, vec![1]);
    }

    #[test]
    fn indeterminate_operation_never_blocks_but_may_explain_a_read() {
        // An indeterminate incr at 0 explains read 1 at [5, 6]; a second one may never happen.
        let ops = [
            op(0, None, CounterOp::Incr),
            op(1, None, CounterOp::Incr),
            op(5, Some(6), CounterOp::Read(1)),
        ];
        assert_eq!(
            check::<Counter>(&ops, Budget::default()).outcome,
            Outcome::Linearizable
        );
    }

    #[test]
    fn exhausted_budget_is_unknown() {
        let mut ops: Vec<_> = (0..20).map(|i| op(i, None, CounterOp::Incr)).collect();
        ops.push(op(30, Some(31), CounterOp::Read(100)));
        let tiny = Budget {
            max_states: 50,
            ..Budget::default()
        };
        let report = check::<Counter>(&ops, tiny);
        assert_eq!(report.outcome, Outcome::Unknown);
        assert!(report.explored > 50);
    }
}
