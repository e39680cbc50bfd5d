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
//! form; see [`crate::integrals::quadrature`].

use std::fmt;
use std::str::FromStr;

use nalgebra::{DMatrix, DVector};

use crate::data::{ActiveSetFamily, Data};
use crate::dual::{Dual, Real};
use crate::error::{Error, Result};
use crate::integrals::cutcube::{self, CutCube};
use crate::model::{Activation, Model};

/// How the per-feature losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// `Σ_i I_i E[(x_i − x'_i)²]`, the paper's loss (and Chen et al.'s).
    #[default]
    Sum,
    /// The sum divided by n, as in the Anthropic notebook.
    Mean,
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reduction::Sum => write!(f, "sum"),
            Reduction::Mean => write!(f, "mean"),
        }
    }
}

impl FromStr for Reduction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "sum" => Ok(Reduction::Sum),
            "mean" => Ok(Reduction::Mean),
            other => Err(Error::invalid(format!(
                "unknown reduction '{other}' (expected sum or mean)"
            ))),
        }
    }
}

/// What is being computed: activation, data distribution with importances, reduction.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    activation: Activation,
    data: Data,
    reduction: Reduction,
}

impl Objective {
    /// ReLU output, `sum` reduction.
    pub fn new(data: Data) -> Self {
        Objective {
            activation: Activation::Relu,
            data,
            reduction: Reduction::Sum,
        }
    }

    /// Sets the output activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets the reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Replaces the data distribution.
    pub fn with_data(mut self, data: Data) -> Self {
        self.data = data;
        self
    }

    /// The output activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The data distribution and importances.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The reduction.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// Number of features.
    pub fn n(&self) -> usize {
        self.data.n()
    }

    /// The factor each feature's expected squared error is multiplied by: `I_i` (sum) or
    /// `I_i / n` (mean).
    pub fn weights(&self) -> Vec<f64> {
        let scale = match self.reduction {
            Reduction::Sum => 1.0,
            Reduction::Mean => 1.0 / self.n() as f64,
        };
        self.data.importance().iter().map(|i| i * scale).collect()
    }

    /// Fails unless `model` has this objective's number of features.
    pub fn check_model(&self, model: &Model) -> Result<()> {
        if model.n() != self.n() {
            return Err(Error::invalid(format!(
                "the model has {} features but the data describe {}",
                model.n(),
                self.n()
            )));
        }
        Ok(())
    }

    /// Fails with a message naming the cost when the closed form would take too long.
    pub fn check_closed_form_size(&self) -> Result<()> {
        if !self.activation.has_closed_form() {
            return Err(Error::invalid(format!(
                "the {} activation has no closed form; use the quadrature or Monte Carlo method",
                self.activation
            )));
        }
        if self.activation == Activation::Linear {
            return Ok(());
        }
        let k = max_set_size(&self.data.active_sets());
        if k > MAX_CLOSED_FORM_COORDS {
            let states = 3f64.powi(k as i32);
            let bytes = states * 48.0 * 2.0;
            let seconds = states * self.n() as f64 * 2.0e-8;
            return Err(Error::TooLarge(format!(
                "the exact loss with {k} features that can be active together needs 3^{k} ≈ {:.1e} \
                 cut-cube states per output ({:.1} GB, roughly {:.0} s for all {} outputs); the limit \
                 is {MAX_CLOSED_FORM_COORDS} (the cost grows with how many features can be active at \
                 once: one-hot or explicit active sets of up to {MAX_CLOSED_FORM_COORDS} features work \
                 for any n, and --method mc works for any size)",
                states,
                bytes / 1e9,
                seconds,
                self.n()
            )));
        }
        Ok(())
    }
}

/// Most coordinates one cut-cube table may have in the loss (3^14 ≈ 4.8 million states).
pub const MAX_CLOSED_FORM_COORDS: usize = 14;

/// Size of the largest set of features that can be active together.
pub fn max_set_size(family: &ActiveSetFamily) -> usize {
    match family {
        ActiveSetFamily::Product { coords, .. } => coords.len(),
        ActiveSetFamily::List(sets) => sets.iter().map(|(s, _)| s.len()).max().unwrap_or(0),
    }
}

/// The loss and its per-feature terms (each already multiplied by its weight, so they sum to
/// the loss).
#[derive(Debug, Clone, PartialEq)]
pub struct LossValue {
    /// The loss.
    pub loss: f64,
    /// `I_i E[(x_i − x'_i)²]` (divided by n for `mean`).
    pub per_feature: Vec<f64>,
}

/// The gradient in the model's shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    /// ∂L/∂W (m×n).
    pub w: DMatrix<f64>,
    /// ∂L/∂W_out (n×m) for untied models.
    pub w_out: Option<DMatrix<f64>>,
    /// ∂L/∂b (n).
    pub b: DVector<f64>,
}

impl Gradient {
    /// Builds the gradient from a vector in [`Model::to_vec`]'s layout.
    pub fn from_vec_like(model: &Model, v: &[f64]) -> Self {
        let (m, n) = (model.m(), model.n());
        let w = DMatrix::from_column_slice(m, n, &v[..m * n]);
        let w_out =
            (!model.is_tied()).then(|| DMatrix::from_column_slice(n, m, &v[m * n..m * n + n * m]));
        let b = DVector::from_column_slice(&v[v.len() - n..]);
        Gradient { w, w_out, b }
    }

    /// Flattened in [`Model::to_vec`]'s layout.
    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = self.w.as_slice().to_vec();
        if let Some(wo) = &self.w_out {
            v.extend_from_slice(wo.as_slice());
        }
        v.extend_from_slice(self.b.as_slice());
        v
    }

    /// Largest absolute entry.
    pub fn norm_inf(&self) -> f64 {
        self.to_vec().iter().fold(0.0, |a, x| a.max(x.abs()))
    }

    /// Euclidean norm.
    pub fn norm(&self) -> f64 {
        self.to_vec().iter().map(|x| x * x).sum::<f64>().sqrt()
    }
}

/// The exact loss by the closed form.
pub fn loss(model: &Model, obj: &Objective) -> Result<LossValue> {
    Evaluator::new(obj.clone())?.loss(model)
}

/// The exact loss and its exact gradient by the closed form.
pub fn loss_and_gradient(model: &Model, obj: &Objective) -> Result<(LossValue, Gradient)> {
    Evaluator::new(obj.clone())?.loss_and_gradient(model)
}

/// The exact Hessian of the loss in [`Model::to_vec`]'s parameter order.
pub fn hessian(model: &Model, obj: &Objective) -> Result<DMatrix<f64>> {
    Evaluator::new(obj.clone())?.hessian(model)
}

/// Evaluates one objective many times, reusing its workspace (what optimisers should use).
#[derive(Debug, Clone)]
pub struct Evaluator {
    obj: Objective,
    weights: Vec<f64>,
    family: ActiveSetFamily,
    groups: Vec<Group>,
    parallel: bool,
    pool: Vec<Workspace<f64>>,
    pool_dual: Vec<Workspace<Dual>>,
}

/// Outputs run in parallel when one table has at least this many coordinates; below it the
/// whole evaluation takes microseconds and threads would only add overhead.
pub const PARALLEL_MIN_COORDS: usize = 8;

impl Evaluator {
    /// Validates that the objective has a closed form of feasible size.
    pub fn new(obj: Objective) -> Result<Self> {
        obj.check_closed_form_size()?;
        let family = obj.data.active_sets();
        let groups = groups_of(&family);
        let parallel = max_set_size(&family) >= PARALLEL_MIN_COORDS
            && obj.activation != Activation::Linear
            && rayon::current_num_threads() > 1;
        Ok(Evaluator {
            weights: obj.weights(),
            family,
            groups,
            parallel,
            obj,
            pool: Vec::new(),
            pool_dual: Vec::new(),
        })
    }

    /// The objective.
    pub fn objective(&self) -> &Objective {
        &self.obj
    }

    /// The loss.
    pub fn loss(&mut self, model: &Model) -> Result<LossValue> {
        self.obj.check_model(model)?;
        let params = model.to_vec();
        let per = self.run(&params, model.m(), model.n(), model.is_tied(), None);
        Ok(to_loss_value(per))
    }

    /// The loss and gradient.
    pub fn loss_and_gradient(&mut self, model: &Model) -> Result<(LossValue, Gradient)> {
        self.obj.check_model(model)?;
        let params = model.to_vec();
        let mut grad = vec![0.0; params.len()];
        let per = self.run(
            &params,
            model.m(),
            model.n(),
            model.is_tied(),
            Some(&mut grad),
        );
        Ok((to_loss_value(per), Gradient::from_vec_like(model, &grad)))
    }

    /// Loss and gradient on a flat parameter vector ([`Model::to_vec`] layout) for a model of
    /// shape (m, n); overwrites `grad`. No validation: for optimiser inner loops.
    pub fn loss_grad_flat(
        &mut self,
        params: &[f64],
        m: usize,
        n: usize,
        tied: bool,
        grad: &mut [f64],
    ) -> f64 {
        self.run(params, m, n, tied, Some(grad)).iter().sum()
    }

    /// Loss on a flat parameter vector (no validation).
    pub fn loss_flat(&mut self, params: &[f64], m: usize, n: usize, tied: bool) -> f64 {
        self.run(params, m, n, tied, None).iter().sum()
    }

    /// Exact Hessian (symmetrised) in [`Model::to_vec`] order.
    pub fn hessian(&mut self, model: &Model) -> Result<DMatrix<f64>> {
        self.obj.check_model(model)?;
        let params = model.to_vec();
        Ok(self.hessian_flat(&params, model.m(), model.n(), model.is_tied()))
    }

    /// Exact Hessian on a flat parameter vector: one forward-mode sweep of the reverse-mode
    /// gradient per parameter.
    pub fn hessian_flat(&mut self, params: &[f64], m: usize, n: usize, tied: bool) -> DMatrix<f64> {
        let np = params.len();
        let mut h = DMatrix::zeros(np, np);
        let mut dp: Vec<Dual> = params.iter().map(|&v| Dual::new(v, 0.0)).collect();
        let mut grad = vec![Dual::zero(); np];
        for k in 0..np {
            dp[k].d = 1.0;
            grad.iter_mut().for_each(|g| *g = Dual::zero());
            let ctx = Context {
                m,
                n,
                tied,
                act: self.obj.activation,
                weights: &self.weights,
                family: &self.family,
                groups: &self.groups,
                parallel: self.parallel,
            };
            evaluate(&ctx, &dp, &mut self.pool_dual, Some(&mut grad));
            for (r, g) in grad.iter().enumerate() {
                h[(r, k)] = g.d;
            }
            dp[k].d = 0.0;
        }
        (&h + h.transpose()) * 0.5
    }

    fn run(
        &mut self,
        params: &[f64],
        m: usize,
        n: usize,
        tied: bool,
        grad: Option<&mut [f64]>,
    ) -> Vec<f64> {
        let ctx = Context {
            m,
            n,
            tied,
            act: self.obj.activation,
            weights: &self.weights,
            family: &self.family,
            groups: &self.groups,
            parallel: self.parallel,
        };
        evaluate(&ctx, params, &mut self.pool, grad)
    }
}

fn to_loss_value(per_feature: Vec<f64>) -> LossValue {
    LossValue {
        loss: per_feature.iter().sum(),
        per_feature,
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
    m: usize,
    n: usize,
    tied: bool,
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
    let (m, n) = (ctx.m, ctx.n);
    let w = &params[..m * n];
    let w_out = (!ctx.tied).then(|| &params[m * n..m * n + n * m]);
    let b = &params[params.len() - n..];
    // M (n×n, row-major here): M_ij = Σ_h R[i,h] W[h,j] with R = Wᵀ or W_out.
    let read = |i: usize, h: usize| match w_out {
        Some(wo) => wo[i + n * h],
        None => w[h + m * i],
    };
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
        chain_rule(params, m, n, ctx.tied, &gram_bar, &b_bar, g);
    }
    per
}

/// Maps ∂L/∂M (row-major n×n) and ∂L/∂b to the parameters ([`Model::to_vec`] layout), adding
/// into `grad`: tied `∂W = W (G + Gᵀ)`; untied `∂W_out = G Wᵀ`, `∂W = W_outᵀ G`.
pub(crate) fn chain_rule<T: Real>(
    params: &[T],
    m: usize,
    n: usize,
    tied: bool,
    gram_bar: &[T],
    b_bar: &[T],
    grad: &mut [T],
) {
    let w = &params[..m * n];
    let gm = |i: usize, j: usize| gram_bar[i * n + j];
    if tied {
        for h in 0..m {
            for k in 0..n {
                let mut acc = T::zero();
                for j in 0..n {
                    acc += (gm(k, j) + gm(j, k)) * w[h + m * j];
                }
                grad[h + m * k] += acc;
            }
        }
    } else {
        let wo = &params[m * n..m * n + n * m];
        for i in 0..n {
            for h in 0..m {
                let mut acc = T::zero();
                for j in 0..n {
                    acc += gm(i, j) * w[h + m * j];
                }
                grad[m * n + i + n * h] += acc;
            }
        }
        for h in 0..m {
            for j in 0..n {
                let mut acc = T::zero();
                for i in 0..n {
                    acc += gm(i, j) * wo[i + n * h];
                }
                grad[h + m * j] += acc;
            }
        }
    }
    let off = params.len() - n;
    for i in 0..n {
        grad[off + i] += b_bar[i];
    }
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
                "closed form requested for a smooth activation (checked in Evaluator::new)"
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

/// Number of cut-cube states one evaluation visits (for cost messages and benchmarks).
pub fn cost_in_states(obj: &Objective) -> f64 {
    let n = obj.n() as f64;
    match obj.data.active_sets() {
        ActiveSetFamily::Product { coords, .. } => n * cutcube::num_states(coords.len()) as f64,
        ActiveSetFamily::List(sets) => sets
            .iter()
            .map(|(s, _)| n * cutcube::num_states(s.len()) as f64)
            .sum(),
    }
}
