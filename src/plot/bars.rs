//! Horizontal bar charts: one bar per category (first category at the top), length by one
//! value, colour by another on a fixed 0…max scale with a colour bar (the paper's feature
//! norm / superposition bars).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::{self, ColorMapping};
use super::heatmap::{chart_on, BAR_WIDTH};
use super::{drawing_error, Axis, ColorScale};
use crate::error::{Error, Result};

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Category label on the y axis ("0", "1", … for features).
    pub label: String,
    /// Bar length (from 0; may be negative).
    pub value: f64,
    /// The value that sets its colour; non-finite values are drawn grey.
    pub color_value: f64,
}

/// Horizontal bars, first bar at the top, coloured from 0 (dark) to `color_max` (bright;
/// larger values take the brightest colour).
#[derive(Debug, Clone, PartialEq)]
pub struct BarPlot {
    pub title: String,
    /// Label of the value axis ("‖W_i‖").
    pub x_label: String,
    pub bars: Vec<Bar>,
    /// Label of the colour bar ("superposition").
    pub color_label: String,
    /// Value of the brightest colour (positive).
    pub color_max: f64,
}

/// Pixels per category label at least: fewer labels (every 2nd, 5th, …) on crowded axes.
const LABEL_PITCH: f64 = 17.0;

/// Share of a category's height the bar fills.
const BAR_FILL: f64 = 0.8;

impl BarPlot {
    /// Refuses a chart that cannot be drawn, naming the problem.
    pub fn validate(&self) -> Result<()> {
        if self.bars.is_empty() {
            return Err(Error::invalid(format!(
                "bar chart '{}' has no bar",
                self.title
            )));
        }
        if let Some(b) = self.bars.iter().find(|b| !b.value.is_finite()) {
            return Err(Error::invalid(format!(
                "bar chart '{}': bar '{}' has length {}",
                self.title, b.label, b.value
            )));
        }
        if !(self.color_max.is_finite() && self.color_max > 0.0) {
            return Err(Error::invalid(format!(
                "bar chart '{}': the colour scale's top {} must be positive and finite",
                self.title, self.color_max
            )));
        }
        Ok(())
    }

    /// The colour mapping: linear from 0 to `color_max`, clamped at both ends.
    fn mapping(&self) -> ColorMapping {
        ColorMapping {
            scale: ColorScale::Linear,
            lo: 0.0,
            hi: self.color_max,
        }
    }
}

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &BarPlot) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (main, bar) = area.split_horizontally(w.saturating_sub(BAR_WIDTH));
    let map = p.mapping();
    let k = p.bars.len();
    let lo = p.bars.iter().map(|b| b.value).fold(0.0f64, f64::min);
    let hi = p.bars.iter().map(|b| b.value).fold(0.0f64, f64::max);
    let (lo, hi) = if hi > lo { (lo, hi) } else { (0.0, 1.0) };
    // Room beyond the longest bar; none beyond 0 on the side without bars.
    let pad = 0.05 * (hi - lo);
    let xr = (if lo < 0.0 { lo - pad } else { 0.0 }, hi + pad);
    // Label every `step`-th category so that labels are at least LABEL_PITCH pixels apart
    // (the plotting height is the panel's minus caption and x-label area, about 110 pixels).
    let room = (h as f64 - 110.0).max(50.0);
    let step = [1usize, 2, 5, 10, 20, 50, 100, 200, 500]
        .into_iter()
        .find(|s| room / (k as f64 / *s as f64) >= LABEL_PITCH)
        .unwrap_or_else(|| k.div_ceil(10).max(1));
    let ticks = p
        .bars
        .iter()
        .enumerate()
        .step_by(step)
        .map(|(i, b)| (i as f64, b.label.clone()))
        .collect();
    let y = Axis::linear("").reversed().with_ticks(ticks);
    let x = Axis::linear(p.x_label.clone());
    let mut chart = chart_on(&main, &p.title, xr, (-0.5, k as f64 - 0.5), &x, &y)?;
    let half = 0.5 * BAR_FILL;
    let outline = BLACK.mix(0.45).stroke_width(1);
    for (i, b) in p.bars.iter().enumerate() {
        if b.value == 0.0 {
            continue;
        }
        let color = map
            .level(b.color_value)
            .map_or(axes::MISSING, |l| map.color(l));
        let corners = [(0.0, i as f64 - half), (b.value, i as f64 + half)];
        chart
            .draw_series([
                Rectangle::new(corners, color.filled()),
                Rectangle::new(corners, outline),
            ])
            .map_err(drawing_error)?;
    }
    // The zero line, so bars of different sign read against a common origin.
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, -0.5), (0.0, k as f64 - 0.5)],
            BLACK.mix(0.6).stroke_width(1),
        )))
        .map_err(drawing_error)?;
    axes::color_bar(&bar, &map, &p.color_label, &[])?;
    Ok(())
}
