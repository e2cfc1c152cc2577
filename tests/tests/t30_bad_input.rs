//! t30: hostile and malformed input over raw TCP. A server exposed to the network must answer bad
//! frames with Redis's exact error texts, close connections it cannot parse (as Redis does),
//! refuse huge declared lengths before allocating, and keep serving everyone else.

use std::time::Duration;

use tanli_tests::node::Memory;
use tanli_tests::raw::{encode, RawConn, Reply};
use tanli_tests::Node;

/// How long the server may take to close a connection after a protocol error.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection opened before the abuse still works, and so does a new one.
fn assert_still_serving(node: &Node, bystander: &mut RawConn) {
    assert_eq!(bystander.cmd(&["PING"]), Reply::Simple("PONG".into()));
    assert_eq!(
        bystander.cmd(&["SET", "after", "abuse"]),
        Reply::Simple("OK".into())
    );
    let mut fresh = RawConn::connect(node.addr());
    assert_eq!(
        fresh.cmd(&["GET", "after"]),
        Reply::Bulk(Some(b"abuse".to_vec()))
    );
}

/// Frames that are not valid RESP get `-ERR Protocol error: ...` and the connection is closed;
/// other clients are unaffected.
#[test]
fn malformed_resp_gets_protocol_error_and_close() {
    let node = Node::start_single();
    let mut bystander = RawConn::connect(node.addr());
    assert_eq!(bystander.cmd(&["PING"]), Reply::Simple("PONG".into()));

    let cases: [&[u8]; 4] = [
        b"*x\r\n",                     // array length not a number
        b"*1\r\n+foo\r\n",             // array element not a bulk string
        b"*2\r\n$3\r\nGET\r\n$1x\r\n", // bulk length not a number
        b"*1\r\n$-5\r\n",              // negative bulk length
    ];
    for bytes in cases {
        assert_protocol_error_closes(&node, bytes);
    }
    // A valid command before the garbage in the same write is still answered first.
    let mut conn = RawConn::connect(node.addr());
    let mut bytes = encode(&[b"PING"]);
    bytes.extend_from_slice(b"*x\r\n");
    conn.send(&bytes);
    assert_eq!(conn.read_reply(), Reply::Simple("PONG".into()));
    assert!(conn.read_line().starts_with("-ERR Protocol error"));
    conn.expect_closed(CLOSE_TIMEOUT);

    assert_still_serving(&node, &mut bystander);
}

/// Declared lengths beyond the limits (bulk: 512 MiB by default, and absurd ones) are refused at
/// the header — error and close without waiting for the payload — and the server's memory does
/// not jump: neither resident memory nor the peak virtual size (an untouched allocation shows
/// there) grows by anything near the declared size.
#[test]
fn oversized_lengths_are_refused_before_allocating() {
    let node = Node::start_single();
    let mut bystander = RawConn::connect(node.addr());
    assert_eq!(bystander.cmd(&["PING"]), Reply::Simple("PONG".into()));
    let before = node.memory();

    let cases: [&[u8]; 4] = [
        b"*1\r\n$999999999999\r\n",            // ~931 GiB bulk
        b"*1\r\n$536870913\r\n",               // 512 MiB + 1: just over the default bulk limit
        b"*9223372036854775807\r\n",           // i64::MAX elements
        b"*2\r\n$3\r\nSET\r\n$4294967297\r\n", // 4 GiB + 1 bulk as a second element
    ];
    for bytes in cases {
        assert_protocol_error_closes(&node, bytes);
    }

    let mut node = node;
    assert!(node.is_running(), "tanli-server died on oversized lengths");
    let after = node.memory();
    let grew = |f: fn(&Memory) -> u64| f(&after).saturating_sub(f(&before)) / 1024;
    println!("memory before {before:?}, after {after:?}");
    assert!(
        grew(|m| m.peak_rss_kib) < 64,
        "peak RSS grew by {} MiB",
        grew(|m| m.peak_rss_kib)
    );
    assert!(
        grew(|m| m.peak_virtual_kib) < 512,
        "peak virtual size grew by {} MiB: a buffer of the declared size was allocated",
        grew(|m| m.peak_virtual_kib)
    );
    assert_still_serving(&node, &mut bystander);
}

/// Wrong arity gets Redis's exact text (command name lower-cased, as Redis prints it) and the
/// connection stays usable.
#[test]
fn wrong_arity_has_redis_text() {
    let node = Node::start_single();
    let mut conn = RawConn::connect(node.addr());
    for (args, name) in [
        (&["GET"][..], "get"),
        (&["GeT"][..], "get"),
        (&["SET", "k"][..], "set"),
        (&["INCR", "a", "b"][..], "incr"),
        (&["MSET", "a", "1", "b"][..], "mset"),
        (&["EXPIRE", "k"][..], "expire"),
        (&["GETRANGE", "k", "0"][..], "getrange"),
        (&["DEL"][..], "del"),
    ] {
        assert_eq!(
            conn.cmd(args),
            Reply::Error(format!(
                "ERR wrong number of arguments for '{name}' command"
            )),
            "{args:?}"
        );
    }
    assert_eq!(conn.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

/// Unknown commands get Redis's exact text, quoting the name as sent and the first arguments,
/// and the connection stays usable.
#[test]
fn unknown_command_has_redis_text() {
    let node = Node::start_single();
    let mut conn = RawConn::connect(node.addr());
    assert_eq!(
        conn.cmd(&["FOO", "bar", "baz"]),
        Reply::Error("ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' ".into())
    );
    assert_eq!(
        conn.cmd(&["FOO"]),
        Reply::Error("ERR unknown command 'FOO', with args beginning with: ".into())
    );
    assert_eq!(
        conn.cmd(&["BLPOP", "list", "0"]),
        Reply::Error("ERR unknown command 'BLPOP', with args beginning with: 'list' '0' ".into())
    );
    assert_eq!(conn.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

/// Bad arguments get Redis's error texts without closing the connection.
#[test]
fn bad_arguments_have_redis_text() {
    let node = Node::start_single();
    let mut conn = RawConn::connect(node.addr());
    let err = |text: &str| Reply::Error(text.to_owned());
    assert_eq!(
        conn.cmd(&["SET", "k", "v", "EX", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        conn.cmd(&["SET", "k", "v", "EX", "0"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        conn.cmd(&["SET", "k", "v", "PX", "-5"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        conn.cmd(&["SET", "k", "v", "BOGUS"]),
        err("ERR syntax error")
    );
    assert_eq!(
        conn.cmd(&["SET", "k", "v", "EX", "10", "PX", "10"]),
        err("ERR syntax error")
    );
    assert_eq!(
        conn.cmd(&["EXPIRE", "k", "soon"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        conn.cmd(&["GETRANGE", "k", "a", "1"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(conn.cmd(&["SCAN", "notacursor"]), err("ERR invalid cursor"));
    assert_eq!(conn.cmd(&["SELECT", "0"]), Reply::Simple("OK".into()));
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::Bulk(None));
}

/// A command split into one-byte writes, and a large pipeline in one write, are both answered
/// correctly and in order (pipelined writes are proposed concurrently; replies must not reorder).
#[test]
fn split_frames_and_pipelines_answer_in_order() {
    let node = Node::start_single();
    let mut conn = RawConn::connect(node.addr());
    for byte in encode(&[b"SET", b"split", b"value"]) {
        conn.send(&[byte]);
    }
    assert_eq!(conn.read_reply(), Reply::Simple("OK".into()));

    let mut bytes = Vec::new();
    for i in 0..500 {
        let key = format!("p:{}", i % 7);
        bytes.extend(encode(&[b"INCR", key.as_bytes()]));
        bytes.extend(encode(&[b"GET", key.as_bytes()]));
    }
    conn.send(&bytes);
    let mut counters = [0i64; 7];
    for i in 0..500 {
        counters[i % 7] += 1;
        let want = counters[i % 7];
        assert_eq!(conn.read_reply(), Reply::Integer(want), "INCR #{i}");
        assert_eq!(
            conn.read_reply(),
            Reply::Bulk(Some(want.to_string().into_bytes())),
            "GET after INCR #{i}"
        );
    }
}

/// QUIT answers +OK and closes; RESET answers +RESET and keeps the connection.
#[test]
fn quit_and_reset() {
    let node = Node::start_single();
    let mut conn = RawConn::connect(node.addr());
    assert_eq!(conn.cmd(&["RESET"]), Reply::Simple("RESET".into()));
    assert_eq!(conn.cmd(&["PING"]), Reply::Simple("PONG".into()));
    assert_eq!(conn.cmd(&["QUIT"]), Reply::Simple("OK".into()));
    conn.expect_closed(CLOSE_TIMEOUT);
}

/// Sends `bytes` on a new connection: the answer is `-ERR Protocol error ...` and the server
/// closes the connection.
fn assert_protocol_error_closes(node: &Node, bytes: &[u8]) {
    let mut conn = RawConn::connect(node.addr());
    conn.send(bytes);
    let line = conn.read_line();
    assert!(
        line.starts_with("-ERR Protocol error"),
        "{:?} answered {line:?}",
        String::from_utf8_lossy(bytes)
    );
    conn.expect_closed(CLOSE_TIMEOUT);
}
