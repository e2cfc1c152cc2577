//! The storage floor of a replicated write: what RocksDB alone, configured as a node configures
//! it (`tanli_storage::db_options`), costs for the writes every replica of a shard must make,
//! with no Raft, no network, no RESP and no clients. Issue 7 asks a 3-node cluster to match
//! Redis with `appendfsync always` on SET; this measures how close the storage engine alone lets
//! that come on the machine at hand (`tests/bench/storage_floor.sh` runs it beside Redis).
//!
//! Each of `REPLICAS` threads owns a RocksDB in its own directory and, per batch of `BATCH` SETs
//! of `VALUE_SIZE`-byte values to random keys of `KEYSPACE`, does what a replica does at least:
//! appends one log entry carrying the batch's commands, syncs the WAL once, then writes the
//! batch's records and the shard's applied state in one `WriteBatch`. It is kinder to RocksDB
//! than a node is: one entry and one sync per batch, no read of the old record, no log purge.
//! The threads share the machine's cores as a 3-node cluster's processes do on one host.
//!
//! Prints one line: `replicas batch writes_per_s cpu_us_per_write cores`, where a write is one
//! SET done by every replica (so `writes_per_s` bounds a cluster's SET rate) and the CPU is the
//! process's (every replica's thread plus RocksDB's flush and compaction threads).
//!
//! `MODE=log` leaves the records out (the log's share of the floor). `MODE=aof` instead appends
//! each batch as RESP `SET` commands to a plain file and `fdatasync`s it, as Redis's
//! `appendfsync always` does: the same machine's floor for that. `DATA_MEMTABLE_MIB` overrides
//! the records' memtable size (the node's `data_memtable_bytes`).

use std::io::Write;
use std::time::Instant;

use rocksdb::{WriteBatch, DB};
use tanli_storage::{db_options, keys, StoreOptions};

const SHARD: u64 = 1;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

/// Seconds of CPU (user + system) this process has used, from `/proc/self/stat` (clock ticks of
/// 1/100 s, Linux's `USER_HZ`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| f[i].parse::<f64>().expect("stat field");
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

struct Load {
    batch: usize,
    batches: usize,
    value_size: usize,
    keyspace: u64,
}

/// A cheap deterministic random key index (xorshift), different per replica thread.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn replica(dir: std::path::PathBuf, load: &Load, seed: u64, apply: bool) {
    let mut store = StoreOptions::default();
    store.data_memtable_bytes =
        env_usize("DATA_MEMTABLE_MIB", store.data_memtable_bytes >> 20) << 20;
    let (opts, cfs) = db_options(&store);
    let db = DB::open_cf_descriptors(&opts, &dir, cfs).expect("open RocksDB");
    let log = db.cf_handle(keys::CF_LOG).expect("log cf");
    let data = db.cf_handle(keys::CF_DATA).expect("data cf");
    let meta = db.cf_handle(keys::CF_META).expect("meta cf");
    let value = vec![b'x'; load.value_size];
    let mut rng = seed | 1;
    let mut entry = Vec::new();
    let mut user_keys = Vec::with_capacity(load.batch);
    for index in 1..=load.batches as u64 {
        entry.clear();
        user_keys.clear();
        for _ in 0..load.batch {
            let k = format!("key:{:012}", next(&mut rng) % load.keyspace);
            entry.extend_from_slice(k.as_bytes());
            entry.extend_from_slice(&value);
            user_keys.push(k);
        }
        db.put_cf(&log, keys::log(SHARD, index), &entry)
            .expect("append");
        db.flush_wal(true).expect("sync");
        if !apply {
            continue;
        }
        let mut batch = WriteBatch::default();
        for k in &user_keys {
            let mut record = Vec::with_capacity(value.len() + 10);
            record.extend_from_slice(&index.to_be_bytes());
            record.extend_from_slice(&value);
            batch.put_cf(&data, keys::data(SHARD, k.as_bytes()), record);
        }
        batch.put_cf(&meta, b"applied", index.to_be_bytes());
        db.write(batch).expect("apply");
    }
}

fn aof(path: std::path::PathBuf, load: &Load, seed: u64) {
    let mut file = std::fs::File::create(path).expect("create AOF");
    let value = vec![b'x'; load.value_size];
    let mut rng = seed | 1;
    let mut buf = Vec::new();
    for _ in 0..load.batches {
        buf.clear();
        for _ in 0..load.batch {
            let k = format!("key:{:012}", next(&mut rng) % load.keyspace);
            write!(
                buf,
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n",
                k.len(),
                value.len()
            )
            .expect("format");
            buf.extend_from_slice(&value);
            buf.extend_from_slice(b"\r\n");
        }
        file.write_all(&buf).expect("append");
        file.sync_data().expect("fdatasync");
    }
}

fn main() {
    let replicas = env_usize("REPLICAS", 3);
    let batch = env_usize("BATCH", 50).max(1);
    let load = Load {
        batch,
        batches: env_usize("WRITES", 200_000) / batch,
        value_size: env_usize("VALUE_SIZE", 100),
        keyspace: env_usize("KEYSPACE", 100_000).max(1) as u64,
    };
    let mode = std::env::var("MODE").unwrap_or_default();
    if !["", "aof", "log"].contains(&mode.as_str()) {
        panic!("MODE must be aof or log, not {mode:?}");
    }
    let dir = tempfile::tempdir_in(std::env::var("FLOOR_DIR").unwrap_or_else(|_| ".".into()))
        .expect("temporary directory");
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    std::thread::scope(|s| {
        for r in 0..replicas {
            let (path, load, mode) = (dir.path().join(format!("r{r}")), &load, mode.as_str());
            let seed = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(r as u64 + 1);
            s.spawn(move || match mode {
                "aof" => aof(path, load, seed),
                m => replica(path, load, seed, m != "log"),
            });
        }
    });
    let (cpu, secs) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    let writes = (load.batch * load.batches) as f64;
    println!(
        "{replicas} {} {:.0} {:.1} {:.2}",
        load.batch,
        writes / secs,
        cpu * 1e6 / writes,
        cpu / secs
    );
}
