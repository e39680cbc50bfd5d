//! Speed of phase diagrams: one row of the n = 2, m = 1 exact diagram at the literature's
//! resolution (200 densities; the full 200 × 200 diagram is 200 such rows over the cores,
//! target ≤ 10 s on 2 cores), a 10 × 100 slice of the n = 3, m = 2 one (target for 100 × 100:
//! ≤ 2 min), the theory diagram at 200 × 200, and one SGD-protocol cell (ten models, 10 000
//! steps) for the ratio.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tms_exact::model::Activation;
use tms_exact::phase::grid::{Grid, LogAxis, Shard};
use tms_exact::phase::{exact, run, sgd, PhaseMethod, RunOptions, Setting};
use tms_exact::progress::Silent;

fn grid(nr: usize, ns: usize) -> Grid {
    Grid::new(
        LogAxis::new("r", 0.1, 10.0, nr).unwrap(),
        LogAxis::new("density", 0.01, 1.0, ns).unwrap(),
    )
    .unwrap()
}

fn bench_phase(c: &mut Criterion) {
    let mut group = c.benchmark_group("phase");
    group.sample_size(10);
    let s21 = Setting::new(2, 1, Activation::Relu, false).unwrap();
    let o21 = RunOptions::new(&s21);
    let g = grid(200, 200);
    group.bench_function(
        "exact n2m1 one row of 200 (x200 rows = the 200x200 diagram)",
        |b| b.iter(|| exact::row(&s21, black_box(&g), 137, &o21.exact).unwrap()),
    );
    group.bench_function("theory n2m1 200x200", |b| {
        b.iter(|| {
            run(
                PhaseMethod::Theory,
                &s21,
                black_box(&g),
                Shard::ALL,
                &o21,
                &Silent,
            )
            .unwrap()
        })
    });
    let s32 = Setting::new(3, 2, Activation::Relu, false).unwrap();
    let o32 = RunOptions::new(&s32);
    let g32 = grid(100, 100);
    group.bench_function(
        "exact n3m2 one row of 100 (x100 rows = the 100x100 diagram)",
        |b| b.iter(|| exact::row(&s32, black_box(&g32), 60, &o32.exact).unwrap()),
    );
    group.bench_function("sgd n2m1 one cell (10 models x 10000 steps)", |b| {
        b.iter(|| sgd::cell(&s21, black_box(&g), 100, 100, &o21.sgd).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_phase);
criterion_main!(benches);
