//! Feature directions as arrows from the origin, equal aspect, coloured by a value.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{self, ColorMapping, TITLE_FONT};
use super::heatmap::BAR_WIDTH;
use super::{drawing_error, ArrowPlot, Axis, ColorScale};
use crate::error::Result;

/// Pixel height of one line of a panel title.
const TITLE_LINE: u32 = 22;

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, a: &ArrowPlot) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let values: Vec<f64> = a.arrows.iter().map(|v| v.value).collect();
    // Equal values need no colour bar: every arrow takes one dark colour.
    let uniform = values.windows(2).all(|p| p[0] == p[1]);
    let (main, bar) = if uniform {
        (area.clone(), None)
    } else {
        let (m, b) = area.split_horizontally(w.saturating_sub(BAR_WIDTH));
        (m, Some(b))
    };
    let map = ColorMapping::of(&values, ColorScale::Linear);
    let longest = a
        .arrows
        .iter()
        .map(|v| v.x.hypot(v.y))
        .fold(0.0f64, f64::max);
    let r = if longest > 0.0 { 1.3 * longest } else { 1.0 };
    // Equal aspect: a square plotting area (label areas: 66 left, 48 bottom) under the title,
    // whose lines ("\n" separated) each take TITLE_LINE pixels.
    let lines: Vec<&str> = a.title.lines().collect();
    let cap = TITLE_LINE * lines.len().max(1) as u32 + 14;
    let (mw, _) = main.dim_in_pixel();
    let side = (mw as i64 - 66 - 24)
        .min(h as i64 - 48 - cap as i64 - 20)
        .max(50) as u32;
    let (sq_w, sq_h) = (side + 66 + 24, side + 48 + cap + 20);
    let left = (mw.saturating_sub(sq_w)) / 2;
    let top = h.saturating_sub(sq_h) / 2;
    let square = main.margin(
        top,
        h.saturating_sub(sq_h + top),
        left,
        mw.saturating_sub(sq_w + left),
    );
    let (caption, square) = square.split_vertically(cap);
    let title_style = TextStyle::from(("sans-serif", TITLE_FONT).into_font())
        .pos(Pos::new(HPos::Center, VPos::Center));
    let (cw, _) = caption.dim_in_pixel();
    for (k, line) in lines.iter().enumerate() {
        let y = 10 + TITLE_LINE as i32 * k as i32 + TITLE_LINE as i32 / 2;
        caption
            .draw(&Text::new(
                line.to_string(),
                (cw as i32 / 2, y),
                title_style.clone(),
            ))
            .map_err(drawing_error)?;
    }
    let (x, y) = (
        Axis::linear(a.x_label.clone()),
        Axis::linear(a.y_label.clone()),
    );
    let mut chart = ChartBuilder::on(&square)
        .margin(10)
        .x_label_area_size(48)
        .y_label_area_size(66)
        .build_cartesian_2d(axes::coord(-r, r, false), axes::coord(-r, r, false))
        .map_err(drawing_error)?;
    axes::mesh(&mut chart, &x, &y, true)?;
    let faint = BLACK.mix(0.25).stroke_width(1);
    chart
        .draw_series([
            PathElement::new(vec![(-r, 0.0), (r, 0.0)], faint),
            PathElement::new(vec![(0.0, -r), (0.0, r)], faint),
        ])
        .map_err(drawing_error)?;
    let label_style =
        TextStyle::from(("sans-serif", 15).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    for v in &a.arrows {
        let color = if uniform {
            ColorMapping::color_of_level(axes::LEVELS / 4)
        } else {
            map.level(v.value)
                .map_or(axes::MISSING, ColorMapping::color_of_level)
        };
        let len = v.x.hypot(v.y);
        if len < 1e-3 * r {
            // A dropped feature: a dot at the origin.
            chart
                .draw_series(std::iter::once(Circle::new((0.0, 0.0), 4, color.filled())))
                .map_err(drawing_error)?;
            continue;
        }
        let (ux, uy) = (v.x / len, v.y / len);
        let head = (0.08 * r).min(0.5 * len);
        let base = (v.x - head * ux, v.y - head * uy);
        let half = 0.45 * head;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), base],
                color.stroke_width(3),
            )))
            .map_err(drawing_error)?;
        chart
            .draw_series(std::iter::once(Polygon::new(
                vec![
                    (v.x, v.y),
                    (base.0 - half * uy, base.1 + half * ux),
                    (base.0 + half * uy, base.1 - half * ux),
                ],
                color.filled(),
            )))
            .map_err(drawing_error)?;
        if !v.label.is_empty() {
            let at = (v.x + 0.09 * r * ux, v.y + 0.09 * r * uy);
            chart
                .draw_series(std::iter::once(Text::new(
                    v.label.clone(),
                    at,
                    label_style.clone(),
                )))
                .map_err(drawing_error)?;
        }
    }
    if let Some(bar) = bar {
        axes::color_bar(&bar, &map, &a.value_label, &[])?;
    }
    Ok(())
}
