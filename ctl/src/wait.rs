//! Polling: `--wait` (a plan finished, a node drained, a leadership moved) and `watch`.
//!
//! A wait asks the cluster every [`POLL_EVERY`] until what it waits for holds or its deadline
//! passes, showing a progress bar on stderr (hidden with `--json`, and by indicatif when stderr
//! is not a terminal). A poll that gets no answer is not the end: the meta shard may be
//! electing a leader, so polling goes on and the last error is told if the deadline passes. A
//! refusal ends the wait at once.

use std::pin::pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;

use crate::api::{Admin, Answer, Plan, PlanState, Status};
use crate::error::CtlError;
use crate::render;

/// Time between two polls.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// How often the bar's spinner and ETA are redrawn between polls.
const TICK_EVERY: Duration = Duration::from_millis(200);

/// What one poll saw.
enum Step<T> {
    Done(T),
    /// `pos` of `len` (the bar), and a word on what is left.
    Pending {
        pos: u64,
        len: u64,
        msg: String,
    },
}

/// How a waited-for plan ended.
pub enum PlanEnd {
    /// Done or cancelled: the plan's last state.
    Finished(Answer<Plan>),
    /// A later plan runs now, so this one has ended; how, the cluster no longer says.
    Superseded { by: u64 },
}

/// A bar counting `unit`, or a spinner alone without one; hidden when not `shown`.
fn bar(shown: bool, unit: Option<&str>) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let template = match unit {
        Some(unit) => format!(
            "{{spinner}} [{{elapsed}}] {{bar:30}} {{pos}}/{{len}} {unit}, {{msg}} (ETA {{eta}})"
        ),
        None => "{spinner} [{elapsed}] {msg}".to_string(),
    };
    let style =
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(0).with_style(style);
    bar.enable_steady_tick(TICK_EVERY);
    bar
}

/// Polls until `poll` is done, for at most `timeout`, with a bar counting `unit` (a spinner
/// alone without one) when `shown`.
async fn until<T>(
    timeout: Duration,
    what: &str,
    unit: Option<&str>,
    shown: bool,
    mut poll: impl AsyncFnMut() -> Result<Step<T>, CtlError>,
) -> Result<T, CtlError> {
    let bar = bar(shown, unit);
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer yet");
    let timed_out = |bar: &ProgressBar, last: &str| {
        bar.abandon();
        CtlError::TimedOut {
            after: timeout,
            what: format!("{what} ({last}); it goes on in the cluster"),
        }
    };
    loop {
        let Ok(seen) = tokio::time::timeout_at(deadline, poll()).await else {
            return Err(timed_out(&bar, &last));
        };
        match seen {
            Ok(Step::Done(v)) => {
                bar.finish_and_clear();
                return Ok(v);
            }
            Ok(Step::Pending { pos, len, msg }) => {
                bar.set_length(len);
                bar.set_position(pos);
                last = match unit {
                    Some(unit) if len > 0 => format!("{pos} of {len} {unit}, {msg}"),
                    _ => msg.clone(),
                };
                bar.set_message(msg);
            }
            Err(e) if e.is_transient() => {
                last = e.to_string();
                bar.set_message(last.clone());
            }
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        }
        if Instant::now() >= deadline {
            return Err(timed_out(&bar, &last));
        }
        tokio::time::sleep_until((Instant::now() + POLL_EVERY).min(deadline)).await;
    }
}

/// Waits until plan `id` is done or cancelled (`TANLI.REBALANCE STATUS`).
pub async fn plan(
    admin: &Admin,
    id: u64,
    timeout: Duration,
    shown: bool,
) -> Result<PlanEnd, CtlError> {
    until(
        timeout,
        &format!("plan {id}"),
        Some("moves"),
        shown,
        async || {
            let answer = admin.rebalance_status().await?;
            Ok(plan_step(id, answer))
        },
    )
    .await
}

fn plan_step(id: u64, answer: Answer<Option<Plan>>) -> Step<PlanEnd> {
    let pending = |msg: String| Step::Pending {
        pos: 0,
        len: 0,
        msg,
    };
    let Answer { raw, value } = answer;
    let Some(p) = value else {
        return pending(format!("plan {id} not shown yet"));
    };
    match p.id {
        Some(shown) if shown == id => {}
        Some(later) if later > id => return Step::Done(PlanEnd::Superseded { by: later }),
        other => return pending(format!("plan {} shown, not yet {id}", render::opt(other))),
    }
    match p.state {
        PlanState::Done | PlanState::Cancelled => {
            Step::Done(PlanEnd::Finished(Answer { raw, value: p }))
        }
        _ => Step::Pending {
            pos: p.finished(),
            len: p.total,
            msg: format!("{} in flight", p.in_flight),
        },
    }
}

/// Waits until `node` holds no replica and leads no shard (`TANLI.STATUS`).
pub async fn drained(
    admin: &Admin,
    node: u64,
    timeout: Duration,
    shown: bool,
) -> Result<Answer<Status>, CtlError> {
    let mut first = None;
    let what = format!("drain of node {node}");
    until(timeout, &what, Some("replicas moved"), shown, async || {
        let answer = admin.status().await?;
        Ok(drain_step(node, &mut first, answer))
    })
    .await
}

/// `first`: the node's replica count at the first poll (the bar's length).
fn drain_step(node: u64, first: &mut Option<u64>, answer: Answer<Status>) -> Step<Answer<Status>> {
    let s = &answer.value;
    let Some(n) = s.nodes.iter().find(|n| n.id == node) else {
        if s.nodes.is_empty() {
            let msg = "the answering node has no cluster map yet".to_string();
            return Step::Pending {
                pos: 0,
                len: 0,
                msg,
            };
        }
        // Forgotten (removed): it holds nothing.
        return Step::Done(answer);
    };
    if n.replicas == 0 && n.leaders == 0 {
        return Step::Done(answer);
    }
    let len = *first.get_or_insert(n.replicas);
    Step::Pending {
        pos: len.saturating_sub(n.replicas),
        len: len.max(n.replicas),
        msg: format!("{} leaderships left", n.leaders),
    }
}

/// Waits until `to` leads `shard` (`TANLI.STATUS`).
pub async fn leader(
    admin: &Admin,
    shard: u64,
    to: u64,
    timeout: Duration,
    shown: bool,
) -> Result<Answer<Status>, CtlError> {
    let what = format!("node {to} to lead shard {shard}");
    until(timeout, &what, None, shown, async || {
        let answer = admin.status().await?;
        let now = answer
            .value
            .shards
            .iter()
            .find(|s| s.id == shard)
            .map(|s| s.leader);
        Ok(match now {
            Some(Some(l)) if l == to => Step::Done(answer),
            Some(l) => Step::Pending {
                pos: 0,
                len: 0,
                msg: format!("shard {shard} is led by {}", render::opt(l)),
            },
            None => Step::Pending {
                pos: 0,
                len: 0,
                msg: format!("shard {shard} is not shown"),
            },
        })
    })
    .await
}

/// Clears the terminal and puts the cursor top left.
const CLEAR: &str = "\x1b[2J\x1b[H";

/// Redraws the status every `interval` until Ctrl-C; with `json`, prints one line of the
/// server's JSON each time instead. A node that does not answer is shown and asked again; a
/// refusal (a wrong password) ends it.
pub async fn watch(admin: &Admin, interval: Duration, json: bool) -> Result<(), CtlError> {
    let mut stop = pin!(tokio::signal::ctrl_c());
    loop {
        let seen = tokio::select! {
            seen = admin.status() => seen,
            _ = &mut stop => return Ok(()),
        };
        let header = format!(
            "{}  every {}s, Ctrl-C to stop\n\n",
            utc_clock(SystemTime::now()),
            interval.as_secs_f64()
        );
        match seen {
            Ok(answer) if json => crate::out(answer.raw.trim_end()),
            Ok(answer) => crate::out(&format!("{CLEAR}{header}{}", render::status(&answer.value))),
            Err(e) if e.is_transient() && json => eprintln!("tanlictl: {e}"),
            Err(e) if e.is_transient() => crate::out(&format!("{CLEAR}{header}{e}\n")),
            Err(e) => return Err(e),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut stop => return Ok(()),
        }
    }
}

/// `HH:MM:SS UTC`.
fn utc_clock(t: SystemTime) -> String {
    let s = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{parse, samples};

    fn plan_answer(raw: &str) -> Answer<Option<Plan>> {
        let a: Answer<Plan> = parse(raw, "plan").unwrap_or_else(|e| panic!("{e}"));
        Answer {
            raw: a.raw,
            value: Some(a.value),
        }
    }

    fn with_state(state: &str) -> String {
        samples::plan().replace("\"state\": \"running\"", &format!("\"state\": \"{state}\""))
    }

    #[test]
    fn a_plan_wait_ends_on_done_or_cancelled_of_that_plan() {
        match plan_step(7, plan_answer(samples::plan())) {
            Step::Pending { pos, len, msg } => {
                assert_eq!((pos, len, msg.as_str()), (2, 6, "1 in flight"))
            }
            Step::Done(_) => panic!("a running plan is not done"),
        }
        for state in ["done", "cancelled"] {
            let raw = with_state(state);
            assert!(raw.contains(state));
            match plan_step(7, plan_answer(&raw)) {
                Step::Done(PlanEnd::Finished(a)) => assert_eq!(a.raw, raw),
                _ => panic!("a {state} plan ends the wait"),
            }
        }
        // An older plan shown by a lagging node, or none: go on.
        assert!(matches!(
            plan_step(8, plan_answer(&with_state("done"))),
            Step::Pending { .. }
        ));
        let none = Answer {
            raw: r#"{"plan":null}"#.into(),
            value: None,
        };
        assert!(matches!(plan_step(7, none), Step::Pending { .. }));
        // A later plan: this one has ended.
        assert!(matches!(
            plan_step(6, plan_answer(samples::plan())),
            Step::Done(PlanEnd::Superseded { by: 7 })
        ));
    }

    #[test]
    fn a_drain_wait_counts_replicas_moved_until_none_is_left() {
        let status = |replicas: u64, leaders: u64| -> Answer<Status> {
            let raw = samples::status()
                .replace("\"replicas\": 5", &format!("\"replicas\": {replicas}"))
                .replace("\"leaders\": 2", &format!("\"leaders\": {leaders}"));
            parse(&raw, "status").unwrap_or_else(|e| panic!("{e}"))
        };
        let mut first = None;
        match drain_step(1, &mut first, status(5, 2)) {
            Step::Pending { pos, len, msg } => {
                assert_eq!((pos, len, msg.as_str()), (0, 5, "2 leaderships left"))
            }
            Step::Done(_) => panic!("not drained"),
        }
        assert!(matches!(
            drain_step(1, &mut first, status(2, 0)),
            Step::Pending { pos: 3, len: 5, .. }
        ));
        assert!(matches!(
            drain_step(1, &mut first, status(0, 1)),
            Step::Pending { pos: 5, .. }
        ));
        assert!(matches!(
            drain_step(1, &mut first, status(0, 0)),
            Step::Done(_)
        ));
        // Not in a map that has nodes: removed, so drained.
        assert!(matches!(
            drain_step(9, &mut first, status(5, 2)),
            Step::Done(_)
        ));
        let no_map = parse(samples::STATUS_NO_MAP, "status").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            drain_step(1, &mut None, no_map),
            Step::Pending { .. }
        ));
    }

    #[test]
    fn the_watch_clock_is_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 13 + 60 * 5 + 9);
        assert_eq!(utc_clock(t), "13:05:09 UTC");
    }
}
