//! Lowest eigenvalues of a large symmetric operator known only through matrix–vector products
//! (a Hessian-vector product), restricted to the orthogonal complement of given directions
//! (the loss's symmetry modes): Lanczos with full reorthogonalisation.
//!
//! A full Hessian at n = 400, m = 30 has 12 400² entries; classifying a critical point needs
//! only its few lowest curvatures off the symmetry orbit.
//!
//! # Formula
//!
//! With Q the orthonormalised deflation basis and P = I − QQᵀ, Lanczos builds an orthonormal
//! basis v₁ … v_j of the Krylov space of P A P from a random start v₁ ⟂ Q:
//!
//! w = A v_j − α_j v_j − β_{j−1} v_{j−1},  α_j = v_jᵀ A v_j,  β_j = ‖w‖,  v_{j+1} = w / β_j,
//!
//! with w orthogonalised twice against all of v₁ … v_j and Q (full reorthogonalisation: without
//! it rounding makes converged eigenvalues reappear as spurious copies). Then
//! A V_j = V_j T_j + β_j v_{j+1} e_jᵀ with T_j = tridiag(β, α, β), and for each eigenpair
//! (θ_i, s_i) of T_j the Ritz vector y_i = V_j s_i satisfies
//!
//! ‖P A y_i − θ_i y_i‖ = |β_j s_{j,i}|,
//!
//! a rigorous bound on the distance from θ_i to an eigenvalue of P A P on the complement
//! (Weyl / Kahan). When β is at rounding level (an invariant subspace) it is dropped and the
//! run restarts with a fresh random vector orthogonal to everything so far; each dropped β_b
//! adds |β_b s_{b,i}| to the bound. Once the basis spans the whole complement (dim − rank Q ≤
//! max_iters), T is P A P in that basis and the eigenvalues are exact up to rounding.
//!
//! One start vector sees each distinct eigenvalue once: a repeated eigenvalue's further
//! copies appear only through restarts. At an invariant subspace the unexplored space holds
//! only copies of the last block's eigenvalues, so the run restarts until none of them can
//! come below the k-th listed value. When the run stops on small residuals instead (before
//! any invariant subspace), a repeat among the k lowest may be missing (the next distinct
//! eigenvalue is listed in its place); the lowest eigenvalue itself is not affected.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::error::{Error, Result};
use crate::tolerance;

/// A symmetric operator: `apply(v, out)` sets out = A v (for example a Hessian-vector
/// product at a fixed point).
pub type Operator<'a> = dyn FnMut(&[f64], &mut [f64]) -> Result<()> + 'a;

/// Options of [`lowest_eigenvalues`].
#[derive(Debug, Clone, PartialEq)]
pub struct LanczosOptions {
    k: usize,
    max_iters: usize,
    rel_tol: f64,
    seed: u64,
}

impl Default for LanczosOptions {
    /// The 6 lowest eigenvalues, at most 300 operator applications, residuals ≤
    /// [`tolerance::LANCZOS_REL`] × the operator's scale, seed 0.
    fn default() -> Self {
        LanczosOptions {
            k: 6,
            max_iters: 300,
            rel_tol: tolerance::LANCZOS_REL,
            seed: 0,
        }
    }
}

impl LanczosOptions {
    /// The defaults ([`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// How many of the lowest eigenvalues to compute (≥ 1).
    pub fn with_k(mut self, k: usize) -> Result<Self> {
        if k == 0 {
            return Err(Error::invalid(
                "Lanczos: the number of eigenvalues must be at least 1",
            ));
        }
        self.k = k;
        Ok(self)
    }

    /// Most operator applications (≥ 1); also the most basis vectors kept in memory.
    pub fn with_max_iters(mut self, max_iters: usize) -> Result<Self> {
        if max_iters == 0 {
            return Err(Error::invalid(
                "Lanczos: the iteration limit must be at least 1",
            ));
        }
        self.max_iters = max_iters;
        Ok(self)
    }

    /// Residual target relative to the operator's scale (finite, > 0).
    pub fn with_rel_tol(mut self, rel_tol: f64) -> Result<Self> {
        if !(rel_tol.is_finite() && rel_tol > 0.0) {
            return Err(Error::invalid(format!(
                "Lanczos: the relative tolerance must be finite and positive, not {rel_tol}"
            )));
        }
        self.rel_tol = rel_tol;
        Ok(self)
    }

    /// Seed of the random start vectors (results are bit-reproducible for a seed).
    pub fn with_seed(mut self, seed: u64) -> Result<Self> {
        self.seed = seed;
        Ok(self)
    }

    /// Number of eigenvalues asked for.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Iteration limit.
    pub fn max_iters(&self) -> usize {
        self.max_iters
    }

    /// Relative residual target.
    pub fn rel_tol(&self) -> f64 {
        self.rel_tol
    }

    /// Seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn validate(&self) -> Result<()> {
        Self::default()
            .with_k(self.k)?
            .with_max_iters(self.max_iters)?
            .with_rel_tol(self.rel_tol)?;
        Ok(())
    }
}

/// What [`lowest_eigenvalues`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct LanczosResult {
    /// The k lowest Ritz values, ascending (fewer when the complement of the deflated
    /// directions has dimension below k).
    pub eigenvalues: Vec<f64>,
    /// Their residual norms ‖A y − θ y‖: each eigenvalue is within this of a true eigenvalue.
    pub residuals: Vec<f64>,
    /// Largest |Ritz value| seen (the operator's scale on the complement).
    pub norm_estimate: f64,
    /// Operator applications.
    pub iterations: usize,
    /// True when every listed residual is within the target (or the basis spans the whole
    /// complement, making the eigenvalues exact).
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Removes from `u` its components along the orthonormal `basis`, twice (once is not enough
/// in floating point when `u` is nearly in their span).
fn project_out(u: &mut [f64], bases: &[&[Vec<f64>]]) {
    for _ in 0..2 {
        for basis in bases {
            for q in basis.iter() {
                let d = dot(q, u);
                u.iter_mut().zip(q).for_each(|(x, y)| *x -= d * y);
            }
        }
    }
}

/// A unit random vector orthogonal to `bases`, or None when none is left (their span is the
/// whole space up to rounding).
fn fresh_vector(rng: &mut ChaCha8Rng, dim: usize, bases: &[&[Vec<f64>]]) -> Option<Vec<f64>> {
    // A random vector has a component outside a proper subspace with probability 1; a few
    // tries guard against an unlucky draw nearly inside it.
    for _ in 0..4 {
        let mut u: Vec<f64> = (0..dim)
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect();
        let before = norm(&u);
        project_out(&mut u, bases);
        let after = norm(&u);
        if after > tolerance::LANCZOS_DEPENDENT_REL * before {
            u.iter_mut().for_each(|x| *x /= after);
            return Some(u);
        }
    }
    None
}

/// Ritz values (ascending) and their residual bounds from the tridiagonal `alpha`, `beta`
/// (`beta[j]` couples j and j+1; `dropped[j]` is a β dropped at a restart between j and j+1).
fn ritz(alpha: &[f64], beta: &[f64], dropped: &[f64], last_beta: f64) -> (Vec<f64>, Vec<f64>) {
    let j = alpha.len();
    let mut t = DMatrix::zeros(j, j);
    for i in 0..j {
        t[(i, i)] = alpha[i];
        if i + 1 < j {
            t[(i, i + 1)] = beta[i];
            t[(i + 1, i)] = beta[i];
        }
    }
    let eig = SymmetricEigen::new(t);
    let mut order: Vec<usize> = (0..j).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    let values = order.iter().map(|&i| eig.eigenvalues[i]).collect();
    let residuals = order
        .iter()
        .map(|&i| {
            let s = eig.eigenvectors.column(i);
            let restarts: f64 = dropped
                .iter()
                .enumerate()
                .filter(|(_, b)| **b != 0.0)
                .map(|(r, b)| (b * s[r]).abs())
                .sum();
            restarts + (last_beta * s[j - 1]).abs()
        })
        .collect();
    (values, residuals)
}

/// The k lowest eigenvalues of the symmetric operator `apply` (`apply(v, out)` sets
/// out = A v) restricted to the orthogonal complement of `deflate` (vectors to project out;
/// they need not be orthonormal — dependent ones are dropped). See the module documentation
/// for the method and its error bounds.
///
/// Errors: bad options or deflation vectors of the wrong length or non-finite
/// ([`Error::Invalid`]), a basis beyond the memory limit ([`Error::TooLarge`]), a non-finite
/// product ([`Error::Numerical`]), or any error `apply` returns.
pub fn lowest_eigenvalues(
    dim: usize,
    apply: &mut Operator<'_>,
    deflate: &[Vec<f64>],
    opts: &LanczosOptions,
) -> Result<LanczosResult> {
    opts.validate()?;
    if let Some(v) = deflate.iter().find(|v| v.len() != dim) {
        return Err(Error::invalid(format!(
            "Lanczos: a deflation vector has {} entries, the operator's dimension is {dim}",
            v.len()
        )));
    }
    if deflate.iter().any(|v| v.iter().any(|x| !x.is_finite())) {
        return Err(Error::invalid("Lanczos: a deflation vector is not finite"));
    }
    // Orthonormal deflation basis (modified Gram–Schmidt, twice), dependent vectors dropped.
    let mut q: Vec<Vec<f64>> = Vec::new();
    for v in deflate {
        let before = norm(v);
        if before == 0.0 {
            continue;
        }
        let mut u = v.clone();
        project_out(&mut u, &[&q]);
        let after = norm(&u);
        if after > tolerance::LANCZOS_DEPENDENT_REL * before {
            u.iter_mut().for_each(|x| *x /= after);
            q.push(u);
        }
    }
    let complement = dim - q.len();
    let want = opts.k.min(complement);
    let mut result = LanczosResult {
        eigenvalues: Vec::new(),
        residuals: Vec::new(),
        norm_estimate: 0.0,
        iterations: 0,
        converged: true,
    };
    if want == 0 {
        return Ok(result);
    }
    if opts.max_iters < want {
        return Err(Error::invalid(format!(
            "Lanczos: {} iterations cannot give {want} eigenvalues",
            opts.max_iters
        )));
    }
    let basis_len = opts.max_iters.min(complement);
    crate::limits::check_memory(
        (basis_len + q.len() + 2) as f64 * dim as f64 * 8.0,
        "the Lanczos basis",
    )?;

    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut v: Vec<Vec<f64>> = Vec::with_capacity(basis_len);
    let mut alpha: Vec<f64> = Vec::with_capacity(basis_len);
    let mut beta: Vec<f64> = Vec::with_capacity(basis_len);
    let mut dropped: Vec<f64> = Vec::with_capacity(basis_len);
    // Largest |α|, β seen: a lower bound of ‖A‖ on the complement, the scale of "β ≈ 0".
    let mut scale = 0.0f64;
    let mut w = vec![0.0; dim];
    let Some(first) = fresh_vector(&mut rng, dim, &[&q]) else {
        // The deflation basis spans the space up to rounding: nothing is left.
        return Ok(result);
    };
    v.push(first);
    let mut last_checked = 0usize;
    // First index of the current Krylov block (a restart begins a new one).
    let mut block_start = 0usize;
    loop {
        let j = v.len() - 1;
        apply(&v[j], &mut w)?;
        result.iterations += 1;
        if w.iter().any(|x| !x.is_finite()) {
            return Err(Error::Numerical(
                "Lanczos: the operator returned a non-finite product".into(),
            ));
        }
        let a = dot(&v[j], &w);
        w.iter_mut().zip(&v[j]).for_each(|(x, y)| *x -= a * y);
        if j > 0 && beta[j - 1] != 0.0 {
            let b = beta[j - 1];
            w.iter_mut().zip(&v[j - 1]).for_each(|(x, y)| *x -= b * y);
        }
        project_out(&mut w, &[&q, &v]);
        let b = norm(&w);
        alpha.push(a);
        scale = scale.max(a.abs()).max(b);
        let full = v.len() == complement;
        let breakdown = b <= tolerance::LANCZOS_BREAKDOWN_REL * scale;
        let out_of_iters = result.iterations >= opts.max_iters;
        // The tridiagonal eigenproblem costs O(j³): check every step while the basis is
        // small, then about every tenth of its size (cheap next to the operator products).
        let due = v.len() >= want && (v.len() <= 50 || v.len() - last_checked >= v.len() / 10);
        if due || full || breakdown || out_of_iters {
            last_checked = v.len();
            let last = if full || breakdown { 0.0 } else { b };
            let mut drop = dropped.clone();
            drop.push(if full || breakdown { b } else { 0.0 });
            let (values, residuals) = ritz(&alpha, &beta, &drop, last);
            result.norm_estimate = values
                .iter()
                .fold(result.norm_estimate, |m, x| m.max(x.abs()));
            let target = opts.rel_tol * result.norm_estimate;
            let n = want.min(values.len());
            result.eigenvalues = values[..n].to_vec();
            result.residuals = residuals[..n].to_vec();
            let mut within = n == want && result.residuals.iter().all(|&r| r <= target);
            if breakdown && within && !full {
                // The unexplored space holds only further copies of the last block's
                // eigenvalues (its random start touched every other eigenvector): the list is
                // complete only if none of them could come below the k-th listed value.
                let (block, _) = ritz(&alpha[block_start..], &beta[block_start..], &[], 0.0);
                within = result.eigenvalues[n - 1] <= block[0] + target;
            }
            if full || within {
                result.converged = true;
                return Ok(result);
            }
            if out_of_iters {
                result.converged = false;
                return Ok(result);
            }
        }
        if breakdown {
            // Invariant subspace: restart orthogonally to everything so far.
            let Some(fresh) = fresh_vector(&mut rng, dim, &[&q, &v]) else {
                // Rounding says the space is exhausted earlier than the count: what is
                // listed is exact for the space spanned.
                result.converged = result.eigenvalues.len() == want;
                return Ok(result);
            };
            beta.push(0.0);
            dropped.push(b);
            v.push(fresh);
            block_start = alpha.len();
        } else {
            beta.push(b);
            dropped.push(0.0);
            w.iter_mut().for_each(|x| *x /= b);
            v.push(std::mem::replace(&mut w, vec![0.0; dim]));
        }
    }
}
