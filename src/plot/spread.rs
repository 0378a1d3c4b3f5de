//! The standard deviation across seeds of each variant, with its bootstrap interval, side by side
//! for every task (setting) that has the metric.

use super::{draw_legend, e2s, slug, tick_format, variant_color, Draw, FONT, LEGEND_ROOM};
use crate::analysis::MetricAnalysis;
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct SpreadFigure<'a> {
    metric: &'a str,
    /// One entry per setting, all for the same metric.
    per_setting: &'a [&'a MetricAnalysis],
    variants: &'a [String],
}

impl<'a> SpreadFigure<'a> {
    pub fn new(
        metric: &'a str,
        per_setting: &'a [&'a MetricAnalysis],
        variants: &'a [String],
    ) -> Self {
        SpreadFigure {
            metric,
            per_setting,
            variants,
        }
    }
}

impl Draw for SpreadFigure<'_> {
    fn stem(&self) -> String {
        format!("spread-{}", slug(self.metric))
    }

    fn title(&self) -> String {
        format!(
            "std of {} across seeds, with bootstrap 95% intervals",
            self.metric
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e2s)?;
        let n_settings = self.per_setting.len().max(1);
        // Variants with a sample in some setting keep their experiment-wide colour.
        let shown: Vec<(usize, &String)> = self
            .variants
            .iter()
            .enumerate()
            .filter(|(_, v)| self.per_setting.iter().any(|m| m.variant(v).is_some()))
            .collect();
        let k = shown.len().max(1);
        let mut top: f64 = 0.0;
        for m in self.per_setting {
            for v in &m.variants {
                if let Some(s) = v.summary {
                    if s.std.is_finite() {
                        top = top.max(s.std);
                    }
                }
                if let Some(ci) = v.std_interval {
                    if ci.upper.is_finite() {
                        top = top.max(ci.upper);
                    }
                }
            }
        }
        let top = if top > 0.0 {
            top * (1.05 + LEGEND_ROOM)
        } else {
            1.0
        };
        let mut chart = ChartBuilder::on(root)
            .caption(self.title(), (FONT, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5..(n_settings as f64 - 0.5), 0.0..top)
            .map_err(e2s)?;
        let names: Vec<String> = self.per_setting.iter().map(|m| m.setting.label()).collect();
        let x_fmt = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        };
        let y_fmt = tick_format(top);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * n_settings + 2)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc("task")
            .y_desc(format!(
                "std of {} across seeds (lower = less spread)",
                self.metric
            ))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(e2s)?;
        let width = 0.7 / k as f64;
        for (j, &(ci, variant)) in shown.iter().enumerate() {
            let color = variant_color(ci);
            let offset = (j as f64 - (k as f64 - 1.0) / 2.0) * width;
            let mut shapes: Vec<PathElement<(f64, f64)>> = Vec::new();
            let mut dots = Vec::new();
            for (i, m) in self.per_setting.iter().enumerate() {
                let Some(v) = m.variant(variant) else {
                    continue;
                };
                let x = i as f64 + offset;
                if let Some(ci) = v.std_interval {
                    let hi = if ci.upper.is_finite() { ci.upper } else { top };
                    let style = ShapeStyle::from(&color).stroke_width(2);
                    shapes.push(PathElement::new(vec![(x, ci.lower), (x, hi)], style));
                    shapes.push(PathElement::new(
                        vec![(x - 0.04, ci.lower), (x + 0.04, ci.lower)],
                        style,
                    ));
                    shapes.push(PathElement::new(
                        vec![(x - 0.04, hi), (x + 0.04, hi)],
                        style,
                    ));
                }
                if let Some(s) = v.summary.filter(|s| s.std.is_finite()) {
                    dots.push((x, s.std));
                }
            }
            chart.draw_series(shapes).map_err(e2s)?;
            chart
                .draw_series(dots.into_iter().map(|p| {
                    Rectangle::new(
                        [
                            (p.0 - 0.6 * width / 2.0, 0.0),
                            (p.0 + 0.6 * width / 2.0, p.1),
                        ],
                        color.mix(0.35).filled(),
                    )
                }))
                .map_err(e2s)?
                .label(format!("{variant}: std (bar) and 95% interval"))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.mix(0.35).filled())
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}
