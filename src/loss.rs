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
        let w_out = (!model.is_tied())
            .then(|| DMatrix::from_column_slice(n, m, &v[m * n..m * n + n * m]));
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
    ws: Workspace<f64>,
    ws_dual: Workspace<Dual>,
}

impl Evaluator {
    /// Validates that the objective has a closed form of feasible size.
    pub fn new(obj: Objective) -> Result<Self> {
        obj.check_closed_form_size()?;
        Ok(Evaluator {
            weights: obj.weights(),
            family: obj.data.active_sets(),
            obj,
            ws: Workspace::default(),
            ws_dual: Workspace::default(),
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
        let per = self.run(&params, model.m(), model.n(), model.is_tied(), false);
        Ok(to_loss_value(per))
    }

    /// The loss and gradient.
    pub fn loss_and_gradient(&mut self, model: &Model) -> Result<(LossValue, Gradient)> {
        self.obj.check_model(model)?;
        let params = model.to_vec();
        let mut grad = vec![0.0; params.len()];
        let per = self.run_grad(&params, model.m(), model.n(), model.is_tied(), &mut grad);
        Ok((to_loss_value(per), Gradient::from_vec_like(model, &grad)))
    }

    /// Loss and gradient on a flat parameter vector ([`Model::to_vec`] layout) for a model of
    /// shape (m, n); writes the gradient into `grad`. No validation: for optimiser inner loops.
    pub fn loss_grad_flat(
        &mut self,
        params: &[f64],
        m: usize,
        n: usize,
        tied: bool,
        grad: &mut [f64],
    ) -> f64 {
        self.run_grad(params, m, n, tied, grad).iter().sum()
    }

    /// Loss on a flat parameter vector (no validation).
    pub fn loss_flat(&mut self, params: &[f64], m: usize, n: usize, tied: bool) -> f64 {
        self.run(params, m, n, tied, false).iter().sum()
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
            evaluate(
                &dp,
                m,
                n,
                tied,
                &self.obj,
                &self.weights,
                &self.family,
                &mut self.ws_dual,
                Some(&mut grad),
            );
            for (r, g) in grad.iter().enumerate() {
                h[(r, k)] = g.d;
            }
            dp[k].d = 0.0;
        }
        (&h + h.transpose()) * 0.5
    }

    fn run(&mut self, params: &[f64], m: usize, n: usize, tied: bool, _g: bool) -> Vec<f64> {
        evaluate(
            params,
            m,
            n,
            tied,
            &self.obj,
            &self.weights,
            &self.family,
            &mut self.ws,
            None,
        )
    }

    fn run_grad(
        &mut self,
        params: &[f64],
        m: usize,
        n: usize,
        tied: bool,
        grad: &mut [f64],
    ) -> Vec<f64> {
        grad.iter_mut().for_each(|g| *g = 0.0);
        evaluate(
            params,
            m,
            n,
            tied,
            &self.obj,
            &self.weights,
            &self.family,
            &mut self.ws,
            Some(grad),
        )
    }
}

fn to_loss_value(per_feature: Vec<f64>) -> LossValue {
    LossValue {
        loss: per_feature.iter().sum(),
        per_feature,
    }
}

/// Scratch space of the generic evaluation.
#[derive(Debug, Clone)]
struct Workspace<T> {
    cube: CutCube<T>,
    gram: Vec<T>,
    gram_bar: Vec<T>,
    row: Vec<T>,
    mask_weight: Vec<f64>,
}

impl<T: Real> Default for Workspace<T> {
    fn default() -> Self {
        Workspace {
            cube: CutCube::new(),
            gram: Vec::new(),
            gram_bar: Vec::new(),
            row: Vec::new(),
            mask_weight: Vec::new(),
        }
    }
}

/// Per-feature weighted losses; with `grad`, adds ∂L/∂params into it.
#[allow(clippy::too_many_arguments)]
fn evaluate<T: Real>(
    params: &[T],
    m: usize,
    n: usize,
    tied: bool,
    obj: &Objective,
    weights: &[f64],
    family: &ActiveSetFamily,
    ws: &mut Workspace<T>,
    mut grad: Option<&mut [T]>,
) -> Vec<T> {
    let w = &params[..m * n];
    let w_out = (!tied).then(|| &params[m * n..m * n + n * m]);
    let b = &params[params.len() - n..];
    // M (n×n, row-major here): M_ij = Σ_h R[i,h] W[h,j] with R = Wᵀ or W_out.
    let read = |i: usize, h: usize| match w_out {
        Some(wo) => wo[i + n * h],
        None => w[h + m * i],
    };
    ws.gram.clear();
    ws.gram.resize(n * n, T::zero());
    for i in 0..n {
        for j in 0..n {
            let mut acc = T::zero();
            for h in 0..m {
                acc += read(i, h) * w[h + m * j];
            }
            ws.gram[i * n + j] = acc;
        }
    }
    let want_grad = grad.is_some();
    ws.gram_bar.clear();
    ws.gram_bar.resize(n * n, T::zero());
    let mut b_bar = vec![T::zero(); n];
    let mut per = vec![T::zero(); n];
    for i in 0..n {
        if weights[i] == 0.0 {
            continue;
        }
        ws.row.clear();
        ws.row.extend_from_slice(&ws.gram[i * n..(i + 1) * n]);
        let (val, gb) = output_loss(
            obj.activation,
            family,
            i,
            &ws.row,
            b[i],
            weights[i],
            &mut ws.cube,
            &mut ws.mask_weight,
            want_grad,
        );
        // The expected squared error is ≥ 0; rounding may leave −1e-17.
        per[i] = if val.re() < 0.0 { T::zero() } else { val };
        if let Some((gbi, grow)) = gb {
            b_bar[i] += gbi;
            for j in 0..n {
                ws.gram_bar[i * n + j] += grow[j];
            }
        }
    }
    if let Some(g) = grad.as_deref_mut() {
        chain_rule(params, m, n, tied, &ws.gram_bar, &b_bar, g);
    }
    per
}

/// Maps ∂L/∂M and ∂L/∂b to the parameters: tied `∂W = W (G + Gᵀ)`; untied
/// `∂W_out = G Wᵀ`, `∂W = W_outᵀ G`.
fn chain_rule<T: Real>(
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

/// `weight · E[(x_i − act(b_i + row·x))²]` and, if asked, its derivatives with respect to
/// `b_i` and `row`.
#[allow(clippy::too_many_arguments)]
fn output_loss<T: Real>(
    act: Activation,
    family: &ActiveSetFamily,
    i: usize,
    row: &[T],
    bi: T,
    weight: f64,
    cube: &mut CutCube<T>,
    mask_weight: &mut Vec<f64>,
    want_grad: bool,
) -> (T, Option<(T, Vec<T>)>) {
    match act {
        Activation::Linear => linear_output(family, i, row, bi, weight, want_grad),
        Activation::Relu => relu_output(family, i, row, bi, weight, 0.0, cube, mask_weight, want_grad),
        Activation::LeakyRelu { alpha } => {
            relu_output(family, i, row, bi, weight, alpha, cube, mask_weight, want_grad)
        }
        Activation::Gelu | Activation::Softplus => {
            unreachable!("closed form requested for a smooth activation (checked in Evaluator::new)")
        }
    }
}

/// Probabilities of every subset of the product family's coordinates, by bit mask.
fn product_weights(density: &[f64], out: &mut Vec<f64>) {
    out.clear();
    out.push(1.0);
    for &p in density {
        let len = out.len();
        out.extend_from_within(..);
        for (mask, v) in out.iter_mut().enumerate() {
            *v *= if mask < len { 1.0 - p } else { p };
        }
    }
}

/// ReLU (α = 0) and leaky ReLU outputs from the cut-cube moments of f and of −f.
#[allow(clippy::too_many_arguments)]
fn relu_output<T: Real>(
    family: &ActiveSetFamily,
    i: usize,
    row: &[T],
    bi: T,
    weight: f64,
    alpha: f64,
    cube: &mut CutCube<T>,
    mask_weight: &mut Vec<f64>,
    want_grad: bool,
) -> (T, Option<(T, Vec<T>)>) {
    let n = row.len();
    let mut total = T::zero();
    let mut gb = T::zero();
    let mut grow = vec![T::zero(); if want_grad { n } else { 0 }];
    // One (coordinates, [(mask, probability)]) group per table.
    let groups: Vec<(Vec<usize>, Vec<(usize, f64)>)> = match family {
        ActiveSetFamily::Product { coords, density } => {
            product_weights(density, mask_weight);
            let roots = mask_weight
                .iter()
                .enumerate()
                .filter(|(_, w)| **w > 0.0)
                .map(|(mask, w)| (mask, *w))
                .collect();
            vec![(coords.clone(), roots)]
        }
        ActiveSetFamily::List(sets) => sets
            .iter()
            .map(|(s, p)| (s.clone(), vec![((1usize << s.len()) - 1, *p)]))
            .collect(),
    };
    let sides: &[(f64, f64, f64)] = if alpha == 0.0 {
        // (sign of f, coefficient of E_V[(±f)₊] = 2E[x(±f)₊], coefficient of E[(±f)₊²])
        &[(1.0, -1.0, 1.0)]
    } else {
        &[(1.0, -1.0, 1.0), (-1.0, 0.0, 0.0)]
    };
    for (coords, roots) in &groups {
        let own = coords.iter().position(|&j| j == i);
        let c: Vec<T> = coords.iter().map(|&j| row[j]).collect();
        let own_bit = own.map_or(0, |o| 1usize << o);
        for (side, &(sign, cv0, c20)) in sides.iter().enumerate() {
            let (cv, c2) = if side == 0 { (cv0, c20) } else { (alpha, alpha * alpha) };
            let cs: Vec<T> = c.iter().map(|x| x.scale(sign)).collect();
            cube.forward(bi.scale(sign), &cs, own);
            let mut seeds = Vec::with_capacity(if want_grad { roots.len() } else { 0 });
            for &(mask, p) in roots {
                let [f2, _, fv] = cube.root(mask);
                let pw = p * weight;
                if side == 0 && mask & own_bit != 0 {
                    total += T::cst(pw / 3.0);
                }
                total += (fv.scale(cv) + f2.scale(c2)).scale(pw);
                if want_grad {
                    seeds.push((mask, [T::cst(pw * c2), T::zero(), T::cst(pw * cv)]));
                }
            }
            if want_grad {
                let (db, dc) = cube.backward(&seeds);
                gb += db.scale(sign);
                for (k, &j) in coords.iter().enumerate() {
                    grow[j] += dc[k].scale(sign);
                }
            }
        }
    }
    (total, want_grad.then_some((gb, grow)))
}

/// Linear output: the residual `r = x_i − b_i − Σ_j M_ij x_j = −b_i + Σ_j d_j x_j` with
/// `d_j = δ_ij − M_ij`; `E r² = (E r)² + Var r` (both terms non-negative, no cancellation).
fn linear_output<T: Real>(
    family: &ActiveSetFamily,
    i: usize,
    row: &[T],
    bi: T,
    weight: f64,
    want_grad: bool,
) -> (T, Option<(T, Vec<T>)>) {
    let n = row.len();
    let d = |j: usize| {
        if j == i {
            T::cst(1.0) - row[j]
        } else {
            -row[j]
        }
    };
    let mut total = T::zero();
    let mut gb = T::zero();
    let mut grow = vec![T::zero(); n];
    // Each group: features with their (E x_j, Var x_j) and the group's probability.
    let mut accumulate = |items: &[(usize, f64, f64)], prob: f64| {
        let mut mean = -bi;
        let mut var = T::zero();
        for &(j, ex, vx) in items {
            let dj = d(j);
            mean += dj.scale(ex);
            var += (dj * dj).scale(vx);
        }
        let pw = prob * weight;
        total += (mean * mean + var).scale(pw);
        if want_grad {
            gb -= mean.scale(2.0 * pw);
            for &(j, ex, vx) in items {
                // ∂/∂M_ij = −∂/∂d_j
                grow[j] -= (mean.scale(2.0 * ex) + d(j).scale(2.0 * vx)).scale(pw);
            }
        }
    };
    match family {
        ActiveSetFamily::Product { coords, density } => {
            let items: Vec<(usize, f64, f64)> = coords
                .iter()
                .zip(density)
                .map(|(&j, &p)| (j, p / 2.0, p / 3.0 - p * p / 4.0))
                .collect();
            accumulate(&items, 1.0);
        }
        ActiveSetFamily::List(sets) => {
            for (s, p) in sets {
                let items: Vec<(usize, f64, f64)> =
                    s.iter().map(|&j| (j, 0.5, 1.0 / 12.0)).collect();
                accumulate(&items, *p);
            }
        }
    }
    // E[x_i²] − 2E[x_i·x_i-part] is inside (E r)² + Var r already: x_i enters r through d_i.
    (total, want_grad.then_some((gb, grow)))
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
