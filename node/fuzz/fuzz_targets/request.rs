//! Fuzz target `request`: a client's bytes through the whole request front end of tanli-node —
//! `frame::RequestDecoder` (RESP arrays, inline commands, limits), `cmd::parse`, and the RESP2 and
//! RESP3 encoding of every error reply (parse errors and the protocol error that closes the
//! connection), as `connection.rs` drives them.
//!
//! Input layout: byte 0 picks where the rest is split into two reads (`byte0 % (len + 1)`); the
//! rest is the byte stream a client sent. Checks, besides "no panic":
//! - the same requests and the same error come out whether the stream arrives in one read or two;
//! - every decoded request is within the limits, and while the decoder waits for more bytes it
//!   holds no more than one request's worth of them (memory stays bounded);
//! - `cmd::parse` answers `Ok` or an error reply whose encoding is one `-...\r\n` line;
//! - a parsed write survives its Raft encoding unchanged; COMMAND replies encode.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tanli_node::cmd::{self, Command, CommandSub, ConnCmd, WriteCmd};
use tanli_node::frame::{RequestDecoder, RequestLimits};
use tanli_node::reply::Reply;
use tokio_util::codec::Decoder;

/// Small limits, so every limit path (array length, bulk length, request size, inline size) is
/// reachable with inputs of a few hundred bytes.
const SMALL: RequestLimits = RequestLimits {
    bulk_bytes_max: 64,
    array_len_max: 8,
    inline_bytes_max: 64,
    request_bytes_max: 160,
};

/// The server's defaults (`config.rs`).
const DEFAULT: RequestLimits = RequestLimits {
    bulk_bytes_max: 512 << 20,
    array_len_max: 1 << 20,
    inline_bytes_max: 64 << 10,
    request_bytes_max: 1 << 30,
};

/// The longest header line the decoder accepts (`*N\r\n` / `$N\r\n`), plus its type byte.
const HEADER_SLACK: usize = 34;

#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<Vec<Bytes>>,
    error: Option<String>,
}

/// Decodes `reads` as successive socket reads, stopping at the first error as the connection does.
fn decode_reads(limits: RequestLimits, reads: &[&[u8]]) -> Outcome {
    let mut decoder = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(args)) => {
                    check_request(&limits, &args);
                    requests.push(args);
                }
                Ok(None) => {
                    let held = limits.request_bytes_max.max(limits.inline_bytes_max) + HEADER_SLACK;
                    assert!(
                        buf.len() <= held,
                        "waiting with {} bytes buffered",
                        buf.len()
                    );
                    break;
                }
                Err(e) => {
                    // What the connection writes before closing.
                    check_error(&Reply::Error(format!("ERR {e}")));
                    return Outcome {
                        requests,
                        error: Some(e.to_string()),
                    };
                }
            }
        }
    }
    Outcome {
        requests,
        error: None,
    }
}

fn check_request(limits: &RequestLimits, args: &[Bytes]) {
    assert!(!args.is_empty(), "empty request handed out");
    let longest = limits.bulk_bytes_max.max(limits.inline_bytes_max);
    assert!(
        args.iter().all(|a| a.len() <= longest),
        "argument over the limit"
    );
    let total: usize = args.iter().map(Bytes::len).sum();
    assert!(total <= limits.request_bytes_max.max(limits.inline_bytes_max));
}

/// An error reply is exactly one line: `-`, text without CR/LF, `\r\n`, in RESP2 and RESP3.
fn check_error(reply: &Reply) {
    assert!(
        reply.is_error(),
        "parse error is not an error reply: {reply:?}"
    );
    for resp3 in [false, true] {
        let mut out = BytesMut::new();
        reply.encode(resp3, &mut out);
        assert_eq!(out.first(), Some(&b'-'));
        assert!(out.ends_with(b"\r\n"));
        let text = &out[..out.len() - 2];
        assert!(
            !text.iter().any(|&c| c == b'\r' || c == b'\n'),
            "CR/LF inside an error line"
        );
    }
}

fn check_parse(args: &[Bytes]) {
    match cmd::parse(args) {
        Err(reply) => check_error(&reply),
        Ok(Command::Write(w)) => {
            let _ = w.keys();
            assert_eq!(WriteCmd::decode(&w.encode()).as_ref(), Ok(&w));
        }
        Ok(Command::Read(r)) => {
            let _ = r.keys();
        }
        Ok(Command::Conn(ConnCmd::Command(sub))) => {
            // Bare COMMAND / COMMAND DOCS describe the whole table: fixed output, and slow.
            let whole = matches!(&sub, CommandSub::Info(n) | CommandSub::Docs(n) if n.is_empty());
            if !whole {
                let mut out = BytesMut::new();
                cmd::command_reply(&sub).encode(true, &mut out);
                assert!(!out.is_empty());
            }
        }
        Ok(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let at = usize::from(split) % (stream.len() + 1);
    for limits in [SMALL, DEFAULT] {
        let whole = decode_reads(limits, &[stream]);
        let split = decode_reads(limits, &[&stream[..at], &stream[at..]]);
        assert_eq!(whole, split, "split at {at} changed the outcome");
        whole.requests.iter().for_each(|args| check_parse(args));
    }
});
