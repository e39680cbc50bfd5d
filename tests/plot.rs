//! Figures: every panel kind renders to a PNG of the declared size and a well-formed SVG that
//! carries the labels; outputs appear together or not at all.

use std::path::Path;

use tms_exact::plot::{
    self, Arrow, ArrowPlot, Axis, Bar, BarPlot, CategoryMap, ColorScale, Figure, HeatMap, LinePlot,
    Mark, MarkKind, Panel, Polyline, RefLine, Series,
};

/// Width and height from a PNG's IHDR chunk (signature, length, "IHDR", then big-endian
/// width and height).
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |k: usize| u32::from_be_bytes([bytes[k], bytes[k + 1], bytes[k + 2], bytes[k + 3]]);
    (be(16), be(20))
}

/// All text of an SVG document, after checking it parses as XML with an `svg` root.
fn svg_text(svg: &str) -> String {
    let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n")
}

fn heat() -> HeatMap {
    let xs: Vec<f64> = (0..30).map(|k| -1.0 + k as f64 / 14.5).collect();
    let ys: Vec<f64> = (0..20).map(|k| 10f64.powf(-2.0 + k as f64 / 9.5)).collect();
    let values: Vec<f64> = ys
        .iter()
        .flat_map(|y| xs.iter().map(move |x| x * x + y))
        .collect();
    HeatMap {
        title: "heat panel".into(),
        x: Axis::linear("w₁"),
        y: Axis::log("density p"),
        contours: plot::default_levels(&values, 5, ColorScale::Log),
        xs,
        ys,
        values,
        scale: ColorScale::Log,
        color_label: "loss L".into(),
        marks: vec![
            Mark {
                x: 0.0,
                y: 0.1,
                label: "min 1.0e−1".into(),
                kind: MarkKind::Minimum,
            },
            Mark {
                x: 0.5,
                y: 0.1,
                label: "saddle".into(),
                kind: MarkKind::Saddle,
            },
        ],
        paths: vec![Polyline {
            points: vec![(-0.5, 0.05), (0.5, 0.5)],
            label: "path".into(),
        }],
    }
}

fn every_kind() -> Figure {
    let lines = LinePlot {
        title: "line panel".into(),
        x: Axis::log("1/(1−S)"),
        y: Axis::linear("dimensionality"),
        series: vec![Series {
            label: "D*".into(),
            points: (0..10)
                .map(|k| (10f64.powf(k as f64 / 3.0), 1.0 / (1.0 + k as f64)))
                .collect(),
        }],
        scatter: vec![Series {
            label: "Dᵢ".into(),
            points: (0..10)
                .map(|k| (10f64.powf(k as f64 / 3.0), 0.8 / (1.0 + k as f64)))
                .collect(),
        }],
        hlines: vec![RefLine {
            y: 0.5,
            label: "1/2".into(),
        }],
    };
    let arrows = ArrowPlot {
        title: "arrow panel".into(),
        x_label: "h₁".into(),
        y_label: "h₂".into(),
        arrows: (0..3)
            .map(|k| {
                let t = 2.0 * std::f64::consts::PI * k as f64 / 3.0;
                Arrow {
                    x: t.cos(),
                    y: t.sin(),
                    label: k.to_string(),
                    value: 0.9f64.powi(k),
                }
            })
            .collect(),
        value_label: "importance Iᵢ".into(),
    };
    let cats = CategoryMap {
        title: "category panel".into(),
        x: Axis::log("importance r"),
        y: Axis::log("density p"),
        xs: vec![0.1, 1.0, 10.0],
        ys: vec![0.01, 0.1],
        cells: vec![0, 1, 2, 0, 0, 1],
        names: vec!["dropped".into(), "dedicated".into(), "superposed".into()],
        boundaries: vec![Polyline {
            points: vec![(0.1, 0.01), (10.0, 0.1)],
            label: String::new(),
        }],
        marks: vec![],
    };
    Figure::new(
        "n = 2, m = 1 · every panel kind",
        vec![
            Panel::Heat(heat()),
            Panel::Lines(lines),
            Panel::Arrows(arrows),
            Panel::Categories(cats),
        ],
    )
}

#[test]
fn every_panel_kind_renders_png_of_the_declared_size_and_svg_with_its_labels() {
    let dir = tempfile::tempdir().unwrap();
    let fig = every_kind();
    let (png, svg) = plot::render(&fig, &dir.path().join("all")).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(png_size(&bytes), fig.size());
    assert_eq!(fig.size(), (4 * 620, 540 + 18 + 26));
    let text = svg_text(&std::fs::read_to_string(&svg).unwrap());
    for label in [
        "w₁",
        "density p",
        "loss L",
        "1/(1−S)",
        "dimensionality",
        "importance Iᵢ",
        "superposed",
        "min 1.0e−1",
        "1/2",
        "D*",
        "heat panel",
        "n = 2, m = 1 · every panel kind",
        // Decade ticks of the log axes.
        "10⁻²",
        "10⁻¹",
        "10²",
    ] {
        assert!(text.contains(label), "SVG lacks '{label}'");
    }
    // Exactly the two outputs, no temporaries.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn png_and_svg_come_from_the_same_description() {
    let fig = Figure::new("", vec![Panel::Heat(heat())]);
    let a = plot::draw(&fig).unwrap();
    let b = plot::draw(&fig).unwrap();
    // Deterministic: the same bytes each time.
    assert_eq!(a.png, b.png);
    assert_eq!(a.svg, b.svg);
    assert_eq!(png_size(&a.png), fig.size());
    assert_eq!(fig.size(), (620, 540), "no title band without a title");
}

#[test]
fn long_titles_wrap_instead_of_being_clipped() {
    let mut fig = Figure::new(
        "model.json: n = 5, m = 2 · density 0.05 · importance (1, 0.9, 0.81, 0.729, 0.6561) · relu · lowest Hessian directions",
        vec![Panel::Heat(heat())],
    );
    fig.panel_size = (600, 500);
    let lines = fig.title_lines();
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.chars().count() <= (600 - 40) / 11));
    assert_eq!(fig.size().1, 500 + 18 + 26 * lines.len() as u32);
    let svg = plot::draw(&fig).unwrap().svg;
    let text = svg_text(&svg);
    for l in &lines {
        assert!(text.contains(l.as_str()));
    }
}

#[test]
fn bad_descriptions_are_refused_with_a_message() {
    let mut h = heat();
    h.values.pop();
    let e = plot::draw(&Figure::new("", vec![Panel::Heat(h)])).unwrap_err();
    assert!(e.to_string().contains("cells"), "{e}");
    let mut h = heat();
    h.ys[0] = -1.0; // not positive on a log axis
    assert!(plot::draw(&Figure::new("", vec![Panel::Heat(h)])).is_err());
    let mut h = heat();
    h.values.iter_mut().for_each(|v| *v = f64::NAN);
    assert!(plot::draw(&Figure::new("", vec![Panel::Heat(h)])).is_err());
    assert!(plot::draw(&Figure::new("", vec![])).is_err());
    let c = CategoryMap {
        title: "c".into(),
        x: Axis::linear("x"),
        y: Axis::linear("y"),
        xs: vec![0.0, 1.0],
        ys: vec![0.0],
        cells: vec![0, 3],
        names: vec!["a".into()],
        boundaries: vec![],
        marks: vec![],
    };
    let e = plot::draw(&Figure::new("", vec![Panel::Categories(c)])).unwrap_err();
    assert!(e.to_string().contains("no name"), "{e}");
}

#[test]
fn nothing_is_written_when_one_output_cannot_be() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("fig");
    // PREFIX.svg is a directory: neither file may appear.
    std::fs::create_dir(dir.path().join("fig.svg")).unwrap();
    let e = plot::render(&Figure::new("", vec![Panel::Heat(heat())]), &prefix).unwrap_err();
    assert!(e.to_string().contains("fig.svg"), "{e}");
    assert!(!Path::new(&dir.path().join("fig.png")).exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// RGB pixels of a PNG with their (x, y), left of `right` pixels from the right edge (so the
/// colour bars are not counted).
fn pixels(png: &[u8], right: u32) -> Vec<(u32, u32, [u8; 3])> {
    let d = ::png::Decoder::new(std::io::Cursor::new(png));
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, ::png::ColorType::Rgb);
    let (w, h) = (info.width, info.height);
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w.saturating_sub(right) {
            let k = 3 * (y * w + x) as usize;
            out.push((x, y, [buf[k], buf[k + 1], buf[k + 2]]));
        }
    }
    out
}

/// Mean (x, y) of the pixels whose colour passes `pick`.
fn centre(px: &[(u32, u32, [u8; 3])], pick: impl Fn([u8; 3]) -> bool) -> (f64, f64) {
    let hits: Vec<_> = px.iter().filter(|p| pick(p.2)).collect();
    assert!(hits.len() > 50, "only {} pixels of that colour", hits.len());
    let k = hits.len() as f64;
    (
        hits.iter().map(|p| p.0 as f64).sum::<f64>() / k,
        hits.iter().map(|p| p.1 as f64).sum::<f64>() / k,
    )
}

#[test]
fn diverging_matrix_has_row_zero_on_top_and_bars_start_at_the_top() {
    // Row 0 = (−1, +1): blue then red; row 1 = (0, missing): white then grey.
    let m = HeatMap {
        title: "matrix".into(),
        x: Axis::linear("feature j").with_ticks(vec![(0.0, "0".into()), (1.0, "b".into())]),
        y: Axis::linear("feature i").reversed(),
        xs: vec![0.0, 1.0],
        ys: vec![0.0, 1.0],
        values: vec![-1.0, 1.0, 0.0, f64::NAN],
        scale: ColorScale::Diverging,
        color_label: "M".into(),
        contours: vec![],
        marks: vec![],
        paths: vec![],
    };
    let r = plot::draw(&Figure::new("", vec![Panel::Heat(m.clone())])).unwrap();
    let px = pixels(&r.png, 118);
    let blue = centre(&px, |c| c[2] as i32 > c[0] as i32 + 60);
    let red = centre(&px, |c| c[0] as i32 > c[2] as i32 + 60);
    let grey = centre(&px, |c| c == [200, 200, 200]);
    assert!(
        blue.1 < grey.1 && (blue.1 - red.1).abs() < 2.0,
        "{blue:?} {red:?} {grey:?}"
    );
    assert!(blue.0 < red.0 && (red.0 - grey.0).abs() < 2.0);
    let text = svg_text(&r.svg);
    assert!(text.contains('b') && text.contains("feature i"));
    // Not reversed: row 0 at the bottom.
    let mut up = m;
    up.y = Axis::linear("feature i");
    let px = pixels(
        &plot::draw(&Figure::new("", vec![Panel::Heat(up)]))
            .unwrap()
            .png,
        118,
    );
    let blue = centre(&px, |c| c[2] as i32 > c[0] as i32 + 60);
    let grey = centre(&px, |c| c == [200, 200, 200]);
    assert!(blue.1 > grey.1);

    // Bars: the first (dark, colour 0) above the second (bright, colour ≥ max: clamped).
    let bars = BarPlot {
        title: "bars".into(),
        x_label: "‖W_i‖".into(),
        bars: vec![
            Bar {
                label: "first".into(),
                value: 1.0,
                color_value: 0.0,
            },
            Bar {
                label: "second".into(),
                value: 0.5,
                color_value: 7.0,
            },
        ],
        color_label: "superposition".into(),
        color_max: 1.0,
    };
    let fig = Figure::new("", vec![Panel::Bars(bars.clone()), Panel::Blank]);
    let r = plot::draw(&fig).unwrap();
    assert_eq!(png_size(&r.png), (2 * 620, 540));
    // Only the first panel's area (the blank one is white), left of its colour bar.
    let px: Vec<_> = pixels(&r.png, 620 + 118);
    let dark = centre(&px, |c| c[0] > 40 && c[1] < 20 && c[2] > 60);
    let bright = centre(&px, |c| c[0] > 200 && c[1] > 200 && c[2] < 80);
    assert!(dark.1 < bright.1, "{dark:?} {bright:?}");
    // The shorter bar ends further left.
    let right_end = |pick: &dyn Fn([u8; 3]) -> bool| {
        px.iter().filter(|p| pick(p.2)).map(|p| p.0).max().unwrap()
    };
    assert!(
        right_end(&|c| c[0] > 200 && c[1] > 200 && c[2] < 80)
            < right_end(&|c| c[0] > 40 && c[1] < 20 && c[2] > 60)
    );
    let text = svg_text(&r.svg);
    for label in ["first", "second", "superposition", "‖W_i‖", "bars"] {
        assert!(text.contains(label), "SVG lacks '{label}'");
    }
    // Bad bar charts are refused with a message.
    let mut b = bars.clone();
    b.bars[1].value = f64::NAN;
    let e = plot::draw(&Figure::new("", vec![Panel::Bars(b)])).unwrap_err();
    assert!(e.to_string().contains("second"), "{e}");
    let mut b = bars.clone();
    b.color_max = 0.0;
    assert!(plot::draw(&Figure::new("", vec![Panel::Bars(b)])).is_err());
    let mut b = bars;
    b.bars.clear();
    assert!(plot::draw(&Figure::new("", vec![Panel::Bars(b)])).is_err());
}
