//! One client process's connection to the cluster, and the rule that decides what an answer says
//! about whether an operation happened.
//!
//! A process talks to its own node (as a Jepsen client is bound to one node) and follows `MOVED`
//! to the shard's leader. It never retries an operation that may have been applied: that is the
//! checker's business, as an indeterminate result.
//!
//! | answer                                   | outcome |
//! |------------------------------------------|---------|
//! | a reply                                  | `ok` (or a definite "no" for `SET IFEQ`'s nil) |
//! | `-MOVED` (followed), `-ASK`, `-TRYAGAIN`, `-CLUSTERDOWN`, `-READONLY`, `-LOADING`, `-WRONGTYPE`, `-CROSSSLOT` | `fail`: the server refused before proposing |
//! | any other error, a timeout, a lost connection | `info`: may or may not have happened |
//!
//! `-TRYAGAIN` is definite because the server answers it only before a command enters the log
//! (no leader, or this replica stopped leading before appending); a write that was appended and
//! then lost its fate answers a plain `-ERR`, which is `info` here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use redis::{Connection, RedisError, Value};

/// Redirects followed for one operation before giving up (definitely not applied).
pub const REDIRECTS_MAX: usize = 3;

/// What one operation came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The server's reply, and the node that gave it.
    Ok(Value, SocketAddr),
    /// Definitely not applied.
    Fail(String),
    /// May or may not have been applied.
    Info(String),
}

/// Connections to the nodes, opened on demand, with a per-operation timeout.
pub struct Client {
    timeout: Duration,
    conns: HashMap<SocketAddr, Connection>,
}

impl Client {
    pub fn new(timeout: Duration) -> Client {
        Client {
            timeout,
            conns: HashMap::new(),
        }
    }

    /// Sends `cmd` to `node`, following `MOVED` up to [`REDIRECTS_MAX`] times.
    pub fn exec(&mut self, node: SocketAddr, cmd: &redis::Cmd) -> Outcome {
        let mut target = node;
        for _ in 0..=REDIRECTS_MAX {
            let conn = match self.conn(target) {
                Ok(c) => c,
                // Nothing was sent.
                Err(e) => return Outcome::Fail(format!("connect to {target}: {e}")),
            };
            match cmd.query::<Value>(conn) {
                Ok(Value::ServerError(e)) => {
                    let e: RedisError = e.into();
                    match classify(&e) {
                        Next::Moved(to) => target = to,
                        Next::Done(outcome) => return outcome,
                    }
                }
                Ok(value) => return Outcome::Ok(value, target),
                Err(e) => {
                    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                        // The connection may still deliver this reply later: never reuse it.
                        self.conns.remove(&target);
                        return Outcome::Info(format!("{target}: {e}"));
                    }
                    match classify(&e) {
                        Next::Moved(to) => target = to,
                        Next::Done(outcome) => return outcome,
                    }
                }
            }
        }
        Outcome::Fail(format!("more than {REDIRECTS_MAX} redirects"))
    }

    fn conn(&mut self, addr: SocketAddr) -> redis::RedisResult<&mut Connection> {
        if !self.conns.contains_key(&addr) {
            let client = redis::Client::open(format!("redis://{addr}"))?;
            let conn = client.get_connection_with_timeout(self.timeout)?;
            conn.set_read_timeout(Some(self.timeout))?;
            conn.set_write_timeout(Some(self.timeout))?;
            self.conns.insert(addr, conn);
        }
        Ok(self.conns.get_mut(&addr).expect("inserted above"))
    }
}

enum Next {
    Moved(SocketAddr),
    Done(Outcome),
}

/// The outcome of a server error reply.
fn classify(e: &RedisError) -> Next {
    let text = e.to_string();
    match e.code() {
        Some("MOVED") => match e.redirect_node().and_then(|(addr, _)| addr.parse().ok()) {
            Some(to) => Next::Moved(to),
            None => Next::Done(Outcome::Fail(format!("unreadable redirect: {text}"))),
        },
        Some(
            "ASK" | "TRYAGAIN" | "CLUSTERDOWN" | "READONLY" | "LOADING" | "WRONGTYPE" | "CROSSSLOT",
        ) => Next::Done(Outcome::Fail(text)),
        _ => Next::Done(Outcome::Info(text)),
    }
}

/// An integer from a reply: `Int`, or a bulk string holding one; `None` for nil.
pub fn int_of(value: &Value) -> Result<Option<i64>, String> {
    match value {
        Value::Nil => Ok(None),
        Value::Int(i) => Ok(Some(*i)),
        Value::BulkString(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("not an integer: {:?}", String::from_utf8_lossy(bytes))),
        Value::SimpleString(s) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("not an integer: {s:?}")),
        other => Err(format!("unexpected reply {other:?}")),
    }
}
