//! What an experiment produces: one [`PhaseReport`] per phase, printed as a table row as
//! the phase ends, and written at the end as `report.json`, `phases.csv` and
//! `chart.svg` in the output directory.

use crate::cli::chart;
use crate::cli::error::{CliError, CliResult};
use crate::cli::plan::Plan;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One phase's measurements. Latencies are per store call (a `load` with `batch = 100`
/// records one sample per 100 keys); space figures are taken when the phase ends.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseReport {
    /// 1-based position in the plan.
    pub index: usize,
    pub kind: String,
    /// The phase's parameters in a few words ("uniform, 50% misses").
    pub detail: String,
    /// Keys or operations processed (0 for compact, checkpoint, reopen, wait).
    pub ops: u64,
    pub hits: u64,
    pub misses: u64,
    /// Answers the experiment's model says are impossible (must be 0).
    pub anomalies: u64,
    pub threads: usize,
    pub wall_s: f64,
    pub ops_per_s: f64,
    pub latency_us_p50: f64,
    pub latency_us_p99: f64,
    pub latency_us_max: f64,
    pub keys: u64,
    pub live_bytes: u64,
    pub dead_bytes: u64,
    pub space_amplification: f64,
    pub segments: u64,
    pub file_bytes: u64,
    pub index_bytes: u64,
    pub rss_bytes: u64,
    /// What a single-call phase did (bytes reclaimed, recovery time).
    pub note: String,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    pub tool: String,
    pub store: String,
    /// Data directory, or "(temporary)".
    pub dir: String,
    pub plan: Plan,
    pub phases: Vec<PhaseReport>,
    pub total_wall_s: f64,
}

/// The files `write_report` produced.
#[derive(Debug)]
pub struct WrittenReport {
    pub json: PathBuf,
    pub csv: PathBuf,
    pub svg: PathBuf,
}

const CSV_COLUMNS: &[&str] = &[
    "index",
    "kind",
    "detail",
    "ops",
    "hits",
    "misses",
    "anomalies",
    "threads",
    "wall_s",
    "ops_per_s",
    "latency_us_p50",
    "latency_us_p99",
    "latency_us_max",
    "keys",
    "live_bytes",
    "dead_bytes",
    "space_amplification",
    "segments",
    "file_bytes",
    "index_bytes",
    "rss_bytes",
    "note",
];

/// Write `report.json`, `phases.csv` and `chart.svg` into `out` (created if missing).
pub fn write_report(report: &ExperimentReport, out: &Path) -> CliResult<WrittenReport> {
    std::fs::create_dir_all(out).map_err(|source| CliError::io(out, source))?;
    let json = out.join("report.json");
    let text = serde_json::to_string_pretty(report)
        .map_err(|error| CliError::Other(format!("serializing the report: {error}")))?;
    std::fs::write(&json, text + "\n").map_err(|source| CliError::io(&json, source))?;
    let csv = out.join("phases.csv");
    std::fs::write(&csv, to_csv(&report.phases)).map_err(|source| CliError::io(&csv, source))?;
    let svg = out.join("chart.svg");
    chart::draw(report, &svg)?;
    Ok(WrittenReport { json, csv, svg })
}

/// The phases as CSV, one row per phase, with a header.
pub fn to_csv(phases: &[PhaseReport]) -> String {
    let mut text = CSV_COLUMNS.join(",");
    text.push('\n');
    for phase in phases {
        let fields = [
            phase.index.to_string(),
            phase.kind.clone(),
            csv_quote(&phase.detail),
            phase.ops.to_string(),
            phase.hits.to_string(),
            phase.misses.to_string(),
            phase.anomalies.to_string(),
            phase.threads.to_string(),
            format!("{:.6}", phase.wall_s),
            format!("{:.1}", phase.ops_per_s),
            format!("{:.3}", phase.latency_us_p50),
            format!("{:.3}", phase.latency_us_p99),
            format!("{:.3}", phase.latency_us_max),
            phase.keys.to_string(),
            phase.live_bytes.to_string(),
            phase.dead_bytes.to_string(),
            format!("{:.4}", phase.space_amplification),
            phase.segments.to_string(),
            phase.file_bytes.to_string(),
            phase.index_bytes.to_string(),
            phase.rss_bytes.to_string(),
            csv_quote(&phase.note),
        ];
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text
}

fn csv_quote(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// The table header printed before the first phase row.
pub fn table_header() -> String {
    format!(
        "{:>2} {:<10} {:>10} {:>11} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>5} {:>4} {:>8} {:>8} {:>8}  {}\n{}",
        "#",
        "phase",
        "ops",
        "ops/s",
        "p50 µs",
        "p99 µs",
        "max µs",
        "keys",
        "live MB",
        "dead MB",
        "amp",
        "segs",
        "index MB",
        "RSS MB",
        "wall s",
        "detail",
        "-".repeat(140)
    )
}

/// One phase as a table row (plus its note on the next line, if any).
pub fn table_row(phase: &PhaseReport) -> String {
    let mb = |bytes: u64| bytes as f64 / 1e6;
    let mut row = format!(
        "{:>2} {:<10} {:>10} {:>11} {:>9.2} {:>9.2} {:>10.1} {:>9} {:>9.1} {:>9.1} {:>5.2} {:>4} {:>8.1} {:>8.1} {:>8.2}  {}",
        phase.index,
        phase.kind,
        phase.ops,
        if phase.ops_per_s > 0.0 {
            format!("{:.0}", phase.ops_per_s)
        } else {
            "-".to_string()
        },
        phase.latency_us_p50,
        phase.latency_us_p99,
        phase.latency_us_max,
        phase.keys,
        mb(phase.live_bytes),
        mb(phase.dead_bytes),
        phase.space_amplification,
        phase.segments,
        mb(phase.index_bytes),
        mb(phase.rss_bytes),
        phase.wall_s,
        phase.detail,
    );
    if !phase.note.is_empty() {
        let _ = write!(row, "\n{:>14}{}", "", phase.note);
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_report() -> ExperimentReport {
        let phases = (1..=4)
            .map(|index| PhaseReport {
                index,
                kind: ["load", "read", "delete", "compact"][index - 1].to_string(),
                detail: "uniform, \"quoted\", comma".to_string(),
                ops: 1000 * index as u64,
                ops_per_s: 1e5 * index as f64,
                latency_us_p99: 2.5 * index as f64,
                space_amplification: 1.0 + index as f64 / 4.0,
                note: if index == 4 {
                    "reclaimed 1 MB".to_string()
                } else {
                    String::new()
                },
                ..PhaseReport::default()
            })
            .collect();
        ExperimentReport {
            tool: "alexdb test".to_string(),
            store: "btreemap".to_string(),
            dir: "(temporary)".to_string(),
            plan: Plan::default_plan(),
            phases,
            total_wall_s: 1.0,
        }
    }

    #[test]
    fn writes_parseable_json_csv_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let report = sample_report();
        let written = write_report(&report, &dir.path().join("out")).unwrap();
        let json: ExperimentReport =
            serde_json::from_str(&std::fs::read_to_string(&written.json).unwrap()).unwrap();
        assert_eq!(json, report);
        let csv = std::fs::read_to_string(&written.csv).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0].split(',').count(), CSV_COLUMNS.len());
        assert!(
            lines[1].starts_with("1,load,\"uniform, \"\"quoted\"\", comma\",1000,"),
            "{}",
            lines[1]
        );
        let svg = std::fs::read_to_string(&written.svg).unwrap();
        assert!(
            svg.starts_with("<svg") || svg.starts_with("<?xml"),
            "{}",
            &svg[..50.min(svg.len())]
        );
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("throughput") && svg.contains("compact"));
    }

    #[test]
    fn rows_line_up_with_the_header() {
        let report = sample_report();
        let header = table_header();
        let row = table_row(&report.phases[0]);
        assert!(header.lines().next().unwrap().contains("ops/s"));
        assert!(row.contains("load"));
        assert!(table_row(&report.phases[3]).contains("reclaimed 1 MB"));
    }
}
