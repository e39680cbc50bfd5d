//! The integrals behind the loss, each computed in exactly one place:
//!
//! * [`cutcube`]: the closed form (f64 or dual numbers), non-negative recurrence;
//! * [`rational`]: the exact rational value by inclusion–exclusion (ground truth);
//! * [`quadrature`]: nested adaptive quadrature split at the kinks (any activation);
//! * [`montecarlo`]: seeded sampling with a standard error.

pub mod cutcube;
pub mod montecarlo;
pub mod onedim;
pub mod quadrature;
pub mod rational;

/// A loss computed by an approximate route, with its error measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The estimated loss.
    pub loss: f64,
    /// Per-feature terms (weighted; they sum to `loss`).
    pub per_feature: Vec<f64>,
    /// Quadrature: the estimated absolute error. Monte Carlo: the standard error.
    pub error: f64,
    /// The gradient in [`crate::model::Model::to_vec`]'s layout, when asked for.
    pub gradient: Option<Vec<f64>>,
}
