//! The closed form against the exact rational loss, in random and in purpose-built degenerate
//! regimes, and against values known by hand.

mod common;

use common::{
    build, closed_vs_exact, config, record, spec_strategy, Dist, Spec, ACTIVATIONS, DISTS, REGIMES,
};
use nalgebra::{DMatrix, DVector};
use num_rational::BigRational;
use proptest::prelude::*;
use tms_exact::data::{Data, Distribution, PerFeature};
use tms_exact::loss;
use tms_exact::model::{Activation, Model};
use tms_exact::objective::{Objective, Reduction};
use tms_exact::route::rational::{exact_loss, fraction_string, to_f64};
use tms_exact::tolerance::loss_close;
use tms_exact::Error;

proptest! {
    #![proptest_config(config(400, 0x5eed_0001))]
    /// Every regime, activation, distribution, tying and reduction, n ≤ 6.
    #[test]
    fn closed_matches_exact_in_all_regimes(spec in spec_strategy(6, 4, &DISTS, &REGIMES)) {
        let (model, obj) = build(&spec);
        let rel = closed_vs_exact(&model, &obj).map_err(TestCaseError::fail)?;
        record("closed vs exact, n ≤ 6", rel);
    }
}

proptest! {
    #![proptest_config(config(48, 0x5eed_0002))]
    /// The largest size the tests promise, n = 7 or 8 with independent data (3^8 vertex terms).
    #[test]
    fn closed_matches_exact_up_to_eight_features(
        spec in spec_strategy(8, 4, &[Dist::Independent], &REGIMES).prop_map(|s| Spec { n: 7 + s.n % 2, ..s })
    ) {
        let (model, obj) = build(&spec);
        let rel = closed_vs_exact(&model, &obj).map_err(TestCaseError::fail)?;
        record("closed vs exact, n = 7..8", rel);
    }
}

proptest! {
    #![proptest_config(config(300, 0x5eed_0003))]
    /// Finite input never gives a negative or NaN loss or a non-finite gradient, even with
    /// |W| up to 1e3, tiny entries and huge biases.
    #[test]
    fn loss_is_never_negative_or_nan(
        n in 1..=5usize,
        m in 1..=3usize,
        exps in prop::collection::vec((-12.0f64..3.0, any::<bool>()), 15),
        bias in prop::collection::vec(-1e3f64..1e3, 5),
        shrink in 0..4i32,
        density in 0.0f64..=1.0,
        act in 0..ACTIVATIONS.len(),
    ) {
        let w = DMatrix::from_fn(m, n, |h, j| {
            let (e, neg) = exps[h * 5 + j];
            if neg { -(10f64.powf(e)) } else { 10f64.powf(e) }
        });
        let b = DVector::from_fn(n, |i, _| bias[i] * 10f64.powi(-4 * shrink));
        let model = Model::new(w, b).unwrap();
        let data = Data::new(n).unwrap().with_density(&PerFeature::Constant(density)).unwrap();
        let obj = Objective::new(data).with_activation(ACTIVATIONS[act]);
        let (l, g) = loss::loss_and_gradient(&model, &obj).unwrap();
        prop_assert!(l.loss >= 0.0 && l.loss.is_finite(), "loss {}", l.loss);
        prop_assert!(l.per_feature.iter().all(|v| *v >= 0.0 && v.is_finite()));
        prop_assert!(g.to_vec().iter().all(|v| v.is_finite()));
        if n <= 4 {
            let exact = to_f64(&exact_loss(&model, &obj).unwrap().loss);
            prop_assert!(loss_close(l.loss, exact, n as f64), "closed {} exact {exact}", l.loss);
        }
    }
}

/// The example: the textbook float formula gives −5.7e22 here.
#[test]
fn regression_tiny_coefficient_and_bias_near_kink() {
    let model = Model::from_rows(
        &[vec![1.0052619834066996, 5.271766888532758e-9]],
        &[-0.008566492605068449, 0.4392545046630345],
    )
    .unwrap();
    let data = Data::new(2)
        .unwrap()
        .with_importance(&PerFeature::List(vec![1.0, 0.5]))
        .unwrap()
        .with_density(&PerFeature::Constant(0.9))
        .unwrap();
    let obj = Objective::new(data);
    let exact = to_f64(&exact_loss(&model, &obj).unwrap().loss);
    assert!((exact - 0.0488).abs() < 5e-4, "exact loss {exact}");
    let rel = closed_vs_exact(&model, &obj).unwrap();
    record("regression example", rel);
}

/// A hand-picked set of the degenerate configurations, each checked exactly.
#[test]
fn closed_matches_exact_on_hand_built_degenerate_models() {
    let s = 0.25;
    let cases: Vec<(Vec<Vec<f64>>, Vec<f64>)> = vec![
        // zero column, bias exactly 0
        (vec![vec![1.0, 0.0, 0.5]], vec![0.0, 0.0, 0.0]),
        // antipodal pair and a third feature on the kink b = −M_ij
        (vec![vec![1.0, -1.0, 0.5]], vec![0.0, 1.0, -0.5]),
        // cancelling triple in 2-D
        (
            vec![vec![1.0, 0.5, -1.5], vec![-0.25, 2.0, -1.75]],
            vec![-0.25, 0.0, 0.125],
        ),
        // tiny coefficients 1e-12 … 1e-3 with biases near and on the kink
        (
            vec![vec![1e-12, 1e-7, 1e-3, 1.0], vec![1.0, -1e-9, 0.0, 3.0]],
            vec![-1e-12, 0.0, 1e-3, -3.0],
        ),
        // all-zero W
        (vec![vec![0.0, 0.0]], vec![0.5, -0.5]),
    ];
    for (rows, b) in cases {
        let n = b.len();
        let model = Model::from_rows(&rows, &b).unwrap();
        for act in ACTIVATIONS {
            for density in [
                PerFeature::Constant(s),
                PerFeature::Constant(1.0),
                PerFeature::List((0..n).map(|j| [0.0, 1.0, 0.5, 1e-3][j % 4]).collect()),
            ] {
                let data = Data::new(n)
                    .unwrap()
                    .with_importance(&PerFeature::List(
                        (0..n)
                            .map(|j| if j == 1 { 0.0 } else { 1.0 + j as f64 })
                            .collect(),
                    ))
                    .unwrap()
                    .with_density(&density)
                    .unwrap();
                for red in [Reduction::Sum, Reduction::Mean] {
                    let obj = Objective::new(data.clone())
                        .with_activation(act)
                        .with_reduction(red);
                    let rel = closed_vs_exact(&model, &obj).unwrap();
                    record("hand-built degenerate", rel);
                }
            }
        }
    }
}

fn density_data(n: usize, s: f64, importance: Vec<f64>) -> Data {
    Data::new(n)
        .unwrap()
        .with_density(&PerFeature::Constant(s))
        .unwrap()
        .with_importance(&PerFeature::List(importance))
        .unwrap()
}

fn rational(x: f64) -> BigRational {
    BigRational::from_float(x).unwrap()
}

/// A feature with a zero column and bias s/2 costs exactly I·(s/3 − s²/4).
#[test]
fn dropped_feature_costs_s_over_3_minus_s_squared_over_4() {
    for s in [0.25, 0.5, 1.0, 0.0625] {
        let model = Model::from_rows(&[vec![1.0, 0.0]], &[0.0, s / 2.0]).unwrap();
        // Feature 0 is kept perfectly only when it is alone; isolate feature 1 with I_0 = 0.
        let obj = Objective::new(density_data(2, s, vec![0.0, 1.5]));
        let exact = exact_loss(&model, &obj).unwrap();
        let want = rational(1.5) * (rational(s) / rational(3.0) - rational(s * s) / rational(4.0));
        assert_eq!(exact.loss, want, "{}", fraction_string(&exact.loss));
        let closed = loss::loss(&model, &obj).unwrap().loss;
        assert!(loss_close(closed, to_f64(&want), 1.5));
    }
}

/// An antipodal pair W = [1, −1], b = 0 costs exactly (I₁ + I₂)·s²/6.
#[test]
fn antipodal_pair_costs_s_squared_over_6() {
    for s in [0.125, 0.5, 1.0] {
        let model = Model::from_rows(&[vec![1.0, -1.0]], &[0.0, 0.0]).unwrap();
        let obj = Objective::new(density_data(2, s, vec![1.0, 0.75]));
        let exact = exact_loss(&model, &obj).unwrap();
        let want = rational(1.75) * rational(s * s) / rational(6.0);
        assert_eq!(exact.loss, want);
        let closed = loss::loss(&model, &obj).unwrap().loss;
        assert!(loss_close(closed, to_f64(&want), 1.75));
    }
}

/// `∫_0^1 (x_own − relu(b + c x))² dx` (or `relu(b + c x)²` for another feature), by hand:
/// split at the kink and integrate the two polynomials exactly.
fn one_active_by_hand(own: bool, b: f64, c: f64) -> f64 {
    // Antiderivatives of (a1 x + a0)² and x² on [u, v].
    let sq = |a1: f64, a0: f64, u: f64, v: f64| {
        let p = |x: f64| a1 * a1 * x.powi(3) / 3.0 + a1 * a0 * x * x + a0 * a0 * x;
        p(v) - p(u)
    };
    let own_f = if own { 1.0 } else { 0.0 };
    // Where is b + c x > 0 on [0, 1]?
    let (lo, hi) = if c == 0.0 {
        if b > 0.0 {
            (0.0, 1.0)
        } else {
            (0.0, 0.0)
        }
    } else {
        let t = (-b / c).clamp(0.0, 1.0);
        if c > 0.0 {
            (t, 1.0)
        } else {
            (0.0, t)
        }
    };
    // Active part: (own·x − b − c x)²; inactive part: (own·x)².
    sq(own_f - c, -b, lo, hi) + sq(own_f, 0.0, 0.0, lo) + sq(own_f, 0.0, hi, 1.0)
}

/// One-hot data reduce to single-active-feature terms: compare with the hand formula.
#[test]
fn one_hot_reduces_to_one_active_feature() {
    let model = Model::from_rows(
        &[vec![0.9, -0.3, 0.0], vec![0.2, 1.1, -0.7]],
        &[-0.1, 0.05, 0.3],
    )
    .unwrap();
    let n = 3;
    let gram = model.gram();
    let importance = vec![1.0, 0.5, 2.0];
    for q in [None, Some(vec![0.5, 0.25, 0.25])] {
        let probs = q.clone().unwrap_or(vec![1.0 / 3.0; 3]);
        let data = Data::new(n)
            .unwrap()
            .with_importance(&PerFeature::List(importance.clone()))
            .unwrap()
            .with_distribution(Distribution::OneHot { probabilities: q })
            .unwrap();
        let obj = Objective::new(data);
        let mut want = 0.0;
        for i in 0..n {
            for j in 0..n {
                want += importance[i]
                    * probs[j]
                    * one_active_by_hand(i == j, model.b()[i], gram[(i, j)]);
            }
        }
        let got = loss::loss(&model, &obj).unwrap().loss;
        assert!(
            (got - want).abs() <= 1e-13 * want,
            "closed {got} vs hand {want}"
        );
        closed_vs_exact(&model, &obj).unwrap();
    }
}

/// The linear model with W = I (n = m) and b = 0 reconstructs exactly: loss 0.
#[test]
fn linear_identity_has_zero_loss() {
    for n in 1..=4 {
        let model = Model::new(DMatrix::identity(n, n), DVector::zeros(n)).unwrap();
        let obj =
            Objective::new(density_data(n, 0.3, vec![1.0; n])).with_activation(Activation::Linear);
        assert_eq!(
            exact_loss(&model, &obj).unwrap().loss,
            BigRational::from_float(0.0).unwrap()
        );
        assert_eq!(loss::loss(&model, &obj).unwrap().loss, 0.0);
    }
}

/// The exact route refuses what it cannot do, with the right error kind.
#[test]
fn exact_route_refuses_smooth_activations_and_large_sizes() {
    let model = Model::from_rows(&[vec![1.0; 14]], &[0.0; 14]).unwrap();
    let obj = Objective::new(
        Data::new(14)
            .unwrap()
            .with_density(&PerFeature::Constant(0.5))
            .unwrap(),
    );
    match exact_loss(&model, &obj) {
        Err(Error::TooLarge(msg)) => assert!(msg.contains("3^k"), "{msg}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // One-hot data of the same size are cheap.
    let one_hot = Objective::new(
        Data::new(14)
            .unwrap()
            .with_distribution(Distribution::OneHot {
                probabilities: None,
            })
            .unwrap(),
    );
    closed_vs_exact(&model, &one_hot).unwrap();
    let small = Model::from_rows(&[vec![1.0, 0.5]], &[0.0, 0.0]).unwrap();
    for act in [Activation::Gelu, Activation::Softplus] {
        let obj = Objective::new(Data::new(2).unwrap()).with_activation(act);
        assert!(matches!(exact_loss(&small, &obj), Err(Error::Invalid(_))));
    }
    assert_eq!(fraction_string(&rational(-0.375)), "-3/8");
}

/// n = 8 with every feature of density ½: all 3^8 vertex terms per output are visited.
#[test]
fn closed_matches_exact_at_eight_dense_features() {
    for (k, act) in ACTIVATIONS.into_iter().enumerate() {
        let spec = Spec {
            n: 8,
            m: 3,
            tied: k % 2 == 0,
            act,
            dist: Dist::Independent,
            reduction: Reduction::Sum,
            regime: REGIMES[k % REGIMES.len()],
            seed: 800 + k as u64,
        };
        let (model, obj) = build(&spec);
        let obj = obj.clone().with_data(
            obj.data()
                .clone()
                .with_density(&PerFeature::Constant(0.5))
                .unwrap(),
        );
        let rel = closed_vs_exact(&model, &obj).unwrap();
        record("closed vs exact, n = 8 dense", rel);
    }
}
