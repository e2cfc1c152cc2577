//! Failover times read off a history: for every fault that took out a shard leader (its `start`
//! event names the slots that leader led), the gap between the last successful operation on those
//! slots that completed before the fault and the first that completed after it started — counted
//! only when clients wanted those slots as the fault struck (an operation on them was in flight
//! at its start or invoked within [`DEMAND_WINDOW_NS`] of it); otherwise a silence is the
//! workload's (it was busy with other keys), not the cluster's.

use serde_json::Value;
use tanli_tests::slot::key_slot;

use crate::history::{pair, Event, Kind, Process, F};

/// How soon after a fault an operation on the faulted slots must start for the gap to count.
pub const DEMAND_WINDOW_NS: u64 = 100_000_000;

/// One leader fault's unavailability, in milliseconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Gap {
    pub fault: String,
    pub detail: String,
    pub gap_ms: f64,
}

/// The gaps of every leader fault whose shard saw a success before and after it.
pub fn gaps(events: &[Event]) -> Vec<Gap> {
    let Ok(ops) = pair(events) else {
        return Vec::new();
    };
    let ok: Vec<(u64, u16)> = ops
        .iter()
        .filter(|op| op.kind == Kind::Ok)
        .filter_map(|op| Some((op.complete_time?, key_slot(op.key.as_deref()?.as_bytes()))))
        .collect();
    // (invoked, completed or never, slot) of every keyed operation.
    let spans: Vec<(u64, u64, u16)> = ops
        .iter()
        .filter_map(|op| {
            let slot = key_slot(op.key.as_deref()?.as_bytes());
            Some((op.invoke_time, op.complete_time.unwrap_or(u64::MAX), slot))
        })
        .collect();
    let mut gaps = Vec::new();
    for e in events {
        if e.process != Process::NEMESIS || e.f != F::Start {
            continue;
        }
        let Some(ranges) = e.value.get("slots").and_then(Value::as_array) else {
            continue;
        };
        let ranges: Vec<(u16, u16)> = ranges
            .iter()
            .filter_map(|r| {
                let r = r.as_array()?;
                Some((
                    u16::try_from(r.first()?.as_u64()?).ok()?,
                    u16::try_from(r.get(1)?.as_u64()?).ok()?,
                ))
            })
            .collect();
        let hit = |slot: u16| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot));
        let before = ok
            .iter()
            .filter(|&&(t, s)| t <= e.time && hit(s))
            .map(|&(t, _)| t)
            .max();
        let after = ok
            .iter()
            .filter(|&&(t, s)| t > e.time && hit(s))
            .map(|&(t, _)| t)
            .min();
        let wanted = spans.iter().any(|&(invoked, completed, s)| {
            hit(s) && invoked <= e.time + DEMAND_WINDOW_NS && completed >= e.time
        });
        if !wanted {
            continue;
        }
        if let (Some(before), Some(after)) = (before, after) {
            gaps.push(Gap {
                fault: e.value["fault"].as_str().unwrap_or("?").to_owned(),
                detail: e.value["detail"].as_str().unwrap_or("").to_owned(),
                gap_ms: (after - before) as f64 / 1e6,
            });
        }
    }
    gaps
}

/// Median and maximum of the gaps, in milliseconds.
pub fn median_max(gaps: &[Gap]) -> Option<(f64, f64)> {
    if gaps.is_empty() {
        return None;
    }
    let mut ms: Vec<f64> = gaps.iter().map(|g| g.gap_ms).collect();
    ms.sort_by(f64::total_cmp);
    let median = if ms.len() % 2 == 1 {
        ms[ms.len() / 2]
    } else {
        (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
    };
    Some((median, ms[ms.len() - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(index: u64, ms: u64, process: Process, kind: Kind, f: F, key: Option<&str>) -> Event {
        Event {
            index,
            time: ms * 1_000_000,
            process,
            kind,
            f,
            key: key.map(str::to_owned),
            value: json!(1),
            node: None,
            error: None,
        }
    }

    /// "foo" is on slot 12182, inside the faulted range; the fault starts at 1000 ms and a
    /// write on "foo" completes at 3000 ms, invoked at `later_invoke_ms`.
    fn run(later_invoke_ms: u64) -> Vec<Gap> {
        let c = |p| Process::Client(p);
        let events = vec![
            event(0, 0, c(0), Kind::Invoke, F::Write, Some("foo")),
            event(1, 900, c(0), Kind::Ok, F::Write, Some("foo")),
            event(
                2,
                later_invoke_ms,
                c(1),
                Kind::Invoke,
                F::Write,
                Some("foo"),
            ),
            Event {
                value: json!({"fault": "kill", "detail": "leader", "slots": [[12000, 12287]]}),
                ..event(3, 1000, Process::NEMESIS, Kind::Info, F::Start, None)
            },
            event(4, 3000, c(1), Kind::Ok, F::Write, Some("foo")),
        ];
        let mut sorted = events;
        sorted.sort_by_key(|e| e.time);
        gaps(&sorted)
    }

    #[test]
    fn a_gap_counts_only_when_the_faulted_slots_were_wanted() {
        let waiting = run(950);
        assert_eq!(
            waiting.len(),
            1,
            "an operation was in flight as the fault struck"
        );
        assert!((waiting[0].gap_ms - 2100.0).abs() < 1e-6, "{waiting:?}");
        assert!(
            run(2500).is_empty(),
            "nobody asked for those slots until long after"
        );
    }
}
