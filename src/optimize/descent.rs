//! Minimisation through a route that has a gradient but no Hessian (the quadrature route for
//! smooth activations): L-BFGS alone, no Newton polish and no Hessian classification, so the
//! point is reported with its gradient norm and nothing is claimed about its curvature.

use super::problem::{norm, LossProblem};
use super::{lbfgs, MinimizeOptions};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::route::RouteGradient;

/// A point reached by gradient-only minimisation.
#[derive(Debug, Clone)]
pub struct DescentPoint {
    /// The parameters.
    pub model: Model,
    /// The loss there (in the loss's units).
    pub loss: f64,
    /// Euclidean norm of the gradient over the free parameters (in the loss's units).
    pub grad_norm: f64,
    /// L-BFGS iterations used.
    pub iterations: u64,
}

/// Minimises the loss of `route` from `start` with L-BFGS only (fixed parameters of `opts`
/// respected). Use [`super::minimize_local_with`] when the route has a Hessian.
pub fn minimize_gradient_with<R: RouteGradient + Clone>(
    route: R,
    start: &Model,
    opts: &MinimizeOptions,
) -> Result<DescentPoint> {
    let (start, free) = opts.prepare(start)?;
    let problem = LossProblem::new(route, &start, free)?;
    let x0 = problem.restrict(&start.to_vec());
    let (problem, x, iterations) = lbfgs::run(problem, x0, &opts.lbfgs);
    let scale = problem.scale();
    let (loss, g) = problem.loss_grad(x.as_slice());
    let (loss, grad_norm) = (loss * scale, norm(&g) * scale);
    let full = problem.expand(x.as_slice());
    if !(loss.is_finite() && grad_norm.is_finite()) || full.iter().any(|v| !v.is_finite()) {
        return Err(Error::Numerical(format!(
            "minimisation diverged: loss {loss}, ‖∇L‖ {grad_norm}"
        )));
    }
    Ok(DescentPoint {
        model: start.from_vec_like(&full)?,
        loss,
        grad_norm,
        iterations,
    })
}
