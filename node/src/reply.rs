//! The `Reply` a command produces, its RESP2/RESP3 wire encoding, and its versioned binary form.
//!
//! Every command answers with a [`Reply`]; the connection encodes it for the protocol version the
//! client negotiated (`HELLO`). The shapes follow Redis exactly: a RESP2 map is a flat array, a
//! RESP2 double is a bulk string, RESP3 nulls are `_`. Write replies are produced inside the state
//! machine and carried back to the proposer through Raft, so a `Reply` also has a compact binary
//! form ([`Reply::to_bytes`]) with a leading version byte.
//!
//! The encoder is written by hand rather than through `redis-protocol`'s frame types: those keep
//! maps in a hash map (losing Redis's field order) and print doubles with Rust's formatting
//! rather than Redis's, and both are visible on the wire.

use bytes::{BufMut, BytesMut};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The version byte in front of every binary payload this crate writes (replies, Raft commands).
pub const CODEC_VERSION: u8 = 1;

/// One reply, as Redis would send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Simple(String),
    /// The full error text without the leading `-`, e.g. `"ERR syntax error"`.
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// The null bulk string (`$-1` in RESP2).
    Nil,
    /// The null array (`*-1` in RESP2).
    NilArray,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(f64),
    Bool(bool),
    /// RESP3 verbatim text (`=`, format `txt`); a bulk string in RESP2.
    Verbatim(String),
    /// A double as Redis 7.0's `addReplyDouble` sends it (sorted-set scores): printed with
    /// `%.17g` ([`format_score`]), a bulk string in RESP2 and a double in RESP3.
    Score(f64),
    /// Two-element entries such as (member, score): one flat array in RESP2, an array of
    /// two-element arrays in RESP3 (`ZRANGE ... WITHSCORES`, `ZPOPMIN key count`).
    Pairs(Vec<(Reply, Reply)>),
}

/// A binary payload (a reply or a Raft command) that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty payload")]
    Empty,
    #[error("unsupported encoding version {0}")]
    Version(u8),
    #[error("malformed payload: {0}")]
    Malformed(String),
    #[error("{0} trailing bytes after payload")]
    Trailing(usize),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_string())
    }

    /// An error with the generic `ERR` code.
    pub fn err(msg: impl AsRef<str>) -> Reply {
        Reply::Error(format!("ERR {}", msg.as_ref()))
    }

    pub fn bulk(data: impl Into<Vec<u8>>) -> Reply {
        Reply::Bulk(data.into())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the wire form of this reply for RESP3 (`resp3`) or RESP2.
    pub fn encode(&self, resp3: bool, out: &mut BytesMut) {
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) => line(out, b'-', s.as_bytes()),
            Reply::Int(n) => header(out, b':', *n),
            Reply::Bulk(data) => bulk(out, data),
            Reply::Nil if resp3 => out.put_slice(b"_\r\n"),
            Reply::Nil => out.put_slice(b"$-1\r\n"),
            Reply::NilArray if resp3 => out.put_slice(b"_\r\n"),
            Reply::NilArray => out.put_slice(b"*-1\r\n"),
            Reply::Array(items) => {
                header(out, b'*', len_i64(items.len()));
                items.iter().for_each(|r| r.encode(resp3, out));
            }
            Reply::Set(items) => {
                header(out, if resp3 { b'~' } else { b'*' }, len_i64(items.len()));
                items.iter().for_each(|r| r.encode(resp3, out));
            }
            Reply::Map(pairs) => {
                if resp3 {
                    header(out, b'%', len_i64(pairs.len()));
                } else {
                    header(out, b'*', len_i64(pairs.len()).saturating_mul(2));
                }
                for (k, v) in pairs {
                    k.encode(resp3, out);
                    v.encode(resp3, out);
                }
            }
            Reply::Double(d) => {
                let text = format_double(*d);
                if resp3 {
                    out.put_u8(b',');
                    out.put_slice(text.as_bytes());
                    out.put_slice(b"\r\n");
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::Bool(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Reply::Bool(b) => header(out, b':', i64::from(*b)),
            Reply::Verbatim(text) if resp3 => {
                header(out, b'=', len_i64(text.len()).saturating_add(4));
                out.put_slice(b"txt:");
                out.put_slice(text.as_bytes());
                out.put_slice(b"\r\n");
            }
            Reply::Verbatim(text) => bulk(out, text.as_bytes()),
            Reply::Score(d) if resp3 => line(out, b',', format_score(*d).as_bytes()),
            Reply::Score(d) => bulk(out, format_score(*d).as_bytes()),
            Reply::Pairs(pairs) => {
                let n = len_i64(pairs.len());
                header(out, b'*', if resp3 { n } else { n.saturating_mul(2) });
                for (a, b) in pairs {
                    if resp3 {
                        header(out, b'*', 2);
                    }
                    a.encode(resp3, out);
                    b.encode(resp3, out);
                }
            }
        }
    }

    /// The binary form carried through Raft: version byte, then postcard.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_versioned(self)
    }

    pub fn from_bytes(b: &[u8]) -> Result<Reply, DecodeError> {
        decode_versioned(b)
    }
}

/// Version byte followed by the postcard encoding of `value`.
pub(crate) fn encode_versioned<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing owned, in-memory enums into a Vec has no failure mode (no I/O, no maps of
    // unknown length); a failure here is a bug, not bad input.
    postcard::to_extend(value, vec![CODEC_VERSION])
        .expect("postcard encoding into a Vec cannot fail")
}

/// Inverse of [`encode_versioned`]; rejects unknown versions and trailing bytes.
pub(crate) fn decode_versioned<T: DeserializeOwned>(b: &[u8]) -> Result<T, DecodeError> {
    let (&version, body) = b.split_first().ok_or(DecodeError::Empty)?;
    if version != CODEC_VERSION {
        return Err(DecodeError::Version(version));
    }
    let (value, rest) =
        postcard::take_from_bytes::<T>(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    Ok(value)
}

/// Formats a double the way Redis's `d2string` does (`nan`, `inf`, `-0`, integers without a
/// fraction, otherwise the shortest round-trip digits with `%.17g`-like layout).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    if d.is_infinite() {
        return if d < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Redis prints integral values within +-LLONG_MAX/2 with the integer printer.
    const LL_HALF: f64 = (i64::MAX / 2) as f64;
    if (-LL_HALF..=LL_HALF).contains(&d) && d.fract() == 0.0 {
        return format!("{}", d as i64);
    }
    // `{:e}` yields the shortest digits that round-trip, as `d[.ddd]e<exp>`.
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp10) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp10: i32 = exp10.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if d < 0.0 {
        out.push('-');
    }
    layout_digits(&mut out, &digits, exp10);
    out
}

/// Formats a double as C's `printf("%.17g")` does, which is how Redis 7.0 prints sorted-set
/// scores (`1.1` is `1.1000000000000001`, `inf` and `-inf` are spelled out).
pub fn format_score(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    if d.is_infinite() {
        return if d < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    // 17 significant digits, correctly rounded, as `d.dddddddddddddddde<exp>`.
    let sci = format!("{:.16e}", d.abs());
    let (mantissa, exp10) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp10: i32 = exp10.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if d.is_sign_negative() {
        out.push('-');
    }
    let (int, frac) = match usize::try_from(exp10) {
        Ok(e) if e < 17 => digits.split_at(e + 1),
        _ if (-4..0).contains(&exp10) => ("0", digits.as_str()),
        _ => digits.split_at(1),
    };
    out.push_str(int);
    let lead = if (-4..0).contains(&exp10) {
        -exp10 - 1
    } else {
        0
    };
    let frac = frac.trim_end_matches('0');
    if !frac.is_empty() {
        out.push('.');
        (0..lead).for_each(|_| out.push('0'));
        out.push_str(frac);
    }
    if !(-4..17).contains(&exp10) {
        let sign = if exp10 < 0 { '-' } else { '+' };
        out.push_str(&format!("e{sign}{:02}", exp10.abs()));
    }
    out
}

/// Lays out `0.d1d2d3... * 10^(exp10+1)` as fpconv does: plain integer, plain decimal, or
/// scientific with an unpadded exponent.
fn layout_digits(out: &mut String, digits: &str, exp10: i32) {
    let ndigits = digits.len() as i32;
    let k = exp10 - (ndigits - 1); // value = digits * 10^k
    let exp = exp10.abs();
    if k >= 0 && exp < ndigits + 7 {
        out.push_str(digits);
        (0..k).for_each(|_| out.push('0'));
    } else if k < 0 && (k > -7 || exp < 4) {
        let offset = ndigits + k;
        if offset <= 0 {
            out.push_str("0.");
            (0..-offset).for_each(|_| out.push('0'));
            out.push_str(digits);
        } else {
            let (int, frac) = digits.split_at(offset as usize);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp10 < 0 { '-' } else { '+' });
        out.push_str(&exp.to_string());
    }
}

fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn header(out: &mut BytesMut, prefix: u8, n: i64) {
    out.put_u8(prefix);
    out.put_slice(n.to_string().as_bytes());
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, data: &[u8]) {
    header(out, b'$', len_i64(data.len()));
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// A simple string or error line; CR and LF would break the framing, so they become spaces (as
/// Redis does for error texts built from user input).
fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.put_u8(prefix);
    out.extend(
        text.iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
    );
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply, resp3: bool) -> String {
        let mut out = BytesMut::new();
        r.encode(resp3, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn both(r: Reply, resp2: &str, resp3: &str) {
        assert_eq!(wire(&r, false), resp2, "RESP2 of {r:?}");
        assert_eq!(wire(&r, true), resp3, "RESP3 of {r:?}");
    }

    #[test]
    fn scalars_encode_byte_exact() {
        both(Reply::ok(), "+OK\r\n", "+OK\r\n");
        both(
            Reply::err("syntax error"),
            "-ERR syntax error\r\n",
            "-ERR syntax error\r\n",
        );
        both(
            Reply::Error("WRONGTYPE x".into()),
            "-WRONGTYPE x\r\n",
            "-WRONGTYPE x\r\n",
        );
        both(Reply::Int(-42), ":-42\r\n", ":-42\r\n");
        both(
            Reply::Int(i64::MIN),
            ":-9223372036854775808\r\n",
            ":-9223372036854775808\r\n",
        );
        both(Reply::bulk("hi"), "$2\r\nhi\r\n", "$2\r\nhi\r\n");
        both(Reply::bulk(""), "$0\r\n\r\n", "$0\r\n\r\n");
        both(Reply::Nil, "$-1\r\n", "_\r\n");
        both(Reply::NilArray, "*-1\r\n", "_\r\n");
        both(Reply::Bool(true), ":1\r\n", "#t\r\n");
        both(Reply::Bool(false), ":0\r\n", "#f\r\n");
        both(Reply::Double(1.5), "$3\r\n1.5\r\n", ",1.5\r\n");
        both(Reply::Double(f64::INFINITY), "$3\r\ninf\r\n", ",inf\r\n");
        both(
            Reply::Double(f64::NEG_INFINITY),
            "$4\r\n-inf\r\n",
            ",-inf\r\n",
        );
        both(
            Reply::Score(1.1),
            "$18\r\n1.1000000000000001\r\n",
            ",1.1000000000000001\r\n",
        );
        both(
            Reply::Score(f64::NEG_INFINITY),
            "$4\r\n-inf\r\n",
            ",-inf\r\n",
        );
        both(
            Reply::Pairs(vec![(Reply::bulk("m"), Reply::Score(2.0))]),
            "*2\r\n$1\r\nm\r\n$1\r\n2\r\n",
            "*1\r\n*2\r\n$1\r\nm\r\n,2\r\n",
        );
        both(Reply::Pairs(vec![]), "*0\r\n", "*0\r\n");
        both(
            Reply::Verbatim("a=1\n".into()),
            "$4\r\na=1\n\r\n",
            "=8\r\ntxt:a=1\n\r\n",
        );
    }

    #[test]
    fn aggregates_encode_byte_exact() {
        both(
            Reply::Array(vec![Reply::Int(1), Reply::Nil]),
            "*2\r\n:1\r\n$-1\r\n",
            "*2\r\n:1\r\n_\r\n",
        );
        both(Reply::Array(vec![]), "*0\r\n", "*0\r\n");
        both(
            Reply::Set(vec![Reply::Simple("a".into())]),
            "*1\r\n+a\r\n",
            "~1\r\n+a\r\n",
        );
        both(
            Reply::Map(vec![
                (Reply::bulk("k"), Reply::Int(7)),
                (Reply::bulk("z"), Reply::Bool(true)),
            ]),
            "*4\r\n$1\r\nk\r\n:7\r\n$1\r\nz\r\n:1\r\n",
            "%2\r\n$1\r\nk\r\n:7\r\n$1\r\nz\r\n#t\r\n",
        );
        both(Reply::Map(vec![]), "*0\r\n", "%0\r\n");
    }

    #[test]
    fn newlines_in_status_lines_become_spaces() {
        both(
            Reply::err("bad\r\nthing"),
            "-ERR bad  thing\r\n",
            "-ERR bad  thing\r\n",
        );
    }

    #[test]
    fn doubles_format_like_redis_d2string() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "nan"),
            (3.0, "3"),
            (-17.0, "-17"),
            (1e18, "1000000000000000000"),
            (1e19, "1e+19"),
            (5e18, "5e+18"),
            (1.2345678901234567e19, "12345678901234567000"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (0.3333333333333333, "0.3333333333333333"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (1.5e-10, "1.5e-10"),
            (1e300, "1e+300"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123.456, "123.456"),
        ];
        for (d, want) in cases {
            assert_eq!(format_double(*d), *want, "format_double({d:e})");
        }
    }

    #[test]
    fn binary_form_round_trips_and_is_versioned() {
        let r = Reply::Array(vec![
            Reply::Map(vec![(Reply::bulk("a"), Reply::Double(2.25))]),
            Reply::Set(vec![Reply::Nil, Reply::NilArray, Reply::Bool(true)]),
            Reply::Verbatim("x".into()),
            Reply::err("boom"),
        ]);
        let b = r.to_bytes();
        assert_eq!(b[0], CODEC_VERSION);
        assert_eq!(Reply::from_bytes(&b), Ok(r));
        assert_eq!(Reply::from_bytes(&[]), Err(DecodeError::Empty));
        assert_eq!(Reply::from_bytes(&[9, 0]), Err(DecodeError::Version(9)));
        let mut trailing = Reply::Int(1).to_bytes();
        trailing.push(0);
        assert_eq!(Reply::from_bytes(&trailing), Err(DecodeError::Trailing(1)));
        assert!(matches!(
            Reply::from_bytes(&[1, 200]),
            Err(DecodeError::Malformed(_))
        ));
    }
}
