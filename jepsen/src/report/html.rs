//! The results page, `index.html`: the summary line, the two plots, the faults table, the verdict
//! and links to the run's files. Static HTML: no scripts, nothing fetched from elsewhere, every
//! piece of text from the run escaped.

use std::fmt::Write as _;
use std::path::Path;

use super::{escape, plot, Fault};

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1100px}\
    table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}\
    td.num{text-align:right;font-variant-numeric:tabular-nums}\
    .swatch{display:inline-block;width:0.8em;height:0.8em;margin-right:0.4em;opacity:0.6}\
    pre{background:#f6f6f6;padding:1em;overflow:auto;max-height:40em}\
    img{max-width:100%;border:1px solid #eee}";

/// The page for a run.
pub(super) fn page(
    summary: &str,
    verdict: &serde_json::Value,
    faults: &[Fault],
    logs: &[String],
) -> String {
    let verdict =
        serde_json::to_string_pretty(verdict).unwrap_or_else(|e| format!("(unprintable: {e})"));
    let mut out = String::new();
    out.push_str("<!doctype html>\n<html><head><meta charset=\"utf-8\">");
    out.push_str("<title>tanli-jepsen run</title>");
    let _ = writeln!(out, "<style>{STYLE}</style></head><body>");
    out.push_str("<h1>tanli-jepsen run</h1>\n");
    let _ = writeln!(out, "<p><b>{}</b></p>", escape(summary));

    out.push_str("<h2>Latency</h2>\n");
    out.push_str("<img src=\"latency.svg\" alt=\"latency of every operation over time\">\n");
    out.push_str("<h2>Throughput</h2>\n");
    out.push_str("<img src=\"throughput.svg\" alt=\"completions per second over time\">\n");

    out.push_str("<h2>Faults</h2>\n");
    if faults.is_empty() {
        out.push_str("<p>(no faults)</p>\n");
    } else {
        out.push_str(
            "<table><tr><th>fault</th><th>detail</th><th>start s</th><th>end s</th></tr>\n",
        );
        let colors = plot::fault_colors(faults);
        for (fault, color) in faults.iter().zip(colors) {
            let _ = writeln!(
                out,
                "<tr><td><span class=\"swatch\" style=\"background:{color}\"></span>{}</td>\
                 <td>{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td></tr>",
                escape(&fault.name),
                escape(&fault.detail),
                seconds(fault.start),
                seconds(fault.end),
            );
        }
        out.push_str("</table>\n");
    }

    out.push_str("<h2>Verdict</h2>\n");
    let _ = writeln!(out, "<pre>{}</pre>", escape(&verdict));

    out.push_str("<h2>Files</h2>\n<ul>\n");
    let files = [
        "history.jsonl",
        "verdict.json",
        "latency.svg",
        "throughput.svg",
    ];
    for file in files.iter().copied().chain(logs.iter().map(String::as_str)) {
        let _ = writeln!(
            out,
            "<li><a href=\"{}\">{}</a></li>",
            escape(&url_path(file)),
            escape(file)
        );
    }
    out.push_str("</ul>\n</body></html>\n");
    out
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The files under `logs` (a results folder's `logs/`), as paths relative to the results folder
/// (`logs/n1.log`), sorted; none when the folder does not exist.
pub(super) fn log_files(logs: &Path) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![(logs.to_path_buf(), "logs".to_owned())];
    while let Some((dir, relative)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{relative}/{name}");
            if entry.file_type()?.is_dir() {
                pending.push((entry.path(), path));
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Percent-encodes a relative path for an `href`, keeping `/` as the separator.
fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_are_percent_encoded() {
        assert_eq!(url_path("logs/n 1#.log"), "logs/n%201%23.log");
    }

    #[test]
    fn log_files_are_listed_recursively_and_missing_logs_are_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(log_files(&dir.path().join("logs"))
            .expect("list")
            .is_empty());
        std::fs::create_dir_all(dir.path().join("logs/n2")).expect("mkdir");
        std::fs::write(dir.path().join("logs/n1.log"), "").expect("write");
        std::fs::write(dir.path().join("logs/n2/raft.log"), "").expect("write");
        assert_eq!(
            log_files(&dir.path().join("logs")).expect("list"),
            vec!["logs/n1.log".to_owned(), "logs/n2/raft.log".to_owned()]
        );
    }
}
