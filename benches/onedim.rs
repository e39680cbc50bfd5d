//! Speed of the one-dimensional route (loss + gradient at 1e-10) at the paper's sizes:
//! (n, m) = (20, 5), (80, 20), (400, 30), (20, 5) with ten dead features (columns scaled
//! by 1e-4, as minimiser iterates have them), (20, 5) shaped like its sparse optimum (five
//! antipodal pairs, interference ~1e-6, ten dead features with bias p/2), and an iterate on
//! the way there (biases beside the kink within reach of dead columns of 1e-6 … 1e-3). Each
//! case prints the reported relative error of
//! the loss and the gradient's reported error bound, the accuracy the time buys.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use tms_exact::data::{Data, PerFeature};
use tms_exact::model::Model;
use tms_exact::objective::Objective;
use tms_exact::route::onedim as onedim_route;

/// A trained-looking model: unit-norm random columns (so M_ii = 1 and interference
/// M_ij ~ 1/√m), small biases of both signs.
fn model(n: usize, m: usize, seed: u64, dead: bool) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = DMatrix::from_fn(m, n, |_, _| rng.random_range(-1.0..1.0));
    for (j, mut col) in w.column_iter_mut().enumerate() {
        let norm = col.norm();
        col /= norm;
        if dead && j >= n / 2 {
            col *= 1e-4;
        }
    }
    let b = DVector::from_fn(n, |_, _| rng.random_range(-0.3..0.1));
    Model::new(w, b).unwrap()
}

/// Shaped like the (20, 5) optimum at low density: features 2k and 2k + 1 antipodal along
/// hidden direction k (plus noise ~1e-6), biases ~1e-3; the rest dead (columns ~1e-6, bias
/// p/2).
fn sparse_optimum(n: usize, m: usize, seed: u64, density: f64) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = DMatrix::from_fn(m, n, |_, _| 1e-6 * rng.random_range(-1.0..1.0));
    let mut b = DVector::from_element(n, density / 2.0);
    for j in 0..(2 * m).min(n) {
        w[(j / 2, j)] = if j % 2 == 0 { 1.0 } else { -0.97 };
        b[j] = 1e-3 * rng.random_range(0.5..5.0);
    }
    Model::new(w, b).unwrap()
}

/// A minimiser's iterate on its way there: the same antipodal pairs, but biases within ±3e-5
/// of the kink and dead columns of 1e-6 … 1e-3, so each represented output's bias lies within
/// reach of its small interference terms.
fn near_kink(n: usize, m: usize, seed: u64, density: f64) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = DMatrix::zeros(m, n);
    let mut b = DVector::from_element(n, density / 2.0);
    for j in 0..n {
        if j < 2 * m {
            w[(j / 2, j)] = if j % 2 == 0 { 1.0 } else { -0.97 };
            b[j] = rng.random_range(-3e-5..3e-5);
        } else {
            let scale = 10f64.powf(-rng.random_range(3.0..6.0));
            for h in 0..m {
                w[(h, j)] = scale * rng.random_range(-1.0..1.0);
            }
        }
    }
    Model::new(w, b).unwrap()
}

/// The models timed.
#[derive(Clone, Copy)]
enum Case {
    Random,
    Dead,
    SparseOptimum,
    NearKink,
}

fn objective(n: usize, density: f64, decay: f64) -> Objective {
    let data = Data::new(n)
        .unwrap()
        .with_density(&PerFeature::Constant(density))
        .unwrap()
        .with_importance(&PerFeature::Decay(decay))
        .unwrap();
    Objective::new(data)
}

fn bench_onedim(c: &mut Criterion) {
    let mut group = c.benchmark_group("onedim");
    // Few, short samples: one (400, 30) evaluation takes 0.6–1.2 s on the 2-core machines.
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(10));
    for &(n, m, density, decay, case) in &[
        (20, 5, 0.05, 0.7, Case::Random),
        (20, 5, 0.05, 0.7, Case::Dead),
        (20, 5, 0.1, 0.7, Case::SparseOptimum),
        (20, 5, 0.1, 0.7, Case::NearKink),
        (80, 20, 0.05, 0.9, Case::Random),
        (400, 30, 0.05, 1.0, Case::Random),
    ] {
        let model = match case {
            Case::Random => model(n, m, 7, false),
            Case::Dead => model(n, m, 7, true),
            Case::SparseOptimum => sparse_optimum(n, m, 7, density),
            Case::NearKink => near_kink(n, m, 7, density),
        };
        let obj = objective(n, density, decay);
        let tol = onedim_route::default_tolerance();
        let started = std::time::Instant::now();
        let (v, g, g_err) = match onedim_route::loss_and_gradient(&model, &obj, tol) {
            Ok(r) => r,
            // The route refuses what it cannot bound (at (400, 30) its rounding bound may
            // exceed 1e-10): say so instead of timing a failure.
            Err(e) => {
                eprintln!(
                    "onedim {n}x{m}: refused at tol {tol:e} after {:.1?}: {e}",
                    started.elapsed()
                );
                continue;
            }
        };
        eprintln!(
            "onedim {n}x{m}: loss {:.12e}, reported relative error {:.2e}, gradient error bound \
             {:.2e} (max |g| {:.2e})",
            v.loss,
            v.error / v.loss,
            g_err,
            g.norm_inf()
        );
        let id = format!(
            "{n}x{m}{}",
            match case {
                Case::Random => "",
                Case::Dead => "-dead",
                Case::SparseOptimum => "-sparse-optimum",
                Case::NearKink => "-near-kink",
            }
        );
        group.bench_with_input(BenchmarkId::new("loss+grad", &id), &model, |b, model| {
            b.iter(|| onedim_route::loss_and_gradient(black_box(model), &obj, tol).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("loss", &id), &model, |b, model| {
            b.iter(|| onedim_route::loss(black_box(model), &obj, tol).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_onedim);
criterion_main!(benches);
