//! The expected loss `L(W, b) = Σ_i I_i · E[(x_i − x'_i)²]` in closed form, its exact
//! gradient and exact Hessian.
//!
//! Each output i contributes `I_i · E[(x_i − act(b_i + Σ_j M_ij x_j))²]`, an expectation over
//! the active sets of the data. For piecewise-linear activations it is assembled from the
//! cut-cube moments ([`crate::integrals::cutcube`]):
//!
//! ```text
//! ReLU:        E[x_i²] − 2 E[x_i f₊] + E[f₊²]
//! leaky ReLU:  E[x_i²] − 2 E[x_i f₊] + 2α E[x_i f₋] + E[f₊²] + α² E[f₋²]   (f₊ f₋ = 0)
//! linear:      (E r)² + Var r,  r = x_i − f
//! ```
//!
//! with `E[x_i²] = 1/3` when i is active. Smooth activations (GELU, softplus) have no closed
//! form; see [`crate::route::quadrature`].

use nalgebra::DMatrix;

use crate::data::ActiveSetFamily;
use crate::dual::{Dual, Real};
use crate::error::{Error, Result};
use crate::integrals::chain_rule::chain_rule;
use crate::integrals::cutcube::{self, CutCube};
use crate::model::{Activation, Model};
use crate::objective::Objective;
use crate::route::{Accuracy, Cost, Evaluation, Route, RouteGradient, RouteHessian};
use crate::shape::Shape;
use crate::tolerance;

/// Most coordinates one cut-cube table may have in the loss (3^14 ≈ 4.8 million states).
pub const MAX_CLOSED_FORM_COORDS: usize = 14;

/// Outputs run in parallel when one table has at least this many coordinates; below it the
/// whole evaluation takes microseconds and threads would only add overhead.
pub const PARALLEL_MIN_COORDS: usize = 8;

/// Seconds per cut-cube state and output (measured, 2 cores; for cost estimates only).
const SECONDS_PER_STATE: f64 = 2.0e-8;

/// Bytes per cut-cube state (three moments in f64 and in dual numbers).
const BYTES_PER_STATE: f64 = 96.0;

/// The fixed part of one evaluation, borrowed field by field from a [`ClosedForm`] (a macro,
/// not a method, so the workspaces stay mutably borrowable beside it).
macro_rules! context {
    ($route:expr, $shape:expr) => {
        Context {
            shape: $shape,
            act: $route.obj.activation(),
            weights: &$route.weights,
            family: &$route.family,
            groups: &$route.groups,
            parallel: $route.parallel,
        }
    };
}

/// The closed-form route: evaluates one objective many times, reusing its workspaces (what
/// optimisers should use).
#[derive(Debug, Clone)]
pub struct ClosedForm {
    obj: Objective,
    weights: Vec<f64>,
    family: ActiveSetFamily,
    groups: Vec<Group>,
    parallel: bool,
    /// Cut-cube states one evaluation visits per output (0 for the linear activation).
    states: f64,
    pool: Vec<Workspace<f64>>,
    pool_dual: Vec<Workspace<Dual>>,
}

impl ClosedForm {
    /// The route for `obj`; fails when the activation has no closed form or too many features
    /// can be active together (see [`Route::cost`]).
    pub fn new(obj: Objective) -> Result<Self> {
        let family = obj.data().active_sets();
        let parallel = family.max_set_size() >= PARALLEL_MIN_COORDS
            && obj.activation() != Activation::Linear
            && rayon::current_num_threads() > 1;
        let states = if obj.activation() == Activation::Linear {
            0.0
        } else {
            match &family {
                ActiveSetFamily::Product { coords, .. } => 3f64.powi(coords.len() as i32),
                ActiveSetFamily::List(sets) => {
                    sets.iter().map(|(s, _)| 3f64.powi(s.len() as i32)).sum()
                }
            }
        };
        let mut route = ClosedForm {
            weights: obj.weights(),
            family,
            groups: Vec::new(),
            parallel,
            states,
            obj,
            pool: Vec::new(),
            pool_dual: Vec::new(),
        };
        // Refuse before building tables whose size the refusal is about.
        route.cost(Shape::new(route.obj.n(), 1, true))?;
        route.groups = groups_of(&route.family);
        Ok(route)
    }

    /// Number of cut-cube states one evaluation visits over all outputs (for cost estimates
    /// and benchmarks).
    pub fn states(&self) -> f64 {
        self.states * self.obj.n() as f64
    }

    /// The bound on the closed form's error at a loss value: `LOSS_REL·|L| +
    /// LOSS_ABS_PER_IMPORTANCE·Σ weights`.
    pub fn bound(&self, loss: f64) -> f64 {
        let total_weight: f64 = self.weights.iter().sum();
        tolerance::LOSS_REL * loss.abs() + tolerance::LOSS_ABS_PER_IMPORTANCE * total_weight
    }

    /// Loss on a flat parameter vector (no validation).
    pub fn loss_flat(&mut self, shape: Shape, params: &[f64]) -> f64 {
        self.run(shape, params, None).iter().sum()
    }

    /// The exact Hessian (symmetrised) in [`Model::to_vec`] order.
    pub fn hessian(&mut self, model: &Model) -> Result<DMatrix<f64>> {
        self.obj.check_model(model)?;
        Ok(self.hessian_flat(model.shape(), &model.to_vec()))
    }

    fn run(&mut self, shape: Shape, params: &[f64], grad: Option<&mut [f64]>) -> Vec<f64> {
        let ctx = context!(self, shape);
        evaluate(&ctx, params, &mut self.pool, grad)
    }
}

impl Route for ClosedForm {
    fn name(&self) -> &'static str {
        "closed"
    }

    fn objective(&self) -> &Objective {
        &self.obj
    }

    fn cost(&self, shape: Shape) -> Result<Cost> {
        let act = self.obj.activation();
        if !act.has_closed_form() {
            return Err(Error::invalid(format!(
                "the {act} activation has no closed form: use --method quadrature or --method mc"
            )));
        }
        let n = self.obj.n();
        let k = self.family.max_set_size();
        if act != Activation::Linear && k > MAX_CLOSED_FORM_COORDS {
            // log10 keeps the message finite for any k (3^20000 overflows f64).
            let log_states = k as f64 * 3f64.log10();
            return Err(Error::TooLarge(format!(
                "the exact loss with {k} features that can be active together needs 3^{k} ≈ \
                 1e{log_states:.0} cut-cube states per output ({}, {} for all {n} outputs); the \
                 limit is {MAX_CLOSED_FORM_COORDS} (the cost grows with how many features can be \
                 active at once: one-hot or explicit active sets of up to \
                 {MAX_CLOSED_FORM_COORDS} features work for any n, and --method mc works for any \
                 size)",
                crate::limits::bytes_text(10f64.powf(log_states) * BYTES_PER_STATE),
                crate::progress::duration_text(
                    10f64.powf(log_states) * n as f64 * SECONDS_PER_STATE
                ),
            )));
        }
        let (nf, mf) = (shape.n as f64, shape.m as f64);
        let cost = Cost {
            seconds: (self.states() + nf * nf * mf) * SECONDS_PER_STATE,
            // The n×n matrix M (f64 and dual numbers) and one cut-cube table per worker.
            bytes: self.states.max(1.0) * BYTES_PER_STATE + nf * nf * 24.0,
        };
        crate::limits::check_memory(
            cost.bytes,
            &format!("the closed form at n = {}, m = {}", shape.n, shape.m),
        )?;
        crate::limits::check_seconds(
            cost.seconds,
            &format!(
                "one closed-form evaluation at n = {}, m = {}",
                shape.n, shape.m
            ),
            "fewer features, or --method mc",
        )?;
        Ok(cost)
    }

    fn as_gradient(&mut self) -> Option<&mut dyn RouteGradient> {
        Some(self)
    }

    fn evaluate(&mut self, model: &Model) -> Result<Evaluation> {
        self.obj.check_model(model)?;
        let per = self.run(model.shape(), &model.to_vec(), None);
        let mut e = Evaluation::from_terms(per, Accuracy::Exact);
        e.accuracy = Accuracy::Bound(self.bound(e.loss));
        Ok(e)
    }
}

impl RouteGradient for ClosedForm {
    fn loss_grad_flat(&mut self, shape: Shape, params: &[f64], grad: &mut [f64]) -> f64 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        self.run(shape, params, Some(grad)).iter().sum()
    }

    fn evaluate_with_gradient(&mut self, model: &Model) -> Result<Evaluation> {
        self.obj.check_model(model)?;
        let shape = model.shape();
        let mut grad = vec![0.0; shape.num_params()];
        let per = self.run(shape, &model.to_vec(), Some(&mut grad));
        let mut e = Evaluation::from_terms(per, Accuracy::Exact);
        e.accuracy = Accuracy::Bound(self.bound(e.loss));
        e.gradient = Some(crate::route::Gradient::from_flat(shape, &grad));
        Ok(e)
    }
}

impl RouteHessian for ClosedForm {
    /// One forward-mode sweep of the reverse-mode gradient per parameter ("exact
    /// differentiation of the closed-form gradient").
    fn hessian_flat(&mut self, shape: Shape, params: &[f64]) -> DMatrix<f64> {
        let np = params.len();
        let mut h = DMatrix::zeros(np, np);
        let mut dp: Vec<Dual> = params.iter().map(|&v| Dual::new(v, 0.0)).collect();
        let mut grad = vec![Dual::zero(); np];
        for k in 0..np {
            dp[k].d = 1.0;
            grad.iter_mut().for_each(|g| *g = Dual::zero());
            let ctx = context!(self, shape);
            evaluate(&ctx, &dp, &mut self.pool_dual, Some(&mut grad));
            for (r, g) in grad.iter().enumerate() {
                h[(r, k)] = g.d;
            }
            dp[k].d = 0.0;
        }
        (&h + h.transpose()) * 0.5
    }
}

/// The active sets of one cut-cube table: its coordinates (features) and the root states
/// (free-set bit mask over those coordinates, its state index, probability).
#[derive(Debug, Clone)]
struct Group {
    coords: Vec<usize>,
    roots: Vec<(usize, usize, f64)>,
}

/// One table for product data (all subsets are roots), one per set for listed sets.
fn groups_of(family: &ActiveSetFamily) -> Vec<Group> {
    let sets = family.expand_f64();
    let root = |mask: usize, p: f64| (mask, cutcube::root_index(mask), p);
    match family {
        ActiveSetFamily::Product { coords, .. } => vec![Group {
            coords: coords.clone(),
            roots: sets.into_iter().map(|(mask, _, p)| root(mask, p)).collect(),
        }],
        ActiveSetFamily::List(_) => sets
            .into_iter()
            .map(|(mask, coords, p)| Group {
                coords,
                roots: vec![root(mask, p)],
            })
            .collect(),
    }
}

/// Everything fixed during one evaluation.
struct Context<'a> {
    shape: Shape,
    act: Activation,
    weights: &'a [f64],
    family: &'a ActiveSetFamily,
    groups: &'a [Group],
    parallel: bool,
}

/// Scratch space and accumulators of one worker.
#[derive(Debug, Clone)]
struct Workspace<T> {
    cube: CutCube<T>,
    c: Vec<T>,
    seeds: Vec<(usize, cutcube::Moments<T>)>,
    masks: Vec<usize>,
    per: Vec<T>,
    gram_bar: Vec<T>,
    b_bar: Vec<T>,
}

impl<T: Real> Default for Workspace<T> {
    fn default() -> Self {
        Workspace {
            cube: CutCube::new(),
            c: Vec::new(),
            seeds: Vec::new(),
            masks: Vec::new(),
            per: Vec::new(),
            gram_bar: Vec::new(),
            b_bar: Vec::new(),
        }
    }
}

impl<T: Real> Workspace<T> {
    fn reset(&mut self, n: usize) {
        for v in [&mut self.per, &mut self.b_bar] {
            v.clear();
            v.resize(n, T::zero());
        }
        self.gram_bar.clear();
        self.gram_bar.resize(n * n, T::zero());
    }
}

/// Per-feature weighted losses; with `grad`, adds ∂L/∂params into it.
fn evaluate<T: Real>(
    ctx: &Context,
    params: &[T],
    pool: &mut Vec<Workspace<T>>,
    grad: Option<&mut [T]>,
) -> Vec<T> {
    let shape = ctx.shape;
    let (m, n) = (shape.m, shape.n);
    let w = &params[shape.w()];
    let b = &params[shape.b()];
    // M (n×n, row-major here): M_ij = Σ_h R[i,h] W[h,j] with R = Wᵀ or W_out.
    let read = |i: usize, h: usize| shape.read_out(params, i, h);
    let mut gram = vec![T::zero(); n * n];
    for i in 0..n {
        for j in 0..n {
            let mut acc = T::zero();
            for h in 0..m {
                acc += read(i, h) * w[h + m * j];
            }
            gram[i * n + j] = acc;
        }
    }
    let want_grad = grad.is_some();
    let workers = if ctx.parallel {
        rayon::current_num_threads().min(n)
    } else {
        1
    };
    if pool.len() < workers {
        pool.resize_with(workers, Workspace::default);
    }
    let run_worker = |k: usize, ws: &mut Workspace<T>| {
        ws.reset(n);
        for i in (k..n).step_by(workers) {
            if ctx.weights[i] == 0.0 {
                continue;
            }
            let val = output_loss(ctx, i, &gram[i * n..(i + 1) * n], b[i], ws, want_grad);
            // The expected squared error is ≥ 0; rounding may leave −1e-17.
            ws.per[i] = if val.re() < 0.0 { T::zero() } else { val };
        }
    };
    if workers > 1 {
        use rayon::prelude::*;
        pool[..workers]
            .par_iter_mut()
            .enumerate()
            .for_each(|(k, ws)| run_worker(k, ws));
    } else {
        run_worker(0, &mut pool[0]);
    }
    let mut per = vec![T::zero(); n];
    let mut gram_bar = vec![T::zero(); if want_grad { n * n } else { 0 }];
    let mut b_bar = vec![T::zero(); if want_grad { n } else { 0 }];
    for ws in &pool[..workers] {
        for (p, x) in per.iter_mut().zip(&ws.per) {
            *p += *x;
        }
        if want_grad {
            for (g, x) in gram_bar.iter_mut().zip(&ws.gram_bar) {
                *g += *x;
            }
            for (g, x) in b_bar.iter_mut().zip(&ws.b_bar) {
                *g += *x;
            }
        }
    }
    if let Some(g) = grad {
        chain_rule(shape, params, &gram_bar, &b_bar, g);
    }
    per
}

/// `weight_i · E[(x_i − act(b_i + row·x))²]`; with `want_grad`, adds its derivatives with
/// respect to `b_i` and `row` into the workspace's accumulators.
fn output_loss<T: Real>(
    ctx: &Context,
    i: usize,
    row: &[T],
    bi: T,
    ws: &mut Workspace<T>,
    want_grad: bool,
) -> T {
    match ctx.act {
        Activation::Linear => linear_output(ctx, i, row, bi, ws, want_grad),
        Activation::Relu => relu_output(ctx, i, row, bi, 0.0, ws, want_grad),
        Activation::LeakyRelu { alpha } => relu_output(ctx, i, row, bi, alpha, ws, want_grad),
        Activation::Gelu | Activation::Softplus => {
            unreachable!(
                "closed form requested for a smooth activation (refused by ClosedForm::cost)"
            )
        }
    }
}

/// ReLU (α = 0) and leaky ReLU outputs from the cut-cube moments of f and, for α ≠ 0, of −f:
/// the terms `−E_V[f₊] + E[f₊²]` and `α E_V[f₋] + α² E[f₋²]` (E_V[g] = 2 E[x_i g]).
fn relu_output<T: Real>(
    ctx: &Context,
    i: usize,
    row: &[T],
    bi: T,
    alpha: f64,
    ws: &mut Workspace<T>,
    want_grad: bool,
) -> T {
    let mut total = T::zero();
    let weight = ctx.weights[i];
    // (sign of f, coefficient of E_V[(±f)₊], coefficient of E[(±f)₊²])
    let sides = [(1.0, -1.0, 1.0), (-1.0, alpha, alpha * alpha)];
    let sides = if alpha == 0.0 {
        &sides[..1]
    } else {
        &sides[..]
    };
    for group in ctx.groups {
        let own = group.coords.iter().position(|&j| j == i);
        let own_bit = own.map_or(0, |o| 1usize << o);
        for &(sign, cv, c2) in sides {
            ws.c.clear();
            ws.c.extend(group.coords.iter().map(|&j| row[j].scale(sign)));
            if want_grad {
                ws.cube.forward(bi.scale(sign), &ws.c, own);
            } else {
                ws.masks.clear();
                ws.masks.extend(group.roots.iter().map(|r| r.0));
                ws.cube.forward_roots(bi.scale(sign), &ws.c, own, &ws.masks);
            }
            ws.seeds.clear();
            for &(mask, index, p) in &group.roots {
                let [f2, _, fv] = ws.cube.state(index);
                let pw = p * weight;
                if sign > 0.0 && mask & own_bit != 0 {
                    total += T::cst(pw / 3.0);
                }
                total += (fv.scale(cv) + f2.scale(c2)).scale(pw);
                if want_grad {
                    ws.seeds
                        .push((mask, [T::cst(pw * c2), T::zero(), T::cst(pw * cv)]));
                }
            }
            if want_grad {
                let (db, dc) = ws.cube.backward(&ws.seeds);
                ws.b_bar[i] += db.scale(sign);
                let n = row.len();
                for (k, &j) in group.coords.iter().enumerate() {
                    ws.gram_bar[i * n + j] += dc[k].scale(sign);
                }
            }
        }
    }
    total
}

/// Linear output: the residual `r = x_i − b_i − Σ_j M_ij x_j = −b_i + Σ_j d_j x_j` with
/// `d_j = δ_ij − M_ij`.
///
/// # Formula
/// `E r² = (E r)² + Var r` with `E x_j = p_j/2`, `Var x_j = p_j/3 − p_j²/4` (independent) or
/// `1/2`, `1/12` for the members of an explicit active set. Both terms are non-negative, so
/// there is no cancellation. Derivatives: `∂/∂b_i = −2 E r`, `∂/∂d_j = 2 E r E x_j + 2 d_j Var x_j`.
fn linear_output<T: Real>(
    ctx: &Context,
    i: usize,
    row: &[T],
    bi: T,
    ws: &mut Workspace<T>,
    want_grad: bool,
) -> T {
    let n = row.len();
    let weight = ctx.weights[i];
    let d = |j: usize| {
        if j == i {
            T::cst(1.0) - row[j]
        } else {
            -row[j]
        }
    };
    let mut total = T::zero();
    // Each group: features with their (E x_j, Var x_j) and the group's probability.
    let mut accumulate = |items: &mut dyn Iterator<Item = (usize, f64, f64)>, prob: f64| {
        let items: Vec<(usize, f64, f64)> = items.collect();
        let mut mean = -bi;
        let mut var = T::zero();
        for &(j, ex, vx) in &items {
            let dj = d(j);
            mean += dj.scale(ex);
            var += (dj * dj).scale(vx);
        }
        let pw = prob * weight;
        total += (mean * mean + var).scale(pw);
        if want_grad {
            ws.b_bar[i] -= mean.scale(2.0 * pw);
            for &(j, ex, vx) in &items {
                // ∂/∂M_ij = −∂/∂d_j
                ws.gram_bar[i * n + j] -= (mean.scale(2.0 * ex) + d(j).scale(2.0 * vx)).scale(pw);
            }
        }
    };
    match ctx.family {
        ActiveSetFamily::Product { coords, density } => {
            let mut items = coords
                .iter()
                .zip(density)
                .map(|(&j, &p)| (j, p / 2.0, p / 3.0 - p * p / 4.0));
            accumulate(&mut items, 1.0);
        }
        ActiveSetFamily::List(sets) => {
            for (s, p) in sets {
                let mut items = s.iter().map(|&j| (j, 0.5, 1.0 / 12.0));
                accumulate(&mut items, *p);
            }
        }
    }
    total
}
