//! What kind of critical point a parameter vector is, from the exact Hessian with the
//! symmetry directions separated.
//!
//! The loss depends on W only through `M = W_out W` (tied: `Wᵀ W`), so it is constant along
//! the orbit `W → Q W` (tied, Q orthogonal: m(m−1)/2 directions) or `W → G W`,
//! `W_out → W_out G⁻¹` (untied, G invertible: m² directions). Those directions are exact zero
//! modes of the Hessian; they say nothing about the point, so the spectrum is reported on
//! their orthogonal complement.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::Serialize;

/// The kind of a critical point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Every curvature off the symmetry orbit is positive: a strict local minimum modulo symmetry.
    StrictMinimum,
    /// Some curvature is negative.
    Saddle,
    /// No negative curvature but some flat direction besides the symmetries.
    Degenerate,
    /// The lowest curvature is within the error of the Hessian-vector products it was found
    /// from (one-dimensional route: a kink of the loss within their difference step), so its
    /// sign is not claimed.
    Undetermined,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::StrictMinimum => "strict local minimum (modulo symmetry)",
            Kind::Saddle => "saddle",
            Kind::Degenerate => "degenerate (flat directions beyond symmetry)",
            Kind::Undetermined => {
                "undetermined (the lowest curvature is within the products' error)"
            }
        })
    }
}

/// The Hessian spectrum at a point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spectrum {
    /// Eigenvalues on the complement of the symmetry directions, ascending.
    pub eigenvalues: Vec<f64>,
    /// Number of independent symmetry directions (exact zero modes) that were separated.
    pub symmetry_modes: usize,
    /// Largest |curvature| along a symmetry direction (≈ 0; a check of the separation).
    pub symmetry_curvature: f64,
    /// Eigenvalues with |λ| at most this count as zero.
    pub zero_tolerance: f64,
    /// The classification.
    pub kind: Kind,
}

use crate::shape::Shape;
use crate::tolerance;
pub use crate::tolerance::ZERO_EIGENVALUE_REL;

/// Tangent vectors of the symmetry orbit at `full` (a [`crate::model::Model::to_vec`] vector
/// of `shape`).
pub fn symmetry_tangents(full: &[f64], shape: Shape) -> Vec<Vec<f64>> {
    let (m, n) = (shape.m, shape.n);
    let w = |h: usize, j: usize| full[shape.w_index(h, j)];
    let mut out = Vec::new();
    if shape.tied {
        // Generator E_ab − E_ba: row a of δW is W_b, row b is −W_a.
        for a in 0..m {
            for b in (a + 1)..m {
                let mut v = vec![0.0; full.len()];
                for j in 0..n {
                    v[a + m * j] = w(b, j);
                    v[b + m * j] = -w(a, j);
                }
                out.push(v);
            }
        }
    } else {
        // δW = E_ab W (row a of δW is W_b), δW_out = −W_out E_ab (column b is −column a).
        let off = shape.w_out().map_or(0, |r| r.start);
        for a in 0..m {
            for b in 0..m {
                let mut v = vec![0.0; full.len()];
                for j in 0..n {
                    v[a + m * j] = w(b, j);
                }
                for i in 0..n {
                    v[off + i + n * b] -= full[off + i + n * a];
                }
                out.push(v);
            }
        }
    }
    out
}

/// Orthonormal basis of the span of `vectors` (modified Gram–Schmidt, rank-revealing).
fn orthonormal_basis(vectors: &[DVector<f64>], tol: f64) -> Vec<DVector<f64>> {
    let mut basis: Vec<DVector<f64>> = Vec::new();
    for v in vectors {
        let mut u = v.clone();
        for _ in 0..2 {
            for q in &basis {
                let d = q.dot(&u);
                u -= q * d;
            }
        }
        let nrm = u.norm();
        if nrm > tol {
            basis.push(u / nrm);
        }
    }
    basis
}

/// Orthonormal basis (over the free parameters `free`, indices into `full`) of the symmetry
/// directions that keep the fixed parameters fixed.
pub fn symmetry_basis(full: &[f64], free: &[usize], shape: Shape) -> Vec<DVector<f64>> {
    let nf = free.len();
    let scale = full.iter().fold(1.0f64, |a, v| a.max(v.abs()));
    let mut is_free = vec![false; full.len()];
    for &k in free {
        is_free[k] = true;
    }
    // Keep symmetry directions that do not move fixed parameters.
    let tangents: Vec<DVector<f64>> = symmetry_tangents(full, shape)
        .into_iter()
        .filter(|t| {
            let fixed: f64 = t
                .iter()
                .enumerate()
                .filter(|(k, _)| !is_free[*k])
                .map(|(_, v)| v * v)
                .sum();
            fixed.sqrt() <= tolerance::SYMMETRY_FIXED_REL * scale
        })
        .map(|t| DVector::from_iterator(nf, free.iter().map(|&k| t[k])))
        .collect();
    orthonormal_basis(&tangents, tolerance::SYMMETRY_BASIS_REL * scale)
}

/// The kind of a critical point from its lowest curvature off the symmetry orbit.
pub fn kind_of(lowest: Option<f64>, zero_tolerance: f64) -> Kind {
    match lowest {
        Some(l) if l < -zero_tolerance => Kind::Saddle,
        Some(l) if l <= zero_tolerance => Kind::Degenerate,
        _ => Kind::StrictMinimum,
    }
}

/// Spectrum of the Hessian `h` over the free parameters `free` (indices into `full`), with the
/// symmetry directions that keep the fixed parameters fixed separated.
pub fn spectrum(h: &DMatrix<f64>, full: &[f64], free: &[usize], shape: Shape) -> Spectrum {
    let nf = free.len();
    let sym = symmetry_basis(full, free, shape);
    // Complement: orthonormalise the coordinate axes against the symmetry basis.
    let mut all = sym.clone();
    let axes: Vec<DVector<f64>> = (0..nf)
        .map(|k| {
            let mut e = DVector::zeros(nf);
            e[k] = 1.0;
            e
        })
        .collect();
    for e in &axes {
        let mut u = e.clone();
        for _ in 0..2 {
            for q in &all {
                let d = q.dot(&u);
                u -= q * d;
            }
        }
        let nrm = u.norm();
        if nrm > tolerance::COMPLEMENT_MIN_NORM {
            all.push(u / nrm);
        }
        if all.len() == nf {
            break;
        }
    }
    let comp = &all[sym.len()..];
    let b = DMatrix::from_columns(comp);
    let reduced = b.transpose() * h * &b;
    let reduced = (&reduced + reduced.transpose()) * 0.5;
    let mut eigenvalues: Vec<f64> = if reduced.nrows() > 0 {
        SymmetricEigen::new(reduced)
            .eigenvalues
            .iter()
            .copied()
            .collect()
    } else {
        Vec::new()
    };
    eigenvalues.sort_by(|a, b| a.total_cmp(b));
    let symmetry_curvature = sym
        .iter()
        .map(|q| q.dot(&(h * q)).abs())
        .fold(0.0, f64::max);
    let hscale = eigenvalues.iter().fold(1.0f64, |a, v| a.max(v.abs()));
    let zero_tolerance = ZERO_EIGENVALUE_REL * hscale;
    let kind = kind_of(eigenvalues.first().copied(), zero_tolerance);
    Spectrum {
        eigenvalues,
        symmetry_modes: sym.len(),
        symmetry_curvature,
        zero_tolerance,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_tangent_is_orthogonal_to_parameters_for_tied_models() {
        // d/dt |Q(t) W|² = 0: the tangent is orthogonal to W itself.
        let full = [0.3, -0.2, 0.5, 0.7, 1.1, -0.4, 0.0, 0.0, 0.0];
        let t = &symmetry_tangents(&full, Shape::new(3, 2, true))[0];
        let dot: f64 = full[..6].iter().zip(&t[..6]).map(|(a, b)| a * b).sum();
        assert!(dot.abs() < 1e-15);
    }
}
