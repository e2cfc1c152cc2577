//! tanli's own commands: exactly-once writes, client and worker ids, global ids, and Valkey's
//! compare-and-delete.
//!
//! - `TANLI.REQ <client-id> <seq> <command> [args...]`: applies a write command at most once per
//!   request id. The shard's state machine records the reply in the same batch as the write
//!   (`tanli_storage::dedup`); a duplicate gets the recorded reply and changes nothing, and a
//!   request older than the client's kept replies gets `-UNCERTAIN` (never applied twice). A read
//!   command inside is simply executed (reads are idempotent).
//! - `TANLI.CLIENTID`: a client id allocated by the meta shard, never handed out twice.
//! - `TANLI.WORKERID <holder> [ttl-ms]`: leases (or renews) a Snowflake worker id for `holder`
//!   (a client id); replies `[worker, ttl-ms, not-before-ms]`.
//! - `TANLI.ID`: a Snowflake id from this node's own leased worker id.
//! - `DELIFEQ key value`: deletes the key if it holds exactly `value` (1), else 0.

use tanli_storage::dedup::{DedupPolicy, RequestId, Seen};
use tanli_storage::KvWrite;

use super::parse::{eq_ic, parse_u64, Args};
use super::{live_string_w, Command, Step, WriteCmd};
use crate::reply::Reply;

/// Worker-id lease length when `TANLI.WORKERID` names none.
pub const DEFAULT_LEASE_TTL_MS: u64 = 30_000;

/// Commands answered by the node with the cluster's help (the meta shard), not by a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCmd {
    ClientId,
    WorkerId {
        holder: u64,
        ttl_ms: u64,
    },
    NextId,
    Status {
        json: bool,
    },
    Rebalance {
        op: super::placement::RebalanceOp,
        json: bool,
    },
    Node {
        op: crate::control::plans::NodeOp,
        node: u64,
    },
    ShardMove {
        shard: u64,
        from: u64,
        to: u64,
        json: bool,
    },
    LeaderTransfer {
        shard: u64,
        to: u64,
    },
}

fn u64_arg(a: &mut Args, what: &str) -> Result<u64, Reply> {
    let raw = a.take()?;
    parse_u64(raw).ok_or_else(|| Reply::err(format!("{what} must be a non-negative integer")))
}

pub(super) fn parse_req(a: &mut Args) -> Result<Command, Reply> {
    let client = u64_arg(a, "client id")?;
    let seq = u64_arg(a, "sequence number")?;
    if seq == 0 {
        return Err(Reply::err("sequence number must be at least 1"));
    }
    let inner = a.rest();
    // Refused before parsing `inner`: parsing first would recurse once per nesting level.
    if inner.first().is_some_and(|name| eq_ic(name, "tanli.req")) {
        return Err(Reply::err("TANLI.REQ cannot wrap TANLI.REQ"));
    }
    match super::parse(inner)? {
        Command::Write(WriteCmd::Req { .. }) => Err(Reply::err("TANLI.REQ cannot wrap TANLI.REQ")),
        Command::Write(w) => Ok(Command::Write(WriteCmd::Req {
            id: RequestId { client, seq },
            // The proposing node sets its configured policy before the command enters the log.
            policy: DedupPolicy {
                window_ms: 0,
                per_client_max: 1,
            },
            inner: Box::new(w),
        })),
        Command::Read(r) => Ok(Command::Read(r)),
        Command::Conn(_) | Command::Admin(_) => {
            Err(Reply::err("TANLI.REQ wraps data commands only"))
        }
    }
}

pub(super) fn parse_clientid(a: &mut Args) -> Result<Command, Reply> {
    a.finish()?;
    Ok(Command::Admin(AdminCmd::ClientId))
}

pub(super) fn parse_workerid(a: &mut Args) -> Result<Command, Reply> {
    let holder = u64_arg(a, "holder")?;
    let ttl_ms = if a.is_empty() {
        DEFAULT_LEASE_TTL_MS
    } else {
        u64_arg(a, "ttl")?
    };
    a.finish()?;
    Ok(Command::Admin(AdminCmd::WorkerId { holder, ttl_ms }))
}

pub(super) fn parse_id(a: &mut Args) -> Result<Command, Reply> {
    a.finish()?;
    Ok(Command::Admin(AdminCmd::NextId))
}

pub(super) fn parse_delifeq(a: &mut Args) -> Result<Command, Reply> {
    let key = a.next_vec()?;
    let value = a.next_vec()?;
    a.finish()?;
    Ok(Command::Write(WriteCmd::DelIfEq { key, value }))
}

pub(super) fn delifeq(kv: &mut dyn KvWrite, now: u64, key: &[u8], value: &[u8]) -> Step<Reply> {
    match live_string_w(kv, now, key)? {
        Some(rec) if rec.data == value => {
            kv.delete(key)?;
            Ok(Reply::Int(1))
        }
        _ => Ok(Reply::Int(0)),
    }
}

/// Applies `inner` unless request `id` was applied before.
pub(super) fn apply_req(
    kv: &mut dyn KvWrite,
    now: u64,
    id: RequestId,
    policy: DedupPolicy,
    inner: &WriteCmd,
) -> Step<Reply> {
    match kv.request_seen(id)? {
        Seen::Replied(bytes) => Ok(Reply::from_bytes(&bytes).unwrap_or_else(|e| {
            Reply::err(format!("recorded reply of request {} {} is unreadable: {e}", id.client, id.seq))
        })),
        Seen::TooOld => Ok(Reply::Error(format!(
            "UNCERTAIN request {} {} is older than the replies kept for its client: it may have been applied, and was not applied now",
            id.client, id.seq
        ))),
        Seen::Fresh => {
            let reply = inner.apply(kv, now)?;
            kv.request_done(id, &reply.to_bytes(), policy)?;
            Ok(reply)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkv::{run, MemKv};
    use crate::reply::Reply;

    #[test]
    fn delifeq_deletes_only_an_equal_value() {
        let mut kv = MemKv::default();
        kv.put_str("k", "v", None);
        assert_eq!(run(&mut kv, 0, &["DELIFEQ", "k", "x"]), Reply::Int(0));
        assert_eq!(run(&mut kv, 0, &["DELIFEQ", "k", "v"]), Reply::Int(1));
        assert!(kv.record("k").is_none());
        assert_eq!(run(&mut kv, 0, &["DELIFEQ", "k", "v"]), Reply::Int(0));
    }

    #[test]
    fn a_repeated_request_is_applied_once() {
        let mut kv = MemKv::default();
        let incr = ["TANLI.REQ", "7", "1", "INCR", "n"];
        assert_eq!(run(&mut kv, 0, &incr), Reply::Int(1));
        assert_eq!(run(&mut kv, 0, &incr), Reply::Int(1), "the recorded reply");
        assert_eq!(kv.value("n").as_deref(), Some("1"));
        assert_eq!(
            run(&mut kv, 0, &["TANLI.REQ", "7", "2", "INCR", "n"]),
            Reply::Int(2)
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        let mut kv = MemKv::default();
        for line in [
            &["TANLI.REQ", "x", "1", "INCR", "n"][..],
            &["TANLI.REQ", "1", "0", "INCR", "n"],
            &["TANLI.REQ", "1", "1", "TANLI.REQ", "1", "2", "INCR", "n"],
            &["TANLI.REQ", "1", "1", "PING"],
            &["TANLI.REQ", "1", "1", "NOSUCH", "n"],
        ] {
            assert!(
                matches!(run(&mut kv, 0, line), Reply::Error(_)),
                "{line:?} must be refused"
            );
        }
        assert!(kv.record("n").is_none());
    }

    /// Regression: each TANLI.REQ level used to parse its inner command (recursing) before
    /// refusing the nesting, so one request of ~300k nested levels (a few MB, within the default
    /// limits) overflowed the connection task's stack and aborted the server.
    #[test]
    fn deep_nesting_is_refused_without_recursing() {
        let mut args = Vec::new();
        for _ in 0..300_000 {
            args.extend([&b"TANLI.REQ"[..], b"1", b"1"].map(bytes::Bytes::from_static));
        }
        args.extend([&b"INCR"[..], b"n"].map(bytes::Bytes::from_static));
        assert_eq!(
            crate::cmd::parse(&args),
            Err(Reply::err("TANLI.REQ cannot wrap TANLI.REQ"))
        );
    }
}
