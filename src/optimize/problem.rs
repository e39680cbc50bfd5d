//! The loss of any route as an argmin problem over the *free* parameters.
//!
//! Some parameters can be held fixed (the bias at 0 in McGrath's setting, or chosen entries);
//! the problem maps the free vector into the full [`Model::to_vec`] layout and back. It is
//! generic over the route: argmin's `CostFunction` and `Gradient` need [`RouteGradient`], its
//! `Hessian` (and the classification of critical points) [`RouteHvp`].
//!
//! The problem is the loss divided by its scale ([`Objective::scale`], the largest importance
//! weight), so every tolerance of the solvers is relative to the loss's scale: a uniform factor
//! on the importances only rescales the loss and gives the same critical points.
//!
//! [`Objective::scale`]: crate::objective::Objective::scale

use std::sync::Mutex;

use argmin::core::{
    CostFunction, Error as ArgminError, Executor, Gradient, Hessian, IterState, Solver, State,
};
use nalgebra::{DMatrix, DVector};

use crate::model::Model;
use crate::route::{RouteGradient, RouteHvp};
use crate::shape::Shape;
use crate::Result;

/// Loss, gradient and Hessian of one route restricted to the free parameters.
#[derive(Debug)]
pub struct LossProblem<R> {
    shape: Shape,
    scale: f64,
    base: Vec<f64>,
    free: Vec<usize>,
    eval: Mutex<Cache<R>>,
}

#[derive(Debug)]
struct Cache<R> {
    route: R,
    full: Vec<f64>,
    last: Option<(Vec<f64>, f64, Vec<f64>)>,
}

impl<R: RouteGradient + Clone> LossProblem<R> {
    /// The problem at `model`'s shape; `free` lists the indices of [`Model::to_vec`] that vary
    /// (the others stay at `model`'s values). Fails when the route refuses the model's shape.
    pub fn new(route: R, model: &Model, free: Vec<usize>) -> Result<Self> {
        route.objective().check_model(model)?;
        route.cost(model.shape())?;
        let base = model.to_vec();
        Ok(LossProblem {
            shape: model.shape(),
            scale: route.objective().scale(),
            eval: Mutex::new(Cache {
                route,
                full: base.clone(),
                last: None,
            }),
            base,
            free,
        })
    }

    /// Indices of the free parameters in [`Model::to_vec`] order.
    pub fn free(&self) -> &[usize] {
        &self.free
    }

    /// The free parameters of a full parameter vector.
    pub fn restrict(&self, full: &[f64]) -> DVector<f64> {
        DVector::from_iterator(self.free.len(), self.free.iter().map(|&k| full[k]))
    }

    /// The full parameter vector for free parameters `x`.
    pub fn expand(&self, x: &[f64]) -> Vec<f64> {
        let mut full = self.base.clone();
        for (&k, &v) in self.free.iter().zip(x) {
            full[k] = v;
        }
        full
    }

    /// Loss and gradient (free components) at `x`, divided by [`LossProblem::scale`], cached
    /// for the last point.
    pub fn loss_grad(&self, x: &[f64]) -> (f64, Vec<f64>) {
        let mut guard = self.eval.lock().unwrap_or_else(|e| e.into_inner());
        let cache = &mut *guard;
        if let Some((p, l, g)) = &cache.last {
            if p.as_slice() == x {
                return (*l, g.clone());
            }
        }
        for (&k, &v) in self.free.iter().zip(x) {
            cache.full[k] = v;
        }
        let mut grad = vec![0.0; cache.full.len()];
        let loss = cache
            .route
            .loss_grad_flat(self.shape, &cache.full, &mut grad)
            / self.scale;
        let g: Vec<f64> = self.free.iter().map(|&k| grad[k] / self.scale).collect();
        cache.last = Some((x.to_vec(), loss, g.clone()));
        (loss, g)
    }

    /// The model's shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The loss's scale, which losses, gradients and Hessians here are divided by.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// A copy with its own route and an empty cache (the executor takes ownership of one).
    pub fn clone_fresh(&self) -> Self {
        let guard = self.eval.lock().unwrap_or_else(|e| e.into_inner());
        LossProblem {
            shape: self.shape,
            scale: self.scale,
            base: self.base.clone(),
            free: self.free.clone(),
            eval: Mutex::new(Cache {
                route: guard.route.clone(),
                full: guard.full.clone(),
                last: None,
            }),
        }
    }
}

impl<R: RouteHvp + Clone> LossProblem<R> {
    /// Whether the route gives the whole Hessian (else only Hessian-vector products).
    pub fn has_direct_hessian(&self) -> bool {
        let guard = self.eval.lock().unwrap_or_else(|e| e.into_inner());
        guard.route.has_direct_hessian()
    }

    /// The Hessian restricted to the free parameters, divided by [`LossProblem::scale`]; NaN
    /// entries when the route gives Hessian-vector products only.
    pub fn hessian_free(&self, x: &[f64]) -> DMatrix<f64> {
        let full = self.expand(x);
        let mut guard = self.eval.lock().unwrap_or_else(|e| e.into_inner());
        let nf = self.free.len();
        match guard.route.direct_hessian(self.shape, &full) {
            Some(h) => {
                DMatrix::from_fn(nf, nf, |r, c| h[(self.free[r], self.free[c])] / self.scale)
            }
            None => DMatrix::from_element(nf, nf, f64::NAN),
        }
    }

    /// `H v` over the free parameters (divided by [`LossProblem::scale`]) and the route's
    /// estimate of its largest entry error (same units).
    pub fn hvp_free(&self, x: &[f64], v: &[f64]) -> (Vec<f64>, f64) {
        let full = self.expand(x);
        let mut dir = vec![0.0; full.len()];
        for (&k, &vi) in self.free.iter().zip(v) {
            dir[k] = vi;
        }
        let mut out = vec![0.0; full.len()];
        let mut guard = self.eval.lock().unwrap_or_else(|e| e.into_inner());
        let err = guard.route.hvp_flat(self.shape, &full, &dir, &mut out);
        let hv = self.free.iter().map(|&k| out[k] / self.scale).collect();
        (hv, err / self.scale)
    }

    /// The loss at `x` from the route's checked evaluation ([`crate::route::Route::evaluate`]:
    /// it fails rather than report a loss that misses the route's accuracy), in the loss's
    /// units.
    pub fn checked_loss(&self, x: &[f64]) -> Result<f64> {
        let full = self.expand(x);
        let model = Model::from_flat(self.shape, &full)?;
        let mut guard = self.eval.lock().unwrap_or_else(|e| e.into_inner());
        Ok(guard.route.evaluate(&model)?.loss)
    }

    /// The route's error bound on each gradient entry of the last evaluation, divided by
    /// [`LossProblem::scale`].
    pub fn gradient_error(&self) -> f64 {
        let guard = self.eval.lock().unwrap_or_else(|e| e.into_inner());
        guard.route.gradient_error() / self.scale
    }
}

fn finite_or_err(x: &DVector<f64>) -> std::result::Result<(), ArgminError> {
    if x.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(argmin::core::Error::msg("non-finite parameters"))
    }
}

impl<R: RouteGradient + Clone> CostFunction for LossProblem<R> {
    type Param = DVector<f64>;
    type Output = f64;
    fn cost(&self, p: &Self::Param) -> std::result::Result<f64, ArgminError> {
        finite_or_err(p)?;
        Ok(self.loss_grad(p.as_slice()).0)
    }
}

impl<R: RouteGradient + Clone> Gradient for LossProblem<R> {
    type Param = DVector<f64>;
    type Gradient = DVector<f64>;
    fn gradient(&self, p: &Self::Param) -> std::result::Result<DVector<f64>, ArgminError> {
        finite_or_err(p)?;
        Ok(DVector::from_vec(self.loss_grad(p.as_slice()).1))
    }
}

impl<R: RouteHvp + Clone> Hessian for LossProblem<R> {
    type Param = DVector<f64>;
    type Hessian = DMatrix<f64>;
    fn hessian(&self, p: &Self::Param) -> std::result::Result<DMatrix<f64>, ArgminError> {
        finite_or_err(p)?;
        let h = self.hessian_free(p.as_slice());
        if h.iter().all(|v| v.is_finite()) {
            Ok(h)
        } else {
            Err(argmin::core::Error::msg(
                "the Hessian is not available or not finite",
            ))
        }
    }
}

/// Runs `solver` from `x` for at most `iters` iterations and hands the problem back (the
/// executor owns it while running) with the best point found and the iterations used.
/// An argmin error — typically a line search that can no longer progress once the loss
/// changes are at rounding level — yields no point but keeps the problem.
pub fn run_chunk<R, S, H>(
    problem: LossProblem<R>,
    solver: S,
    x: &DVector<f64>,
    iters: u64,
) -> (LossProblem<R>, Option<DVector<f64>>, u64)
where
    R: RouteGradient + Clone,
    S: Solver<LossProblem<R>, IterState<DVector<f64>, DVector<f64>, (), H, (), f64>>,
{
    let fallback = problem.clone_fresh();
    let result = Executor::new(problem, solver)
        .configure(|st| st.param(x.clone()).max_iters(iters))
        .run();
    match result {
        Ok(mut res) => {
            let used = res.state.get_iter();
            let best = res.state.take_best_param();
            (res.problem.take_problem().unwrap_or(fallback), best, used)
        }
        Err(_) => (fallback, None, 0),
    }
}

pub use crate::numeric::norm;
