//! A run's report: the fault intervals read off a history, the latency and throughput plots
//! ([`plot`], SVG made with `plotters`, no fonts needed), and a static results page ([`html`])
//! written beside the history.
//!
//! This module owns what the report is made of: [`Fault`] and [`fault_intervals`], the
//! operations as the plots see them ([`Point`], [`points`]), and [`write`], which puts
//! `latency.svg`, `throughput.svg` and `index.html` into a results folder.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::history::{Event, Kind, Process, F};

mod html;
mod plot;

pub use plot::{latency_svg, throughput_svg};

/// One fault's interval: from its `start` event to the next `stop` with the same fault name, or to
/// the end of the history when there is none. Times are nanoseconds since the run started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub name: String,
    pub detail: String,
    pub start: u64,
    pub end: u64,
}

/// The fault intervals of a history, in start order. A `stop` with no earlier `start` of the same
/// name is ignored; two `start`s of one name before a `stop` both end at that `stop`.
pub fn fault_intervals(events: &[Event]) -> Vec<Fault> {
    let end_of_run = last_time(events);
    // Walk backwards, remembering for each fault name the time of the next stop seen so far.
    let mut next_stop: HashMap<String, u64> = HashMap::new();
    let mut faults = Vec::new();
    for event in events.iter().rev() {
        if event.process != Process::NEMESIS {
            continue;
        }
        let name = fault_name(&event.value);
        match event.f {
            F::Stop => {
                next_stop.insert(name, event.time);
            }
            F::Start => {
                let end = next_stop.get(&name).copied().unwrap_or(end_of_run);
                faults.push(Fault {
                    detail: fault_detail(&event.value),
                    name,
                    start: event.time,
                    end: end.max(event.time),
                });
            }
            _ => {}
        }
    }
    faults.reverse();
    // Stable: events are in index order already; this only guards against out-of-order times.
    faults.sort_by_key(|f| f.start);
    faults
}

fn fault_name(value: &Value) -> String {
    match value.get("fault") {
        Some(Value::String(s)) => s.clone(),
        Some(other) if !other.is_null() => other.to_string(),
        _ => "fault".to_owned(),
    }
}

fn fault_detail(value: &Value) -> String {
    match value.get("detail") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The time of the latest event (0 for an empty history).
pub(crate) fn last_time(events: &[Event]) -> u64 {
    events.iter().map(|e| e.time).max().unwrap_or(0)
}

/// A client operation as the plots see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Point {
    pub invoke: u64,
    /// `None` for an operation with no completion in the history.
    pub complete: Option<u64>,
    /// `Ok`, `Fail` or `Info` (`Info` when there is no completion).
    pub kind: Kind,
}

/// Pairs invocations with completions like [`crate::history::pair`], but leniently: a report is
/// drawn even for a malformed history, so a completion with no open invocation is skipped and a
/// second invocation on an open process leaves the first one uncompleted.
pub(crate) fn points(events: &[Event]) -> Vec<Point> {
    let mut open: HashMap<Process, usize> = HashMap::new();
    let mut points = Vec::new();
    for event in events {
        if event.process == Process::NEMESIS {
            continue;
        }
        if event.kind == Kind::Invoke {
            open.insert(event.process, points.len());
            points.push(Point {
                invoke: event.time,
                complete: None,
                kind: Kind::Info,
            });
        } else if let Some(at) = open.remove(&event.process) {
            let point: &mut Point = &mut points[at];
            point.complete = Some(event.time.max(point.invoke));
            point.kind = event.kind;
        }
    }
    points
}

/// Escapes text for HTML and XML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Writes into `dir`: `latency.svg`, `throughput.svg`, and `index.html` showing `summary` (the
/// run's one-line summary), `verdict` (the checker's verdict, pretty-printed), the two plots, the
/// faults, and links to `history.jsonl`, `verdict.json` and the node logs found under `dir/logs/`.
pub fn write(
    dir: &Path,
    events: &[Event],
    summary: &str,
    verdict: &serde_json::Value,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("latency.svg"), latency_svg(events))?;
    std::fs::write(dir.join("throughput.svg"), throughput_svg(events))?;
    let logs = html::log_files(&dir.join("logs"))?;
    let faults = fault_intervals(events);
    let page = html::page(summary, verdict, &faults, &logs);
    std::fs::write(dir.join("index.html"), page)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A client event.
    pub fn op(index: u64, time_ms: u64, process: u64, kind: Kind, f: F) -> Event {
        Event {
            index,
            time: time_ms * 1_000_000,
            process: Process::Client(process),
            kind,
            f,
            key: Some("k".into()),
            value: Value::Null,
            node: None,
            error: None,
        }
    }

    /// A nemesis event.
    pub fn nemesis(index: u64, time_ms: u64, f: F, fault: &str, detail: &str) -> Event {
        Event {
            index,
            time: time_ms * 1_000_000,
            process: Process::NEMESIS,
            kind: Kind::Info,
            f,
            key: None,
            value: json!({"fault": fault, "detail": detail}),
            node: None,
            error: None,
        }
    }

    /// Three seconds with a partition (closed) and a kill (never stopped) overlapping it, and
    /// ok, fail, info and never-completed operations.
    pub fn history() -> Vec<Event> {
        use Kind::*;
        use F::*;
        vec![
            op(0, 100, 0, Invoke, Write),
            op(1, 105, 0, Ok, Write),
            nemesis(2, 500, Start, "partition", "[.2 .3] | <.4 & .5>"),
            op(3, 600, 1, Invoke, Read),
            nemesis(4, 900, Start, "kill", "n2"),
            op(5, 1000, 1, Info, Read),
            op(6, 1100, 0, Invoke, Cas),
            op(7, 1150, 0, Fail, Cas),
            nemesis(8, 1500, Stop, "partition", "healed"),
            op(9, 2000, 4, Invoke, Write),
            op(10, 2500, 0, Invoke, Read),
            op(11, 2600, 0, Ok, Read),
            op(12, 3000, 2, Invoke, Incr),
        ]
    }

    #[test]
    fn fault_intervals_pair_starts_with_stops_of_the_same_name() {
        let faults = fault_intervals(&history());
        assert_eq!(
            faults,
            vec![
                Fault {
                    name: "partition".into(),
                    detail: "[.2 .3] | <.4 & .5>".into(),
                    start: 500_000_000,
                    end: 1_500_000_000,
                },
                // Never stopped: ends at the last event, and overlaps the partition.
                Fault {
                    name: "kill".into(),
                    detail: "n2".into(),
                    start: 900_000_000,
                    end: 3_000_000_000,
                },
            ]
        );
    }

    #[test]
    fn fault_intervals_ignore_stray_stops_and_reuse_names() {
        use F::*;
        let events = vec![
            nemesis(0, 10, Stop, "pause", ""),
            nemesis(1, 20, Start, "pause", "n1"),
            nemesis(2, 30, Stop, "pause", ""),
            nemesis(3, 40, Start, "pause", "n3"),
            nemesis(4, 50, Stop, "pause", ""),
        ];
        let spans: Vec<(u64, u64)> = fault_intervals(&events)
            .iter()
            .map(|f| (f.start / 1_000_000, f.end / 1_000_000))
            .collect();
        assert_eq!(spans, vec![(20, 30), (40, 50)]);
        assert!(fault_intervals(&[]).is_empty());
    }

    #[test]
    fn points_pair_leniently() {
        let mut events = history();
        // A completion with nothing open is skipped rather than failing the report.
        events.push(op(13, 3100, 9, Kind::Ok, F::Read));
        let points = points(&events);
        let kinds: Vec<(Kind, bool)> = points
            .iter()
            .map(|p| (p.kind, p.complete.is_some()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Kind::Ok, true),
                (Kind::Info, true),
                (Kind::Fail, true),
                (Kind::Info, false),
                (Kind::Ok, true),
                (Kind::Info, false),
            ]
        );
    }

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn write_produces_the_report_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("logs")).expect("logs dir");
        std::fs::write(dir.path().join("logs/n1.log"), "hello").expect("log");
        std::fs::write(dir.path().join("logs/n2.log"), "hello").expect("log");
        let verdict = json!({"valid": false, "why": "<lost> & found"});
        write(dir.path(), &history(), "register: <INVALID> & co", &verdict).expect("write");
        for name in ["latency.svg", "throughput.svg", "index.html"] {
            let meta = std::fs::metadata(dir.path().join(name)).expect(name);
            assert!(meta.len() > 0, "{name} is empty");
        }
        let page = std::fs::read_to_string(dir.path().join("index.html")).expect("read page");
        assert!(
            page.contains("register: &lt;INVALID&gt; &amp; co"),
            "{page}"
        );
        assert!(!page.contains("<INVALID>"), "summary not escaped");
        assert!(
            page.contains("&lt;lost&gt; &amp; found"),
            "verdict not escaped"
        );
        assert!(
            page.contains("[.2 .3] | &lt;.4 &amp; .5&gt;"),
            "detail not escaped"
        );
        assert!(page.contains(r#"<img src="latency.svg""#));
        assert!(page.contains(r#"<img src="throughput.svg""#));
        assert!(page.contains(r#"href="history.jsonl""#));
        assert!(page.contains(r#"href="verdict.json""#));
        assert!(page.contains(r#"href="logs/n1.log""#));
        assert!(page.contains(r#"href="logs/n2.log""#));
        assert!(!page.contains("<script"), "the page is static");
    }

    #[test]
    fn empty_history_writes_a_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), &[], "", &Value::Null).expect("write");
        let page = std::fs::read_to_string(dir.path().join("index.html")).expect("read page");
        assert!(page.contains("no faults"), "{page}");
        assert!(latency_svg(&[]).starts_with("<svg"));
        assert!(throughput_svg(&[]).starts_with("<svg"));
    }
}
