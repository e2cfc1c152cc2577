//! What people read: the nodes and shards tables of a status, plans and their moves, one-line
//! summaries, and the units (bytes, slot ranges, durations). Every function returns text, so
//! tests read exactly what would be printed; an unknown value (`null`) shows as `-`.

use std::fmt::Display;

use crate::api::{Plan, PlanState, Status};

/// `tanlictl status`: the cluster line, the nodes and shards tables, the balance line and the
/// running plan.
pub fn status(s: &Status) -> String {
    let mut out = format!(
        "cluster epoch {}, meta leader {}, replication factor {}\n\n",
        opt(s.epoch),
        opt(s.meta_leader),
        opt(s.replication_factor)
    );
    let mut nodes = Table::new(&[
        ("NODE", Align::Right),
        ("ADDRESS", Align::Left),
        ("STATE", Align::Left),
        ("LIVE", Align::Left),
        ("REPLICAS", Align::Right),
        ("LEADERS", Align::Right),
        ("KEYS", Align::Right),
        ("BYTES", Align::Right),
        ("LOAD", Align::Right),
    ]);
    for n in &s.nodes {
        nodes.row(vec![
            n.id.to_string(),
            n.resp_addr.clone(),
            n.state.clone(),
            if n.live { "yes" } else { "no" }.to_string(),
            n.replicas.to_string(),
            n.leaders.to_string(),
            opt(n.keys),
            n.bytes.map_or_else(|| "-".to_string(), bytes),
            n.load.map_or_else(|| "-".to_string(), per_second),
        ]);
    }
    out.push_str(&nodes.render());
    out.push('\n');
    let mut shards = Table::new(&[
        ("SHARD", Align::Right),
        ("SLOTS", Align::Left),
        ("REPLICAS", Align::Left),
        ("LEADER", Align::Right),
        ("TERM", Align::Right),
        ("COMMIT", Align::Right),
        ("LAG", Align::Right),
    ]);
    for sh in &s.shards {
        shards.row(vec![
            sh.id.to_string(),
            slots(&sh.slots),
            list(&sh.replicas),
            opt(sh.leader),
            opt(sh.term),
            opt(sh.commit),
            opt(sh.lag),
        ]);
    }
    out.push_str(&shards.render());
    out.push('\n');
    if let Some(b) = &s.balance {
        out.push_str(&format!(
            "balance: replicas spread {}, leaders spread {} (tolerance {}): {}\n",
            b.replicas_spread,
            b.leaders_spread,
            b.tolerance,
            if b.balanced {
                "balanced"
            } else {
                "not balanced"
            }
        ));
    }
    match &s.plan {
        Some(p) => out.push_str(&format!("{}\n", plan_summary(p))),
        None => out.push_str("no plan running\n"),
    }
    out
}

/// A plan: its summary line, then its moves.
pub fn plan(p: &Plan) -> String {
    let preview = p.state == PlanState::Preview;
    let mut out = format!("{}\n\n", plan_summary(p));
    let with_note = p.moves.iter().any(|m| m.note.is_some());
    let mut columns = vec![
        ("SHARD", Align::Right),
        ("FROM", Align::Right),
        ("TO", Align::Right),
    ];
    if !preview {
        columns.push(("STATE", Align::Left));
    }
    columns.push(("WHY", Align::Left));
    if with_note {
        columns.push(("NOTE", Align::Left));
    }
    let mut moves = Table::new(&columns);
    for m in &p.moves {
        let mut row = vec![m.shard.to_string(), opt(m.from), opt(m.to)];
        if !preview {
            row.push(m.state.clone());
        }
        row.push(m.why.clone());
        if with_note {
            row.push(opt(m.note.as_deref()));
        }
        moves.row(row);
    }
    out.push_str(&moves.render());
    out
}

/// One line: which plan, how far along, for how long, and why it exists.
pub fn plan_summary(p: &Plan) -> String {
    if p.state == PlanState::Preview {
        let n = p.total;
        let s = if n == 1 { "" } else { "s" };
        return format!("preview ({}): {n} replica move{s}", p.kind);
    }
    let mut line = format!(
        "plan {} ({}, {}): {} of {} moves done, {} skipped, {} in flight",
        opt(p.id),
        p.kind,
        plan_state(p.state),
        p.done,
        p.total,
        p.skipped,
        p.in_flight
    );
    if let Some(ms) = p.elapsed_ms() {
        let verb = if p.finished_ms.is_some() {
            "took"
        } else {
            "for"
        };
        line.push_str(&format!(", {verb} {}", duration_ms(ms)));
    }
    if let Some(reason) = &p.reason {
        line.push_str(&format!(" ({reason})"));
    }
    line
}

/// The skipped moves of a plan and why, one a line (empty when none was skipped).
pub fn skipped(p: &Plan) -> String {
    p.moves
        .iter()
        .filter(|m| m.state == "skipped")
        .map(|m| {
            format!(
                "skipped: shard {} from {} to {}: {}\n",
                m.shard,
                opt(m.from),
                opt(m.to),
                opt(m.note.as_deref())
            )
        })
        .collect()
}

fn plan_state(s: PlanState) -> &'static str {
    match s {
        PlanState::Preview => "preview",
        PlanState::Running => "running",
        PlanState::Done => "done",
        PlanState::Cancelled => "cancelled",
        PlanState::Other => "unknown state",
    }
}

/// `-` for an unknown value.
pub fn opt<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn list(ids: &[u64]) -> String {
    if ids.is_empty() {
        return "-".into();
    }
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// Inclusive slot ranges as `0-2047,4096`.
pub fn slots(ranges: &[[u16; 2]]) -> String {
    if ranges.is_empty() {
        return "-".into();
    }
    let each = ranges.iter().map(|[a, b]| {
        if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        }
    });
    each.collect::<Vec<_>>().join(",")
}

/// Binary units: `812 B`, `79.3 KiB`, `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn per_second(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}/s")
    } else {
        format!("{v:.1}/s")
    }
}

/// `850ms`, `12s`, `1m 23s`, `2h 5m`.
pub fn duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s / 60 % 60),
    }
}

#[derive(Debug, Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Columns padded to their widest cell, two spaces apart, no trailing blanks.
struct Table {
    headers: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(headers: &[(&'static str, Align)]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let header: Vec<String> = self.headers.iter().map(|(h, _)| h.to_string()).collect();
        let lines: Vec<&Vec<String>> = std::iter::once(&header).chain(&self.rows).collect();
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                let cell = |l: &&Vec<String>| l.get(c).map_or(0, |s| s.chars().count());
                lines.iter().map(cell).max().unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in lines {
            let cells = line.iter().zip(&self.headers).zip(&widths);
            let padded: Vec<String> = cells
                .map(|((cell, (_, align)), w)| match align {
                    Align::Left => format!("{cell:<w$}"),
                    Align::Right => format!("{cell:>w$}"),
                })
                .collect();
            out.push_str(padded.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{parse, samples};

    fn status_of(raw: &str) -> Status {
        parse(raw, "status").unwrap_or_else(|e| panic!("{e}")).value
    }

    fn plan_of(raw: &str) -> Plan {
        parse(raw, "plan").unwrap_or_else(|e| panic!("{e}")).value
    }

    /// The line of `text` that starts with `start` (after the alignment blanks).
    fn line<'a>(text: &'a str, start: &str) -> &'a str {
        text.lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no line starts with {start:?} in\n{text}"))
    }

    fn words(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    #[test]
    fn status_tables_show_the_readme_sample() {
        let text = status(&status_of(samples::status()));
        assert!(text.starts_with("cluster epoch 42, meta leader 1, replication factor 3\n"));
        let header = line(&text, "NODE");
        assert_eq!(
            words(header),
            ["NODE", "ADDRESS", "STATE", "LIVE", "REPLICAS", "LEADERS", "KEYS", "BYTES", "LOAD"]
        );
        let node = line(&text, "1  127.0.0.1:6379");
        assert_eq!(
            words(node),
            [
                "1",
                "127.0.0.1:6379",
                "up",
                "yes",
                "5",
                "2",
                "1200",
                "79.3",
                "KiB",
                "15/s"
            ]
        );
        assert_eq!(
            words(line(&text, "SHARD")),
            ["SHARD", "SLOTS", "REPLICAS", "LEADER", "TERM", "COMMIT", "LAG"]
        );
        assert_eq!(
            words(line(&text, "1  0-2047")),
            ["1", "0-2047", "1,2,3", "1", "3", "1042", "0"]
        );
        assert!(
            text.contains("balance: replicas spread 1, leaders spread 0 (tolerance 1): balanced\n")
        );
        assert!(text.ends_with("no plan running\n"), "{text}");
        assert!(
            text.lines().all(|l| !l.ends_with(' ')),
            "trailing blanks:\n{text}"
        );
    }

    #[test]
    fn columns_line_up() {
        let text = status(&status_of(samples::status()));
        let header = line(&text, "NODE");
        let node = line(&text, "1  127.0.0.1:6379");
        // Right-aligned numbers end under their header; left-aligned text starts under it.
        let end_of = |l: &str, w: &str| l.find(w).map(|i| i + w.len());
        assert_eq!(end_of(header, "REPLICAS"), end_of(node, "  5"));
        assert_eq!(header.find("ADDRESS"), node.find("127.0.0.1"));
        assert_eq!(header.find("STATE"), node.find("up"));
    }

    #[test]
    fn unknown_values_show_as_a_dash() {
        let text = status(&status_of(samples::STATUS_UNKNOWNS));
        assert!(text.starts_with("cluster epoch 9, meta leader -, replication factor 3\n"));
        assert_eq!(
            words(line(&text, "2  10.0.0.2:6379")),
            [
                "2",
                "10.0.0.2:6379",
                "joining",
                "no",
                "0",
                "0",
                "-",
                "-",
                "-"
            ]
        );
        assert_eq!(
            words(line(&text, "4  0-99,200")),
            ["4", "0-99,200", "2", "-", "-", "-", "-"]
        );
        assert!(text.contains("(tolerance 1): not balanced\n"));

        let empty = status(&status_of(samples::STATUS_NO_MAP));
        assert!(empty.starts_with("cluster epoch -, meta leader -, replication factor -\n"));
        assert!(!empty.contains("balance:"));
    }

    #[test]
    fn a_running_plan_is_summed_up_under_the_status() {
        let text = status(&status_of(&samples::status_with_plan()));
        assert!(
            text.ends_with(
                "plan 7 (rebalance, running): 2 of 6 moves done, 0 skipped, 1 in flight, \
             for 12s (node 4 joined)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn plans_list_their_moves() {
        let text = plan(&plan_of(samples::plan()));
        assert_eq!(
            words(line(&text, "SHARD")),
            ["SHARD", "FROM", "TO", "STATE", "WHY"]
        );
        assert_eq!(words(line(&text, "3")), ["3", "1", "4", "done", "balance"]);

        let preview = plan_of(
            r#"{"id": null, "kind": "repair", "state": "preview", "reason": "preview",
                "created_ms": null, "finished_ms": null, "now_ms": 5, "total": 2, "done": 0,
                "skipped": 0, "in_flight": 0, "moves": [
                {"shard": 5, "from": 2, "to": null, "state": "pending", "why": "balance"},
                {"shard": 6, "from": null, "to": 3, "state": "pending", "why": "repair"}]}"#,
        );
        let text = plan(&preview);
        assert!(
            text.starts_with("preview (repair): 2 replica moves\n"),
            "{text}"
        );
        assert_eq!(words(line(&text, "SHARD")), ["SHARD", "FROM", "TO", "WHY"]);
        assert_eq!(words(line(&text, "5")), ["5", "2", "-", "balance"]);
        assert_eq!(words(line(&text, "6")), ["6", "-", "3", "repair"]);
    }

    #[test]
    fn skipped_moves_show_their_note() {
        let p = plan_of(
            r#"{"id": 9, "kind": "manual", "state": "done", "reason": "move shard 2",
                "created_ms": 1000, "finished_ms": 84000, "now_ms": 90000, "total": 1,
                "done": 0, "skipped": 1, "in_flight": 0, "moves": [
                {"shard": 2, "from": 1, "to": 5, "state": "skipped", "why": "operator",
                 "note": "node 5 is down"}]}"#,
        );
        assert_eq!(
            plan_summary(&p),
            "plan 9 (manual, done): 0 of 1 moves done, 1 skipped, 0 in flight, took 1m 23s \
             (move shard 2)"
        );
        assert_eq!(
            skipped(&p),
            "skipped: shard 2 from 1 to 5: node 5 is down\n"
        );
        let text = plan(&p);
        assert_eq!(
            words(line(&text, "SHARD")),
            ["SHARD", "FROM", "TO", "STATE", "WHY", "NOTE"]
        );
        assert!(line(&text, "2").ends_with("node 5 is down"));
    }

    #[test]
    fn units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(81234), "79.3 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
        assert_eq!(slots(&[[0, 2047], [5000, 5000]]), "0-2047,5000");
        assert_eq!(slots(&[]), "-");
        assert_eq!(duration_ms(850), "850ms");
        assert_eq!(duration_ms(12_000), "12s");
        assert_eq!(duration_ms(83_000), "1m 23s");
        assert_eq!(duration_ms(7_500_000), "2h 5m");
        assert_eq!(per_second(15.0), "15/s");
        assert_eq!(per_second(0.3), "0.3/s");
    }
}
