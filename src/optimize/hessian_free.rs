//! Polish and classification without forming the Hessian, for routes that give only
//! Hessian-vector products (the one-dimensional route at n = 20 … 400, where the Hessian of
//! up to 12 400 parameters is not worth forming).
//!
//! The polish is trust-region Newton–CG ([`super::newton_cg`]) on the Hessian-vector products;
//! the classification is by the lowest eigenvalues of the Hessian on the complement of the
//! symmetry directions, found by Lanczos ([`super::lanczos`]) with those directions projected
//! out. Every threshold widens by the route's own error: its gradient error bound (so no point
//! is declared critical more precisely than its gradient is known) and the products' error
//! estimate plus the Ritz residual (so no eigenvalue's sign is claimed beyond what the numbers
//! support).

use nalgebra::DVector;

use super::classify::{kind_of, symmetry_basis, Kind, Spectrum};
use super::lanczos::{self, LanczosOptions};
use super::newton_cg::{self, NewtonCgOptions};
use super::problem::LossProblem;
use crate::error::{Error, Result};
use crate::route::RouteHvp;
use crate::tolerance;

/// Lowest eigenvalues reported.
const EIGENVALUES: usize = 6;
/// Symmetry directions whose curvature is checked (each costs one product).
const SYMMETRY_CHECKS: usize = 2;

/// The gradient-norm level below which the route cannot tell the gradient from zero: its
/// per-entry error bound over all free entries (in the problem's units).
pub fn gradient_floor<R: RouteHvp + Clone>(problem: &LossProblem<R>, x: &[f64]) -> f64 {
    problem.loss_grad(x);
    (x.len() as f64).sqrt() * problem.gradient_error()
}

/// Newton–CG from `x` until ‖∇L‖ ≤ max(`grad_tol`, the gradient floor), no progress, or
/// `max_iters`; returns the point and the iterations used.
pub fn polish<R: RouteHvp + Clone>(
    problem: &LossProblem<R>,
    x: DVector<f64>,
    grad_tol: f64,
    max_iters: u64,
) -> (DVector<f64>, u64) {
    // Below the floor, so that the point passes `is_critical` (‖∇L‖ ≤ floor + tolerance).
    let target = grad_tol.max(0.5 * gradient_floor(problem, x.as_slice()));
    let Ok(opts) = NewtonCgOptions::default()
        .with_grad_tol(target)
        .and_then(|o| o.with_max_iters(max_iters as usize))
    else {
        return (x, 0);
    };
    let mut loss_grad = |p: &[f64], g: &mut [f64]| -> f64 {
        let (l, gr) = problem.loss_grad(p);
        g.copy_from_slice(&gr);
        l
    };
    let mut hvp = |p: &[f64], v: &[f64], out: &mut [f64]| {
        let (hv, _) = problem.hvp_free(p, v);
        out.copy_from_slice(&hv);
    };
    let report = newton_cg::run(x.as_slice().to_vec(), &mut loss_grad, &mut hvp, &opts);
    (DVector::from_vec(report.x), report.iterations as u64)
}

/// The lowest eigenvalues of the Hessian at `x` (free parameters; `full` the whole vector) off
/// the symmetry orbit, by Lanczos, in the problem's units.
pub fn spectrum<R: RouteHvp + Clone>(
    problem: &LossProblem<R>,
    x: &[f64],
    full: &[f64],
) -> Result<Spectrum> {
    let nf = x.len();
    let sym = symmetry_basis(full, problem.free(), problem.shape());
    let deflate: Vec<Vec<f64>> = sym.iter().map(|q| q.as_slice().to_vec()).collect();
    let k = EIGENVALUES.min(nf.saturating_sub(sym.len()));
    if k == 0 {
        return Ok(Spectrum {
            eigenvalues: Vec::new(),
            symmetry_modes: sym.len(),
            symmetry_curvature: 0.0,
            zero_tolerance: 0.0,
            kind: kind_of(None, 0.0),
        });
    }
    let mut hvp_err = 0.0f64;
    let mut apply = |v: &[f64], out: &mut [f64]| -> Result<()> {
        let (hv, err) = problem.hvp_free(x, v);
        if !err.is_finite() || hv.iter().any(|h| !h.is_finite()) {
            return Err(Error::Numerical(
                "a Hessian-vector product at the point reached is not finite".into(),
            ));
        }
        hvp_err = hvp_err.max(err);
        out.copy_from_slice(&hv);
        Ok(())
    };
    let opts = LanczosOptions::default()
        .with_k(k)?
        .with_max_iters(nf.min(tolerance::LANCZOS_MAX_ITERS))?
        .with_rel_tol(tolerance::LANCZOS_RESIDUAL_REL)?;
    let result = lanczos::lowest_eigenvalues(nf, &mut apply, &deflate, &opts)?;
    let symmetry_curvature = sym
        .iter()
        .take(SYMMETRY_CHECKS)
        .map(|q| {
            let (hq, _) = problem.hvp_free(x, q.as_slice());
            q.dot(&DVector::from_vec(hq)).abs()
        })
        .fold(0.0, f64::max);
    let hscale = result.norm_estimate.max(1.0);
    // An eigenvalue is known to within the products' error (times √N for a whole vector) plus
    // its Ritz residual; below that its sign is not claimed.
    let residual = result.residuals.first().copied().unwrap_or(0.0);
    let zero_tolerance =
        (tolerance::ZERO_EIGENVALUE_REL * hscale).max((nf as f64).sqrt() * hvp_err + residual);
    let lowest = result.eigenvalues.first().copied();
    let mut kind = kind_of(lowest, zero_tolerance);
    if kind == Kind::Degenerate
        && zero_tolerance > tolerance::UNRESOLVED_FACTOR * tolerance::ZERO_EIGENVALUE_REL * hscale
    {
        // "Flat" would be a claim the products cannot support: their error, not the
        // curvature, set the tolerance.
        kind = Kind::Undetermined;
    }
    Ok(Spectrum {
        kind,
        eigenvalues: result.eigenvalues,
        symmetry_modes: sym.len(),
        symmetry_curvature,
        zero_tolerance,
    })
}
