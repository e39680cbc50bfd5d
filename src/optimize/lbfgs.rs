//! L-BFGS with a More–Thuente line search (argmin), run in chunks so that a line-search
//! failure near the minimum (expected once the gradient is at rounding level) never loses
//! the best point found so far.

use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use nalgebra::DVector;

use super::problem::{norm, run_chunk, LossProblem};
use crate::route::RouteGradient;

/// Settings of the L-BFGS stage.
#[derive(Debug, Clone, Copy)]
pub struct LbfgsSettings {
    /// Stop when the gradient's Euclidean norm is below this (the polish takes it further).
    pub grad_tol: f64,
    /// Iterations at most (over all chunks).
    pub max_iters: u64,
    /// History length.
    pub memory: usize,
}

impl Default for LbfgsSettings {
    fn default() -> Self {
        LbfgsSettings {
            grad_tol: crate::tolerance::LBFGS_GRAD,
            max_iters: 5000,
            memory: 10,
        }
    }
}

/// Iterations per chunk: long enough for L-BFGS's memory to pay off.
const CHUNK: u64 = 250;

/// Minimises from `x0`; returns the best point and the iterations used.
pub fn run<R: RouteGradient + Clone>(
    problem: LossProblem<R>,
    x0: DVector<f64>,
    s: &LbfgsSettings,
) -> (LossProblem<R>, DVector<f64>, u64) {
    let mut problem = problem;
    let mut x = x0;
    let mut used = 0u64;
    let (mut fx, g) = problem.loss_grad(x.as_slice());
    let mut gnorm = norm(&g);
    while used < s.max_iters && gnorm > s.grad_tol {
        let iters = CHUNK.min(s.max_iters - used);
        let linesearch = match MoreThuenteLineSearch::new().with_c(1e-4, 0.9) {
            Ok(l) => l,
            Err(_) => break,
        };
        let solver = match LBFGS::new(linesearch, s.memory)
            .with_tolerance_grad(s.grad_tol)
            .and_then(|l| l.with_tolerance_cost(0.0))
        {
            Ok(l) => l,
            Err(_) => break,
        };
        let (p, best, its) = run_chunk(problem, solver, &x, iters);
        problem = p;
        used += its.max(1);
        let Some(b) = best else { break };
        let (fb, gb) = problem.loss_grad(b.as_slice());
        if fb > fx {
            break;
        }
        let progressed = fb < fx || norm(&gb) < gnorm;
        x = b;
        fx = fb;
        gnorm = norm(&gb);
        // Stop when no progress, or the solver stopped on its own (converged or stuck).
        if !progressed || its < iters {
            break;
        }
    }
    (problem, x, used)
}
