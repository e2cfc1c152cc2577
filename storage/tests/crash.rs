//! Crash test: a child process appends log entries for two shards at once through the real store
//! (so WAL syncs are shared between shards) and prints each append once it is acknowledged. The
//! parent kills it with SIGKILL mid-stream, reopens the directory and checks that every
//! acknowledged entry is present, in order and decodable.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use tanli_storage::types::{Entry, Proposal, TypeConfig};
use tanli_storage::{LogReadLimits, LogStore, Store, StoreOptions};

const CHILD_ENV: &str = "TANLI_CRASH_CHILD_DIR";
const SHARDS: [u64; 2] = [1, 2];

fn entry(shard: u64, index: u64) -> Entry {
    Entry::new_normal(
        openraft::testing::log_id::<TypeConfig>(1, 1, index),
        Proposal {
            stamp_ms: index,
            cmd: format!("shard {shard} entry {index}").into_bytes(),
        },
    )
}

async fn append_forever(store: Store, shard: u64) {
    let mut log = LogStore::new(store, shard, LogReadLimits::default());
    for index in 1u64.. {
        let (tx, rx) = TypeConfig::oneshot();
        log.append([entry(shard, index)], IOFlushed::signal(tx))
            .await
            .expect("append");
        rx.await.expect("callback").expect("synced");
        println!("acked {shard} {index}");
    }
}

fn child(dir: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = Store::open(std::path::Path::new(dir), &StoreOptions::default()).expect("open");
        let tasks: Vec<_> = SHARDS
            .iter()
            .map(|&s| tokio::spawn(append_forever(store.clone(), s)))
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    });
}

#[test]
fn sigkill_during_synced_appends_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut proc = Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "sigkill_during_synced_appends_loses_nothing_acknowledged",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = proc.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = [0u64; 2];
    let deadline = Instant::now() + Duration::from_secs(120);
    let record = |line: &str, acked: &mut [u64; 2]| {
        if let Some(rest) = line.strip_prefix("acked ") {
            let mut it = rest.split(' ').map(|n| n.parse::<u64>().expect("number"));
            let (shard, index) = (it.next().expect("shard"), it.next().expect("index"));
            acked[(shard - 1) as usize] = index;
        }
    };
    while acked.iter().any(|&a| a < 200) {
        assert!(
            Instant::now() < deadline,
            "child acknowledged only {acked:?} in time"
        );
        let line = lines
            .next()
            .expect("child output ended early")
            .expect("read");
        record(&line, &mut acked);
    }
    proc.kill().expect("SIGKILL");
    // Lines already in the pipe were acknowledged before the kill; count them too.
    for line in lines.map_while(Result::ok) {
        record(&line, &mut acked);
    }
    let _ = proc.wait();

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("reopen after crash");
        for (i, &shard) in SHARDS.iter().enumerate() {
            let mut log = LogStore::new(store.clone(), shard, LogReadLimits::default());
            let state = log.get_log_state().await.expect("log state");
            let last = state.last_log_id.map(|l| l.index()).unwrap_or(0);
            assert!(
                last >= acked[i],
                "shard {shard}: acknowledged {} but only {last} survived",
                acked[i]
            );
            let entries = log.try_get_log_entries(1..=last).await.expect("read log");
            assert_eq!(entries.len() as u64, last, "shard {shard}: log has holes");
            for (n, e) in entries.iter().enumerate() {
                assert_eq!(
                    e,
                    &entry(shard, n as u64 + 1),
                    "shard {shard}: entry {} corrupt",
                    n + 1
                );
            }
        }
    });
}
