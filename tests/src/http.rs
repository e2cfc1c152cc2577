//! A minimal HTTP/1.1 GET for the admin port (`/metrics`, `/health`), hand-written on a
//! `TcpStream` so the harness depends on no HTTP crate, and a reader of Prometheus text lines.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Connect, read and write timeout of one request.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response read; more is an error (a `/metrics` page is tens of KiB).
const RESPONSE_BYTES_MAX: u64 = 16 << 20;

/// A response: status code and body (the body of a `Connection: close` response, read to EOF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// `GET path` on `addr`; an error (as text) if the exchange fails or the answer is not HTTP.
pub fn get(addr: SocketAddr, path: &str) -> Result<Response, String> {
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(HTTP_TIMEOUT)))
        .map_err(|e| format!("timeouts: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .take(RESPONSE_BYTES_MAX + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    if raw.len() as u64 > RESPONSE_BYTES_MAX {
        return Err(format!(
            "response from {addr} over {RESPONSE_BYTES_MAX} bytes"
        ));
    }
    parse(&String::from_utf8_lossy(&raw))
}

fn parse(text: &str) -> Result<Response, String> {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {text:?}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let content_type = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-type")
            .then(|| value.trim().to_owned())
    });
    Ok(Response {
        status,
        content_type,
        body: body.to_owned(),
    })
}

/// The value of the sample named exactly `series` (name and labels as printed, e.g.
/// `tanli_commands_total{command="set"}`) in a Prometheus/OpenMetrics text page.
pub fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_and_samples_parse() {
        let r = parse("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope\n")
            .expect("a response");
        assert_eq!((r.status, r.body.as_str()), (404, "nope\n"));
        assert_eq!(r.content_type.as_deref(), Some("text/plain"));
        assert!(parse("garbage").is_err());
        let page = "# TYPE a counter\na_total{x=\"1\"} 3\na_total{x=\"10\"} 4\nb 2.5\n";
        assert_eq!(sample(page, "a_total{x=\"1\"}"), Some(3.0));
        assert_eq!(sample(page, "b"), Some(2.5));
        assert_eq!(sample(page, "a_total"), None);
    }
}
