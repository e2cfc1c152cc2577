//! One `tanli-server` process: spawned with its own temp dir, its ready line read from stdout with
//! a deadline, stderr appended to a log file whose tail is printed when a test panics, killed by
//! PID with SIGKILL (`kill9`, and on drop), restarted on the same data dir and ports.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::binary::server_bin;
use crate::client::{self, RaftStatus};
use crate::wait::wait_until;

/// How long a server may take from spawn to its ready line (RocksDB open and recovery included).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server that must refuse to start may take to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a single node may take to elect itself leader after its ready line.
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of the server log printed when a test panics.
const LOG_TAIL_LINES: usize = 80;
/// Set to keep the temp dirs of nodes in a failed test (their paths are printed).
const KEEP_DIRS_ENV: &str = "TANLI_TEST_KEEP_DIRS";
/// The default loopback address. Cluster nodes may get their own (127.0.0.2, ...): see
/// [`loopback_ip`].
pub const LOOPBACK: &str = "127.0.0.1";

/// The command line of one server. Ports of 0 are ephemeral; after the first start the real ports
/// are written back so a restart listens on the same ones.
#[derive(Clone, Debug, Default)]
pub struct ServerSpec {
    /// `--bind`; [`LOOPBACK`] when `None`.
    pub bind: Option<IpAddr>,
    pub port: u16,
    pub cluster_port: u16,
    /// `--join host:cport,...`: cluster addresses of live members. Empty on the node that
    /// bootstraps a new cluster; on a node with an existing data dir it only seeds gossip.
    pub join: Vec<SocketAddr>,
    /// `--advertise IP`.
    pub advertise: Option<IpAddr>,
    /// `--initial-shards N` (only meaningful on the bootstrapping node; server default 8).
    pub initial_shards: Option<u32>,
    /// `--replication-factor R` (server default 3).
    pub replication_factor: Option<u32>,
    pub requirepass: Option<String>,
    pub extra_args: Vec<String>,
    /// Environment variables for the process (e.g. `LD_PRELOAD` of libfaketime or libfiu for the
    /// fault-injection suite), set on top of the cleaned environment of [`server_command`].
    pub env: Vec<(String, String)>,
}

impl ServerSpec {
    /// A single-node server (no flags but ports and data dir), on ephemeral loopback ports: it
    /// bootstraps a one-node cluster leading every shard.
    pub fn single() -> Self {
        Self::default()
    }

    /// The address the server binds.
    pub fn bind_ip(&self) -> IpAddr {
        self.bind
            .unwrap_or_else(|| LOOPBACK.parse().expect("LOOPBACK parses"))
    }

    /// The arguments for `tanli-server`, with `data_dir` as `--data-dir`.
    pub fn args(&self, data_dir: &Path) -> Vec<String> {
        let mut args = vec![
            "--bind".to_owned(),
            self.bind_ip().to_string(),
            "--port".to_owned(),
            self.port.to_string(),
            "--cluster-port".to_owned(),
            self.cluster_port.to_string(),
            // The admin port (/metrics, /health) is always ephemeral: nothing needs to know it
            // in advance, and the default (port + 3000) could be taken.
            "--admin-port".to_owned(),
            "0".to_owned(),
            "--data-dir".to_owned(),
            data_dir.display().to_string(),
            "--loglevel".to_owned(),
            "verbose".to_owned(),
        ];
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                args.push(name.to_owned());
                args.push(value);
            }
        };
        flag(
            "--join",
            (!self.join.is_empty()).then(|| {
                self.join
                    .iter()
                    .map(SocketAddr::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        );
        flag("--advertise", self.advertise.map(|ip| ip.to_string()));
        flag(
            "--initial-shards",
            self.initial_shards.map(|n| n.to_string()),
        );
        flag(
            "--replication-factor",
            self.replication_factor.map(|n| n.to_string()),
        );
        flag("--requirepass", self.requirepass.clone());
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// What the server announced on stdout:
/// `tanli ready node=<id> resp=<ip:port> cluster=<ip:port> admin=<ip:port>` (`admin` is absent
/// from servers older than the admin port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    pub node_id: u64,
    pub resp: SocketAddr,
    pub cluster: SocketAddr,
    pub admin: Option<SocketAddr>,
}

impl Ready {
    /// Parses the ready line; `None` for any other line.
    pub fn parse(line: &str) -> Option<Ready> {
        let mut words = line.split_whitespace();
        if words.next()? != "tanli" || words.next()? != "ready" {
            return None;
        }
        let (mut node_id, mut resp, mut cluster, mut admin) = (None, None, None, None);
        for word in words {
            match word.split_once('=')? {
                ("node", v) => node_id = v.parse().ok(),
                ("resp", v) => resp = v.parse().ok(),
                ("cluster", v) => cluster = v.parse().ok(),
                ("admin", v) => admin = Some(v.parse().ok()?),
                _ => {}
            }
        }
        Some(Ready {
            node_id: node_id?,
            resp: resp?,
            cluster: cluster?,
            admin,
        })
    }
}

/// A running (or killed) `tanli-server` process and the temp dir it owns.
pub struct Node {
    spec: ServerSpec,
    /// Holds `data/` and `server.log`; deleted on drop.
    dir: Option<TempDir>,
    child: Option<Child>,
    /// Lines the server printed on stdout, from a reader thread (ends at the process's exit).
    stdout: Option<Receiver<String>>,
    ready: Option<Ready>,
    starts: u32,
}

impl Node {
    /// Spawns a server for `spec` in a fresh temp dir and waits for its ready line.
    pub fn start(spec: ServerSpec) -> Node {
        let mut node = Node::spawn(spec);
        node.await_ready();
        node
    }

    /// A single node on ephemeral ports, ready and leader of its shard (so it accepts writes).
    pub fn start_single() -> Node {
        Node::start_single_with(ServerSpec::single())
    }

    /// Like [`Node::start_single`] with a custom spec (e.g. `requirepass`).
    pub fn start_single_with(spec: ServerSpec) -> Node {
        let node = Node::start(spec);
        node.wait_role_leader(LEADER_TIMEOUT);
        node
    }

    /// Spawns a server for `spec` in a fresh temp dir without waiting; call [`Node::await_ready`].
    pub fn spawn(spec: ServerSpec) -> Node {
        let dir = tempfile::Builder::new()
            .prefix("tanli-test-")
            .tempdir()
            .expect("create a temp dir for a test node");
        let mut node = Node {
            spec,
            dir: Some(dir),
            child: None,
            stdout: None,
            ready: None,
            starts: 0,
        };
        node.launch();
        node
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("node temp dir").path()
    }

    /// The node's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// The file the server's stderr is appended to, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("server.log")
    }

    pub fn spec(&self) -> &ServerSpec {
        &self.spec
    }

    fn launch(&mut self) {
        assert!(
            self.child.is_none(),
            "launch() while the process is running"
        );
        self.starts += 1;
        let args = self.spec.args(&self.data_dir());
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the server log file");
        writeln!(log, "=== tanli-test: start #{}: {args:?}", self.starts)
            .expect("write to the server log file");
        let mut child = server_command()
            .args(&args)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn tanli-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.child = Some(child);
        self.stdout = Some(rx);
    }

    /// Waits for the ready line of the current start and checks it against earlier starts: a
    /// restarted node keeps its id and ports. Panics (with the log tail) if the process exits
    /// first or [`READY_TIMEOUT`] passes.
    pub fn await_ready(&mut self) -> Ready {
        let deadline = Instant::now() + READY_TIMEOUT;
        let rx = self.stdout.as_ref().expect("await_ready() after spawn");
        let ready = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(ready) = Ready::parse(&line) {
                        break ready;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "tanli-server (start #{}) printed no ready line within {READY_TIMEOUT:?}\n{}",
                    self.starts,
                    self.log_tail(LOG_TAIL_LINES)
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().and_then(|c| c.wait().ok());
                    self.child = None;
                    panic!(
                        "tanli-server (start #{}) exited before its ready line: {status:?}\n{}",
                        self.starts,
                        self.log_tail(LOG_TAIL_LINES)
                    )
                }
            }
        };
        assert!(ready.resp.ip().is_loopback() && ready.cluster.ip().is_loopback());
        if self.spec.advertise.is_none() {
            assert_eq!(
                ready.resp.ip(),
                self.spec.bind_ip(),
                "the ready line's RESP address is not the --bind address"
            );
        }
        if let Some(first) = self.ready {
            assert_eq!(
                ready.node_id, first.node_id,
                "a restarted node (same data dir) must keep its node id"
            );
        }
        for (asked, got) in [
            (self.spec.port, ready.resp.port()),
            (self.spec.cluster_port, ready.cluster.port()),
        ] {
            assert!(
                asked == 0 || asked == got,
                "asked for port {asked}, got {got}"
            );
        }
        self.spec.port = ready.resp.port();
        self.spec.cluster_port = ready.cluster.port();
        self.ready = Some(ready);
        ready
    }

    fn ready(&self) -> Ready {
        self.ready.expect("node has printed its ready line")
    }

    pub fn id(&self) -> u64 {
        self.ready().node_id
    }

    /// The RESP listen address.
    pub fn addr(&self) -> SocketAddr {
        self.ready().resp
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    pub fn cluster_addr(&self) -> SocketAddr {
        self.ready().cluster
    }

    /// The HTTP admin address (`/metrics`, `/health`) of the current start.
    pub fn admin_addr(&self) -> SocketAddr {
        self.ready()
            .admin
            .expect("the ready line names the admin address")
    }

    /// PID of the running process, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is alive (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// SIGKILL by PID and reap. No shutdown code runs in the server.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // kill() is SIGKILL on Unix; an error means it already exited, which wait() reaps.
            let _ = child.kill();
            child.wait().expect("reap killed tanli-server");
        }
        self.stdout = None;
    }

    /// Kills the process if running, then starts it again on the same data dir and ports and
    /// waits for its ready line.
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
        self.await_ready();
    }

    /// Like [`Node::restart`], but first sets `--join` (for a node with a data dir this only
    /// seeds gossip, so it finds the cluster even if its own address is forgotten).
    pub fn restart_joining(&mut self, join: Vec<SocketAddr>) {
        self.kill9();
        self.spec.join = join;
        self.launch();
        self.await_ready();
    }

    /// A volume re-mount: the process (if running) is killed, and the same data dir is started
    /// on `bind` with new free ports, joining through `join`. The node must keep its id.
    pub fn remount(&mut self, bind: IpAddr, join: Vec<SocketAddr>) {
        self.kill9();
        let ports = reserve_ports_on(bind, 2);
        self.spec.bind = Some(bind);
        self.spec.port = ports[0];
        self.spec.cluster_port = ports[1];
        self.spec.join = join;
        self.launch();
        self.await_ready();
    }

    /// Graceful stop: SIGTERM by PID, then waits up to [`EXIT_TIMEOUT`] for the process to exit
    /// and returns its status. Panics (after SIGKILL) if it does not exit in time.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let Some(status) = wait_exit(&mut child, EXIT_TIMEOUT) else {
            panic!(
                "tanli-server (pid {pid}) did not exit within {EXIT_TIMEOUT:?} of SIGTERM\n{}",
                self.log_tail(LOG_TAIL_LINES)
            );
        };
        self.stdout = None;
        Some(status)
    }

    /// Starts a killed node again without waiting (use [`Node::await_ready`]), so several can
    /// start at once.
    pub fn spawn_again(&mut self) {
        assert!(!self.is_running(), "spawn_again() on a running node");
        self.launch();
    }

    /// Like [`Node::spawn_again`] with `--join` set first.
    pub fn spawn_again_joining(&mut self, join: Vec<SocketAddr>) {
        self.spec.join = join;
        self.spawn_again();
    }

    /// A `redis` connection to this node (authenticated if the node has `requirepass`).
    pub fn conn(&self) -> redis::Connection {
        client::connect(self.addr(), self.spec.requirepass.as_deref())
    }

    /// A numeric field of one `INFO` section of this node; panics if the field is missing or not
    /// a number.
    pub fn info_number(&self, section: &str, field: &str) -> u64 {
        let info = client::info(&mut self.conn(), section)
            .unwrap_or_else(|e| panic!("INFO {section}: {e}"));
        info.get(field)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("INFO {section} has no numeric {field}: {info:?}"))
    }

    /// The `INFO raft` fields of this node (every hosted shard), or why they could not be read.
    pub fn raft_status(&self) -> Result<RaftStatus, String> {
        client::raft_status(self.addr(), self.spec.requirepass.as_deref())
    }

    /// Waits until this node leads every shard it hosts (a single node bootstraps a cluster of
    /// its own and elects itself in each shard, the meta shard included).
    pub fn wait_role_leader(&self, timeout: Duration) {
        wait_until(
            timeout,
            "the single node to become leader of every shard it hosts",
            || {
                let status = self.raft_status()?;
                let data_shards = status.shards.keys().filter(|&&id| id != 0).count();
                let all_lead = status.shards.values().all(|s| s.role == "leader");
                if data_shards > 0 && all_lead {
                    Ok(())
                } else {
                    Err(format!("{status:?}"))
                }
            },
        );
    }

    /// Memory of the process from `/proc/<pid>/status`.
    pub fn memory(&self) -> Memory {
        let pid = self.pid().expect("memory() of a running node");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .expect("read /proc/<pid>/status of tanli-server");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
        };
        Memory {
            rss_kib: field("VmRSS:"),
            peak_rss_kib: field("VmHWM:"),
            peak_virtual_kib: field("VmPeak:"),
        }
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log_path().display()));
        let all: Vec<&str> = text.lines().collect();
        let tail = all[all.len().saturating_sub(lines)..].join("\n");
        format!(
            "--- last {lines} lines of {} ---\n{tail}\n--- end of log ---",
            self.log_path().display()
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let who = self.ready.map_or("?".to_owned(), |r| r.node_id.to_string());
            eprintln!("tanli-test: node {who}: {}", self.log_tail(LOG_TAIL_LINES));
            if std::env::var_os(KEEP_DIRS_ENV).is_some() {
                if let Some(dir) = self.dir.take() {
                    eprintln!("tanli-test: kept {}", dir.keep().display());
                }
            }
        }
    }
}

/// A process's memory in KiB: resident now, peak resident, and peak virtual (which also shows
/// allocations whose pages were never touched).
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    pub peak_virtual_kib: u64,
}

/// A server run that ended on its own: exit status and everything it printed.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tanli-server` for `spec` on `data_dir` and waits for it to exit by itself, as it must
/// when it cannot start. Panics if it is still running after [`EXIT_TIMEOUT`] (after killing it).
pub fn run_expecting_exit(spec: &ServerSpec, data_dir: &Path) -> Exited {
    let mut child = server_command()
        .args(spec.args(data_dir))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tanli-server");
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let Some(status) = wait_exit(&mut child, EXIT_TIMEOUT) else {
        panic!(
            "tanli-server was expected to refuse to start, but it was still running after \
             {EXIT_TIMEOUT:?}; stdout:\n{}\nstderr:\n{}",
            collect(&stdout),
            collect(&stderr)
        );
    };
    Exited {
        status,
        stdout: collect(&stdout),
        stderr: collect(&stderr),
    }
}

/// Waits up to `timeout` for `child` to exit; past it, kills it (SIGKILL), reaps it and returns
/// `None`.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll tanli-server") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(crate::wait::POLL_INTERVAL);
    }
}

/// Reads a child's pipe to the end on a thread; the text arrives on the returned channel.
fn drain(pipe: Option<impl Read + Send + 'static>) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut text);
        }
        let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
    });
    rx
}

/// The text of a drained pipe, waiting a little for its end (a process that exited has closed
/// it, unless something it started still holds it).
fn collect(rx: &Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| "(output still open 5 s after exit)".to_owned())
}

/// `tanli-server` with an environment that cannot change its configuration: the server reads
/// `TANLI_*` variables as flags, so none is inherited from the test's environment.
fn server_command() -> Command {
    let mut command = Command::new(server_bin());
    command.env_remove("RUST_LOG");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TANLI_") {
            command.env_remove(name);
        }
    }
    command
}

/// Reserves `n` distinct free ports on [`LOOPBACK`]; see [`reserve_ports_on`].
pub fn reserve_ports(n: usize) -> Vec<u16> {
    reserve_ports_on(LOOPBACK.parse().expect("LOOPBACK parses"), n)
}

/// Reserves `n` distinct ports free on `ip` for both TCP and UDP (a cluster port carries Raft
/// over TCP and gossip over UDP), for servers whose addresses must be known in advance (the
/// cluster port other nodes `--join`, or a node re-mounted on new ports). They are picked below
/// the kernel's ephemeral range, so no outgoing connection or port-0 bind can take one between
/// this call and the server's bind; each is checked free by binding it on `ip` and on
/// 127.0.0.1, and never handed out twice by this process (tests run in parallel threads).
pub fn reserve_ports_on(ip: IpAddr, n: usize) -> Vec<u16> {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::Mutex;
    /// Ports already handed out in this test process.
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    if n == 0 {
        return Vec::new();
    }

    let (low, high) = (20_000u16, ephemeral_range_start().clamp(20_001, 32_768));
    let random = RandomState::new();
    let mut handed_out = HANDED_OUT.lock().expect("port registry");
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    let mut ports = Vec::new();
    let default: IpAddr = LOOPBACK.parse().expect("LOOPBACK parses");
    for attempt in 0u64.. {
        assert!(attempt < 100_000, "no {n} free ports in {low}..{high}");
        let port = low
            + u16::try_from(random.hash_one(attempt) % u64::from(high - low))
                .expect("port offset fits u16");
        if handed_out.contains(&port) {
            continue;
        }
        let free = |ip: IpAddr| {
            TcpListener::bind((ip, port)).is_ok() && UdpSocket::bind((ip, port)).is_ok()
        };
        if free(ip) && (ip == default || free(default)) {
            handed_out.insert(port);
            ports.push(port);
            if ports.len() == n {
                break;
            }
        }
    }
    ports
}

/// The `index`-th loopback address for a cluster node: 127.0.0.(index + 1) if this machine lets a
/// process bind it (Linux routes all of 127/8 to `lo`), else 127.0.0.1 for every node.
pub fn loopback_ip(index: usize) -> IpAddr {
    loopback_ip_in([127, 0, 0], index)
}

/// The `index`-th address of the loopback block `prefix.0/24`: `prefix.(index + 1)`, skipping
/// 127.0.0.1 (the address clients connect from, which must stay outside any partition), or
/// 127.0.0.1 for every node when distinct loopback addresses do not work here.
pub fn loopback_ip_in(prefix: [u8; 3], index: usize) -> IpAddr {
    let fallback: IpAddr = LOOPBACK.parse().expect("LOOPBACK parses");
    let Ok(last) = u8::try_from(index + 1) else {
        return fallback;
    };
    if (prefix == [127, 0, 0] && last <= 1) || last == 255 || !distinct_loopbacks_work() {
        return fallback;
    }
    IpAddr::from([prefix[0], prefix[1], prefix[2], last])
}

/// Whether 127.0.0.2 can be bound for TCP and UDP and reached over TCP (checked once).
pub fn distinct_loopbacks_work() -> bool {
    use std::sync::OnceLock;
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let ip = IpAddr::from([127, 0, 0, 2]);
        let Ok(listener) = TcpListener::bind((ip, 0)) else {
            return false;
        };
        let Ok(addr) = listener.local_addr() else {
            return false;
        };
        UdpSocket::bind((ip, 0)).is_ok()
            && std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
    })
}

/// The first port of the kernel's ephemeral range (Linux default 32768).
fn ephemeral_range_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

#[cfg(test)]
mod tests {
    use super::Ready;

    #[test]
    fn ready_lines_parse_with_and_without_the_admin_address() {
        let new = Ready::parse(
            "tanli ready node=3 resp=127.0.0.1:7001 cluster=127.0.0.1:17001 admin=127.0.0.1:9001",
        )
        .expect("a ready line");
        assert_eq!(new.node_id, 3);
        assert_eq!(new.admin, "127.0.0.1:9001".parse().ok());
        let old = Ready::parse("tanli ready node=1 resp=127.0.0.1:7001 cluster=127.0.0.1:17001")
            .expect("a ready line of a server without the admin port");
        assert_eq!(old.admin, None);
        assert_eq!(
            Ready::parse("tanli ready node=1 resp=127.0.0.1:7001 cluster=127.0.0.1:17001 admin=x"),
            None
        );
        assert_eq!(Ready::parse("something else"), None);
    }
}
