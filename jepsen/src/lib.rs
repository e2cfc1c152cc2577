//! tanli's fault-injection correctness suite, after Jepsen: real `tanli-server` processes, faults
//! made by the kernel and the OS (nftables partitions and packet loss on `lo`, SIGKILL, SIGSTOP,
//! libfaketime clock jumps, libfiu disk errors, a data directory re-mounted on a new address),
//! concurrent clients recording every operation, and checkers that decide whether the history is
//! linearizable (register), lost or invented nothing (set), and counted right (counter).
//!
//! - [`history`]: the recorded events and their JSON-lines format.
//! - [`checker`]: the linearizability search and the set and counter checkers.

pub mod checker;
pub mod history;
