//! Consecutive reads of one connection's pipeline, run as one request: one wait for the writes
//! sent before them, one leadership check per shard they touch (`exec::check_reads`), then each
//! read in order, run only when the connection is ready to encode its reply.
//!
//! A pipeline of GETs would otherwise cost, per read, a future of its own, a message to the
//! shard's read batcher and a reply channel back. Grouping changes no answer: the check starts
//! after the last read of the group arrived, so every read still sees each write acknowledged
//! before it was sent, and a later write on the connection waits until the whole group has run.
//! Only plain reads group; any other command ends the group first, so connection commands
//! (READONLY, ASKING, MULTI, ...) take effect exactly where the client sent them.
//!
//! Reads run lazily, as the connection encodes their replies, so a pipeline of reads of big
//! values holds about one write batch of replies in memory, not the whole pipeline's.
//!
//! The group's reads share one admission ticket, counted out when the group's last reply is
//! ready: per-read references and counters shared by the node's threads cost more than the read.

use std::sync::Arc;
use std::time::Instant;

use futures::future::{BoxFuture, FutureExt};

use crate::admission::Ticket;
use crate::clients::ClientState;
use crate::cmd::ReadCmd;
use crate::exec::{self, CheckedReads};
use crate::metrics::{CommandTimer, Metrics};
use crate::reply::Reply;
use crate::sequencer::{Done, Sequencer};
use crate::server::Node;

/// The reads gathered so far from what the connection has already received.
#[derive(Default)]
pub(crate) struct ReadGroup {
    cmds: Vec<ReadCmd>,
    timers: Vec<CommandTimer>,
    /// Admits every read of the group.
    ticket: Option<Ticket>,
}

impl ReadGroup {
    /// Admits one more read of `client` into the group (see [`crate::admission`]); a refused
    /// read is answered with the reply and not pushed.
    pub(crate) fn admit(&mut self, node: &Node, client: &Arc<ClientState>) -> Result<(), Reply> {
        match &mut self.ticket {
            Some(ticket) => node.admission.admit_more(ticket),
            None => {
                self.ticket = Some(node.admission.admit(client)?);
                Ok(())
            }
        }
    }

    /// Adds an admitted read.
    pub(crate) fn push(&mut self, cmd: ReadCmd, timer: CommandTimer) {
        self.cmds.push(cmd);
        self.timers.push(timer);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Starts the gathered reads as one request (after the writes sent before them, on a
    /// connection that is `readonly` or not) and empties the group; the future yields the reads
    /// checked and ready to run.
    pub(crate) fn start(
        &mut self,
        order: &mut Sequencer,
        readonly: bool,
        node: &Arc<Node>,
    ) -> BoxFuture<'static, GroupReplies> {
        let cmds = std::mem::take(&mut self.cmds);
        let timers = std::mem::take(&mut self.timers).into_iter();
        let ticket = self.ticket.take();
        let (writes_before, done) = order.read();
        let node = node.clone();
        async move {
            writes_before.wait().await;
            let metrics = node.metrics.clone();
            let reads = exec::check_reads(node, cmds, readonly, false).await;
            GroupReplies {
                reads,
                timers,
                ticket,
                metrics,
                done: Some(done),
            }
        }
        .boxed()
    }
}

/// A group's reads, checked; each runs when its reply is asked for.
pub(crate) struct GroupReplies {
    reads: CheckedReads,
    timers: std::vec::IntoIter<CommandTimer>,
    /// Dropped once the last read has run.
    ticket: Option<Ticket>,
    metrics: Arc<Metrics>,
    /// Counts the group as done in the connection's order once its last read has run (or when
    /// dropped, if the connection ends first).
    done: Option<Done>,
}

impl GroupReplies {
    /// Replies not yet produced.
    pub(crate) fn len(&self) -> usize {
        self.reads.len()
    }

    /// Runs the next read and returns its reply, counted and timed (as answered at `now`) in the
    /// node's metrics.
    pub(crate) fn next_reply(&mut self, now: Instant) -> Option<Reply> {
        let reply = self.reads.next();
        if let (Some(reply), Some(timer)) = (&reply, self.timers.next()) {
            timer.finish(&self.metrics, reply, now);
        }
        if self.reads.is_empty() {
            self.ticket = None;
            if let Some(done) = self.done.take() {
                done.finish();
            }
        }
        reply
    }
}
