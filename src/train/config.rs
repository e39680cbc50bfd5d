//! Training settings: the optimiser, the learning-rate schedule and the validated config.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::shape::Shape;

/// Largest batch × features the trainer allocates (2²⁷ f64 = 1 GiB per instance).
const MAX_BATCH_ENTRIES: usize = 1 << 27;

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
    pub(super) n: usize,
    pub(super) m: usize,
    pub(super) optimizer: Optimizer,
    pub(super) lr: f64,
    pub(super) weight_decay: Option<f64>,
    pub(super) betas: (f64, f64),
    pub(super) eps: f64,
    pub(super) batch: usize,
    pub(super) steps: usize,
    pub(super) instances: usize,
    pub(super) schedule: Schedule,
    pub(super) seed: u64,
    pub(super) untied: bool,
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

    /// The shape of each trained model.
    pub fn shape(&self) -> Shape {
        Shape::new(self.n, self.m, !self.untied)
    }

    /// Number of parameters per instance in [`crate::model::Model::to_vec`]'s layout.
    pub fn num_params(&self) -> usize {
        self.shape().num_params()
    }

    /// The xavier-normal standard deviation of the notebook's `[instances, n, m]` tensor.
    pub fn init_std(&self) -> f64 {
        (2.0 / ((self.n + self.instances) as f64 * self.m as f64)).sqrt()
    }
}
