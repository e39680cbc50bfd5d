//! McGrath's stationary points solved exactly (`symbolic::stationary`): the resultant against
//! hand results and the product formula, the exact minima against the numeric engine's census
//! and gradient, a degenerate case, and bad input.

mod binary;

use std::collections::BTreeMap;

use binary::{assert_usage_error, json, stdout, tms};
use num_traits::ToPrimitive;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tms_exact::data::{Data, PerFeature};
use tms_exact::model::Model;
use tms_exact::objective::Objective;
use tms_exact::symbolic::poly::{q, Poly, UPoly, Q};
use tms_exact::symbolic::roots::RealRoot;
use tms_exact::symbolic::stationary::{resultant, stationary_points, Kind, StationaryPoint};

fn var(x: &str) -> Poly {
    Poly::var(x)
}

fn c(a: i64) -> Poly {
    Poly::constant(q(a, 1))
}

#[test]
fn resultant_hand_examples() {
    let (x, y) = (var("x"), var("y"));
    // Res_y(x² + y² − 1, y − x) = 2x² − 1 (up to sign and scale).
    let f = x.pow(2).add(&y.pow(2)).sub(&c(1));
    let g = y.sub(&x);
    let r = resultant(&f, &g, "x", "y").unwrap().unwrap();
    assert_eq!(r.monic(), UPoly::new(vec![q(-1, 2), q(0, 1), q(1, 1)]));
    // Res_y(y² − x, y² − 1) = (1 − x)²: the common roots y = ±1 at x = 1, twice.
    let r = resultant(&y.pow(2).sub(&x), &y.pow(2).sub(&c(1)), "x", "y")
        .unwrap()
        .unwrap();
    assert_eq!(r.monic(), UPoly::new(vec![q(1, 1), q(-2, 1), q(1, 1)]));
    // A common factor makes it vanish identically; nothing to eliminate gives None.
    let h = x.add(&y);
    let r = resultant(&h.mul(&x), &h.mul(&y), "x", "y")
        .unwrap()
        .unwrap();
    assert!(r.is_zero());
    assert!(resultant(&x, &x.add(&c(1)), "x", "y").unwrap().is_none());
}

/// For `f = (y − a)(y − b)` monic in y, `Res_y(f, g) = g(x, a)·g(x, b)`: an independent
/// route through substitution only.
#[test]
fn resultant_equals_product_over_roots() {
    let mut rng = ChaCha8Rng::seed_from_u64(1010);
    let (x, y) = (var("x"), var("y"));
    let small = |rng: &mut ChaCha8Rng| q(rng.random_range(-3i64..=3), 1);
    for _ in 0..20 {
        let lin = |rng: &mut ChaCha8Rng| Poly::constant(small(rng)).add(&x.scale(&small(rng)));
        let (a, b) = (lin(&mut rng), lin(&mut rng));
        let f = y.sub(&a).mul(&y.sub(&b));
        let mut g = Poly::zero();
        for i in 0..3u32 {
            for j in 0..3u32 {
                if i + j <= 3 {
                    g = g.add(&x.pow(i).mul(&y.pow(j)).scale(&small(&mut rng)));
                }
            }
        }
        if g.degree_in("y") == 0 {
            continue;
        }
        let r = resultant(&f, &g, "x", "y").unwrap().unwrap();
        let at = |root: &Poly| {
            let mut w = BTreeMap::new();
            w.insert("y".to_string(), root.clone());
            g.substitute(&w)
        };
        let want = at(&a).mul(&at(&b));
        assert_eq!(r.to_poly("x"), want, "f = {f}, g = {g}");
    }
}

fn objective(s: f64, imp: [f64; 2]) -> Objective {
    let data = Data::new(2)
        .unwrap()
        .with_density(&PerFeature::Constant(s))
        .unwrap()
        .with_importance(&PerFeature::List(imp.to_vec()))
        .unwrap();
    Objective::new(data)
}

fn mid(p: &StationaryPoint) -> (f64, f64, f64) {
    let m = |lo: &Q, hi: &Q| ((lo + hi) / q(2, 1)).to_f64().unwrap();
    (
        m(p.w1.refined.lower(), p.w1.refined.upper()),
        m(p.w2.refined.lower(), p.w2.refined.upper()),
        m(&p.loss.lo, &p.loss.hi),
    )
}

/// Every exact minimum is a census minimum (up to W → −W) and the census finds no other; the
/// engine's gradient vanishes at every exact stationary point off the axes.
#[test]
fn exact_minima_equal_the_census() {
    for (dq, dtext) in [(q(1, 10), "0.1"), (q(9, 20), "0.45"), (q(1, 1), "1")] {
        let reports = stationary_points(&dq, &[q(1, 1), q(1, 2)], 20).unwrap();
        let obj = objective(dq.to_f64().unwrap(), [1.0, 0.5]);
        let census = json(&[
            "minimize",
            "--n",
            "2",
            "--m",
            "1",
            "--no-bias",
            "--density",
            dtext,
            "--importance",
            "1,0.5",
            "--restarts",
            "32",
            "--json",
        ]);
        let cmins: Vec<(f64, f64, f64)> = census["minima"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let w = m["W"][0].as_array().unwrap();
                (
                    w[0].as_f64().unwrap(),
                    w[1].as_f64().unwrap(),
                    m["loss"].as_f64().unwrap(),
                )
            })
            .collect();
        let mut found = 0;
        for r in &reports {
            assert!(r.note.is_none(), "density {dtext}: {:?}", r.note);
            for p in &r.points {
                let (w1, w2, l) = mid(p);
                if p.axis.is_none() && p.w1.refined.lower() != p.w1.refined.upper() {
                    let model = Model::from_rows(&[vec![w1, w2]], &[0.0, 0.0]).unwrap();
                    let (e, g) = tms_exact::loss::loss_and_gradient(&model, &obj).unwrap();
                    assert!(
                        g.w.amax() < 1e-12,
                        "density {dtext}: gradient {} at ({w1}, {w2})",
                        g.w.amax()
                    );
                    assert!(((e.loss - l) / l).abs() < 1e-12, "{} vs {l}", e.loss);
                }
                if p.kind != Kind::Minimum {
                    continue;
                }
                found += 1;
                let hit = cmins.iter().any(|&(a, b, cl)| {
                    let close = |sg: f64| (a - sg * w1).abs() < 1e-9 && (b - sg * w2).abs() < 1e-9;
                    (close(1.0) || close(-1.0)) && ((cl - l) / l).abs() < 1e-12
                });
                assert!(
                    hit,
                    "density {dtext}: exact minimum ({w1}, {w2}, L = {l}) not in {cmins:?}"
                );
            }
        }
        assert_eq!(found, cmins.len(), "density {dtext}: census {cmins:?}");
    }
}

/// Density 0: the loss is 0 everywhere; every region says so instead of inventing points.
#[test]
fn density_zero_is_reported_degenerate() {
    let reports = stationary_points(&q(0, 1), &[q(1, 1), q(1, 2)], 20).unwrap();
    for r in &reports {
        // Only the origin, a single point, is listed, and its kind is left open.
        for p in &r.points {
            assert_eq!(p.w1.refined, RealRoot::Rational(q(0, 1)));
            assert_eq!(p.w2.refined, RealRoot::Rational(q(0, 1)));
            assert_eq!(p.kind, Kind::Undetermined);
        }
        assert!(
            r.note.as_deref().unwrap_or("").contains("degenerate"),
            "{:?}",
            r.note
        );
    }
    let text = stdout(&tms(&[
        "formula",
        "--mcgrath",
        "--minima",
        "--density",
        "0",
        "--importance",
        "1,1/2",
    ]));
    assert!(text.contains("degenerate"), "{text}");
    assert!(
        text.contains("local minima (one per pair W, -W): 0"),
        "{text}"
    );
    // The sympy form cannot drop unsolved regions silently.
    let o = tms(&[
        "formula",
        "--mcgrath",
        "--minima",
        "--density",
        "0",
        "--importance",
        "1,1",
        "--sympy",
    ]);
    assert_usage_error("sympy at density 0", &o, "not solved");
}

#[test]
fn cli_prints_the_minima_and_rejects_bad_input() {
    let text = stdout(&tms(&[
        "formula",
        "--mcgrath",
        "--minima",
        "--density",
        "1/10",
        "--importance",
        "1,1/2",
        "--digits",
        "12",
    ]));
    assert!(
        text.contains("local minima (one per pair W, -W): 2"),
        "{text}"
    );
    assert!(text.contains("1.010253643391"), "{text}");
    let sym = stdout(&tms(&[
        "formula",
        "--mcgrath",
        "--minima",
        "--density",
        "1",
        "--importance",
        "1,0.5",
        "--sympy",
    ]));
    assert!(
        sym.lines().all(|l| l.starts_with('(') && l.ends_with(')')),
        "{sym}"
    );
    for (label, d, i, want) in [
        ("density above 1", "3/2", "1,1/2", "density"),
        ("negative density", "-0.1", "1,1/2", "density"),
        ("non-finite density", "inf", "1,1/2", "density"),
        ("nan density", "nan", "1,1/2", "density"),
        ("one importance", "1/2", "1", "2 importances"),
        ("three importances", "1/2", "1,1,1", "2 importances"),
        ("zero importance", "1/2", "1,0", "positive"),
        ("negative importance", "1/2", "1,-1", "positive"),
        ("bad importance", "1/2", "1,x", "importance"),
    ] {
        // `--density=-0.1`: a separate "-0.1" would be read as a flag.
        let (d, i) = (format!("--density={d}"), format!("--importance={i}"));
        let o = tms(&["formula", "--mcgrath", "--minima", &d, &i]);
        assert_usage_error(label, &o, want);
    }
    let o = tms(&["formula", "--mcgrath", "--minima", "--importance", "1,1"]);
    assert_usage_error("no density", &o, "--density");
}
