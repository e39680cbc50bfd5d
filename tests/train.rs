//! The notebook-style trainer: reproducibility, init, optimiser arithmetic, schedules,
//! convergence to a known optimum, config validation. No timing assertions.

use tms_exact::data::{Data, PerFeature};
use tms_exact::objective::{Objective, Reduction};
use tms_exact::progress::Silent;
use tms_exact::train::{
    init_params, train, Optimizer, OptimizerState, Schedule, TrainConfig, TrainedInstance,
};

fn notebook_objective(n: usize, density: f64) -> Objective {
    let data = Data::new(n)
        .unwrap()
        .with_density(&PerFeature::Constant(density))
        .unwrap()
        .with_importance(&PerFeature::Decay(0.9))
        .unwrap();
    Objective::new(data).with_reduction(Reduction::Mean)
}

fn bits(run: &[TrainedInstance]) -> Vec<u64> {
    run.iter()
        .flat_map(|t| {
            let mut v: Vec<u64> = t.model.to_vec().iter().map(|x| x.to_bits()).collect();
            v.push(t.sampled_loss.to_bits());
            v
        })
        .collect()
}

fn small_cfg(seed: u64) -> TrainConfig {
    TrainConfig::new(5, 2)
        .unwrap()
        .with_steps(200)
        .unwrap()
        .with_batch(64)
        .unwrap()
        .with_instances(3)
        .unwrap()
        .with_seed(seed)
}

#[test]
fn same_seed_same_bits_any_thread_count() {
    let obj = notebook_objective(5, 0.1);
    let cfg = small_cfg(7);
    let pool = |t: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
    };
    let one = pool(1).install(|| train(&obj, &cfg, &Silent).unwrap());
    let two = pool(2).install(|| train(&obj, &cfg, &Silent).unwrap());
    let again = train(&obj, &cfg, &Silent).unwrap();
    assert_eq!(one.len(), 3);
    assert_eq!(bits(&one), bits(&two));
    assert_eq!(bits(&one), bits(&again));
    // Instances differ from each other (own streams), and so do seeds.
    assert_ne!(one[0].model, one[1].model);
    let other = train(&obj, &small_cfg(8), &Silent).unwrap();
    assert_ne!(bits(&one), bits(&other));
    for t in &one {
        assert!(t.sampled_loss.is_finite() && t.sampled_loss >= 0.0);
        assert!(t.exact_loss.unwrap().is_finite());
    }
}

#[test]
fn untied_training_is_reproducible_and_untied() {
    let obj = notebook_objective(4, 0.3);
    let cfg = TrainConfig::new(4, 2)
        .unwrap()
        .with_steps(50)
        .unwrap()
        .with_batch(32)
        .unwrap()
        .with_untied(true);
    let a = train(&obj, &cfg, &Silent).unwrap();
    let b = train(&obj, &cfg, &Silent).unwrap();
    assert_eq!(bits(&a), bits(&b));
    assert!(!a[0].model.is_tied());
}

#[test]
fn xavier_normal_std_matches_pytorch_fan_rule() {
    // [instances, n, m] = [4, 100, 20]: fan_in = n·m, fan_out = instances·m.
    let cfg = TrainConfig::new(100, 20)
        .unwrap()
        .with_instances(4)
        .unwrap();
    let want = (2.0f64 / ((100.0 + 4.0) * 20.0)).sqrt();
    assert!((cfg.init_std() - want).abs() < 1e-15);
    let mut draws = Vec::new();
    for k in 0..4 {
        let p = init_params(&cfg, k);
        assert_eq!(p.len(), 100 * 20 + 100);
        assert!(p[2000..].iter().all(|&b| b == 0.0), "b starts at 0");
        draws.extend_from_slice(&p[..2000]);
    }
    let n = draws.len() as f64;
    let mean = draws.iter().sum::<f64>() / n;
    let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    // Standard errors: mean ≈ std/√N ≈ 0.0011·std·… ; sample std ≈ std/√(2N) ≈ 0.8 %.
    assert!(mean.abs() < 5.0 * want / n.sqrt(), "mean {mean}");
    assert!(
        (var.sqrt() / want - 1.0).abs() < 0.04,
        "std {} vs {want}",
        var.sqrt()
    );
    // Streams differ per instance and the seed matters.
    assert_ne!(init_params(&cfg, 0), init_params(&cfg, 1));
    assert_ne!(
        init_params(&cfg, 0),
        init_params(&cfg.clone().with_seed(1), 0)
    );
}

#[test]
fn adamw_steps_match_hand_computed_pytorch() {
    // PyTorch AdamW (defaults: betas (0.9, 0.999), eps 1e-8, wd 0.01), lr 1e-3, two steps.
    let cfg = TrainConfig::new(1, 1).unwrap();
    assert_eq!(cfg.weight_decay(), 0.01);
    let (lr, wd, b1, b2, eps) = (1e-3, 0.01, 0.9, 0.999, 1e-8);
    let mut p = vec![1.0, -2.0];
    let g1 = [0.5, 0.1];
    let g2 = [-0.3, 0.2];
    let mut st = OptimizerState::new(&cfg, 2);
    st.step(&mut p, &g1, lr);
    st.step(&mut p, &g2, lr);
    for (i, p0) in [1.0f64, -2.0].into_iter().enumerate() {
        // Hand computation of torch.optim.AdamW's documented algorithm.
        let mut q = p0;
        let (mut m, mut v) = (0.0, 0.0);
        for (t, g) in [(1, g1[i]), (2, g2[i])] {
            q -= lr * wd * q;
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let mhat = m / (1.0 - b1.powi(t));
            let vhat = v / (1.0 - b2.powi(t));
            q -= lr * mhat / (vhat.sqrt() + eps);
        }
        assert!(
            (p[i] - q).abs() <= 1e-15 * q.abs(),
            "param {i}: {} vs {q}",
            p[i]
        );
    }
    // The first step by the closed form: p(1 − lr·wd) − lr·g/(|g| + eps).
    let mut p = vec![1.0];
    let mut st = OptimizerState::new(&cfg, 1);
    st.step(&mut p, &[0.5], lr);
    let want = 1.0 * (1.0 - lr * wd) - lr * 0.5 / (0.5 + eps);
    assert!((p[0] - want).abs() < 1e-16);
}

#[test]
fn adam_and_sgd_weight_decay_are_l2() {
    // Adam: wd enters the gradient; with g = 0 and wd = 0.1 the first step is lr·sign(p).
    let cfg = TrainConfig::new(1, 1)
        .unwrap()
        .with_optimizer(Optimizer::Adam)
        .with_weight_decay(0.1)
        .unwrap();
    let mut p = vec![2.0];
    OptimizerState::new(&cfg, 1).step(&mut p, &[0.0], 0.01);
    let g = 0.1 * 2.0;
    assert!((p[0] - (2.0 - 0.01 * g / (g + 1e-8))).abs() < 1e-15);
    // Adam's default decay is 0 (PyTorch), SGD: p −= lr (g + wd p).
    let adam = TrainConfig::new(1, 1)
        .unwrap()
        .with_optimizer(Optimizer::Adam);
    assert_eq!(adam.weight_decay(), 0.0);
    let sgd = TrainConfig::new(1, 1)
        .unwrap()
        .with_optimizer(Optimizer::Sgd)
        .with_weight_decay(0.5)
        .unwrap();
    let mut p = vec![2.0, -1.0];
    OptimizerState::new(&sgd, 2).step(&mut p, &[1.0, 0.25], 0.1);
    assert_eq!(p, vec![2.0 - 0.1 * (1.0 + 1.0), -1.0 - 0.1 * (0.25 - 0.5)]);
}

#[test]
fn schedules_follow_the_notebook() {
    let steps = 10_000;
    assert_eq!(Schedule::Constant.factor(1234, steps), 1.0);
    assert_eq!(Schedule::Linear.factor(0, steps), 1.0);
    assert_eq!(Schedule::Linear.factor(2500, steps), 0.75);
    assert!((Schedule::Linear.factor(steps - 1, steps) - 1e-4).abs() < 1e-15);
    assert_eq!(Schedule::Cosine.factor(0, steps), 1.0);
    let c = Schedule::Cosine.factor(steps / 2, steps);
    let want = (0.5 * std::f64::consts::PI * 5000.0 / 9999.0).cos();
    assert_eq!(c, want);
    assert!(Schedule::Cosine.factor(steps - 1, steps).abs() < 1e-15);
}

#[test]
fn adam_finds_the_known_n2_m1_optimum() {
    // n = 2, m = 1, density 0.9, importances (1, 0.5): represent feature 1, drop feature 2
    // with bias s/2; loss 0.5·(s/3 − s²/4) = 0.04875 (sum reduction).
    let s = 0.9;
    let data = Data::new(2)
        .unwrap()
        .with_density(&PerFeature::Constant(s))
        .unwrap()
        .with_importance(&PerFeature::List(vec![1.0, 0.5]))
        .unwrap();
    let obj = Objective::new(data);
    let optimum = 0.5 * (s / 3.0 - s * s / 4.0);
    let cfg = TrainConfig::new(2, 1)
        .unwrap()
        .with_optimizer(Optimizer::Adam)
        .with_lr(1e-2)
        .unwrap()
        .with_schedule(Schedule::Linear)
        .with_steps(3000)
        .unwrap()
        .with_batch(1024)
        .unwrap()
        .with_instances(4)
        .unwrap()
        .with_seed(1);
    let run = train(&obj, &cfg, &Silent).unwrap();
    let best = run
        .iter()
        .map(|t| t.exact_loss.unwrap())
        .fold(f64::INFINITY, f64::min);
    assert!(
        (best - optimum).abs() < 1e-3,
        "best exact loss {best} vs optimum {optimum}; all: {:?}",
        run.iter().map(|t| t.exact_loss).collect::<Vec<_>>()
    );
    // And it is the predicted configuration: |W_1| ≈ 1, W_2 ≈ 0, b_2 ≈ s/2.
    let t = run
        .iter()
        .find(|t| t.exact_loss == Some(best))
        .expect("best instance");
    let (w, b) = (t.model.w(), t.model.b());
    assert!((w[(0, 0)].abs() - 1.0).abs() < 0.02, "W = {w}");
    assert!(
        w[(0, 1)].abs() < 0.02 && (b[1] - s / 2.0).abs() < 0.02,
        "W = {w}, b = {b}"
    );
}

#[test]
fn bad_configs_are_errors() {
    assert!(TrainConfig::new(0, 2).is_err());
    assert!(TrainConfig::new(5, 0).is_err());
    let c = TrainConfig::new(5, 2).unwrap();
    assert!(c.clone().with_steps(0).is_err());
    assert!(c.clone().with_batch(0).is_err());
    assert!(c.clone().with_instances(0).is_err());
    for lr in [-1e-3, 0.0, f64::NAN, f64::INFINITY] {
        assert!(c.clone().with_lr(lr).is_err(), "lr {lr}");
    }
    assert!(c.clone().with_weight_decay(-0.1).is_err());
    assert!(c.clone().with_weight_decay(f64::NAN).is_err());
    assert!(c.clone().with_betas(1.0, 0.999).is_err());
    assert!(c.clone().with_betas(0.9, -0.1).is_err());
    assert!(c.clone().with_eps(0.0).is_err());
    assert!(c.clone().with_batch(usize::MAX).is_err());
    // The objective must have the config's n.
    let obj = notebook_objective(3, 0.5);
    assert!(train(&obj, &c, &Silent).is_err());
}

#[test]
fn divergence_is_an_error_not_a_panic() {
    let obj = notebook_objective(5, 1.0).with_activation(tms_exact::model::Activation::Linear);
    let cfg = TrainConfig::new(5, 2)
        .unwrap()
        .with_optimizer(Optimizer::Sgd)
        .with_lr(1e6)
        .unwrap()
        .with_steps(200)
        .unwrap()
        .with_batch(8)
        .unwrap();
    assert!(matches!(
        train(&obj, &cfg, &Silent),
        Err(tms_exact::Error::Numerical(_))
    ));
}

/// The notebook's run (n = 5, m = 2, batch 1024, 10 000 steps): prints its wall time.
/// Ignored by default; `cargo test --release --test train -- --ignored --nocapture`.
#[test]
#[ignore]
fn notebook_run_timing() {
    let obj = notebook_objective(5, 0.1);
    let cfg = TrainConfig::new(5, 2).unwrap();
    let t = std::time::Instant::now();
    let run = train(&obj, &cfg, &Silent).unwrap();
    let dt = t.elapsed();
    println!(
        "10k steps, batch 1024, n=5, m=2: {:.3} s (sampled {:.6}, exact {:.6})",
        dt.as_secs_f64(),
        run[0].sampled_loss,
        run[0].exact_loss.unwrap()
    );
}

#[test]
fn exact_loss_only_when_a_closed_form_exists() {
    let cfg = TrainConfig::new(3, 2)
        .unwrap()
        .with_steps(20)
        .unwrap()
        .with_batch(16)
        .unwrap();
    let relu = notebook_objective(3, 0.5);
    let gelu = relu
        .clone()
        .with_activation(tms_exact::model::Activation::Gelu);
    let r = train(&relu, &cfg, &Silent).unwrap();
    let g = train(&gelu, &cfg, &Silent).unwrap();
    // Exact loss agrees with the closed form of the returned model.
    let l = tms_exact::loss::loss(&r[0].model, &relu).unwrap().loss;
    assert_eq!(r[0].exact_loss, Some(l));
    assert_eq!(g[0].exact_loss, None);
    assert!(g[0].sampled_loss.is_finite());
}

#[test]
fn sampled_loss_is_an_unbiased_estimate_of_the_exact_loss() {
    // With one step the reported sampled loss is the batch loss at the initial weights
    // (taken before the update), so it must agree with the exact loss there within the
    // batch's standard error (estimated by the Monte Carlo route at the same batch size).
    let obj = notebook_objective(5, 0.3);
    for seed in 0..8u64 {
        let cfg = TrainConfig::new(5, 2)
            .unwrap()
            .with_steps(1)
            .unwrap()
            .with_batch(4096)
            .unwrap()
            .with_seed(seed);
        let trained = train(&obj, &cfg, &Silent).unwrap();
        let init = trained[0]
            .model
            .from_vec_like(&init_params(&cfg, 0))
            .unwrap();
        let exact = tms_exact::loss::loss(&init, &obj).unwrap().loss;
        let se = tms_exact::route::montecarlo::monte_carlo_loss(&init, &obj, 4096, 99, false)
            .unwrap()
            .accuracy
            .value();
        let sampled = trained[0].sampled_loss;
        assert!(
            (sampled - exact).abs() <= tms_exact::tolerance::MC_SIGMAS * se,
            "seed {seed}: sampled {sampled}, exact {exact}, batch standard error {se}"
        );
    }
}
