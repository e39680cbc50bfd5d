//! Geometry of a model's feature embeddings (the paper's "Geometry of superposition").

use serde::Serialize;

use crate::model::Model;
use crate::tolerance;

/// Per-feature and global geometry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Geometry {
    /// ‖W_i‖ for each feature.
    pub norms: Vec<f64>,
    /// Superposition of feature i: Σ_{j≠i} (Ŵ_i · W_j)².
    pub superposition: Vec<f64>,
    /// Feature dimensionality D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)² (0 for a dropped feature).
    pub dimensionality: Vec<f64>,
    /// Dimensions per feature D* = m / ‖W‖_F².
    pub dimensions_per_feature: f64,
    /// Features not represented (‖W_i‖ below [`tolerance::DROPPED_NORM`]).
    pub dropped: Vec<usize>,
    /// Pairs of represented features pointing in opposite directions.
    pub antipodal_pairs: Vec<(usize, usize)>,
}

/// The geometry of `model`'s embedding W (columns are features).
///
/// # Formula
/// Elhage et al. 2022: `D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)²` (equal to Redwood's capacity
/// `(W_i·W_i)² / Σ_j (W_i·W_j)²`), `D* = m / ‖W‖_F²`.
pub fn geometry(model: &Model) -> Geometry {
    let w = model.w();
    let n = model.n();
    let norms: Vec<f64> = (0..n).map(|i| w.column(i).norm()).collect();
    let dropped: Vec<usize> = (0..n)
        .filter(|&i| norms[i] < tolerance::DROPPED_NORM)
        .collect();
    let mut superposition = vec![0.0; n];
    let mut dimensionality = vec![0.0; n];
    for i in 0..n {
        if norms[i] < tolerance::DROPPED_NORM {
            continue;
        }
        let unit = w.column(i) / norms[i];
        let mut total = 0.0;
        for j in 0..n {
            let d = unit.dot(&w.column(j));
            total += d * d;
            if j != i {
                superposition[i] += d * d;
            }
        }
        dimensionality[i] = norms[i] * norms[i] / total;
    }
    let mut antipodal_pairs = Vec::new();
    for i in 0..n {
        for j in (i + 1)..n {
            if norms[i] < tolerance::DROPPED_NORM || norms[j] < tolerance::DROPPED_NORM {
                continue;
            }
            let cos = w.column(i).dot(&w.column(j)) / (norms[i] * norms[j]);
            if cos < -1.0 + tolerance::ANTIPODAL_COS {
                antipodal_pairs.push((i, j));
            }
        }
    }
    let frob2 = w.norm_squared();
    Geometry {
        norms,
        superposition,
        dimensionality,
        dimensions_per_feature: if frob2 > 0.0 {
            model.m() as f64 / frob2
        } else {
            f64::INFINITY
        },
        dropped,
        antipodal_pairs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_pentagon_has_dimensionality_two_fifths() {
        let cols: Vec<(f64, f64)> = (0..5)
            .map(|k| {
                let t = 2.0 * std::f64::consts::PI * k as f64 / 5.0;
                (t.cos(), t.sin())
            })
            .collect();
        let rows = vec![
            cols.iter().map(|c| c.0).collect(),
            cols.iter().map(|c| c.1).collect(),
        ];
        let g = geometry(&Model::from_rows(&rows, &[0.0; 5]).unwrap());
        for d in g.dimensionality {
            assert!((d - 0.4).abs() < 1e-12);
        }
        // Σ_{j≠i} cos²(2π(j−i)/5) = 5/2 − 1.
        for s in g.superposition {
            assert!((s - 1.5).abs() < 1e-12);
        }
        assert!((g.dimensions_per_feature - 0.4).abs() < 1e-12);
    }

    #[test]
    fn antipodal_pair_and_dropped_feature_are_found() {
        let g = geometry(&Model::from_rows(&[vec![1.0, -1.0, 0.0]], &[0.0; 3]).unwrap());
        assert_eq!(g.antipodal_pairs, vec![(0, 1)]);
        assert_eq!(g.dropped, vec![2]);
        assert_eq!(g.dimensionality[0], 0.5);
        assert_eq!(g.superposition, vec![1.0, 1.0, 0.0]);
    }
}
