//! The PNG chart of `nexis dataset stats --plot`: clips per interval (bars) above the
//! caption length histogram. Labels use a system TrueType font when one is found
//! (DejaVu Sans or Liberation Sans); without one the chart is drawn without text.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use super::CatalogError;
use super::stats::{CAPTION_BUCKET_CHARS, DatasetStats};

const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a system font as `sans-serif` once; whether one was found.
fn font() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        FONT_PATHS.iter().any(|p| {
            let Ok(bytes) = std::fs::read(p) else { return false };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

fn err(path: &Path, e: impl std::fmt::Display) -> CatalogError {
    CatalogError::Invalid(format!("cannot draw {}: {e}", path.display()))
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_desc: &str,
    values: &[(String, u64)],
    text: bool,
    path: &Path,
) -> Result<(), CatalogError> {
    let top = values.iter().map(|v| v.1).max().unwrap_or(0).max(1);
    let n = values.len().max(1) as u32;
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder.caption(title, ("sans-serif", 22)).x_label_area_size(36).y_label_area_size(60);
    }
    let mut chart = builder.build_cartesian_2d(0u32..n, 0u64..top + top / 10 + 1).map_err(|e| err(path, e))?;
    if text {
        let labels: Vec<String> = values.iter().map(|v| v.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc("clips")
            .x_labels(values.len().min(12))
            .x_label_formatter(&|x| labels.get(*x as usize).cloned().unwrap_or_default())
            .draw()
            .map_err(|e| err(path, e))?;
    }
    let style = RGBColor(46, 125, 50).filled();
    chart
        .draw_series(
            values.iter().enumerate().map(|(i, v)| Rectangle::new([(i as u32, 0), (i as u32 + 1, v.1)], style)),
        )
        .map_err(|e| err(path, e))?;
    Ok(())
}

/// Draws clips per interval and the caption length histogram to `path` (1000x800 PNG).
pub fn draw(stats: &DatasetStats, path: &Path) -> Result<(), CatalogError> {
    let text = font();
    let root = BitMapBackend::new(path, (1000, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let (upper, lower) = root.split_vertically(400);
    let per_interval: Vec<(String, u64)> = stats.per_interval.iter().map(|(i, n)| (i.to_string(), *n)).collect();
    bars(&upper, "clips per interval", "interval", &per_interval, text, path)?;
    let histogram: Vec<(String, u64)> = stats
        .caption_histogram
        .iter()
        .enumerate()
        .map(|(i, n)| ((i as u32 * CAPTION_BUCKET_CHARS).to_string(), *n))
        .collect();
    bars(&lower, "caption length", "caption characters", &histogram, text, path)?;
    root.present().map_err(|e| err(path, e))?;
    Ok(())
}
