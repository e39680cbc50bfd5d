//! Figures: the only module that uses plotters.
//!
//! Studies compute their data elsewhere and describe a picture here as plain data: a
//! [`Figure`] of one or more side-by-side [`Panel`]s. [`draw`] renders one description to PNG
//! and SVG (the same drawing code runs on both backends); [`render`] writes `PREFIX.png` and
//! `PREFIX.svg` atomically. Text uses the embedded DejaVu Sans font, so figures render on a
//! machine without any installed fonts.

mod arrows;
mod axes;
mod bars;
mod categories;
mod contour;
mod heatmap;
mod lines;

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

pub use bars::{Bar, BarPlot};
pub use contour::{contour_segments, default_levels};

/// How values map to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorScale {
    /// Evenly in the value.
    Linear,
    /// Evenly in log10 of the value (non-positive values take the lowest colour).
    Log,
    /// Signed values, symmetric about 0: blue (negative) – white (0) – red (positive), over
    /// ±(largest magnitude) so equal magnitudes get equally strong colours.
    Diverging,
}

/// One axis of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The label, with its symbol and unit ("w₁", "density p").
    pub label: String,
    /// Logarithmic axis (decade ticks 10⁻², 10⁻¹, 1, …); coordinates must be positive.
    pub log: bool,
    /// Values grow downwards (a vertical axis read like a matrix: row 0 at the top).
    pub reversed: bool,
    /// Ticks at these data coordinates with these labels instead of automatic ones (rows of a
    /// matrix, a column named "b"); empty for automatic ticks.
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// A linear axis.
    pub fn linear(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            log: false,
            reversed: false,
            ticks: Vec::new(),
        }
    }

    /// A logarithmic axis.
    pub fn log(label: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            log: true,
            reversed: false,
            ticks: Vec::new(),
        }
    }

    /// The same axis with values growing downwards (or leftwards).
    pub fn reversed(mut self) -> Self {
        self.reversed = true;
        self
    }

    /// The same axis with these ticks (data coordinates, labels) instead of automatic ones.
    pub fn with_ticks(mut self, ticks: Vec<(f64, String)>) -> Self {
        self.ticks = ticks;
        self
    }
}

/// How a marked point is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// A local minimum: white disc with a black rim.
    Minimum,
    /// A saddle: a black cross.
    Saddle,
    /// Any other point of interest: a red diamond.
    Point,
    /// A flagged cell of a map (e.g. where two phase diagrams disagree): a small black dot.
    Dot,
}

/// A labelled point drawn over a panel (data coordinates).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub x: f64,
    pub y: f64,
    pub label: String,
    pub kind: MarkKind,
}

/// A polyline in data coordinates (a path, a phase boundary), with an optional label at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Polyline {
    pub points: Vec<(f64, f64)>,
    pub label: String,
}

/// A heat map of values on a rectangular grid.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatMap {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    /// Grid coordinates along x (increasing); cells are centred on them.
    pub xs: Vec<f64>,
    /// Grid coordinates along y (increasing).
    pub ys: Vec<f64>,
    /// Values, row by row: `values[iy * xs.len() + ix]`. Non-finite values are drawn grey.
    pub values: Vec<f64>,
    pub scale: ColorScale,
    /// Label of the colour bar ("loss L").
    pub color_label: String,
    /// Contour levels (values); empty for none.
    pub contours: Vec<f64>,
    pub marks: Vec<Mark>,
    pub paths: Vec<Polyline>,
}

/// Cells coloured by category, with a legend (phase diagrams).
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryMap {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    /// Category of each cell (index into `names`), row by row like [`HeatMap::values`].
    pub cells: Vec<usize>,
    /// Legend entries.
    pub names: Vec<String>,
    /// Boundaries drawn over the cells.
    pub boundaries: Vec<Polyline>,
    pub marks: Vec<Mark>,
}

/// One curve of a line plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A horizontal reference line with a label.
#[derive(Debug, Clone, PartialEq)]
pub struct RefLine {
    pub y: f64,
    pub label: String,
}

/// Several curves against shared axes, with a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    /// Point clouds drawn as dots without lines (one colour and legend entry each).
    pub scatter: Vec<Series>,
    pub hlines: Vec<RefLine>,
}

/// One feature direction drawn as an arrow from the origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    pub x: f64,
    pub y: f64,
    pub label: String,
    /// The value that sets its colour (importance).
    pub value: f64,
}

/// Feature directions in a plane, equal aspect, coloured by a value.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrowPlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub arrows: Vec<Arrow>,
    /// Label of the colour bar ("importance Iᵢ").
    pub value_label: String,
}

/// One panel of a figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Panel {
    Heat(HeatMap),
    Categories(CategoryMap),
    Lines(LinePlot),
    Arrows(ArrowPlot),
    /// Horizontal bars, one per category (feature), coloured by a second value.
    Bars(BarPlot),
    /// An empty cell of the grid (keeps rows aligned when a row of panels is short).
    Blank,
}

/// A picture: a title over panels placed side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The setting (n, m, density, importances, bias handling); empty for none.
    pub title: String,
    pub panels: Vec<Panel>,
    /// Pixel size of one panel (width, height).
    pub panel_size: (u32, u32),
    /// Panels per row (0: all in one row); further panels wrap onto new rows.
    pub columns: usize,
}

/// Largest figure in pixels (a 60-megapixel RGB buffer is 180 MB).
const MAX_PIXELS: u64 = 60_000_000;

/// Pixel height of one line of the figure title, and the band's padding.
const TITLE_LINE: u32 = 26;
const TITLE_PAD: u32 = 18;

/// Average advance of a 20-pixel DejaVu Sans character (for wrapping titles the same way on
/// both backends).
const TITLE_CHAR: u32 = 11;

impl Figure {
    /// A figure with the default panel size (620 × 540 pixels).
    pub fn new(title: impl Into<String>, panels: Vec<Panel>) -> Self {
        Figure {
            title: title.into(),
            panels,
            panel_size: (620, 540),
            columns: 0,
        }
    }

    /// (rows, columns) of the panel grid.
    pub fn grid(&self) -> (usize, usize) {
        let n = self.panels.len().max(1);
        let cols = if self.columns == 0 {
            n
        } else {
            self.columns.min(n)
        };
        (n.div_ceil(cols), cols)
    }

    /// Total size in pixels.
    pub fn size(&self) -> (u32, u32) {
        let (w, h) = self.panel_size;
        let (rows, cols) = self.grid();
        (w * cols as u32, h * rows as u32 + self.title_band())
    }

    fn title_band(&self) -> u32 {
        match self.title_lines().len() {
            0 => 0,
            k => TITLE_PAD + TITLE_LINE * k as u32,
        }
    }

    /// The title broken at " · " separators (then at spaces) into lines that fit the width.
    pub fn title_lines(&self) -> Vec<String> {
        if self.title.is_empty() {
            return Vec::new();
        }
        let width = self.panel_size.0 * self.grid().1 as u32;
        let max = ((width.saturating_sub(40)) / TITLE_CHAR).max(10) as usize;
        let mut lines: Vec<String> = Vec::new();
        let mut cur = String::new();
        for part in self.title.split(" · ") {
            let joined = if cur.is_empty() {
                part.to_string()
            } else {
                format!("{cur} · {part}")
            };
            if joined.chars().count() <= max || cur.is_empty() {
                cur = joined;
            } else {
                lines.push(std::mem::take(&mut cur));
                cur = part.to_string();
            }
        }
        lines.push(cur);
        // A single part longer than a line: break it at spaces.
        let mut out = Vec::new();
        for l in lines {
            let mut cur = String::new();
            for word in l.split(' ') {
                if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > max {
                    out.push(std::mem::take(&mut cur));
                }
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur.push_str(word);
            }
            out.push(cur);
        }
        out
    }

    /// Refuses descriptions that cannot be drawn, with a message naming the problem.
    pub fn validate(&self) -> Result<()> {
        if self.panels.is_empty() {
            return Err(Error::invalid("a figure needs at least one panel"));
        }
        let (w, h) = self.panel_size;
        if !(200..=4000).contains(&w) || !(200..=4000).contains(&h) {
            return Err(Error::invalid(format!(
                "panel size {w}×{h} pixels is outside 200…4000"
            )));
        }
        let (tw, th) = self.size();
        if u64::from(tw) * u64::from(th) > MAX_PIXELS {
            return Err(Error::TooLarge(format!(
                "a {tw}×{th}-pixel figure ({} panels) exceeds {MAX_PIXELS} pixels: use fewer \
                 panels or more rows",
                self.panels.len()
            )));
        }
        for p in &self.panels {
            match p {
                Panel::Heat(h) => {
                    check_grid(&h.title, &h.xs, &h.ys, h.values.len(), &h.x, &h.y)?;
                    let finite = h.values.iter().filter(|v| v.is_finite()).count();
                    if finite == 0 {
                        return Err(Error::invalid(format!(
                            "heat map '{}' has no finite value",
                            h.title
                        )));
                    }
                }
                Panel::Categories(c) => {
                    check_grid(&c.title, &c.xs, &c.ys, c.cells.len(), &c.x, &c.y)?;
                    if let Some(k) = c.cells.iter().find(|&&k| k >= c.names.len()) {
                        return Err(Error::invalid(format!(
                            "category map '{}': category {k} has no name ({} names)",
                            c.title,
                            c.names.len()
                        )));
                    }
                }
                Panel::Lines(l) => {
                    let pts = l
                        .series
                        .iter()
                        .chain(&l.scatter)
                        .flat_map(|s| s.points.iter());
                    let usable = pts
                        .filter(|(x, y)| axes::usable(*x, l.x.log) && axes::usable(*y, l.y.log))
                        .count();
                    if usable == 0 {
                        return Err(Error::invalid(format!(
                            "line plot '{}' has no point to draw{}",
                            l.title,
                            if l.x.log || l.y.log {
                                " (log axes need positive coordinates)"
                            } else {
                                ""
                            }
                        )));
                    }
                }
                Panel::Bars(b) => b.validate()?,
                Panel::Blank => {}
                Panel::Arrows(a) => {
                    if a.arrows
                        .iter()
                        .any(|v| !(v.x.is_finite() && v.y.is_finite() && v.value.is_finite()))
                    {
                        return Err(Error::invalid(format!(
                            "arrow plot '{}' has a non-finite arrow",
                            a.title
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_grid(title: &str, xs: &[f64], ys: &[f64], cells: usize, x: &Axis, y: &Axis) -> Result<()> {
    if xs.is_empty() || ys.is_empty() || xs.len() * ys.len() != cells {
        return Err(Error::invalid(format!(
            "panel '{title}': {} × {} grid coordinates but {cells} cells",
            xs.len(),
            ys.len()
        )));
    }
    for (axis, v) in [(x, xs), (y, ys)] {
        if v.iter().any(|&t| !axes::usable(t, axis.log)) || v.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::invalid(format!(
                "panel '{title}': the {} coordinates must be finite, increasing{}",
                axis.label,
                if axis.log { " and positive" } else { "" }
            )));
        }
    }
    Ok(())
}

/// A figure rendered in memory.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// PNG file bytes.
    pub png: Vec<u8>,
    /// SVG document.
    pub svg: String,
}

/// Registers the embedded font once (plotters' font registry is global).
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded bytes are a valid TrueType font; failure would be a build defect, and
        // text would then fail to draw with an error rather than panic.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Turns a plotters error into the crate's error.
pub(crate) fn drawing_error(e: impl std::fmt::Debug) -> Error {
    Error::invalid(format!("could not draw the figure: {e:?}"))
}

/// Renders `fig` to PNG bytes and an SVG document from the same drawing code.
pub fn draw(fig: &Figure) -> Result<Rendered> {
    fig.validate()?;
    register_fonts();
    let (w, h) = fig.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        draw_on(&root, fig)?;
        root.present().map_err(drawing_error)?;
    }
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw_on(&root, fig)?;
        root.present().map_err(drawing_error)?;
    }
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(drawing_error)?;
        writer.write_image_data(&rgb).map_err(drawing_error)?;
    }
    Ok(Rendered { png, svg })
}

/// `PREFIX.png` and `PREFIX.svg`.
pub fn output_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    (with_suffix(prefix, "png"), with_suffix(prefix, "svg"))
}

/// `prefix` with `.ext` appended (not replacing anything after a dot: `loss.v2` → `loss.v2.png`).
pub fn with_suffix(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Draws `fig` and writes `PREFIX.png` and `PREFIX.svg` together: both or neither (temporary
/// files in the same directory, renamed; an existing non-regular file is never replaced).
pub fn render(fig: &Figure, prefix: &Path) -> Result<(PathBuf, PathBuf)> {
    let (png_path, svg_path) = output_paths(prefix);
    crate::io::check_output_path(&png_path)?;
    crate::io::check_output_path(&svg_path)?;
    let r = draw(fig)?;
    crate::io::write_all_atomic(&[(&png_path, &r.png[..]), (&svg_path, r.svg.as_bytes())])?;
    Ok((png_path, svg_path))
}

fn draw_on<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> Result<()> {
    root.fill(&WHITE).map_err(drawing_error)?;
    let lines = fig.title_lines();
    let body = if lines.is_empty() {
        root.clone()
    } else {
        let (top, rest) = root.split_vertically(fig.title_band());
        let (w, _) = top.dim_in_pixel();
        let style = TextStyle::from(("sans-serif", 20).into_font()).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            ),
        );
        for (k, line) in lines.iter().enumerate() {
            let y = TITLE_PAD / 2 + TITLE_LINE * k as u32 + TITLE_LINE / 2;
            top.draw(&Text::new(
                line.clone(),
                ((w / 2) as i32, y as i32),
                style.clone(),
            ))
            .map_err(drawing_error)?;
        }
        rest
    };
    let areas = body.split_evenly(fig.grid());
    for (area, panel) in areas.iter().zip(&fig.panels) {
        match panel {
            Panel::Heat(h) => heatmap::draw(area, h)?,
            Panel::Categories(c) => categories::draw(area, c)?,
            Panel::Lines(l) => lines::draw(area, l)?,
            Panel::Arrows(a) => arrows::draw(area, a)?,
            Panel::Bars(b) => bars::draw(area, b)?,
            Panel::Blank => {}
        }
    }
    Ok(())
}
