//! Waiting on predicates with deadlines. Every wait in the tests goes through here, so none can
//! hang forever and every timeout says what it was waiting for and what it last saw.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How often a predicate is re-checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Polls `probe` until it returns `Ok`, and returns that value. Panics after `timeout` with
/// `what` and the last `Err` the probe returned.
pub fn wait_until<T, E: Display>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe() {
            Ok(value) => return value,
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last observation: {last}");
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Turns a boolean check into a probe result for [`wait_until`].
pub fn check(ok: bool, observation: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(observation())
    }
}
