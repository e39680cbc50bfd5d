//! The one-dimensional route: the expected loss, its gradient and Hessian-vector products for
//! independent data at sizes the closed form refuses (n = 20 … 400), in polynomial time, with
//! a reported error estimate (rigorous bounds for aliasing and rounding; the truncation of
//! the trapezoidal sum estimated from its partial sums, see [`crate::integrals::onedim`]).
//!
//! Each output's term `I_i E[(x_i − act(f_i))²]` depends on the data only through the
//! one-dimensional law of `f_i = b_i + Σ_j M_ij x_j`; [`crate::integrals::onedim`] computes its
//! moments. ReLU and leaky ReLU (α) combine them as
//!
//! ```text
//! E[(x_i − act f)²] = p_i/3 − 2(1−α) E[x_i f₊] + (1−α²) E[f₊²] − 2α E[x_i f] + α² E[f²]
//! ```
//!
//! (from `act f = f₊ − α f₋`, `f₋ = f₊ − f`, `f₋² = f² − f₊²`); linear outputs use exact
//! moments only. Only independent data: the law of f is a product there.

use rayon::prelude::*;

use crate::data::Distribution;
use crate::error::{Error, Result};
use crate::integrals::chain_rule::chain_rule;
use crate::integrals::onedim::{self, Output, Request};
use crate::model::{Activation, Model};
use crate::objective::Objective;
use crate::route::{Accuracy, Cost, Evaluation, Gradient, Route, RouteGradient, RouteHvp};
use crate::shape::Shape;
use crate::tolerance::{
    ONEDIM_BEST_EFFORT as BEST_EFFORT, ONEDIM_DEFAULT_TOL, ONEDIM_HVP_ACCEPT as HVP_STEP_ACCEPT,
    ONEDIM_HVP_SAFETY as HVP_ESTIMATE_SAFETY, ONEDIM_HVP_STEP, ONEDIM_MIN_TOL,
};

/// Most trapezoidal nodes one output may use before the route reports that it cannot reach
/// the tolerance.
pub const MAX_NODES: usize = 400_000;

/// Difference steps tried by the Hessian-vector products (each 10× smaller than the last).
const HVP_STEP_LEVELS: i32 = 3;
/// The first step is at most this fraction of the distance to the nearest kink the products
/// can locate (the stencil reaches 2δ).
const HVP_KINK_CLEARANCE: f64 = 3.0;
/// … and at most this multiple of the gradient's error bound, where the rounding part of the
/// estimate (`24.5 ε_g/δ`) is 1e-7 of a unit product …
const HVP_ROUNDING_STEP: f64 = 24.5e7;
/// … but not below this fraction of the default step.
const HVP_SHORTEST_STEP: f64 = 1e-4;

/// Refinement passes: each sets per-output targets from the previous loss estimate.
const PASSES: usize = 4;

/// Relative target of the first, scouting pass (cheap: the node count grows like
/// target^(-1/4)); it only estimates the loss so that later passes can share the tolerance.
const SCOUT_TOL: f64 = 1e-5;

/// The loss by the one-dimensional route.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The loss.
    pub loss: f64,
    /// Per-feature terms (weighted; they sum to `loss`).
    pub per_feature: Vec<f64>,
    /// Bound on |loss − exact loss| (absolute).
    pub error: f64,
}

/// The default relative tolerance.
pub fn default_tolerance() -> f64 {
    ONEDIM_DEFAULT_TOL
}

/// The loss with `|error| ≤ tol · loss` (fails with [`Error::Numerical`] if that cannot be
/// reached within [`MAX_NODES`] nodes per output).
pub fn loss(model: &Model, obj: &Objective, tol: f64) -> Result<Value> {
    Ok(evaluate(model, obj, tol, false)?.0)
}

/// The loss and its gradient in [`Model::to_vec`]'s layout. The third value bounds the error
/// of every gradient entry (absolute, largest over entries).
pub fn loss_and_gradient(
    model: &Model,
    obj: &Objective,
    tol: f64,
) -> Result<(Value, Gradient, f64)> {
    let (value, grad) = evaluate(model, obj, tol, true)?;
    let (g, err) = grad.expect("gradient requested");
    Ok((value, Gradient::from_vec_like(model, &g), err))
}

/// Checks that the route applies and the tolerance is meaningful.
pub fn check(model: &Model, obj: &Objective, tol: f64) -> Result<()> {
    obj.check_model(model)?;
    OneDim::new(obj.clone(), tol)?.cost(model.shape())?;
    Ok(())
}

/// Seconds per output and feature-pair of work (measured at (20, 5): ~1.5 s per loss under
/// load; an estimate for choosing routes and refusing hours-long requests, not a promise).
const SECONDS_PER_N2: f64 = 4e-3;

/// The one-dimensional route at a relative tolerance: loss, gradient and Hessian-vector
/// products (by differences of its gradients, with an error estimate).
#[derive(Debug, Clone)]
pub struct OneDim {
    obj: Objective,
    tol: f64,
    /// Error bound of the last gradient [`RouteGradient::loss_grad_flat`] computed.
    last_grad_err: f64,
    /// The gradient (and its error bound) at the last point products were taken at: Lanczos
    /// and Newton–CG take many products at one point.
    product_base: Option<(Vec<f64>, Vec<f64>, f64)>,
}

impl OneDim {
    /// The route; fails for a tolerance that is not positive or below what f64 delivers,
    /// non-independent data and smooth activations, naming the routes that do apply.
    pub fn new(obj: Objective, tol: f64) -> Result<Self> {
        if !tol.is_finite() || tol <= 0.0 {
            return Err(Error::invalid(format!(
                "the tolerance must be a positive number, got {tol}"
            )));
        }
        if tol < ONEDIM_MIN_TOL {
            return Err(Error::invalid(format!(
                "a relative tolerance of {tol:e} is below what f64 arithmetic can deliver here \
                 (the smallest is {ONEDIM_MIN_TOL:e})"
            )));
        }
        match obj.data().distribution() {
            Distribution::Independent => {}
            other => {
                return Err(Error::invalid(format!(
                    "the one-dimensional route needs independent features; for {other} data use \
                     the closed form (exact, any n when at most 14 features are active together) \
                     or Monte Carlo"
                )))
            }
        }
        match obj.activation() {
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Linear => {}
            other => {
                return Err(Error::invalid(format!(
                    "the one-dimensional route handles relu, leaky_relu and linear outputs; for \
                     {other} use the quadrature route (small n) or Monte Carlo"
                )))
            }
        }
        Ok(OneDim {
            obj,
            tol,
            last_grad_err: 0.0,
            product_base: None,
        })
    }

    /// One difference product `H v` at step `delta` with its error estimate (see
    /// [`RouteHvp::hvp_flat`] for the formula).
    fn difference_product(
        &self,
        shape: Shape,
        params: &[f64],
        base: (&[f64], f64),
        v: &[f64],
        vn: f64,
        delta: f64,
    ) -> (Vec<f64>, f64, f64) {
        let mut grad_err = base.1;
        let mut g = |k: f64| -> Vec<f64> {
            let at: Vec<f64> = params
                .iter()
                .zip(v)
                .map(|(p, vi)| p + k * delta * vi / vn)
                .collect();
            let (gr, e) = self.grad_with_error(shape, &at);
            grad_err = grad_err.max(e);
            gr
        };
        let g0 = base.0;
        let (gp1, gm1, gp2, gm2) = (g(1.0), g(-1.0), g(2.0), g(-2.0));
        let mut out = vec![0.0; params.len()];
        let mut err = 0.0f64;
        for (k, o) in out.iter_mut().enumerate() {
            let d1 = (gp1[k] - gm1[k]) / (2.0 * delta);
            let d2 = (gp2[k] - gm2[k]) / (4.0 * delta);
            let fwd = 2.0 * (gp1[k] - g0[k]) / delta - (gp2[k] - g0[k]) / (2.0 * delta);
            let bwd = 2.0 * (g0[k] - gm1[k]) / delta - (g0[k] - gm2[k]) / (2.0 * delta);
            let r = (4.0 * d1 - d2) / 3.0;
            *o = vn * r;
            let spread = 2.0 * (r - 0.5 * (fwd + bwd)).abs() + (fwd - bwd).abs();
            err = err.max(vn * ((d1 - d2).abs() / 3.0 + spread));
        }
        let rounding = vn * 24.5 * grad_err / delta;
        let err = err + rounding;
        if out.iter().all(|o| o.is_finite()) && err.is_finite() {
            (out, err, rounding)
        } else {
            (out, f64::INFINITY, f64::INFINITY)
        }
    }

    /// The gradient at `params` with its error bound (NaN gradient and infinite bound when the
    /// route cannot reach its tolerance there).
    fn grad_with_error(&self, shape: Shape, params: &[f64]) -> (Vec<f64>, f64) {
        let nan = || (vec![f64::NAN; params.len()], f64::INFINITY);
        let Ok(model) = Model::from_flat(shape, params) else {
            return nan();
        };
        match evaluate_within(&model, &self.obj, self.tol, true, BEST_EFFORT) {
            Ok((_, Some((g, err)))) => (g, err),
            _ => nan(),
        }
    }
}

impl Route for OneDim {
    fn name(&self) -> &'static str {
        "onedim"
    }

    fn objective(&self) -> &Objective {
        &self.obj
    }

    fn cost(&self, shape: Shape) -> Result<Cost> {
        let n = shape.n as f64;
        // M and the gradient with respect to M, n² values each.
        let bytes = 2.0 * 8.0 * n * n;
        crate::limits::check_memory(
            bytes,
            &format!(
                "the one-dimensional route at n = {} (M and its gradient)",
                shape.n
            ),
        )?;
        let seconds = SECONDS_PER_N2 * n * n;
        crate::limits::check_seconds(
            seconds,
            &format!("the one-dimensional route at n = {}", shape.n),
            "--method mc",
        )?;
        Ok(Cost { seconds, bytes })
    }

    fn evaluate(&mut self, model: &Model) -> Result<Evaluation> {
        let v = loss(model, &self.obj, self.tol)?;
        let mut e = Evaluation::from_terms(v.per_feature, Accuracy::Estimate(v.error));
        e.loss = v.loss;
        Ok(e)
    }

    fn as_gradient(&mut self) -> Option<&mut dyn RouteGradient> {
        Some(self)
    }
}

impl RouteGradient for OneDim {
    /// An inner-loop evaluation: its error bound may miss the tolerance by up to
    /// [`BEST_EFFORT`] (recorded for [`RouteHvp::gradient_error`]); beyond that NaN (callers
    /// check finiteness). Reported losses come from [`Route::evaluate`], which checks fully.
    fn loss_grad_flat(&mut self, shape: Shape, params: &[f64], grad: &mut [f64]) -> f64 {
        let Ok(model) = Model::from_flat(shape, params) else {
            return f64::NAN;
        };
        match evaluate_within(&model, &self.obj, self.tol, true, BEST_EFFORT) {
            Ok((v, Some((g, err)))) => {
                grad.copy_from_slice(&g);
                self.last_grad_err = err;
                v.loss
            }
            _ => {
                grad.iter_mut().for_each(|g| *g = f64::NAN);
                self.last_grad_err = f64::INFINITY;
                f64::NAN
            }
        }
    }

    fn evaluate_with_gradient(&mut self, model: &Model) -> Result<Evaluation> {
        let (v, g, _) = loss_and_gradient(model, &self.obj, self.tol)?;
        let mut e = Evaluation::from_terms(v.per_feature, Accuracy::Estimate(v.error));
        e.loss = v.loss;
        e.gradient = Some(g);
        Ok(e)
    }
}

impl RouteHvp for OneDim {
    fn has_direct_hessian(&self) -> bool {
        false
    }

    fn direct_hessian(&mut self, _shape: Shape, _params: &[f64]) -> Option<nalgebra::DMatrix<f64>> {
        None
    }

    /// `H v` by central differences of the route's gradient along `v`, Richardson-extrapolated,
    /// with a check for kinks.
    ///
    /// # Formula
    /// With `u = v/‖v‖` and gradients `g_k = ∇L(θ + kδu)`, k = −2 … 2:
    /// `D(h) = (g_{h} − g_{−h}) / 2h = H u + c h² + O(h⁴)`, and the product is
    /// `‖v‖ (4 D(δ) − D(2δ)) / 3` (error O(δ⁴)). Its error estimate is `‖v‖` times
    /// * `|D(δ) − D(2δ)| / 3`, D(δ)'s own truncation error (an overestimate of the extrapolated
    ///   one);
    /// * `|F − B| + 2 |R − (F + B)/2|`, where `F = 2(g_1 − g_0)/δ − (g_2 − g_0)/2δ` and
    ///   `B = 2(g_0 − g_{−1})/δ − (g_0 − g_{−2})/2δ` are the one-sided extrapolations and R the
    ///   product: all three are `H u + O(δ²)` where L is smooth; where a kink of L lies within
    ///   2δ they part — by the jump of H (a bias at 0 with an atom of f there), or by O(δ) times
    ///   the jump of its slope (a bias at a segment's end) — while the central differences
    ///   alone average the two sides and look converged;
    /// * `24.5 ε_g / δ`, what gradient errors ε_g (the route's bound) can do to the above.
    ///
    /// `δ = ONEDIM_HVP_STEP · max(1, ‖θ‖∞)`, or a third of the distance along u to the nearest
    /// kink [`kink_distance`] locates, or `HVP_ROUNDING_STEP` times the gradient's error bound
    /// at θ, whichever is shortest (but ≥ `HVP_SHORTEST_STEP` of the default), then 10× and 100× smaller while
    /// the estimate exceeds `HVP_STEP_ACCEPT` of the product (a kink near θ) and rounding is
    /// less than half of it (past that, smaller steps only add rounding); the step with the
    /// smallest estimate is kept, and the estimate reported is [`HVP_ESTIMATE_SAFETY`] times
    /// its formula. The gradient at θ is kept for the next product at the same θ. Curvature that varies on scales below the step is not resolved, but it is
    /// reported through the estimate.
    fn hvp_flat(&mut self, shape: Shape, params: &[f64], v: &[f64], out: &mut [f64]) -> f64 {
        let vn = crate::numeric::norm(v);
        if vn == 0.0 {
            out.iter_mut().for_each(|o| *o = 0.0);
            return 0.0;
        }
        let scale = params.iter().fold(1.0f64, |a, x| a.max(x.abs()));
        if self
            .product_base
            .as_ref()
            .is_none_or(|(p, _, _)| p.as_slice() != params)
        {
            let (g0, e0) = self.grad_with_error(shape, params);
            self.product_base = Some((params.to_vec(), g0, e0));
        }
        let Some((_, g0, e0)) = self.product_base.clone() else {
            unreachable!("set above")
        };
        // The stencil stays clear of the kinks it can locate; one it cannot shows in the
        // estimate, and smaller steps move the stencil off it at the price of more rounding.
        // The best of the tried steps is kept.
        let clear = kink_distance(shape, params, v, vn, self.obj.activation()) / HVP_KINK_CLEARANCE;
        // A gradient known to rounding allows a far shorter step than the default, which also
        // keeps the stencil inside the closed regime of a sparse optimum (a step of 1e-3 moves
        // dead columns enough to put interference within reach of the biases: ~10⁴× slower).
        let rounding_step = HVP_ROUNDING_STEP * e0;
        let first = (ONEDIM_HVP_STEP * scale)
            .min(clear)
            .min(rounding_step)
            .max(ONEDIM_HVP_STEP * scale * HVP_SHORTEST_STEP);
        let mut best: Option<(Vec<f64>, f64)> = None;
        for level in 0..HVP_STEP_LEVELS {
            let delta = first * 0.1f64.powi(level);
            let (hv, err, rounding) =
                self.difference_product(shape, params, (&g0, e0), v, vn, delta);
            let size = hv.iter().fold(0.0f64, |a, x| a.max(x.abs()));
            // Once rounding is half the estimate, a smaller step only makes it worse.
            let good = err <= HVP_STEP_ACCEPT * size.max(vn) || 2.0 * rounding >= err;
            if best.as_ref().is_none_or(|(_, e)| err < *e) {
                best = Some((hv, err));
            }
            if good {
                break;
            }
        }
        let (hv, err) = best.expect("at least one step tried");
        out.copy_from_slice(&hv);
        HVP_ESTIMATE_SAFETY * err
    }

    fn gradient_error(&self) -> f64 {
        self.last_grad_err
    }

    /// The same route at `tol` when that is looser than its own tolerance.
    fn coarsened(&self, tol: f64) -> Option<Self> {
        (tol.is_finite() && tol > self.tol).then(|| OneDim {
            obj: self.obj.clone(),
            tol,
            last_grad_err: 0.0,
            product_base: None,
        })
    }
}

/// One output's weighted loss term and (optionally) its derivatives with respect to b_i and
/// the row M_i·, with error bounds.
#[derive(Debug, Clone)]
struct OutputTerm {
    value: f64,
    error: f64,
    db: f64,
    dc: Vec<f64>,
    /// Error bound of db and of each dc (absolute).
    err_db: f64,
    err_dc: Vec<f64>,
}

/// Leaky slope α of the activation (0 for ReLU, 1 for linear).
/// How far (in units of the unit direction `v/‖v‖`) θ can move before an output's Hessian
/// jumps: where its bias crosses 0 (the point mass of f at b, no feature active) or where
/// `b_i + M_ii` does (the end of the own feature's segment, where the density of f weighted
/// by x_i jumps). Linear outputs have no kinks. Linearised in the step, which is small.
fn kink_distance(shape: Shape, params: &[f64], v: &[f64], vn: f64, act: Activation) -> f64 {
    if matches!(act, Activation::Linear) {
        return f64::INFINITY;
    }
    let (Ok(at), Ok(dir)) = (Model::from_flat(shape, params), Model::from_flat(shape, v)) else {
        return f64::INFINITY;
    };
    let (w, dw) = (at.w(), dir.w());
    let mut nearest = f64::INFINITY;
    let mut reach = |value: f64, rate: f64| {
        let rate = rate.abs() / vn;
        if rate > 0.0 {
            nearest = nearest.min(value.abs() / rate);
        }
    };
    for i in 0..shape.n {
        let (b, db) = (at.b()[i], dir.b()[i]);
        reach(b, db);
        let (mii, dmii) = match (at.w_out(), dir.w_out()) {
            (Some(wo), Some(dwo)) => (0..shape.m).fold((0.0, 0.0), |(s, d), k| {
                (
                    s + wo[(i, k)] * w[(k, i)],
                    d + dwo[(i, k)] * w[(k, i)] + wo[(i, k)] * dw[(k, i)],
                )
            }),
            _ => (0..shape.m).fold((0.0, 0.0), |(s, d), k| {
                (s + w[(k, i)] * w[(k, i)], d + 2.0 * w[(k, i)] * dw[(k, i)])
            }),
        };
        reach(b + mii, db + dmii);
    }
    nearest
}

fn slope(act: Activation) -> f64 {
    match act {
        Activation::Relu => 0.0,
        Activation::LeakyRelu { alpha } => alpha,
        _ => 1.0,
    }
}

/// `weight · E[(x_i − act f)²]` for `f = b + c·x` (see the module documentation).
fn output_term(
    out: &Output,
    act: Activation,
    weight: f64,
    target: f64,
    gradient: bool,
) -> Result<OutputTerm> {
    if act == Activation::Linear {
        return Ok(linear_term(out, weight, gradient));
    }
    let alpha = slope(act);
    let (i, b, c, p) = (out.own, out.b, out.c, out.p);
    let n = c.len();
    let pi = p[i];
    let req = Request {
        coef_a: weight * (1.0 - alpha * alpha).abs(),
        coef_xb: 2.0 * weight * (1.0 - alpha).abs(),
        target,
        gradient,
        // The indicator moments of the gradient converge like T⁻² (the loss's like T⁻³ or
        // faster); letting them choose the nodes costs ~1000× at (20, 5). Their error is
        // still bounded and reported.
        grad_target: f64::INFINITY,
        steer_indicators: true,
        max_nodes: MAX_NODES,
    };
    let mom = onedim::moments(out, &req)?;
    // Exact polynomial moments: E f, Var f, E[x_i f], E[f²].
    let ef_lin = b + (0..n).map(|j| c[j] * p[j] / 2.0).sum::<f64>();
    let var = (0..n)
        .map(|j| c[j] * c[j] * (p[j] / 3.0 - p[j] * p[j] / 4.0))
        .sum::<f64>();
    let e_f2 = ef_lin * ef_lin + var;
    let e_xf = pi / 2.0 * (ef_lin - c[i] * pi / 2.0) + c[i] * pi / 3.0;
    let terms = [
        pi / 3.0,
        -2.0 * (1.0 - alpha) * mom.xb,
        (1.0 - alpha * alpha) * mom.a,
        -2.0 * alpha * e_xf,
        alpha * alpha * e_f2,
    ];
    let raw: f64 = terms.iter().sum();
    let scale: f64 = terms.iter().map(|t| t.abs()).sum();
    let eps = f64::EPSILON;
    let error = weight
        * (2.0 * (1.0 - alpha).abs() * mom.err_xb
            + (1.0 - alpha * alpha).abs() * mom.err_a
            + (n as f64 + 8.0) * eps * scale);
    // The expected squared error is ≥ 0; rounding may leave a tiny negative value.
    let value = weight * raw.max(0.0);
    let (mut db, mut dc, mut err_db, mut err_dc) = (0.0, Vec::new(), 0.0, Vec::new());
    if let Some(g) = &mom.grad {
        let xh_i = g.xh[i];
        db = weight
            * (-2.0 * (1.0 - alpha) * xh_i + 2.0 * (1.0 - alpha * alpha) * mom.ef - alpha * pi
                + 2.0 * alpha * alpha * ef_lin);
        err_db = weight
            * (2.0 * (1.0 - alpha).abs() * g.err_xh[i]
                + 2.0 * (1.0 - alpha * alpha).abs() * mom.err_ef
                + (n as f64 + 8.0) * eps * (xh_i + mom.ef + pi + ef_lin.abs()));
        dc = (0..n)
            .map(|j| {
                let e_xixj = if j == i { pi / 3.0 } else { pi * p[j] / 4.0 };
                let e_xjf = p[j] / 2.0 * (ef_lin - c[j] * p[j] / 2.0) + c[j] * p[j] / 3.0;
                weight
                    * (-2.0 * (1.0 - alpha) * g.xxh[j] + 2.0 * (1.0 - alpha * alpha) * g.xf[j]
                        - 2.0 * alpha * e_xixj
                        + 2.0 * alpha * alpha * e_xjf)
            })
            .collect();
        err_dc = (0..n)
            .map(|j| {
                weight
                    * (2.0 * (1.0 - alpha).abs() * g.err_xxh[j]
                        + 2.0 * (1.0 - alpha * alpha).abs() * g.err_xf[j]
                        + (n as f64 + 8.0) * eps * (g.xxh[j] + g.xf[j] + pi + ef_lin.abs()))
            })
            .collect();
        // A bias exactly on the kink with positive probability that f = b (no feature that
        // moves f is active): the formulas above imply act'(0) = α there; the closed form (and
        // this route) take the derivative of both pieces with strict inequalities, act'(0) = 0,
        // so remove the α part on that atom: −2α E[x_i ∂f/∂θ; f = 0].
        if alpha != 0.0 && b == 0.0 {
            let moves = |j: usize| p[j] > 0.0 && c[j] != 0.0;
            if !moves(i) {
                let q0: f64 = (0..n).filter(|&j| moves(j)).map(|j| 1.0 - p[j]).product();
                db += weight * alpha * q0 * pi;
                for (j, d) in dc.iter_mut().enumerate() {
                    if !moves(j) {
                        let e_xixj = if j == i { pi / 3.0 } else { pi * p[j] / 4.0 };
                        *d += 2.0 * weight * alpha * q0 * e_xixj;
                    }
                }
            }
        }
    }
    Ok(OutputTerm {
        value,
        error,
        db,
        dc,
        err_db,
        err_dc,
    })
}

/// Linear output: residual `r = x_i − f = −b + Σ_j d_j x_j`, `d_j = δ_ij − c_j`.
///
/// # Formula
/// `E r² = (E r)² + Var r`, `E r = −b + Σ d_j p_j/2`, `Var r = Σ d_j² (p_j/3 − p_j²/4)`;
/// `∂/∂b = −2 E r`, `∂/∂c_j = −(E r p_j + 2 d_j (p_j/3 − p_j²/4))`. Both terms are
/// non-negative; the only rounding worth bounding is in the sum for `E r`.
fn linear_term(out: &Output, weight: f64, gradient: bool) -> OutputTerm {
    let (i, b, c, p) = (out.own, out.b, out.c, out.p);
    let n = c.len();
    let d = |j: usize| if j == i { 1.0 - c[j] } else { -c[j] };
    let var_x = |j: usize| p[j] / 3.0 - p[j] * p[j] / 4.0;
    let mean = -b + (0..n).map(|j| d(j) * p[j] / 2.0).sum::<f64>();
    let var = (0..n).map(|j| d(j) * d(j) * var_x(j)).sum::<f64>();
    let eps = f64::EPSILON;
    let nf = n as f64 + 4.0;
    let mean_err = nf * eps * (b.abs() + (0..n).map(|j| d(j).abs() * p[j] / 2.0).sum::<f64>());
    let error = weight
        * (2.0 * mean.abs() * mean_err + mean_err * mean_err + nf * eps * (var + mean * mean));
    let (mut db, mut dc, mut err_db, mut err_dc) = (0.0, Vec::new(), 0.0, Vec::new());
    if gradient {
        db = -2.0 * weight * mean;
        err_db = 2.0 * weight * mean_err;
        dc = (0..n)
            .map(|j| -weight * (mean * p[j] + 2.0 * d(j) * var_x(j)))
            .collect();
        err_dc = (0..n)
            .map(|j| {
                weight
                    * (mean_err * p[j]
                        + nf * eps * (mean.abs() * p[j] + 2.0 * d(j).abs() * var_x(j)))
            })
            .collect();
    }
    OutputTerm {
        value: weight * (mean * mean + var),
        error,
        db,
        dc,
        err_db,
        err_dc,
    }
}

type GradientPart = Option<(Vec<f64>, f64)>;

fn evaluate(
    model: &Model,
    obj: &Objective,
    tol: f64,
    want_grad: bool,
) -> Result<(Value, GradientPart)> {
    evaluate_within(model, obj, tol, want_grad, 1.0)
}

/// [`evaluate`], failing only when the error bound exceeds `slack × tol × loss`.
fn evaluate_within(
    model: &Model,
    obj: &Objective,
    tol: f64,
    want_grad: bool,
    slack: f64,
) -> Result<(Value, GradientPart)> {
    check(model, obj, tol)?;
    let n = model.n();
    let act = obj.activation();
    let weights = obj.weights();
    let density = obj.data().density().to_vec();
    let gram = model.gram();
    // Row-major rows of M.
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| gram.row(i).iter().copied().collect())
        .collect();
    let bias = model.b();

    // Pass 1 scouts at a loose target (or at tol, if that is looser) relative to an a-priori
    // scale of each term; pass 2 shares tol × the estimate; later passes repair.
    let scale: Vec<f64> = (0..n)
        .map(|i| {
            let pi = density[i];
            weights[i] * (pi / 3.0).max(f64::MIN_POSITIVE)
        })
        .collect();
    let mut targets: Vec<f64> = scale.iter().map(|s| 0.5 * tol.max(SCOUT_TOL) * s).collect();
    let mut terms: Vec<Option<OutputTerm>> = vec![None; n];
    let mut redo: Vec<bool> = vec![true; n];
    // The scouting pass skips the gradient moments (half the work) unless it is already at tol;
    // a pass without them is then redone in full.
    let scout_is_final = tol >= SCOUT_TOL;
    for pass in 0..PASSES {
        let grad_now = want_grad && (pass > 0 || scout_is_final);
        let computed: Vec<(usize, Result<OutputTerm>)> = (0..n)
            .into_par_iter()
            .filter(|&i| redo[i])
            .map(|i| {
                if weights[i] == 0.0 {
                    return (
                        i,
                        Ok(OutputTerm {
                            value: 0.0,
                            error: 0.0,
                            db: 0.0,
                            dc: vec![0.0; if grad_now { n } else { 0 }],
                            err_db: 0.0,
                            err_dc: vec![0.0; if grad_now { n } else { 0 }],
                        }),
                    );
                }
                let out = Output {
                    b: bias[i],
                    c: &rows[i],
                    p: &density,
                    own: i,
                };
                (i, output_term(&out, act, weights[i], targets[i], grad_now))
            })
            .collect();
        for (i, r) in computed {
            terms[i] = Some(r?);
        }
        let total: f64 = terms.iter().map(|t| t.as_ref().unwrap().value).sum();
        let total_err: f64 = terms.iter().map(|t| t.as_ref().unwrap().error).sum();
        let converged = total_err <= tol * (total - total_err).max(0.0);
        if (converged && want_grad == grad_now) || pass + 1 == PASSES {
            break;
        }
        let lower = (total - total_err).max(0.0);
        let mut any = false;
        // Pass 2 shares 3/4 of tol × (a lower bound of L) in proportion to w_i^(1/4): an
        // output's error falls like w_i T⁻³ in its truncation height T, and this split
        // minimises Σ T_i. Later passes (rare) share half by each term's own size, half evenly.
        let root_sum: f64 = weights.iter().map(|w| w.abs().powf(0.25)).sum();
        for i in 0..n {
            let t = terms[i].as_ref().unwrap();
            let new_target = if pass == 0 && root_sum > 0.0 {
                0.75 * tol * lower * weights[i].abs().powf(0.25) / root_sum
            } else {
                let own = (t.value - t.error).max(0.0);
                0.25 * tol * (own + lower / n as f64)
            };
            redo[i] = (t.error > new_target && new_target > 0.0) || want_grad != grad_now;
            any |= redo[i];
            targets[i] = new_target;
        }
        if !any {
            break;
        }
    }
    let terms: Vec<OutputTerm> = terms.into_iter().map(|t| t.unwrap()).collect();
    let per_feature: Vec<f64> = terms.iter().map(|t| t.value).collect();
    let loss: f64 = per_feature.iter().sum();
    let error: f64 = terms.iter().map(|t| t.error).sum::<f64>() + n as f64 * f64::EPSILON * loss;
    if error > slack * tol * loss && error > 0.0 {
        return Err(Error::Numerical(format!(
            "the one-dimensional route reached a relative error bound of {:.2e}, not the \
             requested {tol:.1e}, within {MAX_NODES} nodes per output (coefficients of very \
             different sizes, e.g. some M_ij tiny but not zero, make its integrals slow to \
             converge, and rounding grows with n); loosen --tol or use the closed form when \
             n ≤ 14",
            error / loss.max(f64::MIN_POSITIVE)
        )));
    }
    let value = Value {
        loss,
        per_feature,
        error,
    };
    if !want_grad {
        return Ok((value, None));
    }
    // ∂L/∂M (row-major) and ∂L/∂b, then the chain rule through M = W_out W (or WᵀW).
    let mut gram_bar = vec![0.0; n * n];
    let mut gram_err = vec![0.0; n * n];
    let mut b_bar = vec![0.0; n];
    let mut b_err = vec![0.0; n];
    for (i, t) in terms.iter().enumerate() {
        gram_bar[i * n..(i + 1) * n].copy_from_slice(&t.dc);
        gram_err[i * n..(i + 1) * n].copy_from_slice(&t.err_dc);
        b_bar[i] = t.db;
        b_err[i] = t.err_db;
    }
    let params = model.to_vec();
    let mut grad = vec![0.0; params.len()];
    chain_rule(model.shape(), &params, &gram_bar, &b_bar, &mut grad);
    // Error propagation: the same linear map with |parameters| and the error bounds.
    let abs_params: Vec<f64> = params.iter().map(|v| v.abs()).collect();
    let mut grad_err = vec![0.0; params.len()];
    chain_rule(model.shape(), &abs_params, &gram_err, &b_err, &mut grad_err);
    let g_scale = grad.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let grad_error = grad_err.iter().fold(0.0f64, |a, v| a.max(*v))
        + (2 * n + 4) as f64 * f64::EPSILON * g_scale;
    Ok((value, Some((grad, grad_error))))
}
