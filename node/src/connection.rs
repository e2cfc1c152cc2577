//! One client connection: read requests, run them, write replies in order.
//!
//! Pipelined commands run concurrently (up to `pipeline_depth_max` per connection) and their
//! replies are written in request order. Connection-level commands (AUTH, HELLO, SELECT, CLIENT,
//! READONLY, ...) change the [`Session`] at the moment they are read, so a pipeline sees them in
//! order. A protocol error is answered after the replies already owed, then the connection closes.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::stream::{FuturesOrdered, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::clients::ClientState;
use crate::cmd::{self, Command, ConnCmd};
use crate::exec;
use crate::frame::{ProtocolError, RequestDecoder, RequestLimits};
use crate::info;
use crate::metrics::ShedReason;
use crate::reply::Reply;
use crate::server::Node;

/// Per-connection protocol state.
struct Session {
    resp3: bool,
    authed: bool,
    /// `READONLY`: reads may be served stale by a follower.
    readonly: bool,
    /// `ASKING` was the previous command (applies to the next one only).
    asking: bool,
    order: Sequencer,
}

/// A wait that many commands can share: done once a counter reaches a target.
type Signal = Shared<BoxFuture<'static, ()>>;

/// Counts completions of one kind (reads done, writes proposed, writes applied) on a connection.
/// Waiting is a comparison with a count, so a long pipeline never builds a chain of futures
/// (each awaiting the one before), whose first poll would recurse as deep as the pipeline.
#[derive(Clone)]
struct Counter(Arc<tokio::sync::watch::Sender<u64>>);

impl Counter {
    fn new() -> Counter {
        Counter(Arc::new(tokio::sync::watch::Sender::new(0)))
    }

    /// Done once `target` completions have been counted.
    fn reached(&self, target: u64) -> Signal {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|n| *n >= target).await;
        }
        .boxed()
        .shared()
    }

    /// One completion, counted when the guard is used or dropped (an abandoned command counts
    /// as done, so nothing behind it waits forever).
    fn guard(&self) -> Done {
        Done(Some(self.0.clone()))
    }
}

/// Counts one completion on [`Done::finish`] or drop.
struct Done(Option<Arc<tokio::sync::watch::Sender<u64>>>);

impl Done {
    fn finish(mut self) {
        self.bump();
    }

    fn bump(&mut self) {
        if let Some(tx) = self.0.take() {
            tx.send_modify(|n| *n += 1);
        }
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        self.bump();
    }
}

/// Keeps one connection's commands in Redis's order while letting them overlap where that is
/// invisible: consecutive reads run together, consecutive writes are proposed back to back in
/// order, but a read waits for the writes sent before it to apply, and a write waits for the
/// reads sent before it to finish. Counting works because nothing sent after a command can
/// complete before the commands it waits for: reads finish in any order, but a write waits for
/// all earlier reads, and a later read waits for all earlier writes.
struct Sequencer {
    reads_sent: u64,
    writes_sent: u64,
    reads_done: Counter,
    writes_submitted: Counter,
    writes_done: Counter,
}

impl Sequencer {
    fn new() -> Sequencer {
        Sequencer {
            reads_sent: 0,
            writes_sent: 0,
            reads_done: Counter::new(),
            writes_submitted: Counter::new(),
            writes_done: Counter::new(),
        }
    }

    /// What a new read waits for, and the guard to use when it is done.
    fn read(&mut self) -> (Signal, Done) {
        self.reads_sent += 1;
        (
            self.writes_done.reached(self.writes_sent),
            self.reads_done.guard(),
        )
    }

    /// What a new write waits for before it is proposed, and the guards to use once it is
    /// proposed and once it is done.
    fn write(&mut self) -> (Signal, Done, Done) {
        let reads = self.reads_done.reached(self.reads_sent);
        let writes = self.writes_submitted.reached(self.writes_sent);
        self.writes_sent += 1;
        let wait = async move {
            reads.await;
            writes.await;
        }
        .boxed()
        .shared();
        (
            wait,
            self.writes_submitted.guard(),
            self.writes_done.guard(),
        )
    }
}

/// A reply owed to the client, and whether the connection closes after it.
struct Owed {
    resp3: bool,
    reply: Reply,
    close: bool,
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
    let mut requests = FramedRead::new(rd, RequestDecoder::new(limits));
    let mut session = Session {
        resp3: false,
        authed: node.config.requirepass.is_none(),
        readonly: false,
        asking: false,
        order: Sequencer::new(),
    };
    let mut owed: FuturesOrdered<BoxFuture<'static, Owed>> = FuturesOrdered::new();
    let mut out = BytesMut::new();
    let depth_max = node.config.pipeline_depth_max;
    let mut reading = true;
    let mut protocol_error = None;
    loop {
        if !reading && owed.is_empty() {
            break;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = owed.next(), if !owed.is_empty() => {
                let mut close = write_owed(&mut out, done);
                // Batch every reply that is already available into one write.
                while !close {
                    match owed.next().now_or_never() {
                        Some(Some(more)) => close = write_owed(&mut out, more),
                        _ => break,
                    }
                }
                if wr.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
                if close {
                    return;
                }
            }
            req = requests.next(), if reading && owed.len() < depth_max => match req {
                None => reading = false,
                Some(Err(ProtocolError::Io(_))) => return,
                Some(Err(e @ ProtocolError::Invalid(_))) => {
                    tracing::debug!(%addr, error = %e, "closing connection on protocol error");
                    node.metrics.shed(ShedReason::ProtocolError);
                    protocol_error = Some(e.to_string());
                    reading = false;
                }
                Some(Ok(args)) => owed.push_back(dispatch(args, &mut session, &node, &client)),
            },
        }
    }
    if let Some(msg) = protocol_error {
        Reply::Error(format!("ERR {msg}")).encode(session.resp3, &mut out);
        let _ = wr.write_all(&out).await;
    }
}

fn write_owed(out: &mut BytesMut, owed: Owed) -> bool {
    owed.reply.encode(owed.resp3, out);
    owed.close
}

fn ready(resp3: bool, reply: Reply, close: bool) -> BoxFuture<'static, Owed> {
    futures::future::ready(Owed {
        resp3,
        reply,
        close,
    })
    .boxed()
}

/// Runs one command (see [`run`]), counted and timed in the node's metrics until its reply is
/// ready.
fn dispatch(
    args: Vec<bytes::Bytes>,
    session: &mut Session,
    node: &Arc<Node>,
    client: &Arc<ClientState>,
) -> BoxFuture<'static, Owed> {
    let timer = node.metrics.command(&args[0]);
    run(args, session, node, client)
        .map(move |owed| {
            timer.finish(&owed.reply);
            owed
        })
        .boxed()
}

fn run(
    args: Vec<bytes::Bytes>,
    session: &mut Session,
    node: &Arc<Node>,
    client: &Arc<ClientState>,
) -> BoxFuture<'static, Owed> {
    client.touch(&args[0]);
    node.commands_processed.fetch_add(1, Ordering::Relaxed);
    let cmd = match cmd::parse(&args) {
        Ok(c) => c,
        Err(reply) => return ready(session.resp3, reply, false),
    };
    let resp3 = session.resp3;
    let asking = !matches!(cmd, Command::Conn(_)) && std::mem::take(&mut session.asking);
    match cmd {
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
                Owed {
                    resp3,
                    reply: crate::admin::answer(&node, a).await,
                    close: false,
                }
            }
            .boxed()
        }
        Command::Read(r) => {
            let (node, stale_ok) = (node.clone(), session.readonly);
            let (writes_before, done) = session.order.read();
            async move {
                writes_before.await;
                let reply = exec::read(node, r, stale_ok, asking).await;
                done.finish();
                Owed {
                    resp3,
                    reply,
                    close: false,
                }
            }
            .boxed()
        }
        Command::Write(w) => {
            let (wait, submitted, done) = session.order.write();
            // Usually nothing is pending: propose now, in arrival order.
            let pending = match wait.clone().now_or_never() {
                Some(()) => Ok(exec::submit_write(node, w, asking)),
                None => Err(w),
            };
            let node = node.clone();
            async move {
                let applied = match pending {
                    Ok(applied) => applied,
                    Err(w) => {
                        wait.await;
                        exec::submit_write(&node, w, asking)
                    }
                };
                submitted.finish();
                let reply = applied.await;
                done.finish();
                Owed {
                    resp3,
                    reply,
                    close: false,
                }
            }
            .boxed()
        }
    }
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
    };
    (reply, false)
}
