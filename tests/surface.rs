//! Loss surfaces: grid values against the engine and the exact rational route, profiled
//! biases against perturbations and the general minimiser, the written files, bad input.

mod binary;

use nalgebra::DVector;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use tms_exact::data::{Data, PerFeature};
use tms_exact::loss;
use tms_exact::model::{Activation, Model};
use tms_exact::objective::Objective;
use tms_exact::optimize::{minimize_local, MinimizeOptions};
use tms_exact::route::rational::{exact_loss, to_f64};
use tms_exact::route::ClosedForm as Evaluator;
use tms_exact::shape::Shape;
use tms_exact::surface::{self, profile_biases, BiasMode, Directions, GridSpec, Surface};
use tms_exact::tolerance::{self, loss_close};

use binary::{assert_usage_error, stdout, tms};

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

fn objective(density: f64, importance: Vec<f64>) -> Objective {
    let data = Data::new(importance.len())
        .unwrap()
        .with_density(&PerFeature::Constant(density))
        .unwrap()
        .with_importance(&PerFeature::List(importance))
        .unwrap();
    Objective::new(data)
}

/// Parses a surface CSV: header and rows of numbers.
fn read_csv(text: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(|t| t.parse::<f64>().unwrap()).collect())
        .collect();
    (header, rows)
}

#[test]
fn csv_values_are_the_engines_loss_at_those_weights_and_biases() {
    let obj = objective(0.1, vec![1.0, 0.5]);
    let grid = GridSpec::new(9, (-1.5, 1.5), (-1.0, 1.25)).unwrap();
    let s = surface::pair_surface(
        &obj,
        &grid,
        &[BiasMode::Fixed(vec![0.125, -0.25]), BiasMode::Profiled],
        &tms_exact::progress::Silent,
    )
    .unwrap();
    let (header, rows) = read_csv(&surface::to_csv(&s));
    assert_eq!(
        header,
        [
            "w1",
            "w2",
            "loss",
            "b1",
            "b2",
            "profiled_loss",
            "profiled_b1",
            "profiled_b2"
        ]
    );
    assert_eq!(rows.len(), 81);
    let total: f64 = obj.weights().iter().sum();
    for (k, r) in rows.iter().enumerate() {
        // x varies fastest; the corners are the range's ends exactly.
        assert_eq!(r[0], s.xs[k % 9]);
        assert_eq!(r[1], s.ys[k / 9]);
        for (l, b) in [(r[2], [r[3], r[4]]), (r[5], [r[6], r[7]])] {
            let model = Model::from_rows(&[vec![r[0], r[1]]], &b).unwrap();
            // Bit for bit the engine's value (the CSV keeps shortest round-trip decimals)…
            assert_eq!(l, loss::loss(&model, &obj).unwrap().loss);
            // …and within the closed form's bar of the exact rational value.
            let exact = to_f64(&exact_loss(&model, &obj).unwrap().loss);
            assert!(loss_close(l, exact, total), "{l} vs {exact}");
        }
        assert_eq!((r[3], r[4]), (0.125, -0.25));
    }
    assert_eq!(*rows.last().unwrap().first().unwrap(), 1.5);
    assert_eq!(rows.last().unwrap()[1], 1.25);
}

/// Checks that `b` minimises the loss over the biases for the weights of `model`: zero
/// gradient in b, no lower value at perturbed biases, no lower value than the general
/// minimiser reaches with W held fixed.
fn assert_exact_bias_minimum(obj: &Objective, model: &Model, b: &DVector<f64>, value: f64) {
    let at = |b: &DVector<f64>| model.clone().with_b(b.clone()).unwrap();
    let (lv, g) = loss::loss_and_gradient(&at(b), obj).unwrap();
    assert_eq!(lv.loss, value);
    let scale = value.abs().max(1.0);
    assert!(
        g.b.amax() <= tolerance::PROFILE_GRAD * scale,
        "∂L/∂b = {:?} at b = {:?}",
        g.b.as_slice(),
        b.as_slice()
    );
    let floor = value - tolerance::LOSS_REL * value.abs() - 1e-15;
    for i in 0..b.len() {
        for step in [1e-6, 1e-3, 0.05, 0.3, 1.0, 3.0] {
            for sign in [-1.0, 1.0] {
                let mut p = b.clone();
                p[i] += sign * step;
                let v = loss::loss(&at(&p), obj).unwrap().loss;
                assert!(v >= floor, "b[{i}] {:+e}: {v} < {value}", sign * step);
            }
        }
    }
    // The general minimiser, W held fixed, from several bias starts.
    let mut opts = MinimizeOptions::new();
    for (k, w) in model.w().iter().enumerate() {
        opts = opts.with_fixed(k, *w).unwrap();
    }
    for start in [-1.0, -0.2, 0.0, 0.3, 1.0] {
        let s = model
            .clone()
            .with_b(DVector::from_element(b.len(), start))
            .unwrap();
        let lm = minimize_local(obj, &s, &opts).unwrap();
        assert!(
            value <= lm.loss + tolerance::LOSS_REL * lm.loss.abs() + 1e-15,
            "minimiser from b = {start} reached {} < profiled {value}",
            lm.loss
        );
    }
}

proptest! {
    #![proptest_config(config(24, 0x5eed_b1a5))]

    #[test]
    fn profiled_biases_are_the_exact_minimum_over_b(
        w1 in -1.6f64..1.6,
        w2 in -1.6f64..1.6,
        density in 0.02f64..1.0,
        r in 0.1f64..3.0,
    ) {
        let obj = objective(density, vec![1.0, r]);
        let model = Model::from_rows(&[vec![w1, w2]], &[0.0, 0.0]).unwrap();
        let mut ev = Evaluator::new(obj.clone()).unwrap();
        let (b, v) = profile_biases(&mut ev, &model).unwrap();
        assert_exact_bias_minimum(&obj, &model, &b, v);
    }

    #[test]
    fn profiled_biases_of_larger_and_leaky_models(
        seed in 0u64..1000,
        alpha in 0.0f64..0.3,
    ) {
        // n = 3, m = 2 with leaky ReLU: the per-feature problems are not convex either.
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 3.0 - 1.5
        };
        let rows = vec![(0..3).map(|_| next()).collect(), (0..3).map(|_| next()).collect()];
        let model = Model::from_rows(&rows, &[0.0; 3]).unwrap();
        let obj = objective(0.3, vec![1.0, 0.7, 0.4]).with_activation(Activation::LeakyRelu { alpha });
        let mut ev = Evaluator::new(obj.clone()).unwrap();
        let (b, v) = profile_biases(&mut ev, &model).unwrap();
        assert_exact_bias_minimum(&obj, &model, &b, v);
    }
}

#[test]
fn profiled_biases_at_special_weights() {
    // W = 0 (both features dropped: b_i = p/2 exactly in value), a feature dropped, an
    // antipodal pair, and dyadic weights where the bias optimum can sit on a kink.
    let obj = objective(0.1, vec![1.0, 0.5]);
    let mut ev = Evaluator::new(obj.clone()).unwrap();
    for w in [
        [0.0, 0.0],
        [1.0, 0.0],
        [1.0, -1.0],
        [0.5, 0.25],
        [1e-9, -1e-9],
    ] {
        let model = Model::from_rows(&[w.to_vec()], &[0.0, 0.0]).unwrap();
        let (b, v) = profile_biases(&mut ev, &model).unwrap();
        assert_exact_bias_minimum(&obj, &model, &b, v);
    }
    let zero = Model::from_rows(&[vec![0.0, 0.0]], &[0.0, 0.0]).unwrap();
    let (b, v) = profile_biases(&mut ev, &zero).unwrap();
    // Each dropped feature: bias p/2, loss I (p/3 − p²/4).
    assert!(
        (b[0] - 0.05).abs() < 1e-9 && (b[1] - 0.05).abs() < 1e-9,
        "{b:?}"
    );
    let want = 1.5 * (0.1 / 3.0 - 0.01 / 4.0);
    assert!((v - want).abs() < 1e-15, "{v} vs {want}");
}

#[test]
fn census_minima_are_marked_with_their_losses_and_lie_below_the_grid() {
    // Sparse data, unequal importances: the antipodal minimum and its mirror image.
    let obj = objective(0.1, vec![1.0, 0.5]);
    let grid = GridSpec::new(41, (-1.5, 1.5), (-1.5, 1.5)).unwrap();
    let s = surface::pair_surface(
        &obj,
        &grid,
        &[BiasMode::Fixed(vec![0.0, 0.0])],
        &tms_exact::progress::Silent,
    )
    .unwrap();
    let layer = &s.layers[0];
    let minima: Vec<_> = layer.marks.iter().filter(|m| m.kind == "minimum").collect();
    assert!(minima.len() >= 2, "{:?}", layer.marks);
    let grid_min = layer.loss.iter().copied().fold(f64::INFINITY, f64::min);
    let best = minima.iter().map(|m| m.loss).fold(f64::INFINITY, f64::min);
    assert!(best <= grid_min, "{best} > {grid_min}");
    for m in &minima {
        let model = Model::from_rows(&[vec![m.x, m.y]], &[0.0, 0.0]).unwrap();
        let l = loss::loss(&model, &obj).unwrap().loss;
        assert!(loss_close(l, m.loss, 1.5), "{l} vs {}", m.loss);
        // W → −W is marked too, with the mirror basin: the grid is symmetric under it.
        let mirror = minima
            .iter()
            .find(|o| (o.x + m.x).abs() < 1e-9 && (o.y + m.y).abs() < 1e-9)
            .expect("the mirror minimum");
        let (a, b) = (m.basin_share.unwrap(), mirror.basin_share.unwrap());
        assert!(
            a > 0.0 && (a - b).abs() <= 2.0 / (41.0 * 41.0),
            "{a} vs {b}"
        );
    }
    let total: f64 = minima.iter().filter_map(|m| m.basin_share).sum();
    assert!(total <= 1.0 + 1e-12 && total > 0.5, "{total}");
    // Each grid point's steepest descent on the grid: recompute one basin by hand from the
    // CSV values and compare.
    let n = 41;
    let descend = |mut k: usize| loop {
        let (ix, iy) = ((k % n) as i64, (k / n) as i64);
        let mut best = k;
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (jx, jy) = (ix + dx, iy + dy);
                if (0..n as i64).contains(&jx) && (0..n as i64).contains(&jy) {
                    let j = (jy * n as i64 + jx) as usize;
                    if layer.loss[j] < layer.loss[best] {
                        best = j;
                    }
                }
            }
        }
        if best == k {
            return k;
        }
        k = best;
    };
    let low = minima
        .iter()
        .min_by(|a, b| a.loss.total_cmp(&b.loss).then(a.x.total_cmp(&b.x)))
        .unwrap();
    let h = 3.0 / 40.0;
    let count = (0..n * n)
        .filter(|&k| {
            let sink = descend(k);
            let (x, y) = (s.xs[sink % n], s.ys[sink / n]);
            ((x - low.x) / h).hypot((y - low.y) / h) <= 2.0
        })
        .count();
    assert_eq!(low.basin_share.unwrap(), count as f64 / (n * n) as f64);
}

fn plane_model() -> (Model, Objective) {
    let rows = vec![vec![0.9, -0.3, 0.1], vec![0.2, 0.8, -0.7]];
    let model = Model::from_rows(&rows, &[0.05, -0.1, 0.0]).unwrap();
    (model, objective(0.2, vec![1.0, 0.8, 0.6]))
}

fn plane_value(s: &Surface, a: f64, b: f64) -> Vec<f64> {
    let p0 = s.origin.as_ref().unwrap();
    let [d1, d2] = s.directions.as_ref().unwrap();
    p0.iter()
        .zip(d1.iter().zip(d2))
        .map(|(p, (u, v))| p + a * u + b * v)
        .collect()
}

#[test]
fn plane_values_are_the_loss_along_the_stated_directions() {
    let (model, obj) = plane_model();
    let grid = GridSpec::new(7, (-1.0, 1.0), (-0.5, 0.5)).unwrap();
    for dirs in [Directions::Random { seed: 3 }, Directions::Hessian] {
        let s = surface::plane_surface(
            &obj,
            &model,
            "m",
            &dirs,
            &grid,
            &tms_exact::progress::Silent,
        )
        .unwrap();
        let (header, rows) = read_csv(&surface::to_csv(&s));
        assert_eq!(header, ["alpha", "beta", "loss"]);
        assert_eq!(rows.len(), 49);
        for r in &rows {
            let m = model.from_vec_like(&plane_value(&s, r[0], r[1])).unwrap();
            let want = loss::loss(&m, &obj).unwrap().loss;
            assert!(loss_close(r[2], want, 2.4), "{} vs {want}", r[2]);
        }
        // The origin is the model itself.
        let origin = s.layers[0].marks.iter().find(|m| m.source == "m").unwrap();
        assert_eq!((origin.x, origin.y), (0.0, 0.0));
        assert!(loss_close(
            origin.loss,
            loss::loss(&model, &obj).unwrap().loss,
            2.4
        ));
    }
}

#[test]
fn random_directions_are_filter_normalised_and_hessian_ones_avoid_the_symmetry() {
    let (model, obj) = plane_model();
    let p = model.to_vec();
    let [d1, d2] =
        surface::plane_directions(&obj, &model, &Directions::Random { seed: 1 }).unwrap();
    // Each feature's column of W and the bias block have the model's norm there.
    let norm = |v: &[f64], ks: &[usize]| ks.iter().map(|&k| v[k] * v[k]).sum::<f64>().sqrt();
    for d in [&d1, &d2] {
        for ks in [vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7, 8]] {
            assert!((norm(d, &ks) - norm(&p, &ks)).abs() < 1e-12);
        }
    }
    // Same seed, same directions; another seed, others.
    let again = surface::plane_directions(&obj, &model, &Directions::Random { seed: 1 }).unwrap();
    assert_eq!(again, [d1.clone(), d2]);
    let other = surface::plane_directions(&obj, &model, &Directions::Random { seed: 2 }).unwrap();
    assert_ne!(other[0], d1);
    let [h1, h2] = surface::plane_directions(&obj, &model, &Directions::Hessian).unwrap();
    let tangents = tms_exact::optimize::classify::symmetry_tangents(&p, Shape::new(3, 2, true));
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    for t in &tangents {
        let tn = dot(t, t).sqrt();
        for h in [&h1, &h2] {
            assert!(dot(t, h).abs() < 1e-9 * tn * dot(h, h).sqrt());
        }
    }
    // The lowest curvature first, orthogonal directions.
    let hess = loss::hessian(&model, &obj).unwrap();
    let curv = |h: &[f64]| {
        let v = DVector::from_column_slice(h);
        v.dot(&(&hess * &v)) / v.dot(&v)
    };
    assert!(curv(&h1) <= curv(&h2) + 1e-12);
    assert!(dot(&h1, &h2).abs() < 1e-9 * dot(&h1, &h1));
}

#[test]
fn impossible_direction_requests_are_refused() {
    let (model, obj) = plane_model();
    let zero = Model::from_rows(&[vec![0.0; 3], vec![0.0; 3]], &[0.0; 3]).unwrap();
    let e = surface::plane_directions(&obj, &zero, &Directions::Random { seed: 0 }).unwrap_err();
    assert!(e.to_string().contains("zero"), "{e}");
    let same = Directions::Towards {
        other: Box::new(model.clone()),
        name: "same.json".into(),
        seed: 0,
    };
    let e = surface::plane_directions(&obj, &model, &same).unwrap_err();
    assert!(e.to_string().contains("identical"), "{e}");
    let other = Model::from_rows(&[vec![1.0, 0.0, 0.0]], &[0.0; 3]).unwrap();
    let shape = Directions::Towards {
        other: Box::new(other),
        name: "o.json".into(),
        seed: 0,
    };
    let e = surface::plane_directions(&obj, &model, &shape).unwrap_err();
    assert!(e.to_string().contains("shape"), "{e}");
}

#[test]
fn grids_and_ranges_are_validated() {
    assert!(GridSpec::new(0, (0.0, 1.0), (0.0, 1.0)).is_err());
    assert!(GridSpec::new(1, (0.0, 1.0), (0.0, 1.0)).is_err());
    let e = GridSpec::new(100_000, (0.0, 1.0), (0.0, 1.0)).unwrap_err();
    assert!(e.to_string().contains("10000000000 points"), "{e}");
    assert!(GridSpec::new(5, (1.0, 0.0), (0.0, 1.0)).is_err());
    assert!(GridSpec::new(5, (0.0, 1.0), (2.0, 2.0)).is_err());
    assert!(GridSpec::new(5, (0.0, f64::INFINITY), (0.0, 1.0)).is_err());
    assert_eq!(
        surface::parse_range("-1:2").unwrap(),
        ((-1.0, 2.0), (-1.0, 2.0))
    );
    assert_eq!(
        surface::parse_range("-1:2,0.5:3").unwrap(),
        ((-1.0, 2.0), (0.5, 3.0))
    );
    assert!(surface::parse_range("1-2").is_err());
    assert!(surface::parse_range("a:b").is_err());
}

#[test]
fn cli_writes_csv_json_png_svg_with_the_declared_contents() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("pair");
    let o = tms(&[
        "surface",
        "--n",
        "2",
        "--m",
        "1",
        "--density",
        "0.1",
        "--importance",
        "1,0.5",
        "--both",
        "--grid",
        "12",
        "--range",
        "-1.5:1.5,-1:1",
        "--log-color",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    let text = stdout(&o);
    assert!(text.contains("b profiled"), "{text}");
    let csv = std::fs::read_to_string(dir.path().join("pair.csv")).unwrap();
    let (header, rows) = read_csv(&csv);
    assert_eq!(&header[..5], ["w1", "w2", "loss", "b1", "b2"]);
    assert_eq!(rows.len(), 144);
    let png = std::fs::read(dir.path().join("pair.png")).unwrap();
    let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((w, h), (2 * 620, 540 + 18 + 26));
    let svg = std::fs::read_to_string(dir.path().join("pair.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let all: String = doc.descendants().filter_map(|n| n.text()).collect();
    for label in ["w₁", "w₂", "loss L", "b profiled", "b fixed at (0, 0)"] {
        assert!(all.contains(label), "SVG lacks {label}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("pair.json")).unwrap())
            .unwrap();
    assert_eq!(json["layers"].as_array().unwrap().len(), 2);
    assert_eq!(json["points_per_axis"], 12);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
}

#[test]
fn cli_bad_input_is_one_line_exit_2_and_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let model = binary::write(
        dir.path(),
        "m.json",
        r#"{"W": [[1.0, -1.0]], "b": [0.0, 0.0], "data": {"density": 0.1}}"#,
    );
    let m = model.to_str().unwrap().to_string();
    let out = p("out");
    let nodir = p("no/such/dir/x");
    let missing = p("missing.json");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "surface", "--n", "2", "--m", "1", "--grid", "0", "--out", &out,
            ],
            "at least 2",
        ),
        (
            vec![
                "surface", "--n", "2", "--m", "1", "--grid", "9999", "--out", &out,
            ],
            "too large",
        ),
        (
            vec![
                "surface", "--n", "2", "--m", "1", "--range", "1:-1", "--out", &out,
            ],
            "inverted",
        ),
        (
            vec![
                "surface", "--n", "2", "--m", "1", "--range", "0:0", "--out", &out,
            ],
            "empty",
        ),
        (
            vec![
                "surface", "--n", "2", "--m", "1", "--range", "x", "--out", &out,
            ],
            "--range",
        ),
        (
            vec!["surface", "--n", "3", "--m", "1", "--out", &out],
            "--n 2 --m 1",
        ),
        (
            vec![
                "surface", "--n", "2", "--m", "1", "--bias", "1", "--out", &out,
            ],
            "--bias",
        ),
        (vec!["surface", &m, "--out", &out], "--directions"),
        (vec!["surface", &m, "--to", &m, "--out", &out], "identical"),
        (
            vec![
                "surface",
                &m,
                "--directions",
                "hessian",
                "--profile-bias",
                "--out",
                &out,
            ],
            "--profile-bias",
        ),
        (
            vec!["surface", "--n", "2", "--m", "1", "--out", &nodir],
            "does not exist",
        ),
        (vec!["geometry", &missing], "missing.json"),
    ];
    for (args, want) in &cases {
        let o = tms(args);
        assert_usage_error(&args.join(" "), &o, want);
    }
    // Only the model file: no partial CSV, JSON, PNG or SVG.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["m.json"]);
    // An existing directory where PREFIX.png would go: refused before computing.
    std::fs::create_dir(dir.path().join("taken.png")).unwrap();
    let o = tms(&[
        "surface",
        "--n",
        "2",
        "--m",
        "1",
        "--grid",
        "5",
        "--out",
        &p("taken"),
    ]);
    assert_usage_error("png is a directory", &o, "taken.png");
    assert!(!dir.path().join("taken.csv").exists());
}
