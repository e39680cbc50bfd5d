//! Speed of the n = 2, m = 1 loss surface on the 200 × 200 grid: biases fixed at 0
//! (target under 1 s) and profiled, the biases minimised exactly at every grid point (target
//! under 30 s), on all cores. Marking the census's critical points is included: it is part of
//! what `tms-exact surface` computes.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;
use tms_exact::data::{Data, PerFeature};
use tms_exact::objective::Objective;
use tms_exact::progress::Silent;
use tms_exact::surface::{pair_surface, BiasMode, GridSpec};

fn bench_surface(c: &mut Criterion) {
    let obj = Objective::new(
        Data::new(2)
            .unwrap()
            .with_density(&PerFeature::Constant(0.1))
            .unwrap()
            .with_importance(&PerFeature::List(vec![1.0, 0.5]))
            .unwrap(),
    );
    let grid = GridSpec::new(200, (-1.5, 1.5), (-1.5, 1.5)).unwrap();
    let mut group = c.benchmark_group("surface 200x200 n=2 m=1");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("biases fixed", |b| {
        b.iter(|| {
            pair_surface(
                black_box(&obj),
                &grid,
                &[BiasMode::Fixed(vec![0.0, 0.0])],
                &Silent,
            )
            .unwrap()
        })
    });
    group.bench_function("biases profiled", |b| {
        b.iter(|| pair_surface(black_box(&obj), &grid, &[BiasMode::Profiled], &Silent).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_surface);
criterion_main!(benches);
