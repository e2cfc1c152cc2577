//! The report's two plots, as SVG text made with `plotters` (SVG backend only: text goes into the
//! SVG as `<text>` for the viewer to lay out, so no font is looked up and nothing native is
//! linked): latency of every client operation over time, and completions per second, each with
//! every fault interval shaded as a translucent band labelled with the fault's name.

use std::error::Error;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{escape, fault_intervals, last_time, points, Fault};
use crate::history::{Event, Kind};

const SIZE: (u32, u32) = (1000, 420);
const OK: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);
const FAIL: RGBColor = RGBColor(0xff, 0x8c, 0x00);
const INFO: RGBColor = RGBColor(0xd6, 0x27, 0x28);
/// Fault bands, one color per fault name in order of first appearance (none green, orange or red,
/// the outcome colors).
const FAULT_PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x39, 0x3b, 0x79),
];
const BAND_OPACITY: f64 = 0.15;
const FONT: &str = "sans-serif";

/// A pixel position on the SVG.
type Pixel = (i32, i32);
type Plot = Result<(), Box<dyn Error>>;
type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The palette index of each fault: one per distinct name, in order of first appearance.
fn fault_slots(faults: &[Fault]) -> Vec<usize> {
    let mut names: Vec<&str> = Vec::new();
    faults
        .iter()
        .map(|f| match names.iter().position(|n| *n == f.name) {
            Some(slot) => slot,
            None => {
                names.push(&f.name);
                names.len() - 1
            }
        })
        .collect()
}

/// Each fault's band color as CSS (`#rrggbb`), as drawn in the plots.
pub(super) fn fault_colors(faults: &[Fault]) -> Vec<String> {
    fault_slots(faults)
        .into_iter()
        .map(|slot| {
            let RGBColor(r, g, b) = FAULT_PALETTE[slot % FAULT_PALETTE.len()];
            format!("#{r:02x}{g:02x}{b:02x}")
        })
        .collect()
}

/// Draws into an SVG string; a drawing error becomes an SVG that says so.
fn render(draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Plot) -> String {
    let mut svg = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root).and_then(|()| root.present().map_err(Box::from))
    };
    match result {
        Ok(()) => svg,
        Err(e) => format!(
            "<svg width=\"{}\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">\
             <text x=\"10\" y=\"20\">plot failed: {}</text></svg>\n",
            SIZE.0,
            SIZE.1,
            escape(&e.to_string())
        ),
    }
}

/// Shades each fault's interval across the whole plot height (drawn under the data) and returns
/// the fault name labels, to be drawn over the data by [`label_faults`].
fn shade_faults<Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'_, '_, Y>,
    faults: &[Fault],
    (y_lo, y_hi): (f64, f64),
) -> Result<Vec<(Pixel, String, RGBColor)>, Box<dyn Error>> {
    let slots = fault_slots(faults);
    let mut labels = Vec::new();
    for (fault, slot) in faults.iter().zip(slots) {
        let color = FAULT_PALETTE[slot % FAULT_PALETTE.len()];
        let (start, end) = (seconds(fault.start), seconds(fault.end));
        chart.draw_series(std::iter::once(Rectangle::new(
            [(start, y_lo), (end, y_hi)],
            color.mix(BAND_OPACITY).filled(),
        )))?;
        let (x, y) = chart.backend_coord(&(start, y_hi));
        // One row per fault name, so overlapping faults' labels do not overlap.
        let row = i32::try_from(slot % 6).unwrap_or(0);
        labels.push(((x + 3, y + 4 + 14 * row), fault.name.clone(), color));
    }
    Ok(labels)
}

fn label_faults(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    labels: Vec<(Pixel, String, RGBColor)>,
) -> Plot {
    for (at, name, color) in labels {
        root.draw(&Text::new(name, at, (FONT, 12).into_font().color(&color)))?;
    }
    Ok(())
}

/// Latency over time: one point per client operation (x = invocation time in s, y = latency in
/// ms, log scale), green for ok, orange for fail, red for info; an operation never completed is a
/// red cross at its invocation time with the time until the end of the run (a lower bound). Each
/// fault interval is shaded. Returns SVG text.
pub fn latency_svg(events: &[Event]) -> String {
    let points = points(events);
    let faults = fault_intervals(events);
    let end = last_time(events);
    let x_max = seconds(end).max(1e-3);
    let latency =
        |p: &super::Point| seconds(p.complete.unwrap_or(end).saturating_sub(p.invoke)) * 1e3;
    let positive = || points.iter().map(latency).filter(|l| *l > 0.0);
    let min = positive().fold(f64::INFINITY, f64::min);
    let max = positive().fold(0.0, f64::max);
    let y_lo = if min.is_finite() {
        10f64.powf(min.log10().floor()).max(1e-3)
    } else {
        0.1
    };
    let y_hi = if max > 0.0 {
        10f64.powf(max.log10().ceil())
    } else {
        1.0
    }
    .max(y_lo * 10.0);

    render(|root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption("Latency of client operations", (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, (y_lo..y_hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("latency (ms)")
            .draw()?;
        let labels = shade_faults(&mut chart, &faults, (y_lo, y_hi))?;
        let at = |p: &super::Point| (seconds(p.invoke), latency(p).clamp(y_lo, y_hi));
        let series = [
            (Kind::Ok, true, OK, "ok"),
            (Kind::Fail, true, FAIL, "fail"),
            (Kind::Info, true, INFO, "info"),
        ];
        for (kind, _, color, name) in series {
            let of_kind = || {
                points
                    .iter()
                    .filter(move |p| p.kind == kind && p.complete.is_some())
            };
            if of_kind().next().is_none() {
                continue;
            }
            chart
                .draw_series(of_kind().map(|p| Circle::new(at(p), 2, color.filled())))?
                .label(name)
                .legend(move |(x, y)| Circle::new((x, y), 3, color.filled()));
        }
        let pending = || points.iter().filter(|p| p.complete.is_none());
        if pending().next().is_some() {
            chart
                .draw_series(pending().map(|p| Cross::new(at(p), 3, INFO.stroke_width(1))))?
                .label("info, never completed (latency ≥)")
                .legend(|(x, y)| Cross::new((x, y), 3, INFO.stroke_width(1)));
        }
        if !points.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font((FONT, 12))
                .draw()?;
        }
        label_faults(root, labels)
    })
}

/// The bucket width for a run of `secs` seconds: 1 s, or for runs under 10 s the 1-2-5 step
/// giving at least 20 buckets (at least 1 ms).
fn bucket_width(secs: f64) -> f64 {
    if secs >= 10.0 || secs <= 0.0 {
        return 1.0;
    }
    const STEPS: [f64; 9] = [0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001];
    let want = secs / 20.0;
    STEPS.into_iter().find(|w| *w <= want).unwrap_or(0.001)
}

/// Throughput over time: ok, fail and info completions per second (by completion time, in 1 s
/// buckets, finer for runs under 10 s), as lines, with each fault interval shaded. Returns SVG
/// text.
pub fn throughput_svg(events: &[Event]) -> String {
    let points = points(events);
    let faults = fault_intervals(events);
    let end = seconds(last_time(events));
    let width = bucket_width(end);
    let buckets = (end / width).floor() as usize + 1;
    let series = [
        (Kind::Ok, OK, "ok"),
        (Kind::Fail, FAIL, "fail"),
        (Kind::Info, INFO, "info"),
    ];
    let rates: Vec<Vec<f64>> = series
        .iter()
        .map(|(kind, _, _)| {
            let mut counts = vec![0u64; buckets];
            for p in points.iter().filter(|p| p.kind == *kind) {
                if let Some(done) = p.complete {
                    let bucket = ((seconds(done) / width).floor() as usize).min(buckets - 1);
                    counts[bucket] += 1;
                }
            }
            counts.into_iter().map(|c| c as f64 / width).collect()
        })
        .collect();
    let y_hi = rates
        .iter()
        .flatten()
        .fold(0.0, |a: f64, b| a.max(*b))
        .max(1.0)
        * 1.1;
    let x_max = (buckets as f64 * width).max(end);
    let caption = format!("Completions per second ({} s buckets)", width);

    render(|root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(caption, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_hi)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("completions / s")
            .draw()?;
        let labels = shade_faults(&mut chart, &faults, (0.0, y_hi))?;
        for ((_, color, name), rates) in series.iter().zip(&rates) {
            let line = rates
                .iter()
                .enumerate()
                .map(|(i, r)| ((i as f64 + 0.5) * width, *r));
            let color = *color;
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new([(x - 8, y), (x + 8, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FONT, 12))
            .draw()?;
        label_faults(root, labels)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::history;

    /// The band rects: filled with a palette color at the band opacity.
    fn bands(svg: &str) -> usize {
        svg.lines()
            .filter(|l| l.contains("<rect") && l.contains(&format!("opacity=\"{BAND_OPACITY}\"")))
            .count()
    }

    fn check(svg: &str) {
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        assert_eq!(bands(svg), 2, "one band per fault:\n{svg}");
        assert!(svg.contains(">partition</text>"), "{svg}");
        assert!(svg.contains(">kill</text>"), "{svg}");
        assert!(
            svg.contains("#1F77B4") || svg.contains("#1f77b4"),
            "first fault color"
        );
        assert!(
            svg.contains("#9467BD") || svg.contains("#9467bd"),
            "second fault color"
        );
    }

    #[test]
    fn latency_svg_shades_and_labels_each_fault() {
        let svg = latency_svg(&history());
        check(&svg);
        assert!(svg.contains("<circle"), "points are drawn");
        assert!(
            svg.contains(">latency (ms)</text>"),
            "axis text renders without fonts"
        );
    }

    #[test]
    fn throughput_svg_shades_and_labels_each_fault() {
        let svg = throughput_svg(&history());
        check(&svg);
        assert!(svg.contains("<polyline"), "lines are drawn");
        assert!(
            svg.contains(">completions / s</text>"),
            "axis text renders without fonts"
        );
    }

    #[test]
    fn empty_history_plots_empty_axes() {
        for svg in [latency_svg(&[]), throughput_svg(&[])] {
            assert!(svg.starts_with("<svg"), "{svg}");
            assert_eq!(bands(&svg), 0);
            assert!(!svg.contains("plot failed"), "{svg}");
        }
    }

    #[test]
    fn buckets_are_one_second_or_finer_for_short_runs() {
        assert_eq!(bucket_width(0.0), 1.0);
        assert_eq!(bucket_width(60.0), 1.0);
        assert_eq!(bucket_width(3.0), 0.1);
        assert_eq!(bucket_width(0.01), 1e-3);
        assert!(bucket_width(9.9) <= 0.5);
    }
}
