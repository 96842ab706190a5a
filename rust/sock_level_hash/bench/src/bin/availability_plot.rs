// SPDX-License-Identifier: GPL-2.0
//! `make bench`, section 6: the curve of stickiness against availability.
//!
//! ```text
//! slh-availability-plot --csv vm-availability.csv --out vm-availability.png [--font TTF]
//! ```
//! Reads the table `vm-bench/report.py` wrote (one row per configuration: `shared`, `strict`,
//! `wait-N`, `healthy-200`) and draws two panels against max_wait (log scale): the % of
//! clients answered by one worker, and the p50/p99 time from connect() to the answer; the
//! strict mode and the shared listener as horizontal lines.

#[path = "common/plot_png.rs"]
mod plot_png;

use plot_png::{write_palette_png, FONT};
use plotters::prelude::*;
use sock_level_hash_bench::cli::Flags;
use std::path::PathBuf;
use std::process::ExitCode;

/// One configuration of the table.
struct Row {
    config: String,
    max_wait_ms: Option<f64>,
    p50_ms: f64,
    p99_ms: f64,
    sticky_pct: f64,
}

fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty table")?.split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or(format!("no column {name}"))
    };
    let (config, wait, p50, p99, sticky) = (
        column("config")?,
        column("max_wait_ms")?,
        column("p50_ms")?,
        column("p99_ms")?,
        column("stickiness_pct")?,
    );
    let number = |field: &str| field.parse::<f64>().map_err(|e| format!("{field:?}: {e}"));
    lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let get = |i: usize| fields.get(i).copied().ok_or(format!("short row: {line}"));
            Ok(Row {
                config: get(config)?.to_owned(),
                max_wait_ms: match get(wait)? {
                    "" => None,
                    w => Some(number(w)?),
                },
                p50_ms: number(get(p50)?)?,
                p99_ms: number(get(p99)?)?,
                // "–" when no client had two connections: plotted as 0.
                sticky_pct: number(get(sticky)?).unwrap_or(0.0),
            })
        })
        .collect()
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("plot: {e:?}")
}

const WAIT: RGBColor = RGBColor(31, 119, 180);
const STRICT: RGBColor = RGBColor(214, 39, 40);
const SHARED: RGBColor = RGBColor(110, 110, 110);
const LIGHT_GRID: RGBColor = RGBColor(235, 235, 235);

fn draw(rows: &[Row], out: &std::path::Path) -> Result<(), String> {
    let waits: Vec<&Row> = rows
        .iter()
        .filter(|r| r.config.starts_with("wait-") && r.max_wait_ms.is_some_and(|w| w > 0.0))
        .collect();
    if waits.is_empty() {
        return Err("no wait-N rows".into());
    }
    let find = |name: &str| rows.iter().find(|r| r.config == name);
    let (strict, shared) = (find("strict"), find("shared"));
    let lo = waits
        .iter()
        .filter_map(|r| r.max_wait_ms)
        .fold(f64::MAX, f64::min)
        / 1.5;
    let hi = waits
        .iter()
        .filter_map(|r| r.max_wait_ms)
        .fold(0.0, f64::max)
        * 1.5;
    let size = (1300u32, 560u32);
    let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root
            .titled(
                "One slow worker of four: stickiness against waiting, by max_wait",
                (FONT, 24),
            )
            .map_err(err)?;
        let (left, right) = root.split_horizontally(size.0 / 2);

        let mut chart = ChartBuilder::on(&left)
            .caption("clients answered by one worker", (FONT, 18))
            .margin(14)
            .x_label_area_size(46)
            .y_label_area_size(60)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..100f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_desc("max_wait (ms, log scale)")
            .y_desc("sticky clients (%)")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .light_line_style(LIGHT_GRID)
            .draw()
            .map_err(err)?;
        let line = |r: &Row| (r.max_wait_ms.unwrap_or(0.0), r.sticky_pct);
        chart
            .draw_series(LineSeries::new(
                waits.iter().map(|r| line(r)),
                WAIT.stroke_width(3),
            ))
            .map_err(err)?
            .label("bounded wait")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], WAIT.stroke_width(3)));
        chart
            .draw_series(waits.iter().map(|r| Circle::new(line(r), 4, WAIT.filled())))
            .map_err(err)?;
        for (row, colour, name) in [
            (strict, STRICT, "strict (0)"),
            (shared, SHARED, "shared listener"),
        ] {
            if let Some(row) = row {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(lo, row.sticky_pct), (hi, row.sticky_pct)],
                        9,
                        6,
                        colour.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(name)
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(2))
                    });
            }
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(err)?;

        let top = rows.iter().map(|r| r.p99_ms).fold(1.0, f64::max) * 2.0;
        let bottom = rows
            .iter()
            .map(|r| r.p50_ms)
            .filter(|&v| v > 0.0)
            .fold(f64::MAX, f64::min)
            .min(top / 10.0)
            / 2.0;
        let mut chart = ChartBuilder::on(&right)
            .caption("connect() to answer", (FONT, 18))
            .margin(14)
            .x_label_area_size(46)
            .y_label_area_size(60)
            .build_cartesian_2d((lo..hi).log_scale(), (bottom..top).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| {
                if *y >= 1.0 {
                    format!("{y:.0}")
                } else {
                    format!("{y}")
                }
            })
            .x_desc("max_wait (ms, log scale)")
            .y_desc("ms (log scale)")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .light_line_style(LIGHT_GRID)
            .draw()
            .map_err(err)?;
        for (pick, width, name) in [
            (
                Box::new(|r: &Row| r.p99_ms) as Box<dyn Fn(&Row) -> f64>,
                3,
                "p99, bounded wait",
            ),
            (Box::new(|r: &Row| r.p50_ms), 1, "p50, bounded wait"),
        ] {
            let points: Vec<(f64, f64)> = waits
                .iter()
                .map(|r| (r.max_wait_ms.unwrap_or(0.0), pick(r).max(bottom)))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), WAIT.stroke_width(width)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 24, y)], WAIT.stroke_width(width))
                });
            chart
                .draw_series(points.into_iter().map(|p| Circle::new(p, 3, WAIT.filled())))
                .map_err(err)?;
        }
        for (row, colour, name) in [
            (strict, STRICT, "p99, strict"),
            (shared, SHARED, "p99, shared"),
        ] {
            if let Some(row) = row {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(lo, row.p99_ms.max(bottom)), (hi, row.p99_ms.max(bottom))],
                        9,
                        6,
                        colour.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(name)
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(2))
                    });
            }
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    write_palette_png(
        out,
        &rgb,
        size,
        [WAIT, STRICT, SHARED, LIGHT_GRID].into_iter(),
    )
}

fn run() -> Result<(), String> {
    let mut flags = Flags::parse(std::env::args().skip(1))?;
    let csv: PathBuf = flags.take("--csv").ok_or("--csv FILE is required")?.into();
    let out: PathBuf = flags
        .take("--out")
        .ok_or("--out FILE.png is required")?
        .into();
    let font: PathBuf = flags
        .take("--font")
        .unwrap_or_else(|| "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into())
        .into();
    flags.finish()?;
    plot_png::register_font(&font)?;
    let text = std::fs::read_to_string(&csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    draw(&parse(&text)?, &out)?;
    println!("wrote {}", out.display());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slh-availability-plot: {e}");
            ExitCode::FAILURE
        }
    }
}
