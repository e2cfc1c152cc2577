//! tanli's fault-injection correctness suite, after Jepsen: real `tanli-server` processes, faults
//! made by the kernel and the OS (nftables partitions and packet loss on `lo`, SIGKILL, SIGSTOP,
//! libfaketime clock jumps, libfiu disk errors, a data directory re-mounted on a new address),
//! concurrent clients recording every operation, and checkers that decide whether the history is
//! linearizable (register), lost or invented nothing (set), and counted right (counter).
//!
//! - [`history`]: the recorded events and their JSON-lines format.
//! - [`checker`]: the linearizability search and the set and counter checkers.
//! - [`db`]: the cluster under test and the process-level faults.
//! - [`net`]: nftables partitions and packet loss.
//! - [`nemesis`]: faults with a start and an end, scheduled during a run.
//! - [`client`], [`workload`]: what client processes send and how answers become completions.
//! - [`failover`]: leader-fault unavailability read off a history.
//! - [`report`]: fault intervals, SVG latency and throughput plots, and the static results page.
//! - [`run`]: one run end to end, writing its results folder.

pub mod checker;
pub mod client;
pub mod db;
pub mod failover;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod report;
pub mod run;
pub mod workload;
