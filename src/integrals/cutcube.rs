//! Moments of the positive part of an affine function over the unit cube, by a recurrence
//! whose terms are all non-negative — the crate's one closed form for the ReLU integrals.
//!
//! For `f(x) = β + Σ_{j∈R} c_j x_j` on `x ∈ [0,1]^R` this computes, at once,
//!
//! * `F2 = E[f₊²]`,
//! * `F1 = E[f₊]`,
//! * `FV = E_V[f₊]` where coordinate `o` ("own") has density 2x instead of 1,
//!   so that `E[x_o f₊] = FV / 2`,
//!
//! for every *state* (R, T): the coordinates R still free, the coordinates T fixed at 1 (so
//! `β = b + Σ_{j∈T} c_j`), the rest fixed at 0. The states with T = ∅ are the active sets.
//!
//! # Formula
//!
//! Divergence theorem on `Ω = {x ∈ [0,1]^k : f(x) > 0}` with the field (x − a)·f₊ᵖ·ρ(x), where
//! ρ = Π_j (m_j+1) x_j^{m_j} (m_o = 1 for the weighted coordinate, 0 otherwise) and the anchor
//! `a ∈ [0,1]^k` lies on the kink, f(a) = 0. Because f(a) = 0 the kink face contributes
//! nothing, and (with `f − f(a) = (x − a)·∇f`)
//!
//! ```text
//! (p + k + Σ m_j) F = Σ_j (m_j+1)(1 − a_j) F[x_j = 1]
//!                   + Σ_{m_j = 0} a_j F[x_j = 0]
//!                   + Σ_{m_j = 1} 2 a_j F[ρ_j lowered to 1]
//! ```
//!
//! Any anchor on the kink inside the cube gives non-negative weights, hence no cancellation
//! and no division by an individual coefficient: zero, tiny or cancelling coefficients and
//! biases on a kink are as accurate as any other input. Two anchors are used:
//!
//! * **θ anchor** — `a_j = θ` for `c_j ≥ 0`, `a_j = 1 − θ` for `c_j < 0`, with
//!   `θ = −(β + lo)/(hi − lo)`, `lo = Σ_{c_j<0} c_j`, `hi = Σ_{c_j≥0} c_j` (so Σ c_j a_j = −β).
//!   Its only division is by the whole range `hi − lo`, so derivatives through it are well
//!   conditioned: the reverse sweep and dual-number (Hessian) evaluations use it.
//! * **vertex anchor** — walk from the vertex where f is smallest towards the largest, moving
//!   one coordinate at a time, and stop where f crosses 0: all coordinates but one are 0 or 1,
//!   so the sum has k + 1 terms instead of 2k. Plain f64 values use it (half the work); its
//!   anchor is off the kink by at most rounding of β + Σc, like the θ anchor's.
//!
//! When the kink misses the cube the moment is 0 (f ≤ 0) or the polynomial moment (f ≥ 0):
//! `E f = β + Σc/2`, `E f² = (E f)² + Σc²/12`, `E_V f = E f + c_o/6`.
//!
//! The same identity is the p = 0 volume recursion of Lasserre (1983) and the 1-D box-spline
//! recurrence of de Boor & Höllig (1983); here it is applied to the truncated moments.
//!
//! Cost: 3^k states, O(k) each for the states the kink crosses. The gradient (with respect to
//! β and every c_j) is the reverse-mode derivative of this recursion, one backward sweep.

use crate::dual::Real;

/// Largest number of coordinates one table may have (3^16 states is ~1 GB of f64 values).
pub const MAX_COORDS: usize = 16;

/// Tables with at least this many coordinates are evaluated lazily by
/// [`CutCube::forward_roots`] (measured: faster from about 3^9 states on).
const LAZY_MIN_COORDS: usize = 9;

/// Per-state values: `[E f₊², E f₊, E_V f₊]` (the last is 0 where `o ∉ R`).
pub type Moments<T> = [T; 3];

/// Workspace for one affine function's table; reuse it across calls to avoid allocation.
#[derive(Debug, Clone)]
pub struct CutCube<T> {
    k: usize,
    own: Option<usize>,
    c: Vec<T>,
    table: Vec<Moments<T>>,
    adj: Vec<Moments<T>>,
    // Per subset (bit mask) sums; `beta_t[T] = β + Σ_{j∈T} c_j`.
    lo: Vec<T>,
    hi: Vec<T>,
    sum: Vec<T>,
    sumsq: Vec<T>,
    beta_t: Vec<T>,
    // Adjoints of the per-subset sums.
    lo_bar: Vec<T>,
    hi_bar: Vec<T>,
    sum_bar: Vec<T>,
    sumsq_bar: Vec<T>,
    beta_bar: Vec<T>,
    c_own_bar: T,
    // Which states the current lazy evaluation needs (`stamp[s] == epoch`).
    stamp: Vec<u32>,
    epoch: u32,
}

impl<T: Real> Default for CutCube<T> {
    fn default() -> Self {
        CutCube {
            k: 0,
            own: None,
            c: Vec::new(),
            table: Vec::new(),
            adj: Vec::new(),
            lo: Vec::new(),
            hi: Vec::new(),
            sum: Vec::new(),
            sumsq: Vec::new(),
            beta_t: Vec::new(),
            lo_bar: Vec::new(),
            hi_bar: Vec::new(),
            sum_bar: Vec::new(),
            sumsq_bar: Vec::new(),
            beta_bar: Vec::new(),
            c_own_bar: T::zero(),
            stamp: Vec::new(),
            epoch: 0,
        }
    }
}

/// Powers of three, `POW3[j] = 3^j`.
const POW3: [usize; MAX_COORDS + 1] = {
    let mut p = [1usize; MAX_COORDS + 1];
    let mut j = 1;
    while j <= MAX_COORDS {
        p[j] = p[j - 1] * 3;
        j += 1;
    }
    p
};

/// Index of the state whose free set is `mask` and whose fixed-at-1 set is empty.
#[inline]
pub fn root_index(mask: usize) -> usize {
    let mut s = 0;
    let mut m = mask;
    while m != 0 {
        let j = m.trailing_zeros() as usize;
        s += 2 * POW3[j];
        m &= m - 1;
    }
    s
}

/// Number of states for k coordinates.
pub fn num_states(k: usize) -> usize {
    POW3[k]
}

impl<T: Real> CutCube<T> {
    /// An empty workspace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills the table for `f = beta + Σ_j c_j x_j` with coordinate `own` (if any) weighted
    /// by density 2x. `c.len()` must be at most [`MAX_COORDS`].
    pub fn forward(&mut self, beta: T, c: &[T], own: Option<usize>) {
        let n_states = self.prepare(beta, c, own);
        let own_bit = own.map_or(0usize, |o| 1 << o);
        let mut digits = [0u8; MAX_COORDS];
        let (mut rmask, mut tmask) = (0usize, 0usize);
        for s in 0..n_states {
            if s > 0 {
                increment(&mut digits, &mut rmask, &mut tmask);
            }
            self.compute(s, rmask, tmask, own_bit);
        }
    }

    /// Stores the function and sizes the table; returns the number of states.
    fn prepare(&mut self, beta: T, c: &[T], own: Option<usize>) -> usize {
        let k = c.len();
        assert!(
            k <= MAX_COORDS,
            "cut-cube table limited to {MAX_COORDS} coordinates"
        );
        debug_assert!(own.is_none_or(|o| o < k));
        self.k = k;
        self.own = own;
        self.c.clear();
        self.c.extend_from_slice(c);
        self.subset_sums(beta);
        // Every state is written before it is read: no need to clear.
        self.table.resize(POW3[k], [T::zero(); 3]);
        POW3[k]
    }

    /// Like [`CutCube::forward`], but computes only the states that the root states `roots`
    /// (free-set masks) need through the vertex-anchor recurrence — about a third of them.
    /// Values only: the reverse sweep needs the full table of [`CutCube::forward`], and
    /// non-f64 scalars always get the full table.
    pub fn forward_roots(&mut self, beta: T, c: &[T], own: Option<usize>, roots: &[usize]) {
        // Small tables fit in cache and the full sweep is cheaper than marking.
        if !T::VALUE_ONLY || c.len() < LAZY_MIN_COORDS {
            return self.forward(beta, c, own);
        }
        let k = c.len();
        let n_states = self.prepare(beta, c, own);
        self.stamp.resize(n_states, 0);
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamp.iter_mut().for_each(|x| *x = 0);
            self.epoch = 1;
        }
        let epoch = self.epoch;
        let mut top = 0;
        for &mask in roots {
            let s = root_index(mask);
            self.stamp[s] = epoch;
            top = top.max(s);
        }
        // Mark, from the top down, every state a needed recursive state reads. (Two sequential
        // sweeps beat a depth-first walk: the table is too large for the cache.)
        let (mut digits, mut rmask, mut tmask) = digits_of(top, k);
        let mut s = top;
        loop {
            if self.stamp[s] == epoch {
                let beta = self.beta_t[tmask];
                let (lo, hi) = (self.lo[rmask], self.hi[rmask]);
                if (beta + hi).re() > 0.0 && (beta + lo).re() < 0.0 {
                    let stamp = &mut self.stamp;
                    vertex_anchor(&self.c, (beta + lo).re(), rmask, |j, a| {
                        if a < 1.0 {
                            stamp[s - POW3[j]] = epoch;
                        }
                        if a > 0.0 {
                            stamp[s - 2 * POW3[j]] = epoch;
                        }
                    });
                }
            }
            if s == 0 {
                break;
            }
            s -= 1;
            decrement(&mut digits, &mut rmask, &mut tmask);
        }
        // Evaluate the marked states bottom up.
        let own_bit = own.map_or(0usize, |o| 1 << o);
        let (mut digits, mut rmask, mut tmask) = ([0u8; MAX_COORDS], 0usize, 0usize);
        for s in 0..=top {
            if s > 0 {
                increment(&mut digits, &mut rmask, &mut tmask);
            }
            if self.stamp[s] != epoch {
                continue;
            }
            self.compute(s, rmask, tmask, own_bit);
        }
    }

    /// Evaluates state `s` (free set `rmask`, fixed-at-1 set `tmask`) from the states it reads.
    #[inline(always)]
    fn compute(&mut self, s: usize, rmask: usize, tmask: usize, own_bit: usize) {
        let size = 1usize << self.k;
        assert!(rmask < size && tmask < size && s < self.table.len());
        // SAFETY: both masks are below 2^k, the length of every per-subset array (asserted).
        let sums = unsafe {
            NodeSums {
                beta: *self.beta_t.get_unchecked(tmask),
                lo: *self.lo.get_unchecked(rmask),
                hi: *self.hi.get_unchecked(rmask),
                sum: *self.sum.get_unchecked(rmask),
                sumsq: *self.sumsq.get_unchecked(rmask),
            }
        };
        let (done, rest) = self.table.split_at_mut(s);
        rest[0] = node(done, &self.c, sums, s, rmask, own_bit);
    }

    /// The moments `[E f₊², E f₊, E_V f₊]` of the state with free set `mask`, after
    /// [`CutCube::forward`].
    #[inline]
    pub fn root(&self, mask: usize) -> Moments<T> {
        self.table[root_index(mask)]
    }

    /// The moments of state `index` (see [`root_index`]).
    #[inline]
    pub fn state(&self, index: usize) -> Moments<T> {
        self.table[index]
    }

    fn subset_sums(&mut self, beta: T) {
        let size = 1usize << self.k;
        for v in [
            &mut self.lo,
            &mut self.hi,
            &mut self.sum,
            &mut self.sumsq,
            &mut self.beta_t,
        ] {
            // Every entry is overwritten below; only the length matters.
            v.resize(size, T::zero());
            v[0] = T::zero();
        }
        self.beta_t[0] = beta;
        for mask in 1..size {
            let j = mask.trailing_zeros() as usize;
            let prev = mask & (mask - 1);
            let cj = self.c[j];
            let neg = cj.re() < 0.0;
            self.lo[mask] = if neg {
                self.lo[prev] + cj
            } else {
                self.lo[prev]
            };
            self.hi[mask] = if neg {
                self.hi[prev]
            } else {
                self.hi[prev] + cj
            };
            self.sum[mask] = self.sum[prev] + cj;
            self.sumsq[mask] = self.sumsq[prev] + cj * cj;
            self.beta_t[mask] = self.beta_t[prev] + cj;
        }
    }

    /// Reverse sweep. `seeds` are (free-set mask, adjoint of `[F2, F1, FV]`) for root states;
    /// returns (∂/∂β, ∂/∂c_j) of Σ seed·moments. Requires a preceding [`CutCube::forward`].
    pub fn backward(&mut self, seeds: &[(usize, Moments<T>)]) -> (T, Vec<T>) {
        let k = self.k;
        let n_states = POW3[k];
        let size = 1usize << k;
        self.adj.clear();
        self.adj.resize(n_states, [T::zero(); 3]);
        for v in [
            &mut self.lo_bar,
            &mut self.hi_bar,
            &mut self.sum_bar,
            &mut self.sumsq_bar,
            &mut self.beta_bar,
        ] {
            v.clear();
            v.resize(size, T::zero());
        }
        self.c_own_bar = T::zero();
        let mut max_state = 0;
        for &(mask, g) in seeds {
            let s = root_index(mask);
            max_state = max_state.max(s);
            for (a, gq) in self.adj[s].iter_mut().zip(g) {
                *a += gq;
            }
        }
        if seeds.is_empty() {
            return (T::zero(), vec![T::zero(); k]);
        }
        let own_bit = self.own.map_or(0usize, |o| 1 << o);
        // Walk states downwards from the largest seeded one (children have smaller indices).
        let (mut digits, mut rmask, mut tmask) = digits_of(max_state, k);
        let mut s = max_state;
        loop {
            self.node_backward(s, rmask, tmask, own_bit);
            if s == 0 {
                break;
            }
            s -= 1;
            decrement(&mut digits, &mut rmask, &mut tmask);
        }
        self.gather_gradient()
    }

    #[inline]
    fn node_backward(&mut self, s: usize, rmask: usize, tmask: usize, own_bit: usize) {
        let [g2, mut g1, gv] = self.adj[s];
        if g2.is_exact_zero() && g1.is_exact_zero() && gv.is_exact_zero() {
            return;
        }
        let beta = self.beta_t[tmask];
        let hi = self.hi[rmask];
        if (beta + hi).re() <= 0.0 {
            return;
        }
        let lo = self.lo[rmask];
        let own_in = rmask & own_bit != 0;
        if (beta + lo).re() >= 0.0 {
            let mean = beta + self.sum[rmask].scale(0.5);
            let gv = if own_in { gv } else { T::zero() };
            let g_mean = g1 + (g2 * mean).scale(2.0) + gv;
            self.beta_bar[tmask] += g_mean;
            self.sum_bar[rmask] += g_mean.scale(0.5);
            self.sumsq_bar[rmask] += g2.scale(1.0 / 12.0);
            if own_in {
                self.c_own_bar += gv.scale(1.0 / 6.0);
            }
            return;
        }
        let delta = hi - lo;
        let theta = -(beta + lo) / delta;
        let one_minus = T::cst(1.0) - theta;
        let kr = rmask.count_ones() as f64;
        let (d2, d1) = (1.0 / (kr + 2.0), 1.0 / (kr + 1.0));
        let mut theta_bar = T::zero();
        if own_in {
            let dv = d2;
            let f1_self = self.table[s][1];
            let mut m = rmask;
            while m != 0 {
                let j = m.trailing_zeros() as usize;
                m &= m - 1;
                let pos = self.c[j].re() >= 0.0;
                let (a, b) = if pos {
                    (theta, one_minus)
                } else {
                    (one_minus, theta)
                };
                let (i1, i0) = (s - POW3[j], s - 2 * POW3[j]);
                if (1 << j) == own_bit {
                    let c1f1 = self.table[i1][1];
                    self.adj[i1][1] += (gv * b).scale(2.0 * dv);
                    g1 += (gv * a).scale(2.0 * dv);
                    let dd = (f1_self - c1f1).scale(2.0 * dv);
                    theta_bar += if pos { gv * dd } else { -(gv * dd) };
                } else {
                    let (c1v, c0v) = (self.table[i1][2], self.table[i0][2]);
                    self.adj[i1][2] += (gv * b).scale(dv);
                    self.adj[i0][2] += (gv * a).scale(dv);
                    let dd = (c0v - c1v).scale(dv);
                    theta_bar += if pos { gv * dd } else { -(gv * dd) };
                }
            }
        }
        let mut m = rmask;
        while m != 0 {
            let j = m.trailing_zeros() as usize;
            m &= m - 1;
            let pos = self.c[j].re() >= 0.0;
            let (a, b) = if pos {
                (theta, one_minus)
            } else {
                (one_minus, theta)
            };
            let (i1, i0) = (s - POW3[j], s - 2 * POW3[j]);
            let (c1, c0) = (self.table[i1], self.table[i0]);
            self.adj[i1][0] += (g2 * b).scale(d2);
            self.adj[i0][0] += (g2 * a).scale(d2);
            self.adj[i1][1] += (g1 * b).scale(d1);
            self.adj[i0][1] += (g1 * a).scale(d1);
            let dd = (g2 * (c0[0] - c1[0])).scale(d2) + (g1 * (c0[1] - c1[1])).scale(d1);
            theta_bar += if pos { dd } else { -dd };
        }
        // θ = −(β + lo)/Δ, Δ = hi − lo.
        self.beta_bar[tmask] -= theta_bar / delta;
        self.lo_bar[rmask] -= theta_bar * one_minus / delta;
        self.hi_bar[rmask] -= theta_bar * theta / delta;
    }

    fn gather_gradient(&self) -> (T, Vec<T>) {
        let k = self.k;
        let size = 1usize << k;
        let mut b_bar = T::zero();
        for &g in &self.beta_bar {
            b_bar += g;
        }
        let mut c_bar = vec![T::zero(); k];
        for (j, cb) in c_bar.iter_mut().enumerate() {
            let bit = 1usize << j;
            let cj = self.c[j];
            let neg = cj.re() < 0.0;
            let (mut acc, mut acc_sq) = (T::zero(), T::zero());
            for mask in (0..size).filter(|m| m & bit != 0) {
                acc += self.beta_bar[mask] + self.sum_bar[mask];
                acc += if neg {
                    self.lo_bar[mask]
                } else {
                    self.hi_bar[mask]
                };
                acc_sq += self.sumsq_bar[mask];
            }
            *cb = acc + (acc_sq * cj).scale(2.0);
            if self.own == Some(j) {
                *cb += self.c_own_bar;
            }
        }
        (b_bar, c_bar)
    }
}

/// The per-subset sums a node needs.
struct NodeSums<T> {
    beta: T,
    lo: T,
    hi: T,
    sum: T,
    sumsq: T,
}

/// `1/(k+1)` and `1/(k+2)` for k free coordinates (avoids two divisions per state).
const INV: [f64; MAX_COORDS + 3] = {
    let mut t = [0.0; MAX_COORDS + 3];
    let mut k = 0;
    while k < MAX_COORDS + 3 {
        t[k] = 1.0 / (k as f64 + 1.0);
        k += 1;
    }
    t
};

/// One state of the forward recursion; `done` holds every state with a smaller index.
#[inline(always)]
fn node<T: Real>(
    done: &[Moments<T>],
    c: &[T],
    sums: NodeSums<T>,
    s: usize,
    rmask: usize,
    own_bit: usize,
) -> Moments<T> {
    let NodeSums {
        beta,
        lo,
        hi,
        sum,
        sumsq,
    } = sums;
    if (beta + hi).re() <= 0.0 {
        return [T::zero(); 3];
    }
    let own_in = rmask & own_bit != 0;
    if (beta + lo).re() >= 0.0 {
        let mean = beta + sum.scale(0.5);
        let f2 = mean * mean + sumsq.scale(1.0 / 12.0);
        let fv = if own_in {
            mean + c[own_bit.trailing_zeros() as usize].scale(1.0 / 6.0)
        } else {
            T::zero()
        };
        return [f2, mean, fv];
    }
    let (mut acc2, mut acc1, mut accv) = (T::zero(), T::zero(), T::zero());
    let mut a_own = T::zero();
    if T::VALUE_ONLY {
        vertex_anchor(c, (beta + lo).re(), rmask, |j, a| {
            debug_assert!(s >= 2 * POW3[j]);
            let is_own = (1 << j) == own_bit;
            if a < 1.0 {
                // SAFETY: digit j of s is 2 (j is free), so s ≥ 2·3^j.
                let c1 = unsafe { done.get_unchecked(s - POW3[j]) };
                let b = T::cst(1.0 - a);
                acc2 += b * c1[0];
                acc1 += b * c1[1];
                if own_in {
                    accv += if is_own {
                        (b * c1[1]).scale(2.0)
                    } else {
                        b * c1[2]
                    };
                }
            }
            if a > 0.0 {
                // SAFETY: as above.
                let c0 = unsafe { done.get_unchecked(s - 2 * POW3[j]) };
                let a = T::cst(a);
                acc2 += a * c0[0];
                acc1 += a * c0[1];
                if own_in && !is_own {
                    accv += a * c0[2];
                }
            }
            if is_own {
                a_own = T::cst(a);
            }
        });
    } else {
        theta_anchor_sums(
            done, c, beta, lo, hi, s, rmask, own_bit, &mut acc2, &mut acc1, &mut accv, &mut a_own,
        );
    }
    let kr = rmask.count_ones() as usize;
    let f2 = acc2.scale(INV[kr + 1]);
    let f1 = acc1.scale(INV[kr]);
    let fv = if own_in {
        (accv + (a_own * f1).scale(2.0)).scale(INV[kr + 1])
    } else {
        T::zero()
    };
    [f2, f1, fv]
}

/// The vertex anchor of a state whose kink crosses its cube: walk from the vertex where f is
/// smallest (`v0 = β + lo < 0`), moving one free coordinate at a time (in index order) to
/// its other end, until f crosses 0. Calls `visit(j, a_j)` for every free j: a_j is 0 or 1
/// for every coordinate but the one where the walk stops inside its edge.
#[inline(always)]
fn vertex_anchor<T: Real>(c: &[T], v0: f64, rmask: usize, mut visit: impl FnMut(usize, f64)) {
    let mut v = v0;
    let mut crossed = false;
    let mut m = rmask;
    while m != 0 {
        let j = m.trailing_zeros() as usize;
        m &= m - 1;
        let cj = c[j].re();
        let pos = cj >= 0.0;
        // The walk has moved j (a at f's larger end), or not (smaller end), or stops in j's edge.
        let a = if crossed {
            if pos {
                0.0
            } else {
                1.0
            }
        } else if v + cj.abs() >= 0.0 || m == 0 {
            crossed = true;
            let t = if cj == 0.0 {
                1.0
            } else {
                (-v / cj.abs()).clamp(0.0, 1.0)
            };
            if pos {
                t
            } else {
                1.0 - t
            }
        } else {
            v += cj.abs();
            if pos {
                1.0
            } else {
                0.0
            }
        };
        visit(j, a);
    }
}

/// The θ-anchor sums of the recurrence (every coordinate fractional, a_j = θ or 1 − θ):
/// used wherever derivatives flow through the recurrence, because its only division is by
/// the whole range `hi − lo`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn theta_anchor_sums<T: Real>(
    done: &[Moments<T>],
    c: &[T],
    beta: T,
    lo: T,
    hi: T,
    s: usize,
    rmask: usize,
    own_bit: usize,
    acc2: &mut T,
    acc1: &mut T,
    accv: &mut T,
    a_own: &mut T,
) {
    let own_in = rmask & own_bit != 0;
    let theta = -(beta + lo) / (hi - lo);
    let one_minus = T::cst(1.0) - theta;
    let mut m = rmask;
    while m != 0 {
        let j = m.trailing_zeros() as usize;
        m &= m - 1;
        let (a, b) = if c[j].re() >= 0.0 {
            (theta, one_minus)
        } else {
            (one_minus, theta)
        };
        debug_assert!(s >= 2 * POW3[j]);
        // SAFETY: digit j of s is 2 (j is free), so s ≥ 2·3^j and both children precede s.
        let (c1, c0) = unsafe {
            (
                done.get_unchecked(s - POW3[j]),
                done.get_unchecked(s - 2 * POW3[j]),
            )
        };
        *acc2 += b * c1[0] + a * c0[0];
        *acc1 += b * c1[1] + a * c0[1];
        if own_in {
            if (1 << j) == own_bit {
                *accv += (b * c1[1]).scale(2.0);
                *a_own = a;
            } else {
                *accv += b * c1[2] + a * c0[2];
            }
        }
    }
}

/// The digits and (free, fixed-at-1) masks of state `s` over `k` coordinates.
fn digits_of(s: usize, k: usize) -> ([u8; MAX_COORDS], usize, usize) {
    let mut digits = [0u8; MAX_COORDS];
    let (mut rmask, mut tmask) = (0usize, 0usize);
    let mut rest = s;
    for (j, d) in digits.iter_mut().enumerate().take(k) {
        *d = (rest % 3) as u8;
        rest /= 3;
        match *d {
            1 => tmask |= 1 << j,
            2 => rmask |= 1 << j,
            _ => {}
        }
    }
    (digits, rmask, tmask)
}

/// Base-3 counter step: digits 0 (fixed at 0), 1 (fixed at 1, in T), 2 (free, in R).
#[inline(always)]
fn increment(digits: &mut [u8; MAX_COORDS], rmask: &mut usize, tmask: &mut usize) {
    let mut j = 0;
    loop {
        let bit = 1usize << j;
        match digits[j] {
            0 => {
                digits[j] = 1;
                *tmask |= bit;
                return;
            }
            1 => {
                digits[j] = 2;
                *tmask &= !bit;
                *rmask |= bit;
                return;
            }
            _ => {
                digits[j] = 0;
                *rmask &= !bit;
                j += 1;
            }
        }
    }
}

/// Inverse of [`increment`].
#[inline(always)]
fn decrement(digits: &mut [u8; MAX_COORDS], rmask: &mut usize, tmask: &mut usize) {
    let mut j = 0;
    loop {
        let bit = 1usize << j;
        match digits[j] {
            2 => {
                digits[j] = 1;
                *rmask &= !bit;
                *tmask |= bit;
                return;
            }
            1 => {
                digits[j] = 0;
                *tmask &= !bit;
                return;
            }
            _ => {
                digits[j] = 2;
                *rmask |= bit;
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dual::Dual;

    /// Tiny deterministic generator (tests only).
    fn lcg(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    #[test]
    fn vertex_and_theta_anchors_agree() {
        // f64 tables use vertex anchors, dual-number tables θ anchors: same values.
        let mut st = 7u64;
        for case in 0..200 {
            let k = 1 + case % 6;
            let mut c: Vec<f64> = (0..k).map(|_| 2.0 * lcg(&mut st)).collect();
            if case % 5 == 0 {
                c[0] = 0.0;
            }
            if case % 7 == 0 && k > 1 {
                c[1] = 1e-12 * lcg(&mut st);
            }
            let beta = 1.5 * lcg(&mut st);
            let own = (case % 3 == 0).then_some(case % k);
            let mut a = CutCube::<f64>::new();
            let mut b = CutCube::<Dual>::new();
            a.forward(beta, &c, own);
            let cd: Vec<Dual> = c.iter().map(|&x| Dual::cst(x)).collect();
            b.forward(Dual::cst(beta), &cd, own);
            for mask in 0..(1usize << k) {
                let (x, y) = (a.root(mask), b.root(mask));
                for q in 0..3 {
                    let scale = x[q].abs().max(1e-300);
                    assert!(
                        (x[q] - y[q].v).abs() <= 1e-13 * scale + 1e-16,
                        "case {case} mask {mask} q {q}: {} vs {}",
                        x[q],
                        y[q].v
                    );
                }
            }
        }
    }

    #[test]
    fn lazy_roots_match_the_full_table() {
        let mut st = 11u64;
        let mut full = CutCube::<f64>::new();
        let mut lazy = CutCube::<f64>::new();
        for case in 0..12 {
            // Lazy evaluation starts at LAZY_MIN_COORDS coordinates.
            let k = LAZY_MIN_COORDS + case % 2;
            let c: Vec<f64> = (0..k)
                .map(|j| {
                    if (case + j) % 4 == 0 {
                        0.0
                    } else {
                        2.0 * lcg(&mut st)
                    }
                })
                .collect();
            let beta = lcg(&mut st);
            let own = (case % 2 == 0).then_some(case % k);
            let roots: Vec<usize> = (0..(1usize << k)).filter(|m| m % 3 != 1).collect();
            full.forward(beta, &c, own);
            lazy.forward_roots(beta, &c, own, &roots);
            for &mask in &roots {
                assert_eq!(full.root(mask), lazy.root(mask), "case {case} mask {mask}");
            }
        }
    }

    #[test]
    fn one_coordinate_closed_forms() {
        // E[(β + c x)₊] = (β + c)²/(2c) for β < 0 < β + c; E_V = 2E[x f₊].
        let mut t = CutCube::<f64>::new();
        t.forward(-0.5, &[1.0], Some(0));
        let [f2, f1, fv] = t.root(1);
        assert!((f1 - 0.125).abs() < 1e-16);
        assert!((f2 - 0.125f64.powi(1) / 3.0).abs() < 1e-16);
        assert!((fv - 5.0 / 24.0).abs() < 1e-16);
    }
}
