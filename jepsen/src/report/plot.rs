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
/// A fault name label: where, what, in which color.
type Label = (Pixel, String, RGBColor);
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
) -> Result<Vec<Label>, Box<dyn Error>> {
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
        labels.push(((x + 3, y + 4 + 16 * row), fault.name.clone(), color));
    }
    Ok(labels)
}

fn label_faults(root: &DrawingArea<SVGBackend<'_>, Shift>, labels: Vec<Label>) -> Plot {
    for (at, name, color) in labels {
        root.draw(&Text::new(name, at, (FONT, 15).into_font().color(&color)))?;
    }
    Ok(())
}

/// How a legend entry is marked.
#[derive(Clone, Copy)]
enum Mark {
    Dot,
    Cross,
    Line,
}

/// The top row: the title on the left, the legend on the right (outside the plot, so neither
/// hides data or fault labels).
fn title_and_legend(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    legend: &[(Mark, &str, RGBColor)],
) -> Plot {
    root.draw(&Text::new(
        title.to_owned(),
        (70, 10),
        (FONT, 22).into_font(),
    ))?;
    // No font metrics without a font: estimate 7 px a character at this size.
    let width = |name: &str| 34 + 7 * i32::try_from(name.chars().count()).unwrap_or(0);
    let mut x =
        i32::try_from(SIZE.0).unwrap_or(1000) - 12 - legend.iter().map(|l| width(l.1)).sum::<i32>();
    let y = 20;
    for &(mark, name, color) in legend {
        match mark {
            Mark::Dot => root.draw(&Circle::new((x + 6, y), 4, color.filled()))?,
            Mark::Cross => root.draw(&Cross::new((x + 6, y), 4, color.stroke_width(2)))?,
            Mark::Line => root.draw(&PathElement::new(
                [(x - 2, y), (x + 14, y)],
                color.stroke_width(2),
            ))?,
        }
        root.draw(&Text::new(
            name.to_owned(),
            (x + 20, y - 7),
            (FONT, 15).into_font(),
        ))?;
        x += width(name);
    }
    Ok(())
}

/// An axis tick: whole numbers without a fraction, others with at most 3 decimals.
fn tick(v: &f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let text = format!("{v:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
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
    let completed = [
        (Kind::Ok, OK, "ok"),
        (Kind::Fail, FAIL, "fail"),
        (Kind::Info, INFO, "info"),
    ];
    let of_kind = |kind: Kind| {
        points
            .iter()
            .filter(move |p| p.kind == kind && p.complete.is_some())
    };
    let pending = || points.iter().filter(|p| p.complete.is_none());
    let mut legend: Vec<(Mark, &str, RGBColor)> = completed
        .iter()
        .filter(|(kind, _, _)| of_kind(*kind).next().is_some())
        .map(|&(_, color, name)| (Mark::Dot, name, color))
        .collect();
    if pending().next().is_some() {
        legend.push((Mark::Cross, "info, no completion (≥)", INFO));
    }

    render(|root| {
        root.fill(&WHITE)?;
        title_and_legend(root, "Latency of client operations", &legend)?;
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_top(40)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, (y_lo..y_hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("latency (ms)")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()?;
        let labels = shade_faults(&mut chart, &faults, (y_lo, y_hi))?;
        let at = |p: &super::Point| (seconds(p.invoke), latency(p).clamp(y_lo, y_hi));
        for (kind, color, _) in completed {
            chart.draw_series(of_kind(kind).map(|p| Circle::new(at(p), 2, color.filled())))?;
        }
        chart.draw_series(pending().map(|p| Cross::new(at(p), 3, INFO.stroke_width(1))))?;
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
/// buckets, finer for runs under 10 s; the last bucket, which ends with the run, divided by the
/// time it covers),
/// as lines at bucket centers, with each fault interval shaded. Returns SVG text.
pub fn throughput_svg(events: &[Event]) -> String {
    let points = points(events);
    let faults = fault_intervals(events);
    let end = seconds(last_time(events));
    let width = bucket_width(end);
    // The last bucket runs to the end of the run: from half a width to one and a half.
    let buckets = ((end / width).round() as usize).max(1);
    // Each bucket's center and the time it covers.
    let spans: Vec<(f64, f64)> = (0..buckets)
        .map(|i| {
            let from = i as f64 * width;
            let to = if i + 1 == buckets { end } else { from + width }.max(from);
            ((from + to) / 2.0, (to - from).max(width / 4.0))
        })
        .collect();
    let series = [
        (Kind::Ok, OK, "ok"),
        (Kind::Fail, FAIL, "fail"),
        (Kind::Info, INFO, "info"),
    ];
    let rates: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|(kind, _, _)| {
            let mut counts = vec![0u64; buckets];
            for p in points.iter().filter(|p| p.kind == *kind) {
                if let Some(done) = p.complete {
                    let bucket = ((seconds(done) / width).floor() as usize).min(buckets - 1);
                    counts[bucket] += 1;
                }
            }
            counts
                .into_iter()
                .zip(&spans)
                .map(|(c, (x, covers))| (*x, c as f64 / covers))
                .collect()
        })
        .collect();
    let y_hi = rates
        .iter()
        .flatten()
        .fold(0.0, |a: f64, (_, r)| a.max(*r))
        .max(1.0)
        * 1.1;
    let x_max = end.max(1e-3);
    let title = format!("Completions per second ({} s buckets)", tick(&width));
    let legend: Vec<(Mark, &str, RGBColor)> = series
        .iter()
        .map(|&(_, color, name)| (Mark::Line, name, color))
        .collect();

    render(|root| {
        root.fill(&WHITE)?;
        title_and_legend(root, &title, &legend)?;
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_top(40)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_hi)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("completions / s")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()?;
        let labels = shade_faults(&mut chart, &faults, (0.0, y_hi))?;
        for ((_, color, _), rates) in series.iter().zip(&rates) {
            chart.draw_series(LineSeries::new(
                rates.iter().copied(),
                color.stroke_width(2),
            ))?;
        }
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

    /// Whether `svg` has a `<text>` element saying exactly `text`.
    fn has_text(svg: &str, text: &str) -> bool {
        svg.contains(&format!(">\n{text}\n</text>")) || svg.contains(&format!(">{text}</text>"))
    }

    fn check(svg: &str) {
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        assert_eq!(bands(svg), 2, "one band per fault:\n{svg}");
        assert!(has_text(svg, "partition"), "{svg}");
        assert!(has_text(svg, "kill"), "{svg}");
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
            has_text(&svg, "latency (ms)"),
            "axis text renders without fonts"
        );
    }

    #[test]
    fn throughput_svg_shades_and_labels_each_fault() {
        let svg = throughput_svg(&history());
        check(&svg);
        assert!(svg.contains("<polyline"), "lines are drawn");
        assert!(
            has_text(&svg, "completions / s"),
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

    #[test]
    fn ticks_drop_needless_decimals() {
        assert_eq!(tick(&100.0), "100");
        assert_eq!(tick(&0.1), "0.1");
        assert_eq!(tick(&2.5), "2.5");
        assert_eq!(tick(&0.30000000000000004), "0.3");
    }
}
