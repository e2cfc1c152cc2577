//! tanli-router: where a key lives. Pure logic, no I/O, no async.
//!
//! Node, client and ctl call the same functions, so they cannot disagree about where a key lives.
//! Today it holds slot hashing; the cluster map and routing decisions join it with the cluster
//! issue.

mod slot;

pub use slot::{slot_of, SLOT_COUNT};
