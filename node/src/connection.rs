//! One client connection: read requests, run them, write replies in order.
//!
//! Pipelined commands run concurrently (up to `pipeline_depth_max` per connection) and their
//! replies are written in request order. Each turn takes every request already received, and
//! consecutive reads among them run as one group (`read_group.rs`). Connection-level commands (AUTH, HELLO, SELECT, CLIENT,
//! READONLY, ...) change the [`Session`] at the moment they are read, so a pipeline sees them in
//! order. A protocol error is answered after the replies already owed, then the connection closes.
//! While MULTI is open, commands are queued in the session's [`Tx`] instead of run; EXEC
//! proposes them as one write, WATCH is a read (see `multi.rs`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{FuturesOrdered, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::admission::{AdmissionConfig, Ticket};
use crate::clients::ClientState;
use crate::cmd::{self, Command, ConnCmd};
use crate::exec;
use crate::frame::{ProtocolError, RequestDecoder, RequestLimits};
use crate::info;
use crate::metrics::{CommandTimer, ShedReason};
use crate::multi::{self, Intercept, Tx, TxLimits};
use crate::read_group::{GroupReplies, ReadGroup};
use crate::reply::Reply;
use crate::sequencer::Sequencer;
use crate::server::Node;

/// Replies already available are gathered into one write up to about this many bytes.
const WRITE_BATCH_BYTES: usize = 64 << 10;

/// Per-connection protocol state.
struct Session {
    resp3: bool,
    authed: bool,
    /// `READONLY`: reads may be served stale by a follower.
    readonly: bool,
    /// `ASKING` was the previous command (applies to the next one only).
    asking: bool,
    order: Sequencer,
    /// The last request was refused for overload: reading pauses for the retry hint.
    refused: bool,
    /// MULTI's queue and the watched keys.
    tx: Tx,
}

/// A reply owed to the client, and whether the connection closes after it.
struct Owed {
    resp3: bool,
    reply: Reply,
    close: bool,
    /// [`size_hint`] of the reply, counted in the client's `omem` from the moment the reply is
    /// ready until it is encoded.
    size: usize,
}

/// What the connection waits for, in request order: one command's reply, or the replies of a
/// group of consecutive reads (see `read_group.rs`).
enum Answer {
    One(Owed),
    Reads { resp3: bool, replies: GroupReplies },
}

impl Answer {
    /// Commands answered.
    fn len(&self) -> usize {
        match self {
            Answer::One(_) => 1,
            Answer::Reads { replies, .. } => replies.len(),
        }
    }
}

/// About how many bytes `reply` takes to encode: payload bytes plus a few per element.
fn size_hint(reply: &Reply) -> usize {
    const FRAME: usize = 16;
    match reply {
        Reply::Simple(s) | Reply::Error(s) | Reply::Verbatim(s) => s.len() + FRAME,
        Reply::Bulk(b) => b.len() + FRAME,
        Reply::Array(v) | Reply::Set(v) => v.iter().map(size_hint).sum::<usize>() + FRAME,
        Reply::Map(v) | Reply::Pairs(v) => {
            v.iter()
                .map(|(k, v)| size_hint(k) + size_hint(v))
                .sum::<usize>()
                + FRAME
        }
        _ => FRAME,
    }
}

/// Answers a connection that cannot be served (too many clients) and closes it.
pub async fn refuse(mut stream: TcpStream, msg: &'static str) {
    let _ = stream.write_all(format!("-{msg}\r\n").as_bytes()).await;
}

pub async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    node: Arc<Node>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let laddr = stream.local_addr().unwrap_or(node.resp_addr);
    let guard = node.clients.register(addr, laddr);
    let client = guard.state.clone();
    let (rd, mut wr) = stream.into_split();
    let limits = RequestLimits {
        bulk_bytes_max: node.config.bulk_bytes_max,
        array_len_max: node.config.array_len_max,
        inline_bytes_max: node.config.inline_bytes_max,
        request_bytes_max: node.config.request_bytes_max,
    };
    let mut requests = FramedRead::new(
        rd,
        RequestDecoder::new(limits).counting_into(client.qbuf.clone()),
    );
    let mut session = Session {
        resp3: false,
        authed: node.config.requirepass.is_none(),
        readonly: false,
        asking: false,
        order: Sequencer::new(),
        refused: false,
        tx: Tx::new(TxLimits::from_config(&node.config)),
    };
    let mut owed: FuturesOrdered<BoxFuture<'static, Answer>> = FuturesOrdered::new();
    // Commands read and not yet answered (in `owed` or in `reads`).
    let mut in_flight = 0usize;
    let mut reads = ReadGroup::default();
    let mut out = BytesMut::new();
    let depth_max = node.config.pipeline_depth_max;
    let limits = node.admission.config().clone();
    let mut paused_until: Option<Instant> = None;
    let mut reading = true;
    let mut protocol_error = None;
    // Made once: a cancellation wait made afresh on every turn of the loop would lock the
    // token's tree and register a waiter each time. And a token of this connection's own: each
    // poll of a wait locks its token, and the node's token is shared by every connection.
    let shutdown = shutdown.child_token();
    let cancelled = shutdown.cancelled();
    let killed = client.kill.cancelled();
    tokio::pin!(cancelled, killed);
    loop {
        if !reading && owed.is_empty() {
            break;
        }
        // A client refused for overload is not read from for the retry hint: its pipelined
        // requests wait in the socket (TCP pushes back) instead of costing a refusal each.
        let pause = async {
            match paused_until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut cancelled => break,
            // Shed by admission control: close without another word (a stray error could be
            // taken for the reply to a request still owed).
            _ = &mut killed => return,
            _ = pause, if paused_until.is_some() => paused_until = None,
            Some(done) = owed.next(), if !owed.is_empty() => {
                in_flight -= done.len();
                let mut current = Some(done);
                let mut close = false;
                loop {
                    if let Some(answer) = current.take() {
                        current = encode_answer(&mut out, answer, &client, &mut close);
                    }
                    // Batch the replies that are already available into one write.
                    if current.is_none() && !close && out.len() < WRITE_BATCH_BYTES {
                        if let Some(Some(more)) = owed.next().now_or_never() {
                            in_flight -= more.len();
                            current = Some(more);
                            continue;
                        }
                    }
                    match flush(&mut wr, &mut out, &client, &limits, &shutdown).await {
                        Flushed::All => {}
                        Flushed::Gone => return,
                        Flushed::OverLimit => {
                            node.admission.shed(&client, ShedReason::OutputBuffer, &node.metrics);
                            return;
                        }
                    }
                    if close {
                        return;
                    }
                    // A group of reads cut at the batch bound goes on after the flush.
                    if current.is_none() {
                        break;
                    }
                }
            }
            // Reading pauses while the pipeline is full or replies pile up unsent.
            req = requests.next(), if reading
                && paused_until.is_none()
                && in_flight < depth_max
                && client.omem.load(Ordering::Relaxed) <= limits.reply_buffer_bytes_max => {
                // Every request already received is taken now, so consecutive reads among them
                // run as one group. They are taken at one moment: one clock reading serves them
                // all (last activity, metrics timers).
                let now = Instant::now();
                let mut taken = 0u64;
                let mut req = req;
                loop {
                    match req {
                        None => reading = false,
                        Some(Err(ProtocolError::Io(_))) => return,
                        Some(Err(e @ ProtocolError::Invalid(_))) => {
                            tracing::debug!(%addr, error = %e, "closing connection on protocol error");
                            node.metrics.shed(ShedReason::ProtocolError);
                            protocol_error = Some(e.to_string());
                            reading = false;
                        }
                        Some(Ok(args)) => {
                            in_flight += 1;
                            taken += 1;
                            let at = now.into_std();
                            accept(args, at, &mut session, &node, &client, &mut reads, &mut owed);
                            if std::mem::take(&mut session.refused) {
                                paused_until = Some(Instant::now() + limits.retry_hint);
                            }
                        }
                    }
                    if !reading
                        || paused_until.is_some()
                        || in_flight >= depth_max
                        || client.omem.load(Ordering::Relaxed) > limits.reply_buffer_bytes_max
                    {
                        break;
                    }
                    match requests.next().now_or_never() {
                        Some(next) => req = next,
                        None => break,
                    }
                }
                end_reads(&mut reads, &mut session, &node, &mut owed);
                if taken > 0 {
                    node.commands_processed.fetch_add(taken, Ordering::Relaxed);
                }
            }
        }
    }
    if let Some(msg) = protocol_error {
        Reply::Error(format!("ERR {msg}")).encode(session.resp3, &mut out);
        let _ = wr.write_all(&out).await;
    }
}

/// How a flush of encoded replies ended.
enum Flushed {
    All,
    /// The socket closed, or the node is shutting down or shedding the client.
    Gone,
    /// The client is not reading: unsent bytes over the hard limit, or nothing taken for the
    /// stall period.
    OverLimit,
}

/// Writes `out` to the socket, keeping the client's `omem` current, under the output-buffer
/// limits (as Redis's `client-output-buffer-limit`): `omem` over `output-buffer-bytes-max` while
/// the socket takes no more, or nothing taken for `output-stall-ms`, and the client is dropped.
/// Memory stays bounded before that: reading pauses past `reply-buffer-bytes-max`.
async fn flush(
    wr: &mut OwnedWriteHalf,
    out: &mut BytesMut,
    client: &ClientState,
    limits: &AdmissionConfig,
    shutdown: &CancellationToken,
) -> Flushed {
    while !out.is_empty() {
        // A write that cannot go on at once tells that the client is behind.
        let written = match wr.write(out).now_or_never() {
            Some(r) => r,
            None => {
                if client.omem.load(Ordering::Relaxed) > limits.output_buffer_bytes_max {
                    return Flushed::OverLimit;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return Flushed::Gone,
                    _ = client.kill.cancelled() => return Flushed::Gone,
                    r = tokio::time::timeout(limits.output_stall, wr.write(out)) => match r {
                        Err(_) => return Flushed::OverLimit,
                        Ok(r) => r,
                    },
                }
            }
        };
        match written {
            Ok(0) | Err(_) => return Flushed::Gone,
            Ok(n) => {
                out.advance(n);
                client.omem.fetch_sub(n, Ordering::Relaxed);
            }
        }
    }
    out.clear();
    Flushed::All
}

/// Encodes an answer into `out`, moving a reply's count in `omem` from its estimate to the
/// encoded bytes, and sets `close` when the connection closes after it. A group of reads runs
/// its reads as it encodes them, until `out` holds about [`WRITE_BATCH_BYTES`]: what is left of
/// it is returned, to go on with after `out` is written.
fn encode_answer(
    out: &mut BytesMut,
    answer: Answer,
    client: &ClientState,
    close: &mut bool,
) -> Option<Answer> {
    let before = out.len();
    let rest = match answer {
        Answer::One(owed) => {
            owed.reply.encode(owed.resp3, out);
            client.omem.fetch_sub(owed.size, Ordering::Relaxed);
            *close = owed.close;
            None
        }
        Answer::Reads { resp3, mut replies } => {
            // The reads encoded now are answered now: one clock reading times them all.
            let now = std::time::Instant::now();
            loop {
                if out.len() >= WRITE_BATCH_BYTES {
                    break Some(Answer::Reads { resp3, replies });
                }
                match replies.next_reply(now) {
                    Some(reply) => reply.encode(resp3, out),
                    None => break None,
                }
            }
        }
    };
    client.omem.fetch_add(out.len() - before, Ordering::Relaxed);
    rest
}

/// Takes one request: a plain read joins the connection's read group; anything else first
/// starts the group gathered before it, then runs (see [`run`]).
fn accept(
    args: Vec<bytes::Bytes>,
    now: std::time::Instant,
    session: &mut Session,
    node: &Arc<Node>,
    client: &Arc<ClientState>,
    reads: &mut ReadGroup,
    owed: &mut FuturesOrdered<BoxFuture<'static, Answer>>,
) {
    let timer = node.metrics.command(&args[0], now);
    client.touch(timer.index, now);
    let parsed = cmd::parse_indexed(timer.index, &args);
    let groups = session.authed && !session.tx.in_multi() && !session.asking;
    match parsed {
        Ok(Command::Read(r)) if groups => match reads.admit(node, client) {
            Ok(()) => reads.push(r, timer),
            Err(reply) => {
                session.refused = true;
                end_reads(reads, session, node, owed);
                owed.push_back(timed(
                    ready(session.resp3, reply, false),
                    timer,
                    node,
                    client,
                ));
            }
        },
        parsed => {
            end_reads(reads, session, node, owed);
            let run = run(args, parsed, session, node, client);
            owed.push_back(timed(run, timer, node, client));
        }
    }
}

/// Starts the gathered reads, if any, as the next answer owed.
fn end_reads(
    reads: &mut ReadGroup,
    session: &mut Session,
    node: &Arc<Node>,
    owed: &mut FuturesOrdered<BoxFuture<'static, Answer>>,
) {
    if reads.is_empty() {
        return;
    }
    let resp3 = session.resp3;
    let group = reads.start(&mut session.order, session.readonly, node);
    owed.push_back(
        group
            .map(move |replies| Answer::Reads { resp3, replies })
            .boxed(),
    );
}

fn ready(resp3: bool, reply: Reply, close: bool) -> BoxFuture<'static, Owed> {
    futures::future::ready(Owed {
        resp3,
        reply,
        close,
        size: 0,
    })
    .boxed()
}

/// One command's reply, timed in the node's metrics until it is ready, and counted in the
/// client's `omem` from then on.
fn timed(
    run: BoxFuture<'static, Owed>,
    timer: CommandTimer,
    node: &Node,
    client: &Arc<ClientState>,
) -> BoxFuture<'static, Answer> {
    let client = client.clone();
    let metrics = node.metrics.clone();
    run.map(move |mut owed| {
        timer.finish(&metrics, &owed.reply, std::time::Instant::now());
        owed.size = size_hint(&owed.reply);
        client.omem.fetch_add(owed.size, Ordering::Relaxed);
        Answer::One(owed)
    })
    .boxed()
}

fn run(
    args: Vec<bytes::Bytes>,
    mut parsed: Result<Command, Reply>,
    session: &mut Session,
    node: &Arc<Node>,
    client: &Arc<ClientState>,
) -> BoxFuture<'static, Owed> {
    // Inside MULTI, commands are queued, not run (MULTI is only reachable once authenticated).
    // Queueing takes no admission ticket: nothing runs until EXEC, which takes one.
    if session.authed && session.tx.in_multi() {
        match session.tx.queue(&args, parsed) {
            Intercept::Reply(reply) => return ready(session.resp3, reply, false),
            Intercept::Run(cmd) => parsed = Ok(cmd),
        }
    }
    let cmd = match parsed {
        Ok(c) => c,
        Err(reply) => return ready(session.resp3, reply, false),
    };
    let resp3 = session.resp3;
    // EXEC and WATCH reach a shard as data commands do.
    let to_shard = match &cmd {
        Command::Conn(ConnCmd::Exec | ConnCmd::Watch(_)) => true,
        Command::Conn(_) => false,
        _ => true,
    };
    let asking = to_shard && std::mem::take(&mut session.asking);
    // Data and admin requests count as in flight until their reply is ready (dropping the
    // ticket); under overload, hot clients' are refused here, before anything is done.
    let ticket = match &cmd {
        _ if !to_shard || !session.authed => None,
        _ => match node.admission.admit(client) {
            Ok(t) => Some(t),
            Err(reply) => {
                session.refused = true;
                match &cmd {
                    // A refused EXEC still ends the transaction: nothing of it ran.
                    Command::Conn(ConnCmd::Exec) => drop(session.tx.exec()),
                    // The next EXEC must not run without this watch.
                    Command::Conn(ConnCmd::Watch(_)) => session.tx.watch_failed(reply.clone()),
                    _ => {}
                }
                return ready(resp3, reply, false);
            }
        },
    };
    match cmd {
        Command::Conn(ConnCmd::Exec) if session.authed => {
            exec_transaction(session, node, asking, ticket)
        }
        Command::Conn(ConnCmd::Watch(keys)) if session.authed => {
            watch(keys, session, node, asking, ticket)
        }
        Command::Conn(c) => {
            let (reply, close) = connection_command(c, session, node, client);
            ready(session.resp3, reply, close)
        }
        _ if !session.authed => ready(
            resp3,
            Reply::Error("NOAUTH Authentication required.".into()),
            false,
        ),
        Command::Admin(a) => {
            let node = node.clone();
            async move {
                let _ticket = ticket;
                Owed {
                    resp3,
                    reply: crate::admin::answer(&node, a).await,
                    close: false,
                    size: 0,
                }
            }
            .boxed()
        }
        Command::Read(r) => {
            let (node, stale_ok) = (node.clone(), session.readonly);
            let (writes_before, done) = session.order.read();
            async move {
                let _ticket = ticket;
                writes_before.wait().await;
                let reply = exec::read(node, r, stale_ok, asking).await;
                done.finish();
                Owed {
                    resp3,
                    reply,
                    close: false,
                    size: 0,
                }
            }
            .boxed()
        }
        Command::Write(w) => {
            let (wait, submitted, done) = session.order.write();
            // Usually nothing is pending: propose now, in arrival order, and say so at once, so
            // the writes pipelined behind it are proposed now too (and queue up together, to
            // share an entry) rather than each when the one before it is first polled.
            let pending = if wait.is_done() {
                let applied = exec::submit_write(node, w, asking);
                submitted.finish();
                Ok(applied)
            } else {
                Err((w, submitted))
            };
            let node = node.clone();
            async move {
                let _ticket = ticket;
                let applied = match pending {
                    Ok(applied) => applied,
                    Err((w, submitted)) => {
                        wait.wait().await;
                        let applied = exec::submit_write(&node, w, asking);
                        submitted.finish();
                        applied
                    }
                };
                let reply = applied.await;
                done.finish();
                Owed {
                    resp3,
                    reply,
                    close: false,
                    size: 0,
                }
            }
            .boxed()
        }
    }
}

/// EXEC: ends the transaction and, once the writes and reads sent before it are done, proposes
/// its commands as one write (or answers at once when nothing needs the log).
fn exec_transaction(
    session: &mut Session,
    node: &Arc<Node>,
    asking: bool,
    ticket: Option<Ticket>,
) -> BoxFuture<'static, Owed> {
    let resp3 = session.resp3;
    let plan = match session.tx.exec() {
        Ok(plan) => plan,
        Err(reply) => return ready(resp3, reply, false),
    };
    let (wait, submitted, done) = session.order.write();
    let node = node.clone();
    async move {
        let _ticket = ticket;
        wait.wait().await;
        let reply = plan
            .run(move |w| {
                let applied = exec::submit_write(&node, w, asking);
                submitted.finish();
                applied
            })
            .await;
        done.finish();
        Owed {
            resp3,
            reply,
            close: false,
            size: 0,
        }
    }
    .boxed()
}

/// WATCH: a linearizable read of the keys' record stamps, after the writes sent before it. The
/// read is shared with the EXEC that will compare them.
fn watch(
    keys: Vec<bytes::Bytes>,
    session: &mut Session,
    node: &Arc<Node>,
    asking: bool,
    ticket: Option<Ticket>,
) -> BoxFuture<'static, Owed> {
    let resp3 = session.resp3;
    if let Err(reply) = session.tx.watch(&keys) {
        return ready(resp3, reply, false);
    }
    let (writes_before, done) = session.order.read();
    let node = node.clone();
    let read = async move {
        let _ticket = ticket;
        writes_before.wait().await;
        let reply = exec::read(node, multi::stamps_read(keys.clone()), false, asking).await;
        done.finish();
        multi::stamps_of(keys, reply)
    }
    .boxed()
    .shared();
    session.tx.add_watch(read.clone());
    async move {
        let reply = match read.await {
            Ok(_) => Reply::ok(),
            Err(e) => e,
        };
        Owed {
            resp3,
            reply,
            close: false,
            size: 0,
        }
    }
    .boxed()
}

fn check_password(node: &Node, user: Option<&[u8]>, pass: &[u8]) -> Result<(), Reply> {
    let Some(want) = &node.config.requirepass else {
        return Err(Reply::err(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    };
    if user.is_some_and(|u| u != b"default") || pass != want.as_bytes() {
        return Err(Reply::Error(
            "WRONGPASS invalid username-password pair or user is disabled.".into(),
        ));
    }
    Ok(())
}

fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// Runs a connection-level command; returns the reply and whether to close afterwards.
fn connection_command(
    c: ConnCmd,
    session: &mut Session,
    node: &Arc<Node>,
    client: &Arc<ClientState>,
) -> (Reply, bool) {
    let allowed_before_auth = matches!(
        c,
        ConnCmd::Auth { .. } | ConnCmd::Hello { .. } | ConnCmd::Quit | ConnCmd::Reset
    );
    if !session.authed && !allowed_before_auth {
        return (
            Reply::Error("NOAUTH Authentication required.".into()),
            false,
        );
    }
    let reply = match c {
        ConnCmd::Ping(None) => Reply::Simple("PONG".into()),
        ConnCmd::Ping(Some(m)) | ConnCmd::Echo(m) => Reply::Bulk(m.to_vec()),
        ConnCmd::Hello {
            protover,
            auth,
            setname,
        } => {
            if let Some(p) = protover {
                if p != 2 && p != 3 {
                    return (
                        Reply::Error("NOPROTO unsupported protocol version".into()),
                        false,
                    );
                }
            }
            if let Some((user, pass)) = &auth {
                if let Err(e) = check_password(node, Some(user), pass) {
                    return (e, false);
                }
                session.authed = true;
            }
            if !session.authed {
                return (
                    Reply::Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()),
                    false,
                );
            }
            if let Some(name) = setname {
                if !valid_client_name(&name) {
                    return (
                        Reply::err(
                            "Client names cannot contain spaces, newlines or special characters.",
                        ),
                        false,
                    );
                }
                client.set_name(Some(String::from_utf8_lossy(&name).into_owned()));
            }
            if let Some(p) = protover {
                session.resp3 = p == 3;
                client.resp3.store(session.resp3, Ordering::Relaxed);
            }
            info::hello(node, client.id, session.resp3)
        }
        ConnCmd::Auth { user, pass } => match check_password(node, user.as_deref(), &pass) {
            Ok(()) => {
                session.authed = true;
                Reply::ok()
            }
            Err(e) => e,
        },
        ConnCmd::Select(0) => Reply::ok(),
        ConnCmd::Select(_) => Reply::err("DB index is out of range"),
        ConnCmd::Quit => return (Reply::ok(), true),
        ConnCmd::Reset => {
            session.resp3 = false;
            session.readonly = false;
            session.authed = node.config.requirepass.is_none();
            session.tx.reset();
            client.resp3.store(false, Ordering::Relaxed);
            client.set_name(None);
            Reply::Simple("RESET".into())
        }
        ConnCmd::ClientId => Reply::Int(client.id as i64),
        ConnCmd::ClientSetName(name) => {
            if !valid_client_name(&name) {
                Reply::err("Client names cannot contain spaces, newlines or special characters.")
            } else {
                client.set_name(
                    (!name.is_empty()).then(|| String::from_utf8_lossy(&name).into_owned()),
                );
                Reply::ok()
            }
        }
        ConnCmd::ClientGetName => match client.name() {
            Some(n) => Reply::Bulk(n.into_bytes()),
            None => Reply::Nil,
        },
        ConnCmd::ClientInfo => Reply::Verbatim(format!("{}\n", client.info_line())),
        ConnCmd::ClientList => Reply::Verbatim(
            node.clients
                .list()
                .iter()
                .map(|c| format!("{}\n", c.info_line()))
                .collect(),
        ),
        ConnCmd::ClientNoOp => Reply::ok(),
        ConnCmd::Command(sub) => cmd::command_reply(&sub),
        ConnCmd::Info(sections) => Reply::Verbatim(info::render(node, &sections)),
        ConnCmd::ReadOnly => {
            session.readonly = true;
            Reply::ok()
        }
        ConnCmd::ReadWrite => {
            session.readonly = false;
            Reply::ok()
        }
        ConnCmd::Asking => {
            session.asking = true;
            Reply::ok()
        }
        ConnCmd::Cluster(c) => crate::cluster_info::answer(&node.topology(), &c),
        ConnCmd::ObjectHelp => cmd::generic::object_help(),
        ConnCmd::Multi => session.tx.multi(),
        ConnCmd::Discard => session.tx.discard(),
        ConnCmd::Unwatch => session.tx.unwatch(),
        // `run` takes these once the client is authenticated, which it is by now.
        ConnCmd::Exec | ConnCmd::Watch(_) => Reply::err("EXEC and WATCH run on the data path"),
    };
    (reply, false)
}
