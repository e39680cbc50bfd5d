//! Speed of the exact loss (and gradient) at the sizes people use, next to the unit of work
//! they train with: one 1024-sample Monte Carlo batch at (n, m) = (5, 2).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use tms_exact::data::{Data, PerFeature};
use tms_exact::model::Model;
use tms_exact::objective::Objective;
use tms_exact::route::{ClosedForm, RouteGradient};

/// A generic trained-looking model: random W, small biases of both signs.
fn model(n: usize, m: usize, seed: u64) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows: Vec<Vec<f64>> = (0..m)
        .map(|_| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let b: Vec<f64> = (0..n).map(|_| rng.random_range(-0.3..0.1)).collect();
    Model::from_rows(&rows, &b).unwrap()
}

fn objective(n: usize) -> Objective {
    let data = Data::new(n)
        .unwrap()
        .with_density(&PerFeature::Constant(0.1))
        .unwrap()
        .with_importance(&PerFeature::Decay(0.9))
        .unwrap();
    Objective::new(data)
}

fn bench_loss(c: &mut Criterion) {
    let mut group = c.benchmark_group("exact");
    for &(n, m) in &[(2, 1), (5, 2), (8, 3), (12, 4)] {
        let model = model(n, m, 7);
        let mut eval = ClosedForm::new(objective(n)).unwrap();
        let shape = model.shape();
        let params = model.to_vec();
        let mut grad = vec![0.0; params.len()];
        let id = format!("{n}x{m}");
        if n >= 12 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("loss", &id), &params, |b, p| {
            b.iter(|| eval.loss_flat(shape, black_box(p)))
        });
        group.bench_with_input(BenchmarkId::new("loss+grad", &id), &params, |b, p| {
            b.iter(|| eval.loss_grad_flat(shape, black_box(p), &mut grad))
        });
    }
    group.finish();
}

fn bench_batch(c: &mut Criterion) {
    let (n, m, batch) = (5, 2, 1024);
    let model = model(n, m, 7);
    let obj = objective(n);
    let params = model.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut xs = vec![0.0; batch * n];
    for row in xs.chunks_mut(n) {
        obj.data().sample_into(&mut rng, row);
    }
    let mut grad = vec![0.0; params.len()];
    let (shape, act, weights) = (model.shape(), obj.activation(), obj.weights());
    let batch_loss = |xs: &[f64], grad: Option<&mut [f64]>| {
        tms_exact::integrals::batch::batch_loss(
            shape,
            black_box(&params),
            act,
            &weights,
            xs,
            tms_exact::integrals::batch::BatchOutputs {
                grad,
                ..Default::default()
            },
        )
    };
    c.bench_function("mc_batch_1024/loss 5x2", |b| {
        b.iter(|| batch_loss(&xs, None))
    });
    // The whole unit of work of a training step: draw the batch, then evaluate it.
    let mut fresh = vec![0.0; batch * n];
    c.bench_function("mc_batch_1024/sample+loss 5x2", |b| {
        b.iter(|| {
            for row in fresh.chunks_mut(n) {
                obj.data().sample_into(&mut rng, row);
            }
            batch_loss(&fresh, None)
        })
    });
    c.bench_function("mc_batch_1024/loss+grad 5x2", |b| {
        b.iter(|| batch_loss(&xs, Some(&mut grad)))
    });
}

criterion_group!(benches, bench_loss, bench_batch);
criterion_main!(benches);
