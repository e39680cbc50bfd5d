//! The exact Hessian (forward-mode dual numbers through the reverse-mode gradient) against
//! central differences of the exact gradient, for every closed-form activation, tied and
//! untied.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use tms_exact::data::{Data, Distribution, PerFeature};
use tms_exact::loss;
use tms_exact::model::{Activation, Model};
use tms_exact::objective::Objective;

/// Central differences of the gradient with step h: error O(h²·‖∇³L‖) plus rounding
/// O(ε‖∇L‖/h); h = 1e-5 balances them for losses of order 1.
const STEP: f64 = 1e-5;
/// Agreement required, relative to max(1, max |H_ij|).
const HESSIAN_FD_REL: f64 = 1e-6;

fn fd_hessian(model: &Model, obj: &Objective) -> Vec<Vec<f64>> {
    let v = model.to_vec();
    (0..v.len())
        .map(|k| {
            let mut plus = v.clone();
            let mut minus = v.clone();
            plus[k] += STEP;
            minus[k] -= STEP;
            let gp = loss::loss_and_gradient(&model.from_vec_like(&plus).unwrap(), obj)
                .unwrap()
                .1
                .to_vec();
            let gm = loss::loss_and_gradient(&model.from_vec_like(&minus).unwrap(), obj)
                .unwrap()
                .1
                .to_vec();
            gp.iter()
                .zip(&gm)
                .map(|(a, b)| (a - b) / (2.0 * STEP))
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(Config { cases: 24, rng_seed: RngSeed::Fixed(0x4e55_1a11), failure_persistence: None, ..Config::default() })]

    #[test]
    fn hessian_matches_differences_of_the_gradient(
        n in 2usize..=4,
        m in 1usize..=2,
        w in prop::collection::vec(-1.5f64..1.5, 16),
        wo in prop::collection::vec(-1.5f64..1.5, 16),
        b in prop::collection::vec(-0.5f64..0.5, 4),
        density in 0.1f64..1.0,
        act in 0usize..3,
        untied in any::<bool>(),
        one_hot in any::<bool>(),
    ) {
        let rows: Vec<Vec<f64>> = (0..m).map(|h| w[h * n..(h + 1) * n].to_vec()).collect();
        let mut model = Model::from_rows(&rows, &b[..n]).unwrap();
        if untied {
            model = model.with_w_out(nalgebra::DMatrix::from_column_slice(n, m, &wo[..n * m])).unwrap();
        }
        let mut data = Data::new(n).unwrap().with_importance(&PerFeature::Decay(0.8)).unwrap();
        data = if one_hot {
            data.with_distribution(Distribution::OneHot { probabilities: None }).unwrap()
        } else {
            data.with_density(&PerFeature::Constant(density)).unwrap()
        };
        let activation = [Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }, Activation::Linear][act];
        let obj = Objective::new(data).with_activation(activation);
        let h = loss::hessian(&model, &obj).unwrap();
        let fd = fd_hessian(&model, &obj);
        let scale = h.amax().max(1.0);
        for (k, col) in fd.iter().enumerate() {
            for (r, &v) in col.iter().enumerate() {
                prop_assert!((h[(r, k)] - v).abs() <= HESSIAN_FD_REL * scale,
                    "H[{r},{k}] = {} vs differences {v}", h[(r, k)]);
            }
        }
        // Symmetric by construction, and exactly so after symmetrisation.
        prop_assert!((&h - h.transpose()).amax() == 0.0);
    }
}
