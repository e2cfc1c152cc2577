//! Test-only: histories written compactly, one event per line, so each checker test reads like
//! the history it checks.
//!
//! ```text
//! PROCESS TYPE F KEY [VALUE] [err=TEXT]
//! 0 invoke cas x [1, 2]
//! 0 fail cas x [1, 2] err=mismatch
//! n info start - {"fault": "kill", "detail": "n2"}
//! ```
//!
//! `PROCESS` is a client number or `n` (the nemesis); `KEY` is `-` for none; `VALUE` is JSON (the
//! rest of the line, `null` when absent); `err=` (last, no spaces) sets the error. Blank lines and
//! lines starting with `#` are skipped. Indexes count events from 0; times are index × 1000.

use serde_json::Value;

use crate::history::{pair, Completed, Event, Process};

/// The events `text` describes.
pub(crate) fn events(text: &str) -> Vec<Event> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .enumerate()
        .map(|(index, line)| event(index as u64, line))
        .collect()
}

/// The events `text` describes, paired.
pub(crate) fn completed(text: &str) -> Vec<Completed> {
    pair(&events(text)).expect("test history pairs")
}

fn event(index: u64, line: &str) -> Event {
    let mut tokens: Vec<&str> = line.split_whitespace().collect();
    let error = match tokens.last() {
        Some(last) if last.starts_with("err=") => {
            let text = last.trim_start_matches("err=").to_owned();
            tokens.pop();
            Some(text)
        }
        _ => None,
    };
    assert!(tokens.len() >= 4, "test event needs 4 fields: {line:?}");
    let process = match tokens[0] {
        "n" => Process::NEMESIS,
        number => Process::Client(number.parse().expect("process number")),
    };
    let name = |token: &str| Value::String(token.to_owned());
    let value = tokens[4..].join(" ");
    Event {
        index,
        time: index * 1000,
        process,
        kind: serde_json::from_value(name(tokens[1])).expect("event type"),
        f: serde_json::from_value(name(tokens[2])).expect("event f"),
        key: (tokens[3] != "-").then(|| tokens[3].to_owned()),
        value: if value.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&value).expect("event value is JSON")
        },
        node: None,
        error,
    }
}
