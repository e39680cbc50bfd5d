//! The symbolic module against the exact rational engine: every formula, re-evaluated at
//! rational points, equals `integrals::rational::exact_loss`; hand-checkable closed forms;
//! root isolation against known roots; the paper's boundary 4r/(2+5r).

mod common;

use std::collections::BTreeMap;

use num_bigint::BigInt;
use num_rational::BigRational;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tms_exact::configurations::{configurations, find};
use tms_exact::data::{Data, PerFeature};
use tms_exact::loss;
use tms_exact::model::{Activation, Model};
use tms_exact::objective::Objective;
use tms_exact::route::rational::exact_loss;
use tms_exact::symbolic::boundary::{
    boundary_at, boundary_symbolic, config_loss, difference, BoundaryAtR, End, R,
};
use tms_exact::symbolic::formula::{
    density_formula, locate, Located, Point, SymbolicModel, Symbols,
};
use tms_exact::symbolic::mcgrath;
use tms_exact::symbolic::poly::{Poly, UPoly};
use tms_exact::symbolic::ratfunc::RatFunc;
use tms_exact::symbolic::roots::{real_roots, RealRoot};
use tms_exact::tolerance::loss_close;

use common::{build, config, Dist, Regime, Spec, REGIMES};

type Q = BigRational;

fn q(a: i64, b: i64) -> Q {
    Q::new(BigInt::from(a), BigInt::from(b))
}

fn exact(x: f64) -> Q {
    Q::from_float(x).unwrap()
}

/// A random dyadic rational in (0, 1] with denominator 2^10 (exact as an f64).
fn dyadic01(rng: &mut ChaCha8Rng) -> f64 {
    rng.random_range(1..=1024) as f64 / 1024.0
}

fn objective(n: usize, s: f64, imp: &[f64], act: Activation) -> Objective {
    let data = Data::new(n)
        .unwrap()
        .with_density(&PerFeature::Constant(s))
        .unwrap()
        .with_importance(&PerFeature::List(imp.to_vec()))
        .unwrap();
    Objective::new(data).with_activation(act)
}

fn density_point(s: f64) -> Point {
    let mut p = Point::new();
    p.insert("s".into(), exact(s));
    p
}

#[test]
fn hand_checkable_closed_forms() {
    let s = Poly::var("s");
    let dropped = s.scale(&q(1, 3)).sub(&s.pow(2).scale(&q(1, 4)));
    let anti = s.pow(2).scale(&q(1, 6));
    // A dropped feature with bias s/2 (W = [1, 0]).
    let model = Model::from_rows(&[vec![1.0, 0.0]], &[0.0, 0.0]).unwrap();
    let b = vec![Poly::zero(), s.scale(&q(1, 2))];
    let sm = SymbolicModel::numeric(&model, Activation::Relu, Some(b)).unwrap();
    let f = &density_formula(&sm, &Symbols::default()).unwrap()[0].formula;
    assert_eq!(f.per_feature[1], RatFunc::poly(dropped.clone()));
    assert_eq!(
        f.render(
            &Symbols::default(),
            tms_exact::symbolic::print::Style::Plain
        ),
        "I2*(s/3 - s^2/4)"
    );
    // The antipodal pair W = [1, −1], b = 0: (I1 + I2) s²/6.
    let model = Model::from_rows(&[vec![1.0, -1.0]], &[0.0, 0.0]).unwrap();
    let sm = SymbolicModel::numeric(&model, Activation::Relu, None).unwrap();
    let f = &density_formula(&sm, &Symbols::default()).unwrap()[0].formula;
    assert_eq!(f.per_feature, vec![RatFunc::poly(anti.clone()); 2]);
    assert_eq!(
        f.render(
            &Symbols::default(),
            tms_exact::symbolic::print::Style::Sympy
        ),
        "(I1 + I2)*(s**2/6)"
    );
}

#[test]
fn configurations_match_the_paper() {
    // L as a polynomial in s and r, against paper-notes.md.
    let s = Poly::var("s");
    let r = Poly::var(R);
    let dropped = s.scale(&q(1, 3)).sub(&s.pow(2).scale(&q(1, 4)));
    let anti_r = Poly::one().add(&r).mul(&s.pow(2)).scale(&q(1, 6));
    let want = |n: usize, name: &str| -> Poly {
        match (n, name) {
            (_, "not-represented") => r.mul(&dropped),
            (_, "dedicated") => dropped.clone(),
            (_, "antipodal") => anti_r.clone(),
            (3, "others-antipodal") => s.pow(2).scale(&q(1, 3)),
            _ => unreachable!(),
        }
    };
    for (n, m) in [(2, 1), (3, 2)] {
        for c in configurations(n, m).unwrap() {
            let l = config_loss(&c, Activation::Relu).unwrap();
            assert_eq!(l, want(n, c.name), "{n} {}", c.name);
            // …and the numeric engine at dyadic densities and r.
            for (sv, rv) in [(0.125, 0.5), (0.75, 3.0), (1.0, 0.25)] {
                let obj = objective(n, sv, &c.importance(rv), Activation::Relu);
                let e = exact_loss(&c.model(sv).unwrap(), &obj).unwrap().loss;
                let mut pt = BTreeMap::new();
                pt.insert("s".to_string(), exact(sv));
                pt.insert(R.to_string(), exact(rv));
                assert_eq!(l.eval(&pt).unwrap(), e, "{} at s={sv}, r={rv}", c.name);
            }
        }
    }
}

#[test]
fn paper_boundaries_in_r() {
    let r = Poly::var(R);
    let lin = |a: i64, b: i64| r.scale(&q(a, 1)).add(&Poly::constant(q(b, 1)));
    let cases = [
        (
            2,
            1,
            "not-represented",
            "antipodal",
            RatFunc::new(r.scale(&q(4, 1)), lin(5, 2)),
            None,
        ),
        (
            2,
            1,
            "dedicated",
            "antipodal",
            RatFunc::new(Poly::constant(q(4, 1)), lin(2, 5)),
            None,
        ),
        (
            3,
            2,
            "not-represented",
            "antipodal",
            RatFunc::new(r.scale(&q(4, 1)), lin(5, 2)),
            None,
        ),
        (
            3,
            2,
            "others-antipodal",
            "not-represented",
            RatFunc::new(r.scale(&q(4, 1)), lin(3, 4)),
            Some(q(4, 1)),
        ),
    ];
    for (n, m, a, b, want, hi) in cases {
        let d = difference(
            &find(n, m, a).unwrap(),
            &find(n, m, b).unwrap(),
            Activation::Relu,
        )
        .unwrap();
        let sb = boundary_symbolic(&d).unwrap();
        assert_eq!(sb.branches.len(), 1, "{a}/{b}");
        assert_eq!(sb.branches[0].density, want, "{a}/{b}");
        let v = &sb.branches[0].valid;
        assert_eq!(v.len(), 1);
        match &hi {
            None => assert_eq!(v[0].hi, End::Infinity),
            Some(h) => {
                assert_eq!(v[0].hi, End::At(RealRoot::Rational(h.clone())));
                assert!(v[0].hi_closed);
            }
        }
        // At rational r the isolated root is the formula's value, exactly.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..10 {
            let rv = q(rng.random_range(1..200), rng.random_range(1..50));
            let mut pt = BTreeMap::new();
            pt.insert(R.to_string(), rv.clone());
            let sv = want.eval(&pt).unwrap();
            match boundary_at(&d, &rv).unwrap() {
                BoundaryAtR::Roots(roots) => {
                    if sv <= q(1, 1) {
                        assert_eq!(roots, vec![RealRoot::Rational(sv)], "{a}/{b} r={rv}");
                    } else {
                        assert!(roots.is_empty());
                    }
                }
                BoundaryAtR::Everywhere => panic!("{a}/{b}: tie at r = {rv}"),
            }
        }
    }
    // dedicated vs not-represented: a tie at r = 1, no boundary density otherwise.
    let d = difference(
        &find(2, 1, "dedicated").unwrap(),
        &find(2, 1, "not-represented").unwrap(),
        Activation::Relu,
    )
    .unwrap();
    let sb = boundary_symbolic(&d).unwrap();
    assert_eq!(sb.ties, vec![RealRoot::Rational(q(1, 1))]);
    assert!(sb.branches.iter().all(|b| b.valid.is_empty()));
    assert_eq!(boundary_at(&d, &q(1, 1)).unwrap(), BoundaryAtR::Everywhere);
}

#[test]
fn roots_against_known_roots() {
    // Π (x − k/7) for k = 1..6 times (x² − 3): six rational roots in (0,1], ±√3 outside.
    let x = Poly::var("x");
    let mut p = x.pow(2).sub(&Poly::constant(q(3, 1)));
    for k in 1..=6 {
        p = p.mul(&x.sub(&Poly::constant(q(k, 7))));
    }
    let u = UPoly::from_poly(&p, "x").unwrap();
    let roots = real_roots(&u, &q(0, 1), &q(1, 1), false, true).unwrap();
    let want: Vec<RealRoot> = (1..=6).map(|k| RealRoot::Rational(q(k, 7))).collect();
    assert_eq!(roots, want);
    let all = real_roots(&u, &q(-4, 1), &q(4, 1), false, false).unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(
        all[7].decimal(40),
        "1.7320508075688772935274463415058723669428"
    );
    assert_eq!(all[0].decimal(5), "-1.73205");
    // Chebyshev T_9: roots cos((2k−1)π/18), all simple and irrational but one (0).
    let mut t0 = Poly::one();
    let mut t1 = x.clone();
    for _ in 1..9 {
        let t2 = x.mul(&t1).scale(&q(2, 1)).sub(&t0);
        t0 = t1;
        t1 = t2;
    }
    let u = UPoly::from_poly(&t1, "x").unwrap();
    let roots = real_roots(&u, &q(-1, 1), &q(1, 1), true, true).unwrap();
    assert_eq!(roots.len(), 9);
    for (k, r) in roots.iter().enumerate() {
        let want = (std::f64::consts::PI * (2.0 * (9 - k) as f64 - 1.0) / 18.0).cos();
        assert!(
            (r.to_f64() - want).abs() < 1e-15,
            "{k}: {} vs {want}",
            r.to_f64()
        );
    }
    assert_eq!(roots[4], RealRoot::Rational(q(0, 1)));
    // A double root is found once (squarefree part).
    let d = UPoly::from_poly(&x.sub(&Poly::constant(q(1, 3))).pow(3), "x").unwrap();
    assert_eq!(
        real_roots(&d, &q(0, 1), &q(1, 1), false, true).unwrap(),
        vec![RealRoot::Rational(q(1, 3))]
    );
}

/// Random models in every regime (zero columns, tiny, cancelling, nearly orthogonal, …): the
/// density polynomial at random dyadic densities and importances equals the exact loss, and
/// the f64 closed form agrees within the crate's tolerance.
#[test]
fn density_formula_equals_exact_loss() {
    let acts = [
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.25 },
        Activation::Linear,
    ];
    let strategy = (2usize..=3, 1usize..=2, 0usize..6, 0usize..3, any::<u64>());
    proptest!(config(40, 11), |((n, m, reg, a, seed) in strategy)| {
        let act = acts[a];
        let spec = Spec { n, m, tied: seed % 3 != 0, act, dist: Dist::Independent,
            reduction: tms_exact::objective::Reduction::Sum, regime: REGIMES[reg], seed };
        let (model, _) = build(&spec);
        let sm = SymbolicModel::numeric(&model, act, None).unwrap();
        let pieces = density_formula(&sm, &Symbols::default()).unwrap();
        prop_assert_eq!(pieces.len(), 1);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..3 {
            let s = dyadic01(&mut rng);
            let imp: Vec<f64> = (0..n).map(|_| dyadic01(&mut rng) * 4.0).collect();
            let obj = objective(n, s, &imp, act);
            let want = exact_loss(&model, &obj).unwrap().loss;
            let iq: Vec<Q> = imp.iter().map(|&x| exact(x)).collect();
            let got = pieces[0].formula.eval(&density_point(s), &iq).unwrap();
            prop_assert_eq!(&got, &want, "{:?} s={}", spec, s);
            let closed = loss::loss(&model, &obj).unwrap().loss;
            let total: f64 = imp.iter().sum();
            let ef = tms_exact::route::rational::to_f64(&want);
            prop_assert!(loss_close(closed, ef, total), "closed {} exact {}", closed, ef);
        }
    });
}

/// A bias polynomial in s that crosses a kink inside (0, 1): the formula is piecewise, each
/// piece equals the exact loss at densities inside it.
#[test]
fn piecewise_in_density() {
    // Feature 1: f = x1·1 + (s − 1/2)·… — bias s − 1/2 changes sign at s = 1/2, and
    // 1/4 − s·3/4 at s = 1/3.
    let model = Model::from_rows(&[vec![1.0, 0.5]], &[0.0, 0.0]).unwrap();
    let s = Poly::var("s");
    let b = vec![
        s.sub(&Poly::constant(q(1, 2))),
        Poly::constant(q(1, 4)).sub(&s.scale(&q(3, 4))),
    ];
    let sm = SymbolicModel::numeric(&model, Activation::Relu, Some(b)).unwrap();
    let pieces = density_formula(&sm, &Symbols::default()).unwrap();
    assert!(pieces.len() >= 3, "{} pieces", pieces.len());
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..60 {
        let sv = dyadic01(&mut rng);
        let sq = exact(sv);
        let piece = pieces
            .iter()
            .find(|p| p.lo.lower() <= &sq && &sq <= p.hi.upper())
            .unwrap();
        let bias = [sv - 0.5, 0.25 - 0.75 * sv];
        let m = model
            .clone()
            .with_b(nalgebra::DVector::from_column_slice(&bias))
            .unwrap();
        let imp = [1.0, 0.75];
        let want = exact_loss(&m, &objective(2, sv, &imp, Activation::Relu))
            .unwrap()
            .loss;
        let got = piece
            .formula
            .eval(&density_point(sv), &[exact(imp[0]), exact(imp[1])])
            .unwrap();
        assert_eq!(got, want, "s = {sv}");
    }
}

/// The region formula in the symbols of W and b: at the model's point and at random points of
/// the same region it equals the exact loss.
#[test]
fn region_formula_equals_exact_loss_in_its_region() {
    let strategy = (2usize..=3, 1usize..=2, any::<u64>());
    proptest!(config(16, 5), |((n, m, seed) in strategy)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = |rng: &mut ChaCha8Rng| rng.random_range(-24i32..=24) as f64 / 16.0;
        let w: Vec<Vec<f64>> = (0..m).map(|_| (0..n).map(|_| d(&mut rng)).collect()).collect();
        let b: Vec<f64> = (0..n).map(|_| d(&mut rng) + 1.0 / 1024.0).collect();
        let model = Model::from_rows(&w, &b).unwrap();
        let (sm, point) = SymbolicModel::weights(&model, Activation::Relu, false).unwrap();
        let f = match locate(&sm, &point, &Symbols::default()).unwrap() {
            Located::Inside(f) => f,
            Located::OnBoundary { adjacent, .. } => {
                // Kinks are exact here; then every adjacent formula agrees at the point.
                prop_assert!(!adjacent.is_empty());
                adjacent[0].clone()
            }
        };
        let mut tried = 0;
        for k in 0..40 {
            // Small dyadic steps from the point; keep those inside the region.
            let mut p = point.clone();
            let mut vals = w.clone();
            let mut bias = b.clone();
            if k > 0 {
                for (h, row) in vals.iter_mut().enumerate() {
                    for (j, x) in row.iter_mut().enumerate() {
                        *x += rng.random_range(-8i32..=8) as f64 / 1024.0;
                        let name = if m == 1 { format!("w{}", j + 1) } else { format!("w{}_{}", h + 1, j + 1) };
                        p.insert(name, exact(*x));
                    }
                }
                for (i, x) in bias.iter_mut().enumerate() {
                    *x += rng.random_range(-8i32..=8) as f64 / 1024.0;
                    p.insert(format!("b{}", i + 1), exact(*x));
                }
            }
            if !f.conditions.iter().all(|c| c.holds(&p) == Some(true)) {
                continue;
            }
            tried += 1;
            let sv = dyadic01(&mut rng);
            p.insert("s".into(), exact(sv));
            let imp: Vec<f64> = (0..n).map(|_| dyadic01(&mut rng)).collect();
            let mdl = Model::from_rows(&vals, &bias).unwrap();
            let want = exact_loss(&mdl, &objective(n, sv, &imp, Activation::Relu)).unwrap().loss;
            let iq: Vec<Q> = imp.iter().map(|&x| exact(x)).collect();
            prop_assert_eq!(f.eval(&p, &iq).unwrap(), want);
        }
        prop_assert!(tried >= 1);
    });
}

#[test]
fn point_on_a_region_boundary_is_reported_with_adjacent_formulas() {
    // Biases as symbols at b = 0: the vertex value b_i vanishes.
    let model = Model::from_rows(&[vec![1.0, -1.0]], &[0.0, 0.0]).unwrap();
    let (sm, point) = SymbolicModel::weights(&model, Activation::Relu, false).unwrap();
    match locate(&sm, &point, &Symbols::default()).unwrap() {
        Located::OnBoundary { forms, adjacent } => {
            assert!(forms.contains(&Poly::var("b1")), "{forms:?}");
            assert!(adjacent.len() >= 2);
            // The loss is continuous: every adjacent formula takes the same value here.
            let mut p = point.clone();
            p.insert("s".into(), q(1, 3));
            let imp = [q(1, 1), q(2, 3)];
            let v0 = adjacent[0].eval(&p, &imp).unwrap();
            for a in &adjacent {
                assert_eq!(a.eval(&p, &imp).unwrap(), v0);
            }
        }
        Located::Inside(_) => panic!("b = 0 is a kink"),
    }
    // With the biases fixed at 0 (McGrath's setting) the antipodal point is still on a
    // boundary (w1 + w2 = 0), while W = [1, −1/2] is inside a region.
    let (sm, point) = SymbolicModel::weights(&model, Activation::Relu, true).unwrap();
    assert!(matches!(
        locate(&sm, &point, &Symbols::default()).unwrap(),
        Located::OnBoundary { .. }
    ));
    let model = Model::from_rows(&[vec![1.0, -0.5]], &[0.0, 0.0]).unwrap();
    let (sm, point) = SymbolicModel::weights(&model, Activation::Relu, true).unwrap();
    assert!(matches!(
        locate(&sm, &point, &Symbols::default()).unwrap(),
        Located::Inside(_)
    ));
}

#[test]
fn mcgrath_pieces_cover_the_plane_and_equal_the_engine() {
    let symbols = Symbols::default();
    let pieces = mcgrath::pieces(&symbols).unwrap();
    // Three sector formulas (opposite sectors merged), two axes, the origin.
    assert_eq!(pieces.len(), 6);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for _ in 0..200 {
        let w1 = rng.random_range(-64i32..=64) as f64 / 16.0;
        let w2 = if rng.random::<f64>() < 0.1 {
            0.0
        } else {
            rng.random_range(-64i32..=64) as f64 / 16.0
        };
        if w1 + w2 == 0.0 && w1 != 0.0 {
            continue; // the antidiagonal: a boundary between sectors
        }
        let mut p = Point::new();
        p.insert("w1".into(), exact(w1));
        p.insert("w2".into(), exact(w2));
        let inside: Vec<&mcgrath::Piece> = pieces
            .iter()
            .filter(|pc| {
                pc.regions
                    .iter()
                    .any(|r| r.iter().all(|c| c.holds(&p) == Some(true)))
            })
            .collect();
        assert_eq!(inside.len(), 1, "w = ({w1}, {w2})");
        let sv = dyadic01(&mut rng);
        p.insert("s".into(), exact(sv));
        let imp = [dyadic01(&mut rng), dyadic01(&mut rng)];
        let model = Model::from_rows(&[vec![w1, w2]], &[0.0, 0.0]).unwrap();
        let obj = objective(2, sv, &imp, Activation::Relu);
        let want = exact_loss(&model, &obj).unwrap().loss;
        let got = inside[0]
            .formula
            .eval(&p, &[exact(imp[0]), exact(imp[1])])
            .unwrap();
        assert_eq!(got, want, "w = ({w1}, {w2}), s = {sv}");
        // And the numeric engine (f64 closed form).
        let closed = loss::loss(&model, &obj).unwrap().loss;
        let ef = tms_exact::route::rational::to_f64(&want);
        assert!(loss_close(closed, ef, imp.iter().sum()), "{closed} vs {ef}");
    }
}

#[test]
fn clashing_and_reserved_symbols_are_refused() {
    let taken: std::collections::BTreeSet<String> = ["w1".to_string()].into();
    let s = |d: &str, p: &str| Symbols {
        density: d.into(),
        importance_prefix: p.into(),
    };
    assert!(s("s", "I").check(2, &taken).is_ok());
    assert!(s("I1", "I").check(2, &taken).is_err());
    assert!(s("w1", "I").check(2, &taken).is_err());
    assert!(s("S", "I").check(2, &taken).is_err());
    assert!(s("s", "w").check(2, &taken).is_err());
    assert!(s("1x", "I").check(2, &taken).is_err());
    let _ = Regime::Random;
}
