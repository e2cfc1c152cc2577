//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! A connection queues commands in its [`Tx`] (answering `+QUEUED`); EXEC proposes every queued
//! command line, with the watched keys' stamps, as one Raft entry ([`WriteCmd::Exec`]) that
//! [`apply_exec`] runs at once. So a transaction is all or nothing and isolated, as in Redis,
//! and replicas agree on it: each line is parsed again at apply (parsing is deterministic).
//!
//! As in Redis 7.0: an unknown command or a wrong arity while queueing answers its error and
//! makes EXEC answer `EXECABORT`; a command that fails in itself (a syntax error, a bad number,
//! `WRONGTYPE`) is queued, and its error is its element of EXEC's reply while the others run.
//! WATCH reads each key's record stamp (the log index of the write that last stored it) through
//! the linearizable read path; at apply, any watched key whose live stamp differs makes EXEC
//! answer the null array and run nothing. EXEC, DISCARD, UNWATCH and RESET forget the watches.
//!
//! Deviations from Redis, because one transaction is one entry of one shard's log:
//! - Every key of a transaction, queued or watched, must hash to one slot: another slot answers
//!   `CROSSSLOT` (and aborts the transaction when queued). Redirects (`MOVED`, `TRYAGAIN`) come
//!   at EXEC, when the entry is routed, and the transaction is then discarded.
//! - SCAN, KEYS, RANDOMKEY and DBSIZE (they read every shard), FLUSHDB and FLUSHALL (they write
//!   every shard), TANLI.REQ (its own exactly-once entry) and connection and admin commands are
//!   refused while queueing, which aborts the transaction. PING, ECHO, UNWATCH and OBJECT HELP
//!   are queued: their replies are known at once.
//! - A key absent at WATCH, then created and deleted again before EXEC, looks unchanged (both
//!   stamps are "absent"); Redis would abort.
//! - A WATCH whose read fails (a redirect, a timeout) answers its error, and the next EXEC
//!   answers `EXECABORT`, so a transaction never runs on an incomplete watch.
//! - A transaction is bounded: `multi-commands-max` queued commands (and watched keys),
//!   `multi-bytes-max` queued argument bytes; past them the transaction is aborted.

use bytes::Bytes;
use futures::future::{BoxFuture, Shared};
use tanli_storage::{KvWrite, StorageError};

use crate::cmd::parse::eq_ic;
use crate::cmd::{self, generic, Command, ConnCmd, ReadCmd, ReadCtx, WriteCmd};
use crate::config::Config;
use crate::error::ClusterError;
use crate::reply::Reply;

/// Watched keys and the stamps WATCH read for them (`None`: absent).
pub type Stamps = Vec<(Vec<u8>, Option<u64>)>;

/// One WATCH's read, shared by the WATCH reply and the EXEC that needs its stamps.
pub type WatchRead = Shared<BoxFuture<'static, Result<Stamps, Reply>>>;

/// Bytes counted per queued argument on top of its length (its framing in the log entry).
const ARG_OVERHEAD_BYTES: usize = 8;

/// The bounds of one transaction.
#[derive(Debug, Clone, Copy)]
pub struct TxLimits {
    /// Queued commands, and watched keys.
    pub commands_max: usize,
    /// Queued argument bytes (the EXEC entry carries them all).
    pub bytes_max: usize,
}

impl TxLimits {
    pub fn from_config(cfg: &Config) -> TxLimits {
        TxLimits {
            commands_max: cfg.multi_commands_max,
            bytes_max: cfg.multi_bytes_max,
        }
    }
}

/// One queued command.
#[derive(Debug)]
enum Queued {
    /// A data command line, run at apply inside the EXEC entry.
    Data(Vec<Vec<u8>>),
    /// A reply known when queued: PING and the like, or the command's own parse error.
    Local(Reply),
}

/// The commands queued since MULTI.
#[derive(Debug, Default)]
struct Queue {
    items: Vec<Queued>,
    bytes: usize,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    aborted: bool,
}

/// What the connection does with a command read while MULTI is open.
#[derive(Debug)]
pub enum Intercept {
    /// Answer this now (`+QUEUED`, or an error).
    Reply(Reply),
    /// Run it as usual (EXEC, DISCARD, QUIT, RESET).
    Run(Command),
}

/// A connection's transaction state: the watches, and while MULTI is open, the queue.
pub struct Tx {
    limits: TxLimits,
    watches: Vec<WatchRead>,
    watched_keys: usize,
    /// The slot every key so far (watched or queued) hashes to.
    slot: Option<u16>,
    /// The first of those keys: routes the EXEC entry.
    route_key: Option<Vec<u8>>,
    queue: Option<Queue>,
}

impl Tx {
    pub fn new(limits: TxLimits) -> Tx {
        Tx {
            limits,
            watches: Vec::new(),
            watched_keys: 0,
            slot: None,
            route_key: None,
            queue: None,
        }
    }

    pub fn in_multi(&self) -> bool {
        self.queue.is_some()
    }

    /// MULTI.
    pub fn multi(&mut self) -> Reply {
        if self.in_multi() {
            return Reply::err("MULTI calls can not be nested");
        }
        self.queue = Some(Queue::default());
        Reply::ok()
    }

    /// DISCARD: drops the queue and the watches.
    pub fn discard(&mut self) -> Reply {
        if !self.in_multi() {
            return Reply::err("DISCARD without MULTI");
        }
        self.reset();
        Reply::ok()
    }

    /// UNWATCH outside MULTI (inside, it is queued).
    pub fn unwatch(&mut self) -> Reply {
        if !self.in_multi() {
            self.reset();
        }
        Reply::ok()
    }

    /// Forgets everything (DISCARD, RESET, the end of EXEC).
    pub fn reset(&mut self) {
        *self = Tx::new(self.limits);
    }

    /// Handles a command read while MULTI is open (`parsed` is its parse of `args`).
    pub fn queue(&mut self, args: &[Bytes], parsed: Result<Command, Reply>) -> Intercept {
        if !self.in_multi() {
            return match parsed {
                Ok(cmd) => Intercept::Run(cmd),
                Err(reply) => Intercept::Reply(reply),
            };
        }
        let cmd = match parsed {
            Ok(cmd) => cmd,
            // Redis refuses these before queueing, and the transaction with them.
            Err(reply) if cmd::precheck(args).is_err() => return self.abort(reply),
            // The command's own failure: Redis queues it and EXEC answers the same error.
            Err(reply) => return self.push(args, None, Queued::Local(reply)),
        };
        match cmd {
            Command::Conn(ConnCmd::Exec | ConnCmd::Discard | ConnCmd::Quit | ConnCmd::Reset) => {
                Intercept::Run(cmd)
            }
            Command::Conn(ConnCmd::Multi) => {
                Intercept::Reply(Reply::err("MULTI calls can not be nested"))
            }
            Command::Conn(ConnCmd::Watch(_)) => {
                Intercept::Reply(Reply::err("WATCH inside MULTI is not allowed"))
            }
            Command::Conn(c) => match local_reply(&c) {
                Some(reply) => self.push(args, None, Queued::Local(reply)),
                None => self.abort(not_allowed(args, "it is not a data command")),
            },
            data => {
                if let Some(reply) = refusal(args, &data) {
                    return self.abort(reply);
                }
                let keys = match &data {
                    Command::Read(r) => r.keys(),
                    Command::Write(w) => w.keys(),
                    _ => Vec::new(),
                };
                let slot = match self.slot_of(&keys) {
                    Ok(slot) => slot,
                    Err(reply) => return self.abort(reply),
                };
                let first = keys.first().map(|k| k.to_vec());
                let argv = args.iter().map(|a| a.to_vec()).collect();
                self.push(args, slot.zip(first), Queued::Data(argv))
            }
        }
    }

    /// The slot of `keys`, which must be the transaction's slot if it has one already.
    fn slot_of(&self, keys: &[&[u8]]) -> Result<Option<u16>, Reply> {
        let mut slot = self.slot;
        for key in keys {
            let s = tanli_router::slot_of(key);
            if slot.is_some_and(|have| have != s) {
                return Err(ClusterError::CrossSlot.to_reply());
            }
            slot = Some(s);
        }
        Ok(slot)
    }

    /// Takes the transaction's slot and its first key, once a command naming them is accepted.
    fn claim(&mut self, claimed: Option<(u16, Vec<u8>)>) {
        if let Some((slot, key)) = claimed {
            self.slot = Some(slot);
            self.route_key.get_or_insert(key);
        }
    }

    fn abort(&mut self, reply: Reply) -> Intercept {
        if let Some(q) = self.queue.as_mut() {
            q.aborted = true;
        }
        Intercept::Reply(reply)
    }

    fn push(&mut self, args: &[Bytes], claimed: Option<(u16, Vec<u8>)>, item: Queued) -> Intercept {
        let limits = self.limits;
        let Some(q) = self.queue.as_mut() else {
            return Intercept::Reply(Reply::err("not in a transaction"));
        };
        let bytes: usize = args.iter().map(|a| a.len() + ARG_OVERHEAD_BYTES).sum();
        if q.items.len() >= limits.commands_max {
            let n = limits.commands_max;
            return self.abort(Reply::err(format!(
                "transaction too large: more than {n} queued commands (multi-commands-max)"
            )));
        }
        if q.bytes.saturating_add(bytes) > limits.bytes_max {
            let n = limits.bytes_max;
            return self.abort(Reply::err(format!(
                "transaction too large: more than {n} queued bytes (multi-bytes-max)"
            )));
        }
        q.bytes += bytes;
        q.items.push(item);
        self.claim(claimed);
        Intercept::Reply(Reply::Simple("QUEUED".into()))
    }

    /// The checks of a WATCH outside MULTI (one slot, the bound on watched keys); on success
    /// the keys count as watched and the caller starts their read ([`Tx::add_watch`]).
    pub fn watch(&mut self, keys: &[Bytes]) -> Result<(), Reply> {
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        let slot = self.slot_of(&refs)?;
        let n = self.limits.commands_max;
        if self.watched_keys.saturating_add(keys.len()) > n {
            return Err(Reply::err(format!(
                "too many watched keys: at most {n} (multi-commands-max)"
            )));
        }
        self.watched_keys += keys.len();
        self.claim(slot.zip(keys.first().map(|k| k.to_vec())));
        Ok(())
    }

    /// Records a WATCH's read of its keys' stamps.
    pub fn add_watch(&mut self, read: WatchRead) {
        self.watches.push(read);
    }

    /// A WATCH that could not even start (refused for overload): the next EXEC must not run.
    pub fn watch_failed(&mut self, reply: Reply) {
        let failed: BoxFuture<'static, Result<Stamps, Reply>> =
            Box::pin(futures::future::ready(Err(reply)));
        self.watches.push(futures::FutureExt::shared(failed));
    }

    /// EXEC: ends the transaction (MULTI, queue and watches) and returns what to run.
    pub fn exec(&mut self) -> Result<ExecPlan, Reply> {
        let Some(queue) = self.queue.take() else {
            return Err(Reply::err("EXEC without MULTI"));
        };
        let watches = std::mem::take(&mut self.watches);
        let route_key = self.route_key.take();
        self.reset();
        if queue.aborted {
            return Err(exec_abort());
        }
        Ok(ExecPlan {
            items: queue.items,
            watches,
            route_key,
        })
    }
}

/// A transaction EXEC is about to run.
pub struct ExecPlan {
    items: Vec<Queued>,
    watches: Vec<WatchRead>,
    route_key: Option<Vec<u8>>,
}

impl ExecPlan {
    /// Waits for the watches' reads, has `submit` propose the EXEC entry when there is anything
    /// for the log to do, and answers EXEC's reply (the queued commands' replies in order).
    pub async fn run<F>(self, submit: F) -> Reply
    where
        F: FnOnce(WriteCmd) -> BoxFuture<'static, Reply>,
    {
        let mut watched = Vec::new();
        for read in self.watches {
            match read.await {
                Ok(stamps) => watched.extend(stamps),
                Err(_) => return exec_abort(),
            }
        }
        let mut slots = Vec::with_capacity(self.items.len());
        let mut cmds = Vec::new();
        for item in self.items {
            match item {
                Queued::Data(argv) => {
                    cmds.push(argv);
                    slots.push(None);
                }
                Queued::Local(reply) => slots.push(Some(reply)),
            }
        }
        if cmds.is_empty() && watched.is_empty() {
            return Reply::Array(slots.into_iter().flatten().collect());
        }
        let route_key = self
            .route_key
            .or_else(|| watched.first().map(|(k, _)| k.clone()));
        let Some(route_key) = route_key else {
            return Reply::err("a transaction with commands has no key to route by");
        };
        let n = cmds.len();
        let applied = submit(WriteCmd::Exec {
            route_key,
            watched,
            cmds,
        })
        .await;
        merge(slots, n, applied)
    }
}

/// EXEC's reply: the applied replies in the places of the data commands.
fn merge(slots: Vec<Option<Reply>>, n: usize, applied: Reply) -> Reply {
    let applied = match applied {
        Reply::Array(replies) if replies.len() == n => replies,
        Reply::NilArray => return Reply::NilArray,
        Reply::Error(e) => return Reply::Error(e),
        other => return Reply::err(format!("unexpected reply to a transaction: {other:?}")),
    };
    let mut applied = applied.into_iter();
    Reply::Array(
        slots
            .into_iter()
            .map(|local| local.or_else(|| applied.next()).unwrap_or(Reply::Nil))
            .collect(),
    )
}

fn exec_abort() -> Reply {
    Reply::Error("EXECABORT Transaction discarded because of previous errors.".into())
}

fn not_allowed(args: &[Bytes], why: &str) -> Reply {
    let name = args
        .first()
        .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
        .unwrap_or_default();
    Reply::err(format!("{name} is not allowed in a transaction: {why}"))
}

/// Why a parsed data command cannot run inside a transaction, if it cannot.
fn refusal(args: &[Bytes], cmd: &Command) -> Option<Reply> {
    let why = match cmd {
        _ if args.first().is_some_and(|n| eq_ic(n, "tanli.req")) => {
            "TANLI.REQ is its own exactly-once log entry"
        }
        Command::Read(r) if r.is_keyspace_wide() || matches!(r, ReadCmd::DbSize) => {
            "it reads every shard of the node"
        }
        Command::Read(ReadCmd::Stamps { .. }) => "it is internal",
        Command::Write(WriteCmd::Flush) => "it writes every shard of the node",
        Command::Write(WriteCmd::Req { .. } | WriteCmd::Reap { .. } | WriteCmd::Exec { .. }) => {
            "it is internal"
        }
        Command::Read(r) if r.keys().is_empty() => "it names no key",
        Command::Write(w) if w.keys().is_empty() => "it names no key",
        Command::Read(_) | Command::Write(_) => return None,
        Command::Conn(_) | Command::Admin(_) => "it is not a data command",
    };
    Some(not_allowed(args, why))
}

/// The reply of a connection command that may be queued: it depends on nothing but itself.
fn local_reply(c: &ConnCmd) -> Option<Reply> {
    match c {
        ConnCmd::Ping(None) => Some(Reply::Simple("PONG".into())),
        ConnCmd::Ping(Some(m)) | ConnCmd::Echo(m) => Some(Reply::Bulk(m.to_vec())),
        ConnCmd::Unwatch => Some(Reply::ok()),
        ConnCmd::ObjectHelp => Some(generic::object_help()),
        _ => None,
    }
}

/// WATCH's read of `keys`' stamps.
pub fn stamps_read(keys: Vec<Bytes>) -> ReadCmd {
    ReadCmd::Stamps { keys }
}

/// The stamps in the reply of [`stamps_read`] (or its error).
pub fn stamps_of(keys: Vec<Bytes>, reply: Reply) -> Result<Stamps, Reply> {
    let items = match reply {
        Reply::Array(items) if items.len() == keys.len() => items,
        e @ Reply::Error(_) => return Err(e),
        other => {
            return Err(Reply::err(format!(
                "unexpected reply to WATCH's read: {other:?}"
            )))
        }
    };
    keys.into_iter()
        .zip(items)
        .map(|(key, item)| match item {
            Reply::Nil => Ok((key.to_vec(), None)),
            Reply::Int(n) => u64::try_from(n)
                .map(|s| (key.to_vec(), Some(s)))
                .map_err(|_| Reply::err("negative stamp in WATCH's read")),
            other => Err(Reply::err(format!(
                "unexpected stamp in WATCH's read: {other:?}"
            ))),
        })
        .collect()
}

/// Applies an EXEC entry at `now` (log time): nothing and the null array if a watched key's
/// live stamp changed, else every command line in order, each reply (or error) one element.
pub fn apply_exec(
    kv: &mut dyn KvWrite,
    now: u64,
    watched: &[(Vec<u8>, Option<u64>)],
    cmds: &[Vec<Vec<u8>>],
) -> Result<Reply, StorageError> {
    for (key, stamp) in watched {
        let live = kv.get(key)?.filter(|r| r.is_live(now)).map(|r| r.stamp);
        if live != *stamp {
            return Ok(Reply::NilArray);
        }
    }
    let mut replies = Vec::with_capacity(cmds.len());
    for argv in cmds {
        let args: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let reply = match cmd::parse(&args) {
            Err(reply) => reply,
            Ok(c) => match (refusal(&args, &c), c) {
                (Some(reply), _) => reply,
                (None, Command::Write(w)) => w.apply(kv, now)?,
                (None, Command::Read(r)) => {
                    let ctx = ReadCtx {
                        now_ms: now,
                        random: cmd::apply_random(kv),
                    };
                    r.execute_keyed(&*kv, &ctx)?
                }
                (None, _) => not_allowed(&args, "it is not a data command"),
            },
        };
        replies.push(reply);
    }
    Ok(Reply::Array(replies))
}

#[cfg(test)]
#[path = "multi_tests.rs"]
mod tests;
