//! The chain rule from the loss's natural variables — `M = W_out W` (tied: `Wᵀ W`) and `b` —
//! to the flat parameters ([`crate::shape::Shape`] layout). Every route that differentiates
//! through `M` uses this one copy.

use crate::dual::Real;
use crate::shape::Shape;

/// Maps ∂L/∂M (row-major n×n) and ∂L/∂b to the parameters ([`crate::model::Model::to_vec`] layout), adding
/// into `grad`: tied `∂W = W (G + Gᵀ)`; untied `∂W_out = G Wᵀ`, `∂W = W_outᵀ G`.
pub fn chain_rule<T: Real>(
    shape: Shape,
    params: &[T],
    gram_bar: &[T],
    b_bar: &[T],
    grad: &mut [T],
) {
    let (m, n) = (shape.m, shape.n);
    let w = &params[shape.w()];
    let gm = |i: usize, j: usize| gram_bar[i * n + j];
    if shape.tied {
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
        let wo_range = shape.w_out().unwrap_or(0..0);
        let off = wo_range.start;
        let wo = &params[wo_range];
        for i in 0..n {
            for h in 0..m {
                let mut acc = T::zero();
                for j in 0..n {
                    acc += gm(i, j) * w[h + m * j];
                }
                grad[off + i + n * h] += acc;
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
    for (g, bb) in grad[shape.b()].iter_mut().zip(b_bar) {
        *g += *bb;
    }
}
