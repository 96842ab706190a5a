// SPDX-License-Identifier: GPL-2.0
//! What every plot of `make bench` shares: the font (a TTF file drawn with ab_glyph, no
//! fontconfig) and the palette PNG writer (every colour drawn, blended with the white
//! background in 16 steps: a fraction of the size of a true-colour PNG, antialiasing kept).

use plotters::prelude::*;
use plotters::style::FontStyle;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

pub const FONT: &str = "sans-serif";

/// Text is drawn with ab_glyph from this TTF file (no fontconfig/freetype needed).
pub fn register_font(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "{}: {e} (install Debian fonts-dejavu-core, or pass --font FILE.ttf)",
            path.display()
        )
    })?;
    plotters::style::register_font(FONT, FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
        .map_err(|_| format!("{}: not a usable font", path.display()))
}

/// Steps from the white background to each ink: what antialiasing blends there.
const STEPS: u32 = 16;

/// Writes the RGB image `rgb` as an 8-bit palette PNG: the palette is white, black and `inks`,
/// each blended with white in [`STEPS`] steps; every pixel takes the nearest palette colour
/// (a pixel blended between two inks, where lines cross, the nearest of either ramp).
pub fn write_palette_png(
    path: &Path,
    rgb: &[u8],
    (w, h): (u32, u32),
    inks: impl Iterator<Item = RGBColor>,
) -> Result<(), String> {
    let mut palette: Vec<[u8; 3]> = vec![[255, 255, 255]];
    for RGBColor(r, g, b) in [BLACK].into_iter().chain(inks) {
        for step in 1..=STEPS {
            // Integer blend, rounded: white + (ink - white) * step / STEPS.
            let blend = |c: u8| (255 * STEPS - (255 - u32::from(c)) * step + STEPS / 2) / STEPS;
            let entry = [r, g, b].map(|c| blend(c) as u8);
            if !palette.contains(&entry) {
                palette.push(entry);
            }
        }
    }
    if palette.len() > 256 {
        return Err(format!(
            "plot: {} palette colours, at most 256",
            palette.len()
        ));
    }
    let nearest = |px: [u8; 3]| {
        let dist = |p: &[u8; 3]| -> i32 {
            (0..3)
                .map(|i| (i32::from(p[i]) - i32::from(px[i])).pow(2))
                .sum()
        };
        (0..palette.len())
            .min_by_key(|&i| dist(&palette[i]))
            .unwrap() as u8
    };
    let mut cache: HashMap<[u8; 3], u8> = HashMap::new();
    let indices: Vec<u8> = rgb
        .chunks_exact(3)
        .map(|px| {
            let px = [px[0], px[1], px[2]];
            *cache.entry(px).or_insert_with(|| nearest(px))
        })
        .collect();

    let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), w, h);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(palette.concat());
    encoder.set_compression(png::Compression::Best);
    // Palette indices: unfiltered rows compress best (measured: 10-15 % smaller than Sub).
    encoder.set_filter(png::FilterType::NoFilter);
    let png_err = |e: png::EncodingError| format!("{}: {e}", path.display());
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(&indices).map_err(png_err)?;
    writer.finish().map_err(png_err)
}
