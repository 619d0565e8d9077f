//! The experiment's picture: three bar charts over the phases, one above the other —
//! throughput, p99 latency (on a logarithmic axis: p99s span microseconds to
//! milliseconds across phases), and space amplification — as one SVG file.
//!
//! Layout: the x axis is continuous, `0..phases`; phase `i` owns the slot `[i, i + 1)`,
//! its bar is centred in it and its label sits on a tick at `i + 0.5`, so labels are
//! centred under their bars and there is no empty slot after the last phase. A phase
//! with no value (a `compact` has no throughput) gets a label but no bar.

use crate::cli::error::{CliError, CliResult};
use crate::cli::report::ExperimentReport;
use plotters::coord::combinators::IntoLogRange;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;
use std::path::Path;

const WIDTH: u32 = 1100;
const PANEL_HEIGHT: u32 = 300;
/// Part of its slot a bar leaves empty on each side.
const BAR_GAP: f64 = 0.12;
/// Widest bar, in pixels (with few phases a slot is far wider than a bar should be), and
/// the plot's width in pixels it is measured against (the SVG width less the y labels).
const MAX_BAR_PX: f64 = 140.0;
const PLOT_PX: f64 = 1000.0;
/// Phase labels longer than this are cut (12 phases leave ~80 px per label).
const MAX_LABEL_CHARS: usize = 14;

/// How a panel's y axis maps values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scale {
    /// From 0, with room above the highest bar.
    Linear,
    /// Powers of ten around the positive values (zeros and negatives get no bar).
    Log,
}

/// One panel: a title, the y axis unit, and a value per phase.
struct Panel {
    title: String,
    unit: &'static str,
    values: Vec<f64>,
    colour: RGBColor,
    scale: Scale,
    /// Renders a value (bar labels and axis ticks).
    format: fn(f64) -> String,
}

/// Draw the chart of `report` into `path`.
pub fn draw(report: &ExperimentReport, path: &Path) -> CliResult<()> {
    let phases = &report.phases;
    let labels: Vec<String> = phases
        .iter()
        .map(|phase| {
            let label = format!("{} {}", phase.index, phase.kind);
            label.chars().take(MAX_LABEL_CHARS).collect()
        })
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
            scale: Scale::Linear,
            format: format_value,
        },
        Panel {
            title: "p99 latency (log scale)".to_string(),
            unit: "p99 latency",
            values: phases.iter().map(|phase| phase.latency_us_p99).collect(),
            colour: RGBColor(0xc8, 0x5a, 0x3a),
            scale: Scale::Log,
            format: format_latency_us,
        },
        Panel {
            title: "space amplification (written / live bytes)".to_string(),
            unit: "×",
            values: phases
                .iter()
                .map(|phase| phase.space_amplification)
                .collect(),
            colour: RGBColor(0x4a, 0x9a, 0x5b),
            scale: Scale::Linear,
            format: format_value,
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

/// The x axis: `0..count`, one unit-wide slot per phase, and a tick (which carries the
/// phase's label) at the centre of each slot.
struct Slots {
    count: usize,
}

impl Ranged for Slots {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = value / self.count as f64;
        limit.0 + (f64::from(limit.1 - limit.0) * fraction).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        (0..self.count).map(|slot| slot as f64 + 0.5).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.count as f64
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    labels: &[String],
) -> Result<(), String> {
    let count = labels.len().max(1);
    let x_axis = Slots { count };
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&panel.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(80);
    match panel.scale {
        Scale::Linear => {
            let top = panel.values.iter().copied().fold(0.0f64, f64::max);
            let y_max = if top > 0.0 { top * 1.15 } else { 1.0 };
            let chart = builder
                .build_cartesian_2d(x_axis, 0f64..y_max)
                .map_err(|error| error.to_string())?;
            draw_bars(chart, panel, labels, 0.0)
        }
        Scale::Log => {
            let (low, high) = log_bounds(&panel.values);
            let chart = builder
                .build_cartesian_2d(x_axis, (low..high).log_scale())
                .map_err(|error| error.to_string())?;
            draw_bars(chart, panel, labels, low)
        }
    }
}

/// Mesh, bars from `base` up, and each bar's value above it, centred.
fn draw_bars<DB, Y>(
    mut chart: ChartContext<'_, DB, Cartesian2d<Slots, Y>>,
    panel: &Panel,
    labels: &[String],
    base: f64,
) -> Result<(), String>
where
    DB: DrawingBackend,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let label_of = |x: &f64| {
        let slot = x.floor();
        (slot >= 0.0)
            .then(|| labels.get(slot as usize).cloned())
            .flatten()
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&label_of)
        .x_label_style(("sans-serif", 12))
        .y_desc(panel.unit)
        .y_label_formatter(&|value| (panel.format)(*value))
        .draw()
        .map_err(|error| error.to_string())?;
    let bars = || {
        panel
            .values
            .iter()
            .enumerate()
            .filter(|(_, value)| **value > 0.0 && value.is_finite())
    };
    let half_width = (0.5 - BAR_GAP).min(MAX_BAR_PX / 2.0 * labels.len().max(1) as f64 / PLOT_PX);
    chart
        .draw_series(bars().map(|(slot, value)| {
            let centre = slot as f64 + 0.5;
            let (left, right) = (centre - half_width, centre + half_width);
            Rectangle::new([(left, base), (right, *value)], panel.colour.filled())
        }))
        .map_err(|error| error.to_string())?;
    // The value above each bar, so the picture can be read without the axis.
    let above =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(bars().map(|(slot, value)| {
            EmptyElement::at((slot as f64 + 0.5, *value))
                + Text::new((panel.format)(*value), (0, -3), above.clone())
        }))
        .map_err(|error| error.to_string())?;
    Ok(())
}

/// Powers of ten around the positive finite values, with room above the highest
/// for its label; `1..10` when there are none.
fn log_bounds(values: &[f64]) -> (f64, f64) {
    let positive = values.iter().copied().filter(|v| *v > 0.0 && v.is_finite());
    let (low, high) = positive.fold((f64::INFINITY, 0.0f64), |(low, high), v| {
        (low.min(v), high.max(v))
    });
    if high <= 0.0 {
        return (1.0, 10.0);
    }
    // At least a third of a decade below the lowest value, so its bar is visible.
    let low = 10f64.powf((low.log10() - 0.3).floor());
    // Half a decade of headroom: the label above the highest bar stays inside.
    let high = 10f64.powf((high.log10() + 0.5).ceil());
    (low, high.max(low * 10.0))
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

/// A latency given in microseconds, in the unit that suits it, to 3 significant digits:
/// 0.97 -> "0.97 µs", 1000 -> "1 ms", 4147 -> "4.15 ms".
fn format_latency_us(us: f64) -> String {
    let (value, unit) = match us {
        v if v >= 1e6 => (v / 1e6, "s"),
        v if v >= 1e3 => (v / 1e3, "ms"),
        v => (v, "µs"),
    };
    let digits = match value {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    let text = format!("{value:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::plan::Plan;
    use crate::cli::report::PhaseReport;

    const KINDS: [&str; 6] = ["load", "read", "delete", "compact", "reopen", "read"];

    /// `count` phases: p99s spread over four decades, no throughput for compact/reopen.
    fn report(count: usize) -> ExperimentReport {
        let phases = (1..=count)
            .map(|index| {
                let kind = KINDS[(index - 1) % KINDS.len()];
                let idle = kind == "compact" || kind == "reopen";
                PhaseReport {
                    index,
                    kind: kind.to_string(),
                    ops_per_s: if idle { 0.0 } else { 1e5 * index as f64 },
                    latency_us_p99: if idle {
                        0.0
                    } else {
                        10f64.powi(index as i32 % 5)
                    },
                    space_amplification: 1.0 + index as f64 / 4.0,
                    ..PhaseReport::default()
                }
            })
            .collect();
        ExperimentReport {
            tool: "alexdb test".to_string(),
            store: "test".to_string(),
            dir: "(temporary)".to_string(),
            plan: Plan::default_plan(),
            phases,
            total_wall_s: 1.0,
        }
    }

    fn attribute(element: &str, name: &str) -> f64 {
        let start = element
            .find(&format!(" {name}=\""))
            .unwrap_or_else(|| panic!("no {name} in {element}"))
            + name.len()
            + 3;
        let end = start + element[start..].find('"').unwrap();
        element[start..end].parse().unwrap()
    }

    /// (x centre, top y, bottom y, width) of the bars filled with `colour`, left to right.
    fn bars(svg: &str, colour: RGBColor) -> Vec<(f64, f64, f64, f64)> {
        let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", colour.0, colour.1, colour.2);
        svg.lines()
            .filter(|line| line.starts_with("<rect") && line.contains(&fill))
            .map(|line| {
                let (x, width) = (attribute(line, "x"), attribute(line, "width"));
                let (y, height) = (attribute(line, "y"), attribute(line, "height"));
                (x + width / 2.0, y, y + height, width)
            })
            .collect()
    }

    /// x of every centred text whose content is `text`.
    fn centred_texts(svg: &str, text: &str) -> Vec<f64> {
        let lines: Vec<&str> = svg.lines().collect();
        lines
            .windows(2)
            .filter(|pair| {
                pair[0].starts_with("<text")
                    && pair[0].contains("text-anchor=\"middle\"")
                    && pair[1] == text
            })
            .map(|pair| attribute(pair[0], "x"))
            .collect()
    }

    fn draw_svg(report: &ExperimentReport) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        draw(report, &path).unwrap();
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn labels_are_centred_under_their_bars_and_no_slot_is_left_empty() {
        for count in [1, 2, 8, 12] {
            let report = report(count);
            let svg = draw_svg(&report);
            let space = bars(&svg, RGBColor(0x4a, 0x9a, 0x5b));
            assert_eq!(space.len(), count, "one space bar per phase");
            let slot = if count > 1 {
                space[1].0 - space[0].0
            } else {
                1000.0
            };
            for (phase, bar) in report.phases.iter().zip(&space) {
                assert!(bar.3 <= MAX_BAR_PX + 1.0, "{count} phases: bar {bar:?}");
                let label = format!("{} {}", phase.index, phase.kind);
                let xs = centred_texts(&svg, &label);
                assert_eq!(xs.len(), 3, "{label}: one label per panel");
                for x in xs {
                    assert!(
                        (x - bar.0).abs() <= 1.0,
                        "{label} at {x}, its bar at {}",
                        bar.0
                    );
                }
            }
            // No empty slot after the last phase: the last bar ends as far from the
            // plot's right end as the first begins from its left (within a pixel).
            let plot_left = space[0].0 - slot / 2.0;
            let plot_right = space[count - 1].0 + slot / 2.0;
            let axis_right = svg
                .lines()
                .filter(|line| line.starts_with("<line"))
                .map(|line| attribute(line, "x2"))
                .fold(0.0f64, f64::max);
            assert!(
                (axis_right - plot_right).abs() <= 2.0,
                "{count} phases: slots end at {plot_right}, the axis at {axis_right}"
            );
            assert!(plot_left > 80.0, "{count} phases: {plot_left}");
        }
    }

    #[test]
    fn p99_latency_uses_a_logarithmic_axis() {
        let report = report(5);
        let svg = draw_svg(&report);
        // p99s: phase 1 10 µs, 2 100 µs, 3 1 ms, 4 (compact) none, 5 (reopen) none.
        let p99 = bars(&svg, RGBColor(0xc8, 0x5a, 0x3a));
        assert_eq!(p99.len(), 3, "no bar for phases without operations");
        let bottom = p99[0].2;
        let heights: Vec<f64> = p99.iter().map(|bar| bottom - bar.1).collect();
        // Each decade adds the same height.
        let decade = heights[1] - heights[0];
        assert!(decade > 20.0, "{heights:?}");
        assert!(
            (heights[2] - heights[1] - decade).abs() <= 2.0,
            "{heights:?}"
        );
        for tick in ["10 µs", "100 µs", "1 ms"] {
            assert!(svg.contains(&format!("\n{tick}\n")), "no tick {tick}");
        }
        assert!(svg.contains("p99 latency (log scale)"));
    }

    #[test]
    fn values_are_formatted_for_reading() {
        assert_eq!(format_value(1_234_567.0), "1.23M");
        assert_eq!(format_value(0.5), "0.50");
        assert_eq!(format_latency_us(0.97), "0.97 µs");
        assert_eq!(format_latency_us(12.0), "12 µs");
        assert_eq!(format_latency_us(1000.0), "1 ms");
        assert_eq!(format_latency_us(4147.0), "4.15 ms");
        assert_eq!(format_latency_us(2.5e6), "2.5 s");
        assert_eq!(log_bounds(&[0.0, 3.0, 4147.0]), (1.0, 100_000.0));
        assert_eq!(log_bounds(&[0.0]), (1.0, 10.0));
    }
}
