//! Exact minimisation of the loss (the only module that uses argmin), generic over the route:
//! any [`RouteHvp`] (every [`crate::route::RouteHessian`], and the one-dimensional route) can be minimised, its critical points classified and censused.
//!
//! [`minimize_local`] runs L-BFGS with a More–Thuente line search ([`lbfgs`]) and polishes
//! with a trust-region Newton method on the exact Hessian ([`polish`]) until ‖∇L‖ reaches
//! rounding level, then classifies the point from the Hessian spectrum with the symmetry
//! directions separated ([`classify`]). [`census()`] runs many seeded starts in parallel and
//! lists the distinct critical points found.

pub mod census;
pub mod classify;
pub mod descent;
pub mod hessian_free;
pub mod lanczos;
pub mod lbfgs;
pub mod newton;
pub mod newton_cg;
pub mod polish;
pub mod problem;
pub mod root;

use nalgebra::DVector;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::objective::Objective;
use crate::route::{ClosedForm, RouteHvp};
use classify::Spectrum;
use problem::LossProblem;

pub use census::{
    census, census_seconds, census_with, minimize_seconds, Census, CensusOptions, CriticalPoint,
    SearchOptions,
};
pub use classify::Kind;

/// Options of one local minimisation.
#[derive(Debug, Clone, PartialEq)]
pub struct MinimizeOptions {
    lbfgs: lbfgs::LbfgsSettings,
    polish_tol: f64,
    polish_iters: u64,
    no_bias: bool,
    fixed: Vec<(usize, f64)>,
}

impl Default for MinimizeOptions {
    fn default() -> Self {
        MinimizeOptions {
            lbfgs: lbfgs::LbfgsSettings::default(),
            polish_tol: crate::tolerance::POLISH_GRAD,
            polish_iters: 200,
            no_bias: false,
            fixed: Vec::new(),
        }
    }
}

impl PartialEq for lbfgs::LbfgsSettings {
    fn eq(&self, o: &Self) -> bool {
        self.grad_tol == o.grad_tol && self.max_iters == o.max_iters && self.memory == o.memory
    }
}

impl MinimizeOptions {
    /// Defaults: L-BFGS to ‖∇L‖ ≤ 1e-8 (at most 5000 iterations), then the trust-region and
    /// Newton polish to 1e-13. (Below ~1e-9 the loss changes are at rounding level and line
    /// searches waste ~15 evaluations per step; the Newton stage does not need them.)
    pub fn new() -> Self {
        Self::default()
    }

    /// Iteration limit of the L-BFGS stage (≥ 1).
    pub fn with_max_iters(mut self, iters: u64) -> Result<Self> {
        if iters == 0 {
            return Err(Error::invalid("the iteration limit must be at least 1"));
        }
        self.lbfgs.max_iters = iters;
        Ok(self)
    }

    /// Gradient-norm target of the L-BFGS stage (> 0).
    pub fn with_grad_tol(mut self, tol: f64) -> Result<Self> {
        if !(tol > 0.0 && tol.is_finite()) {
            return Err(Error::invalid("the gradient tolerance must be positive"));
        }
        self.lbfgs.grad_tol = tol;
        Ok(self)
    }

    /// Hold every bias at 0 (McGrath's setting).
    pub fn with_no_bias(mut self, no_bias: bool) -> Self {
        self.no_bias = no_bias;
        self
    }

    /// Hold parameter `index` ([`Model::to_vec`] order) at `value`; the same parameter fixed
    /// twice is an error (neither value would silently win).
    pub fn with_fixed(mut self, index: usize, value: f64) -> Result<Self> {
        if !value.is_finite() {
            return Err(Error::invalid("a fixed parameter value must be finite"));
        }
        if self.fixed.iter().any(|&(k, _)| k == index) {
            return Err(Error::invalid(format!(
                "parameter {index} is fixed twice; fix each parameter once"
            )));
        }
        self.fixed.push((index, value));
        Ok(self)
    }

    /// Whether biases are held at 0.
    pub fn no_bias(&self) -> bool {
        self.no_bias
    }

    /// Applies the fixed values and returns the model to start from and the free indices.
    pub fn prepare(&self, start: &Model) -> Result<(Model, Vec<usize>)> {
        let mut v = start.to_vec();
        let np = v.len();
        let n = start.n();
        let mut free = vec![true; np];
        if self.no_bias {
            for k in np - n..np {
                v[k] = 0.0;
                free[k] = false;
            }
        }
        for &(k, val) in &self.fixed {
            if k >= np {
                return Err(Error::invalid(format!(
                    "fixed parameter index {k} is out of range (the model has {np} parameters)"
                )));
            }
            if self.no_bias && k >= np - n && val != 0.0 {
                return Err(Error::invalid(format!(
                    "b[{}] is fixed at {val} but biases are held at 0 (--no-bias); drop one",
                    k - (np - n)
                )));
            }
            v[k] = val;
            free[k] = false;
        }
        let free: Vec<usize> = (0..np).filter(|&k| free[k]).collect();
        if free.is_empty() {
            return Err(Error::invalid(
                "every parameter is fixed; nothing to minimise",
            ));
        }
        Ok((start.from_vec_like(&v)?, free))
    }
}

/// Newton steps on the gradient after the trust-region polish (quadratic convergence needs few).
const NEWTON_STEPS: usize = 12;

/// A point reached by local minimisation.
#[derive(Debug, Clone)]
pub struct LocalMinimum {
    /// The parameters.
    pub model: Model,
    /// The exact loss there.
    pub loss: f64,
    /// Euclidean norm of the gradient over the free parameters.
    pub grad_norm: f64,
    /// Hessian spectrum over the free parameters, symmetry directions separated.
    pub spectrum: Spectrum,
    /// L-BFGS and trust-region iterations used.
    pub iterations: (u64, u64),
    /// The loss's scale ([`Objective::scale`]); tolerances on `loss`, `grad_norm` and
    /// the eigenvalues are relative to it.
    pub scale: f64,
    /// Bound on the error of `grad_norm` from the route's gradient error (0 for routes whose
    /// gradient is exact up to rounding); criticality is not claimed more finely than this.
    pub grad_error: f64,
}

impl LocalMinimum {
    /// True when the gradient is small enough, relative to the loss's scale, for the point to
    /// count as critical ([`crate::tolerance::CRITICAL_GRAD`]).
    pub fn is_critical(&self) -> bool {
        self.grad_norm <= crate::tolerance::CRITICAL_GRAD * self.scale + self.grad_error
    }

    /// What the point is, as tables and JSON name it: `not_critical` whenever the gradient is
    /// not small (whatever the curvature there), else the Hessian's kind (`strict_minimum`,
    /// `saddle`, `degenerate`).
    pub fn kind_name(&self) -> &'static str {
        if !self.is_critical() {
            return "not_critical";
        }
        match self.spectrum.kind {
            Kind::StrictMinimum => "strict_minimum",
            Kind::Saddle => "saddle",
            Kind::Degenerate => "degenerate",
            Kind::Undetermined => "undetermined",
        }
    }
}

/// Minimises the exact loss (closed form) from `start` (L-BFGS, then trust-region polish),
/// then classifies the point reached.
pub fn minimize_local(
    obj: &Objective,
    start: &Model,
    opts: &MinimizeOptions,
) -> Result<LocalMinimum> {
    minimize_local_with(ClosedForm::new(obj.clone())?, start, opts)
}

/// [`minimize_local`] through any route with a Hessian.
pub fn minimize_local_with<R: RouteHvp + Clone>(
    route: R,
    start: &Model,
    opts: &MinimizeOptions,
) -> Result<LocalMinimum> {
    let (start, free) = opts.prepare(start)?;
    let full = start.to_vec();
    let mut x0 = DVector::from_iterator(free.len(), free.iter().map(|&k| full[k]));
    let mut lbfgs_settings = opts.lbfgs;
    let mut staged = 0u64;
    for &tol in &crate::tolerance::HESSIAN_FREE_STAGES {
        let Some(coarse) = route.coarsened(tol) else {
            continue;
        };
        let stage = LossProblem::new(coarse, &start, free.clone())?;
        let floor = hessian_free::gradient_floor(&stage, x0.as_slice());
        let settings = lbfgs::LbfgsSettings {
            grad_tol: lbfgs_settings
                .grad_tol
                .max(crate::tolerance::HESSIAN_FREE_STAGE_FLOOR * floor),
            max_iters: lbfgs_settings.max_iters.saturating_sub(staged),
            ..lbfgs_settings
        };
        let (_, x, used) = lbfgs::run(stage, x0, &settings);
        x0 = x;
        staged += used;
    }
    lbfgs_settings.max_iters = lbfgs_settings.max_iters.saturating_sub(staged).max(1);
    let problem = LossProblem::new(route, &start, free)?;
    if !problem.has_direct_hessian() {
        let floor = hessian_free::gradient_floor(&problem, x0.as_slice());
        lbfgs_settings.grad_tol = lbfgs_settings
            .grad_tol
            .max(crate::tolerance::HESSIAN_FREE_LBFGS_GRAD)
            .max(crate::tolerance::HESSIAN_FREE_LBFGS_FLOOR * floor);
    }
    let (problem, x, it1) = lbfgs::run(problem, x0, &lbfgs_settings);
    let it1 = it1 + staged;
    if !problem.has_direct_hessian() {
        // Products only (large n): Newton–CG instead of the trust region on the Hessian.
        let (x, it2) = hessian_free::polish(&problem, x, opts.polish_tol, opts.polish_iters);
        return finish(&problem, &start, x.as_slice(), (it1, it2));
    }
    let (problem, x, it2) = polish::run(problem, x, opts.polish_tol, opts.polish_iters);
    let (x, it3) = newton::run(&problem, x, opts.polish_tol, NEWTON_STEPS);
    finish(&problem, &start, x.as_slice(), (it1, it2 + it3 as u64))
}

/// Evaluates and classifies the point `x` of `problem` without moving it.
fn finish<R: RouteHvp + Clone>(
    problem: &LossProblem<R>,
    like: &Model,
    x: &[f64],
    iterations: (u64, u64),
) -> Result<LocalMinimum> {
    let scale = problem.scale();
    let (loss, g) = problem.loss_grad(x);
    let (mut loss, grad_norm) = (loss * scale, crate::numeric::norm(&g) * scale);
    let grad_error = hessian_free::gradient_floor(problem, x) * scale;
    if !problem.has_direct_hessian() {
        // Inner loops may accept looser evaluations; the reported loss is checked.
        loss = problem.checked_loss(x)?;
    }
    let full = problem.expand(x);
    if !(loss.is_finite() && grad_norm.is_finite()) || full.iter().any(|v| !v.is_finite()) {
        return Err(Error::Numerical(format!(
            "minimisation diverged: loss {loss}, ‖∇L‖ {grad_norm} (a parameter or the loss \
             overflowed f64)"
        )));
    }
    let model = like.from_vec_like(&full)?;
    // Classified on the normalised problem (curvatures relative to the loss's scale), then
    // reported in the loss's units.
    let mut spectrum = if problem.has_direct_hessian() {
        let h = problem.hessian_free(x);
        if h.iter().any(|v| !v.is_finite()) {
            return Err(Error::Numerical(
                "the Hessian at the point reached is not finite".into(),
            ));
        }
        classify::spectrum(&h, &full, problem.free(), problem.shape())
    } else {
        hessian_free::spectrum(problem, x, &full)?
    };
    spectrum.eigenvalues.iter_mut().for_each(|l| *l *= scale);
    spectrum.symmetry_curvature *= scale;
    spectrum.zero_tolerance *= scale;
    Ok(LocalMinimum {
        model,
        loss,
        grad_norm,
        spectrum,
        iterations,
        scale,
        grad_error,
    })
}

/// Loss, gradient norm and Hessian classification at `model` itself (no minimisation).
pub fn inspect(obj: &Objective, model: &Model, opts: &MinimizeOptions) -> Result<LocalMinimum> {
    inspect_with(ClosedForm::new(obj.clone())?, model, opts)
}

/// [`inspect`] through any route with a Hessian.
pub fn inspect_with<R: RouteHvp + Clone>(
    route: R,
    model: &Model,
    opts: &MinimizeOptions,
) -> Result<LocalMinimum> {
    let (_, free) = opts.prepare(model)?;
    let problem = LossProblem::new(route, model, free)?;
    let x = problem.restrict(&model.to_vec());
    finish(&problem, model, x.as_slice(), (0, 0))
}

/// Euclidean distance between two models' parameter vectors.
pub fn distance(a: &Model, b: &Model) -> f64 {
    let (va, vb) = (a.to_vec(), b.to_vec());
    if va.len() != vb.len() {
        return f64::INFINITY;
    }
    DVector::from_vec(va).metric_distance(&DVector::from_vec(vb))
}
