//! Property tests of the request front end, run with the normal test suite: `frame`'s
//! `RequestDecoder`, then `cmd::parse`, then the encoding of any error reply. A short,
//! deterministic-budget companion to the coverage-guided fuzz target in `node/fuzz/` (which
//! runs the same path for millions of inputs; see its README).
//!
//! Inputs: arbitrary bytes; well-formed pipelines (RESP arrays whose command names come from
//! the real command table, and inline lines); well-formed requests with one mutation
//! (truncation, a flipped byte, a rewritten length); random read boundaries. Properties: nothing
//! panics; a well-formed pipeline decodes to exactly its arguments wherever the reads split it;
//! lengths over the limits are refused on their header, before any body is buffered; `parse`
//! answers `Ok` or an error reply that encodes as one `-...\r\n` line in RESP2 and RESP3.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

use crate::cmd::{self, table::table};
use crate::frame::{RequestDecoder, RequestLimits};
use crate::reply::Reply;

/// Small enough that generated inputs cross every limit.
const LIMITS: RequestLimits = RequestLimits {
    bulk_bytes_max: 64,
    array_len_max: 8,
    inline_bytes_max: 64,
    request_bytes_max: 256,
};

/// While waiting, the decoder may hold one partial request: its bytes up to the request limit,
/// plus one header line (`$` and at most 32 bytes) it has not judged yet.
const HELD_MAX: usize = 256 + 34;

#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<Vec<Bytes>>,
    error: Option<String>,
}

/// Decodes `input` delivered in reads that end at `cuts`, as `FramedRead` would: every request
/// the buffer holds after each read, stopping at the first error (the connection closes there).
fn decode_in_reads(input: &[u8], cuts: &[usize]) -> Outcome {
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    ends.push(input.len());
    ends.sort_unstable();
    let mut decoder = RequestDecoder::new(LIMITS);
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut start = 0;
    for end in ends {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(args)) => requests.push(args),
                Ok(None) => {
                    assert!(buf.len() <= HELD_MAX, "waiting on {} bytes", buf.len());
                    break;
                }
                Err(e) => {
                    assert_error_line(&Reply::Error(format!("ERR {e}")));
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

/// An error reply is one line in both protocols: `-`, text without CR or LF, `\r\n`.
fn assert_error_line(reply: &Reply) {
    assert!(reply.is_error(), "not an error reply: {reply:?}");
    for resp3 in [false, true] {
        let mut out = BytesMut::new();
        reply.encode(resp3, &mut out);
        assert_eq!(out.first(), Some(&b'-'));
        let text = out
            .strip_suffix(b"\r\n")
            .expect("an error line ends in CRLF");
        assert!(!text.iter().any(|&c| c == b'\r' || c == b'\n'));
    }
}

fn assert_parses_or_refuses(args: &[Bytes]) {
    if let Err(reply) = cmd::parse(args) {
        assert_error_line(&reply);
    }
}

fn resp(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Every command name in the table; a subcommand as its two words (`CLIENT`, `SETNAME`).
fn command_names() -> Vec<Vec<Vec<u8>>> {
    table()
        .iter()
        .copied()
        .flat_map(|s| std::iter::once(s).chain(s.subcommands.iter()))
        .map(|s| s.name.split('|').map(|w| w.as_bytes().to_vec()).collect())
        .collect()
}

/// Words that reach past the name and arity checks into the family parsers.
const WORDS: &[&str] = &[
    "NX", "XX", "GT", "LT", "GET", "EX", "PX", "EXAT", "PXAT", "KEEPTTL", "PERSIST", "MATCH",
    "COUNT", "TYPE", "FILTERBY", "PATTERN", "ACLCAT", "AUTH", "SETNAME", "JSON", "MOVE", "0", "1",
    "-1", "3", "1.5", "inf", "nan", "*", "k", "{t}k",
];

fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(WORDS).prop_map(|w| w.as_bytes().to_vec()),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..16),
    ]
}

/// A command line: a real name in random case, then up to five arguments. Within `LIMITS`.
fn command_line() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        prop::sample::select(command_names()),
        any::<bool>(),
        prop::collection::vec(arg(), 0..5),
    )
        .prop_map(|(name, upper, rest)| {
            let name = name
                .into_iter()
                .map(|w| if upper { w.to_ascii_uppercase() } else { w });
            name.chain(rest).collect()
        })
}

/// A pipeline of RESP arrays and inline lines, with the arguments each must decode to.
fn pipeline() -> impl Strategy<Value = (Vec<u8>, Vec<Vec<Vec<u8>>>)> {
    let inline_word = "[a-zA-Z0-9:{}._-]{1,10}".prop_map(String::into_bytes);
    let inline = prop::collection::vec(inline_word, 1..6);
    let request = prop_oneof![
        3 => command_line().prop_map(|a| (resp(&a), a)),
        1 => inline.prop_map(|a| {
            let mut line = a.join(&b' ');
            line.extend_from_slice(b"\r\n");
            (line, a)
        }),
    ];
    prop::collection::vec(request, 1..5).prop_map(|reqs| {
        let bytes = reqs.iter().flat_map(|(b, _)| b.clone()).collect();
        (bytes, reqs.into_iter().map(|(_, a)| a).collect())
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    /// Replaces the digits of the `n`th length header with `value`.
    Length(usize, i64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), any::<i64>()).prop_map(|(n, v)| Mutation::Length(n, v)),
    ]
}

fn mutate(mut req: Vec<u8>, m: &Mutation) -> Vec<u8> {
    match *m {
        Mutation::Truncate(i) => req.truncate(i % req.len()),
        Mutation::Flip(i, x) => {
            let i = i % req.len();
            req[i] ^= x;
        }
        Mutation::Length(n, v) => {
            let headers: Vec<usize> = (0..req.len())
                .filter(|&i| (req[i] == b'*' || req[i] == b'$') && (i == 0 || req[i - 1] == b'\n'))
                .collect();
            let at = headers[n % headers.len()] + 1;
            let digits = req[at..].iter().take_while(|c| **c != b'\r').count();
            req.splice(at..at + digits, v.to_string().into_bytes());
        }
    }
    req
}

fn as_bytes(args: &[Vec<u8>]) -> Vec<Bytes> {
    args.iter().map(|a| Bytes::copy_from_slice(a)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(
        input in prop::collection::vec(any::<u8>(), 0..400),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let whole = decode_in_reads(&input, &[]);
        prop_assert_eq!(&decode_in_reads(&input, &cuts), &whole);
        whole.requests.iter().for_each(|r| assert_parses_or_refuses(r));
    }

    #[test]
    fn a_pipeline_decodes_to_its_arguments_wherever_it_is_split(
        (input, expected) in pipeline(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let got = decode_in_reads(&input, &cuts);
        prop_assert_eq!(got.error, None);
        let expected: Vec<Vec<Bytes>> = expected.iter().map(|a| as_bytes(a)).collect();
        prop_assert_eq!(&got.requests, &expected);
        got.requests.iter().for_each(|r| assert_parses_or_refuses(r));
    }

    #[test]
    fn a_mutated_request_never_panics(
        args in command_line(),
        m in mutation(),
        cuts in prop::collection::vec(any::<usize>(), 0..3),
    ) {
        let input = mutate(resp(&args), &m);
        let whole = decode_in_reads(&input, &[]);
        prop_assert_eq!(&decode_in_reads(&input, &cuts), &whole);
        if let Mutation::Truncate(_) = m {
            // A strict prefix of a request is only ever incomplete.
            prop_assert_eq!(whole, Outcome { requests: Vec::new(), error: None });
        } else {
            whole.requests.iter().for_each(|r| assert_parses_or_refuses(r));
        }
    }

    #[test]
    fn lengths_over_the_limits_are_refused_on_their_header(
        count in 9..=i64::MAX,
        bulk in 65..=i64::MAX,
        args in 1..=8usize,
    ) {
        let refused = |input: Vec<u8>| {
            let mut buf = BytesMut::from(&input[..]);
            RequestDecoder::new(LIMITS).decode(&mut buf).is_err()
        };
        let long_array = format!("*{count}\r\n").into_bytes();
        let long_bulk = format!("*1\r\n${bulk}\r\n").into_bytes();
        prop_assert!(refused(long_array));
        prop_assert!(refused(long_bulk));
        // Each bulk fits, but together they pass the request limit: refused at the first header
        // that crosses it, with the bodies still unsent.
        let mut input = b"*8\r\n".to_vec();
        for _ in 0..args {
            input.extend_from_slice(b"$60\r\n");
            input.extend_from_slice(&[b'x'; 60]);
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"$60\r\n");
        let crosses = 4 + (args + 1) * 67 > LIMITS.request_bytes_max;
        prop_assert_eq!(refused(input), crosses);
    }

    #[test]
    fn parse_answers_ok_or_an_error_line(
        name in prop_oneof![
            prop::sample::select(command_names()),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..2),
        ],
        rest in prop::collection::vec(arg(), 0..8),
    ) {
        let args: Vec<Vec<u8>> = name.into_iter().chain(rest).collect();
        assert_parses_or_refuses(&as_bytes(&args));
    }
}
