//! Every tolerance the crate and its tests use, named once.

/// Active-set or one-hot probabilities must sum to 1 within this.
pub const PROBABILITY_SUM: f64 = 1e-9;

/// Closed-form loss vs exact rational: relative part of the bar `|L̂ − L| ≤ r·|L| + a·Σ I_i`.
pub const LOSS_REL: f64 = 1e-12;

/// Closed-form loss vs exact rational: absolute part per unit of total importance.
pub const LOSS_ABS_PER_IMPORTANCE: f64 = 1e-14;

/// Closed-form gradient vs central differences of the exact loss, relative to
/// `max(‖∇L‖∞, 1)`.
pub const GRADIENT_REL: f64 = 1e-9;

/// Default absolute error target of the quadrature route.
pub const QUADRATURE_DEFAULT: f64 = 1e-10;

/// Monte Carlo agrees with the exact loss within this many standard errors.
pub const MC_SIGMAS: f64 = 4.0;

/// The bar of the closed form: true when `approx` is within the loss tolerance of `exact`.
pub fn loss_close(approx: f64, exact: f64, total_importance: f64) -> bool {
    (approx - exact).abs() <= LOSS_REL * exact.abs() + LOSS_ABS_PER_IMPORTANCE * total_importance
}

/// Two critical points are the same (modulo symmetry) when their `M = W_out W` and `b` agree
/// within this (relative to the largest entry of M, at least 1)...
pub const SAME_POINT: f64 = 1e-6;

/// ...and their losses within this, relative to max(1, loss).
pub const SAME_LOSS_REL: f64 = 1e-9;

/// A feature whose embedding norm is below this counts as dropped (not represented).
pub const DROPPED_NORM: f64 = 1e-6;

/// Two features are antipodal when the cosine of their embeddings is below −1 + this.
pub const ANTIPODAL_COS: f64 = 1e-6;

/// Verdicts: a trained model whose loss exact local minimisation lowers by more than this
/// (relative) is "not converged".
pub const NOT_CONVERGED_REL: f64 = 1e-3;

/// Verdicts: a local minimum whose loss is within this (relative) of the best known is the
/// optimum.
pub const SAME_OPTIMUM_REL: f64 = 1e-9;

/// Verdicts: relative gaps are measured against max(loss, this).
pub const VERDICT_LOSS_FLOOR: f64 = 1e-12;

/// A gradient norm this small counts as a critical point.
pub const CRITICAL_GRAD: f64 = 1e-8;

// ---- one-dimensional route (src/onedim_route.rs, src/integrals/onedim.rs) ----

/// Default relative error target of the one-dimensional route.
pub const ONEDIM_DEFAULT_TOL: f64 = 1e-10;

/// Smallest relative tolerance the one-dimensional route accepts: its rounding alone is
/// about n·ε relative, with ε ≈ 2.2e-16.
pub const ONEDIM_MIN_TOL: f64 = 1e-13;
