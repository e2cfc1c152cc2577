//! In-memory implementation of the storage traits for the command tests, plus helpers that run
//! a command line through parse -> (encode -> decode) -> apply/execute like the node does.

use std::collections::BTreeMap;

use bytes::Bytes;
use tanli_storage::dedup::{DedupPolicy, RequestId, Seen};
use tanli_storage::{KvRead, KvWrite, Record, ScanPage, ShardRead, StorageError};

use super::{parse, Command, ReadCtx, WriteCmd};
use crate::reply::Reply;

/// Records by key; `scan` cursors are positions in key order. The exactly-once table is kept
/// whole (no bounds: unit tests only).
#[derive(Default, Debug, Clone)]
pub struct MemKv {
    pub map: BTreeMap<Vec<u8>, Record>,
    pub requests: BTreeMap<(u64, u64), Vec<u8>>,
}

impl MemKv {
    pub fn put_str(&mut self, key: &str, value: &str, expire_at_ms: Option<u64>) {
        let record = Record {
            expire_at_ms,
            ..Record::string(value.as_bytes().to_vec())
        };
        self.map.insert(key.as_bytes().to_vec(), record);
    }

    pub fn record(&self, key: &str) -> Option<&Record> {
        self.map.get(key.as_bytes())
    }

    pub fn value(&self, key: &str) -> Option<String> {
        self.record(key)
            .map(|r| String::from_utf8_lossy(&r.data).into_owned())
    }
}

impl KvRead for MemKv {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, StorageError> {
        Ok(self.map.get(key).cloned())
    }

    fn record_count(&self) -> Result<u64, StorageError> {
        Ok(self.map.len() as u64)
    }
}

impl KvWrite for MemKv {
    fn put(&mut self, key: &[u8], record: Record) -> Result<(), StorageError> {
        self.map.insert(key.to_vec(), record);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, StorageError> {
        Ok(self.map.remove(key).is_some())
    }

    fn clear(&mut self) -> Result<(), StorageError> {
        self.map.clear();
        Ok(())
    }

    fn request_seen(&self, id: RequestId) -> Result<Seen, StorageError> {
        Ok(match self.requests.get(&(id.client, id.seq)) {
            Some(r) => Seen::Replied(r.clone()),
            None => Seen::Fresh,
        })
    }

    fn request_done(
        &mut self,
        id: RequestId,
        reply: &[u8],
        _policy: DedupPolicy,
    ) -> Result<(), StorageError> {
        self.requests.insert((id.client, id.seq), reply.to_vec());
        Ok(())
    }
}

impl ShardRead for MemKv {
    fn scan(&self, cursor: u64, count: usize) -> Result<ScanPage, StorageError> {
        let start = usize::try_from(cursor).unwrap_or(usize::MAX);
        let entries: Vec<_> = self
            .map
            .iter()
            .skip(start)
            .take(count)
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        let end = start.saturating_add(entries.len());
        let next_cursor = if end >= self.map.len() { 0 } else { end as u64 };
        Ok(ScanPage {
            next_cursor,
            entries,
        })
    }

    fn record_at(&self, seed: u64) -> Result<Option<(Vec<u8>, Record)>, StorageError> {
        if self.map.is_empty() {
            return Ok(None);
        }
        let i = (seed % self.map.len() as u64) as usize;
        Ok(self.map.iter().nth(i).map(|(k, r)| (k.clone(), r.clone())))
    }

    fn expired(&self, now_ms: u64, limit: usize) -> Result<Vec<(Vec<u8>, u64)>, StorageError> {
        let mut out: Vec<_> = self
            .map
            .iter()
            .filter_map(|(k, r)| {
                r.expire_at_ms
                    .filter(|at| *at <= now_ms)
                    .map(|at| (k.clone(), at))
            })
            .collect();
        out.sort_by_key(|(_, at)| *at);
        out.truncate(limit);
        Ok(out)
    }
}

pub fn argv(line: &[&str]) -> Vec<Bytes> {
    line.iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect()
}

/// Parses and runs one command line at `now` (log time for writes, read time for reads). Writes
/// go through their Raft encoding first. Connection commands are not runnable here.
pub fn run(kv: &mut MemKv, now: u64, line: &[&str]) -> Reply {
    match parse(&argv(line)) {
        Err(reply) => reply,
        Ok(Command::Write(w)) => {
            let decoded = WriteCmd::decode(&w.encode()).expect("write command round-trips");
            assert_eq!(decoded, w, "codec round trip of {line:?}");
            decoded
                .apply(kv, now)
                .expect("in-memory storage does not fail")
        }
        Ok(Command::Read(r)) => r
            .execute(
                kv,
                &ReadCtx {
                    now_ms: now,
                    random: 7,
                },
            )
            .expect("in-memory storage does not fail"),
        Ok(Command::Conn(c)) => panic!("connection command {c:?} is not runnable against storage"),
        Ok(Command::Admin(c)) => panic!("admin command {c:?} is not runnable against storage"),
    }
}

pub fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

pub fn err(s: &str) -> Reply {
    Reply::Error(s.to_string())
}
