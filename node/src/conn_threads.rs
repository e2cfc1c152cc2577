//! Where client connections run: on threads of their own (`--connection-threads`, one per CPU by
//! default), each with a single-threaded runtime, or on the node's shared worker threads (`0`).
//!
//! A connection stays on one thread from accept to close; connections are dealt to the threads
//! in turn. Why: on the shared work-stealing runtime, every request that wakes a connection also
//! wakes a parked worker to look for work to steal, and a read served from the record cache
//! costs less than those wake-ups (futex calls and task switches were the largest part of a
//! leader's profile under `GET -P 1`). On its own thread a connection's requests, its reads and
//! its replies never leave that thread; writes still cross to Raft on the worker threads.
//!
//! The cost: a connection cannot move to an idle thread while its own is busy or descheduled,
//! so on a host with fewer free cores than threads its latency tail grows (see README).
//!
//! A thread with nothing left to run yields its core before it sleeps in `epoll_wait`
//! (`yield-before-park`, on by default, as on the worker threads; `park.rs` says when it stops).
//! Sleeping and being woken cost more than a read from the record cache: with two connection
//! threads and a client on two cores, under `GET -P 1` the leader switched tasks about once per
//! three requests (Redis once per twelve), and the switches were a fifth of its time. A yield lets
//! the runnable threads (the client among them) go first, so the thread comes back to requests
//! already waiting: once per twenty requests. Measured with 3 nodes on 2 cores: GET `-P 1` about
//! 1.2x, `-P 16` and SET unchanged within the noise (README).
//!
//! Shutdown: the node's token ends every connection's loop; [`Connections::closed`] then waits,
//! up to [`DRAIN`], for the connection tasks to end, and each thread drops its runtime (and with
//! it any task still left) once they have.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// How long shutdown waits for connection tasks to end after the node's token is cancelled.
pub(crate) const DRAIN: Duration = Duration::from_secs(2);

/// The node's client connections: where they run, and every one still open.
pub(crate) struct Connections {
    /// One handle per connection thread; empty: connections run on the shared runtime.
    threads: Vec<Handle>,
    next: AtomicUsize,
    tracker: TaskTracker,
}

impl Connections {
    /// Starts `threads` connection threads (0: none, connections run on the caller's runtime).
    /// They stop when `shutdown` is cancelled and their connections have ended (or after
    /// [`DRAIN`]).
    /// With `yield_before_park`, a thread about to sleep yields its core first (module doc).
    pub(crate) fn start(
        threads: usize,
        yield_before_park: bool,
        shutdown: &CancellationToken,
    ) -> std::io::Result<Self> {
        let tracker = TaskTracker::new();
        // The threads' own token: a start that fails half way stops those it started.
        let stop = shutdown.child_token();
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let mut runtime = tokio::runtime::Builder::new_current_thread();
            runtime.enable_all();
            if yield_before_park {
                runtime.on_thread_park(crate::park::before_park);
            }
            let started = runtime.build().and_then(|runtime| {
                let handle = runtime.handle().clone();
                let (stop, tracker) = (stop.clone(), tracker.clone());
                std::thread::Builder::new()
                    .name(format!("tanli-conn-{i}"))
                    .spawn(move || {
                        runtime.block_on(async {
                            stop.cancelled().await;
                            let _ = tokio::time::timeout(DRAIN, tracker.wait()).await;
                        })
                    })?;
                Ok(handle)
            });
            match started {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    stop.cancel();
                    return Err(e);
                }
            }
        }
        Ok(Connections {
            threads: handles,
            next: AtomicUsize::new(0),
            tracker,
        })
    }

    /// How many connection threads there are (0: connections run on the shared runtime).
    pub(crate) fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Runs a connection's task, in the caller's tracing span, on the next connection thread
    /// (or on the caller's runtime without them). `serve` receives the socket registered with
    /// the runtime it runs on.
    pub(crate) fn spawn<F, Fut>(&self, stream: tokio::net::TcpStream, serve: F)
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.threads.is_empty() {
            crate::spawn(self.tracker.track_future(serve(stream)));
            return;
        }
        // A socket is registered with one runtime's reactor: take it out of this one and into
        // the connection thread's.
        let std = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand a connection to its thread");
                return;
            }
        };
        let task = self.tracker.track_future(async move {
            match tokio::net::TcpStream::from_std(std) {
                Ok(stream) => serve(stream).await,
                Err(e) => tracing::warn!(error = %e, "cannot register a connection"),
            }
        });
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        self.threads[i].spawn(task.in_current_span());
    }

    /// Waits, up to [`DRAIN`], until every connection task has ended. Call after the node's
    /// shutdown token is cancelled (which ends them) and no more are spawned.
    pub(crate) async fn closed(&self) {
        self.tracker.close();
        if tokio::time::timeout(DRAIN, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = self.tracker.len(),
                "connections still open after {DRAIN:?}"
            );
        }
    }
}

#[cfg(test)]
#[path = "conn_threads_tests.rs"]
mod tests;
