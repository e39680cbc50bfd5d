//! Krylov methods of the optimize layer (issue 12): Lanczos lowest eigenvalues against dense
//! eigen-decompositions, Newton–CG against known minima, and both on the real loss against the
//! census and the dense classification.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tms_exact::data::{Data, PerFeature};
use tms_exact::error::Error;
use tms_exact::objective::Objective;
use tms_exact::optimize::lanczos::{lowest_eigenvalues, LanczosOptions, LanczosResult};
use tms_exact::optimize::newton_cg::{self, NewtonCgOptions, Stop};
use tms_exact::optimize::{census, classify, CensusOptions, SearchOptions};
use tms_exact::route::{ClosedForm, RouteGradient, RouteHessian};

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

fn gaussian(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| rng.sample::<f64, _>(StandardNormal))
        .collect()
}

/// A random orthogonal matrix (QR of a Gaussian matrix).
fn orthogonal(dim: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = DMatrix::from_vec(dim, dim, gaussian(&mut rng, dim * dim));
    g.qr().q()
}

/// Q diag(λ) Qᵀ: a symmetric matrix with the given spectrum; returns it and Q.
fn with_spectrum(lambda: &[f64], seed: u64) -> (DMatrix<f64>, DMatrix<f64>) {
    let q = orthogonal(lambda.len(), seed);
    let a = &q * DMatrix::from_diagonal(&DVector::from_row_slice(lambda)) * q.transpose();
    ((&a + a.transpose()) * 0.5, q)
}

fn lanczos(a: &DMatrix<f64>, deflate: &[Vec<f64>], opts: &LanczosOptions) -> LanczosResult {
    let mut apply = |v: &[f64], out: &mut [f64]| {
        let y = a * DVector::from_row_slice(v);
        out.copy_from_slice(y.as_slice());
        Ok(())
    };
    lowest_eigenvalues(a.nrows(), &mut apply, deflate, opts).unwrap()
}

fn sorted_eigenvalues(a: &DMatrix<f64>) -> Vec<f64> {
    let mut e: Vec<f64> = SymmetricEigen::new(a.clone())
        .eigenvalues
        .iter()
        .copied()
        .collect();
    e.sort_by(|x, y| x.total_cmp(y));
    e
}

fn opts(k: usize, max_iters: usize, seed: u64) -> LanczosOptions {
    LanczosOptions::new()
        .with_k(k)
        .unwrap()
        .with_max_iters(max_iters)
        .unwrap()
        .with_seed(seed)
        .unwrap()
}

/// Asserts `got` equals `want` to `rel` relative to `scale`, entry by entry.
fn assert_close(got: &[f64], want: &[f64], rel: f64, scale: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= rel * scale,
            "{g} vs {w} (diff {:e}, allowed {:e}); all: {got:?} vs {want:?}",
            (g - w).abs(),
            rel * scale
        );
    }
}

proptest! {
    #![proptest_config(config(24, 12))]

    /// Random symmetric (Gaussian) matrices, basis as large as the space: the k lowest match
    /// the dense decomposition to 1e-10 relative to the matrix's scale.
    #[test]
    fn lanczos_matches_dense_on_random_symmetric(seed in 0u64..1 << 40, dim in 1usize..60,
                                                 k in 1usize..8) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = DMatrix::from_vec(dim, dim, gaussian(&mut rng, dim * dim));
        let a = (&g + g.transpose()) * 0.5;
        let dense = sorted_eigenvalues(&a);
        let scale = dense.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let r = lanczos(&a, &[], &opts(k, dim.max(k), seed));
        prop_assert!(r.converged);
        prop_assert!(r.iterations <= dim);
        assert_close(&r.eigenvalues, &dense[..k.min(dim)], 1e-10, scale);
        prop_assert!(r.norm_estimate <= scale * (1.0 + 1e-12));
    }

    /// A spectrum with a well-separated low end, basis much smaller than the space: converges
    /// early, and every reported residual bounds the actual error.
    #[test]
    fn lanczos_converges_early_with_honest_residuals(seed in 0u64..1 << 40, k in 1usize..5) {
        let dim = 150;
        // λ_i = −1 + 0.3 i for the 6 lowest, then a bulk in [2, 10].
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 7);
        let lambda: Vec<f64> = (0..dim)
            .map(|i| if i < 6 { -1.0 + 0.3 * i as f64 } else { 2.0 + 8.0 * rng.random::<f64>() })
            .collect();
        let (a, _) = with_spectrum(&lambda, seed);
        let dense = sorted_eigenvalues(&a);
        let r = lanczos(&a, &[], &opts(k, 100, seed));
        prop_assert!(r.converged, "{r:?}");
        prop_assert!(r.iterations < 100);
        assert_close(&r.eigenvalues, &dense[..k], 1e-10, 10.0);
        for ((e, res), d) in r.eigenvalues.iter().zip(&r.residuals).zip(&dense) {
            prop_assert!((e - d).abs() <= res + 1e-13 * 10.0, "{e} {d} {res}");
            prop_assert!(*res <= 1e-10 * r.norm_estimate);
        }
    }
}

#[test]
fn lanczos_excludes_deflated_null_vectors() {
    // Spectrum: −2, −0.5, three exact zeros (the "symmetry modes"), then 0.25 … ; the zeros'
    // eigenvectors are deflated, passed non-orthonormal, scaled and with a dependent copy.
    let dim = 40;
    let mut lambda: Vec<f64> = (0..dim).map(|i| 0.25 * i as f64 - 0.3).collect();
    lambda[0] = -2.0;
    lambda[1] = -0.5;
    lambda[2] = 0.0;
    lambda[3] = 0.0;
    lambda[4] = 0.0;
    let (a, q) = with_spectrum(&lambda, 5);
    let null: Vec<DVector<f64>> = (2..5).map(|i| q.column(i).into_owned()).collect();
    let deflate: Vec<Vec<f64>> = vec![
        (&null[0] * 3.0 + &null[1]).as_slice().to_vec(),
        (&null[1] * -0.5).as_slice().to_vec(),
        (&null[0] + &null[1] * 2.0).as_slice().to_vec(), // dependent on the first two
        (&null[2] * 1e-3 + &null[0]).as_slice().to_vec(),
        vec![0.0; dim],
    ];
    let mut expected: Vec<f64> = lambda
        .iter()
        .enumerate()
        .filter(|(i, _)| !(2..5).contains(i))
        .map(|(_, l)| *l)
        .collect();
    expected.sort_by(|x, y| x.total_cmp(y));
    let scale = 0.25 * dim as f64;
    // Exact (basis spans the complement) and early-stopping runs.
    for (k, max_iters) in [(5, dim), (2, 30)] {
        let r = lanczos(&a, &deflate, &opts(k, max_iters, 1));
        assert!(r.converged, "{r:?}");
        assert_close(&r.eigenvalues, &expected[..k], 1e-10, scale);
        assert!(r.eigenvalues.iter().all(|e| e.abs() > 0.1), "{r:?}");
    }
    // Without deflation a zero is among the lowest. (One start vector sees the triple zero
    // once; the run stops on small residuals before an invariant subspace, so k = 3, not 5.)
    let r = lanczos(&a, &[], &opts(3, dim, 1));
    assert!(r.converged);
    assert_close(&r.eigenvalues, &[-2.0, -0.5, 0.0], 1e-10, scale);
    // The deflation of the lowest eigenvector removes it.
    let low = q.column(0).as_slice().to_vec();
    let r = lanczos(&a, &[low], &opts(2, dim, 1));
    assert_close(&r.eigenvalues, &[-0.5, 0.0], 1e-10, scale);
}

#[test]
fn lanczos_finds_repeated_and_clustered_eigenvalues() {
    // Lowest eigenvalue with multiplicity 3, then a cluster 1e-9 apart, then the bulk.
    let dim = 60;
    let mut lambda: Vec<f64> = (0..dim).map(|i| 1.0 + 0.1 * i as f64).collect();
    lambda[0] = -3.0;
    lambda[1] = -3.0;
    lambda[2] = -3.0;
    lambda[3] = -1.0;
    lambda[4] = -1.0 + 1e-9;
    lambda[5] = -1.0 + 2e-9;
    let (a, _) = with_spectrum(&lambda, 9);
    let dense = sorted_eigenvalues(&a);
    let scale = 7.0;
    // A basis spanning the space gives every copy.
    let r = lanczos(&a, &[], &opts(6, dim, 2));
    assert!(r.converged);
    assert_close(&r.eigenvalues, &dense[..6], 1e-10, scale);
    // A repeated identity block: the Krylov space is one-dimensional and the run restarts.
    let mut lam = vec![2.0; 10];
    lam.extend([5.0, 7.0]);
    let (b, _) = with_spectrum(&lam, 3);
    let r = lanczos(&b, &[], &opts(4, 12, 4));
    assert!(r.converged);
    assert_close(&r.eigenvalues, &[2.0; 4], 1e-12, 7.0);
    // The zero operator: every start is an invariant subspace.
    let z = DMatrix::zeros(7, 7);
    let r = lanczos(&z, &[], &opts(3, 7, 0));
    assert!(r.converged);
    assert_eq!(r.eigenvalues, vec![0.0; 3]);
    // Stopped early, the lowest eigenvalue is still the lowest.
    let r = lanczos(&a, &[], &opts(1, 30, 2));
    assert!(r.converged);
    assert_close(&r.eigenvalues, &[-3.0], 1e-10, scale);
}

#[test]
fn lanczos_with_fewer_dimensions_than_asked() {
    let (a, q) = with_spectrum(&[3.0, -1.0, 2.0], 1);
    let r = lanczos(&a, &[], &opts(5, 10, 0));
    assert!(r.converged);
    assert_close(&r.eigenvalues, &[-1.0, 2.0, 3.0], 1e-12, 3.0);
    assert_eq!(r.residuals.len(), 3);
    // Two of three directions deflated: one eigenvalue left.
    let d = vec![
        q.column(0).as_slice().to_vec(),
        q.column(1).as_slice().to_vec(),
    ];
    let r = lanczos(&a, &d, &opts(5, 10, 0));
    assert_close(&r.eigenvalues, &[2.0], 1e-12, 3.0);
    // Everything deflated, or an empty operator: nothing left, no products.
    let d = (0..3)
        .map(|i| q.column(i).as_slice().to_vec())
        .collect::<Vec<_>>();
    let r = lanczos(&a, &d, &opts(2, 10, 0));
    assert!(r.eigenvalues.is_empty() && r.converged && r.iterations == 0);
    let r = lanczos(&DMatrix::zeros(0, 0), &[], &opts(2, 10, 0));
    assert!(r.eigenvalues.is_empty() && r.converged);
}

#[test]
fn lanczos_is_reproducible_and_reports_unconverged_runs() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let g = DMatrix::from_vec(200, 200, gaussian(&mut rng, 200 * 200));
    let a = (&g + g.transpose()) * 0.5;
    let o = opts(3, 20, 77);
    let r1 = lanczos(&a, &[], &o);
    let r2 = lanczos(&a, &[], &o);
    assert_eq!(r1, r2);
    // 20 steps on a semicircle spectrum cannot resolve the edge to 1e-10: say so.
    assert!(!r1.converged);
    assert_eq!(r1.iterations, 20);
    let dense = sorted_eigenvalues(&a);
    for ((e, res), d) in r1.eigenvalues.iter().zip(&r1.residuals).zip(&dense) {
        // Ritz values lie above the true ones (Cauchy interlacing) within the residual bound.
        assert!(*e >= d - 1e-12 && *e - d <= *res + 1e-12, "{e} {d} {res}");
    }
}

#[test]
fn lanczos_rejects_bad_options_and_inputs() {
    let o = LanczosOptions::new();
    assert!(matches!(o.clone().with_k(0), Err(Error::Invalid(_))));
    assert!(matches!(
        o.clone().with_max_iters(0),
        Err(Error::Invalid(_))
    ));
    for t in [0.0, -1e-3, f64::NAN, f64::INFINITY] {
        assert!(matches!(o.clone().with_rel_tol(t), Err(Error::Invalid(_))));
    }
    let a = DMatrix::<f64>::identity(4, 4);
    let mut apply = |v: &[f64], out: &mut [f64]| {
        out.copy_from_slice(v);
        Ok(())
    };
    // Wrong deflation length, non-finite deflation, too few iterations for k.
    let r = lowest_eigenvalues(4, &mut apply, &[vec![1.0; 3]], &o);
    assert!(matches!(r, Err(Error::Invalid(_))));
    let r = lowest_eigenvalues(4, &mut apply, &[vec![f64::NAN; 4]], &o);
    assert!(matches!(r, Err(Error::Invalid(_))));
    let r = lowest_eigenvalues(4, &mut apply, &[], &opts(3, 2, 0));
    assert!(matches!(r, Err(Error::Invalid(_))));
    // The operator's own error is passed on; a NaN product is a numerical failure.
    let mut failing = |_: &[f64], _: &mut [f64]| Err(Error::invalid("no"));
    let r = lowest_eigenvalues(4, &mut failing, &[], &o);
    assert!(matches!(r, Err(Error::Invalid(m)) if m == "no"));
    let mut nan = |_: &[f64], out: &mut [f64]| {
        out.fill(f64::NAN);
        Ok(())
    };
    let r = lowest_eigenvalues(4, &mut nan, &[], &o);
    assert!(matches!(r, Err(Error::Numerical(_))));
    assert_close(
        &lanczos(&a, &[], &opts(2, 4, 0)).eigenvalues,
        &[1.0, 1.0],
        1e-15,
        1.0,
    );
}

// ---- Newton–CG ----

fn newton(
    x0: Vec<f64>,
    f: impl Fn(&[f64], &mut [f64]) -> f64,
    h: impl Fn(&[f64]) -> DMatrix<f64>,
    opts: &NewtonCgOptions,
) -> newton_cg::NewtonCgReport {
    let mut lg = |x: &[f64], g: &mut [f64]| f(x, g);
    let mut hvp = |x: &[f64], v: &[f64], out: &mut [f64]| {
        let y = h(x) * DVector::from_row_slice(v);
        out.copy_from_slice(y.as_slice());
    };
    newton_cg::run(x0, &mut lg, &mut hvp, opts)
}

fn rosenbrock(x: &[f64], g: &mut [f64]) -> f64 {
    let (a, b) = (x[0], x[1]);
    g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
    g[1] = 200.0 * (b - a * a);
    (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
}

fn rosenbrock_hessian(x: &[f64]) -> DMatrix<f64> {
    let (a, b) = (x[0], x[1]);
    DMatrix::from_row_slice(
        2,
        2,
        &[
            2.0 - 400.0 * (b - 3.0 * a * a),
            -400.0 * a,
            -400.0 * a,
            200.0,
        ],
    )
}

fn grad_tol(t: f64) -> NewtonCgOptions {
    NewtonCgOptions::new().with_grad_tol(t).unwrap()
}

#[test]
fn newton_cg_solves_rosenbrock() {
    for x0 in [vec![-1.2, 1.0], vec![2.0, -1.0], vec![0.0, 0.0]] {
        let r = newton(x0.clone(), rosenbrock, rosenbrock_hessian, &grad_tol(1e-10));
        assert_eq!(r.stop, Stop::GradTol, "{x0:?}: {r:?}");
        assert!(r.grad_norm <= 1e-10);
        assert!(
            (r.x[0] - 1.0).abs() < 1e-9 && (r.x[1] - 1.0).abs() < 1e-9,
            "{r:?}"
        );
        assert!(r.loss < 1e-18);
        assert!(r.hvps >= r.iterations && r.iterations < 100, "{r:?}");
    }
    // With grad_tol 0 it runs to the accuracy limit and stops with no progress, at the
    // minimum, without NaN.
    let r = newton(
        vec![-1.2, 1.0],
        rosenbrock,
        rosenbrock_hessian,
        &grad_tol(0.0),
    );
    assert!(matches!(r.stop, Stop::NoProgress | Stop::GradTol), "{r:?}");
    assert!(r.grad_norm < 1e-12 && r.loss.is_finite());
}

#[test]
fn newton_cg_on_a_singular_convex_quadratic() {
    // f = ½ xᵀAx − bᵀx with A = Q diag(4, 1, 0.5, 0, 0) Qᵀ and b in A's range: a valley of
    // minima; Newton–CG must reach it without moving along the null space.
    let lambda = [4.0, 1.0, 0.5, 0.0, 0.0];
    let (a, q) = with_spectrum(&lambda, 21);
    let b = &a * DVector::from_row_slice(&[1.0, -2.0, 0.5, 3.0, 1.0]);
    let f = |x: &[f64], g: &mut [f64]| {
        let x = DVector::from_row_slice(x);
        let ax = &a * &x;
        g.copy_from_slice((&ax - &b).as_slice());
        0.5 * x.dot(&ax) - b.dot(&x)
    };
    let x0 = vec![0.3, 0.1, -0.2, 0.7, 0.0];
    let r = newton(x0.clone(), f, |_| a.clone(), &grad_tol(1e-12));
    assert_eq!(r.stop, Stop::GradTol, "{r:?}");
    // Minimum value: −½ bᵀA⁺b, via the pseudo-inverse.
    let pinv = a.clone().pseudo_inverse(1e-12).unwrap();
    let fmin = -0.5 * b.dot(&(&pinv * &b));
    assert!(
        (r.loss - fmin).abs() <= 1e-13 * fmin.abs(),
        "{} vs {fmin}",
        r.loss
    );
    let dx = DVector::from_row_slice(&r.x) - DVector::from_row_slice(&x0);
    for i in 3..5 {
        assert!(
            q.column(i).dot(&dx).abs() < 1e-10,
            "moved along the null space"
        );
    }
}

#[test]
fn newton_cg_follows_zero_curvature_along_the_gradient() {
    // f = (x − 1)² + y⁴/4 − y at (1, 0): H = diag(2, 0), the gradient (0, −1) lies in H's null
    // space, so the first CG direction has pᵀHp = 0 exactly. Minimum at (1, 1), f = −3/4.
    let f = |x: &[f64], g: &mut [f64]| {
        g[0] = 2.0 * (x[0] - 1.0);
        g[1] = x[1].powi(3) - 1.0;
        (x[0] - 1.0).powi(2) + x[1].powi(4) / 4.0 - x[1]
    };
    let h = |x: &[f64]| DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.0, 3.0 * x[1] * x[1]]);
    let r = newton(vec![1.0, 0.0], f, h, &grad_tol(1e-12));
    assert_eq!(r.stop, Stop::GradTol, "{r:?}");
    assert!(
        (r.x[0] - 1.0).abs() < 1e-12 && (r.x[1] - 1.0).abs() < 1e-12,
        "{r:?}"
    );
    assert!((r.loss + 0.75).abs() < 1e-15);
}

#[test]
fn newton_cg_leaves_a_saddle() {
    // f = x² − y² + y⁴: a saddle at 0, minima at (0, ±1/√2) with f = −1/4. Start next to the
    // saddle (mostly along the stable direction): it must escape and descend.
    let f = |x: &[f64], g: &mut [f64]| {
        g[0] = 2.0 * x[0];
        g[1] = -2.0 * x[1] + 4.0 * x[1].powi(3);
        x[0] * x[0] - x[1] * x[1] + x[1].powi(4)
    };
    let h = |x: &[f64]| DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.0, -2.0 + 12.0 * x[1] * x[1]]);
    let x0 = vec![0.3, 1e-6];
    let mut g = [0.0; 2];
    let f0 = f(&x0, &mut g);
    let r = newton(x0, f, h, &grad_tol(1e-12));
    assert_eq!(r.stop, Stop::GradTol, "{r:?}");
    assert!(r.loss < f0);
    assert!((r.loss + 0.25).abs() < 1e-15, "{r:?}");
    assert!((r.x[1].abs() - 0.5f64.sqrt()).abs() < 1e-12 && r.x[0].abs() < 1e-12);
}

#[test]
fn newton_cg_rejects_steps_into_a_nan_region() {
    // f = x⁴/4 − x, undefined (NaN) beyond x = 1.5; minimum at x = 1. From x = 0.05 the
    // Newton step is ~130 long, far into the NaN region; with a large radius those steps must
    // be rejected, not returned.
    let nans = std::cell::Cell::new(0usize);
    let f = |x: &[f64], g: &mut [f64]| {
        if x[0] > 1.5 {
            nans.set(nans.get() + 1);
            g[0] = f64::NAN;
            return f64::NAN;
        }
        g[0] = x[0].powi(3) - 1.0;
        x[0].powi(4) / 4.0 - x[0]
    };
    let h = |x: &[f64]| DMatrix::from_element(1, 1, 3.0 * x[0] * x[0]);
    let o = grad_tol(1e-13).with_initial_radius(100.0).unwrap();
    let r = newton(vec![0.05], f, h, &o);
    assert!(nans.get() > 0, "the test did not reach the NaN region");
    assert_eq!(r.stop, Stop::GradTol, "{r:?}");
    assert!((r.x[0] - 1.0).abs() < 1e-12 && (r.loss + 0.75).abs() < 1e-15);
    // NaN at the start: the start comes back, flagged, with no NaN in the report.
    let r = newton(vec![2.0], f, h, &o);
    assert_eq!(r.stop, Stop::NonFinite);
    assert_eq!(r.x, vec![2.0]);
    assert!(!r.loss.is_nan() && !r.grad_norm.is_nan());
    assert_eq!((r.iterations, r.hvps), (0, 0));
}

#[test]
fn newton_cg_rejects_bad_options_and_stops_at_limits() {
    let o = NewtonCgOptions::new();
    assert!(matches!(
        o.clone().with_grad_tol(-1.0),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        o.clone().with_grad_tol(f64::NAN),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        o.clone().with_max_iters(0),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(o.clone().with_max_cg(0), Err(Error::Invalid(_))));
    for r in [0.0, -1.0, f64::INFINITY, f64::NAN] {
        assert!(matches!(
            o.clone().with_initial_radius(r),
            Err(Error::Invalid(_))
        ));
    }
    let o = grad_tol(1e-10).with_max_iters(3).unwrap();
    let r = newton(vec![-1.2, 1.0], rosenbrock, rosenbrock_hessian, &o);
    assert_eq!((r.stop, r.iterations), (Stop::MaxIters, 3));
    let mut g = [0.0; 2];
    assert!(r.loss < rosenbrock(&[-1.2, 1.0], &mut g));
    // One CG step per iteration (steepest descent within the region) still converges.
    let o = grad_tol(1e-10)
        .with_max_cg(1)
        .unwrap()
        .with_max_iters(100_000)
        .unwrap();
    let f = |x: &[f64], g: &mut [f64]| {
        g[0] = 2.0 * x[0];
        g[1] = 20.0 * x[1];
        x[0] * x[0] + 10.0 * x[1] * x[1]
    };
    let h = |_: &[f64]| DMatrix::from_diagonal(&DVector::from_row_slice(&[2.0, 20.0]));
    let r = newton(vec![1.0, 1.0], f, h, &o);
    assert_eq!(r.stop, Stop::GradTol, "{r:?}");
    assert_eq!(r.hvps, r.iterations);
}

// ---- the real loss ----

fn objective(n: usize, density: f64, importance: Vec<f64>) -> Objective {
    let data = Data::new(n)
        .unwrap()
        .with_density(&PerFeature::Constant(density))
        .unwrap()
        .with_importance(&PerFeature::List(importance))
        .unwrap();
    Objective::new(data)
}

#[test]
fn krylov_methods_on_the_exact_loss() {
    // n = 3, m = 2 (tied ReLU): the census minimum, perturbed, is found again by Newton–CG with
    // Hessian-vector products; Lanczos with the symmetry modes deflated reproduces the dense
    // classification's lowest eigenvalues.
    let obj = objective(3, 0.3, vec![1.0, 0.8, 0.6]);
    let c = census(
        &obj,
        &CensusOptions::new(3, 2)
            .unwrap()
            .with_search(SearchOptions::new().with_restarts(6).unwrap().with_seed(11)),
    )
    .unwrap();
    let best = &c.best().minimum;
    let shape = best.model.shape();
    let xmin = best.model.to_vec();
    let route = ClosedForm::new(obj.clone()).unwrap();
    let (mut r1, mut r2) = (route.clone(), route);
    let mut lg = |x: &[f64], g: &mut [f64]| r1.loss_grad_flat(shape, x, g);
    let mut hvp = |x: &[f64], v: &[f64], out: &mut [f64]| {
        let y = r2.hessian_flat(shape, x) * DVector::from_row_slice(v);
        out.copy_from_slice(y.as_slice());
    };
    for (k, amp) in [1e-3, 3e-2].into_iter().enumerate() {
        let x0: Vec<f64> = xmin
            .iter()
            .enumerate()
            .map(|(i, v)| v + amp * ((i * 7 + k * 3) % 5) as f64 * 0.5 - amp)
            .collect();
        let r = newton_cg::run(x0, &mut lg, &mut hvp, &grad_tol(1e-13));
        assert_eq!(r.stop, Stop::GradTol, "{r:?}");
        assert!(
            (r.loss - best.loss).abs() <= 1e-12 * best.loss.abs(),
            "{} vs census {}",
            r.loss,
            best.loss
        );
    }
    // Lanczos at the census minimum against the dense spectrum.
    let np = xmin.len();
    let mut rh = ClosedForm::new(obj).unwrap();
    let h = rh.hessian_flat(shape, &xmin);
    let free: Vec<usize> = (0..np).collect();
    let dense = classify::spectrum(&h, &xmin, &free, shape);
    assert_eq!(dense.eigenvalues, best.spectrum.eigenvalues);
    let deflate = classify::symmetry_tangents(&xmin, shape);
    let mut apply = |v: &[f64], out: &mut [f64]| {
        out.copy_from_slice((&h * DVector::from_row_slice(v)).as_slice());
        Ok(())
    };
    let k = 4;
    let r = lowest_eigenvalues(np, &mut apply, &deflate, &opts(k, np, 5)).unwrap();
    assert!(r.converged);
    assert_eq!(r.eigenvalues.len(), k);
    let scale = dense.eigenvalues.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert_close(&r.eigenvalues, &dense.eigenvalues[..k], 1e-9, scale);
    assert_eq!(np - dense.eigenvalues.len(), dense.symmetry_modes);
}
