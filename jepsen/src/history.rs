//! The history of a run: every operation's invocation and completion, and every fault's start and
//! end, in the order they happened, written as JSON lines so any other checker can read it.
//!
//! # Format (one JSON object per line)
//!
//! ```json
//! {"index":0,"time":1234567,"process":3,"type":"invoke","f":"write","key":"r7","value":42}
//! {"index":1,"time":1930001,"process":3,"type":"ok","f":"write","key":"r7","value":42,"node":"127.66.7.2:21000"}
//! {"index":2,"time":2000000,"process":"nemesis","type":"info","f":"start","value":{"fault":"partition","detail":"[.2 .3] | [.4 .5 .6]"}}
//! ```
//!
//! - `index`: position in the history, from 0.
//! - `time`: nanoseconds since the run started (monotonic clock of the test runner).
//! - `process`: a client process number, or `"nemesis"`. A client process runs one operation at a
//!   time; after an indeterminate completion it is retired and its client continues as a new
//!   process (number + concurrency), exactly as Jepsen does, because the old operation may still
//!   take effect at any later time.
//! - `type`: `invoke` (sent), `ok` (definitely happened), `fail` (definitely did not happen), or
//!   `info` (indeterminate: timed out, connection lost, unknown error — may or may not happen,
//!   at any time after its invocation). Nemesis events are always `info`.
//! - `f`: `read`, `write`, `cas` (register); `add` (set); `incr` (counter); `final-read` (set and
//!   counter, after healing); `start` / `stop` (nemesis).
//! - `key`: the key the operation is on, if any.
//! - `value`: for `write` the value written; for `cas` `[expected, new]`; for `read` `null` at
//!   invocation and the value read (`null` for a missing key) at completion; for `add` the element;
//!   for `incr` `null`, and the new counter value at completion; for `final-read` the elements (set)
//!   or counter value read; for nemesis events `{"fault": name, "detail": text}`. On a `cas`
//!   completion, `ok` means the swap happened and `fail` that the current value differed.
//! - `node`: the server address that answered (completions only, when known).
//! - `error`: the error text of a `fail` or `info` completion.

use std::io::{BufRead, Write};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who performed an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    Client(u64),
    Nemesis(NemesisTag),
}

/// The literal string `"nemesis"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NemesisTag {
    Nemesis,
}

impl Process {
    pub const NEMESIS: Process = Process::Nemesis(NemesisTag::Nemesis);
}

/// What an event says about its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// The operation's function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum F {
    Read,
    Write,
    Cas,
    Add,
    Incr,
    FinalRead,
    Start,
    Stop,
}

/// One line of the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub index: u64,
    /// Nanoseconds since the run started.
    pub time: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub f: F,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A history being recorded by many threads: events get their index and time under one lock, so
/// the order of indexes is the real-time order of the calls to [`Recorder::record`].
pub struct Recorder {
    start: Instant,
    events: std::sync::Mutex<Vec<Event>>,
}

/// The parts of an event its recorder does not fill in.
#[derive(Clone, Debug)]
pub struct Op {
    pub process: Process,
    pub kind: Kind,
    pub f: F,
    pub key: Option<String>,
    pub value: Value,
    pub node: Option<String>,
    pub error: Option<String>,
}

impl Op {
    pub fn new(process: Process, kind: Kind, f: F, key: Option<String>, value: Value) -> Op {
        Op {
            process,
            kind,
            f,
            key,
            value,
            node: None,
            error: None,
        }
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            events: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Nanoseconds since the recorder was made.
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Appends `op` with the next index and the current time; returns the event.
    pub fn record(&self, op: Op) -> Event {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let event = Event {
            index: events.len() as u64,
            time: self.now(),
            process: op.process,
            kind: op.kind,
            f: op.f,
            key: op.key,
            value: op.value,
            node: op.node,
            error: op.error,
        };
        events.push(event.clone());
        event
    }

    /// The events so far.
    pub fn snapshot(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Writes `events` as JSON lines.
pub fn write_jsonl(events: &[Event], out: &mut impl Write) -> std::io::Result<()> {
    for event in events {
        serde_json::to_writer(&mut *out, event)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reads JSON lines written by [`write_jsonl`] (or by any tool following the format above).
pub fn read_jsonl(input: impl BufRead) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    for (number, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(&line)
            .map_err(|e| anyhow::anyhow!("history line {}: {e}", number + 1))?;
        events.push(event);
    }
    Ok(events)
}

/// An operation with its invocation and completion paired up.
#[derive(Clone, Debug, PartialEq)]
pub struct Completed {
    pub process: Process,
    pub f: F,
    pub key: Option<String>,
    /// The invocation's value.
    pub invoke_value: Value,
    /// `Ok`, `Fail` or `Info` (an invocation with no completion in the history is `Info`).
    pub kind: Kind,
    /// The completion's value (`Null` when there is none).
    pub value: Value,
    pub invoke_index: u64,
    pub invoke_time: u64,
    /// `None` for an operation that never completed.
    pub complete_index: Option<u64>,
    pub complete_time: Option<u64>,
    pub node: Option<String>,
    pub error: Option<String>,
}

/// Pairs every client invocation with the next completion of the same process. Nemesis events are
/// left out. Errors on a completion with no open invocation, or a second invocation on a process
/// that has one open.
pub fn pair(events: &[Event]) -> anyhow::Result<Vec<Completed>> {
    use std::collections::HashMap;
    let mut open: HashMap<Process, usize> = HashMap::new();
    let mut ops: Vec<Completed> = Vec::new();
    for event in events {
        if event.process == Process::NEMESIS {
            continue;
        }
        if event.kind == Kind::Invoke {
            if open.contains_key(&event.process) {
                anyhow::bail!(
                    "event {}: process {:?} invoked while an operation was open",
                    event.index,
                    event.process
                );
            }
            open.insert(event.process, ops.len());
            ops.push(Completed {
                process: event.process,
                f: event.f,
                key: event.key.clone(),
                invoke_value: event.value.clone(),
                kind: Kind::Info,
                value: Value::Null,
                invoke_index: event.index,
                invoke_time: event.time,
                complete_index: None,
                complete_time: None,
                node: None,
                error: None,
            });
        } else {
            let Some(at) = open.remove(&event.process) else {
                anyhow::bail!(
                    "event {}: completion of process {:?} with no open invocation",
                    event.index,
                    event.process
                );
            };
            let op = &mut ops[at];
            if op.f != event.f {
                anyhow::bail!(
                    "event {}: completion f {:?} does not match invocation f {:?}",
                    event.index,
                    event.f,
                    op.f
                );
            }
            op.kind = event.kind;
            op.value = event.value.clone();
            op.complete_index = Some(event.index);
            op.complete_time = Some(event.time);
            op.node = event.node.clone();
            op.error = event.error.clone();
        }
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip_as_json_lines() {
        let recorder = Recorder::new();
        recorder.record(Op::new(
            Process::Client(3),
            Kind::Invoke,
            F::Cas,
            Some("r1".into()),
            json!([1, 2]),
        ));
        let mut done = Op::new(
            Process::Client(3),
            Kind::Ok,
            F::Cas,
            Some("r1".into()),
            json!([1, 2]),
        );
        done.node = Some("127.0.0.2:7000".into());
        recorder.record(done);
        recorder.record(Op::new(
            Process::NEMESIS,
            Kind::Info,
            F::Start,
            None,
            json!({"fault": "kill", "detail": "n2"}),
        ));
        let events = recorder.snapshot();
        let mut bytes = Vec::new();
        write_jsonl(&events, &mut bytes).expect("write");
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(text.contains(r#""process":"nemesis""#), "{text}");
        assert!(text.contains(r#""type":"invoke""#), "{text}");
        assert!(text.contains(r#""f":"cas""#), "{text}");
        assert_eq!(read_jsonl(&bytes[..]).expect("read"), events);
    }

    #[test]
    fn pairing_matches_completions_to_invocations() {
        let recorder = Recorder::new();
        let key = || Some("k".to_owned());
        recorder.record(Op::new(
            Process::Client(0),
            Kind::Invoke,
            F::Write,
            key(),
            json!(1),
        ));
        recorder.record(Op::new(
            Process::Client(1),
            Kind::Invoke,
            F::Read,
            key(),
            json!(null),
        ));
        recorder.record(Op::new(
            Process::Client(1),
            Kind::Ok,
            F::Read,
            key(),
            json!(1),
        ));
        recorder.record(Op::new(
            Process::Client(0),
            Kind::Info,
            F::Write,
            key(),
            json!(1),
        ));
        recorder.record(Op::new(
            Process::Client(2),
            Kind::Invoke,
            F::Write,
            key(),
            json!(2),
        ));
        let ops = pair(&recorder.snapshot()).expect("pairs");
        assert_eq!(ops.len(), 3);
        assert_eq!((ops[0].kind, ops[0].complete_index), (Kind::Info, Some(3)));
        assert_eq!((ops[1].kind, ops[1].value.clone()), (Kind::Ok, json!(1)));
        assert_eq!((ops[2].kind, ops[2].complete_index), (Kind::Info, None));

        let bad = vec![recorder.snapshot()[2].clone()];
        assert!(
            pair(&bad).is_err(),
            "a completion with no invocation is an error"
        );
    }
}
