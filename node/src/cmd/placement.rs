//! Parsers of the placement admin commands (answered by `admin_placement.rs`):
//! `TANLI.STATUS`, `TANLI.REBALANCE PLAN|START|STATUS|CANCEL`, `TANLI.NODE DRAIN|UNDRAIN|REMOVE`,
//! `TANLI.SHARD MOVE` and `TANLI.LEADER TRANSFER`. Each structured reply may be asked for as
//! JSON with a trailing `JSON` argument (see `ctl/README.md`).

use super::parse::{eq_ic, parse_u64, Args};
use super::{AdminCmd, Command};
use crate::control::plans::NodeOp;
use crate::reply::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceOp {
    Plan,
    Start,
    Status,
    Cancel,
}

fn id_arg(a: &mut Args, what: &str) -> Result<u64, Reply> {
    let raw = a.take()?;
    parse_u64(raw).ok_or_else(|| Reply::err(format!("{what} must be a non-negative integer")))
}

/// A trailing `JSON` (case-insensitive), then the end of the arguments.
fn json_flag(a: &mut Args) -> Result<bool, Reply> {
    let json = a.peek().is_some_and(|w| eq_ic(w, "json"));
    if json {
        a.take()?;
    }
    a.finish()?;
    Ok(json)
}

fn sub(a: &mut Args, words: &[&str]) -> Result<usize, Reply> {
    let w = a.take()?;
    words.iter().position(|x| eq_ic(w, x)).ok_or_else(|| {
        Reply::err(format!(
            "unknown subcommand '{}' for '{}': try {}",
            String::from_utf8_lossy(w),
            a.fullname(),
            words.join(", ")
        ))
    })
}

pub(super) fn parse_status(a: &mut Args) -> Result<Command, Reply> {
    let json = json_flag(a)?;
    Ok(Command::Admin(AdminCmd::Status { json }))
}

pub(super) fn parse_rebalance(a: &mut Args) -> Result<Command, Reply> {
    let op = [
        RebalanceOp::Plan,
        RebalanceOp::Start,
        RebalanceOp::Status,
        RebalanceOp::Cancel,
    ][sub(a, &["PLAN", "START", "STATUS", "CANCEL"])?];
    let json = json_flag(a)?;
    Ok(Command::Admin(AdminCmd::Rebalance { op, json }))
}

pub(super) fn parse_node(a: &mut Args) -> Result<Command, Reply> {
    let op =
        [NodeOp::Drain, NodeOp::Undrain, NodeOp::Remove][sub(a, &["DRAIN", "UNDRAIN", "REMOVE"])?];
    let node = id_arg(a, "node id")?;
    a.finish()?;
    Ok(Command::Admin(AdminCmd::Node { op, node }))
}

pub(super) fn parse_shard(a: &mut Args) -> Result<Command, Reply> {
    sub(a, &["MOVE"])?;
    let shard = id_arg(a, "shard id")?;
    let from = id_arg(a, "node id")?;
    let to = id_arg(a, "node id")?;
    let json = json_flag(a)?;
    Ok(Command::Admin(AdminCmd::ShardMove {
        shard,
        from,
        to,
        json,
    }))
}

pub(super) fn parse_leader(a: &mut Args) -> Result<Command, Reply> {
    sub(a, &["TRANSFER"])?;
    let shard = id_arg(a, "shard id")?;
    let to = id_arg(a, "node id")?;
    a.finish()?;
    Ok(Command::Admin(AdminCmd::LeaderTransfer { shard, to }))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn parse(words: &[&str]) -> Result<Command, Reply> {
        let args: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        crate::cmd::parse(&args)
    }

    #[test]
    fn admin_commands_parse_with_and_without_json() {
        assert_eq!(
            parse(&["tanli.rebalance", "start", "json"]),
            Ok(Command::Admin(AdminCmd::Rebalance {
                op: RebalanceOp::Start,
                json: true
            }))
        );
        assert_eq!(
            parse(&["TANLI.NODE", "DRAIN", "4"]),
            Ok(Command::Admin(AdminCmd::Node {
                op: NodeOp::Drain,
                node: 4
            }))
        );
        assert_eq!(
            parse(&["TANLI.SHARD", "MOVE", "3", "1", "5"]),
            Ok(Command::Admin(AdminCmd::ShardMove {
                shard: 3,
                from: 1,
                to: 5,
                json: false
            }))
        );
        assert!(
            matches!(parse(&["TANLI.NODE", "EVICT", "4"]), Err(Reply::Error(e)) if e.contains("unknown subcommand"))
        );
        assert!(matches!(
            parse(&["TANLI.NODE", "DRAIN", "x"]),
            Err(Reply::Error(_))
        ));
        assert!(matches!(
            parse(&["TANLI.STATUS", "json", "extra"]),
            Err(Reply::Error(_))
        ));
        assert!(matches!(
            parse(&["TANLI.LEADER", "TRANSFER", "1"]),
            Err(Reply::Error(_))
        ));
    }
}
