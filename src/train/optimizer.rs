//! The optimisers' update rules with PyTorch's semantics (SGD, Adam, AdamW).

use super::config::{Optimizer, TrainConfig};

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
