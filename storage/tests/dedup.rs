//! The exactly-once table through the real state machine on RocksDB: a duplicate request returns
//! the recorded reply and changes nothing; old replies are dropped past the per-client bound and
//! answered "too old"; idle clients are forgotten after the window; the table is the same however
//! openraft groups entries into apply calls; and snapshots carry it to another replica.

use std::sync::{Arc, Mutex};

use openraft::entry::RaftEntry;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use tanli_storage::dedup::{DedupPolicy, RequestId, Seen};
use tanli_storage::types::{Entry, Proposal, TypeConfig};
use tanli_storage::{Applier, KvWrite, Record, StateMachine, StorageError, Store, StoreOptions};

const SHARD: u64 = 4;
const POLICY: DedupPolicy = DedupPolicy {
    window_ms: 1_000,
    per_client_max: 3,
};

/// Commands are `client seq`: a fresh request appends `seq` to key `k` of its client and replies
/// with the new value; every reply is also pushed to `replies`.
struct Appender {
    replies: Arc<Mutex<Vec<String>>>,
}

impl Applier for Appender {
    fn apply(
        &self,
        kv: &mut dyn KvWrite,
        _log_time_ms: u64,
        cmd: &[u8],
    ) -> Result<Vec<u8>, StorageError> {
        let text = String::from_utf8_lossy(cmd).into_owned();
        let mut words = text
            .split_whitespace()
            .map(|w| w.parse::<u64>().expect("number"));
        let id = RequestId {
            client: words.next().expect("client"),
            seq: words.next().expect("seq"),
        };
        let reply = match kv.request_seen(id)? {
            Seen::Replied(r) => r,
            Seen::TooOld => b"too old".to_vec(),
            Seen::Fresh => {
                let key = format!("k{}", id.client);
                let mut value = kv.get(key.as_bytes())?.map(|r| r.data).unwrap_or_default();
                value.extend_from_slice(format!("{},", id.seq).as_bytes());
                kv.put(key.as_bytes(), Record::string(value.clone()))?;
                kv.request_done(id, &value, POLICY)?;
                value
            }
        };
        self.replies
            .lock()
            .expect("replies")
            .push(String::from_utf8_lossy(&reply).into_owned());
        Ok(reply)
    }
}

struct Replica {
    _dir: tempfile::TempDir,
    sm: StateMachine,
    replies: Arc<Mutex<Vec<String>>>,
    next_index: u64,
}

impl Replica {
    fn new() -> Replica {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("open store");
        let replies = Arc::new(Mutex::new(Vec::new()));
        let sm = StateMachine::open(
            store,
            SHARD,
            Arc::new(Appender {
                replies: replies.clone(),
            }),
        )
        .expect("state machine");
        Replica {
            _dir: dir,
            sm,
            replies,
            next_index: 1,
        }
    }

    /// Applies `(client, seq, log time)` requests in one apply call.
    async fn apply(&mut self, requests: &[(u64, u64, u64)]) -> Vec<String> {
        let before = self.replies.lock().expect("replies").len();
        let mut entries = Vec::new();
        for &(client, seq, at) in requests {
            let entry: Entry = Entry::new_normal(
                openraft::testing::log_id::<TypeConfig>(1, 1, self.next_index),
                Proposal {
                    stamp_ms: at,
                    cmd: format!("{client} {seq}").into_bytes(),
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

    async fn image(&mut self) -> Vec<u8> {
        let mut builder = self.sm.get_snapshot_builder().await;
        let snap = builder.build_snapshot().await.expect("snapshot");
        snap.snapshot.into_inner()
    }
}

#[tokio::test]
async fn duplicates_return_the_recorded_reply_and_change_nothing() {
    let mut r = Replica::new();
    assert_eq!(r.apply(&[(1, 1, 10)]).await, ["1,"]);
    assert_eq!(
        r.apply(&[(1, 1, 11)]).await,
        ["1,"],
        "a retry is not applied again"
    );
    assert_eq!(r.apply(&[(1, 2, 12), (1, 2, 12)]).await, ["1,2,", "1,2,"]);
    // Past the bound of 3 replies per client, the oldest are dropped and refused, not reapplied.
    r.apply(&[(1, 3, 13), (1, 4, 14), (1, 5, 15)]).await;
    assert_eq!(r.apply(&[(1, 2, 16)]).await, ["too old"]);
    assert_eq!(r.apply(&[(1, 5, 17)]).await, ["1,2,3,4,5,"]);
    // Another client is independent.
    assert_eq!(r.apply(&[(2, 1, 18)]).await, ["1,"]);
}

#[tokio::test]
async fn idle_clients_are_forgotten_after_the_window() {
    let mut r = Replica::new();
    r.apply(&[(7, 1, 100)]).await;
    // Well past the window, other clients' replies sweep client 7 away.
    for seq in 1..=4 {
        r.apply(&[(8, seq, 5_000)]).await;
    }
    assert_eq!(
        r.apply(&[(7, 1, 5_001)]).await,
        ["1,1,"],
        "a forgotten client's old request is new again: retries must stay within the window"
    );
}

/// Random requests: clients 1..=6, sequence numbers that repeat and go back, log time rising.
fn workload(n: usize) -> Vec<(u64, u64, u64)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| (1 + next() % 6, 1 + next() % 12, (i as u64) * 250))
        .collect()
}

#[tokio::test]
async fn the_table_does_not_depend_on_how_entries_are_grouped() {
    let requests = workload(400);
    let mut one_by_one = Replica::new();
    let mut replies_a = Vec::new();
    for r in &requests {
        replies_a.extend(one_by_one.apply(std::slice::from_ref(r)).await);
    }
    let mut grouped = Replica::new();
    let mut replies_b = Vec::new();
    for chunk in requests.chunks(37) {
        replies_b.extend(grouped.apply(chunk).await);
    }
    let first_difference = replies_a.iter().zip(&replies_b).position(|(a, b)| a != b);
    assert_eq!(
        (replies_a.len(), first_difference),
        (replies_b.len(), None),
        "replies differ at request {first_difference:?}"
    );
    assert!(
        replies_a.iter().any(|r| r == "too old"),
        "the bound was exercised"
    );
    assert_eq!(
        one_by_one.image().await,
        grouped.image().await,
        "data and exactly-once table are identical"
    );
}

#[tokio::test]
async fn snapshots_carry_the_table() {
    let mut leader = Replica::new();
    leader.apply(&[(3, 1, 10), (3, 2, 11)]).await;
    let image = leader.image().await;
    let meta = leader
        .sm
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot")
        .meta;

    let mut follower = Replica::new();
    follower
        .sm
        .install_snapshot(&meta, tanli_storage::types::SnapshotData::new(image))
        .await
        .expect("install");
    follower.next_index = 3;
    assert_eq!(
        follower.apply(&[(3, 2, 12)]).await,
        ["1,2,"],
        "the retry is recognised"
    );
    assert_eq!(follower.apply(&[(3, 3, 13)]).await, ["1,2,3,"]);
}
