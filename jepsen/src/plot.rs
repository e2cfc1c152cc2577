//! The run's two plots as SVG: latency of every completed operation over time, and completions
//! per second, each with the fault intervals shaded. Written directly as SVG text (a few shapes,
//! no fonts to find, no native library), so a results folder opens in any browser.

use std::fmt::Write;

use crate::history::{pair, Event, Kind, Process, F};

const W: f64 = 960.0;
const H: f64 = 360.0;
/// Plot area margins: left, right, top, bottom.
const M: (f64, f64, f64, f64) = (64.0, 16.0, 28.0, 44.0);
const FAULT_COLORS: [&str; 8] = [
    "#f4a261", "#8ecae6", "#b5838d", "#90be6d", "#ffb4a2", "#cdb4db", "#e9c46a", "#a8dadc",
];

/// One fault's interval, from its `start` to the matching `stop` (or the end of the history).
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub name: String,
    pub detail: String,
    pub start: u64,
    pub end: u64,
}

/// The fault intervals of a history, in start order.
pub fn fault_intervals(events: &[Event]) -> Vec<Fault> {
    let end_of_run = events.last().map(|e| e.time).unwrap_or(0);
    let mut faults: Vec<Fault> = Vec::new();
    for e in events.iter().filter(|e| e.process == Process::NEMESIS) {
        let name = e.value["fault"].as_str().unwrap_or("fault").to_owned();
        let detail = e.value["detail"].as_str().unwrap_or("").to_owned();
        match e.f {
            F::Start => faults.push(Fault {
                name,
                detail,
                start: e.time,
                end: u64::MAX,
            }),
            F::Stop => match faults
                .iter_mut()
                .find(|f| f.name == name && f.end == u64::MAX)
            {
                Some(open) => open.end = e.time,
                // A stop with no start: a fault that could not start; nothing to shade.
                None => {}
            },
            _ => {}
        }
    }
    for f in &mut faults {
        if f.end == u64::MAX {
            f.end = end_of_run.max(f.start);
        }
    }
    faults
}

/// Axis scales from data to pixels.
struct Frame {
    t_max: f64,
    y_min: f64,
    y_max: f64,
    log: bool,
}

impl Frame {
    fn x(&self, t_s: f64) -> f64 {
        M.0 + (t_s / self.t_max.max(1e-9)) * (W - M.0 - M.1)
    }
    fn y(&self, v: f64) -> f64 {
        let (lo, hi, v) = if self.log {
            (
                self.y_min.log10(),
                self.y_max.log10(),
                v.max(self.y_min).log10(),
            )
        } else {
            (self.y_min, self.y_max, v)
        };
        let frac = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        H - M.3 - frac.clamp(0.0, 1.0) * (H - M.2 - M.3)
    }
}

fn open(svg: &mut String, title: &str, frame: &Frame, y_label: &str, faults: &[Fault]) {
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    for (i, f) in faults.iter().enumerate() {
        let color = FAULT_COLORS[fault_color(faults, i)];
        let (x0, x1) = (frame.x(f.start as f64 / 1e9), frame.x(f.end as f64 / 1e9));
        let _ = write!(
            svg,
            r#"<rect class="fault" x="{x0:.1}" y="{}" width="{:.1}" height="{}" fill="{color}" fill-opacity="0.3"><title>{}</title></rect>"#,
            M.2,
            (x1 - x0).max(1.0),
            H - M.2 - M.3,
            escape(&format!("{}: {}", f.name, f.detail))
        );
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" fill="#555">{}</text>"##,
            x0 + 2.0,
            M.2 + 10.0 + 11.0 * (i % 3) as f64,
            escape(&f.name)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="16" font-size="13" font-weight="bold">{}</text>"#,
        M.0,
        escape(title)
    );
    // Axes with a few ticks.
    let (left, bottom) = (M.0, H - M.3);
    let _ = write!(
        svg,
        r##"<path d="M{left} {} V{bottom} H{}" stroke="#333" fill="none"/>"##,
        M.2,
        W - M.1
    );
    for i in 0..=5 {
        let t = frame.t_max * i as f64 / 5.0;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{t:.0}</text>"#,
            frame.x(t),
            bottom + 14.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">time (s)</text>"#,
        (W + M.0) / 2.0,
        H - 8.0
    );
    let ticks: Vec<f64> = if frame.log {
        let mut v = frame.y_min;
        let mut out = Vec::new();
        while v <= frame.y_max * 1.0001 {
            out.push(v);
            v *= 10.0;
        }
        out
    } else {
        (0..=4).map(|i| frame.y_max * i as f64 / 4.0).collect()
    };
    for v in ticks {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 4.0,
            frame.y(v) + 4.0,
            short(v)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{}</text>"#,
        H / 2.0,
        H / 2.0,
        escape(y_label)
    );
}

/// Faults with the same name share a color.
fn fault_color(faults: &[Fault], i: usize) -> usize {
    let mut names: Vec<&str> = Vec::new();
    for f in faults {
        if !names.contains(&f.name.as_str()) {
            names.push(&f.name);
        }
    }
    names.iter().position(|n| *n == faults[i].name).unwrap_or(0) % FAULT_COLORS.len()
}

fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 1.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn legend(svg: &mut String, items: &[(&str, &str)]) {
    for (i, (label, color)) in items.iter().enumerate() {
        let x = W - M.1 - 90.0 * (items.len() - i) as f64;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="8" width="10" height="10" fill="{color}"/><text x="{}" y="17">{label}</text>"#,
            x + 14.0
        );
    }
}

const OK: &str = "#2a9d8f";
const FAIL: &str = "#e9a23b";
const INFO: &str = "#d62828";

fn color(kind: Kind) -> &'static str {
    match kind {
        Kind::Ok => OK,
        Kind::Fail => FAIL,
        _ => INFO,
    }
}

/// Latency (ms, log scale) of every completed client operation against its invocation time.
pub fn latency_svg(events: &[Event]) -> String {
    let ops = pair(events).unwrap_or_default();
    let faults = fault_intervals(events);
    let t_max = events.last().map(|e| e.time as f64 / 1e9).unwrap_or(1.0);
    let points: Vec<(f64, f64, Kind)> = ops
        .iter()
        .filter_map(|op| {
            let done = op.complete_time?;
            Some((
                op.invoke_time as f64 / 1e9,
                (done.saturating_sub(op.invoke_time)) as f64 / 1e6,
                op.kind,
            ))
        })
        .collect();
    let y_max = points.iter().map(|p| p.1).fold(1.0, f64::max);
    let frame = Frame {
        t_max,
        y_min: 0.1,
        y_max: 10f64.powf(y_max.log10().ceil()),
        log: true,
    };
    let mut svg = String::new();
    open(&mut svg, "Latency", &frame, "latency (ms)", &faults);
    for (t, ms, kind) in points {
        let _ = write!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="1.5" fill="{}" fill-opacity="0.5"/>"#,
            frame.x(t),
            frame.y(ms),
            color(kind)
        );
    }
    legend(&mut svg, &[("ok", OK), ("fail", FAIL), ("info", INFO)]);
    svg.push_str("</svg>\n");
    svg
}

/// Completions per second (ok, fail, info) over time.
pub fn throughput_svg(events: &[Event]) -> String {
    let faults = fault_intervals(events);
    let t_max = events.last().map(|e| e.time as f64 / 1e9).unwrap_or(1.0);
    // Buckets of a second, finer for short runs.
    let bucket = if t_max < 20.0 { 0.25 } else { 1.0 };
    let n = (t_max / bucket).ceil().max(1.0) as usize;
    let mut counts = [vec![0u64; n], vec![0u64; n], vec![0u64; n]];
    for e in events
        .iter()
        .filter(|e| e.process != Process::NEMESIS && e.kind != Kind::Invoke)
    {
        let i = ((e.time as f64 / 1e9) / bucket) as usize;
        let series = match e.kind {
            Kind::Ok => 0,
            Kind::Fail => 1,
            _ => 2,
        };
        counts[series][i.min(n - 1)] += 1;
    }
    let rate = |c: u64| c as f64 / bucket;
    let y_max = counts
        .iter()
        .flat_map(|s| s.iter())
        .map(|&c| rate(c))
        .fold(1.0, f64::max);
    let frame = Frame {
        t_max,
        y_min: 0.0,
        y_max: y_max * 1.1,
        log: false,
    };
    let mut svg = String::new();
    open(&mut svg, "Throughput", &frame, "completions / s", &faults);
    for (series, stroke) in counts.iter().zip([OK, FAIL, INFO]) {
        let mut d = String::new();
        for (i, &c) in series.iter().enumerate() {
            let t = (i as f64 + 0.5) * bucket;
            let _ = write!(
                d,
                "{}{:.1} {:.1}",
                if i == 0 { "M" } else { " L" },
                frame.x(t),
                frame.y(rate(c))
            );
        }
        let _ = write!(
            svg,
            r#"<path d="{d}" stroke="{stroke}" stroke-width="1.5" fill="none"/>"#
        );
    }
    legend(&mut svg, &[("ok", OK), ("fail", FAIL), ("info", INFO)]);
    svg.push_str("</svg>\n");
    svg
}

/// Text safe inside XML and HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
