//! Figures drawn with plotters from what `analysis` computed; every figure is written as PNG and
//! as SVG. Text uses the embedded DejaVu Sans (no system fonts needed).
//!
//! - `seeds`: per-seed final values of each variant, with the mean and a ± 1 std bar;
//! - `curve`: a dev metric against the optimizer step, mean line and ± 1 std band per variant;
//! - `spread`: the std of each variant with its bootstrap interval, side by side across tasks.

mod curve;
mod seeds;
mod spread;

pub use curve::CurveFigure;
pub use seeds::SeedsFigure;
pub use spread::SpreadFigure;

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Font family name the figures use (registered from the embedded DejaVu Sans).
pub const FONT: &str = "sans-serif";
/// Fraction of the data range added on the legend's side so that it covers no data.
pub const LEGEND_ROOM: f64 = 0.3;
/// Figure size in pixels (PNG) and user units (SVG).
pub const SIZE: (u32, u32) = (960, 540);

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("could not draw {path}: {message}")]
    Draw { path: PathBuf, message: String },
    #[error("could not create the figure directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write a figure: {0}")]
    Io(#[from] std::io::Error),
}

/// Registers the embedded fonts with plotters (once per process).
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the `dejavu` crate.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Colour of the i-th variant (the baseline is variant 0), a colour-blind-friendly palette
/// (Okabe & Ito 2008).
pub fn variant_color(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 8] = [
        RGBColor(0, 114, 178),   // blue
        RGBColor(213, 94, 0),    // vermillion
        RGBColor(0, 158, 115),   // bluish green
        RGBColor(204, 121, 167), // reddish purple
        RGBColor(230, 159, 0),   // orange
        RGBColor(86, 180, 233),  // sky blue
        RGBColor(120, 120, 120), // grey
        RGBColor(240, 228, 66),  // yellow
    ];
    PALETTE[i % PALETTE.len()]
}

/// Colour of the variant `name` by its place among the experiment's `variants` (the same in every
/// figure); `fallback` for a name not among them.
fn color_of(variants: &[String], name: &str, fallback: usize) -> RGBColor {
    variant_color(variants.iter().position(|n| n == name).unwrap_or(fallback))
}

/// A figure that can draw itself on any plotters backend.
pub trait Draw {
    /// File name without extension (ASCII letters, digits, `-`, `_` and `.`).
    fn stem(&self) -> String;
    /// Short description for alt text and captions.
    fn title(&self) -> String;
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// A figure written to disk.
#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    pub png: PathBuf,
    pub svg: PathBuf,
}

/// Draws `fig` into `dir/<stem>.png` and `dir/<stem>.svg`.
pub fn render(fig: &impl Draw, dir: &Path) -> Result<Figure, PlotError> {
    register_fonts();
    std::fs::create_dir_all(dir).map_err(|source| PlotError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let stem = fig.stem();
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |message: String| PlotError::Draw { path, message }
    };
    // Each file appears whole or not at all (a full disk leaves no half-written figure).
    crate::atomic_file::replace_with(&png, |tmp| {
        let root = BitMapBackend::new(tmp, SIZE).into_drawing_area();
        fig.draw(&root).map_err(err(&png))?;
        root.present().map_err(|e| err(&png)(e.to_string()))
    })?;
    crate::atomic_file::replace_with(&svg, |tmp| {
        let root = SVGBackend::new(tmp, SIZE).into_drawing_area();
        fig.draw(&root).map_err(err(&svg))?;
        root.present().map_err(|e| err(&svg)(e.to_string()))
    })?;
    Ok(Figure {
        title: fig.title(),
        png,
        svg,
    })
}

/// A file-name-safe version of `s`.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The y range that holds `values`, padded by 8% (and by a fixed amount when they are all equal).
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        0.08 * (hi - lo)
    } else {
        0.05 * lo.abs().max(1.0)
    };
    (lo - pad, hi + pad)
}

/// `range` cut to a bounded metric's `bounds` (an accuracy axis never runs past 1).
fn clamp_range(range: (f64, f64), bounds: Option<(f64, f64)>) -> (f64, f64) {
    let Some((lo, hi)) = bounds else {
        return range;
    };
    let (y0, y1) = (range.0.max(lo), range.1.min(hi));
    if y0 < y1 {
        (y0, y1)
    } else {
        (lo, hi)
    }
}

/// Tick labels with as many decimals as the range needs.
fn tick_format(range: f64) -> impl Fn(&f64) -> String {
    let decimals = if range <= 0.0 || !range.is_finite() {
        3
    } else {
        ((-range.log10()).ceil() as i32 + 2).clamp(0, 8) as usize
    };
    move |v: &f64| format!("{v:.decimals$}")
}

/// Every figure's legend: a framed, half-transparent box at `position`.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(e2s)
}

fn e2s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{analyse, Options};
    use crate::synthetic::generated_grid;

    fn check_png(path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            &bytes[..8],
            b"\x89PNG\r\n\x1a\n",
            "{} is not a PNG",
            path.display()
        );
        assert!(
            bytes.len() > 10_000,
            "{} is only {} bytes",
            path.display(),
            bytes.len()
        );
        // IHDR: width and height big-endian at offsets 16 and 20.
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), SIZE);
    }

    fn check_svg(path: &Path, must_contain: &[&str]) {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with("<svg"), "{} is not an SVG", path.display());
        assert!(text.trim_end().ends_with("</svg>"));
        assert!(
            text.len() > 5_000,
            "{} is only {} bytes",
            path.display(),
            text.len()
        );
        for s in must_contain {
            assert!(text.contains(s), "{} lacks {s:?}", path.display());
        }
    }

    #[test]
    fn figures_of_a_synthetic_experiment() {
        let runs = generated_grid(
            &["rte", "mrpc"],
            &[("baseline", 1.0), ("cross_head", 0.6)],
            6,
            40,
            1,
        );
        let (data, _db) = crate::analysis::tests::load(&runs, true);
        let a = analyse(&data, &Options::default());
        let dir = tempfile::tempdir().unwrap();

        let acc = a
            .metrics
            .iter()
            .find(|m| m.setting.task == "rte" && m.metric.name == "acc")
            .unwrap();
        let f = render(&SeedsFigure::new(acc, &a.variants), dir.path()).unwrap();
        check_png(&f.png);
        check_svg(
            &f.svg,
            &["baseline", "cross_head", "higher is better", "mean ± 1 std"],
        );

        let curve = a
            .curves
            .iter()
            .find(|c| c.setting.task == "mrpc" && c.metric.name == "f1")
            .unwrap();
        let f = render(&CurveFigure::new(curve, &a.variants), dir.path()).unwrap();
        check_png(&f.png);
        check_svg(&f.svg, &["optimizer step", "cross_head", "f1"]);

        let accs: Vec<_> = a
            .metrics
            .iter()
            .filter(|m| m.metric.name == "acc")
            .collect();
        let f = render(&SpreadFigure::new("acc", &accs, &a.variants), dir.path()).unwrap();
        check_png(&f.png);
        check_svg(&f.svg, &["rte", "mrpc", "std of acc"]);
    }

    #[test]
    fn slugs_and_ranges() {
        assert_eq!(slug("rte [lr=2e-05]"), "rte-lr-2e-05");
        assert_eq!(slug("dev_matched/acc"), "dev_matched-acc");
        assert_eq!(padded_range([1.0, 2.0].into_iter()), (0.92, 2.08));
        assert_eq!(clamp_range((0.9, 1.08), Some((0.0, 1.0))), (0.9, 1.0));
        assert_eq!(clamp_range((-1.2, 0.3), Some((-1.0, 1.0))), (-1.0, 0.3));
        assert_eq!(clamp_range((1.2, 1.5), Some((0.0, 1.0))), (0.0, 1.0));
        assert_eq!(clamp_range((-3.0, 9.0), None), (-3.0, 9.0));
        assert_eq!(tick_format(0.05)(&0.123456), "0.1235");
    }
}
