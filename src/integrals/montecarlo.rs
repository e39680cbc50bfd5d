//! Seeded Monte Carlo: the loss of sampled batches, and a standard-error estimate of the
//! expected loss. Independent of every closed form (it only evaluates the model), so it checks
//! them — and it is the only route for sizes the exact methods refuse.
//!
//! [`batch_loss`] is also the forward/backward pass of the trainer, so it allocates only per
//! call (never per row) and skips inactive (zero) features in `h = W x`.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::integrals::Estimate;
use crate::loss::Objective;
use crate::model::{Activation, Model};

/// Rows drawn per batch by [`monte_carlo_loss`]; fixed so that a seed always gives the same bits.
const CHUNK: usize = 4096;

/// Loss of one batch: mean over rows of Σ_i w_i (x_i − act(Mx + b)_i)², w = obj.weights().
/// params in Model::to_vec layout for shape (m, n, tied); xs is batch×n row-major.
/// Writes per-row losses into per_sample if given; ADDS the gradient of the batch mean into grad if given.
///
/// The batch size is `xs.len() / n`; an empty batch has loss 0 (and adds nothing). The ReLU
/// derivative at 0 is taken as 0 ([`Activation::derivative`]). No input validation: this is
/// an inner loop; shapes are checked with `debug_assert!`.
#[allow(clippy::too_many_arguments)]
pub fn batch_loss(
    params: &[f64],
    m: usize,
    n: usize,
    tied: bool,
    obj: &Objective,
    xs: &[f64],
    per_sample: Option<&mut [f64]>,
    grad: Option<&mut [f64]>,
) -> f64 {
    let weights = obj.weights();
    batch_core(
        params,
        m,
        n,
        tied,
        obj.activation(),
        &weights,
        xs,
        per_sample,
        None,
        grad,
    )
}

/// [`batch_loss`] with the weights given, and optionally the per-feature sums
/// `Σ_rows w_i r_i²` added into `per_feature` (so callers can split the loss by feature).
#[allow(clippy::too_many_arguments)]
fn batch_core(
    params: &[f64],
    m: usize,
    n: usize,
    tied: bool,
    act: Activation,
    weights: &[f64],
    xs: &[f64],
    mut per_sample: Option<&mut [f64]>,
    mut per_feature: Option<&mut [f64]>,
    mut grad: Option<&mut [f64]>,
) -> f64 {
    let np = m * n + if tied { 0 } else { n * m } + n;
    debug_assert_eq!(params.len(), np);
    debug_assert!(n > 0 && xs.len() % n == 0);
    debug_assert_eq!(weights.len(), n);
    let batch = xs.len().checked_div(n).unwrap_or(0);
    if batch == 0 {
        return 0.0;
    }
    if let Some(ps) = per_sample.as_deref() {
        debug_assert!(ps.len() >= batch);
    }
    if let Some(g) = grad.as_deref() {
        debug_assert_eq!(g.len(), np);
    }
    let w = &params[..m * n];
    let w_out = (!tied).then(|| &params[m * n..m * n + n * m]);
    let b = &params[np - n..];
    let inv_batch = 1.0 / batch as f64;

    // Scratch, allocated once per call.
    let mut h = vec![0.0; m];
    let mut g_out = vec![0.0; n];
    let mut dh = vec![0.0; m];
    let mut total = 0.0;

    for (row, x) in xs.chunks_exact(n).enumerate() {
        // h = W x, skipping the zeros of sparse inputs.
        h.iter_mut().for_each(|v| *v = 0.0);
        for (j, &xj) in x.iter().enumerate() {
            if xj != 0.0 {
                let col = &w[m * j..m * (j + 1)];
                for (hv, &wv) in h.iter_mut().zip(col) {
                    *hv += wv * xj;
                }
            }
        }
        let mut row_loss = 0.0;
        for i in 0..n {
            // out_i = Σ_h R[i,h] h_h + b_i, R = Wᵀ (column i of W) or W_out (row i).
            let mut out = b[i];
            match w_out {
                None => {
                    let col = &w[m * i..m * (i + 1)];
                    for (&wv, &hv) in col.iter().zip(&h) {
                        out += wv * hv;
                    }
                }
                Some(wo) => {
                    for (k, &hv) in h.iter().enumerate() {
                        out += wo[i + n * k] * hv;
                    }
                }
            }
            let r = x[i] - act.apply(out);
            let term = weights[i] * r * r;
            row_loss += term;
            if let Some(pf) = per_feature.as_deref_mut() {
                pf[i] += term;
            }
            if grad.is_some() {
                // ∂(row mean)/∂out_i
                g_out[i] = if weights[i] == 0.0 {
                    0.0
                } else {
                    -2.0 * weights[i] * r * act.derivative(out) * inv_batch
                };
            }
        }
        if let Some(ps) = per_sample.as_deref_mut() {
            ps[row] = row_loss;
        }
        total += row_loss;

        if let Some(g) = grad.as_deref_mut() {
            // Backward: ∂b_i = g_i; ∂R[i,h] = g_i h_h; ∂h_h = Σ_i g_i R[i,h]; ∂W[h,j] += ∂h_h x_j.
            dh.iter_mut().for_each(|v| *v = 0.0);
            for i in 0..n {
                let gi = g_out[i];
                if gi == 0.0 {
                    continue;
                }
                g[np - n + i] += gi;
                match w_out {
                    None => {
                        let col = &w[m * i..m * (i + 1)];
                        for k in 0..m {
                            dh[k] += gi * col[k];
                            g[m * i + k] += gi * h[k];
                        }
                    }
                    Some(wo) => {
                        for k in 0..m {
                            dh[k] += gi * wo[i + n * k];
                            g[m * n + i + n * k] += gi * h[k];
                        }
                    }
                }
            }
            for (j, &xj) in x.iter().enumerate() {
                if xj != 0.0 {
                    let gcol = &mut g[m * j..m * (j + 1)];
                    for (gv, &d) in gcol.iter_mut().zip(&dh) {
                        *gv += d * xj;
                    }
                }
            }
        }
    }
    total * inv_batch
}

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
) -> Result<Estimate> {
    obj.check_model(model)?;
    if samples == 0 {
        return Err(Error::invalid("Monte Carlo needs at least one sample"));
    }
    if samples as f64 > MAX_SAMPLES {
        return Err(Error::TooLarge(format!(
            "{samples} Monte Carlo samples would take about {:.0} minutes here (≈ 55 ns each at              n = 5); the limit is {MAX_SAMPLES:.0e}",
            samples as f64 * 5.5e-8 * model.n() as f64 / 5.0 / 60.0
        )));
    }
    let (m, n, tied) = (model.m(), model.n(), model.is_tied());
    let params = model.to_vec();
    let weights = obj.weights();
    let data = obj.data();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    let mut xs = vec![0.0; CHUNK.min(samples) * n];
    let mut per_row = vec![0.0; CHUNK.min(samples)];
    let mut per_feature = vec![0.0; n];
    let mut grad = with_gradient.then(|| vec![0.0; params.len()]);
    let mut chunk_grad = vec![0.0; if with_gradient { params.len() } else { 0 }];
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
        let chunk_mean = batch_core(
            &params,
            m,
            n,
            tied,
            obj.activation(),
            &weights,
            xs,
            Some(per_row),
            Some(&mut per_feature),
            with_gradient.then_some(&mut chunk_grad[..]),
        );
        let chunk_m2: f64 = per_row.iter().map(|v| (v - chunk_mean).powi(2)).sum();
        let total = count + rows;
        let delta = chunk_mean - mean;
        mean += delta * rows as f64 / total as f64;
        m2 += chunk_m2 + delta * delta * (count as f64) * (rows as f64) / total as f64;
        count = total;
        if let Some(g) = grad.as_mut() {
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
    Ok(Estimate {
        loss: mean,
        per_feature,
        error,
        gradient: grad,
    })
}
