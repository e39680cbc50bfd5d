//! Categorical maps (phase diagrams): cells coloured by category, a legend, boundary lines.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::{self, TICK_FONT};
use super::heatmap::{chart_on, draw_marks, draw_paths, BAR_WIDTH};
use super::{drawing_error, CategoryMap};
use crate::error::Result;

/// Qualitative colours (Tableau 10, light enough for black labels on top).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

/// Colour of category `k` (the palette repeats after ten).
pub fn category_color(k: usize) -> RGBColor {
    PALETTE[k % PALETTE.len()]
}

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &CategoryMap) -> Result<()> {
    let (w, _) = area.dim_in_pixel();
    let (main, legend) = area.split_horizontally(w.saturating_sub(BAR_WIDTH + 30));
    let ex = axes::edges(&c.xs, c.x.log);
    let ey = axes::edges(&c.ys, c.y.log);
    let mut chart = chart_on(
        &main,
        &c.title,
        (ex[0], ex[ex.len() - 1]),
        (ey[0], ey[ey.len() - 1]),
        &c.x,
        &c.y,
    )?;
    let nx = c.xs.len();
    let mut rects = Vec::new();
    for iy in 0..c.ys.len() {
        let row = &c.cells[iy * nx..(iy + 1) * nx];
        let mut i0 = 0;
        while i0 < nx {
            let mut i1 = i0;
            while i1 + 1 < nx && row[i1 + 1] == row[i0] {
                i1 += 1;
            }
            rects.push(Rectangle::new(
                [(ex[i0], ey[iy]), (ex[i1 + 1], ey[iy + 1])],
                category_color(row[i0]).filled(),
            ));
            i0 = i1 + 1;
        }
    }
    chart.draw_series(rects).map_err(drawing_error)?;
    draw_paths(&mut chart, &c.boundaries, &c.x, &c.y)?;
    draw_marks(&mut chart, &c.marks, &c.x, &c.y, (c.xs.len(), c.ys.len()))?;
    // Legend: one swatch and name per category, top to bottom.
    let font = ("sans-serif", TICK_FONT).into_font();
    for (k, name) in c.names.iter().enumerate() {
        let y = 50 + 26 * k as i32;
        legend
            .draw(&Rectangle::new(
                [(4, y), (22, y + 18)],
                category_color(k).filled(),
            ))
            .map_err(drawing_error)?;
        legend
            .draw(&Text::new(name.clone(), (28, y + 1), font.clone()))
            .map_err(drawing_error)?;
    }
    Ok(())
}
