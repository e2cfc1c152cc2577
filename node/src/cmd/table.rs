//! The command table: every command this server knows, with its arity, parser, and the metadata
//! COMMAND INFO / DOCS / LIST / COUNT report (flags, ACL categories, tips and key specs as in
//! Redis 7, so client libraries, redis-cli and redis-benchmark see what they expect).
//!
//! Lookup, the unknown-command and unknown-subcommand errors and the arity check happen here,
//! once, before a family parser sees its arguments. A name absent from the table is an unknown
//! command: nothing is half-implemented.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use super::parse::{err, Args};
use super::{cluster, conn, counter, expire, generic, glob, keyspace, placement, scan, set};
use super::{hash, list, sets, zset};
use super::{string, tanli};
use super::{Command, CommandSub, ListFilter};
use crate::reply::Reply;

pub(super) type Parser = fn(&mut Args<'_>) -> Result<Command, Reply>;

/// A key spec: keys from argument `begin` (1 for most commands) over a range.
#[derive(Debug)]
pub struct KeyRange {
    /// Index of the first key in the command line (the name is 0).
    pub begin: i64,
    pub notes: Option<&'static str>,
    pub flags: &'static [&'static str],
    /// Index of the last key relative to the first (-1: the last argument).
    pub last: i64,
    pub step: i64,
}

#[derive(Debug)]
pub struct Spec {
    /// Lowercase full name (`"client|id"` for a subcommand).
    pub name: &'static str,
    /// Redis arity: exact when positive, minimum when negative, counting the command name(s).
    pub arity: i64,
    pub flags: &'static [&'static str],
    /// Explicit ACL categories; the implicit ones follow from `flags`.
    pub acl: &'static [&'static str],
    pub tips: &'static [&'static str],
    pub keys: Option<KeyRange>,
    /// A second key spec (RENAME's and COPY's destination).
    pub keys2: Option<KeyRange>,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub parse: Parser,
    pub subcommands: &'static [Spec],
}

#[allow(clippy::too_many_arguments)] // one table row: every field is required
pub(super) const fn cmd(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    acl: &'static [&'static str],
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    parse: Parser,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        acl,
        tips: &[],
        keys: None,
        keys2: None,
        group,
        since,
        summary,
        parse,
        subcommands: &[],
    }
}

impl Spec {
    pub(super) const fn tips(mut self, tips: &'static [&'static str]) -> Spec {
        self.tips = tips;
        self
    }

    pub(super) const fn key(self, flags: &'static [&'static str]) -> Spec {
        self.key_range(None, flags, 0, 1)
    }

    pub(super) const fn key_range(
        mut self,
        notes: Option<&'static str>,
        flags: &'static [&'static str],
        last: i64,
        step: i64,
    ) -> Spec {
        self.keys = Some(KeyRange {
            begin: 1,
            notes,
            flags,
            last,
            step,
        });
        self
    }

    /// One key at argument `begin` (OBJECT ENCODING's is 2).
    pub(super) const fn key_at(mut self, begin: i64, flags: &'static [&'static str]) -> Spec {
        self.keys = Some(KeyRange {
            begin,
            notes: None,
            flags,
            last: 0,
            step: 1,
        });
        self
    }

    /// A second spec: one key at argument `begin`, after the first spec's.
    pub(super) const fn then_key(mut self, begin: i64, flags: &'static [&'static str]) -> Spec {
        self.keys2 = Some(KeyRange {
            begin,
            notes: None,
            flags,
            last: 0,
            step: 1,
        });
        self
    }

    pub(super) const fn subs(mut self, subcommands: &'static [Spec]) -> Spec {
        self.subcommands = subcommands;
        self
    }
}

// Flag and key-flag lists are written in the order Redis prints them.
pub(super) const RO: &[&str] = &["readonly"];
pub(super) const RO_FAST: &[&str] = &["readonly", "fast"];
pub(super) const W: &[&str] = &["write"];
pub(super) const W_FAST: &[&str] = &["write", "fast"];
pub(super) const W_OOM: &[&str] = &["write", "denyoom"];
pub(super) const W_OOM_FAST: &[&str] = &["write", "denyoom", "fast"];
const CONN_FLAGS: &[&str] = &[
    "noscript",
    "loading",
    "stale",
    "fast",
    "no_auth",
    "allow_busy",
];
const CLIENT_FLAGS: &[&str] = &["noscript", "loading", "stale"];
const LOADING_STALE: &[&str] = &["loading", "stale"];
const STRING: &[&str] = &["string"];
pub(super) const KEYSPACE: &[&str] = &["keyspace"];
const CONNECTION: &[&str] = &["connection"];
pub(super) const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];
pub(super) const RO_ACCESS: &[&str] = &["RO", "access"];
pub(super) const RW_UPDATE: &[&str] = &["RW", "update"];
pub(super) const MULTI_SUM: &[&str] = &["request_policy:multi_shard", "response_policy:agg_sum"];
const ALL_SUCCEEDED: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];
pub(super) const NONDET: &[&str] = &["nondeterministic_output"];
pub(super) const NONDET_ORDER: &[&str] = &["nondeterministic_output_order"];
const ALL_NODES: &[&str] = &["request_policy:all_nodes", "response_policy:all_succeeded"];

#[rustfmt::skip]
static CLIENT_SUBS: [Spec; 6] = [
    cmd("client|getname", 2, CLIENT_FLAGS, CONNECTION, "connection", "2.6.9", "Returns the name of the connection.", conn::parse_client_getname),
    cmd("client|id", 2, CLIENT_FLAGS, CONNECTION, "connection", "5.0.0", "Returns the unique ID of the connection.", conn::parse_client_id),
    cmd("client|info", 2, CLIENT_FLAGS, CONNECTION, "connection", "6.2.0", "Returns information about this connection.", conn::parse_client_info).tips(NONDET),
    cmd("client|list", -2, &["admin", "noscript", "loading", "stale"], CONNECTION, "connection", "2.4.0", "Lists the open connections.", conn::parse_client_list).tips(NONDET),
    cmd("client|setinfo", 4, CLIENT_FLAGS, CONNECTION, "connection", "7.2.0", "Records the client library name or version.", conn::parse_client_setinfo).tips(ALL_NODES),
    cmd("client|setname", 3, CLIENT_FLAGS, CONNECTION, "connection", "2.6.9", "Names the connection.", conn::parse_client_setname).tips(ALL_NODES),
];

#[rustfmt::skip]
static COMMAND_SUBS: [Spec; 5] = [
    cmd("command|count", 2, LOADING_STALE, CONNECTION, "server", "2.8.13", "Counts the commands.", conn::parse_command_count),
    cmd("command|docs", -2, LOADING_STALE, CONNECTION, "server", "7.0.0", "Describes commands for documentation.", conn::parse_command_docs).tips(NONDET_ORDER),
    cmd("command|getkeys", -3, LOADING_STALE, CONNECTION, "server", "2.8.13", "Extracts the keys of a command line.", conn::parse_command_getkeys),
    cmd("command|info", -2, LOADING_STALE, CONNECTION, "server", "2.8.13", "Describes commands.", conn::parse_command_info).tips(NONDET_ORDER),
    cmd("command|list", -2, LOADING_STALE, CONNECTION, "server", "7.0.0", "Lists command names.", conn::parse_command_list).tips(NONDET_ORDER),
];

const STALE: &[&str] = &["stale"];

#[rustfmt::skip]
static OBJECT_SUBS: [Spec; 2] = [
    cmd("object|encoding", 3, RO, KEYSPACE, "generic", "2.2.3", "Returns the internal representation Redis would use for a value.", generic::parse_object_encoding).tips(NONDET).key_at(2, &["RO"]),
    cmd("object|help", 2, LOADING_STALE, KEYSPACE, "generic", "6.2.0", "Shows the OBJECT subcommands.", generic::parse_object_help),
];

const TX_FLAGS: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
const TRANSACTION: &[&str] = &["transaction"];

#[rustfmt::skip]
static CLUSTER_SUBS: [Spec; 10] = [
    cmd("cluster|countkeysinslot", 3, STALE, &[], "cluster", "3.0.0", "Return the number of local keys in the specified hash slot", cluster::parse_countkeysinslot),
    cmd("cluster|getkeysinslot", 4, STALE, &[], "cluster", "3.0.0", "Return local key names in the specified hash slot", cluster::parse_getkeysinslot).tips(NONDET),
    cmd("cluster|help", 2, LOADING_STALE, &[], "cluster", "5.0.0", "Show helpful text about the different subcommands", cluster::parse_help),
    cmd("cluster|info", 2, STALE, &[], "cluster", "3.0.0", "Provides info about Redis Cluster node state", cluster::parse_info).tips(NONDET),
    cmd("cluster|keyslot", 3, STALE, &[], "cluster", "3.0.0", "Returns the hash slot of the specified key", cluster::parse_keyslot),
    cmd("cluster|myid", 2, STALE, &[], "cluster", "3.0.0", "Return the node id", cluster::parse_myid),
    cmd("cluster|myshardid", 2, STALE, &[], "cluster", "7.2.0", "Return the node shard id", cluster::parse_myshardid).tips(NONDET),
    cmd("cluster|nodes", 2, STALE, &[], "cluster", "3.0.0", "Get Cluster config for the node", cluster::parse_nodes).tips(NONDET),
    cmd("cluster|shards", 2, STALE, &[], "cluster", "7.0.0", "Get array of cluster slots to node mappings", cluster::parse_shards).tips(NONDET),
    cmd("cluster|slots", 2, STALE, &[], "cluster", "3.0.0", "Get array of Cluster slot to node mappings", cluster::parse_slots).tips(NONDET),
];

/// Every top-level command of the string, keyspace, connection, cluster and admin families, in
/// alphabetical order; the collection families keep their rows in their own files.
#[rustfmt::skip]
static CORE: &[Spec] = &[
    cmd("append", 3, W_OOM_FAST, STRING, "string", "2.0.0", "Appends to a string value, creating the key if needed.", string::parse_append).key(&["RW", "insert"]),
    cmd("asking", 1, &["fast"], CONNECTION, "cluster", "3.0.0", "Marks the next command as following an ASK redirect.", conn::parse_asking),
    cmd("auth", -2, CONN_FLAGS, CONNECTION, "connection", "1.0.0", "Authenticates the connection.", conn::parse_auth),
    cmd("client", -2, &[], &[], "connection", "2.4.0", "Connection commands.", conn::parse_container).subs(&CLIENT_SUBS),
    cmd("cluster", -2, &[], &[], "cluster", "3.0.0", "A container for Redis Cluster commands.", conn::parse_container).subs(&CLUSTER_SUBS),
    cmd("command", -1, LOADING_STALE, CONNECTION, "server", "2.8.13", "Describes every command.", conn::parse_command).tips(NONDET_ORDER).subs(&COMMAND_SUBS),
    cmd("copy", -3, W_OOM, KEYSPACE, "generic", "6.2.0", "Copies a key's value to another key.", generic::parse_copy).key(RO_ACCESS).then_key(2, &["OW", "update"]),
    cmd("dbsize", 1, RO_FAST, KEYSPACE, "server", "1.0.0", "Counts the keys.", keyspace::parse_dbsize).tips(&["request_policy:all_shards", "response_policy:agg_sum"]),
    cmd("decr", 2, W_OOM_FAST, STRING, "string", "1.0.0", "Decrements an integer value by one.", counter::parse_decr).key(RW_ACCESS_UPDATE),
    cmd("decrby", 3, W_OOM_FAST, STRING, "string", "1.0.0", "Decrements an integer value.", counter::parse_decrby).key(RW_ACCESS_UPDATE),
    cmd("del", -2, W, KEYSPACE, "generic", "1.0.0", "Deletes keys.", keyspace::parse_del).tips(MULTI_SUM).key_range(None, &["RM", "delete"], -1, 1),
    cmd("delifeq", 3, W_FAST, STRING, "string", "9.0.0", "Deletes a key if its value equals the given one.", tanli::parse_delifeq).key(&["RM", "delete"]),
    cmd("discard", 1, TX_FLAGS, TRANSACTION, "transactions", "2.0.0", "Discards the commands queued since MULTI.", conn::parse_discard),
    cmd("echo", 2, &["loading", "stale", "fast"], CONNECTION, "connection", "1.0.0", "Returns its argument.", conn::parse_echo),
    cmd("exec", 1, &["noscript", "loading", "stale", "skip_slowlog"], TRANSACTION, "transactions", "1.2.0", "Runs the commands queued since MULTI, as one.", conn::parse_exec),
    cmd("exists", -2, RO_FAST, KEYSPACE, "generic", "1.0.0", "Counts which of the keys exist.", keyspace::parse_exists).tips(MULTI_SUM).key_range(None, &["RO"], -1, 1),
    cmd("expire", -3, W_FAST, KEYSPACE, "generic", "1.0.0", "Sets a key's time to live in seconds.", expire::parse_expire_cmd).key(RW_UPDATE),
    cmd("expireat", -3, W_FAST, KEYSPACE, "generic", "1.2.0", "Sets a key's expiry as a Unix time in seconds.", expire::parse_expireat).key(RW_UPDATE),
    cmd("flushall", -1, W, &["keyspace", "dangerous"], "server", "1.0.0", "Removes every key.", keyspace::parse_flush).tips(ALL_SUCCEEDED),
    cmd("flushdb", -1, W, &["keyspace", "dangerous"], "server", "1.0.0", "Removes every key of the database.", keyspace::parse_flush).tips(ALL_SUCCEEDED),
    cmd("get", 2, RO_FAST, STRING, "string", "1.0.0", "Returns a string value.", string::parse_get).key(RO_ACCESS),
    cmd("getdel", 2, W_FAST, STRING, "string", "6.2.0", "Returns a string value and deletes the key.", string::parse_getdel).key(&["RW", "access", "delete"]),
    cmd("getex", -2, W_FAST, STRING, "string", "6.2.0", "Returns a string value and changes its expiry.", set::parse_getex).key_range(Some("RW and UPDATE because it changes the TTL"), RW_ACCESS_UPDATE, 0, 1),
    cmd("getrange", 4, RO, STRING, "string", "2.4.0", "Returns a substring of a string value.", string::parse_getrange).key(RO_ACCESS),
    cmd("getset", 3, W_OOM_FAST, STRING, "string", "1.0.0", "Sets a string value, returning the previous one.", set::parse_getset).key(RW_ACCESS_UPDATE),
    cmd("hello", -1, CONN_FLAGS, CONNECTION, "connection", "6.0.0", "Handshakes: protocol, authentication, name.", conn::parse_hello),
    cmd("incr", 2, W_OOM_FAST, STRING, "string", "1.0.0", "Increments an integer value by one.", counter::parse_incr).key(RW_ACCESS_UPDATE),
    cmd("incrby", 3, W_OOM_FAST, STRING, "string", "1.0.0", "Increments an integer value.", counter::parse_incrby).key(RW_ACCESS_UPDATE),
    cmd("incrbyfloat", 3, W_OOM_FAST, STRING, "string", "2.6.0", "Increments a floating point value.", counter::parse_incrbyfloat).key(RW_ACCESS_UPDATE),
    cmd("info", -1, LOADING_STALE, &["dangerous"], "server", "1.0.0", "Reports server information.", conn::parse_info).tips(&["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
    cmd("keys", 2, RO, &["keyspace", "dangerous"], "generic", "1.0.0", "Lists the keys matching a pattern.", scan::parse_keys).tips(&["request_policy:all_shards", "nondeterministic_output_order"]),
    cmd("mget", -2, RO_FAST, STRING, "string", "1.0.0", "Returns several string values.", string::parse_mget).tips(&["request_policy:multi_shard"]).key_range(None, RO_ACCESS, -1, 1),
    cmd("mset", -3, W_OOM, STRING, "string", "1.0.1", "Sets several string values.", string::parse_mset).tips(&["request_policy:multi_shard", "response_policy:all_succeeded"]).key_range(None, &["OW", "update"], -1, 2),
    cmd("msetnx", -3, W_OOM, STRING, "string", "1.0.1", "Sets several string values only if none of the keys exist.", string::parse_msetnx).key_range(None, &["OW", "insert"], -1, 2),
    cmd("multi", 1, TX_FLAGS, TRANSACTION, "transactions", "1.2.0", "Starts a transaction.", conn::parse_multi),
    cmd("object", -2, &[], &[], "generic", "2.2.3", "A container for object introspection commands.", conn::parse_container).subs(&OBJECT_SUBS),
    cmd("persist", 2, W_FAST, KEYSPACE, "generic", "2.2.0", "Removes a key's expiry.", expire::parse_persist).key(RW_UPDATE),
    cmd("pexpire", -3, W_FAST, KEYSPACE, "generic", "2.6.0", "Sets a key's time to live in milliseconds.", expire::parse_pexpire).key(RW_UPDATE),
    cmd("pexpireat", -3, W_FAST, KEYSPACE, "generic", "2.6.0", "Sets a key's expiry as a Unix time in milliseconds.", expire::parse_pexpireat).key(RW_UPDATE),
    cmd("ping", -1, &["fast"], CONNECTION, "connection", "1.0.0", "Answers PONG, or its argument.", conn::parse_ping).tips(ALL_SUCCEEDED),
    cmd("psetex", 4, W_OOM, STRING, "string", "2.6.0", "Sets a string value with a time to live in milliseconds.", set::parse_psetex).key(&["OW", "update"]),
    cmd("pttl", 2, RO_FAST, KEYSPACE, "generic", "2.6.0", "Returns a key's time to live in milliseconds.", expire::parse_pttl).tips(NONDET).key(RO_ACCESS),
    cmd("quit", -1, CONN_FLAGS, CONNECTION, "connection", "1.0.0", "Closes the connection.", conn::parse_quit),
    cmd("randomkey", 1, RO, KEYSPACE, "generic", "1.0.0", "Returns a random key.", keyspace::parse_randomkey).tips(&["request_policy:all_shards", "response_policy:special", "nondeterministic_output"]),
    cmd("readonly", 1, &["loading", "stale", "fast"], CONNECTION, "cluster", "3.0.0", "Allows reads from replicas on this connection.", conn::parse_readonly),
    cmd("readwrite", 1, &["loading", "stale", "fast"], CONNECTION, "cluster", "3.0.0", "Ends READONLY mode.", conn::parse_readwrite),
    cmd("rename", 3, W, KEYSPACE, "generic", "1.0.0", "Renames a key, replacing the destination.", generic::parse_rename).key(&["RW", "access", "delete"]).then_key(2, &["OW", "update"]),
    cmd("renamenx", 3, W_FAST, KEYSPACE, "generic", "1.0.0", "Renames a key if the new name is free.", generic::parse_renamenx).key(&["RW", "access", "delete"]).then_key(2, &["OW", "insert"]),
    cmd("reset", 1, CONN_FLAGS, CONNECTION, "connection", "6.2.0", "Resets the connection state.", conn::parse_reset),
    cmd("scan", -2, RO, KEYSPACE, "generic", "2.8.0", "Iterates over the keys.", scan::parse_scan).tips(&["nondeterministic_output", "request_policy:special", "response_policy:special"]),
    cmd("select", 2, &["loading", "stale", "fast"], CONNECTION, "connection", "1.0.0", "Selects the database.", conn::parse_select),
    cmd("set", -3, W_OOM, STRING, "string", "1.0.0", "Sets a string value, with optional conditions and expiry.", set::parse_set).key_range(Some("RW and ACCESS due to the optional `GET` argument"), &["RW", "access", "update", "variable_flags"], 0, 1),
    cmd("setex", 4, W_OOM, STRING, "string", "2.0.0", "Sets a string value with a time to live in seconds.", set::parse_setex).key(&["OW", "update"]),
    cmd("setnx", 3, W_OOM_FAST, STRING, "string", "1.0.0", "Sets a string value only if the key does not exist.", set::parse_setnx).key(&["OW", "insert"]),
    cmd("setrange", 4, W_OOM, STRING, "string", "2.2.0", "Overwrites part of a string value at an offset.", string::parse_setrange).key(RW_UPDATE),
    cmd("strlen", 2, RO_FAST, STRING, "string", "2.2.0", "Returns the length of a string value.", string::parse_strlen).key(&["RO"]),
    cmd("substr", 4, RO, STRING, "string", "1.0.0", "Returns a substring of a string value.", string::parse_getrange).key(RO_ACCESS),
    cmd("tanli.clientid", 1, &["fast"], &[], "tanli", "0.1.0", "Allocates a client id for exactly-once writes.", tanli::parse_clientid),
    cmd("tanli.id", 1, &["fast"], &[], "tanli", "0.1.0", "Returns a cluster-unique, time-ordered 64-bit id.", tanli::parse_id),
    cmd("tanli.leader", 4, &["admin"], &[], "tanli", "0.1.0", "Transfers (pins) a shard's leadership to a node.", placement::parse_leader),
    cmd("tanli.node", 3, &["admin"], &[], "tanli", "0.1.0", "Drains, undrains or removes a node.", placement::parse_node),
    cmd("tanli.rebalance", -2, &["admin"], &[], "tanli", "0.1.0", "Plans, starts, shows or cancels a rebalance.", placement::parse_rebalance),
    cmd("tanli.req", -4, &["write", "movablekeys"], &[], "tanli", "0.1.0", "Applies a write at most once per client id and sequence number.", tanli::parse_req),
    cmd("tanli.shard", -5, &["admin"], &[], "tanli", "0.1.0", "Moves a shard's replica from one node to another.", placement::parse_shard),
    cmd("tanli.status", -1, &["admin"], &[], "tanli", "0.1.0", "Shows nodes, shards, balance and the running plan.", placement::parse_status),
    cmd("tanli.workerid", -2, &["fast"], &[], "tanli", "0.1.0", "Leases a worker id for Snowflake ids.", tanli::parse_workerid),
    cmd("ttl", 2, RO_FAST, KEYSPACE, "generic", "1.0.0", "Returns a key's time to live in seconds.", expire::parse_ttl).tips(NONDET).key(RO_ACCESS),
    cmd("type", 2, RO_FAST, KEYSPACE, "generic", "1.0.0", "Returns the type of a key's value.", keyspace::parse_type).key(&["RO"]),
    cmd("unlink", -2, W_FAST, KEYSPACE, "generic", "4.0.0", "Deletes keys.", keyspace::parse_del).tips(MULTI_SUM).key_range(None, &["RM", "delete"], -1, 1),
    cmd("unwatch", 1, TX_FLAGS, TRANSACTION, "transactions", "2.2.0", "Forgets the watched keys.", conn::parse_unwatch),
    cmd("watch", -2, TX_FLAGS, TRANSACTION, "transactions", "2.2.0", "Makes the next EXEC run only if these keys are unchanged.", conn::parse_watch).key_range(None, &["RO"], -1, 1),
];

/// Redis's ACL categories in the order it prints them.
#[rustfmt::skip]
const ACL_ORDER: [&str; 21] = [
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo",
    "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction", "scripting",
];

impl Spec {
    /// Explicit categories plus the ones Redis derives from the flags, in Redis's order.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let has = |f: &str| self.flags.contains(&f);
        let implied = |c: &str| match c {
            "write" => has("write"),
            "read" => has("readonly"),
            "admin" => has("admin"),
            "dangerous" => has("admin"),
            "fast" => has("fast"),
            "slow" => !has("fast") && !self.acl.contains(&"fast"),
            _ => false,
        };
        ACL_ORDER
            .into_iter()
            .filter(|c| self.acl.contains(c) || implied(c))
            .collect()
    }

    /// `(first key, last key, step)` as COMMAND INFO's legacy fields.
    fn legacy_range(&self) -> (i64, i64, i64) {
        let last = |k: &KeyRange| {
            if k.last >= 0 {
                k.begin + k.last
            } else {
                k.last
            }
        };
        match (&self.keys, &self.keys2) {
            (None, _) => (0, 0, 0),
            (Some(k), None) => (k.begin, last(k), k.step),
            (Some(k), Some(k2)) => (k.begin, last(k2), k.step),
        }
    }

    fn sub(&self, name: &[u8]) -> Option<&'static Spec> {
        let subs: &'static [Spec] = self.subcommands;
        subs.iter().find(|s| {
            s.name
                .split_once('|')
                .is_some_and(|(_, sub)| sub.as_bytes().eq_ignore_ascii_case(name))
        })
    }
}

/// Every top-level command, sorted by name: the core rows and each collection family's.
pub fn table() -> &'static [&'static Spec] {
    static ALL: OnceLock<Vec<&'static Spec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<&'static Spec> =
            [CORE, hash::TABLE, list::TABLE, sets::TABLE, zset::TABLE]
                .into_iter()
                .flat_map(|rows| rows.iter())
                .collect();
        all.sort_by_key(|s| s.name);
        all
    })
}

/// The longest command name a lookup lowercases (longer names are no command).
pub const NAME_BYTES_MAX: usize = 32;

/// Command names (lowercase bytes) to their positions in [`table`]. The names are fixed, so a
/// fast hash with a fixed seed serves (a lookup never inserts what a client sent).
type NameMap = HashMap<&'static [u8], usize, foldhash::fast::FixedState>;

fn index() -> &'static NameMap {
    static INDEX: OnceLock<NameMap> = OnceLock::new();
    INDEX.get_or_init(|| {
        table()
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_bytes(), i))
            .collect()
    })
}

/// The position in [`table`] of the top-level command `name`, any case (also the command's
/// metrics index).
pub fn position(name: &[u8]) -> Option<usize> {
    let mut buf = [0u8; NAME_BYTES_MAX];
    let lower = buf.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index().get(&*lower).copied()
}

/// Looks a top-level command up by name, any case.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    position(name).map(|i| table()[i])
}

/// Looks up `name` or `container|sub`, as COMMAND INFO / DOCS accept.
fn lookup_full(name: &[u8]) -> Option<&'static Spec> {
    match name.iter().position(|c| *c == b'|') {
        None => lookup(name),
        Some(i) => lookup(&name[..i])?.sub(&name[i + 1..]),
    }
}

/// Lookup, arity check and dispatch to the family parser.
pub(super) fn parse(args: &[Bytes]) -> Result<Command, Reply> {
    parse_at(args.first().and_then(|name| position(name)), args)
}

/// [`parse`] of `args` whose name's [`position`] is already known to be `top`.
pub(super) fn parse_at(top: Option<usize>, args: &[Bytes]) -> Result<Command, Reply> {
    let (spec, tail) = resolve_at(top, args)?;
    (spec.parse)(&mut Args::new(spec.name, tail))
}

/// Lookup and arity check: the command's row and the arguments its parser reads.
pub(super) fn resolve(args: &[Bytes]) -> Result<(&'static Spec, &[Bytes]), Reply> {
    resolve_at(args.first().and_then(|name| position(name)), args)
}

/// [`resolve`] of `args` whose name's [`position`] is `top`.
fn resolve_at(top: Option<usize>, args: &[Bytes]) -> Result<(&'static Spec, &[Bytes]), Reply> {
    let Some((name, rest)) = args.split_first() else {
        return Err(unknown_command(b"", &[]));
    };
    let top = top
        .and_then(|i| table().get(i).copied())
        .ok_or_else(|| unknown_command(name, rest))?;
    let (spec, tail) = match rest.split_first() {
        Some((sub, tail)) if !top.subcommands.is_empty() => {
            let spec = top
                .sub(sub)
                .ok_or_else(|| unknown_subcommand(sub, top.name))?;
            (spec, tail)
        }
        _ => (top, rest),
    };
    let argc = i64::try_from(args.len()).unwrap_or(i64::MAX);
    if (spec.arity > 0 && spec.arity != argc) || argc < -spec.arity {
        return Err(err::arity(spec.name));
    }
    Ok((spec, tail))
}

/// Text of a C string argument as Redis's `%.Ns` prints it: up to the first NUL, at most `n`
/// bytes.
fn c_text(arg: &[u8], n: usize) -> String {
    let end = arg.iter().position(|c| *c == 0).unwrap_or(arg.len()).min(n);
    String::from_utf8_lossy(&arg[..end]).into_owned()
}

fn unknown_command(name: &[u8], args: &[Bytes]) -> Reply {
    let mut listed = String::new();
    for a in args {
        if listed.len() >= 128 {
            break;
        }
        listed.push_str(&format!("'{}' ", c_text(a, 128 - listed.len())));
    }
    Reply::err(format!(
        "unknown command '{}', with args beginning with: {listed}",
        c_text(name, 128)
    ))
}

fn unknown_subcommand(sub: &[u8], container: &str) -> Reply {
    let upper = container.to_ascii_uppercase();
    Reply::err(format!(
        "unknown subcommand '{}'. Try {upper} HELP.",
        c_text(sub, 128)
    ))
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn status_set(items: impl IntoIterator<Item = String>) -> Reply {
    Reply::Set(items.into_iter().map(Reply::Simple).collect())
}

fn info_entry(spec: &Spec) -> Reply {
    let (first, last, step) = spec.legacy_range();
    let key_specs = spec.keys.iter().chain(spec.keys2.iter()).map(|k| {
        let mut m = Vec::new();
        if let Some(notes) = k.notes {
            m.push((bulk("notes"), bulk(notes)));
        }
        m.push((
            bulk("flags"),
            status_set(k.flags.iter().map(|f| f.to_string())),
        ));
        let index = Reply::Map(vec![(bulk("index"), Reply::Int(k.begin))]);
        m.push((
            bulk("begin_search"),
            Reply::Map(vec![(bulk("type"), bulk("index")), (bulk("spec"), index)]),
        ));
        let range = Reply::Map(vec![
            (bulk("lastkey"), Reply::Int(k.last)),
            (bulk("keystep"), Reply::Int(k.step)),
            (bulk("limit"), Reply::Int(0)),
        ]);
        m.push((
            bulk("find_keys"),
            Reply::Map(vec![(bulk("type"), bulk("range")), (bulk("spec"), range)]),
        ));
        Reply::Map(m)
    });
    let subcommands = if spec.subcommands.is_empty() {
        Reply::Set(Vec::new())
    } else {
        Reply::Array(spec.subcommands.iter().map(info_entry).collect())
    };
    Reply::Array(vec![
        bulk(spec.name),
        Reply::Int(spec.arity),
        status_set(spec.flags.iter().map(|f| f.to_string())),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
        status_set(spec.acl_categories().into_iter().map(|c| format!("@{c}"))),
        Reply::Set(spec.tips.iter().map(|t| bulk(t)).collect()),
        Reply::Set(key_specs.collect()),
        subcommands,
    ])
}

fn docs_entry(spec: &Spec) -> Reply {
    let mut m = vec![
        (bulk("summary"), bulk(spec.summary)),
        (bulk("since"), bulk(spec.since)),
        (bulk("group"), bulk(spec.group)),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| (bulk(s.name), docs_entry(s)))
            .collect();
        m.push((bulk("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(m)
}

fn all_names() -> impl Iterator<Item = &'static Spec> {
    table()
        .iter()
        .copied()
        .flat_map(|s| std::iter::once(s).chain(s.subcommands.iter()))
}

/// Answers COMMAND, COMMAND COUNT / INFO / DOCS / LIST / GETKEYS from the table.
pub fn command_reply(sub: &CommandSub) -> Reply {
    match sub {
        CommandSub::Count => Reply::Int(i64::try_from(table().len()).unwrap_or(i64::MAX)),
        CommandSub::Info(names) if names.is_empty() => {
            Reply::Array(table().iter().copied().map(info_entry).collect())
        }
        CommandSub::Info(names) => Reply::Array(
            names
                .iter()
                .map(|n| lookup_full(n).map_or(Reply::Nil, info_entry))
                .collect(),
        ),
        CommandSub::Docs(names) if names.is_empty() => Reply::Map(
            table()
                .iter()
                .copied()
                .map(|s| (bulk(s.name), docs_entry(s)))
                .collect(),
        ),
        CommandSub::Docs(names) => Reply::Map(
            names
                .iter()
                .filter_map(|n| lookup_full(n))
                .map(|s| (bulk(s.name), docs_entry(s)))
                .collect(),
        ),
        CommandSub::List(filter) => {
            let keep = |s: &Spec| match filter {
                None => true,
                Some(ListFilter::Module(_)) => false,
                Some(ListFilter::AclCat(cat)) => s
                    .acl_categories()
                    .iter()
                    .any(|c| c.as_bytes().eq_ignore_ascii_case(cat)),
                Some(ListFilter::Pattern(p)) => {
                    glob::matches(&p.to_ascii_lowercase(), s.name.as_bytes())
                }
            };
            Reply::Array(
                all_names()
                    .filter(|s| keep(s))
                    .map(|s| bulk(s.name))
                    .collect(),
            )
        }
        CommandSub::GetKeys(line) => getkeys(line),
    }
}

fn getkeys(line: &[Bytes]) -> Reply {
    let Some(spec) = line.first().and_then(|n| lookup(n)) else {
        return Reply::err("Invalid command specified");
    };
    let spec = match (spec.subcommands.is_empty(), line.get(1)) {
        (false, Some(sub)) => match spec.sub(sub) {
            Some(s) => s,
            None => return Reply::err("Invalid command specified"),
        },
        _ => spec,
    };
    if spec.keys.is_none() {
        return Reply::err("The command has no key arguments");
    }
    let argc = i64::try_from(line.len()).unwrap_or(i64::MAX);
    if (spec.arity > 0 && spec.arity != argc) || argc < -spec.arity {
        return Reply::err("Invalid number of arguments specified for command");
    }
    let keys = match parse(line) {
        Ok(Command::Read(r)) => r
            .keys()
            .into_iter()
            .map(|k| Reply::Bulk(k.to_vec()))
            .collect(),
        Ok(Command::Write(w)) => w
            .keys()
            .into_iter()
            .map(|k| Reply::Bulk(k.to_vec()))
            .collect(),
        Ok(Command::Conn(super::ConnCmd::Watch(keys))) => {
            keys.iter().map(|k| Reply::Bulk(k.to_vec())).collect()
        }
        _ => return Reply::err("Invalid arguments specified for command"),
    };
    Reply::Array(keys)
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
