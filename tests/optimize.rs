//! Exact minimisation: critical points reached, their classification, the census.

use nalgebra::SymmetricEigen;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use tms_exact::data::{Data, PerFeature};
use tms_exact::loss;
use tms_exact::model::Model;
use tms_exact::objective::Objective;
use tms_exact::optimize::{
    census, inspect, minimize_local, CensusOptions, Kind, MinimizeOptions, SearchOptions,
};

fn objective(n: usize, density: f64, importance: Vec<f64>) -> Objective {
    let data = Data::new(n)
        .unwrap()
        .with_density(&PerFeature::Constant(density))
        .unwrap()
        .with_importance(&PerFeature::List(importance))
        .unwrap();
    Objective::new(data)
}

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn known_optimum_drops_the_less_important_feature() {
    // density 0.9, importances (1, 0.5): the best n=2, m=1 model represents feature 0 alone
    // and gives feature 1 its mean as bias: loss 0.5·(0.9/3 − 0.81/4) = 0.04875.
    let obj = objective(2, 0.9, vec![1.0, 0.5]);
    let c = census(
        &obj,
        &CensusOptions::new(2, 1).unwrap().with_restarts(8).unwrap(),
    )
    .unwrap();
    let best = &c.best().minimum;
    assert!((best.loss - 0.04875).abs() < 1e-14, "{}", best.loss);
    assert!(best.grad_norm <= 1e-12);
    assert_eq!(best.spectrum.kind, Kind::StrictMinimum);
    let w = best.model.w();
    assert!((w[(0, 0)].abs() - 1.0).abs() < 1e-9 && w[(0, 1)].abs() < 1e-9);
    assert!((best.model.b()[1] - 0.45).abs() < 1e-9);
    assert_eq!(c.best().geometry.dropped, vec![1]);
}

#[test]
fn census_is_bit_reproducible() {
    let obj = objective(3, 0.3, vec![1.0, 0.8, 0.6]);
    let opts = CensusOptions::new(3, 2)
        .unwrap()
        .with_search(SearchOptions::new().with_restarts(6).unwrap().with_seed(11));
    let a = census(&obj, &opts).unwrap();
    let b = census(&obj, &opts).unwrap();
    assert_eq!(a.points.len(), b.points.len());
    for (p, q) in a.points.iter().zip(&b.points) {
        assert_eq!(p.minimum.model.to_vec(), q.minimum.model.to_vec());
        assert_eq!(p.minimum.loss.to_bits(), q.minimum.loss.to_bits());
        assert_eq!(p.count, q.count);
    }
    let total: usize = a.points.iter().map(|p| p.count).sum();
    assert_eq!(total, 6);
}

#[test]
fn no_bias_and_fixed_entries_stay_put() {
    let obj = objective(3, 0.2, vec![1.0, 0.7, 0.4]);
    let start = Model::from_rows(
        &[vec![0.3, -0.2, 0.5], vec![0.1, 0.4, -0.3]],
        &[0.1, 0.2, 0.3],
    )
    .unwrap();
    let lm = minimize_local(&obj, &start, &MinimizeOptions::new().with_no_bias(true)).unwrap();
    assert!(lm.model.b().iter().all(|&b| b == 0.0));
    assert!(lm.grad_norm < 1e-10);
    // Fix W[0, 1] (index 0 + m·1 = 2 in column-major order) at 0.25.
    let opts = MinimizeOptions::new().with_fixed(2, 0.25).unwrap();
    let lm = minimize_local(&obj, &start, &opts).unwrap();
    assert_eq!(lm.model.w()[(0, 1)], 0.25);
    assert!(lm.grad_norm < 1e-10);
    assert!(MinimizeOptions::new()
        .with_fixed(99, 0.0)
        .unwrap()
        .prepare(&start)
        .is_err());
}

#[test]
fn tied_spectrum_separates_rotation_modes() {
    // m = 3: three rotation generators, all exact zero modes of the Hessian.
    let obj = objective(4, 0.25, vec![1.0, 0.9, 0.8, 0.7]);
    let start = Model::from_rows(
        &[
            vec![0.5, -0.1, 0.2, 0.3],
            vec![0.1, 0.6, -0.2, 0.1],
            vec![-0.2, 0.1, 0.7, 0.2],
        ],
        &[0.0, -0.1, 0.05, 0.1],
    )
    .unwrap();
    let lm = minimize_local(&obj, &start, &MinimizeOptions::new()).unwrap();
    assert_eq!(lm.spectrum.symmetry_modes, 3);
    assert!(lm.spectrum.symmetry_curvature < 1e-9);
    assert_eq!(lm.spectrum.eigenvalues.len(), 12 + 4 - 3);
}

#[test]
fn untied_spectrum_separates_gl_modes() {
    let obj = objective(3, 0.3, vec![1.0, 0.8, 0.6]);
    let start = Model::from_rows(
        &[vec![0.5, -0.3, 0.2], vec![0.1, 0.6, -0.4]],
        &[0.0, 0.1, -0.1],
    )
    .unwrap()
    .with_w_out(nalgebra::DMatrix::from_row_slice(
        3,
        2,
        &[0.4, 0.2, -0.3, 0.5, 0.1, -0.2],
    ))
    .unwrap();
    let lm = inspect(&obj, &start, &MinimizeOptions::new()).unwrap();
    assert_eq!(lm.spectrum.symmetry_modes, 4);
    // Off a critical point the symmetry curvature need not vanish exactly, but the orbit is
    // still flat to first order: the gradient is orthogonal to every symmetry tangent.
    let g = loss::loss_and_gradient(&start, &obj).unwrap().1.to_vec();
    for t in tms_exact::optimize::classify::symmetry_tangents(&start.to_vec(), start.shape()) {
        let d: f64 = g.iter().zip(&t).map(|(a, b)| a * b).sum();
        assert!(d.abs() < 1e-13, "{d}");
    }
}

proptest! {
    #![proptest_config(config(40, 0x7e57_0001))]

    /// From random starts the minimiser reaches a critical point, and its Hessian
    /// classification agrees with what small perturbations do to the exact loss.
    #[test]
    fn minimiser_reaches_classified_critical_points(
        n in 2usize..=4,
        m in 1usize..=2,
        density in 0.05f64..1.0,
        imp in prop::collection::vec(0.2f64..1.0, 4),
        seed in 0u64..1000,
    ) {
        let obj = objective(n, density, imp[..n].to_vec());
        let start = tms_exact::optimize::census::start_model(tms_exact::shape::Shape::new(n, m, true), seed, seed as usize).unwrap();
        let lm = minimize_local(&obj, &start, &MinimizeOptions::new()).unwrap();
        prop_assert!(lm.grad_norm <= 1e-10, "‖∇L‖ = {}", lm.grad_norm);
        let x = lm.model.to_vec();
        let l0 = lm.loss;
        let h = loss::hessian(&lm.model, &obj).unwrap();
        match lm.spectrum.kind {
            Kind::StrictMinimum => {
                // Every small random perturbation raises the loss.
                let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                for _ in 0..20 {
                    let d: Vec<f64> = (0..x.len()).map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
                    }).collect();
                    let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
                    let y: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + 1e-3 * b / norm).collect();
                    let l1 = loss::loss(&lm.model.from_vec_like(&y).unwrap(), &obj).unwrap().loss;
                    prop_assert!(l1 > l0, "perturbation lowered the loss: {l1} < {l0}");
                }
            }
            Kind::Saddle => {
                // Moving along the most negative curvature lowers the loss.
                let e = SymmetricEigen::new(h);
                let k = e.eigenvalues.imin();
                let v = e.eigenvectors.column(k);
                let lower = [1e-3, -1e-3].iter().any(|&t| {
                    let y: Vec<f64> = x.iter().zip(v.iter()).map(|(a, b)| a + t * b).collect();
                    loss::loss(&lm.model.from_vec_like(&y).unwrap(), &obj).unwrap().loss < l0
                });
                prop_assert!(lower, "no descent along negative curvature");
            }
            Kind::Degenerate => {
                // No direction of clearly negative curvature.
                let e = SymmetricEigen::new(h);
                prop_assert!(e.eigenvalues.min() > -1e-8 * e.eigenvalues.amax().max(1.0));
            }
            Kind::Undetermined => {
                prop_assert!(false, "the exact Hessian always resolves the kind");
            }
        }
    }
}

#[test]
fn feature_permutations_merge_only_when_the_data_cannot_tell_features_apart() {
    use tms_exact::optimize::census::{interchangeable_features, same_point};
    let relu = true;
    let start = Model::from_rows(
        &[vec![0.9, -0.2, 0.4], vec![0.1, 0.8, -0.5]],
        &[-0.05, 0.02, 0.1],
    )
    .unwrap();
    // The same model with features 0 and 1 swapped (columns of W and entries of b).
    let swapped = Model::from_rows(
        &[vec![-0.2, 0.9, 0.4], vec![0.8, 0.1, -0.5]],
        &[0.02, -0.05, 0.1],
    )
    .unwrap();
    let equal = objective(3, 0.3, vec![1.0, 1.0, 0.5]);
    let a = inspect(&equal, &start, &MinimizeOptions::new()).unwrap();
    let b = inspect(&equal, &swapped, &MinimizeOptions::new()).unwrap();
    let classes = interchangeable_features(&equal);
    assert_eq!(classes, vec![0, 0, 2]);
    assert!(same_point(&a, &b, relu, &classes));
    // With importances (1, 0.9, 0.5) features 0 and 1 differ: no merge (and the losses differ).
    let unequal = objective(3, 0.3, vec![1.0, 0.9, 0.5]);
    let a = inspect(&unequal, &start, &MinimizeOptions::new()).unwrap();
    let b = inspect(&unequal, &swapped, &MinimizeOptions::new()).unwrap();
    let classes = interchangeable_features(&unequal);
    assert_eq!(classes, vec![0, 1, 2]);
    assert!(!same_point(&a, &b, relu, &classes));
}
