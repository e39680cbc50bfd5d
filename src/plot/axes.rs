//! Axes shared by every panel: display coordinates (log10 on log axes), tick positions and
//! labels chosen here rather than by plotters (so log axes get decade ticks 10⁻², 10⁻¹, 1, 10),
//! the colour scale and the colour bar.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use super::{drawing_error, Axis, ColorScale};
use crate::error::Result;

/// Axis type every chart uses: a linear f64 range in display coordinates with our ticks.
/// (plotters' `WithKeyPoints` does not support label formatters, hence this small type.)
pub struct Coord {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
    /// Mapped with the pixel limits swapped: the low end at the top (or right).
    reversed: bool,
}

impl Ranged for Coord {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        if self.reversed {
            self.inner.map(value, (limit.1, limit.0))
        } else {
            self.inner.map(value, limit)
        }
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold points only: the light mesh is not drawn.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// Font size of tick labels and axis labels.
pub const TICK_FONT: u32 = 15;
pub const LABEL_FONT: u32 = 17;
pub const TITLE_FONT: u32 = 18;

/// Whether `v` can be placed on an axis (finite; positive on a log axis).
pub fn usable(v: f64, log: bool) -> bool {
    v.is_finite() && (!log || v > 0.0)
}

/// Data → display coordinate (log10 on log axes).
pub fn to_display(v: f64, log: bool) -> f64 {
    if log {
        v.log10()
    } else {
        v
    }
}

/// Superscript digits for decade labels.
pub fn superscript(k: i64) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let mut s = String::new();
    if k < 0 {
        s.push('⁻');
    }
    for c in k.unsigned_abs().to_string().chars() {
        s.push(DIGITS[c.to_digit(10).unwrap_or(0) as usize]);
    }
    s
}

/// A number with at most four significant digits, without trailing zeros ("0.25", "1.5e-05").
pub fn number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let k = a.log10().floor() as i64;
        let mant = v / 10f64.powi(k as i32);
        let m = trim(format!("{mant:.2}"));
        return if m == "1" {
            format!("10{}", superscript(k))
        } else {
            format!("{m}×10{}", superscript(k))
        };
    }
    let decimals = (3 - a.log10().floor() as i64).clamp(0, 8) as usize;
    trim(format!("{v:.decimals$}"))
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Label of a display coordinate on a log axis: decades as 10ᵏ (1 and 10 spelled out).
pub fn log_label(d: f64) -> String {
    let k = d.round();
    if (d - k).abs() < 1e-9 {
        match k as i64 {
            0 => "1".into(),
            1 => "10".into(),
            k => format!("10{}", superscript(k)),
        }
    } else {
        number(10f64.powf(d))
    }
}

/// Tick positions (display coordinates) for the display range `[lo, hi]`.
pub fn ticks(lo: f64, hi: f64, log: bool) -> Vec<f64> {
    if log {
        let decades: Vec<f64> = ((lo.ceil() as i64)..=(hi.floor() as i64))
            .map(|k| k as f64)
            .collect();
        // Ranges of more than ~8 decades get every second or third decade labelled.
        if decades.len() > 8 {
            let step = decades.len().div_ceil(7);
            return decades.into_iter().step_by(step).collect();
        }
        if decades.len() >= 3 {
            return decades;
        }
        // Under about two decades: also 2× and 5×.
        let mut t: Vec<f64> = Vec::new();
        for k in (lo.floor() as i64 - 1)..=(hi.ceil() as i64) {
            for m in [1.0f64, 2.0, 5.0] {
                let d = k as f64 + m.log10();
                if d >= lo - 1e-12 && d <= hi + 1e-12 {
                    t.push(d);
                }
            }
        }
        if t.len() >= 2 {
            return t;
        }
        // Less than a factor 2.5: linear ticks in the value, placed logarithmically.
        return linear_ticks(10f64.powf(lo), 10f64.powf(hi))
            .into_iter()
            .map(f64::log10)
            .collect();
    }
    linear_ticks(lo, hi)
}

/// About five to seven "nice" ticks (steps 1, 2, 2.5, 5 × 10ᵏ) inside `[lo, hi]`.
fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 {
        return vec![lo];
    }
    let raw = span / 6.0;
    let p = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            // Snap −0 and rounding noise such as 0.30000000000000004 onto the grid.
            if v.abs() < 1e-12 * step {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// Tick label of a display coordinate.
pub fn tick_label(d: f64, log: bool) -> String {
    if log {
        log_label(d)
    } else {
        number(d)
    }
}

/// The coordinate of an axis over the display range `[lo, hi]`.
pub fn coord(lo: f64, hi: f64, log: bool) -> Coord {
    Coord {
        inner: (lo..hi).into(),
        ticks: ticks(lo, hi, log),
        reversed: false,
    }
}

/// The coordinate of `axis` over the display range `[lo, hi]`: its own ticks (those inside the
/// range) when it has any, and reversed when it is.
pub fn coord_for(lo: f64, hi: f64, axis: &Axis) -> Coord {
    let mut c = coord(lo, hi, axis.log);
    if !axis.ticks.is_empty() {
        c.ticks = axis
            .ticks
            .iter()
            .filter(|(v, _)| usable(*v, axis.log))
            .map(|(v, _)| to_display(*v, axis.log))
            .filter(|d| (lo..=hi).contains(d))
            .collect();
    }
    c.reversed = axis.reversed;
    c
}

/// Label of the tick at display coordinate `d` on `axis`: its own label when it has ticks.
pub fn axis_tick_label(d: f64, axis: &Axis) -> String {
    if axis.ticks.is_empty() {
        return tick_label(d, axis.log);
    }
    axis.ticks
        .iter()
        .filter(|(v, _)| usable(*v, axis.log))
        .min_by(|a, b| {
            let da = (to_display(a.0, axis.log) - d).abs();
            let db = (to_display(b.0, axis.log) - d).abs();
            da.total_cmp(&db)
        })
        .map_or_else(|| tick_label(d, axis.log), |(_, l)| l.clone())
}

/// A display range around `vals` (padded by `pad` of its width; a point gets ±0.5 or a decade).
pub fn range_of(vals: impl Iterator<Item = f64>, log: bool, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|&v| usable(v, log)) {
        let d = to_display(v, log);
        lo = lo.min(d);
        hi = hi.max(d);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= 1e-12 * (1.0 + lo.abs()) {
        let w = if log { 1.0 } else { 0.5 * lo.abs().max(1.0) };
        return (lo - w, hi + w);
    }
    let w = (hi - lo) * pad;
    (lo - w, hi + w)
}

/// Cell edges (display coordinates) around grid coordinates: midpoints, half a step outside.
pub fn edges(vals: &[f64], log: bool) -> Vec<f64> {
    let d: Vec<f64> = vals.iter().map(|&v| to_display(v, log)).collect();
    if d.len() == 1 {
        let w = if log { 0.5 } else { 0.5 * d[0].abs().max(1.0) };
        return vec![d[0] - w, d[0] + w];
    }
    let mut e = Vec::with_capacity(d.len() + 1);
    e.push(d[0] - 0.5 * (d[1] - d[0]));
    for w in d.windows(2) {
        e.push(0.5 * (w[0] + w[1]));
    }
    let k = d.len();
    e.push(d[k - 1] + 0.5 * (d[k - 1] - d[k - 2]));
    e
}

/// A value → colour map for the finite values of a panel.
#[derive(Debug, Clone, Copy)]
pub struct ColorMapping {
    pub scale: ColorScale,
    /// Range in display units (log10 of the value for a log scale).
    pub lo: f64,
    pub hi: f64,
}

/// Number of distinct colours: heat-map cells are quantised to these so that runs of equal
/// colour merge into one SVG rectangle (the eye does not resolve more).
pub const LEVELS: usize = 256;

impl ColorMapping {
    /// The mapping covering `values` (non-finite ignored; on a log scale non-positive too).
    pub fn of(values: &[f64], scale: ColorScale) -> Self {
        if scale == ColorScale::Diverging {
            // Symmetric about 0, so white is 0 and equal magnitudes get equal strength.
            let a = values
                .iter()
                .filter(|v| v.is_finite())
                .fold(0.0f64, |a, v| a.max(v.abs()));
            let a = if a > 0.0 { a } else { 1.0 };
            return ColorMapping {
                scale,
                lo: -a,
                hi: a,
            };
        }
        let log = scale == ColorScale::Log;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in values.iter().filter(|&&v| usable(v, log)) {
            let d = to_display(v, log);
            lo = lo.min(d);
            hi = hi.max(d);
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        } else if hi - lo <= 1e-12 * (1.0 + lo.abs()) {
            let w = if log { 0.5 } else { 0.5 * lo.abs().max(1e-12) };
            (lo, hi) = (lo - w, hi + w);
        }
        ColorMapping { scale, lo, hi }
    }

    /// Colour level 0..LEVELS of a value (None for values that have no colour: non-finite).
    pub fn level(&self, v: f64) -> Option<usize> {
        if v.is_nan() {
            return None;
        }
        let d = match self.scale {
            ColorScale::Linear | ColorScale::Diverging if v.is_finite() => v,
            ColorScale::Log if v > 0.0 && v.is_finite() => v.log10(),
            // Below the log scale's range: the lowest colour.
            ColorScale::Log if v <= 0.0 => self.lo,
            _ => return None,
        };
        let t = ((d - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        Some(((t * LEVELS as f64) as usize).min(LEVELS - 1))
    }

    /// The colour of a level on the sequential (viridis) scales.
    pub fn color_of_level(k: usize) -> RGBColor {
        ViridisRGB::get_color((k as f64 + 0.5) / LEVELS as f64)
    }

    /// The colour of a level on this mapping's scale.
    pub fn color(&self, k: usize) -> RGBColor {
        match self.scale {
            ColorScale::Linear | ColorScale::Log => Self::color_of_level(k),
            ColorScale::Diverging => diverging((k as f64 + 0.5) / LEVELS as f64),
        }
    }
}

/// ColorBrewer's RdBu stops from blue (0) to red (1), with pure white in the middle.
const DIVERGING_STOPS: [(u8, u8, u8); 11] = [
    (5, 48, 97),
    (33, 102, 172),
    (67, 147, 195),
    (146, 197, 222),
    (209, 229, 240),
    (255, 255, 255),
    (253, 219, 199),
    (244, 165, 130),
    (214, 96, 77),
    (178, 24, 43),
    (103, 0, 31),
];

/// Blue–white–red at `t` ∈ [0, 1], linear between the stops.
pub fn diverging(t: f64) -> RGBColor {
    let x = t.clamp(0.0, 1.0) * (DIVERGING_STOPS.len() - 1) as f64;
    let k = (x.floor() as usize).min(DIVERGING_STOPS.len() - 2);
    let f = x - k as f64;
    let (a, b) = (DIVERGING_STOPS[k], DIVERGING_STOPS[k + 1]);
    let mix = |p: u8, q: u8| (p as f64 + f * (q as f64 - p as f64)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Grey for cells without a value.
pub const MISSING: RGBColor = RGBColor(200, 200, 200);

/// Draws a vertical colour bar with ticks and a label in `area`, marking `marks` (e.g. contour
/// levels) with short white lines.
pub fn color_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    map: &ColorMapping,
    label: &str,
    marks: &[f64],
) -> Result<()> {
    let log = map.scale == ColorScale::Log;
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(58)
        .margin_right(8)
        .y_label_area_size(0)
        .right_y_label_area_size(62)
        .build_cartesian_2d(0.0..1.0, coord(map.lo, map.hi, log))
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .set_all_tick_mark_size(6)
        .y_desc(label)
        .y_label_formatter(&|d| tick_label(*d, log))
        .label_style(("sans-serif", TICK_FONT))
        .axis_desc_style(("sans-serif", LABEL_FONT))
        .draw()
        .map_err(drawing_error)?;
    let step = (map.hi - map.lo) / LEVELS as f64;
    chart
        .draw_series((0..LEVELS).map(|k| {
            let y0 = map.lo + k as f64 * step;
            Rectangle::new([(0.0, y0), (1.0, y0 + step)], map.color(k).filled())
        }))
        .map_err(drawing_error)?;
    chart
        .draw_series(marks.iter().filter(|&&v| usable(v, log)).map(|&v| {
            let d = to_display(v, log);
            PathElement::new(vec![(0.0, d), (1.0, d)], WHITE.stroke_width(1))
        }))
        .map_err(drawing_error)?;
    Ok(())
}

/// Configures a chart's mesh: light grid, our tick labels, axis labels.
pub fn mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<Coord, Coord>>,
    x: &Axis,
    y: &Axis,
    grid: bool,
) -> Result<()> {
    let xf = |d: &f64| axis_tick_label(*d, x);
    let yf = |d: &f64| axis_tick_label(*d, y);
    let mut m = chart.configure_mesh();
    m.x_desc(x.label.as_str())
        .y_desc(y.label.as_str())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style(("sans-serif", TICK_FONT))
        .axis_desc_style(("sans-serif", LABEL_FONT))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08));
    if !grid {
        m.disable_mesh();
    }
    m.draw().map_err(drawing_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades_are_labelled_with_superscripts() {
        assert_eq!(ticks(-2.3, 1.2, true), vec![-2.0, -1.0, 0.0, 1.0]);
        let labels: Vec<String> = [-2.0, -1.0, 0.0, 1.0, 2.0]
            .iter()
            .map(|&d| log_label(d))
            .collect();
        assert_eq!(labels, ["10⁻²", "10⁻¹", "1", "10", "10²"]);
        // Within one decade the 2× and 5× ticks appear.
        let t = ticks(-1.9, -1.1, true);
        let l: Vec<String> = t.iter().map(|&d| log_label(d)).collect();
        assert_eq!(l, ["0.02", "0.05"]);
    }

    #[test]
    fn linear_ticks_are_round() {
        assert_eq!(
            linear_ticks(-1.5, 1.5),
            vec![-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5]
        );
        assert_eq!(number(0.30000000000000004), "0.3");
        assert_eq!(number(2.5e-5), "2.5×10⁻⁵");
        assert_eq!(number(-1.0), "-1");
    }

    #[test]
    fn log_colour_scale_puts_non_positive_values_at_the_bottom() {
        let m = ColorMapping::of(&[0.0, 1e-3, 1.0], ColorScale::Log);
        assert_eq!((m.lo, m.hi), (-3.0, 0.0));
        assert_eq!(m.level(0.0), Some(0));
        assert_eq!(m.level(1.0), Some(LEVELS - 1));
        assert_eq!(m.level(f64::NAN), None);
    }

    #[test]
    fn diverging_scale_is_symmetric_and_white_at_zero() {
        let m = ColorMapping::of(&[-0.5, 2.0, f64::NAN], ColorScale::Diverging);
        assert_eq!((m.lo, m.hi), (-2.0, 2.0));
        assert_eq!(m.level(-2.0), Some(0));
        assert_eq!(m.level(2.0), Some(LEVELS - 1));
        assert_eq!(diverging(0.5), RGBColor(255, 255, 255));
        // Blue below zero, red above.
        let (lo, hi) = (m.color(0), m.color(LEVELS - 1));
        assert!(lo.2 > lo.0 && hi.0 > hi.2);
        // All zeros: a range around 0, still white in the middle.
        let z = ColorMapping::of(&[0.0, 0.0], ColorScale::Diverging);
        assert_eq!((z.lo, z.hi), (-1.0, 1.0));
    }

    #[test]
    fn own_ticks_replace_automatic_ones_and_keep_their_labels() {
        let a = Axis::linear("feature j").with_ticks(vec![(0.0, "0".into()), (5.0, "b".into())]);
        let c = coord_for(-0.5, 5.5, &a);
        assert_eq!(c.ticks, vec![0.0, 5.0]);
        assert_eq!(axis_tick_label(5.0, &a), "b");
        // A reversed axis maps its low end to the far pixel limit.
        let r = coord_for(0.0, 1.0, &Axis::linear("i").reversed());
        assert_eq!(r.map(&0.0, (0, 100)), 100);
        assert_eq!(
            coord_for(0.0, 1.0, &Axis::linear("i")).map(&0.0, (0, 100)),
            0
        );
    }
}
