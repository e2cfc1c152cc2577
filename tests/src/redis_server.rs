//! A real `redis-server` process, the reference the comparison tests (t80) hold tanli to.
//!
//! redis-server cannot listen on port 0 and report the port it got, so a free port is found by
//! binding a listener on 127.0.0.1:0 and dropping it; the server is started on that port, and if
//! it exits before answering (the port was taken in between) the start is retried on another one.
//! It runs without persistence (`--save '' --appendonly no`) in its own temp dir, is ready once it
//! answers PING (with a deadline), and is killed by PID (SIGKILL) on drop.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::client;
use crate::wait::POLL_INTERVAL;

/// The executable, looked up on `PATH`.
pub const REDIS_SERVER: &str = "redis-server";
/// How long a started redis-server may take to answer PING.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many ports are tried before giving up (each a port that was free a moment earlier).
const START_ATTEMPTS: usize = 10;
/// Lines of the redis-server log printed when it fails to start or a test panics.
const LOG_TAIL_LINES: usize = 30;

/// A running redis-server on 127.0.0.1 and the temp dir it works in.
pub struct RedisServer {
    child: Option<Child>,
    dir: TempDir,
    addr: SocketAddr,
}

impl RedisServer {
    /// Starts a redis-server on a free loopback port and waits until it answers PING. Panics
    /// (with its log) if none of [`START_ATTEMPTS`] ports works. Callers check
    /// `tools::have(REDIS_SERVER)` first to skip when it is not installed.
    pub fn start() -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("tanli-redis-")
            .tempdir()
            .expect("create a temp dir for redis-server");
        let log = dir.path().join("redis.log");
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut child = Command::new(REDIS_SERVER)
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {REDIS_SERVER}: {e}"));
            match await_ping(&mut child, addr) {
                Ok(()) => {
                    return RedisServer {
                        child: Some(child),
                        dir,
                        addr,
                    }
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_failure = format!("port {port}: {why}\n{}", log_tail(&log));
                }
            }
        }
        panic!("{REDIS_SERVER} did not start in {START_ATTEMPTS} attempts; last: {last_failure}")
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A `redis` crate connection to it.
    pub fn conn(&self) -> redis::Connection {
        client::connect(self.addr, None)
    }

    /// PID of the process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last lines of its log file.
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("redis.log"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!(
                "tanli-test: redis-server at {}: {}",
                self.addr,
                self.log_tail()
            );
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls PING until it answers PONG; fails if the process exits or the deadline passes.
fn await_ping(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited before answering PING: {status}"));
        }
        let pong = client::try_connect(addr, None, Duration::from_secs(1))
            .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn));
        if pong.as_deref() == Ok("PONG") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("no PONG within {READY_TIMEOUT:?}: {pong:?}"));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The last [`LOG_TAIL_LINES`] lines of a redis-server log file.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(LOG_TAIL_LINES);
    format!(
        "--- redis-server log tail ---\n{}",
        lines[from..].join("\n")
    )
}

/// A port that was free on 127.0.0.1 a moment ago (the kernel's choice for port 0).
fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}
