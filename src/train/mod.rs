//! A trainer that does what the public Anthropic notebook does, so trained models can be
//! compared with the exact optimum on the same footing (`shared/reference/paper-notes.md`).
//!
//! * init: `W` as a `[instances, features, hidden]` tensor with `xavier_normal_`
//!   (std = √(2 / ((n + instances)·m)), PyTorch's fan rule for a 3-D tensor), `b = 0`;
//! * each step: a fresh batch from the objective's data distribution, the batch mean of
//!   `Σ_i w_i (x_i − x'_i)²` with `w = obj.weights()` (the notebook's loss is the `mean`
//!   reduction), backprop, one optimiser step at the schedule's learning rate;
//! * optimisers with PyTorch's semantics and defaults (AdamW: lr 1e-3, betas (0.9, 0.999),
//!   eps 1e-8, decoupled weight decay 0.01 on every parameter, bias included).
//!
//! Instances are independent models (the notebook sums their losses, which does not couple
//! their gradients), each with its own ChaCha8 stream, so results are bit-identical whatever
//! the number of threads.

use std::fmt;
use std::io::IsTerminal;
use std::str::FromStr;

use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::integrals::montecarlo::batch_loss;
use crate::loss::{self, Objective};
use crate::model::Model;

/// Largest batch × features the trainer allocates (2²⁷ f64 = 1 GiB per instance).
const MAX_BATCH_ENTRIES: usize = 1 << 27;

/// Steps between progress-bar updates (keeps the bar's cost negligible).
const PROGRESS_EVERY: usize = 100;

/// The optimiser, with PyTorch's update rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Optimizer {
    /// Plain SGD (no momentum): `p −= lr·(g + wd·p)`.
    Sgd,
    /// Adam; weight decay (default 0) is L2, added to the gradient as PyTorch does.
    Adam,
    /// AdamW: decoupled weight decay `p −= lr·wd·p` (default 0.01), the notebook's optimiser.
    #[default]
    AdamW,
}

impl Optimizer {
    /// PyTorch's default weight decay for this optimiser.
    pub fn default_weight_decay(self) -> f64 {
        match self {
            Optimizer::AdamW => 0.01,
            Optimizer::Sgd | Optimizer::Adam => 0.0,
        }
    }
}

impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Optimizer::Sgd => write!(f, "sgd"),
            Optimizer::Adam => write!(f, "adam"),
            Optimizer::AdamW => write!(f, "adamw"),
        }
    }
}

impl FromStr for Optimizer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sgd" => Ok(Optimizer::Sgd),
            "adam" => Ok(Optimizer::Adam),
            "adamw" => Ok(Optimizer::AdamW),
            other => Err(Error::invalid(format!(
                "unknown optimizer '{other}' (expected sgd, adam or adamw)"
            ))),
        }
    }
}

/// Learning-rate schedule: the factor the base learning rate is multiplied by at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    /// 1 (the notebook's default).
    #[default]
    Constant,
    /// `1 − step/steps` (the notebook's `linear_lr`).
    Linear,
    /// `cos(½π·step/(steps − 1))` (the notebook's `cosine_decay_lr`).
    Cosine,
}

impl Schedule {
    /// The factor at `step` (0-based) of `steps`. For a single step the cosine schedule's
    /// `0/0` is taken as factor 1.
    pub fn factor(self, step: usize, steps: usize) -> f64 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::Linear => 1.0 - step as f64 / steps.max(1) as f64,
            Schedule::Cosine => {
                if steps <= 1 {
                    1.0
                } else {
                    (0.5 * std::f64::consts::PI * step as f64 / (steps - 1) as f64).cos()
                }
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => write!(f, "constant"),
            Schedule::Linear => write!(f, "linear"),
            Schedule::Cosine => write!(f, "cosine"),
        }
    }
}

impl FromStr for Schedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "constant" => Ok(Schedule::Constant),
            "linear" => Ok(Schedule::Linear),
            "cosine" => Ok(Schedule::Cosine),
            other => Err(Error::invalid(format!(
                "unknown schedule '{other}' (expected constant, linear or cosine)"
            ))),
        }
    }
}

/// Training settings. Build with [`TrainConfig::new`] and the `with_*` methods, which validate
/// (the fallible ones return `Result`), so a config that exists is one `train` accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    n: usize,
    m: usize,
    optimizer: Optimizer,
    lr: f64,
    weight_decay: Option<f64>,
    betas: (f64, f64),
    eps: f64,
    batch: usize,
    steps: usize,
    instances: usize,
    schedule: Schedule,
    seed: u64,
    untied: bool,
}

impl TrainConfig {
    /// The notebook's settings for n features and m hidden dimensions: AdamW, lr 1e-3,
    /// betas (0.9, 0.999), eps 1e-8, weight decay 0.01, batch 1024, 10 000 steps, one
    /// instance, constant schedule, seed 0, tied.
    pub fn new(n: usize, m: usize) -> Result<Self> {
        if n == 0 || m == 0 {
            return Err(Error::invalid(format!(
                "training needs at least one feature and one hidden dimension (got n = {n}, m = {m})"
            )));
        }
        Ok(TrainConfig {
            n,
            m,
            optimizer: Optimizer::AdamW,
            lr: 1e-3,
            weight_decay: None,
            betas: (0.9, 0.999),
            eps: 1e-8,
            batch: 1024,
            steps: 10_000,
            instances: 1,
            schedule: Schedule::Constant,
            seed: 0,
            untied: false,
        })
    }

    /// Sets the optimiser. Unless set explicitly, the weight decay follows its PyTorch default.
    pub fn with_optimizer(mut self, optimizer: Optimizer) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// Sets the base learning rate (finite, > 0).
    pub fn with_lr(mut self, lr: f64) -> Result<Self> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::invalid(format!(
                "the learning rate must be finite and > 0 (got {lr})"
            )));
        }
        self.lr = lr;
        Ok(self)
    }

    /// Sets the weight decay (finite, ≥ 0).
    pub fn with_weight_decay(mut self, wd: f64) -> Result<Self> {
        if !(wd.is_finite() && wd >= 0.0) {
            return Err(Error::invalid(format!(
                "the weight decay must be finite and ≥ 0 (got {wd})"
            )));
        }
        self.weight_decay = Some(wd);
        Ok(self)
    }

    /// Sets Adam's (β₁, β₂), each in [0, 1).
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Result<Self> {
        for (name, b) in [("beta1", beta1), ("beta2", beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::invalid(format!(
                    "{name} must be in [0, 1) (got {b})"
                )));
            }
        }
        self.betas = (beta1, beta2);
        Ok(self)
    }

    /// Sets Adam's ε (finite, > 0).
    pub fn with_eps(mut self, eps: f64) -> Result<Self> {
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::invalid(format!(
                "eps must be finite and > 0 (got {eps})"
            )));
        }
        self.eps = eps;
        Ok(self)
    }

    /// Sets the batch size (≥ 1).
    pub fn with_batch(mut self, batch: usize) -> Result<Self> {
        if batch == 0 {
            return Err(Error::invalid("the batch size must be at least 1"));
        }
        if batch.saturating_mul(self.n) > MAX_BATCH_ENTRIES {
            return Err(Error::TooLarge(format!(
                "a batch of {batch} rows × {} features exceeds {MAX_BATCH_ENTRIES} entries",
                self.n
            )));
        }
        self.batch = batch;
        Ok(self)
    }

    /// Sets the number of optimiser steps (≥ 1).
    pub fn with_steps(mut self, steps: usize) -> Result<Self> {
        if steps == 0 {
            return Err(Error::invalid("training needs at least one step"));
        }
        self.steps = steps;
        Ok(self)
    }

    /// Sets the number of independently trained instances (≥ 1); it also enters the xavier
    /// init's standard deviation, as in the notebook.
    pub fn with_instances(mut self, instances: usize) -> Result<Self> {
        if instances == 0 {
            return Err(Error::invalid("training needs at least one instance"));
        }
        self.instances = instances;
        Ok(self)
    }

    /// Sets the learning-rate schedule.
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Sets the seed; instance k uses stream k of `ChaCha8Rng::seed_from_u64(seed)`.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Trains an untied model (separate read-out `W_out`) instead of the tied one.
    pub fn with_untied(mut self, untied: bool) -> Self {
        self.untied = untied;
        self
    }

    /// Number of features.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Number of hidden dimensions.
    pub fn m(&self) -> usize {
        self.m
    }
    /// The optimiser.
    pub fn optimizer(&self) -> Optimizer {
        self.optimizer
    }
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }
    /// The weight decay in effect: the value set, else the optimiser's PyTorch default.
    pub fn weight_decay(&self) -> f64 {
        self.weight_decay
            .unwrap_or_else(|| self.optimizer.default_weight_decay())
    }
    /// Adam's (β₁, β₂).
    pub fn betas(&self) -> (f64, f64) {
        self.betas
    }
    /// Adam's ε.
    pub fn eps(&self) -> f64 {
        self.eps
    }
    /// Batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Number of steps.
    pub fn steps(&self) -> usize {
        self.steps
    }
    /// Number of instances.
    pub fn instances(&self) -> usize {
        self.instances
    }
    /// The learning-rate schedule.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }
    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Whether the model is untied.
    pub fn untied(&self) -> bool {
        self.untied
    }

    /// Number of parameters per instance in [`Model::to_vec`]'s layout.
    pub fn num_params(&self) -> usize {
        let (m, n) = (self.m, self.n);
        m * n + if self.untied { n * m } else { 0 } + n
    }

    /// The xavier-normal standard deviation of the notebook's `[instances, n, m]` tensor.
    pub fn init_std(&self) -> f64 {
        (2.0 / ((self.n + self.instances) as f64 * self.m as f64)).sqrt()
    }
}

/// One trained model with its final losses.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedInstance {
    /// The trained parameters.
    pub model: Model,
    /// The batch loss of the last step (computed before that step's update, as the notebook
    /// logs it).
    pub sampled_loss: f64,
    /// The exact expected loss of `model`, when the objective has a closed form of feasible
    /// size.
    pub exact_loss: Option<f64>,
}

/// The random stream of instance `k`: `ChaCha8Rng::seed_from_u64(seed)` on stream `k`. The
/// initial parameters are drawn from it first ([`init_params_from`]), then every batch.
pub fn instance_rng(seed: u64, instance: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(instance as u64);
    rng
}

/// Draws initial parameters ([`Model::to_vec`] layout) from `rng`: `W[feature][hidden]`
/// standard normals × [`TrainConfig::init_std`] in that order (so `W_ours = W[k]ᵀ`), then for
/// an untied model `W_out[feature][hidden]` the same way; `b = 0`.
pub fn init_params_from(cfg: &TrainConfig, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let (m, n) = (cfg.m, cfg.n);
    let std = cfg.init_std();
    let mut p = vec![0.0; cfg.num_params()];
    // Column-major m×n: entry (h, f) at h + m·f, i.e. exactly the [feature][hidden] order.
    for v in &mut p[..m * n] {
        let z: f64 = rng.sample(StandardNormal);
        *v = std * z;
    }
    if cfg.untied {
        // W_out is n×m column-major: (f, h) at m·n + f + n·h.
        for f in 0..n {
            for h in 0..m {
                let z: f64 = rng.sample(StandardNormal);
                p[m * n + f + n * h] = std * z;
            }
        }
    }
    p
}

/// The initial parameters of instance `k` (what [`train`] starts from).
pub fn init_params(cfg: &TrainConfig, instance: usize) -> Vec<f64> {
    init_params_from(cfg, &mut instance_rng(cfg.seed, instance))
}

/// Optimiser state for one parameter vector; [`OptimizerState::step`] applies one PyTorch
/// update. Public so the update rule can be checked against hand computations.
#[derive(Debug, Clone)]
pub struct OptimizerState {
    optimizer: Optimizer,
    weight_decay: f64,
    betas: (f64, f64),
    eps: f64,
    t: u32,
    exp_avg: Vec<f64>,
    exp_avg_sq: Vec<f64>,
}

impl OptimizerState {
    /// Fresh state (zero moments, step 0) for `num_params` parameters.
    pub fn new(cfg: &TrainConfig, num_params: usize) -> Self {
        let adam = cfg.optimizer != Optimizer::Sgd;
        OptimizerState {
            optimizer: cfg.optimizer,
            weight_decay: cfg.weight_decay(),
            betas: cfg.betas,
            eps: cfg.eps,
            t: 0,
            exp_avg: vec![0.0; if adam { num_params } else { 0 }],
            exp_avg_sq: vec![0.0; if adam { num_params } else { 0 }],
        }
    }

    /// One update with learning rate `lr`, following `torch.optim` (single-tensor path):
    ///
    /// ```text
    /// SGD:   p −= lr·(g + wd·p)
    /// Adam:  g += wd·p;  m = lerp(m, g, 1−β₁);  v = β₂v + (1−β₂)g²
    ///        p −= (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
    /// AdamW: p ·= 1 − lr·wd, then Adam's update with the raw gradient
    /// ```
    pub fn step(&mut self, params: &mut [f64], grad: &[f64], lr: f64) {
        let wd = self.weight_decay;
        if self.optimizer == Optimizer::Sgd {
            for (p, &g) in params.iter_mut().zip(grad) {
                let d = if wd != 0.0 { g + wd * *p } else { g };
                *p -= lr * d;
            }
            return;
        }
        self.t = self.t.saturating_add(1);
        let (b1, b2) = self.betas;
        let t = self.t as i32;
        let bias_correction1 = 1.0 - b1.powi(t);
        let bias_correction2 = 1.0 - b2.powi(t);
        let step_size = lr / bias_correction1;
        let bc2_sqrt = bias_correction2.sqrt();
        let decoupled = self.optimizer == Optimizer::AdamW;
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(&mut self.exp_avg)
            .zip(&mut self.exp_avg_sq)
        {
            let g = if decoupled {
                *p *= 1.0 - lr * wd;
                g
            } else if wd != 0.0 {
                g + wd * *p
            } else {
                g
            };
            // torch: exp_avg.lerp_(grad, 1 − β₁); exp_avg_sq.mul_(β₂).addcmul_(g, g, 1 − β₂)
            *m += (g - *m) * (1.0 - b1);
            *v = *v * b2 + (1.0 - b2) * g * g;
            let denom = v.sqrt() / bc2_sqrt + self.eps;
            *p -= step_size * (*m / denom);
        }
    }
}

/// Trains `cfg.instances()` models on `obj` (its activation, data distribution, importances
/// and reduction), in parallel, and reports each one's final batch loss and exact loss.
///
/// With `progress`, a bar is drawn on stderr when stderr is a terminal.
pub fn train(obj: &Objective, cfg: &TrainConfig, progress: bool) -> Result<Vec<TrainedInstance>> {
    check_shape(obj, cfg)?;
    let bar = (progress && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new((cfg.steps * cfg.instances) as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "training {bar:40} {pos}/{len} steps [{elapsed_precise}<{eta_precise}]",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let exact_ok = obj.check_closed_form_size().is_ok();
    let out = (0..cfg.instances)
        .into_par_iter()
        .map(|k| {
            let (params, sampled_loss) = train_instance(obj, cfg, k, bar.as_ref())?;
            let template = template_model(cfg)?;
            let model = template.from_vec_like(&params)?;
            let exact_loss = if exact_ok {
                Some(loss::loss(&model, obj)?.loss)
            } else {
                None
            };
            Ok(TrainedInstance {
                model,
                sampled_loss,
                exact_loss,
            })
        })
        .collect::<Result<Vec<_>>>();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out
}

/// The objective and the config must agree on n.
fn check_shape(obj: &Objective, cfg: &TrainConfig) -> Result<()> {
    if obj.n() != cfg.n {
        return Err(Error::invalid(format!(
            "the training config has {} features but the data describe {}",
            cfg.n,
            obj.n()
        )));
    }
    // Multiply-adds of the whole run (forward and backward ≈ 4·n·m per row and step).
    let work =
        cfg.instances as f64 * cfg.steps as f64 * cfg.batch as f64 * 4.0 * (cfg.n * cfg.m) as f64;
    if work > MAX_TRAINING_WORK {
        return Err(Error::TooLarge(format!(
            "{} instance(s) × {} steps × batch {} at n = {}, m = {} is {work:.1e} multiply-adds              (about {:.0} hours here); the limit is {MAX_TRAINING_WORK:.0e}",
            cfg.instances,
            cfg.steps,
            cfg.batch,
            cfg.n,
            cfg.m,
            work * TRAINING_SECONDS_PER_MADD / 3600.0
        )));
    }
    Ok(())
}

/// Largest training run accepted, in multiply-adds (about 3 hours on the 2-core development
/// machine, where the notebook's 10 000 × 1024 run at n = 5, m = 2 — 4e8 — takes 0.86 s).
pub const MAX_TRAINING_WORK: f64 = 5e12;
const TRAINING_SECONDS_PER_MADD: f64 = 0.86 / 4.1e8;

/// A zero model of the config's shape, to rebuild trained models with `from_vec_like`.
fn template_model(cfg: &TrainConfig) -> Result<Model> {
    let model = Model::new(DMatrix::zeros(cfg.m, cfg.n), DVector::zeros(cfg.n))?;
    if cfg.untied {
        model.with_w_out(DMatrix::zeros(cfg.n, cfg.m))
    } else {
        Ok(model)
    }
}

/// The training loop of one instance: returns the final parameters and the last batch loss.
/// All buffers are allocated once, before the loop.
fn train_instance(
    obj: &Objective,
    cfg: &TrainConfig,
    k: usize,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<(Vec<f64>, f64)> {
    let (m, n) = (cfg.m, cfg.n);
    let tied = !cfg.untied;
    let mut rng = instance_rng(cfg.seed, k);
    let mut params = init_params_from(cfg, &mut rng);
    let mut grad = vec![0.0; params.len()];
    let mut xs = vec![0.0; cfg.batch * n];
    let mut opt = OptimizerState::new(cfg, params.len());
    let data = obj.data();
    let mut last = f64::NAN;
    for step in 0..cfg.steps {
        for row in xs.chunks_exact_mut(n) {
            data.sample_into(&mut rng, row);
        }
        grad.iter_mut().for_each(|g| *g = 0.0);
        last = batch_loss(&params, m, n, tied, obj, &xs, None, Some(&mut grad));
        if !last.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return Err(Error::Numerical(format!(
                "training diverged: instance {k} has a non-finite loss or gradient at step {step} \
                 (loss {last}); lower the learning rate (now {})",
                cfg.lr
            )));
        }
        let lr = cfg.lr * cfg.schedule.factor(step, cfg.steps);
        opt.step(&mut params, &grad, lr);
        if let Some(bar) = bar {
            if (step + 1) % PROGRESS_EVERY == 0 {
                bar.inc(PROGRESS_EVERY as u64);
            } else if step + 1 == cfg.steps {
                bar.inc(((step + 1) % PROGRESS_EVERY) as u64);
            }
        }
    }
    if params.iter().any(|p| !p.is_finite()) {
        return Err(Error::Numerical(format!(
            "training diverged: instance {k} ended with non-finite parameters; lower the \
             learning rate (now {})",
            cfg.lr
        )));
    }
    Ok((params, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_match_the_notebook() {
        assert_eq!(Schedule::Constant.factor(7, 10), 1.0);
        assert_eq!(Schedule::Linear.factor(0, 10), 1.0);
        assert_eq!(Schedule::Linear.factor(5, 10), 0.5);
        assert_eq!(Schedule::Cosine.factor(0, 11), 1.0);
        assert!(Schedule::Cosine.factor(10, 11).abs() < 1e-15);
        assert_eq!(Schedule::Cosine.factor(0, 1), 1.0);
    }

    #[test]
    fn names_parse() {
        assert_eq!("AdamW".parse::<Optimizer>().unwrap(), Optimizer::AdamW);
        assert_eq!("cosine".parse::<Schedule>().unwrap(), Schedule::Cosine);
        assert!("rmsprop".parse::<Optimizer>().is_err());
    }
}
