//! In-memory implementation of the storage traits for the command tests, plus helpers that run
//! a command line through parse -> (encode -> decode) -> apply/execute like the node does.

use std::collections::BTreeMap;

use bytes::Bytes;
use std::ops::Bound;
use tanli_storage::dedup::{DedupPolicy, RequestId, Seen};

use tanli_storage::{
    Entries, KvRead, KvWrite, MemberRange, Record, ScanPage, ShardRead, StorageError, Sub,
};

use super::{parse, Command, ReadCtx, WriteCmd};
use crate::reply::Reply;

/// An element's place: (key, version, tag, member).
pub type SubKey = (Vec<u8>, u64, u8, Vec<u8>);

/// Records by key; `scan` cursors are positions in key order. The exactly-once table is kept
/// whole (no bounds: unit tests only).
#[derive(Default, Debug, Clone)]
pub struct MemKv {
    pub map: BTreeMap<Vec<u8>, Record>,
    pub requests: BTreeMap<(u64, u64), Vec<u8>>,
    /// Collection elements by (key, version, tag, member). Like the state machine, a key that
    /// stops naming an instance loses its elements.
    pub subs: BTreeMap<SubKey, Vec<u8>>,
    /// The last stamp and version handed out.
    pub clock: u64,
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

impl MemKv {
    /// Elements of `key`'s current instance, all tags: (tag, member, value).
    pub fn elements(&self, key: &str) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
        self.subs
            .iter()
            .filter(|((k, _, _, _), _)| k.as_slice() == key.as_bytes())
            .map(|((_, _, t, m), v)| (*t, m.clone(), v.clone()))
            .collect()
    }

    fn drop_instance(&mut self, key: &[u8], new: Option<&Record>) {
        let Some(old) = self.map.get(key).and_then(Record::coll_meta) else {
            return;
        };
        let old_kind = self.map.get(key).map(|r| r.kind);
        if new.is_some_and(|n| {
            Some(n.kind) == old_kind && n.coll_meta().is_some_and(|m| m.version == old.version)
        }) {
            return;
        }
        self.subs
            .retain(|(k, v, _, _), _| !(k.as_slice() == key && *v == old.version));
    }
}

impl KvRead for MemKv {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, StorageError> {
        Ok(self.map.get(key).cloned())
    }

    fn record_count(&self) -> Result<u64, StorageError> {
        Ok(self.map.len() as u64)
    }

    fn sub_get(&self, sub: Sub<'_>, member: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .subs
            .get(&(sub.key.to_vec(), sub.version, sub.tag, member.to_vec()))
            .cloned())
    }

    fn sub_range(
        &self,
        sub: Sub<'_>,
        range: MemberRange<'_>,
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let at = |m: &[u8]| (sub.key.to_vec(), sub.version, sub.tag, m.to_vec());
        let lo = match range.0 {
            Bound::Included(m) => Bound::Included(at(m)),
            Bound::Excluded(m) => Bound::Excluded(at(m)),
            Bound::Unbounded => Bound::Included(at(b"")),
        };
        let hi = match range.1 {
            Bound::Included(m) => Bound::Included(at(m)),
            Bound::Excluded(m) => Bound::Excluded(at(m)),
            Bound::Unbounded => Bound::Excluded((
                sub.key.to_vec(),
                sub.version,
                sub.tag.saturating_add(1),
                Vec::new(),
            )),
        };
        let r = self.subs.range((lo, hi));
        let it: Box<dyn Iterator<Item = _>> = if reverse {
            Box::new(r.rev())
        } else {
            Box::new(r)
        };
        Ok(it
            .take(limit)
            .map(|((_, _, _, m), v)| (m.clone(), v.clone()))
            .collect())
    }
}

impl KvWrite for MemKv {
    fn put(&mut self, key: &[u8], mut record: Record) -> Result<(), StorageError> {
        self.drop_instance(key, Some(&record));
        self.clock += 1;
        record.stamp = self.clock;
        self.map.insert(key.to_vec(), record);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, StorageError> {
        self.drop_instance(key, None);
        Ok(self.map.remove(key).is_some())
    }

    fn detach(&mut self, key: &[u8]) -> Result<bool, StorageError> {
        Ok(self.map.remove(key).is_some())
    }

    fn clear(&mut self) -> Result<(), StorageError> {
        self.map.clear();
        self.subs.clear();
        Ok(())
    }

    fn sub_put(&mut self, sub: Sub<'_>, member: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.subs.insert(
            (sub.key.to_vec(), sub.version, sub.tag, member.to_vec()),
            value.to_vec(),
        );
        Ok(())
    }

    fn sub_delete(&mut self, sub: Sub<'_>, member: &[u8]) -> Result<(), StorageError> {
        self.subs
            .remove(&(sub.key.to_vec(), sub.version, sub.tag, member.to_vec()));
        Ok(())
    }

    fn sub_delete_range(
        &mut self,
        sub: Sub<'_>,
        range: MemberRange<'_>,
    ) -> Result<(), StorageError> {
        let doomed = self.sub_range(sub, range, false, usize::MAX)?;
        for (m, _) in doomed {
            self.sub_delete(sub, &m)?;
        }
        Ok(())
    }

    fn new_version(&mut self) -> u64 {
        self.clock += 1;
        self.clock
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
