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
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
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

/// A line of the bounded waits: points, stroke width, marker radius, legend.
type Series = (Vec<(f64, f64)>, u32, u32, &'static str);
/// A horizontal reference line across the panel: height, colour, legend.
type Reference = (f64, RGBColor, &'static str);

/// One panel: max_wait (log scale) on x, `y` on y; the bounded waits' lines in blue with a
/// marker per measured wait, the references dashed.
#[allow(clippy::too_many_arguments)]
fn panel<DB, Y>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    (lo, hi): (f64, f64),
    y: Y,
    y_desc: &str,
    series: Vec<Series>,
    references: Vec<Reference>,
    legend: SeriesLabelPosition,
) -> Result<(), String>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin(14)
        .x_label_area_size(46)
        .y_label_area_size(60)
        .build_cartesian_2d((lo..hi).log_scale(), y)
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
        .y_desc(y_desc)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(LIGHT_GRID)
        .draw()
        .map_err(err)?;
    for (points, width, radius, name) in series {
        chart
            .draw_series(LineSeries::new(points.clone(), WAIT.stroke_width(width)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 24, y)], WAIT.stroke_width(width))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, radius, WAIT.filled())),
            )
            .map_err(err)?;
    }
    for (y, colour, name) in references {
        chart
            .draw_series(DashedLineSeries::new(
                [(lo, y), (hi, y)],
                9,
                6,
                colour.stroke_width(2),
            ))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .position(legend)
        .draw()
        .map_err(err)
}

fn draw(rows: &[Row], out: &std::path::Path) -> Result<(), String> {
    let waits: Vec<&Row> = rows
        .iter()
        .filter(|r| r.config.starts_with("wait-") && r.max_wait_ms.is_some_and(|w| w > 0.0))
        .collect();
    if waits.is_empty() {
        return Err("no wait-N rows".into());
    }
    let find = |name: &str| rows.iter().find(|r| r.config == name);
    let references = |value: &dyn Fn(&Row) -> f64, strict: &'static str, shared: &'static str| {
        [
            (find("strict"), STRICT, strict),
            (find("shared"), SHARED, shared),
        ]
        .into_iter()
        .filter_map(|(row, colour, name)| row.map(|row| (value(row), colour, name)))
        .collect::<Vec<Reference>>()
    };
    let curve = |value: &dyn Fn(&Row) -> f64| -> Vec<(f64, f64)> {
        waits
            .iter()
            .map(|r| (r.max_wait_ms.unwrap_or(0.0), value(r)))
            .collect()
    };
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
    let top = rows.iter().map(|r| r.p99_ms).fold(1.0, f64::max) * 2.0;
    let bottom = rows
        .iter()
        .map(|r| r.p50_ms)
        .filter(|&v| v > 0.0)
        .fold(f64::MAX, f64::min)
        .min(top / 10.0)
        / 2.0;
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
        let sticky = |r: &Row| r.sticky_pct;
        panel(
            &left,
            "clients answered by one worker",
            (lo, hi),
            0f64..100f64,
            "sticky clients (%)",
            vec![(curve(&sticky), 3, 4, "bounded wait")],
            references(&sticky, "strict (0)", "shared listener"),
            SeriesLabelPosition::LowerRight,
        )?;
        let p99 = |r: &Row| r.p99_ms.max(bottom);
        let p50 = |r: &Row| r.p50_ms.max(bottom);
        panel(
            &right,
            "connect() to answer",
            (lo, hi),
            (bottom..top).log_scale(),
            "ms (log scale)",
            vec![
                (curve(&p99), 3, 3, "p99, bounded wait"),
                (curve(&p50), 1, 3, "p50, bounded wait"),
            ],
            references(&p99, "p99, strict", "p99, shared"),
            SeriesLabelPosition::UpperLeft,
        )?;
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
