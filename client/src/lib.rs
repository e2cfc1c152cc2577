//! `tanli-client`: a cluster-aware async client for tanli.
//!
//! - **Cluster-aware**: [`Client::connect`] learns which node leads each hash slot from
//!   `CLUSTER SHARDS`, routes every command by its key's slot (the same `tanli-router` function
//!   the servers use), follows `-MOVED` (and refreshes its map) and `-ASK`, and keeps one
//!   pipelined connection per node: many requests in flight on it, replies matched in order.
//! - **Retries that are safe**: each attempt has a deadline ([`Config::request_timeout`]); a
//!   refused attempt (`-TRYAGAIN`, `-CLUSTERDOWN`, no connection) and a lost one (timeout,
//!   disconnect) are retried up to [`Config::attempts_max`] times with exponential backoff and
//!   full jitter, and never sooner than an overloaded node's hint (`-TRYAGAIN ... retry in N
//!   ms`; disconnected clients back off the same way). Every write carries a request id (`TANLI.REQ <client-id> <seq> ...`) and the
//!   shard records its reply in the same batch as the write, so a retried write is applied at
//!   most once, however many times it was sent. An [`Error`] says whether a failed write
//!   [may have been applied](Error::may_have_applied).
//! - **Global ids**: [`Client::next_id`] returns Snowflake-style ids from a worker id leased
//!   from the cluster, unique cluster-wide and increasing per client.
//! - **Conditional writes**: [`Client::set_if_eq`] (compare-and-set), [`Client::set_if_ne`],
//!   [`Client::set_nx`], [`Client::set_xx`], [`Client::getset`], [`Client::del_if_eq`]
//!   (compare-and-delete).
//!
//! # Examples
//!
//! Connect, write and read (a running node: `cargo run --release --bin tanli-server`):
//!
//! ```no_run
//! # async fn demo() -> tanli_client::Result<()> {
//! use tanli_client::Client;
//!
//! let client = Client::connect(&["127.0.0.1:6379"]).await?;
//! client.set("greeting", "hello").await?;
//! assert_eq!(client.get("greeting").await?.as_deref(), Some(&b"hello"[..]));
//! # Ok(()) }
//! ```
//!
//! Exactly-once increments: a retry after a timeout never counts twice.
//!
//! ```no_run
//! # async fn demo(client: tanli_client::Client) -> tanli_client::Result<()> {
//! match client.incr("orders:count").await {
//!     Ok(n) => println!("count is now {n}"),
//!     // The retry budget ran out during a long outage: the increment happened at most once.
//!     Err(e) if e.may_have_applied() => println!("unknown outcome: {e}"),
//!     Err(e) => println!("not applied: {e}"),
//! }
//! # Ok(()) }
//! ```
//!
//! A conditional update, "set status = 'paid' where status = 'unpaid'":
//!
//! ```no_run
//! # async fn demo(client: tanli_client::Client) -> tanli_client::Result<()> {
//! if client.set_if_eq("order:42:status", "unpaid", "paid").await? {
//!     println!("this caller marked it paid");
//! }
//! // Release a lock only if we still hold it.
//! client.del_if_eq("lock:report", "owner-7").await?;
//! # Ok(()) }
//! ```
//!
//! Global ids:
//!
//! ```no_run
//! # async fn demo(client: tanli_client::Client) -> tanli_client::Result<()> {
//! let id = client.next_id().await?;
//! let (unix_ms, worker, seq) = tanli_client::id_parts(id);
//! println!("{id} = {unix_ms} ms, worker {worker}, sequence {seq}");
//! # Ok(()) }
//! ```
//!
//! Anything else through the raw escape hatch:
//!
//! ```no_run
//! # async fn demo(client: tanli_client::Client) -> tanli_client::Result<()> {
//! let reply = client.cmd(&[b"GETRANGE", b"greeting", b"0", b"3"]).await?;
//! # Ok(()) }
//! ```
//!
//! `examples/quickstart.rs` runs all of these against a local node or cluster.

mod backoff;
mod client;
mod commands;
mod conn;
mod error;
mod ids;
mod topology;

pub use client::{Client, Config};
pub use commands::Value;
pub use error::{Error, Result};
pub use ids::CLOCK_WAIT_MAX;

/// The parts of an id from [`Client::next_id`]: (Unix milliseconds, worker id, sequence).
pub fn id_parts(id: u64) -> (u64, u16, u16) {
    tanli_router::ids::parts(id)
}
