//! Moments of one output's pre-activation for independent data, in polynomial time: the
//! primitive of the one-dimensional route ([`crate::route::onedim`]).
//!
//! Output i sees `f = b + Σ_j c_j x_j` (`c_j = M_ij`), a sum of independent terms, each 0 with
//! probability `q_j = 1 − p_j` and otherwise uniform on `[0, c_j]`. The loss needs
//! `E[f₊²]` and `E[x_i f₊]`; its gradient also `E[f₊]`, `P(f > 0)`, `E[x_j f₊]`,
//! `E[x_j 1(f>0)]` and `E[x_i x_j 1(f>0)]` for every j. All are `E[x^J g_k(f)]` with
//! `g_k(y) = y₊^k` (k = 0, 1, 2) and at most two x factors.
//!
//! # Formula
//!
//! Split the distribution by how many of the *members* (features with `p_j > 0`, `c_j ≠ 0`;
//! the others do not move f) are active:
//!
//! * none active (probability `Q₀ = Π q_j`): `f = b`, a point mass;
//! * exactly member l (probability `p_l Π_{j≠l} q_j`): `f = b + c_l U`, whose moments
//!   `∫₀¹ uᵐ (b + c_l u)₊ᵏ du` are written out per case (no crossing, crossing with c > 0 or
//!   c < 0) so that every term is non-negative: no cancellation, and a zero or tiny `c_l` or a
//!   bias on the kink is as accurate as any other input;
//! * exactly members l and l' (probability `p_l p_l' Π_{j≠l,l'} q_j`, when worth it, see
//!   [`split_pairs`]): `f = b + c_l U + c_l' V`, whose moments are `∫₀¹ uᵃ S(b + c_l u) du`
//!   with S the one-member formula above, a polynomial on each of at most three pieces, so a
//!   3-point Gauss–Legendre rule per piece is exact and every term is non-negative ([`pair`]);
//! * the rest (three or more active, or two or more when pairs are not split off): the Bromwich
//!   inversion `g_k(y)/k! = (1/2πi)∫_{σ−i∞}^{σ+i∞} e^{zy} z^{−k−1} dz` (σ > 0) turns the
//!   expectation into `(1/π)∫₀^∞ Re[e^{zb} k! z^{−k−1} Φ(z)] dt`, `z = σ + it`, where `Φ` is
//!   that part of `Π_j (q_j + p_j u(z c_j))`, `u(s) = (e^s − 1)/s` (an x_j factor replaces `u`
//!   by `w(s) = ∫₀¹ u e^{su} du`, or `∫₀¹ u² e^{su} du` for x_i²). The product is carried as a
//!   graded quadruple (none / one / two / three or more active), so `Φ` is never formed by
//!   subtraction; leave-one-out products come from prefix and suffix products. Each member
//!   taken out in closed form makes `Φ` decay one power of t faster, hence fewer nodes.
//!
//! *Small members* (|c| ≤ 10⁻⁴ of the largest, or all of them when every |c| ≤ |b|/10: the
//! near-zero columns of dead features) are not counted in the grading when every kink of the none/one-active parts
//! (`b`, `b + c_l`) lies farther from 0 than they can move f (see [`choose_graded`]): their
//! factors multiply every level of Φ, and the none/one-active parts, with the small members
//! arbitrary, are polynomials in their sum ε on its range, so an exact Taylor expansion with
//! the moments of ε gives them ([`closed_parts_small`]). So do the pairs of graded members
//! when their kinks clear that range too (their derivatives in the bias from a five-point
//! stencil, exact for their degree ≤ 4); at a sparse optimum (features in antipodal pairs,
//! interference ~1e-6, dead columns ~1e-6) every output is then closed: no nodes at all.
//! Counted, a member with tiny c would make every configuration with it active decay like one
//! with a member fewer, up to t ~ 1/|c|: 10–100× more nodes.
//!
//! *A bias within the small members' reach* (a minimiser's iterates near a sparse optimum: a
//! represented feature's bias beside its kink, interference 1e-6…1e-3) leaves the kink `b` of
//! the none/one-active parts where ε can move f. Those parts are then truncated powers
//! `E[X (±(b + ε))₊ᵈ]`, d ≤ 3, on the small members' own scale, each from a *nested*
//! evaluation (this same method on `b + ε` alone, and on `b + ε + c_v V` with a virtual
//! always-active member for the degrees above 2; see [`Powers`]); members up to 10⁻² of the
//! largest then count as small. The nested sums need a few thousand nodes where counting
//! those members in the outer sum took 10⁵; their errors enter the reported error.
//!
//! The integral is summed by the trapezoidal rule with step `h = 2π/P`. By Poisson summation the
//! infinite sum equals the integral plus `Σ_{m≥1} e^{−σmP} E[x^J g_k(f + mP)]` and
//! `Σ_{m≥1} e^{σmP} E[x^J g_k(f − mP)]`: with `σP = 40` the first is bounded by
//! `e^{−40}(R + P)^k`-sized terms (R the largest |f|); the second vanishes when `P ≥ f_max` and
//! is otherwise bounded through the moment-generating function (see [`upward_alias`]); both
//! are added to the error. A shorter period means fewer nodes per unit of t, at the price of a
//! larger σ (larger `e^{σc}` factors, a slower-decaying integrand), so P is chosen among
//! `4 max(f_max, R/10) · 0.75ᵏ` by the majorant's node count ([`Fourier::with_best_period`]):
//! at n = 400 it is ~10 instead of ~120, 7–10× fewer nodes. Only periods whose estimated
//! rounding (which grows like `E e^{σf}`) stays below half the target qualify; dense
//! outputs (density 1: every member active, f far above 0) take periods up to 10× longer.
//! The sum is truncated at
//! `T = K h`, where `K` is chosen from a majorant `B(t) ≥ |integrand|` that is non-increasing in
//! t (`|u(z c)| ≤ min(u(σc), (1 + e^{σc})/(|c| t))`, and likewise for w), integrated from T to ∞
//! on a geometric grid and, beyond the point where every factor decays like 1/t, analytically
//! (`B(t) ≤ B(t₀)(t₀/t)^{k+1+s}` with s the fewest active members in `Φ`). That height is the
//! most the sum spends: it stops at the first checkpoint where the truncation error, the
//! smaller of the majorant's and an estimate from the partial sums' movement (see
//! [`Truncation`]; the majorant ignores the oscillation and is ~1000× pessimistic), meets the
//! target, so the truncation part of the reported error is an estimate. Rounding is
//! estimated from `Σ |terms|` with a relative error per term of `ε (n + 10 + (3j + 2)(n + 1))`
//! after j phase-recurrence steps (the nodes go [`LANES`] at a time, one step per block); the
//! phases are exact multiples `k·fl(h c_j)` (see [`exact_phase`]),
//! so the rule is exact for coefficients perturbed by ε relative, whose effect
//! [`perturbation`] bounds. The reported error is the sum of these bounds plus the closed
//! parts' rounding.
//!
//! Cost: O(n) complex operations per node (O(n) for all leave-one-out products), K nodes, plus
//! O(n²) pairs.

use num_complex::Complex64 as C;

use super::lanes::{total, Lanes, Real, Reals, LANES};

use crate::error::{Error, Result};
use crate::tolerance::ONEDIM_TRUNCATION_SAFETY as TRUNCATION_SAFETY;

/// σ·P: the aliasing weight is `e^{−ALIAS_EXPONENT}` per period.
const ALIAS_EXPONENT: f64 = 40.0;
/// Period P = this × the largest value of f (rounding grows like `e^{σ f_max} = e^{40/4}`
/// at worst; in practice like `E e^{σf}`, which the rounding estimate measures).
const PERIOD_OVER_FMAX: f64 = 4.0;
/// … but at least this fraction of the largest |f| (see [`Fourier::new`]).
const PERIOD_FLOOR: f64 = 0.1;
/// Shorter periods tried below the safe one: `P₀ · PERIOD_SHRINKᵏ`, k ≤ PERIOD_CANDIDATES.
const PERIOD_SHRINK: f64 = 0.75;
const PERIOD_CANDIDATES: usize = 12;
/// Candidates in a row without fewer nodes after which the search stops.
const PERIOD_PATIENCE: usize = 2;
/// Longer periods tried above the safe one, `P₀ / PERIOD_SHRINKᵏ` (k ≤ this), when the
/// estimated rounding at the safe one would exceed [`ROUNDING_SHARE`] of the target.
const PERIOD_LONGER: usize = 8;
/// Share of the target the sum's estimated rounding may take at the chosen period.
const ROUNDING_SHARE: f64 = 0.5;
/// Share of the target the upward aliasing may take (it is added to the reported error).
const ALIAS_SHARE: f64 = 1e-3;
/// Geometric ratio of the majorant's grid (first part), then the coarser ratio.
const GRID_RATIO_FINE: f64 = 1.25;
const GRID_FINE_STEPS: usize = 100;
const GRID_RATIO_COARSE: f64 = 2.0;
const GRID_MAX_STEPS: usize = 420;
/// |s| below which u, w and the u² moment are summed as Taylor series (their closed forms
/// cancel there); 30 terms reach 2³⁰/30! ≈ 4e-24.
const TAYLOR_RADIUS_SQ: f64 = 4.0;
const TAYLOR_TERMS: usize = 30;
/// The phases `e^{i t c}` are recomputed exactly every this many nodes (a multiple of
/// [`LANES`]); in between a block of nodes advances by one multiplication (about 3ε each).
/// (Every 32 nodes measured no faster at n = 80, within the run-to-run noise.)
const RESYNC: usize = 16;
/// Up to this many members the "exactly two active" pairs are always done in closed form.
const PAIRS_ALWAYS: usize = 64;
/// Members with |c| at most this fraction of the largest are left out of the grading when
/// the closed parts allow it (see [`choose_graded`]).
const SMALL_REL: f64 = 1e-4;
/// … and every member when all have |c| at most this fraction of |b|.
const SMALL_BIAS_REL: f64 = 0.1;
/// `k!` for the degrees the closed parts reach (k ≤ 4).
const FACT: [f64; 5] = [1.0, 1.0, 2.0, 6.0, 24.0];
/// Relative rounding of a closed part per unit of its modulus sum (a few roundings per term;
/// pairs: a 3-point rule on up to three pieces of a segment formula, ~20 roundings deep; small
/// members: a Taylor sum of ≤ 4 terms).
const CLOSED_REL: f64 = 32.0 * f64::EPSILON;
/// Share of the target the nested evaluations of a bias within the small members' reach may
/// take (see [`closed_parts_small`]).
const NESTED_SHARE: f64 = 0.25;
/// Nested evaluations go at most this deep (each level has fewer members).
const NESTED_DEPTH: usize = 1;
/// With the bias within the small members' reach, members up to this fraction of the largest
/// count as small (see [`choose_graded`]).
const NESTED_SMALL_REL: f64 = 1e-2;
/// ... and, without nesting, when a member at most this fraction of the largest would stay
/// graded otherwise.
const GRADED_TINY_REL: f64 = 1e-3;
/// The wider choice is considered only with at most this many members above
/// [`NESTED_SMALL_REL`] of the largest (an antipodal pair or a pentagon and little else).
const FEW_LARGE: usize = 6;
/// Relative margin by which a kink must clear the small members' range.
const SMALL_KINK_MARGIN: f64 = 1e-8;
/// With small members, the pairs are done in closed form when every kink of a pair lies this
/// many times farther from 0 than the small members can move f ...
const PAIR_KINK_CLEARANCE: f64 = 2.0;
/// ... and their derivatives in the bias come from a five-point stencil spanning ±2h,
/// h = (distance to the nearest kink) / this (so the stencil stays on one polynomial piece).
const PAIR_STENCIL_SPAN: f64 = 4.0;
/// Above [`PAIRS_ALWAYS`] members, pairs are done in closed form only when exactly two
/// members are active with at least this probability.
const PAIRS_WORTH: f64 = 1e-3;

/// One output's pre-activation `f = b + Σ_j c_j x_j`, and which feature is its own.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    /// The bias b_i.
    pub b: f64,
    /// The coefficients c_j = M_ij (all n).
    pub c: &'a [f64],
    /// The densities p_j (all n).
    pub p: &'a [f64],
    /// The own feature i (the x_i of `E[x_i f₊]`).
    pub own: usize,
}

/// What accuracy to aim for.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// Weight of `E[f₊²]`'s error in the steered combination.
    pub coef_a: f64,
    /// Weight of `E[x_i f₊]`'s error in the steered combination.
    pub coef_xb: f64,
    /// Absolute error target of `coef_a·err(E f₊²) + coef_xb·err(E x_i f₊)`.
    pub target: f64,
    /// Compute the gradient moments too.
    pub gradient: bool,
    /// Absolute error target of each gradient moment (when `gradient`).
    pub grad_target: f64,
    /// Whether the indicator moments (`P(f > 0)`, `E[x_j 1(f>0)]`, `E[x_i x_j 1(f>0)]`,
    /// which converge slowest) are held to `grad_target` too; when false only `E[f₊]` and
    /// `E[x_j f₊]` are, and the indicators' errors are still reported.
    pub steer_indicators: bool,
    /// Most trapezoidal nodes to spend; the error is reported honestly if it is not enough.
    pub max_nodes: usize,
}

/// The moments of one output with their error bounds (absolute).
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// `E[f₊²]`.
    pub a: f64,
    /// `E[x_i f₊]`.
    pub xb: f64,
    /// `E[f₊]`.
    pub ef: f64,
    /// `P(f > 0)`.
    pub pf: f64,
    /// Error bounds of the four values above.
    pub err_a: f64,
    pub err_xb: f64,
    pub err_ef: f64,
    pub err_pf: f64,
    /// Gradient moments, when requested.
    pub grad: Option<GradMoments>,
    /// Trapezoidal nodes used.
    pub nodes: usize,
}

/// Per-feature moments for the gradient (all n features), with error bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct GradMoments {
    /// `E[x_j f₊]`.
    pub xf: Vec<f64>,
    /// `E[x_j 1(f>0)]`.
    pub xh: Vec<f64>,
    /// `E[x_i x_j 1(f>0)]` (for j = i: `E[x_i² 1(f>0)]`).
    pub xxh: Vec<f64>,
    pub err_xf: Vec<f64>,
    pub err_xh: Vec<f64>,
    pub err_xxh: Vec<f64>,
}

/// `∫₀¹ uᵐ (b + c u)₊ᵏ du` for the (k, m) the route needs, each a sum of non-negative terms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Segment {
    /// k = 2, m = 0.
    a2: f64,
    /// k = 1, m = 0.
    a1: f64,
    /// k = 0, m = 0 (fraction of [0,1] where b + cu > 0).
    a0: f64,
    /// k = 1, m = 1.
    u1: f64,
    /// k = 0, m = 1.
    u0: f64,
    /// k = 0, m = 2.
    uu0: f64,
}

/// # Formula
/// With `y₁ = b + c`: no crossing (f ≥ 0 on the whole segment): `(b + c/2)² + c²/12`,
/// `b + c/2`, `b/6 + y₁/3`, ...; crossing with c > 0 (b < 0 < y₁, r = y₁/c, β = −b):
/// `y₁² r/3`, `y₁ r/2`, `r`, `r²(y₁/3 + β/2)`, `r(y₁/2 + β)/c`, `r(1 + β/c + (β/c)²)/3`;
/// crossing with c < 0 (y₁ < 0 < b, v = b/|c|): `b² v/3`, `b v/2`, `v`, `b v²/6`, `v²/2`, `v³/3`.
fn segment(b: f64, c: f64) -> Segment {
    let y1 = b + c;
    let full = (c >= 0.0 && b >= 0.0) || (c < 0.0 && y1 >= 0.0);
    let empty = (c >= 0.0 && (b + c.max(0.0)) <= 0.0) || (c < 0.0 && b <= 0.0);
    if c == 0.0 {
        return if b > 0.0 {
            Segment {
                a2: b * b,
                a1: b,
                a0: 1.0,
                u1: b / 2.0,
                u0: 0.5,
                uu0: 1.0 / 3.0,
            }
        } else {
            Segment::default()
        };
    }
    if empty {
        return Segment::default();
    }
    if full {
        let mean = b + c / 2.0;
        return Segment {
            a2: mean * mean + c * c / 12.0,
            a1: mean,
            a0: 1.0,
            u1: b / 6.0 + y1 / 3.0,
            u0: 0.5,
            uu0: 1.0 / 3.0,
        };
    }
    if c > 0.0 {
        let beta = -b;
        let r = y1 / c;
        let ustar = beta / c;
        Segment {
            a2: y1 * y1 * r / 3.0,
            a1: y1 * r / 2.0,
            a0: r,
            u1: r * r * (y1 / 3.0 + beta / 2.0),
            u0: r * (y1 / 2.0 + beta) / c,
            uu0: r * (1.0 + ustar + ustar * ustar) / 3.0,
        }
    } else {
        let v = b / -c;
        Segment {
            a2: b * b * v / 3.0,
            a1: b * v / 2.0,
            a0: v,
            u1: b * v * v / 6.0,
            u0: v * v / 2.0,
            uu0: v * v * v / 3.0,
        }
    }
}

/// `E[Uᵃ Vᵇ (b + c₁U + c₂V)₊ᵏ]` for U, V independent uniform on [0, 1] (exactly two members
/// active), for the (k, a, b) the route needs. U is the first member, V the second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Pair {
    /// k = 2.
    a2: f64,
    /// k = 1.
    a1: f64,
    /// k = 0.
    a0: f64,
    /// `E[U f₊]`, `E[U 1(f>0)]`, `E[U² 1(f>0)]`.
    u1: f64,
    u0: f64,
    uu0: f64,
    /// `E[V f₊]`, `E[V 1(f>0)]`, `E[V² 1(f>0)]`.
    v1: f64,
    v0: f64,
    vv0: f64,
    /// `E[U V 1(f>0)]`.
    uv0: f64,
}

/// Gauss–Legendre nodes and weights on [0, 1], 3 points: exact for polynomials of degree ≤ 5.
const GL3: [(f64, f64); 3] = [
    (0.112_701_665_379_258_31, 5.0 / 18.0),
    (0.5, 8.0 / 18.0),
    (0.887_298_334_620_741_7, 5.0 / 18.0),
];

/// # Formula
/// `E[Uᵃ Vᵇ g(b + c₁U + c₂V)] = ∫₀¹ uᵃ S(b + c₁u) du` where `S(β) = ∫₀¹ vᵇ g(β + c₂v) dv` is the
/// one-member [`segment`] moment. S is a polynomial of degree ≤ 3 in β on each interval where
/// its case (no crossing, crossing, empty) is fixed, i.e. between the roots of `b + c₁u = 0`
/// and `b + c₁u + c₂ = 0`; times `uᵃ` (a ≤ 2, and a ≤ 1 when S has degree 3) the integrand has
/// degree ≤ 4 there, so 3-point Gauss–Legendre on each of at most three pieces is exact up to
/// rounding, and every term is non-negative (no cancellation).
fn pair(b: f64, c1: f64, c2: f64) -> Pair {
    // f = b + c1 U + c2 V never exceeds 0: every moment is 0 (a quarter of the pairs of a
    // random model, both interference terms negative).
    if b + c1.max(0.0) + c2.max(0.0) <= 0.0 {
        return Pair::default();
    }
    let mut cuts = [0.0, 1.0, 1.0, 1.0];
    let mut nc = 1;
    if c1 != 0.0 {
        for root in [-b / c1, -(b + c2) / c1] {
            if root > 0.0 && root < 1.0 {
                cuts[nc] = root;
                nc += 1;
            }
        }
    }
    cuts[nc] = 1.0;
    if nc == 3 && cuts[1] > cuts[2] {
        cuts.swap(1, 2);
    }
    let mut r = Pair::default();
    for piece in 0..nc {
        let (lo, hi) = (cuts[piece], cuts[piece + 1]);
        let width = hi - lo;
        if width <= 0.0 {
            continue;
        }
        for &(x, wq) in &GL3 {
            let u = lo + width * x;
            let s = segment(b + c1 * u, c2);
            let w = wq * width;
            r.a2 += w * s.a2;
            r.a1 += w * s.a1;
            r.a0 += w * s.a0;
            r.u1 += w * u * s.a1;
            r.u0 += w * u * s.a0;
            r.uu0 += w * u * u * s.a0;
            r.v1 += w * s.u1;
            r.v0 += w * s.u0;
            r.vv0 += w * s.uu0;
            r.uv0 += w * u * s.u0;
        }
    }
    r
}

/// Whether to take "exactly two members active" out of the Fourier part in closed form: always,
/// unless that event is so unlikely that its O(members²) pairs cost more than they save.
///
/// The pairs make the Fourier remainder decay one power of t faster (fewer nodes), but cost
/// O(members²), as much as the Fourier sum itself at n = 400. When two active at once is rare
/// (n = 400, density 0.05: 3e-7) the remainder converges as fast without them (measured:
/// 140–240 nodes either way), so they are left in the sum.
fn split_pairs(out: &Output, members: &[usize], qs: &[f64]) -> bool {
    let nm = members.len();
    if nm < 2 {
        return false;
    }
    if nm <= PAIRS_ALWAYS {
        return true;
    }
    // P(exactly two) ≤ (Σ p/q)²/2 · Π q, computed without dividing by a zero q.
    let zero_q = qs.iter().filter(|&&q| q == 0.0).count();
    if zero_q > 2 {
        return false;
    }
    let prod: f64 = qs.iter().filter(|&&q| q > 0.0).product();
    let ratio: f64 = members
        .iter()
        .zip(qs)
        .filter(|(_, &q)| q > 0.0)
        .map(|(&j, &q)| out.p[j] / q)
        .sum();
    let p2 = if zero_q == 0 {
        0.5 * ratio * ratio * prod
    } else {
        (1.0 + ratio * ratio) * prod
    };
    p2 > PAIRS_WORTH
}

/// `u(s) = ∫₀¹ e^{su} du`, `w(s) = ∫₀¹ u e^{su} du`, `v(s) = ∫₀¹ u² e^{su} du`.
#[inline]
fn uwv(s: C) -> (C, C, C) {
    if s.norm_sqr() <= TAYLOR_RADIUS_SQ {
        // Horner in s on Σ sᵐ/m! · (1/(m+1), 1/(m+2), 1/(m+3)), coefficients tabulated.
        let t = &*TAYLOR;
        let terms = taylor_terms(s.norm_sqr());
        let (mut u, mut w, mut v) = (C::new(0.0, 0.0), C::new(0.0, 0.0), C::new(0.0, 0.0));
        for m in (0..terms).rev() {
            u = u * s + t[m][0];
            w = w * s + t[m][1];
            v = v * s + t[m][2];
        }
        (u, w, v)
    } else {
        let e = s.exp();
        let inv = 1.0 / s;
        let u = (e - 1.0) * inv;
        let w = (e * (s - 1.0) + 1.0) * inv * inv;
        let v = (e * (s * s - 2.0 * s + 2.0) - 2.0) * inv * inv * inv;
        (u, w, v)
    }
}

/// Terms needed for `|s|^N/N! < 2.5e-18` at `|s|² = r2` (small members: few terms).
#[inline(always)]
fn taylor_terms(r2: f64) -> usize {
    TAYLOR_TERMS_BY_RADIUS
        .iter()
        .rev()
        .find(|&&(r2_max, _)| r2 <= r2_max)
        .map_or(TAYLOR_TERMS, |&(_, n)| n)
}

/// The first `K` of [`uwv`]'s series in every lane at once, with as many terms as the largest
/// `|s|²` among the lanes `inside` selects needs (the other lanes' values are discarded).
#[inline(always)]
fn taylor_lanes<const K: usize>(s: Lanes, r2: Real, inside: [bool; LANES]) -> [Lanes; K] {
    let t = &*TAYLOR;
    let terms = (0..LANES)
        .filter(|&l| inside[l])
        .map(|l| taylor_terms(r2[l]))
        .max()
        .unwrap_or(0);
    let mut acc = [Lanes::splat(C::new(0.0, 0.0)); K];
    for m in (0..terms).rev() {
        for (r, a) in acc.iter_mut().enumerate() {
            *a = *a * s + t[m][r];
        }
    }
    acc
}

/// Which lanes lie within the Taylor radius at `|z|² = zz`, `c² = c2`, and whether any does.
#[inline(always)]
fn inside_taylor(zz: Real, c2: f64) -> ([bool; LANES], Real, bool) {
    let mut inside = [false; LANES];
    let mut r2 = [0.0; LANES];
    for l in 0..LANES {
        r2[l] = zz[l] * c2;
        inside[l] = r2[l] <= TAYLOR_RADIUS_SQ;
    }
    (inside, r2, inside.iter().any(|&b| b))
}

/// (largest |s|², terms): `|s|^N/N! < 2.5e-18` within that radius.
const TAYLOR_TERMS_BY_RADIUS: [(f64, usize); 12] = [
    (4.0, 25),
    (1.0, 20),
    (0.25, 16),
    (0.0625, 13),
    (0.015625, 12),
    (0.00390625, 10),
    (9.765625e-4, 9),
    (2.44140625e-4, 8),
    (6.103515625e-5, 7),
    (3.814697265625e-6, 6),
    (2.384185791015625e-7, 5),
    (1.4551915228366852e-11, 4),
];

/// `1/(m! (m + 1 + r))` for r = 0, 1, 2: the Taylor coefficients of u, w, v.
static TAYLOR: std::sync::LazyLock<[[f64; 3]; TAYLOR_TERMS]> = std::sync::LazyLock::new(|| {
    let mut t = [[0.0; 3]; TAYLOR_TERMS];
    let mut inv_fact = 1.0;
    for (m, row) in t.iter_mut().enumerate() {
        if m > 0 {
            inv_fact /= m as f64;
        }
        for (r, v) in row.iter_mut().enumerate() {
            *v = inv_fact / (m + 1 + r) as f64;
        }
    }
    t
});

/// The first `K` of [`uwv`]'s `(u, w, v)` at `s = z c` in every lane, with `e = e^s` supplied
/// (from the rotation recurrence of the node loop), `zz = |z|²`, `z1 = 1/z`, `c2 = c²` and
/// `inv_c = 1/c`: no complex division per member. Lanes within the Taylor radius take
/// [`uwv`]'s series instead ([`taylor_lanes`]). The loss needs u of every member, the
/// gradient also w, and the own member v.
///
/// # Formula
/// Integrating by parts, `u = (e − 1)/s`, `w = (e − u)/s`, `v = (e − 2w)/s`; beyond the
/// Taylor radius (`|s| > 2`) each step loses at most a factor ~2 to cancellation, as the
/// closed expressions `(e(s − 1) + 1)/s²`, … do.
#[inline(always)]
fn factors_lanes<const K: usize>(
    z: Lanes,
    zz: Real,
    z1: Lanes,
    (c, c2, inv_c): (f64, f64, f64),
    e: Lanes,
) -> [Lanes; K] {
    let inv = z1 * inv_c;
    let mut out = [Lanes::splat(C::new(0.0, 0.0)); K];
    for r in 0..K {
        // (e − r·previous)/s, with e − 1 for u.
        out[r] = if r == 0 {
            (e - 1.0) * inv
        } else {
            (e - out[r - 1] * r as f64) * inv
        };
    }
    let (inside, r2, any) = inside_taylor(zz, c2);
    if any {
        let series = taylor_lanes::<K>(z * c, r2, inside);
        for l in (0..LANES).filter(|&l| inside[l]) {
            for (o, t) in out.iter_mut().zip(&series) {
                o.set(l, t.lane(l));
            }
        }
    }
    out
}

/// A generating function graded by the number of active members: none, exactly one, exactly
/// two, three or more ("three or more" absorbs).
#[derive(Debug, Clone, Copy)]
struct Graded<T> {
    g0: T,
    g1: T,
    g2: T,
    g3: T,
}

impl<T> Graded<T>
where
    T: Copy + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
{
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        let o23 = o.g2 + o.g3;
        let o123 = o.g1 + o23;
        Graded {
            g0: self.g0 * o.g0,
            g1: self.g0 * o.g1 + self.g1 * o.g0,
            g2: self.g0 * o.g2 + self.g1 * o.g1 + self.g2 * o.g0,
            g3: self.g0 * o.g3 + self.g1 * o23 + self.g2 * o123 + self.g3 * (o.g0 + o123),
        }
    }

    /// Times a member's factor `(q, pu, 0, 0)`.
    #[inline(always)]
    fn times_factor(self, q: T, pu: T) -> Self {
        Graded {
            g0: self.g0 * q,
            g1: self.g0 * pu + self.g1 * q,
            g2: self.g1 * pu + self.g2 * q,
            g3: self.g2 * pu + self.g3 * (q + pu),
        }
    }

    /// `(self · o).at_least(level)` without forming the product (`level` ≤ 3):
    /// `Σ_{i<level} A_i B_{≥level−i} + A_{≥level} B_{≥0}`, `level` + 1 multiplications.
    #[inline(always)]
    fn product_at_least(self, o: Self, level: usize) -> T {
        let all = o.at_least(0);
        match level {
            0 => self.at_least(0) * all,
            1 => self.g0 * o.at_least(1) + self.at_least(1) * all,
            2 => self.g0 * o.at_least(2) + self.g1 * o.at_least(1) + self.at_least(2) * all,
            _ => self.g0 * o.g3 + self.g1 * o.at_least(2) + self.g2 * o.at_least(1) + self.g3 * all,
        }
    }

    /// The part with at least `level` active members (`level` ≤ 3).
    #[inline(always)]
    fn at_least(self, level: usize) -> T {
        match level {
            0 => self.g0 + self.g1 + self.g2 + self.g3,
            1 => self.g1 + self.g2 + self.g3,
            2 => self.g2 + self.g3,
            _ => self.g3,
        }
    }
}

impl<T> Graded<T>
where
    T: Copy + std::ops::Mul<Output = T>,
{
    /// Times an ungraded member's factor: every level keeps its count.
    #[inline(always)]
    fn scaled(self, f: T) -> Self {
        Graded {
            g0: self.g0 * f,
            g1: self.g1 * f,
            g2: self.g2 * f,
            g3: self.g3 * f,
        }
    }
}

impl Graded<f64> {
    /// Times a member's majorant factor (q, bound of p|u|), graded or not.
    #[inline]
    fn times_member(self, m: &Member, pu: f64) -> Self {
        if m.graded {
            self.times_factor(m.q, pu)
        } else {
            self.scaled(m.q + pu)
        }
    }
}

impl Graded<Lanes> {
    /// Times a member's factor `q + p u` in every lane, graded or not.
    #[inline(always)]
    fn times_member(self, m: &Member, pu: Lanes) -> Self {
        if m.graded {
            Graded {
                g0: self.g0 * m.q,
                g1: self.g0 * pu + self.g1 * m.q,
                g2: self.g1 * pu + self.g2 * m.q,
                g3: self.g2 * pu + self.g3 * m.q + self.g3 * pu,
            }
        } else {
            self.scaled(pu + m.q)
        }
    }
}

fn one_lanes() -> Graded<Lanes> {
    let z = Lanes::splat(C::new(0.0, 0.0));
    Graded {
        g0: Lanes::splat(C::new(1.0, 0.0)),
        g1: z,
        g2: z,
        g3: z,
    }
}

impl Graded<Reals> {
    /// Times a member's majorant factor (q, bound of p|u|) at every lane's height.
    #[inline(always)]
    fn times_member(self, m: &Member, pu: Reals) -> Self {
        if m.graded {
            self.times_factor(Reals::splat(m.q), pu)
        } else {
            self.scaled(Reals::splat(m.q) + pu)
        }
    }

    /// Lane l's graded value.
    #[inline(always)]
    fn lane(&self, l: usize) -> Graded<f64> {
        Graded {
            g0: self.g0.0[l],
            g1: self.g1.0[l],
            g2: self.g2.0[l],
            g3: self.g3.0[l],
        }
    }
}

fn one_r() -> Graded<f64> {
    Graded {
        g0: 1.0,
        g1: 0.0,
        g2: 0.0,
        g3: 0.0,
    }
}

/// A member: a feature that moves f.
#[derive(Debug, Clone, Copy)]
struct Member {
    c: f64,
    p: f64,
    q: f64,
    /// `e^{σc}`, `u(σc)`, `w(σc)`, `v(σc)`: the factors' largest moduli on the line.
    e: f64,
    u_max: f64,
    w_max: f64,
    v_max: f64,
    /// `1/|c|`, `e/|c|` and `(1 + e)/|c|`: the majorants without a division per height.
    inv_abs_c: f64,
    e_over_c: f64,
    e1_over_c: f64,
    /// Counted in the grading by active members (see [`choose_graded`]); an ungraded (small)
    /// member's factor multiplies every level.
    graded: bool,
}

impl Member {
    /// Majorants of `p|u|`, `p|w|`, `p|v|` at height t (`inv_t = 1/t`).
    #[inline]
    fn bounds(&self, inv_t: f64) -> (f64, f64, f64) {
        let inv_ct = self.inv_abs_c * inv_t;
        let bu = (self.u_max).min(self.e1_over_c * inv_t);
        let bw = (self.w_max).min(self.e_over_c * inv_t + self.e1_over_c * inv_t * inv_ct);
        let bv = (self.v_max).min(self.e_over_c * inv_t + 2.0 * bw * inv_ct);
        (self.p * bu, self.p * bw, self.p * bv)
    }

    /// [`Member::bounds`] at [`LANES`] heights.
    #[inline(always)]
    fn bounds_lanes(&self, inv_t: Real) -> [Reals; 3] {
        let mut out = [Reals::splat(0.0); 3];
        for (l, &it) in inv_t.iter().enumerate() {
            let (u, w, v) = self.bounds(it);
            out[0].0[l] = u;
            out[1].0[l] = w;
            out[2].0[l] = v;
        }
        out
    }

    /// Height beyond which all three majorants are in their decaying (∝ 1/t or faster) branch.
    fn decay_start(&self) -> f64 {
        let c = self.c.abs();
        let tu = (1.0 + self.e) / (c * self.u_max);
        let tw =
            (2.0 * self.e / (c * self.w_max)).max((2.0 * (1.0 + self.e) / self.w_max).sqrt() / c);
        let tv = 2.0 * (self.e + 2.0 * self.w_max) / (c * self.v_max);
        tu.max(tw).max(tv)
    }
}

/// The parts of the moments done in closed form, with what their rounding scales with.
#[derive(Debug, Clone, Default)]
struct Closed {
    a: f64,
    ef: f64,
    pf: f64,
    /// Per member: `E[x_j f₊]`, `E[x_j 1(f>0)]`, `E[x_i x_j 1(f>0)]` (j ≠ own).
    xf_m: Vec<f64>,
    xh_m: Vec<f64>,
    xxh_m: Vec<f64>,
    /// `E[x_i² 1(f>0)]` for the own member.
    xxh_own: f64,
    /// The same sums with every term's modulus (the rounding scale).
    abs: [f64; 4],
    abs_xf_m: Vec<f64>,
    abs_xh_m: Vec<f64>,
    abs_xxh_m: Vec<f64>,
    /// Trapezoidal nodes spent by nested evaluations.
    nodes: usize,
    /// The fewest graded members active in the Fourier part.
    start: usize,
}

impl Closed {
    /// Adds `w · value` to member j's `E[x_j f₊]` and `w · modulus` to its rounding scale.
    fn add_xf(&mut self, j: usize, w: f64, (v, a): (f64, f64)) {
        self.xf_m[j] += w * v;
        self.abs_xf_m[j] += w * a;
    }

    /// The same for `E[x_j 1(f>0)]`.
    fn add_xh(&mut self, j: usize, w: f64, (v, a): (f64, f64)) {
        self.xh_m[j] += w * v;
        self.abs_xh_m[j] += w * a;
    }

    /// The same for `E[x_i x_j 1(f>0)]`.
    fn add_xxh(&mut self, j: usize, w: f64, (v, a): (f64, f64)) {
        self.xxh_m[j] += w * v;
        self.abs_xxh_m[j] += w * a;
    }
}

/// None, exactly one and (when worth it) exactly two members active, every member graded:
/// sums of non-negative terms.
fn closed_parts(out: &Output, members_idx: &[usize], own_pos: Option<usize>) -> Closed {
    let b = out.b;
    // ---- closed parts: no member active, exactly one active ----
    let nm = members_idx.len();
    let qs: Vec<f64> = members_idx.iter().map(|&j| 1.0 - out.p[j]).collect();
    let mut pre = vec![1.0; nm + 1];
    for k in 0..nm {
        pre[k + 1] = pre[k] * qs[k];
    }
    let mut suf = vec![1.0; nm + 1];
    for k in (0..nm).rev() {
        suf[k] = suf[k + 1] * qs[k];
    }
    let q0 = pre[nm];
    let bp = b.max(0.0);
    let mut a = q0 * bp * bp;
    let mut ef = q0 * bp;
    let mut pf = if b > 0.0 { q0 } else { 0.0 };
    // Per member: closed E[x_j f₊], E[x_j 1(f>0)], and for the own member E[x_i² 1(f>0)].
    let mut xf_m = vec![0.0; nm];
    let mut xh_m = vec![0.0; nm];
    let mut xxh_own = 0.0;
    for (k, &j) in members_idx.iter().enumerate() {
        let weight = out.p[j] * pre[k] * suf[k + 1];
        let s = segment(b, out.c[j]);
        a += weight * s.a2;
        ef += weight * s.a1;
        pf += weight * s.a0;
        xf_m[k] = weight * s.u1;
        xh_m[k] = weight * s.u0;
        if Some(k) == own_pos {
            xxh_own = weight * s.uu0;
        }
    }
    // Member-to-member E[x_i x_j 1(f>0)], j ≠ i: only two or more active.
    let mut xxh_m = vec![0.0; nm];
    // ---- closed part: exactly two members active (when worth it, see `split_pairs`) ----
    let start = if split_pairs(out, members_idx, &qs) {
        for ka in 0..nm {
            let ja = members_idx[ka];
            // Π of q over the members strictly between ka and kb, kept as a running product
            // (no division: some q may be 0).
            let mut mid = 1.0;
            for kb in ka + 1..nm {
                let jb = members_idx[kb];
                let weight = out.p[ja] * out.p[jb] * pre[ka] * mid * suf[kb + 1];
                mid *= qs[kb];
                if weight == 0.0 {
                    continue;
                }
                let pm = pair(b, out.c[ja], out.c[jb]);
                a += weight * pm.a2;
                ef += weight * pm.a1;
                pf += weight * pm.a0;
                xf_m[ka] += weight * pm.u1;
                xh_m[ka] += weight * pm.u0;
                xf_m[kb] += weight * pm.v1;
                xh_m[kb] += weight * pm.v0;
                if Some(ka) == own_pos {
                    xxh_own += weight * pm.uu0;
                    xxh_m[kb] += weight * pm.uv0;
                } else if Some(kb) == own_pos {
                    xxh_own += weight * pm.vv0;
                    xxh_m[ka] += weight * pm.uv0;
                }
            }
        }
        3
    } else {
        2
    };
    Closed {
        abs: [a, ef, pf, xxh_own],
        abs_xf_m: xf_m.clone(),
        abs_xh_m: xh_m.clone(),
        abs_xxh_m: xxh_m.clone(),
        a,
        ef,
        pf,
        xf_m,
        xh_m,
        xxh_m,
        xxh_own,
        start,
        ..Closed::default()
    }
}

/// Which members count in the grading. Members much smaller than the largest (|c| ≤
/// [`SMALL_REL`] · max|c|) are left ungraded when possible: graded, such a member's factor
/// `u(zc)` does not decay before `t ~ 1/|c|`, so every configuration with it active decays like
/// one with a member fewer and the sum needs orders of magnitude more nodes (dead features'
/// near-zero columns in trained models and minimiser iterates). Ungraded members are summed
/// exactly in the Fourier part and by an exact Taylor expansion in the closed parts
/// ([`closed_parts_small`]), which needs every kink of those parts (`b`, `b + c_l` for graded
/// l) farther from 0 than the small members can move f: the largest set of the smallest
/// members that allows it, then every further candidate that still allows it. With
/// `nested_ok` the bias's own kink may stay within reach (the second value is then true: its
/// parts are nested evaluations, see [`closed_parts_small`]).
fn choose_graded(out: &Output, members: &[usize], nested_ok: bool) -> (Vec<bool>, bool) {
    let cmax = members.iter().map(|&j| out.c[j].abs()).fold(0.0, f64::max);
    let chosen = choose_graded_within(out, members, nested_ok, SMALL_REL * cmax);
    let graded_below =
        |rel: f64| (0..members.len()).any(|k| chosen.0[k] && out.c[members[k]].abs() <= rel * cmax);
    let large = (0..members.len())
        .filter(|&k| out.c[members[k]].abs() > NESTED_SMALL_REL * cmax)
        .count();
    if nested_ok && large <= FEW_LARGE && (chosen.1 || graded_below(NESTED_SMALL_REL)) {
        // Few larger members (an antipodal pair or a polygon and little else) and members far
        // below them left graded (each costs ~1/|c| of t), or the bias within reach anyway:
        // with the bias's parts as nested evaluations on the small scale, members up to
        // NESTED_SMALL_REL of the largest go there instead. When that does not nest, only if
        // some graded member is tiny (≤ GRADED_TINY_REL). With many larger members their
        // factors make the sum decay anyway, and the wider reach only costs pairs and nested
        // sums ((20, 5) with random unit columns: 21 -> 33 ms; (400, 30): 2.3 -> 2.7 s).
        let wider = choose_graded_within(out, members, nested_ok, NESTED_SMALL_REL * cmax);
        if wider.1 || graded_below(GRADED_TINY_REL) {
            return wider;
        }
    }
    chosen
}

/// [`choose_graded`] with members up to `small` (absolute) as the candidates.
fn choose_graded_within(
    out: &Output,
    members: &[usize],
    nested_ok: bool,
    small: f64,
) -> (Vec<bool>, bool) {
    // Small relative to the largest coefficient, or to the bias (a dead feature's own output,
    // b ≈ p/2 and every coefficient tiny, is then a polynomial in all of them).
    let cmax = members.iter().map(|&j| out.c[j].abs()).fold(0.0, f64::max);
    let limit = if cmax <= SMALL_BIAS_REL * out.b.abs() {
        cmax
    } else {
        small
    };
    let mut order: Vec<usize> = (0..members.len())
        .filter(|&k| out.c[members[k]].abs() <= limit)
        .collect();
    order.sort_by(|&x, &y| out.c[members[x]].abs().total_cmp(&out.c[members[y]].abs()));
    let clear = |y: f64, lo: f64, hi: f64| {
        // y + ε stays on one side of 0 for ε ∈ [−lo, hi], with a margin for rounding.
        let margin = SMALL_KINK_MARGIN * (y.abs() + lo + hi);
        y - lo > margin || y + hi < -margin
    };
    let feasible = |graded: &[bool]| {
        let (lo, hi) = ungraded_reach(out, members, graded);
        // The bias itself may lie within reach while some member stays graded: the parts
        // with that kink are then nested evaluations on the small scale.
        (clear(out.b, lo, hi) || (nested_ok && graded.iter().any(|&g| g)))
            && (0..members.len())
                .filter(|&k| graded[k])
                .all(|k| clear(out.b + out.c[members[k]], lo, hi))
    };
    let mut graded = vec![true; members.len()];
    for len in (1..=order.len()).rev() {
        let mut g = vec![true; members.len()];
        for &k in &order[..len] {
            g[k] = false;
        }
        if feasible(&g) {
            graded = g;
            break;
        }
    }
    // Then every further candidate that keeps the kinks clear (with b > 0, say, the positive
    // ones never bring f nearer 0 from the none-active kink).
    for &k in &order {
        if graded[k] {
            graded[k] = false;
            if !feasible(&graded) {
                graded[k] = true;
            }
        }
    }
    let (lo, hi) = ungraded_reach(out, members, &graded);
    let within = graded.iter().any(|&g| !g) && !clear(out.b, lo, hi);
    (graded, within)
}

/// How far the ungraded members can move f: `(lo, hi)` with `Σ c x ∈ [−lo, hi]`.
fn ungraded_reach(out: &Output, members: &[usize], graded: &[bool]) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0, 0.0);
    for (k, &j) in members.iter().enumerate() {
        if !graded[k] {
            hi += out.c[j].max(0.0);
            lo += (-out.c[j]).max(0.0);
        }
    }
    (lo, hi)
}

/// Raw moments `E[εʳ]`, r = 0…4, of a sum of independent terms with the given cumulants.
fn raw_moments(k: [f64; 4]) -> [f64; 5] {
    let k1sq = k[0] * k[0];
    [
        1.0,
        k[0],
        k[1] + k1sq,
        k[2] + 3.0 * k[1] * k[0] + k1sq * k[0],
        k[3] + 4.0 * k[2] * k[0] + 3.0 * k[1] * k[1] + 6.0 * k[1] * k1sq + k1sq * k1sq,
    ]
}

/// Cumulants κ₁ … κ₄ of `c x`, x = 0 w.p. 1 − p, else uniform on [0, 1].
fn term_cumulants(c: f64, p: f64) -> [f64; 4] {
    let m1 = c * p / 2.0;
    let m2 = c * c * p / 3.0;
    let m3 = c * c * c * p / 4.0;
    let m4 = c * c * c * c * p / 5.0;
    let m1sq = m1 * m1;
    [
        m1,
        m2 - m1sq,
        m3 - 3.0 * m2 * m1 + 2.0 * m1sq * m1,
        m4 - 4.0 * m3 * m1 - 3.0 * m2 * m2 + 12.0 * m2 * m1sq - 6.0 * m1sq * m1sq,
    ]
}

/// `E[xᵗ]` for x = 0 w.p. 1 − p, else uniform on [0, 1].
fn x_power(p: f64, t: usize) -> f64 {
    if t == 0 {
        1.0
    } else {
        p / (t + 1) as f64
    }
}

/// `Σ_r d[r] m[r] / r!` and the same with moduli.
fn taylor(d: &[f64], m: &[f64; 5]) -> (f64, f64) {
    const INV_FACT: [f64; 5] = [1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0];
    let mut v = 0.0;
    let mut a = 0.0;
    for (r, dr) in d.iter().enumerate() {
        let t = dr * m[r] * INV_FACT[r];
        v += t;
        a += t.abs();
    }
    (v, a)
}

/// Derivatives in the bias shift y, at y = 0, of `S(y) = ∫₀¹ uᵃ (b + y + c u)₊ᵏ du` (one
/// member active), r = 0 … k + a + 1 (S is a polynomial of that degree between its kinks).
///
/// # Formula
/// `S⁽ʳ⁾ = k!/(k−r)! ∫ uᵃ (b + y + cu)₊^{k−r} du` for r ≤ k (the segment formulas);
/// `S^{(k+1+s)} = k! · a!/(a−s)! · u*^{a−s} (−1/c)ˢ / |c|` with `u* = −b/c` when
/// `0 < u* < 1` (the density of b + cU at 0 and its derivatives), else 0.
fn one_member_derivatives(seg: &Segment, b: f64, c: f64, k: usize, a: usize) -> [f64; 4] {
    let m = |kk: usize| match (kk, a) {
        (0, 0) => seg.a0,
        (1, 0) => seg.a1,
        (2, 0) => seg.a2,
        (0, 1) => seg.u0,
        (1, 1) => seg.u1,
        (0, 2) => seg.uu0,
        _ => unreachable!("moment (k = {kk}, a = {a}) is not needed"),
    };
    let mut d = [0.0; 4];
    for (r, dr) in d.iter_mut().enumerate().take(k + 1) {
        *dr = FACT[k] / FACT[k - r] * m(k - r);
    }
    let ustar = -b / c;
    if ustar > 0.0 && ustar < 1.0 {
        for s in 0..=a {
            let r = k + 1 + s;
            if r < 4 {
                d[r] = FACT[k] * FACT[a] / FACT[a - s]
                    * ustar.powi((a - s) as i32)
                    * (-1.0 / c).powi(s as i32)
                    / c.abs();
            }
        }
    }
    d
}

/// Closed parts when some members are ungraded ([`choose_graded`]): none, exactly one and
/// (when every kink of every pair clears the small members' range by
/// [`PAIR_KINK_CLEARANCE`], and the own member is graded) exactly two *graded* members
/// active, the small members arbitrary.
///
/// # Formula
/// With ε the small members' sum, each closed part is `E[X S(ε)]` for a function S of the
/// bias shift that is a polynomial of degree ≤ 3 on the range of ε (no kink there, by the
/// choice of the small members): `(b + y)₊ᵏ` for none active, the one-member moments of
/// [`one_member_derivatives`] for one. So `E[X S(ε)] = Σ_r S⁽ʳ⁾(0) E[X εʳ]/r!` exactly, with
/// `E[X εʳ]` (X = 1, x_j, x_i², x_i x_j over small members) from the cumulants of the
/// independent terms. Every graded member's x is 0 unless it is the active one. Two active:
/// the [`pair`] moments are polynomials of degree ≤ 4 in the bias between their kinks
/// (`b`, `b + c_l`, `b + c_l'`, `b + c_l + c_l'`), so [`stencil_derivatives`] at a step of a
/// quarter of the distance to the nearest kink gives their derivatives exactly (up to
/// rounding, which the stencil's moduli carry into the error).
fn closed_parts_small(
    out: &Output,
    members: &[usize],
    graded: &[bool],
    own_pos: Option<usize>,
    nested: Option<Nested>,
) -> Result<Closed> {
    let nm = members.len();
    let b = out.b;
    let c = |k: usize| out.c[members[k]];
    let p = |k: usize| out.p[members[k]];
    let small: Vec<usize> = (0..nm).filter(|&k| !graded[k]).collect();
    let big: Vec<usize> = (0..nm).filter(|&k| graded[k]).collect();
    let mut cl = Closed {
        xf_m: vec![0.0; nm],
        xh_m: vec![0.0; nm],
        xxh_m: vec![0.0; nm],
        abs_xf_m: vec![0.0; nm],
        abs_xh_m: vec![0.0; nm],
        abs_xxh_m: vec![0.0; nm],
        start: 2,
        ..Closed::default()
    };
    // Moments of ε and of ε with one small member's x factored out.
    let cum: Vec<[f64; 4]> = (0..nm).map(|k| term_cumulants(c(k), p(k))).collect();
    let total = small.iter().fold([0.0; 4], |acc, &k| {
        [
            acc[0] + cum[k][0],
            acc[1] + cum[k][1],
            acc[2] + cum[k][2],
            acc[3] + cum[k][3],
        ]
    });
    let without = |ks: &[usize]| {
        let mut t = [0.0; 4];
        for &s in &small {
            if !ks.contains(&s) {
                for r in 0..4 {
                    t[r] += cum[s][r];
                }
            }
        }
        raw_moments(t)
    };
    let mom = raw_moments(total);
    // E[x_j^t εʳ] = Σ_s C(r, s) c_jˢ E[x_j^{t+s}] E[ε_{−j}^{r−s}].
    let with_x = |j: usize, t: usize| -> [f64; 5] {
        let rest = without(&[j]);
        let binom = [
            [1.0, 0.0, 0.0, 0.0, 0.0],
            [1.0, 1.0, 0.0, 0.0, 0.0],
            [1.0, 2.0, 1.0, 0.0, 0.0],
            [1.0, 3.0, 3.0, 1.0, 0.0],
            [1.0, 4.0, 6.0, 4.0, 1.0],
        ];
        let mut m = [0.0; 5];
        for r in 0..5 {
            for s in 0..=r {
                m[r] += binom[r][s] * c(j).powi(s as i32) * x_power(p(j), t + s) * rest[r - s];
            }
        }
        m
    };
    let mom_x: Vec<[f64; 5]> = (0..nm)
        .map(|k| if graded[k] { [0.0; 5] } else { with_x(k, 1) })
        .collect();
    let own_small = own_pos.filter(|&i| !graded[i]);
    let mom_ii = own_small.map(|i| with_x(i, 2));
    // E[x_i x_j εʳ], r ≤ 1 (only indicator moments need it).
    let mom_ij = |i: usize, j: usize| -> [f64; 5] {
        let rest = without(&[i, j]);
        let (ei, ej) = (p(i) / 2.0, p(j) / 2.0);
        [
            ei * ej,
            c(i) * x_power(p(i), 2) * ej + c(j) * ei * x_power(p(j), 2) + ei * ej * rest[1],
            0.0,
            0.0,
            0.0,
        ]
    };
    let add = |v: &mut f64, a: &mut f64, w: f64, (tv, ta): (f64, f64)| {
        *v += w * tv;
        *a += w * ta;
    };
    // Π q over the graded members, and with one left out (prefix/suffix: no division by q).
    let nb = big.len();
    let mut pre = vec![1.0; nb + 1];
    for (t, &k) in big.iter().enumerate() {
        pre[t + 1] = pre[t] * (1.0 - p(k));
    }
    let mut suf = vec![1.0; nb + 1];
    for t in (0..nb).rev() {
        suf[t] = suf[t + 1] * (1.0 - p(big[t]));
    }
    let mut abs = [0.0; 4];
    let own_x = own_small.map(|i| mom_x[i]);
    // The moments of ε weighted by each factor X the parts need.
    let mom_of = |x: X| -> [f64; 5] {
        match x {
            X::One => mom,
            X::Small(j) => mom_x[j],
            X::Own => own_x.expect("own member is small"),
            X::OwnSq => mom_ii.expect("own member is small"),
            X::OwnSmall(j) => mom_ij(own_small.expect("own member is small"), j),
        }
    };
    // With the bias within the small members' reach: `E[X (σ(b + ε))₊ᵈ]` for σ = ±1 through
    // nested evaluations (see [`Truncated`]); nested errors enter as moduli / CLOSED_REL.
    let (reach_lo, reach_hi) = ungraded_reach(out, members, graded);
    let truncated: Option<Powers> = match &nested {
        Some(ns) => {
            // The loss's moments weigh a truncated power's error by `d c_v β |c_l|^{−(a+1)}`:
            // `c_v / |c_l|` for E[f₊²], and `c_v / (2 c_l²)` more for E[x_i f₊] with l own.
            let c_v = 2.0 * (b.abs() + reach_lo + reach_hi);
            let amp: f64 = 1.0
                + big
                    .iter()
                    .map(|&l| {
                        let cl_abs = c(l).abs();
                        let own = if own_pos == Some(l) {
                            1.0 / (2.0 * cl_abs)
                        } else {
                            0.0
                        };
                        p(l) * c_v / cl_abs * (1.0 + own)
                    })
                    .sum::<f64>();
            // The steered combination weighs E[f₊²] and E[x_i f₊] by coef_a and coef_xb.
            let weight = ns.req.coef_a.max(ns.req.coef_xb).max(f64::MIN_POSITIVE);
            let target = NESTED_SHARE * ns.req.target / (weight * amp);
            // The gradient's moments of the loss's order (E[f₊], E[x_j f₊]) to the same target
            // when a gradient is asked for (the closed parts use them whatever is asked).
            let grad_target = if ns.req.gradient {
                target.min(NESTED_SHARE * ns.req.grad_target / amp)
            } else {
                f64::INFINITY
            };
            // The indicator moments matter to the ReLU gradient only through x_i (E[x_i 1(f>0)],
            // E[x_i x_j 1(f>0)]), which vanish on these parts while the own member is graded.
            let indicators = own_pos.is_none_or(|k| !graded[k]);
            let inner = |virtual_c: Option<f64>| {
                let targets = (target, grad_target, indicators);
                Truncated::evaluate(out, members, &small, virtual_c, targets, ns)
            };
            let direct = inner(None)?;
            let augmented = inner(Some(c_v))?;
            cl.nodes = direct.m.nodes + augmented.m.nodes;
            Some(Powers {
                direct,
                augmented,
                c_v,
                b,
            })
        }
        None => None,
    };
    // ---- no graded member active: S(y) = (b + y)₊ᵏ, a polynomial on the range ----
    let w0 = pre[nb];
    if let (Some(tp), true) = (&truncated, w0 > 0.0) {
        // `E[X (b + ε)₊ᵏ]`, k = 2, 1, 0: the nested moments themselves.
        let v = |k: usize, x: X| tp.direct.plain(k, x);
        add(&mut cl.a, &mut abs[0], w0, v(2, X::One));
        add(&mut cl.ef, &mut abs[1], w0, v(1, X::One));
        add(&mut cl.pf, &mut abs[2], w0, v(0, X::One));
        for &j in &small {
            cl.add_xf(j, w0, v(1, X::Small(j)));
            cl.add_xh(j, w0, v(0, X::Small(j)));
        }
        if let Some(i) = own_small {
            add(&mut cl.xxh_own, &mut abs[3], w0, v(0, X::OwnSq));
            for &j in small.iter().filter(|&&j| j != i) {
                cl.add_xxh(j, w0, v(0, X::OwnSmall(j)));
            }
        }
    } else if b > 0.0 && w0 > 0.0 {
        let d = |k: usize| -> [f64; 4] {
            match k {
                0 => [1.0, 0.0, 0.0, 0.0],
                1 => [b, 1.0, 0.0, 0.0],
                _ => [b * b, 2.0 * b, 2.0, 0.0],
            }
        };
        add(&mut cl.a, &mut abs[0], w0, taylor(&d(2), &mom));
        add(&mut cl.ef, &mut abs[1], w0, taylor(&d(1), &mom));
        add(&mut cl.pf, &mut abs[2], w0, taylor(&d(0), &mom));
        for &j in &small {
            cl.add_xf(j, w0, taylor(&d(1), &mom_x[j]));
            cl.add_xh(j, w0, taylor(&d(0), &mom_x[j]));
        }
        if let (Some(i), Some(mii)) = (own_small, mom_ii) {
            add(&mut cl.xxh_own, &mut abs[3], w0, taylor(&d(0), &mii));
            for &j in small.iter().filter(|&&j| j != i) {
                cl.add_xxh(j, w0, taylor(&d(0), &mom_ij(i, j)));
            }
        }
    }
    // ---- exactly graded member l active ----
    for (t, &l) in big.iter().enumerate() {
        let w = p(l) * pre[t] * suf[t + 1];
        if w == 0.0 {
            continue;
        }
        let seg = segment(b, c(l));
        let cl_ = c(l);
        // `E[X S(ε)]` with `S(y) = ∫₀¹ uᵃ (b + y + c u)₊ᵏ du`.
        let part = |k: usize, a: usize, x: X| -> (f64, f64) {
            match &truncated {
                None => taylor(&one_member_derivatives(&seg, b, cl_, k, a), &mom_of(x)),
                Some(tp) => {
                    // # Formula
                    // With the far kink b + c clear: c > 0: `S = P(y) − (−1)ᵏ β |c|^{−(a+1)}
                    // (−(b + y))₊^{a+k+1}`, P the polynomial `∫ uᵃ (b + y + cu)ᵏ du`; c < 0:
                    // `S = β |c|^{−(a+1)} (b + y)₊^{a+k+1}`; β = B(a+1, k+1) = a! k!/(a+k+1)!.
                    let beta = FACT[a] * FACT[k] / FACT[a + k + 1];
                    let scale = beta / cl_.abs().powi(a as i32 + 1);
                    let d = a + k + 1;
                    let m_x = mom_of(x);
                    if cl_ > 0.0 {
                        let (tv, ta) = tp.negative_power(d, x, &m_x);
                        let (pv, pa) = taylor(&full_polynomial_derivatives(b, cl_, k, a), &m_x);
                        let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
                        (pv - sign * scale * tv, pa + scale * ta)
                    } else {
                        let (tv, ta) = tp.positive_power(d, x, &m_x);
                        (scale * tv, scale * ta)
                    }
                }
            }
        };
        add(&mut cl.a, &mut abs[0], w, part(2, 0, X::One));
        add(&mut cl.ef, &mut abs[1], w, part(1, 0, X::One));
        add(&mut cl.pf, &mut abs[2], w, part(0, 0, X::One));
        cl.add_xf(l, w, part(1, 1, X::One));
        cl.add_xh(l, w, part(0, 1, X::One));
        for &j in &small {
            cl.add_xf(j, w, part(1, 0, X::Small(j)));
            cl.add_xh(j, w, part(0, 0, X::Small(j)));
        }
        if own_pos == Some(l) {
            add(&mut cl.xxh_own, &mut abs[3], w, part(0, 2, X::One));
            for &j in &small {
                cl.add_xxh(j, w, part(0, 1, X::Small(j)));
            }
        }
        if let Some(i) = own_small {
            cl.add_xxh(l, w, part(0, 1, X::Own));
            add(&mut cl.xxh_own, &mut abs[3], w, part(0, 0, X::OwnSq));
            for &j in small.iter().filter(|&&j| j != i) {
                cl.add_xxh(j, w, part(0, 0, X::OwnSmall(j)));
            }
        }
    }
    // ---- exactly two graded members active, when every kink clears ε's range ----
    let reach = reach_hi.max(reach_lo);
    let kink_gap = |l: usize, l2: usize| {
        [b, b + c(l), b + c(l2), b + c(l) + c(l2)]
            .iter()
            .fold(f64::INFINITY, |m, y| m.min(y.abs()))
    };
    let pairs_clear = own_small.is_none()
        && (2..=PAIRS_ALWAYS).contains(&nb)
        && (0..nb).all(|ta| {
            (ta + 1..nb).all(|tb| kink_gap(big[ta], big[tb]) > PAIR_KINK_CLEARANCE * reach)
        });
    if pairs_clear {
        cl.start = 3;
        for ta in 0..nb {
            // Π q over the graded members strictly between ta and tb (no division).
            let mut mid = 1.0;
            for tb in ta + 1..nb {
                let (l, l2) = (big[ta], big[tb]);
                let w = p(l) * p(l2) * pre[ta] * mid * suf[tb + 1];
                mid *= 1.0 - p(l2);
                if w == 0.0 {
                    continue;
                }
                let h = kink_gap(l, l2) / PAIR_STENCIL_SPAN;
                let at: [Pair; 5] =
                    std::array::from_fn(|k| pair(b + (k as f64 - 2.0) * h, c(l), c(l2)));
                let d = |get: fn(&Pair) -> f64| stencil_derivatives(at.map(|pm| get(&pm)), h);
                let (da2, da1, da0) = (d(|q| q.a2), d(|q| q.a1), d(|q| q.a0));
                add(&mut cl.a, &mut abs[0], w, taylor_abs(&da2, &mom));
                add(&mut cl.ef, &mut abs[1], w, taylor_abs(&da1, &mom));
                add(&mut cl.pf, &mut abs[2], w, taylor_abs(&da0, &mom));
                for (m, u1, u0) in [
                    (l, d(|q| q.u1), d(|q| q.u0)),
                    (l2, d(|q| q.v1), d(|q| q.v0)),
                ] {
                    cl.add_xf(m, w, taylor_abs(&u1, &mom));
                    cl.add_xh(m, w, taylor_abs(&u0, &mom));
                }
                for &j in &small {
                    cl.add_xf(j, w, taylor_abs(&da1, &mom_x[j]));
                    cl.add_xh(j, w, taylor_abs(&da0, &mom_x[j]));
                }
                // The own member active in the pair: E[x_i x_j 1(f>0)] for the other one and
                // for every small member, and E[x_i² 1(f>0)].
                let uv = d(|q| q.uv0);
                let own_in_pair = if own_pos == Some(l) {
                    Some((l2, d(|q| q.uu0), d(|q| q.u0)))
                } else if own_pos == Some(l2) {
                    Some((l, d(|q| q.vv0), d(|q| q.v0)))
                } else {
                    None
                };
                if let Some((other, own_sq, own_h)) = own_in_pair {
                    add(&mut cl.xxh_own, &mut abs[3], w, taylor_abs(&own_sq, &mom));
                    cl.add_xxh(other, w, taylor_abs(&uv, &mom));
                    for &j in &small {
                        cl.add_xxh(j, w, taylor_abs(&own_h, &mom_x[j]));
                    }
                }
            }
        }
    }
    cl.abs = abs;
    Ok(cl)
}

/// Derivatives in y at y = 0 of the polynomial `P(y) = ∫₀¹ uᵃ (b + y + c u)ᵏ du` (no positive
/// part), r = 0 … k.
///
/// # Formula
/// `P⁽ʳ⁾(0) = k!/(k−r)! ∫₀¹ uᵃ (b + cu)^{k−r} du` and
/// `∫₀¹ uᵃ (b + cu)ᵐ du = Σ_t C(m, t) b^{m−t} cᵗ / (a + t + 1)`.
fn full_polynomial_derivatives(b: f64, c: f64, k: usize, a: usize) -> [f64; 4] {
    let integral = |m: usize| -> f64 {
        (0..=m)
            .map(|t| {
                FACT[m] / (FACT[t] * FACT[m - t]) * b.powi((m - t) as i32) * c.powi(t as i32)
                    / (a + t + 1) as f64
            })
            .sum()
    };
    let mut d = [0.0; 4];
    for (r, dr) in d.iter_mut().enumerate().take(k + 1) {
        *dr = FACT[k] / FACT[k - r] * integral(k - r);
    }
    d
}

/// Which x factor weights a closed part's moment (member positions; "own" is the own member
/// when it is small).
#[derive(Debug, Clone, Copy)]
enum X {
    One,
    Small(usize),
    Own,
    OwnSq,
    OwnSmall(usize),
}

/// The request and depth a nested evaluation inherits.
struct Nested<'r> {
    req: &'r Request,
    depth: usize,
}

/// Moments of `b + ε` (ε the small members' sum), or of `b + ε + c_v V` with a virtual member
/// (V uniform, always active), from a nested [`moments`] call on the small scale. Values carry
/// their error as a modulus divided by [`CLOSED_REL`], so that the closed parts' rounding
/// accounting adds it back exactly.
struct Truncated {
    m: Moments,
    own: usize,
    members: Vec<usize>,
}

impl Truncated {
    fn evaluate(
        out: &Output,
        members: &[usize],
        small: &[usize],
        virtual_c: Option<f64>,
        (target, grad_target, steer_indicators): (f64, f64, bool),
        ns: &Nested,
    ) -> Result<Self> {
        let n = out.c.len();
        let mut c = vec![0.0; n + 1];
        let mut p = out.p.to_vec();
        p.push(1.0);
        for &k in small {
            c[members[k]] = out.c[members[k]];
        }
        c[n] = virtual_c.unwrap_or(0.0);
        let inner = Output {
            c: &c,
            p: &p,
            ..*out
        };
        let req = Request {
            coef_a: 1.0,
            coef_xb: 1.0,
            target,
            gradient: true,
            grad_target,
            steer_indicators,
            max_nodes: ns.req.max_nodes,
        };
        Ok(Truncated {
            m: moments_at(&inner, &req, ns.depth + 1)?,
            own: out.own,
            members: members.to_vec(),
        })
    }

    /// `E[X g₊ᵏ]` (k = 0: `E[X 1(g > 0)]`) with its error as a modulus.
    fn plain(&self, k: usize, x: X) -> (f64, f64) {
        let g = self.m.grad.as_ref().expect("gradient moments requested");
        let i = self.own;
        let (v, e) = match (k, x) {
            (2, X::One) => (self.m.a, self.m.err_a),
            (1, X::One) => (self.m.ef, self.m.err_ef),
            (0, X::One) => (self.m.pf, self.m.err_pf),
            (1, X::Small(j)) => (g.xf[self.members[j]], g.err_xf[self.members[j]]),
            (0, X::Small(j)) => (g.xh[self.members[j]], g.err_xh[self.members[j]]),
            (1, X::Own) => (g.xf[i], g.err_xf[i]),
            (0, X::Own) => (g.xh[i], g.err_xh[i]),
            (0, X::OwnSq) => (g.xxh[i], g.err_xxh[i]),
            (0, X::OwnSmall(j)) => (g.xxh[self.members[j]], g.err_xxh[self.members[j]]),
            _ => unreachable!("moment (k = {k}, {x:?}) is not needed"),
        };
        (v, v.abs() + e / CLOSED_REL)
    }
}

/// The truncated powers `E[X (±(b + ε))₊ᵈ]`, d = 1, 2, 3, that the one-active parts need when
/// the bias lies within the small members' reach.
struct Powers {
    /// Moments of `b + ε`.
    direct: Truncated,
    /// Moments of `b + ε + c_v V`, `c_v > |b| + reach` (so `b + ε + c_v > 0`).
    augmented: Truncated,
    c_v: f64,
    b: f64,
}

impl Powers {
    /// `E[X (b + ε)₊ᵈ]` (`m_x`: the moments `E[X εʳ]`).
    ///
    /// # Formula
    /// d = 1 (X = 1, x_j, x_i) and d = 2 (X = 1) are the direct moments. Otherwise, for V
    /// uniform on [0, 1] and `y + c_v > 0`, `E_V[(y + c_v V)₊ᵏ] = ((y + c_v)^{k+1} −
    /// y₊^{k+1}) / ((k + 1) c_v)`, so `y₊ᵈ = (y + c_v)ᵈ − d c_v E_V[(y + c_v V)₊^{d−1}]`: a
    /// polynomial in ε, summed exactly with its moments, less the augmented moments.
    fn positive_power(&self, d: usize, x: X, m_x: &[f64; 5]) -> (f64, f64) {
        match (d, x) {
            (1, X::One | X::Small(_) | X::Own) | (2, X::One) => self.direct.plain(d, x),
            _ => {
                let (pv, pa) = taylor(&power_derivatives(self.b + self.c_v, d), m_x);
                let (tv, ta) = self.augmented.plain(d - 1, x);
                let dc = d as f64 * self.c_v;
                (pv - dc * tv, pa + dc * ta)
            }
        }
    }

    /// `E[X (−(b + ε))₊ᵈ] = (−1)ᵈ (E[X (b + ε)ᵈ] − E[X (b + ε)₊ᵈ])`.
    fn negative_power(&self, d: usize, x: X, m_x: &[f64; 5]) -> (f64, f64) {
        let (pv, pa) = taylor(&power_derivatives(self.b, d), m_x);
        let (tv, ta) = self.positive_power(d, x, m_x);
        let sign = if d % 2 == 0 { 1.0 } else { -1.0 };
        (sign * (pv - tv), pa + ta)
    }
}

/// Derivatives at y = 0 of `(base + y)ᵈ`, d ≤ 3.
fn power_derivatives(base: f64, d: usize) -> [f64; 4] {
    let mut der = [0.0; 4];
    for (r, dr) in der.iter_mut().enumerate().take(d + 1) {
        *dr = FACT[d] / FACT[d - r] * base.powi((d - r) as i32);
    }
    der
}

/// Derivatives r = 0 … 4 at 0 of a polynomial of degree ≤ 4 from its values at
/// `−2h, −h, 0, h, 2h`, and the same formulas with every term's modulus (the rounding scale).
///
/// # Formula
/// The central five-point formulas, exact for degree ≤ 4:
/// `S' = (f₋₂ − 8f₋₁ + 8f₁ − f₂)/12h`, `S'' = (−f₋₂ + 16f₋₁ − 30f₀ + 16f₁ − f₂)/12h²`,
/// `S''' = (−f₋₂ + 2f₋₁ − 2f₁ + f₂)/2h³`, `S'''' = (f₋₂ − 4f₋₁ + 6f₀ − 4f₁ + f₂)/h⁴`.
fn stencil_derivatives(f: [f64; 5], h: f64) -> ([f64; 5], [f64; 5]) {
    const W: [([f64; 5], f64); 5] = [
        ([0.0, 0.0, 1.0, 0.0, 0.0], 1.0),
        ([1.0, -8.0, 0.0, 8.0, -1.0], 12.0),
        ([-1.0, 16.0, -30.0, 16.0, -1.0], 12.0),
        ([-1.0, 2.0, 0.0, -2.0, 1.0], 2.0),
        ([1.0, -4.0, 6.0, -4.0, 1.0], 1.0),
    ];
    let mut d = [0.0; 5];
    let mut a = [0.0; 5];
    for (r, (w, div)) in W.iter().enumerate() {
        let scale = div * h.powi(r as i32);
        d[r] = w.iter().zip(&f).map(|(wi, fi)| wi * fi).sum::<f64>() / scale;
        a[r] = w
            .iter()
            .zip(&f)
            .map(|(wi, fi)| (wi * fi).abs())
            .sum::<f64>()
            / scale;
    }
    (d, a)
}

/// [`taylor`] for derivatives that come with their own rounding scale: the value, and
/// `Σ_r a[r] |m[r]| / r!`.
fn taylor_abs((d, a): &([f64; 5], [f64; 5]), m: &[f64; 5]) -> (f64, f64) {
    let (v, _) = taylor(d, m);
    let (_, scale) = taylor(a, &m.map(f64::abs));
    (v, scale)
}

/// The moments of one output to the requested accuracy (see the module documentation).
///
/// Fails only on non-finite input. An unreachable target (more than `max_nodes` nodes) is not
/// an error here: the returned bounds say what was reached, and the caller decides.
pub fn moments(out: &Output, req: &Request) -> Result<Moments> {
    moments_at(out, req, 0)
}

/// [`moments`] at a nesting depth (see [`closed_parts_small`]).
fn moments_at(out: &Output, req: &Request, depth: usize) -> Result<Moments> {
    let n = out.c.len();
    if out.p.len() != n || out.own >= n {
        return Err(Error::invalid(format!(
            "one output needs as many densities as coefficients ({} vs {n}) and its own feature \
             among them ({})",
            out.p.len(),
            out.own
        )));
    }
    if !out.b.is_finite() || out.c.iter().chain(out.p).any(|v| !v.is_finite()) {
        return Err(Error::invalid("non-finite coefficient, bias or density"));
    }
    let i = out.own;
    let b = out.b;
    let mut members_idx: Vec<usize> = (0..n)
        .filter(|&j| out.p[j] > 0.0 && out.c[j] != 0.0)
        .collect();
    let drop = drop_tiny(out, &mut members_idx, req);
    let own_pos = members_idx.iter().position(|&j| j == i);

    let nm = members_idx.len();
    let (graded, within) = choose_graded(out, &members_idx, depth < NESTED_DEPTH);
    let cl = if graded.iter().all(|&g| g) {
        closed_parts(out, &members_idx, own_pos)
    } else {
        let nested = within.then_some(Nested { req, depth });
        closed_parts_small(out, &members_idx, &graded, own_pos, nested)?
    };
    let start = cl.start;
    let (mut a, mut ef, mut pf, mut xxh_own) = (cl.a, cl.ef, cl.pf, cl.xxh_own);
    let (mut xf_m, mut xh_m, mut xxh_m) = (cl.xf_m, cl.xh_m, cl.xxh_m);
    let mut err_a = CLOSED_REL * cl.abs[0];
    let mut err_ef = CLOSED_REL * cl.abs[1];
    let mut err_pf = CLOSED_REL * cl.abs[2];
    let mut err_xxh_own = CLOSED_REL * cl.abs[3];
    let mut err_xf_m: Vec<f64> = cl.abs_xf_m.iter().map(|v| CLOSED_REL * v).collect();
    let mut err_xh_m: Vec<f64> = cl.abs_xh_m.iter().map(|v| CLOSED_REL * v).collect();
    let mut err_xxh_m: Vec<f64> = cl.abs_xxh_m.iter().map(|v| CLOSED_REL * v).collect();
    let mut nodes = cl.nodes;

    let f_max = b + members_idx.iter().map(|&j| out.c[j].max(0.0)).sum::<f64>();
    let f_min = b + members_idx.iter().map(|&j| out.c[j].min(0.0)).sum::<f64>();
    // The Fourier part holds `start` or more graded members active.
    let n_graded = graded.iter().filter(|&&g| g).count();
    if n_graded >= start && f_max > 0.0 {
        let fr = Fourier::with_best_period(
            out,
            &members_idx,
            &graded,
            own_pos,
            (f_min, f_max),
            start,
            req,
        );
        let r = fr.run(req);
        nodes += r.nodes;
        a += r.a.0;
        err_a += r.a.1;
        ef += r.ef.0;
        err_ef += r.ef.1;
        pf += r.pf.0;
        err_pf += r.pf.1;
        if let Some(k) = own_pos {
            xf_m[k] += r.own_xf.0;
            err_xf_m[k] += r.own_xf.1;
            xh_m[k] += r.own_xh.0;
            err_xh_m[k] += r.own_xh.1;
            xxh_own += r.own_xxh.0;
            err_xxh_own += r.own_xxh.1;
        }
        for (k, v) in r.others.iter().enumerate() {
            let mk = fr.other_member(k);
            xf_m[mk] += v.xf.0;
            err_xf_m[mk] += v.xf.1;
            xh_m[mk] += v.xh.0;
            err_xh_m[mk] += v.xh.1;
            xxh_m[mk] += v.xxh.0;
            err_xxh_m[mk] += v.xxh.1;
        }
    }

    // Coefficients dropped as negligible: their bounded effect joins every error.
    err_a += drop.a;
    err_ef += drop.lipschitz;
    err_pf += drop.heaviside;
    // A kept member's x factor confines the indicator's change to its own band.
    let band = |k: usize| drop.band(out.c[members_idx[k]], out.p[members_idx[k]]);
    let own_band = own_pos.map_or(drop.heaviside, band);
    for k in 0..nm {
        err_xf_m[k] += drop.lipschitz;
        err_xh_m[k] += band(k);
        err_xxh_m[k] += band(k).min(own_band);
    }
    err_xxh_own += own_band;

    // ---- assemble over all n features (non-members are independent of f) ----
    let pi = out.p[i];
    let (xb, err_xb) = match own_pos {
        Some(k) => (xf_m[k], err_xf_m[k]),
        None => (pi / 2.0 * ef, pi / 2.0 * err_ef + drop.lipschitz),
    };
    let grad = req.gradient.then(|| {
        let mut g = GradMoments {
            xf: vec![0.0; n],
            xh: vec![0.0; n],
            xxh: vec![0.0; n],
            err_xf: vec![0.0; n],
            err_xh: vec![0.0; n],
            err_xxh: vec![0.0; n],
        };
        let mut member_of = vec![usize::MAX; n];
        for (k, &j) in members_idx.iter().enumerate() {
            member_of[j] = k;
        }
        // E[x_i 1(f>0)] first: the non-member x_j x_i moments factor through it.
        let (xh_i, err_xh_i) = match own_pos {
            Some(k) => (xh_m[k], err_xh_m[k]),
            None => (pi / 2.0 * pf, pi / 2.0 * err_pf + drop.heaviside),
        };
        for (j, &k) in member_of.iter().enumerate() {
            let pj = out.p[j];
            if k != usize::MAX {
                g.xf[j] = xf_m[k];
                g.err_xf[j] = err_xf_m[k];
                g.xh[j] = xh_m[k];
                g.err_xh[j] = err_xh_m[k];
            } else {
                g.xf[j] = pj / 2.0 * ef;
                g.err_xf[j] = pj / 2.0 * err_ef + drop.lipschitz;
                g.xh[j] = pj / 2.0 * pf;
                g.err_xh[j] = pj / 2.0 * err_pf + drop.heaviside;
            }
            if j == i {
                match own_pos {
                    Some(_) => {
                        g.xxh[j] = xxh_own;
                        g.err_xxh[j] = err_xxh_own;
                    }
                    None => {
                        g.xxh[j] = pi / 3.0 * pf;
                        g.err_xxh[j] = pi / 3.0 * err_pf + drop.heaviside;
                    }
                }
            } else if k != usize::MAX && own_pos.is_some() {
                g.xxh[j] = xxh_m[k];
                g.err_xxh[j] = err_xxh_m[k];
            } else if k != usize::MAX {
                // Own feature independent of f: E[x_i] E[x_j 1(f>0)].
                g.xxh[j] = pi / 2.0 * g.xh[j];
                g.err_xxh[j] = pi / 2.0 * g.err_xh[j] + drop.heaviside;
            } else {
                // x_j independent of f and of x_i.
                g.xxh[j] = pj / 2.0 * xh_i;
                g.err_xxh[j] = pj / 2.0 * err_xh_i + own_band;
            }
        }
        g
    });
    Ok(Moments {
        a,
        xb,
        ef,
        pf,
        err_a,
        err_xb,
        err_ef,
        err_pf,
        grad,
        nodes,
    })
}

/// Error bounds for leaving out coefficients too small to matter.
#[derive(Debug, Clone, Copy, Default)]
struct Dropped {
    /// For `E[f₊²]`.
    a: f64,
    /// For the 1-Lipschitz moments `E[f₊]`, `E[x_j f₊]`.
    lipschitz: f64,
    /// For the indicator moments `P(f>0)`, `E[x_j 1(f>0)]`, `E[x_i x_j 1(f>0)]`.
    heaviside: f64,
    /// A bound on `P(Δ ≠ 0)` (`Σ p_j` over the dropped members) when f' can come within D of
    /// 0 (else 0: no indicator changes).
    active: f64,
}

impl Dropped {
    /// Bound on `E[x_k |1(f>0) − 1(f'>0)|]` for a kept member k: the indicators differ only
    /// where `Δ ≠ 0` and `|f'| ≤ |Δ|`, and with k active `f'` is uniform in its term `c_k U`
    /// and independent of Δ, so that band holds with probability at most
    /// `E[min(1(Δ≠0), 2|Δ|/|c_k|)] ≤ min(P(Δ≠0), 2 D₁/|c_k|)` (at a bias on the kink with
    /// tiny members beside it, `heaviside` is O(1) while this is ~1e-12).
    fn band(&self, c: f64, p: f64) -> f64 {
        if self.active == 0.0 {
            return 0.0;
        }
        (p * self.active.min(2.0 * self.lipschitz / c.abs())).min(self.heaviside)
    }
}

/// Removes from `members` the smallest coefficients whose joint effect `Δ = Σ c_j x_j` is
/// provably below a quarter of the loss target, and returns the bounds.
///
/// # Formula
/// With `f = f' + Δ`, `D₁ = Σ|c_j| p_j/2 ≥ E|Δ|`, `D₂ = D₁² + Σ c_j² p_j/3 ≥ E[Δ²]`:
/// `|(f'+Δ)₊² − f'₊²| ≤ |Δ|(2f'₊ + |Δ|)`, so `|ΔE f₊²| ≤ 2 D₁ max(f'_max, 0) + D₂`;
/// the positive part is 1-Lipschitz and `x ≤ 1`, so `E[f₊]`, `E[x_j f₊]` move by at most `D₁`;
/// an indicator changes only where `Δ ≠ 0` and `|f'| ≤ |Δ| ≤ D = Σ|c_j|`. Given Δ (independent
/// of f'), that has probability at most `Q₀·1(|b| ≤ |Δ|) + Σ_l p_l min(1, 2|Δ|/|c_l|)` (the
/// atom at b, and a density of at most `1/|c_l|` whenever member l is active; members whose
/// |c| sum to less than `|b| − D` need no term, as f' cannot come within D of 0 while only
/// they are active). Averaged over Δ, with `P(Δ ≠ 0) ≤ P_Δ = Σ p_j` and Markov's
/// `P(|Δ| ≥ |b|) ≤ D₁/|b|`: `Q₀ min(P_Δ, D₁/|b|)·1(|b| ≤ D) + Σ_l p_l min(P_Δ, 2D₁/|c_l|)`,
/// and 0 when the range of f' keeps a distance D from 0. (Bounding by D alone instead of
/// D₁ and P_Δ was 2/p times larger: at density 0.01 it set a gradient floor of 1e-3.)
fn drop_tiny(out: &Output, members: &mut Vec<usize>, req: &Request) -> Dropped {
    if members.is_empty() {
        return Dropped::default();
    }
    let mut order = members.clone();
    order.sort_by(|&x, &y| out.c[x].abs().total_cmp(&out.c[y].abs()));
    let f_max = (out.b + members.iter().map(|&j| out.c[j].max(0.0)).sum::<f64>()).max(0.0);
    let budget = 0.25 * req.target;
    let (mut d1, mut s2, mut d) = (0.0, 0.0, 0.0);
    let mut k = 0;
    while k < order.len() {
        let j = order[k];
        let c = out.c[j].abs();
        let (n1, n2) = (d1 + c * out.p[j] / 2.0, s2 + c * c * out.p[j] / 3.0);
        let a = 2.0 * n1 * f_max + n1 * n1 + n2;
        if req.coef_a * a + req.coef_xb * n1 > budget {
            break;
        }
        d1 = n1;
        s2 = n2;
        d += c;
        k += 1;
    }
    if k == 0 {
        return Dropped::default();
    }
    let dropped = &order[..k];
    members.retain(|j| !dropped.contains(j));
    let q0: f64 = members.iter().map(|&j| 1.0 - out.p[j]).product();
    // f' stays in [lo, hi]; when that range keeps D away from 0 no indicator changes (a dead
    // feature's output: b far above every |c|).
    let lo = out.b + members.iter().map(|&j| out.c[j].min(0.0)).sum::<f64>();
    let hi = out.b + members.iter().map(|&j| out.c[j].max(0.0)).sum::<f64>();
    let p_delta = dropped.iter().map(|&j| out.p[j]).sum::<f64>().min(1.0);
    let (mut heaviside, mut active) = (0.0, 0.0);
    if lo <= d && hi >= -d {
        // The smallest members, while their |c| sum to less than |b| − D, cannot bring f'
        // within D of 0 unless a larger one is active: no density term of their own.
        let mut kept: Vec<usize> = members.clone();
        kept.sort_by(|&x, &y| out.c[x].abs().total_cmp(&out.c[y].abs()));
        let mut reach = 0.0;
        let mut quiet = 0;
        while quiet < kept.len() && reach + out.c[kept[quiet]].abs() < out.b.abs() - d {
            reach += out.c[kept[quiet]].abs();
            quiet += 1;
        }
        let loud = &kept[quiet..];
        heaviside = if out.b.abs() <= d {
            q0 * p_delta.min(d1 / out.b.abs())
        } else {
            0.0
        };
        active = p_delta;
        for &l in loud {
            heaviside += out.p[l] * p_delta.min(2.0 * d1 / out.c[l].abs());
        }
    }
    Dropped {
        a: 2.0 * d1 * f_max + d1 * d1 + s2,
        lipschitz: d1,
        heaviside: heaviside.min(1.0),
        active,
    }
}

/// Value and error bound of one Fourier-part moment.
type Ve = (f64, f64);

#[derive(Debug, Clone, Copy, Default)]
struct OtherResult {
    xf: Ve,
    xh: Ve,
    xxh: Ve,
}

#[derive(Debug, Clone, Default)]
struct FourierResult {
    a: Ve,
    ef: Ve,
    pf: Ve,
    own_xf: Ve,
    own_xh: Ve,
    own_xxh: Ve,
    others: Vec<OtherResult>,
    nodes: usize,
}

/// The "two or more active" parts by the trapezoidal rule on the Bromwich line.
struct Fourier<'a> {
    out: &'a Output<'a>,
    /// Members other than the own feature, then (if a member) the own feature.
    others: Vec<Member>,
    own: Option<Member>,
    /// Member index (position in the caller's member list) of each "other".
    other_pos: Vec<usize>,
    sigma: f64,
    h: f64,
    /// Aliasing bounds for k = 0, 1, 2.
    alias: [f64; 3],
    /// The effect of the phases' coefficient perturbation.
    perturbation: Perturbation,
    t_star: f64,
    /// The fewest active members the Fourier part covers (2, or 3 when exactly two active
    /// members are done in closed form).
    start: usize,
}

impl<'a> Fourier<'a> {
    /// The rule with the period that needs the fewest nodes by the majorant's count, among
    /// `P₀ rᵏ` (`P₀ = 4 max(f_max, R/10)`, the safe choice) whose upward aliasing
    /// ([`upward_alias`]) stays below [`ALIAS_SHARE`] of the target.
    ///
    /// A period below f_max lets copies `f − mP` of the upper tail alias back with weight
    /// `e^{σmP}`; the tail of f is thin (many members must be active at once), so when f_max
    /// is far above f's bulk (n = 400: f_max ≈ 30, f mostly below 3) a period near the bulk
    /// costs an order of magnitude fewer nodes. A short period also raises σ = A/P and with it
    /// the integrand's tail, which is why the choice is made by counting nodes.
    fn with_best_period(
        out: &'a Output<'a>,
        members_idx: &[usize],
        graded: &[bool],
        own_pos: Option<usize>,
        (f_min, f_max): (f64, f64),
        start: usize,
        req: &Request,
    ) -> Self {
        let range = f_max.max(-f_min);
        // The floor keeps σ from exploding when f is mostly negative.
        let safe = PERIOD_OVER_FMAX * f_max.max(PERIOD_FLOOR * range);
        let allowance = ALIAS_SHARE * req.target.min(req.grad_target)
            / (req.coef_a + req.coef_xb).max(f64::MIN_POSITIVE);
        let scout = Request {
            gradient: false,
            ..*req
        };
        // The shortest admissible period (the aliasing bound grows as P shrinks), then upwards
        // while the node count falls: the count is unimodal in P in every case looked at.
        let admissible = |period: f64| {
            period >= f_max
                || upward_alias(out, members_idx, ALIAS_EXPONENT / period, period)
                    .iter()
                    .all(|&v| v <= allowance)
        };
        let shortest = (0..=PERIOD_CANDIDATES)
            .take_while(|&k| admissible(safe * PERIOD_SHRINK.powi(k as i32)))
            .last()
            .unwrap_or(0) as i32;
        // Rounding grows with σ like E e^{σf}: dense outputs (every member active, f far above
        // 0) can need a period longer than the safe one to keep it below the target.
        let rounding_cap = ROUNDING_SHARE * req.target;
        let mut best: Option<(Fourier, usize)> = None;
        let mut fallback: Option<(Fourier, f64)> = None;
        let mut worse = 0;
        for k in (-(PERIOD_LONGER as i32)..=shortest).rev() {
            if k < 0 && best.is_some() {
                break;
            }
            let period = safe * PERIOD_SHRINK.powi(k);
            let cand = Fourier::new(
                out,
                members_idx,
                graded,
                own_pos,
                (f_min, f_max),
                start,
                period,
            );
            let (nodes, rounding) = cand.plan(&scout);
            if rounding > rounding_cap {
                if fallback.as_ref().is_none_or(|(_, r)| rounding < *r) {
                    fallback = Some((cand, rounding));
                }
                continue;
            }
            match &best {
                Some((_, n)) if nodes >= *n => {
                    worse += 1;
                    if worse == PERIOD_PATIENCE {
                        break;
                    }
                }
                _ => {
                    best = Some((cand, nodes));
                    worse = 0;
                }
            }
        }
        match (best, fallback) {
            (Some((f, _)), _) | (None, Some((f, _))) => f,
            (None, None) => unreachable!("at least one period is tried"),
        }
    }

    /// Nodes the majorant asks for at this request (the most the sum will spend), and an
    /// estimate of the sum's rounding error in the loss moments.
    ///
    /// # Formula
    /// Each term carries a relative error of about `ε (9.75 n + 19)` on average over the phase
    /// recurrence (see [`Fourier::sum`]), `h Σ|terms| ≈ π ∫ B` (the majorant from h on, whose
    /// integral the tails hold), and `√2` turns the modulus into the 1-norm the sum adds up.
    fn plan(&self, req: &Request) -> (usize, f64) {
        let tails = self.tails(req);
        let loss_tail = |l: usize| req.coef_a * tails.a[l] + req.coef_xb * tails.xb_or_ef(l, self);
        let n_members = self.others.len() + usize::from(self.own.is_some());
        let rounding = f64::EPSILON
            * (9.75 * n_members as f64 + 19.0)
            * std::f64::consts::SQRT_2
            * loss_tail(0);
        let l = (0..tails.ts.len())
            .find(|&l| loss_tail(l) <= 0.5 * req.target)
            .unwrap_or(tails.ts.len() - 1);
        let rounds = if loss_tail(l) <= 0.5 * req.target {
            1
        } else {
            // Unreachable by the majorant: rank by how far it gets.
            1000
        };
        (rounds * (tails.ts[l] / self.h).ceil() as usize, rounding)
    }

    fn new(
        out: &'a Output<'a>,
        members_idx: &[usize],
        graded: &[bool],
        own_pos: Option<usize>,
        (f_min, f_max): (f64, f64),
        start: usize,
        period: f64,
    ) -> Self {
        let range = f_max.max(-f_min);
        let sigma = ALIAS_EXPONENT / period;
        let h = 2.0 * std::f64::consts::PI / period;
        let make = |j: usize, graded: bool| {
            let c = out.c[j];
            let sc = C::new(sigma * c, 0.0);
            let (u, w, v) = uwv(sc);
            let e = (sigma * c).exp();
            Member {
                c,
                p: out.p[j],
                q: 1.0 - out.p[j],
                e,
                u_max: u.re,
                w_max: w.re,
                v_max: v.re,
                inv_abs_c: 1.0 / c.abs(),
                e_over_c: e / c.abs(),
                e1_over_c: (1.0 + e) / c.abs(),
                graded,
            }
        };
        let mut others = Vec::with_capacity(members_idx.len());
        let mut other_pos = Vec::with_capacity(members_idx.len());
        let mut own = None;
        for (k, &j) in members_idx.iter().enumerate() {
            if Some(k) == own_pos {
                own = Some(make(j, graded[k]));
            } else {
                others.push(make(j, graded[k]));
                other_pos.push(k);
            }
        }
        // Σ_{m≥1} e^{−σmP} (range + mP)^k: the aliased copies' largest values; plus the copies
        // of the upper tail when P < f_max.
        let mut alias = if period < f_max {
            upward_alias(out, members_idx, sigma, period)
        } else {
            [0.0; 3]
        };
        for m in 1..=40 {
            let mf = m as f64;
            let wgt = (-ALIAS_EXPONENT * mf).exp();
            let y = range + mf * period;
            alias[0] += wgt;
            alias[1] += wgt * y;
            alias[2] += wgt * y * y;
        }
        let perturbation = Perturbation::new(out, members_idx, sigma, start);
        // Ungraded factors need not decay: their majorants are non-increasing in t.
        let t_star = others
            .iter()
            .chain(own.iter())
            .filter(|m| m.graded)
            .map(|m| m.decay_start())
            .fold(0.0, f64::max);
        Fourier {
            out,
            others,
            own,
            other_pos,
            sigma,
            h,
            alias,
            perturbation,
            t_star,
            start,
        }
    }

    fn other_member(&self, k: usize) -> usize {
        self.other_pos[k]
    }

    /// The majorant grid: heights t_l and, per quantity, `∫_{t_l}^∞ B / π`.
    fn tails(&self, req: &Request) -> Tails {
        let gradient = req.gradient;
        let no = self.others.len();
        let eb = (self.sigma * self.out.b).exp();
        let s2 = self.sigma * self.sigma;
        // B values per grid point.
        let mut ts = Vec::new();
        let (mut ba, mut bef, mut bpf) = (Vec::new(), Vec::new(), Vec::new());
        let (mut bxb, mut bxh, mut bxxh) = (Vec::new(), Vec::new(), Vec::new());
        let (mut g_xf, mut g_xh, mut g_xxh) = (Vec::new(), Vec::new(), Vec::new());
        // Stop once every factor decays and the analytic remainder is far below the targets.
        let small = 1e-3
            * req.target.min(if gradient {
                req.grad_target
            } else {
                f64::INFINITY
            });
        let mut t = self.h;
        let mut pre = vec![one_r(); no + 1];
        let mut suf = vec![one_r(); no + 1];
        let mut bnd = vec![(0.0, 0.0, 0.0); no];
        // The majorants and prefix products of the next LANES heights, computed together.
        let one = Graded {
            g0: Reals::splat(1.0),
            g1: Reals::splat(0.0),
            g2: Reals::splat(0.0),
            g3: Reals::splat(0.0),
        };
        let mut pre_lanes = vec![one; no + 1];
        let mut bnd_lanes = vec![[Reals::splat(0.0); 3]; no];
        let mut own_lanes = [Reals::splat(0.0); 3];
        let ratio = |l: usize| {
            if l < GRID_FINE_STEPS {
                GRID_RATIO_FINE
            } else {
                GRID_RATIO_COARSE
            }
        };
        for l in 0..GRID_MAX_STEPS {
            let lane = l % LANES;
            if lane == 0 {
                let mut inv_t = [0.0; LANES];
                let mut tj = t;
                for (j, it) in inv_t.iter_mut().enumerate() {
                    *it = 1.0 / tj;
                    tj *= ratio(l + j);
                }
                for (k, m) in self.others.iter().enumerate() {
                    bnd_lanes[k] = m.bounds_lanes(inv_t);
                    pre_lanes[k + 1] = pre_lanes[k].times_member(m, bnd_lanes[k][0]);
                }
                if let Some(m) = &self.own {
                    own_lanes = m.bounds_lanes(inv_t);
                }
            }
            ts.push(t);
            let r2 = s2 + t * t;
            let k0 = eb / r2.sqrt();
            let k1 = eb / r2;
            let k2 = 2.0 * eb / (r2 * r2.sqrt());
            if gradient {
                for k in 0..no {
                    let b = &bnd_lanes[k];
                    bnd[k] = (b[0].0[lane], b[1].0[lane], b[2].0[lane]);
                    pre[k + 1] = pre_lanes[k + 1].lane(lane);
                }
            }
            let p_oth = pre_lanes[no].lane(lane);
            let (own_b, p_all) = match &self.own {
                Some(m) => {
                    let b = &own_lanes;
                    let bo = (b[0].0[lane], b[1].0[lane], b[2].0[lane]);
                    (Some(bo), p_oth.times_member(m, bo.0))
                }
                None => (None, p_oth),
            };
            let own_graded = usize::from(self.own.as_ref().is_some_and(|m| m.graded));
            ba.push(k2 * p_all.at_least(self.start));
            bef.push(k1 * p_all.at_least(self.start));
            bpf.push(k0 * p_all.at_least(self.start));
            let (xb, xh, xxh) = match own_b {
                Some(bo) => {
                    let rest = p_oth.at_least(self.start - own_graded);
                    (k1 * bo.1 * rest, k0 * bo.1 * rest, k0 * bo.2 * rest)
                }
                None => (0.0, 0.0, 0.0),
            };
            bxb.push(xb);
            bxh.push(xh);
            bxxh.push(xxh);
            let mut worst =
                (ba[l] * (1.0 + req.coef_a)).max((bxb[l] + bef[l]) * (1.0 + req.coef_xb));
            if gradient {
                for k in (0..no).rev() {
                    let m = &self.others[k];
                    suf[k] = suf[k + 1].times_member(m, bnd[k].0);
                }
                for k in 0..no {
                    let loo_oth = pre[k].mul(suf[k + 1]);
                    let loo = match (&self.own, own_b) {
                        (Some(m), Some(bo)) => loo_oth.times_member(m, bo.0),
                        _ => loo_oth,
                    };
                    let w = bnd[k].1;
                    let level = self.start - usize::from(self.others[k].graded);
                    g_xf.push(k1 * w * loo.at_least(level));
                    g_xh.push(k0 * w * loo.at_least(level));
                    g_xxh.push(match own_b {
                        Some(bo) => k0 * w * bo.1 * loo_oth.at_least(level - own_graded),
                        None => 0.0,
                    });
                    worst = worst.max(g_xh[l * no + k]).max(g_xxh[l * no + k]);
                }
                worst = worst.max(bpf[l]).max(bxh[l]).max(bxxh[l]);
            }
            if t >= self.t_star && worst * t <= small {
                break;
            }
            t *= ratio(l);
        }
        let nl = ts.len();
        let reached = ts[nl - 1] >= self.t_star;
        // Suffix integrals; beyond the last point B(t) ≤ B(t₀)(t₀/t)^{k+3} when every factor
        // decays, else only the kernel's (t₀/t)^{k+1}.
        let pi = std::f64::consts::PI;
        let suffix = |vals: &[f64], stride: usize, off: usize, k: usize| -> Vec<f64> {
            let mut out = vec![0.0; nl];
            let last = vals[(nl - 1) * stride + off];
            let tl = ts[nl - 1];
            let mut acc = if last == 0.0 {
                0.0
            } else if reached {
                last * tl / (k + self.start) as f64
            } else if k >= 1 {
                last * tl / k as f64
            } else {
                f64::INFINITY
            };
            out[nl - 1] = acc / pi;
            for l in (0..nl - 1).rev() {
                acc += vals[l * stride + off] * (ts[l + 1] - ts[l]);
                out[l] = acc / pi;
            }
            out
        };
        let mut tails = Tails {
            ts: ts.clone(),
            a: suffix(&ba, 1, 0, 2),
            ef: suffix(&bef, 1, 0, 1),
            pf: suffix(&bpf, 1, 0, 0),
            xb: suffix(&bxb, 1, 0, 1),
            xh: suffix(&bxh, 1, 0, 0),
            xxh: suffix(&bxxh, 1, 0, 0),
            g_xf: Vec::new(),
            g_xh: Vec::new(),
            g_xxh: Vec::new(),
        };
        if gradient {
            for k in 0..no {
                tails.g_xf.push(suffix(&g_xf, no, k, 1));
                tails.g_xh.push(suffix(&g_xh, no, k, 0));
                tails.g_xxh.push(suffix(&g_xxh, no, k, 0));
            }
        }
        tails
    }

    fn run(&self, req: &Request) -> FourierResult {
        let tails = self.tails(req);
        let nl = tails.ts.len();
        let loss_tail = |l: usize| req.coef_a * tails.a[l] + req.coef_xb * tails.xb_or_ef(l, self);
        let ind = req.steer_indicators;
        let grad_tail = |l: usize| {
            let mut worst = tails.ef[l];
            if ind {
                worst = worst.max(tails.pf[l]).max(tails.xh[l]).max(tails.xxh[l]);
            }
            for k in 0..tails.g_xf.len() {
                worst = worst.max(tails.g_xf[k][l]);
                if ind {
                    worst = worst.max(tails.g_xh[k][l]).max(tails.g_xxh[k][l]);
                }
            }
            worst
        };
        let nodes_for = |l: usize| (tails.ts[l] / self.h).ceil() as usize;
        let mut chosen = nl - 1;
        for l in 0..nl {
            let ok_loss = loss_tail(l) <= 0.5 * req.target;
            let ok_grad = !req.gradient || grad_tail(l) <= 0.5 * req.grad_target;
            if ok_loss && ok_grad {
                chosen = l;
                break;
            }
        }
        // Respect the node budget: the largest grid point it affords.
        while chosen > 0 && nodes_for(chosen) > req.max_nodes {
            chosen -= 1;
        }
        // The majorant's node count is the most spent; the sum usually stops far earlier, when
        // the truncation estimate from its own partial sums meets the target.
        let k_max = nodes_for(chosen).max(1);
        self.sum(k_max, &tails, req)
    }

    /// The trapezoidal sum over nodes 0..=K, where K ≤ `k_max` is the first checkpoint at which
    /// the truncation error (see [`Truncation`]) meets the request's targets.
    fn sum(&self, k_max: usize, tails: &Tails, req: &Request) -> FourierResult {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has the feature `sum_avx2` is compiled for.
            return unsafe { self.sum_avx2(k_max, tails, req) };
        }
        self.sum_lanes(k_max, tails, req)
    }

    /// [`Fourier::sum_lanes`] compiled for 4-wide vectors (same operations, same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn sum_avx2(&self, k_max: usize, tails: &Tails, req: &Request) -> FourierResult {
        self.sum_lanes(k_max, tails, req)
    }

    /// The sum, [`LANES`] consecutive nodes at a time.
    #[inline(always)]
    fn sum_lanes(&self, k_max: usize, tails: &Tails, req: &Request) -> FourierResult {
        let gradient = req.gradient;
        let no = self.others.len();
        let n_members = no + usize::from(self.own.is_some());
        let own_graded = usize::from(self.own.as_ref().is_some_and(|m| m.graded));
        let eps = f64::EPSILON;
        let b = self.out.b;
        let mut acc = [0.0f64; 6]; // a, ef, pf, own xf, own xh, own xxh
        let mut rnd = [0.0f64; 6];
        // The other members' sums stay in lanes (no horizontal sum per node) until read.
        let mut acc_ol = vec![[[0.0f64; LANES]; 3]; if gradient { no } else { 0 }];
        let mut rnd_ol = vec![[[0.0f64; LANES]; 3]; if gradient { no } else { 0 }];
        let lanes_total = |v: &[[Real; 3]]| -> Vec<[f64; 3]> {
            v.iter()
                .map(|x| [total(&x[0]), total(&x[1]), total(&x[2])])
                .collect()
        };
        let zero = Lanes::splat(C::new(0.0, 0.0));
        let mut phi = vec![zero; no];
        let mut psi = vec![zero; no];
        let one = one_lanes();
        let mut pre = vec![one; no + 1];
        let mut suf = vec![one; no + 1];
        // Phases of the others' factors (then the own one), their steps, e^{σc}.
        let all: Vec<&Member> = self.others.iter().chain(self.own.iter()).collect();
        // Phases are k·φ with φ = fl(h c) (and fl(h b) for the bias): exact multiples of one
        // rounded number, so each is accurate to ~ε absolute however large k is. The sum is then
        // the exact rule for slightly perturbed coefficients c' = φ/h, |c' − c| ≤ ε|c|, whose
        // effect `perturbation` bounds (instead of a phase error ε t |c| per node).
        let phi_b = self.h * b;
        let phis: Vec<f64> = all
            .iter()
            .map(|m| self.h * m.c)
            .chain(std::iter::once(phi_b))
            .collect();
        let inv_c: Vec<f64> = all.iter().map(|m| 1.0 / m.c).collect();
        let c2: Vec<f64> = all.iter().map(|m| m.c * m.c).collect();
        // Lane l of a block is the block's first phase times e^{i l φ}; a block moves on by
        // e^{i LANES φ}. Each is one rounding, so a lane carries ~3ε per block since the last
        // direct phase: within the scalar recurrence's 3ε per node that `rel` assumes.
        let lane_steps: Vec<Lanes> = phis
            .iter()
            .map(|&ph| Lanes::from_fn(|l| C::from_polar(1.0, l as f64 * ph)))
            .collect();
        let block_steps: Vec<Lanes> = phis
            .iter()
            .map(|&ph| Lanes::splat(C::from_polar(1.0, LANES as f64 * ph)))
            .collect();
        let e_sigma_b = (self.sigma * b).exp();
        let mut rot = vec![one.g0; phis.len()];
        let mut trunc = Truncation::default();
        let mut next_check = FIRST_CHECK;
        let mut used = k_max;
        let base_wgt = self.h / std::f64::consts::PI;
        for kk0 in (0..=k_max).step_by(LANES) {
            let last = (kk0 + LANES - 1).min(k_max);
            let mut wgt = [0.0; LANES];
            let mut rel = [0.0; LANES];
            let mut zz = [0.0; LANES];
            let mut z = zero;
            for l in 0..LANES {
                let kk = kk0 + l;
                let t = kk as f64 * self.h;
                z.set(l, C::new(self.sigma, t));
                zz[l] = self.sigma * self.sigma + t * t;
                // Nodes past k_max (the last block's padding) weigh nothing.
                wgt[l] = if kk > k_max {
                    0.0
                } else if kk == 0 {
                    0.5 * base_wgt
                } else {
                    base_wgt
                };
                // Each factor's phase (and the bias's) is a direct one (2ε) times a lane step
                // (when l > 0) and one block step per block since then, about 3ε each.
                let steps = (kk % RESYNC) / LANES + usize::from(l > 0);
                let drift = (3 * steps + 2) as f64 * (n_members + 1) as f64;
                rel[l] = eps * (n_members as f64 + 10.0 + drift);
            }
            if kk0 % RESYNC == 0 {
                for (r, (&ph, ls)) in rot.iter_mut().zip(phis.iter().zip(&lane_steps)) {
                    *r = *ls * Lanes::splat(exact_phase(kk0, ph));
                }
            } else {
                for (r, st) in rot.iter_mut().zip(&block_steps) {
                    *r = *r * *st;
                }
            }
            // The bias's phase is the last rotation.
            let eb = rot[all.len()] * e_sigma_b;
            let z1 = Lanes::from_fn(|l| 1.0 / z.lane(l));
            let k0 = eb * z1;
            let k1 = k0 * z1;
            let k2 = k1 * z1 * 2.0;
            for (k, m) in self.others.iter().enumerate() {
                let e = rot[k] * m.e;
                let cs = (m.c, c2[k], inv_c[k]);
                if gradient {
                    let [u, w] = factors_lanes::<2>(z, zz, z1, cs, e);
                    phi[k] = u * m.p;
                    psi[k] = w * m.p;
                } else {
                    let [u] = factors_lanes::<1>(z, zz, z1, cs, e);
                    phi[k] = u * m.p;
                }
                pre[k + 1] = pre[k].times_member(m, phi[k]);
            }
            let p_oth = pre[no];
            let own_f = self.own.as_ref().map(|m| {
                let cs = (m.c, c2[no], inv_c[no]);
                let [u, w, v] = factors_lanes::<3>(z, zz, z1, cs, rot[no] * m.e);
                (m.q, u * m.p, w * m.p, v * m.p)
            });
            let p_all = match (own_f, &self.own) {
                (Some((_, pu, _, _)), Some(m)) => p_oth.times_member(m, pu),
                _ => p_oth,
            };
            let mut add = |slot: usize, f: Lanes| {
                let (s, r) = f.weighted(wgt, rel);
                acc[slot] += s;
                rnd[slot] += r;
            };
            let top = p_all.at_least(self.start);
            add(0, k2 * top);
            add(1, k1 * top);
            add(2, k0 * top);
            if let Some((_, _, pw, pv)) = own_f {
                let rest = p_oth.at_least(self.start - own_graded);
                add(3, k1 * pw * rest);
                add(4, k0 * pw * rest);
                add(5, k0 * pv * rest);
            }
            if gradient {
                for k in (0..no).rev() {
                    suf[k] = suf[k + 1].times_member(&self.others[k], phi[k]);
                }
                let k0_pw = own_f.map(|(_, _, pw, _)| k0 * pw);
                for k in 0..no {
                    // Leave-one-out product X = pre·suf of the others, at the level its x_k
                    // factor leaves (one less when member k counts); with the own member's
                    // factor (q, pu): (X·own)_{≥L} = q X_{≥L} + pu X_{≥L−1} (graded), or
                    // (q + pu) X_{≥L}; the x_i x_k moment needs X_{≥L−1} (own graded) or X_{≥L}.
                    let level = self.start - usize::from(self.others[k].graded);
                    let x_top = pre[k].product_at_least(suf[k + 1], level);
                    let x_below = match own_f {
                        Some(_) if own_graded == 1 => {
                            pre[k].product_at_least(suf[k + 1], level - 1)
                        }
                        _ => x_top,
                    };
                    let loo = match own_f {
                        Some((q, pu, _, _)) if own_graded == 1 => x_top * q + pu * x_below,
                        Some((q, pu, _, _)) => (pu + q) * x_top,
                        None => x_top,
                    };
                    let part = psi[k] * loo;
                    let (acc_k, rnd_k) = (&mut acc_ol[k], &mut rnd_ol[k]);
                    (k1 * part).accumulate(wgt, rel, &mut acc_k[0], &mut rnd_k[0]);
                    (k0 * part).accumulate(wgt, rel, &mut acc_k[1], &mut rnd_k[1]);
                    if let Some(k0_pw) = k0_pw {
                        (k0_pw * psi[k] * x_below).accumulate(
                            wgt,
                            rel,
                            &mut acc_k[2],
                            &mut rnd_k[2],
                        );
                    }
                }
            }
            if last + 1 >= next_check || last == k_max {
                trunc.record(last + 1, &acc, &lanes_total(&acc_ol));
                if last == k_max || trunc.meets(self, tails, req, last as f64 * self.h) {
                    used = last;
                    break;
                }
                while next_check <= last + 1 {
                    next_check = ((next_check as f64 * CHECK_RATIO) as usize).max(next_check + 1);
                }
            }
        }
        let t_end = used as f64 * self.h;
        let tr = trunc.errors(self, tails, t_end);
        let k_max = used;
        let al = &self.alias;
        let (acc_o, rnd_o) = (lanes_total(&acc_ol), lanes_total(&rnd_ol));
        let ef_hi = acc[1].max(0.0) + tr.ef + al[1] + rnd[1];
        let a_hi = acc[0].max(0.0) + tr.a + al[2] + rnd[0];
        let pt = self.perturbation.bounds(ef_hi, a_hi);
        let ve = |slot: usize, tail: f64, alias: f64| (acc[slot], tail + alias + rnd[slot]);
        let mut res = FourierResult {
            a: ve(0, tr.a, al[2] + pt[2]),
            ef: ve(1, tr.ef, al[1] + pt[1]),
            pf: ve(2, tr.pf, al[0] + pt[0]),
            nodes: k_max + 1,
            ..FourierResult::default()
        };
        if self.own.is_some() {
            res.own_xf = ve(3, tr.xb, al[1] + pt[1]);
            res.own_xh = ve(4, tr.xh, al[0] + pt[0]);
            res.own_xxh = ve(5, tr.xxh, al[0] + pt[0]);
        }
        if gradient {
            res.others = (0..no)
                .map(|k| OtherResult {
                    xf: (acc_o[k][0], tr.g[k][0] + al[1] + pt[1] + rnd_o[k][0]),
                    xh: (acc_o[k][1], tr.g[k][1] + al[0] + pt[0] + rnd_o[k][1]),
                    xxh: (acc_o[k][2], tr.g[k][2] + al[0] + pt[0] + rnd_o[k][2]),
                })
                .collect();
        }
        res
    }
}

/// Checkpoints of the trapezoidal sum: the first after this many nodes, then every time the
/// count has grown by [`CHECK_RATIO`].
const FIRST_CHECK: usize = 48;
const CHECK_RATIO: f64 = 1.2;
/// Checkpoints needed in that last half before the estimate is trusted.
const MIN_WINDOW: usize = 3;

/// Truncation errors of the trapezoidal sum at its last checkpoint.
///
/// # Formula
/// For each moment the error of stopping at height T is taken as the smaller of two numbers:
/// the majorant's `∫_T^∞ B/π` (a bound, usually ~1000× pessimistic: it ignores the
/// oscillation that makes the tail cancel) and the estimate
/// `TRUNCATION_SAFETY · max_{K/2 ≤ K_j < K} |S_{K_j} − S_K|` from the partial sums `S` at the
/// checkpoints `K_j` (the tail of a sum whose terms decay like t^{−m}, m ≥ 2, is at most its
/// last half's movement; oscillating terms move the partial sums by about the tail's size).
/// The estimate needs [`MIN_WINDOW`] checkpoints in the last half.
/// A checkpoint: node count and the sums there (the six own/scalar moments, then 3 per other
/// member).
type Checkpoint = (usize, [f64; 6], Vec<[f64; 3]>);

/// Reads one moment out of a checkpoint's sums.
type Moment<'a> = dyn Fn(&[f64; 6], &[[f64; 3]]) -> f64 + 'a;

#[derive(Debug, Default)]
struct Truncation {
    checks: Vec<Checkpoint>,
}

/// Truncation error per moment (slots as in [`FourierResult`]).
#[derive(Debug, Default)]
struct TruncErrors {
    a: f64,
    ef: f64,
    pf: f64,
    xb: f64,
    xh: f64,
    xxh: f64,
    g: Vec<[f64; 3]>,
}

impl Truncation {
    fn record(&mut self, nodes: usize, acc: &[f64; 6], acc_o: &[[f64; 3]]) {
        self.checks.push((nodes, *acc, acc_o.to_vec()));
    }

    /// Checkpoints in the last half before the newest.
    fn window(&self) -> &[Checkpoint] {
        let Some((k, _, _)) = self.checks.last() else {
            return &[];
        };
        let last = self.checks.len() - 1;
        let first = self.checks[..last]
            .iter()
            .position(|(kj, _, _)| 2 * kj >= *k)
            .unwrap_or(last);
        &self.checks[first..last]
    }

    /// The majorant's tail at height `t` (a grid point at or below `t`; infinite below the
    /// grid).
    fn bound(ts: &[f64], tail: &[f64], t: f64) -> f64 {
        match ts.iter().rposition(|&tl| tl <= t) {
            Some(l) => tail[l],
            None => f64::INFINITY,
        }
    }

    fn errors(&self, f: &Fourier, tails: &Tails, t: f64) -> TruncErrors {
        let window = self.window();
        let trusted = window.len() >= MIN_WINDOW;
        let (_, last, last_o) = self.checks.last().expect("a checkpoint was recorded");
        let est = |get: &Moment| -> f64 {
            if !trusted {
                return f64::INFINITY;
            }
            let now = get(last, last_o);
            TRUNCATION_SAFETY
                * window
                    .iter()
                    .map(|(_, a, o)| (get(a, o) - now).abs())
                    .fold(0.0, f64::max)
        };
        let ts = &tails.ts;
        let pick = |slot: usize, tail: &[f64]| {
            est(&|a: &[f64; 6], _: &[[f64; 3]]| a[slot]).min(Self::bound(ts, tail, t))
        };
        let g = (0..last_o.len())
            .map(|k| {
                let gk = |j: usize, tail: &[f64]| {
                    est(&|_: &[f64; 6], o: &[[f64; 3]]| o[k][j]).min(Self::bound(ts, tail, t))
                };
                if tails.g_xf.len() > k {
                    [
                        gk(0, &tails.g_xf[k]),
                        gk(1, &tails.g_xh[k]),
                        gk(2, &tails.g_xxh[k]),
                    ]
                } else {
                    [f64::INFINITY; 3]
                }
            })
            .collect();
        let xb = if f.own.is_some() {
            pick(3, &tails.xb)
        } else {
            0.0
        };
        TruncErrors {
            a: pick(0, &tails.a),
            ef: pick(1, &tails.ef),
            pf: pick(2, &tails.pf),
            xb,
            xh: pick(4, &tails.xh),
            xxh: pick(5, &tails.xxh),
            g,
        }
    }

    /// Whether the truncation errors at height `t` meet the request's targets.
    fn meets(&self, f: &Fourier, tails: &Tails, req: &Request, t: f64) -> bool {
        let e = self.errors(f, tails, t);
        let xb = if f.own.is_some() {
            e.xb
        } else {
            f.out.p[f.out.own] / 2.0 * e.ef
        };
        let ok_loss = req.coef_a * e.a + req.coef_xb * xb <= 0.5 * req.target;
        let ok_grad = !req.gradient
            || !req.grad_target.is_finite()
            || if req.steer_indicators {
                e.g.iter()
                    .flatten()
                    .chain([e.ef, e.pf, e.xh, e.xxh].iter())
                    .all(|v| *v <= 0.5 * req.grad_target)
            } else {
                e.g.iter()
                    .map(|g| &g[0])
                    .chain([e.ef].iter())
                    .all(|v| *v <= 0.5 * req.grad_target)
            };
        ok_loss && ok_grad
    }
}

/// `e^{i k φ}` with the product `k φ` carried exactly (two-product by fma), so the phase is
/// accurate to a few ε however large k is.
#[inline]
fn exact_phase(k: usize, phi: f64) -> C {
    let kf = k as f64;
    let hi = kf * phi;
    let lo = kf.mul_add(phi, -hi);
    C::from_polar(1.0, hi) * C::new(1.0 - 0.5 * lo * lo, lo)
}

/// What bounds the effect of the phases' perturbation (see [`Perturbation::bounds`]).
#[derive(Debug, Clone, Copy)]
struct Perturbation {
    /// `Δ ≥ |f − f'|`.
    delta: f64,
    /// `e^{σΔ} − 1`.
    grow: f64,
    /// Probability that the Fourier part's event (≥ `start` members active) happens.
    p_event: f64,
    /// Bound on `P(|f| ≤ Δ, some member active)`.
    near_zero: f64,
}

impl Perturbation {
    /// The phases use `c' = fl(hc)/h`, `b' = fl(hb)/h` instead of c, b, so the rule inverts
    /// `E[e^{σ(f−f')} g_k(f')]` exactly.
    ///
    /// # Formula
    /// `Δ = ε(|b| + Σ|c_j|) ≥ |f − f'|`; `P(|f| ≤ Δ, some member active) ≤
    /// Σ_l p_l Π_{|c_j| > |c_l|} q_j min(1, 2Δ/|c_l|)` (condition on l being the active member
    /// of largest |c|: f then has a density ≤ 1/|c_l|), where l needs no term when the members
    /// no larger than it reach less than `|b| − Δ` (f then stays away from 0: a tiny member of a
    /// superposed output, whose term alone was `p_l`, set gradient floors of 1e-3 at density
    /// 0.01).
    fn new(out: &Output, members: &[usize], sigma: f64, start: usize) -> Self {
        let abs_sum = out.b.abs() + members.iter().map(|&j| out.c[j].abs()).sum::<f64>();
        let delta = f64::EPSILON * abs_sum;
        let mut order: Vec<usize> = members.to_vec();
        order.sort_by(|&x, &y| out.c[y].abs().total_cmp(&out.c[x].abs()));
        // reach[k]: Σ|c| over order[k..] (the members no larger than order[k]).
        let mut reach = vec![0.0; order.len() + 1];
        for k in (0..order.len()).rev() {
            reach[k] = reach[k + 1] + out.c[order[k]].abs();
        }
        let mut larger_none = 1.0;
        let mut near_zero = 0.0;
        let mut g = one_r();
        for (k, &l) in order.iter().enumerate() {
            if reach[k] * (1.0 + 4.0 * f64::EPSILON) + delta >= out.b.abs() {
                near_zero += out.p[l] * larger_none * (2.0 * delta / out.c[l].abs()).min(1.0);
            }
            larger_none *= 1.0 - out.p[l];
            g = g.times_factor(1.0 - out.p[l], out.p[l]);
        }
        Perturbation {
            delta,
            grow: (sigma * delta).exp_m1(),
            p_event: g.at_least(start).min(1.0),
            near_zero: near_zero.min(1.0),
        }
    }

    /// Bounds for k = 0, 1, 2 given upper bounds `ef_hi ≥ E[f₊; event]`, `a_hi ≥ E[f₊²; event]`.
    ///
    /// # Formula
    /// `|e^{σ(f−f')} g_k(f') − g_k(f)| ≤ (e^{σΔ} − 1) g_k(f') + |g_k(f') − g_k(f)|`, with
    /// `|f'₊ − f₊| ≤ Δ`, `|f'₊² − f₊²| ≤ Δ(2f₊ + Δ)` and indicators differing only where
    /// `|f| ≤ Δ`. x factors lie in [0, 1] and only shrink these.
    fn bounds(&self, ef_hi: f64, a_hi: f64) -> [f64; 3] {
        let (d, g, pe) = (self.delta, self.grow, self.p_event);
        [
            g * pe + self.near_zero,
            g * (ef_hi + d * pe) + d * pe,
            g * (a_hi + d * (2.0 * ef_hi + d * pe)) + d * (2.0 * ef_hi + d * pe),
        ]
    }
}

/// Bounds on the aliasing of the upper tail, `Σ_{m≥1} e^{σmP} E[x^J g_k(f − mP)]`, k = 0, 1, 2
/// (zero when P ≥ f_max; x factors lie in [0, 1]).
///
/// # Formula
/// Chernoff: `y₊ᵏ ≤ (k/(eμ))ᵏ e^{μy}` for μ > 0, so each term is at most
/// `(k/(eμ))ᵏ M(μ) e^{−(μ−σ)mP}` with the moment-generating function
/// `M(μ) = E e^{μf} = e^{μb} Π_j (q_j + p_j u(μ c_j))`, `u(s) = (e^s − 1)/s`, and the sum over m
/// is geometric. The best of a few μ = σ(1 + λ) is taken.
fn upward_alias(out: &Output, members: &[usize], sigma: f64, period: f64) -> [f64; 3] {
    let mut best = [f64::INFINITY; 3];
    for lambda in [0.5, 1.0, 2.0, 3.0] {
        let mu = sigma * (1.0 + lambda);
        let ln_m = mu * out.b
            + members
                .iter()
                .map(|&j| ln_q_pu(1.0 - out.p[j], out.p[j], mu * out.c[j]))
                .sum::<f64>();
        let decay = lambda * sigma * period;
        // Σ_{m≥1} e^{−decay·m} = 1/(e^{decay} − 1).
        let ln_geo = -decay - (-(-decay).exp()).ln_1p();
        for (k, b) in best.iter_mut().enumerate() {
            let kf = k as f64;
            let ln_c = if k == 0 {
                0.0
            } else {
                kf * (kf / (std::f64::consts::E * mu)).ln()
            };
            *b = b.min((ln_c + ln_m + ln_geo).exp());
        }
    }
    best
}

/// `ln(q + p u(s))`, `u(s) = (e^s − 1)/s`, without overflow for large s.
fn ln_q_pu(q: f64, p: f64, s: f64) -> f64 {
    if s > 30.0 {
        // u = e^s (1 − e^{−s})/s: q + p u = p u (1 + q/(p u)).
        let ln_pu = p.ln() + s + (-(-s).exp()).ln_1p() - s.ln();
        ln_pu + (q * (-ln_pu).exp()).ln_1p()
    } else {
        let u = if s == 0.0 { 1.0 } else { s.exp_m1() / s };
        (q + p * u).ln()
    }
}

/// Truncation bounds (already divided by π) at each grid height.
struct Tails {
    ts: Vec<f64>,
    a: Vec<f64>,
    ef: Vec<f64>,
    pf: Vec<f64>,
    xb: Vec<f64>,
    xh: Vec<f64>,
    xxh: Vec<f64>,
    g_xf: Vec<Vec<f64>>,
    g_xh: Vec<Vec<f64>>,
    g_xxh: Vec<Vec<f64>>,
}

impl Tails {
    /// The tail of `E[x_i f₊]`: its own when i is a member, else `p_i/2 ·` that of `E[f₊]`.
    fn xb_or_ef(&self, l: usize, f: &Fourier) -> f64 {
        if f.own.is_some() {
            self.xb[l]
        } else {
            f.out.p[f.out.own] / 2.0 * self.ef[l]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `∫₀¹ uᵐ (b + cu)₊ᵏ du` by a fine midpoint rule split at the kink.
    fn brute(b: f64, c: f64, k: i32, m: i32) -> f64 {
        let n = 200_000;
        let mut s = 0.0;
        for q in 0..n {
            let u = (q as f64 + 0.5) / n as f64;
            let y: f64 = b + c * u;
            if y > 0.0 {
                s += u.powi(m) * y.powi(k);
            }
        }
        s / n as f64
    }

    #[test]
    fn segments_match_brute_force() {
        for &(b, c) in &[
            (0.3, 0.5),
            (-0.3, 0.5),
            (0.3, -0.5),
            (-0.3, -0.5),
            (0.0, 0.7),
            (0.0, -0.7),
            (0.7, -0.7),
            (-0.7, 0.7),
            (0.2, 0.0),
        ] {
            let s = segment(b, c);
            for (got, k, m) in [
                (s.a2, 2, 0),
                (s.a1, 1, 0),
                (s.a0, 0, 0),
                (s.u1, 1, 1),
                (s.u0, 0, 1),
                (s.uu0, 0, 2),
            ] {
                let want = brute(b, c, k, m);
                assert!(
                    (got - want).abs() < 1e-8,
                    "b={b} c={c} k={k} m={m}: {got} vs {want}"
                );
            }
        }
    }

    /// `E[Uᵃ Vᵇ g(b + c₁U + c₂V)]` by a midpoint rule on a fine grid (~1e-5 for the
    /// indicator moments, whose kink crosses grid cells).
    fn pair_brute(b: f64, c1: f64, c2: f64) -> [f64; 10] {
        // Different grid sizes, so no kink line runs along grid points.
        let (n, nv) = (2000, 1999);
        let mut s = [0.0; 10];
        for qu in 0..n {
            let u = (qu as f64 + 0.5) / n as f64;
            for qv in 0..nv {
                let v = (qv as f64 + 0.5) / nv as f64;
                let y = b + c1 * u + c2 * v;
                if y > 0.0 {
                    let vals = [y * y, y, 1.0, u * y, u, u * u, v * y, v, v * v, u * v];
                    for (acc, x) in s.iter_mut().zip(vals) {
                        *acc += x;
                    }
                }
            }
        }
        s.map(|x| x / (n * nv) as f64)
    }

    #[test]
    fn pairs_match_brute_force() {
        for &(b, c1, c2) in &[
            (0.3, 0.5, 0.4),
            (-0.3, 0.5, 0.4),
            (0.3, -0.5, 0.4),
            (-0.3, -0.5, 0.9),
            (0.2, -0.5, -0.1),
            (0.0, 0.7, -0.7),
            (-0.4, 1e-3, 0.8),
            (0.1, 0.8, 1e-4),
            (-0.2, 0.2, 0.2),
            // Never above 0 (the early exit), and just above 0 at one corner.
            (-0.5, 0.2, 0.2),
            (-0.1, -0.3, 0.05),
            (-0.39, 0.2, 0.2),
        ] {
            let p = pair(b, c1, c2);
            let got = [
                p.a2, p.a1, p.a0, p.u1, p.u0, p.uu0, p.v1, p.v0, p.vv0, p.uv0,
            ];
            let want = pair_brute(b, c1, c2);
            for (k, (g, w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (g - w).abs() < 5e-5,
                    "b={b} c1={c1} c2={c2} moment {k}: {g} vs {w}"
                );
            }
            // Swapping the members swaps U and V.
            let q = pair(b, c2, c1);
            for (x, y) in [(p.a2, q.a2), (p.u1, q.v1), (p.vv0, q.uu0), (p.uv0, q.uv0)] {
                assert!((x - y).abs() <= 1e-14 * (1.0 + x.abs()), "swap: {x} vs {y}");
            }
        }
    }

    #[test]
    fn taylor_and_closed_forms_agree_at_the_switch() {
        for s in [C::new(2.0, 0.0), C::new(0.0, 2.0), C::new(-1.2, 1.6)] {
            let (u, w, v) = uwv(s);
            let e = s.exp();
            let u2 = (e - 1.0) / s;
            let w2 = (e * (s - 1.0) + 1.0) / (s * s);
            let v2 = (e * (s * s - 2.0 * s + 2.0) - 2.0) / (s * s * s);
            assert!((u - u2).norm() < 1e-14 && (w - w2).norm() < 1e-14 && (v - v2).norm() < 1e-13);
        }
    }

    #[test]
    fn node_loop_factors_match_the_series_and_switch_per_lane() {
        // Lanes on both sides of the Taylor radius (|s| = 2) in one block, for a member with
        // c = 0.5: |z| from 3.9 to 4.1, and a far one.
        let c = 0.5;
        let z = Lanes::from_fn(|l| C::new(0.3, [3.85, 3.99, 4.05, 40.0][l]));
        let mut zz = [0.0; LANES];
        for (l, v) in zz.iter_mut().enumerate() {
            *v = z.lane(l).norm_sqr();
        }
        let z1 = Lanes::from_fn(|l| 1.0 / z.lane(l));
        let e = Lanes::from_fn(|l| (z.lane(l) * c).exp());
        let cs = (c, c * c, 1.0 / c);
        let [u, w, v] = factors_lanes::<3>(z, zz, z1, cs, e);
        let [u2, w2] = factors_lanes::<2>(z, zz, z1, cs, e);
        let [u1] = factors_lanes::<1>(z, zz, z1, cs, e);
        for l in 0..LANES {
            let s = z.lane(l) * c;
            // The closed expressions, evaluated independently.
            let ex = s.exp();
            let want = [
                (ex - 1.0) / s,
                (ex * (s - 1.0) + 1.0) / (s * s),
                (ex * (s * s - 2.0 * s + 2.0) - 2.0) / (s * s * s),
            ];
            for (got, want) in [u, w, v].iter().map(|x| x.lane(l)).zip(want) {
                assert!(
                    (got - want).norm() <= 1e-14 * (1.0 + want.norm()),
                    "lane {l}"
                );
            }
            assert_eq!(u2.lane(l), u.lane(l));
            assert_eq!(w2.lane(l), w.lane(l));
            assert_eq!(u1.lane(l), u.lane(l));
        }
    }
}
