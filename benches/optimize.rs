//! Speed of exact minimisation, of a multi-start census, and of one notebook-style training
//! run, at the sizes of the paper's introductory experiment.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tms_exact::data::{Data, PerFeature};
use tms_exact::objective::Objective;
use tms_exact::optimize::{
    census, census::start_model, minimize_local, CensusOptions, MinimizeOptions,
};
use tms_exact::train::{train, TrainConfig};

fn objective(n: usize, density: f64) -> Objective {
    Objective::new(
        Data::new(n)
            .unwrap()
            .with_density(&PerFeature::Constant(density))
            .unwrap()
            .with_importance(&PerFeature::Decay(0.9))
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

criterion_group!(benches, bench_minimize, bench_train);
criterion_main!(benches);
