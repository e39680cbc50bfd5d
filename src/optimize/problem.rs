//! The exact loss as an argmin problem over the *free* parameters.
//!
//! Some parameters can be held fixed (the bias at 0 in McGrath's setting, or chosen entries);
//! the problem maps the free vector into the full [`Model::to_vec`] layout and back.

use std::sync::Mutex;

use argmin::core::{
    CostFunction, Error as ArgminError, Executor, Gradient, Hessian, IterState, Solver, State,
};
use nalgebra::{DMatrix, DVector};

use crate::loss::{Evaluator, Objective};
use crate::model::Model;
use crate::Result;

/// Loss, gradient and Hessian of one objective restricted to the free parameters.
#[derive(Debug)]
pub struct LossProblem {
    shape: (usize, usize, bool),
    base: Vec<f64>,
    free: Vec<usize>,
    eval: Mutex<Cache>,
}

#[derive(Debug)]
struct Cache {
    eval: Evaluator,
    full: Vec<f64>,
    last: Option<(Vec<f64>, f64, Vec<f64>)>,
}

impl LossProblem {
    /// The problem at `model`'s shape; `free` lists the indices of [`Model::to_vec`] that vary
    /// (the others stay at `model`'s values).
    pub fn new(obj: &Objective, model: &Model, free: Vec<usize>) -> Result<Self> {
        obj.check_model(model)?;
        let eval = Evaluator::new(obj.clone())?;
        let base = model.to_vec();
        Ok(LossProblem {
            shape: (model.m(), model.n(), model.is_tied()),
            eval: Mutex::new(Cache {
                eval,
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

    /// Loss and gradient (free components) at `x`, cached for the last point.
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
        let (m, n, tied) = self.shape;
        let mut grad = vec![0.0; cache.full.len()];
        let loss = cache
            .eval
            .loss_grad_flat(&cache.full, m, n, tied, &mut grad);
        let g: Vec<f64> = self.free.iter().map(|&k| grad[k]).collect();
        cache.last = Some((x.to_vec(), loss, g.clone()));
        (loss, g)
    }

    /// Exact Hessian restricted to the free parameters.
    pub fn hessian_free(&self, x: &[f64]) -> DMatrix<f64> {
        let full = self.expand(x);
        let (m, n, tied) = self.shape;
        let mut guard = self.eval.lock().unwrap_or_else(|e| e.into_inner());
        let h = guard.eval.hessian_flat(&full, m, n, tied);
        DMatrix::from_fn(self.free.len(), self.free.len(), |r, c| {
            h[(self.free[r], self.free[c])]
        })
    }

    /// `(m, n, tied)`.
    pub fn shape(&self) -> (usize, usize, bool) {
        self.shape
    }
}

fn finite_or_err(x: &DVector<f64>) -> std::result::Result<(), ArgminError> {
    if x.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(argmin::core::Error::msg("non-finite parameters"))
    }
}

impl CostFunction for LossProblem {
    type Param = DVector<f64>;
    type Output = f64;
    fn cost(&self, p: &Self::Param) -> std::result::Result<f64, ArgminError> {
        finite_or_err(p)?;
        Ok(self.loss_grad(p.as_slice()).0)
    }
}

impl Gradient for LossProblem {
    type Param = DVector<f64>;
    type Gradient = DVector<f64>;
    fn gradient(&self, p: &Self::Param) -> std::result::Result<DVector<f64>, ArgminError> {
        finite_or_err(p)?;
        Ok(DVector::from_vec(self.loss_grad(p.as_slice()).1))
    }
}

impl Hessian for LossProblem {
    type Param = DVector<f64>;
    type Hessian = DMatrix<f64>;
    fn hessian(&self, p: &Self::Param) -> std::result::Result<DMatrix<f64>, ArgminError> {
        finite_or_err(p)?;
        Ok(self.hessian_free(p.as_slice()))
    }
}

impl LossProblem {
    /// A copy with its own evaluator and an empty cache (the executor takes ownership of one).
    pub fn clone_fresh(&self) -> Self {
        let guard = self.eval.lock().unwrap_or_else(|e| e.into_inner());
        LossProblem {
            shape: self.shape,
            base: self.base.clone(),
            free: self.free.clone(),
            eval: Mutex::new(Cache {
                eval: guard.eval.clone(),
                full: guard.full.clone(),
                last: None,
            }),
        }
    }
}

/// Runs `solver` from `x` for at most `iters` iterations and hands the problem back (the
/// executor owns it while running) with the best point found and the iterations used.
/// An argmin error — typically a line search that can no longer progress once the loss
/// changes are at rounding level — yields no point but keeps the problem.
pub fn run_chunk<S, H>(
    problem: LossProblem,
    solver: S,
    x: &DVector<f64>,
    iters: u64,
) -> (LossProblem, Option<DVector<f64>>, u64)
where
    S: Solver<LossProblem, IterState<DVector<f64>, DVector<f64>, (), H, (), f64>>,
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

/// Euclidean norm.
pub fn norm(g: &[f64]) -> f64 {
    g.iter().map(|v| v * v).sum::<f64>().sqrt()
}
