//! Hessian-free Newton polish: a trust-region Newton method whose steps come from
//! Steihaug–Toint truncated conjugate gradients, so the Hessian is used only through
//! Hessian-vector products (at n = 400, m = 30 the full Hessian would have 12 400² entries).
//!
//! # Formula
//!
//! At x with gradient g and Hessian H, the step approximately minimises the model
//! m(p) = gᵀp + ½ pᵀHp over ‖p‖ ≤ Δ by CG from p = 0, stopping
//! - at negative or zero curvature dᵀHd ≤ ε‖d‖²‖H‖ (the loss's symmetry directions make H
//!   singular): follow d to the boundary, p = z + τd with ‖p‖ = Δ, τ ≥ 0;
//! - when an iterate would leave the region: the same boundary point along d;
//! - at the forcing tolerance ‖r‖ ≤ min(0.5, √‖g‖)‖g‖ (r = Hz + g), which makes the outer
//!   iteration superlinear (quadratic in the limit).
//!
//! The model value is tracked along CG, m(z + τd) = m(z) + τ rᵀd + ½τ² dᵀHd, so the predicted
//! reduction costs no extra product. The step is accepted when ρ = (L(x) − L(x + p)) / (−m(p))
//! exceeds 10⁻⁴; Δ shrinks to ‖p‖/4 when ρ < ¼ and doubles when ρ > ¾ on the boundary. When
//! the loss change is at rounding level the ratio is noise: the step is accepted if it lowers
//! the gradient norm, so the polish reaches the gradient's own accuracy limit.
//!
//! Caveat: a point with g = 0 exactly (a saddle reached exactly) is a fixed point; whether it
//! is a minimum is for [`super::lanczos`] to say.

use crate::error::{Error, Result};
use crate::tolerance;

/// Step acceptance: the least ratio of actual to predicted reduction (standard value).
const ETA: f64 = 1e-4;
/// Below this ratio the radius shrinks to a quarter of the step; above [`EXPAND`] (on the
/// boundary) it doubles (the textbook choices, Nocedal & Wright Alg. 4.1).
const SHRINK: f64 = 0.25;
const EXPAND: f64 = 0.75;

/// A Hessian-vector product: `hvp(x, v, out)` sets out = ∇²L(x) v.
pub type Hvp<'a> = dyn FnMut(&[f64], &[f64], &mut [f64]) + 'a;

/// Options of [`run`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewtonCgOptions {
    grad_tol: f64,
    max_iters: usize,
    max_cg: usize,
    initial_radius: f64,
}

impl Default for NewtonCgOptions {
    /// ‖∇L‖ ≤ [`tolerance::POLISH_GRAD`], at most 200 outer iterations and 500 CG steps
    /// (Hessian-vector products) per iteration, initial trust radius 1.
    fn default() -> Self {
        NewtonCgOptions {
            grad_tol: tolerance::POLISH_GRAD,
            max_iters: 200,
            max_cg: 500,
            initial_radius: 1.0,
        }
    }
}

impl NewtonCgOptions {
    /// The defaults ([`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Gradient-norm target (finite, ≥ 0; 0 runs until no further progress).
    pub fn with_grad_tol(mut self, grad_tol: f64) -> Result<Self> {
        if !(grad_tol.is_finite() && grad_tol >= 0.0) {
            return Err(Error::invalid(format!(
                "Newton-CG: the gradient tolerance must be finite and non-negative, not {grad_tol}"
            )));
        }
        self.grad_tol = grad_tol;
        Ok(self)
    }

    /// Outer (trust-region) iteration limit (≥ 1).
    pub fn with_max_iters(mut self, max_iters: usize) -> Result<Self> {
        if max_iters == 0 {
            return Err(Error::invalid(
                "Newton-CG: the iteration limit must be at least 1",
            ));
        }
        self.max_iters = max_iters;
        Ok(self)
    }

    /// CG steps (Hessian-vector products) per outer iteration (≥ 1).
    pub fn with_max_cg(mut self, max_cg: usize) -> Result<Self> {
        if max_cg == 0 {
            return Err(Error::invalid(
                "Newton-CG: the CG step limit must be at least 1",
            ));
        }
        self.max_cg = max_cg;
        Ok(self)
    }

    /// Initial trust radius (finite, > 0).
    pub fn with_initial_radius(mut self, radius: f64) -> Result<Self> {
        if !(radius.is_finite() && radius > 0.0) {
            return Err(Error::invalid(format!(
                "Newton-CG: the initial trust radius must be finite and positive, not {radius}"
            )));
        }
        self.initial_radius = radius;
        Ok(self)
    }

    /// Gradient-norm target.
    pub fn grad_tol(&self) -> f64 {
        self.grad_tol
    }

    /// Outer iteration limit.
    pub fn max_iters(&self) -> usize {
        self.max_iters
    }

    /// CG steps per outer iteration.
    pub fn max_cg(&self) -> usize {
        self.max_cg
    }

    /// Initial trust radius.
    pub fn initial_radius(&self) -> f64 {
        self.initial_radius
    }
}

/// Why [`run`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// ‖∇L‖ reached the target.
    GradTol,
    /// The outer iteration limit was reached.
    MaxIters,
    /// The trust radius shrank to rounding level of x: no step improves the point.
    NoProgress,
    /// The loss or gradient at the start is not finite (the start is returned unchanged).
    NonFinite,
}

/// Where [`run`] ended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewtonCgReport {
    /// The best point (every accepted step lowers the loss, or keeps it within rounding and
    /// lowers the gradient).
    pub x: Vec<f64>,
    /// The loss there (+∞ only with [`Stop::NonFinite`]; never NaN).
    pub loss: f64,
    /// ‖∇L‖ there (+∞ only with [`Stop::NonFinite`]).
    pub grad_norm: f64,
    /// Outer iterations (trial steps, accepted or not).
    pub iterations: usize,
    /// Hessian-vector products.
    pub hvps: usize,
    /// Why it stopped.
    pub stop: Stop,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// τ ≥ 0 with ‖z + τ d‖ = Δ (z inside the region, d ≠ 0), in the form that avoids
/// cancellation.
fn to_boundary(z: &[f64], d: &[f64], radius: f64) -> f64 {
    let dd = dot(d, d);
    let zd = dot(z, d);
    let zz = dot(z, z);
    let c = (zz - radius * radius).min(0.0);
    let disc = (zd * zd - dd * c).max(0.0).sqrt();
    if zd >= 0.0 {
        // τ = −c / (zd + disc): both terms non-negative.
        if zd + disc > 0.0 {
            -c / (zd + disc)
        } else {
            0.0
        }
    } else {
        (disc - zd) / dd
    }
}

/// The result of one Steihaug–Toint CG solve.
struct CgStep {
    p: Vec<f64>,
    /// m(p) = gᵀp + ½ pᵀHp (negative for a useful step).
    model: f64,
    on_boundary: bool,
}

/// Steihaug–Toint CG on m(p) = gᵀp + ½ pᵀHp within ‖p‖ ≤ `radius`. `hscale` is the running
/// estimate of ‖H‖ (max ‖Hd‖/‖d‖ seen), updated here.
#[allow(clippy::too_many_arguments)]
fn steihaug(
    x: &[f64],
    g: &[f64],
    gnorm: f64,
    radius: f64,
    max_cg: usize,
    hvp: &mut Hvp<'_>,
    hvps: &mut usize,
    hscale: &mut f64,
) -> CgStep {
    let n = g.len();
    let mut z = vec![0.0; n];
    let mut r = g.to_vec();
    let mut d: Vec<f64> = g.iter().map(|v| -v).collect();
    let mut hd = vec![0.0; n];
    let mut model = 0.0;
    let forcing = 0.5f64.min(gnorm.sqrt()) * gnorm;
    let mut rr = dot(&r, &r);
    for _ in 0..max_cg {
        hvp(x, &d, &mut hd);
        *hvps += 1;
        let dd = dot(&d, &d);
        let dhd = dot(&d, &hd);
        let finite = dhd.is_finite() && hd.iter().all(|v| v.is_finite());
        if finite {
            *hscale = hscale.max(norm(&hd) / dd.sqrt());
        }
        let rd = dot(&r, &d);
        // Negative, zero (a symmetry direction) or unusable curvature: go to the boundary
        // along d, which descends the model (rᵀd < 0 for CG directions).
        if !finite || dhd <= tolerance::NEWTON_CG_ZERO_CURVATURE * dd * *hscale {
            let tau = to_boundary(&z, &d, radius);
            let curv = if finite { dhd } else { 0.0 };
            model += tau * rd + 0.5 * tau * tau * curv;
            z.iter_mut().zip(&d).for_each(|(a, b)| *a += tau * b);
            return CgStep {
                p: z,
                model,
                on_boundary: true,
            };
        }
        let alpha = rr / dhd;
        let next: Vec<f64> = z.iter().zip(&d).map(|(a, b)| a + alpha * b).collect();
        if norm(&next) >= radius {
            let tau = to_boundary(&z, &d, radius);
            model += tau * rd + 0.5 * tau * tau * dhd;
            z.iter_mut().zip(&d).for_each(|(a, b)| *a += tau * b);
            return CgStep {
                p: z,
                model,
                on_boundary: true,
            };
        }
        model += alpha * rd + 0.5 * alpha * alpha * dhd;
        z = next;
        r.iter_mut().zip(&hd).for_each(|(a, b)| *a += alpha * b);
        let rr_next = dot(&r, &r);
        if rr_next.sqrt() <= forcing {
            break;
        }
        let beta = rr_next / rr;
        rr = rr_next;
        d.iter_mut().zip(&r).for_each(|(a, b)| *a = -b + beta * *a);
    }
    CgStep {
        p: z,
        model,
        on_boundary: false,
    }
}

/// Minimises from `x0` with `loss_grad(x, g)` (returns L(x), sets g = ∇L(x)) and
/// `hvp(x, v, out)` (sets out = ∇²L(x) v). Non-finite values at a trial point reject the
/// step; at `x0` they end the run with [`Stop::NonFinite`] and `x = x0`. See the module
/// documentation for the method.
pub fn run(
    x0: Vec<f64>,
    loss_grad: &mut dyn FnMut(&[f64], &mut [f64]) -> f64,
    hvp: &mut Hvp<'_>,
    opts: &NewtonCgOptions,
) -> NewtonCgReport {
    let n = x0.len();
    let mut x = x0;
    let mut g = vec![0.0; n];
    let mut f = loss_grad(&x, &mut g);
    let mut report = NewtonCgReport {
        x: Vec::new(),
        loss: f64::INFINITY,
        grad_norm: f64::INFINITY,
        iterations: 0,
        hvps: 0,
        stop: Stop::NonFinite,
    };
    if !f.is_finite() || g.iter().any(|v| !v.is_finite()) {
        report.x = x;
        return report;
    }
    let mut gnorm = norm(&g);
    let mut radius = opts.initial_radius;
    let mut hscale = 0.0f64;
    let mut trial = vec![0.0; n];
    let mut gt = vec![0.0; n];
    let stop = loop {
        if gnorm <= opts.grad_tol {
            break Stop::GradTol;
        }
        if report.iterations >= opts.max_iters {
            break Stop::MaxIters;
        }
        if radius <= tolerance::NEWTON_CG_MIN_RADIUS_REL * norm(&x).max(1.0) {
            break Stop::NoProgress;
        }
        report.iterations += 1;
        let step = steihaug(
            &x,
            &g,
            gnorm,
            radius,
            opts.max_cg,
            hvp,
            &mut report.hvps,
            &mut hscale,
        );
        let plen = norm(&step.p);
        trial
            .iter_mut()
            .zip(x.iter().zip(&step.p))
            .for_each(|(t, (a, b))| *t = a + b);
        let ft = loss_grad(&trial, &mut gt);
        if !ft.is_finite() || gt.iter().any(|v| !v.is_finite()) || plen == 0.0 {
            radius = SHRINK * plen.min(radius);
            continue;
        }
        let gtnorm = norm(&gt);
        let actual = f - ft;
        let predicted = -step.model;
        let rounding = tolerance::NEWTON_CG_ROUNDING_REL * f.abs().max(ft.abs());
        let accept = if actual.abs() <= rounding || predicted.abs() <= rounding {
            // The loss difference is rounding noise: judge by the gradient instead.
            let better = gtnorm < gnorm && actual >= -rounding;
            if !better {
                radius = SHRINK * plen;
            }
            better
        } else {
            let rho = actual / predicted;
            if predicted <= 0.0 || rho < SHRINK {
                radius = SHRINK * plen;
            } else if rho > EXPAND && step.on_boundary {
                radius *= 2.0;
            }
            predicted > 0.0 && rho > ETA
        };
        if accept {
            std::mem::swap(&mut x, &mut trial);
            std::mem::swap(&mut g, &mut gt);
            f = ft;
            gnorm = gtnorm;
        }
    };
    report.x = x;
    report.loss = f;
    report.grad_norm = gnorm;
    report.stop = stop;
    report
}
