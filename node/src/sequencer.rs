//! The order of one connection's pipelined commands: which earlier commands a new one waits for
//! ([`Sequencer`]), and the counters it waits on ([`Counter`], [`Signal`], [`Done`]).
//!
//! Redis answers a connection's commands one after another. Tanli lets them overlap where the
//! client cannot tell: the connection asks the sequencer, per command, what it must wait for.
//! Waiting is cheap in the common case (nothing pending: no allocation, no subscription), since
//! it sits on the path of every command.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt, Shared};

/// A wait that many commands can share: done once a counter reaches a target. `None` when the
/// counter had already reached it when the wait was made -- the usual case, which then costs no
/// subscription and no allocation.
#[derive(Clone)]
pub(crate) struct Signal(Option<Shared<BoxFuture<'static, ()>>>);

impl Signal {
    pub(crate) async fn wait(self) {
        if let Some(s) = self.0 {
            s.await;
        }
    }

    /// Whether the wait is over now (without waiting).
    pub(crate) fn is_done(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|s| s.clone().now_or_never().is_some())
    }
}

/// Counts completions of one kind (reads done, writes proposed, writes applied) on a connection.
/// Waiting is a comparison with a count, so a long pipeline never builds a chain of futures
/// (each awaiting the one before), whose first poll would recurse as deep as the pipeline.
/// Counting is an atomic add; waiters are woken only when some are registered.
#[derive(Clone)]
struct Counter(Arc<CounterState>);

#[derive(Default)]
struct CounterState {
    count: AtomicU64,
    /// Waits registered on `changed` (a completion with none costs no lock and no wakeup).
    waiters: AtomicUsize,
    changed: tokio::sync::Notify,
}

/// Keeps a wait counted in `waiters` while it lives, even if it is dropped unfinished.
struct Waiting(Arc<CounterState>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Counter {
    fn new() -> Counter {
        Counter(Arc::default())
    }

    /// Done once `target` completions have been counted.
    fn reached(&self, target: u64) -> Signal {
        if self.0.count.load(Ordering::SeqCst) >= target {
            return Signal(None);
        }
        let state = self.0.clone();
        Signal(Some(
            async move {
                state.waiters.fetch_add(1, Ordering::SeqCst);
                let waiting = Waiting(state);
                loop {
                    // Registered before the count is read: a completion counted after the read
                    // sees `waiters` > 0 and wakes this wait (both are SeqCst).
                    let changed = waiting.0.changed.notified();
                    tokio::pin!(changed);
                    changed.as_mut().enable();
                    if waiting.0.count.load(Ordering::SeqCst) >= target {
                        return;
                    }
                    changed.await;
                }
            }
            .boxed()
            .shared(),
        ))
    }

    /// One completion, counted when the guard is used or dropped (an abandoned command counts
    /// as done, so nothing behind it waits forever).
    fn guard(&self) -> Done {
        Done(Some(self.0.clone()))
    }
}

/// Counts one completion on [`Done::finish`] or drop.
pub(crate) struct Done(Option<Arc<CounterState>>);

impl Done {
    pub(crate) fn finish(mut self) {
        self.bump();
    }

    fn bump(&mut self) {
        if let Some(state) = self.0.take() {
            state.count.fetch_add(1, Ordering::SeqCst);
            if state.waiters.load(Ordering::SeqCst) > 0 {
                state.changed.notify_waiters();
            }
        }
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        self.bump();
    }
}

/// Keeps one connection's commands in Redis's order while letting them overlap where that is
/// invisible: consecutive reads run together, consecutive writes are proposed back to back in
/// order, but a read waits for the writes sent before it to apply, and a write waits for the
/// reads sent before it to finish. Counting works because nothing sent after a command can
/// complete before the commands it waits for: reads finish in any order, but a write waits for
/// all earlier reads, and a later read waits for all earlier writes.
pub(crate) struct Sequencer {
    reads_sent: u64,
    writes_sent: u64,
    reads_done: Counter,
    writes_submitted: Counter,
    writes_done: Counter,
}

impl Sequencer {
    pub(crate) fn new() -> Sequencer {
        Sequencer {
            reads_sent: 0,
            writes_sent: 0,
            reads_done: Counter::new(),
            writes_submitted: Counter::new(),
            writes_done: Counter::new(),
        }
    }

    /// What a new read waits for, and the guard to use when it is done.
    pub(crate) fn read(&mut self) -> (Signal, Done) {
        self.reads_sent += 1;
        (
            self.writes_done.reached(self.writes_sent),
            self.reads_done.guard(),
        )
    }

    /// What a new write waits for before it is proposed, and the guards to use once it is
    /// proposed and once it is done.
    pub(crate) fn write(&mut self) -> (Signal, Done, Done) {
        let reads = self.reads_done.reached(self.reads_sent);
        let writes = self.writes_submitted.reached(self.writes_sent);
        self.writes_sent += 1;
        let wait = match (reads.0, writes.0) {
            (None, None) => Signal(None),
            (Some(one), None) | (None, Some(one)) => Signal(Some(one)),
            (Some(reads), Some(writes)) => Signal(Some(
                async move {
                    reads.await;
                    writes.await;
                }
                .boxed()
                .shared(),
            )),
        };
        (
            wait,
            self.writes_submitted.guard(),
            self.writes_done.guard(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_on_a_reached_count_is_done_at_once() {
        let c = Counter::new();
        assert!(c.reached(0).is_done());
        c.guard().finish();
        assert!(c.reached(1).is_done());
        assert!(!c.reached(2).is_done());
    }

    #[tokio::test]
    async fn a_wait_ends_when_another_task_counts_up_to_it() {
        let c = Counter::new();
        let wait = c.reached(3);
        let guards: Vec<_> = (0..3).map(|_| c.guard()).collect();
        let waiter = tokio::spawn(wait.clone().wait());
        tokio::task::yield_now().await;
        assert!(!wait.is_done());
        tokio::spawn(async move {
            for g in guards {
                tokio::task::yield_now().await;
                g.finish();
            }
        });
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the wait ends")
            .expect("no panic");
        assert!(wait.is_done());
        assert_eq!(c.0.waiters.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_dropped_guard_counts_so_nothing_waits_forever() {
        let c = Counter::new();
        drop(c.guard());
        assert!(c.reached(1).is_done());
    }

    #[tokio::test]
    async fn a_read_waits_for_earlier_writes_and_a_write_for_earlier_reads() {
        let mut s = Sequencer::new();
        let (read_wait, read_done) = s.read();
        assert!(read_wait.is_done(), "no write before the first read");
        let (write_wait, submitted, applied) = s.write();
        assert!(!write_wait.is_done(), "the read before it is not done");
        read_done.finish();
        assert!(write_wait.is_done());
        let (second_read, _done) = s.read();
        assert!(!second_read.is_done(), "the write before it is not applied");
        submitted.finish();
        assert!(!second_read.is_done());
        applied.finish();
        assert!(second_read.is_done());
    }
}
