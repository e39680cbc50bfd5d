//! Symmetries of the loss: relabelling features together with their data, rotating the hidden
//! space, tying vs untying with W_out = Wᵀ, and the two reductions. Exact rationals make most
//! of these exact equalities.

mod common;

use common::{
    build, config, spec_strategy, total_weight, Regime, Spec, ACTIVATIONS, DISTS, REGIMES,
};
use nalgebra::{DMatrix, DVector};
use num_rational::BigRational;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tms_exact::data::{Data, Distribution, PerFeature};
use tms_exact::loss;
use tms_exact::model::Model;
use tms_exact::objective::{Objective, Reduction};
use tms_exact::route::rational::exact_loss;
use tms_exact::tolerance::loss_close;

/// Relabels feature j as perm[j] in the model and in the data.
fn permuted(model: &Model, obj: &Objective, perm: &[usize]) -> (Model, Objective) {
    let n = model.n();
    let mut inv = vec![0; n];
    for (j, &p) in perm.iter().enumerate() {
        inv[p] = j;
    }
    let w = DMatrix::from_fn(model.m(), n, |h, k| model.w()[(h, inv[k])]);
    let b = DVector::from_fn(n, |k, _| model.b()[inv[k]]);
    let mut out = Model::new(w, b).unwrap();
    if let Some(wo) = model.w_out() {
        out = out
            .with_w_out(DMatrix::from_fn(n, model.m(), |k, h| wo[(inv[k], h)]))
            .unwrap();
    }
    let d = obj.data();
    let by_new = |v: &[f64]| (0..n).map(|k| v[inv[k]]).collect::<Vec<_>>();
    let mut data = Data::new(n)
        .unwrap()
        .with_importance(&PerFeature::List(by_new(d.importance())))
        .unwrap();
    data = match d.distribution() {
        Distribution::Independent => data
            .with_density(&PerFeature::List(by_new(d.density())))
            .unwrap(),
        Distribution::OneHot { probabilities } => data
            .with_distribution(Distribution::OneHot {
                probabilities: probabilities.as_ref().map(|q| by_new(q)),
            })
            .unwrap(),
        Distribution::ActiveSets(sets) => data
            .with_distribution(Distribution::ActiveSets(
                sets.iter()
                    .map(|(s, p)| (s.iter().map(|&j| perm[j]).collect(), *p))
                    .collect(),
            ))
            .unwrap(),
    };
    (out, obj.clone().with_data(data))
}

proptest! {
    #![proptest_config(config(80, 0x5eed_0201))]
    /// Relabelling features with their data leaves the exact loss (and each feature's term)
    /// exactly unchanged, and the closed form within its bar.
    #[test]
    fn permuting_features_with_their_data(spec in spec_strategy(6, 4, &DISTS, &REGIMES), shuffle in any::<u64>()) {
        let (model, obj) = build(&spec);
        let n = model.n();
        let mut perm: Vec<usize> = (0..n).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(shuffle);
        for k in (1..n).rev() {
            perm.swap(k, rng.random_range(0..=k));
        }
        let (pm, po) = permuted(&model, &obj, &perm);
        let a = exact_loss(&model, &obj).unwrap();
        let b = exact_loss(&pm, &po).unwrap();
        prop_assert_eq!(&a.loss, &b.loss);
        for (j, &pj) in perm.iter().enumerate() {
            prop_assert_eq!(&a.per_feature[j], &b.per_feature[pj]);
        }
        let ca = loss::loss(&model, &obj).unwrap().loss;
        let cb = loss::loss(&pm, &po).unwrap().loss;
        prop_assert!(loss_close(cb, ca, 2.0 * total_weight(&obj)), "{ca} vs {cb}");
    }
}

/// A random orthogonal m×m matrix: a product of Householder reflections.
fn random_orthogonal(m: usize, rng: &mut ChaCha8Rng) -> DMatrix<f64> {
    let mut q = DMatrix::identity(m, m);
    for _ in 0..m {
        let v = DVector::from_fn(m, |_, _| rng.random::<f64>() * 2.0 - 1.0);
        let h = DMatrix::identity(m, m) - &v * v.transpose() * (2.0 / v.norm_squared());
        q = h * q;
    }
    q
}

fn rotated(model: &Model, q: &DMatrix<f64>) -> Model {
    let mut out = Model::new(q * model.w(), model.b().clone()).unwrap();
    if let Some(wo) = model.w_out() {
        out = out.with_w_out(wo * q.transpose()).unwrap();
    }
    out
}

proptest! {
    #![proptest_config(config(80, 0x5eed_0202))]
    /// W → QW (and W_out → W_out Qᵀ) for orthogonal Q: a signed permutation of the hidden
    /// axes is exact (equal rationals); a general rotation moves M by rounding only.
    #[test]
    fn rotating_the_hidden_space(spec in spec_strategy(5, 4, &DISTS, &REGIMES), qseed in any::<u64>()) {
        let (model, obj) = build(&spec);
        let m = model.m();
        let mut rng = ChaCha8Rng::seed_from_u64(qseed);
        // Signed permutation.
        let mut axes: Vec<usize> = (0..m).collect();
        for k in (1..m).rev() {
            axes.swap(k, rng.random_range(0..=k));
        }
        let signs: Vec<f64> = (0..m).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 }).collect();
        let p = DMatrix::from_fn(m, m, |r, c| if axes[r] == c { signs[r] } else { 0.0 });
        let exact = exact_loss(&model, &obj).unwrap().loss;
        prop_assert_eq!(&exact_loss(&rotated(&model, &p), &obj).unwrap().loss, &exact);
        // General rotation / reflection.
        let q = random_orthogonal(m, &mut rng);
        let l = loss::loss(&model, &obj).unwrap().loss;
        let lq = loss::loss(&rotated(&model, &q), &obj).unwrap().loss;
        prop_assert!((l - lq).abs() <= 1e-10 * (l.abs() + total_weight(&obj)), "{l} vs {lq}");
    }
}

proptest! {
    #![proptest_config(config(80, 0x5eed_0203))]
    /// A tied model equals the untied one with W_out = Wᵀ: the same exact loss, and the tied
    /// gradient is ∂W + (∂W_out)ᵀ of the untied one.
    #[test]
    fn tied_equals_untied_with_transposed_readout(spec in spec_strategy(6, 4, &DISTS, &REGIMES)) {
        let (model, obj) = build(&Spec { tied: true, ..spec });
        let untied = model.clone().with_w_out(model.w().transpose()).unwrap();
        prop_assert_eq!(
            exact_loss(&model, &obj).unwrap().loss,
            exact_loss(&untied, &obj).unwrap().loss
        );
        let (lt, gt) = loss::loss_and_gradient(&model, &obj).unwrap();
        let (lu, gu) = loss::loss_and_gradient(&untied, &obj).unwrap();
        prop_assert!(loss_close(lt.loss, lu.loss, 2.0 * total_weight(&obj)));
        let combined = &gu.w + gu.w_out.as_ref().unwrap().transpose();
        let scale = gt.norm_inf().max(1.0);
        let dw = (&gt.w - &combined).amax();
        let db = (&gt.b - &gu.b).amax();
        prop_assert!(dw <= 1e-12 * scale && db <= 1e-12 * scale, "dW {dw:e}, db {db:e}");
    }
}

/// Reduction `mean` is exactly the `sum` loss divided by n.
#[test]
fn mean_reduction_is_sum_over_n() {
    for seed in 0..6u64 {
        let spec = Spec {
            n: 1 + seed as usize,
            m: 2,
            tied: seed % 2 == 0,
            act: ACTIVATIONS[seed as usize % ACTIVATIONS.len()],
            dist: DISTS[seed as usize % DISTS.len()],
            reduction: Reduction::Sum,
            regime: Regime::Random,
            seed,
        };
        let (model, obj) = build(&spec);
        let sum = exact_loss(&model, &obj).unwrap().loss;
        let mean = exact_loss(&model, &obj.clone().with_reduction(Reduction::Mean))
            .unwrap()
            .loss;
        let n = BigRational::from_float(spec.n as f64).unwrap();
        assert_eq!(mean * n, sum);
    }
}
