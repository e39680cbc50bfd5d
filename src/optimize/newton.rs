//! Newton's method on the gradient, `x ← x − H⁺ ∇L`, with the pseudo-inverse of the exact
//! Hessian (eigenvalues near zero — the symmetry directions, flat directions of dead
//! features — are left out).
//!
//! Near a critical point the loss changes by ~‖∇L‖²/λ, far below rounding once ‖∇L‖ ≈ 1e-9,
//! so cost-based methods (line searches, trust regions) can no longer tell good steps from bad.
//! This stage only asks that ‖∇L‖ decrease, which stays measurable down to ~1e-15.

use nalgebra::{DVector, SymmetricEigen};

use super::problem::LossProblem;
use crate::route::RouteHvp;

use crate::tolerance::{
    NEWTON_ROUNDING_ABS as ROUNDING_ABS, NEWTON_ROUNDING_REL as ROUNDING_REL, PINV_REL,
};

/// Runs at most `max_steps` Newton steps; returns the point with the smallest gradient.
pub fn run<R: RouteHvp + Clone>(
    problem: &LossProblem<R>,
    x0: DVector<f64>,
    grad_tol: f64,
    max_steps: usize,
) -> (DVector<f64>, usize) {
    let mut x = x0;
    let (mut fx, g) = problem.loss_grad(x.as_slice());
    let mut g = DVector::from_vec(g);
    let mut steps = 0;
    while steps < max_steps && g.norm() > grad_tol {
        let h = problem.hessian_free(x.as_slice());
        let eig = SymmetricEigen::new(h);
        let scale = eig.eigenvalues.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if scale == 0.0 {
            break;
        }
        let mut step = DVector::zeros(x.len());
        for (k, &lambda) in eig.eigenvalues.iter().enumerate() {
            if lambda.abs() > PINV_REL * scale {
                let v = eig.eigenvectors.column(k);
                step -= v * (v.dot(&g) / lambda);
            }
        }
        let mut accepted = false;
        let mut t = 1.0;
        for _ in 0..4 {
            let trial = &x + &step * t;
            let (ft, gt) = problem.loss_grad(trial.as_slice());
            let gt = DVector::from_vec(gt);
            // The loss may move only by rounding (relative, and an absolute floor for losses
            // that are themselves at rounding level); the gradient must shrink.
            if gt.norm() < g.norm() && ft <= fx + ROUNDING_REL * fx.abs() + ROUNDING_ABS {
                x = trial;
                fx = ft.min(fx);
                g = gt;
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        steps += 1;
        if !accepted {
            break;
        }
    }
    (x, steps)
}
