//! Speed of exact minimisation, of a multi-start census, and of one notebook-style training
//! run, at the sizes of the paper's introductory experiment; and of one exact minimisation at
//! the paper's basic-results size (n = 20, m = 5, importance 0.7^i, density 0.1) through the
//! one-dimensional route (L-BFGS, Newton–CG polish, Lanczos classification).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tms_exact::data::{Data, PerFeature};
use tms_exact::objective::Objective;
use tms_exact::optimize::{
    census, census::start_model, minimize_local, minimize_local_with, CensusOptions,
    MinimizeOptions,
};
use tms_exact::route::HvpRoute;
use tms_exact::shape::Shape;
use tms_exact::train::{train, TrainConfig};

fn objective(n: usize, density: f64) -> Objective {
    objective_decay(n, density, 0.9)
}

fn objective_decay(n: usize, density: f64, decay: f64) -> Objective {
    Objective::new(
        Data::new(n)
            .unwrap()
            .with_density(&PerFeature::Constant(density))
            .unwrap()
            .with_importance(&PerFeature::Decay(decay))
            .unwrap(),
    )
}

fn bench_minimize(c: &mut Criterion) {
    let mut group = c.benchmark_group("minimize");
    for &(n, m) in &[(2usize, 1usize), (5, 2)] {
        let obj = objective(n, 0.1);
        let start = start_model(tms_exact::shape::Shape::new(n, m, true), 1, 0).unwrap();
        let opts = MinimizeOptions::new();
        group.bench_function(format!("lbfgs+polish {n}x{m}"), |b| {
            b.iter(|| minimize_local(black_box(&obj), &start, &opts).unwrap())
        });
    }
    group.sample_size(10);
    let obj = objective(5, 0.1);
    let opts = CensusOptions::new(5, 2).unwrap().with_restarts(32).unwrap();
    group.bench_function("census 32 starts 5x2", |b| {
        b.iter(|| census(black_box(&obj), &opts).unwrap())
    });
    group.finish();
}

fn bench_minimize_paper(c: &mut Criterion) {
    let mut group = c.benchmark_group("minimize-paper");
    // One minimisation takes seconds: the fewest samples criterion allows.
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(60));
    let (n, m) = (20, 5);
    let obj = objective_decay(n, 0.1, 0.7);
    let shape = Shape::new(n, m, true);
    let start = start_model(shape, 0, 0).unwrap();
    let route = HvpRoute::select(&obj, shape).unwrap();
    let opts = MinimizeOptions::new();
    // The accuracy the time buys: the loss, ‖∇L‖ and its error bound at the end.
    let lm = minimize_local_with(route.clone(), &start, &opts).unwrap();
    eprintln!(
        "minimize 20x5 (density 0.1, decay 0.7, start 0): loss {:.10e}, kind {}, |grad| {:.2e}, \
         gradient error bound {:.2e}",
        lm.loss,
        lm.kind_name(),
        lm.grad_norm,
        lm.grad_error
    );
    group.bench_function("lbfgs+newton-cg 20x5 onedim", |b| {
        b.iter(|| minimize_local_with(route.clone(), black_box(&start), &opts).unwrap())
    });
    group.finish();
}

fn bench_train(c: &mut Criterion) {
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    let obj = objective(5, 0.1);
    let cfg = TrainConfig::new(5, 2).unwrap();
    group.bench_function("adamw 10000 steps batch 1024 5x2", |b| {
        b.iter(|| train(black_box(&obj), &cfg, &tms_exact::progress::Silent).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_minimize, bench_minimize_paper, bench_train);
criterion_main!(benches);
