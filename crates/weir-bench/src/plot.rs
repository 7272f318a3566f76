//! PNG plots with plotters' bitmap backend. Text is drawn with ab_glyph from a font embedded
//! in the binary (Hack, via epaint_default_fonts), so nothing depends on fontconfig or on
//! fonts installed on the machine.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::anyhow;
use plotters::prelude::*;
use serde_json::Value;

use crate::Report;

const SIZE: (u32, u32) = (960, 540);
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        );
    });
}

fn err(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("plotting: {error}")
}

/// Draws the plots of `report` into `out`; returns the files written.
pub fn draw(report: &Report, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    register_font();
    let mut written = Vec::new();
    match report.name {
        "oom-case" => {
            let path = out.join("oom-case-rss.png");
            let mut lines = Vec::new();
            let mut marks = Vec::new();
            for run in report.summary["runs"].as_array().into_iter().flatten() {
                let label = run["backlog"].as_str().unwrap_or_default();
                let points = points(&report.series[label]);
                let backlog = crate::util::human_bytes(run["backlog_bytes"].as_u64().unwrap_or(0));
                lines.push((format!("{label} backlog ({backlog})"), points));
                if let Some(idle) = run["idle_rss_mib"].as_f64() {
                    marks.push((
                        format!("{label}: idle + 64 MiB (target)"),
                        idle + 64.0,
                        lines.len() - 1,
                    ));
                }
            }
            line_chart(
                &path,
                "oom-case: worker RSS, Kafka → HdfsFile at 1 row/s",
                "seconds since the job was running (before 0: the idle worker)",
                "worker RSS (MiB)",
                &lines,
                &marks,
            )?;
            written.push(path);
        }
        "message-size" => {
            let path = out.join("message-size-rss.png");
            let mut lines = Vec::new();
            if let Some(series) = report.series.as_object() {
                for (label, values) in series {
                    lines.push((format!("{label} records"), points(values)));
                }
            }
            line_chart(
                &path,
                "message-size: worker RSS behind a stalled sink",
                "seconds since the job was running (before 0: the idle worker)",
                "worker RSS (MiB)",
                &lines,
                &[],
            )?;
            written.push(path);
        }
        "rate" => {
            let path = out.join("rate.png");
            rate_chart(&path, &report.summary)?;
            written.push(path);
        }
        "partitions" => {
            let path = out.join("partitions-rss.svg");
            partitions_chart(&path, &report.summary)?;
            written.push(path);
        }
        "recovery" => {
            let lag = points(&report.series["lag_around_kill"]);
            if !lag.is_empty() {
                let path = out.join("recovery-lag.png");
                let mut marks = Vec::new();
                if let Some(threshold) = report.summary["caught_up_threshold_rows"].as_f64() {
                    marks.push(("caught up (steady level)".to_string(), threshold, 1));
                }
                line_chart(
                    &path,
                    "recovery: lag around kill -9 of the worker (at 0)",
                    "seconds since the kill",
                    "lag (records)",
                    &[("lag".to_string(), lag)],
                    &marks,
                )?;
                written.push(path);
            }
        }
        _ => {}
    }
    Ok(written)
}

/// A tick label with as many decimals as the axis range needs.
fn axis_label(value: f64, range: f64) -> String {
    if range >= 20.0 {
        format!("{value:.0}")
    } else if range >= 2.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// `[[x, y], …]` as pairs.
fn points(value: &Value) -> Vec<(f64, f64)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|point| Some((point[0].as_f64()?, point[1].as_f64()?)))
        .collect()
}

fn line_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    lines: &[(String, Vec<(f64, f64)>)],
    marks: &[(String, f64, usize)],
) -> anyhow::Result<()> {
    let chart = Lines {
        title,
        x_desc,
        y_desc,
        lines,
        marks,
    };
    if path.extension().is_some_and(|ext| ext == "svg") {
        chart.draw(SVGBackend::new(path, SIZE).into_drawing_area(), None)
    } else {
        chart.draw(BitMapBackend::new(path, SIZE).into_drawing_area(), None)
    }
}

/// Peak RSS (and idle, and issue 14's target) against the partition count, on a log axis.
/// The reservation is left to the table: at today's 12.6 MiB per partition it would flatten
/// every other line.
fn partitions_chart(path: &Path, summary: &Value) -> anyhow::Result<()> {
    let runs: Vec<&Value> = summary["runs"].as_array().into_iter().flatten().collect();
    let line = |label: &str, value: &dyn Fn(&Value) -> Option<f64>| {
        let points = runs
            .iter()
            .filter_map(|run| Some((run["partitions"].as_f64()?.log10(), value(run)?)))
            .collect::<Vec<_>>();
        (label.to_string(), points)
    };
    let mut lines = vec![
        line("1 row/s: peak RSS", &|run| {
            run["oom"]["peak_rss_mib"].as_f64()
        }),
        line("stalled sink: peak RSS", &|run| {
            run["stalled"]["peak_rss_mib"].as_f64()
        }),
        line("idle RSS", &|run| run["oom"]["idle_rss_mib"].as_f64()),
        line("target: idle + 64 MiB", &|run| {
            Some(run["oom"]["idle_rss_mib"].as_f64()? + 64.0)
        }),
    ];
    lines.retain(|(_, points)| !points.is_empty());
    let chart = Lines {
        title: "partitions: worker RSS against the partition count (parallelism 1)",
        x_desc: "partitions (log scale)",
        y_desc: "MiB",
        lines: &lines,
        marks: &[],
    };
    let log_axis = |x: f64| format!("{:.0}", 10f64.powf(x));
    chart.draw(
        SVGBackend::new(path, SIZE).into_drawing_area(),
        Some(&log_axis),
    )
}

/// A line chart on any plotters backend.
struct Lines<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    lines: &'a [(String, Vec<(f64, f64)>)],
    marks: &'a [(String, f64, usize)],
}

impl Lines<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, plotters::coord::Shift>,
        x_format: Option<&dyn Fn(f64) -> String>,
    ) -> anyhow::Result<()> {
        let Lines {
            title,
            x_desc,
            y_desc,
            lines,
            marks,
        } = *self;
        let x_max = lines
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.0))
            .fold(1.0f64, f64::max);
        let x_min = lines
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.0))
            .fold(0.0f64, f64::min);
        let y_max = lines
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.1))
            .chain(marks.iter().map(|m| m.1))
            .fold(1.0f64, f64::max)
            * 1.15;
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x_min..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|x| match x_format {
                Some(format) => format(*x),
                None => axis_label(*x, x_max - x_min),
            })
            .y_label_formatter(&|y| axis_label(*y, y_max))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        for (index, (label, points)) in lines.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        for (label, y, index) in marks {
            let color = COLORS[index % COLORS.len()].mix(0.7);
            let dashes: Vec<(f64, f64)> = vec![(x_min, *y), (x_max, *y)];
            chart
                .draw_series(DashedLineSeries::new(dashes, 8, 6, color.stroke_width(1)))
                .map_err(err)?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
        Ok(())
    }
}

/// Achieved vs configured, log-log, with the y = x line: one point per limit.
fn rate_chart(path: &Path, summary: &Value) -> anyhow::Result<()> {
    let cases: Vec<(String, f64, f64, f64)> = summary["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|case| {
            Some((
                case["limit"].as_str()?.to_string(),
                case["configured"].as_f64()?,
                case["achieved"].as_f64()?,
                case["error_percent"].as_f64()?,
            ))
        })
        .collect();
    let low = cases
        .iter()
        .map(|c| c.1.min(c.2))
        .fold(f64::INFINITY, f64::min)
        .max(0.1)
        / 3.0;
    let high = cases.iter().map(|c| c.1.max(c.2)).fold(1.0, f64::max) * 3.0;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "rate: achieved vs configured read limit",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d((low..high).log_scale(), (low..high).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("configured (rows/s, or B/s for the bytes limit)")
        .y_desc("achieved")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            [(low, low), (high, high)],
            BLACK.mix(0.4).stroke_width(1),
        ))
        .map_err(err)?
        .label("achieved = configured")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    for (index, (label, configured, achieved, error)) in cases.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        chart
            .draw_series([Circle::new((*configured, *achieved), 7, color.filled())])
            .map_err(err)?
            .label(format!("{label}: {achieved:.1} ({error:+.2} %)"))
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
