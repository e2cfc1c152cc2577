//! Collection elements through the real state machine on RocksDB: apply reads its own group's
//! element writes (point and range reads merge the group with RocksDB); deleting or replacing a
//! collection drops its elements, small ones entry by entry and big ones with a range deletion;
//! `detach` keeps them for a renamed key; results do not depend on how entries are grouped; a
//! snapshot carries the elements to another replica; the read path's view reads one state.

use std::ops::Bound;
use std::sync::{Arc, Mutex};

use openraft::entry::RaftEntry;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use tanli_storage::types::{Entry, Proposal, TypeConfig};
use tanli_storage::{
    Applier, CollMeta, Kind, KvRead, KvWrite, Record, ShardReader, StateMachine, StorageError,
    Store, StoreOptions, Sub,
};

const SHARD: u64 = 2;
const ALL: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Unbounded);

fn sub(key: &[u8], version: u64) -> Sub<'_> {
    Sub {
        key,
        version,
        tag: 0,
    }
}

fn meta_of(kv: &dyn KvRead, key: &[u8]) -> Result<Option<CollMeta>, StorageError> {
    Ok(kv.get(key)?.and_then(|r| r.coll_meta()))
}

/// Members of `key`'s set, comma-separated, read with one range read.
fn members(kv: &dyn KvRead, key: &[u8]) -> Result<String, StorageError> {
    let Some(meta) = meta_of(kv, key)? else {
        return Ok(String::new());
    };
    let all = kv.sub_range(sub(key, meta.version), ALL, false, usize::MAX)?;
    let names: Vec<String> = all
        .into_iter()
        .map(|(m, _)| String::from_utf8_lossy(&m).into_owned())
        .collect();
    Ok(names.join(","))
}

/// Commands: `add KEY M...` (a set: adds members, replies with all members), `del KEY`,
/// `str KEY V` (a string written over whatever the key holds), `ver KEY` (the set's version),
/// `rename FROM TO` (the record moves, its elements stay), `rev KEY N` (the last N members,
/// descending), `has KEY M`.
struct Sets {
    replies: Arc<Mutex<Vec<String>>>,
}

impl Applier for Sets {
    fn apply(&self, kv: &mut dyn KvWrite, _now: u64, cmd: &[u8]) -> Result<Vec<u8>, StorageError> {
        let text = String::from_utf8_lossy(cmd).into_owned();
        let words: Vec<&str> = text.split_whitespace().collect();
        let key = words[1].as_bytes();
        // As the node's batches do: a hint that changes nothing, for keys this group wrote, keys
        // only RocksDB or the record cache holds, and keys no one wrote.
        kv.prefetch(&[key, b"{s}never-written"]);
        let reply = match words[0] {
            "add" => {
                let mut meta = match meta_of(kv, key)? {
                    Some(m) => m,
                    None => CollMeta::new(kv.new_version()),
                };
                for m in &words[2..] {
                    if kv.sub_get(sub(key, meta.version), m.as_bytes())?.is_none() {
                        kv.sub_put(sub(key, meta.version), m.as_bytes(), b"")?;
                        meta.len += 1;
                    }
                }
                kv.put(key, Record::collection(Kind::Set, &meta))?;
                members(kv, key)?
            }
            "del" => kv.delete(key)?.to_string(),
            "str" => {
                kv.put(key, Record::string(words[2].as_bytes().to_vec()))?;
                "OK".into()
            }
            "ver" => meta_of(kv, key)?.expect("key exists").version.to_string(),
            "rename" => {
                let rec = kv.get(key)?.expect("renamed key exists");
                kv.put(words[2].as_bytes(), rec)?;
                kv.detach(key)?.to_string()
            }
            "rev" => {
                let meta = meta_of(kv, key)?.expect("key exists");
                let n = words[2].parse().expect("count");
                let last = kv.sub_range(sub(key, meta.version), ALL, true, n)?;
                let names: Vec<String> = last
                    .into_iter()
                    .map(|(m, _)| String::from_utf8_lossy(&m).into_owned())
                    .collect();
                names.join(",")
            }
            "has" => match meta_of(kv, key)? {
                None => "false".into(),
                Some(meta) => kv
                    .sub_get(sub(key, meta.version), words[2].as_bytes())?
                    .is_some()
                    .to_string(),
            },
            other => panic!("unknown test command {other}"),
        };
        self.replies.lock().expect("replies").push(reply.clone());
        Ok(reply.into_bytes())
    }
}

struct Replica {
    _dir: tempfile::TempDir,
    store: Store,
    sm: StateMachine,
    replies: Arc<Mutex<Vec<String>>>,
    next_index: u64,
}

impl Replica {
    fn new() -> Replica {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("open store");
        let replies = Arc::new(Mutex::new(Vec::new()));
        let applier = Arc::new(Sets {
            replies: replies.clone(),
        });
        let sm = StateMachine::open(store.clone(), SHARD, applier).expect("state machine");
        Replica {
            _dir: dir,
            store,
            sm,
            replies,
            next_index: 1,
        }
    }

    /// Applies `cmds` in one apply call (one write batch) and returns their replies.
    async fn apply(&mut self, cmds: &[&str]) -> Vec<String> {
        let before = self.replies.lock().expect("replies").len();
        let mut entries = Vec::new();
        for cmd in cmds {
            let entry: Entry = Entry::new_normal(
                openraft::testing::log_id::<TypeConfig>(1, 1, self.next_index),
                Proposal {
                    stamp_ms: self.next_index,
                    cmd: cmd.as_bytes().to_vec(),
                },
            );
            self.next_index += 1;
            entries.push(Ok((entry, None)));
        }
        self.sm
            .apply(futures::stream::iter(entries))
            .await
            .expect("apply");
        self.replies.lock().expect("replies")[before..].to_vec()
    }

    /// Applies each command in its own apply call.
    async fn apply_each(&mut self, cmds: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for cmd in cmds {
            out.extend(self.apply(&[cmd]).await);
        }
        out
    }

    fn reader(&self) -> ShardReader {
        ShardReader::new(self.store.clone(), SHARD)
    }

    async fn image(&mut self) -> Vec<u8> {
        let mut builder = self.sm.get_snapshot_builder().await;
        let snap = builder.build_snapshot().await.expect("snapshot");
        snap.snapshot.into_inner()
    }
}

fn script(big: &str) -> Vec<String> {
    let mut cmds: Vec<String> = [
        "add {s}a m1 m2",
        "add {s}a m3 m1",
        "has {s}a m2",
        "rev {s}a 2",
        "del {s}a",
        "has {s}a m2",
        "add {s}a x",
        "rename {s}a {s}b",
        "has {s}a x",
        "has {s}b x",
        "add {s}b y",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cmds.push(big.to_string());
    cmds.extend(
        [
            "rev {s}big 3",
            "del {s}big",
            "has {s}big m0",
            "add {s}big fresh",
            "add {s}c m1 m2",
            "ver {s}c",
            "str {s}c v",
            "has {s}c m1",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    cmds
}

fn big_add(n: usize) -> String {
    let mut s = "add {s}big".to_string();
    for i in 0..n {
        s.push_str(&format!(" m{i:03}"));
    }
    s
}

#[tokio::test]
async fn apply_reads_its_own_group_and_drops_dead_instances() {
    let cmds = script(&big_add(200));
    let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let mut grouped = Replica::new();
    let got = grouped.apply(&cmds).await;
    let mut each = Replica::new();
    assert_eq!(
        each.apply_each(&cmds).await,
        got,
        "grouping changes nothing"
    );
    assert_eq!(&got[..4], ["m1,m2", "m1,m2,m3", "true", "m3,m2"]);
    assert_eq!(
        &got[4..7],
        ["true", "false", "x"],
        "a deleted set's members are gone"
    );
    assert_eq!(
        &got[7..11],
        ["true", "false", "true", "x,y"],
        "renamed with its elements"
    );
    assert_eq!(&got[12..16], ["m199,m198,m197", "true", "false", "fresh"]);
    assert_eq!(
        [&got[16][..], &got[18], &got[19]],
        ["m1,m2", "OK", "false"],
        "a string written over a set"
    );
    assert_eq!(
        grouped.image().await,
        each.image().await,
        "same state either way"
    );

    // What RocksDB holds: the live instances only (the big one dropped by a range deletion, the
    // small ones entry by entry).
    let r = grouped.reader();
    assert_eq!(members(&r, b"{s}b").expect("read"), "x,y");
    assert_eq!(members(&r, b"{s}big").expect("read"), "fresh");
    assert_eq!(members(&r, b"{s}a").expect("read"), "");
    let version_of = |k: &[u8]| meta_of(&r, k).expect("read").expect("exists").version;
    let old = version_of(b"{s}big") - 1;
    assert!(r
        .sub_range(sub(b"{s}big", old), ALL, false, 10)
        .expect("read")
        .is_empty());
    // The set a string replaced left no elements behind, whether the old record was found in
    // the group's own writes (`grouped`) or in the record cache (`each`).
    for replica in [&grouped, &each] {
        let version: u64 = got[17].parse().expect("version");
        let gone = replica
            .reader()
            .sub_range(sub(b"{s}c", version), ALL, false, 10)
            .expect("read");
        assert!(gone.is_empty(), "{gone:?}");
    }
    r.with_view(|v| {
        assert_eq!(members(v, b"{s}b").expect("read"), "x,y");
        assert_eq!(v.record_count().expect("count"), 3);
    });
}

#[tokio::test]
async fn snapshots_carry_the_elements() {
    let mut leader = Replica::new();
    leader
        .apply(&[
            "add {s}a m1 m2",
            &big_add(100),
            "add {s}gone z",
            "del {s}gone",
        ])
        .await;
    let image = leader.image().await;
    let meta = leader
        .sm
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot")
        .meta;
    let mut follower = Replica::new();
    follower.apply(&["add {s}stale q"]).await;
    follower
        .sm
        .install_snapshot(&meta, tanli_storage::types::SnapshotData::new(image))
        .await
        .expect("install");
    let r = follower.reader();
    assert_eq!(members(&r, b"{s}a").expect("read"), "m1,m2");
    assert_eq!(
        members(&r, b"{s}big").expect("read").split(',').count(),
        100
    );
    assert_eq!(members(&r, b"{s}stale").expect("read"), "");
    assert_eq!(members(&r, b"{s}gone").expect("read"), "");
    follower.next_index = 5;
    assert_eq!(follower.apply(&["add {s}a m3"]).await, ["m1,m2,m3"]);
}
