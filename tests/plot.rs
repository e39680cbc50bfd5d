//! Figures: every panel kind renders to a PNG of the declared size and a well-formed SVG that
//! carries the labels; outputs appear together or not at all.

use std::path::Path;

use tms_exact::plot::{
    self, Arrow, ArrowPlot, Axis, CategoryMap, ColorScale, Figure, HeatMap, LinePlot, Mark,
    MarkKind, Panel, Polyline, RefLine, Series,
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
