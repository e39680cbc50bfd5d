//! Line plots: several series with a legend, log axes, labelled horizontal reference lines.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::axes::{self, TICK_FONT, TITLE_FONT};
use super::categories::category_color;
use super::{drawing_error, LinePlot};
use crate::error::Result;

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, l: &LinePlot) -> Result<()> {
    let pts = || l.series.iter().flat_map(|s| s.points.iter().copied());
    let xr = axes::range_of(pts().map(|p| p.0), l.x.log, 0.03);
    let yr = axes::range_of(
        pts().map(|p| p.1).chain(l.hlines.iter().map(|h| h.y)),
        l.y.log,
        0.06,
    );
    let mut chart = ChartBuilder::on(area)
        .caption(&l.title, ("sans-serif", TITLE_FONT))
        .margin(10)
        .margin_right(20)
        .x_label_area_size(48)
        .y_label_area_size(66)
        .build_cartesian_2d(
            axes::coord(xr.0, xr.1, l.x.log),
            axes::coord(yr.0, yr.1, l.y.log),
        )
        .map_err(drawing_error)?;
    axes::mesh(&mut chart, &l.x, &l.y, true)?;
    let font = ("sans-serif", TICK_FONT).into_font();
    for h in &l.hlines {
        if !axes::usable(h.y, l.y.log) {
            continue;
        }
        let d = axes::to_display(h.y, l.y.log);
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(xr.0, d), (xr.1, d)],
                6,
                4,
                BLACK.mix(0.45).stroke_width(1),
            )))
            .map_err(drawing_error)?;
        if !h.label.is_empty() {
            let w = 8 * h.label.chars().count() as i32 + 4;
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((xr.1, d))
                        + Text::new(h.label.clone(), (-w, -17), font.clone()),
                ))
                .map_err(drawing_error)?;
        }
    }
    for (k, s) in l.series.iter().enumerate() {
        let color = category_color(k);
        let p: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|(x, y)| axes::usable(*x, l.x.log) && axes::usable(*y, l.y.log))
            .map(|&(x, y)| (axes::to_display(x, l.x.log), axes::to_display(y, l.y.log)))
            .collect();
        let series = chart
            .draw_series(LineSeries::new(p.clone(), color.stroke_width(2)))
            .map_err(drawing_error)?;
        if !s.label.is_empty() {
            series.label(s.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
        }
        chart
            .draw_series(p.into_iter().map(|q| Circle::new(q, 3, color.filled())))
            .map_err(drawing_error)?;
    }
    if l.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", TICK_FONT))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(drawing_error)?;
    }
    Ok(())
}
