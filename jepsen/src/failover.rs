//! Failover times read off a history: for every fault that took out a shard leader (its `start`
//! event names the slots that leader led), the gap between the last successful operation on those
//! slots that completed before the fault and the first that completed after it started.

use serde_json::Value;
use tanli_tests::slot::key_slot;

use crate::history::{pair, Event, Kind, Process, F};

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
