//! A run's results page: `index.html` beside the history, showing the summary line, the plots,
//! the faults, the verdict and links to every file. Static: no scripts, nothing fetched.

use std::fmt::Write as _;
use std::path::Path;

use crate::history::Event;
use crate::plot::{escape, fault_intervals, latency_svg, throughput_svg};

/// Writes `latency.svg`, `throughput.svg` and `index.html` into `dir`.
pub fn write(
    dir: &Path,
    events: &[Event],
    summary: &str,
    verdict: &serde_json::Value,
) -> std::io::Result<()> {
    std::fs::write(dir.join("latency.svg"), latency_svg(events))?;
    std::fs::write(dir.join("throughput.svg"), throughput_svg(events))?;
    std::fs::write(dir.join("index.html"), html(dir, events, summary, verdict))
}

fn html(dir: &Path, events: &[Event], summary: &str, verdict: &serde_json::Value) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>tanli-jepsen</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}\
         pre{{background:#f6f6f6;padding:1em;overflow:auto;max-height:40em}}</style></head><body>\n\
         <h1>tanli-jepsen run</h1>\n<p><b>{}</b></p>\n\
         <p><img src=\"latency.svg\" alt=\"latency over time\"></p>\n\
         <p><img src=\"throughput.svg\" alt=\"throughput over time\"></p>\n",
        escape(summary)
    );
    page.push_str("<h2>Faults</h2>\n<table><tr><th>fault</th><th>start (s)</th><th>end (s)</th><th>detail</th></tr>\n");
    for f in fault_intervals(events) {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            escape(&f.name),
            f.start as f64 / 1e9,
            f.end as f64 / 1e9,
            escape(&f.detail)
        );
    }
    page.push_str("</table>\n<h2>Files</h2>\n<ul>\n");
    let mut files = vec![
        "history.jsonl".to_owned(),
        "verdict.json".to_owned(),
        "summary.txt".to_owned(),
    ];
    if let Ok(logs) = std::fs::read_dir(dir.join("logs")) {
        let mut names: Vec<String> = logs
            .filter_map(|e| e.ok())
            .map(|e| format!("logs/{}", e.file_name().to_string_lossy()))
            .collect();
        names.sort();
        files.extend(names);
    }
    for f in files {
        let _ = writeln!(page, "<li><a href=\"{0}\">{0}</a></li>", escape(&f));
    }
    let pretty = serde_json::to_string_pretty(verdict).unwrap_or_default();
    let _ = write!(
        page,
        "</ul>\n<h2>Verdict</h2>\n<pre>{}</pre>\n</body></html>\n",
        escape(&pretty)
    );
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Kind, Op, Process, Recorder, F};
    use serde_json::json;

    fn history() -> Vec<Event> {
        let r = Recorder::new();
        let key = || Some("k".to_owned());
        r.record(Op::new(
            Process::Client(0),
            Kind::Invoke,
            F::Write,
            key(),
            json!(1),
        ));
        r.record(Op::new(
            Process::NEMESIS,
            Kind::Info,
            F::Start,
            None,
            json!({"fault": "kill", "detail": "SIGKILL <n1>"}),
        ));
        r.record(Op::new(
            Process::Client(0),
            Kind::Ok,
            F::Write,
            key(),
            json!(1),
        ));
        r.record(Op::new(
            Process::NEMESIS,
            Kind::Info,
            F::Start,
            None,
            json!({"fault": "partition", "detail": "ring"}),
        ));
        r.record(Op::new(
            Process::NEMESIS,
            Kind::Info,
            F::Stop,
            None,
            json!({"fault": "kill", "detail": "restarted"}),
        ));
        r.record(Op::new(
            Process::Client(1),
            Kind::Invoke,
            F::Read,
            key(),
            json!(null),
        ));
        r.record(Op::new(
            Process::Client(1),
            Kind::Info,
            F::Read,
            key(),
            json!(null),
        ));
        r.snapshot()
    }

    #[test]
    fn faults_pair_starts_with_stops_and_open_ones_end_with_the_run() {
        let events = history();
        let faults = fault_intervals(&events);
        assert_eq!(faults.len(), 2);
        assert_eq!(faults[0].name, "kill");
        assert_eq!(
            (faults[0].start, faults[0].end),
            (events[1].time, events[4].time)
        );
        assert_eq!(faults[1].name, "partition");
        assert_eq!(
            faults[1].end, events[6].time,
            "an unclosed fault lasts to the end"
        );
    }

    #[test]
    fn plots_shade_each_fault_and_escape_text() {
        let events = history();
        for svg in [latency_svg(&events), throughput_svg(&events)] {
            assert!(svg.starts_with("<svg"), "{svg}");
            assert!(svg.trim_end().ends_with("</svg>"));
            assert_eq!(svg.matches(r#"class="fault""#).count(), 2, "{svg}");
            assert!(
                svg.contains(">partition<") && svg.contains("&lt;n1&gt;"),
                "{svg}"
            );
        }
        // No history at all still makes a (blank) plot.
        assert!(latency_svg(&[]).starts_with("<svg"));
        assert!(throughput_svg(&[]).starts_with("<svg"));
    }

    #[test]
    fn the_page_links_the_files_and_escapes_the_verdict() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("logs")).expect("logs dir");
        std::fs::write(dir.path().join("logs/n1.log"), "x").expect("log");
        write(
            dir.path(),
            &history(),
            "a <b> run",
            &json!({"why": "<script>"}),
        )
        .expect("write the page");
        let page = std::fs::read_to_string(dir.path().join("index.html")).expect("index.html");
        assert!(page.contains("a &lt;b&gt; run"));
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
        assert!(page.contains(r#"href="logs/n1.log""#));
        assert!(dir.path().join("latency.svg").is_file());
        assert!(dir.path().join("throughput.svg").is_file());
    }
}
