//! Running the external Redis tools (`redis-cli`, `redis-benchmark`) from tests: skipping when
//! one is missing, and running one with a deadline, killed by PID if it outlives it.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::tool_available;

/// Whether `tool` is installed; if not, prints why the calling test is skipped.
pub fn have(tool: &str) -> bool {
    let ok = tool_available(tool);
    if !ok {
        eprintln!("SKIPPED: `{tool}` is not on PATH (install redis-tools; .ci/run does)");
    }
    ok
}

/// Runs `program args` with `stdin` fed in, killing it by PID if it outlives `timeout`.
pub fn run(program: &str, args: &[String], stdin: &[u8], timeout: Duration) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(stdin).expect("write stdin");
    } // closed: the tool sees EOF
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(output) => output.unwrap_or_else(|e| panic!("wait for {program}: {e}")),
        Err(_) => {
            // The child was moved into the waiting thread; stop it by PID.
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{program} {args:?} did not finish within {timeout:?}");
        }
    }
}

/// What one `redis-benchmark -q` run printed.
pub struct BenchmarkRun {
    pub stdout: String,
    pub stderr: String,
    /// The final line of each test (`SET: 12345.68 requests per second, p50=0.311 msec`).
    pub finals: Vec<String>,
    pub took: Duration,
}

/// Runs `redis-benchmark args` (which must include `-q`) with a deadline and panics unless it
/// exits 0 and its output mentions none of `forbidden` (compared in lower case).
pub fn benchmark(args: &[&str], timeout: Duration, forbidden: &[&str]) -> BenchmarkRun {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let started = std::time::Instant::now();
    let out = run("redis-benchmark", &args, b"", timeout);
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "redis-benchmark {args:?} exited {}: {stdout}\n{stderr}",
        out.status
    );
    for text in [&stdout, &stderr] {
        let lower = text.to_lowercase();
        if let Some(word) = forbidden.iter().find(|w| lower.contains(*w)) {
            panic!("redis-benchmark output mentions {word:?}:\n{stdout}\n{stderr}");
        }
    }
    // -q prints progress lines ending in \r and one final line per test.
    let finals = stdout
        .split(['\r', '\n'])
        .filter(|line| line.contains("requests per second"))
        .map(str::to_owned)
        .collect();
    BenchmarkRun {
        stdout,
        stderr,
        finals,
        took,
    }
}
