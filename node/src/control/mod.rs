//! The control plane: how nodes learn about each other and what the cluster looks like. It
//! publishes what the data plane reads and never sits on the request path.
//!
//! - `gossip`: chitchat over UDP on the cluster port — liveness, addresses, state, the newest map
//!   epoch each node holds, the shards it leads and its load. Hints, not truth: the meta shard
//!   (with the cluster issue) is what is true.

pub mod gossip;
