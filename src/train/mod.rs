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

mod config;
mod optimizer;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::integrals::batch::{batch_loss, BatchOutputs};
use crate::model::Model;
use crate::objective::Objective;
use crate::progress::Progress;
use crate::route::{ClosedForm, Route};

pub use config::{Optimizer, Schedule, TrainConfig};
pub use optimizer::OptimizerState;

/// Steps between progress-bar updates (keeps the bar's cost negligible).
const PROGRESS_EVERY: usize = 100;

/// One trained model with its final losses.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedInstance {
    /// The trained parameters.
    pub model: Model,
    /// The batch loss of the last step (computed before that step's update, as the notebook
    /// logs it).
    pub sampled_loss: f64,
    /// The exact expected loss of `model`: the closed form when it is feasible, else the
    /// one-dimensional route (independent data, within its default relative tolerance).
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
    let shape = cfg.shape();
    let mut p = vec![0.0; shape.num_params()];
    // Column-major m×n: entry (h, f) at h + m·f, i.e. exactly the [feature][hidden] order.
    for v in &mut p[..m * n] {
        let z: f64 = rng.sample(StandardNormal);
        *v = std * z;
    }
    if cfg.untied {
        // W_out is n×m column-major, drawn in [feature][hidden] order.
        for f in 0..n {
            for h in 0..m {
                let z: f64 = rng.sample(StandardNormal);
                if let Some(k) = shape.w_out_index(f, h) {
                    p[k] = std * z;
                }
            }
        }
    }
    p
}

/// The initial parameters of instance `k` (what [`train`] starts from).
pub fn init_params(cfg: &TrainConfig, instance: usize) -> Vec<f64> {
    init_params_from(cfg, &mut instance_rng(cfg.seed, instance))
}

/// Trains `cfg.instances()` models on `obj` (its activation, data distribution, importances
/// and reduction), in parallel, and reports each one's final batch loss and exact loss.
///
/// Steps done are reported to `progress` (every [`PROGRESS_EVERY`] steps).
pub fn train(
    obj: &Objective,
    cfg: &TrainConfig,
    progress: &dyn Progress,
) -> Result<Vec<TrainedInstance>> {
    check_shape(obj, cfg)?;
    progress.start((cfg.steps * cfg.instances) as u64, "steps");
    let closed = ClosedForm::new(obj.clone()).ok();
    let out = (0..cfg.instances)
        .into_par_iter()
        .map(|k| {
            let (params, sampled_loss) = train_instance(obj, cfg, k, progress)?;
            let model = Model::from_flat(cfg.shape(), &params)?;
            let exact_loss = match &closed {
                Some(c) => Some(c.clone().evaluate(&model)?.loss),
                // Beyond the closed form (n = 20 and up): the one-dimensional route, when the
                // data are independent and it reaches its default tolerance.
                None => crate::route::onedim::loss(
                    &model,
                    obj,
                    crate::route::onedim::default_tolerance(),
                )
                .ok()
                .map(|v| v.loss),
            };
            Ok(TrainedInstance {
                model,
                sampled_loss,
                exact_loss,
            })
        })
        .collect::<Result<Vec<_>>>();
    progress.finish();
    out
}

/// Checks, before anything is allocated, that `train(obj, cfg, …)` would be accepted: the
/// objective and the config agree on n, and the run fits the memory and work limits.
pub fn check(obj: &Objective, cfg: &TrainConfig) -> Result<()> {
    check_shape(obj, cfg)
}

/// The objective and the config must agree on n, and the run must fit the limits.
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
    // Memory: per instance the parameters, gradient and two moment buffers (kept until the
    // end), and per running worker one batch.
    let workers = cfg.instances.min(rayon::current_num_threads().max(1)) as f64;
    let bytes = 8.0
        * (cfg.instances as f64 * 4.0 * cfg.num_params() as f64
            + workers * (cfg.batch * cfg.n) as f64);
    crate::limits::check_memory(
        bytes,
        &format!(
            "training {} instance(s) at n = {}, m = {} with batch {}",
            cfg.instances, cfg.n, cfg.m, cfg.batch
        ),
    )?;
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

/// The training loop of one instance: returns the final parameters and the last batch loss.
/// All buffers are allocated once, before the loop.
fn train_instance(
    obj: &Objective,
    cfg: &TrainConfig,
    k: usize,
    progress: &dyn Progress,
) -> Result<(Vec<f64>, f64)> {
    let n = cfg.n;
    let shape = cfg.shape();
    let weights = obj.weights();
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
        last = batch_loss(
            shape,
            &params,
            obj.activation(),
            &weights,
            &xs,
            BatchOutputs {
                grad: Some(&mut grad),
                ..BatchOutputs::default()
            },
        );
        if !last.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return Err(Error::Numerical(format!(
                "training diverged: instance {k} has a non-finite loss or gradient at step {step} \
                 (loss {last}); lower the learning rate (now {})",
                cfg.lr
            )));
        }
        let lr = cfg.lr * cfg.schedule.factor(step, cfg.steps);
        opt.step(&mut params, &grad, lr);
        if (step + 1) % PROGRESS_EVERY == 0 {
            progress.advance(PROGRESS_EVERY as u64);
        } else if step + 1 == cfg.steps {
            progress.advance(((step + 1) % PROGRESS_EVERY) as u64);
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
