// SPDX-License-Identifier: GPL-2.0
//! The balance plots: one PNG per statistic and unit, a panel per trace and mapping, log2 N
//! on the x axis, every function next to the ideal random assignment. Written as palette PNGs
//! (every colour drawn, blended with the white background in 16 steps): a fraction of the
//! size of a true-colour PNG, and the antialiased text and lines stay smooth.

use crate::plot_png::{write_palette_png, FONT};
use crate::{Results, Stat, Unit};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use sock_level_hash_bench::balance::{KeyKind, Mapping, QUEUES, VARIANTS};
use std::path::Path;

/// Colour and marker of each variant, in `VARIANTS` order: families share a hue.
fn colour(variant: usize) -> RGBColor {
    [
        RGBColor(214, 39, 40),   // src-ip mod: red
        RGBColor(255, 127, 14),  // xor-fold src: orange
        RGBColor(140, 86, 75),   // xor-fold src+dst: brown
        RGBColor(31, 119, 180),  // crc16 client: blue
        RGBColor(23, 190, 207),  // crc16 2-tuple: cyan
        RGBColor(148, 103, 189), // crc16 5-tuple: purple
        RGBColor(44, 160, 44),   // toeplitz client: green
        RGBColor(188, 189, 34),  // toeplitz 2-tuple: olive
        RGBColor(227, 119, 194), // toeplitz 4-tuple: pink
    ][variant % 9]
}

/// The light grid lines (the bold ones are plotters' default, black at 20 % over white).
const LIGHT_GRID: RGBColor = RGBColor(235, 235, 235);

fn ideal_colour(key: KeyKind) -> RGBColor {
    match key {
        KeyKind::Client => RGBColor(0, 0, 0),
        KeyKind::Pair => RGBColor(110, 110, 110),
        KeyKind::Tuple => RGBColor(170, 170, 170),
    }
}

/// A tick label with as many decimals as its size needs.
fn tick(y: f64) -> String {
    match y {
        y if y.abs() < 1e-9 => "0".to_owned(),
        y if y < 0.0 => format!("{y:.1}"),
        y if y >= 10.0 => format!("{y:.0}"),
        y if y >= 1.0 => format!("{y:.1}"),
        y if y >= 0.1 => format!("{y:.2}"),
        y if y >= 0.01 => format!("{y:.3}"),
        y => format!("{y:.4}"),
    }
}

/// A tick label on the linear max / mean axis, whose steps can be as fine as 0.025 near 1:
/// up to three decimals, trailing zeros dropped (1.025, 1.05, 1.1, 2.0), so that no two
/// ticks read the same.
fn linear_tick(y: f64) -> String {
    if y >= 10.0 {
        return format!("{y:.0}");
    }
    let mut label = format!("{y:.3}");
    while label.ends_with('0') && !label.ends_with(".0") {
        label.pop();
    }
    label
}

fn log2(n: usize) -> f64 {
    (n as f64).log2()
}

type DrawResult<T> = Result<T, String>;

/// A series: points (log2 N, value), colour, dashed (ideal) or not.
type Line = (Vec<(f64, f64)>, RGBColor, bool);

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("plot: {e:?}")
}

/// One panel: the lines on a log2 N x axis and the given y axis.
fn panel<DB, Y>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: String,
    y: Y,
    stat: Stat,
    lines: Vec<Line>,
) -> DrawResult<()>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 19))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(70)
        .build_cartesian_2d(0.85f64..6.15f64, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|x| format!("{}", 2f64.powf(*x).round()))
        .y_labels(8)
        .y_label_formatter(&|y| match stat {
            Stat::Nstd => tick(*y),
            Stat::MaxMean => linear_tick(*y),
        })
        .x_desc("N queues (log2 scale)")
        .y_desc(stat.name())
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .light_line_style(LIGHT_GRID)
        .draw()
        .map_err(err)?;
    for (points, colour, dashed) in lines {
        let style = colour.stroke_width(if dashed { 2 } else { 3 });
        if dashed {
            chart
                .draw_series(DashedLineSeries::new(points.clone(), 9, 6, style))
                .map_err(err)?;
        } else {
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .map_err(err)?;
        }
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))
            .map_err(err)?;
    }
    Ok(())
}

/// Draws `stat` per `unit` for every trace to `path`.
pub fn draw(path: &Path, all: &[Results], stat: Stat, unit: Unit) -> DrawResult<()> {
    let (panel_w, panel_h, legend_w) = (720u32, 470u32, 330u32);
    let rows = all.len() as u32;
    let size = (panel_w * 2 + legend_w, panel_h * rows + 70);
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    render(&mut rgb, size, panel_w, all, stat, unit)?;
    let inks = (0..VARIANTS.len())
        .map(colour)
        .chain(KeyKind::ALL.map(ideal_colour))
        .chain([LIGHT_GRID]);
    write_palette_png(path, &rgb, size, inks)
}

fn render(
    rgb: &mut [u8],
    size: (u32, u32),
    panel_w: u32,
    all: &[Results],
    stat: Stat,
    unit: Unit,
) -> DrawResult<()> {
    let root = BitMapBackend::with_buffer(rgb, size).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "Socket-level hash balance: {} of the per-queue {} counts (lower is more even)",
        stat.name(),
        unit.name()
    );
    let root = root.titled(&title, (FONT, 26)).map_err(err)?;
    let (main, legend) = root.split_horizontally(panel_w * 2);
    let panels = main.split_evenly((all.len(), 2));

    for (row, results) in all.iter().enumerate() {
        for (m, mapping) in Mapping::ALL.iter().enumerate() {
            let panel_area = &panels[row * 2 + m];
            // Collect the series first, to scale the y axis to them.
            let mut lines: Vec<Line> = Vec::new();
            for (v, _) in results.variants() {
                let points = QUEUES
                    .iter()
                    .filter_map(|&n| results.value(m, v, n, unit, stat).map(|y| (log2(n), y)))
                    .collect();
                lines.push((points, colour(v), false));
            }
            for key in results.keys() {
                let points = QUEUES
                    .iter()
                    .filter_map(|&n| results.ideal(key, n, unit, stat).map(|s| (log2(n), s.mean)))
                    .collect();
                lines.push((points, ideal_colour(key), true));
            }
            let caption = format!(
                "{} ({} conns, {} clients), {}",
                results.trace.name,
                results.trace.conns.len(),
                results.trace.n_clients,
                mapping.name()
            );
            let ys = || lines.iter().flat_map(|(p, ..)| p.iter().map(|&(_, y)| y));
            // Normalised std spans decades (log axis); max / mean starts at 1 and rarely
            // spans one (linear axis, which labels it better).
            match stat {
                Stat::Nstd => {
                    let (lo, hi) = ys().fold((f64::MAX, f64::MIN), |(lo, hi), y| {
                        (lo.min(y.max(1e-3)), hi.max(y))
                    });
                    panel(
                        panel_area,
                        caption,
                        (lo / 1.15..hi * 1.15).log_scale(),
                        stat,
                        lines,
                    )?
                }
                Stat::MaxMean => {
                    let hi = ys().fold(1.0f64, f64::max);
                    let pad = (hi - 1.0) * 0.05 + 0.01;
                    panel(
                        panel_area,
                        caption,
                        1.0 - pad.min(0.05)..hi + pad,
                        stat,
                        lines,
                    )?
                }
            }
        }
    }

    // One legend for all panels.
    let text = (FONT, 17).into_font();
    let mut y = 80;
    legend
        .draw_text(
            "function (input)",
            &(FONT, 19).into_font().into_text_style(&legend),
            (10, y - 40),
        )
        .map_err(err)?;
    let entry = |label: String, colour: RGBColor, dashed: bool, y: i32| -> DrawResult<()> {
        let style = colour.stroke_width(if dashed { 2 } else { 3 });
        if dashed {
            for x in (10..60).step_by(15) {
                legend
                    .draw(&PathElement::new(vec![(x, y), (x + 9, y)], style))
                    .map_err(err)?;
            }
        } else {
            legend
                .draw(&PathElement::new(vec![(10, y), (60, y)], style))
                .map_err(err)?;
        }
        legend
            .draw(&Circle::new((35, y), 4, colour.filled()))
            .map_err(err)?;
        legend
            .draw_text(&label, &text.clone().into_text_style(&legend), (70, y - 9))
            .map_err(err)?;
        Ok(())
    };
    for (v, variant) in VARIANTS.iter().enumerate() {
        let label = if variant.key == KeyKind::Tuple {
            format!("{} (traces with ports)", variant.name)
        } else {
            variant.name.to_owned()
        };
        entry(label, colour(v), false, y)?;
        y += 30;
    }
    y += 15;
    for key in KeyKind::ALL {
        entry(
            format!("ideal: random per {}", key.name()),
            ideal_colour(key),
            true,
            y,
        )?;
        y += 30;
    }
    y += 20;
    for line in [
        "Ideal = mean of Monte Carlo",
        "trials (fixed seed): a uniform",
        "random queue per distinct key.",
        "Each function compares with",
        "the ideal of its own key.",
        "Data and numbers:",
        "docs/results/balance.{md,csv}",
    ] {
        legend
            .draw_text(
                line,
                &(FONT, 15).into_font().into_text_style(&legend),
                (10, y),
            )
            .map_err(err)?;
        y += 22;
    }
    root.present().map_err(err)?;
    Ok(())
}
