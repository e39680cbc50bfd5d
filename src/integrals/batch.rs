//! The loss of a batch of samples and its gradient by backpropagation: the trainer's forward
//! and backward pass, and the Monte Carlo route's inner loop. It only evaluates the model, so it
//! is independent of every closed form. It allocates only per call (never per row) and skips
//! inactive (zero) features in `h = W x`.

use crate::model::Activation;
use crate::shape::Shape;

/// What a batch evaluation writes besides the loss (each optional).
#[derive(Debug, Default)]
pub struct BatchOutputs<'a> {
    /// Per-row losses `Σ_i w_i (x_i − x'_i)²` (at least one slot per row).
    pub per_sample: Option<&'a mut [f64]>,
    /// Per-feature sums over rows `Σ_rows w_i r_i²`, ADDED into (n slots).
    pub per_feature: Option<&'a mut [f64]>,
    /// The gradient of the batch mean, ADDED into ([`Shape`] layout).
    pub grad: Option<&'a mut [f64]>,
}

/// Loss of one batch: the mean over rows of `Σ_i w_i (x_i − act(M x + b)_i)²`.
///
/// `params` in `shape`'s layout; `xs` is batch×n row-major; `weights` are the objective's
/// ([`crate::objective::Objective::weights`]). An empty batch has loss 0 (and adds nothing).
/// The ReLU derivative at 0 is taken as 0 ([`Activation::derivative`]). No input validation:
/// this is an inner loop; shapes are checked with `debug_assert!`.
pub fn batch_loss(
    shape: Shape,
    params: &[f64],
    act: Activation,
    weights: &[f64],
    xs: &[f64],
    outputs: BatchOutputs,
) -> f64 {
    let BatchOutputs {
        mut per_sample,
        mut per_feature,
        mut grad,
    } = outputs;
    let (m, n) = (shape.m, shape.n);
    let np = shape.num_params();
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
    let w = &params[shape.w()];
    let w_out_start = shape.w_out().map_or(0, |r| r.start);
    let w_out = shape.w_out().map(|r| &params[r]);
    let b = &params[shape.b()];
    let b_start = shape.b().start;
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
                g[b_start + i] += gi;
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
                            g[w_out_start + i + n * k] += gi * h[k];
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
