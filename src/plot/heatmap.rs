//! Heat maps: cells coloured by value, a colour bar, contour lines, paths and marked points.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::{self, ColorMapping, Coord, TITLE_FONT};
use super::{contour, drawing_error, Axis, HeatMap, Mark, MarkKind, Polyline};
use crate::error::Result;

/// Pixel width of the colour-bar strip to the right of a heat map.
pub const BAR_WIDTH: u32 = 118;

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, h: &HeatMap) -> Result<()> {
    let (w, _) = area.dim_in_pixel();
    let (main, bar) = area.split_horizontally(w.saturating_sub(BAR_WIDTH));
    let map = ColorMapping::of(&h.values, h.scale);
    let ex = axes::edges(&h.xs, h.x.log);
    let ey = axes::edges(&h.ys, h.y.log);
    let mut chart = chart_on(
        &main,
        &h.title,
        (ex[0], ex[ex.len() - 1]),
        (ey[0], ey[ey.len() - 1]),
        &h.x,
        &h.y,
    )?;
    let levels: Vec<Option<usize>> = h.values.iter().map(|&v| map.level(v)).collect();
    let nx = h.xs.len();
    // Runs of equal colour in a row become one rectangle (SVG size).
    let mut rects = Vec::new();
    for iy in 0..h.ys.len() {
        let row = &levels[iy * nx..(iy + 1) * nx];
        let mut i0 = 0;
        while i0 < nx {
            let mut i1 = i0;
            while i1 + 1 < nx && row[i1 + 1] == row[i0] {
                i1 += 1;
            }
            let color = row[i0].map_or(axes::MISSING, |k| map.color(k));
            rects.push(Rectangle::new(
                [(ex[i0], ey[iy]), (ex[i1 + 1], ey[iy + 1])],
                color.filled(),
            ));
            i0 = i1 + 1;
        }
    }
    chart.draw_series(rects).map_err(drawing_error)?;
    let dx: Vec<f64> = h.xs.iter().map(|&v| axes::to_display(v, h.x.log)).collect();
    let dy: Vec<f64> = h.ys.iter().map(|&v| axes::to_display(v, h.y.log)).collect();
    for &level in &h.contours {
        let segs = contour::contour_segments(&dx, &dy, &h.values, level);
        chart
            .draw_series(
                segs.into_iter()
                    .map(|(a, b)| PathElement::new(vec![a, b], WHITE.mix(0.75).stroke_width(1))),
            )
            .map_err(drawing_error)?;
    }
    draw_paths(&mut chart, &h.paths, &h.x, &h.y)?;
    draw_marks(&mut chart, &h.marks, &h.x, &h.y, (h.xs.len(), h.ys.len()))?;
    axes::color_bar(&bar, &map, &h.color_label, &h.contours)?;
    Ok(())
}

/// A chart with a caption, our ticks and axis labels, over display ranges.
pub fn chart_on<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    xr: (f64, f64),
    yr: (f64, f64),
    x: &Axis,
    y: &Axis,
) -> Result<ChartContext<'a, DB, Cartesian2d<Coord, Coord>>> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", TITLE_FONT))
        .margin(10)
        .margin_right(14)
        .x_label_area_size(48)
        .y_label_area_size(66)
        .build_cartesian_2d(
            axes::coord_for(xr.0, xr.1, x),
            axes::coord_for(yr.0, yr.1, y),
        )
        .map_err(drawing_error)?;
    axes::mesh(&mut chart, x, y, false)?;
    Ok(chart)
}

/// Polylines in black with their labels at the last point.
pub fn draw_paths<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<Coord, Coord>>,
    paths: &[Polyline],
    x: &Axis,
    y: &Axis,
) -> Result<()> {
    for p in paths {
        let pts: Vec<(f64, f64)> = p
            .points
            .iter()
            .filter(|(a, b)| axes::usable(*a, x.log) && axes::usable(*b, y.log))
            .map(|&(a, b)| (axes::to_display(a, x.log), axes::to_display(b, y.log)))
            .collect();
        if pts.len() < 2 {
            continue;
        }
        let last = pts[pts.len() - 1];
        chart
            .draw_series(std::iter::once(PathElement::new(
                pts,
                BLACK.stroke_width(2),
            )))
            .map_err(drawing_error)?;
        if !p.label.is_empty() {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at(last)
                        + Text::new(p.label.clone(), (6, -18), ("sans-serif", 14).into_font()),
                ))
                .map_err(drawing_error)?;
        }
    }
    Ok(())
}

/// Marked points with labels (minima: white discs; saddles: crosses; others: red diamonds).
/// Each label goes to the first of a few positions around its point that stays inside the
/// plot and does not overlap a label already placed.
pub fn draw_marks<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<Coord, Coord>>,
    marks: &[Mark],
    x: &Axis,
    y: &Axis,
    cells: (usize, usize),
) -> Result<()> {
    let (xr, yr) = (chart.x_range(), chart.y_range());
    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    let (bx, by) = chart.plotting_area().get_base_pixel();
    let font = ("sans-serif", 14).into_font();
    // Dots mark grid cells: a sixth of a cell across (1 to 5 pixels), visible on coarse grids.
    let cell = (pw as usize / cells.0.max(1)).min(ph as usize / cells.1.max(1));
    let dot = (cell / 6).clamp(1, 5) as i32;
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    for mk in marks {
        if !(axes::usable(mk.x, x.log) && axes::usable(mk.y, y.log)) {
            continue;
        }
        let at = (axes::to_display(mk.x, x.log), axes::to_display(mk.y, y.log));
        if !(xr.contains(&at.0) && yr.contains(&at.1)) {
            continue;
        }
        let base = EmptyElement::at(at);
        let res = match mk.kind {
            MarkKind::Minimum => chart.draw_series(std::iter::once(
                base + Circle::new((0, 0), 5, WHITE.filled())
                    + Circle::new((0, 0), 5, BLACK.stroke_width(2)),
            )),
            MarkKind::Saddle => chart.draw_series(std::iter::once(
                base + PathElement::new(vec![(-5, -5), (5, 5)], BLACK.stroke_width(2))
                    + PathElement::new(vec![(-5, 5), (5, -5)], BLACK.stroke_width(2)),
            )),
            MarkKind::Point => chart.draw_series(std::iter::once(
                base + Polygon::new(vec![(0, -6), (6, 0), (0, 6), (-6, 0)], RED.filled()),
            )),
            MarkKind::Dot => chart.draw_series(std::iter::once(
                base + Circle::new((0, 0), dot, BLACK.mix(0.7).filled()),
            )),
        };
        res.map_err(drawing_error)?;
        if mk.label.is_empty() {
            continue;
        }
        let (tw, th) = chart
            .plotting_area()
            .estimate_text_size(&mk.label, &TextStyle::from(font.clone()))
            .map_err(drawing_error)?;
        let (tw, th) = (tw as i32 + 4, th as i32 + 2);
        let (px, py) = chart.backend_coord(&at);
        let (px, py) = (px - bx, py - by);
        let candidates = [
            (8, -th - 4),
            (8, 6),
            (-tw - 8, -th - 4),
            (-tw - 8, 6),
            (-tw / 2, -th - 10),
            (-tw / 2, 10),
            (8, -2 * th - 8),
            (-tw - 8, 2 * th),
        ];
        let inside = |(dx, dy): (i32, i32)| {
            px + dx >= 0 && px + dx + tw <= pw as i32 && py + dy >= 0 && py + dy + th <= ph as i32
        };
        let free = |(dx, dy): (i32, i32)| {
            let (l, t) = (px + dx, py + dy);
            placed
                .iter()
                .all(|&(a, b, c, d)| l + tw <= a || l >= c || t + th <= b || t >= d)
        };
        let (dx, dy) = candidates
            .iter()
            .copied()
            .find(|&c| inside(c) && free(c))
            .or_else(|| candidates.iter().copied().find(|&c| inside(c)))
            .unwrap_or(candidates[0]);
        placed.push((px + dx, py + dy, px + dx + tw, py + dy + th));
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(at)
                    + Rectangle::new([(dx, dy), (dx + tw, dy + th)], WHITE.mix(0.8).filled())
                    + Text::new(mk.label.clone(), (dx + 2, dy + 1), font.clone()),
            ))
            .map_err(drawing_error)?;
    }
    Ok(())
}
