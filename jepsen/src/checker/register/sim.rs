//! Test-only: random register histories from a simulated atomic register, to measure the
//! checker on a realistic size and to make sure an injected anomaly is found in one.
//!
//! Ten client processes run operations on a number of keys; each operation takes effect at a random
//! moment between its invocation and its completion (the simulated register is atomic, so the
//! history is linearizable by construction). Some operations are refused before taking effect,
//! and some end indeterminate: taken effect already, or later, or never.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::*;
use crate::history::{pair, Event, Process};

const PROCESSES: u64 = 10;

/// An operation in flight.
struct Flight {
    process: u64,
    key: usize,
    f: F,
    value: Value,
    /// What it returned once it took effect: the read value, or whether a swap happened.
    effect: Option<Value>,
}

struct Sim {
    rng: StdRng,
    events: Vec<Event>,
    registers: Vec<Option<i64>>,
    next_value: i64,
    keys: usize,
}

impl Sim {
    fn record(
        &mut self,
        process: u64,
        kind: Kind,
        f: F,
        key: usize,
        value: Value,
        error: Option<&str>,
    ) {
        let index = self.events.len() as u64;
        self.events.push(Event {
            index,
            time: index * 1000,
            process: Process::Client(process),
            kind,
            f,
            key: Some(format!("r{key}")),
            value,
            node: None,
            error: error.map(str::to_owned),
        });
    }

    /// Takes effect on the register; returns what the operation observed.
    fn apply(&mut self, flight: &Flight) -> Value {
        let register = &mut self.registers[flight.key];
        match flight.f {
            F::Read => json!(*register),
            F::Write => {
                *register = flight.value.as_i64();
                json!(true)
            }
            _ => {
                let old = flight.value[0].as_i64();
                let swapped = *register == old;
                if swapped {
                    *register = flight.value[1].as_i64();
                }
                json!(swapped)
            }
        }
    }

    fn invoke(&mut self, process: u64) -> Flight {
        let key = self.rng.random_range(0..self.keys);
        let (f, value) = match self.rng.random_range(0..10) {
            0..4 => (F::Read, Value::Null),
            4..7 => {
                self.next_value += 1;
                (F::Write, json!(self.next_value))
            }
            _ => {
                let old = match self.registers[key] {
                    Some(v) if self.rng.random_bool(0.6) => v,
                    _ => self.rng.random_range(0..=self.next_value),
                };
                self.next_value += 1;
                (F::Cas, json!([old, self.next_value]))
            }
        };
        self.record(process, Kind::Invoke, f, key, value.clone(), None);
        Flight {
            process,
            key,
            f,
            value,
            effect: None,
        }
    }

    /// Completes an operation that has taken effect, as the server would answer it.
    fn complete(&mut self, flight: Flight) {
        let Flight {
            process,
            key,
            f,
            value,
            effect,
        } = flight;
        let Some(effect) = effect else {
            return;
        };
        match f {
            F::Read => self.record(process, Kind::Ok, f, key, effect, None),
            F::Cas if effect == json!(false) => {
                self.record(process, Kind::Fail, f, key, value, Some("mismatch"));
            }
            _ => self.record(process, Kind::Ok, f, key, value, None),
        }
    }
}

/// A linearizable history of `ops` operations.
fn history(seed: u64, ops: usize, keys: usize) -> Vec<Event> {
    let mut sim = Sim {
        rng: StdRng::seed_from_u64(seed),
        events: Vec::new(),
        registers: vec![None; keys],
        next_value: 0,
        keys,
    };
    let mut slots: Vec<(u64, Option<Flight>)> = (0..PROCESSES).map(|p| (p, None)).collect();
    // Indeterminate operations that have not taken effect yet (and may never).
    let mut ghosts: Vec<Flight> = Vec::new();
    let mut invoked = 0;
    while invoked < ops || slots.iter().any(|(_, f)| f.is_some()) {
        if !ghosts.is_empty() && sim.rng.random_bool(0.05) {
            let ghost = ghosts.swap_remove(sim.rng.random_range(0..ghosts.len()));
            if sim.rng.random_bool(0.5) {
                sim.apply(&ghost);
            }
        }
        let slot = sim.rng.random_range(0..slots.len());
        let process = slots[slot].0;
        match slots[slot].1.take() {
            None if invoked < ops => {
                invoked += 1;
                slots[slot].1 = Some(sim.invoke(process));
            }
            None => {}
            Some(mut flight) => {
                let roll = sim.rng.random_range(0..100);
                if roll < 2 {
                    // Indeterminate: taken effect or not; the process is retired.
                    sim.record(
                        process,
                        Kind::Info,
                        flight.f,
                        flight.key,
                        flight.value.clone(),
                        Some("timeout"),
                    );
                    if flight.effect.is_none() {
                        ghosts.push(flight);
                    }
                    slots[slot].0 += PROCESSES;
                } else if flight.effect.is_none() && roll < 3 {
                    sim.record(
                        process,
                        Kind::Fail,
                        flight.f,
                        flight.key,
                        flight.value.clone(),
                        Some("TRYAGAIN"),
                    );
                } else if flight.effect.is_none() {
                    flight.effect = Some(sim.apply(&flight));
                    slots[slot].1 = Some(flight);
                } else {
                    sim.complete(flight);
                }
            }
        }
    }
    sim.events
}

/// Makes one `ok` read in the second half of `events` stale: it returns the value of a write
/// that was overwritten by another write completed before the read began. Values are unique, so
/// no other operation could have written it back.
fn inject_stale_read(events: &mut [Event]) -> String {
    let ops = pair(events).expect("simulated history pairs");
    let writes = |key: &Option<String>| {
        ops.iter()
            .filter(|op| op.key == *key && op.kind == Kind::Ok && matches!(op.f, F::Write | F::Cas))
            .filter_map(|op| {
                let written = if op.f == F::Cas {
                    &op.invoke_value[1]
                } else {
                    &op.invoke_value
                };
                Some((op.invoke_index, op.complete_index?, written.clone()))
            })
            .collect::<Vec<_>>()
    };
    for read in ops.iter().skip(ops.len() / 2) {
        let (F::Read, Kind::Ok, Some(at)) = (read.f, read.kind, read.complete_index) else {
            continue;
        };
        let writes = writes(&read.key);
        let last = writes
            .iter()
            .filter(|w| w.1 < read.invoke_index)
            .max_by_key(|w| w.1);
        let Some(last) = last else { continue };
        let earlier = writes.iter().filter(|w| w.1 < last.0).max_by_key(|w| w.1);
        if let Some(earlier) = earlier {
            events[at as usize].value = earlier.2.clone();
            return read.key.clone().expect("register ops have keys");
        }
    }
    panic!("no read to make stale");
}

#[test]
fn random_10k_op_history_checks_fast() {
    let events = history(7, 10_000, 20);
    let ops = pair(&events).expect("simulated history pairs");
    assert_eq!(ops.len(), 10_000);
    let started = Instant::now();
    let verdict = check(&ops);
    let took = started.elapsed();
    println!(
        "10,000-op register history: {} in {took:?} ({} states explored)",
        verdict.summary, verdict.details["explored"]
    );
    assert!(verdict.valid, "{}\n{:#}", verdict.summary, verdict.details);
    assert!(
        verdict.info > 50,
        "the history has indeterminate operations"
    );
    assert!(took.as_secs_f64() < 5.0, "took {took:?}");
}

#[test]
fn injected_stale_read_is_flagged() {
    for seed in [1, 2, 3] {
        let mut events = history(seed, 10_000, 20);
        let key = inject_stale_read(&mut events);
        let started = Instant::now();
        let verdict = check(&pair(&events).expect("pairs"));
        println!(
            "seed {seed}: stale read on {key}: {} in {:?}",
            verdict.summary,
            started.elapsed()
        );
        assert!(!verdict.valid);
        assert_eq!(
            verdict.details["failed_keys"],
            json!([key]),
            "{}",
            verdict.summary
        );
        // The stale read, the write that overwrote its value, and the chain of writes and swaps
        // that produced the value read (a swap's source is kept, see `minimize`).
        let shrunk = verdict.details["first_failure"]["ops"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        println!("seed {seed}: shrunk to {} op(s)", shrunk.len());
        assert!(
            (3..25).contains(&shrunk.len()),
            "{:#}",
            verdict.details["first_failure"]
        );
        let last = shrunk.last().expect("ops shown");
        assert_eq!((&last["f"], &last["type"]), (&json!("read"), &json!("ok")));
    }
}

#[test]
fn contended_single_key_histories_are_checked() {
    // Ten processes on one key: much more concurrency per key than the workload's.
    for seed in [1, 2, 3] {
        let mut events = history(seed, 1_000, 1);
        let started = Instant::now();
        let verdict = check(&pair(&events).expect("pairs"));
        println!(
            "contended seed {seed}: {} in {:?}",
            verdict.summary,
            started.elapsed()
        );
        assert!(verdict.valid, "{}", verdict.summary);
        inject_stale_read(&mut events);
        let started = Instant::now();
        let verdict = check(&pair(&events).expect("pairs"));
        println!(
            "  with a stale read: {} in {:?}",
            verdict.summary,
            started.elapsed()
        );
        assert!(
            verdict.summary.starts_with("NOT linearizable"),
            "{}",
            verdict.summary
        );
    }
}
