//! The experiment's picture: three bar charts over the phases, one above the other —
//! throughput, p99 latency, and space amplification — as one SVG file.

use crate::cli::error::{CliError, CliResult};
use crate::cli::report::ExperimentReport;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1100;
const PANEL_HEIGHT: u32 = 300;

/// One panel: a title, the y axis unit, and a value per phase.
struct Panel {
    title: String,
    unit: &'static str,
    values: Vec<f64>,
    colour: RGBColor,
}

/// Draw the chart of `report` into `path`.
pub fn draw(report: &ExperimentReport, path: &Path) -> CliResult<()> {
    let phases = &report.phases;
    let labels: Vec<String> = phases
        .iter()
        .map(|phase| format!("{} {}", phase.index, phase.kind))
        .collect();
    let panels = [
        Panel {
            title: format!(
                "throughput — {} ({}), {} keys × {} B",
                report.plan.name, report.store, report.plan.keys, report.plan.value_size
            ),
            unit: "ops/s",
            values: phases.iter().map(|phase| phase.ops_per_s).collect(),
            colour: RGBColor(0x3b, 0x6e, 0xa8),
        },
        Panel {
            title: "p99 latency".to_string(),
            unit: "µs",
            values: phases.iter().map(|phase| phase.latency_us_p99).collect(),
            colour: RGBColor(0xc8, 0x5a, 0x3a),
        },
        Panel {
            title: "space amplification (written / live bytes)".to_string(),
            unit: "×",
            values: phases
                .iter()
                .map(|phase| phase.space_amplification)
                .collect(),
            colour: RGBColor(0x4a, 0x9a, 0x5b),
        },
    ];
    let height = PANEL_HEIGHT * panels.len() as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    let fail = |error: String| CliError::Other(format!("drawing {}: {error}", path.display()));
    root.fill(&WHITE).map_err(|error| fail(error.to_string()))?;
    let areas = root.split_evenly((panels.len(), 1));
    for (area, panel) in areas.iter().zip(&panels) {
        draw_panel(area, panel, &labels).map_err(fail)?;
    }
    root.present().map_err(|error| fail(error.to_string()))?;
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    labels: &[String],
) -> Result<(), String> {
    let count = labels.len().max(1);
    let top = panel.values.iter().copied().fold(0.0f64, f64::max);
    let y_max = if top > 0.0 { top * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(80)
        .build_cartesian_2d((0..count).into_segmented(), 0f64..y_max)
        .map_err(|error| error.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(count)
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(index) => labels.get(*index).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc(panel.unit)
        .y_label_formatter(&|value| format_value(*value))
        .draw()
        .map_err(|error| error.to_string())?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(panel.colour.filled())
                .margin(12)
                .data(
                    panel
                        .values
                        .iter()
                        .enumerate()
                        .map(|(index, value)| (index, *value)),
                ),
        )
        .map_err(|error| error.to_string())?;
    // The value above each bar, so the picture can be read without the axis.
    chart
        .draw_series(
            panel
                .values
                .iter()
                .enumerate()
                .filter(|(_, value)| **value > 0.0)
                .map(|(index, value)| {
                    Text::new(
                        format_value(*value),
                        (SegmentValue::CenterOf(index), *value + y_max * 0.02),
                        ("sans-serif", 13),
                    )
                }),
        )
        .map_err(|error| error.to_string())?;
    Ok(())
}

/// 1234567 -> "1.23M", 0.5 -> "0.50".
fn format_value(value: f64) -> String {
    match value {
        v if v >= 1e9 => format!("{:.2}G", v / 1e9),
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e4 => format!("{:.1}k", v / 1e3),
        v if v >= 100.0 => format!("{v:.0}"),
        v => format!("{v:.2}"),
    }
}
