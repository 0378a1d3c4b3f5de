//! Per-seed final values of each variant, with the mean and a ± 1 std bar beside them; runs at or
//! below the majority-class score (degenerate) are drawn as crosses. A bounded metric's axis stays
//! in the metric's range.

use super::{
    clamp_range, color_of, draw_legend, e2s, padded_range, slug, tick_format, Draw, FONT,
    LEGEND_ROOM,
};
use crate::analysis::MetricAnalysis;
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct SeedsFigure<'a> {
    metric: &'a MetricAnalysis,
    /// All variants of the experiment (for stable colours).
    variants: &'a [String],
}

impl<'a> SeedsFigure<'a> {
    pub fn new(metric: &'a MetricAnalysis, variants: &'a [String]) -> Self {
        SeedsFigure { metric, variants }
    }
}

impl Draw for SeedsFigure<'_> {
    fn stem(&self) -> String {
        format!(
            "seeds-{}-{}",
            slug(&self.metric.setting.label()),
            slug(&self.metric.metric.label())
        )
    }

    fn title(&self) -> String {
        format!(
            "{} {}: per-seed values, mean ± 1 std",
            self.metric.setting,
            self.metric.metric.label()
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let m = self.metric;
        root.fill(&WHITE).map_err(e2s)?;
        let k = m.variants.len().max(1);
        let values = m.variants.iter().flat_map(|v| {
            let s = v.summary;
            v.sample
                .values
                .iter()
                .copied()
                .chain(s.into_iter().flat_map(|s| [s.mean - s.std, s.mean + s.std]))
        });
        let (y0, y1) = padded_range(values.chain(m.majority));
        // Headroom for the legend (upper right) above the data.
        let y1 = y1 + LEGEND_ROOM * (y1 - y0);
        let (y0, y1) = clamp_range((y0, y1), crate::analysis::metric_bounds(&m.metric.name));
        let degenerate = |y: f64| {
            m.majority
                .is_some_and(|maj| crate::analysis::count_degenerate(&[y], maj, m.direction) == 1)
        };
        let side = crate::analysis::learned::degenerate_side(m.direction);
        let mut degenerate_labelled = false;
        let direction = m
            .direction
            .map_or(String::new(), |d| format!(" ({})", d.phrase()));
        let mut chart = ChartBuilder::on(root)
            .caption(self.title(), (FONT, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5..(k as f64 - 0.5), y0..y1)
            .map_err(e2s)?;
        let names: Vec<String> = m
            .variants
            .iter()
            .map(|v| format!("{} (n={})", v.sample.variant, v.sample.values.len()))
            .collect();
        let x_fmt = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        };
        let y_fmt = tick_format(y1 - y0);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * k + 2)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc("variant (n = done seeds)")
            .y_desc(format!("final {}{direction}", m.metric.label()))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(e2s)?;

        if let Some(maj) = m.majority {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(-0.5, maj), (k as f64 - 0.5, maj)],
                    ShapeStyle::from(&BLACK.mix(0.6)).stroke_width(1),
                )))
                .map_err(e2s)?
                .label(format!("majority class ({maj:.4})"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.6)));
        }

        for (i, v) in m.variants.iter().enumerate() {
            let color = color_of(self.variants, &v.sample.variant, i);
            let n = v.sample.values.len();
            // Seeds spread evenly over a band left of the variant's tick, in seed order.
            let points: Vec<(f64, f64)> = v
                .sample
                .values
                .iter()
                .enumerate()
                .map(|(j, &y)| {
                    let offset = if n > 1 {
                        -0.3 + 0.25 * j as f64 / (n - 1) as f64
                    } else {
                        -0.175
                    };
                    (i as f64 + offset, y)
                })
                .collect();
            type Points = Vec<(f64, f64)>;
            let (bad, good): (Points, Points) = points.iter().partition(|p| degenerate(p.1));
            let series = chart
                .draw_series(
                    good.iter()
                        .map(|&p| Circle::new(p, 4, color.mix(0.75).filled())),
                )
                .map_err(e2s)?;
            if i == 0 {
                series
                    .label("seed (final value)")
                    .legend(|(x, y)| Circle::new((x + 9, y), 4, BLACK.mix(0.6).filled()));
            }
            if !bad.is_empty() {
                let crosses = chart
                    .draw_series(
                        bad.iter()
                            .map(|&p| Cross::new(p, 5, ShapeStyle::from(&color).stroke_width(2))),
                    )
                    .map_err(e2s)?;
                if !degenerate_labelled {
                    degenerate_labelled = true;
                    crosses
                        .label(format!("degenerate run ({side} the majority class)"))
                        .legend(|(x, y)| {
                            Cross::new((x + 9, y), 5, ShapeStyle::from(&BLACK).stroke_width(2))
                        });
                }
            }
            if let Some(s) = v.summary {
                let x = i as f64 + 0.15;
                let style = ShapeStyle::from(&color).stroke_width(3);
                let mut shapes: Vec<PathElement<(f64, f64)>> = Vec::new();
                if s.std.is_finite() {
                    let (lo, hi) = (s.mean - s.std, s.mean + s.std);
                    shapes.push(PathElement::new(vec![(x, lo), (x, hi)], style));
                    shapes.push(PathElement::new(
                        vec![(x - 0.06, lo), (x + 0.06, lo)],
                        style,
                    ));
                    shapes.push(PathElement::new(
                        vec![(x - 0.06, hi), (x + 0.06, hi)],
                        style,
                    ));
                }
                let series = chart.draw_series(shapes).map_err(e2s)?;
                if i == 0 {
                    series.label("mean ± 1 std").legend(|(x, y)| {
                        PathElement::new(
                            vec![(x + 9, y - 7), (x + 9, y + 7)],
                            BLACK.stroke_width(3),
                        )
                    });
                }
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.08, s.mean), (x + 0.08, s.mean)],
                        ShapeStyle::from(&color).stroke_width(5),
                    )))
                    .map_err(e2s)?;
                chart
                    .draw_series(std::iter::once(Circle::new((x, s.mean), 6, color.filled())))
                    .map_err(e2s)?;
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}
