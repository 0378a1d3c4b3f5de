//! Learning curves: a metric against the optimizer step, the mean across seeds as a line and
//! ± 1 std as a translucent band, one colour per variant; a dashed vertical line where phase 2
//! of two-phase training begins.

use super::{
    clamp_range, color_of, draw_legend, e2s, padded_range, slug, tick_format, Draw, FONT,
    LEGEND_ROOM,
};
use crate::analysis::Curve;
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct CurveFigure<'a> {
    curve: &'a Curve,
    variants: &'a [String],
}

impl<'a> CurveFigure<'a> {
    pub fn new(curve: &'a Curve, variants: &'a [String]) -> Self {
        CurveFigure { curve, variants }
    }
}

impl Draw for CurveFigure<'_> {
    fn stem(&self) -> String {
        format!(
            "curve-{}-{}",
            slug(&self.curve.setting.label()),
            slug(&self.curve.metric.label())
        )
    }

    fn title(&self) -> String {
        let binned = if self.curve.bin > 1 {
            format!(" (bins of {} steps)", self.curve.bin)
        } else {
            String::new()
        };
        format!(
            "{} {}{binned}: learning curve, mean ± 1 std across seeds",
            self.curve.setting,
            self.curve.metric.label()
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let c = self.curve;
        root.fill(&WHITE).map_err(e2s)?;
        let points = c.variants.iter().flat_map(|v| v.points.iter());
        let max_step = points.clone().map(|p| p.step).max().unwrap_or(1).max(1);
        let min_step = points
            .clone()
            .map(|p| p.step)
            .min()
            .unwrap_or(0)
            .min(max_step - 1);
        let (y0, y1) = padded_range(points.flat_map(|p| {
            let s = if p.std.is_finite() { p.std } else { 0.0 };
            [p.mean - s, p.mean + s]
        }));
        // Room for the legend where the curves are not: below rising curves, above falling ones.
        let room = LEGEND_ROOM * (y1 - y0);
        let lower_is_better = c.direction == Some(crate::analysis::Direction::Lower);
        let (y0, y1) = if lower_is_better {
            (y0, y1 + room)
        } else {
            (y0 - room, y1)
        };
        let (y0, y1) = clamp_range((y0, y1), crate::analysis::metric_bounds(&c.metric.name));
        let direction = c
            .direction
            .map_or(String::new(), |d| format!(" ({})", d.phrase()));
        let mut chart = ChartBuilder::on(root)
            .caption(self.title(), (FONT, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(min_step as f64..max_step as f64, y0..y1)
            .map_err(e2s)?;
        let y_fmt = tick_format(y1 - y0);
        chart
            .configure_mesh()
            .x_desc("optimizer step")
            .y_desc(format!("{}{direction}", c.metric.label()))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&y_fmt)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(e2s)?;
        for (i, v) in c.variants.iter().enumerate() {
            let color = color_of(self.variants, &v.variant, i);
            let band: Vec<(f64, f64)> = v
                .points
                .iter()
                .filter(|p| p.std.is_finite())
                .map(|p| (p.step as f64, p.mean + p.std))
                .chain(
                    v.points
                        .iter()
                        .rev()
                        .filter(|p| p.std.is_finite())
                        .map(|p| (p.step as f64, p.mean - p.std)),
                )
                .collect();
            if band.len() >= 4 {
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        band,
                        color.mix(0.18).filled(),
                    )))
                    .map_err(e2s)?;
            }
            let runs = v.points.iter().map(|p| p.n).max().unwrap_or(0);
            chart
                .draw_series(LineSeries::new(
                    v.points.iter().map(|p| (p.step as f64, p.mean)),
                    ShapeStyle::from(&color).stroke_width(2),
                ))
                .map_err(e2s)?
                .label(format!("{} (n={runs}), band = ± 1 std", v.variant))
                .legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 18, y)],
                        ShapeStyle::from(&color).stroke_width(3),
                    )
                });
        }
        // Phase boundaries: a dashed line just before the first phase-2 step, in the colour of
        // the variant (grey when several variants share it).
        for (step, names) in c.phase_boundaries() {
            let color = match names.as_slice() {
                [one] => color_of(self.variants, one, 0),
                _ => RGBColor(90, 90, 90),
            };
            let x = step as f64 - 0.5;
            chart
                .draw_series(DashedLineSeries::new(
                    [(x, y0), (x, y1)],
                    8,
                    6,
                    ShapeStyle::from(&color).stroke_width(2),
                ))
                .map_err(e2s)?
                .label(format!("phase 2 from step {step} ({})", names.join(", ")))
                .legend(move |(x, y)| {
                    let style = ShapeStyle::from(&color).stroke_width(3);
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (7, 0)], style)
                        + PathElement::new(vec![(11, 0), (18, 0)], style)
                });
        }
        let corner = match lower_is_better {
            true => SeriesLabelPosition::UpperRight,
            false => SeriesLabelPosition::LowerRight,
        };
        draw_legend(&mut chart, corner)?;
        Ok(())
    }
}
