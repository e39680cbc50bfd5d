//! Nested adaptive quadrature of the loss, for any activation (the only deterministic route for
//! GELU and softplus, and an independent check of the closed form for the others).
//!
//! Given the active set A, each output's expected squared error is an integral over the cube
//! `[0,1]^A`; it is computed as nested 1-D double-exponential integrals
//! (`quadrature::double_exponential`). That routine silently maps non-finite values to 0 and
//! silently stops after ~350 evaluations on a kinked integrand (`shared/reference/crates.md`),
//! so every level's interval is split wherever its integrand — itself an inner integral — is
//! not smooth: where the activation's kink at 0 meets a face of the inner cube.

use std::cell::Cell;

use crate::error::{Error, Result};
use crate::integrals::chain_rule::chain_rule;
use crate::model::Model;
use crate::objective::Objective;
use crate::route::{Accuracy, Cost, Evaluation, Gradient, Route, RouteGradient};
use crate::shape::Shape;
use crate::tolerance::{
    QUADRATURE_FAILURE_FACTOR, QUADRATURE_INNER_SHARE, QUADRATURE_ROUNDING_FLOOR,
};

/// Largest active set the nested quadrature accepts (the cost grows like (evaluations)^|A|).
pub const MAX_DIMENSION: usize = 4;

/// Integrand evaluations per dimension of one nested integral, roughly (for cost estimates).
const EVALUATIONS_PER_DIMENSION: f64 = 60.0;

/// Seconds per integrand evaluation (measured: n = 3 ReLU, ~15 ms).
const SECONDS_PER_EVALUATION: f64 = 2e-8;

/// The quadrature route at one absolute error target.
#[derive(Debug, Clone)]
pub struct Quadrature {
    obj: Objective,
    tol: f64,
}

impl Quadrature {
    /// The route; fails for a non-positive tolerance or active sets beyond [`MAX_DIMENSION`].
    pub fn new(obj: Objective, tol: f64) -> Result<Self> {
        if !(tol > 0.0 && tol.is_finite()) {
            return Err(Error::invalid(format!(
                "the quadrature tolerance must be positive and finite, got {tol}"
            )));
        }
        let route = Quadrature { obj, tol };
        route.cost(Shape::new(route.obj.n(), 1, true))?;
        Ok(route)
    }
}

impl Route for Quadrature {
    fn name(&self) -> &'static str {
        "quadrature"
    }

    fn objective(&self) -> &Objective {
        &self.obj
    }

    fn cost(&self, shape: Shape) -> Result<Cost> {
        let family = self.obj.data().active_sets();
        let k = family.max_set_size();
        if k > MAX_DIMENSION {
            return Err(Error::TooLarge(format!(
                "quadrature integrates over the active features, and {k} features can be active \
                 together here; nested quadrature handles at most {MAX_DIMENSION} (the cost grows \
                 like ~100^k); use the closed form (piecewise-linear activations) or Monte Carlo"
            )));
        }
        let evaluations: f64 = family
            .expand_f64()
            .iter()
            .map(|(_, set, _)| EVALUATIONS_PER_DIMENSION.powi(set.len() as i32))
            .sum();
        let cost = Cost {
            seconds: shape.n as f64 * evaluations * SECONDS_PER_EVALUATION,
            bytes: (shape.n * shape.n * 8 * 4) as f64,
        };
        crate::limits::check_memory(cost.bytes, "quadrature")?;
        Ok(cost)
    }

    fn as_gradient(&mut self) -> Option<&mut dyn RouteGradient> {
        Some(self)
    }

    fn evaluate(&mut self, model: &Model) -> Result<Evaluation> {
        quadrature_loss(model, &self.obj, self.tol, false)
    }
}

impl RouteGradient for Quadrature {
    /// The gradient by quadrature; a point where the integration fails gives NaN (the caller
    /// checks finiteness before reporting).
    fn loss_grad_flat(&mut self, shape: Shape, params: &[f64], grad: &mut [f64]) -> f64 {
        let model = match Model::from_flat(shape, params) {
            Ok(m) => m,
            Err(_) => return f64::NAN,
        };
        match quadrature_loss(&model, &self.obj, self.tol, true) {
            Ok(e) => {
                if let Some(g) = e.gradient {
                    grad.copy_from_slice(&g.to_vec());
                }
                e.loss
            }
            Err(_) => {
                grad.iter_mut().for_each(|g| *g = f64::NAN);
                f64::NAN
            }
        }
    }

    fn evaluate_with_gradient(&mut self, model: &Model) -> Result<Evaluation> {
        quadrature_loss(model, &self.obj, self.tol, true)
    }
}

/// The loss (and optionally its gradient) by nested adaptive quadrature.
///
/// `tol` is the absolute error target of the loss; `error` in the result is the accumulated
/// error estimate (each integral's estimate, inner estimates propagated through the outer
/// integrals, weighted like the loss). Fails with [`Error::TooLarge`] when an active set has
/// more than [`MAX_DIMENSION`] features, and with [`Error::Numerical`] when the estimate ends
/// more than 100× above `tol` (or either is not finite). The gradient is in
/// [`Model::to_vec`]'s layout.
pub fn quadrature_loss(
    model: &Model,
    obj: &Objective,
    tol: f64,
    with_gradient: bool,
) -> Result<Evaluation> {
    obj.check_model(model)?;
    Quadrature::new(obj.clone(), tol)?;
    let n = model.n();
    let act = obj.activation();
    let family = obj.data().active_sets();
    let sets: Vec<(Vec<usize>, f64)> = family
        .expand_f64()
        .into_iter()
        .map(|(_, set, p)| (set, p))
        .collect();
    let weights = obj.weights();
    let total_weight: f64 = weights.iter().sum();
    let gram = model.gram();
    let b = model.b();
    // Each integral gets the whole budget divided by the total weight: Σ_A P(A) = 1.
    let tol_int = if total_weight > 0.0 {
        tol / total_weight
    } else {
        tol
    };

    let mut per_feature = vec![0.0; n];
    let mut error = 0.0;
    let mut g_m = vec![0.0; n * n]; // ∂L/∂M, row-major
    let mut g_b = vec![0.0; n];
    let mut grad_error = 0.0f64;
    for i in 0..n {
        let wi = weights[i];
        if wi == 0.0 {
            continue;
        }
        for (set, prob) in &sets {
            // Coordinates that change the integrand: non-zero coefficients, and x_i itself.
            let vars: Vec<usize> = set
                .iter()
                .copied()
                .filter(|&j| gram[(i, j)] != 0.0 || j == i)
                .collect();
            let c: Vec<f64> = vars.iter().map(|&j| gram[(i, j)]).collect();
            let own = vars.iter().position(|&j| j == i);
            let x_own = |x: &[f64; MAX_DIMENSION]| own.map_or(0.0, |o| x[o]);
            let pw = prob * wi;

            let (v, e) = nested(
                &|x, f| {
                    let r = x_own(x) - act.apply(f);
                    r * r
                },
                &c,
                b[i],
                tol_int,
            );
            per_feature[i] += pw * v;
            error += pw * e;

            if with_gradient {
                // ∂/∂b_i of (x_i − act(f))² is −2 (x_i − act(f)) act'(f); ∂/∂M_ij adds a factor x_j.
                let d_out = |x: &[f64; MAX_DIMENSION], f: f64| {
                    -2.0 * (x_own(x) - act.apply(f)) * act.derivative(f)
                };
                let (vb, eb) = nested(&d_out, &c, b[i], tol_int);
                g_b[i] += pw * vb;
                grad_error = grad_error.max(pw * eb);
                for &j in set {
                    match vars.iter().position(|&v| v == j) {
                        Some(t) => {
                            let (vj, ej) = nested(&|x, f| d_out(x, f) * x[t], &c, b[i], tol_int);
                            g_m[i * n + j] += pw * vj;
                            grad_error = grad_error.max(pw * ej);
                        }
                        // x_j does not enter the integrand, so its factor averages to E x_j = ½.
                        None => g_m[i * n + j] += 0.5 * pw * vb,
                    }
                }
            }
        }
    }
    let loss: f64 = per_feature.iter().sum();
    let limit = QUADRATURE_FAILURE_FACTOR * tol;
    if !loss.is_finite() || !error.is_finite() || error > limit {
        return Err(Error::Numerical(format!(
            "nested quadrature ({act}) reached an estimated error of {error:.2e} on a loss of \
             {loss:.6e}, above 100× the requested {tol:.1e}"
        )));
    }
    if with_gradient && (!grad_error.is_finite() || grad_error > limit) {
        return Err(Error::Numerical(format!(
            "nested quadrature ({act}) of the gradient reached an estimated error of \
             {grad_error:.2e}, above 100× the requested {tol:.1e}"
        )));
    }
    let gradient = with_gradient.then(|| {
        let mut g = vec![0.0; model.num_params()];
        chain_rule(model.shape(), &model.to_vec(), &g_m, &g_b, &mut g);
        Gradient::from_vec_like(model, &g)
    });
    let mut e = Evaluation::from_terms(per_feature, Accuracy::Estimate(error));
    e.loss = loss;
    e.gradient = gradient;
    Ok(e)
}

/// `∫_{[0,1]^d} g(x, b + c·x) dx` by nested double-exponential quadrature, with its
/// accumulated error estimate; `d = c.len() ≤ MAX_DIMENSION`.
///
/// Tolerances below the integrand's rounding level cannot be met and only make every inner
/// call run to the routine's evaluation cap, so the target is floored at
/// [`QUADRATURE_ROUNDING_FLOOR`] × (the largest |g| at the cube's vertices and centre).
fn nested<G>(g: &G, c: &[f64], b: f64, tol: f64) -> (f64, f64)
where
    G: Fn(&[f64; MAX_DIMENSION], f64) -> f64,
{
    let d = c.len();
    let mut scale = 0.0f64;
    let mut x = [0.5; MAX_DIMENSION];
    scale = scale.max(g(&x, b + 0.5 * c.iter().sum::<f64>()).abs());
    for e in 0..(1usize << d) {
        let mut f = b;
        for t in 0..d {
            x[t] = (e >> t & 1) as f64;
            f += c[t] * x[t];
        }
        scale = scale.max(g(&x, f).abs());
    }
    let floor = QUADRATURE_ROUNDING_FLOOR * scale;
    level(g, c, 0, b, [0.0; MAX_DIMENSION], tol.max(floor), floor)
}

/// One level of [`nested`]: coordinates `< l` are fixed in `x` and `beta = b + Σ_{t<l} c_t x_t`.
///
/// The integrand of this level, `φ(x_l) = ∫ g over the inner coordinates`, is smooth except
/// where the kink `f = 0` passes through a vertex of the inner cube, i.e. at
/// `x_l = −(beta + Σ_{inner t} c_t e_t)/c_l` for `e ∈ {0,1}^{inner}`; the interval is split
/// there. The returned error is Σ over pieces of (the piece's estimate + the largest inner
/// estimate seen × the piece's length), which bounds how far inner errors can move the result.
#[allow(clippy::too_many_arguments)]
fn level<G>(
    g: &G,
    c: &[f64],
    l: usize,
    beta: f64,
    x: [f64; MAX_DIMENSION],
    tol: f64,
    floor: f64,
) -> (f64, f64)
where
    G: Fn(&[f64; MAX_DIMENSION], f64) -> f64,
{
    let d = c.len();
    if l == d {
        return (g(&x, beta), 0.0);
    }
    let inner = &c[l + 1..];
    let mut cuts = vec![0.0, 1.0];
    if c[l] != 0.0 {
        for e in 0..(1usize << inner.len()) {
            let s: f64 = inner
                .iter()
                .enumerate()
                .filter(|(t, _)| e >> t & 1 == 1)
                .map(|(_, v)| v)
                .sum();
            let t = -(beta + s) / c[l];
            if t > 0.0 && t < 1.0 {
                cuts.push(t);
            }
        }
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let pieces = cuts.len() - 1;
    let tol_piece = (tol / pieces as f64).max(floor);
    let tol_inner = (tol_piece * QUADRATURE_INNER_SHARE).max(floor);
    let (mut value, mut err) = (0.0, 0.0);
    for w in cuts.windows(2) {
        let (a, bnd) = (w[0], w[1]);
        if bnd <= a {
            continue;
        }
        let inner_err = Cell::new(0.0f64);
        let out = integrate_1d(
            |t| {
                let mut xx = x;
                xx[l] = t;
                let (v, e) = level(g, c, l + 1, beta + c[l] * t, xx, tol_inner, floor);
                inner_err.set(inner_err.get().max(e));
                v
            },
            a,
            bnd,
            tol_piece,
        );
        value += out.integral;
        err += out.error_estimate + inner_err.get() * (bnd - a);
    }
    (value, err)
}

/// One 1-D integral over a piece on which the integrand is smooth: Clenshaw–Curtis first
/// (exact after 9 evaluations on the polynomial pieces of ReLU, leaky ReLU and linear models,
/// and ~33–65 on smooth ones, against ~70–90 for double-exponential), then double-exponential
/// if that has not met `tol` (CC stops at 257 points); the result with the smaller error
/// estimate is kept. Both routines are from the `quadrature` crate and share its pitfalls,
/// which the splitting in [`level`] avoids.
fn integrate_1d<F: Fn(f64) -> f64>(f: F, a: f64, b: f64, tol: f64) -> quadrature::Output {
    let cc = quadrature::clenshaw_curtis::integrate(&f, a, b, tol);
    if cc.error_estimate <= tol {
        return cc;
    }
    let de = quadrature::double_exponential::integrate(&f, a, b, tol);
    if de.error_estimate < cc.error_estimate {
        de
    } else {
        cc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinked_one_dimensional_integral() {
        // ∫_0^1 (x − 1/3)₊² dx = (2/3)³/3.
        let (v, e) = nested(&|_, f| f.max(0.0).powi(2), &[1.0], -1.0 / 3.0, 1e-12);
        assert!((v - 8.0 / 81.0).abs() < 1e-14, "{v}");
        assert!(e < 1e-10);
    }

    #[test]
    fn nested_two_dimensional_integral() {
        // ∫∫ (x + y − 1)₊ = 1/6.
        let (v, _) = nested(&|_, f| f.max(0.0), &[1.0, 1.0], -1.0, 1e-12);
        assert!((v - 1.0 / 6.0).abs() < 1e-13, "{v}");
    }
}
