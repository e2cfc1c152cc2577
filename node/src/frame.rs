//! Reading client requests off the socket, with limits checked before anything is allocated.
//!
//! A request is a RESP array of bulk strings (what every Redis client sends) or an inline command
//! line (telnet, `redis-cli` piping). Declared lengths are checked against the configured bounds
//! as soon as their header line arrives — a `$999999999999` is refused without buffering a byte
//! of it — and only a complete, validated array is handed to the `redis-protocol` decoder.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::types::BytesFrame;
use tokio_util::codec::Decoder;

/// A header line (`*N` or `$N`) longer than this is malformed.
const HEADER_LINE_MAX: usize = 32;

#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub bulk_bytes_max: usize,
    pub array_len_max: usize,
    pub inline_bytes_max: usize,
    /// Most bytes one request may declare in total (Redis's client-query-buffer-limit).
    pub request_bytes_max: usize,
}

/// A protocol violation; the text follows Redis's (`Protocol error: ...`). The connection
/// answers it with `-ERR` and closes.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("Protocol error: {0}")]
    Invalid(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

fn invalid(msg: impl Into<String>) -> ProtocolError {
    ProtocolError::Invalid(msg.into())
}

pub struct RequestDecoder {
    limits: RequestLimits,
    /// Where the bytes buffered but not yet decoded are published (a client's `qbuf`).
    buffered: Option<Arc<AtomicUsize>>,
    /// How far the incomplete request at the start of the buffer has been checked, so a request
    /// arriving in many small pieces is scanned once in all rather than once per piece (which
    /// would cost CPU growing with the square of its size).
    scanned: Scanned,
}

/// Progress through the incomplete request at the start of the buffer.
#[derive(Debug, Clone, Copy, Default)]
enum Scanned {
    #[default]
    Nothing,
    /// An array: the offset where its next element starts, and how many elements precede it.
    Array { pos: usize, done: i64 },
    /// An inline line: bytes already known to hold no newline.
    Inline(usize),
}

impl RequestDecoder {
    pub fn new(limits: RequestLimits) -> RequestDecoder {
        RequestDecoder {
            limits,
            buffered: None,
            scanned: Scanned::Nothing,
        }
    }

    /// Publishes the size of the undecoded input into `buffered` after every decode, so
    /// admission control sees a large request while it is still arriving.
    pub fn counting_into(mut self, buffered: Arc<AtomicUsize>) -> RequestDecoder {
        self.buffered = Some(buffered);
        self
    }
}

/// Finds `\r\n` at or after `from`; `Ok(None)` while incomplete, an error when the line is
/// already longer than a header may be.
fn header_line(buf: &[u8], from: usize, what: &str) -> Result<Option<(i64, usize)>, ProtocolError> {
    let window = &buf[from..buf.len().min(from + HEADER_LINE_MAX)];
    match window.iter().position(|&b| b == b'\r') {
        None if window.len() >= HEADER_LINE_MAX => Err(invalid(format!("invalid {what} length"))),
        None => Ok(None),
        Some(i) if from + i + 1 >= buf.len() => Ok(None),
        Some(i) => {
            if buf[from + i + 1] != b'\n' {
                return Err(invalid(format!("invalid {what} length")));
            }
            let n =
                parse_len(&window[..i]).ok_or_else(|| invalid(format!("invalid {what} length")))?;
            Ok(Some((n, from + i + 2)))
        }
    }
}

/// A header's decimal length, as `i64::from_str` reads it (an optional sign, then at least one
/// digit); `None` for anything else or on overflow.
fn parse_len(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        n = n.checked_mul(10)?;
        n = if negative {
            n.checked_sub(d)?
        } else {
            n.checked_add(d)?
        };
    }
    Some(n)
}

impl RequestDecoder {
    /// The length of the complete array at the start of `buf`, `Ok(None)` while incomplete
    /// (remembering how far it got, to resume there when more bytes arrive).
    fn scan_array(&mut self, buf: &[u8]) -> Result<Option<(usize, i64)>, ProtocolError> {
        let found = self.scan_array_from(buf);
        if !matches!(found, Ok(None)) {
            self.scanned = Scanned::Nothing;
        }
        found
    }

    fn scan_array_from(&mut self, buf: &[u8]) -> Result<Option<(usize, i64)>, ProtocolError> {
        let Some((count, header_end)) = header_line(buf, 1, "multibulk")? else {
            return Ok(None);
        };
        if count > self.limits.array_len_max as i64 {
            return Err(invalid("invalid multibulk length"));
        }
        let (mut pos, done) = match self.scanned {
            Scanned::Array { pos, done } => (pos, done),
            _ => (header_end, 0),
        };
        for i in done..count.max(0) {
            // Elements before `i` are complete and checked.
            self.scanned = Scanned::Array { pos, done: i };
            let Some(&tag) = buf.get(pos) else {
                return Ok(None);
            };
            if tag != b'$' {
                return Err(invalid(format!("expected '$', got '{}'", tag as char)));
            }
            let Some((len, body)) = header_line(buf, pos + 1, "bulk")? else {
                return Ok(None);
            };
            if len < 0 || len > self.limits.bulk_bytes_max as i64 {
                return Err(invalid("invalid bulk length"));
            }
            pos = body + len as usize + 2;
            if pos > self.limits.request_bytes_max {
                return Err(invalid("request exceeds the query buffer limit"));
            }
            if pos > buf.len() {
                return Ok(None);
            }
            if &buf[pos - 2..pos] != b"\r\n" {
                return Err(invalid("expected CRLF after bulk string"));
            }
        }
        Ok(Some((pos, count)))
    }

    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let from = match self.scanned {
            Scanned::Inline(n) => n.min(buf.len()),
            _ => 0,
        };
        let Some(nl) = buf[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| from + i)
        else {
            if buf.len() > self.limits.inline_bytes_max {
                return Err(invalid("too big inline request"));
            }
            self.scanned = Scanned::Inline(buf.len());
            return Ok(None);
        };
        self.scanned = Scanned::Nothing;
        if nl > self.limits.inline_bytes_max {
            return Err(invalid("too big inline request"));
        }
        let line = buf.split_to(nl + 1).freeze();
        let text = line.slice(..line.len() - 1);
        let text = text
            .strip_suffix(b"\r")
            .map(|t| text.slice_ref(t))
            .unwrap_or(text);
        let mut args = Vec::new();
        let mut start = None;
        for (i, &b) in text.iter().enumerate() {
            match (b == b' ' || b == b'\t', start) {
                (true, Some(s)) => {
                    args.push(text.slice(s..i));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            args.push(text.slice(s..));
        }
        if args.iter().any(|a| a.contains(&b'"') || a.contains(&b'\'')) {
            return Err(invalid(
                "quoted inline requests are not supported; use RESP",
            ));
        }
        Ok(Some(args))
    }
}

impl Decoder for RequestDecoder {
    type Item = Vec<Bytes>;
    type Error = ProtocolError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let decoded = self.decode_one(buf);
        if let Some(b) = &self.buffered {
            b.store(buf.len(), Ordering::Relaxed);
        }
        decoded
    }
}

impl RequestDecoder {
    fn decode_one(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            let args = if first == b'*' {
                let Some((len, count)) = self.scan_array(buf)? else {
                    return Ok(None);
                };
                if count <= 0 {
                    let _ = buf.split_to(len);
                    continue;
                }
                let (frame, _, _) = decode_bytes_mut(buf)
                    .map_err(|e| invalid(e.details().to_string()))?
                    .ok_or_else(|| invalid("incomplete request after validation"))?;
                match frame {
                    BytesFrame::Array(items) => items
                        .into_iter()
                        .map(|f| match f {
                            BytesFrame::BulkString(b) => Ok(b),
                            _ => Err(invalid("expected bulk strings")),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    _ => return Err(invalid("expected an array")),
                }
            } else {
                match self.inline(buf)? {
                    Some(a) => a,
                    None => return Ok(None),
                }
            };
            if !args.is_empty() {
                return Ok(Some(args));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std_parse(t: &[u8]) -> Option<i64> {
        std::str::from_utf8(t).ok()?.parse::<i64>().ok()
    }

    /// The header parser reads exactly what `i64::from_str` reads.
    #[test]
    fn lengths_parse_as_from_str_does() {
        let cases: [&[u8]; 16] = [
            b"0",
            b"3",
            b"-1",
            b"+5",
            b"",
            b"-",
            b"+",
            b"1a",
            b" 1",
            b"--1",
            b"007",
            b"9223372036854775807",
            b"9223372036854775808",
            b"-9223372036854775808",
            b"-9223372036854775809",
            b"\xff1",
        ];
        for t in cases {
            assert_eq!(
                parse_len(t),
                std_parse(t),
                "{:?}",
                String::from_utf8_lossy(t)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_header_parses_as_from_str_does(t in proptest::collection::vec(
            proptest::prop_oneof![proptest::num::u8::ANY, b'0'..=b'9', proptest::strategy::Just(b'-')],
            0..22,
        )) {
            proptest::prop_assert_eq!(parse_len(&t), std_parse(&t));
        }
    }

    fn dec() -> RequestDecoder {
        RequestDecoder::new(RequestLimits {
            bulk_bytes_max: 16,
            array_len_max: 4,
            inline_bytes_max: 32,
            request_bytes_max: 48,
        })
    }

    fn run(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut d = dec();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(c) = d.decode(&mut buf)? {
            out.push(c);
        }
        Ok(out)
    }

    #[test]
    fn arrays_inline_and_pipelines() {
        let got = run(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*0\r\n  \r\n*1\r\n$4\r\nPING\r\n")
            .expect("decode");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(got[1], vec![Bytes::from("PING")]);
        assert_eq!(got[2], vec![Bytes::from("PING")]);
    }

    #[test]
    fn partial_input_waits() {
        let mut d = dec();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGE"[..]);
        assert!(d.decode(&mut buf).expect("ok").is_none());
        buf.extend_from_slice(b"T\r\n$1\r\nk\r\n");
        assert_eq!(d.decode(&mut buf).expect("ok").map(|v| v.len()), Some(2));
    }

    /// A request arriving a byte at a time decodes to the same arguments (the scan resumes
    /// where it stopped), inline lines too, and the next request starts afresh.
    #[test]
    fn requests_arriving_byte_by_byte_resume_their_scan() {
        let mut d = RequestDecoder::new(RequestLimits {
            bulk_bytes_max: 1 << 10,
            array_len_max: 1 << 10,
            inline_bytes_max: 1 << 10,
            request_bytes_max: 1 << 20,
        });
        let args: Vec<String> = (0..300).map(|i| format!("arg{i}")).collect();
        let mut wire = format!("*{}\r\n", args.len() + 1).into_bytes();
        wire.extend_from_slice(b"$4\r\nMSET\r\n");
        for a in &args {
            wire.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        wire.extend_from_slice(b"SET k v\r\n*1\r\n$4\r\nPING\r\n");
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in &wire {
            buf.extend_from_slice(&[b]);
            while let Some(req) = d.decode(&mut buf).expect("valid input") {
                got.push(req);
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].len(), 301);
        assert_eq!(got[0][300], Bytes::from("arg299"));
        assert_eq!(
            got[1],
            vec![Bytes::from("SET"), Bytes::from("k"), Bytes::from("v")]
        );
        assert_eq!(got[2], vec![Bytes::from("PING")]);
        assert!(buf.is_empty());
    }

    #[test]
    fn limits_are_checked_on_the_header() {
        let err = |b: &[u8]| run(b).expect_err("must fail").to_string();
        assert_eq!(
            err(b"*1\r\n$999999999999\r\n"),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(err(b"*5\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(err(b"*x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*1\r\n+OK\r\n"),
            "Protocol error: expected '$', got '+'"
        );
        assert_eq!(err(b"*1\r\n$-5\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(err(&[b'*'; 40]), "Protocol error: invalid multibulk length");
        assert_eq!(err(&[b'a'; 40]), "Protocol error: too big inline request");
        assert_eq!(
            err(b"*1\r\n$2\r\nabcd\r\n"),
            "Protocol error: expected CRLF after bulk string"
        );
    }
}
