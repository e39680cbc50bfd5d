//! Shared builders for the route-comparison tests: seeded random models and data in the
//! regimes where closed forms are known to lose accuracy.
#![allow(dead_code)]

use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tms_exact::data::{Data, Distribution, PerFeature};
use tms_exact::loss;
use tms_exact::model::{Activation, Model};
use tms_exact::objective::{Objective, Reduction};
use tms_exact::route::rational::{exact_loss, to_f64};
use tms_exact::tolerance::loss_close;

/// A proptest configuration with a fixed seed and no persistence (reproducible, no files).
pub fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    }
}

/// How the parameters are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Regime {
    /// Uniform |W| ≤ 3, |b| ≤ 2.
    Random,
    /// Multiples of 1/8: exact Gram matrix, so biases can sit exactly on kinks.
    Dyadic,
    /// Some columns of W are zero (dropped features).
    ZeroColumns,
    /// Some columns scaled by 1e-12 … 1e-3.
    Tiny,
    /// Columns that cancel exactly: pairs (w, −w) and triples (u, v, −(u+v)).
    Cancelling,
    /// Nearly orthogonal columns: off-diagonal Gram entries ~1e-9 … 1e-4.
    NearlyOrthogonal,
}

pub const REGIMES: [Regime; 6] = [
    Regime::Random,
    Regime::Dyadic,
    Regime::ZeroColumns,
    Regime::Tiny,
    Regime::Cancelling,
    Regime::NearlyOrthogonal,
];

/// Which data distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    Independent,
    OneHotUniform,
    OneHotWeighted,
    Sets,
}

pub const DISTS: [Dist; 4] = [
    Dist::Independent,
    Dist::OneHotUniform,
    Dist::OneHotWeighted,
    Dist::Sets,
];

pub const ACTIVATIONS: [Activation; 4] = [
    Activation::Relu,
    Activation::LeakyRelu { alpha: 0.1 },
    Activation::LeakyRelu { alpha: 0.5 },
    Activation::Linear,
];

/// Everything that defines one test case.
#[derive(Debug, Clone)]
pub struct Spec {
    pub n: usize,
    pub m: usize,
    pub tied: bool,
    pub act: Activation,
    pub dist: Dist,
    pub reduction: Reduction,
    pub regime: Regime,
    pub seed: u64,
}

fn u(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// The model and objective of a spec (deterministic in the spec).
pub fn build(spec: &Spec) -> (Model, Objective) {
    let (n, m) = (spec.n, spec.m);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let dyadic = |x: f64| (x * 8.0).round() / 8.0;
    let mut w = DMatrix::from_fn(m, n, |_, _| 0.0);
    for v in w.iter_mut() {
        *v = u(&mut rng, -3.0, 3.0);
    }
    match spec.regime {
        Regime::Random => {}
        Regime::Dyadic => w.iter_mut().for_each(|v| *v = dyadic(*v)),
        Regime::ZeroColumns => {
            let first = rng.random_range(0..n);
            for j in 0..n {
                if j == first || rng.random::<f64>() < 0.3 {
                    w.column_mut(j).fill(0.0);
                }
            }
        }
        Regime::Tiny => {
            for j in 0..n {
                if rng.random::<f64>() < 0.6 {
                    let s = 10f64.powf(-u(&mut rng, 3.0, 12.0));
                    w.column_mut(j).scale_mut(s);
                }
            }
        }
        Regime::Cancelling => {
            w.iter_mut().for_each(|v| *v = dyadic(*v));
            let mut j = 0;
            while j + 1 < n {
                if j + 2 < n && rng.random::<f64>() < 0.4 {
                    let s = -(w.column(j) + w.column(j + 1));
                    w.set_column(j + 2, &s);
                    j += 3;
                } else {
                    let s = -w.column(j);
                    w.set_column(j + 1, &s);
                    j += 2;
                }
            }
        }
        Regime::NearlyOrthogonal => {
            for j in 0..n {
                let scale = u(&mut rng, 0.5, 2.0);
                let eps = 10f64.powf(-u(&mut rng, 4.0, 9.0));
                for h in 0..m {
                    let base = if h == j % m { scale } else { 0.0 };
                    w[(h, j)] = base + eps * u(&mut rng, -1.0, 1.0);
                }
            }
        }
    }
    let w_out = (!spec.tied).then(|| {
        DMatrix::from_fn(n, m, |_, _| 0.0).map(|_: f64| {
            let v = u(&mut rng, -3.0, 3.0);
            if matches!(spec.regime, Regime::Dyadic | Regime::Cancelling) {
                dyadic(v)
            } else {
                v
            }
        })
    });
    let gram = match &w_out {
        Some(wo) => wo * &w,
        None => w.transpose() * &w,
    };
    // Biases: random, zero, exactly (when the Gram matrix is exact) on a kink, or tiny.
    let b = DVector::from_fn(n, |i, _| match rng.random_range(0..5) {
        0 => 0.0,
        1 => -gram[(i, rng.random_range(0..n))],
        2 => u(&mut rng, -1e-9, 1e-9),
        _ => {
            let v = u(&mut rng, -2.0, 2.0);
            if spec.regime == Regime::Dyadic {
                dyadic(v)
            } else {
                v
            }
        }
    });
    let mut model = Model::new(w, b).unwrap();
    if let Some(wo) = w_out {
        model = model.with_w_out(wo).unwrap();
    }
    let importance: Vec<f64> = (0..n)
        .map(|_| {
            if rng.random::<f64>() < 0.2 {
                0.0
            } else {
                u(&mut rng, 0.1, 2.0)
            }
        })
        .collect();
    let mut data = Data::new(n)
        .unwrap()
        .with_importance(&PerFeature::List(importance))
        .unwrap();
    data = match spec.dist {
        Dist::Independent => {
            let density: Vec<f64> = (0..n)
                .map(|_| match rng.random_range(0..6) {
                    0 => 0.0,
                    1 => 1.0,
                    2 => 1e-3,
                    _ => u(&mut rng, 0.0, 1.0),
                })
                .collect();
            data.with_density(&PerFeature::List(density)).unwrap()
        }
        Dist::OneHotUniform => data
            .with_distribution(Distribution::OneHot {
                probabilities: None,
            })
            .unwrap(),
        Dist::OneHotWeighted => {
            let raw: Vec<f64> = (0..n)
                .map(|_| {
                    if rng.random::<f64>() < 0.2 {
                        0.0
                    } else {
                        u(&mut rng, 0.1, 1.0)
                    }
                })
                .collect();
            let probabilities = normalized(&raw);
            data.with_distribution(Distribution::OneHot {
                probabilities: Some(probabilities),
            })
            .unwrap()
        }
        Dist::Sets => {
            let k = rng.random_range(1..=4usize);
            let sets: Vec<Vec<usize>> = (0..k)
                .map(|_| (0..n).filter(|_| rng.random::<f64>() < 0.5).collect())
                .collect();
            let raw: Vec<f64> = (0..k).map(|_| u(&mut rng, 0.1, 1.0)).collect();
            let probs = normalized(&raw);
            data.with_distribution(Distribution::ActiveSets(
                sets.into_iter().zip(probs).collect(),
            ))
            .unwrap()
        }
    };
    let obj = Objective::new(data)
        .with_activation(spec.act)
        .with_reduction(spec.reduction);
    (model, obj)
}

fn normalized(raw: &[f64]) -> Vec<f64> {
    let mut raw = raw.to_vec();
    if raw.iter().all(|&v| v == 0.0) {
        raw[0] = 1.0;
    }
    let s: f64 = raw.iter().sum();
    raw.iter().map(|v| v / s).collect()
}

/// Σ of the per-feature weights (`I_i`, or `I_i / n` for `mean`).
pub fn total_weight(obj: &Objective) -> f64 {
    obj.weights().iter().sum()
}

/// Compares the closed form (loss, per-feature terms, and the loss from the gradient routine)
/// with the exact rational value under the crate's bar; returns the relative error of the loss.
pub fn closed_vs_exact(model: &Model, obj: &Objective) -> Result<f64, String> {
    let exact = exact_loss(model, obj).map_err(|e| e.to_string())?;
    let l = to_f64(&exact.loss);
    let closed = loss::loss(model, obj).map_err(|e| e.to_string())?;
    let (closed_g, _) = loss::loss_and_gradient(model, obj).map_err(|e| e.to_string())?;
    let weights = obj.weights();
    let tw = total_weight(obj);
    for (what, got) in [("loss", closed.loss), ("loss_and_gradient", closed_g.loss)] {
        if !loss_close(got, l, tw) {
            return Err(format!(
                "{what}: closed {got:e} vs exact {l:e} (diff {:e}) for {model:?} {obj:?}",
                got - l
            ));
        }
    }
    for (i, (c, e)) in closed
        .per_feature
        .iter()
        .zip(&exact.per_feature)
        .enumerate()
    {
        let e = to_f64(e);
        if !loss_close(*c, e, weights[i]) {
            return Err(format!(
                "feature {i}: closed {c:e} vs exact {e:e} for {model:?} {obj:?}"
            ));
        }
    }
    Ok(if l != 0.0 {
        (closed.loss - l).abs() / l.abs()
    } else {
        0.0
    })
}

static MAX_SEEN: std::sync::Mutex<Vec<(&'static str, f64)>> = std::sync::Mutex::new(Vec::new());

/// Records the largest error a test has seen and prints it when it grows (read with
/// `--nocapture`; for the accuracy figures of the report, not an assertion).
pub fn record(name: &'static str, e: f64) {
    let mut seen = MAX_SEEN.lock().unwrap_or_else(|p| p.into_inner());
    match seen.iter_mut().find(|(k, _)| *k == name) {
        Some((_, v)) if *v >= e => {}
        Some((_, v)) => {
            *v = e;
            eprintln!("[{name}] max error so far {e:.3e}");
        }
        None => {
            seen.push((name, e));
            eprintln!("[{name}] max error so far {e:.3e}");
        }
    }
}

/// Random specs: n in 1..=max_n, m in 1..=max_m, every activation, the given distributions
/// and regimes, tied or untied, sum or mean.
pub fn spec_strategy(
    max_n: usize,
    max_m: usize,
    dists: &'static [Dist],
    regimes: &'static [Regime],
) -> impl Strategy<Value = Spec> {
    (
        1..=max_n,
        1..=max_m,
        any::<bool>(),
        0..ACTIVATIONS.len(),
        0..dists.len(),
        any::<bool>(),
        0..regimes.len(),
        any::<u64>(),
    )
        .prop_map(move |(n, m, tied, a, d, mean, r, seed)| Spec {
            n,
            m,
            tied,
            act: ACTIVATIONS[a],
            dist: dists[d],
            reduction: if mean {
                Reduction::Mean
            } else {
                Reduction::Sum
            },
            regime: regimes[r],
            seed,
        })
}
