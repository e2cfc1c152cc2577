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
