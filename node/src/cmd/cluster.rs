//! CLUSTER introspection commands: parsing into a typed [`ClusterCmd`], with Redis 7's argument
//! errors, and CLUSTER HELP's text. Only what a Redis Cluster client reads is here (SHARDS, SLOTS,
//! NODES, INFO, MYID, MYSHARDID, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, HELP); the table answers
//! every other subcommand (ADDSLOTS, MEET, FAILOVER, ...) as unknown, since tanli's control plane,
//! not a client, changes the cluster. Answers are rendered from the topology by
//! `crate::cluster_info`.

use bytes::Bytes;
use tanli_router::SLOT_COUNT;

use super::conn::ConnCmd;
use super::parse::Args;
use super::Command;
use crate::reply::Reply;

#[derive(Debug, Clone, PartialEq)]
pub enum ClusterCmd {
    Info,
    Nodes,
    Slots,
    Shards,
    MyId,
    MyShardId,
    Help,
    KeySlot(Bytes),
    /// A slot already checked to be below 16384.
    CountKeysInSlot(u16),
    GetKeysInSlot {
        slot: u16,
        count: u64,
    },
}

impl ClusterCmd {
    /// Whether the answer needs a cluster map (every subcommand but KEYSLOT, MYID and HELP).
    pub fn needs_map(&self) -> bool {
        !matches!(
            self,
            ClusterCmd::KeySlot(_) | ClusterCmd::MyId | ClusterCmd::Help
        )
    }
}

fn cluster(c: ClusterCmd) -> Result<Command, Reply> {
    Ok(Command::Conn(ConnCmd::Cluster(c)))
}

pub(super) fn parse_info(_: &mut Args) -> Result<Command, Reply> {
    cluster(ClusterCmd::Info)
}

pub(super) fn parse_nodes(_: &mut Args) -> Result<Command, Reply> {
    cluster(ClusterCmd::Nodes)
}

pub(super) fn parse_slots(_: &mut Args) -> Result<Command, Reply> {
    cluster(ClusterCmd::Slots)
}

pub(super) fn parse_shards(_: &mut Args) -> Result<Command, Reply> {
    cluster(ClusterCmd::Shards)
}

pub(super) fn parse_myid(_: &mut Args) -> Result<Command, Reply> {
    cluster(ClusterCmd::MyId)
}

pub(super) fn parse_myshardid(_: &mut Args) -> Result<Command, Reply> {
    cluster(ClusterCmd::MyShardId)
}

pub(super) fn parse_help(_: &mut Args) -> Result<Command, Reply> {
    cluster(ClusterCmd::Help)
}

pub(super) fn parse_keyslot(a: &mut Args) -> Result<Command, Reply> {
    let key = a.take()?.clone();
    a.finish()?;
    cluster(ClusterCmd::KeySlot(key))
}

/// A slot number, if `n` is one.
fn slot(n: i64) -> Option<u16> {
    u16::try_from(n).ok().filter(|s| *s < SLOT_COUNT)
}

pub(super) fn parse_countkeysinslot(a: &mut Args) -> Result<Command, Reply> {
    let n = a.next_i64()?;
    a.finish()?;
    let slot = slot(n).ok_or_else(|| Reply::err("Invalid slot"))?;
    cluster(ClusterCmd::CountKeysInSlot(slot))
}

pub(super) fn parse_getkeysinslot(a: &mut Args) -> Result<Command, Reply> {
    let n = a.next_i64()?;
    let count = a.next_i64()?;
    a.finish()?;
    match (slot(n), u64::try_from(count)) {
        (Some(slot), Ok(count)) => cluster(ClusterCmd::GetKeysInSlot { slot, count }),
        _ => Err(Reply::err("Invalid slot or number of keys")),
    }
}

/// CLUSTER HELP: Redis's layout, listing only the subcommands tanli answers.
pub fn help() -> Reply {
    const LINES: &[&str] = &[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by current node in a slot.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "MYID",
        "    Return the node id.",
        "MYSHARDID",
        "    Return the node's shard id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, master and replicas IP addresses, ports and ids",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(
        LINES
            .iter()
            .map(|l| Reply::Simple((*l).to_string()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::parse as parse_cmd;
    use super::super::testkv::argv;
    use super::*;

    fn c(line: &[&str]) -> ClusterCmd {
        match parse_cmd(&argv(line)) {
            Ok(Command::Conn(ConnCmd::Cluster(c))) => c,
            other => panic!("{line:?} parsed to {other:?}"),
        }
    }

    fn e(line: &[&str]) -> String {
        match parse_cmd(&argv(line)) {
            Err(Reply::Error(e)) => e,
            other => panic!("{line:?} parsed to {other:?}"),
        }
    }

    #[test]
    fn subcommands_parse_any_case() {
        assert_eq!(c(&["CLUSTER", "INFO"]), ClusterCmd::Info);
        assert_eq!(c(&["cluster", "nodes"]), ClusterCmd::Nodes);
        assert_eq!(c(&["Cluster", "Slots"]), ClusterCmd::Slots);
        assert_eq!(c(&["CLUSTER", "SHARDS"]), ClusterCmd::Shards);
        assert_eq!(c(&["CLUSTER", "MYID"]), ClusterCmd::MyId);
        assert_eq!(c(&["CLUSTER", "MYSHARDID"]), ClusterCmd::MyShardId);
        assert_eq!(c(&["CLUSTER", "HELP"]), ClusterCmd::Help);
        assert_eq!(
            c(&["CLUSTER", "KEYSLOT", "foo"]),
            ClusterCmd::KeySlot(Bytes::from_static(b"foo"))
        );
        assert_eq!(
            c(&["CLUSTER", "COUNTKEYSINSLOT", "16383"]),
            ClusterCmd::CountKeysInSlot(16383)
        );
        assert_eq!(
            c(&["CLUSTER", "GETKEYSINSLOT", "0", "0"]),
            ClusterCmd::GetKeysInSlot { slot: 0, count: 0 }
        );
        assert!(!c(&["CLUSTER", "KEYSLOT", "x"]).needs_map());
        assert!(!c(&["CLUSTER", "MYID"]).needs_map());
        assert!(c(&["CLUSTER", "MYSHARDID"]).needs_map());
    }

    /// Texts checked against redis-server 7.0.15 in cluster mode.
    #[test]
    fn errors_match_redis() {
        let invalid_slot = "ERR Invalid slot";
        assert_eq!(e(&["CLUSTER", "COUNTKEYSINSLOT", "16384"]), invalid_slot);
        assert_eq!(e(&["CLUSTER", "COUNTKEYSINSLOT", "-1"]), invalid_slot);
        let not_int = "ERR value is not an integer or out of range";
        assert_eq!(e(&["CLUSTER", "COUNTKEYSINSLOT", "abc"]), not_int);
        let bad = "ERR Invalid slot or number of keys";
        assert_eq!(e(&["CLUSTER", "GETKEYSINSLOT", "16384", "1"]), bad);
        assert_eq!(e(&["CLUSTER", "GETKEYSINSLOT", "1", "-1"]), bad);
        assert_eq!(e(&["CLUSTER", "GETKEYSINSLOT", "1", "abc"]), not_int);
        assert_eq!(e(&["CLUSTER", "GETKEYSINSLOT", "abc", "1"]), not_int);
        let arity = |s: &str| format!("ERR wrong number of arguments for 'cluster|{s}' command");
        assert_eq!(e(&["CLUSTER", "COUNTKEYSINSLOT"]), arity("countkeysinslot"));
        assert_eq!(
            e(&["CLUSTER", "COUNTKEYSINSLOT", "1", "2"]),
            arity("countkeysinslot")
        );
        assert_eq!(
            e(&["CLUSTER", "GETKEYSINSLOT", "1"]),
            arity("getkeysinslot")
        );
        assert_eq!(e(&["CLUSTER", "KEYSLOT"]), arity("keyslot"));
        assert_eq!(e(&["CLUSTER", "KEYSLOT", "a", "b"]), arity("keyslot"));
        for sub in ["info", "nodes", "slots", "shards", "myid", "help"] {
            assert_eq!(e(&["CLUSTER", sub, "x"]), arity(sub));
        }
        assert_eq!(
            e(&["CLUSTER"]),
            "ERR wrong number of arguments for 'cluster' command"
        );
        for sub in ["ADDSLOTS", "meet", "FAILOVER", "RESET", "foo"] {
            assert_eq!(
                e(&["CLUSTER", sub, "1"]),
                format!("ERR unknown subcommand '{sub}'. Try CLUSTER HELP.")
            );
        }
    }

    #[test]
    fn help_lists_what_is_answered() {
        let Reply::Array(lines) = help() else {
            panic!()
        };
        assert_eq!(lines.len(), 23);
        assert_eq!(
            lines.last(),
            Some(&Reply::Simple("    Prints this help.".into()))
        );
    }
}
