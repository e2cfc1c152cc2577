//! Typed methods for the string and keyspace commands tanli serves, the conditional writes, and
//! the raw [`Client::cmd`] escape hatch.

use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;

use crate::client::{Client, Kind};
use crate::error::{Error, Result};

/// A reply, for [`Client::cmd`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Nil,
    Int(i64),
    Bytes(Bytes),
    Status(String),
    Array(Vec<Value>),
}

impl From<BytesFrame> for Value {
    fn from(f: BytesFrame) -> Value {
        match f {
            BytesFrame::Null => Value::Nil,
            BytesFrame::Integer(i) => Value::Int(i),
            BytesFrame::BulkString(b) => Value::Bytes(b),
            BytesFrame::SimpleString(s) => Value::Status(String::from_utf8_lossy(&s).into_owned()),
            BytesFrame::Error(e) => Value::Status(e.to_string()),
            BytesFrame::Array(items) => Value::Array(items.into_iter().map(Value::from).collect()),
        }
    }
}

fn b(x: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(x.as_ref())
}

fn unexpected<T>(what: &str, f: &BytesFrame) -> Result<T> {
    Err(Error::Client(format!("{what}: unexpected reply {f:?}")))
}

fn opt_bytes(what: &str, f: BytesFrame) -> Result<Option<Bytes>> {
    match f {
        BytesFrame::Null => Ok(None),
        BytesFrame::BulkString(v) => Ok(Some(v)),
        other => unexpected(what, &other),
    }
}

fn int(what: &str, f: BytesFrame) -> Result<i64> {
    match f {
        BytesFrame::Integer(i) => Ok(i),
        other => unexpected(what, &other),
    }
}

/// `OK` → true, nil → false (conditional `SET`s).
fn ok_or_nil(what: &str, f: BytesFrame) -> Result<bool> {
    match f {
        BytesFrame::SimpleString(s) if &s[..] == b"OK" => Ok(true),
        BytesFrame::Null => Ok(false),
        other => unexpected(what, &other),
    }
}

/// Commands [`Client::cmd`] treats as reads (retried freely, never wrapped in a request id).
const READS: &[&str] = &[
    "GET",
    "MGET",
    "STRLEN",
    "GETRANGE",
    "SUBSTR",
    "EXISTS",
    "TYPE",
    "TTL",
    "PTTL",
    "SCAN",
    "KEYS",
    "RANDOMKEY",
    "DBSIZE",
    "PING",
    "ECHO",
    "INFO",
    "CLUSTER",
    "COMMAND",
    "TANLI.ID",
];

/// Whether `args` is a read: a command of [`READS`], or an admin command that only shows
/// (`TANLI.STATUS`, `TANLI.REBALANCE PLAN|STATUS`).
fn is_read(args: &[&[u8]]) -> bool {
    let word = |i: usize| {
        args.get(i)
            .map(|w| String::from_utf8_lossy(w).to_ascii_uppercase())
            .unwrap_or_default()
    };
    let name = word(0);
    READS.contains(&name.as_str())
        || name == "TANLI.STATUS"
        || (name == "TANLI.REBALANCE" && matches!(word(1).as_str(), "PLAN" | "STATUS"))
}

impl Client {
    async fn write(&self, args: Vec<Bytes>, key: &[u8]) -> Result<BytesFrame> {
        self.run(args, Some(key), Kind::Write).await
    }

    async fn read(&self, args: Vec<Bytes>, key: &[u8]) -> Result<BytesFrame> {
        self.run(args, Some(key), Kind::Read).await
    }

    /// Any command, routed by its first argument after the name (keyless commands go to any
    /// node). Commands outside a known list of reads are treated as writes: wrapped in a request
    /// id when exactly-once is on, and never retried after a possibly-sent attempt otherwise.
    pub async fn cmd(&self, args: &[&[u8]]) -> Result<Value> {
        let Some(name) = args.first() else {
            return Err(Error::Client("empty command".into()));
        };
        let name_upper = String::from_utf8_lossy(name).to_ascii_uppercase();
        let kind = if READS.contains(&name_upper.as_str()) {
            Kind::Read
        } else {
            Kind::Write
        };
        let key = args.get(1).copied();
        let args = args.iter().map(b).collect();
        self.run(args, key, kind).await.map(Value::from)
    }

    /// A keyless command (`PING`, `INFO`, the `TANLI.*` admin commands) to whichever node
    /// answers: the nodes of the slot map, then the seeds, each in turn, with a backoff after
    /// every full round, up to [`Config::attempts_max`](crate::Config::attempts_max) attempts.
    /// A node that cannot be reached or refuses for now (`-TRYAGAIN`, `-CLUSTERDOWN`,
    /// `-LOADING`) passes the command on to the next. Never wrapped in a request id, so after a
    /// lost reply only reads (as for [`Client::cmd`], plus `TANLI.STATUS` and
    /// `TANLI.REBALANCE PLAN|STATUS`) are sent again; anything else ends with
    /// [`Error::MaybeApplied`]. Any other error reply is [`Error::Server`].
    pub async fn cmd_any(&self, args: &[&[u8]]) -> Result<Value> {
        if args.is_empty() {
            return Err(Error::Client("empty command".into()));
        }
        let kind = if is_read(args) {
            Kind::Read
        } else {
            Kind::Write
        };
        let args = args.iter().map(b).collect();
        self.inner.run_any(args, kind).await.map(Value::from)
    }

    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let k = key.as_ref();
        opt_bytes("GET", self.read(vec![b("GET"), b(k)], k).await?)
    }

    pub async fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let k = key.as_ref();
        ok_or_nil("SET", self.write(vec![b("SET"), b(k), b(value)], k).await?).map(|_| ())
    }

    /// `SET key value PX ttl`.
    pub async fn set_px(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> Result<()> {
        let k = key.as_ref();
        let args = vec![
            b("SET"),
            b(k),
            b(value),
            b("PX"),
            b(ttl.as_millis().to_string()),
        ];
        ok_or_nil("SET", self.write(args, k).await?).map(|_| ())
    }

    async fn set_cond(&self, key: &[u8], value: &[u8], cond: &[&str]) -> Result<bool> {
        let mut args = vec![b("SET"), b(key), b(value)];
        args.extend(cond.iter().map(b));
        ok_or_nil("SET", self.write(args, key).await?)
    }

    /// Sets only if the key does not exist (`SET NX`); true if set.
    pub async fn set_nx(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
        self.set_cond(key.as_ref(), value.as_ref(), &["NX"]).await
    }

    /// Sets only if the key exists (`SET XX`); true if set.
    pub async fn set_xx(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
        self.set_cond(key.as_ref(), value.as_ref(), &["XX"]).await
    }

    /// Compare-and-set: sets `new` only if the key holds exactly `old` (`SET IFEQ`); true if set.
    /// The conditional update of "set status='paid' where status='unpaid'".
    pub async fn set_if_eq(
        &self,
        key: impl AsRef<[u8]>,
        old: impl AsRef<[u8]>,
        new: impl AsRef<[u8]>,
    ) -> Result<bool> {
        let k = key.as_ref();
        let args = vec![b("SET"), b(k), b(new), b("IFEQ"), b(old)];
        ok_or_nil("SET IFEQ", self.write(args, k).await?)
    }

    /// Sets `new` only if the key does not hold `other` (`SET IFNE`); true if set.
    pub async fn set_if_ne(
        &self,
        key: impl AsRef<[u8]>,
        other: impl AsRef<[u8]>,
        new: impl AsRef<[u8]>,
    ) -> Result<bool> {
        let k = key.as_ref();
        let args = vec![b("SET"), b(k), b(new), b("IFNE"), b(other)];
        ok_or_nil("SET IFNE", self.write(args, k).await?)
    }

    /// Sets and returns the previous value (`SET ... GET`).
    pub async fn getset(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<Option<Bytes>> {
        let k = key.as_ref();
        opt_bytes(
            "SET GET",
            self.write(vec![b("SET"), b(k), b(value), b("GET")], k)
                .await?,
        )
    }

    /// Deletes the key only if it holds exactly `value` (`DELIFEQ`); true if deleted.
    pub async fn del_if_eq(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
        let k = key.as_ref();
        Ok(int(
            "DELIFEQ",
            self.write(vec![b("DELIFEQ"), b(k), b(value)], k).await?,
        )? == 1)
    }

    /// Deletes the key; true if it existed.
    pub async fn del(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let k = key.as_ref();
        Ok(int("DEL", self.write(vec![b("DEL"), b(k)], k).await?)? == 1)
    }

    pub async fn incr(&self, key: impl AsRef<[u8]>) -> Result<i64> {
        self.incr_by(key, 1).await
    }

    pub async fn decr(&self, key: impl AsRef<[u8]>) -> Result<i64> {
        self.incr_by(key, -1).await
    }

    pub async fn incr_by(&self, key: impl AsRef<[u8]>, by: i64) -> Result<i64> {
        let k = key.as_ref();
        int(
            "INCRBY",
            self.write(vec![b("INCRBY"), b(k), b(by.to_string())], k)
                .await?,
        )
    }

    pub async fn exists(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let k = key.as_ref();
        Ok(int("EXISTS", self.read(vec![b("EXISTS"), b(k)], k).await?)? == 1)
    }

    /// `PEXPIRE`; true if the key exists and got the expiry.
    pub async fn expire(&self, key: impl AsRef<[u8]>, ttl: std::time::Duration) -> Result<bool> {
        let k = key.as_ref();
        let args = vec![b("PEXPIRE"), b(k), b(ttl.as_millis().to_string())];
        Ok(int("PEXPIRE", self.write(args, k).await?)? == 1)
    }

    /// `PTTL`: milliseconds left, -1 without expiry, -2 for a missing key.
    pub async fn ttl_ms(&self, key: impl AsRef<[u8]>) -> Result<i64> {
        let k = key.as_ref();
        int("PTTL", self.read(vec![b("PTTL"), b(k)], k).await?)
    }

    /// Appends; returns the new length.
    pub async fn append(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<i64> {
        let k = key.as_ref();
        int(
            "APPEND",
            self.write(vec![b("APPEND"), b(k), b(value)], k).await?,
        )
    }

    pub async fn strlen(&self, key: impl AsRef<[u8]>) -> Result<i64> {
        let k = key.as_ref();
        int("STRLEN", self.read(vec![b("STRLEN"), b(k)], k).await?)
    }

    /// `MGET` of keys in one slot (use a `{hash tag}`); other keys get `-CROSSSLOT`.
    pub async fn mget(&self, keys: &[&[u8]]) -> Result<Vec<Option<Bytes>>> {
        let Some(first) = keys.first() else {
            return Ok(Vec::new());
        };
        let mut args = vec![b("MGET")];
        args.extend(keys.iter().map(b));
        match self.read(args, first).await? {
            BytesFrame::Array(items) => items.into_iter().map(|f| opt_bytes("MGET", f)).collect(),
            other => unexpected("MGET", &other),
        }
    }

    /// `MSET` of keys in one slot, applied atomically.
    pub async fn mset(&self, pairs: &[(&[u8], &[u8])]) -> Result<()> {
        let Some((first, _)) = pairs.first() else {
            return Ok(());
        };
        let mut args = vec![b("MSET")];
        for (k, v) in pairs {
            args.push(b(k));
            args.push(b(v));
        }
        ok_or_nil("MSET", self.write(args, first).await?).map(|_| ())
    }
}
