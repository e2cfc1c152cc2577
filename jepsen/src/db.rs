//! The database under test: N real `tanli-server` processes (the integration tests' harness), each
//! on its own loopback address in a block of this run's own (127.a.b.0/24), with the process-level
//! faults: SIGKILL and restart, SIGSTOP and SIGCONT, re-mount of a data directory on a new address,
//! clock jumps through libfaketime and disk errors through libfiu.
//!
//! Clock and disk faults need the libraries preloaded from the start, so a run asks for them when
//! it starts the cluster ([`Preload`]). The node addresses clients dial are shared with the client
//! threads ([`Db::addresses`]) and updated when a node moves.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, RwLock};

use anyhow::{bail, Context};
use tanli_tests::{Cluster, ClusterOptions};

/// libfaketime, as Debian's `libfaketime` package installs it.
pub const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// libfiu's preload libraries, as Debian's `libfiu0` package installs them.
pub const FIU_LIBS: [&str; 2] = [
    "/usr/lib/fiu/fiu_run_preload.so",
    "/usr/lib/fiu/fiu_posix_preload.so",
];

/// Which fault libraries every node is started with.
#[derive(Clone, Copy, Debug, Default)]
pub struct Preload {
    /// libfaketime with a per-node offset file (`DONT_FAKE_MONOTONIC=1`: tokio's timers stay
    /// real, as the wall clock jumps).
    pub clock: bool,
    /// libfiu's POSIX failure points, remote-controlled with `fiu-ctrl`.
    pub disk: bool,
}

impl Preload {
    /// Why a preload cannot be used here (its library or tool is missing), if it cannot.
    pub fn unavailable(clock: bool, disk: bool) -> Option<String> {
        if clock && !Path::new(FAKETIME_LIB).is_file() {
            return Some(format!(
                "{FAKETIME_LIB} is missing: install Debian's `libfaketime`"
            ));
        }
        if disk && (FIU_LIBS.iter().any(|l| !Path::new(l).is_file()) || !tool("fiu-ctrl")) {
            return Some(
                "libfiu is missing: install Debian's `fiu-utils` and `libfiu0`".to_owned(),
            );
        }
        None
    }
}

fn tool(name: &str) -> bool {
    tanli_tests::tool_available(name)
}

pub struct Db {
    pub cluster: Cluster,
    /// The RESP address of every node (index = position in `cluster.nodes`), for clients.
    addresses: Arc<RwLock<Vec<SocketAddr>>>,
    /// Holds the clock offset files and libfiu's control pipes.
    dir: tempfile::TempDir,
    preload: Preload,
}

impl Db {
    /// Starts `n` nodes in a random loopback block and waits until every shard is replicated
    /// and led. `extra_args` go to every node (e.g. `--unsafe-stale-reads`).
    pub fn start(n: usize, preload: Preload, extra_args: &[String]) -> anyhow::Result<Db> {
        let dir = tempfile::Builder::new()
            .prefix("tanli-jepsen-")
            .tempdir()
            .context("create a temp dir")?;
        let mut env = Vec::new();
        let mut libs = Vec::new();
        if preload.clock {
            for i in 0..64 {
                std::fs::write(dir.path().join(format!("clock-{i}")), "+0\n")?;
            }
            libs.push(FAKETIME_LIB.to_owned());
            let file = dir.path().join("clock-{node}");
            env.push((
                "FAKETIME_TIMESTAMP_FILE".to_owned(),
                file.display().to_string(),
            ));
            env.push(("DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned()));
            env.push(("FAKETIME_CACHE_DURATION".to_owned(), "1".to_owned()));
        }
        if preload.disk {
            libs.extend(FIU_LIBS.iter().map(|l| l.to_string()));
            env.push((
                "FIU_CTRL_FIFO".to_owned(),
                dir.path().join("fiu").display().to_string(),
            ));
            env.push(("FIU_ENABLE".to_owned(), String::new()));
        }
        if !libs.is_empty() {
            env.push(("LD_PRELOAD".to_owned(), libs.join(" ")));
        }
        let prefix = [
            127,
            rand::random_range(100..=250),
            rand::random_range(1..=250),
        ];
        let options = ClusterOptions {
            extra_args: extra_args.to_vec(),
            env,
            loopback_prefix: Some(prefix),
            ..ClusterOptions::default()
        };
        let cluster = std::panic::catch_unwind(|| Cluster::start_opts(n, options))
            .map_err(|p| anyhow::anyhow!("the cluster did not start: {}", panic_text(&p)))?;
        let addresses = Arc::new(RwLock::new(cluster.addrs()));
        Ok(Db {
            cluster,
            addresses,
            dir,
            preload,
        })
    }

    /// The node addresses clients dial, kept current across re-mounts.
    pub fn addresses(&self) -> Arc<RwLock<Vec<SocketAddr>>> {
        self.addresses.clone()
    }

    fn publish_addresses(&self) {
        let mut addrs = self.addresses.write().unwrap_or_else(|e| e.into_inner());
        *addrs = self.cluster.addrs();
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.cluster.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cluster.nodes.is_empty()
    }

    /// Every node's own IP (what partitions cut between).
    pub fn ips(&self) -> Vec<IpAddr> {
        self.cluster.nodes.iter().map(|n| n.addr().ip()).collect()
    }

    /// A short name of node `i` for the history: `n<i>@<ip>`.
    pub fn name(&self, i: usize) -> String {
        format!("n{}@{}", i + 1, self.cluster.nodes[i].addr().ip())
    }

    /// The index of the node that `CLUSTER SHARDS` names master of a random data shard.
    pub fn some_leader(&self) -> Option<usize> {
        let shards = self.cluster.shards().ok()?;
        let masters: Vec<u64> = shards
            .iter()
            .filter_map(|s| s.master().map(|m| m.id))
            .collect();
        if masters.is_empty() {
            return None;
        }
        let id = masters[rand::random_range(0..masters.len())];
        self.cluster.nodes.iter().position(|n| n.id() == id)
    }

    pub fn is_running(&mut self, i: usize) -> bool {
        self.cluster.nodes[i].is_running()
    }

    /// SIGKILL.
    pub fn kill(&mut self, i: usize) {
        self.cluster.nodes[i].kill9();
    }

    /// Starts a killed node again on its data directory, address and ports.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let id = self.cluster.nodes[i].id();
        let cluster = &mut self.cluster;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cluster.restart(id)))
            .map_err(|p| anyhow::anyhow!("restart of node {}: {}", i + 1, panic_text(&p)))?;
        self.publish_addresses();
        Ok(())
    }

    /// SIGKILLs node `i` and starts it on the same data directory under a new address and new
    /// ports: its volume moved to another host.
    pub fn remount(&mut self, i: usize) -> anyhow::Result<String> {
        self.kill(i);
        let id = self.cluster.nodes[i].id();
        let cluster = &mut self.cluster;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cluster.remount(id)))
            .map_err(|p| anyhow::anyhow!("re-mount of node {}: {}", i + 1, panic_text(&p)))?;
        self.publish_addresses();
        Ok(self.cluster.nodes[i].addr().to_string())
    }

    /// SIGSTOP (`pause = true`) or SIGCONT.
    pub fn pause(&mut self, i: usize, pause: bool) -> anyhow::Result<()> {
        let pid = self.cluster.nodes[i]
            .pid()
            .with_context(|| format!("node {} is not running", i + 1))?;
        let signal = if pause { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .context("run kill")?;
        if !status.success() {
            bail!("kill {signal} {pid} failed");
        }
        Ok(())
    }

    /// Sets node `i`'s wall clock offset (libfaketime reads the file at most once a second).
    pub fn set_clock_offset(&self, i: usize, seconds: i64) -> anyhow::Result<()> {
        if !self.preload.clock {
            bail!("the cluster was not started with libfaketime");
        }
        let text = if seconds >= 0 {
            format!("+{seconds}\n")
        } else {
            format!("{seconds}\n")
        };
        std::fs::write(self.clock_file(i), text).context("write the clock offset file")
    }

    fn clock_file(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("clock-{i}"))
    }

    /// Runs libfiu control commands in node `i` (`enable_random name=...,probability=...`,
    /// `disable name=...`).
    pub fn fiu(&self, i: usize, commands: &[&str]) -> anyhow::Result<()> {
        if !self.preload.disk {
            bail!("the cluster was not started with libfiu");
        }
        let pid = self.cluster.nodes[i]
            .pid()
            .with_context(|| format!("node {} is not running", i + 1))?;
        let mut cmd = Command::new("fiu-ctrl");
        cmd.arg("-f").arg(self.dir.path().join("fiu"));
        for c in commands {
            cmd.args(["-c", c]);
        }
        let out = cmd.arg(pid.to_string()).output().context("run fiu-ctrl")?;
        if !out.status.success() {
            bail!(
                "fiu-ctrl failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Copies every node's server log into `dir` (`n1.log`, ...).
    pub fn save_logs(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (i, node) in self.cluster.nodes.iter().enumerate() {
            let to = dir.join(format!("n{}.log", i + 1));
            if let Err(e) = std::fs::copy(node.log_path(), &to) {
                eprintln!(
                    "tanli-jepsen: could not copy the log of node {}: {e}",
                    i + 1
                );
            }
        }
        Ok(())
    }
}

/// The message of a caught panic.
pub fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".to_owned())
}
