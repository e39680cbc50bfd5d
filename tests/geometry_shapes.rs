//! Geometry on known polytopes: dimensionalities at the paper's sticky values, and shape
//! recognition up to rotation (every arrangement is also tested after a seeded random
//! rotation and a shuffle of its features).

use std::f64::consts::PI;

use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tms_exact::geometry::{self, geometry};
use tms_exact::model::Model;

fn model_of(cols: &[Vec<f64>]) -> Model {
    let m = cols[0].len();
    let rows: Vec<Vec<f64>> = (0..m)
        .map(|h| cols.iter().map(|c| c[h]).collect())
        .collect();
    Model::from_rows(&rows, &vec![0.0; cols.len()]).unwrap()
}

fn polygon(k: usize, radius: f64) -> Vec<Vec<f64>> {
    (0..k)
        .map(|j| {
            let t = 2.0 * PI * j as f64 / k as f64;
            vec![radius * t.cos(), radius * t.sin()]
        })
        .collect()
}

fn tetrahedron() -> Vec<Vec<f64>> {
    let s = 1.0 / 3f64.sqrt();
    vec![
        vec![s, s, s],
        vec![s, -s, -s],
        vec![-s, s, -s],
        vec![-s, -s, s],
    ]
}

fn ring(z: f64, phase: f64, k: usize) -> Vec<Vec<f64>> {
    let r = (1.0 - z * z).sqrt();
    (0..k)
        .map(|j| {
            let t = phase + 2.0 * PI * j as f64 / k as f64;
            vec![r * t.cos(), r * t.sin(), z]
        })
        .collect()
}

fn square_antiprism() -> Vec<Vec<f64>> {
    let z = 1.0 / 3f64.sqrt();
    let mut v = ring(z, 0.0, 4);
    v.extend(ring(-z, PI / 4.0, 4));
    v
}

fn bipyramid() -> Vec<Vec<f64>> {
    let mut v = ring(0.0, 0.3, 3);
    v.push(vec![0.0, 0.0, 1.0]);
    v.push(vec![0.0, 0.0, -1.0]);
    v
}

/// A seeded random rotation (QR of a Gaussian matrix, made proper) applied to every column,
/// and the columns shuffled.
fn rotate_and_shuffle(cols: &[Vec<f64>], seed: u64) -> Vec<Vec<f64>> {
    let m = cols[0].len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = DMatrix::from_fn(m, m, |_, _| rng.sample::<f64, _>(StandardNormal));
    let mut q = g.qr().q();
    if q.determinant() < 0.0 {
        q.column_mut(0).neg_mut();
    }
    let mut out: Vec<Vec<f64>> = cols
        .iter()
        .map(|c| {
            (&q * nalgebra::DVector::from_column_slice(c))
                .as_slice()
                .to_vec()
        })
        .collect();
    for i in (1..out.len()).rev() {
        let j = rng.random_range(0..=i);
        out.swap(i, j);
    }
    out
}

fn assert_all(values: &[f64], want: f64, what: &str) {
    for v in values {
        assert!((v - want).abs() < 1e-12, "{what}: {v} vs {want}");
    }
}

#[test]
fn sticky_dimensionalities_and_names_of_the_known_arrangements() {
    let cases: Vec<(&str, Vec<Vec<f64>>, f64, &str)> = vec![
        (
            "antipodal pair",
            vec![vec![1.0], vec![-1.0]],
            0.5,
            "antipodal pair",
        ),
        (
            "antipodal pair in 2-D",
            polygon(2, 0.8),
            0.5,
            "antipodal pair",
        ),
        ("triangle", polygon(3, 1.0), 2.0 / 3.0, "triangle"),
        ("square", polygon(4, 1.0), 0.5, "square"),
        ("pentagon", polygon(5, 1.2), 0.4, "pentagon"),
        ("hexagon", polygon(6, 1.0), 1.0 / 3.0, "hexagon"),
        ("tetrahedron", tetrahedron(), 0.75, "tetrahedron"),
        (
            "square antiprism",
            square_antiprism(),
            3.0 / 8.0,
            "square antiprism",
        ),
    ];
    for (label, cols, d, name) in cases {
        for seed in [0u64, 1, 2] {
            let c = if seed == 0 {
                cols.clone()
            } else {
                rotate_and_shuffle(&cols, seed)
            };
            let g = geometry(&model_of(&c));
            assert_all(&g.dimensionality, d, label);
            assert!(g.dropped.is_empty());
            assert_eq!(g.shape, name, "{label} (rotation seed {seed})");
        }
    }
}

#[test]
fn triangular_bipyramid_is_recognised_with_its_two_dimensionalities() {
    for seed in [0u64, 5] {
        let g = geometry(&model_of(&rotate_and_shuffle(&bipyramid(), seed)));
        assert_eq!(g.shape, "triangular bipyramid");
        // Poles: D = 1/2 (an antipodal pair orthogonal to the rest); equator: D = 2/3.
        let mut d = g.dimensionality.clone();
        d.sort_by(|a, b| a.total_cmp(b));
        assert_all(&d[..2], 0.5, "poles");
        assert_all(&d[2..], 2.0 / 3.0, "equator");
    }
}

#[test]
fn dropped_features_have_dimensionality_zero_and_do_not_change_the_shape() {
    let mut cols = polygon(5, 1.0);
    cols.push(vec![0.0, 0.0]);
    let g = geometry(&model_of(&cols));
    assert_eq!(g.dropped, vec![5]);
    assert_eq!(g.dimensionality[5], 0.0);
    assert_eq!(g.norms[5], 0.0);
    assert_eq!(g.shape, "pentagon");
    let none = geometry(&model_of(&[vec![0.0, 0.0], vec![0.0, 0.0]]));
    assert!(none.shape.starts_with("none"), "{}", none.shape);
}

#[test]
fn orthogonal_groups_are_named_separately() {
    // A pentagon in the (x, y) plane, an antipodal pair and a dedicated feature on other axes.
    let mut cols: Vec<Vec<f64>> = polygon(5, 1.0)
        .into_iter()
        .map(|c| vec![c[0], c[1], 0.0, 0.0])
        .collect();
    cols.push(vec![0.0, 0.0, 1.0, 0.0]);
    cols.push(vec![0.0, 0.0, -0.7, 0.0]);
    cols.push(vec![0.0, 0.0, 0.0, 2.0]);
    let g = geometry(&model_of(&rotate_and_shuffle(&cols, 9)));
    assert_eq!(g.shape, "pentagon + antipodal pair + dedicated");
    let groups = geometry::recognize(model_of(&cols).w(), &[]);
    assert_eq!(groups.len(), 3);
    assert_eq!(groups[0].features, vec![0, 1, 2, 3, 4]);
    assert_eq!(groups[0].dims, 2);
    assert_eq!(groups[1].features, vec![5, 6]);
    assert_eq!(groups[1].dims, 1);
    let ortho = geometry(&model_of(&[vec![1.0, 0.0], vec![0.0, 1.0]]));
    assert_eq!(ortho.shape, "2 × dedicated");
}

#[test]
fn irregular_arrangements_are_not_given_a_polytope_name() {
    // Four unit vectors in a plane at uneven angles; a flattened tetrahedron; a cube is not
    // an antiprism.
    let uneven: Vec<Vec<f64>> = [0.0f64, 1.0, 2.5, 4.0]
        .iter()
        .map(|t| vec![t.cos(), t.sin()])
        .collect();
    assert_eq!(
        geometry(&model_of(&uneven)).shape,
        "4 features in 2 dimensions"
    );
    let flat: Vec<Vec<f64>> = tetrahedron()
        .into_iter()
        .map(|c| vec![c[0], c[1], 0.4 * c[2]])
        .collect();
    assert_eq!(
        geometry(&model_of(&flat)).shape,
        "4 features in 3 dimensions"
    );
    let z = 1.0 / 3f64.sqrt();
    let mut cube = ring(z, PI / 4.0, 4);
    cube.extend(ring(-z, PI / 4.0, 4));
    assert_eq!(geometry(&model_of(&cube)).shape, "cube");
}

#[test]
fn projections_keep_the_plane_and_separate_3d_arrows() {
    let cols = polygon(5, 1.0);
    let model = model_of(&cols);
    let p = geometry::projections(model.w());
    assert_eq!(p.len(), 1);
    for (j, &(x, y)) in p[0].2.iter().enumerate() {
        assert_eq!((x, y), (cols[j][0], cols[j][1]));
    }
    // A tight frame (degenerate principal directions): no two arrows coincide in a view.
    let v = geometry::projections(model_of(&square_antiprism()).w());
    assert_eq!(v.len(), 2);
    for (_, _, pts) in &v {
        for i in 0..pts.len() {
            for j in 0..i {
                let d = (pts[i].0 - pts[j].0).hypot(pts[i].1 - pts[j].1);
                assert!(d > 0.05, "arrows {i} and {j} coincide");
            }
        }
    }
}

#[test]
fn geometry_cli_prints_json_with_the_census_names_and_draws_the_picture() {
    let dir = tempfile::tempdir().unwrap();
    let cols = polygon(5, 1.0);
    let rows: Vec<String> = (0..2)
        .map(|h| {
            format!(
                "[{}]",
                cols.iter()
                    .map(|c| c[h].to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    let path = dir.path().join("pentagon.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"W": [{}], "b": [0, 0, 0, 0, 0], "data": {{"density": 0.05, "importance": "decay:0.9"}}}}"#,
            rows.join(", ")
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tms-exact"))
        .args([
            "geometry",
            path.to_str().unwrap(),
            "--json",
            "--out",
            dir.path().join("pic").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "norms",
        "superposition",
        "dimensionality",
        "dimensions_per_feature",
        "dropped",
        "antipodal_pairs",
        "shape",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["shape"], "pentagon");
    assert!((v["dimensions_per_feature"].as_f64().unwrap() - 0.4).abs() < 1e-12);
    let png = std::fs::read(dir.path().join("pic.png")).unwrap();
    assert_eq!(&png[12..16], b"IHDR");
    let svg = std::fs::read_to_string(dir.path().join("pic.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let text: String = doc.descendants().filter_map(|n| n.text()).collect();
    for label in ["h₁", "h₂", "importance Iᵢ", "shape: pentagon"] {
        assert!(text.contains(label), "SVG lacks {label}");
    }
}

fn model_json(cols: &[Vec<f64>], data: &str) -> String {
    let m = cols[0].len();
    let rows: Vec<String> = (0..m)
        .map(|h| {
            format!(
                "[{}]",
                cols.iter()
                    .map(|c| c[h].to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    format!(
        r#"{{"W": [{}], "b": [{}], "data": {data}}}"#,
        rows.join(", "),
        vec!["0"; cols.len()].join(", ")
    )
}

#[test]
fn several_models_are_drawn_in_one_picture_with_their_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for k in [3usize, 5, 6] {
        let p = dir.path().join(format!("poly{k}.json"));
        std::fs::write(&p, model_json(&polygon(k, 1.0), r#"{"density": 0.1}"#)).unwrap();
        paths.push(p.to_str().unwrap().to_string());
    }
    let prefix = dir.path().join("many");
    let mut args: Vec<&str> = vec!["geometry"];
    args.extend(paths.iter().map(String::as_str));
    args.extend([
        "--label",
        "three",
        "--label",
        "five",
        "--label",
        "six",
        "--columns",
        "2",
        "--json",
        "--out",
    ]);
    args.push(prefix.to_str().unwrap());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tms-exact"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shapes: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["shape"].as_str().unwrap())
        .collect();
    assert_eq!(shapes, ["triangle", "pentagon", "hexagon"]);
    let png = std::fs::read(prefix.with_extension("png")).unwrap();
    let d = png::Decoder::new(std::io::Cursor::new(&png[..]));
    let info = d.read_info().unwrap();
    // Two columns, two rows of 420 × 400 panels under the title band.
    assert_eq!(info.info().width, 2 * 420);
    assert!(info.info().height > 2 * 400);
    let svg = std::fs::read_to_string(prefix.with_extension("svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let text: String = doc.descendants().filter_map(|n| n.text()).collect();
    // Each panel is titled by its label over its shape (two lines).
    for label in ["three", "triangle", "five", "pentagon", "six", "hexagon"] {
        assert!(text.contains(label), "SVG lacks {label}");
    }
    // One label per model or none.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_tms-exact"))
        .args(["geometry", &paths[0], &paths[1], "--label", "x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--label"));
}

#[test]
fn the_density_sweep_writes_exact_optima_and_refuses_bad_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("sweep");
    let run = |extra: &[&str]| {
        let mut a = vec![
            "geometry",
            "--sweep",
            "--n",
            "3",
            "--m",
            "2",
            "--restarts",
            "4",
            "--out",
        ];
        a.push(prefix.to_str().unwrap());
        a.extend_from_slice(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_tms-exact"))
            .args(&a)
            .output()
            .unwrap()
    };
    let out = run(&["--densities", "0.05:1", "--points", "3", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pts = v["points"].as_array().unwrap();
    assert_eq!(pts.len(), 3);
    let csv = std::fs::read_to_string(prefix.with_extension("csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "density,inv_one_minus_S,loss,grad_norm,kind,source,D_star,D_0,D_1,D_2"
    );
    assert_eq!(lines.len(), 4);
    // Every row is the exact optimum there: the census's loss matches `minimize` at that density.
    for (p, line) in pts.iter().zip(&lines[1..]) {
        let density = p["density"].as_f64().unwrap();
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0].parse::<f64>().unwrap(), density);
        let m = std::process::Command::new(env!("CARGO_BIN_EXE_tms-exact"))
            .args([
                "minimize",
                "--n",
                "3",
                "--m",
                "2",
                "--restarts",
                "4",
                "--json",
                "--density",
                &density.to_string(),
            ])
            .output()
            .unwrap();
        let best: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
        let want = best["best"]["loss"].as_f64().unwrap();
        let got = cells[2].parse::<f64>().unwrap();
        assert!(got <= want * (1.0 + 1e-12), "{density}: {got} > {want}");
        assert_eq!(p["kind"], "strict_minimum");
        // D* = m / ‖W‖²_F lies between the smallest and largest sticky value it can take here.
        let dstar = cells[6].parse::<f64>().unwrap();
        assert!(dstar > 0.0 && dstar <= 1.0 + 1e-12, "{dstar}");
    }
    assert!(dir.path().join("sweep.png").is_file());
    for (extra, want) in [
        (&["--densities", "1:0.1"][..], "density range"),
        (&["--densities", "0.1"][..], "lo:hi"),
        (&["--points", "1"][..], "--points 1"),
        (&["--density", "0.1"][..], "--densities"),
    ] {
        let p2 = dir.path().join("bad");
        let mut a = vec!["geometry", "--sweep", "--n", "3", "--m", "2", "--out"];
        a.push(p2.to_str().unwrap());
        a.extend_from_slice(extra);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_tms-exact"))
            .args(&a)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1);
        assert!(!dir.path().join("bad.csv").exists());
        assert!(!dir.path().join("bad.png").exists());
    }
}

// ---- superposition and the `--matrices` picture ----

mod binary;
mod common;

use num_rational::BigRational;
use proptest::prelude::*;
use tms_exact::route::rational::to_f64;
use tms_exact::tolerance::{SUPERPOSITION_FLOOR, SUPERPOSITION_REL};

/// `Σ_{j≠i} (W_i·W_j)² / (W_i·W_i)` in exact rational arithmetic on the stored numbers.
fn exact_superposition(w: &DMatrix<f64>) -> Vec<f64> {
    let r = |x: f64| BigRational::from_float(x).expect("finite");
    let zero = BigRational::from_float(0.0).unwrap();
    let dot = |i: usize, j: usize| {
        (0..w.nrows()).fold(zero.clone(), |a, k| a + r(w[(k, i)]) * r(w[(k, j)]))
    };
    (0..w.ncols())
        .map(|i| {
            let nn = dot(i, i);
            if nn == zero {
                return 0.0;
            }
            let total = (0..w.ncols())
                .filter(|&j| j != i)
                .fold(zero.clone(), |a, j| {
                    let d = dot(i, j);
                    a + &d * &d
                });
            to_f64(&(total / nn))
        })
        .collect()
}

fn model_w(w: DMatrix<f64>) -> Model {
    let n = w.ncols();
    Model::new(w, nalgebra::DVector::zeros(n)).unwrap()
}

#[test]
fn superposition_of_hand_examples() {
    // Orthogonal columns: nothing overlaps, exactly.
    let ortho = model_of(&[vec![1.0, 1.0], vec![1.0, -1.0]]);
    assert_eq!(geometry::superposition(&ortho), vec![0.0, 0.0]);
    // An antipodal pair: each sees the other fully (cos² = 1, equal norms).
    let pair = model_of(&[vec![0.6, 0.8], vec![-0.6, -0.8]]);
    for s in geometry::superposition(&pair) {
        assert!((s - 1.0).abs() < 1e-15, "{s}");
    }
    // Unequal norms: s_i = ‖W_j‖² cos², so the short feature sees more of the long one.
    let uneven = model_of(&[vec![2.0, 0.0], vec![-0.5, 0.0]]);
    assert_eq!(geometry::superposition(&uneven), vec![0.25, 4.0]);
    // A zero column has no direction: 0, and it adds nothing to the others.
    let zero = model_of(&[vec![1.0, 0.0], vec![0.0, 0.0], vec![0.0, 2.0]]);
    assert_eq!(geometry::superposition(&zero), vec![0.0, 0.0, 0.0]);
    // A tiny or a huge column keeps its direction (no underflow or overflow in ‖W_i‖²).
    let tiny = model_of(&[vec![3e-200, 4e-200], vec![0.6, 0.8]]);
    let s = geometry::superposition(&tiny);
    assert!((s[0] - 1.0).abs() < 1e-15 && s[1] == 0.0, "{s:?}");
    let huge = model_of(&[vec![3e200, 4e200], vec![0.6, 0.8]]);
    let s = geometry::superposition(&huge);
    assert!((s[0] - 1.0).abs() < 1e-15, "{s:?}");
    // The regular pentagon: Σ_{j≠i} cos²(2π(j−i)/5) = 3/2 for every feature.
    for s in geometry::superposition(&model_of(&polygon(5, 1.0))) {
        assert!((s - 1.5).abs() < 1e-14, "{s}");
    }
    // Untied models: the encoder W alone decides (W_out does not enter).
    let tied = model_of(&[vec![1.0, 0.0], vec![1.0, 1.0]]);
    let untied = tied
        .clone()
        .with_w_out(DMatrix::from_row_slice(2, 2, &[5.0, -1.0, 0.5, 2.0]))
        .unwrap();
    assert_eq!(
        geometry::superposition(&tied),
        geometry::superposition(&untied)
    );
    // The census's geometry prints the same numbers as the bars' colours.
    assert_eq!(
        geometry(&tiny).superposition,
        geometry::superposition(&tiny)
    );
}

/// A seeded W in one of five regimes: random, zero columns, tiny or huge columns, nearly
/// orthogonal columns (overlaps 1e-9 … 1e-5, rotated), cancelling pairs (w, −w) of dyadic
/// entries.
fn regime_w(m: usize, n: usize, regime: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = DMatrix::from_fn(m, n, |_, _| rng.random_range(-3.0..3.0));
    match regime {
        1 => {
            for j in (0..n).step_by(2) {
                w.column_mut(j).fill(0.0);
            }
        }
        2 => {
            for j in 0..n {
                let k: i32 = rng.random_range(0..4);
                let f = match k {
                    0 => 1e-12,
                    1 => 2f64.powi(-600),
                    2 => 1e150,
                    _ => 1.0,
                };
                w.column_mut(j).scale_mut(f);
            }
        }
        3 => {
            // Perturbed axes, turned by a random rotation so that every entry is O(1) and the
            // small overlaps come from cancelling sums (where plain dot products lose digits).
            let delta = 10f64.powf(rng.random_range(-9.0..-5.0));
            let axes = DMatrix::from_fn(m, n, |h, j| {
                let axis = if h == j % m { 1.0 } else { 0.0 };
                axis + delta * rng.random_range(-1.0..1.0)
            });
            let g = DMatrix::from_fn(m, m, |_, _| rng.sample::<f64, _>(StandardNormal));
            w = g.qr().q() * axes;
        }
        4 => {
            let half = n.div_ceil(2);
            for j in 0..half {
                for h in 0..m {
                    let v = (rng.random_range(-24i32..24) as f64) / 8.0;
                    w[(h, j)] = v;
                    if half + j < n {
                        w[(h, half + j)] = -v;
                    }
                }
            }
        }
        _ => {}
    }
    w
}

fn frob2(w: &DMatrix<f64>) -> f64 {
    w.iter().map(|x| x * x).sum()
}

proptest! {
    #![proptest_config(common::config(96, 0x5eed_ba25))]

    /// Against exact rationals on the stored numbers, in every regime.
    #[test]
    fn superposition_matches_exact_rationals(
        m in 1usize..5, n in 1usize..7, regime in 0usize..5, seed in any::<u64>()
    ) {
        let w = regime_w(m, n, regime, seed);
        let got = geometry::superposition(&model_w(w.clone()));
        let want = exact_superposition(&w);
        let floor = SUPERPOSITION_FLOOR * frob2(&w);
        for (i, (g, e)) in got.iter().zip(&want).enumerate() {
            prop_assert!(
                (g - e).abs() <= SUPERPOSITION_REL * e.abs() + floor,
                "regime {regime}, feature {i}: {g} vs exact {e}"
            );
        }
    }

    /// A rotation of the hidden space (W → QW, Q orthogonal) changes no superposition.
    #[test]
    fn superposition_is_invariant_under_rotations(
        m in 1usize..5, n in 1usize..7, regime in 0usize..5, seed in any::<u64>()
    ) {
        let w = regime_w(m, n, regime, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xa5a5);
        let g = DMatrix::from_fn(m, m, |_, _| rng.sample::<f64, _>(StandardNormal));
        let q = g.qr().q();
        let rotated = &q * &w;
        let a = geometry::superposition(&model_w(w.clone()));
        let b = geometry::superposition(&model_w(rotated));
        let scale = frob2(&w);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            prop_assert!(
                (x - y).abs() <= SUPERPOSITION_REL * (x.abs() + scale),
                "regime {regime}, feature {i}: {x} vs rotated {y}"
            );
        }
    }
}

#[test]
fn matrix_panel_reads_like_a_matrix_with_b_after_a_gap() {
    let model = Model::from_rows(
        &[vec![1.0, 0.0, -1.0], vec![0.0, 2.0, 0.0]],
        &[0.5, -0.25, 0.0],
    )
    .unwrap();
    let tms_exact::plot::Panel::Heat(h) = geometry::matrix_panel(&model, "t") else {
        panic!("a heat map");
    };
    assert_eq!(h.xs.len(), 5);
    assert_eq!(h.ys.len(), 3);
    assert!(h.y.reversed && !h.x.reversed);
    assert_eq!(h.scale, tms_exact::plot::ColorScale::Diverging);
    let gram = model.gram();
    for i in 0..3 {
        let row = &h.values[i * 5..(i + 1) * 5];
        for j in 0..3 {
            assert_eq!(row[j], gram[(i, j)]);
        }
        assert!(row[3].is_nan(), "the gap column is empty");
        assert_eq!(row[4], model.b()[i]);
    }
    assert_eq!(h.x.ticks.last().unwrap(), &(4.0, "b".to_string()));
    let tms_exact::plot::Panel::Bars(b) = geometry::bars_panel(&model, "t") else {
        panic!("a bar chart");
    };
    let norms: Vec<f64> = b.bars.iter().map(|x| x.value).collect();
    assert_eq!(norms, vec![1.0, 2.0, 1.0]);
    assert_eq!(norms, geometry(&model).norms);
    let colours: Vec<f64> = b.bars.iter().map(|x| x.color_value).collect();
    assert_eq!(colours, geometry::superposition(&model));
    assert_eq!(colours, vec![1.0, 0.0, 1.0]);
}

fn svg_words(path: &std::path::Path) -> String {
    let svg = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    doc.descendants().filter_map(|n| n.text()).collect()
}

fn png_dims(path: &std::path::Path) -> (u32, u32) {
    let png = std::fs::read(path).unwrap();
    let d = png::Decoder::new(std::io::Cursor::new(&png[..]));
    let info = d.read_info().unwrap();
    (info.info().width, info.info().height)
}

#[test]
fn matrices_picture_for_model_files_and_a_stack() {
    use binary::{assert_usage_error, stdout, tms};
    let dir = tempfile::tempdir().unwrap();
    let tied = dir.path().join("hexagon.json");
    std::fs::write(&tied, model_json(&polygon(6, 1.0), r#"{"density": 0.1}"#)).unwrap();
    // An untied model with m = 3 next to the m = 2 one (any m may be drawn together).
    let untied = dir.path().join("untied.json");
    std::fs::write(
        &untied,
        r#"{"W": [[1, 0, 0.5, 0], [0, 1, 0.5, 0], [0, 0, 0, 0.25]],
            "W_out": [[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0], [0, 0, 4]],
            "b": [0, -0.5, 0.25, 0], "data": {"density": 0.1}}"#,
    )
    .unwrap();
    let prefix = dir.path().join("basic");
    let (t, u, p) = (
        tied.to_str().unwrap(),
        untied.to_str().unwrap(),
        prefix.to_str().unwrap(),
    );
    // Hexagon has 6 features, the untied model 4: both drawn, text lists both.
    let out = stdout(&tms(&["geometry", t, u, "--matrices", "--out", p]));
    assert!(
        out.contains("superposition") && out.contains("‖W_i‖"),
        "{out}"
    );
    let (png, svg) = (prefix.with_extension("png"), prefix.with_extension("svg"));
    // Default layout: one row of matrices over one row of bars.
    let (w, h) = png_dims(&png);
    assert_eq!(w, 2 * 520);
    assert!(h > 2 * 460 && h < 3 * 460, "{h}");
    let words = svg_words(&svg);
    for label in [
        "hexagon.json: WᵀW | b",
        "untied.json: W_out W | b",
        "‖W_i‖, superposition",
        "feature i",
        "superposition (clamped at 1)",
        "(WᵀW)ᵢⱼ and bᵢ",
        "b",
    ] {
        assert!(words.contains(label), "SVG lacks {label}");
    }
    // JSON lists each feature's norm and superposition.
    let v = binary::json(&["geometry", t, "--matrices", "--json", "--out", p]);
    assert_eq!(binary::floats(&v["norms"]).len(), 6);
    for s in binary::floats(&v["superposition"]) {
        assert!((s - 2.0).abs() < 1e-12, "hexagon superposition {s}");
    }
    // A weights stack (2 instances, m = 2, n = 3) and --columns 1: each model in its own row
    // pair (matrix above bars).
    let stack = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/weights/notebook_fh_f32.npz");
    let p2 = dir.path().join("stack");
    stdout(&tms(&[
        "geometry",
        stack.to_str().unwrap(),
        "--matrices",
        "--columns",
        "1",
        "--label",
        "first",
        "--label",
        "second",
        "--out",
        p2.to_str().unwrap(),
    ]));
    let (w, h) = png_dims(&p2.with_extension("png"));
    assert_eq!(w, 520);
    assert!(h > 4 * 460, "{h}");
    let words = svg_words(&p2.with_extension("svg"));
    assert!(words.contains("first: WᵀW | b") && words.contains("second: ‖W_i‖"));
    // --instance picks one model of the stack; three models in rows of two keep each bar
    // chart under its matrix (a blank cell pads the short row).
    let p3 = dir.path().join("three");
    stdout(&tms(&[
        "geometry",
        t,
        u,
        t,
        "--matrices",
        "--columns",
        "2",
        "--out",
        p3.to_str().unwrap(),
    ]));
    let (w, h) = png_dims(&p3.with_extension("png"));
    assert_eq!(w, 2 * 520);
    assert!(h > 4 * 460 && h < 5 * 460, "{h}");
    let p4 = dir.path().join("one");
    stdout(&tms(&[
        "geometry",
        stack.to_str().unwrap(),
        "--instance",
        "1",
        "--matrices",
        "--out",
        p4.to_str().unwrap(),
    ]));
    assert_eq!(png_dims(&p4.with_extension("png")).0, 520);

    // Bad input: one line, exit 2, no picture.
    let bad = dir.path().join("bad");
    let b = bad.to_str().unwrap();
    assert_usage_error("no --out", &tms(&["geometry", t, "--matrices"]), "--out");
    let missing = dir.path().join("missing.json");
    assert_usage_error(
        "missing file",
        &tms(&[
            "geometry",
            missing.to_str().unwrap(),
            "--matrices",
            "--out",
            b,
        ]),
        "missing.json",
    );
    assert_usage_error(
        "with --sweep",
        &tms(&[
            "geometry",
            "--sweep",
            "--n",
            "3",
            "--m",
            "2",
            "--matrices",
            "--out",
            b,
        ]),
        "--matrices",
    );
    assert_usage_error(
        "instance out of range",
        &tms(&[
            "geometry",
            stack.to_str().unwrap(),
            "--instance",
            "5",
            "--matrices",
            "--out",
            b,
        ]),
        "--instance 5",
    );
    assert!(!bad.with_extension("png").exists() && !bad.with_extension("svg").exists());
}
