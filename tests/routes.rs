//! The independent routes against each other: closed form, exact rational (with exact finite
//! differences for the gradient), nested quadrature, Monte Carlo, and the batch loss.

mod common;

use common::{
    build, config, record, spec_strategy, Dist, Regime, Spec, ACTIVATIONS, DISTS, REGIMES,
};
use nalgebra::{DMatrix, DVector};
use num_rational::BigRational;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tms_exact::data::{Data, Distribution, PerFeature};
use tms_exact::integrals::batch::{batch_loss, BatchOutputs};
use tms_exact::loss;
use tms_exact::model::{Activation, Model};
use tms_exact::objective::{Objective, Reduction};
use tms_exact::route::montecarlo::monte_carlo_loss;
use tms_exact::route::quadrature::quadrature_loss;
use tms_exact::route::rational::{exact_loss, to_f64};
use tms_exact::tolerance::{GRADIENT_REL, MC_SIGMAS, QUADRATURE_DEFAULT};
use tms_exact::Error;

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn norm_inf(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

proptest! {
    #![proptest_config(config(80, 0x5eed_0101))]
    /// Closed form vs nested quadrature (loss and gradient), n ≤ 3, every regime.
    #[test]
    fn closed_matches_quadrature(spec in spec_strategy(3, 3, &DISTS, &REGIMES)) {
        let (model, obj) = build(&spec);
        let q = quadrature_loss(&model, &obj, QUADRATURE_DEFAULT, true).unwrap();
        let (c, g) = loss::loss_and_gradient(&model, &obj).unwrap();
        let diff = (q.loss - c.loss).abs();
        prop_assert!(diff <= q.accuracy.value() + 1e-9, "quadrature {} ± {:e} vs closed {}", q.loss, q.accuracy.value(), c.loss);
        prop_assert!(q.accuracy.value() <= 100.0 * QUADRATURE_DEFAULT);
        let gq = q.gradient.unwrap().to_vec();
        let gc = g.to_vec();
        let gd = max_abs_diff(&gq, &gc);
        prop_assert!(gd <= 1e-8 * norm_inf(&gc).max(1.0), "gradient differs by {gd:e}: {gq:?} vs {gc:?}");
        record("closed vs quadrature: |diff|", diff);
        record("closed vs quadrature: reported error", q.accuracy.value());
        record("closed vs quadrature: gradient |diff|", gd);
    }
}

/// Smooth activations have no closed form: quadrature against Monte Carlo.
#[test]
fn smooth_quadrature_matches_monte_carlo() {
    for (k, act) in [Activation::Gelu, Activation::Softplus]
        .into_iter()
        .enumerate()
    {
        for dist in [Dist::Independent, Dist::OneHotWeighted, Dist::Sets] {
            for n in [2usize, 3] {
                let spec = Spec {
                    n,
                    m: 2,
                    tied: n == 2,
                    act,
                    dist,
                    reduction: Reduction::Sum,
                    regime: Regime::Random,
                    seed: 1000 + 10 * k as u64 + n as u64,
                };
                let (model, obj) = build(&spec);
                let q = quadrature_loss(&model, &obj, QUADRATURE_DEFAULT, false).unwrap();
                let mc = monte_carlo_loss(&model, &obj, 200_000, spec.seed, false).unwrap();
                let z = (q.loss - mc.loss).abs() / (mc.accuracy.value() + 1e-300);
                assert!(
                    (q.loss - mc.loss).abs()
                        <= MC_SIGMAS * mc.accuracy.value() + q.accuracy.value() + 1e-12,
                    "{act} n={n} {dist:?}: quadrature {} vs MC {} ± {}",
                    q.loss,
                    mc.loss,
                    mc.accuracy.value()
                );
                // A deterministic loss (e.g. only empty active sets) has a zero standard error.
                if mc.accuracy.value() > 1e-9 * mc.loss {
                    record("smooth quadrature vs MC (sigmas)", z);
                }
                record("smooth quadrature reported error", q.accuracy.value());
            }
        }
    }
}

proptest! {
    #![proptest_config(config(24, 0x5eed_0102))]
    /// Closed form vs Monte Carlo within MC_SIGMAS standard errors, n ≤ 6.
    #[test]
    fn closed_matches_monte_carlo(spec in spec_strategy(6, 3, &DISTS, &REGIMES)) {
        let (model, obj) = build(&spec);
        let c = loss::loss(&model, &obj).unwrap().loss;
        let mc = monte_carlo_loss(&model, &obj, 100_000, spec.seed, false).unwrap();
        let diff = (c - mc.loss).abs();
        prop_assert!(diff <= MC_SIGMAS * mc.accuracy.value() + 1e-12 * c.abs().max(1e-300),
            "closed {c} vs MC {} ± {}", mc.loss, mc.accuracy.value());
        if mc.accuracy.value() > 1e-9 * c {
            record("closed vs MC (sigmas)", diff / mc.accuracy.value());
        }
    }
}

/// Parameters on the grid 2^-40, so that p ± 2^-20 and p ± 2^-21 are exact f64 values.
fn snap(x: f64) -> f64 {
    (x * 2f64.powi(40)).round() / 2f64.powi(40)
}

/// ∂L/∂p_k by Richardson-extrapolated central differences of the exact rational loss: with
/// exact function values the only error is the O(h⁴) truncation.
fn exact_derivative(model: &Model, obj: &Objective, k: usize) -> f64 {
    let p = model.to_vec();
    let at = |t: f64| {
        let mut q = p.clone();
        q[k] += t;
        assert_eq!(q[k] - t, p[k], "step not exact");
        exact_loss(&model.from_vec_like(&q).unwrap(), obj)
            .unwrap()
            .loss
    };
    let h = 2f64.powi(-20);
    let r = |x: f64| BigRational::from_float(x).unwrap();
    let d = |h: f64| (at(h) - at(-h)) / r(2.0 * h);
    let (d1, d2) = (d(h), d(h / 2.0));
    to_f64(&((r(4.0) * d2 - d1) / r(3.0)))
}

proptest! {
    #![proptest_config(config(24, 0x5eed_0103))]
    /// The closed-form gradient vs exact finite differences, away from non-differentiable
    /// points (generic random parameters, no zero rows, biases off the kinks).
    #[test]
    fn gradient_matches_exact_differences(
        n in 1..=4usize,
        m in 1..=3usize,
        tied in any::<bool>(),
        act in 0..ACTIVATIONS.len(),
        dist in 0..DISTS.len(),
        seed in any::<u64>(),
    ) {
        let spec = Spec { n, m, tied, act: ACTIVATIONS[act], dist: DISTS[dist], reduction: Reduction::Sum, regime: Regime::Random, seed };
        let (model0, obj) = build(&spec);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let p: Vec<f64> = model0.to_vec().iter().map(|_| snap(rng.random::<f64>() * 4.0 - 2.0)).collect();
        let model = model0.from_vec_like(&p).unwrap();
        let (_, g) = loss::loss_and_gradient(&model, &obj).unwrap();
        let g = g.to_vec();
        let fd: Vec<f64> = (0..p.len()).map(|k| exact_derivative(&model, &obj, k)).collect();
        let scale = norm_inf(&fd).max(1.0);
        let err = max_abs_diff(&g, &fd) / scale;
        prop_assert!(err <= GRADIENT_REL, "gradient error {err:e}: closed {g:?} vs exact differences {fd:?}");
        record("closed gradient vs exact differences (relative)", err);
    }
}

/// The batch loss by a direct, unoptimised evaluation of the model.
fn direct_batch(model: &Model, obj: &Objective, xs: &[f64]) -> Vec<f64> {
    let n = model.n();
    let gram = model.gram();
    let w = obj.weights();
    xs.chunks_exact(n)
        .map(|x| {
            let out = &gram * DVector::from_column_slice(x) + model.b();
            (0..n)
                .map(|i| w[i] * (x[i] - obj.activation().apply(out[i])).powi(2))
                .sum()
        })
        .collect()
}

/// `batch_loss` (the trainer's forward/backward pass): value against a direct evaluation,
/// gradient against central differences of itself, and gradients are added, not written.
#[test]
fn batch_loss_matches_direct_evaluation_and_differences() {
    let acts = [
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Linear,
        Activation::Gelu,
        Activation::Softplus,
    ];
    for (t, act) in acts.into_iter().enumerate() {
        for tied in [true, false] {
            let spec = Spec {
                n: 5,
                m: 3,
                tied,
                act,
                dist: Dist::Independent,
                reduction: if tied {
                    Reduction::Sum
                } else {
                    Reduction::Mean
                },
                regime: Regime::Random,
                seed: 40 + t as u64,
            };
            let (model, obj) = build(&spec);
            let n = model.n();
            let shape = model.shape();
            let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
            let batch = 64;
            let mut xs = vec![0.0; batch * n];
            for x in xs.chunks_exact_mut(n) {
                obj.data().sample_into(&mut rng, x);
            }
            let (act_, weights) = (obj.activation(), obj.weights());
            let batch_loss = |p: &[f64], per: Option<&mut [f64]>, grad: Option<&mut [f64]>| {
                batch_loss(
                    shape,
                    p,
                    act_,
                    &weights,
                    &xs,
                    BatchOutputs {
                        per_sample: per,
                        grad,
                        ..BatchOutputs::default()
                    },
                )
            };
            let p = model.to_vec();
            let mut per = vec![0.0; batch];
            let mut grad = vec![0.0; p.len()];
            let l = batch_loss(&p, Some(&mut per), Some(&mut grad));
            let direct = direct_batch(&model, &obj, &xs);
            for (a, b) in per.iter().zip(&direct) {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                    "{act}: row {a} vs {b}"
                );
            }
            let mean = direct.iter().sum::<f64>() / batch as f64;
            assert!((l - mean).abs() <= 1e-12 * mean.max(1.0));
            let h = 1e-6;
            for k in 0..p.len() {
                let mut q = p.clone();
                q[k] = p[k] + h;
                let up = batch_loss(&q, None, None);
                q[k] = p[k] - h;
                let down = batch_loss(&q, None, None);
                let fd = (up - down) / (2.0 * h);
                assert!(
                    (fd - grad[k]).abs() <= 1e-6 * norm_inf(&grad).max(1.0),
                    "{act} tied={tied} param {k}: analytic {} vs differences {fd}",
                    grad[k]
                );
            }
            let mut twice = grad.clone();
            batch_loss(&p, None, Some(&mut twice));
            assert!(
                max_abs_diff(&twice, &grad.iter().map(|g| 2.0 * g).collect::<Vec<_>>())
                    <= 1e-12 * norm_inf(&grad).max(1.0)
            );
        }
    }
}

/// Monte Carlo is reproducible from its seed, and its inputs are validated.
#[test]
fn monte_carlo_is_seeded_and_validated() {
    let (model, obj) = build(&Spec {
        n: 4,
        m: 2,
        tied: true,
        act: Activation::Relu,
        dist: Dist::Independent,
        reduction: Reduction::Sum,
        regime: Regime::Random,
        seed: 7,
    });
    let a = monte_carlo_loss(&model, &obj, 10_000, 3, true).unwrap();
    let b = monte_carlo_loss(&model, &obj, 10_000, 3, true).unwrap();
    let c = monte_carlo_loss(&model, &obj, 10_000, 4, true).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.loss, c.loss);
    assert!((a.per_feature.iter().sum::<f64>() - a.loss).abs() <= 1e-12 * a.loss.max(1.0));
    assert_eq!(
        a.gradient.as_ref().map(|g| g.to_vec().len()),
        Some(model.num_params())
    );
    assert!(matches!(
        monte_carlo_loss(&model, &obj, 0, 3, false),
        Err(Error::Invalid(_))
    ));
}

/// The quadrature refuses active sets larger than it can integrate, and bad tolerances.
#[test]
fn quadrature_refuses_large_sets() {
    let model = Model::new(DMatrix::from_element(2, 5, 0.5), DVector::zeros(5)).unwrap();
    let obj = Objective::new(
        Data::new(5)
            .unwrap()
            .with_density(&PerFeature::Constant(0.5))
            .unwrap(),
    );
    assert!(matches!(
        quadrature_loss(&model, &obj, 1e-10, false),
        Err(Error::TooLarge(_))
    ));
    assert!(matches!(
        quadrature_loss(&model, &obj, 0.0, false),
        Err(Error::Invalid(_))
    ));
    // One-hot data of the same size integrate one feature at a time, exactly as the closed form.
    let one_hot = Objective::new(
        Data::new(5)
            .unwrap()
            .with_distribution(Distribution::OneHot {
                probabilities: None,
            })
            .unwrap(),
    );
    let q = quadrature_loss(&model, &one_hot, 1e-10, false).unwrap();
    let c = loss::loss(&model, &one_hot).unwrap().loss;
    assert!((q.loss - c).abs() <= q.accuracy.value() + 1e-12);
}
