//! Redis's compact encodings and the one-way conversion out of them, for `OBJECT ENCODING`.
//!
//! Redis keeps a small hash or sorted set in a listpack and a small all-integer set in an
//! intset, and converts it to the big encoding (hashtable, skiplist) the first time it holds too
//! many or too long elements; it never converts back. tanli stores every collection the same
//! way, so it only needs to know whether that conversion would have happened: the `big` flag of
//! the collection's metadata. A [`Tracker`] wraps the store for one collection write, watches
//! the elements written, and sets the flag when the metadata record is stored. The family code
//! does not take part.

use tanli_storage::{
    CollMeta, Entries, Kind, KvRead, KvWrite, MemberRange, Record, StorageError, Sub,
};

use super::parse::parse_i64;
use super::Step;
use crate::reply::Reply;

/// Redis 7.0's `hash-max-listpack-entries` and `hash-max-listpack-value` defaults.
pub(super) const HASH_LISTPACK_ENTRIES_MAX: u64 = 512;
pub(super) const HASH_LISTPACK_VALUE_BYTES_MAX: usize = 64;
/// Redis 7.0's `set-max-intset-entries` default (7.0 has no listpack sets).
pub(super) const SET_INTSET_ENTRIES_MAX: u64 = 512;
/// Redis 7.0's `zset-max-listpack-entries` and `zset-max-listpack-value` defaults.
pub(super) const ZSET_LISTPACK_ENTRIES_MAX: u64 = 128;
pub(super) const ZSET_LISTPACK_VALUE_BYTES_MAX: usize = 64;

/// Whether a collection of `kind` with `len` elements is past its compact encoding by size.
pub(super) fn too_many(kind: Kind, len: u64) -> bool {
    match kind {
        Kind::Hash => len > HASH_LISTPACK_ENTRIES_MAX,
        Kind::Set => len > SET_INTSET_ENTRIES_MAX,
        Kind::ZSet => len > ZSET_LISTPACK_ENTRIES_MAX,
        Kind::String | Kind::List => false,
    }
}

/// Whether one element (its member or field and, for a hash, its value) keeps a collection of
/// `kind` out of its compact encoding.
pub(super) fn too_big(kind: Kind, member: &[u8], value: &[u8]) -> bool {
    too_long(kind, member.len(), value.len()) || (kind == Kind::Set && parse_i64(member).is_none())
}

/// The length rules of [`too_big`]: a hash's fields and values, a sorted set's members.
fn too_long(kind: Kind, member_len: usize, value_len: usize) -> bool {
    match kind {
        Kind::Hash => {
            member_len > HASH_LISTPACK_VALUE_BYTES_MAX || value_len > HASH_LISTPACK_VALUE_BYTES_MAX
        }
        Kind::ZSet => member_len > ZSET_LISTPACK_VALUE_BYTES_MAX,
        Kind::String | Kind::List | Kind::Set => false,
    }
}

/// What was written to element space 0 of one instance during the command.
#[derive(Default)]
struct Written {
    key: Vec<u8>,
    version: u64,
    longest_member_len: usize,
    longest_value_len: usize,
    non_integer: bool,
}

/// Runs one collection write with its element writes watched (see the module doc).
pub(super) fn tracked(
    kv: &mut dyn KvWrite,
    write: impl FnOnce(&mut dyn KvWrite) -> Step<Reply>,
) -> Step<Reply> {
    let mut t = Tracker {
        inner: kv,
        written: Vec::new(),
    };
    write(&mut t)
}

struct Tracker<'a> {
    inner: &'a mut dyn KvWrite,
    written: Vec<Written>,
}

impl Tracker<'_> {
    /// `rec` with `big` set if its instance has outgrown its compact encoding.
    fn marked(&self, key: &[u8], mut rec: Record) -> Record {
        let Some(mut meta) = rec.coll_meta() else {
            return rec;
        };
        if meta.big {
            return rec;
        }
        let grown = self
            .written
            .iter()
            .find(|w| w.key == key && w.version == meta.version)
            .is_some_and(|w| {
                too_long(rec.kind, w.longest_member_len, w.longest_value_len)
                    || (rec.kind == Kind::Set && w.non_integer)
            });
        if grown || too_many(rec.kind, meta.len) {
            meta.big = true;
            rec.data = CollMeta::encode(&meta);
        }
        rec
    }
}

impl KvRead for Tracker<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, StorageError> {
        self.inner.get(key)
    }

    fn record_count(&self) -> Result<u64, StorageError> {
        self.inner.record_count()
    }

    fn sub_get(&self, sub: Sub<'_>, member: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.sub_get(sub, member)
    }

    fn sub_range(
        &self,
        sub: Sub<'_>,
        range: MemberRange<'_>,
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        self.inner.sub_range(sub, range, reverse, limit)
    }
}

impl KvWrite for Tracker<'_> {
    fn put(&mut self, key: &[u8], record: Record) -> Result<(), StorageError> {
        let record = self.marked(key, record);
        self.inner.put(key, record)
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, StorageError> {
        self.inner.delete(key)
    }

    fn detach(&mut self, key: &[u8]) -> Result<bool, StorageError> {
        self.inner.detach(key)
    }

    fn sub_put(&mut self, sub: Sub<'_>, member: &[u8], value: &[u8]) -> Result<(), StorageError> {
        if sub.tag == 0 {
            let at = match self
                .written
                .iter()
                .position(|w| w.key == sub.key && w.version == sub.version)
            {
                Some(i) => i,
                None => {
                    self.written.push(Written {
                        key: sub.key.to_vec(),
                        version: sub.version,
                        ..Written::default()
                    });
                    self.written.len() - 1
                }
            };
            let w = &mut self.written[at];
            w.longest_member_len = w.longest_member_len.max(member.len());
            w.longest_value_len = w.longest_value_len.max(value.len());
            w.non_integer |= parse_i64(member).is_none();
        }
        self.inner.sub_put(sub, member, value)
    }

    fn sub_delete(&mut self, sub: Sub<'_>, member: &[u8]) -> Result<(), StorageError> {
        self.inner.sub_delete(sub, member)
    }

    fn sub_delete_range(
        &mut self,
        sub: Sub<'_>,
        range: MemberRange<'_>,
    ) -> Result<(), StorageError> {
        self.inner.sub_delete_range(sub, range)
    }

    fn new_version(&mut self) -> u64 {
        self.inner.new_version()
    }

    fn clear(&mut self) -> Result<(), StorageError> {
        self.inner.clear()
    }

    fn request_seen(
        &self,
        id: tanli_storage::dedup::RequestId,
    ) -> Result<tanli_storage::dedup::Seen, StorageError> {
        self.inner.request_seen(id)
    }

    fn request_done(
        &mut self,
        id: tanli_storage::dedup::RequestId,
        reply: &[u8],
        policy: tanli_storage::dedup::DedupPolicy,
    ) -> Result<(), StorageError> {
        self.inner.request_done(id, reply, policy)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkv::{bulk, run, MemKv};

    fn encoding(kv: &mut MemKv, key: &str) -> crate::reply::Reply {
        run(kv, 0, &["OBJECT", "ENCODING", key])
    }

    #[test]
    fn conversions_are_one_way_until_the_key_is_recreated() {
        let mut kv = MemKv::default();
        run(&mut kv, 0, &["SADD", "s", "1", "2"]);
        assert_eq!(encoding(&mut kv, "s"), bulk("intset"));
        run(&mut kv, 0, &["SADD", "s", "a"]);
        run(&mut kv, 0, &["SREM", "s", "a"]);
        assert_eq!(encoding(&mut kv, "s"), bulk("hashtable"));
        run(&mut kv, 0, &["COPY", "s", "s2"]);
        assert_eq!(encoding(&mut kv, "s2"), bulk("hashtable"));
        run(&mut kv, 0, &["DEL", "s"]);
        run(&mut kv, 0, &["SADD", "s", "1"]);
        assert_eq!(encoding(&mut kv, "s"), bulk("intset"));

        let long = "x".repeat(65);
        run(&mut kv, 0, &["HSET", "h", "f", &long]);
        run(&mut kv, 0, &["HSET", "h", "f", "short"]);
        assert_eq!(encoding(&mut kv, "h"), bulk("hashtable"));
        run(&mut kv, 0, &["HSET", "h2", "f", "short"]);
        assert_eq!(encoding(&mut kv, "h2"), bulk("listpack"));

        run(&mut kv, 0, &["ZADD", "z", "1", &long, "2", "m"]);
        run(&mut kv, 0, &["ZREM", "z", &long]);
        assert_eq!(encoding(&mut kv, "z"), bulk("skiplist"));
        let members: Vec<String> = (0..129).map(|i| format!("m{i}")).collect();
        let mut line = vec!["ZADD", "z2"];
        for m in &members {
            line.extend(["1", m.as_str()]);
        }
        run(&mut kv, 0, &line);
        run(&mut kv, 0, &["ZREMRANGEBYRANK", "z2", "0", "10"]);
        assert_eq!(encoding(&mut kv, "z2"), bulk("skiplist"));
        run(&mut kv, 0, &["RPUSH", "l", "a"]);
        assert_eq!(encoding(&mut kv, "l"), bulk("quicklist"));
    }
}
