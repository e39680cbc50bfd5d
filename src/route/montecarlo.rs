//! Seeded Monte Carlo: a standard-error estimate of the expected loss from sampled batches
//! ([`crate::integrals::batch`]). Independent of every closed form (it only evaluates the
//! model), so it checks them — and it is the only route for sizes the exact methods refuse.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::integrals::batch::{batch_loss, BatchOutputs};
use crate::model::Model;
use crate::objective::Objective;
use crate::route::{Accuracy, Cost, Evaluation, Gradient, Route, RouteGradient};
use crate::shape::Shape;

/// Samples drawn when none are asked for.
pub const DEFAULT_SAMPLES: usize = 100_000;

/// Seconds per sample and per unit of `n·m` work (measured: ≈ 55 ns per sample at n = 5, m = 2).
const SECONDS_PER_SAMPLE_NM: f64 = 5.5e-9;

/// The Monte Carlo route: `samples` seeded draws; the same seed always gives the same bits,
/// so its gradient is the exact gradient of one fixed sample mean.
#[derive(Debug, Clone)]
pub struct MonteCarlo {
    obj: Objective,
    samples: usize,
    seed: u64,
}

impl MonteCarlo {
    /// The route; fails for zero samples or more than [`MAX_SAMPLES`].
    pub fn new(obj: Objective, samples: usize, seed: u64) -> Result<Self> {
        if samples == 0 {
            return Err(Error::invalid("Monte Carlo needs at least one sample"));
        }
        let route = MonteCarlo { obj, samples, seed };
        route.cost(Shape::new(route.obj.n(), 1, true))?;
        Ok(route)
    }
}

impl Route for MonteCarlo {
    fn name(&self) -> &'static str {
        "mc"
    }

    fn objective(&self) -> &Objective {
        &self.obj
    }

    fn cost(&self, shape: Shape) -> Result<Cost> {
        let per_sample = SECONDS_PER_SAMPLE_NM * (shape.n * shape.m.max(1)) as f64;
        let seconds = self.samples as f64 * per_sample;
        if self.samples as f64 > MAX_SAMPLES {
            return Err(Error::TooLarge(format!(
                "{} Monte Carlo samples would take roughly {} here ({shape}); the limit is \
                 {MAX_SAMPLES:.0e} samples",
                self.samples,
                crate::progress::duration_text(seconds)
            )));
        }
        let cost = Cost {
            seconds,
            bytes: (CHUNK * (shape.n + 1) * 8 + shape.num_params() * 16) as f64,
        };
        crate::limits::check_memory(cost.bytes, "Monte Carlo")?;
        crate::limits::check_seconds(
            seconds,
            &format!("{} Monte Carlo samples", self.samples),
            "fewer --samples",
        )?;
        Ok(cost)
    }

    fn as_gradient(&mut self) -> Option<&mut dyn RouteGradient> {
        Some(self)
    }

    fn evaluate(&mut self, model: &Model) -> Result<Evaluation> {
        monte_carlo_loss(model, &self.obj, self.samples, self.seed, false)
    }
}

impl RouteGradient for MonteCarlo {
    fn loss_grad_flat(&mut self, shape: Shape, params: &[f64], grad: &mut [f64]) -> f64 {
        let (loss, _) = sample_mean(
            &self.obj,
            shape,
            params,
            self.samples,
            self.seed,
            Some(grad),
        );
        loss
    }

    fn evaluate_with_gradient(&mut self, model: &Model) -> Result<Evaluation> {
        monte_carlo_loss(model, &self.obj, self.samples, self.seed, true)
    }
}

/// Rows drawn per batch by [`monte_carlo_loss`]; fixed so that a seed always gives the same bits.
const CHUNK: usize = 4096;

/// Most samples one Monte Carlo estimate may draw (about 10 minutes at n = 5).
pub const MAX_SAMPLES: f64 = 1e10;

/// The expected loss by `samples` seeded draws from the data distribution.
///
/// `error` is the standard error of the mean (sample standard deviation of the per-row losses
/// over √samples; infinite for a single sample, where it is unknown). The same `seed` always
/// gives the same bits (rows are drawn by `ChaCha8Rng::seed_from_u64(seed)` in fixed chunks).
/// The gradient, if asked for, is the gradient of the sample mean (an unbiased estimate of the
/// expected loss's gradient away from kinks).
pub fn monte_carlo_loss(
    model: &Model,
    obj: &Objective,
    samples: usize,
    seed: u64,
    with_gradient: bool,
) -> Result<Evaluation> {
    obj.check_model(model)?;
    let route = MonteCarlo::new(obj.clone(), samples, seed)?;
    let shape = model.shape();
    route.cost(shape)?;
    let params = model.to_vec();
    let mut grad = with_gradient.then(|| vec![0.0; params.len()]);
    let (mean, stats) = sample_mean(obj, shape, &params, samples, seed, grad.as_deref_mut());
    let mut e = Evaluation::from_terms(stats.per_feature, Accuracy::StandardError(stats.error));
    e.loss = mean;
    e.gradient = grad.map(|g| Gradient::from_flat(shape, &g));
    Ok(e)
}

/// The per-feature means and the standard error of one sample mean.
struct SampleStats {
    per_feature: Vec<f64>,
    error: f64,
}

/// The mean loss of `samples` seeded rows; with `grad`, overwrites it with the gradient of
/// that mean. No validation (see [`monte_carlo_loss`]).
fn sample_mean(
    obj: &Objective,
    shape: Shape,
    params: &[f64],
    samples: usize,
    seed: u64,
    mut grad: Option<&mut [f64]>,
) -> (f64, SampleStats) {
    let n = shape.n;
    let weights = obj.weights();
    let data = obj.data();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    let mut xs = vec![0.0; CHUNK.min(samples) * n];
    let mut per_row = vec![0.0; CHUNK.min(samples)];
    let mut per_feature = vec![0.0; n];
    if let Some(g) = grad.as_deref_mut() {
        g.iter_mut().for_each(|v| *v = 0.0);
    }
    let mut chunk_grad = vec![0.0; if grad.is_some() { params.len() } else { 0 }];
    // Running mean and sum of squared deviations (Chan et al.'s merge of Welford summaries).
    let (mut count, mut mean, mut m2) = (0usize, 0.0f64, 0.0f64);

    let mut done = 0;
    while done < samples {
        let rows = CHUNK.min(samples - done);
        let xs = &mut xs[..rows * n];
        for x in xs.chunks_exact_mut(n) {
            data.sample_into(&mut rng, x);
        }
        let per_row = &mut per_row[..rows];
        chunk_grad.iter_mut().for_each(|g| *g = 0.0);
        let chunk_mean = batch_loss(
            shape,
            params,
            obj.activation(),
            &weights,
            xs,
            BatchOutputs {
                per_sample: Some(per_row),
                per_feature: Some(&mut per_feature),
                grad: grad.is_some().then_some(&mut chunk_grad[..]),
            },
        );
        let chunk_m2: f64 = per_row.iter().map(|v| (v - chunk_mean).powi(2)).sum();
        let total = count + rows;
        let delta = chunk_mean - mean;
        mean += delta * rows as f64 / total as f64;
        m2 += chunk_m2 + delta * delta * (count as f64) * (rows as f64) / total as f64;
        count = total;
        if let Some(g) = grad.as_deref_mut() {
            let share = rows as f64 / samples as f64;
            for (gv, cg) in g.iter_mut().zip(&chunk_grad) {
                *gv += cg * share;
            }
        }
        done += rows;
    }
    let error = if samples > 1 {
        (m2 / (samples - 1) as f64 / samples as f64).sqrt()
    } else {
        f64::INFINITY
    };
    let per_feature: Vec<f64> = per_feature.iter().map(|v| v / samples as f64).collect();
    (mean, SampleStats { per_feature, error })
}
