//! Line plots: several series with a legend, log axes, labelled horizontal reference lines.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::axes::{self, TICK_FONT, TITLE_FONT};
use super::categories::category_color;
use super::{drawing_error, LinePlot};
use crate::error::Result;

/// Share of the y range added on top per legend entry.
const LEGEND_ROOM: f64 = 0.09;
/// Smallest vertical distance (share of the y range) between two right-hand reference labels.
const LABEL_GAP: f64 = 0.045;

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, l: &LinePlot) -> Result<()> {
    let pts = || {
        l.series
            .iter()
            .chain(&l.scatter)
            .flat_map(|s| s.points.iter().copied())
    };
    let xr = axes::range_of(pts().map(|p| p.0), l.x.log, 0.03);
    let mut yr = axes::range_of(
        pts().map(|p| p.1).chain(l.hlines.iter().map(|h| h.y)),
        l.y.log,
        0.06,
    );
    // Headroom for the legend (upper right), so it covers no curve or reference label.
    let entries = l
        .series
        .iter()
        .chain(&l.scatter)
        .filter(|s| !s.label.is_empty())
        .count();
    if entries > 0 {
        yr.1 += (yr.1 - yr.0) * LEGEND_ROOM * entries as f64;
    }
    let mut chart = ChartBuilder::on(area)
        .caption(&l.title, ("sans-serif", TITLE_FONT))
        .margin(10)
        .margin_right(20)
        .x_label_area_size(48)
        .y_label_area_size(66)
        .build_cartesian_2d(
            axes::coord_for(xr.0, xr.1, &l.x),
            axes::coord_for(yr.0, yr.1, &l.y),
        )
        .map_err(drawing_error)?;
    axes::mesh(&mut chart, &l.x, &l.y, true)?;
    let font = ("sans-serif", TICK_FONT).into_font();
    // Reference labels sit at the right end; one closer than LABEL_GAP (of the y range) to the
    // previous right-hand label goes to the left end instead, so none overlap.
    let mut order: Vec<&super::RefLine> = l
        .hlines
        .iter()
        .filter(|h| axes::usable(h.y, l.y.log))
        .collect();
    order.sort_by(|a, b| a.y.total_cmp(&b.y));
    let mut last_right = f64::NEG_INFINITY;
    for h in order {
        let d = axes::to_display(h.y, l.y.log);
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(xr.0, d), (xr.1, d)],
                6,
                4,
                BLACK.mix(0.45).stroke_width(1),
            )))
            .map_err(drawing_error)?;
        if h.label.is_empty() {
            continue;
        }
        let w = 8 * h.label.chars().count() as i32 + 4;
        let right = d - last_right >= LABEL_GAP * (yr.1 - yr.0);
        let (anchor, dx) = if right {
            last_right = d;
            (xr.1, -w)
        } else {
            (xr.0, 4)
        };
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((anchor, d)) + Text::new(h.label.clone(), (dx, -17), font.clone()),
            ))
            .map_err(drawing_error)?;
    }
    for (k, s) in l.series.iter().enumerate() {
        let color = category_color(k);
        let p = displayed(s, l);
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
    for (k, s) in l.scatter.iter().enumerate() {
        // Dots in greys and dark colours after the line colours, so they read as data points.
        let color = if k == 0 {
            BLACK.mix(0.75)
        } else {
            category_color(l.series.len() + k).mix(0.85)
        };
        let p = displayed(s, l);
        let series = chart
            .draw_series(p.into_iter().map(|q| Circle::new(q, 2, color.filled())))
            .map_err(drawing_error)?;
        if !s.label.is_empty() {
            series
                .label(s.label.clone())
                .legend(move |(x, y)| Circle::new((x + 9, y), 3, color.filled()));
        }
    }
    if l.series
        .iter()
        .chain(&l.scatter)
        .any(|s| !s.label.is_empty())
    {
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

/// A series' points that the axes can show, in display coordinates.
fn displayed(s: &super::Series, l: &LinePlot) -> Vec<(f64, f64)> {
    s.points
        .iter()
        .filter(|(x, y)| axes::usable(*x, l.x.log) && axes::usable(*y, l.y.log))
        .map(|&(x, y)| (axes::to_display(x, l.x.log), axes::to_display(y, l.y.log)))
        .collect()
}
