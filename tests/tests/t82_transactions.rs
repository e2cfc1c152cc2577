//! t82: MULTI / EXEC / DISCARD / WATCH / UNWATCH against one real `tanli-server`, checked on
//! the wire (raw RESP) and through the `redis` crate's atomic pipelines: queued commands run as
//! one, errors while queueing abort EXEC, keys of a transaction share one slot, and a watched key
//! changed by another connection makes EXEC answer the null array.

use tanli_tests::client::{query, query_err};
use tanli_tests::raw::{RawConn, Reply};
use tanli_tests::Node;

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn queued() -> Reply {
    Reply::Simple("QUEUED".into())
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

fn error(s: &str) -> Reply {
    Reply::Error(s.into())
}

const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// Queued commands answer QUEUED and EXEC answers all their replies in order, a runtime error
/// (WRONGTYPE-like) being one element while the later commands still run. The `redis` crate's
/// atomic pipeline (MULTI ... EXEC) sees the same.
#[test]
fn exec_runs_the_queued_commands_in_order() {
    let node = Node::start_single();
    let mut raw = RawConn::connect(node.addr());
    assert_eq!(raw.cmd(&["MULTI"]), ok());
    for line in [
        &["SET", "{t}a", "1"][..],
        &["INCR", "{t}a"],
        &["GET", "{t}a"],
        &["PING"],
        &["SET", "{t}s", "x"],
        &["INCR", "{t}s"],
        &["SET", "{t}b", "1", "NX", "XX"],
        &["RENAME", "{t}a", "{t}c"],
        &["OBJECT", "ENCODING", "{t}c"],
    ] {
        assert_eq!(raw.cmd(line), queued(), "{line:?}");
    }
    assert_eq!(
        raw.cmd(&["EXEC"]),
        Reply::Array(Some(vec![
            ok(),
            Reply::Integer(2),
            bulk("2"),
            Reply::Simple("PONG".into()),
            ok(),
            error("ERR value is not an integer or out of range"),
            error("ERR syntax error"),
            ok(),
            bulk("int"),
        ]))
    );
    assert_eq!(raw.cmd(&["GET", "{t}c"]), bulk("2"));
    assert_eq!(raw.cmd(&["EXEC"]), error("ERR EXEC without MULTI"));
    // Nothing queued: an empty array.
    assert_eq!(raw.cmd(&["MULTI"]), ok());
    assert_eq!(raw.cmd(&["EXEC"]), Reply::Array(Some(vec![])));

    let mut c = node.conn();
    let (n, v): (i64, String) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("{p}counter")
        .cmd("GET")
        .arg("{p}counter")
        .query(&mut c)
        .expect("atomic pipeline");
    assert_eq!((n, v.as_str()), (1, "1"));
}

/// An unknown command or a wrong arity while queueing is answered at once and makes EXEC
/// answer EXECABORT, applying nothing; nested MULTI and WATCH inside MULTI are refused without
/// aborting.
#[test]
fn an_error_while_queueing_aborts_exec() {
    let node = Node::start_single();
    let mut raw = RawConn::connect(node.addr());
    assert_eq!(raw.cmd(&["MULTI"]), ok());
    assert_eq!(raw.cmd(&["SET", "a", "1"]), queued());
    assert_eq!(
        raw.cmd(&["NOSUCHCMD", "x"]),
        error("ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' ")
    );
    assert_eq!(
        raw.cmd(&["GET"]),
        error("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(raw.cmd(&["SET", "a", "2"]), queued());
    assert_eq!(raw.cmd(&["EXEC"]), error(EXECABORT));
    assert_eq!(raw.cmd(&["GET", "a"]), Reply::Bulk(None), "nothing applied");

    assert_eq!(raw.cmd(&["MULTI"]), ok());
    assert_eq!(
        raw.cmd(&["MULTI"]),
        error("ERR MULTI calls can not be nested")
    );
    assert_eq!(
        raw.cmd(&["WATCH", "a"]),
        error("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(raw.cmd(&["SET", "a", "3"]), queued());
    assert_eq!(raw.cmd(&["EXEC"]), Reply::Array(Some(vec![ok()])));
    assert_eq!(raw.cmd(&["GET", "a"]), bulk("3"));
}

/// Every key of a transaction must hash to one slot; a command in another slot is refused with
/// CROSSSLOT and aborts the transaction, as do commands that read or write every shard.
#[test]
fn keys_of_a_transaction_share_one_slot() {
    let node = Node::start_single();
    let mut raw = RawConn::connect(node.addr());
    assert_eq!(raw.cmd(&["MULTI"]), ok());
    assert_eq!(raw.cmd(&["SET", "a", "1"]), queued());
    assert_eq!(raw.cmd(&["SET", "b", "1"]), error(CROSSSLOT));
    assert_eq!(raw.cmd(&["EXEC"]), error(EXECABORT));
    assert_eq!(raw.cmd(&["EXISTS", "a"]), Reply::Integer(0));

    assert_eq!(raw.cmd(&["MULTI"]), ok());
    let Reply::Error(e) = raw.cmd(&["KEYS", "*"]) else {
        panic!("KEYS inside MULTI must be refused")
    };
    assert!(e.contains("not allowed in a transaction"), "{e}");
    assert_eq!(raw.cmd(&["EXEC"]), error(EXECABORT));

    assert_eq!(raw.cmd(&["WATCH", "a", "b"]), error(CROSSSLOT));
}

/// WATCH on connection A, a write to the key from connection B, then A's EXEC: the null array,
/// and A's queued write is not applied. Unmodified, the same transaction runs.
#[test]
fn watch_detects_a_write_from_another_connection() {
    let node = Node::start_single();
    let mut a = RawConn::connect(node.addr());
    let mut b = node.conn();
    query::<String>(&mut b, &["SET", "{w}k", "1"]);

    assert_eq!(a.cmd(&["WATCH", "{w}k"]), ok());
    assert_eq!(a.cmd(&["GET", "{w}k"]), bulk("1"));
    query::<String>(&mut b, &["SET", "{w}k", "2"]);
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "{w}k", "from-a"]), queued());
    assert_eq!(a.cmd(&["SET", "{w}other", "from-a"]), queued());
    assert_eq!(a.cmd(&["EXEC"]), Reply::Array(None));
    assert_eq!(a.cmd(&["GET", "{w}k"]), bulk("2"));
    assert_eq!(a.cmd(&["EXISTS", "{w}other"]), Reply::Integer(0));

    // A key absent at WATCH and created meanwhile counts as modified too.
    assert_eq!(a.cmd(&["WATCH", "{w}new"]), ok());
    query::<String>(&mut b, &["SET", "{w}new", "x"]);
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["INCR", "{w}k"]), queued());
    assert_eq!(a.cmd(&["EXEC"]), Reply::Array(None));

    // EXEC forgot the watches: unmodified, the transaction runs.
    assert_eq!(a.cmd(&["WATCH", "{w}k"]), ok());
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["INCR", "{w}k"]), queued());
    assert_eq!(
        a.cmd(&["EXEC"]),
        Reply::Array(Some(vec![Reply::Integer(3)]))
    );

    // The same, pipelined in one write: the watch read completes before EXEC compares.
    let mut lines = Vec::new();
    for line in [
        &["WATCH", "{w}k"][..],
        &["GET", "{w}k"],
        &["MULTI"],
        &["INCR", "{w}k"],
        &["EXEC"],
    ] {
        let args: Vec<&[u8]> = line.iter().map(|s| s.as_bytes()).collect();
        lines.extend(tanli_tests::raw::encode(&args));
    }
    a.send(&lines);
    assert_eq!(a.read_reply(), ok());
    assert_eq!(a.read_reply(), bulk("3"));
    assert_eq!(a.read_reply(), ok());
    assert_eq!(a.read_reply(), queued());
    assert_eq!(a.read_reply(), Reply::Array(Some(vec![Reply::Integer(4)])));

    // UNWATCH forgets the watch before the key changes.
    assert_eq!(a.cmd(&["WATCH", "{w}k"]), ok());
    assert_eq!(a.cmd(&["UNWATCH"]), ok());
    query::<i64>(&mut b, &["INCR", "{w}k"]);
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["GET", "{w}k"]), queued());
    assert_eq!(a.cmd(&["EXEC"]), Reply::Array(Some(vec![bulk("5")])));
}

/// DISCARD drops the queue (nothing applied) and the watches; without MULTI it is an error.
#[test]
fn discard_drops_the_queue_and_the_watches() {
    let node = Node::start_single();
    let mut a = RawConn::connect(node.addr());
    let mut b = node.conn();
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "{d}k", "1"]), queued());
    assert_eq!(a.cmd(&["DISCARD"]), ok());
    assert_eq!(a.cmd(&["EXISTS", "{d}k"]), Reply::Integer(0));
    assert_eq!(a.cmd(&["DISCARD"]), error("ERR DISCARD without MULTI"));

    assert_eq!(a.cmd(&["WATCH", "{d}k"]), ok());
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["DISCARD"]), ok());
    query::<String>(&mut b, &["SET", "{d}k", "changed"]);
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["GET", "{d}k"]), queued());
    assert_eq!(a.cmd(&["EXEC"]), Reply::Array(Some(vec![bulk("changed")])));
    assert_eq!(query_err(&mut b, &["EXEC"]), "ERR EXEC without MULTI");
}
