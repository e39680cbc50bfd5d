//! Phase names from an optimum's geometry: what happens to the extra (last) feature.
//!
//! | name | the extra feature … |
//! |---|---|
//! | `not-represented` | is dropped (‖W_e‖ ≈ 0) |
//! | `dedicated` | has a direction orthogonal to every other represented feature (for n = 2, m = 1: W ≈ [0, w], feature 0 dropped) |
//! | `others-antipodal` | is dedicated while two other features share a direction antipodally (n = 3, m = 2's fourth configuration) |
//! | `antipodal` | shares a direction with another feature, opposite (cos ≈ −1) |
//! | `aligned` | shares a direction with another feature, same sign (cos ≈ +1): McGrath's "confused feature" minimum W₁ ≈ W₂ |
//! | `superposed` | overlaps other features at other angles (e.g. three features in a triangle) |
//!
//! Biases are not part of the name (they are in the CSV): an antipodal pair with negative
//! biases is still `antipodal`.

use crate::geometry::geometry;
use crate::model::Model;
use crate::tolerance;

pub const NOT_REPRESENTED: &str = "not-represented";
pub const DEDICATED: &str = "dedicated";
pub const OTHERS_ANTIPODAL: &str = "others-antipodal";
pub const ANTIPODAL: &str = "antipodal";
pub const ALIGNED: &str = "aligned";
pub const SUPERPOSED: &str = "superposed";

/// Every phase name, in legend order.
pub const ALL: [&str; 6] = [
    NOT_REPRESENTED,
    DEDICATED,
    ANTIPODAL,
    OTHERS_ANTIPODAL,
    ALIGNED,
    SUPERPOSED,
];

/// How close to the ideal geometry a model must be to get a name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// A feature is dropped when ‖W_i‖ is below this times max(1, the largest norm).
    pub dropped_norm: f64,
    /// Antipodal when cos < −1 + this; aligned when cos > 1 − this.
    pub collinear_cos: f64,
    /// Orthogonal when |cos| ≤ this.
    pub orthogonal_cos: f64,
}

/// For exact optima (polished to rounding level): the geometry module's tolerances.
pub const EXACT: Thresholds = Thresholds {
    dropped_norm: tolerance::DROPPED_NORM,
    collinear_cos: tolerance::ANTIPODAL_COS,
    orthogonal_cos: tolerance::PHASE_ORTHOGONAL_COS,
};

/// For trained models (AdamW leaves them a few percent from the ideal geometry).
pub const TRAINED: Thresholds = Thresholds {
    dropped_norm: tolerance::PHASE_TRAINED_DROPPED,
    collinear_cos: tolerance::PHASE_TRAINED_COS,
    orthogonal_cos: tolerance::PHASE_TRAINED_COS,
};

/// The phase of `model` with respect to feature `extra`.
pub fn classify(model: &Model, extra: usize, t: &Thresholds) -> &'static str {
    let g = geometry(model);
    let w = model.w();
    let n = model.n();
    let biggest = g.norms.iter().cloned().fold(1.0f64, f64::max);
    let live: Vec<bool> = g
        .norms
        .iter()
        .map(|&v| v >= t.dropped_norm * biggest)
        .collect();
    if !live[extra] {
        return NOT_REPRESENTED;
    }
    let cos = |i: usize, j: usize| w.column(i).dot(&w.column(j)) / (g.norms[i] * g.norms[j]);
    let others: Vec<usize> = (0..n).filter(|&j| j != extra && live[j]).collect();
    let c: Vec<f64> = others.iter().map(|&j| cos(extra, j)).collect();
    if c.iter().any(|&x| x < -1.0 + t.collinear_cos) {
        return ANTIPODAL;
    }
    if c.iter().all(|&x| x.abs() <= t.orthogonal_cos) {
        let pair = others.iter().enumerate().any(|(a, &i)| {
            others[a + 1..]
                .iter()
                .any(|&j| cos(i, j) < -1.0 + t.collinear_cos)
        });
        return if pair { OTHERS_ANTIPODAL } else { DEDICATED };
    }
    if c.iter().any(|&x| x > 1.0 - t.collinear_cos) {
        return ALIGNED;
    }
    SUPERPOSED
}

/// Position of a phase name in the legend order (unknown names after the known ones).
pub fn order(name: &str) -> usize {
    ALL.iter().position(|&p| p == name).unwrap_or(ALL.len())
}
