//! A raw TCP connection speaking RESP by hand, for input no well-behaved client sends (malformed
//! frames, huge lengths, commands split across writes) and for checking exact reply bytes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a raw read waits for a reply.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Encodes `args` as a RESP array of bulk strings, as clients send commands.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One RESP2 reply, as read from the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

pub struct RawConn {
    stream: TcpStream,
    /// Bytes received but not yet parsed.
    buf: Vec<u8>,
}

impl RawConn {
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("raw connect to {addr}: {e}"));
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set_read_timeout");
        stream.set_nodelay(true).expect("set_nodelay");
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to tanli-server");
    }

    /// Writes `bytes`, returning the error when the server has closed the connection.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a command (array of bulk strings).
    pub fn send_cmd(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&encode(&args));
    }

    /// Sends a command and reads its reply.
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        self.send_cmd(args);
        self.read_reply()
    }

    /// Reads exactly one reply; panics on timeout, EOF or a malformed reply.
    pub fn read_reply(&mut self) -> Reply {
        loop {
            if let Some((reply, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return reply;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!(
                    "connection closed while waiting for a reply; unparsed bytes: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!(
                    "no complete reply within {READ_TIMEOUT:?} ({e}); received so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Reads the first line the server sends (up to `\r\n`), e.g. an error reply, raw.
    pub fn read_line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return line;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!(
                    "connection closed before a full line; received: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!(
                    "no line within {READ_TIMEOUT:?} ({e}); received so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Waits until the server closes the connection (EOF or reset); panics if it sends more bytes
    /// or keeps the connection open past `timeout`.
    pub fn expect_closed(&mut self, timeout: Duration) {
        assert!(
            self.buf.is_empty(),
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the server kept the connection open for {timeout:?}"
            );
            self.stream
                .set_read_timeout(Some(left))
                .expect("set_read_timeout");
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => panic!(
                    "expected the connection to close, got more bytes: {:?}",
                    String::from_utf8_lossy(&chunk[..n])
                ),
                Err(e)
                    if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) =>
                {
                    return
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(e) => panic!("reading from the connection: {e}"),
            }
        }
    }
}

/// Parses one reply from the front of `buf`: the reply and how many bytes it used, or `None` if
/// `buf` holds only part of one. Panics on bytes that are not a RESP2 reply.
fn parse(buf: &[u8]) -> Option<(Reply, usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..end]).expect("reply header is UTF-8");
    let after = end + 2;
    let int = |s: &str| -> i64 {
        s.parse()
            .unwrap_or_else(|_| panic!("bad number in reply header {s:?}"))
    };
    match buf.first()? {
        b'+' => Some((Reply::Simple(line.to_owned()), after)),
        b'-' => Some((Reply::Error(line.to_owned()), after)),
        b':' => Some((Reply::Integer(int(line)), after)),
        b'$' => {
            let len = int(line);
            if len < 0 {
                return Some((Reply::Bulk(None), after));
            }
            let len = usize::try_from(len).expect("bulk length");
            if buf.len() < after + len + 2 {
                return None;
            }
            assert_eq!(
                &buf[after + len..after + len + 2],
                b"\r\n",
                "bulk not CRLF-ended"
            );
            Some((
                Reply::Bulk(Some(buf[after..after + len].to_vec())),
                after + len + 2,
            ))
        }
        b'*' => {
            let len = int(line);
            if len < 0 {
                return Some((Reply::Array(None), after));
            }
            let mut items = Vec::new();
            let mut used = after;
            for _ in 0..len {
                let (item, n) = parse(&buf[used..])?;
                items.push(item);
                used += n;
            }
            Some((Reply::Array(Some(items)), used))
        }
        other => panic!(
            "not a RESP2 reply (type byte {:?}): {:?}",
            char::from(*other),
            String::from_utf8_lossy(buf)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies_and_waits_for_partial_ones() {
        assert_eq!(parse(b"+OK\r\n"), Some((Reply::Simple("OK".into()), 5)));
        assert_eq!(parse(b"$3\r\nab"), None);
        assert_eq!(
            parse(b"*2\r\n$1\r\na\r\n$-1\r\n:7\r\n"),
            Some((
                Reply::Array(Some(vec![
                    Reply::Bulk(Some(b"a".to_vec())),
                    Reply::Bulk(None)
                ])),
                16
            ))
        );
        assert_eq!(encode(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
}
